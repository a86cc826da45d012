//! Writes: one writer's view of the shared write transaction ([`WriteTables`]). Every change
//! to a document, an index entry, a counter, a store fact or the audit trail is recorded in
//! an undo log, so a failed run takes back its own writes ([`WriteTables::rollback_to`] a
//! [`Mark`]) without touching its neighbours' in the same transaction (redb refuses
//! savepoints in a transaction that already wrote).
//!
//! Every put and remove is also captured, in order, in the batch's [`Changes`] when the store
//! keeps a redo log (the changes a rollback makes included), so the log's record of the batch
//! replays to exactly what the batch committed.
//!
//! This module must never commit: the group commit does, once every writer of a batch is done.

use super::layout::{
    AUDIT, Bytes, COUNTERS, DOC_INDEX, DOCS, IndexKey, META, RUN_INDEX, RUNS, doc_key, encode,
    index_complete_key, index_entry, index_prefix, parse_doc, prefix_end, run_index_key,
    split_index_entry,
};
use super::read::{impl_view, scan_docs_in};
use super::record::{RUN_INDEX_FIELDS, Record};
use super::wal::{Changes, LoggedTable};
use super::{Catalog, Mark, WriteTx, backend};
use crate::doc::Doc;
use crate::error::{Error, Result};
use redb::{ReadableTable, Table, WriteTransaction};
use serde_json::Value;
use std::sync::atomic::{AtomicBool, Ordering};

mod audit_archive;
mod prune;
mod redact;
pub(crate) use audit_archive::{START as AUDIT_START, SegmentCut};
pub(crate) use prune::{HeldBy, PrunePass, PruneStep, RunFacts, Verdict};

/// A failure of redb while a write transaction changes a table: one that grows the file
/// can fail with the file's I/O error (a full disk), given here with its kind.
fn grown(e: redb::StorageError) -> Error {
    match &e {
        redb::StorageError::Io(io) => {
            Error::Storage(backend::describe("growing the store file", io))
        }
        _ => e.into(),
    }
}

/// Audit entries are never written as documents: no path may replace or remove one.
fn refuse_audit_trail(catalog: &Catalog, doctype: &str) -> Result<()> {
    if doctype == catalog.audit_doctype {
        return Err(Error::new(
            crate::ErrorCode::Immutable,
            format!(
                "the {} is append-only: entries cannot be changed or deleted",
                catalog.audit_doctype
            ),
        ));
    }
    Ok(())
}

/// The audit trail's tail in the open write transaction, kept across the jobs of a batch:
/// the last entry once known (so a job chains to it without reading it back), and whether
/// the head must be rewritten before the batch commits ([`WriteTables::write_audit_head`]).
#[derive(Default)]
pub(super) struct AuditTail {
    /// The last entry's sequence number and hash (`None`: read it from the table).
    last: Option<(u64, String)>,
    /// Entries were appended or taken back since the head was written.
    head_owed: bool,
}

/// The tables whose changes a failed run takes back.
#[derive(Clone, Copy)]
enum TableKind {
    Docs,
    DocIndex,
    Counters,
    Meta,
    Audit,
    /// Run records (only redaction rewrites one).
    Runs,
}

impl TableKind {
    /// The table as the redo log names it.
    fn logged(self) -> LoggedTable {
        match self {
            TableKind::Docs => LoggedTable::Docs,
            TableKind::DocIndex => LoggedTable::DocIndex,
            TableKind::Counters => LoggedTable::Counters,
            TableKind::Meta => LoggedTable::Meta,
            TableKind::Audit => LoggedTable::Audit,
            TableKind::Runs => LoggedTable::Runs,
        }
    }
}

/// One change to take back: the key and the value it had before (`None`: it was absent).
struct Undo {
    table: TableKind,
    key: Vec<u8>,
    before: Option<Vec<u8>>,
}

