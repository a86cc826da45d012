//! Reading runs back: one run, lists by flow / chain / parent / owner / status / time, the
//! tree under a run and the root above it. Lists use the run indexes, or walk the runs
//! table (keyed by time) newest first and stop at the limit, never more; records of
//! read-only runs still waiting in memory are included.

use super::Engine;
use crate::acl::{self, Access, Grant};
use crate::error::{Error, ErrorCode, Result};
use crate::run::{Run, RunStatus};
use crate::store::{Backend, RunKeys, Snapshot, run_keys, status_indexed};
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

/// The doctype whose permissions decide who reads run records (no documents of it exist:
/// a `Run` schema only carries DocPerm rows).
const RUN: &str = "Run";

/// The first run id that could start at `instant` (ULIDs begin with their millisecond).
fn id_bound(instant: &str) -> Result<String> {
    let timestamp: jiff::Timestamp = instant
        .parse()
        .map_err(|e| Error::bad_request(format!("`{instant}` is not an RFC 3339 instant: {e}")))?;
    let ms = u64::try_from(timestamp.as_millisecond()).unwrap_or(0);
    Ok(ulid::Ulid::from_parts(ms, 0).to_string())
}

/// Which run records a handle may read back.
enum Scope {
    /// Every run: the host's own handle, a store without access control, the superuser, an
    /// owner granted `read` on the doctype `Run`.
    All,
    /// The runs this user owns.
    Owner(String),
}

impl Scope {
    fn sees(&self, run: &Run) -> bool {
        match self {
            Scope::All => true,
            Scope::Owner(user) => run.owner.as_deref() == Some(user.as_str()),
        }
    }
}

impl Engine {
    /// What this handle may read back. A handle with an owner ([`Engine::with_owner`],
    /// [`Engine::pin_owner`]) reads as that owner once access control is on, with the
    /// permissions of a select on the doctype `Run` (a `Run` schema's DocPerm rows may
    /// grant `read`): the superuser and granted roles see every run, everyone else their
    /// own. The plain handle is the host's and sees every run.
    fn run_scope(&self) -> Result<Scope> {
        let Some(owner) = self.owner.as_deref() else {
            return Ok(Scope::All);
        };
        let tx = self.core.snapshot()?;
        let Some(identity) = self.core.identity(&tx, Some(owner))? else {
            return Ok(Scope::All);
        };
        let schema = self.core.catalog.schema(&tx, RUN)?;
        Ok(
            match acl::doctype_access(&identity, schema.as_deref(), RUN, Access::Read, "select") {
                Ok(Grant::All) => Scope::All,
                _ => Scope::Owner(identity.user),
            },
        )
    }

    /// One run record by id. Through a handle with an owner, a run the owner may not see
    /// is refused (PERMISSION_DENIED; see [`Engine::with_owner`]).
    pub fn get_run(&self, id: &str) -> Result<Option<Run>> {
        let scope = self.run_scope()?;
        match self.core.store.get_run(id)? {
            Some(run) if !scope.sees(&run) => Err(Error::new(
                ErrorCode::PermissionDenied,
                format!(
                    "`{}` may not see run {id}: it is not theirs (runs are read with the permissions of a select on `{RUN}`)",
                    self.owner.as_deref().unwrap_or_default()
                ),
            )
            .with_details(serde_json::json!({"doctype": RUN, "name": id, "operation": "select"}))),
            found => Ok(found),
        }
    }

    /// Runs matching `query`, oldest first (with `limit`, the newest `limit` of them).
    /// Through a handle with an owner, only the runs that owner may see.
    pub fn list_runs(&self, query: &RunQuery) -> Result<Vec<Run>> {
        match self.run_scope()? {
            Scope::All => self.list_runs_unchecked(query),
            Scope::Owner(user) => match query.owner.as_deref() {
                Some(other) if other != user => Ok(Vec::new()),
                _ => self.list_runs_unchecked(&RunQuery {
                    owner: Some(user),
                    ..query.clone()
                }),
            },
        }
    }

