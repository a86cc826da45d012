//! What a handler sees while it executes ([`OpContext`]): its request, its run, the
//! store through the run's transaction, the catalog, and nested runs (started through the
//! engine's [`Runner`]). Savepoints take a run's writes back (the one place writes are
//! undone, for the pipeline and for workflow steps alike). It never commits.

use super::budget::{Deadline, WriteCeiling};
use super::{Operation, Parent, RunLog, Runner, Tx};
use crate::acl::{Grant, Identity};
use crate::audit::{self, Action};
use crate::error::{Error, ErrorCode, Result};
use crate::run::{Run, RunRequest};
use crate::schema::Schema;
use crate::store::{Mark, StoreTx, View, WriteTx};
use serde_json::Value;
use std::sync::Arc;

/// What a handler sees while it executes: its request, its run, and nested runs.
pub struct OpContext<'c, 't> {
    /// The engine, as far as a handler reaches it (nested runs, operations, the catalog).
    pub(crate) runner: &'c dyn Runner,
    pub(crate) tx: &'c mut Tx<'t>,
    /// The run tree's records, this run's nested runs' among them.
    pub(crate) log: &'c mut RunLog,
    pub(crate) request: &'c RunRequest,
    pub(crate) run: &'c Run,
    pub(crate) depth: usize,
    pub(crate) children: &'c mut Vec<String>,
    pub(crate) op: Arc<Operation>,
    /// The innermost workflow template this run belongs to.
    pub(crate) template: Option<String>,
    /// Which attempt of a retried step this run is.
    pub(crate) attempt: u32,
    /// Who the run acts for (access control on).
    pub(crate) identity: Option<Identity>,
    /// How far the owner's permission reaches on the target doctype (built-ins).
    pub(crate) grant: Option<Grant>,
    /// When this run must be done: its own `options.timeoutMs` (or the default of a
    /// top-level run), its handler's `timeoutMs`, or an ancestor's, whichever comes first.
    pub(crate) deadline: Deadline,
    /// How much more the run and those beneath it may write.
    pub(crate) ceiling: WriteCeiling,
}

/// A point inside a run to take its writes back to, and where its nested runs' records
/// begin.
pub(crate) struct Savepoint {
    mark: Mark,
    records: usize,
}

impl Savepoint {
    /// A point to roll `tx` back to (`None` outside a write transaction).
    pub(crate) fn take(tx: &Tx<'_>, log: &RunLog) -> Option<Savepoint> {
        match tx {
            Tx::Write(tables) => Some(Savepoint {
                mark: tables.mark(),
                records: log.len(),
            }),
            Tx::Read(..) => None,
        }
    }

    /// Take back every write since `savepoint`; the runs that completed since are recorded
    /// as rolled back. The one place a run's writes are undone.
    pub(crate) fn roll_back(
        savepoint: Option<Savepoint>,
        tx: &mut Tx<'_>,
        log: &mut RunLog,
    ) -> Result<()> {
        match (tx, savepoint) {
            (Tx::Write(tables), Some(savepoint)) => {
                tables.rollback_to(savepoint.mark)?;
                log.rolled_back_from(savepoint.records)
            }
            _ => Ok(()),
        }
    }
}

/// Who and what stamps the documents a run writes.
pub(crate) struct Stamp {
    pub time: String,
    pub user: Option<String>,
    pub run_id: String,
    pub template: Option<String>,
}

