//! Waiting records: the records of runs that wrote nothing wait in memory until a commit
//! writes them (the next write transaction, a flush, the background writer once 1,024 wait
//! or they hold 4 MiB, or the store's close). A crash can lose them, never a document. They
//! have a lock of their own, so a read-only run never waits for a writer or a commit, and
//! they stay readable here until their commit is durable. The background writer that writes them also
//! asks for the checkpoints of the redo log (see `commit`).
//!
//! This module must never split one run tree's records between memory and the file.

use super::record::{Record, RunKeys};
use super::{RedbStore, View, lock};
use crate::error::Result;
use crate::run::Run;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

/// How many records of read-only runs may wait in memory before they are written.
const MAX_PENDING_RECORDS: usize = 1024;

/// How many bytes the records of read-only runs may hold in memory before they are written
/// (a few selects returning thousands of names each reach it before the count does).
const MAX_PENDING_RECORD_BYTES: usize = 4 << 20;

/// Records of runs that wrote nothing, kept in memory until a commit writes them. They have
/// a lock of their own, so read-only runs never wait for writers or for a commit.
#[derive(Default)]
pub(super) struct Waiting {
    /// Not yet taken by a commit, oldest first.
    pub(super) records: Vec<Record>,
    /// The bytes of `records`.
    bytes: usize,
    /// Taken by the commit in progress, and readable here until it is durable.
    pub(super) writing: Arc<Vec<Record>>,
    /// Written batches, for a run's thread to free: freeing them on the background writer
    /// would contend with that thread for its allocator's lock (they were allocated there).
    written: Vec<Arc<Vec<Record>>>,
    /// The store is closing: the background writer stops.
    pub(super) closing: bool,
}

/// The waiting records and how the background writer learns of them.
pub(super) struct WaitingRecords {
    /// The records, under a lock of their own.
    pub(super) list: Mutex<Waiting>,
    /// Wakes the background writer when enough records wait.
    pub(super) wake: Condvar,
    /// Whether a background writer writes waiting records (else runs do, when enough wait).
    pub(super) background_writer: AtomicBool,
}

impl Waiting {
    /// Hand every waiting record to the commit in progress (they stay readable here until
    /// it is done, see [`RedbStore::records_written`]); the batch it writes.
    pub(super) fn take_for_commit(&mut self) -> Arc<Vec<Record>> {
        self.bytes = 0;
        self.writing = Arc::new(std::mem::take(&mut self.records));
        self.writing.clone()
    }

    /// Whether enough records wait to be written now (by count or by bytes), and whether
    /// so many wait (four times either bound) that runs write them themselves.
    fn due(&self) -> (bool, bool) {
        let (count, bytes) = (self.records.len(), self.bytes);
        (
            count >= MAX_PENDING_RECORDS || bytes >= MAX_PENDING_RECORD_BYTES,
            count >= 4 * MAX_PENDING_RECORDS || bytes >= 4 * MAX_PENDING_RECORD_BYTES,
        )
    }
}

impl RedbStore {
    /// A run record, wherever it is: written, or still waiting in memory.
    pub(super) fn get_run(&self, id: &str) -> Result<Option<Run>> {
        {
            // A record leaves memory only once its commit is done: it is here or written.
            let waiting = lock(&self.waiting.list);
            let mut all = waiting.writing.iter().chain(&waiting.records);
            if let Some(record) = all.find(|r| r.id == id) {
                return record.run().map(Some);
            }
        }
        self.read()?.get_run(id)
    }

    /// The runs whose records are not yet written, oldest first, that `wanted` picks by
    /// id and [`RunKeys`] (only those are read back).
    pub(super) fn pending_runs(
        &self,
        wanted: &dyn Fn(&str, RunKeys<'_>) -> bool,
    ) -> Result<Vec<Run>> {
        let waiting = lock(&self.waiting.list);
        waiting
            .writing
            .iter()
            .chain(&waiting.records)
            .filter(|r| wanted(&r.id, r.keys()))
            .map(Record::run)
            .collect()
    }

    /// Keep the record of a run that wrote nothing; it is written with the next commit, or
    /// by the background writer once [`MAX_PENDING_RECORDS`] wait or they hold
    /// [`MAX_PENDING_RECORD_BYTES`]. Should they pile up to four times that (the writer
    /// cannot keep up, or there is none), runs write them.
    ///
    /// The records of one run tree come together and stay together (one commit writes all
    /// of them), so a tree is never half in memory and half written.
    pub(super) fn record_later(&self, records: Vec<Record>) -> Result<()> {
        if records.is_empty() {
            return Ok(());
        }
        let ((due, overdue), written) = {
            let mut waiting = lock(&self.waiting.list);
            waiting.bytes += records.iter().map(Record::size).sum::<usize>();
            waiting.records.extend(records);
            (waiting.due(), std::mem::take(&mut waiting.written))
        };
        drop(written);
        if !due {
            return Ok(());
        }
        let background = self.waiting.background_writer.load(Ordering::SeqCst);
        if background {
            self.waiting.wake.notify_one();
        }
        if !background || overdue {
            return self.flush();
        }
        Ok(())
    }

    /// The background writer's loop: write the waiting records whenever enough wait, until
    /// the store closes.
    pub(super) fn write_waiting_records(&self) {
        loop {
            {
                let mut waiting = lock(&self.waiting.list);
                // Also wakes to checkpoint a redo log that has held records a while.
                while !waiting.due().0 && !waiting.closing && !self.checkpoint_due() {
                    let wake = &self.waiting.wake;
                    waiting = match self.until_checkpoint() {
                        Some(due) => {
                            wake.wait_timeout(waiting, due)
                                .unwrap_or_else(|poisoned| poisoned.into_inner())
                                .0
                        }
                        None => wake
                            .wait(waiting)
                            .unwrap_or_else(|poisoned| poisoned.into_inner()),
                    };
                }
                if waiting.closing {
                    return;
                }
            }
            if let Err(e) = self.flush() {
                tracing::error!("records of read-only runs could not be written: {e}");
                // They stay in memory; try again later rather than spin on a failing disk.
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }

    /// The records taken for a commit leave memory once it is done; those of a failed
    /// commit wait again.
    pub(super) fn records_written(&self, durable: bool) {
        let mut waiting = lock(&self.waiting.list);
        let written = std::mem::take(&mut waiting.writing);
        if written.is_empty() {
            return;
        }
        if durable {
            waiting.written.push(written);
        } else {
            let mut again = Arc::try_unwrap(written).unwrap_or_else(|w| (*w).clone());
            waiting.bytes += again.iter().map(Record::size).sum::<usize>();
            again.append(&mut waiting.records);
            waiting.records = again;
        }
    }
}
