//! The select planner: which documents a query reads, in which order, and when it stops.
//!
//! A path is picked from the filter and the schema's indexes: names the filter pins, then an
//! indexed field it pins by equality, `in` or a range (one that also gives the order first),
//! then a walk of the doctype in name order (or of a complete index in its order).
//! Candidates stream in the query's order when the path gives it (no `orderBy`, `orderBy`
//! name, or the indexed field walked); the walk stops once `skip + take` rows passed the
//! filter and the `if_owner` restriction. Otherwise a bounded heap keeps the best
//! `skip + take` rows seen, never a sort of every match. Every candidate is still matched
//! against the whole filter, so a path only decides what is read, never what matches: the
//! result is the same rows in the same order as filtering, sorting and paging every document.
//! Documents are parsed only when they are read for the filter or for the page.
//!
//! This module must never write, and must never trust an index beyond what it holds: a
//! walk over a whole index needs the index marked complete.

use super::sink::Sink;
use crate::doc::Doc;
use crate::error::Result;
use crate::query::{Direction, Filter, Query, ValueRange, compare};
use crate::store::{IndexKey, KeyRange, View};
use serde_json::Value;
use std::cmp::Ordering;
use std::ops::Bound;

/// What to select, beyond the query itself.
pub(crate) struct Ask<'q> {
    /// The query: filter, order, skip (its `take` is ignored: see `rows`).
    pub(crate) query: &'q Query,
    /// Rows wanted after `skip`; `None` = every match.
    pub(crate) rows: Option<usize>,
    /// Read one row beyond `rows` to tell whether more match (`Page::more`).
    pub(crate) peek: bool,
    /// Only this owner's documents (an `if_owner` permission), before paging.
    pub(crate) own_only: Option<&'q str>,
    /// Count every match (`Page::total`).
    pub(crate) count: bool,
    /// Skip documents that cannot be read back, naming them, instead of failing.
    pub(crate) skip_corrupt: bool,
}

/// What a select found.
pub(crate) struct Page {
    /// The rows after `skip`, at most `rows` (and the peeked one, removed: see `more`).
    pub(crate) rows: Vec<Doc>,
    /// More rows matched beyond `rows` (known only when peeking).
    pub(crate) more: bool,
    /// Every match, when counting was asked.
    pub(crate) total: Option<usize>,
    /// Documents skipped because they cannot be read back.
    pub(crate) corrupt: Vec<String>,
    /// How the rows were found (`meta.plan`).
    pub(crate) plan: Value,
}

/// How the candidates came: their source (`path`: `names`, `index` or `scan`), the index
/// field if any, and their order (`names` or `index` when streamed in the query's order,
/// `heap` when kept in a bounded heap).
pub(super) struct Route {
    pub(super) path: &'static str,
    pub(super) field: Option<String>,
    pub(super) order: &'static str,
}

/// The select of `ask` over `doctype`, whose `indexed` fields have indexes.
pub(crate) fn select(
    view: &dyn View,
    doctype: &str,
    indexed: &[String],
    ask: &Ask<'_>,
) -> Result<Page> {
    let query = ask.query;
    let filter = query.filter.as_ref();
    let (first, first_dir) = query
        .order
        .first()
        .map(|(f, d)| (f.as_str(), *d))
        .unwrap_or(("name", Direction::Asc));
    // Ties of the first key are broken by name, this way (an index walk gives them so).
    let then_by_name = match query.order.get(1) {
        Some((field, dir)) if field == "name" && query.order.len() == 2 => Some(*dir),
        _ => None,
    };
    let by_index = |field: &str| -> Result<Option<Pin>> { pin(view, doctype, field, filter) };

    // Whether the pin of `field` answers the whole filter: it tests that field alone, with
    // equalities or ranges (both: the pin would answer one of them only).
    let answers = |field: &str| {
        filter.is_some_and(|filter| {
            filter.tests_only(field)
                && (filter.candidates(field).is_none() || filter.range_of(field).is_none())
        })
    };
    let mut total_from_index = None;
    if ask.count && ask.own_only.is_none() && !ask.skip_corrupt {
        for field in indexed.iter().filter(|f| answers(f)) {
            if let Some(pin) = by_index(field)? {
                total_from_index = Some(pin.count(view, doctype, field)?);
                break;
            }
        }
    }
    let mut sink = Sink::new(view, doctype, ask, total_from_index.is_none());

    let route = if let Some(names) = filter.and_then(|f| f.candidates("name")) {
        let mut names: Vec<String> = names
            .iter()
            .filter_map(|n| n.as_str().map(str::to_string))
            .collect();
        names.sort();
        names.dedup();
        let in_order = first == "name";
        if in_order && first_dir == Direction::Desc {
            names.reverse();
        }
        sink.heap = !in_order;
        for name in names {
            if !sink.offer_named(name)? {
                break;
            }
        }
        route("names", None, if in_order { "names" } else { "heap" })
    } else if let Some((field, pin)) = pick_index(indexed, first, &by_index)? {
        sink.answered = answers(&field);
        if first == "name" {
            sink.heap = false;
            pin.walk_by_name(view, doctype, &field, first_dir, &mut sink)?;
            route("index", Some(field), "names")
        } else if first == field
            && let Some(name_dir) = then_by_name
        {
            sink.heap = false;
            pin.walk_by_value(view, doctype, &field, first_dir, name_dir, &mut sink)?;
            route("index", Some(field), "index")
        } else {
            sink.heap = true;
            pin.walk_by_value(
                view,
                doctype,
                &field,
                Direction::Asc,
                Direction::Asc,
                &mut sink,
            )?;
            route("index", Some(field), "heap")
        }
    } else if first == "name"
        && let Some(walk) = view.walk_docs(doctype, first_dir == Direction::Desc)?
    {
        sink.heap = false;
        for stored in walk {
            if !sink.offer_stored(stored?)? {
                break;
            }
        }
        route("scan", None, "names")
    } else if let Some(name_dir) = then_by_name
        && indexed.iter().any(|f| f == first)
        && view.index_complete(doctype, first)?
    {
        sink.heap = false;
        let whole = Pin::Range(KeyRange::all());
        whole.walk_by_value(view, doctype, first, first_dir, name_dir, &mut sink)?;
        route("index", Some(first.to_string()), "index")
    } else {
        sink.heap = true;
        match view.walk_docs(doctype, false)? {
            Some(walk) => {
                for stored in walk {
                    sink.offer_stored(stored?)?;
                }
            }
            None => {
                // Not kept in name order (the audit trail): every document, into the heap.
                let mut failed = None;
                let mut visit = |doc| match sink.offer(doc) {
                    Ok(more) => more,
                    Err(e) => {
                        failed = Some(e);
                        false
                    }
                };
                let mut corrupt = Vec::new();
                if ask.skip_corrupt {
                    view.scan_readable_docs(doctype, &mut visit, &mut |name| corrupt.push(name))?;
                } else {
                    view.scan_docs(doctype, &mut visit)?;
                }
                if let Some(e) = failed {
                    return Err(e);
                }
                sink.corrupt.extend(corrupt);
            }
        }
        route("scan", None, "heap")
    };
    Ok(sink.finish(route, total_from_index))
}

