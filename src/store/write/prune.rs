//! Pruning run records: one bounded pass of the writer over the oldest records, removing
//! the runs a retention policy let go and leaving a stub of those the audit trail or a
//! kept run still names.
//!
//! The policy is not the store's: the caller decides for each top-level run ([`Verdict`])
//! from its [`RunFacts`]. The store walks the runs table in id order (ids are ULIDs, so in
//! start order) from a cursor kept in the store's facts, one tree at a time (a top-level
//! run and every run beneath it, found through `childRunIds`), and remembers runs whose
//! rule keeps them longer in a list ordered by when they expire, so no pass walks the same
//! records twice. A change of policy (its tag) starts the walk over.
//!
//! A run of a pruned tree is removed with its run-index entries, unless an audit entry
//! names it or one of its descendants: then it is rewritten as a stub (id, time, operation,
//! status, owner, agent, parent, chain and the children kept), whose output says
//! `{"pruned": true, "prunedAt": ...}`, so lineage from a document or an audit entry never
//! dangles. Audit entries of a tree lie between its start and its end (entries carry the
//! time they were written), found by a binary search of the trail on time.

use super::super::layout::run_index_key;
use super::super::record::RUN_INDEX_FIELDS;
use super::super::wal::LoggedTable;
use super::{TableKind, WriteTables, grown};
use crate::error::{Error, Result};
use redb::{ReadableTable, ReadableTableMetadata};
use std::collections::HashSet;

mod archive;
mod facts;
pub(crate) use facts::started_ms;
use facts::{AuditFacts, StoredFacts, first_id_at};

/// The store fact holding the walk's position: `{"tag": .., "cursor": .., "stubs": N}`.
const STATE_KEY: &str = "retention\0state";
/// Store facts `retention\0defer\0` + expiry (ms, 8 bytes big endian) + run id: runs the
/// walk passed whose rule keeps them until then.
const DEFER_PREFIX: &[u8] = b"retention\0defer\0";

/// How long after a run ends its tree's last audit entry may be written (a failure's entry
/// is appended when the run is recorded, after it ended).
const AUDIT_SLACK_MS: u64 = 5_000;

/// What the retention policy is told of a top-level run.
#[derive(Debug)]
pub(crate) struct RunFacts<'a> {
    /// When it started, in milliseconds since the Unix epoch (from its id).
    pub started_ms: u64,
    /// `completed` or `failed`.
    pub status: &'a str,
    /// The operation it ran (`None`: a workflow template's run or an unparsable request).
    pub operation: Option<&'a str>,
    /// Its flow type (`workflow`, `import`, ...).
    pub flow_type: Option<&'a str>,
}

/// The policy's answer for a top-level run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Remove the tree now (stubs where the audit trail names a run).
    Prune,
    /// Keep it until this instant (ms since the Unix epoch), then prune it.
    KeepUntil(u64),
    /// Keep it for good (no rule applies).
    Keep,
}

/// The bounds of one pass.
#[derive(Debug, Clone)]
pub(crate) struct PrunePass<'a> {
    /// Names the policy: a different tag than the stored one starts the walk over.
    pub tag: &'a str,
    /// Now, in milliseconds since the Unix epoch.
    pub now_ms: u64,
    /// Runs that started at or after this instant are not walked (they may still be
    /// running, or their records may not be written yet).
    pub live_from_ms: u64,
    /// Top-level runs that started after this instant are too young for any rule; the
    /// walk stops at the first of them unless `over_count` asks for more.
    pub young_from_ms: u64,
    /// At most this many run records are kept in full (stubs not counted): records over it
    /// are pruned from the oldest trees, whatever their age.
    pub max_count: Option<u64>,
    /// At most this many records are examined in this pass.
    pub max_examined: usize,
    /// Count what would be done, change nothing.
    pub dry_run: bool,
    /// Whether a legal hold covers a run record (its stored JSON): a tree holding such a
    /// run is kept whole, whatever the policy says.
    pub held: HeldBy<'a>,
    /// Archive every pruned record here first (see `archive.rs`); `None`: do not.
    pub archive_dir: Option<&'a std::path::Path>,
}