/// The tables of the shared write transaction, as one writer sees them while it holds it.
pub(crate) struct WriteTables<'t> {
    /// Which doctypes are meta and which is the audit trail.
    catalog: Catalog,
    docs: Table<'t, Bytes, Bytes>,
    runs: Table<'t, Bytes, Bytes>,
    run_index: Table<'t, Bytes, Bytes>,
    doc_index: Table<'t, Bytes, Bytes>,
    counters: Table<'t, Bytes, Bytes>,
    audit: Table<'t, u64, Bytes>,
    meta: Table<'t, Bytes, Bytes>,
    /// The audit trail's tail, shared by the jobs of the open transaction.
    trail: &'t mut AuditTail,
    undo: Vec<Undo>,
    /// Raised when a schema document is written in the open transaction.
    schemas_dirty: &'t AtomicBool,
    /// Raised when this writer leaves anything in the transaction that must be committed.
    batch_dirty: &'t AtomicBool,
    /// Whether this writer stored a run record.
    recorded: bool,
    /// The batch's changes for the redo log, when the store keeps one.
    changes: Option<&'t mut Changes>,
}

impl<'t> WriteTables<'t> {
    pub(super) fn open(
        txn: &'t WriteTransaction,
        catalog: Catalog,
        schemas_dirty: &'t AtomicBool,
        batch_dirty: &'t AtomicBool,
        changes: Option<&'t mut Changes>,
        trail: &'t mut AuditTail,
    ) -> Result<Self> {
        Ok(WriteTables {
            catalog,
            schemas_dirty,
            batch_dirty,
            recorded: false,
            changes,
            docs: txn.open_table(DOCS)?,
            runs: txn.open_table(RUNS)?,
            run_index: txn.open_table(RUN_INDEX)?,
            doc_index: txn.open_table(DOC_INDEX)?,
            counters: txn.open_table(COUNTERS)?,
            audit: txn.open_table(AUDIT)?,
            meta: txn.open_table(META)?,
            trail,
            undo: Vec::new(),
        })
    }

    /// Capture one change for the redo log (`None`: the key was removed).
    fn logged(&mut self, table: LoggedTable, key: &[u8], value: Option<&[u8]>) {
        if let Some(changes) = self.changes.as_deref_mut() {
            match value {
                Some(value) => changes.put(table, key, value),
                None => changes.remove(table, key),
            }
        }
    }