fn route(path: &'static str, field: Option<String>, order: &'static str) -> Route {
    Route { path, field, order }
}

/// The index field to read, and what the filter pins it to: one that also gives the order
/// first, then one pinned by equality or `in`, then one pinned by a range.
fn pick_index(
    indexed: &[String],
    first: &str,
    by_index: &dyn Fn(&str) -> Result<Option<Pin>>,
) -> Result<Option<(String, Pin)>> {
    let mut best: Option<(u8, String, Pin)> = None;
    for field in indexed {
        let Some(pin) = by_index(field)? else {
            continue;
        };
        let rank = match (field == first, &pin) {
            (true, _) => 0,
            (false, Pin::Values(_)) => 1,
            (false, Pin::Range(_)) => 2,
        };
        if best.as_ref().is_none_or(|(r, ..)| rank < *r) {
            best = Some((rank, field.clone(), pin));
        }
    }
    Ok(best.map(|(_, field, pin)| (field, pin)))
}

/// What the filter pins an indexed field to.
enum Pin {
    /// One of these values (index forms, ascending, distinct).
    Values(Vec<IndexKey>),
    /// A range of values.
    Range(KeyRange),
}

/// How `filter` pins `field`, if its index can list exactly the candidates: equality or
/// `in` over scalars (null only in a complete index), or a range.
fn pin(
    view: &dyn View,
    doctype: &str,
    field: &str,
    filter: Option<&Filter>,
) -> Result<Option<Pin>> {
    let Some(filter) = filter else {
        return Ok(None);
    };
    if let Some(values) = filter.candidates(field) {
        let listed = values.iter().all(|v| !v.is_array() && !v.is_object());
        let nulls_listed =
            !values.iter().any(Value::is_null) || view.index_complete(doctype, field)?;
        if listed && nulls_listed {
            let mut keys: Vec<IndexKey> = values.iter().map(IndexKey::of).collect();
            keys.sort();
            keys.dedup();
            return Ok(Some(Pin::Values(keys)));
        }
    }
    Ok(filter.range_of(field).map(|range| {
        let key = |bound: Bound<Value>| match bound {
            Bound::Included(v) => Bound::Included(IndexKey::of(&v)),
            Bound::Excluded(v) => Bound::Excluded(IndexKey::of(&v)),
            Bound::Unbounded => Bound::Unbounded,
        };
        let ValueRange { lower, upper } = range;
        Pin::Range(KeyRange {
            lower: key(lower),
            upper: key(upper),
        })
    }))
}

impl Pin {
    fn ranges(&self) -> Vec<KeyRange> {
        match self {
            Pin::Values(keys) => keys.iter().cloned().map(KeyRange::exactly).collect(),
            Pin::Range(range) => vec![range.clone()],
        }
    }

