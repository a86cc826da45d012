//! Opening a store file: waiting a bounded time for a lock another process holds, and
//! repairing a file that a killed process left unclean before reading it.
//!
//! A store file has one writing process at a time. A second writer (or a reader beside a
//! writer that does not share the file) waits for the lock with backoff up to its
//! `lock_timeout`, then gives up naming the file and, where the OS tells, the process that
//! holds it. A process killed while writing leaves the file needing a repair, which only an
//! open for writing performs: a read-only open does that repair itself when no writer holds
//! the file, then reads. Every open for writing (a repair included) also recovers the store
//! from its redo log (see `wal`). This module must never open a file for writing while another
//! process holds it.

use super::backend::{Health, WatchedFile};
use super::wal::{self, RedoLog};
use crate::error::{Error, Result};
use redb::{ConcurrencyMode, Database, DatabaseError, ReadOnlyDatabase};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a store waits for another process's lock unless told otherwise: not at all
/// (the CLI waits 10 s by default, its `--lock-timeout`).
pub(crate) const DEFAULT_LOCK_TIMEOUT: Duration = Duration::ZERO;

/// How many bytes of the store file a store caches in memory unless told otherwise
/// ([`OpenOptions::cache_bytes`]): 64 MiB. redb's own default (1 GiB) let the resident set
/// grow with the store; reads beyond the cache come from the OS's page cache. Measured at
/// 100k documents (scale bench): 16 MiB cost a fifth of point-read throughput and 40% on an
/// indexed equality of 10k hits against 64 MiB; 256 MiB and more gained little and doubled
/// the resident set again.
pub(crate) const DEFAULT_CACHE_BYTES: usize = 64 << 20;

/// The first pause between two attempts to take a lock; it doubles up to
/// [`MAX_LOCK_BACKOFF`].
const FIRST_LOCK_BACKOFF: Duration = Duration::from_millis(5);

/// The longest pause between two attempts to take a lock.
const MAX_LOCK_BACKOFF: Duration = Duration::from_millis(200);

/// How a store file is opened.
#[derive(Debug, Clone, Copy)]
pub(crate) struct OpenOptions {
    /// Other processes may read the file meanwhile (`ConcurrencyMode::SingleWriter`).
    pub(crate) shared: bool,
    /// How long to wait for a lock another process holds.
    pub(crate) lock_timeout: Duration,
    /// Bytes of the file redb caches in memory (its read cache and write buffer together).
    pub(crate) cache_bytes: usize,
}

/// Open the existing store file at `path` for writing, waiting for its lock, and recover it
/// from its redo log. The log is returned for a store that keeps one: one not shared with
/// readers (redb refuses the non-durable commits a log stands in for when it is shared).
pub(crate) fn open_writer(
    path: &Path,
    options: OpenOptions,
    health: &Arc<Health>,
) -> Result<(Database, Option<RedoLog>)> {
    let mode = if options.shared {
        ConcurrencyMode::SingleWriter
    } else {
        ConcurrencyMode::ExclusiveWriter
    };
    let db = waiting(
        path,
        options.lock_timeout,
        "writing",
        || -> Result<_, Unopened> {
            let file = WatchedFile::open(path, health.clone())?;
            Ok(Database::builder()
                .set_concurrency_mode(mode)
                .set_cache_size(options.cache_bytes)
                .create_with_backend(file)?)
        },
    )
    .map_err(|e| e.explain(path, "writing"))?;
    let log = wal::recover(&db, path, health)?;
    Ok((db, (!options.shared).then_some(log)))
}

