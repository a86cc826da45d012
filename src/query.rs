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
//! Over ~600 lines: parsing and matching of `where`/`orderBy` are one concept; issue 13 moves
//! `Doc` out and the sort keys beside the matcher.

use crate::error::{Error, Result};
use crate::value::{echo, echo_str};
use serde_json::{Map, Number, Value, json};
use std::cmp::Ordering;

/// A document as the query language sees it: a JSON object.
pub(crate) type Doc = Map<String, Value>;

/// What a missing field reads as.
static NULL: Value = Value::Null;

/// The operators a field may be given, as error messages list them.
const OPERATORS: &str = "equals, in, notIn, not, lt, lte, gt, gte, contains, startsWith, endsWith";

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

/// A parsed `where` clause. Operator objects, `not` and `notIn` desugar into these nodes.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Filter {
    /// Every part matches (`AND`, and the keys of one where object). Empty matches everything.
    And(Vec<Filter>),
    /// At least one part matches. Empty matches nothing.
    Or(Vec<Filter>),
    /// The inner filter does not match.
    Not(Box<Filter>),
    /// One operator applied to one top-level field (missing reads as null).
    Field(String, Op),
}

/// A single-field test. Arguments were validated at parse time.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Op {
    /// [`values_equal`] to the value.
    Equals(Value),
    /// [`values_equal`] to one of the values.
    In(Vec<Value>),
    /// `lt`/`lte`/`gt`/`gte`: the field is of the bound's kind (number or string) and compares
    /// to it as `want`, or equal when `or_equal`.
    Range {
        want: Ordering,
        or_equal: bool,
        bound: Value,
    },
    /// Substring of a string field, or member of an array field.
    Contains(Value),
    /// String field starting with the prefix.
    StartsWith(String),
    /// String field ending with the suffix.
    EndsWith(String),
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
    pub(crate) fn sort_and_page(&self, mut docs: Vec<Doc>) -> Vec<Doc> {
        docs.sort_by(|a, b| {
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
        });
        let take = self.take.unwrap_or(usize::MAX);
        docs.into_iter().skip(self.skip).take(take).collect()
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

impl Filter {
    /// Parse a `where` object.
    pub(crate) fn parse(where_: &Value) -> Result<Filter> {
        let map = where_
            .as_object()
            .ok_or_else(|| not_object("where", where_))?;
        parse_where(map)
    }

    /// Does the document satisfy the filter?
    pub(crate) fn matches(&self, doc: &Doc) -> bool {
        match self {
            Filter::And(parts) => parts.iter().all(|p| p.matches(doc)),
            Filter::Or(parts) => parts.iter().any(|p| p.matches(doc)),
            Filter::Not(inner) => !inner.matches(doc),
            Filter::Field(field, op) => op.matches(field_of(doc, field)),
        }
    }

    /// If every match must have `field` equal (per [`values_equal`]) to one of a finite set of
    /// values, because of an equality or `in` at the top level or inside top-level ANDs, return
    /// that set (deduplicated; `Some(vec![])` means nothing can match). A missing field reads as
    /// null, so the set may hold null, and `1` also stands for `1.0`: an index lookup must treat
    /// both alike. Conservative: `None` whenever unsure (under OR and NOT, range operators, ...).
    pub(crate) fn candidates(&self, field: &str) -> Option<Vec<Value>> {
        let dedup = |values: &[Value]| {
            values.iter().fold(Vec::new(), |mut set: Vec<Value>, v| {
                if !set.iter().any(|s| values_equal(s, v)) {
                    set.push(v.clone());
                }
                set
            })
        };
        match self {
            Filter::Field(f, Op::Equals(v)) if f == field => Some(vec![v.clone()]),
            Filter::Field(f, Op::In(values)) if f == field => Some(dedup(values)),
            Filter::And(parts) => {
                parts
                    .iter()
                    .filter_map(|p| p.candidates(field))
                    .reduce(|a, b| {
                        a.into_iter()
                            .filter(|x| b.iter().any(|y| values_equal(x, y)))
                            .collect()
                    })
            }
            _ => None,
        }
    }
}

impl Op {
    fn matches(&self, v: &Value) -> bool {
        match self {
            Op::Equals(x) => values_equal(v, x),
            Op::In(xs) => xs.iter().any(|x| values_equal(v, x)),
            Op::Range {
                want,
                or_equal,
                bound,
            } => {
                let same_kind = matches!(
                    (v, bound),
                    (Value::Number(_), Value::Number(_)) | (Value::String(_), Value::String(_))
                );
                same_kind && {
                    let o = compare(v, bound);
                    o == *want || (*or_equal && o.is_eq())
                }
            }
            Op::Contains(x) => match (v, x) {
                (Value::String(s), Value::String(sub)) => s.contains(sub.as_str()),
                (Value::Array(items), x) => items.iter().any(|i| values_equal(i, x)),
                _ => false,
            },
            Op::StartsWith(p) => v.as_str().is_some_and(|s| s.starts_with(p.as_str())),
            Op::EndsWith(p) => v.as_str().is_some_and(|s| s.ends_with(p.as_str())),
        }
    }
}

/// Total order over JSON values used for `orderBy` and the range operators; see the module docs.
pub(crate) fn compare(a: &Value, b: &Value) -> Ordering {
    let rank = |v: &Value| match v {
        Value::Null => 0,
        Value::Bool(_) => 1,
        Value::Number(_) => 2,
        Value::String(_) => 3,
        Value::Array(_) => 4,
        Value::Object(_) => 5,
    };
    match (a, b) {
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        (Value::Number(x), Value::Number(y)) => compare_numbers(x, y),
        (Value::String(x), Value::String(y)) => x.cmp(y),
        (Value::Array(x), Value::Array(y)) => {
            let first_difference = x
                .iter()
                .zip(y)
                .map(|(p, q)| compare(p, q))
                .find(|o| o.is_ne());
            first_difference.unwrap_or_else(|| x.len().cmp(&y.len()))
        }
        (Value::Object(x), Value::Object(y)) => {
            let text = |m: &Doc| serde_json::to_string(m).unwrap_or_default();
            text(x).cmp(&text(y))
        }
        _ => rank(a).cmp(&rank(b)),
    }
}

/// Equality as the query language sees it: numbers compare numerically (`1 == 1.0`), other
/// values structurally (recursively, so `[1] == [1.0]`); different types are never equal.
pub(crate) fn values_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => compare_numbers(x, y).is_eq(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| values_equal(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, p)| y.get(k).is_some_and(|q| values_equal(p, q)))
        }
        _ => a == b,
    }
}

