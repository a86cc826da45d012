//! The run pipeline, for every run, top-level and nested: resolve the operation → check
//! target and input → validate → execute the handler → record the run.
//!
//! A top-level run that may write executes inside the store's shared write transaction and
//! is acknowledged once that transaction is durable; a run that writes nothing executes on
//! a snapshot and never waits for an fsync. A failed run's writes are rolled back; its
//! record is kept. A panic becomes a failed run (INTERNAL).
//!
//! Over ~600 lines: issue 13 splits it (the stages under 100 lines here, `Trail` and the
//! recording beside them).

use super::budget::{self, Deadline, Spent, WriteCeiling};
use super::{Hooks, Inner, OpContext, new_ulid_at, now_rfc3339};
use crate::acl::{self, Access, Grant, Identity};
use crate::audit::{self, Action};
use crate::error::{Error, ErrorCode, Result};
use crate::ops::{self, Handler, Operation};
use crate::run::{Run, RunRequest, RunStatus};
use crate::script::{HostCall, Sandbox};
use crate::store::AUDIT_TRAIL;
use crate::store::{ReadTables, Record, View, WriteTables};
use serde_json::{Map, Value, json};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::Instant;

/// The tables a run reads and writes: a snapshot (with the schema generation observed
/// before it was taken), or the shared write transaction.
#[allow(
    clippy::large_enum_variant,
    reason = "one Tx per top-level run, on its stack; boxing buys nothing"
)]
pub(crate) enum Tx<'t> {
    Read(Arc<ReadTables>, u64),
    Write(WriteTables<'t>),
}

impl Tx<'_> {
    pub(super) fn view(&self) -> &dyn View {
        match self {
            Tx::Read(tables, _) => &**tables,
            Tx::Write(tables) => tables,
        }
    }
}

/// What a run tree leaves to store: every run's record, and an audit entry for each denial
/// and validation failure among them.
#[derive(Default)]
pub(crate) struct Trail {
    records: Vec<Record>,
    failures: Vec<Map<String, Value>>,
    /// The tree is a dry run's: it writes nothing but its run records (no audit entry for
    /// its denials and validation failures either).
    dry_run: bool,
    /// What the tree has written and waited so far (its budget's counters).
    pub(super) spent: Spent,
}

impl Trail {
    /// Keep the record of the finished `run` (and its audit entry, if it must be audited).
    fn keep(&mut self, run: &Run) {
        let output = match (run.operation.as_deref(), run.success, &run.output) {
            (_, _, Value::Null) => None,
            (Some("select"), true, output) => Some(StoredOutput::Select(output)),
            (Some("workflow"), true, output) => Some(StoredOutput::Workflow(output)),
            (_, _, output) => Some(StoredOutput::Own(output)),
        };
        let record = Record::new(run, output.as_ref());
        self.spent.bytes = self.spent.bytes.saturating_add(record.size() as u64);
        self.records.push(record);
        let dry_run = self.dry_run || run.options.dry_run.unwrap_or(false);
        if let Some(action) = failure_action(run).filter(|_| !dry_run) {
            self.failures.push(audit::failure(action, run));
        }
    }

    /// How many records the trail holds (a point to mark rolled back from).
    pub(super) fn len(&self) -> usize {
        self.records.len()
    }

    /// Mark the records kept since `from` as those of runs whose writes were taken back.
    pub(super) fn rolled_back_from(&mut self, from: usize) -> Result<()> {
        for record in self.records.iter_mut().skip(from) {
            *record = record.rolled_back()?;
        }
        Ok(())
    }

    /// The records, oldest run first. A run finishes after the runs it started, so its
    /// record comes after theirs; stored in id order, they are appended to the runs
    /// table's last pages instead of splitting pages in the middle (half-empty pages
    /// doubled the store's growth under workflows).
    ///
    /// The records of a failed tree are no more than a stub each (id, operation, status,
    /// error, tree links) for its nested runs once they pass [`FAILED_TREE_RECORD_BYTES`]
    /// together: a short request whose script loops over large nested runs and then fails
    /// must not leave the write budget's worth of records behind (issue 11: no
    /// amplification). The root's record, which holds the request, stays whole.
    fn into_records(mut self, root: &Run) -> Vec<Record> {
        let total: usize = self.records.iter().map(Record::size).sum();
        if !root.success && total > FAILED_TREE_RECORD_BYTES {
            for record in self.records.iter_mut().filter(|r| r.id() != root.id) {
                match record.trimmed() {
                    Ok(trimmed) => *record = trimmed,
                    // A record that cannot be read back is kept as it is (it was encoded
                    // here, so this does not happen).
                    Err(e) => tracing::error!("a run record could not be trimmed: {e}"),
                }
            }
        }
        self.records.sort_unstable_by(|a, b| a.id().cmp(b.id()));
        self.records
    }