    fn list_runs_unchecked(&self, query: &RunQuery) -> Result<Vec<Run>> {
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
        let pending = self.core.store.pending_runs(&matches)?;
        let read = self.core.store.read()?;
        // The first filter the run index answers (completed runs are not indexed: most
        // runs are, see `status_indexed`).
        let indexed = filters.iter().find_map(|(field, value)| {
            value
                .filter(|v| *field != "status" || status_indexed(v))
                .map(|v| (*field, v))
        });
        let mut runs: Vec<Run> = match indexed {
            Some((field, value)) => read.runs_where(field, value)?,
            // No filter but time (and perhaps `completed`): the runs table is keyed by time.
            None => newest_between(
                &*read,
                since.as_deref(),
                until.as_deref(),
                query.limit,
                &|r: &Run| matches(&r.id, run_keys(r)),
            )?,
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
    ///
    /// Through a handle with an owner, the root must be a run the owner may see (else
    /// PERMISSION_DENIED), and runs under it they may not see are left out.
    pub fn run_tree(&self, id: &str) -> Result<Option<RunTree>> {
        let Some(run) = self.get_run(id)? else {
            return Ok(None);
        };
        let scope = self.run_scope()?;
        self.subtree(run, &scope).map(Some)
    }

    fn subtree(&self, run: Run, scope: &Scope) -> Result<RunTree> {
        let mut children = Vec::with_capacity(run.child_run_ids.len());
        for child in &run.child_run_ids {
            if let Some(child) = self.core.store.get_run(child)?
                && scope.sees(&child)
            {
                children.push(self.subtree(child, scope)?);
            }
        }
        Ok(RunTree { run, children })
    }

    /// The top-level run above `id` (the workflow a step belongs to, ...), or `id`'s own
    /// run when it is top-level.
    pub fn root_of(&self, id: &str) -> Result<Option<Run>> {
        let mut current = self.get_run(id)?;
        let scope = self.run_scope()?;
        while let Some(parent) = current.as_ref().and_then(|r| r.parent_run_id.clone()) {
            match self.core.store.get_run(&parent)? {
                Some(run) if scope.sees(&run) => current = Some(run),
                _ => break,
            }
        }
        Ok(current)
    }
}

/// How many records a walk of the runs table reads at a time.
const RUN_WALK_PAGE: usize = 256;

/// The runs in `[since, until)` that are `wanted`, oldest first; with `limit`, at least the
/// newest `limit` of them (all when fewer): the runs table is walked newest first, a page
/// at a time, and the walk stops once `limit` are found.
fn newest_between(
    read: &(impl Snapshot + ?Sized),
    since: Option<&str>,
    until: Option<&str>,
    limit: Option<usize>,
    wanted: &dyn Fn(&Run) -> bool,
) -> Result<Vec<Run>> {
    let Some(limit) = limit else {
        let mut runs = read.runs_between(since, until, None)?;
        runs.retain(|r| wanted(r));
        return Ok(runs);
    };
    let mut found = Vec::new();
    let mut until = until.map(str::to_string);
    while found.len() < limit {
        let page = read.runs_between(since, until.as_deref(), Some(RUN_WALK_PAGE))?;
        let last_page = page.len() < RUN_WALK_PAGE;
        until = page.first().map(|oldest| oldest.id.clone());
        found.extend(page.into_iter().rev().filter(|r| wanted(r)));
        if last_page {
            break;
        }
    }
    found.reverse();
    Ok(found)
}

#[cfg(test)]
mod tests {
    use crate::store::{Backend, WriteTx};
    use crate::{Engine, RunRequest};
    use serde_json::json;

    /// Duplicates of a unique value stored before the field was unique (an earlier version
    /// allowed it) lock nobody out: an update that leaves the value alone passes.
    #[test]
    fn a_pre_existing_duplicate_does_not_fail_an_update_that_keeps_it() {
        let engine = Engine::in_memory().unwrap();
        let imported = engine.import_schemas(vec![json!({"doctype": "DocType", "name": "Item",
            "fields": [{"fieldname": "code", "fieldtype": "Data", "unique": 1},
                       {"fieldname": "qty", "fieldtype": "Int"}]})]);
        assert!(imported.success, "{:?}", imported.error);
        let create = |name: &str, code: &str| {
            engine.run(
                RunRequest::new("create")
                    .into_doctype("Item")
                    .input(json!({"data": {"name": name, "code": code}})),
            )
        };
        assert!(create("I-1", "A").success);
        // What an earlier version could store: a second `A`, written past the checks.
        let mut twin = engine.run(RunRequest::new("select").from("Item")).data()[0]
            .as_object()
            .unwrap()
            .clone();
        twin.insert("name".into(), json!("I-2"));
        engine
            .core
            .store
            .write(|mut tables| tables.put_doc("Item", "I-2", &twin, &["code".to_string()]))
            .unwrap()
            .unwrap();
        let update = |name: &str, data: serde_json::Value| {
            engine.run(
                RunRequest::new("update")
                    .in_doctype("Item")
                    .input(json!({"name": name, "data": data})),
            )
        };
        for name in ["I-1", "I-2"] {
            let run = update(name, json!({"qty": 2}));
            assert!(run.success, "{name}: {:?}", run.error);
            assert!(update(name, json!({"code": "A", "qty": 3})).success);
        }
        // Changing to a taken value still fails; moving off the duplicate succeeds.
        assert!(update("I-2", json!({"code": "B"})).success);
        let taken = update("I-1", json!({"code": "B"}));
        assert_eq!(
            taken.error.unwrap().code,
            crate::ErrorCode::ValidationFailed
        );
    }
}
