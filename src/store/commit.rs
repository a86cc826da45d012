//! The group commit: every concurrent writer runs its job in one shared redb write
//! transaction, and one sync makes the whole batch durable. A committer lets the writers
//! already on their way join its batch first; a batch that changed nothing keeps its
//! transaction open for the next; waiting records ride along with a commit that happens
//! anyway.
//!
//! A batch ends in two steps. Sealing it (one at a time, under the writer lock) commits it to
//! redb and, for a store that keeps a redo log, appends its changes to the log: the commit
//! then skips redb's fsync (`Durability::None`). Syncing (one at a time, outside the writer
//! lock) fdatasyncs the log, which makes every batch sealed before it durable at once; the
//! next batch executes and seals meanwhile. A checkpoint seals a batch with
//! `Durability::Immediate`, which makes it and every earlier one durable in the store file,
//! and the log starts over: every [`CHECKPOINT_AFTER`] while the log holds records (the
//! background writer asks), at [`RedbStore::flush`] and close, and when the log passes
//! [`wal::CHECKPOINT_SIZE`]. A store without a log (in memory, or shared with readers, where
//! redb refuses non-durable commits) seals every batch with `Durability::Immediate`.
//!
//! This module must never return to a writer whose batch holds changes before that batch
//! is durable (or its commit failed).
//!
//! The batch's states and the code that moves between them read best in one place; the
//! unit tests that drive them through private fields (sealing, syncing, checkpoints,
//! failures) are in `commit/tests.rs`.

use super::wal::{self, Changes, LOG_LSN, RedoLog, Syncer};
use super::write::{AuditTail, WriteTables};
use super::{Db, RedbStore, lock};
use crate::error::{Error, Result};
use redb::{Durability, WriteTransaction};
use std::collections::VecDeque;
use std::ops::RangeInclusive;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// How long a committer waits for writers already on their way to join its batch.
const GROUP_COMMIT_WAIT: Duration = Duration::from_micros(200);

/// How long the log holds records before a checkpoint writes them to the store file.
pub(super) const CHECKPOINT_AFTER: Duration = Duration::from_millis(150);

/// The open shared write transaction, and the log its batches are appended to.
pub(super) struct WriterState {
    pub(super) txn: Option<WriteTransaction>,
    /// The number of the batch the open transaction will commit as.
    pub(super) batch: u64,
    /// The redo log (`None`: every batch commits durably to the store file).
    pub(super) log: Option<RedoLog>,
    /// The open batch's changes, captured for the log.
    pub(super) changes: Changes,
    /// The audit trail's tail in the open transaction (reset with each new transaction).
    pub(super) trail: AuditTail,
}

/// The group commit's state: the shared write transaction, and which of its batches are
/// durable.
pub(super) struct GroupCommit {
    /// The open shared write transaction.
    pub(super) writer: Mutex<WriterState>,
    /// Which batches are sealed and durable, and whether a seal or a sync is in progress.
    pub(super) commit: Mutex<CommitState>,
    /// Wakes the writers waiting for their batch when a seal or a sync ends.
    committed: Condvar,
    /// The open write transaction holds something to commit (else it is aborted: no fsync).
    pub(super) batch_dirty: AtomicBool,
    /// `flush()` asked for the waiting records to be written even if nothing else is.
    flush_requested: AtomicBool,
    /// Writers between asking for the write transaction and finishing their job: a
    /// committer lets them join its batch before it commits (group commit).
    writers_in_flight: AtomicUsize,
    /// Jobs finished so far (how a committer sees the writers it waits for arrive).
    jobs_done: AtomicU64,
    /// A committer is waiting for writers in flight (`arrived` wakes it as each finishes).
    committer_waiting: AtomicBool,
    /// Held while a committer checks `jobs_done` and while a writer wakes it.
    arrivals: Mutex<()>,
    /// Wakes the committer waiting for writers in flight: it sleeps instead of spinning,
    /// which left the jobs it waits for one core fewer.
    arrived: Condvar,
    /// When the log first held a record the store file has not checkpointed.
    log_dirty_since: Mutex<Option<Instant>>,
}

