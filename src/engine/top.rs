//! The top-level path: a run that may write executes inside the store's shared write
//! transaction and is acknowledged once that transaction is durable; a run that writes
//! nothing executes on a snapshot and never waits for an fsync (its records are written
//! later). Either way the tree's records and audited failures are stored here, and the
//! host's callbacks are called once the run is recorded. A request that could not even be
//! parsed is recorded here too.

use super::{Core, Hooks};
use crate::error::{Error, Result};
use crate::handler::{RunLog, Tx};
use crate::run::{Run, RunRequest};
use crate::store::{Backend, WriteTx};
use serde_json::Value;
use std::time::Instant;

impl Core {
    /// A top-level run: pick the read or write path, execute, record, call the hooks.
    pub(super) fn run_top(&self, request: Result<RunRequest>, partial: Option<&Value>) -> Run {
        let request = match request {
            Ok(request) => request,
            Err(error) => return self.reject(error, partial),
        };
        let _live = self.live.enter();
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
        let outcome = match writes {
            true => self.run_writing(request, dry_run),
            false => self.run_reading(request, dry_run, generation),
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

    /// The write path: execute in the shared write transaction, store the records with the
    /// writes, return once durable.
    fn run_writing(&self, request: RunRequest, dry_run: bool) -> Result<Run> {
        self.store
            .write(|tables| {
                let mut tx = Tx::Write(tables);
                let mut log = RunLog::new(dry_run);
                let run = self.execute(&mut tx, &mut log, request, None);
                let Tx::Write(tables) = &mut tx else {
                    unreachable!("the write path holds write tables")
                };
                // Denials and validation failures are audited after their rollback.
                log.audit_failures(tables)?;
                // A run that changed nothing (a failed one, a read-only script) keeps
                // its records in memory like a select: no fsync is owed for it.
                if tables.has_changes() {
                    let records = log.into_records(&run);
                    let stored = records.iter().try_for_each(|r| tables.put_record(r));
                    stored.map(|()| (run, Vec::new()))
                } else {
                    let records = log.into_read_only_records(&run);
                    Ok((run, records))
                }
            })
            .and_then(|stored| stored)
            .and_then(|(run, later)| self.store.record_later(later).map(|()| run))
    }

    /// The read path: execute on a snapshot taken at meta `generation`; the records wait in
    /// memory for the next write (denials and validation failures are audited at once).
    fn run_reading(&self, request: RunRequest, dry_run: bool, generation: u64) -> Result<Run> {
        self.store
            .read()
            .map(|tables| {
                let mut tx = Tx::Read(tables, generation);
                let mut log = RunLog::new(dry_run);
                let run = self.execute(&mut tx, &mut log, request, None);
                (run, log)
            })
            .and_then(|(run, log)| {
                if log.has_failures() {
                    self.store
                        .write(|mut tables| log.audit_failures(&mut tables))??;
                }
                let records = log.into_read_only_records(&run);
                self.store.record_later(records).map(|()| run)
            })
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
        let mut log = RunLog::default();
        log.keep(&run);
        if let Err(e) = self.store.record_later(log.into_records(&run)) {
            tracing::error!("a rejected run could not be recorded: {e}");
        }
        Hooks::call(&self.hooks.error, &run);
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
                .catalog
                .peek::<crate::workflow::Template>(name, generation)
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
}
