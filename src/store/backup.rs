//! Copies of a store file: a backup written from one read snapshot while writers go on,
//! and a checked copy swapped in for a store file (the store's half of a restore).
//!
//! redb has no online-backup call, so a backup copies every table, entry by entry, from one
//! `ReadTransaction` into a fresh redb file written beside the target under a temporary name
//! (`.<name>.partial-…`), commits it durably, syncs it, and only then renames it to the
//! target: a killed backup leaves at most a partial file under that temporary name, never a
//! file at the target that looks complete. Writers are not stopped: the read transaction
//! pins its snapshot while they commit. The copy holds no redo-log facts (`redo_log_id`,
//! `redo_log_lsn`): it needs no replay, and no log can ever be replayed onto it (a log
//! holding records of another id makes the open refuse). It holds one fact of its own,
//! [`DIGEST`]: a SHA-256 over every table's entries in order, so a byte changed in the copy
//! (a document, an index, a run) is found before the copy replaces anything.
//!
//! A restore copies the backup into the target's folder, checks it there (every table, the
//! index format, the digest), lets the engine check its audit chain, and swaps it in while
//! holding the target's lock: the old file stays under a `.before-restore-…` name (a hard
//! link, then an atomic rename of the copy over the target), and its redo log follows it
//! only after the swap, so a crash at any point leaves either the old store whole or the
//! restored one, and never a log replayable onto the restored file.
//!
//! This module must never leave a file at a target name that is not complete and synced,
//! and never replace a store file whose lock another process holds.

use super::layout::{AUDIT, Bytes, COUNTERS, DOC_INDEX, DOCS, INDEX_FORMAT, META, RUN_INDEX, RUNS};
use super::wal::{LOG_ID, LOG_LSN, log_path};
use super::{Db, RedbStore};
use crate::error::{Error, ErrorCode, Result};
use redb::{
    ConcurrencyMode, Database, DatabaseError, Durability, ReadTransaction, ReadableDatabase,
    ReadableTable, ReadableTableMetadata, TableDefinition, TableHandle, WriteTransaction,
};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::fs::File;
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The fact a backup carries: the hex SHA-256 of every entry of every table (this fact
/// aside), in table order then key order.
const DIGEST: &str = "backup_digest";

/// Bytes of entries copied per write transaction of the copy (committed without a sync
/// until the last): a large store is never held in one transaction's memory.
const COPY_CHUNK_BYTES: usize = 32 << 20;

/// Bytes of the copy redb caches while writing or checking it.
const COPY_CACHE_BYTES: usize = 16 << 20;

/// The tables with byte-string keys, in the order the digest covers them (the audit trail,
/// keyed by number, comes last).
const BYTE_TABLES: [TableDefinition<Bytes, Bytes>; 6] =
    [DOCS, RUNS, RUN_INDEX, DOC_INDEX, COUNTERS, META];

/// Store facts that belong to one file and its redo log, never to a copy of it.
const FILE_FACTS: [&str; 3] = [LOG_ID, LOG_LSN, DIGEST];

/// What [`crate::Engine::backup`] wrote.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct BackupReport {
    /// The backup file.
    pub path: PathBuf,
    /// Its size in bytes.
    pub bytes: u64,
    /// Tables copied.
    pub tables: u64,
    /// Documents copied (the audit trail's entries are counted apart).
    pub documents: u64,
    /// Run records copied.
    pub runs: u64,
    /// Audit entries copied.
    pub audit_entries: u64,
    /// The audit trail's head in the snapshot copied (`{"seq": N, "hash": "…"}`), if any.
    pub audit_head: Option<serde_json::Value>,
    /// The SHA-256 the copy carries over its entries (checked by a restore).
    pub digest: String,
    /// How long the backup took, in milliseconds.
    pub elapsed_ms: u64,
}

