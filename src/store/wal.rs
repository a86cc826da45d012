//! The redo log beside a store file (`<file>.wal`): what makes a batch durable with one
//! fdatasync of one sequential append, instead of a redb commit that writes and syncs every
//! B-tree page it touched.
//!
//! A batch's changes are captured as [`Changes`] while its writers make them (every put and
//! remove on a table, in order, rollbacks included), committed to redb without an fsync
//! (`Durability::None`: the pages stay in redb's memory), appended to the log as one record,
//! and acknowledged once an fdatasync of the log covers that record. A checkpoint (a redb
//! commit with `Durability::Immediate`) makes every earlier commit durable in the store file
//! itself; the log then starts over. Every open for writing recovers: redb returns to its
//! last durable commit, and the log's records above the LSN that commit stored are replayed
//! in order, up to the first torn or stale one (never acknowledged).
//!
//! The file: a 32-byte header (magic, the store's log id, a checksum), then records of
//! `lsn u64 | length u32 | crc32 u32 | payload`, each checksum covering the store's log id,
//! the LSN, the length and the payload. The file starts at 64 KiB and grows with written
//! zeros, 256 KiB at a time, and is reused from the start after each checkpoint, so an append rarely changes its
//! size and its fdatasync flushes data, not inode metadata. The zeros are written a page at a
//! time: the page cache then holds the file in page-sized folios, and an fdatasync writes the
//! page or two an append dirtied (one large write would make large folios, and each sync
//! would write a whole one: a megabyte per commit on ext4). Bytes past the tail are stale
//! records (lower LSNs) or zeros: a record counts only if its checksum holds and its LSN
//! follows the previous one. Each open for writing starts a fresh log file (after replaying
//! the old one), so pages read during recovery never serve appends.
//!
//! This module must never acknowledge a record it has not synced, never replay a record
//! past the first invalid one, and never drop a log that belongs to another store silently.

use super::backend::{self, Health};
use super::layout::META;
use crate::error::{Error, Result};
use redb::{Database, Durability, ReadableTable};
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

mod format;
use format::*;
pub(super) use format::{Changes, LoggedTable};

/// The store fact holding the store's log id: a log whose header names another id belongs
/// to another store file.
pub(super) const LOG_ID: &str = "redo_log_id";
/// The store fact holding the LSN of the last batch the store file holds.
pub(super) const LOG_LSN: &str = "redo_log_lsn";

/// How much the file grows at a time, in written zeros (bytes).
const GROWTH: u64 = 256 << 10;
/// The length of a new log file (bytes): small, as a store opened for one command writes
/// little.
const INITIAL_LEN: u64 = 64 << 10;
/// The unit zeros are written in (bytes): a page.
const PAGE: usize = 4096;
/// A log longer than this (bytes) is checkpointed by the next batch.
pub(super) const CHECKPOINT_SIZE: u64 = 16 << 20;

/// Where the log of the store file at `store` lives.
pub(super) fn log_path(store: &Path) -> PathBuf {
    let mut name = store.as_os_str().to_owned();
    name.push(".wal");
    PathBuf::from(name)
}

/// The open redo log of a store opened for writing.
#[derive(Debug)]
pub(super) struct RedoLog {
    file: Arc<File>,
    path: PathBuf,
    /// The store file, as fault injection knows it.
    store: PathBuf,
    id: u64,
    /// Where the next record goes.
    tail: u64,
    /// The file's length: written bytes (zeros past the tail).
    allocated: u64,
    /// The LSN of the last record appended (or of the last batch the store file holds).
    last_lsn: u64,
    /// The last record appended whose batch is not yet committed to redb, as (LSN, offset):
    /// taken back if that commit fails or panics (see [`RedoLog::retract_unconfirmed`]).
    unconfirmed: Option<(u64, u64)>,
    health: Arc<Health>,
}

impl RedoLog {
    /// The LSN of the last batch appended or checkpointed.
    pub(super) fn last_lsn(&self) -> u64 {
        self.last_lsn
    }

