//! What a store holds and what its file costs ([`StoreStats`]): the file, each table's
//! entries and pages (redb's `TableStats`), documents per doctype, index entries, runs by
//! status and by age, the audit trail, free and fragmented space (redb's `DatabaseStats`),
//! the redo log.
//!
//! Everything is counted from one read snapshot by streaming keys: nothing is loaded
//! whole. A table's entry count is redb's `len()` (kept in the tree's header); documents
//! per doctype and index entries per field are counted by walking keys; runs by status
//! read the run index (only the statuses it lists; the rest are the runs left over), runs
//! by age walk the run ids (ULIDs, which carry their start time). This module must never
//! parse a document or a run record, nor write anything.

use super::layout::{AUDIT, Bytes, COUNTERS, DOC_INDEX, DOCS, META, RUN_INDEX, RUNS};
use super::wal::log_path;
use super::{Db, RedbStore, lock, status_indexed};
use crate::error::{Error, Result};
use redb::{
    ReadTransaction, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition,
    TableHandle,
};
use serde::Serialize;
use std::collections::BTreeMap;
use std::ops::Bound;

/// Age bands of runs, as (label, upper bound in milliseconds): a run falls in the first
/// band its age is below; older ones in [`OLDER`].
const AGE_BANDS: [(&str, u64); 4] = [
    ("<1h", 3_600_000),
    ("<1d", 86_400_000),
    ("<7d", 7 * 86_400_000),
    ("<30d", 30 * 86_400_000),
];

/// The band of runs older than every band of [`AGE_BANDS`].
const OLDER: &str = ">=30d";

/// What `coworker stats` reports ([`crate::Engine::stats`]).
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct StoreStats {
    /// The store file and its size (`None` for a store in memory).
    pub file: Option<FileStats>,
    /// Pages in use, free and fragmented (`None` for a store opened read-only: redb tells
    /// them to a writer only).
    pub space: Option<SpaceStats>,
    /// Every table: entries, pages and bytes.
    pub tables: Vec<TableStats>,
    /// Documents per doctype (the audit trail's entries are in [`StoreStats::audit`]).
    pub documents: BTreeMap<String, u64>,
    /// Entries of each secondary index of documents.
    pub indexes: Vec<IndexStats>,
    /// Run records.
    pub runs: RunStats,
    /// The audit trail.
    pub audit: AuditStats,
    /// The redo log beside the file (`None` when there is none: a store in memory, or one
    /// shared with readers).
    pub redo_log: Option<RedoLogStats>,
    /// The retention settings, the active legal holds and what the next prune would do
    /// (filled by the engine, which reads settings; the store only counts).
    pub retention: RetentionStats,
}

/// Retention as it stands ([`StoreStats::retention`]).
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct RetentionStats {
    /// The `System Settings` document `retention` as saved (`None`: nothing is pruned).
    pub settings: Option<serde_json::Value>,
    /// The `Legal Hold` documents not lifted.
    pub holds: Vec<serde_json::Value>,
    /// What the next prune would do, from a dry pass (`None` without settings, or for a
    /// store opened read-only).
    pub next_prune: Option<NextPrune>,
}

/// What the next prune would do.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct NextPrune {
    /// Run records it would remove.
    pub remove: u64,
    /// Run records it would cut to stubs.
    pub stub: u64,
    /// Run trees a legal hold keeps whole.
    pub held: u64,
    /// Run records it would look at.
    pub examined: u64,
    /// The oldest top-level run whose tree it would prune.
    pub oldest: Option<OldestRun>,
}

impl OldestRun {
    /// Run `id`, its start read off its id (a ULID).
    pub(crate) fn of(id: &str) -> OldestRun {
        let started = ulid::Ulid::from_string(id)
            .ok()
            .and_then(|ulid| i64::try_from(ulid.timestamp_ms()).ok())
            .and_then(|ms| jiff::Timestamp::from_millisecond(ms).ok())
            .map(|at| format!("{at:.6}"));
        OldestRun {
            id: id.to_string(),
            started,
        }
    }
}

/// The store file.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct FileStats {
    /// Where it is.
    pub path: String,
    /// Its size in bytes.
    pub bytes: u64,
}