/// Exact numeric comparison. Integer/float pairs are compared exactly rather than through a
/// lossy `f64` cast: a non-transitive comparator may make `sort_by` panic.
fn compare_numbers(a: &Number, b: &Number) -> Ordering {
    // An integer against a finite float (JSON has no NaN or infinities). `as` saturates, which
    // keeps the order right for floats beyond the i128 range.
    fn int_float(i: i128, f: f64) -> Ordering {
        let t = f.trunc();
        i.cmp(&(t as i128))
            .then(0.0_f64.partial_cmp(&(f - t)).unwrap_or(Ordering::Equal))
    }
    let float = |n: &Number| n.as_f64().unwrap_or(0.0);
    match (a.as_i128(), b.as_i128()) {
        (Some(x), Some(y)) => x.cmp(&y),
        (Some(x), None) => int_float(x, float(b)),
        (None, Some(y)) => int_float(y, float(a)).reverse(),
        (None, None) => float(a).partial_cmp(&float(b)).unwrap_or(Ordering::Equal),
    }
}

fn field_of<'a>(doc: &'a Doc, field: &str) -> &'a Value {
    doc.get(field).unwrap_or(&NULL)
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

/// AND of the parts, without a wrapper for a single part.
fn all(mut parts: Vec<Filter>) -> Filter {
    if parts.len() == 1 {
        parts.remove(0)
    } else {
        Filter::And(parts)
    }
}