/// Answers whether a legal hold covers a stored run record.
#[derive(Clone, Copy)]
pub(crate) struct HeldBy<'a>(pub &'a dyn Fn(&[u8]) -> bool);

impl std::fmt::Debug for HeldBy<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HeldBy(..)")
    }
}

/// What one pass did (or, dry, would do).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PruneStep {
    /// Run records looked at.
    pub examined: u64,
    /// Run records removed.
    pub removed: u64,
    /// Run records rewritten as stubs.
    pub stubbed: u64,
    /// Top-level runs whose rule keeps them longer, listed to be pruned when due.
    pub deferred: u64,
    /// Run trees a legal hold keeps whole (each counted once per pass that reaches it).
    pub held: u64,
    /// The oldest top-level run whose tree this pass removed or cut to stubs.
    pub oldest: Option<String>,
    /// Bytes of run records removed or cut down (stubs counted at what they saved).
    pub bytes_freed: u64,
    /// Whether nothing is left to do before new runs arrive or kept ones come due.
    pub done: bool,
    /// Run records written to an archive before they were removed or cut to stubs.
    pub archived: u64,
    /// The full records of the runs pruned, by id, when archiving (see `archive.rs`).
    #[serde(skip)]
    lines: std::collections::BTreeMap<String, Vec<u8>>,
}

/// The run ids the audit trail names between `from` and `to` (RFC 3339), read once per
/// pass by one forward scan that the pass's trees extend.
#[derive(Default)]
struct AuditIndex {
    from: String,
    to: String,
    /// The next entry to scan (`None`: nothing scanned yet).
    next_seq: Option<u64>,
    named: HashSet<String>,
}

/// The walk's position, kept as a store fact.
#[derive(Debug, Default, Clone, serde::Serialize, serde::Deserialize)]
struct State {
    /// The policy tag the walk followed.
    tag: String,
    /// The last run id the walk passed ("" before the first).
    cursor: String,
    /// Stub records written so far (they are not counted against the policy's count).
    stubs: u64,
}