impl RedbStore {
    /// Write a consistent copy of everything committed to `target` (see the module's notes);
    /// refused when `target` exists, unless `overwrite`.
    pub(crate) fn backup(&self, target: &Path, overwrite: bool) -> Result<BackupReport> {
        let started = Instant::now();
        if !overwrite && target.exists() {
            return Err(Error::new(
                ErrorCode::Conflict,
                format!(
                    "backup target {} exists; choose another file or allow replacing it \
                     (--force)",
                    target.display()
                ),
            ));
        }
        let folder = folder_of(target)?;
        if let Some(source) = &self.file.path
            && same_file(source, target)
        {
            return Err(Error::bad_request(format!(
                "backup target {} is the store file itself",
                target.display()
            )));
        }
        let partial = temporary_in(&folder, target, "partial")?;
        let snapshot = match &*self.db()? {
            Some(Db::Writer(db)) => db.begin_read(),
            Some(Db::Reader(db)) => db.begin_read(),
            None => unreachable!("`db()` returns an open database"),
        }
        .map_err(|e| Error::Storage(self.explained(e)))?;
        let mut report = copy_snapshot(&snapshot, &partial)?;
        drop(snapshot);
        if let Some(source) = &self.file.path {
            keep_permissions(source, &partial)?;
        }
        File::open(&partial)
            .and_then(|file| file.sync_all())
            .map_err(|e| io_failure("syncing the backup", &partial, &e))?;
        let persisted = if overwrite {
            partial.persist(target).map_err(|e| e.error)
        } else {
            partial.persist_noclobber(target).map_err(|e| e.error)
        };
        persisted.map_err(|e| io_failure("naming the backup", target, &e))?;
        sync_folder(&folder);
        report.path = target.to_path_buf();
        report.bytes = std::fs::metadata(target)
            .map_err(|e| io_failure("reading the backup's size", target, &e))?
            .len();
        report.elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        Ok(report)
    }
}

/// Copy every table of `snapshot` into a new redb file at `path`, committed durably, with
/// the digest of what was copied.
fn copy_snapshot(snapshot: &ReadTransaction, path: &Path) -> Result<BackupReport> {
    let known: Vec<&str> = BYTE_TABLES.iter().map(TableHandle::name).collect();
    for table in snapshot.list_tables()? {
        if !known.contains(&table.name()) && table.name() != AUDIT.name() {
            return Err(Error::Storage(format!(
                "the store holds a table this version does not know ({}): a backup would \
                 miss it",
                table.name()
            )));
        }
    }
    let copy = Database::builder()
        .set_cache_size(COPY_CACHE_BYTES)
        .create(path)
        .map_err(|e| Error::Storage(format!("cannot create the backup {}: {e}", path.display())))?;
    let mut digest = Sha256::new();
    for table in BYTE_TABLES {
        copy_table(snapshot, &copy, table, &mut digest)?;
    }
    copy_audit(snapshot, &copy, &mut digest)?;
    let mut txn = copy.begin_write()?;
    txn.set_durability(Durability::Immediate)
        .map_err(|e| Error::Storage(e.to_string()))?;
    let digest = hex(&digest.finalize());
    txn.open_table(META)?
        .insert(DIGEST.as_bytes(), digest.as_bytes())?;
    txn.commit()?;
    drop(copy);
    let docs = snapshot.open_table(DOCS)?;
    let meta = snapshot.open_table(META)?;
    let head = meta.get(crate::audit::HEAD.as_bytes())?;
    Ok(BackupReport {
        path: path.to_path_buf(),
        bytes: 0,
        tables: BYTE_TABLES.len() as u64 + 1,
        documents: docs.len()?,
        runs: snapshot.open_table(RUNS)?.len()?,
        audit_entries: snapshot.open_table(AUDIT)?.len()?,
        audit_head: head.and_then(|head| serde_json::from_slice(head.value()).ok()),
        digest,
        elapsed_ms: 0,
    })
}

/// Feed one entry to the digest: table, key and value, each length-prefixed.
fn digest_entry(digest: &mut Sha256, table: &str, key: &[u8], value: &[u8]) {
    for part in [table.as_bytes(), key, value] {
        digest.update((part.len() as u64).to_le_bytes());
        digest.update(part);
    }
}

