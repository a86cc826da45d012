//! Archiving the audit trail's oldest entries behind a checkpoint
//! ([`Engine::archive_audit`], `coworker audit archive`) and verifying archived segments
//! against their checkpoints ([`Engine::verify_audit_archives`], `coworker audit verify
//! --archive FILE`). The archive formats are in `crate::archive`.

use super::prune::now_ms;
use super::{Core, Engine};
use crate::archive::{ArchiveCheck, AuditArchive, AuditArchiveReport, check_archive};
use crate::audit::AuditReport;
use crate::error::{Error, Result};
use crate::retention::{ArchiveTo, Retention};
use crate::store::{Backend, SegmentCut, View};
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A legal hold's say on an audit entry: `true` keeps it (and every later one) live.
pub(crate) type Held<'a> = &'a dyn Fn(&Map<String, Value>) -> bool;

impl Core {
    /// Where archives go: the retention settings' `runs.archive.dir` (relative: to the store
    /// file's directory), else `<store path>.archive/`; a store in memory needs the former.
    pub(super) fn archive_dir(&self, policy: Option<&Retention>) -> Result<PathBuf> {
        let store = self.store.file_path();
        match (policy.and_then(|p| p.archive.as_ref()), store) {
            (Some(ArchiveTo::Dir(dir)), Some(store)) => {
                Ok(store.parent().unwrap_or(Path::new(".")).join(dir))
            }
            (Some(ArchiveTo::Dir(dir)), None) => Ok(dir.into()),
            (_, Some(store)) => Ok(crate::archive::default_dir(store)),
            (_, None) => Err(Error::bad_request(
                "a store in memory has no place beside it for archives: give the retention settings' `runs.archive` a `dir`",
            )),
        }
    }

    /// Archive audit entries with a sequence number below `before_seq` and written before
    /// `before_ms` (Unix ms), oldest first, one segment per transaction, stopping before the
    /// first entry `held` keeps.
    pub(super) fn archive_audit(
        &self,
        before_seq: Option<u64>,
        before_ms: Option<u64>,
        held: Held<'_>,
    ) -> Result<AuditArchiveReport> {
        let _one_at_a_time = self.live.1.lock().unwrap_or_else(|p| p.into_inner());
        let dir = self.archive_dir(self.retention()?.as_ref())?;
        let before_time =
            before_ms.map(|ms| crate::clock::rfc3339(UNIX_EPOCH + Duration::from_millis(ms)));
        // Never past the trail's end as of now: each segment appends a checkpoint, which
        // a later segment of this call must not take.
        let mut tail = 0;
        self.store.read()?.audit_newest_first(&mut |seq, _| {
            tail = seq;
            Ok(false)
        })?;
        let before_seq = Some(before_seq.map_or(tail + 1, |b| b.min(tail + 1)));
        let mut report = AuditArchiveReport {
            dir: dir.display().to_string(),
            ..AuditArchiveReport::default()
        };
        loop {
            let now = crate::clock::rfc3339(SystemTime::now());
            let cut = SegmentCut {
                before_seq,
                before_time: before_time.as_deref(),
                held,
                dir: &dir,
                now: &now,
            };
            let Some(segment) = self.store.archive_audit(&cut)? else {
                return Ok(report);
            };
            report.archived += segment.to_seq - segment.from_seq + 1;
            let reached = before_seq.is_some_and(|b| segment.to_seq + 1 >= b);
            report.segments.push(segment);
            if reached || report.segments.len() >= MAX_SEGMENTS_PER_CALL {
                return Ok(report);
            }
        }
    }
}

impl Core {
    /// The background pruner's part: archive the audit entries older than `age_ms`, as the
    /// retention settings' `audit.archiveAfterMs` says (a failure is logged).
    pub(super) fn archive_audit_older_than(&self, age_ms: u64) {
        let before_ms = now_ms().saturating_sub(age_ms);
        let archived = self.holds().and_then(|holds| {
            self.archive_audit(None, Some(before_ms), &|entry| holds.holds_entry(entry))
        });
        match archived {
            Ok(report) if report.archived > 0 => {
                tracing::info!(archived = report.archived, "archived audit entries");
            }
            Ok(_) => {}
            Err(error) => tracing::warn!("archiving audit entries failed: {error}"),
        }
    }
}

/// The most segments one call archives (each its own transaction).
const MAX_SEGMENTS_PER_CALL: usize = 1_000;

impl Engine {
    /// Archive the oldest audit entries: those with a sequence number below `before_seq`
    /// and (or) written more than `older_than_ms` ago. Each segment (at most 50,000
    /// entries, one transaction) is written to `audit-<from>-<to>.jsonl.gz` in the archive
    /// directory (the retention settings' `runs.archive.dir`, else `<store path>.archive/`)
    /// and synced, then removed from the trail as a new `checkpoint` entry that records its
    /// range, its first and last hash and the file's SHA-256, so `audit verify` still
    /// proves the chain. Neither bound, or nothing to archive, is refused with BAD_REQUEST.
    pub fn archive_audit(
        &self,
        before_seq: Option<u64>,
        older_than_ms: Option<u64>,
    ) -> Result<AuditArchiveReport> {
        if before_seq.is_none() && older_than_ms.is_none() {
            return Err(Error::bad_request(
                "say which audit entries to archive: before a sequence number, or older than an age",
            ));
        }
        let before_ms = older_than_ms.map(|age| now_ms().saturating_sub(age));
        // An entry a legal hold covers stops the segment before it.
        let holds = self.core.holds()?;
        let report = self
            .core
            .archive_audit(before_seq, before_ms, &|entry| holds.holds_entry(entry))?;
        if report.segments.is_empty() {
            return Err(Error::bad_request(
                "no audit entry can be archived: the first live entry is past the bound, or a legal hold covers it",
            ));
        }
        Ok(report)
    }

    /// [`Engine::verify_audit`], then each audit archive in `files` against the checkpoint
    /// that records it (found in the live trail or in another of `files`): its entries must
    /// chain, and its range, first and last hash and SHA-256 must be the checkpoint's. A
    /// file that cannot be read is reported as a problem.
    pub fn verify_audit_archives(&self, files: &[PathBuf]) -> Result<AuditReport> {
        let (mut report, mut checkpoints) = crate::audit::verify_walk(&*self.core.store.read()?)?;
        // Each file is read once. Checkpoints archived themselves (a later segment took
        // them) are read from the archives given.
        let read: Vec<Result<AuditArchive>> = files.iter().map(|f| AuditArchive::read(f)).collect();
        for archive in read.iter().flatten() {
            for line in &archive.lines.lines {
                if let Ok(entry) = serde_json::from_slice::<Map<String, Value>>(line)
                    && let Some(c) = crate::archive::ArchivedSegment::of_checkpoint(&entry)
                {
                    checkpoints.push(c);
                }
            }
        }
        for (file, archive) in files.iter().zip(&read) {
            let check = archive
                .as_ref()
                .map_err(Clone::clone)
                .and_then(|archive| check_archive(file, archive, &checkpoints))
                .unwrap_or_else(|error| ArchiveCheck {
                    file: file.display().to_string(),
                    entries: 0,
                    problem: Some(error.to_string()),
                });
            report.archives.push(check);
        }
        Ok(report)
    }
}
