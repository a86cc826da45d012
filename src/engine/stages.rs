//! The engine's own stages of the pipeline (`pipeline.rs` calls them in order): the run's
//! deadline and write budget, the refusals before any work (writes on a snapshot, nesting
//! too deep, changes to the audit trail), authorization, and the undoing of a failed run.
//! Also [`Runner`], what handlers reach of the engine.

use super::Core;
use crate::acl::{self, Access, Grant, Identity};
use crate::error::{Error, ErrorCode, Result};
use crate::handler::budget::{self, Deadline, Spent, WriteCeiling};
use crate::handler::{Builtin, Catalog, Handler, Operation, Parent, RunLog, Runner, Savepoint, Tx};
use crate::run::{Run, RunRequest};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Instant;

impl Runner for Core {
    fn run_nested(
        &self,
        tx: &mut Tx<'_>,
        log: &mut RunLog,
        request: RunRequest,
        parent: &Parent<'_>,
    ) -> Run {
        self.execute(tx, log, request, Some(parent))
    }

    fn resolve(&self, tx: &Tx<'_>, name: Option<&str>) -> Result<Arc<Operation>> {
        Core::resolve(self, tx, name)
    }

    fn may_write(&self, name: &str) -> bool {
        self.registry.may_write(Some(name))
    }

    fn catalog(&self) -> &Catalog {
        &self.catalog
    }
}

impl Core {
    /// The operation `name` resolves to, as `tx` sees the operation documents.
    pub(super) fn resolve(&self, tx: &Tx<'_>, name: Option<&str>) -> Result<Arc<Operation>> {
        self.registry.resolve(name, tx.view(), |canonical| {
            self.catalog.operation(tx, canonical)
        })
    }

    /// Who the run acts for and how far its permission reaches (both `None` while access
    /// control is off); a top-level run also passes its owner's rate limit.
    pub(super) fn authorize(
        &self,
        tx: &Tx<'_>,
        run: &Run,
        depth: usize,
        op: &Operation,
        doctype: Option<&str>,
    ) -> Result<(Option<Identity>, Option<Grant>)> {
        let identity = self.identity(tx, run.owner.as_deref())?;
        let grant = match &identity {
            None => None,
            Some(identity) => {
                if depth == 0
                    && let Some(settings) = self.catalog.acl_settings(tx)?
                    && let Some((per_second, burst)) = settings.rate_limit
                {
                    self.limiter.admit(&identity.user, per_second, burst)?;
                }
                self.grant(tx, identity, op, doctype)?
            }
        };
        Ok((identity, grant))
    }

    /// Who a run acts for once access control is on (`None` while it is off).
    pub(super) fn identity(&self, tx: &Tx<'_>, owner: Option<&str>) -> Result<Option<Identity>> {
        let Some(settings) = self.catalog.acl_settings(tx)? else {
            return Ok(None);
        };
        let user = match owner {
            Some(owner) => self.catalog.user(tx, owner)?,
            None => None,
        };
        acl::identify(&settings, owner, user.as_deref()).map(Some)
    }

    /// May `identity` run `op` on `doctype`? For built-ins, how far the grant reaches.
    fn grant(
        &self,
        tx: &Tx<'_>,
        identity: &Identity,
        op: &Operation,
        doctype: Option<&str>,
    ) -> Result<Option<Grant>> {
        let access = match op.handler {
            Handler::Builtin(Builtin::Select) => Access::Read,
            Handler::Builtin(Builtin::Create | Builtin::Restore) => Access::Create,
            Handler::Builtin(Builtin::Update) => Access::Write,
            Handler::Builtin(Builtin::Delete) => Access::Delete,
            Handler::Builtin(Builtin::Submit) => Access::Submit,
            Handler::Builtin(Builtin::Cancel) => Access::Cancel,
            Handler::Builtin(Builtin::Amend) => Access::Amend,
            // A workflow's steps are checked one by one.
            Handler::Builtin(Builtin::Workflow) => return Ok(None),
            Handler::Native(_) | Handler::Script(_) => {
                acl::operation_access(identity, &op.name, &op.roles, op.superuser_only)?;
                return Ok(None);
            }
        };
        let Some(doctype) = doctype else {
            return Ok(None);
        };
        let schema = self.catalog.schema(tx, doctype)?;
        acl::doctype_access(identity, schema.as_deref(), doctype, access, &op.name).map(Some)
    }
}