/// Open the existing store file at `path` to read it while another process may write it;
/// a file left unclean by a killed writer is repaired first, when no process holds it.
pub(crate) fn open_reader(path: &Path, options: OpenOptions) -> Result<ReadOnlyDatabase> {
    let lock_timeout = options.lock_timeout;
    let open = || {
        Database::builder()
            .set_concurrency_mode(ConcurrencyMode::SingleWriter)
            .set_cache_size(options.cache_bytes)
            .open_read_only(path)
    };
    match waiting(path, lock_timeout, "reading", open) {
        Err(Unopened::Redb(DatabaseError::RepairAborted)) => {}
        other => return other.map_err(|e| e.explain(path, "reading")),
    }
    // Not closed cleanly and nobody holds it: repair it with a brief open for writing.
    let options = OpenOptions {
        shared: true,
        ..options
    };
    match open_writer(path, options, &Arc::default()) {
        Ok(repaired) => drop(repaired),
        Err(e) => {
            let e = match e {
                Error::Storage(cause) => cause,
                other => other.to_string(),
            };
            return Err(Error::Storage(format!(
                "store {} was not closed cleanly (a process writing it was killed) and needs \
                 a repair, which opening it for writing does (any `coworker run`, or \
                 `coworker acl status`); repairing it failed: {e}",
                path.display()
            )));
        }
    }
    waiting(path, lock_timeout, "reading", open).map_err(|e| e.explain(path, "reading"))
}

/// Why an open failed.
enum Unopened {
    Redb(DatabaseError),
    Io(std::io::Error),
    /// Another process held the lock for the whole wait.
    Locked(Duration),
}

impl From<DatabaseError> for Unopened {
    fn from(e: DatabaseError) -> Self {
        Unopened::Redb(e)
    }
}

impl From<std::io::Error> for Unopened {
    fn from(e: std::io::Error) -> Self {
        Unopened::Io(e)
    }
}

impl Unopened {
    /// The engine's error for an open of `file` for `purpose` that failed this way.
    fn explain(self, file: &Path, purpose: &str) -> Error {
        let path = file.display();
        Error::Storage(match self {
            Unopened::Locked(waited) => {
                let holder = match lock_holder(file) {
                    Some(pid) => format!("another process (pid {pid})"),
                    None => "another process".to_string(),
                };
                let sharing = if purpose == "reading" {
                    " without sharing it with readers (EngineBuilder::share_with_readers)"
                } else {
                    ""
                };
                format!(
                    "cannot open store {path} for {purpose}: {holder} has it open for \
                     writing{sharing}; waited {} ms for it (EngineBuilder::lock_timeout, \
                     the CLI's --lock-timeout)",
                    waited.as_millis()
                )
            }
            Unopened::Redb(e) => format!("cannot open store {path} for {purpose}: {e}"),
            Unopened::Io(e) => format!(
                "cannot open store {path} for {purpose}: {}",
                super::backend::describe("opening the file", &e)
            ),
        })
    }
}

/// `attempt` until it gets past the lock another process holds, for at most `timeout`,
/// with a doubling pause between attempts.
fn waiting<T, E: Into<Unopened>>(
    path: &Path,
    timeout: Duration,
    purpose: &str,
    mut attempt: impl FnMut() -> std::result::Result<T, E>,
) -> std::result::Result<T, Unopened> {
    let started = Instant::now();
    let mut pause = FIRST_LOCK_BACKOFF;
    loop {
        match attempt().map_err(Into::into) {
            Err(Unopened::Redb(DatabaseError::DatabaseAlreadyOpen)) => {
                let waited = started.elapsed();
                if waited >= timeout {
                    return Err(Unopened::Locked(waited));
                }
                tracing::debug!(
                    "store {} is locked; waiting to open it for {purpose}",
                    path.display()
                );
                std::thread::sleep(pause.min(timeout - waited));
                pause = (pause * 2).min(MAX_LOCK_BACKOFF);
            }
            other => return other,
        }
    }
}

/// The process holding a lock on the file at `path`, as far as the OS tells (Linux's
/// `/proc/locks`, for locks that belong to a process).
fn lock_holder(path: &Path) -> Option<u32> {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::fs::MetadataExt;
        let inode = std::fs::metadata(path).ok()?.ino();
        let locks = std::fs::read_to_string("/proc/locks").ok()?;
        let me = std::process::id();
        locks.lines().find_map(|line| {
            // `1: FLOCK  ADVISORY  WRITE 1234 08:02:5678 0 EOF`
            let fields: Vec<&str> = line.split_whitespace().collect();
            let pid: u32 = fields.get(4)?.parse().ok()?;
            let file_inode: u64 = fields.get(5)?.rsplit(':').next()?.parse().ok()?;
            (file_inode == inode && pid != me).then_some(pid)
        })
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = path;
        None
    }
}