    /// Bytes of records since the last checkpoint.
    pub(super) fn len(&self) -> u64 {
        self.tail - HEADER_LEN
    }

    /// What syncs the log, outside the lock that guards appends.
    pub(super) fn syncer(&self) -> Syncer {
        Syncer {
            file: self.file.clone(),
            store: self.store.clone(),
            health: self.health.clone(),
        }
    }

    /// `result` of `operation` on the log, its failure remembered as the store's.
    fn watch<T>(&self, operation: &str, result: io::Result<T>) -> std::result::Result<T, String> {
        result.map_err(|e| {
            self.health.failed(operation, &e);
            backend::describe(operation, &e)
        })
    }

    /// Append `changes` as the record of the next LSN (not synced: see [`Syncer::sync`]) and
    /// return that LSN; it is unconfirmed until [`RedoLog::confirm`]. On failure nothing is
    /// appended: the tail stays where it was. Refused once the store failed (a write or sync
    /// of the log or the store file): a record after one that may be lost could be
    /// acknowledged, yet recovery stops at the lost one. The store logs again once reopened.
    pub(super) fn append(&mut self, changes: &mut Changes) -> std::result::Result<u64, String> {
        if let Some(cause) = self.health.failure() {
            return Err(format!(
                "the store failed earlier and logs nothing more until it is reopened: {cause}"
            ));
        }
        // A record whose commit never confirmed it (a panic nobody caught) goes first.
        self.retract_unconfirmed();
        let lsn = self.last_lsn + 1;
        let payload = changes.bytes();
        let len = u32::try_from(payload.len())
            .map_err(|_| "a batch of 4 GiB or more cannot be logged".to_string())?;
        let mut head = [0u8; RECORD_HEADER_LEN];
        head[..8].copy_from_slice(&lsn.to_le_bytes());
        head[8..12].copy_from_slice(&len.to_le_bytes());
        let crc = crc32(&[&self.id.to_le_bytes(), &head[..12], payload]);
        head[12..].copy_from_slice(&crc.to_le_bytes());
        let end = self.tail + (RECORD_HEADER_LEN + payload.len()) as u64;
        if end > self.allocated {
            let grown = end.next_multiple_of(GROWTH);
            let result = backend::injected_fault(&self.store)
                .and_then(|()| write_zeros(&self.file, self.allocated, grown));
            self.watch("growing the redo log", result)?;
            self.allocated = grown;
        }
        let record = changes.record(&head);
        let result = backend::injected_fault(&self.store)
            .and_then(|()| self.file.write_all_at(record, self.tail));
        self.watch("appending to the redo log", result)?;
        self.unconfirmed = Some((lsn, self.tail));
        self.tail = end;
        self.last_lsn = lsn;
        Ok(lsn)
    }

    /// The batch of the last record appended is committed to redb: the record stays.
    pub(super) fn confirm(&mut self) {
        self.unconfirmed = None;
    }

    /// Take back the last record appended if its batch was not committed (the commit failed
    /// or panicked, and its writers are told it failed): its header is zeroed and synced, so
    /// no recovery replays it even if a sync of earlier records already carried its bytes
    /// to disk, and its LSN and place go to the next record. Should the zeroing fail, the
    /// store is marked failed (its writes refused until reopened), and the record may be
    /// replayed like a batch whose sync failed.
    pub(super) fn retract_unconfirmed(&mut self) {
        let Some((lsn, start)) = self.unconfirmed.take() else {
            return;
        };
        debug_assert_eq!(lsn, self.last_lsn, "only the last record is unconfirmed");
        let result = self
            .file
            .write_all_at(&[0u8; RECORD_HEADER_LEN], start)
            .and_then(|()| self.file.sync_data());
        if let Err(e) = result {
            self.health
                .failed("retracting a record of the redo log", &e);
        }
        self.tail = start;
        self.last_lsn = lsn - 1;
    }