    /// Append the audit entries of the tree's denials and validation failures.
    fn audit_failures(&self, tables: &mut WriteTables<'_>) -> Result<()> {
        for entry in &self.failures {
            audit::append(tables, entry.clone(), &now_rfc3339())?;
        }
        Ok(())
    }
}

pub(crate) use crate::limits::FAILED_TREE_RECORD_BYTES;

/// Who started a nested run: what it inherits.
pub(super) struct Parent<'p> {
    pub(super) run: &'p Run,
    pub(super) depth: usize,
    /// The innermost workflow template above the child (stamped as `createdByTemplate`).
    pub(super) template: Option<&'p str>,
    /// Which attempt of a retried workflow step the child is (1, 2, ...).
    pub(super) attempt: u32,
    /// The parent's deadline: the child's is never later.
    pub(super) deadline: &'p Deadline,
    /// The parent's write ceiling: the child's is never higher.
    pub(super) ceiling: &'p WriteCeiling,
}

impl Inner {
    /// A top-level run: pick the read or write path, execute, record.
    pub(super) fn run_top(&self, request: Result<RunRequest>, partial: Option<&Value>) -> Run {
        let request = match request {
            Ok(request) => request,
            Err(error) => return self.reject(error, partial),
        };
        if self.store.read_only() {
            let mut run = Run::start(&request, None);
            run.finish(
                Err(Error::Storage(
                    "this engine opened its store read-only: it cannot execute requests".into(),
                )),
                Instant::now(),
            );
            return run;
        }
        let dry_run = request.options.dry_run.unwrap_or(false);
        // One meta generation for the choice of path and the read path's caches: a cached
        // template judged read-only is the one that runs.
        let generation = self.store.schema_generation();
        let writes = !dry_run
            && self.registry.may_write(request.operation.as_deref())
            && !self.workflow_reads_only(&request, generation);
        let outcome = if writes {
            self.store
                .write(|tables| {
                    let mut tx = Tx::Write(tables);
                    let mut trail = Trail {
                        dry_run,
                        ..Trail::default()
                    };
                    let run = self.execute(&mut tx, &mut trail, request, None);
                    let Tx::Write(tables) = &mut tx else {
                        unreachable!("the write path holds write tables")
                    };
                    // Denials and validation failures are audited after their rollback.
                    trail.audit_failures(tables)?;
                    // A run that changed nothing (a failed one, a read-only script) keeps
                    // its records in memory like a select: no fsync is owed for it.
                    if tables.has_changes() {
                        let records = trail.into_records(&run);
                        let stored = records.iter().try_for_each(|r| tables.put_record(r));
                        stored.map(|()| (run, Vec::new()))
                    } else {
                        let records = trail.into_records(&run);
                        Ok((run, records))
                    }
                })
                .and_then(|stored| stored)
                .and_then(|(run, later)| self.store.record_later(later).map(|()| run))
        } else {
            self.store
                .read()
                .map(|tables| {
                    let mut tx = Tx::Read(tables, generation);
                    let mut trail = Trail {
                        dry_run,
                        ..Trail::default()
                    };
                    let run = self.execute(&mut tx, &mut trail, request, None);
                    (run, trail)
                })
                .and_then(|(run, trail)| {
                    if !trail.failures.is_empty() {
                        self.store
                            .write(|mut tables| trail.audit_failures(&mut tables))??;
                    }
                    let records = trail.into_records(&run);
                    self.store.record_later(records).map(|()| run)
                })
        };
        match outcome {
            Ok(run) => {
                let hooks = if run.success {
                    &self.hooks.after
                } else {
                    &self.hooks.error
                };
                Hooks::call(hooks, &run);
                run
            }
            Err(error) => {
                tracing::error!("a run could not be recorded: {error}");
                let mut run = Run::start(&RunRequest::default(), None);
                run.finish(Err(error), Instant::now());
                run
            }
        }
    }

