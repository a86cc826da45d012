//! Reading runs back: one run, lists by flow / chain / parent / owner / status / time, the
//! tree under a run and the root above it. Lists use the run indexes, never a scan of all
//! runs; records of read-only runs still waiting in memory are included.

use super::Engine;
use crate::error::{Error, Result};
use crate::run::{Run, RunStatus};
use crate::store::{RunKeys, run_keys};
use serde::Serialize;

/// Which runs to list; see [`Engine::list_runs`]. Filters combine (all must hold).
///
/// ```
/// use coworker::{Engine, RunQuery, RunRequest, RunStatus};
/// let engine = Engine::in_memory().unwrap();
/// engine.run(RunRequest::new("select").from("ToDo").flow("batch-job", "nightly"));
/// engine.run(RunRequest::new("nope").flow("batch-job", "nightly"));
/// let failed = engine
///     .list_runs(&RunQuery { flow_id: Some("nightly".into()), status: Some(RunStatus::Failed), ..Default::default() })
///     .unwrap();
/// assert_eq!(failed.len(), 1);
/// ```
#[derive(Debug, Clone, Default)]
pub struct RunQuery {
    /// Only runs of this flow.
    pub flow_id: Option<String>,
    /// Only runs of this chain (a top-level run and its nested runs).
    pub chain_id: Option<String>,
    /// Only direct children of this run.
    pub parent_run_id: Option<String>,
    /// Only runs of this owner.
    pub owner: Option<String>,
    /// Only runs that ended so.
    pub status: Option<RunStatus>,
    /// Only runs started at or after this instant (RFC 3339).
    pub since: Option<String>,
    /// Only runs started before this instant (RFC 3339).
    pub until: Option<String>,
    /// At most this many (the newest); `None` = all.
    pub limit: Option<usize>,
}

/// A run and the runs it started, recursively.
#[derive(Debug, Clone, Serialize)]
pub struct RunTree {
    /// The run.
    pub run: Run,
    /// Its children, in the order they started.
    pub children: Vec<RunTree>,
}

/// The first run id that could start at `instant` (ULIDs begin with their millisecond).
fn id_bound(instant: &str) -> Result<String> {
    let timestamp: jiff::Timestamp = instant
        .parse()
        .map_err(|e| Error::bad_request(format!("`{instant}` is not an RFC 3339 instant: {e}")))?;
    let ms = u64::try_from(timestamp.as_millisecond()).unwrap_or(0);
    Ok(ulid::Ulid::from_parts(ms, 0).to_string())
}

impl Engine {
    /// One run record by id.
    pub fn get_run(&self, id: &str) -> Result<Option<Run>> {
        self.inner.store.get_run(id)
    }

    /// Runs matching `query`, oldest first (with `limit`, the newest `limit` of them).
    pub fn list_runs(&self, query: &RunQuery) -> Result<Vec<Run>> {
        let since = query.since.as_deref().map(id_bound).transpose()?;
        let until = query.until.as_deref().map(id_bound).transpose()?;
        let status = query.status.map(RunStatus::as_str);
        let filters = [
            ("flow", query.flow_id.as_deref()),
            ("chain", query.chain_id.as_deref()),
            ("parent", query.parent_run_id.as_deref()),
            ("owner", query.owner.as_deref()),
            ("status", status),
        ];
        let matches = |id: &str, keys: RunKeys<'_>| {
            let in_range =
                since.as_deref().is_none_or(|s| id >= s) && until.as_deref().is_none_or(|u| id < u);
            in_range
                && filters
                    .iter()
                    .zip(keys)
                    .all(|((_, wanted), value)| wanted.is_none() || *wanted == value)
        };
        // Records waiting in memory first, then the snapshot: a record committed in between
        // is in one or the other, never in neither.
        let pending = self.inner.store.pending_runs(&matches)?;
        let read = self.inner.store.read()?;
        let mut runs: Vec<Run> = match filters.iter().find(|(_, v)| v.is_some()) {
            Some((field, Some(value))) => read.runs_where(field, value)?,
            // No filter but time: the runs table is keyed by time.
            _ => read.runs_between(since.as_deref(), until.as_deref(), query.limit)?,
        };
        runs.retain(|r| matches(&r.id, run_keys(r)));
        runs.extend(pending);
        runs.sort_by(|a, b| a.id.cmp(&b.id));
        // A read-only run's record can be both committed and still in memory for a moment.
        runs.dedup_by(|a, b| a.id == b.id);
        if let Some(limit) = query.limit {
            let skip = runs.len().saturating_sub(limit);
            runs.drain(..skip);
        }
        Ok(runs)
    }

    /// The tree of runs under `id` (the run, its children, theirs ...).
    ///
    /// ```
    /// use coworker::{Engine, RunRequest};
    /// use serde_json::json;
    /// let engine = Engine::in_memory().unwrap();
    /// let run = engine.run_value(json!({"operation": "workflow", "input": {"children": [
    ///     {"id": "a", "operation": "create", "into": "Note", "input": {"data": {"t": 1}}},
    ///     {"id": "b", "operation": "select", "from": "Note"}]}}));
    /// let tree = engine.run_tree(&run.id).unwrap().unwrap();
    /// let steps: Vec<_> = tree.children.iter().map(|c| c.run.step_id.clone().unwrap()).collect();
    /// assert_eq!(steps, ["a", "b"]);
    /// assert_eq!(engine.root_of(&tree.children[1].run.id).unwrap().unwrap().id, run.id);
    /// ```
    pub fn run_tree(&self, id: &str) -> Result<Option<RunTree>> {
        let Some(run) = self.get_run(id)? else {
            return Ok(None);
        };
        let mut children = Vec::with_capacity(run.child_run_ids.len());
        for child in &run.child_run_ids {
            if let Some(tree) = self.run_tree(child)? {
                children.push(tree);
            }
        }
        Ok(Some(RunTree { run, children }))
    }

    /// The top-level run above `id` (the workflow a step belongs to, ...), or `id`'s own
    /// run when it is top-level.
    pub fn root_of(&self, id: &str) -> Result<Option<Run>> {
        let mut current = self.get_run(id)?;
        while let Some(parent) = current.as_ref().and_then(|r| r.parent_run_id.clone()) {
            match self.get_run(&parent)? {
                Some(run) => current = Some(run),
                None => break,
            }
        }
        Ok(current)
    }
}
