//! The engine: open a store, run requests through the pipeline, read runs back.
//!
//! The pipeline ([`Inner::execute`]) reads top to bottom: resolve the operation → check
//! target and input → execute the handler → record the run. Every run, top-level or
//! nested, goes through it. A top-level run that may write executes inside the store's
//! shared write transaction and is acknowledged once that transaction is durable; a run
//! that writes nothing executes on a snapshot and never waits for an fsync.
//!
//! The engine must never let a panic or a bad request escape as anything but a failed run,
//! and never leave a failed run's writes behind.

use crate::error::{Error, ErrorCode, Result};
use crate::ops::{self, Handler, NativeHandler, Registry};
use crate::run::{Run, RunRequest, RunStatus};
use crate::schema::{self, Schema, SchemaCache};
use crate::store::{ReadTables, Store, View, WriteTables};
use serde_json::{Value, json};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// How deep runs may nest (a handler calling `run` that calls a handler ...).
pub const MAX_NESTED_DEPTH: usize = 16;

/// A unique id, larger than every id this process made before (ULIDs sort by time).
pub(crate) fn new_ulid() -> ulid::Ulid {
    static GENERATOR: Mutex<Option<ulid::Generator>> = Mutex::new(None);
    let mut generator = GENERATOR.lock().unwrap_or_else(|p| p.into_inner());
    generator
        .get_or_insert_with(ulid::Generator::new)
        .generate()
        .unwrap_or_else(|_| ulid::Ulid::new())
}

fn now_rfc3339() -> String {
    format!("{:.6}", jiff::Timestamp::now())
}

/// The tables a run reads and writes: a snapshot (with the schema generation observed
/// before it was taken), or the shared write transaction.
#[allow(
    clippy::large_enum_variant,
    reason = "one Tx per top-level run, on its stack; boxing buys nothing"
)]
pub(crate) enum Tx<'t> {
    Read(ReadTables, u64),
    Write(WriteTables<'t>),
}

impl Tx<'_> {
    fn view(&self) -> &dyn View {
        match self {
            Tx::Read(tables, _) => tables,
            Tx::Write(tables) => tables,
        }
    }
}

/// Builds an [`Engine`] with host-provided native operations.
///
/// ```
/// use coworker::{Engine, RunRequest};
/// use serde_json::json;
///
/// let engine = Engine::builder()
///     .operation("count_notes", |ctx| {
///         let child = ctx.run(RunRequest::new("select").from("Note"));
///         Ok(json!({"count": child.data().len()}))
///     })
///     .in_memory()
///     .unwrap();
/// let run = engine.run(RunRequest::new("count_notes"));
/// assert_eq!(run.output["count"], json!(0));
/// assert_eq!(run.child_run_ids.len(), 1);
/// ```
#[derive(Default)]
pub struct EngineBuilder {
    registry: Registry,
}

impl EngineBuilder {
    /// Register a native (Rust) operation under `name`. It runs through the same pipeline
    /// as every operation and may start nested runs with [`OpContext::run`].
    pub fn operation(
        mut self,
        name: impl Into<String>,
        handler: impl Fn(&mut OpContext<'_, '_>) -> Result<Value> + Send + Sync + 'static,
    ) -> Self {
        let handler: Arc<NativeHandler> = Arc::new(handler);
        self.registry.add_native(name.into(), handler);
        self
    }

    /// Open (or create) the store file at `path`.
    pub fn open(self, path: impl AsRef<Path>) -> Result<Engine> {
        self.build(Store::open(path.as_ref())?)
    }

    /// A store in memory, gone when the engine is dropped.
    pub fn in_memory(self) -> Result<Engine> {
        self.build(Store::in_memory()?)
    }