impl<'c, 't> OpContext<'c, 't> {
    /// The request being executed (it outlives the context's own borrows, so a handler can
    /// keep reading it while it starts nested runs).
    pub fn request(&self) -> &'c RunRequest {
        self.request
    }

    /// The run being executed (status `running`). Its `input` is filled in when it
    /// finishes: read the input from [`request`](Self::request).
    pub fn current(&self) -> &Run {
        self.run
    }

    /// Start a nested run. It inherits owner, agent and flow, shares this run's chain and
    /// transaction, and is listed in this run's `childRunIds`.
    pub fn run(&mut self, request: RunRequest) -> Run {
        self.run_nested(request, 1)
    }

    /// Time left before this run's deadline (its own, its handler's or an ancestor's):
    /// a nested run started later gets no more, and a native handler should stop by then
    /// (the run fails with TIMEOUT once it has passed).
    pub fn time_left(&self) -> std::time::Duration {
        self.deadline.left()
    }

    fn run_nested(&mut self, request: RunRequest, attempt: u32) -> Run {
        // This run's deadline and write ceiling bound everything under it.
        let parent = Parent {
            run: self.run,
            depth: self.depth,
            template: self.template.as_deref(),
            attempt,
            deadline: &self.deadline,
            ceiling: &self.ceiling,
        };
        let child = self.runner.run_nested(self.tx, self.log, request, &parent);
        self.children.push(child.id.clone());
        child
    }

    /// Start a nested run from a JSON request (what scripts send); a request that does not
    /// parse gives a failed child run.
    pub(crate) fn run_value(&mut self, request: Value) -> Run {
        let step = request
            .get("stepId")
            .and_then(Value::as_str)
            .map(str::to_string);
        let parsed = RunRequest::from_value(request);
        self.run_parsed(parsed, step.as_deref().unwrap_or_default(), 1)
    }

    /// A nested run of a parsed request, attempt `attempt` of step `step`; a request that
    /// did not parse gives a failed child run.
    pub(crate) fn run_parsed(
        &mut self,
        request: Result<RunRequest>,
        step: &str,
        attempt: u32,
    ) -> Run {
        match request {
            Ok(request) => self.run_nested(request, attempt),
            Err(error) => self.fail_child(error, step, None),
        }
    }

    /// A failed child run for a step that could not even be requested (a reference that
    /// does not resolve, a request that does not parse).
    pub(crate) fn fail_child(
        &mut self,
        error: crate::Error,
        step: &str,
        operation: Option<&str>,
    ) -> Run {
        let started = std::time::Instant::now();
        let mut child = Run::start(&RunRequest::default(), Some(self.run));
        child.step_id = (!step.is_empty()).then(|| step.to_string());
        child.operation = operation.map(str::to_string);
        child.finish(Err(error), started);
        self.log.keep(&child);
        self.children.push(child.id.clone());
        child
    }

    /// This run's deadline.
    pub(crate) fn deadline(&self) -> &Deadline {
        &self.deadline
    }

    /// Fail a run that outlived its deadline (its own or an ancestor's); the pipeline then
    /// rolls it back.
    pub(crate) fn check_deadline(&self) -> Result<()> {
        if self.deadline.passed() {
            return Err(self.deadline.error(
                &format!("`{}` was still running when", self.op.name),
                serde_json::json!({"operation": self.op.name}),
            ));
        }
        Ok(())
    }

    /// Charge writing a document of `bytes` (as measured by its size check; 0 for a delete)
    /// as `doctype` `name` to the run tree's write budget, or refuse it with LIMIT_EXCEEDED
    /// before anything is written. Nothing is charged when the run does not write (a dry
    /// run, a read snapshot).
    pub(crate) fn charge_write(&mut self, doctype: &str, name: &str, bytes: u64) -> Result<()> {
        if !self.writing() {
            return Ok(());
        }
        self.ceiling
            .charge(&mut self.log.spent, bytes, doctype, name)
    }

    /// A point to roll this run's writes back to (`None` outside a write transaction).
    pub(crate) fn savepoint(&self) -> Option<Savepoint> {
        Savepoint::take(self.tx, self.log)
    }

    /// Take back every write since `savepoint` (a workflow step that failed as a whole); the
    /// runs that completed since are recorded as rolled back.
    pub(crate) fn rollback(&mut self, savepoint: Option<Savepoint>) -> Result<()> {
        Savepoint::roll_back(savepoint, self.tx, self.log)
    }

    /// Whether `name` resolves to an operation in this run's view of the store.
    pub(crate) fn operation_exists(&self, name: &str) -> bool {
        self.runner.resolve(self.tx, Some(name)).is_ok()
    }

    /// Whether a run of operation `name` may write (only selects are known not to).
    pub(crate) fn operation_may_write(&self, name: &str) -> bool {
        self.runner.may_write(name)
    }

    /// The operation being executed, with its settings.
    pub(crate) fn operation(&self) -> &Operation {
        &self.op
    }

    pub(crate) fn view(&self) -> &dyn View {
        self.tx.view()
    }

    /// Whether the run only checks and must not write (`options.dryRun`).
    pub(crate) fn dry_run(&self) -> bool {
        self.request.options.dry_run.unwrap_or(false)
    }

    /// Whether this run writes (not a dry run, not a read-only run).
    pub(crate) fn writing(&self) -> bool {
        !self.dry_run() && matches!(&*self.tx, Tx::Write(_))
    }

    /// The write tables, or `None` in a dry run or a read-only run.
    pub(crate) fn tables_if_writing(&mut self) -> Option<&mut StoreTx<'t>> {
        match (self.request.options.dry_run.unwrap_or(false), &mut *self.tx) {
            (false, Tx::Write(tables)) => Some(tables),
            _ => None,
        }
    }

    /// The size limits in force (the `System Settings` document `limits`).
    pub(crate) fn size_limits(&self) -> Result<crate::value::SizeLimits> {
        self.runner.catalog().size_limits(self.tx)
    }

    /// The schema of `doctype` (`None`: the null schema, anything goes).
    pub(crate) fn schema(&self, doctype: &str) -> Result<Option<Arc<Schema>>> {
        self.runner.catalog().schema(self.tx, doctype)
    }

    /// The catalog of cached meta documents, as this run sees them.
    pub(crate) fn catalog(&self) -> &super::Catalog {
        self.runner.catalog()
    }

    /// The superuser role while access control is on (`None` while it is off).
    pub(crate) fn superuser_role(&self) -> Result<Option<String>> {
        Ok(self
            .runner
            .catalog()
            .acl_settings(self.tx)?
            .map(|s| s.superuser_role.clone()))
    }

    /// Who the run acts for (`None` while access control is off).
    pub(crate) fn identity(&self) -> Option<&Identity> {
        self.identity.as_ref()
    }

    /// The user documents must belong to when the owner may touch only their own
    /// (`if_owner` permissions); `None` when the grant covers every document.
    pub(crate) fn own_only(&self) -> Option<&str> {
        match (&self.grant, &self.identity) {
            (Some(Grant::OwnOnly), Some(identity)) => Some(&identity.user),
            _ => None,
        }
    }

    /// Refuse to change `doc` unless the owner's grant reaches it.
    pub(crate) fn may_change(&self, doctype: &str, doc: &crate::doc::Doc) -> Result<()> {
        let Some(user) = self.own_only() else {
            return Ok(());
        };
        if doc.get("owner").and_then(Value::as_str) == Some(user) {
            return Ok(());
        }
        let name = doc.get("name").and_then(Value::as_str).unwrap_or("?");
        Err(Error::new(
            ErrorCode::PermissionDenied,
            format!(
                "`{user}` may only {} their own {doctype} documents; `{name}` is not theirs",
                self.op.name
            ),
        )
        .with_details(
            serde_json::json!({"doctype": doctype, "name": name, "operation": self.op.name}),
        ))
    }

    /// Record a change in the audit trail, in this run's transaction (not in a dry run).
    pub(crate) fn audit(
        &mut self,
        action: Action,
        doctype: &str,
        name: &str,
        extra: serde_json::Map<String, Value>,
    ) -> Result<()> {
        // As `tables_if_writing`, with the run borrowed beside the tables.
        let dry_run = self.request.options.dry_run.unwrap_or(false);
        match (dry_run, &mut *self.tx) {
            (false, Tx::Write(tables)) => {
                let timestamp = crate::clock::now_rfc3339();
                audit::append_for_run(tables, action, self.run, (doctype, name), extra, &timestamp)
            }
            _ => Ok(()),
        }
    }

    pub(crate) fn stamp(&self) -> Stamp {
        Stamp {
            time: self.run.timestamp.clone(),
            user: self.run.owner.clone(),
            run_id: self.run.id.clone(),
            template: self.template.clone(),
        }
    }
}