    /// A nested request that could not be parsed: a failed child run.
    pub(super) fn reject_nested(
        &self,
        trail: &mut Trail,
        error: Error,
        parent: &Parent<'_>,
        step: &str,
        operation: Option<&str>,
    ) -> Run {
        let started = Instant::now();
        let mut run = Run::start(&RunRequest::default(), Some(parent.run));
        run.step_id = (!step.is_empty()).then(|| step.to_string());
        run.operation = operation.map(str::to_string);
        run.finish(Err(error), started);
        trail.keep(&run);
        run
    }

    /// Record a request that could not even be parsed.
    fn reject(&self, error: Error, partial: Option<&Value>) -> Run {
        let started = Instant::now();
        let mut run = Run::start(&RunRequest::default(), None);
        if let Some(Value::Object(fields)) = partial {
            let text = |key: &str| fields.get(key).and_then(Value::as_str).map(str::to_string);
            run.operation = text("operation");
            run.owner = text("owner");
            run.agent = text("agent");
            run.flow_type = text("flowType");
            run.flow_id = text("flowId");
            run.step_id = text("stepId");
        }
        run.finish(Err(error), started);
        let mut trail = Trail::default();
        trail.keep(&run);
        if let Err(e) = self.store.record_later(trail.into_records(&run)) {
            tracing::error!("a rejected run could not be recorded: {e}");
        }
        Hooks::call(&self.hooks.error, &run);
        run
    }