    /// How many documents the index lists under the pin (none is read).
    fn count(&self, view: &dyn View, doctype: &str, field: &str) -> Result<usize> {
        let mut total = 0;
        for range in self.ranges() {
            total += view.count_index(doctype, field, &range)?;
        }
        Ok(usize::try_from(total).unwrap_or(usize::MAX))
    }

    /// Offer the pinned documents in name order: the walks of each value merged by name
    /// (a range's names are listed from the index and sorted first; no document is read).
    fn walk_by_name(
        &self,
        view: &dyn View,
        doctype: &str,
        field: &str,
        dir: Direction,
        sink: &mut Sink<'_>,
    ) -> Result<()> {
        let reverse = dir == Direction::Desc;
        if let Pin::Range(range) = self {
            let mut names = Vec::new();
            for entry in view.walk_index(doctype, field, range, false)? {
                names.push(entry?.1);
            }
            names.sort();
            if reverse {
                names.reverse();
            }
            for name in names {
                if !sink.offer_named(name)? {
                    break;
                }
            }
            return Ok(());
        }
        let mut walks = Vec::new();
        for range in self.ranges() {
            walks.push(view.walk_index(doctype, field, &range, reverse)?.peekable());
        }
        loop {
            // The walk whose next name comes first (few walks: one per value of `in`).
            let mut next: Option<(usize, String)> = None;
            for (i, walk) in walks.iter_mut().enumerate() {
                let Some(entry) = walk.peek() else { continue };
                let name = match entry {
                    Ok((_, name)) => name,
                    Err(_) => return Err(walk.next().expect("peeked").unwrap_err()),
                };
                let earlier = next
                    .as_ref()
                    .is_none_or(|(_, best)| if reverse { name > best } else { name < best });
                if earlier {
                    next = Some((i, name.clone()));
                }
            }
            let Some((i, name)) = next else {
                return Ok(());
            };
            walks[i].next();
            if !sink.offer_named(name)? {
                return Ok(());
            }
        }
    }

    /// Offer the pinned documents by value (`value_dir`), ties by name (`name_dir`).
    /// Arrays and objects share one index form: that group is read and ordered in memory.
    fn walk_by_value(
        &self,
        view: &dyn View,
        doctype: &str,
        field: &str,
        value_dir: Direction,
        name_dir: Direction,
        sink: &mut Sink<'_>,
    ) -> Result<()> {
        let reverse = value_dir == Direction::Desc;
        let mut ranges = self.ranges();
        if reverse {
            ranges.reverse();
        }
        for mut range in ranges {
            if value_dir == name_dir {
                // One walk gives both orders.
                let mut walk = view.walk_index(doctype, field, &range, reverse)?.peekable();
                while let Some(entry) = walk.next() {
                    let (key, name) = entry?;
                    let more = if key.is_complex() {
                        let mut group = vec![name];
                        while let Some(Ok((next, _))) = walk.peek()
                            && next.is_complex()
                        {
                            group.push(walk.next().expect("peeked")?.1);
                        }
                        complex_group(field, group, value_dir, name_dir, sink)?
                    } else {
                        sink.offer_named(name)?
                    };
                    if !more {
                        return Ok(());
                    }
                }
                continue;
            }
            // Value groups one by one, each walked the other way.
            loop {
                let Some(entry) = view.walk_index(doctype, field, &range, reverse)?.next() else {
                    break;
                };
                let (key, _) = entry?;
                let group = KeyRange::exactly(key.clone());
                let names = view.walk_index(doctype, field, &group, !reverse)?;
                let more = if key.is_complex() {
                    let names = names
                        .map(|e| e.map(|(_, name)| name))
                        .collect::<Result<_>>()?;
                    complex_group(field, names, value_dir, name_dir, sink)?
                } else {
                    let mut more = true;
                    for entry in names {
                        if !sink.offer_named(entry?.1)? {
                            more = false;
                            break;
                        }
                    }
                    more
                };
                if !more {
                    return Ok(());
                }
                if reverse {
                    range.upper = Bound::Excluded(key);
                } else {
                    range.lower = Bound::Excluded(key);
                }
            }
        }
        Ok(())
    }
}

/// Offer the documents whose `field` is an array or an object, ordered in memory;
/// `false` stops the walk.
fn complex_group(
    field: &str,
    names: Vec<String>,
    value_dir: Direction,
    name_dir: Direction,
    sink: &mut Sink<'_>,
) -> Result<bool> {
    let mut docs = Vec::new();
    for name in names {
        if let Some(doc) = sink.read(&name)? {
            docs.push(doc);
        }
    }
    let directed = |o: Ordering, dir| {
        if dir == Direction::Desc {
            o.reverse()
        } else {
            o
        }
    };
    docs.sort_by(|a, b| {
        let by_value = compare(
            a.get(field).unwrap_or(&Value::Null),
            b.get(field).unwrap_or(&Value::Null),
        );
        directed(by_value, value_dir).then_with(|| {
            let name = |d: &Doc| d.get("name").and_then(Value::as_str).map(str::to_owned);
            directed(name(a).cmp(&name(b)), name_dir)
        })
    });
    for doc in docs {
        if !sink.offer(doc)? {
            return Ok(false);
        }
    }
    Ok(true)
}