    fn table(&mut self, kind: TableKind) -> &mut Table<'t, Bytes, Bytes> {
        match kind {
            TableKind::Docs => &mut self.docs,
            TableKind::DocIndex => &mut self.doc_index,
            TableKind::Counters => &mut self.counters,
            TableKind::Meta => &mut self.meta,
            TableKind::Runs => &mut self.runs,
            TableKind::Audit => unreachable!("audit entries are undone by `rollback_to` directly"),
        }
    }

    /// The last audit entry (sequence number and bytes), if any.
    pub(super) fn last_audit(&self) -> Result<Option<(u64, Vec<u8>)>> {
        Ok(self
            .audit
            .last()?
            .map(|(seq, bytes)| (seq.value(), bytes.value().to_vec())))
    }

    /// Set a store fact (taken back with the run like any change).
    pub(super) fn set_meta(&mut self, key: &str, value: &[u8]) -> Result<()> {
        self.set(TableKind::Meta, key.as_bytes().to_vec(), value)
            .map(|_| ())
    }

    /// The remembered tail of the audit trail (see [`WriteTables::append_audit`]).
    pub(super) fn audit_tail(&self) -> Option<&(u64, String)> {
        self.trail.last.as_ref()
    }

    /// Write the audit trail's head (the store fact naming its last entry) if entries were
    /// appended or taken back since it was last written. The group commit calls this once
    /// per batch, just before the batch commits, so every committed state holds a head
    /// that names its last entry, at the cost of one write per commit, not per entry.
    pub(super) fn write_audit_head(&mut self) -> Result<()> {
        if !self.trail.head_owed {
            return Ok(());
        }
        let last = match self.trail.last.clone() {
            Some(last) => Some(last),
            // Entries were taken back: the tail is whatever entry is last now.
            None => match self.last_audit()? {
                Some((seq, bytes)) => Some((seq, crate::audit::stored_hash(seq, &bytes)?)),
                None => None,
            },
        };
        // No entry left (the only ones were taken back): the head was never written.
        if let Some((seq, hash)) = last {
            self.set_meta(crate::audit::HEAD, &crate::audit::head(seq, &hash))?;
        }
        self.trail.head_owed = false;
        Ok(())
    }

    /// Append audit entry `seq` (which must follow the last one). Within the run that
    /// appends it, a rollback takes it back like any change; once committed, nothing can.
    pub(super) fn append_audit(&mut self, seq: u64, hash: &str, bytes: &[u8]) -> Result<()> {
        let last = match &self.trail.last {
            Some((last, _)) => *last,
            None => self.last_audit()?.map_or(0, |(last, _)| last),
        };
        assert_eq!(
            seq,
            last + 1,
            "audit entries are appended in sequence, never replaced"
        );
        self.audit.insert(seq, bytes).map_err(grown)?;
        self.logged(LoggedTable::Audit, &seq.to_be_bytes(), Some(bytes));
        self.trail.last = Some((seq, hash.to_string()));
        self.trail.head_owed = true;
        self.undo.push(Undo {
            table: TableKind::Audit,
            key: seq.to_be_bytes().to_vec(),
            before: None,
        });
        Ok(())
    }

    /// Insert or replace one entry, remembering what it replaced.
    fn set(&mut self, kind: TableKind, key: Vec<u8>, value: &[u8]) -> Result<Option<Vec<u8>>> {
        let before = self
            .table(kind)
            .insert(key.as_slice(), value)
            .map_err(grown)?
            .map(|old| old.value().to_vec());
        self.logged(kind.logged(), &key, Some(value));
        self.undo.push(Undo {
            table: kind,
            key,
            before: before.clone(),
        });
        Ok(before)
    }

    /// Remove one entry, remembering what it was.
    fn unset(&mut self, kind: TableKind, key: Vec<u8>) -> Result<Option<Vec<u8>>> {
        let before = self
            .table(kind)
            .remove(key.as_slice())
            .map_err(grown)?
            .map(|old| old.value().to_vec());
        if before.is_some() {
            self.logged(kind.logged(), &key, None);
            self.undo.push(Undo {
                table: kind,
                key,
                before: before.clone(),
            });
        }
        Ok(before)
    }

    /// Update the index entries of `indexed` fields from `before` to `after` (a missing
    /// document has none; a missing field is indexed as null).
    fn reindex(
        &mut self,
        doctype: &str,
        name: &str,
        indexed: &[String],
        before: Option<&Doc>,
        after: Option<&Doc>,
    ) -> Result<()> {
        let key_of = |doc: &Doc, field: &str| IndexKey::of(doc.get(field).unwrap_or(&Value::Null));
        for field in indexed {
            let old = before.map(|d| key_of(d, field));
            let new = after.map(|d| key_of(d, field));
            if old == new {
                continue;
            }
            if let Some(old) = old {
                self.unset(TableKind::DocIndex, index_entry(doctype, field, &old, name))?;
            }
            if let Some(new) = new {
                self.set(
                    TableKind::DocIndex,
                    index_entry(doctype, field, &new, name),
                    &[],
                )?;
            }
        }
        Ok(())
    }

    /// Build (or drop) the index of one field over every existing document of `doctype`;
    /// a built index is marked complete (see [`index_complete_key`]).
    pub(super) fn rebuild_index(&mut self, doctype: &str, field: &str, build: bool) -> Result<()> {
        let prefix = index_prefix(doctype, field);
        let end = prefix_end(&prefix);
        let mut stale = Vec::new();
        for entry in self.doc_index.range(prefix.as_slice()..end.as_slice())? {
            stale.push(entry?.0.value().to_vec());
        }
        for key in stale {
            self.unset(TableKind::DocIndex, key)?;
        }
        if build {
            // Names and index forms only: a doctype's documents are never all held at once.
            let mut entries = Vec::new();
            scan_docs_in(
                &self.docs,
                &self.audit,
                self.catalog.audit_doctype,
                doctype,
                &mut |doc| {
                    let name = doc.get("name").and_then(Value::as_str).unwrap_or_default();
                    let key = IndexKey::of(doc.get(field).unwrap_or(&Value::Null));
                    entries.push(index_entry(doctype, field, &key, name));
                    true
                },
                None,
            )?;
            for entry in entries {
                self.set(TableKind::DocIndex, entry, &[])?;
            }
            self.set(TableKind::DocIndex, index_complete_key(doctype, field), &[])?;
        }
        Ok(())
    }

    /// Increment a counter and return its new value (1 for a new counter).
    pub(super) fn next_counter(&mut self, name: &str) -> Result<u64> {
        let current = match self.counters.get(name.as_bytes())? {
            Some(bytes) => u64::from_be_bytes(
                bytes
                    .value()
                    .try_into()
                    .map_err(|_| Error::Storage(format!("counter `{name}` is corrupt")))?,
            ),
            None => 0,
        };
        let next = current + 1;
        self.set(
            TableKind::Counters,
            name.as_bytes().to_vec(),
            &next.to_be_bytes(),
        )?;
        Ok(next)
    }

    /// Insert or replace a document and maintain the indexes of its `indexed` fields;
    /// returns the bytes stored.
    pub(super) fn put_doc(
        &mut self,
        doctype: &str,
        name: &str,
        doc: &Doc,
        indexed: &[String],
    ) -> Result<Vec<u8>> {
        refuse_audit_trail(&self.catalog, doctype)?;
        if self.catalog.meta_doctypes.contains(&doctype) {
            self.schemas_dirty.store(true, Ordering::SeqCst);
        }
        let bytes = encode(doc)?;
        let before = self.set(TableKind::Docs, doc_key(doctype, name), &bytes)?;
        if !indexed.is_empty() {
            let before = match before.as_deref().map(|b| parse_doc(doctype, name, b)) {
                Some(Err(_)) => {
                    self.unindex_unreadable(doctype, name, indexed)?;
                    None
                }
                other => other.transpose()?,
            };
            self.reindex(doctype, name, indexed, before.as_ref(), Some(doc))?;
        }
        Ok(bytes)
    }

    /// Remove the index entries of document `name` whose stored body cannot be read back
    /// (so its indexed values are unknown): every entry of its `indexed` fields that ends
    /// with its name.
    fn unindex_unreadable(&mut self, doctype: &str, name: &str, indexed: &[String]) -> Result<()> {
        for field in indexed {
            let prefix = index_prefix(doctype, field);
            let end = prefix_end(&prefix);
            let mut stale = Vec::new();
            for entry in self.doc_index.range(prefix.as_slice()..end.as_slice())? {
                let key = entry?.0.value().to_vec();
                if split_index_entry(&key, prefix.len()).is_some_and(|(_, of)| of == name) {
                    stale.push(key);
                }
            }
            for key in stale {
                self.unset(TableKind::DocIndex, key)?;
            }
        }
        Ok(())
    }

    /// Remove a document and its index entries; returns whether it existed.
    pub(super) fn remove_doc(
        &mut self,
        doctype: &str,
        name: &str,
        indexed: &[String],
    ) -> Result<bool> {
        refuse_audit_trail(&self.catalog, doctype)?;
        if self.catalog.meta_doctypes.contains(&doctype) {
            self.schemas_dirty.store(true, Ordering::SeqCst);
        }
        let before = self.unset(TableKind::Docs, doc_key(doctype, name))?;
        if let (false, Some(bytes)) = (indexed.is_empty(), &before) {
            // A body that cannot be read back is removed all the same (see
            // `unindex_unreadable`): it must not freeze its doctype.
            match parse_doc(doctype, name, bytes) {
                Ok(before) => self.reindex(doctype, name, indexed, Some(&before), None)?,
                Err(_) => self.unindex_unreadable(doctype, name, indexed)?,
            }
        }
        Ok(before.is_some())
    }

    /// Whether this writer changed any document, index or counter (and did not take it back).
    pub(super) fn has_changes(&self) -> bool {
        !self.undo.is_empty()
    }

    /// The current position in the undo log.
    pub(super) fn mark(&self) -> Mark {
        Mark(self.undo.len())
    }

    /// Take back every change made since `mark`, newest first.
    pub(super) fn rollback_to(&mut self, mark: Mark) -> Result<()> {
        while self.undo.len() > mark.0 {
            let undo = self.undo.pop().expect("length checked above");
            if let TableKind::Audit = undo.table {
                let seq = u64::from_be_bytes(undo.key.as_slice().try_into().expect("8 bytes"));
                if let Some(before) = &undo.before {
                    // A redaction taken back: the entry's bytes as they were.
                    self.audit.insert(seq, before.as_slice()).map_err(grown)?;
                    self.logged(LoggedTable::Audit, &undo.key, Some(before));
                    continue;
                }
                // Only entries this run appended are ever undone: they are the newest.
                self.audit.remove(seq).map_err(grown)?;
                self.logged(LoggedTable::Audit, &undo.key, None);
                self.trail.last = None;
                self.trail.head_owed = true;
                continue;
            }
            let table = self.table(undo.table);
            match &undo.before {
                Some(bytes) => {
                    table
                        .insert(undo.key.as_slice(), bytes.as_slice())
                        .map_err(grown)?;
                }
                None => {
                    table.remove(undo.key.as_slice()).map_err(grown)?;
                }
            }
            self.logged(undo.table.logged(), &undo.key, undo.before.as_deref());
        }
        Ok(())
    }

    /// Store a run's record and its index entries. Run records are written once: a record
    /// that is already stored is never replaced.
    pub(super) fn put_record(&mut self, record: &Record) -> Result<()> {
        // One descent of the tree: the insert reports a record it replaced, which is put back.
        let replaced = self
            .runs
            .insert(record.id.as_bytes(), &*record.bytes)
            .map_err(grown)?
            .map(|stored| stored.value().to_vec());
        if let Some(stored) = replaced {
            self.runs
                .insert(record.id.as_bytes(), stored.as_slice())
                .map_err(grown)?;
            return Err(Error::new(
                crate::ErrorCode::Immutable,
                format!(
                    "run {} is already recorded; completed runs are never modified",
                    record.id
                ),
            ));
        }
        self.recorded = true;
        self.logged(
            LoggedTable::Runs,
            record.id.as_bytes(),
            Some(&*record.bytes),
        );
        for (field, value_of) in RUN_INDEX_FIELDS {
            if let Some(value) = value_of(record) {
                let key = run_index_key(field, value, &record.id);
                self.run_index
                    .insert(key.as_slice(), [].as_slice())
                    .map_err(grown)?;
                self.logged(LoggedTable::RunIndex, &key, Some(&[]));
            }
        }
        Ok(())
    }

    /// Store a record that waited in memory. One already stored is left as it is: a commit
    /// that reported failure may still have landed, and its records are waiting again.
    pub(super) fn put_waiting_record(&mut self, record: &Record) -> Result<()> {
        match self.put_record(record) {
            Err(e) if e.code() == crate::ErrorCode::Immutable => Ok(()),
            other => other,
        }
    }
}