    fn build(self, store: Store) -> Result<Engine> {
        store.write(|mut tables| -> Result<()> {
            for seed in schema::seeds() {
                let name = seed["name"].as_str().expect("seeds are named").to_string();
                if tables.get_doc(schema::SCHEMA, &name)?.is_none() {
                    tables.put_doc(schema::SCHEMA, &name, &seed, &[])?;
                }
            }
            Ok(())
        })??;
        Ok(Engine {
            inner: Arc::new(Inner {
                store,
                registry: self.registry,
                schemas: SchemaCache::default(),
            }),
        })
    }
}

/// The engine. Cheap to clone; `Send + Sync`; share it between threads.
///
/// ```
/// use coworker::{Engine, RunRequest};
/// use serde_json::json;
///
/// let engine = Engine::in_memory().unwrap();
/// let created = engine.run(
///     RunRequest::new("create").into_doctype("ToDo").input(json!({"data": {"status": "Open"}})),
/// );
/// assert!(created.success);
/// let found = engine.run(RunRequest::new("select").from("ToDo"));
/// assert_eq!(found.data().len(), 1);
/// ```
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    registry: Registry,
    schemas: SchemaCache,
}

/// Which runs to list; see [`Engine::list_runs`].
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
    /// At most this many (the newest); `None` = all.
    pub limit: Option<usize>,
}

impl Engine {
    /// A builder, to register native operations.
    pub fn builder() -> EngineBuilder {
        EngineBuilder::default()
    }

    /// Open (or create) the store file at `path`.
    pub fn open(path: impl AsRef<Path>) -> Result<Engine> {
        Self::builder().open(path)
    }

    /// A store in memory, for tests and scratch work.
    pub fn in_memory() -> Result<Engine> {
        Self::builder().in_memory()
    }

    /// Execute a request. Never panics: every failure is a failed [`Run`], and every run
    /// is recorded.
    pub fn run(&self, request: RunRequest) -> Run {
        self.inner.run_top(Ok(request), None)
    }

    /// Execute a request given as JSON text; malformed JSON gives a failed run (BAD_REQUEST).
    ///
    /// ```
    /// let engine = coworker::Engine::in_memory().unwrap();
    /// let run = engine.run_json("{not json");
    /// assert_eq!(run.error.unwrap().code, coworker::ErrorCode::BadRequest);
    /// ```
    pub fn run_json(&self, text: &str) -> Run {
        match serde_json::from_str::<Value>(text) {
            Ok(value) => self.run_value(value),
            Err(e) => {
                let snippet: String = text.chars().take(200).collect();
                let error = Error::bad_request(format!("malformed request JSON: {e}"))
                    .with_details(json!({"received": snippet}));
                self.inner.run_top(Err(error), None)
            }
        }
    }

    /// Execute a request given as a JSON value.
    pub fn run_value(&self, value: Value) -> Run {
        let partial = value.clone();
        match RunRequest::from_value(value) {
            Ok(request) => self.run(request),
            Err(error) => self.inner.run_top(Err(error), Some(&partial)),
        }
    }

    /// Import schema documents (Frappe DocType JSON) in one run: child tables and Link
    /// targets of the batch first, all or nothing.
    ///
    /// ```
    /// use serde_json::json;
    /// let engine = coworker::Engine::in_memory().unwrap();
    /// let run = engine.import_schemas(vec![
    ///     json!({"doctype": "DocType", "name": "Order", "fields": [
    ///         {"fieldname": "items", "fieldtype": "Table", "options": "Order Item"}]}),
    ///     json!({"doctype": "DocType", "name": "Order Item", "istable": 1, "fields": [
    ///         {"fieldname": "sku", "fieldtype": "Data", "reqd": 1}]}),
    /// ]);
    /// assert!(run.success, "{:?}", run.error);
    /// ```
    pub fn import_schemas(&self, docs: Vec<Value>) -> Run {
        let data = Value::Array(schema::import_order(docs));
        self.run(
            RunRequest::new("create")
                .into_doctype(schema::SCHEMA)
                .input(json!({ "data": data })),
        )
    }

