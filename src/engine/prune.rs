//! Pruning run records as the `System Settings` document `retention` says: on demand
//! ([`Engine::prune_runs`], `coworker runs prune`) and in the background, one bounded pass
//! at a time so writers never wait long for the writer lock.

use super::{Core, Engine};
use crate::error::Result;
use crate::retention::holds::{Holds, LEGAL_HOLD, is_lifted};
use crate::retention::{RETENTION_NAME, Retention};
use crate::store::{
    Backend, HeldBy, NextPrune, OldestRun, PrunePass, PruneStep, RetentionStats, View,
};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// What a prune did (or, dry, would do), over all its passes.
///
/// ```
/// use coworker::{Engine, RunRequest};
/// use serde_json::json;
///
/// let engine = Engine::in_memory().unwrap();
/// let report = engine.prune_runs(false).unwrap();
/// assert!(!report.policy, "no retention settings: nothing is pruned");
/// let settings = json!({"data": {"name": "retention", "runs": {"maxAgeMs": 0}}});
/// let saved = engine.run(RunRequest::new("create").into_doctype("System Settings").input(settings));
/// assert!(saved.success, "{:?}", saved.error);
/// assert!(engine.prune_runs(true).unwrap().policy);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PruneReport {
    /// Whether the store has retention settings (without them nothing is pruned).
    pub policy: bool,
    /// Whether this was a dry run (nothing changed).
    pub dry_run: bool,
    /// Run records looked at.
    pub examined: u64,
    /// Run records removed.
    pub removed: u64,
    /// Run records cut to stubs, kept because a document or the audit trail names them.
    pub stubbed: u64,
    /// Top-level runs a longer rule keeps, listed to be pruned when they come due.
    pub deferred: u64,
    /// Run trees a legal hold (`Legal Hold` documents not lifted) kept whole.
    pub held: u64,
    /// The oldest top-level run whose tree was (or, dry, would be) pruned, by id.
    pub oldest: Option<String>,
    /// Bytes of run records freed (reused by later writes; `coworker compact` shrinks
    /// the file).
    pub bytes_freed: u64,
    /// Passes (each one write, bounded by `pruneBatch`).
    pub passes: u64,
    /// Run records written to an archive before they were removed or cut to stubs (the
    /// settings' `runs.archive`).
    pub archived: u64,
}

impl PruneReport {
    fn add(&mut self, step: &PruneStep) {
        self.examined += step.examined;
        self.removed += step.removed;
        self.stubbed += step.stubbed;
        self.deferred += step.deferred;
        self.held += step.held;
        if let Some(oldest) = &step.oldest
            && self.oldest.as_ref().is_none_or(|o| oldest < o)
        {
            self.oldest = Some(oldest.clone());
        }
        self.bytes_freed += step.bytes_freed;
        self.archived += step.archived;
        self.passes += 1;
    }
}

/// The top-level runs executing now, by the millisecond they started: the pruner never
/// walks past the oldest (its records are not written yet); and the lock that lets one
/// prune run at a time (on demand or in the background).
#[derive(Default)]
pub(super) struct LiveRuns(Mutex<BTreeMap<u64, usize>>, pub(super) Mutex<()>);

/// A top-level run's place in [`LiveRuns`], given up when dropped.
pub(super) struct Live<'a> {
    runs: &'a LiveRuns,
    started_ms: u64,
}

impl LiveRuns {
    /// Count a top-level run starting now.
    pub(super) fn enter(&self) -> Live<'_> {
        let started_ms = now_ms();
        *self
            .0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(started_ms)
            .or_default() += 1;
        Live {
            runs: self,
            started_ms,
        }
    }

    /// When the oldest executing top-level run started (now if none is).
    fn oldest_ms(&self) -> u64 {
        let live = self.0.lock().unwrap_or_else(|p| p.into_inner());
        live.keys().next().copied().unwrap_or_else(now_ms)
    }
}

impl Drop for Live<'_> {
    fn drop(&mut self) {
        let mut live = self.runs.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(count) = live.get_mut(&self.started_ms) {
            *count -= 1;
            if *count == 0 {
                live.remove(&self.started_ms);
            }
        }
    }
}