/// How the file's pages are used (redb's `DatabaseStats`).
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct SpaceStats {
    /// Bytes per page.
    pub page_size: u64,
    /// Pages allocated to tables and redb's own metadata.
    pub allocated_pages: u64,
    /// Pages of the file not allocated (reused by later writes, or given back by a
    /// compaction), when the file's size is known.
    pub free_pages: Option<u64>,
    /// Leaf pages holding entries.
    pub leaf_pages: u64,
    /// Branch pages of the tables' trees.
    pub branch_pages: u64,
    /// Bytes of keys and values stored.
    pub stored_bytes: u64,
    /// Bytes of redb's metadata (branch keys, its own tables).
    pub metadata_bytes: u64,
    /// Bytes lost to fragmentation inside allocated pages.
    pub fragmented_bytes: u64,
}

/// One table (redb's `TableStats`, and its entry count).
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct TableStats {
    /// The table's name (`docs`, `runs`, `run_index`, `doc_index`, `counters`, `audit`,
    /// `meta`).
    pub name: String,
    /// Entries.
    pub entries: u64,
    /// Leaf pages.
    pub leaf_pages: u64,
    /// Branch pages.
    pub branch_pages: u64,
    /// Bytes of keys and values.
    pub stored_bytes: u64,
    /// Bytes of branch keys and other metadata.
    pub metadata_bytes: u64,
    /// Bytes lost to fragmentation in its pages.
    pub fragmented_bytes: u64,
    /// The depth of its tree.
    pub tree_height: u32,
}

/// The entries of one document index.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct IndexStats {
    /// The indexed doctype.
    pub doctype: String,
    /// The indexed field.
    pub field: String,
    /// Entries (one per document holding the index).
    pub entries: u64,
    /// Whether the index holds every document of its doctype (it was built whole).
    pub complete: bool,
}

/// Run records by status and age.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct RunStats {
    /// Every run record.
    pub total: u64,
    /// Runs per status (`completed`, `failed`, ...).
    pub by_status: BTreeMap<String, u64>,
    /// Runs per age band (`<1h`, `<1d`, `<7d`, `<30d`, `>=30d`), by start time.
    pub by_age: BTreeMap<String, u64>,
    /// The oldest run, if any: its id and start time (RFC 3339).
    pub oldest: Option<OldestRun>,
}

/// The oldest run record.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct OldestRun {
    /// Its id.
    pub id: String,
    /// When it started (RFC 3339), read off its id.
    pub started: Option<String>,
}

/// The audit trail.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct AuditStats {
    /// Entries.
    pub entries: u64,
    /// The head: the last entry's `{"seq": N, "hash": "…"}`, if any.
    pub head: Option<serde_json::Value>,
}

/// The redo log beside the store file.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct RedoLogStats {
    /// Where it is.
    pub path: String,
    /// Its file's size in bytes (it is reused from the start after each checkpoint).
    pub file_bytes: u64,
    /// Bytes of records the store file has not checkpointed yet (`None` for a store
    /// opened read-only: the writing process knows).
    pub pending_bytes: Option<u64>,
}