impl<'t> WriteTables<'t> {
    /// One pass of the pruner (see the module's documentation): bounded by
    /// `pass.max_examined`, with `decide` answering for each top-level run.
    fn prune_pass(
        &mut self,
        pass: &PrunePass<'_>,
        decide: &dyn Fn(&RunFacts<'_>) -> Verdict,
        archive: Option<&str>,
    ) -> Result<PruneStep> {
        let mut state = self.prune_state()?;
        let mut step = PruneStep::default();
        let mut audit = AuditIndex::default();
        let pruned_at = crate::clock::rfc3339(
            std::time::UNIX_EPOCH + std::time::Duration::from_millis(pass.now_ms),
        );
        if state.tag != pass.tag {
            // A new policy: forget what the old one deferred, walk again from the start.
            let deferred = self.deferred(None, pass.max_examined)?;
            if !pass.dry_run {
                for (key, _) in &deferred {
                    self.unset(TableKind::Meta, key.clone())?;
                }
            }
            if deferred.len() == pass.max_examined && !pass.dry_run {
                self.save_prune_state(&state)?;
                return Ok(step);
            }
            state = State {
                tag: pass.tag.to_string(),
                cursor: String::new(),
                stubs: state.stubs,
            };
        }
        let mut over = match pass.max_count {
            Some(max) => self.full_run_records()?.saturating_sub(max),
            None => 0,
        };
        // Deferred trees that came due, oldest expiry first.
        for (key, id) in self.deferred(Some(pass.now_ms), pass.max_examined)? {
            if !pass.dry_run {
                self.unset(TableKind::Meta, key)?;
            }
            let pruned =
                self.prune_tree(&id, (&pruned_at, archive), pass, &mut audit, &mut step)?;
            over = over.saturating_sub(pruned);
        }
        // Over the count: kept trees go too, those due soonest first (never those kept for
        // good, which are not listed).
        if over > 0 {
            for (key, id) in self.deferred(None, pass.max_examined)? {
                if over == 0 {
                    break;
                }
                if !pass.dry_run {
                    self.unset(TableKind::Meta, key)?;
                }
                let pruned =
                    self.prune_tree(&id, (&pruned_at, archive), pass, &mut audit, &mut step)?;
                over = over.saturating_sub(pruned);
            }
        }
        // The walk, from the cursor.
        let live_from = first_id_at(pass.live_from_ms);
        let mut done = true;
        while (step.examined as usize) < pass.max_examined {
            let Some((id, bytes)) = self.run_after(&state.cursor, &live_from)? else {
                break;
            };
            let facts = StoredFacts::parse(&id, &bytes)?;
            let top_level = facts.parent_run_id.is_none();
            if top_level && started_ms(&id) >= pass.young_from_ms && over == 0 && !facts.is_stub() {
                // Every later run is younger still.
                break;
            }
            step.examined += 1;
            state.cursor = id.clone();
            if !top_level || facts.is_stub() || facts.options.keep_alive == Some(true) {
                continue;
            }
            let verdict = match over {
                0 => decide(&RunFacts {
                    started_ms: started_ms(&id),
                    status: &facts.status,
                    operation: facts.operation.as_deref(),
                    flow_type: facts.flow_type.as_deref(),
                }),
                _ => Verdict::Prune,
            };
            match verdict {
                Verdict::Prune => {
                    let pruned =
                        self.prune_tree(&id, (&pruned_at, archive), pass, &mut audit, &mut step)?;
                    over = over.saturating_sub(pruned);
                }
                Verdict::KeepUntil(expiry) => {
                    step.deferred += 1;
                    if !pass.dry_run {
                        let mut key = DEFER_PREFIX.to_vec();
                        key.extend_from_slice(&expiry.to_be_bytes());
                        key.extend_from_slice(id.as_bytes());
                        self.set(TableKind::Meta, key, &[])?;
                    }
                }
                Verdict::Keep => {}
            }
        }
        if (step.examined as usize) >= pass.max_examined {
            done = false;
        }
        step.done = done;
        if !pass.dry_run {
            state.stubs += step.stubbed;
            self.save_prune_state(&state)?;
        }
        Ok(step)
    }

    /// How many run records are kept in full (stubs not counted).
    fn full_run_records(&self) -> Result<u64> {
        let stubs = self.prune_state()?.stubs;
        Ok(self.runs.len()?.saturating_sub(stubs))
    }

    fn prune_state(&self) -> Result<State> {
        match self.meta.get(STATE_KEY.as_bytes())? {
            Some(bytes) => serde_json::from_slice(bytes.value())
                .map_err(|e| Error::Storage(format!("the pruner's position cannot be read: {e}"))),
            None => Ok(State::default()),
        }
    }

    fn save_prune_state(&mut self, state: &State) -> Result<()> {
        let bytes = serde_json::to_vec(state).expect("the state encodes");
        self.set_meta(STATE_KEY, &bytes)
    }

    /// Deferred entries (key, run id), oldest expiry first: those due by `due_by` (all
    /// when `None`), at most `limit`.
    fn deferred(&self, due_by: Option<u64>, limit: usize) -> Result<Vec<(Vec<u8>, String)>> {
        let end = super::super::layout::prefix_end(DEFER_PREFIX);
        let mut found = Vec::new();
        for entry in self.meta.range(DEFER_PREFIX..end.as_slice())? {
            if found.len() >= limit {
                break;
            }
            let (key, _) = entry?;
            let key = key.value();
            let rest = &key[DEFER_PREFIX.len()..];
            let Some((expiry, id)) = rest.split_first_chunk::<8>() else {
                continue;
            };
            if due_by.is_some_and(|now| u64::from_be_bytes(*expiry) > now) {
                break;
            }
            found.push((key.to_vec(), String::from_utf8_lossy(id).into_owned()));
        }
        Ok(found)
    }

    /// The first run record after `cursor` and before `until` (ids), if any.
    fn run_after(&self, cursor: &str, until: &str) -> Result<Option<(String, Vec<u8>)>> {
        let range = (
            std::ops::Bound::Excluded(cursor.as_bytes()),
            std::ops::Bound::Excluded(until.as_bytes()),
        );
        match self.runs.range::<&[u8]>(range)?.next() {
            Some(entry) => {
                let (id, bytes) = entry?;
                Ok(Some((
                    String::from_utf8_lossy(id.value()).into_owned(),
                    bytes.value().to_vec(),
                )))
            }
            None => Ok(None),
        }
    }

    /// Prune the tree of top-level run `root`: returns how many full records it removed or
    /// cut to stubs.
    fn prune_tree(
        &mut self,
        root: &str,
        (pruned_at, archive): (&str, Option<&str>),
        pass: &PrunePass<'_>,
        audit: &mut AuditIndex,
        step: &mut PruneStep,
    ) -> Result<u64> {
        let dry_run = pass.dry_run;
        // The tree, parents before children.
        let mut tree: Vec<(StoredFacts, usize)> = Vec::new();
        let mut pending = vec![root.to_string()];
        let mut seen = HashSet::new();
        while let Some(id) = pending.pop() {
            if !seen.insert(id.clone()) {
                continue;
            }
            let Some(bytes) = self.runs.get(id.as_bytes())?.map(|b| b.value().to_vec()) else {
                continue;
            };
            if (pass.held.0)(&bytes) {
                // A legal hold keeps the whole tree; the walk reaches it again once the set
                // of holds changes (its tag is part of the pass's).
                step.held += 1;
                return Ok(0);
            }
            let facts = StoredFacts::parse(&id, &bytes)?;
            pending.extend(facts.child_run_ids.iter().cloned());
            if archive.is_some() && !facts.is_stub() {
                step.lines.insert(id.clone(), bytes.clone());
            }
            tree.push((facts, bytes.len()));
        }
        if tree.is_empty() {
            return Ok(0);
        }
        if step.oldest.as_deref().is_none_or(|oldest| root < oldest) {
            step.oldest = Some(root.to_string());
        }
        let ids: HashSet<&str> = tree.iter().map(|(f, _)| f.id.as_str()).collect();
        let start = tree
            .iter()
            .map(|(f, _)| started_ms(&f.id))
            .min()
            .unwrap_or(0);
        let end = tree
            .iter()
            .map(|(f, _)| f.ended_ms())
            .max()
            .unwrap_or(start);
        let named = self.audited_runs(start, end.saturating_add(AUDIT_SLACK_MS), &ids, audit)?;
        // A run is kept as a stub if the trail names it or anything beneath it.
        let mut kept: HashSet<String> = HashSet::new();
        for (facts, _) in tree.iter().rev() {
            if named.contains(facts.id.as_str())
                || facts.child_run_ids.iter().any(|c| kept.contains(c))
            {
                kept.insert(facts.id.clone());
            }
        }
        let mut pruned = 0;
        for (facts, size) in &tree {
            if facts.is_stub() {
                continue;
            }
            pruned += 1;
            step.examined += u64::from(facts.id != root);
            if kept.contains(&facts.id) {
                let children: Vec<&String> = facts
                    .child_run_ids
                    .iter()
                    .filter(|c| kept.contains(*c))
                    .collect();
                let stub = facts.stub(&children, pruned_at, archive);
                step.stubbed += 1;
                step.bytes_freed += (*size as u64).saturating_sub(stub.len() as u64);
                if !dry_run {
                    self.runs
                        .insert(facts.id.as_bytes(), stub.as_slice())
                        .map_err(grown)?;
                    self.log_run(&facts.id, Some(&stub));
                }
            } else {
                step.removed += 1;
                step.bytes_freed += *size as u64;
                if !dry_run {
                    self.remove_run(facts)?;
                }
            }
        }
        Ok(pruned)
    }

    /// Remove a run's record and its run-index entries.
    fn remove_run(&mut self, facts: &StoredFacts) -> Result<()> {
        self.runs.remove(facts.id.as_bytes()).map_err(grown)?;
        self.log_run(&facts.id, None);
        let record = facts.listed();
        // The status entry is removed whatever the status: stores written before only failed
        // runs were indexed by status hold `completed` entries too.
        let keys = RUN_INDEX_FIELDS
            .iter()
            .filter(|(field, _)| *field != "status")
            .filter_map(|(field, value_of)| {
                value_of(&record).map(|value| run_index_key(field, value, &facts.id))
            })
            .chain([run_index_key("status", &facts.status, &facts.id)]);
        for key in keys {
            if self
                .run_index
                .remove(key.as_slice())
                .map_err(grown)?
                .is_some()
            {
                self.logged(LoggedTable::RunIndex, &key, None);
            }
        }
        self.recorded = true;
        Ok(())
    }

    fn log_run(&mut self, id: &str, value: Option<&[u8]>) {
        self.recorded = true;
        self.logged(LoggedTable::Runs, id.as_bytes(), value);
    }

    /// The runs among `ids` that an audit entry written between `from_ms` and `to_ms`
    /// names. Trees come in time order, so the pass's [`AuditIndex`] answers from one
    /// forward scan of the trail; a tree older than its start is searched on its own.
    fn audited_runs(
        &self,
        from_ms: u64,
        to_ms: u64,
        ids: &HashSet<&str>,
        index: &mut AuditIndex,
    ) -> Result<HashSet<String>> {
        let at = |ms: u64| {
            crate::clock::rfc3339(std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms))
        };
        let (from, to) = (at(from_ms), at(to_ms));
        if index.next_seq.is_none() {
            index.from = from.clone();
            index.to = from.clone();
            index.next_seq = Some(self.first_audit_at(&from)?);
        }
        if from >= index.from {
            // Extend the scan through `to`.
            if to > index.to {
                let mut next = index.next_seq.unwrap_or(u64::MAX);
                for entry in self.audit.range(next..)? {
                    let (seq, bytes) = entry?;
                    let facts = AuditFacts::parse(seq.value(), bytes.value())?;
                    if facts.timestamp.as_str() > to.as_str() {
                        break;
                    }
                    next = seq.value() + 1;
                    index.named.extend(facts.run_id);
                }
                index.next_seq = Some(next);
                index.to = to;
            }
            return Ok(ids
                .iter()
                .filter(|id| index.named.contains(**id))
                .map(|id| id.to_string())
                .collect());
        }
        let mut named = HashSet::new();
        let low = self.first_audit_at(&from)?;
        for entry in self.audit.range(low..)? {
            let (seq, bytes) = entry?;
            let facts = AuditFacts::parse(seq.value(), bytes.value())?;
            if facts.timestamp.as_str() > to.as_str() {
                break;
            }
            if let Some(run) = facts.run_id.filter(|run| ids.contains(run.as_str())) {
                named.insert(run);
            }
        }
        Ok(named)
    }

    /// The seq of the first audit entry written at or after `from` (entries are appended
    /// in time order), or past the last.
    fn first_audit_at(&self, from: &str) -> Result<u64> {
        let Some(last) = self.audit.last()?.map(|(seq, _)| seq.value()) else {
            return Ok(1);
        };
        let first = self.audit.first()?.map_or(1, |(seq, _)| seq.value());
        let (mut low, mut high) = (first, last + 1);
        while low < high {
            let middle = low + (high - low) / 2;
            let timestamp = self
                .audit_facts(middle)?
                .map(|f| f.timestamp)
                .unwrap_or_default();
            if timestamp.as_str() < from {
                low = middle + 1;
            } else {
                high = middle;
            }
        }
        Ok(low)
    }

    fn audit_facts(&self, seq: u64) -> Result<Option<AuditFacts>> {
        self.audit
            .get(seq)?
            .map(|bytes| AuditFacts::parse(seq, bytes.value()))
            .transpose()
    }
}
