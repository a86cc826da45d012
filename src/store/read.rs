//! Reads: the documents, indexes and runs of a consistent snapshot ([`ReadTables`]) or of
//! the write transaction (through the same [`View`]), and the snapshot readers share until
//! the next commit.
//!
//! This module must never write: a read transaction stays short and sees only what was
//! committed before it began.

use super::layout::{
    AUDIT, Bytes, DOC_INDEX, DOCS, IndexKey, KeyRange, META, RUN_INDEX, RUNS, doc_key,
    doctype_range, index_complete_key, index_prefix, key_name, parse_doc, prefix_end,
    run_index_key, split_index_entry,
};
use super::record::{parse_run_named, parse_run_or_stub};
use super::{
    Catalog, Db, DocWalk, IndexWalk, RedbStore, Snapshot, StoredDoc, StoredDocVisit, View, lock,
};
use crate::doc::Doc;
use crate::error::{Error, Result};
use crate::run::Run;
use redb::{ReadOnlyTable, ReadTransaction, ReadableDatabase, ReadableTable};
use serde_json::Value;
use std::sync::Arc;
use std::sync::atomic::Ordering;

pub(super) fn index_lookup_in(
    table: &impl ReadableTable<Bytes, Bytes>,
    doctype: &str,
    field: &str,
    value: &Value,
) -> Result<Vec<String>> {
    let key = IndexKey::of(value);
    if key.is_complex() {
        // Arrays and objects share one form: it says nothing about equality.
        return Ok(Vec::new());
    }
    walk_index_in(table, doctype, field, &KeyRange::exactly(key), false)?
        .map(|entry| entry.map(|(_, name)| name))
        .collect()
}

/// The entries of `doctype`'s index of `field` in `range`, in (index form, name) order or
/// its reverse; the completeness mark and keys of no known format are passed over.
pub(super) fn walk_index_in<'a>(
    table: &'a impl ReadableTable<Bytes, Bytes>,
    doctype: &str,
    field: &str,
    range: &KeyRange,
    reverse: bool,
) -> Result<IndexWalk<'a>> {
    let Some((start, end)) = range.bytes(doctype, field) else {
        return Ok(Box::new(std::iter::empty()));
    };
    let prefix_len = index_prefix(doctype, field).len();
    let entries = table.range(start.as_slice()..end.as_slice())?;
    let entries: Box<dyn Iterator<Item = _>> = if reverse {
        Box::new(entries.rev())
    } else {
        Box::new(entries)
    };
    Ok(Box::new(entries.filter_map(move |entry| match entry {
        Ok((key, _)) => split_index_entry(key.value(), prefix_len).map(Ok),
        Err(e) => Some(Err(e.into())),
    })))
}

/// Whether `doctype`'s index of `field` was built over every document (see
/// [`index_complete_key`]).
pub(super) fn index_complete_in(
    table: &impl ReadableTable<Bytes, Bytes>,
    doctype: &str,
    field: &str,
) -> Result<bool> {
    Ok(table
        .get(index_complete_key(doctype, field).as_slice())?
        .is_some())
}

/// The documents of `doctype` in name order (or its reverse), unparsed; `None` for the
/// audit trail, whose entries are kept in sequence order.
pub(super) fn walk_docs_in<'a>(
    table: &'a impl ReadableTable<Bytes, Bytes>,
    audit_doctype: &str,
    doctype: &str,
    reverse: bool,
) -> Result<Option<DocWalk<'a>>> {
    if doctype == audit_doctype {
        return Ok(None);
    }
    let (start, end) = doctype_range(doctype);
    let entries = table.range(start.as_slice()..end.as_slice())?;
    let entries: Box<dyn Iterator<Item = _>> = if reverse {
        Box::new(entries.rev())
    } else {
        Box::new(entries)
    };
    Ok(Some(Box::new(entries.map(|entry| {
        let (key, value) = entry?;
        Ok(StoredDoc {
            name: key_name(key.value()),
            bytes: value.value().to_vec(),
        })
    }))))
}

/// One document's stored bytes (`None` for the audit trail's, kept in their own table).
pub(super) fn get_doc_bytes_in(
    table: &impl ReadableTable<Bytes, Bytes>,
    audit_doctype: &str,
    doctype: &str,
    name: &str,
) -> Result<Option<Vec<u8>>> {
    if doctype == audit_doctype {
        return Ok(None);
    }
    Ok(table
        .get(doc_key(doctype, name).as_slice())?
        .map(|bytes| bytes.value().to_vec()))
}