impl RedbStore {
    /// The store's figures, from one snapshot; runs' ages are taken at `now_ms` (Unix
    /// milliseconds).
    pub(crate) fn stats(&self, now_ms: u64) -> Result<StoreStats> {
        // Measured first, apart from the snapshot: it takes the writer lock, which is
        // always taken before the database (as the group commit does).
        let space = match self.read_only() {
            true => None,
            false => Some(self.space()?),
        };
        let snapshot = match &*self.db()? {
            Some(Db::Writer(db)) => db
                .begin_read()
                .map_err(|e| Error::Storage(self.explained(e)))?,
            Some(Db::Reader(db)) => db.begin_read()?,
            None => unreachable!("`db()` returns an open database"),
        };
        let path = self.file.path.as_ref();
        let file = match path {
            Some(path) => Some(FileStats {
                path: path.display().to_string(),
                bytes: std::fs::metadata(path)
                    .map_err(|e| Error::Storage(format!("{}: {e}", path.display())))?
                    .len(),
            }),
            None => None,
        };
        let space = space.map(|mut space| {
            space.free_pages = file.as_ref().map(|file| {
                (file.bytes / space.page_size.max(1)).saturating_sub(space.allocated_pages)
            });
            space
        });
        // A reader sees the log of the process writing the file, if it keeps one, but not
        // how much of it is pending.
        let pending = lock(&self.group.writer).log.as_ref().map(|log| log.len());
        let redo_log = path.map(|path| log_path(path)).and_then(|path| {
            let file_bytes = std::fs::metadata(&path).ok()?.len();
            Some(RedoLogStats {
                path: path.display().to_string(),
                file_bytes,
                pending_bytes: pending,
            })
        });
        let audit = snapshot.open_table(AUDIT)?;
        let head = snapshot
            .open_table(META)?
            .get(crate::audit::HEAD.as_bytes())?
            .and_then(|head| serde_json::from_slice(head.value()).ok());
        Ok(StoreStats {
            file,
            space,
            tables: table_stats(&snapshot)?,
            documents: documents_per_doctype(&snapshot)?,
            indexes: index_stats(&snapshot)?,
            runs: run_stats(&snapshot, now_ms)?,
            audit: AuditStats {
                entries: audit.len()?,
                head,
            },
            redo_log,
            retention: RetentionStats::default(),
        })
    }

    /// redb's figures for the whole file, which only a write transaction tells: the one
    /// open (idle, or holding a batch not yet sealed), or a new one taken back at once.
    fn space(&self) -> Result<SpaceStats> {
        drop(self.db()?);
        let writer = lock(&self.group.writer);
        let db = self.file.db.read().unwrap_or_else(|p| p.into_inner());
        let fresh;
        let txn = match (&writer.txn, &*db) {
            (Some(txn), _) => txn,
            (None, Some(Db::Writer(db))) => {
                fresh = db
                    .begin_write()
                    .map_err(|e| Error::Storage(self.explained(e)))?;
                &fresh
            }
            _ => {
                return Err(Error::Storage(
                    "the store file failed and is not reopened yet".into(),
                ));
            }
        };
        let stats = txn.stats()?;
        Ok(SpaceStats {
            page_size: stats.page_size() as u64,
            allocated_pages: stats.allocated_pages(),
            free_pages: None,
            leaf_pages: stats.leaf_pages(),
            branch_pages: stats.branch_pages(),
            stored_bytes: stats.stored_bytes(),
            metadata_bytes: stats.metadata_bytes(),
            fragmented_bytes: stats.fragmented_bytes(),
        })
    }
}

/// Each table's entries and pages.
fn table_stats(snapshot: &ReadTransaction) -> Result<Vec<TableStats>> {
    fn of(name: &str, table: &impl ReadableTableMetadata) -> Result<TableStats> {
        let stats = table.stats()?;
        Ok(TableStats {
            name: name.to_string(),
            entries: table.len()?,
            leaf_pages: stats.leaf_pages(),
            branch_pages: stats.branch_pages(),
            stored_bytes: stats.stored_bytes(),
            metadata_bytes: stats.metadata_bytes(),
            fragmented_bytes: stats.fragmented_bytes(),
            tree_height: stats.tree_height(),
        })
    }
    let byte_tables: [TableDefinition<Bytes, Bytes>; 6] =
        [DOCS, RUNS, RUN_INDEX, DOC_INDEX, COUNTERS, META];
    let mut tables = Vec::with_capacity(7);
    for definition in byte_tables {
        tables.push(of(definition.name(), &snapshot.open_table(definition)?)?);
    }
    tables.push(of(AUDIT.name(), &snapshot.open_table(AUDIT)?)?);
    Ok(tables)
}

