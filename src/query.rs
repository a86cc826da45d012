//! Queries: the `where` / `orderBy` / `take` / `skip` / `select` language of a `select` request
//! (Prisma style), parsed once into a [`Query`] and applied to documents in memory.
//!
//! This module is pure: it never reads or writes the store and knows nothing of doctypes, schemas
//! or permissions. The store decides which documents to hand over (it may narrow a scan with
//! [`Filter::candidates`] and an index); this module decides which of them match, in what order,
//! and which fields are kept. Every malformed query is refused with `BAD_REQUEST` at parse time;
//! applying a parsed query never fails and never silently ignores part of it.
//!
//! # Matching
//! - Field names are top-level keys of the document (no paths). A missing field reads as null.
//! - Equality ([`values_equal`]): numbers compare numerically (`1 == 1.0`), everything else
//!   structurally; values of different types are never equal.
//! - `lt`/`lte`/`gt`/`gte` compare numbers with numbers and strings with strings (byte-wise);
//!   between different types (a missing field included) they are false.
//! - `contains` is a substring test on a string field and a membership test on an array field.
//!   Its argument may be any value: a non-string argument can only match array members.
//! - `not`, `notIn` and `NOT` are plain negation, so they match documents that lack the field.
//!
//! # How mixed types order
//! [`compare`] is a total order over JSON values, used by `orderBy` and the range operators:
//! null (and missing) < booleans < numbers < strings < arrays < objects. Within a type: `false <
//! true`; numbers by exact numeric value; strings byte-wise; arrays lexicographically by
//! [`compare`]; objects by their serialized JSON text. `desc` reverses a key, so nulls come last.
//! Sorting is stable and always ends with `name` ascending, so every page is deterministic.
//!
//! The pieces: `filter` parses and matches `where`; `values` is the order and equality of
//! values both `where` and `orderBy` use; this file holds the [`Query`] itself and the other keys.

mod filter;
#[cfg(test)]
mod tests;
mod values;

pub(crate) use filter::{Filter, ValueRange};
pub(crate) use values::compare;
pub(crate) use values::values_equal;

use crate::doc::{Doc, field_of};
use crate::error::{Error, Result};
use crate::value::{echo, echo_str};
use serde_json::{Map, Value, json};
use std::cmp::Ordering;

/// A parsed `select` input: which documents, in which order, which page, which fields.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Query {
    /// The `where` clause; `None` matches every document.
    pub filter: Option<Filter>,
    /// Sort keys by priority. [`Query::parse`] appends `name` ascending unless already present.
    pub order: Vec<(String, Direction)>,
    /// At most this many documents per page; `None` = no limit here (the caller applies its own).
    pub take: Option<usize>,
    /// Documents skipped after sorting.
    pub skip: usize,
    /// Fields to keep, in this order; `None` keeps the whole document.
    pub select: Option<Vec<String>>,
}

/// Direction of one sort key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Direction {
    /// Smallest first (see [`compare`]).
    Asc,
    /// Largest first.
    Desc,
}

impl Query {
    /// Parse from the select input object (keys: `where`, `orderBy`, `take`, `skip`, `select`).
    /// Other keys are left to the caller. `Value::Null` is the empty query; a null key is absent.
    pub(crate) fn parse(input: &Value) -> Result<Query> {
        let empty = Map::new();
        let input = match input {
            Value::Null => &empty,
            other => other
                .as_object()
                .ok_or_else(|| not_object("input", other))?,
        };
        let get = |key: &str| input.get(key).filter(|v| !v.is_null());
        let mut order = get("orderBy")
            .map(parse_order)
            .transpose()?
            .unwrap_or_default();
        if !order.iter().any(|(field, _)| field == "name") {
            order.push(("name".to_owned(), Direction::Asc));
        }
        Ok(Query {
            filter: get("where").map(Filter::parse).transpose()?,
            order,
            take: count("take", get("take"))?,
            skip: count("skip", get("skip"))?.unwrap_or(0),
            select: get("select").map(parse_select).transpose()?,
        })
    }

    /// Filter + sort + skip + take + project. Returns the page and the number of matches
    /// before skip and take.
    /// (The one-call form, for tests; `ops` runs the stages itself, with an index.)
    #[cfg(test)]
    pub(crate) fn apply(&self, docs: impl IntoIterator<Item = Doc>) -> (Vec<Doc>, usize) {
        let keep = |d: &Doc| self.filter.as_ref().is_none_or(|f| f.matches(d));
        let matched: Vec<Doc> = docs.into_iter().filter(keep).collect();
        let total = matched.len();
        let page = self.sort_and_page(matched);
        (page.into_iter().map(|d| self.project(d)).collect(), total)
    }