/// The audit entries newest first, until `visit` returns `false`.
pub(super) fn audit_newest_first_in(
    audit: &impl ReadableTable<u64, Bytes>,
    visit: &mut dyn FnMut(u64, &[u8]) -> Result<bool>,
) -> Result<()> {
    for entry in audit.iter()?.rev() {
        let (seq, bytes) = entry?;
        if !visit(seq.value(), bytes.value())? {
            break;
        }
    }
    Ok(())
}

pub(super) fn get_doc_in(
    table: &impl ReadableTable<Bytes, Bytes>,
    audit: &impl ReadableTable<u64, Bytes>,
    audit_doctype: &str,
    doctype: &str,
    name: &str,
) -> Result<Option<Doc>> {
    if doctype == audit_doctype {
        let Ok(seq) = name.parse::<u64>() else {
            return Ok(None);
        };
        return match audit.get(seq)? {
            Some(bytes) => Ok(Some(parse_doc(doctype, name, bytes.value())?)),
            None => Ok(None),
        };
    }
    match table.get(doc_key(doctype, name).as_slice())? {
        Some(bytes) => Ok(Some(parse_doc(doctype, name, bytes.value())?)),
        None => Ok(None),
    }
}

/// Every document of `doctype`; with `unreadable`, those that cannot be read back are
/// handed to it by name instead of failing the scan.
pub(super) fn scan_docs_in(
    table: &impl ReadableTable<Bytes, Bytes>,
    audit: &impl ReadableTable<u64, Bytes>,
    audit_doctype: &str,
    doctype: &str,
    visit: &mut dyn FnMut(Doc) -> bool,
    mut unreadable: Option<&mut dyn FnMut(String)>,
) -> Result<()> {
    let mut read = |name: String, bytes: &[u8]| -> Result<Option<Doc>> {
        match (parse_doc(doctype, &name, bytes), &mut unreadable) {
            (Ok(doc), _) => Ok(Some(doc)),
            (Err(_), Some(unreadable)) => {
                unreadable(name);
                Ok(None)
            }
            (Err(e), None) => Err(e),
        }
    };
    if doctype == audit_doctype {
        for entry in audit.iter()? {
            let (seq, value) = entry?;
            if let Some(doc) = read(seq.value().to_string(), value.value())?
                && !visit(doc)
            {
                break;
            }
        }
        return Ok(());
    }
    let (start, end) = doctype_range(doctype);
    for entry in table.range(start.as_slice()..end.as_slice())? {
        let (key, value) = entry?;
        if let Some(doc) = read(key_name(key.value()), value.value())?
            && !visit(doc)
        {
            break;
        }
    }
    Ok(())
}

pub(super) fn get_run_in(
    table: &impl ReadableTable<Bytes, Bytes>,
    id: &str,
) -> Result<Option<Run>> {
    match table.get(id.as_bytes())? {
        Some(bytes) => Ok(Some(parse_run_named(id, bytes.value())?)),
        None => Ok(None),
    }
}

/// A consistent read-only snapshot.
pub(crate) struct ReadTables {
    /// Which doctype is the audit trail.
    catalog: Catalog,
    docs: ReadOnlyTable<Bytes, Bytes>,
    runs: ReadOnlyTable<Bytes, Bytes>,
    run_index: ReadOnlyTable<Bytes, Bytes>,
    doc_index: ReadOnlyTable<Bytes, Bytes>,
    audit: ReadOnlyTable<u64, Bytes>,
    meta: ReadOnlyTable<Bytes, Bytes>,
}

impl ReadTables {
    fn open(txn: &ReadTransaction, catalog: Catalog) -> Result<Self> {
        Ok(ReadTables {
            catalog,
            docs: txn.open_table(DOCS)?,
            runs: txn.open_table(RUNS)?,
            run_index: txn.open_table(RUN_INDEX)?,
            doc_index: txn.open_table(DOC_INDEX)?,
            audit: txn.open_table(AUDIT)?,
            meta: txn.open_table(META)?,
        })
    }

    /// A store fact by name.
    pub(super) fn meta(&self, key: &str) -> Result<Option<Vec<u8>>> {
        Ok(self.meta.get(key.as_bytes())?.map(|v| v.value().to_vec()))
    }

    /// Every audit entry, oldest first, as stored bytes (for verification).
    pub(super) fn audit_entries(
        &self,
        visit: &mut dyn FnMut(u64, &[u8]) -> Result<()>,
    ) -> Result<()> {
        for entry in self.audit.iter()? {
            let (seq, bytes) = entry?;
            visit(seq.value(), bytes.value())?;
        }
        Ok(())
    }

    /// Every document, in key order: (doctype, name, stored bytes).
    pub(super) fn all_docs(&self, visit: &mut StoredDocVisit<'_>) -> Result<()> {
        for entry in self.docs.iter()? {
            let (key, bytes) = entry?;
            let key = key.value();
            let at = key.iter().position(|b| *b == 0).unwrap_or(key.len());
            let doctype = String::from_utf8_lossy(&key[..at]);
            let name = key_name(key);
            visit(&doctype, &name, bytes.value())?;
        }
        Ok(())
    }