/// Copy one byte-keyed table (the file's own facts left out), a chunk per transaction.
fn copy_table(
    snapshot: &ReadTransaction,
    copy: &Database,
    definition: TableDefinition<Bytes, Bytes>,
    digest: &mut Sha256,
) -> Result<()> {
    let source = snapshot.open_table(definition)?;
    let mut after: Option<Vec<u8>> = None;
    loop {
        let txn = chunk_transaction(copy)?;
        let mut done = true;
        {
            let mut table = txn.open_table(definition)?;
            let lower = after.as_deref().map_or(Bound::Unbounded, Bound::Excluded);
            let mut bytes = 0;
            for entry in source.range::<&[u8]>((lower, Bound::Unbounded))? {
                let (key, value) = entry?;
                let (key, value) = (key.value(), value.value());
                if definition.name() == META.name() && is_file_fact(key) {
                    continue;
                }
                digest_entry(digest, definition.name(), key, value);
                table.insert(key, value)?;
                bytes += key.len() + value.len();
                if bytes >= COPY_CHUNK_BYTES {
                    after = Some(key.to_vec());
                    done = false;
                    break;
                }
            }
        }
        txn.commit()?;
        if done {
            return Ok(());
        }
    }
}

/// Copy the audit trail, a chunk per transaction.
fn copy_audit(snapshot: &ReadTransaction, copy: &Database, digest: &mut Sha256) -> Result<()> {
    let source = snapshot.open_table(AUDIT)?;
    let mut next = 0;
    loop {
        let txn = chunk_transaction(copy)?;
        let mut done = true;
        {
            let mut table = txn.open_table(AUDIT)?;
            let mut bytes = 0;
            for entry in source.range(next..)? {
                let (seq, value) = entry?;
                let (seq, value) = (seq.value(), value.value());
                digest_entry(digest, AUDIT.name(), &seq.to_be_bytes(), value);
                table.insert(seq, value)?;
                bytes += value.len() + 8;
                if bytes >= COPY_CHUNK_BYTES && seq < u64::MAX {
                    next = seq + 1;
                    done = false;
                    break;
                }
            }
        }
        txn.commit()?;
        if done {
            return Ok(());
        }
    }
}

/// A write transaction of the copy that is not synced: only its last commit is.
fn chunk_transaction(copy: &Database) -> Result<WriteTransaction> {
    let mut txn = copy.begin_write()?;
    txn.set_durability(Durability::None)
        .map_err(|e| Error::Storage(e.to_string()))?;
    Ok(txn)
}

fn is_file_fact(key: &[u8]) -> bool {
    FILE_FACTS.iter().any(|fact| fact.as_bytes() == key)
}