/// Documents per doctype: a count per run of keys sharing a `doctype \0` prefix.
fn documents_per_doctype(snapshot: &ReadTransaction) -> Result<BTreeMap<String, u64>> {
    let docs = snapshot.open_table(DOCS)?;
    let mut counts = BTreeMap::new();
    let mut current: Option<(Vec<u8>, u64)> = None;
    for entry in docs.iter()? {
        let (key, _) = entry?;
        let key = key.value();
        let doctype = key.split(|b| *b == 0).next().unwrap_or_default();
        match &mut current {
            Some((prefix, count)) if prefix.as_slice() == doctype => *count += 1,
            _ => {
                if let Some((prefix, count)) = current.replace((doctype.to_vec(), 1)) {
                    counts.insert(String::from_utf8_lossy(&prefix).into_owned(), count);
                }
            }
        }
    }
    if let Some((prefix, count)) = current {
        counts.insert(String::from_utf8_lossy(&prefix).into_owned(), count);
    }
    Ok(counts)
}

/// Entries per index: a count per run of keys sharing a `doctype \0 field \0` prefix; the
/// completeness mark (`doctype \0 field \0 \0`) is not an entry.
fn index_stats(snapshot: &ReadTransaction) -> Result<Vec<IndexStats>> {
    let index = snapshot.open_table(DOC_INDEX)?;
    let mut indexes: Vec<IndexStats> = Vec::new();
    // The current index's key prefix (`doctype \0 field \0`).
    let mut prefix: Vec<u8> = Vec::new();
    for entry in index.iter()? {
        let (key, _) = entry?;
        let key = key.value();
        if prefix.is_empty() || !key.starts_with(&prefix) {
            let mut parts = key.splitn(3, |b| *b == 0);
            let (Some(doctype), Some(field)) = (parts.next(), parts.next()) else {
                continue;
            };
            prefix = [doctype, &[0], field, &[0]].concat();
            indexes.push(IndexStats {
                doctype: String::from_utf8_lossy(doctype).into_owned(),
                field: String::from_utf8_lossy(field).into_owned(),
                entries: 0,
                complete: false,
            });
        }
        let current = indexes.last_mut().expect("pushed above");
        if key[prefix.len()..] == [0] {
            current.complete = true;
        } else {
            current.entries += 1;
        }
    }
    Ok(indexes)
}

/// Runs by status (from the run index; the statuses it does not list are the runs left
/// over) and by age (from their ids).
fn run_stats(snapshot: &ReadTransaction, now_ms: u64) -> Result<RunStats> {
    let runs = snapshot.open_table(RUNS)?;
    let total = runs.len()?;
    let mut by_status = BTreeMap::new();
    let run_index = snapshot.open_table(RUN_INDEX)?;
    let (start, end) = (b"status\0".as_slice(), b"status\x01".as_slice());
    for entry in run_index.range::<&[u8]>((Bound::Included(start), Bound::Excluded(end)))? {
        let (key, _) = entry?;
        let mut parts = key.value()[start.len()..].splitn(2, |b| *b == 0);
        let status = String::from_utf8_lossy(parts.next().unwrap_or_default()).into_owned();
        if status_indexed(&status) {
            *by_status.entry(status).or_insert(0) += 1;
        }
    }
    let listed: u64 = by_status.values().sum();
    let completed = total.saturating_sub(listed);
    if completed > 0 {
        by_status.insert(crate::RunStatus::Completed.as_str().to_string(), completed);
    }
    let mut by_age: BTreeMap<String, u64> = AGE_BANDS
        .iter()
        .map(|(band, _)| (band.to_string(), 0))
        .chain([(OLDER.to_string(), 0)])
        .collect();
    let mut oldest = None;
    for entry in runs.iter()? {
        let (key, _) = entry?;
        let id = String::from_utf8_lossy(key.value());
        let started = ulid::Ulid::from_string(&id)
            .ok()
            .map(|id| id.timestamp_ms());
        if oldest.is_none() {
            oldest = Some(OldestRun {
                id: id.to_string(),
                started: started.and_then(|ms| {
                    let ms = i64::try_from(ms).ok()?;
                    Some(format!(
                        "{:.6}",
                        jiff::Timestamp::from_millisecond(ms).ok()?
                    ))
                }),
            });
        }
        let age = now_ms.saturating_sub(started.unwrap_or(0));
        let band = AGE_BANDS
            .iter()
            .find(|(_, below)| age < *below)
            .map_or(OLDER, |(band, _)| band);
        *by_age.get_mut(band).expect("every band is listed") += 1;
    }
    Ok(RunStats {
        total,
        by_status,
        by_age,
        oldest,
    })
}