    /// The store file now holds every batch (a checkpoint): the log starts over. Its first
    /// record is zeroed, so a log at rest holds no record to replay.
    pub(super) fn checkpointed(&mut self) {
        self.unconfirmed = None;
        if self.tail > HEADER_LEN {
            self.clear_first_record();
        }
        self.tail = HEADER_LEN;
    }

    fn clear_first_record(&self) {
        if let Err(e) = self
            .file
            .write_all_at(&[0u8; RECORD_HEADER_LEN], HEADER_LEN)
        {
            // Harmless: the records it left hold LSNs the store file has.
            tracing::warn!(
                "the redo log {}: its first record could not be cleared: {e}",
                self.path.display()
            );
        }
    }
}

/// A handle that makes a log's appended records durable, used outside the appends' lock.
pub(super) struct Syncer {
    file: Arc<File>,
    store: PathBuf,
    health: Arc<Health>,
}

impl Syncer {
    /// fdatasync the log: every record appended before this call is durable after it.
    /// Refused once the store failed: after a failed sync, a later one may succeed although
    /// the pages the failed one did not write are lost (Linux reports a writeback error
    /// once), and the records after them would be acknowledged yet never replayed.
    pub(super) fn sync(&self) -> std::result::Result<(), String> {
        if let Some(cause) = self.health.failure() {
            return Err(format!(
                "the redo log was not synced: the store failed earlier and must be reopened: \
                 {cause}"
            ));
        }
        let operation = "syncing the redo log";
        backend::injected_fault(&self.store)
            .and_then(|()| self.file.sync_data())
            .map_err(|e| {
                self.health.failed(operation, &e);
                backend::describe(operation, &e)
            })
    }
}

/// Recover the store file whose database was just opened for writing from its log at
/// `<store>.wal`: replay the valid records above the LSN the store file holds, make them
/// durable in the store file, and return the log ready for appends (created if missing).
///
/// A log that cannot be read, is not a redo log, or belongs to another store file and still
/// holds records is refused with a storage error saying what to do.
pub(super) fn recover(db: &Database, store: &Path, health: &Arc<Health>) -> Result<RedoLog> {
    let path = log_path(store);
    let refused = |why: &str| {
        Error::Storage(format!(
            "store {}: its redo log {} {why}; move the log away to open the store without it \
             (the writes it holds beyond the store file's last checkpoint are then lost)",
            store.display(),
            path.display()
        ))
    };
    let image = match std::fs::read(&path) {
        Ok(image) => Some(image),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(refused(&format!("cannot be read: {e}"))),
    };
    let txn = db.begin_write()?;
    let (id, checkpoint, known) = {
        let meta = txn.open_table(META)?;
        let fact = |key: &str| -> Result<Option<u64>> {
            Ok(match meta.get(key.as_bytes())? {
                Some(bytes) => Some(u64::from_be_bytes(bytes.value().try_into().map_err(
                    |_| Error::Storage(format!("the store fact `{key}` is corrupt")),
                )?)),
                None => None,
            })
        };
        let id = fact(LOG_ID)?;
        (
            id.unwrap_or_else(|| ulid::Ulid::new().random() as u64 | 1),
            fact(LOG_LSN)?.unwrap_or(0),
            id.is_some(),
        )
    };
    let mut last_lsn = checkpoint;
    if let Some(image) = &image {
        match read_header(image) {
            Header::Absent => {}
            Header::Garbage => return Err(refused("is not a coworker redo log")),
            Header::Of(other) if !known || other != id => {
                if !records(image, other).is_empty() {
                    return Err(refused(
                        "belongs to another store file and holds writes not in this one",
                    ));
                }
            }
            Header::Of(_) => {
                let replay =
                    to_replay(records(image, id), checkpoint).map_err(|why| refused(&why))?;
                for (lsn, range) in replay {
                    let changes = decode(&image[range])
                        .map_err(|why| refused(&format!("holds a record with {why}")))?;
                    apply(&txn, &changes)?;
                    last_lsn = lsn;
                }
                if last_lsn > checkpoint {
                    tracing::info!(
                        "store {}: replayed {} batches from its redo log",
                        store.display(),
                        last_lsn - checkpoint
                    );
                }
            }
        }
    }
    if !known || last_lsn != checkpoint {
        let mut meta = txn.open_table(META)?;
        meta.insert(LOG_ID.as_bytes(), id.to_be_bytes().as_slice())?;
        meta.insert(LOG_LSN.as_bytes(), last_lsn.to_be_bytes().as_slice())?;
        drop(meta);
        let mut txn = txn;
        txn.set_durability(Durability::Immediate)
            .map_err(|e| Error::Storage(e.to_string()))?;
        txn.commit()?;
    } else {
        txn.abort()?;
    }
    let store_key = store.canonicalize().unwrap_or_else(|_| store.to_path_buf());
    // Whatever the old log held is in the store file now: a fresh one replaces it.
    let file = create_log(&path, id).map_err(|e| {
        Error::Storage(format!(
            "store {}: {}",
            store.display(),
            backend::describe(&format!("preparing the redo log {}", path.display()), &e)
        ))
    })?;
    let allocated = file.metadata().map(|m| m.len()).unwrap_or(0);
    Ok(RedoLog {
        file: Arc::new(file),
        path,
        store: store_key,
        id,
        tail: HEADER_LEN,
        allocated,
        last_lsn,
        unconfirmed: None,
        health: health.clone(),
    })
}

