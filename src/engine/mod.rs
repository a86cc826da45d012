//! The engine: open a store, run requests through the pipeline (`pipeline.rs`, its stages
//! in `stages.rs`, the top-level read or write path in `top.rs`), read runs back. `Engine`
//! is a cheap handle over one shared `Core`; `impl Engine` is split by concern across this
//! module's files. Handlers reach the engine only through `handler::Runner`.
//!
//! The engine must never let a panic or a bad request escape as anything but a failed run,
//! and never leave a failed run's writes behind.

use crate::acl::RateLimiter;
use crate::error::{Error, Result};
use crate::handler::{Catalog, Tx};
use crate::ops::{self, Registry};
use crate::run::{Run, RunRequest};
use crate::schema;
use crate::store::{Backend, Store, View};
use serde_json::{Value, json};
use std::path::Path;
use std::sync::Arc;

mod admin;
mod admit;
mod archives;
mod builder;
mod import;
mod maintenance;
mod pipeline;
mod prune;
mod run_archive;
mod runs;
mod stages;
mod top;

pub use builder::EngineBuilder;
pub use import::{
    DEFAULT_IMPORT_BATCH, ImportFailure, ImportOptions, ImportProgress, ImportReport,
};
pub use maintenance::RestoreReport;
pub use prune::PruneReport;
pub use run_archive::RunArchive;
pub use runs::{RunQuery, RunTree};

pub use crate::limits::MAX_NESTED_DEPTH;

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
    core: Arc<Core>,
    /// The owner of requests that name none (see [`Engine::with_owner`]); reading runs back
    /// through this handle applies that owner's permissions.
    owner: Option<Arc<str>>,
    /// Whether `owner` is pinned: a request naming another owner is refused
    /// (see [`Engine::pin_owner`]).
    pinned: bool,
}

/// What every handle of one engine shares: the store, the operations the host
/// registered, the catalog of cached meta documents, the rate limiter, the hooks and the
/// runs executing now.
struct Core {
    /// Shared with the catalog; the store is dropped (its waiting records written) with
    /// the catalog, right after this field, before the host's operations and hooks.
    store: Arc<Store>,
    catalog: Catalog,
    registry: Registry,
    limiter: RateLimiter,
    hooks: Hooks,
    /// The top-level runs executing now (the pruner stops short of them).
    live: prune::LiveRuns,
}

impl Core {
    /// A read snapshot of the store as it is now (with the meta generation observed
    /// before it was taken).
    fn snapshot(&self) -> Result<Tx<'static>> {
        let generation = self.store.schema_generation();
        Ok(Tx::Read(self.store.read()?, generation))
    }
}

/// A host callback that receives a run.
pub type RunHook = dyn Fn(&Run) + Send + Sync;

/// The host's callbacks; each is called inside `catch_unwind`, so a failing callback can
/// corrupt neither the run nor the store.
#[derive(Default, Clone)]
struct Hooks {
    before: Vec<Arc<RunHook>>,
    after: Vec<Arc<RunHook>>,
    error: Vec<Arc<RunHook>>,
}

impl Hooks {
    /// Call the `before_run` hooks with a top-level run about to execute (its input filled
    /// in only when there is a hook to see it).
    fn before_run(&self, run: &mut Run, request: &RunRequest) {
        if !self.before.is_empty() {
            run.input = request.input.clone();
            Hooks::call(&self.before, run);
        }
    }

