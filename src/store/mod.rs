//! The store: documents and their indexes, run records, the audit trail, counters and
//! store facts, and the durable commit of them, behind a boundary a second backend can take.
//!
//! # The boundary
//!
//! The engine above needs four traits, defined here: [`View`] (a document by key, a
//! doctype's documents in name order, the names under one value of an index, a run by id),
//! [`Snapshot`] (a `View` of everything committed, plus the runs and the audit entries in
//! order and the store's facts), [`WriteTx`] (one writer's part of a write transaction:
//! documents with their indexes, counters, facts, the audit trail's tail, run records, and
//! [`Mark`]s to roll back to) and [`Backend`] (snapshots, writes made durable, records kept
//! for a later commit, the meta generation). Only backend-neutral values cross it: `Doc`,
//! `Run`, [`Record`] (a finished run encoded once, with the keys it is listed by), `Mark`,
//! and the [`Catalog`] the store is opened with, which tells it which doctypes are meta
//! (their writes move the meta generation) and which one is the audit trail (kept in its
//! own append-only table). The store names no doctype. `conformance` checks a backend
//! through the traits alone.
//!
//! Above `store/`, code names no redb type: it calls [`Store`] through [`Backend`], takes
//! `&mut impl WriteTx` or `&impl Snapshot`, and where a type must be named (`handler::Tx`'s
//! two variants, a function pointer) spells it [`StoreSnapshot`] or [`StoreTx`], the
//! backend's associated types. A second backend then enters behind [`Store`], which
//! `Store::open` picks (an enum over the backends, one `match` per call: static dispatch,
//! no `dyn`).
//!
//! # The redb backend
//!
//! `layout` declares every table once, with the key codecs; `record` encodes run records;
//! `read` holds snapshots ([`ReadTables`]); `write` one writer's tables ([`WriteTables`]);
//! `commit` the group commit; `wal` the redo log that makes a batch durable with one
//! fdatasync, and the recovery from it; `waiting` the records of read-only runs; `database` the
//! database and its file ([`RedbStore`]); `create`, `open` and `backend` making, opening and
//! watching the file; `backup` copies of the file and their restore; `stats` its figures.
//! [`Store`] owns a `RedbStore` and its background writer.
//!
//! Writes go through [`RedbStore::write`]: all concurrent writers share one redb write
//! transaction and one fdatasync of the redo log (group commit; see `commit`); each writer's changes are recorded in an undo
//! log so a failed run can be rolled back inside the shared transaction (redb refuses
//! savepoints in a transaction that already wrote, so an undo log is how one run's writes
//! are taken back without touching its neighbours').
//!
//! Runs that write nothing hand their records to [`RedbStore::record_later`]: they are
//! written by the next write transaction, [`RedbStore::flush`], a background writer once
//! 1,024 wait or they hold 4 MiB, or when the store is dropped. A crash can lose those
//! records, never a document. They have a lock of their own, so a read-only run never waits
//! for a writer or a commit.
//!
//! # Mapping to SQL (PostgreSQL, not built)
//!
//! For hosts that run several engine processes over one database, a `PgStore` would
//! implement the four traits and nothing above `store/` would change.
//!
//! Tables. Keys are `text COLLATE "C"` (or `bytea`), so scans order as redb's byte keys do;
//! bodies are `bytea` holding the same JSON bytes (`jsonb` would reorder keys, and audit
//! hashes cover the bytes).
//! - `docs (doctype, name, body, PRIMARY KEY (doctype, name))`: `get_doc`; `scan_docs` is
//!   `WHERE doctype = $1 ORDER BY name`.
//! - `doc_index (doctype, field, value bytea, name, PRIMARY KEY (doctype, field, value,
//!   name))`, `value` in [`IndexKey`]'s encoding: `index_lookup` is an equality on the
//!   first three columns `ORDER BY name`; `walk_index` a range on `value` `ORDER BY value,
//!   name` (or both `DESC`) read by a cursor, `count_index` its `count(*)`; `walk_docs` is
//!   `scan_docs` by a cursor; `rebuild_index` a `DELETE` and an `INSERT ... SELECT` over
//!   `docs`, and the completeness mark a row of its own (or a `complete_indexes` table).
//! - `runs (id PRIMARY KEY, body)` and `run_index (field, value, run_id, PRIMARY KEY (field,
//!   value, run_id))`: `put_record` is an `INSERT`, whose unique violation is the "already
//!   recorded" refusal; `runs_between` is `WHERE id >= $1 AND id < $2 ORDER BY id DESC
//!   LIMIT $3`; `runs_where` walks the run tree and `run_index` as here.
//! - `counters (name PRIMARY KEY, value bigint)`: `next_counter` is `INSERT ... ON CONFLICT
//!   (name) DO UPDATE SET value = counters.value + 1 RETURNING value`; the row lock orders
//!   concurrent callers and a rollback takes the step back.
//! - `audit (seq bigint PRIMARY KEY, body)`: the engine's role may `INSERT` and `SELECT`
//!   only (and a trigger refuses `UPDATE` and `DELETE` for owners): append-only as here.
//!   `meta (key PRIMARY KEY, value bytea)` keeps `audit_head` and the meta generation.
//!
//! Transactions.
//! - A `Snapshot` is a `REPEATABLE READ READ ONLY` transaction, kept short like redb's read
//!   transactions, and shared within one process until that process commits, as here.
//! - A write transaction is `READ COMMITTED` and takes `pg_advisory_xact_lock(<store key>)`
//!   first: one writer at a time across every process, as redb's single writer. So the
//!   unique checks (read the index, then insert), the audit tail (read the last entry,
//!   append `seq + 1`) and the counters are serialized without serialization failures to
//!   retry (a job is `FnOnce` and cannot be re-run); under the lock each statement sees
//!   every earlier commit. (Not `REPEATABLE READ`: its snapshot would be taken by the very
//!   statement that waits for the lock.) The primary keys of `audit` and `runs` still
//!   refuse a duplicate should the lock ever be bypassed.
//! - [`WriteTx::mark`] and [`WriteTx::rollback_to`] become `SAVEPOINT m<n>` and `ROLLBACK TO
//!   SAVEPOINT m<n>`, `n` being the mark's number: PostgreSQL allows savepoints after
//!   writes, so it needs no undo log; `has_changes` is a flag kept per writer.
//! - Group commit: a process's concurrent writers share one connection's transaction as
//!   they share redb's, each job between its savepoints, one `COMMIT` (with
//!   `synchronous_commit = on`) per batch; [`Backend::write`] returns once it returned.
//!   PostgreSQL's `commit_delay` groups the flushes of several processes. Records of
//!   read-only runs wait in each process's memory and go with its next commit, as here.
//! - The meta generation: a write of a meta doctype also increments the `meta_generation`
//!   row in its transaction; every snapshot reads that row first, and `schema_generation`
//!   returns the largest value the process has seen (a `LISTEN`ed `NOTIFY` can tell idle
//!   processes sooner), so another process's schema change invalidates caches from the
//!   first snapshot that can see it. `schemas_dirty` stays per transaction.
//! - `reopen` reconnects; `OpenOptions::lock_timeout` bounds the wait for a connection and
//!   (as `lock_timeout`) for the advisory lock; `fail_writes` has no counterpart.
//!
//! This module must never interpret documents beyond their key and indexed values:
//! validation, queries and permissions live elsewhere.