impl GroupCommit {
    /// No transaction open yet; the first batch is number 1, and none is durable.
    pub(super) fn new(log: Option<RedoLog>) -> Self {
        GroupCommit {
            writer: Mutex::new(WriterState {
                txn: None,
                batch: 1,
                log,
                changes: Changes::default(),
                trail: AuditTail::default(),
            }),
            commit: Mutex::new(CommitState {
                sealed: 0,
                durable: 0,
                sealing: false,
                syncing: false,
                syncer: None,
                failures: VecDeque::new(),
            }),
            committed: Condvar::new(),
            batch_dirty: AtomicBool::new(false),
            flush_requested: AtomicBool::new(false),
            writers_in_flight: AtomicUsize::new(0),
            jobs_done: AtomicU64::new(0),
            committer_waiting: AtomicBool::new(false),
            arrivals: Mutex::new(()),
            arrived: Condvar::new(),
            log_dirty_since: Mutex::new(None),
        }
    }
}

/// Which batches are sealed and which are durable.
pub(super) struct CommitState {
    /// Batches up to this one are sealed: committed to redb (and appended to the log).
    sealed: u64,
    /// Batches up to this one are durable (or failed: see `failures`).
    durable: u64,
    /// A batch is being sealed.
    sealing: bool,
    /// The log is being synced.
    syncing: bool,
    /// What syncs the log the sealed batches were appended to.
    syncer: Option<Arc<Syncer>>,
    /// Recent batches whose commit failed, with the cause.
    failures: VecDeque<(RangeInclusive<u64>, String)>,
}

impl CommitState {
    /// Whether a seal or a sync is in progress, or a sealed batch still waits for its sync.
    pub(super) fn busy(&self) -> bool {
        self.sealing || self.syncing || self.sealed > self.durable
    }

    /// The cause of batch `batch`'s failure, if it failed.
    fn failure_of(&self, batch: u64) -> Option<&str> {
        self.failures
            .iter()
            .find(|(batches, _)| batches.contains(&batch))
            .map(|(_, cause)| cause.as_str())
    }

    /// Batches `batches` failed with `cause`.
    fn failed(&mut self, batches: RangeInclusive<u64>, cause: String) {
        if batches.is_empty() {
            return;
        }
        tracing::error!("the commit of batches {batches:?} failed: {cause}");
        self.failures.push_back((batches, cause));
        if self.failures.len() > 64 {
            self.failures.pop_front();
        }
    }

    /// Batch `taken` (sealed) needs no sync of its own: it is durable once every batch
    /// before it is, at once if they are (else the pending sync of theirs covers it).
    fn resolved(&mut self, taken: u64) {
        if self.durable + 1 == taken {
            self.durable = taken;
        }
        self.settle();
    }

    /// Failed batches right after the durable ones wait for nothing: count them resolved,
    /// else a sync that ended before they failed would leave them owed one nobody makes
    /// (their writers have left), and the store would look busy forever.
    fn settle(&mut self) {
        while self.durable < self.sealed && self.failure_of(self.durable + 1).is_some() {
            self.durable += 1;
        }
    }

    /// A new log replaced the old one (a reopen): nothing is left to sync in the old one.
    pub(super) fn log_replaced(&mut self) {
        self.syncer = None;
    }
}

/// How a batch was sealed.
enum Sealed {
    /// Durable in the store file (an `Immediate` commit), with every batch before it.
    Durable,
    /// Committed to redb and appended to the log: durable once the log is synced.
    Logged(Syncer),
    /// Nothing to commit.
    Nothing,
}