fn parse_where(map: &Map<String, Value>) -> Result<Filter> {
    let part = |(key, value): (&String, &Value)| match key.as_str() {
        "AND" => Ok(Filter::And(parse_list("AND", value, true)?)),
        "OR" => Ok(Filter::Or(parse_list("OR", value, false)?)),
        // NOT of a list: none of them matches.
        "NOT" => Ok(Filter::Not(Box::new(Filter::Or(parse_list(
            "NOT", value, true,
        )?)))),
        field => parse_field(field, value),
    };
    Ok(all(map.iter().map(part).collect::<Result<_>>()?))
}

/// The operand of `AND`/`OR`/`NOT`: an array of where objects, or (if `single_ok`) one object.
fn parse_list(key: &str, value: &Value, single_ok: bool) -> Result<Vec<Filter>> {
    let shape = if single_ok {
        "an object or an array of objects"
    } else {
        "an array of objects"
    };
    let err = |got: &Value| {
        let message = format!("`{key}` must be {shape}, got {}", kind(got));
        bad(message, json!({ "operator": key }))
    };
    let one = |v: &Value| {
        v.as_object()
            .map(parse_where)
            .unwrap_or_else(|| Err(err(v)))
    };
    match value {
        Value::Object(_) if single_ok => Ok(vec![one(value)?]),
        Value::Array(items) => items.iter().map(one).collect(),
        other => Err(err(other)),
    }
}

/// A field's condition: a plain value (equality) or an operator object (AND of its operators).
fn parse_field(field: &str, value: &Value) -> Result<Filter> {
    let Value::Object(ops) = value else {
        return Ok(Filter::Field(field.to_owned(), Op::Equals(value.clone())));
    };
    if ops.is_empty() {
        let message = format!(
            "empty operator object on field `{field}` (known: {OPERATORS}; use `equals` to compare with an object)"
        );
        return Err(bad(message, json!({ "field": field })));
    }
    // Unknown operators are reported first: `{"x": {"a": 1}}` most likely meant `equals`.
    if let Some(unknown) = ops.keys().find(|k| !OPERATORS.split(", ").any(|o| o == *k)) {
        return Err(unknown_operator(field, unknown));
    }
    let parts = ops.iter().map(|(name, arg)| parse_op(field, name, arg));
    Ok(all(parts.collect::<Result<_>>()?))
}

fn unknown_operator(field: &str, operator: &str) -> Error {
    let message = format!(
        "unknown where-operator `{}` on field `{}` (known: {OPERATORS})",
        echo_str(operator),
        echo_str(field)
    );
    bad(message, json!({ "field": field, "operator": operator }))
}

