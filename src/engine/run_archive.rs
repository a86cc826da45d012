//! Reading an archive of pruned run records back: one run, a filtered list, a tree
//! (`coworker runs show|list|tree --archive FILE`).

use super::{RunQuery, RunTree};
use crate::archive::read_lines;
use crate::error::{Error, Result};
use crate::run::Run;
use std::collections::BTreeMap;
use std::path::Path;

/// An archive of pruned run records (`runs-YYYY-MM-DD.jsonl.gz`), read whole.
///
/// ```no_run
/// use coworker::{RunArchive, RunQuery};
///
/// let archive = RunArchive::open("store.redb.archive/runs-2026-01-31.jsonl.gz").unwrap();
/// for run in archive.list(&RunQuery::default()).unwrap() {
///     println!("{} {:?}", run.id, run.operation);
/// }
/// ```
#[derive(Debug, Clone)]
pub struct RunArchive {
    /// The runs by id (ids sort by start time); a run archived twice counts once.
    runs: BTreeMap<String, Run>,
}

impl RunArchive {
    /// Read the archive at `path`; a file that is not a run archive, or a line that is not
    /// a run, is refused with BAD_REQUEST.
    pub fn open(path: impl AsRef<Path>) -> Result<RunArchive> {
        let path = path.as_ref();
        let lines = read_lines(path, "runs")?;
        let mut runs = BTreeMap::new();
        for (number, line) in lines.lines.iter().enumerate() {
            let run: Run = serde_json::from_slice(line).map_err(|e| {
                Error::bad_request(format!(
                    "line {} of archive {} is not a run record: {e}",
                    number + 2,
                    path.display()
                ))
            })?;
            runs.insert(run.id.clone(), run);
        }
        Ok(RunArchive { runs })
    }

    /// How many runs the archive holds.
    pub fn len(&self) -> usize {
        self.runs.len()
    }

    /// Whether the archive holds no run.
    pub fn is_empty(&self) -> bool {
        self.runs.is_empty()
    }

    /// One run, by id.
    pub fn get(&self, id: &str) -> Option<&Run> {
        self.runs.get(id)
    }

    /// The runs matching `query` (as [`crate::Engine::list_runs`] filters), oldest first;
    /// with `limit`, the newest `limit` of them. A `since`/`until` that is not an RFC 3339
    /// instant is refused with BAD_REQUEST.
    pub fn list(&self, query: &RunQuery) -> Result<Vec<Run>> {
        let instant = |text: &Option<String>| -> Result<Option<jiff::Timestamp>> {
            text.as_deref()
                .map(|t| {
                    t.parse::<jiff::Timestamp>().map_err(|e| {
                        Error::bad_request(format!("`{t}` is not an RFC 3339 instant: {e}"))
                    })
                })
                .transpose()
        };
        let (since, until) = (instant(&query.since)?, instant(&query.until)?);
        let is = |wanted: &Option<String>, value: Option<&String>| {
            wanted.as_ref().is_none_or(|w| Some(w) == value)
        };
        let mut runs: Vec<Run> = self
            .runs
            .values()
            .filter(|run| {
                let started: Option<jiff::Timestamp> = run.timestamp.parse().ok();
                is(&query.flow_id, run.flow_id.as_ref())
                    && is(&query.chain_id, Some(&run.chain_id))
                    && is(&query.parent_run_id, run.parent_run_id.as_ref())
                    && is(&query.owner, run.owner.as_ref())
                    && query.status.is_none_or(|s| s == run.status)
                    && since.is_none_or(|s| started.is_some_and(|t| t >= s))
                    && until.is_none_or(|u| started.is_some_and(|t| t < u))
            })
            .cloned()
            .collect();
        if let Some(limit) = query.limit {
            runs.drain(..runs.len().saturating_sub(limit));
        }
        Ok(runs)
    }

    /// The tree under run `id`: its children as the archive holds them (a child kept in
    /// the store as a stub, or archived elsewhere, is left out).
    pub fn tree(&self, id: &str) -> Option<RunTree> {
        let run = self.runs.get(id)?.clone();
        let children = run
            .child_run_ids
            .iter()
            .filter_map(|child| self.tree(child))
            .collect();
        Some(RunTree { run, children })
    }
}