impl RedbStore {
    /// Run `job` inside the shared write transaction and return once its batch is durable.
    ///
    /// `job` must leave the tables consistent: on failure it rolls its own changes back
    /// (see [`WriteTables::mark`]). It writes its run records itself.
    pub(super) fn write<R>(&self, job: impl FnOnce(WriteTables<'_>) -> R) -> Result<R> {
        self.write_owing(job, false)
    }

    /// [`RedbStore::write`]; with `flush`, the batch is committed even if nothing in it
    /// changed (the waiting records go with it), and durably in the store file itself.
    fn write_owing<R>(&self, job: impl FnOnce(WriteTables<'_>) -> R, flush: bool) -> Result<R> {
        if self.file.read_only {
            return Err(Error::Storage(
                "the store was opened read-only: it cannot record or change anything".into(),
            ));
        }
        // A failed file is reopened (or its failure reported) before anyone waits on it.
        drop(self.db()?);
        self.group.writers_in_flight.fetch_add(1, Ordering::SeqCst);
        let joined = self.join_batch(job, flush);
        self.group.jobs_done.fetch_add(1, Ordering::SeqCst);
        self.group.writers_in_flight.fetch_sub(1, Ordering::SeqCst);
        if self.group.committer_waiting.load(Ordering::SeqCst) {
            let _arrivals = lock(&self.group.arrivals);
            self.group.arrived.notify_one();
        }
        let (result, batch) = joined?;
        if let Some(batch) = batch {
            self.make_durable(batch)?;
        }
        Ok(result)
    }

    /// Run `job` in the open write transaction; returns its result and the batch it joined,
    /// or `None` when nothing in that batch so far is owed a commit (this job changed
    /// nothing and neither did the jobs before it, and it is no flush): then it has nothing
    /// to wait for, not even a neighbour's uncommitted write it might have read.
    fn join_batch<R>(
        &self,
        job: impl FnOnce(WriteTables<'_>) -> R,
        flush: bool,
    ) -> Result<(R, Option<u64>)> {
        let mut writer = lock(&self.group.writer);
        let writer = &mut *writer;
        if writer.txn.is_none() {
            // Not `db()`: a reopen needs the writer lock held here.
            if let Some(cause) = self.file.health.failure() {
                return Err(self.failed_earlier(&cause, None));
            }
            let db = self.file.db.read().unwrap_or_else(|p| p.into_inner());
            let Some(Db::Writer(db)) = &*db else {
                unreachable!("only stores opened for writing write, and `db()` returns one");
            };
            writer.txn = Some(
                db.begin_write()
                    .map_err(|e| Error::Storage(self.explained(e)))?,
            );
            writer.trail = AuditTail::default();
        }
        let txn = writer.txn.as_ref().expect("opened above");
        let changes = writer.log.is_some().then_some(&mut writer.changes);
        let tables = WriteTables::open(
            txn,
            self.catalog,
            &self.meta.dirty,
            &self.group.batch_dirty,
            changes,
            &mut writer.trail,
        )?;
        let result = job(tables);
        if flush {
            // Under the writer lock: the committer of this batch sees it.
            self.group.flush_requested.store(true, Ordering::SeqCst);
        }
        let owed = flush || self.group.batch_dirty.load(Ordering::SeqCst);
        Ok((result, owed.then_some(writer.batch)))
    }

    /// Write every waiting record and make everything durable in the store file (a
    /// checkpoint, when the store keeps a log).
    pub(super) fn flush(&self) -> Result<()> {
        self.write_owing(|_| (), true)
    }

    /// Whether the log has held records for [`CHECKPOINT_AFTER`] or longer.
    pub(super) fn checkpoint_due(&self) -> bool {
        #[cfg(test)]
        if tests::HOLD_CHECKPOINTS.load(Ordering::SeqCst) {
            return false;
        }
        lock(&self.group.log_dirty_since).is_some_and(|since| since.elapsed() >= CHECKPOINT_AFTER)
    }

    /// How long until the log is due for a checkpoint (`None`: it holds no record, so
    /// nothing is due until a batch is logged, which wakes the background writer).
    pub(super) fn until_checkpoint(&self) -> Option<Duration> {
        let since = (*lock(&self.group.log_dirty_since))?;
        #[cfg(test)]
        if tests::HOLD_CHECKPOINTS.load(Ordering::SeqCst) {
            return Some(CHECKPOINT_AFTER);
        }
        Some(
            CHECKPOINT_AFTER
                .saturating_sub(since.elapsed())
                .max(Duration::from_millis(1)),
        )
    }

    /// Whether the log holds records the store file has not checkpointed.
    pub(super) fn log_dirty(&self) -> bool {
        lock(&self.group.log_dirty_since).is_some()
    }

    /// Wait until `batch` is durable: sealing it ourselves if nobody else is, then syncing
    /// the log that holds it if nobody else is.
    fn make_durable(&self, batch: u64) -> Result<()> {
        let mut state = lock(&self.group.commit);
        loop {
            if let Some(cause) = state.failure_of(batch) {
                return Err(Error::Storage(cause.to_string()));
            }
            if state.durable >= batch {
                return Ok(());
            }
            // An unsealed batch waits out a sync in progress too: sealed now, it could not be
            // durable before that sync ends anyway, and sealed then, it holds every job that
            // finished meanwhile (one redb commit and one log append for all of them, not
            // one per job: under concurrent writers the seals cost more CPU than the jobs).
            let busy = if state.sealed < batch {
                state.sealing || state.syncing
            } else {
                state.syncing
            };
            if busy {
                state = self
                    .group
                    .committed
                    .wait(state)
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
                continue;
            }
            if state.sealed < batch {
                state.sealing = true;
                drop(state);
                self.seal();
            } else {
                // Sealed to the log: one sync covers every batch sealed so far.
                state.syncing = true;
                let target = state.sealed;
                let syncer = state
                    .syncer
                    .clone()
                    .expect("a batch sealed to the log has the log's syncer");
                drop(state);
                let outcome = syncer.sync();
                let mut synced = lock(&self.group.commit);
                synced.syncing = false;
                if let Err(cause) = outcome {
                    let first = synced.durable + 1;
                    synced.failed(first..=target, cause);
                }
                synced.durable = synced.durable.max(target);
                synced.settle();
                self.group.committed.notify_all();
                drop(synced);
            }
            state = lock(&self.group.commit);
        }
    }

    /// Seal the open batch: commit it to redb and append it to the log (or commit it
    /// durably), then tell its writers how it went.
    fn seal(&self) {
        let mut unwinding = Committing {
            store: self,
            batch: None,
        };
        // Group commit: writers already on their way join this batch first (bounded,
        // so a steady stream cannot hold a commit back).
        // Only those in flight now are waited for, not newcomers.
        let patience = Instant::now() + GROUP_COMMIT_WAIT;
        let ahead = self.group.writers_in_flight.load(Ordering::SeqCst) as u64;
        let done_before = self.group.jobs_done.load(Ordering::SeqCst);
        if ahead > 0 {
            let mut arrivals = lock(&self.group.arrivals);
            // Set under the lock a finishing writer takes to wake us: none is missed.
            self.group.committer_waiting.store(true, Ordering::SeqCst);
            loop {
                let now = Instant::now();
                if self.group.jobs_done.load(Ordering::SeqCst) - done_before >= ahead
                    || now >= patience
                {
                    break;
                }
                arrivals = self
                    .group
                    .arrived
                    .wait_timeout(arrivals, patience - now)
                    .unwrap_or_else(|poisoned| poisoned.into_inner())
                    .0;
            }
            self.group.committer_waiting.store(false, Ordering::SeqCst);
        }
        let mut writer = lock(&self.group.writer);
        let taken = writer.batch;
        writer.batch += 1;
        unwinding.batch = Some(taken);
        let schemas_changed = self.meta.dirty.swap(false, Ordering::SeqCst);
        if schemas_changed {
            // Before the commit: caches filled from now on are suspect until after it.
            self.meta.generation.fetch_add(1, Ordering::SeqCst);
        }
        // Waiting records ride along with a commit that happens anyway (or a flush):
        // they never cost an fsync of their own.
        let flush = self.group.flush_requested.swap(false, Ordering::SeqCst);
        let dirty = self.group.batch_dirty.swap(false, Ordering::SeqCst) | flush;
        // A batch that changed nothing keeps its transaction open for the next one:
        // there is nothing to commit or undo, and no begin and abort to pay per run.
        // Records of read-only runs ride along; they stay readable from memory
        // until the commit is done.
        let txn = if dirty { writer.txn.take() } else { None };
        #[cfg(test)]
        if tests::injected(&tests::PANIC_IN_COMMIT, self) {
            panic!("a commit panics (injected by a test)");
        }
        let committed_any = txn.is_some();
        let outcome = match txn {
            Some(txn) => self.commit_batch(&mut writer, txn, flush),
            None => Ok(Sealed::Nothing),
        };
        writer.changes.clear();
        drop(writer);
        if committed_any {
            // New snapshots from now on; before the written records leave memory, so a
            // reader finds each record in memory or in its snapshot.
            self.snapshots.commits.fetch_add(1, Ordering::SeqCst);
            *lock(&self.snapshots.shared) = None;
        }
        std::mem::forget(unwinding);
        self.records_written(outcome.is_ok());
        if schemas_changed {
            self.meta.generation.fetch_add(1, Ordering::SeqCst);
        }
        let mut state = lock(&self.group.commit);
        state.sealing = false;
        state.sealed = taken;
        match outcome {
            Ok(Sealed::Durable) => state.durable = taken,
            Ok(Sealed::Logged(syncer)) => state.syncer = Some(Arc::new(syncer)),
            Ok(Sealed::Nothing) => state.resolved(taken),
            Err(cause) => {
                state.failed(taken..=taken, cause);
                state.resolved(taken);
            }
        }
        self.group.committed.notify_all();
    }

    /// Commit `txn` (the batch, with the waiting records added): appended to the log and
    /// committed without an fsync, or durably (a checkpoint, or a store without a log).
    fn commit_batch(
        &self,
        writer: &mut WriterState,
        txn: WriteTransaction,
        flush: bool,
    ) -> std::result::Result<Sealed, String> {
        let batch = {
            let mut waiting = lock(&self.waiting.list);
            waiting.take_for_commit()
        };
        let changes = writer.log.is_some().then_some(&mut writer.changes);
        // The commit is decided already: these writes must not mark the next batch dirty.
        WriteTables::open(
            &txn,
            self.catalog,
            &self.meta.dirty,
            &AtomicBool::new(false),
            changes,
            &mut writer.trail,
        )
        .and_then(|mut tables| {
            batch
                .iter()
                .try_for_each(|r| tables.put_waiting_record(r))?;
            // The job-end hook: the audit head, once per batch, in the batch's commit (and
            // its log record), whichever jobs appended to the trail.
            tables.write_audit_head()
        })
        .map_err(|e| e.to_string())?;
        let Some(log) = writer.log.as_mut() else {
            return commit(txn, Durability::Immediate)
                .map(|()| Sealed::Durable)
                .map_err(|e| self.explained(e));
        };
        // A store whose file or log failed commits nothing more until it is reopened (a
        // batch sealed to the log before the failure may still await its sync: see
        // `Syncer::sync`, which refuses it).
        if let Some(cause) = self.file.health.failure() {
            return Err(match self.failed_earlier(&cause, None) {
                Error::Storage(message) => message,
                other => other.to_string(),
            });
        }
        let overdue = lock(&self.group.log_dirty_since)
            .is_some_and(|since| since.elapsed() >= CHECKPOINT_AFTER * 4);
        #[cfg(test)]
        let overdue = overdue && !tests::HOLD_CHECKPOINTS.load(Ordering::SeqCst);
        if flush || overdue || log.len() >= wal::CHECKPOINT_SIZE {
            set_lsn(&txn, log.last_lsn()).map_err(|e| e.to_string())?;
            commit(txn, Durability::Immediate).map_err(|e| self.explained(e))?;
            log.checkpointed();
            *lock(&self.group.log_dirty_since) = None;
            return Ok(Sealed::Durable);
        }
        set_lsn(&txn, log.last_lsn() + 1).map_err(|e| e.to_string())?;
        // Appended before the commit: a batch the log refuses is aborted, never visible.
        log.append(&mut writer.changes)?;
        #[cfg(test)]
        if tests::injected(&tests::PANIC_AFTER_APPEND, self) {
            panic!("a commit panics after its batch was logged (injected by a test)");
        }
        if let Err(e) = commit(txn, Durability::None) {
            log.retract_unconfirmed();
            return Err(self.explained(e));
        }
        log.confirm();
        let first = {
            let mut since = lock(&self.group.log_dirty_since);
            let first = since.is_none();
            since.get_or_insert_with(Instant::now);
            first
        };
        if first {
            // Under the lock the background writer checks `until_checkpoint` with: it
            // cannot miss this.
            let _waiting = lock(&self.waiting.list);
            self.waiting.wake.notify_all();
        }
        Ok(Sealed::Logged(log.syncer()))
    }
}

/// Record in `txn` that the store file holds every batch up to `lsn`.
fn set_lsn(txn: &WriteTransaction, lsn: u64) -> Result<()> {
    txn.open_table(super::layout::META)?
        .insert(LOG_LSN.as_bytes(), lsn.to_be_bytes().as_slice())?;
    Ok(())
}

/// Commit `txn` with `durability`.
fn commit(mut txn: WriteTransaction, durability: Durability) -> std::result::Result<(), String> {
    txn.set_durability(durability).map_err(|e| e.to_string())?;
    txn.commit().map_err(|e| e.to_string())
}

/// A seal in progress, ended as failed should its thread unwind (a panic inside redb):
/// otherwise `sealing` would stay set and every later writer would wait forever.
struct Committing<'s> {
    store: &'s RedbStore,
    /// The batch being sealed, once taken.
    batch: Option<u64>,
}

impl Drop for Committing<'_> {
    fn drop(&mut self) {
        // Reached only by unwinding: a seal that ends normally forgets its guard.
        self.store.records_written(false);
        let mut writer = lock(&self.store.group.writer);
        writer.changes.clear();
        // Its writers are told the batch failed: recovery must not replay its record.
        if let Some(log) = writer.log.as_mut() {
            log.retract_unconfirmed();
        }
        drop(writer);
        let mut state = lock(&self.store.group.commit);
        state.sealing = false;
        if let Some(taken) = self.batch {
            state.sealed = taken;
            state.failed(
                taken..=taken,
                "the commit panicked; its writes were not made durable".into(),
            );
            state.resolved(taken);
        }
        self.store.group.committed.notify_all();
    }
}

#[cfg(test)]
mod tests;
