//! The group commit: every concurrent writer runs its job in one shared redb write
//! transaction, and one commit with one fsync makes the whole batch durable. A committer
//! lets the writers already on their way join its batch first; a batch that changed nothing
//! keeps its transaction open for the next; waiting records ride along with a commit that
//! happens anyway.
//!
//! This module must never return to a writer whose batch holds changes before that batch
//! is durable (or its commit failed).

use super::write::WriteTables;
use super::{Db, RedbStore, lock};
use crate::error::{Error, Result};
use redb::{Durability, WriteTransaction};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// How long a committer waits for writers already on their way to join its batch.
const GROUP_COMMIT_WAIT: Duration = Duration::from_micros(200);

/// The open shared write transaction.
pub(super) struct WriterState {
    pub(super) txn: Option<WriteTransaction>,
    /// The number of the batch the open transaction will commit as.
    pub(super) batch: u64,
}

/// The group commit's state: the shared write transaction, and which of its batches are
/// durable.
pub(super) struct GroupCommit {
    /// The open shared write transaction.
    pub(super) writer: Mutex<WriterState>,
    /// Which batches are durable, and whether a commit is in progress.
    pub(super) commit: Mutex<CommitState>,
    /// Wakes the writers waiting for their batch when a commit ends.
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
}

impl GroupCommit {
    /// No transaction open yet; the first batch is number 1, and none is durable.
    pub(super) fn new() -> Self {
        GroupCommit {
            writer: Mutex::new(WriterState {
                txn: None,
                batch: 1,
            }),
            commit: Mutex::new(CommitState {
                committed: 0,
                committing: false,
                failures: VecDeque::new(),
            }),
            committed: Condvar::new(),
            batch_dirty: AtomicBool::new(false),
            flush_requested: AtomicBool::new(false),
            writers_in_flight: AtomicUsize::new(0),
            jobs_done: AtomicU64::new(0),
        }
    }
}

/// Which batches are durable.
pub(super) struct CommitState {
    committed: u64,
    pub(super) committing: bool,
    /// Recent batches whose commit failed, with the cause.
    failures: VecDeque<(u64, String)>,
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
    /// changed (the waiting records go with it).
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
        }
        let txn = writer.txn.as_ref().expect("opened above");
        let tables =
            WriteTables::open(txn, self.catalog, &self.meta.dirty, &self.group.batch_dirty)?;
        let result = job(tables);
        if flush {
            // Under the writer lock: the committer of this batch sees it.
            self.group.flush_requested.store(true, Ordering::SeqCst);
        }
        let owed = flush || self.group.batch_dirty.load(Ordering::SeqCst);
        Ok((result, owed.then_some(writer.batch)))
    }

    /// Write every waiting record and make everything durable.
    pub(super) fn flush(&self) -> Result<()> {
        self.write_owing(|_| (), true)
    }

    /// Wait until `batch` is durable, committing it ourselves if nobody else is.
    fn make_durable(&self, batch: u64) -> Result<()> {
        let mut state = lock(&self.group.commit);
        loop {
            if state.committed >= batch {
                return match state.failures.iter().find(|(b, _)| *b == batch) {
                    Some((_, cause)) => Err(Error::Storage(cause.clone())),
                    None => Ok(()),
                };
            }
            if state.committing {
                state = self
                    .group
                    .committed
                    .wait(state)
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
                continue;
            }
            state.committing = true;
            drop(state);
            let mut unwinding = Committing {
                store: self,
                batch: None,
            };
            // Group commit: writers already on their way join this batch first (bounded,
            // so a steady stream cannot hold a commit back).
            // Only those in flight now are waited for, not newcomers.
            let patience = Instant::now() + GROUP_COMMIT_WAIT;
            let ahead = self.group.writers_in_flight.load(Ordering::SeqCst);
            let done_before = self.group.jobs_done.load(Ordering::SeqCst);
            while ahead > 0
                && self.group.jobs_done.load(Ordering::SeqCst) - done_before < ahead as u64
                && Instant::now() < patience
            {
                std::thread::yield_now();
            }
            let (taken, txn, schemas_changed, records) = {
                let mut writer = lock(&self.group.writer);
                let taken = writer.batch;
                writer.batch += 1;
                unwinding.batch = Some(taken);
                let changed = self.meta.dirty.swap(false, Ordering::SeqCst);
                if changed {
                    // Before the commit: caches filled from now on are suspect until after it.
                    self.meta.generation.fetch_add(1, Ordering::SeqCst);
                }
                // Waiting records ride along with a commit that happens anyway (or a flush):
                // they never cost an fsync of their own.
                let dirty = self.group.batch_dirty.swap(false, Ordering::SeqCst)
                    | self.group.flush_requested.swap(false, Ordering::SeqCst);
                // A batch that changed nothing keeps its transaction open for the next one:
                // there is nothing to commit or undo, and no begin and abort to pay per run.
                // Records of read-only runs ride along; they stay readable from memory
                // until the commit is done.
                let txn = if dirty { writer.txn.take() } else { None };
                #[cfg(test)]
                if tests::PANIC_IN_COMMIT.swap(false, Ordering::SeqCst) {
                    panic!("a commit panics (injected by a test)");
                }
                let records = match &txn {
                    Some(txn) => {
                        let batch = {
                            let mut waiting = lock(&self.waiting.list);
                            waiting.writing = Arc::new(std::mem::take(&mut waiting.records));
                            waiting.writing.clone()
                        };
                        // The commit is decided already: these writes must not mark the next
                        // batch dirty.
                        WriteTables::open(
                            txn,
                            self.catalog,
                            &self.meta.dirty,
                            &AtomicBool::new(false),
                        )
                        .and_then(|mut tables| {
                            batch.iter().try_for_each(|r| tables.put_waiting_record(r))
                        })
                        .map(|()| batch.len())
                        .map_err(|e| e.to_string())
                    }
                    None => Ok(0),
                };
                (taken, txn, changed, records)
            };
            let committed_any = txn.is_some();
            let outcome = match (txn, records) {
                (Some(mut txn), Ok(records)) => txn
                    .set_durability(Durability::Immediate)
                    .map_err(|e| e.to_string())
                    .and_then(|()| txn.commit().map_err(|e| self.explained(e)))
                    .map(|()| records),
                (_, Err(cause)) => Err(cause),
                (None, Ok(_)) => Ok(0),
            };
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
            state = lock(&self.group.commit);
            self.commit_ended(&mut state, taken, outcome.err());
        }
    }

    /// The commit in progress ended with batch `taken` (failed with `failure`): the next
    /// one may start, and the batch's writers learn how it went.
    fn commit_ended(&self, state: &mut CommitState, taken: u64, failure: Option<String>) {
        state.committing = false;
        state.committed = taken;
        if let Some(cause) = failure {
            tracing::error!("the commit of batch {taken} failed: {cause}");
            state.failures.push_back((taken, cause));
            if state.failures.len() > 64 {
                state.failures.pop_front();
            }
        }
        self.group.committed.notify_all();
    }
}

