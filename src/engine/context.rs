//! What a handler sees while it executes ([`OpContext`]): its request, its run, the
//! store through the run's transaction, and nested runs. It never commits.

use super::Inner;
use super::budget::{Deadline, WriteCeiling};
use super::pipeline::{Parent, Trail, Tx};
use crate::acl::{Grant, Identity};
use crate::audit::{self, Action};
use crate::error::{Error, ErrorCode, Result};
use crate::ops::Operation;
use crate::run::{Run, RunRequest};
use crate::schema::Schema;
use crate::store::{Mark, View, WriteTables};
use serde_json::Value;
use std::sync::Arc;

/// What a handler sees while it executes: its request, its run, and nested runs.
pub struct OpContext<'c, 't> {
    pub(super) inner: &'c Inner,
    pub(super) tx: &'c mut Tx<'t>,
    pub(super) trail: &'c mut Trail,
    pub(super) request: &'c RunRequest,
    pub(super) run: &'c Run,
    pub(super) depth: usize,
    pub(super) children: &'c mut Vec<String>,
    pub(super) op: Arc<Operation>,
    /// The innermost workflow template this run belongs to.
    pub(super) template: Option<String>,
    /// Which attempt of a retried step this run is.
    pub(super) attempt: u32,
    /// Who the run acts for (access control on).
    pub(super) identity: Option<Identity>,
    /// How far the owner's permission reaches on the target doctype (built-ins).
    pub(super) grant: Option<Grant>,
    /// When this run must be done: its own `options.timeoutMs` (or the default of a
    /// top-level run), its handler's `timeoutMs`, or an ancestor's, whichever comes first.
    pub(super) deadline: Deadline,
    /// How much more the run and those beneath it may write.
    pub(super) ceiling: WriteCeiling,
}

/// A point inside a run to take its writes back to, and where its nested runs' records
/// begin.
pub(crate) struct Savepoint {
    mark: Mark,
    records: usize,
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
        let child = self
            .inner
            .execute(self.tx, self.trail, request, Some(&parent));
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
        let parent = Parent {
            run: self.run,
            depth: self.depth,
            template: self.template.as_deref(),
            attempt: 1,
            deadline: &self.deadline,
            ceiling: &self.ceiling,
        };
        let child = self
            .inner
            .reject_nested(self.trail, error, &parent, step, operation);
        self.children.push(child.id.clone());
        child
    }

    /// This run's deadline.
    pub(crate) fn deadline(&self) -> &Deadline {
        &self.deadline
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
            .charge(&mut self.trail.spent, bytes, doctype, name)
    }

    /// Wait `ms` before the next attempt of a retried step, within the run tree's total
    /// backoff budget and never past the deadline. Returns `false` (without waiting) when
    /// the wait would take the tree past its backoff budget.
    pub(crate) fn back_off(&mut self, ms: u64) -> bool {
        let spent = &mut self.trail.spent;
        if spent.backoff_ms.saturating_add(ms) > crate::workflow::MAX_TOTAL_BACKOFF_MS {
            return false;
        }
        spent.backoff_ms += ms;
        let wait = std::time::Duration::from_millis(ms).min(self.deadline.left());
        if !wait.is_zero() {
            std::thread::sleep(wait);
        }
        true
    }

    /// A point to roll this run's writes back to (`None` outside a write transaction).
    pub(crate) fn savepoint(&self) -> Option<Savepoint> {
        match &*self.tx {
            Tx::Write(tables) => Some(Savepoint {
                mark: tables.mark(),
                records: self.trail.len(),
            }),
            Tx::Read(..) => None,
        }
    }

    /// Take back every write since `savepoint` (a workflow step that failed as a whole); the
    /// runs that completed since are recorded as rolled back.
    pub(crate) fn rollback(&mut self, savepoint: Option<Savepoint>) -> Result<()> {
        match (&mut *self.tx, savepoint) {
            (Tx::Write(tables), Some(savepoint)) => {
                tables.rollback_to(savepoint.mark)?;
                self.trail.rolled_back_from(savepoint.records)
            }
            _ => Ok(()),
        }
    }

    /// Whether `name` resolves to an operation in this run's view of the store.
    pub(crate) fn operation_exists(&self, name: &str) -> bool {
        self.inner.resolve(self.tx, Some(name)).is_ok()
    }

    /// Whether a run of operation `name` may write (only selects are known not to).
    pub(crate) fn operation_may_write(&self, name: &str) -> bool {
        self.inner.registry.may_write(Some(name))
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
    pub(crate) fn tables_if_writing(&mut self) -> Option<&mut WriteTables<'t>> {
        match (self.request.options.dry_run.unwrap_or(false), &mut *self.tx) {
            (false, Tx::Write(tables)) => Some(tables),
            _ => None,
        }
    }

    /// The size limits in force (the `System Settings` document `limits`).
    pub(crate) fn size_limits(&self) -> Result<crate::value::SizeLimits> {
        self.inner.size_limits(self.tx)
    }

    /// The schema of `doctype` (`None`: the null schema, anything goes).
    pub(crate) fn schema(&self, doctype: &str) -> Result<Option<Arc<Schema>>> {
        let store = &self.inner.store;
        let generation = self.inner.meta_generation(self.tx);
        self.inner
            .schemas
            .schema(self.tx.view(), doctype, generation, || {
                store.schema_generation()
            })
    }

    /// The workflow template `name`, as this run sees it: read, versioned and checked once
    /// per meta generation (templates and the operations they name are meta documents).
    pub(crate) fn template(&self, name: &str) -> Result<Option<Arc<crate::workflow::Template>>> {
        let store = &self.inner.store;
        let generation = self.inner.meta_generation(self.tx);
        self.inner.templates.get(
            self.tx.view(),
            crate::workflow::TEMPLATE,
            name,
            generation,
            || store.schema_generation(),
            |doc| {
                crate::workflow::Template::from_doc(
                    doc,
                    &|op: &str| self.operation_exists(op),
                    &|op: &str| self.operation_may_write(op),
                )
            },
        )
    }

    /// Where documents may link to `doctype` (read from the schemas once per generation).
    pub(crate) fn link_plan(&self, doctype: &str) -> Result<Arc<crate::ops::LinkPlan>> {
        let store = &self.inner.store;
        let generation = self.inner.meta_generation(self.tx);
        self.inner.links.derived(
            doctype,
            generation,
            || store.schema_generation(),
            || crate::ops::LinkPlan::to(self.tx.view(), doctype),
        )
    }

    /// The superuser role while access control is on (`None` while it is off).
    pub(crate) fn superuser_role(&self) -> Result<Option<String>> {
        Ok(self
            .inner
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
    pub(crate) fn may_change(&self, doctype: &str, doc: &crate::query::Doc) -> Result<()> {
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
        let mut entry = audit::entry(action, self.run, Some(doctype), Some(name));
        entry.extend(extra);
        let timestamp = super::now_rfc3339();
        match self.tables_if_writing() {
            Some(tables) => audit::append(tables, entry, &timestamp),
            None => Ok(()),
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