/// Milliseconds since the Unix epoch, now.
pub(super) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl Core {
    /// The active legal holds.
    pub(super) fn holds(&self) -> Result<Holds> {
        Holds::load(&*self.store.read()?)
    }

    /// The store's retention settings, if it has any.
    pub(super) fn retention(&self) -> Result<Option<Retention>> {
        let snapshot = self.store.read()?;
        match snapshot.get_doc(crate::acl::SETTINGS, RETENTION_NAME)? {
            Some(doc) => Retention::from_doc(&doc).map(Some),
            None => Ok(None),
        }
    }

    /// The retention section of the store's figures: settings, active holds, and what the
    /// next prune would do (a dry pass; none for a store opened read-only).
    pub(super) fn retention_stats(&self) -> Result<RetentionStats> {
        let snapshot = self.store.read()?;
        let settings = snapshot
            .get_doc(crate::acl::SETTINGS, RETENTION_NAME)?
            .map(serde_json::Value::Object);
        let mut holds = Vec::new();
        snapshot.scan_docs(LEGAL_HOLD, &mut |doc| {
            if !is_lifted(&doc) {
                holds.push(serde_json::Value::Object(doc));
            }
            true
        })?;
        drop(snapshot);
        let next_prune = match settings.is_some() && !self.store.read_only() {
            true => {
                let dry = self.prune(true, 0)?;
                Some(NextPrune {
                    remove: dry.removed,
                    stub: dry.stubbed,
                    held: dry.held,
                    examined: dry.examined,
                    oldest: dry.oldest.as_deref().map(OldestRun::of),
                })
            }
            false => None,
        };
        Ok(RetentionStats {
            settings,
            holds,
            next_prune,
        })
    }

    /// Prune until nothing is left to do now (or, dry, count what would go), pausing
    /// `pause` times the last pass's length between passes so writers get the lock.
    pub(super) fn prune(&self, dry_run: bool, pause: u32) -> Result<PruneReport> {
        let mut report = PruneReport {
            dry_run,
            ..PruneReport::default()
        };
        let _one_at_a_time = self.live.1.lock().unwrap_or_else(|p| p.into_inner());
        let Some(policy) = self.retention()? else {
            return Ok(report);
        };
        report.policy = true;
        // The holds as of now: one that is created or lifted later changes the tag, so
        // the next prune walks the kept runs again.
        let holds = self.holds()?;
        let tag = match holds.is_empty() {
            true => policy.tag.clone(),
            false => format!("{}/{}", policy.tag, holds.tag()),
        };
        let held = |bytes: &[u8]| holds.holds_run(bytes);
        // Records of read-only runs wait in memory: written first, so none lands behind
        // the walk's cursor.
        self.store.flush()?;
        let archive_dir = match policy.archive {
            Some(_) => Some(self.archive_dir(Some(&policy))?),
            None => None,
        };
        loop {
            let started = Instant::now();
            let now_ms = now_ms();
            let pass = PrunePass {
                tag: &tag,
                now_ms,
                live_from_ms: self.live.oldest_ms(),
                young_from_ms: policy
                    .shortest_ms()
                    .map_or(0, |shortest| now_ms.saturating_sub(shortest)),
                max_count: policy.max_count,
                // A dry run changes nothing, so it cannot resume: one pass sees it all.
                max_examined: if dry_run { usize::MAX } else { policy.batch },
                dry_run,
                held: HeldBy(&held),
                archive_dir: archive_dir.as_deref(),
            };
            let step = self
                .store
                .prune_runs(&pass, &|run| policy.decide(run, now_ms))?;
            report.add(&step);
            if step.done || dry_run {
                return Ok(report);
            }
            if pause > 0 {
                std::thread::sleep(started.elapsed() * pause);
            } else {
                std::thread::yield_now();
            }
        }
    }
}

impl Engine {
    /// Prune run records now as the store's retention settings (the `System Settings`
    /// document `retention`) say: runs past their rule's age, and the oldest beyond
    /// `maxCount`, are removed, except a stub of each run a document or the audit trail
    /// names. With `dry_run`, count what would go and change nothing (holding the writer
    /// lock for the whole walk). Without settings, nothing is pruned. Between passes of at
    /// most `pruneBatch` records it leaves the writer lock free as long as the pass held it.
    /// The engine also prunes in the background every `pruneEveryMs`, the same way.
    pub fn prune_runs(&self, dry_run: bool) -> Result<PruneReport> {
        self.core.prune(dry_run, PAUSE)
    }

    /// Shrink the store file by the space pruned records and deleted documents left free
    /// (redb's compaction; freed space is otherwise reused by later writes). Everything is
    /// made durable first. Refused with CONFLICT while another thread of this process holds
    /// a snapshot or runs a transaction: call it when the engine is idle. Returns whether
    /// the file changed.
    pub fn compact(&self) -> Result<bool> {
        self.core.store.compact()
    }
}

/// Between two passes a prune sleeps this many times the last pass's length, so writers
/// waiting for the writer lock get it: a writer waits at most about one bounded pass.
const PAUSE: u32 = 1;

/// How often the background pruner looks for settings and whether a pass is due.
const TICK: Duration = Duration::from_millis(250);

/// Start the background pruner of `core`: it holds the engine only while it prunes, and
/// ends once the engine is dropped.
pub(super) fn start_background(core: &Arc<Core>) {
    let weak: Weak<Core> = Arc::downgrade(core);
    let started = std::thread::Builder::new()
        .name("coworker retention".into())
        .spawn(move || {
            let mut last: Option<Instant> = None;
            // The settings as of a meta generation: read again only when a meta document
            // (the settings are one) changed.
            let mut known: Option<(u64, Option<Retention>)> = None;
            loop {
                std::thread::sleep(TICK);
                let Some(core) = weak.upgrade() else {
                    return;
                };
                let generation = core.store.schema_generation();
                if known.as_ref().is_none_or(|(seen, _)| *seen != generation) {
                    match core.retention() {
                        Ok(policy) => known = Some((generation, policy)),
                        Err(error) => {
                            tracing::warn!("the retention settings cannot be read: {error}");
                            continue;
                        }
                    }
                }
                let Some((_, Some(policy))) = &known else {
                    continue;
                };
                let due =
                    last.is_none_or(|at| at.elapsed() >= Duration::from_millis(policy.every_ms));
                if !due {
                    continue;
                }
                last = Some(Instant::now());
                // Between passes the pruner leaves the writer lock free as long as a
                // pass held it: writers wait at most one bounded pass.
                match core.prune(false, PAUSE) {
                    Ok(report) if report.removed + report.stubbed > 0 => {
                        tracing::info!(
                            removed = report.removed,
                            stubbed = report.stubbed,
                            "pruned run records"
                        );
                    }
                    Ok(_) => {}
                    Err(error) => tracing::warn!("pruning run records failed: {error}"),
                }
                if let Some(age) = policy.audit_archive_after_ms {
                    core.archive_audit_older_than(age);
                }
            }
        });
    if let Err(error) = started {
        tracing::warn!("the background pruner could not start: {error}");
    }
}