    /// The pipeline, for every run: top-level and nested.
    pub(super) fn execute(
        &self,
        tx: &mut Tx<'_>,
        trail: &mut Trail,
        request: RunRequest,
        parent: Option<&Parent<'_>>,
    ) -> Run {
        let started = Instant::now();
        let mut run = Run::start(&request, parent.map(|p| p.run));
        let span = tracing::info_span!(
            "run",
            id = %run.id,
            operation = request.operation.as_deref().unwrap_or(""),
            doctype = request.target().unwrap_or(""),
            flow_id = run.flow_id.as_deref().unwrap_or(""),
        );
        let _entered = span.enter();
        // 0. admit: depth and size limits, before any work (the record keeps a cut echo)
        if let Err(error) = self.admit(tx, &request) {
            super::admit::keep_refused(&mut run, request.input);
            run.finish(Err(error), started);
            trail.keep(&run);
            return run;
        }
        if parent.is_none() && !self.hooks.before.is_empty() {
            run.input = request.input.clone();
            Hooks::call(&self.hooks.before, &run);
        }
        run.status = RunStatus::Running;
        let mark = match tx {
            Tx::Write(tables) => Some(tables.mark()),
            Tx::Read(..) => None,
        };
        let depth = parent.map_or(0, |p| p.depth + 1);
        // The records of this run's nested runs are kept from here on.
        let first_record = trail.len();
        let mut children = Vec::new();
        let inherited = Inherited {
            template: parent.and_then(|p| p.template.map(str::to_string)),
            attempt: parent.map_or(1, |p| p.attempt),
            deadline: parent.map(|p| p.deadline.clone()),
            ceiling: parent.map(|p| p.ceiling.clone()),
        };
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            self.stages(
                tx,
                trail,
                &request,
                &mut run,
                depth,
                &mut children,
                inherited,
            )
        }))
        .unwrap_or_else(|panic| {
            Err(Error::internal(format!(
                "the run panicked: {}",
                panic_message(&panic)
            )))
        });
        run.child_run_ids = children;
        // The input is the request's, moved in once the handler is done with the request.
        run.input = request.input;
        let outcome = match (outcome, tx, mark) {
            (Err(error), Tx::Write(tables), Some(mark)) => match tables
                .rollback_to(mark)
                .and_then(|()| trail.rolled_back_from(first_record))
            {
                Ok(()) => Err(error),
                Err(undo) => Err(Error::Storage(format!(
                    "{error}; and its writes could not be rolled back: {undo}"
                ))),
            },
            (outcome, _, _) => outcome,
        };
        run.finish(outcome, started);
        match &run.error {
            None => tracing::debug!(duration_ms = run.duration, "run completed"),
            Some(e) => tracing::info!(code = %e.code, "run failed: {}", e.message),
        }
        trail.keep(&run);
        run
    }

    /// Whether `request` is a workflow whose steps only select, so it can run on a read
    /// snapshot: inline steps are looked at, a template only once cached (its first run
    /// takes the write path and caches it).
    fn workflow_reads_only(&self, request: &RunRequest, generation: u64) -> bool {
        let workflow = request
            .operation
            .as_deref()
            .and_then(crate::ops::builtin_named)
            == Some(crate::ops::Builtin::Workflow);
        if !workflow {
            return false;
        }
        match &request.template {
            Some(name) => self
                .templates
                .peek(name, generation)
                .is_some_and(|template| template.reads_only),
            None => request
                .input
                .get("children")
                .and_then(Value::as_array)
                .is_some_and(|steps| {
                    crate::workflow::reads_only(steps, &|op| self.registry.may_write(Some(op)))
                }),
        }
    }

    /// The operation `name` resolves to, as `tx` sees the operation documents.
    pub(super) fn resolve(&self, tx: &Tx<'_>, name: Option<&str>) -> Result<Arc<Operation>> {
        let store = &self.store;
        self.registry
            .resolve(name, tx.view(), self.meta_generation(tx), || {
                store.schema_generation()
            })
    }

    /// The meta generation `tx` reads at, or `None` if it holds uncommitted meta changes.
    pub(super) fn meta_generation(&self, tx: &Tx<'_>) -> Option<u64> {
        match tx {
            Tx::Read(_, generation) => Some(*generation),
            Tx::Write(_) if self.store.schemas_dirty() => None,
            Tx::Write(_) => Some(self.store.schema_generation()),
        }
    }

    /// The stages of one run, in order. Returns the output.
    #[allow(
        clippy::too_many_arguments,
        reason = "the run's parts, each borrowed separately"
    )]
    fn stages(
        &self,
        tx: &mut Tx<'_>,
        trail: &mut Trail,
        request: &RunRequest,
        run: &mut Run,
        depth: usize,
        children: &mut Vec<String>,
        inherited: Inherited,
    ) -> Result<Value> {
        let started = Instant::now();
        // Nothing more starts in a tree that has written past a budget (failed runs'
        // records count too).
        if let Some(ceiling) = &inherited.ceiling {
            ceiling.check_spent(&trail.spent)?;
        }
        // The run's deadline: its own `options.timeoutMs` (a top-level run without one gets
        // the default), or an ancestor's if that is earlier.
        let own = request
            .options
            .timeout_ms
            .map(|ms| Deadline::after(started, ms, &run.id, "options.timeoutMs"));
        let deadline = match inherited.deadline {
            Some(outer) => outer.tighter(own),
            None => own.unwrap_or_else(|| {
                Deadline::after(
                    started,
                    budget::DEFAULT_RUN_TIMEOUT_MS,
                    &run.id,
                    "the default run timeout",
                )
            }),
        };
        // 1. resolve the operation
        let op = self.resolve(tx, request.operation.as_deref())?;
        run.operation = Some(op.name.clone());
        if deadline.passed() {
            return Err(deadline.error(
                &format!("`{}` could not start:", op.name),
                json!({"operation": op.name}),
            ));
        }
        let ceiling = WriteCeiling::of(
            &op.name,
            &op.limits,
            &trail.spent,
            inherited.ceiling.as_ref(),
        );
        let reads = matches!(
            op.handler,
            Handler::Builtin(ops::Builtin::Select | ops::Builtin::Workflow)
        );
        if matches!(tx, Tx::Read(..)) && !request.options.dry_run.unwrap_or(false) && !reads {
            // Its writes would be dropped on a snapshot: refuse rather than pretend. (A
            // workflow's template can change between the choice of path and its step.)
            return Err(Error::new(
                ErrorCode::Conflict,
                format!(
                    "`{}` may write but was started on a read snapshot (its workflow changed as it started): run it again",
                    op.name
                ),
            ));
        }
        if depth > op.limits.max_run_depth.min(super::MAX_NESTED_DEPTH) {
            return Err(Error::new(
                ErrorCode::LimitExceeded,
                format!(
                    "runs nest deeper than {} levels (limit: maxRunDepth)",
                    op.limits.max_run_depth.min(super::MAX_NESTED_DEPTH)
                ),
            ));
        }
        // 2. check target and input
        let doctype = op.check(request)?;
        run.doctype = doctype.clone();
        if doctype.as_deref() == Some(AUDIT_TRAIL)
            && matches!(
                op.handler,
                Handler::Builtin(ops::Builtin::Update | ops::Builtin::Delete)
            )
        {
            return Err(audit::immutable());
        }
        // 3. authorize: the owner's identity and what it may do (access control on)
        let identity = self.identity(tx, run.owner.as_deref())?;
        let grant = match &identity {
            None => None,
            Some(identity) => {
                if depth == 0
                    && let Some(settings) = self.acl_settings(tx)?
                    && let Some((per_second, burst)) = settings.rate_limit
                {
                    self.limiter.admit(&identity.user, per_second, burst)?;
                }
                self.authorize(tx, identity, &op, doctype.as_deref())?
            }
        };
        let dry_run = request.options.dry_run.unwrap_or(false);
        // A workflow run stamps its own template (none when inline); others inherit.
        let template = match op.handler {
            Handler::Builtin(ops::Builtin::Workflow) => request.template.clone(),
            _ => inherited.template,
        };
        let mut ctx = OpContext {
            inner: self,
            tx,
            trail,
            request,
            run,
            depth,
            children,
            op: op.clone(),
            template,
            attempt: inherited.attempt,
            identity,
            grant,
            deadline,
            ceiling,
        };
        // 4. validate: built-ins validate each document as they build it (a dry run stops
        // before writing); other handlers get `input.data` checked up front.
        if !matches!(op.handler, Handler::Builtin(_)) {
            if let (true, Some(doctype)) = (op.validate_schema, doctype.as_deref()) {
                ops::validate_input_data(&ctx, doctype)?;
            }
            if dry_run {
                return Ok(json!({"dryRun": true}));
            }
        }
        // 5. execute
        let output = match &op.handler {
            Handler::Builtin(builtin) => {
                ops::execute_builtin(*builtin, &mut ctx, doctype.as_deref())
            }
            Handler::Native(handler) => handler(&mut ctx),
            Handler::Script(compiled) => {
                let mut context = ctx.current().to_value();
                context["input"] = request.input.clone();
                context["attempt"] = json!(ctx.attempt);
                let sandbox = Sandbox::shared(op.limits);
                // The handler's own time, unless the run's deadline comes first; nested
                // runs get what is left of it, no more.
                let own = Deadline::after(
                    Instant::now(),
                    op.limits.timeout_ms,
                    &ctx.run.id,
                    HANDLER_TIMEOUT,
                );
                let deadline = ctx.deadline.clone().tighter(Some(own));
                ctx.deadline = deadline.clone();
                let outcome =
                    sandbox.run_handler(&op.name, compiled, context, deadline.at(), &mut |call| {
                        match call {
                            HostCall::Run(request) => ctx.run_value(request).into_value(),
                            HostCall::GetSchema(name) => ctx
                                .schema(&name)
                                .ok()
                                .flatten()
                                .map_or(Value::Null, |s| Value::Object(s.doc.clone())),
                        }
                    });
                // The sandbox's clock names the handler's own limit: a deadline set above
                // it says whose it was.
                match outcome {
                    Err(e)
                        if e.code() == ErrorCode::Timeout
                            && !deadline.is_own(&ctx.run.id, HANDLER_TIMEOUT)
                            && e.to_run_error().details["nested"] != json!(true) =>
                    {
                        Err(deadline.error(
                            &format!("`{}` was still running when", op.name),
                            json!({"operation": op.name}),
                        ))
                    }
                    other => other,
                }
            }
        }?;
        // 6. a run that outlived its deadline (its own or an ancestor's) fails, and is
        // rolled back
        if ctx.deadline.passed() {
            return Err(ctx.deadline.error(
                &format!("`{}` was still running when", op.name),
                json!({"operation": op.name}),
            ));
        }
        Ok(output)
    }
}