    /// The schema of `doctype` as a JSON document (`None`: no schema, anything is accepted).
    /// Served from the schema cache, which every schema change invalidates.
    ///
    /// ```
    /// let engine = coworker::Engine::in_memory().unwrap();
    /// let docfield = engine.schema("DocField").unwrap().expect("seeded");
    /// assert_eq!(docfield["istable"], 1);
    /// assert!(engine.schema("ToDo").unwrap().is_none());
    /// ```
    pub fn schema(&self, doctype: &str) -> Result<Option<Value>> {
        let store = &self.inner.store;
        let generation = store.schema_generation();
        let snapshot = store.read()?;
        let schema = self
            .inner
            .schemas
            .get(&snapshot, doctype, Some(generation), || {
                store.schema_generation()
            })?;
        Ok(schema.map(|s| Value::Object(s.doc.clone())))
    }

    /// Make every run record durable, including those of read-only runs (which are
    /// otherwise written with the next write, or when the engine is dropped).
    pub fn flush(&self) -> Result<()> {
        self.inner.store.flush()
    }

    /// One run record by id.
    pub fn get_run(&self, id: &str) -> Result<Option<Run>> {
        self.inner.store.get_run(id)
    }

    /// Runs matching `query`, oldest first (with `limit`, the newest `limit` of them).
    pub fn list_runs(&self, query: &RunQuery) -> Result<Vec<Run>> {
        // Records waiting in memory first, then the snapshot: a record committed in between
        // is in one or the other, never in neither.
        let pending = self.inner.store.pending_runs();
        let read = self.inner.store.read()?;
        let filters = [
            ("flow", query.flow_id.as_deref()),
            ("chain", query.chain_id.as_deref()),
            ("parent", query.parent_run_id.as_deref()),
            ("owner", query.owner.as_deref()),
        ];
        let matches = |run: &Run| {
            let values = [
                run.flow_id.as_deref(),
                Some(run.chain_id.as_str()),
                run.parent_run_id.as_deref(),
                run.owner.as_deref(),
            ];
            filters
                .iter()
                .zip(values)
                .all(|((_, wanted), value)| wanted.is_none() || *wanted == value)
        };
        let mut runs = match filters.iter().find(|(_, v)| v.is_some()) {
            Some((field, Some(value))) => {
                let mut runs = Vec::new();
                for id in read.run_ids_by(field, value)? {
                    if let Some(run) = read.get_run(&id)?
                        && matches(&run)
                    {
                        runs.push(run);
                    }
                }
                runs
            }
            _ => {
                let mut runs = read.latest_runs(query.limit.unwrap_or(usize::MAX))?;
                runs.reverse();
                runs
            }
        };
        runs.extend(pending.into_iter().filter(|r| matches(r)));
        runs.sort_by(|a, b| a.id.cmp(&b.id));
        // A read-only run's record can be both committed and still in memory for a moment.
        runs.dedup_by(|a, b| a.id == b.id);
        if let Some(limit) = query.limit {
            let skip = runs.len().saturating_sub(limit);
            runs.drain(..skip);
        }
        Ok(runs)
    }
}

/// Who started a nested run: what it inherits.
struct Parent<'p> {
    run: &'p Run,
    depth: usize,
}

