//! Where a select's candidates go: each is matched against the filter and the `if_owner`
//! restriction, then either streamed into the page (candidates in the query's order: the
//! walk stops once `skip + take` matched) or kept in a bounded heap of the best
//! `skip + take` (candidates in any order). Documents are parsed only when the filter or the
//! page needs them.
//!
//! This module must never hold more than `skip + take` (+1) documents.

use super::plan::{Ask, Page, Route};
use crate::doc::Doc;
use crate::error::Result;
use crate::query::{Filter, Query};
use crate::store::{StoredDoc, View, unreadable_doc};
use serde_json::{Value, json};
use std::cmp::Ordering;

/// Where candidates go: matched against the filter and the owner, then paged (streamed in
/// order) or kept in a bounded heap.
pub(super) struct Sink<'a> {
    view: &'a dyn View,
    doctype: &'a str,
    filter: Option<&'a Filter>,
    query: &'a Query,
    own_only: Option<&'a str>,
    skip_corrupt: bool,
    /// Candidates do not come in the query's order: keep the best `keep` in order.
    pub(super) heap: bool,
    /// `skip` + rows (+ the peeked one); `usize::MAX` for every match.
    keep: usize,
    /// Matches to skip before the page (streamed), or the heap's first rows.
    skip: usize,
    /// Count every match, so never stop early.
    counting: bool,
    /// The index walked answers the whole filter: its candidates all match.
    pub(super) answered: bool,
    /// Rows wanted after `skip`, and whether one more is read to tell if more match.
    wanted: Option<usize>,
    peek: bool,
    /// Matched so far.
    matched: usize,
    /// Streamed: the page so far. Heap: the best `keep` so far, in order.
    rows: Vec<Doc>,
    /// Documents parsed.
    examined: usize,
    pub(super) corrupt: Vec<String>,
}

impl<'a> Sink<'a> {
    pub(super) fn new(
        view: &'a dyn View,
        doctype: &'a str,
        ask: &'a Ask<'a>,
        counting: bool,
    ) -> Self {
        let rows = ask.rows.map(|r| r.saturating_add(usize::from(ask.peek)));
        Sink {
            view,
            doctype,
            filter: ask.query.filter.as_ref(),
            query: ask.query,
            own_only: ask.own_only,
            skip_corrupt: ask.skip_corrupt,
            heap: false,
            keep: rows.map_or(usize::MAX, |r| r.saturating_add(ask.query.skip)),
            skip: ask.query.skip,
            counting: ask.count && counting,
            answered: false,
            wanted: ask.rows,
            peek: ask.peek,
            matched: 0,
            rows: Vec::new(),
            examined: 0,
            corrupt: Vec::new(),
        }
    }

    /// Every candidate matches unread: no filter (or one the index walked answers whole)
    /// and no owner to check.
    fn matches_unread(&self) -> bool {
        (self.filter.is_none() || self.answered) && self.own_only.is_none() && !self.skip_corrupt
    }

    /// Whether the candidate at this point of a streamed walk is needed as a row.
    fn wanted_now(&self) -> bool {
        self.heap || (self.matched >= self.skip && self.matched < self.keep)
    }

    /// Whether the walk may stop.
    pub(super) fn done(&self) -> bool {
        !self.heap && !self.counting && self.matched >= self.keep
    }

    /// A candidate by name (from an index or the filter); `false` stops the walk.
    pub(super) fn offer_named(&mut self, name: String) -> Result<bool> {
        if self.done() {
            return Ok(false);
        }
        if self.matches_unread() && !self.wanted_now() {
            self.matched += 1;
            return Ok(!self.done());
        }
        match self.read(&name)? {
            Some(doc) => self.offer(doc),
            None => Ok(!self.done()),
        }
    }

    /// A candidate as stored; `false` stops the walk.
    pub(super) fn offer_stored(&mut self, stored: StoredDoc) -> Result<bool> {
        if self.done() {
            return Ok(false);
        }
        if self.matches_unread() && !self.wanted_now() {
            self.matched += 1;
            return Ok(!self.done());
        }
        self.examined += 1;
        match stored.parse(self.doctype) {
            Ok(doc) => self.offer(doc),
            Err(e) if self.skip_corrupt && unreadable_doc(&e).is_some() => {
                self.corrupt.push(stored.name);
                Ok(!self.done())
            }
            Err(e) => Err(e),
        }
    }

    /// Read a candidate (`None`: gone, or unreadable and skipped).
    pub(super) fn read(&mut self, name: &str) -> Result<Option<Doc>> {
        let doc = match self.view.get_doc(self.doctype, name) {
            Err(e) if self.skip_corrupt && unreadable_doc(&e).is_some() => {
                self.corrupt.push(name.to_string());
                None
            }
            other => other?,
        };
        self.examined += usize::from(doc.is_some());
        Ok(doc)
    }

    /// A parsed candidate; `false` stops the walk.
    pub(super) fn offer(&mut self, doc: Doc) -> Result<bool> {
        let passes = self.filter.is_none_or(|f| f.matches(&doc))
            && self
                .own_only
                .is_none_or(|user| doc.get("owner").and_then(Value::as_str) == Some(user));
        if !passes {
            return Ok(true);
        }
        if self.heap {
            self.matched += 1;
            let at = self
                .rows
                .partition_point(|kept| self.query.compare_docs(kept, &doc) != Ordering::Greater);
            if at < self.keep {
                self.rows.insert(at, doc);
                self.rows.truncate(self.keep);
            }
            return Ok(true);
        }
        if self.wanted_now() {
            self.rows.push(doc);
        }
        self.matched += 1;
        Ok(!self.done())
    }

    pub(super) fn finish(self, route: Route, total_from_index: Option<usize>) -> Page {
        let mut rows = self.rows;
        if self.heap {
            rows.drain(..self.skip.min(rows.len()));
        }
        let more = self
            .wanted
            .is_some_and(|wanted| self.peek && rows.len() > wanted);
        if let Some(wanted) = self.wanted {
            rows.truncate(wanted);
        }
        let mut plan = json!({"path": route.path, "order": route.order, "examined": self.examined});
        if let Some(field) = route.field {
            plan["field"] = json!(field);
        }
        Page {
            rows,
            more,
            total: total_from_index.or(self.counting.then_some(self.matched)),
            corrupt: self.corrupt,
            plan,
        }
    }
}