/// The run's deadline: its own `options.timeoutMs` (a top-level run without one gets the
/// default), or an ancestor's if that is earlier. Nothing more starts in a tree that has
/// written past a budget (failed runs' records count too).
pub(super) fn deadline(
    request: &RunRequest,
    run: &Run,
    parent: Option<&Parent<'_>>,
    spent: &Spent,
) -> Result<Deadline> {
    let started = Instant::now();
    if let Some(parent) = parent {
        parent.ceiling.check_spent(spent)?;
    }
    let own = request
        .options
        .timeout_ms
        .map(|ms| Deadline::after(started, ms, &run.id, "options.timeoutMs"));
    Ok(match parent {
        Some(parent) => parent.deadline.clone().tighter(own),
        None => own.unwrap_or_else(|| {
            Deadline::after(
                started,
                budget::DEFAULT_RUN_TIMEOUT_MS,
                &run.id,
                "the default run timeout",
            )
        }),
    })
}

/// Refuse to start `op` once the deadline has passed; otherwise its write ceiling (never
/// higher than its parent's).
pub(super) fn budget(
    op: &Operation,
    deadline: &Deadline,
    parent: Option<&Parent<'_>>,
    spent: &Spent,
) -> Result<WriteCeiling> {
    if deadline.passed() {
        return Err(deadline.error(
            &format!("`{}` could not start:", op.name),
            json!({"operation": op.name}),
        ));
    }
    Ok(WriteCeiling::of(
        &op.name,
        &op.limits,
        spent,
        parent.map(|p| p.ceiling),
    ))
}

/// Its writes would be dropped on a snapshot: refuse rather than pretend. (A workflow's
/// template can change between the choice of path and its step.)
pub(super) fn refuse_writes_on_snapshot(
    tx: &Tx<'_>,
    request: &RunRequest,
    op: &Operation,
) -> Result<()> {
    let reads = matches!(
        op.handler,
        Handler::Builtin(Builtin::Select | Builtin::Workflow)
    );
    if matches!(tx, Tx::Read(..)) && !request.options.dry_run.unwrap_or(false) && !reads {
        return Err(Error::new(
            ErrorCode::Conflict,
            format!(
                "`{}` may write but was started on a read snapshot (its workflow changed as it started): run it again",
                op.name
            ),
        ));
    }
    Ok(())
}

/// Runs nest no deeper than the operation's `maxRunDepth` and [`super::MAX_NESTED_DEPTH`].
pub(super) fn check_depth(depth: usize, op: &Operation) -> Result<()> {
    if depth > op.limits.max_run_depth.min(super::MAX_NESTED_DEPTH) {
        return Err(Error::new(
            ErrorCode::LimitExceeded,
            format!(
                "runs nest deeper than {} levels (limit: maxRunDepth)",
                op.limits.max_run_depth.min(super::MAX_NESTED_DEPTH)
            ),
        ));
    }
    Ok(())
}

/// What a built-in may not do to a system doctype at all (the audit trail is appended to,
/// never updated or deleted): the save rules' home decides.
pub(super) fn refuse_system_changes(op: &Operation, doctype: Option<&str>) -> Result<()> {
    match op.handler {
        Handler::Builtin(builtin) => crate::ops::system::refuse_builtin(doctype, builtin),
        _ => Ok(()),
    }
}

/// The template a run stamps: a workflow run its own (none when inline); others inherit.
pub(super) fn template(
    request: &RunRequest,
    op: &Operation,
    parent: Option<&Parent<'_>>,
) -> Option<String> {
    match op.handler {
        Handler::Builtin(Builtin::Workflow) => request.template.clone(),
        _ => parent.and_then(|p| p.template.map(str::to_string)),
    }
}

/// Undo a failed run's writes (to `savepoint`); the run fails with `error`, or with a
/// storage error when its writes could not be undone.
pub(super) fn roll_back(
    error: Error,
    savepoint: Option<Savepoint>,
    tx: &mut Tx<'_>,
    log: &mut RunLog,
) -> Result<Value> {
    match Savepoint::roll_back(savepoint, tx, log) {
        Ok(()) => Err(error),
        Err(undo) => Err(Error::Storage(format!(
            "{error}; and its writes could not be rolled back: {undo}"
        ))),
    }
}

/// A panic inside a run, as the run's error (INTERNAL).
pub(super) fn panicked(panic: &Box<dyn std::any::Any + Send>) -> Error {
    Error::internal(format!("the run panicked: {}", panic_message(panic)))
}

/// What a panic said (its message, when it has one).
fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_string())
}