impl Inner {
    /// A top-level run: pick the read or write path, execute, record.
    fn run_top(&self, request: Result<RunRequest>, partial: Option<&Value>) -> Run {
        let request = match request {
            Ok(request) => request,
            Err(error) => return self.reject(error, partial),
        };
        let dry_run = request.options.dry_run.unwrap_or(false);
        let writes = self
            .registry
            .resolve(request.operation.as_deref())
            .map(|op| op.writes && !dry_run)
            .unwrap_or(false);
        let outcome = if writes {
            self.store
                .write(|tables| {
                    let mut tx = Tx::Write(tables);
                    let mut records = Vec::new();
                    let run = self.execute(&mut tx, &mut records, request, None);
                    let Tx::Write(tables) = &mut tx else {
                        unreachable!("the write path holds write tables")
                    };
                    // A run that changed nothing (a failed one, a read-only script) keeps
                    // its records in memory like a select: no fsync is owed for it.
                    if tables.has_changes() {
                        let stored = records.iter().try_for_each(|r| tables.put_run(r));
                        stored.map(|()| (run, Vec::new()))
                    } else {
                        Ok((run, records))
                    }
                })
                .and_then(|stored| stored)
                .and_then(|(run, later)| {
                    later
                        .into_iter()
                        .try_for_each(|r| self.store.record_later(r))
                        .map(|()| run)
                })
        } else {
            let generation = self.store.schema_generation();
            self.store
                .read()
                .map(|tables| {
                    let mut tx = Tx::Read(tables, generation);
                    let mut records = Vec::new();
                    let run = self.execute(&mut tx, &mut records, request, None);
                    (run, records)
                })
                .and_then(|(run, records)| {
                    records
                        .into_iter()
                        .try_for_each(|r| self.store.record_later(r))
                        .map(|()| run)
                })
        };
        match outcome {
            Ok(run) => run,
            Err(error) => {
                tracing::error!("a run could not be recorded: {error}");
                let mut run = Run::start(&RunRequest::default(), None);
                run.finish(Err(error), Instant::now());
                run
            }
        }
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
        if let Err(e) = self.store.record_later(stored_form(&run)) {
            tracing::error!("a rejected run could not be recorded: {e}");
        }
        run
    }

    /// The pipeline, for every run: top-level and nested.
    fn execute(
        &self,
        tx: &mut Tx<'_>,
        records: &mut Vec<Run>,
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
        run.status = RunStatus::Running;
        let mark = match tx {
            Tx::Write(tables) => Some(tables.mark()),
            Tx::Read(..) => None,
        };
        let depth = parent.map_or(0, |p| p.depth + 1);
        let mut children = Vec::new();
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            self.stages(tx, records, &request, &mut run, depth, &mut children)
        }))
        .unwrap_or_else(|panic| {
            Err(Error::internal(format!(
                "the run panicked: {}",
                panic_message(&panic)
            )))
        });
        run.child_run_ids = children;
        let outcome = match (outcome, tx, mark) {
            (Err(error), Tx::Write(tables), Some(mark)) => match tables.rollback_to(mark) {
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
        records.push(stored_form(&run));
        run
    }

    /// The stages of one run, in order. Returns the output.
    fn stages(
        &self,
        tx: &mut Tx<'_>,
        records: &mut Vec<Run>,
        request: &RunRequest,
        run: &mut Run,
        depth: usize,
        children: &mut Vec<String>,
    ) -> Result<Value> {
        // 1. resolve the operation
        let op = self.registry.resolve(request.operation.as_deref())?;
        run.operation = Some(op.name.clone());
        if depth > MAX_NESTED_DEPTH {
            return Err(Error::new(
                ErrorCode::LimitExceeded,
                format!(
                    "runs nest deeper than {MAX_NESTED_DEPTH} levels (limit: nested-run depth)"
                ),
            ));
        }
        // 2. check target and input
        let doctype = op.check(request)?;
        run.doctype = doctype.clone();
        // 3. validate and execute: built-ins validate documents against their schema
        // and, in a dry run, stop before writing; other handlers do not run in a dry run.
        if request.options.dry_run.unwrap_or(false) && matches!(op.handler, Handler::Native(_)) {
            return Ok(json!({"dryRun": true}));
        }
        let mut ctx = OpContext {
            inner: self,
            tx,
            records,
            request,
            run,
            depth,
            children,
        };
        match (&op.handler, doctype) {
            (Handler::Builtin(builtin), Some(doctype)) => {
                ops::execute_builtin(*builtin, &mut ctx, &doctype)
            }
            (Handler::Builtin(_), None) => Err(Error::internal("a built-in ran without a target")),
            (Handler::Native(handler), _) => handler(&mut ctx),
        }
    }
}