/// A commit in progress, ended as failed should its thread unwind (a panic inside redb):
/// otherwise `committing` would stay set and every later writer would wait forever.
struct Committing<'s> {
    store: &'s RedbStore,
    /// The batch being committed, once taken.
    batch: Option<u64>,
}

impl Drop for Committing<'_> {
    fn drop(&mut self) {
        // Reached only by unwinding: a commit that ends normally forgets its guard.
        self.store.records_written(false);
        let mut state = lock(&self.store.group.commit);
        match self.batch {
            Some(taken) => self.store.commit_ended(
                &mut state,
                taken,
                Some("the commit panicked; its writes were not made durable".into()),
            ),
            None => {
                state.committing = false;
                self.store.group.committed.notify_all();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doc::Doc;
    use crate::store::{OpenOptions, Store, View};

    /// Makes the next commit panic once it has taken its batch.
    pub(super) static PANIC_IN_COMMIT: AtomicBool = AtomicBool::new(false);

    #[test]
    fn a_commit_that_panics_fails_its_batch_and_the_next_commit_goes_ahead() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(
            Store::open(
                &dir.path().join("s.redb"),
                OpenOptions {
                    shared: false,
                    lock_timeout: Duration::ZERO,
                },
                crate::store::TEST_CATALOG,
            )
            .unwrap(),
        );
        let put = |store: &Store, name: &str| {
            let doc: Doc = serde_json::from_value(serde_json::json!({"name": name})).unwrap();
            store.write(|mut tables| tables.put_doc("Note", name, &doc, &[]))
        };
        PANIC_IN_COMMIT.store(true, Ordering::SeqCst);
        let panicking = Arc::clone(&store);
        let first = std::thread::spawn(move || put(&panicking, "lost")).join();
        assert!(first.is_err(), "the committing writer's thread panicked");
        // Without the guard, `committing` stayed set and this write waited forever.
        let (done, finished) = std::sync::mpsc::channel();
        let writing = Arc::clone(&store);
        std::thread::spawn(move || done.send(put(&writing, "kept").map(|r| r.is_ok())));
        let second = finished
            .recv_timeout(Duration::from_secs(10))
            .expect("the next write is not stuck behind the panicked commit");
        assert!(matches!(second, Ok(true)), "{second:?}");
        let read = store.read().unwrap();
        assert!(read.get_doc("Note", "kept").unwrap().is_some());
        assert!(
            read.get_doc("Note", "lost").unwrap().is_none(),
            "the panicked batch was not committed"
        );
    }
}