use crate::doc::Doc;
use crate::error::Result;
use crate::run::Run;
use serde_json::Value;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;

mod backend;
mod backup;
mod commit;
#[cfg(test)]
mod conformance;
mod create;
mod database;
mod layout;
mod migrate;
mod open;
mod read;
mod record;
mod stats;
mod waiting;
mod wal;
mod write;

/// Fault injection for tests of I/O failures (`coworker::faults`, hidden from the docs).
pub use backend::fail_writes;
pub use backup::BackupReport;
pub(crate) use backup::stage;
use database::Db;
pub(crate) use database::RedbStore;
pub(crate) use layout::{IndexKey, KeyRange, index_value, unreadable_doc};
pub(crate) use open::{DEFAULT_CACHE_BYTES, DEFAULT_LOCK_TIMEOUT, OpenOptions};
pub(crate) use read::ReadTables;
pub(crate) use record::{Record, RunKeys, run_keys, status_indexed};
pub use stats::{
    AuditStats, FileStats, IndexStats, NextPrune, OldestRun, RedoLogStats, RetentionStats,
    RunStats, SpaceStats, StoreStats, TableStats,
};
pub(crate) use write::{
    AUDIT_START, HeldBy, PrunePass, PruneStep, RunFacts, SegmentCut, Verdict, WriteTables,
};