/// What a handler sees while it executes: its request, its run, and nested runs.
pub struct OpContext<'c, 't> {
    inner: &'c Inner,
    tx: &'c mut Tx<'t>,
    records: &'c mut Vec<Run>,
    request: &'c RunRequest,
    run: &'c Run,
    depth: usize,
    children: &'c mut Vec<String>,
}

/// Who and what stamps the documents a run writes.
pub(crate) struct Stamp {
    pub time: String,
    pub user: Option<String>,
    pub run_id: String,
}

impl<'t> OpContext<'_, 't> {
    /// The request being executed.
    pub fn request(&self) -> &RunRequest {
        self.request
    }

    /// The run being executed (status `running`).
    pub fn current(&self) -> &Run {
        self.run
    }

    /// Start a nested run. It inherits owner, agent and flow, shares this run's chain and
    /// transaction, and is listed in this run's `childRunIds`.
    pub fn run(&mut self, request: RunRequest) -> Run {
        let parent = Parent {
            run: self.run,
            depth: self.depth,
        };
        let child = self
            .inner
            .execute(self.tx, self.records, request, Some(&parent));
        self.children.push(child.id.clone());
        child
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

    /// The schema of `doctype` (`None`: the null schema, anything goes).
    pub(crate) fn schema(&self, doctype: &str) -> Result<Option<Arc<Schema>>> {
        let generation = match &*self.tx {
            Tx::Read(_, generation) => Some(*generation),
            Tx::Write(_) if self.inner.store.schemas_dirty() => None,
            Tx::Write(_) => Some(self.inner.store.schema_generation()),
        };
        let store = &self.inner.store;
        self.inner
            .schemas
            .get(self.tx.view(), doctype, generation, || {
                store.schema_generation()
            })
    }

    pub(crate) fn stamp(&self) -> Stamp {
        Stamp {
            time: self.run.timestamp.clone(),
            user: self.run.owner.clone(),
            run_id: self.run.id.clone(),
        }
    }
}

/// The form a run is stored in: a select keeps its count and names, not its documents.
fn stored_form(run: &Run) -> Run {
    let mut stored = run.clone();
    if run.operation.as_deref() == Some("select") && run.success {
        let names: Vec<Value> = run
            .data()
            .iter()
            .map(|doc| doc.get("name").cloned().unwrap_or(Value::Null))
            .collect();
        stored.output = json!({"names": names, "meta": run.output.get("meta")});
    }
    stored
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
        let id = new_ulid().to_string();
        let inherit = |own: &Option<String>, from_parent: fn(&Run) -> &Option<String>| match parent
        {
            Some(p) => from_parent(p).clone(),
            None => own.clone(),
        };
        Run {
            chain_id: parent.map_or_else(|| id.clone(), |p| p.chain_id.clone()),
            parent_run_id: parent.map(|p| p.id.clone()),
            timestamp: now_rfc3339(),
            operation: request.operation.clone(),
            status: RunStatus::Pending,
            duration: 0.0,
            doctype: request.target().map(str::to_string),
            from: request.from.clone(),
            into: request.into.clone(),
            template: request.template.clone(),
            input: request.input.clone(),
            output: Value::Null,
            success: false,
            error: None,
            child_run_ids: Vec::new(),
            owner: inherit(&request.owner, |p| &p.owner),
            agent: inherit(&request.agent.clone().or(request.owner.clone()), |p| {
                &p.agent
            }),
            flow_type: inherit(&request.flow_type, |p| &p.flow_type),
            flow_id: inherit(&request.flow_id, |p| &p.flow_id),
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

/// `Engine` must stay shareable between threads.
const _: () = {
    const fn is_send_sync<T: Send + Sync>() {}
    is_send_sync::<Engine>();
};