impl Inner {
    /// Access control settings, or `None` while access control is off.
    pub(super) fn acl_settings(
        &self,
        tx: &Tx<'_>,
    ) -> Result<Option<std::sync::Arc<acl::Settings>>> {
        let store = &self.store;
        let settings = self.settings.get(
            tx.view(),
            acl::SETTINGS,
            acl::SETTINGS_NAME,
            self.meta_generation(tx),
            || store.schema_generation(),
            |doc| Ok(acl::Settings::from_doc(Some(doc))),
        )?;
        Ok(settings.filter(|s| s.enabled))
    }

    /// Who a run acts for once access control is on (`None` while it is off).
    pub(super) fn identity(&self, tx: &Tx<'_>, owner: Option<&str>) -> Result<Option<Identity>> {
        let Some(settings) = self.acl_settings(tx)? else {
            return Ok(None);
        };
        let store = &self.store;
        let user = match owner {
            Some(owner) => self.users.get(
                tx.view(),
                acl::USER,
                owner,
                self.meta_generation(tx),
                || store.schema_generation(),
                |doc| Ok(doc.clone()),
            )?,
            None => None,
        };
        acl::identify(&settings, owner, user.as_deref()).map(Some)
    }

    /// May `identity` run `op` on `doctype`? For built-ins, how far the grant reaches.
    fn authorize(
        &self,
        tx: &Tx<'_>,
        identity: &Identity,
        op: &Operation,
        doctype: Option<&str>,
    ) -> Result<Option<Grant>> {
        let access = match op.handler {
            Handler::Builtin(ops::Builtin::Select) => Access::Read,
            Handler::Builtin(ops::Builtin::Create) => Access::Create,
            Handler::Builtin(ops::Builtin::Update) => Access::Write,
            Handler::Builtin(ops::Builtin::Delete) => Access::Delete,
            Handler::Builtin(ops::Builtin::Submit) => Access::Submit,
            Handler::Builtin(ops::Builtin::Cancel) => Access::Cancel,
            Handler::Builtin(ops::Builtin::Amend) => Access::Amend,
            // A workflow's steps are checked one by one.
            Handler::Builtin(ops::Builtin::Workflow) => return Ok(None),
            Handler::Native(_) | Handler::Script(_) => {
                acl::operation_access(identity, op)?;
                return Ok(None);
            }
        };
        let Some(doctype) = doctype else {
            return Ok(None);
        };
        let store = &self.store;
        let schema = self
            .schemas
            .schema(tx.view(), doctype, self.meta_generation(tx), || {
                store.schema_generation()
            })?;
        acl::doctype_access(identity, schema.as_deref(), doctype, access, &op.name).map(Some)
    }
}