/// Recompute the digest of the store file at `path` (its own facts aside) and return it
/// with the one it carries, if any.
fn digest_of(txn: &ReadTransaction) -> Result<(String, Option<String>)> {
    let mut digest = Sha256::new();
    let mut carried = None;
    for definition in BYTE_TABLES {
        for entry in txn.open_table(definition)?.iter()? {
            let (key, value) = entry?;
            let (key, value) = (key.value(), value.value());
            if definition.name() == META.name() && is_file_fact(key) {
                if key == DIGEST.as_bytes() {
                    carried = Some(String::from_utf8_lossy(value).into_owned());
                }
                continue;
            }
            digest_entry(&mut digest, definition.name(), key, value);
        }
    }
    for entry in txn.open_table(AUDIT)?.iter()? {
        let (seq, value) = entry?;
        digest_entry(
            &mut digest,
            AUDIT.name(),
            &seq.value().to_be_bytes(),
            value.value(),
        );
    }
    Ok((hex(&digest.finalize()), carried))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A backup copied into the folder of the store it is to replace, checked there, waiting to
/// be swapped in ([`StagedCopy::install`]); removed if dropped before.
pub(crate) struct StagedCopy {
    path: tempfile::TempPath,
    /// Whether the copy carried a digest (a file made by a backup does; a store file copied
    /// while closed does not).
    pub(crate) digest_checked: bool,
}

/// The error refusing `backup` as a restore source, for `why`.
fn refused(backup: &Path, why: &str) -> Error {
    Error::bad_request(format!(
        "{} cannot be restored: {why}; nothing was replaced",
        backup.display()
    ))
}

/// Copy `backup` beside `target` and check the copy: a coworker store (every table, the
/// index format), whose entries match the digest it carries.
pub(crate) fn stage(backup: &Path, target: &Path) -> Result<StagedCopy> {
    if !backup.is_file() {
        return Err(Error::not_found(format!(
            "backup {} does not exist; nothing was replaced",
            backup.display()
        )));
    }
    let folder = folder_of(target)?;
    let staged = temporary_in(&folder, target, "restoring")?;
    std::fs::copy(backup, &staged).map_err(|e| io_failure("copying the backup", backup, &e))?;
    let db = Database::builder()
        .set_cache_size(COPY_CACHE_BYTES)
        .set_concurrency_mode(ConcurrencyMode::ExclusiveWriter)
        .open(&staged)
        .map_err(|e| refused(backup, &format!("it is not a store file ({e})")))?;
    let txn = db.begin_read()?;
    for table in BYTE_TABLES {
        txn.open_table(table)
            .map_err(|e| refused(backup, &format!("it is not a coworker store ({e})")))?;
    }
    txn.open_table(AUDIT)
        .map_err(|e| refused(backup, &format!("it is not a coworker store ({e})")))?;
    let format = txn.open_table(META)?.get(b"index_format".as_slice())?;
    if format.map(|f| f.value().to_vec()) != Some(INDEX_FORMAT.to_vec()) {
        return Err(refused(
            backup,
            "it is not a coworker store of this version (no index format mark)",
        ));
    }
    let (computed, carried) = digest_of(&txn)?;
    drop(txn);
    if let Some(carried) = &carried
        && *carried != computed
    {
        return Err(refused(
            backup,
            &format!(
                "its content does not match the digest it was written with (carried \
                 {carried}, computed {computed}): it was altered or damaged"
            ),
        ));
    }
    // The restored store is a store file like any other from here: the digest described
    // the copy, not what the store will hold.
    let mut txn = db.begin_write()?;
    txn.set_durability(Durability::Immediate)
        .map_err(|e| Error::Storage(e.to_string()))?;
    txn.open_table(META)?.remove(DIGEST.as_bytes())?;
    txn.commit()?;
    drop(db);
    File::open(&staged)
        .and_then(|file| file.sync_all())
        .map_err(|e| io_failure("syncing the restored copy", &staged, &e))?;
    Ok(StagedCopy {
        path: staged,
        digest_checked: carried.is_some(),
    })
}

impl StagedCopy {
    /// Where the staged copy is (to open it and check its audit chain).
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Swap the copy in for `target`, holding `target`'s lock (waiting up to `lock_timeout`
    /// for a process that has it open): the old file is kept under the name returned, its
    /// redo log beside it. Without an old file, an old redo log at the target is set aside
    /// the same way.
    pub(crate) fn install(self, target: &Path, lock_timeout: Duration) -> Result<SetAside> {
        let folder = folder_of(target)?;
        let aside = aside_name(target);
        let old = if target.exists() {
            // Held until the swap is done: no process opens the old file meanwhile.
            let held = lock_store(target, lock_timeout)?;
            keep_permissions(target, &self.path)?;
            std::fs::hard_link(target, &aside)
                .map_err(|e| io_failure("keeping the old store file", &aside, &e))?;
            sync_folder(&folder);
            Some(held)
        } else {
            None
        };
        self.path
            .persist(target)
            .map_err(|e| io_failure("moving the restored copy into place", target, &e.error))?;
        sync_folder(&folder);
        // After the swap: until the old log has moved, it cannot be replayed onto the copy
        // (it names another log id, so opening the store refuses, naming the log).
        let log = log_path(target);
        if log.exists() {
            std::fs::rename(&log, log_path(&aside))
                .map_err(|e| io_failure("moving the old redo log aside", &log, &e))?;
            sync_folder(&folder);
        }
        let set_aside = SetAside {
            store: old.is_some().then(|| aside.clone()),
            log: log_path(&aside).exists().then(|| log_path(&aside)),
        };
        drop(old);
        Ok(set_aside)
    }
}

/// Where a restore put what it replaced.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct SetAside {
    /// The old store file, if there was one.
    pub(crate) store: Option<PathBuf>,
    /// Its redo log, if there was one.
    pub(crate) log: Option<PathBuf>,
}

