//! The file under a store: redb's own file backend, watched. Every failed read, write, sync
//! or resize is remembered with its cause (the OS error text and kind: ENOSPC, EFBIG, EIO),
//! because redb reports only the first failure with its cause and every later operation as
//! "Previous I/O error occurred": the store uses the remembered cause to say what went
//! wrong, and to know that its database handle must be reopened.
//!
//! Tests can make the writes of one store file fail with a chosen OS error
//! ([`fail_writes`]), the deterministic stand-in for a full disk. This module must never
//! change what reaches the file otherwise.

use redb::StorageBackend;
use redb::backends::FileBackend;
use std::fs::File;
use std::io;
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// The I/O failures of one store file, shared by its backends (one per open of the file).
#[derive(Debug, Default)]
pub(crate) struct Health {
    /// The first failure since the store last opened cleanly, with its cause.
    failure: Mutex<Option<String>>,
}

impl Health {
    /// The cause of the failure since the last clean open, if any.
    pub(crate) fn failure(&self) -> Option<String> {
        super::lock(&self.failure).clone()
    }

    /// Remember a failure (the first one is kept: later ones are usually its consequence).
    pub(super) fn failed(&self, operation: &str, error: &io::Error) {
        let mut failure = super::lock(&self.failure);
        if failure.is_none() {
            *failure = Some(describe(operation, error));
        }
    }

    /// Remember a failure described in words (a reopen that failed).
    pub(crate) fn failed_with(&self, cause: &str) {
        let mut failure = super::lock(&self.failure);
        if failure.is_none() {
            *failure = Some(cause.to_string());
        }
    }

    /// The store reopened cleanly: forget the failure.
    pub(crate) fn cleared(&self) {
        *super::lock(&self.failure) = None;
    }
}

/// `operation` failed with `error`, in words: the OS text and the error kind.
pub(crate) fn describe(operation: &str, error: &io::Error) -> String {
    format!("{operation} failed: {error} ({:?})", error.kind())
}

/// redb's file backend over the store file, remembering its failures in [`Health`].
#[derive(Debug)]
pub(crate) struct WatchedFile {
    file: FileBackend,
    path: PathBuf,
    health: Arc<Health>,
}

impl WatchedFile {
    /// The store file at `path` (which must exist), opened for reading and writing.
    pub(crate) fn open(path: &Path, health: Arc<Health>) -> io::Result<WatchedFile> {
        let file = File::options().read(true).write(true).open(path)?;
        Ok(WatchedFile {
            file: FileBackend::new(file).map_err(|e| io::Error::other(e.to_string()))?,
            path: path.canonicalize().unwrap_or_else(|_| path.to_path_buf()),
            health,
        })
    }

    /// `result` of `operation`, remembered if it failed.
    fn watch<T>(&self, operation: &str, result: io::Result<T>) -> io::Result<T> {
        if let Err(error) = &result {
            self.health.failed(operation, error);
        }
        result
    }

    /// An injected failure of this file's writes, if a test asked for one.
    fn injected(&self) -> io::Result<()> {
        injected_fault(&self.path)
    }
}

impl StorageBackend for WatchedFile {
    fn len(&self) -> io::Result<u64> {
        self.watch("reading the store file's length", self.file.len())
    }

    fn read(&self, offset: u64, out: &mut [u8]) -> io::Result<()> {
        self.watch("reading the store file", self.file.read(offset, out))
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        let result = self.injected().and_then(|()| self.file.set_len(len));
        self.watch("resizing the store file", result)
    }

    fn sync_data(&self) -> io::Result<()> {
        let result = self.injected().and_then(|()| self.file.sync_data());
        self.watch("syncing the store file", result)
    }

    fn write(&self, offset: u64, data: &[u8]) -> io::Result<()> {
        let result = self.injected().and_then(|()| self.file.write(offset, data));
        self.watch("writing the store file", result)
    }

    fn close(&self) -> io::Result<()> {
        self.file.close()
    }

    fn try_lock_range(
        &self,
        start: Bound<u64>,
        end: Bound<u64>,
    ) -> Result<bool, redb::BackendError> {
        self.file.try_lock_range(start, end)
    }

    fn try_lock_shared_range(
        &self,
        start: Bound<u64>,
        end: Bound<u64>,
    ) -> Result<bool, redb::BackendError> {
        self.file.try_lock_shared_range(start, end)
    }

    fn lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), redb::BackendError> {
        self.file.lock_range(start, end)
    }

    fn lock_shared_range(
        &self,
        start: Bound<u64>,
        end: Bound<u64>,
    ) -> Result<(), redb::BackendError> {
        self.file.lock_shared_range(start, end)
    }

    fn unlock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), redb::BackendError> {
        self.file.unlock_range(start, end)
    }

    fn query_lock_range(
        &self,
        start: Bound<u64>,
        end: Bound<u64>,
    ) -> Result<bool, redb::BackendError> {
        self.file.query_lock_range(start, end)
    }
}

/// An injected failure of the writes of the store file at `store` (canonical path) and of
/// its redo log, if a test asked for one.
pub(super) fn injected_fault(store: &Path) -> io::Result<()> {
    if !ANY_FAULT.load(Ordering::SeqCst) {
        return Ok(());
    }
    let faults = super::lock(&FAULTS);
    match faults.iter().find(|(path, _)| path == store) {
        Some((_, errno)) => Err(io::Error::from_raw_os_error(*errno)),
        None => Ok(()),
    }
}

/// Whether any fault is injected (spares the lock on every write otherwise).
static ANY_FAULT: AtomicBool = AtomicBool::new(false);
/// Store files whose writes fail, with the OS error number they fail with.
static FAULTS: Mutex<Vec<(PathBuf, i32)>> = Mutex::new(Vec::new());

/// Make every write, resize and sync of the store file at `path` (and of its redo log) fail with OS error `errno`
/// (e.g. 28, ENOSPC: the disk is full), or (`None`) succeed again. For tests of how the
/// engine reports and survives I/O errors; only files opened after the store exists are
/// affected.
pub fn fail_writes(path: &Path, errno: Option<i32>) {
    let path = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    let mut faults = super::lock(&FAULTS);
    faults.retain(|(p, _)| *p != path);
    if let Some(errno) = errno {
        faults.push((path, errno));
    }
    ANY_FAULT.store(!faults.is_empty(), Ordering::SeqCst);
}
