//! The redb database under a store ([`RedbStore`]): opening it (for writing, read-only, or
//! in memory), noticing that its file failed and reopening it, and the state the group
//! commit, the waiting records and the shared snapshot keep beside it.
//!
//! This module must never hide a failure of the file: every caller learns its cause until
//! a reopen succeeds.

use super::commit::GroupCommit;
use super::read::ReadTables;
use super::waiting::WaitingRecords;
use super::{Catalog, OpenOptions, backend, create, layout, lock, open};
use crate::error::{Error, Result};
use redb::{Database, ReadOnlyDatabase};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, RwLock};
use std::time::{Duration, Instant};

/// How often, at most, a store whose file failed tries to reopen it.
const REOPEN_INTERVAL: Duration = Duration::from_millis(250);

/// How often a reopen tries the writer lock (200 µs apart) before it gives up.
const REOPEN_LOCK_TRIES: u32 = 25;

/// The redb implementation of the store: its database file, the group commit over it, the
/// records of read-only runs waiting to be written, the meta generation and the snapshot
/// readers share. [`super::Store`] owns one, beside the background writer.
pub(crate) struct RedbStore {
    /// What the store was told about its doctypes when it opened.
    pub(super) catalog: Catalog,
    /// The database and its file.
    pub(super) file: StoreFile,
    /// The shared write transaction and the commits that make its batches durable.
    pub(super) group: GroupCommit,
    /// Records of read-only runs, in memory until a commit writes them.
    pub(super) waiting: WaitingRecords,
    /// Which writes may have changed how documents are handled.
    pub(super) meta: MetaGeneration,
    /// The snapshot readers share until the next commit.
    pub(super) snapshots: SharedSnapshot,
}

/// The database and the file under it.
pub(super) struct StoreFile {
    /// The database; `None` while a reopen after an I/O failure has not succeeded.
    pub(super) db: RwLock<Option<Db>>,
    /// Whether the store only reads.
    pub(super) read_only: bool,
    /// Where a store file was opened, and how, to reopen it after an I/O failure (`None`
    /// for a store in memory or one opened read-only).
    origin: Option<(PathBuf, OpenOptions)>,
    /// Where the store file is (`None` for a store in memory).
    pub(super) path: Option<PathBuf>,
    /// The file's I/O failures since it last opened cleanly.
    pub(super) health: Arc<backend::Health>,
    /// When the store may next try to reopen its failed file.
    next_reopen: Mutex<Instant>,
}

/// The meta generation: it changes whenever committed meta documents (schemas, operations,
/// ...: the catalog's meta doctypes) may have changed, and caches of them compare it.
pub(super) struct MetaGeneration {
    /// The generation (see [`RedbStore::schema_generation`]).
    pub(super) generation: AtomicU64,
    /// A meta document was written in the open write transaction.
    pub(super) dirty: AtomicBool,
}

/// The snapshot readers share.
pub(super) struct SharedSnapshot {
    /// Commits made so far: a shared snapshot is current while this has not moved.
    pub(super) commits: AtomicU64,
    /// The snapshot readers share, and the commit count it was opened at.
    pub(super) shared: Mutex<Option<(u64, Arc<ReadTables>)>>,
}

/// The database: the one writer, or a reader sharing the file with it.
pub(super) enum Db {
    Writer(Database),
    Reader(ReadOnlyDatabase),
}

impl RedbStore {
    /// Open (or create) the store file for writing. With `shared`, other processes may open
    /// it read-only meanwhile and follow its commits (`ConcurrencyMode::SingleWriter`); that
    /// costs a second fsync and file-lock calls per commit, so it is not the default.
    pub(crate) fn open(path: &Path, options: OpenOptions, catalog: Catalog) -> Result<Self> {
        if !path.exists() {
            create::create_whole(path).map_err(|e| {
                Error::Storage(format!("cannot create store {}: {e}", path.display()))
            })?;
        }
        let health = Arc::default();
        let (db, log) = open::open_writer(path, options, &health)?;
        Self::with_tables(&db)?;
        let mut shared = Self::with(Db::Writer(db), catalog, log);
        shared.file.origin = Some((path.to_path_buf(), options));
        shared.file.path = Some(path.to_path_buf());
        shared.file.health = health;
        Ok(shared)
    }