/// One `operator: argument` pair of a field's operator object.
fn parse_op(field: &str, name: &str, arg: &Value) -> Result<Filter> {
    let leaf = |op| Filter::Field(field.to_owned(), op);
    let err = |want: &str| {
        let message = format!(
            "`{name}` on field `{field}` needs {want}, got {}",
            kind(arg)
        );
        bad(message, json!({ "field": field, "operator": name }))
    };
    let array = || arg.as_array().cloned().ok_or_else(|| err("an array"));
    let string = || {
        arg.as_str()
            .map(str::to_owned)
            .ok_or_else(|| err("a string"))
    };
    let range = |want, or_equal| match arg {
        Value::Number(_) | Value::String(_) => Ok(leaf(Op::Range {
            want,
            or_equal,
            bound: arg.clone(),
        })),
        _ => Err(err("a number or a string")),
    };
    match name {
        "equals" => Ok(leaf(Op::Equals(arg.clone()))),
        "in" => Ok(leaf(Op::In(array()?))),
        "notIn" => Ok(Filter::Not(Box::new(leaf(Op::In(array()?))))),
        "not" if arg.is_object() => Ok(Filter::Not(Box::new(parse_field(field, arg)?))),
        "not" => Ok(Filter::Not(Box::new(leaf(Op::Equals(arg.clone()))))),
        "lt" => range(Ordering::Less, false),
        "lte" => range(Ordering::Less, true),
        "gt" => range(Ordering::Greater, false),
        "gte" => range(Ordering::Greater, true),
        "contains" => Ok(leaf(Op::Contains(arg.clone()))),
        "startsWith" => Ok(leaf(Op::StartsWith(string()?))),
        "endsWith" => Ok(leaf(Op::EndsWith(string()?))),
        unknown => Err(unknown_operator(field, unknown)),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;
    use proptest::prelude::*;

    fn doc(v: Value) -> Doc {
        v.as_object().cloned().expect("test documents are objects")
    }

    fn docs() -> Vec<Doc> {
        [
            json!({"name": "a", "status": "Open", "n": 10, "title": "Buy milk", "tags": ["x", 1]}),
            json!({"name": "b", "status": "Closed", "n": 2.5, "title": "Sell car"}),
            json!({"name": "c", "status": "Open", "n": "7", "title": "buy bread", "tags": []}),
            json!({"name": "d", "n": null, "flag": true}),
        ]
        .into_iter()
        .map(doc)
        .collect()
    }

    fn names(page: &[Doc]) -> String {
        page.iter().map(|d| d["name"].as_str().unwrap()).collect()
    }

    /// `cases` is a JSON array of `[where, names of the matching documents]`.
    fn check_where(cases: Value) {
        for case in cases.as_array().unwrap() {
            let f = Filter::parse(&case[0]).expect("valid where");
            let got: Vec<Doc> = docs().into_iter().filter(|d| f.matches(d)).collect();
            assert_eq!(names(&got), case[1], "where {}", case[0]);
        }
    }

    #[test]
    fn equality_and_implicit_and() {
        check_where(json!([
            [{}, "abcd"],
            [{"status": "Open"}, "ac"],
            [{"status": "Open", "n": 10}, "a"],
            [{"n": 10.0}, "a"],               // 10 == 10.0
            [{"n": "10"}, ""],                // no cross-type equality
            [{"status": null}, "d"],          // missing reads as null
            [{"tags": {"equals": []}}, "c"],
        ]));
    }

    #[test]
    fn operators() {
        check_where(json!([
            [{"status": {"in": ["Closed", "x"]}}, "b"],
            [{"status": {"notIn": ["Open"]}}, "bd"],
            [{"status": {"not": "Open"}}, "bd"],
            [{"n": {"not": {"in": [10, 2.5]}}}, "cd"],
            [{"n": {"lt": 10}}, "b"],         // numbers only: "7" and null never match
            [{"n": {"lte": 10}}, "ab"],
            [{"n": {"gt": 2.5}}, "a"],
            [{"n": {"gte": 2.5, "lt": 10}}, "b"],
            [{"n": {"gt": "5"}}, "c"],        // strings only
            [{"flag": {"gt": 0}}, ""],        // boolean vs number
            [{"title": {"contains": "uy"}}, "ac"],
            [{"title": {"contains": "BUY"}}, ""],
            [{"tags": {"contains": "x"}}, "a"],
            [{"tags": {"contains": 1.0}}, "a"],
            [{"title": {"startsWith": "Buy"}}, "a"],
            [{"title": {"endsWith": "d"}}, "c"],
            [{"n": {"startsWith": "7"}}, "c"],
        ]));
    }

    #[test]
    fn logical_nesting() {
        check_where(json!([
            [{"OR": [{"name": "a"}, {"name": "d"}]}, "ad"],
            [{"OR": []}, ""],
            [{"AND": []}, "abcd"],
            [{"AND": {"status": "Open"}}, "ac"],
            [{"NOT": {"status": "Open"}}, "bd"],
            [{"NOT": [{"name": "a"}, {"name": "b"}]}, "cd"],
            [{"NOT": []}, "abcd"],
            [{"status": "Open", "OR": [
                {"AND": [{"n": {"gt": 5}}, {"NOT": {"name": "x"}}]},
                {"title": {"startsWith": "buy"}}
            ]}, "ac"],
        ]));
    }

    #[test]
    fn compare_orders_mixed_types() {
        let ascending = json!([
            null, false, true, -1.5, 2, 10, u64::MAX, 1e300, "", "B", "a",
            [], [1], [1, 2], [2], {"a": 1}, {"b": 0}
        ]);
        let ascending = ascending.as_array().unwrap();
        for (i, a) in ascending.iter().enumerate() {
            for (j, b) in ascending.iter().enumerate() {
                assert_eq!(compare(a, b), i.cmp(&j), "{a} vs {b}");
            }
        }
        assert!(compare(&json!(1), &json!(1.0)).is_eq());
        assert!(compare(&json!(9007199254740993_u64), &json!(9007199254740992.0)).is_gt());
        let (x, y) = (json!([1, {"x": 2}]), json!([1.0, {"x": 2.0}]));
        assert!(values_equal(&x, &y));
        assert!(!values_equal(&json!(1), &json!("1")));
        assert!(!values_equal(&json!(null), &json!(false)));
    }

    #[test]
    fn order_by_forms_and_name_tie_break() {
        let cases = json!([
            [null, "abcd"],
            [{"orderBy": {"n": "desc"}}, "cabd"],                 // null last in desc
            [{"orderBy": "n"}, "dbac"],
            [{"orderBy": [{"status": "ASC"}, {"n": "desc"}]}, "dbca"],
            [{"orderBy": {"status": "desc", "name": "desc"}}, "cabd"],
            [{"orderBy": {"status": "asc"}}, "dbac"],             // ties broken by name
        ]);
        for case in cases.as_array().unwrap() {
            let (page, _) = Query::parse(&case[0]).unwrap().apply(docs());
            assert_eq!(names(&page), case[1], "{}", case[0]);
        }
        let q = Query::parse(&json!({"orderBy": {"status": "asc"}})).unwrap();
        let asc = |f: &str| (f.to_owned(), Direction::Asc);
        assert_eq!(q.order, [asc("status"), asc("name")]);
        let q = Query::parse(&json!({"orderBy": {"name": "desc"}})).unwrap();
        assert_eq!(q.order, [("name".into(), Direction::Desc)]);
    }

    #[test]
    fn take_skip_select_and_total() {
        let q = Query::parse(&json!({
            "where": {"name": {"not": "d"}}, "orderBy": {"name": "desc"},
            "skip": 1, "take": 1, "select": ["title", "name", "missing"], "view": "ignored"
        }))
        .unwrap();
        let (page, total) = q.apply(docs());
        assert_eq!(total, 3);
        assert_eq!(page, [doc(json!({"title": "Sell car", "name": "b"}))]);
        assert_eq!(page[0].keys().collect::<Vec<_>>(), ["title", "name"]);
        let q = Query::parse(&json!({"take": 0, "skip": 99})).unwrap();
        assert_eq!(q.apply(docs()), (vec![], 4));
    }

    #[test]
    fn candidates_are_conservative() {
        // [where, candidates for `name` (null = None)]
        let cases = json!([
            [{"name": "a", "x": 1}, ["a"]],
            [{"name": {"in": ["a", "b", "a"]}}, ["a", "b"]],
            [{"AND": [{"name": {"in": ["a", "b"]}}, {"name": "b"}]}, ["b"]],
            [{"name": {"in": ["a"], "equals": "b"}}, []],
            [{"name": null}, [null]],
            [{"x": 1}, null],
            [{"name": {"gt": "a"}}, null],
            [{"OR": [{"name": "a"}, {"name": "b"}]}, null],
            [{"NOT": {"name": "a"}}, null],
            [{"name": {"not": "a"}}, null],
        ]);
        for case in cases.as_array().unwrap() {
            let got = Filter::parse(&case[0]).unwrap().candidates("name");
            assert_eq!(Value::from(got), case[1], "{}", case[0]);
        }
    }

    #[test]
    fn malformed_queries_are_bad_requests() {
        let e = Filter::parse(&json!({"title": {"equals": 1, "like": "x"}})).unwrap_err();
        assert_eq!(e.code(), ErrorCode::BadRequest);
        let known = "equals, in, notIn, not, lt, lte, gt, gte, contains, startsWith, endsWith";
        let msg = format!("unknown where-operator `like` on field `title` (known: {known})");
        assert_eq!(e.to_string(), msg);
        let details = e.to_run_error().details;
        assert_eq!(details, json!({"field": "title", "operator": "like"}));
        let cases = json!([
            [{"where": {"t": {"in": 1, "like": 1}}}, "unknown where-operator `like`"],
            [{"where": {"t": {"not": {"like": 1}}}}, "unknown where-operator `like`"],
            [{"where": "x"}, "`where` must be an object, got string"],
            [{"where": {"t": {}}}, "empty operator object on field `t`"],
            [{"where": {"t": {"in": "a"}}}, "`in` on field `t` needs an array, got string"],
            [{"where": {"t": {"notIn": 1}}}, "`notIn` on field `t` needs an array"],
            [{"where": {"t": {"lt": true}}}, "needs a number or a string, got boolean"],
            [{"where": {"t": {"gte": null}}}, "needs a number or a string, got null"],
            [{"where": {"t": {"startsWith": 1}}}, "needs a string"],
            [{"where": {"t": {"endsWith": []}}}, "needs a string"],
            [{"where": {"OR": {"a": 1}}}, "`OR` must be an array of objects, got object"],
            [{"where": {"AND": 3}}, "`AND` must be an object or an array of objects"],
            [{"where": {"NOT": [1]}}, "`NOT` must be an object or an array of objects"],
            [{"take": -1}, "`take` must be a non-negative integer, got -1"],
            [{"take": 1.5}, "`take` must be a non-negative integer, got 1.5"],
            [{"skip": "2"}, "`skip` must be a non-negative integer, got \"2\""],
            [{"orderBy": {"date": "up"}}, "`date` must be \"asc\" or \"desc\", got \"up\""],
            [{"orderBy": [["date"]]}, "`orderBy` entries must be a field name or an object"],
            [{"orderBy": 1}, "`orderBy` entries must be a field name or an object"],
            [{"select": "name"}, "`select` must be an array of field names"],
            [{"select": ["a", 1]}, "`select` must be an array of field names"],
            [[], "`input` must be an object"],
        ]);
        for case in cases.as_array().unwrap() {
            let e = Query::parse(&case[0]).expect_err("should be refused");
            assert_eq!(e.code(), ErrorCode::BadRequest, "{}", case[0]);
            let want = case[1].as_str().unwrap();
            assert!(e.to_string().contains(want), "{}: {e}", case[0]);
        }
    }

    fn value() -> impl Strategy<Value = Value> {
        let scalar = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            (-1e20f64..1e20).prop_map(Value::from),
            "[a-c]{0,2}".prop_map(Value::from),
        ];
        scalar.prop_recursive(2, 8, 3, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..3).prop_map(Value::from),
                prop::collection::vec(("[ab]", inner), 0..2)
                    .prop_map(|kv| Value::Object(kv.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn compare_is_a_total_order(a in value(), b in value(), c in value()) {
            prop_assert_eq!(compare(&a, &b), compare(&b, &a).reverse());
            if compare(&a, &b).is_le() && compare(&b, &c).is_le() {
                prop_assert!(compare(&a, &c).is_le());
            }
        }

        #[test]
        fn sort_is_a_sorted_permutation(keys in prop::collection::vec(value(), 0..20), desc: bool) {
            let input: Vec<Doc> = keys.iter().enumerate()
                .map(|(i, k)| doc(json!({"name": format!("{i:02}"), "k": k}))).collect();
            let q = Query::parse(&json!({"orderBy": {"k": if desc { "desc" } else { "asc" }}}));
            let out = q.unwrap().sort_and_page(input.clone());
            let mut seen: Vec<&str> = out.iter().map(|d| d["name"].as_str().unwrap()).collect();
            seen.sort_unstable();
            prop_assert_eq!(seen.concat(), names(&input));
            for w in out.windows(2) {
                let o = compare(&w[0]["k"], &w[1]["k"]);
                let o = if desc { o.reverse() } else { o };
                prop_assert!(o.is_lt() || (o.is_eq() && w[0]["name"].as_str() < w[1]["name"].as_str()));
            }
        }
    }
}