    /// Sort (stable), then skip and take; for documents that are already filtered.
    /// (The reference the planned select is checked against.)
    #[cfg(test)]
    pub(crate) fn sort_and_page(&self, mut docs: Vec<Doc>) -> Vec<Doc> {
        docs.sort_by(|a, b| self.compare_docs(a, b));
        let take = self.take.unwrap_or(usize::MAX);
        docs.into_iter().skip(self.skip).take(take).collect()
    }

    /// Which of two documents comes first in the query's order (the `orderBy` keys, then
    /// `name` ascending unless `name` is among them).
    pub(crate) fn compare_docs(&self, a: &Doc, b: &Doc) -> Ordering {
        let key = |(field, dir): &(String, Direction)| {
            let o = compare(field_of(a, field), field_of(b, field));
            if *dir == Direction::Desc {
                o.reverse()
            } else {
                o
            }
        };
        self.order
            .iter()
            .map(key)
            .find(|o| o.is_ne())
            .unwrap_or(Ordering::Equal)
    }

    /// Project one document to the `select` fields, in their order; missing fields are omitted.
    pub(crate) fn project(&self, mut doc: Doc) -> Doc {
        match &self.select {
            None => doc,
            Some(fields) => fields
                .iter()
                .filter_map(|f| Some((f.clone(), doc.remove(f)?)))
                .collect(),
        }
    }
}

fn bad(message: String, details: Value) -> Error {
    Error::bad_request(message).with_details(details)
}

fn not_object(key: &str, v: &Value) -> Error {
    Error::bad_request(format!("`{key}` must be an object, got {}", kind(v)))
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// `orderBy`: `"field"`, `{"field": "desc", ...}` (key order = priority), or an array of those.
fn parse_order(v: &Value) -> Result<Vec<(String, Direction)>> {
    let mut out = Vec::new();
    for item in v.as_array().map_or(std::slice::from_ref(v), Vec::as_slice) {
        match item {
            Value::String(field) => out.push((field.clone(), Direction::Asc)),
            Value::Object(keys) => {
                for (field, dir) in keys {
                    let direction = match dir.as_str().map(str::to_ascii_lowercase).as_deref() {
                        Some("asc") => Direction::Asc,
                        Some("desc") => Direction::Desc,
                        _ => {
                            let message = format!(
                                "`orderBy` direction for `{}` must be \"asc\" or \"desc\", got {}",
                                echo_str(field),
                                echo(dir)
                            );
                            return Err(bad(message, json!({ "field": field, "direction": dir })));
                        }
                    };
                    out.push((field.clone(), direction));
                }
            }
            other => {
                let message = format!(
                    "`orderBy` entries must be a field name or an object like {{\"date\": \"desc\"}}, got {}",
                    kind(other)
                );
                return Err(Error::bad_request(message));
            }
        }
    }
    Ok(out)
}

/// `select`: an array of field names.
fn parse_select(v: &Value) -> Result<Vec<String>> {
    let names = v.as_array().and_then(|items| {
        items
            .iter()
            .map(|f| f.as_str().map(str::to_owned))
            .collect()
    });
    let message = || format!("`select` must be an array of field names, got {}", echo(v));
    names.ok_or_else(|| Error::bad_request(message()))
}

/// `include` (Prisma style): an object of field names to `true` (included) or `false` (not).
/// Returns the included names; which fields may be included is the caller's to judge.
pub(crate) fn parse_include(v: &Value) -> Result<Vec<String>> {
    let map = v.as_object().ok_or_else(|| not_object("include", v))?;
    let mut names = Vec::new();
    for (field, flag) in map {
        match flag {
            Value::Bool(true) => names.push(field.clone()),
            Value::Bool(false) => {}
            other => {
                return Err(Error::bad_request(format!(
                    "`include.{field}` must be true or false, got {}",
                    kind(other)
                )));
            }
        }
    }
    Ok(names)
}

/// `take` / `skip`: a JSON integer >= 0, when present.
fn count(key: &str, v: Option<&Value>) -> Result<Option<usize>> {
    let Some(v) = v else { return Ok(None) };
    let n = v.as_u64().ok_or_else(|| {
        bad(
            format!("`{key}` must be a non-negative integer, got {}", echo(v)),
            json!({ key: v }),
        )
    })?;
    Ok(Some(usize::try_from(n).unwrap_or(usize::MAX)))
}