/// Write zeros over `from..to` of `file`, a page at a time (see the module's notes).
fn write_zeros(file: &File, from: u64, to: u64) -> io::Result<()> {
    let page = [0u8; PAGE];
    let mut at = from;
    while at < to {
        let len = (to - at).min(PAGE as u64 - at % PAGE as u64) as usize;
        file.write_all_at(&page[..len], at)?;
        at += len as u64;
    }
    Ok(())
}

/// Create the log at `path` whole: header and a first stretch of zeros, written and synced
/// under a temporary name, then renamed into place (a log is never seen half-made). Called
/// with the store file locked, so temporary logs left by killed processes are removed.
fn create_log(path: &Path, id: u64) -> io::Result<File> {
    let mut prefix = path.file_name().unwrap_or_default().to_owned();
    prefix.push(".creating-");
    let prefix = prefix.to_string_lossy().into_owned();
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            if entry.file_name().to_string_lossy().starts_with(&prefix) {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
    let temp = dir.join(format!("{prefix}{}", std::process::id()));
    let file = File::options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&temp)?;
    let mut first = [0u8; PAGE];
    first[..HEADER_LEN as usize].copy_from_slice(&header(id));
    file.write_all_at(&first, 0)?;
    write_zeros(&file, PAGE as u64, INITIAL_LEN)?;
    file.sync_all()?;
    std::fs::rename(&temp, path)?;
    if let Ok(dir) = File::open(dir) {
        let _ = dir.sync_all();
    }
    Ok(file)
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use std::ops::Range;

    /// Zero the second half of the last valid record of the log at `path` (a write the
    /// crash cut short); returns that record's LSN.
    pub(in crate::store) fn tear_last_record(path: &Path) -> u64 {
        let image = std::fs::read(path).unwrap();
        let Header::Of(id) = read_header(&image) else {
            panic!("not a log")
        };
        let (lsn, range) = records(&image, id).pop().expect("the log holds records");
        let middle = (range.start + range.end) / 2;
        let file = File::options().write(true).open(path).unwrap();
        file.write_all_at(&vec![0u8; range.end - middle], middle as u64)
            .unwrap();
        lsn
    }

    const ID: u64 = 0xC0FFEE;

    /// A log image holding one record per payload, LSNs from `first`.
    fn image(id: u64, first: u64, payloads: &[&[u8]]) -> Vec<u8> {
        let mut image = header(id).to_vec();
        for (i, payload) in payloads.iter().enumerate() {
            let lsn = first + i as u64;
            let mut head = [0u8; RECORD_HEADER_LEN];
            head[..8].copy_from_slice(&lsn.to_le_bytes());
            head[8..12].copy_from_slice(&(payload.len() as u32).to_le_bytes());
            let crc = crc32(&[&id.to_le_bytes(), &head[..12], payload]);
            head[12..].copy_from_slice(&crc.to_le_bytes());
            image.extend_from_slice(&head);
            image.extend_from_slice(payload);
        }
        image
    }

    fn lsns(found: &[(u64, Range<usize>)]) -> Vec<u64> {
        found.iter().map(|(lsn, _)| *lsn).collect()
    }

    #[test]
    fn changes_decode_to_what_was_captured() {
        let mut changes = Changes::default();
        changes.put(LoggedTable::Docs, b"Note\0a", b"{}");
        changes.remove(LoggedTable::DocIndex, b"k");
        changes.put(LoggedTable::Audit, &7u64.to_be_bytes(), b"");
        assert_eq!(
            decode(changes.bytes()).unwrap(),
            [
                Change::Put(LoggedTable::Docs, b"Note\0a", b"{}"),
                Change::Remove(LoggedTable::DocIndex, b"k"),
                Change::Put(LoggedTable::Audit, &7u64.to_be_bytes(), b""),
            ]
        );
        let bytes = changes.bytes();
        assert!(decode(&bytes[..bytes.len() - 1]).is_err(), "a cut change");
    }

    #[test]
    fn a_torn_last_record_ends_the_log() {
        let whole = image(ID, 1, &[b"one", b"two", b"three"]);
        assert_eq!(lsns(&records(&whole, ID)), [1, 2, 3]);
        for cut in 1..(RECORD_HEADER_LEN + 5) {
            let torn = &whole[..whole.len() - cut];
            assert_eq!(lsns(&records(torn, ID)), [1, 2], "cut {cut} bytes");
        }
        let mut flipped = whole.clone();
        *flipped.last_mut().unwrap() ^= 1;
        assert_eq!(lsns(&records(&flipped, ID)), [1, 2], "a corrupt payload");
    }

    #[test]
    fn stale_bytes_after_the_tail_are_not_records() {
        // An earlier round wrote LSNs 1..=3; after a checkpoint at 3, LSN 4 overwrote the
        // first one (same length): LSNs 2 and 3 still follow it, stale.
        let mut reused = image(ID, 1, &[b"aaa", b"bbb", b"ccc"]);
        let fresh = image(ID, 4, &[b"ddd"]);
        reused[..fresh.len()].copy_from_slice(&fresh);
        assert_eq!(lsns(&records(&reused, ID)), [4]);
        // Zeros past the tail end the log too.
        let mut zeroed = image(ID, 1, &[b"x"]);
        zeroed.extend_from_slice(&[0u8; 64]);
        assert_eq!(lsns(&records(&zeroed, ID)), [1]);
    }

    #[test]
    fn records_of_another_store_do_not_count() {
        let theirs = image(ID + 1, 1, &[b"x"]);
        assert!(records(&theirs, ID).is_empty());
        assert_eq!(read_header(&theirs), Header::Of(ID + 1));
        assert_eq!(read_header(&[0u8; 40]), Header::Absent);
        assert_eq!(
            read_header(b"not a log at all, certainly not"),
            Header::Garbage
        );
    }

    #[test]
    fn replay_starts_after_the_checkpoint_and_refuses_a_gap() {
        let log = image(ID, 5, &[b"a", b"b", b"c"]);
        let found = records(&log, ID);
        assert_eq!(lsns(&to_replay(found.clone(), 4).unwrap()), [5, 6, 7]);
        assert_eq!(lsns(&to_replay(found.clone(), 6).unwrap()), [7]);
        assert!(to_replay(found.clone(), 9).unwrap().is_empty());
        let gap = to_replay(found, 2).unwrap_err();
        assert!(gap.contains("LSN 5") && gap.contains("LSN 2"), "{gap}");
    }

    #[test]
    fn a_log_whose_store_failed_refuses_appends_and_syncs_until_reopened() {
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("s.redb");
        let db = Database::create(&store).unwrap();
        let health = Arc::new(Health::default());
        let mut log = recover(&db, &store, &health).unwrap();
        let mut changes = Changes::default();
        changes.put(LoggedTable::Docs, b"Note\0a", b"{}");
        assert_eq!(log.append(&mut changes), Ok(1));
        log.confirm();
        let syncer = log.syncer();
        syncer.sync().unwrap();
        // A sync (or any write of the store) failed: Linux may report that once, and a
        // later sync succeed although the failed one's pages are lost.
        health.failed_with("syncing the redo log failed: EIO");
        let refused = syncer.sync().unwrap_err();
        assert!(refused.contains("EIO"), "{refused}");
        let refused = log.append(&mut changes).unwrap_err();
        assert!(refused.contains("reopened"), "{refused}");
        assert_eq!(log.last_lsn(), 1, "nothing appended");
        drop(log);
        // A reopen recovers the log's records and logs again.
        health.cleared();
        let mut reopened = recover(&db, &store, &health).unwrap();
        assert_eq!(reopened.last_lsn(), 1);
        assert_eq!(reopened.append(&mut changes), Ok(2));
    }

    #[test]
    fn a_retracted_record_is_not_replayed_and_its_lsn_goes_to_the_next() {
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("s.redb");
        let db = Database::create(&store).unwrap();
        let health = Arc::new(Health::default());
        let mut log = recover(&db, &store, &health).unwrap();
        let mut changes = Changes::default();
        changes.put(LoggedTable::Docs, b"Note\0a", b"{}");
        assert_eq!(log.append(&mut changes), Ok(1));
        log.confirm();
        changes.clear();
        changes.put(LoggedTable::Docs, b"Note\0failed", b"{\"long\": true}");
        assert_eq!(log.append(&mut changes), Ok(2));
        log.retract_unconfirmed();
        let image = std::fs::read(log_path(&store)).unwrap();
        assert_eq!(
            lsns(&records(&image, log.id)),
            [1],
            "the retracted one is gone"
        );
        changes.clear();
        changes.put(LoggedTable::Docs, b"Note\0b", b"{}");
        assert_eq!(log.append(&mut changes), Ok(2));
        // A confirmed record is never taken back.
        log.confirm();
        log.retract_unconfirmed();
        let image = std::fs::read(log_path(&store)).unwrap();
        let found = records(&image, log.id);
        assert_eq!(lsns(&found), [1, 2]);
        let (_, second) = &found[1];
        assert_eq!(
            decode(&image[second.clone()]).unwrap(),
            [Change::Put(LoggedTable::Docs, b"Note\0b", b"{}")]
        );
    }

    #[test]
    fn crc32_matches_the_standard_check_value() {
        assert_eq!(crc32(&[b"123456789"]), 0xCBF4_3926);
        assert_eq!(crc32(&[b"1234", b"56789"]), 0xCBF4_3926);
        // Every split of a longer input (the 8-byte steps and the byte-wise tails) agrees
        // with a bit-at-a-time reference.
        let reference = |bytes: &[u8]| {
            let mut crc = !0u32;
            for b in bytes {
                crc ^= u32::from(*b);
                for _ in 0..8 {
                    crc = if crc & 1 != 0 {
                        0xEDB8_8320 ^ (crc >> 1)
                    } else {
                        crc >> 1
                    };
                }
            }
            !crc
        };
        let long: Vec<u8> = (0..100u32).map(|i| (i * 37 + 11) as u8).collect();
        for cut in 0..long.len() {
            let (a, b) = long.split_at(cut);
            assert_eq!(crc32(&[a, b]), reference(&long), "split at {cut}");
        }
    }
}