impl Drop for WriteTables<'_> {
    fn drop(&mut self) {
        if self.has_changes() || self.recorded {
            self.batch_dirty.store(true, Ordering::SeqCst);
        }
    }
}

impl_view!(WriteTables<'_>);

impl WriteTx for WriteTables<'_> {
    fn put_doc(
        &mut self,
        doctype: &str,
        name: &str,
        doc: &Doc,
        indexed: &[String],
    ) -> Result<Vec<u8>> {
        WriteTables::put_doc(self, doctype, name, doc, indexed)
    }
    fn remove_doc(&mut self, doctype: &str, name: &str, indexed: &[String]) -> Result<bool> {
        WriteTables::remove_doc(self, doctype, name, indexed)
    }
    fn rebuild_index(&mut self, doctype: &str, field: &str, build: bool) -> Result<()> {
        WriteTables::rebuild_index(self, doctype, field, build)
    }
    fn next_counter(&mut self, name: &str) -> Result<u64> {
        WriteTables::next_counter(self, name)
    }
    fn last_audit(&self) -> Result<Option<(u64, Vec<u8>)>> {
        WriteTables::last_audit(self)
    }
    fn audit_tail(&self) -> Option<&(u64, String)> {
        WriteTables::audit_tail(self)
    }
    fn append_audit(&mut self, seq: u64, hash: &str, bytes: &[u8]) -> Result<()> {
        WriteTables::append_audit(self, seq, hash, bytes)
    }
    fn put_record(&mut self, record: &Record) -> Result<()> {
        WriteTables::put_record(self, record)
    }
    fn has_changes(&self) -> bool {
        WriteTables::has_changes(self)
    }
    fn mark(&self) -> Mark {
        WriteTables::mark(self)
    }
    fn rollback_to(&mut self, mark: Mark) -> Result<()> {
        WriteTables::rollback_to(self, mark)
    }
    fn redact_audit(&mut self, seq: u64, bytes: &[u8]) -> Result<()> {
        WriteTables::redact_audit(self, seq, bytes)
    }
    fn redact_record(&mut self, record: &Record) -> Result<()> {
        WriteTables::redact_record(self, record)
    }
}