/// The audit action for a failed run that must be audited (denials, validation failures).
fn failure_action(run: &Run) -> Option<Action> {
    let error = run.error.as_ref()?;
    // A failure passed up from a nested run (a workflow's failed step, named by its
    // `runId`) has that run's entry already, or none when it was a dry run: it is
    // recorded once.
    let passed_up = error.details["runId"]
        .as_str()
        .is_some_and(|child| run.child_run_ids.iter().any(|id| id == child));
    if passed_up {
        return None;
    }
    match error.code {
        ErrorCode::PermissionDenied => Some(Action::Denied),
        ErrorCode::ValidationFailed => Some(Action::Invalid),
        _ => None,
    }
}

/// What a nested run takes over from its parent beside identity and flow.
pub(super) struct Inherited {
    template: Option<String>,
    attempt: u32,
    deadline: Option<Deadline>,
    ceiling: Option<WriteCeiling>,
}

/// What sets a handler's own deadline (its operation's `limits.timeoutMs`).
const HANDLER_TIMEOUT: &str = "limits.timeoutMs";

/// The output a run is stored with: a select keeps its count and names, not its documents;
/// a workflow keeps its steps' ids, runs and statuses (their outputs are in the step runs).
/// Written straight from the run's output, without copying it.
enum StoredOutput<'a> {
    Own(&'a Value),
    Select(&'a Value),
    Workflow(&'a Value),
}

impl serde::Serialize for StoredOutput<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        match self {
            StoredOutput::Own(output) => output.serialize(serializer),
            StoredOutput::Select(output) => {
                let docs = output
                    .get("data")
                    .and_then(Value::as_array)
                    .map(Vec::as_slice)
                    .unwrap_or_default();
                let mut map = serializer.serialize_map(Some(2))?;
                map.serialize_entry("names", &Names(docs))?;
                map.serialize_entry("meta", output.get("meta").unwrap_or(&Value::Null))?;
                map.end()
            }
            StoredOutput::Workflow(output) => {
                let steps = output
                    .get("steps")
                    .and_then(Value::as_array)
                    .map(Vec::as_slice)
                    .unwrap_or_default();
                let mut map = serializer.serialize_map(Some(3))?;
                map.serialize_entry("template", &output["template"])?;
                map.serialize_entry("version", &output["version"])?;
                map.serialize_entry("steps", &StepsWithoutOutput(steps))?;
                map.end()
            }
        }
    }
}