/// Open the store file at `path` for writing (redb's own lock), waiting up to `timeout`
/// while another process holds it.
fn lock_store(path: &Path, timeout: Duration) -> Result<Database> {
    let started = Instant::now();
    let mut pause = Duration::from_millis(5);
    loop {
        match Database::builder()
            .set_cache_size(COPY_CACHE_BYTES)
            .set_concurrency_mode(ConcurrencyMode::ExclusiveWriter)
            .open(path)
        {
            Ok(db) => return Ok(db),
            Err(DatabaseError::DatabaseAlreadyOpen) if started.elapsed() < timeout => {
                std::thread::sleep(pause.min(timeout - started.elapsed()));
                pause = (pause * 2).min(Duration::from_millis(200));
            }
            Err(DatabaseError::DatabaseAlreadyOpen) => {
                return Err(Error::Storage(format!(
                    "cannot restore over {}: another process has it open; waited {} ms for \
                     it (--lock-timeout); nothing was replaced",
                    path.display(),
                    started.elapsed().as_millis()
                )));
            }
            Err(e) => {
                return Err(Error::Storage(format!(
                    "cannot restore over {}: it cannot be opened as a store file ({e}); move \
                     it away first; nothing was replaced",
                    path.display()
                )));
            }
        }
    }
}

/// The name the old store file keeps after a restore: `<file>.before-restore-<UTC time>`.
fn aside_name(target: &Path) -> PathBuf {
    let stamp = jiff::Timestamp::now()
        .strftime("%Y%m%dT%H%M%S%.3fZ")
        .to_string();
    let mut name = target.as_os_str().to_owned();
    name.push(format!(".before-restore-{stamp}"));
    PathBuf::from(name)
}

/// The folder a file at `target` goes into (it must exist).
fn folder_of(target: &Path) -> Result<PathBuf> {
    let folder = match target.parent() {
        Some(folder) if !folder.as_os_str().is_empty() => folder.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if !folder.is_dir() {
        return Err(Error::bad_request(format!(
            "the folder of {} does not exist",
            target.display()
        )));
    }
    Ok(folder)
}

/// A new empty file in `folder` named after `target` (`.<name>.<purpose>-…`), removed when
/// dropped (a killed process leaves it, under that name only).
fn temporary_in(folder: &Path, target: &Path, purpose: &str) -> Result<tempfile::TempPath> {
    let name = target.file_name().unwrap_or_default().to_string_lossy();
    tempfile::Builder::new()
        .prefix(&format!(".{name}.{purpose}-"))
        .tempfile_in(folder)
        .map(tempfile::NamedTempFile::into_temp_path)
        .map_err(|e| io_failure("creating a temporary file", folder, &e))
}

/// Give the file at `to` the permissions of the file at `from` (a copy is readable by
/// whoever could read the store, no more).
fn keep_permissions(from: &Path, to: &Path) -> Result<()> {
    std::fs::metadata(from)
        .and_then(|meta| std::fs::set_permissions(to, meta.permissions()))
        .map_err(|e| io_failure("copying the store file's permissions", to, &e))
}

/// Whether two paths name the same existing file.
fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// Make renames in `folder` durable (best effort where the OS cannot sync a folder).
fn sync_folder(folder: &Path) {
    if let Ok(folder) = File::open(folder) {
        let _ = folder.sync_all();
    }
}

fn io_failure(doing: &str, path: &Path, e: &std::io::Error) -> Error {
    Error::Storage(format!(
        "{}: {}",
        path.display(),
        super::backend::describe(doing, e)
    ))
}