    /// The runs that may have `field = value` (callers check each run's field), found
    /// through an index or the run tree, never a scan of all runs. A chain is its root's
    /// tree; a parent's children are listed in its record; a flow is its indexed runs and
    /// the chain of the same id (see [`super::record::RUN_INDEX_FIELDS`]).
    pub(super) fn runs_where(&self, field: &str, value: &str) -> Result<Vec<Run>> {
        let by_ids = |ids: Vec<String>| -> Result<Vec<Run>> {
            let mut runs = Vec::with_capacity(ids.len());
            for id in ids {
                runs.extend(self.listed_run(&id)?);
            }
            Ok(runs)
        };
        Ok(match field {
            "chain" => self.tree(value)?,
            "parent" => match self.get_run(value)? {
                Some(parent) => by_ids(parent.child_run_ids)?,
                None => Vec::new(),
            },
            "flow" => {
                let mut runs = by_ids(self.run_ids_by(field, value)?)?;
                runs.extend(self.tree(value)?);
                runs.sort_by(|a, b| a.id.cmp(&b.id));
                runs.dedup_by(|a, b| a.id == b.id);
                runs
            }
            _ => by_ids(self.run_ids_by(field, value)?)?,
        })
    }

    /// The run `root` and every run under it, oldest first.
    fn tree(&self, root: &str) -> Result<Vec<Run>> {
        let mut runs = Vec::new();
        let mut next = vec![root.to_string()];
        while let Some(id) = next.pop() {
            if let Some(run) = self.listed_run(&id)? {
                next.extend(run.child_run_ids.iter().cloned());
                runs.push(run);
            }
        }
        runs.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(runs)
    }

    /// Run `id` for a listing: an unreadable record is listed as a failed run saying so.
    fn listed_run(&self, id: &str) -> Result<Option<Run>> {
        Ok(self
            .runs
            .get(id.as_bytes())?
            .map(|bytes| parse_run_or_stub(id, bytes.value())))
    }

    /// Run ids indexed under `field = value`, oldest first.
    fn run_ids_by(&self, field: &str, value: &str) -> Result<Vec<String>> {
        let start = run_index_key(field, value, "");
        let end = prefix_end(&start);
        let mut ids = Vec::new();
        for entry in self.run_index.range(start.as_slice()..end.as_slice())? {
            let (key, _) = entry?;
            let id = &key.value()[start.len()..];
            ids.push(String::from_utf8_lossy(id).into_owned());
        }
        Ok(ids)
    }

    /// Runs with ids in `[since, until)` (ids sort by start time), oldest first; with
    /// `limit`, the newest `limit` of them.
    pub(super) fn runs_between(
        &self,
        since: Option<&str>,
        until: Option<&str>,
        limit: Option<usize>,
    ) -> Result<Vec<Run>> {
        let start = since.unwrap_or("").as_bytes();
        let mut runs = Vec::new();
        let range = match until {
            Some(until) => self.runs.range(start..until.as_bytes())?,
            None => self.runs.range(start..)?,
        };
        for entry in range.rev().take(limit.unwrap_or(usize::MAX)) {
            let (key, value) = entry?;
            let id = String::from_utf8_lossy(key.value());
            // One unreadable record does not hide every other run.
            runs.push(parse_run_or_stub(&id, value.value()));
        }
        runs.reverse();
        Ok(runs)
    }
}

