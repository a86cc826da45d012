//! The handler contract, below the engine: what an operation is ([`Operation`], its
//! [`Handler`]), what a handler sees while it executes ([`OpContext`]) and the tables it
//! reads and writes through ([`Tx`]), the budget that bounds a run tree, the log of its
//! records, and the catalog of cached meta documents.
//!
//! Handler families (`ops`, `pack`, `workflow`, `testing`) depend on this module, never on
//! the engine: a nested run goes through [`Runner`], the one thing the engine implements
//! for them. Nothing here commits, records a tree or checks permissions: the engine does.

pub(crate) mod budget;
mod catalog;
mod context;
mod operation;
mod record;

pub(crate) use catalog::Catalog;
pub use context::OpContext;
pub(crate) use context::Savepoint;
pub use operation::NativeHandler;
pub(crate) use operation::{
    BUILTIN_NAMES, Builtin, Handler, OPERATION, Operation, TargetKey, builtin_named, flag,
};
pub(crate) use record::RunLog;

use crate::error::Result;
use crate::run::{Run, RunRequest, RunStatus};
use crate::store::{StoreSnapshot, StoreTx, View};
use budget::{Deadline, WriteCeiling};
use serde_json::Value;
use std::sync::Arc;
use std::time::Instant;

/// What a handler reaches of the engine: nested runs, operations by name, and the catalog.
/// The engine implements it; [`OpContext`] holds it as `&dyn Runner`, so a handler family
/// never sees the engine itself.
pub(crate) trait Runner {
    /// Execute `request` as a nested run under `parent`, in `parent`'s transaction `tx`,
    /// its record kept in `log`.
    fn run_nested(
        &self,
        tx: &mut Tx<'_>,
        log: &mut RunLog,
        request: RunRequest,
        parent: &Parent<'_>,
    ) -> Run;

    /// The operation `name` resolves to (aliases included), as `tx` sees the operation
    /// documents.
    fn resolve(&self, tx: &Tx<'_>, name: Option<&str>) -> Result<Arc<Operation>>;

    /// Whether a run of operation `name` may write, judged without the store (only the
    /// built-in select is known not to).
    fn may_write(&self, name: &str) -> bool;

    /// The cached meta documents: schemas, settings, size limits, users, templates, links.
    fn catalog(&self) -> &Catalog;
}

/// The tables a run reads and writes: a snapshot (with the schema generation observed
/// before it was taken), or the shared write transaction.
#[allow(
    clippy::large_enum_variant,
    reason = "one Tx per top-level run, on its stack; boxing buys nothing"
)]
pub(crate) enum Tx<'t> {
    Read(Arc<StoreSnapshot>, u64),
    Write(StoreTx<'t>),
}

impl Tx<'_> {
    /// The documents as this transaction sees them.
    pub(crate) fn view(&self) -> &dyn View {
        match self {
            Tx::Read(tables, _) => &**tables,
            Tx::Write(tables) => tables,
        }
    }
}

/// Who started a nested run: what it inherits.
pub(crate) struct Parent<'p> {
    pub(crate) run: &'p Run,
    pub(crate) depth: usize,
    /// The innermost workflow template above the child (stamped as `createdByTemplate`).
    pub(crate) template: Option<&'p str>,
    /// Which attempt of a retried workflow step the child is (1, 2, ...).
    pub(crate) attempt: u32,
    /// The parent's deadline: the child's is never later.
    pub(crate) deadline: &'p Deadline,
    /// The parent's write ceiling: the child's is never higher.
    pub(crate) ceiling: &'p WriteCeiling,
}

impl Run {
    /// A new pending run for `request`, inheriting identity and flow from `parent`.
    pub(crate) fn start(request: &RunRequest, parent: Option<&Run>) -> Run {
        // The id and the timestamp come from one instant: `since`/`until` on ids agree with
        // timestamps.
        let started = std::time::SystemTime::now();
        let id = crate::clock::new_ulid_at(started).to_string();
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
            timestamp: crate::clock::rfc3339(started),
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

    /// End the run with `outcome`, timed from `started`.
    pub(crate) fn finish(&mut self, outcome: Result<Value>, started: Instant) {
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