    /// Make sure every table exists and the indexes are in the current format.
    fn with_tables(db: &Database) -> Result<()> {
        let txn = db.begin_write()?;
        layout::create_tables(&txn)?;
        super::migrate::migrate_indexes(&txn)?;
        txn.commit()?;
        Ok(())
    }

    /// Open an existing store file to read it while another process may be writing it.
    pub(crate) fn open_read_only(
        path: &Path,
        options: OpenOptions,
        catalog: Catalog,
    ) -> Result<Self> {
        let db = open::open_reader(path, options)?;
        let mut shared = Self::with(Db::Reader(db), catalog, None);
        shared.file.path = Some(path.to_path_buf());
        Ok(shared)
    }

    /// A store that lives in memory only.
    pub(crate) fn in_memory(catalog: Catalog) -> Result<Self> {
        let db = Database::builder().create_with_backend(redb::backends::InMemoryBackend::new())?;
        Self::with_tables(&db)?;
        Ok(Self::with(Db::Writer(db), catalog, None))
    }

    /// Whether this store only reads (see [`super::Store::open_read_only`]).
    pub(super) fn read_only(&self) -> bool {
        self.file.read_only
    }

    /// The database, once the store file works: after an I/O failure the file is reopened
    /// first (at most every [`REOPEN_INTERVAL`]), and while that fails every caller learns
    /// the failure's cause.
    pub(super) fn db(&self) -> Result<std::sync::RwLockReadGuard<'_, Option<Db>>> {
        if let Some(cause) = self.file.health.failure() {
            let due = {
                let mut next = lock(&self.file.next_reopen);
                let due = Instant::now() >= *next;
                if due {
                    *next = Instant::now() + REOPEN_INTERVAL;
                }
                due
            };
            if !due {
                return Err(self.failed_earlier(&cause, None));
            }
            if let Err(e) = self.reopen() {
                return Err(self.failed_earlier(&cause, Some(&e)));
            }
        }
        let db = self.file.db.read().unwrap_or_else(|p| p.into_inner());
        if db.is_none() {
            let cause = self
                .file
                .health
                .failure()
                .unwrap_or_else(|| "unknown".into());
            return Err(self.failed_earlier(&cause, None));
        }
        Ok(db)
    }

    /// The error of a store whose file failed with `cause` and is not reopened yet.
    pub(super) fn failed_earlier(&self, cause: &str, reopening: Option<&Error>) -> Error {
        let reopened = match reopening {
            Some(Error::Storage(e)) => format!("; reopening it failed: {e}"),
            Some(e) => format!("; reopening it failed: {e}"),
            None => String::new(),
        };
        let retry = match &self.file.origin {
            None => String::new(),
            Some(_) => format!(
                "; once the cause is fixed, the next run reopens it (at most every {} ms), \
                 or call Engine::reopen()",
                REOPEN_INTERVAL.as_millis()
            ),
        };
        Error::Storage(format!(
            "the store failed earlier: {cause}{reopened}{retry}"
        ))
    }

    /// A storage error `e` of redb, explained by the cause of the file's failure if it
    /// failed (redb reports all but the first failure as "Previous I/O error").
    pub(super) fn explained(&self, e: impl std::fmt::Display) -> String {
        let text = e.to_string();
        match self.file.health.failure() {
            // redb's text adds nothing to the cause: "I/O error: …" repeats it, and
            // "Previous I/O error occurred …" hides it.
            Some(cause) if text.contains("I/O error") => cause,
            Some(cause) => format!("{cause} ({text})"),
            None => text,
        }
    }

    /// Close the store file and open it again: what a store whose file failed (a full disk)
    /// does once the cause is fixed. Everything committed before the failure is there;
    /// what failed to commit was reported to its runs as failed. Refused while a write
    /// that is not yet committed waits (it commits, or fails, first).
    pub(super) fn reopen(&self) -> Result<()> {
        let Some((path, options)) = &self.file.origin else {
            return match self.file.health.failure() {
                Some(cause) => Err(self.failed_earlier(&cause, None)),
                None => Ok(()),
            };
        };
        // Never waits long for the writer lock: a job holding it may be what calls this.
        // Writers that fail at once (the file failed) hold it only briefly: a few tries.
        let mut tries = 0;
        let mut writer = loop {
            match self.group.writer.try_lock() {
                Ok(writer) => break writer,
                Err(std::sync::TryLockError::Poisoned(poisoned)) => break poisoned.into_inner(),
                Err(std::sync::TryLockError::WouldBlock) if tries < REOPEN_LOCK_TRIES => {
                    tries += 1;
                    std::thread::sleep(Duration::from_micros(200));
                }
                Err(std::sync::TryLockError::WouldBlock) => {
                    return Err(Error::Storage(
                        "a write is in progress; try reopening again once it ended".into(),
                    ));
                }
            }
        };
        let mut commits = lock(&self.group.commit);
        if self.group.batch_dirty.load(Ordering::SeqCst) || commits.busy() {
            return Err(Error::Storage(
                "a write is being committed; try reopening again once it ended".into(),
            ));
        }
        // Nothing uncommitted is in the open transaction (checked above): drop it.
        drop(writer.txn.take());
        writer.changes.clear();
        // Closing the database makes every batch committed to it durable; the new log
        // starts from there.
        drop(writer.log.take());
        commits.log_replaced();
        drop(commits);
        let mut db = self.file.db.write().unwrap_or_else(|p| p.into_inner());
        *lock(&self.snapshots.shared) = None;
        self.snapshots.commits.fetch_add(1, Ordering::SeqCst);
        // The file's locks are released once the old database is closed.
        drop(db.take());
        self.file.health.cleared();
        match open::open_writer(path, *options, &self.file.health) {
            Ok((opened, log)) => {
                tracing::info!("store {} reopened", path.display());
                *db = Some(Db::Writer(opened));
                writer.log = log;
                Ok(())
            }
            Err(e) => {
                self.file.health.failed_with(&e.to_string());
                Err(e)
            }
        }
    }

    fn with(db: Db, catalog: Catalog, log: Option<super::wal::RedoLog>) -> Self {
        RedbStore {
            catalog,
            file: StoreFile {
                read_only: matches!(db, Db::Reader(_)),
                db: RwLock::new(Some(db)),
                origin: None,
                path: None,
                health: Arc::default(),
                next_reopen: Mutex::new(Instant::now()),
            },
            group: GroupCommit::new(log),
            waiting: WaitingRecords {
                list: Mutex::default(),
                wake: Condvar::new(),
                background_writer: AtomicBool::new(false),
            },
            meta: MetaGeneration {
                generation: AtomicU64::new(0),
                dirty: AtomicBool::new(false),
            },
            snapshots: SharedSnapshot {
                commits: AtomicU64::new(0),
                shared: Mutex::new(None),
            },
        }
    }

    /// The schema generation: a cache filled from a snapshot taken at generation `g` is
    /// valid while this still returns `g`.
    pub(super) fn schema_generation(&self) -> u64 {
        self.meta.generation.load(Ordering::SeqCst)
    }

    /// Whether the open write transaction changed a schema (caches must not be used then).
    pub(super) fn schemas_dirty(&self) -> bool {
        self.meta.dirty.load(Ordering::SeqCst)
    }
}

impl RedbStore {
    /// Give the file's free space back (redb's compaction): everything is made durable in
    /// the file first (the redo log checkpointed), the shared snapshot let go, and every
    /// user of the database kept out meanwhile. Refused with CONFLICT while another thread
    /// holds a snapshot or a transaction; returns whether the file changed.
    pub(crate) fn compact(&self) -> Result<bool> {
        if self.file.read_only {
            return Err(Error::Storage(
                "the store was opened read-only: it cannot be compacted".into(),
            ));
        }
        self.flush()?;
        let mut db = self.file.db.write().unwrap_or_else(|p| p.into_inner());
        *lock(&self.snapshots.shared) = None;
        match db.as_mut() {
            Some(Db::Writer(database)) => database.compact().map_err(|e| match e {
                redb::CompactionError::Storage(e) => e.into(),
                busy => Error::new(
                    crate::ErrorCode::Conflict,
                    format!(
                        "the store cannot be compacted now ({busy}); try again when it is idle"
                    ),
                ),
            }),
            _ => Err(Error::Storage(
                "the store is not open for writing: it cannot be compacted".into(),
            )),
        }
    }
}
