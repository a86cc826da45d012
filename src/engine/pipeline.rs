//! The run pipeline, for every run, top-level and nested, top to bottom: admit → resolve
//! the operation → check target and input → authorize → validate → dispatch to the
//! handler → record. Each stage is one call into its concept's module (`stages.rs` holds
//! the engine's own).
//!
//! A failed run's writes are rolled back (to the savepoint taken as it starts); its record
//! is kept. A panic becomes a failed run (INTERNAL). Which transaction a top-level run
//! executes in, and how its tree is stored, is `top.rs`.

use super::{Core, admit, stages};
use crate::error::Result;
use crate::handler::{OpContext, Parent, RunLog, Savepoint, Tx};
use crate::ops;
use crate::run::{Run, RunRequest, RunStatus};
use serde_json::Value;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Instant;

impl Core {
    /// The pipeline, for every run: top-level and nested.
    pub(super) fn execute(
        &self,
        tx: &mut Tx<'_>,
        log: &mut RunLog,
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
            admit::keep_refused(&mut run, request.input);
            run.finish(Err(error), started);
            log.keep(&run);
            return run;
        }
        if parent.is_none() {
            self.hooks.before_run(&mut run, &request);
        }
        run.status = RunStatus::Running;
        // This run's writes, and its nested runs' records, are taken back from here.
        let savepoint = Savepoint::take(tx, log);
        let mut children = Vec::new();
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            self.stages(tx, log, &request, &mut run, parent, &mut children)
        }))
        .unwrap_or_else(|panic| Err(stages::panicked(&panic)));
        run.child_run_ids = children;
        // The input is the request's, moved in once the handler is done with the request.
        run.input = request.input;
        let outcome = outcome.or_else(|error| stages::roll_back(error, savepoint, tx, log));
        run.finish(outcome, started);
        match &run.error {
            None => tracing::debug!(duration_ms = run.duration, "run completed"),
            Some(e) => tracing::info!(code = %e.code, "run failed: {}", e.message),
        }
        // 7. record
        log.keep(&run);
        run
    }

    /// The stages of one run, in order. Returns the output.
    fn stages(
        &self,
        tx: &mut Tx<'_>,
        log: &mut RunLog,
        request: &RunRequest,
        run: &mut Run,
        parent: Option<&Parent<'_>>,
        children: &mut Vec<String>,
    ) -> Result<Value> {
        let deadline = stages::deadline(request, run, parent, &log.spent)?;
        // 1. resolve the operation
        let op = self.resolve(tx, request.operation.as_deref())?;
        run.operation = Some(op.name.clone());
        let ceiling = stages::budget(&op, &deadline, parent, &log.spent)?;
        stages::refuse_writes_on_snapshot(tx, request, &op)?;
        let depth = parent.map_or(0, |p| p.depth + 1);
        stages::check_depth(depth, &op)?;
        // 2. check target and input
        let doctype = op.check(request)?;
        run.doctype = doctype.clone();
        stages::refuse_system_changes(&op, doctype.as_deref())?;
        // 3. authorize: the owner's identity and what it may do (access control on)
        let (identity, grant) = self.authorize(tx, run, depth, &op, doctype.as_deref())?;
        let template = stages::template(request, &op, parent);
        let mut ctx = OpContext {
            runner: self,
            tx,
            log,
            request,
            run,
            depth,
            children,
            op,
            template,
            attempt: parent.map_or(1, |p| p.attempt),
            identity,
            grant,
            deadline,
            ceiling,
        };
        // 4. validate (a dry run of a non-built-in stops here)
        if let Some(dry_run) = ops::validate(&ctx, doctype.as_deref())? {
            return Ok(dry_run);
        }
        // 5. dispatch to the handler
        let output = ops::dispatch(&mut ctx, doctype.as_deref())?;
        // 6. a run that outlived its deadline (its own or an ancestor's) fails, and is
        // rolled back
        ctx.check_deadline()?;
        Ok(output)
    }
}