/// What the store is told about doctypes when it opens: it names none itself.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Catalog {
    /// Doctypes whose documents describe how others are handled (schemas, operations,
    /// users, ...): writing one changes the meta generation
    /// ([`RedbStore::schema_generation`]).
    pub(crate) meta_doctypes: &'static [&'static str],
    /// The doctype whose documents are the audit trail's entries: they live in the audit
    /// table (appended through the chain's head, [`WriteTables::append_audit`]), never in
    /// the documents table, and no document write may replace or remove one.
    pub(crate) audit_doctype: &'static str,
}

/// Reads shared by read-only snapshots and the write transaction: documents by key,
/// ordered walks over a doctype's documents and over an index (by value, then name, with
/// early stop, either way), counts of index entries, a run by id.
pub(crate) trait View {
    /// One document by doctype and name.
    fn get_doc(&self, doctype: &str, name: &str) -> Result<Option<Doc>>;
    /// Every document of a doctype, in name order; `visit` returns `false` to stop.
    fn scan_docs(&self, doctype: &str, visit: &mut dyn FnMut(Doc) -> bool) -> Result<()>;
    /// [`View::scan_docs`], handing the names of documents that cannot be read back to
    /// `unreadable` instead of failing.
    fn scan_readable_docs(
        &self,
        doctype: &str,
        visit: &mut dyn FnMut(Doc) -> bool,
        unreadable: &mut dyn FnMut(String),
    ) -> Result<()>;
    /// One run record.
    fn get_run(&self, id: &str) -> Result<Option<Run>>;
    /// Names of the documents whose indexed `field` equals `value` (a scalar; null matches
    /// a missing field), in name order.
    fn index_lookup(&self, doctype: &str, field: &str, value: &Value) -> Result<Vec<String>>;
    /// The documents of a doctype in name order (`reverse`: descending), unparsed, read as
    /// the walk advances (drop it to stop); `None` when the doctype's documents are not kept
    /// in name order (the audit trail: use [`View::scan_docs`]).
    fn walk_docs(&self, doctype: &str, reverse: bool) -> Result<Option<DocWalk<'_>>>;
    /// The entries of an index in `range`, in (value, name) order (`reverse`: both
    /// descending): each document's name under the [`IndexKey`] of its value, read as the
    /// walk advances, without reading a document.
    fn walk_index(
        &self,
        doctype: &str,
        field: &str,
        range: &KeyRange,
        reverse: bool,
    ) -> Result<IndexWalk<'_>>;
    /// How many entries of an index lie in `range` (no document is read).
    fn count_index(&self, doctype: &str, field: &str, range: &KeyRange) -> Result<u64>;
    /// Whether an index holds every document of its doctype (it was built by
    /// [`WriteTx::rebuild_index`] or migrated whole), so a walk over it visits them all.
    fn index_complete(&self, doctype: &str, field: &str) -> Result<bool>;
    /// One document's stored bytes, unparsed (what [`WriteTx::put_doc`] returned when it
    /// was written; the audit trail's documents are not kept here: `None`).
    fn get_doc_bytes(&self, doctype: &str, name: &str) -> Result<Option<Vec<u8>>>;
    /// The audit entries, newest first, as stored bytes, until `visit` returns `false`.
    fn audit_newest_first(&self, visit: &mut dyn FnMut(u64, &[u8]) -> Result<bool>) -> Result<()>;
}

/// A document as stored, handed over by a walk: its name, and its body, parsed on request.
pub(crate) struct StoredDoc {
    /// The document's name.
    pub(crate) name: String,
    bytes: Vec<u8>,
}

impl StoredDoc {
    /// Read the body back (an unreadable one is named, see [`unreadable_doc`]).
    pub(crate) fn parse(&self, doctype: &str) -> Result<Doc> {
        layout::parse_doc(doctype, &self.name, &self.bytes)
    }
}

/// An ordered walk over a doctype's documents ([`View::walk_docs`]).
pub(crate) type DocWalk<'a> = Box<dyn Iterator<Item = Result<StoredDoc>> + 'a>;

/// An ordered walk over an index's entries ([`View::walk_index`]): index form and name.
pub(crate) type IndexWalk<'a> = Box<dyn Iterator<Item = Result<(IndexKey, String)>> + 'a>;