/// The names of a select's documents.
struct Names<'a>(&'a [Value]);

impl serde::Serialize for Names<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(
            self.0
                .iter()
                .map(|doc| doc.get("name").unwrap_or(&Value::Null)),
        )
    }
}

/// A workflow's step entries without their outputs.
struct StepsWithoutOutput<'a>(&'a [Value]);

impl serde::Serialize for StepsWithoutOutput<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter().map(|step| match step {
            Value::Object(fields) => Entries::Without(fields, "output"),
            other => Entries::Value(other),
        }))
    }
}

/// An object without one key, or any value.
enum Entries<'a> {
    Without(&'a Map<String, Value>, &'static str),
    Value(&'a Value),
}

impl serde::Serialize for Entries<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Entries::Without(fields, left_out) => {
                serializer.collect_map(fields.iter().filter(|(k, _)| k != left_out))
            }
            Entries::Value(value) => value.serialize(serializer),
        }
    }
}

fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_string())
}

impl Run {
    /// A new pending run for `request`, inheriting identity and flow from `parent`.
    fn start(request: &RunRequest, parent: Option<&Run>) -> Run {
        // The id and the timestamp come from one instant: `since`/`until` on ids agree with
        // timestamps.
        let started = std::time::SystemTime::now();
        let id = new_ulid_at(started).to_string();
        // A top-level workflow without a flow starts one: its own id.
        let starts_flow = parent.is_none() && request.operation.as_deref() == Some("workflow");
        let inherit = |own: &Option<String>, from_parent: fn(&Run) -> &Option<String>| match parent
        {
            Some(p) => from_parent(p).clone(),
            None => own.clone(),
        };
        Run {
            chain_id: parent.map_or_else(|| id.clone(), |p| p.chain_id.clone()),
            parent_run_id: parent.map(|p| p.id.clone()),
            timestamp: jiff::Timestamp::try_from(started)
                .map_or_else(|_| now_rfc3339(), |t| format!("{t:.6}")),
            operation: request.operation.clone(),
            status: RunStatus::Pending,
            duration: 0.0,
            doctype: request.target().map(str::to_string),
            from: request.from.clone(),
            into: request.into.clone(),
            template: request.template.clone(),
            // Moved in from the request when the run finishes (see `execute`).
            input: Value::Null,
            output: Value::Null,
            success: false,
            rolled_back: false,
            error: None,
            child_run_ids: Vec::new(),
            owner: inherit(&request.owner, |p| &p.owner),
            agent: inherit(&request.agent.clone().or(request.owner.clone()), |p| {
                &p.agent
            }),
            flow_type: inherit(&request.flow_type, |p| &p.flow_type)
                .or_else(|| starts_flow.then(|| "workflow".to_string())),
            flow_id: inherit(&request.flow_id, |p| &p.flow_id)
                .or_else(|| starts_flow.then(|| id.clone())),
            step_id: request.step_id.clone(),
            options: request.options.clone(),
            id,
        }
    }

    fn finish(&mut self, outcome: Result<Value>, started: Instant) {
        self.duration = started.elapsed().as_secs_f64() * 1000.0;
        match outcome {
            Ok(output) => {
                self.output = output;
                self.success = true;
                self.status = RunStatus::Completed;
            }
            Err(error) => {
                self.error = Some(error.to_run_error());
                self.success = false;
                self.status = RunStatus::Failed;
            }
        }
    }
}