    fn call(hooks: &[Arc<RunHook>], run: &Run) {
        for hook in hooks {
            if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| hook(run))).is_err() {
                tracing::error!(run = %run.id, "a run callback panicked; the run is unaffected");
            }
        }
    }
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

    /// Open an existing store file to read its runs and audit trail while another process
    /// may be writing it (see [`EngineBuilder::open_read_only`]).
    pub fn open_read_only(path: impl AsRef<Path>) -> Result<Engine> {
        Self::builder().open_read_only(path)
    }

    /// A store in memory, for tests and scratch work.
    pub fn in_memory() -> Result<Engine> {
        Self::builder().in_memory()
    }

    /// Execute a request. Never panics: every failure is a failed [`Run`], and every run
    /// is recorded.
    pub fn run(&self, mut request: RunRequest) -> Run {
        if let (true, Some(pinned), Some(named)) =
            (self.pinned, self.owner.as_deref(), request.owner.as_deref())
            && named != pinned
        {
            let error = Error::new(
                crate::ErrorCode::PermissionDenied,
                format!(
                    "this engine acts for `{pinned}` only: a request may not name another owner (`{named}`)"
                ),
            )
            .with_details(json!({"path": "owner", "pinned": pinned}));
            let partial = json!({"operation": request.operation, "owner": pinned,
                "agent": request.agent, "flowType": request.flow_type,
                "flowId": request.flow_id, "stepId": request.step_id});
            return self.reject_request(error, partial);
        }
        if request.owner.is_none() {
            request.owner = self.owner.as_deref().map(str::to_string);
        }
        self.core.run_top(Ok(request), None)
    }

    /// A handle on the same engine whose requests act for `owner` when they name no owner
    /// themselves. Reading runs back through it ([`Engine::get_run`], [`Engine::list_runs`],
    /// [`Engine::run_tree`]) applies `owner`'s permissions once access control is on.
    ///
    /// The request's `owner` is trusted: a request naming another owner acts for that one.
    /// A host that authenticates its users uses [`Engine::pin_owner`] instead.
    ///
    /// ```
    /// use coworker::{Engine, RunRequest};
    /// let engine = Engine::in_memory().unwrap();
    /// let alice = engine.with_owner("alice");
    /// assert_eq!(alice.run(RunRequest::new("select").from("ToDo")).owner.as_deref(), Some("alice"));
    /// ```
    pub fn with_owner(&self, owner: impl Into<String>) -> Engine {
        Engine {
            core: self.core.clone(),
            owner: Some(Arc::from(owner.into())),
            pinned: false,
        }
    }

    /// A handle on the same engine that acts for `owner` and nobody else: requests that
    /// name no owner act for `owner`, a request naming another owner is refused
    /// (PERMISSION_DENIED, recorded as a failed run), and runs read back through it are
    /// those `owner` may see. Access control is not authentication: the host authenticates
    /// its user, then pins the handle to them (the CLI's `--as` does this).
    ///
    /// ```
    /// use coworker::{Engine, ErrorCode, RunRequest};
    /// let engine = Engine::in_memory().unwrap();
    /// let bob = engine.pin_owner("bob");
    /// assert_eq!(bob.run(RunRequest::new("select").from("ToDo")).owner.as_deref(), Some("bob"));
    /// let forged = bob.run(RunRequest::new("select").from("ToDo").owner("alice"));
    /// assert_eq!(forged.error.unwrap().code, ErrorCode::PermissionDenied);
    /// ```
    pub fn pin_owner(&self, owner: impl Into<String>) -> Engine {
        Engine {
            pinned: true,
            ..self.with_owner(owner)
        }
    }

    /// Execute a request given as JSON text; malformed JSON gives a failed run (BAD_REQUEST),
    /// text over `maxRequestBytes` or nested too deep gives LIMIT_EXCEEDED, before parsing.
    ///
    /// ```
    /// let engine = coworker::Engine::in_memory().unwrap();
    /// let run = engine.run_json("{not json");
    /// assert_eq!(run.error.unwrap().code, coworker::ErrorCode::BadRequest);
    /// ```
    pub fn run_json(&self, text: &str) -> Run {
        let received = || {
            let snippet: String = text.chars().take(200).collect();
            json!({ "received": snippet })
        };
        let max = match self.core.size_limits_now() {
            Ok(limits) => limits.max_request_bytes,
            Err(error) => return self.core.run_top(Err(error), None),
        };
        if text.len() > max {
            let error = Error::new(
                crate::ErrorCode::LimitExceeded,
                format!(
                    "the request is {} of JSON, over the limit of {} (limits.maxRequestBytes)",
                    crate::value::human_bytes(text.len()),
                    crate::value::human_bytes(max)
                ),
            )
            .with_details(json!({"limit": "maxRequestBytes", "max": max, "size": text.len()}));
            return self.core.run_top(Err(error), None);
        }
        match serde_json::from_str::<Value>(text) {
            Ok(value) => self.run_value(value),
            Err(e) => {
                let error = match crate::run::malformed(e) {
                    Error::Run {
                        code,
                        message,
                        details: Value::Null,
                    } => Error::Run {
                        code,
                        message,
                        details: received(),
                    },
                    other => other,
                };
                let owner = self.owner.as_deref().map(|o| json!({ "owner": o }));
                self.core.run_top(Err(error), owner.as_ref())
            }
        }
    }

    /// Execute a request given as a JSON value. A value nested deeper than
    /// [`crate::MAX_VALUE_DEPTH`] is refused (LIMIT_EXCEEDED) before it is even parsed, and
    /// dropped without recursion.
    pub fn run_value(&self, value: Value) -> Run {
        // Only the request's own text fields are kept for the record of a refusal, cut.
        let mut partial = match &value {
            Value::Object(fields) => Value::Object(
                fields
                    .iter()
                    .filter_map(|(k, v)| {
                        let text = v.as_str()?;
                        let kept = match text.len() > crate::value::ECHO_CHARS * 4 {
                            true => crate::value::echo_str(text),
                            false => text.to_string(),
                        };
                        Some((k.clone(), Value::String(kept)))
                    })
                    .collect(),
            ),
            _ => Value::Null,
        };
        if let (Some(owner), Value::Object(fields)) = (self.owner.as_deref(), &mut partial)
            && (self.pinned || !fields.get("owner").is_some_and(Value::is_string))
        {
            // A request that does not parse is recorded as the owner it would have run for.
            fields.insert("owner".into(), json!(owner));
        }
        if let Err(error) = crate::value::check_request_depth(&value) {
            crate::value::drop_deep(value);
            return self.core.run_top(Err(error), Some(&partial));
        }
        match RunRequest::from_value(value) {
            Ok(request) => self.run(request),
            Err(error) => self.core.run_top(Err(error), Some(&partial)),
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

    /// Import every DocType file of a Frappe app or module folder (`**/doctype/*/*.json`)
    /// in one run, as [`import_schemas`](Self::import_schemas) does: JSON that is not a
    /// DocType is skipped, child tables and Link targets go first, every missing target is
    /// reported, and nothing is imported unless everything is. A file that cannot be read
    /// or parsed fails the run (BAD_REQUEST) naming it.
    ///
    /// ```
    /// let engine = coworker::Engine::in_memory().unwrap();
    /// let run = engine.import_schema_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/frappe/myapp"));
    /// assert!(run.success, "{:?}", run.error);
    /// ```
    pub fn import_schema_dir(&self, dir: impl AsRef<std::path::Path>) -> Run {
        match schema::frappe::read_app_dir(dir.as_ref()) {
            Ok(docs) => self.import_schemas(docs),
            Err(error) => self.reject_request(
                error,
                json!({"operation": "create", "into": schema::SCHEMA}),
            ),
        }
    }

    /// The schema `doctype` as a Frappe DocType file (`doctype: "DocType"`, without the
    /// engine's run stamps and child-row bookkeeping); importing it gives the same schema.
    /// `None`: no such schema.
    ///
    /// ```
    /// let engine = coworker::Engine::in_memory().unwrap();
    /// let role = engine.export_schema("Role").unwrap().expect("seeded");
    /// assert_eq!(role["doctype"], "DocType");
    /// ```
    pub fn export_schema(&self, doctype: &str) -> Result<Option<Value>> {
        let stored = self.schema(schema::frappe::canonical_doctype(doctype))?;
        Ok(stored.and_then(|doc| match doc {
            Value::Object(doc) => Some(schema::frappe::export(&doc)),
            _ => None,
        }))
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
        let schema = self.core.catalog.schema(&self.core.snapshot()?, doctype)?;
        Ok(schema.map(|s| Value::Object(s.doc.clone())))
    }

    /// Compile every operation's handler now (and cache it), so the first run of each pays
    /// nothing; a handler that no longer compiles is reported, and its runs fail with
    /// SCRIPT_COMPILE_ERROR.
    fn compile_operations(&self) {
        let Ok(snapshot) = self.core.store.read() else {
            return;
        };
        let mut names = Vec::new();
        let _ = snapshot.scan_docs(ops::OPERATION, &mut |doc| {
            if let Some(name) = doc.get("name").and_then(Value::as_str) {
                names.push(name.to_string());
            }
            true
        });
        let generation = self.core.store.schema_generation();
        let tx = Tx::Read(snapshot, generation);
        for name in names {
            if let Err(e) = self.core.resolve(&tx, Some(&name)) {
                tracing::error!("operation `{name}` cannot be loaded: {e}");
            }
        }
    }

    /// Record a request that failed before it could run (what `partial` names of it is kept).
    pub(crate) fn reject_request(&self, error: Error, partial: Value) -> Run {
        self.core.run_top(Err(error), Some(&partial))
    }

    /// Close the store file and open it again. After an I/O error (a full disk) the engine
    /// does this by itself on a later run, at most every 250 ms, once the cause is fixed;
    /// this does it now. Everything committed is kept. Fails while the cause persists, or
    /// while a write is being committed.
    pub fn reopen(&self) -> Result<()> {
        self.core.store.reopen()
    }

    /// Make every run record durable, including those of read-only runs (which are
    /// otherwise written with the next write, or when the engine is dropped), and
    /// checkpoint the redo log: afterwards the store file alone holds every write.
    pub fn flush(&self) -> Result<()> {
        self.core.store.flush()
    }
}

/// `Engine` must stay shareable between threads.
const _: () = {
    const fn is_send_sync<T: Send + Sync>() {}
    is_send_sync::<Engine>();
};