/// What [`Snapshot::all_docs`] hands each document to: doctype, name, stored bytes.
pub(crate) type StoredDocVisit<'a> = dyn FnMut(&str, &str, &[u8]) -> Result<()> + 'a;

/// A consistent read-only snapshot of everything committed when it was taken: a [`View`],
/// and ordered scans over the runs and the audit trail, and the store's facts.
pub(crate) trait Snapshot: View {
    /// A store fact by name (e.g. `audit_head`).
    fn meta(&self, key: &str) -> Result<Option<Vec<u8>>>;
    /// Every audit entry, oldest first (by sequence number), as stored bytes.
    fn audit_entries(&self, visit: &mut dyn FnMut(u64, &[u8]) -> Result<()>) -> Result<()>;
    /// Every document of every doctype (the audit trail's aside), in (doctype, name)
    /// order, as stored bytes.
    fn all_docs(&self, visit: &mut StoredDocVisit<'_>) -> Result<()>;
    /// The runs that may have `field = value` (`flow`, `chain`, `parent`, `owner`,
    /// `status` for the statuses [`status_indexed`] names; callers check each run's
    /// field), oldest first.
    fn runs_where(&self, field: &str, value: &str) -> Result<Vec<Run>>;
    /// Runs with ids in `[since, until)` (ids sort by start time), oldest first; with
    /// `limit`, the newest `limit` of them.
    fn runs_between(
        &self,
        since: Option<&str>,
        until: Option<&str>,
        limit: Option<usize>,
    ) -> Result<Vec<Run>>;
}

/// One writer's part of the shared write transaction: documents with their indexes,
/// counters, store facts, the audit trail's tail and run records, every change taken back
/// to a [`Mark`] on request. Nothing is durable until [`Backend::write`] returns.
pub(crate) trait WriteTx: View {
    /// Insert or replace a document and maintain the indexes of its `indexed` fields;
    /// returns the bytes stored (encoded once, here: the audit trail's `docDigest` is
    /// their digest).
    fn put_doc(
        &mut self,
        doctype: &str,
        name: &str,
        doc: &Doc,
        indexed: &[String],
    ) -> Result<Vec<u8>>;
    /// Remove a document and its index entries; returns whether it existed.
    fn remove_doc(&mut self, doctype: &str, name: &str, indexed: &[String]) -> Result<bool>;
    /// Build (or drop) the index of one field over every existing document of `doctype`.
    fn rebuild_index(&mut self, doctype: &str, field: &str, build: bool) -> Result<()>;
    /// Increment a counter and return its new value (1 for a new counter).
    fn next_counter(&mut self, name: &str) -> Result<u64>;
    /// The last audit entry (sequence number and bytes), if any.
    fn last_audit(&self) -> Result<Option<(u64, Vec<u8>)>>;
    /// The tail of the audit trail remembered in the open transaction, once known (the
    /// trail's head fact is the store's to write, once per commit).
    fn audit_tail(&self) -> Option<&(u64, String)>;
    /// Append audit entry `seq` (which must follow the last one) with its `hash`.
    fn append_audit(&mut self, seq: u64, hash: &str, bytes: &[u8]) -> Result<()>;
    /// Store a run's record and its index entries; a record already stored is refused.
    fn put_record(&mut self, record: &Record) -> Result<()>;
    /// Whether this writer changed anything (and did not take it back).
    fn has_changes(&self) -> bool;
    /// The current point to roll back to.
    fn mark(&self) -> Mark;
    /// Take back every change made since `mark`, newest first.
    fn rollback_to(&mut self, mark: Mark) -> Result<()>;
    /// Erasure only: replace committed audit entry `seq`'s bytes by a redaction of them
    /// (the caller checked the entry still chains to the same hash).
    fn redact_audit(&mut self, seq: u64, bytes: &[u8]) -> Result<()>;
    /// Erasure only: replace a stored run record by a redaction of it (same id, its indexed
    /// fields unchanged).
    fn redact_record(&mut self, record: &Record) -> Result<()>;
}

/// The store as the engine uses it: snapshots, writes made durable by a (group) commit,
/// records of read-only runs kept for a later commit, and the meta generation.
pub(crate) trait Backend {
    /// A consistent read-only snapshot.
    type Snapshot: Snapshot;
    /// One writer's part of the shared write transaction.
    type Tx<'t>: WriteTx
    where
        Self: 't;
    /// A snapshot of everything committed so far.
    fn read(&self) -> Result<Arc<Self::Snapshot>>;
    /// Run `job` in the write transaction and return once its changes are durable (or
    /// their commit failed). `job` leaves the store consistent: on failure it rolls its
    /// own changes back to a [`Mark`].
    fn write<R>(&self, job: impl FnOnce(Self::Tx<'_>) -> R) -> Result<R>;
    /// Write every waiting record and make everything durable.
    fn flush(&self) -> Result<()>;
    /// Reconnect after the store failed (a full disk), once the cause is fixed.
    fn reopen(&self) -> Result<()>;
    /// Whether this store only reads.
    fn read_only(&self) -> bool;
    /// A run record, wherever it is: written, or still waiting.
    fn get_run(&self, id: &str) -> Result<Option<Run>>;
    /// The runs whose records are not yet written that `wanted` picks, oldest first.
    fn pending_runs(&self, wanted: &dyn Fn(&str, RunKeys<'_>) -> bool) -> Result<Vec<Run>>;
    /// Keep the records of a run tree that wrote nothing, for a later commit.
    fn record_later(&self, records: Vec<Record>) -> Result<()>;
    /// The meta generation: a cache filled from a snapshot taken at generation `g` is
    /// valid while this still returns `g`.
    fn schema_generation(&self) -> u64;
    /// Whether the open write transaction changed a meta document.
    fn schemas_dirty(&self) -> bool;
    /// Write a consistent copy of everything committed to the new file `target` (replacing
    /// one there only if `overwrite`), while writers go on.
    fn backup(&self, target: &Path, overwrite: bool) -> Result<BackupReport>;
    /// The store's figures, runs' ages taken at `now_ms` (Unix milliseconds).
    fn stats(&self, now_ms: u64) -> Result<StoreStats>;
    /// One bounded pass of the run-record pruner in its own write (see `write::prune`):
    /// `decide` is the retention policy's answer for each top-level run it reaches.
    fn prune_runs(
        &self,
        pass: &PrunePass<'_>,
        decide: &dyn Fn(&RunFacts<'_>) -> Verdict,
    ) -> Result<PruneStep>;
    /// Give the file's free space back (see `RedbStore::compact`); whether it changed.
    fn compact(&self) -> Result<bool>;
    /// Archive the next audit segment `cut` allows, behind a checkpoint, in its own write
    /// (see `write::audit_archive`); `None` when no entry may go.
    fn archive_audit(
        &self,
        cut: &SegmentCut<'_>,
    ) -> Result<Option<crate::archive::ArchivedSegment>>;
}

/// The store's snapshot, as the code above `store/` names it.
pub(crate) type StoreSnapshot = <Store as Backend>::Snapshot;

/// The store's writer in the shared write transaction, as the code above `store/` names it.
pub(crate) type StoreTx<'t> = <Store as Backend>::Tx<'t>;

/// The redb store implements the boundary by its inherent methods (private to `store/`:
/// callers above reach them only through the traits).
impl Backend for Store {
    type Snapshot = ReadTables;
    type Tx<'t> = WriteTables<'t>;
    fn read(&self) -> Result<Arc<ReadTables>> {
        RedbStore::read(self)
    }
    fn write<R>(&self, job: impl FnOnce(WriteTables<'_>) -> R) -> Result<R> {
        RedbStore::write(self, job)
    }
    fn flush(&self) -> Result<()> {
        RedbStore::flush(self)
    }
    fn reopen(&self) -> Result<()> {
        RedbStore::reopen(self)
    }
    fn read_only(&self) -> bool {
        RedbStore::read_only(self)
    }
    fn get_run(&self, id: &str) -> Result<Option<Run>> {
        RedbStore::get_run(self, id)
    }
    fn pending_runs(&self, wanted: &dyn Fn(&str, RunKeys<'_>) -> bool) -> Result<Vec<Run>> {
        RedbStore::pending_runs(self, wanted)
    }
    fn record_later(&self, records: Vec<Record>) -> Result<()> {
        RedbStore::record_later(self, records)
    }
    fn schema_generation(&self) -> u64 {
        RedbStore::schema_generation(self)
    }
    fn schemas_dirty(&self) -> bool {
        RedbStore::schemas_dirty(self)
    }
    fn backup(&self, target: &Path, overwrite: bool) -> Result<BackupReport> {
        RedbStore::backup(self, target, overwrite)
    }
    fn stats(&self, now_ms: u64) -> Result<StoreStats> {
        RedbStore::stats(self, now_ms)
    }
    fn prune_runs(
        &self,
        pass: &PrunePass<'_>,
        decide: &dyn Fn(&RunFacts<'_>) -> Verdict,
    ) -> Result<PruneStep> {
        RedbStore::write(self, |mut tables| tables.prune_pass_archived(pass, decide))?
    }
    fn compact(&self) -> Result<bool> {
        RedbStore::compact(self)
    }
    fn archive_audit(
        &self,
        cut: &SegmentCut<'_>,
    ) -> Result<Option<crate::archive::ArchivedSegment>> {
        RedbStore::write(self, |mut tables| tables.archive_audit_segment(cut))?
    }
}

/// The catalog of the store's own tests: one meta doctype, `Meta`, and the audit doctype
/// `Audit`.
#[cfg(test)]
pub(super) const TEST_CATALOG: Catalog = Catalog {
    meta_doctypes: &["Meta"],
    audit_doctype: "Audit",
};

/// A point in a writer's undo log to roll back to.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Mark(usize);

/// The store: the shared state, and the background writer of waiting records (which
/// holds the shared state too, and is stopped and joined when the store is dropped).
pub(crate) struct Store {
    shared: Arc<RedbStore>,
    background: Option<JoinHandle<()>>,
}

impl std::ops::Deref for Store {
    type Target = RedbStore;
    fn deref(&self) -> &RedbStore {
        &self.shared
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding these locks cannot leave them half-updated in a way that matters
    // more than refusing all further work would: recover the guard.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Store {
    /// Open (or create) the store file for writing. With `options.shared`, other processes
    /// may open it read-only meanwhile (see [`RedbStore::open`]).
    pub(crate) fn open(path: &Path, options: OpenOptions, catalog: Catalog) -> Result<Self> {
        Ok(Store::start(RedbStore::open(path, options, catalog)?))
    }

    /// Open an existing store file to read it while another process may be writing it,
    /// waiting up to `options.lock_timeout` for a writer that does not share it
    /// (`options.shared` is not consulted: a reader always shares).
    pub(crate) fn open_read_only(
        path: &Path,
        options: OpenOptions,
        catalog: Catalog,
    ) -> Result<Self> {
        Ok(Store {
            shared: Arc::new(RedbStore::open_read_only(path, options, catalog)?),
            background: None,
        })
    }

    /// A store that lives in memory only.
    pub(crate) fn in_memory(catalog: Catalog) -> Result<Self> {
        Ok(Store::start(RedbStore::in_memory(catalog)?))
    }

    /// Start the background writer: when [`waiting::MAX_PENDING_RECORDS`] records of read-only runs
    /// wait, it writes them, so the run that happens to be the 1024th does not pay for the
    /// commit of all of them.
    fn start(shared: RedbStore) -> Store {
        let shared = Arc::new(shared);
        let writer = shared.clone();
        let background = std::thread::Builder::new()
            .name("coworker-records".into())
            .spawn(move || writer.write_waiting_records())
            .map_err(|e| tracing::warn!("no background writer ({e}): runs write records"))
            .ok();
        shared
            .waiting
            .background_writer
            .store(background.is_some(), Ordering::SeqCst);
        Store { shared, background }
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        lock(&self.shared.waiting.list).closing = true;
        self.shared.waiting.wake.notify_all();
        if let Some(background) = self.background.take()
            && background.join().is_err()
        {
            tracing::error!("the background writer of records panicked");
        }
        // Waiting records are written, and the log's records checkpointed into the store
        // file, so a closed store needs no recovery.
        let waiting = !lock(&self.waiting.list).records.is_empty();
        if (waiting || self.log_dirty())
            && !self.read_only()
            && let Err(e) = self.flush()
        {
            tracing::error!("the store could not be flushed at close: {e}");
        }
        // A transaction kept open by batches that changed nothing holds nothing to keep.
        if let Some(txn) = lock(&self.group.writer).txn.take()
            && let Err(e) = txn.abort()
        {
            tracing::error!("the idle write transaction could not be closed: {e}");
        }
    }
}