/// Snapshots and the write transaction read the same way, from their own table handles.
macro_rules! impl_view {
    ($tables:ty) => {
        impl $crate::store::View for $tables {
            fn get_doc(
                &self,
                doctype: &str,
                name: &str,
            ) -> $crate::error::Result<Option<$crate::doc::Doc>> {
                $crate::store::read::get_doc_in(
                    &self.docs,
                    &self.audit,
                    self.catalog.audit_doctype,
                    doctype,
                    name,
                )
            }
            fn scan_docs(
                &self,
                doctype: &str,
                visit: &mut dyn FnMut($crate::doc::Doc) -> bool,
            ) -> $crate::error::Result<()> {
                $crate::store::read::scan_docs_in(
                    &self.docs,
                    &self.audit,
                    self.catalog.audit_doctype,
                    doctype,
                    visit,
                    None,
                )
            }
            fn scan_readable_docs(
                &self,
                doctype: &str,
                visit: &mut dyn FnMut($crate::doc::Doc) -> bool,
                unreadable: &mut dyn FnMut(String),
            ) -> $crate::error::Result<()> {
                $crate::store::read::scan_docs_in(
                    &self.docs,
                    &self.audit,
                    self.catalog.audit_doctype,
                    doctype,
                    visit,
                    Some(unreadable),
                )
            }
            fn get_run(&self, id: &str) -> $crate::error::Result<Option<$crate::run::Run>> {
                $crate::store::read::get_run_in(&self.runs, id)
            }
            fn index_lookup(
                &self,
                doctype: &str,
                field: &str,
                value: &serde_json::Value,
            ) -> $crate::error::Result<Vec<String>> {
                $crate::store::read::index_lookup_in(&self.doc_index, doctype, field, value)
            }
            fn walk_docs(
                &self,
                doctype: &str,
                reverse: bool,
            ) -> $crate::error::Result<Option<$crate::store::DocWalk<'_>>> {
                $crate::store::read::walk_docs_in(
                    &self.docs,
                    self.catalog.audit_doctype,
                    doctype,
                    reverse,
                )
            }
            fn walk_index(
                &self,
                doctype: &str,
                field: &str,
                range: &$crate::store::KeyRange,
                reverse: bool,
            ) -> $crate::error::Result<$crate::store::IndexWalk<'_>> {
                $crate::store::read::walk_index_in(&self.doc_index, doctype, field, range, reverse)
            }
            fn count_index(
                &self,
                doctype: &str,
                field: &str,
                range: &$crate::store::KeyRange,
            ) -> $crate::error::Result<u64> {
                let mut count = 0;
                for entry in $crate::store::read::walk_index_in(
                    &self.doc_index,
                    doctype,
                    field,
                    range,
                    false,
                )? {
                    entry?;
                    count += 1;
                }
                Ok(count)
            }
            fn index_complete(&self, doctype: &str, field: &str) -> $crate::error::Result<bool> {
                $crate::store::read::index_complete_in(&self.doc_index, doctype, field)
            }
            fn get_doc_bytes(
                &self,
                doctype: &str,
                name: &str,
            ) -> $crate::error::Result<Option<Vec<u8>>> {
                $crate::store::read::get_doc_bytes_in(
                    &self.docs,
                    self.catalog.audit_doctype,
                    doctype,
                    name,
                )
            }
            fn audit_newest_first(
                &self,
                visit: &mut dyn FnMut(u64, &[u8]) -> $crate::error::Result<bool>,
            ) -> $crate::error::Result<()> {
                $crate::store::read::audit_newest_first_in(&self.audit, visit)
            }
        }
    };
}
pub(super) use impl_view;

impl_view!(ReadTables);

impl Snapshot for ReadTables {
    fn meta(&self, key: &str) -> Result<Option<Vec<u8>>> {
        ReadTables::meta(self, key)
    }
    fn audit_entries(&self, visit: &mut dyn FnMut(u64, &[u8]) -> Result<()>) -> Result<()> {
        ReadTables::audit_entries(self, visit)
    }
    fn all_docs(&self, visit: &mut StoredDocVisit<'_>) -> Result<()> {
        ReadTables::all_docs(self, visit)
    }
    fn runs_where(&self, field: &str, value: &str) -> Result<Vec<Run>> {
        ReadTables::runs_where(self, field, value)
    }
    fn runs_between(
        &self,
        since: Option<&str>,
        until: Option<&str>,
        limit: Option<usize>,
    ) -> Result<Vec<Run>> {
        ReadTables::runs_between(self, since, until, limit)
    }
}

impl RedbStore {
    /// A consistent snapshot of everything committed so far.
    ///
    /// Snapshots are shared until the next commit: opening one costs a redb read
    /// transaction and six tables, and waits while a commit is being made durable.
    pub(super) fn read(&self) -> Result<Arc<ReadTables>> {
        let commits = self.snapshots.commits.load(Ordering::SeqCst);
        if let Some((taken_at, snapshot)) = &*lock(&self.snapshots.shared)
            && *taken_at == commits
        {
            return Ok(snapshot.clone());
        }
        let txn = match &*self.db()? {
            Some(Db::Writer(db)) => db
                .begin_read()
                .map_err(|e| Error::Storage(self.explained(e)))?,
            // Another process commits: nothing tells this one when, so never share.
            Some(Db::Reader(db)) => {
                return Ok(Arc::new(ReadTables::open(&db.begin_read()?, self.catalog)?));
            }
            None => unreachable!("`db()` returns an open database"),
        };
        let snapshot = Arc::new(ReadTables::open(&txn, self.catalog)?);
        let mut cached = lock(&self.snapshots.shared);
        // Only a snapshot opened after the latest commit may be shared.
        if self.snapshots.commits.load(Ordering::SeqCst) == commits {
            *cached = Some((commits, snapshot.clone()));
        }
        Ok(snapshot)
    }
}
