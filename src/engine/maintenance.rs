//! Keeping a store: a backup taken while the host runs, the restore of one (its audit chain
//! checked before anything is replaced), and the store's figures.
//!
//! The copying, the swap and the counting are the store's (`store::backup`,
//! `store::stats`); this module adds what only the engine knows: the audit chain's check
//! and the catalog a store is opened with. It must never replace a store file with a copy
//! whose chain does not verify.

use super::{Engine, EngineBuilder};
use crate::audit;
use crate::error::{Error, Result};
use crate::store::{self, Backend, BackupReport, Store, StoreStats};
use serde::Serialize;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// What [`EngineBuilder::restore_backup`] did.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct RestoreReport {
    /// The store file now holding the backup's content.
    pub path: PathBuf,
    /// The backup it came from.
    pub from: PathBuf,
    /// Audit entries of the backup, every one verified.
    pub audit_entries: u64,
    /// Whether the backup carried the digest a backup is written with, and its content
    /// matched it (a store file copied while closed carries none: only its chain is checked).
    pub digest_checked: bool,
    /// Where the store file that was replaced is kept (`None`: there was none).
    pub old_store: Option<PathBuf>,
    /// Where that file's redo log is kept (`None`: there was none).
    pub old_redo_log: Option<PathBuf>,
    /// How long the restore took, in milliseconds.
    pub elapsed_ms: u64,
}

impl Engine {
    /// Write a consistent copy of the store to `path`, a new file, while runs go on: every
    /// table as of one instant, durably written under a temporary name and renamed into
    /// place once complete. The copy needs no redo log and opens like any store file.
    /// Refused (`CONFLICT`) when `path` exists: see [`Engine::backup_replacing`].
    ///
    /// Records of read-only runs still waiting to be written are not committed yet and so
    /// are not in the copy (call [`Engine::flush`] first to include them).
    pub fn backup(&self, path: impl AsRef<Path>) -> Result<BackupReport> {
        self.core.store.backup(path.as_ref(), false)
    }

    /// [`Engine::backup`], replacing the file at `path` if there is one (atomically: it is
    /// replaced only by the complete copy).
    pub fn backup_replacing(&self, path: impl AsRef<Path>) -> Result<BackupReport> {
        self.core.store.backup(path.as_ref(), true)
    }

    /// The store's figures: the file, each table, documents per doctype, index entries,
    /// runs by status and age, the audit trail, free pages, the redo log. Counted from one
    /// snapshot by walking keys, without loading tables. Then the retention settings, the
    /// active legal holds and what the next prune would do: a dry prune, which holds the
    /// writer lock while it walks the runs the next prune would reach.
    pub fn stats(&self) -> Result<StoreStats> {
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| {
                u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
            });
        let mut stats = self.core.store.stats(now_ms)?;
        stats.retention = self.core.retention_stats()?;
        Ok(stats)
    }
}

impl EngineBuilder {
    /// Replace the store file at `target` with the backup at `backup`, once the backup is
    /// checked: it must be a coworker store, its content must match the digest a backup
    /// carries, and its audit chain must verify (else `BAD_REQUEST`, and nothing is
    /// replaced). The swap waits up to this builder's lock timeout for a process that has
    /// `target` open; the old file is kept beside it as `<target>.before-restore-<time>`,
    /// with its redo log, and a crash at any point leaves either the old store or the
    /// restored one.
    pub fn restore_backup(
        self,
        backup: impl AsRef<Path>,
        target: impl AsRef<Path>,
    ) -> Result<RestoreReport> {
        let started = Instant::now();
        let (backup, target) = (backup.as_ref(), target.as_ref());
        let staged = store::stage(backup, target)?;
        let report = {
            let copy = Store::open_read_only(
                staged.path(),
                self.open_options(),
                crate::ops::system::store_catalog(),
            )?;
            audit::verify(&*copy.read()?)?
        };
        if let Some(broken) = &report.broken {
            return Err(Error::bad_request(format!(
                "{} cannot be restored: its audit chain breaks at entry {} ({}); nothing was \
                 replaced",
                backup.display(),
                broken.seq,
                broken.reason
            ))
            .with_details(json!({"seq": broken.seq, "reason": broken.reason})));
        }
        let digest_checked = staged.digest_checked;
        let aside = staged.install(target, self.lock_timeout)?;
        Ok(RestoreReport {
            path: target.to_path_buf(),
            from: backup.to_path_buf(),
            audit_entries: report.entries,
            digest_checked,
            old_store: aside.store,
            old_redo_log: aside.log,
            elapsed_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        })
    }
}
