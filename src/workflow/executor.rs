//! The `workflow` operation: running a template's steps in one workflow run. Steps run in
//! sequence, parallel groups branch by branch, `map` steps once per item; a failed step is
//! retried (with backoff, within the run tree's backoff budget and the deadline), rescued
//! by its `onError` fallback, or stops the workflow; a failed `map` attempt is rolled back
//! to its savepoint. Every step is a nested run through the whole pipeline: this file
//! never writes documents itself.

use super::check::check;
use super::refs::{self, Allowance, Scope, resolve};
use super::template::{CONTROL_KEYS, condition_source, step_id};
use super::{MAX_BACKOFF_MS, MAX_MAP_ITEMS, MAX_TOTAL_BACKOFF_MS, MAX_WORKFLOW_STEPS};
use crate::error::{Error, ErrorCode, Result};
use crate::handler::OpContext;
use crate::run::{Run, RunRequest};
use crate::script;
use serde_json::{Map, Value, json};

/// One step's result, as `output.steps` lists it and references see it. (Built by hand:
/// `json!` would copy `output` through serde.)
fn record(id: &str, run: Option<&Run>, status: &str, output: Value, error: Option<Value>) -> Value {
    let mut entry = Map::with_capacity(5);
    entry.insert("id".into(), Value::String(id.to_string()));
    let run_id = run.map_or(Value::Null, |r| Value::String(r.id.clone()));
    entry.insert("runId".into(), run_id);
    entry.insert("status".into(), Value::String(status.to_string()));
    entry.insert("output".into(), output);
    if let Some(error) = error {
        entry.insert("error".into(), error);
    }
    Value::Object(entry)
}

/// Executes one workflow run.
struct Executor<'x, 'c, 't> {
    ctx: &'x mut OpContext<'c, 't>,
    started: usize,
    /// The scope keys of the steps `output.steps` lists, in order (their records are taken
    /// from the scope at the end rather than copied as they go).
    listed: Vec<String>,
}

/// A failed step that stops the workflow: its code, message and where.
fn stop(step: &str, run: Option<&Run>, error: &crate::RunError) -> Error {
    Error::new(
        error.code,
        format!("step `{step}` failed: {}", error.message),
    )
    .with_details(json!({
        "stepId": step,
        "runId": run.map(|r| r.id.clone()),
        "details": error.details,
    }))
}

impl Executor<'_, '_, '_> {
    /// After a failed attempt of step `step`: TIMEOUT naming it once the workflow's
    /// deadline has passed (nothing more starts: no retry, no fallback).
    fn check_deadline(&self, step: &str, run: Option<&Run>, what: &str) -> Result<()> {
        let deadline = self.ctx.deadline();
        if !deadline.passed() {
            return Ok(());
        }
        Err(deadline.error(
            &format!("step `{step}` {what} when"),
            json!({"stepId": step, "runId": run.map(|r| r.id.clone())}),
        ))
    }

    /// Wait `backoff` ms before the next attempt of `step` (its last one `run`), within
    /// the run tree's backoff budget and the deadline.
    fn pause(
        &mut self,
        backoff: u64,
        step: &str,
        run: Option<&Run>,
        error: &crate::RunError,
    ) -> Result<()> {
        if backoff > 0 && !self.ctx.back_off(backoff) {
            return Err(Error::new(
                ErrorCode::LimitExceeded,
                format!(
                    "step `{step}` would wait more than {MAX_TOTAL_BACKOFF_MS} ms between retries in total (limit: total backoff); its last attempt failed: {}",
                    error.message
                ),
            )
            .with_details(json!({
                "stepId": step,
                "runId": run.map(|r| r.id.clone()),
                "limit": "totalBackoffMs",
                "max": MAX_TOTAL_BACKOFF_MS,
                "error": {"code": error.code, "message": error.message},
            })));
        }
        self.check_deadline(step, run, "was waiting to retry")
    }

    fn budget(&mut self) -> Result<()> {
        self.started += 1;
        if self.started > MAX_WORKFLOW_STEPS {
            return Err(Error::new(
                ErrorCode::LimitExceeded,
                format!(
                    "the workflow started more than {MAX_WORKFLOW_STEPS} step runs (limit: steps per workflow)"
                ),
            ));
        }
        Ok(())
    }

    /// Run a resolved request as a step run; a request that does not resolve or parse is a
    /// failed step run too.
    ///
    /// `request` is a step (`is_step`: its control keys are left out) or an `onError`
    /// request (taken whole).
    #[allow(clippy::too_many_arguments, reason = "the step's parts, each needed")]
    fn run_request(
        &mut self,
        request: &Map<String, Value>,
        is_step: bool,
        scope: &Scope,
        step: &str,
        attempt: u32,
        timeout: Option<u64>,
    ) -> Result<Run> {
        self.budget()?;
        // Resolved straight from the step: the request part is never copied first.
        let mut fields = Vec::with_capacity(request.len() + 1);
        let mut allowance = Allowance::default();
        for (key, value) in request {
            if is_step && CONTROL_KEYS.contains(&key.as_str()) {
                continue;
            }
            match resolve(value, scope, &mut allowance) {
                Ok(value) => fields.push((key.as_str(), value)),
                Err(error) => {
                    let operation = request.get("operation").and_then(Value::as_str);
                    return Ok(self.ctx.fail_child(error, step, operation));
                }
            }
        }
        fields.push(("stepId", Value::String(step.to_string())));
        if let Some(timeout) = timeout {
            match fields.iter_mut().find(|(key, _)| *key == "options") {
                Some((_, Value::Object(options))) => {
                    options.insert("timeoutMs".into(), json!(timeout));
                }
                Some(_) => {}
                None => fields.push(("options", json!({"timeoutMs": timeout}))),
            }
        }
        let parsed = RunRequest::from_fields(fields);
        Ok(self.ctx.run_parsed(parsed, step, attempt))
    }

    fn run_steps(
        &mut self,
        steps: &[Value],
        scope: &mut Scope,
        prefix: &str,
        listed: bool,
    ) -> Result<Value> {
        let mut last = Value::Null;
        for (i, step) in steps.iter().enumerate() {
            let Value::Object(step) = step else {
                return Err(Error::bad_request(format!("step {i} must be an object")));
            };
            if let (Some(Value::Array(ids)), Some(Value::Array(ops))) =
                (step.get("parallel"), step.get("operations"))
            {
                // Branches run in declaration order; each sees what came before the group.
                let before = scope.clone();
                for (id, op) in ids.iter().zip(ops) {
                    let mut op = op.as_object().cloned().unwrap_or_default();
                    if let Some(id) = id.as_str() {
                        op.entry("id").or_insert(json!(id));
                    }
                    let mut branch_scope = before.clone();
                    last = self.run_step(&op, &mut branch_scope, prefix, i, listed)?;
                    let id = step_id(&op).unwrap_or_default().to_string();
                    if let Some(entry) = branch_scope.get(&id) {
                        scope.insert(id, entry.clone());
                    }
                }
                continue;
            }
            last = self.run_step(step, scope, prefix, i, listed)?;
        }
        Ok(last)
    }

    /// Run one step; returns its output (what `prev` will be).
    fn run_step(
        &mut self,
        step: &Map<String, Value>,
        scope: &mut Scope,
        prefix: &str,
        position: usize,
        listed: bool,
    ) -> Result<Value> {
        let id = step_id(step).map_or_else(
            || format!("{prefix}step{}", position + 1),
            |id| format!("{prefix}{id}"),
        );
        let key = step_id(step).map_or_else(|| id.clone(), str::to_string);
        if let Some(condition) = step.get("if").and_then(Value::as_str) {
            let go = self.condition(condition, scope).map_err(|e| {
                Error::new(e.code(), format!("step `{id}`: {e}"))
                    .with_details(json!({"stepId": id}))
            })?;
            if !go {
                let entry = record(&id, None, "skipped", Value::Null, None);
                self.note(&key, entry, scope, listed);
                let prev = refs::Reference::parse("prev.output")?;
                return Ok(refs::lookup(scope, &prev).map_or(Value::Null, |v| v.into_owned()));
            }
        }
        let retry = step.get("retry");
        let retries = retry
            .and_then(|r| r.get("max"))
            .and_then(Value::as_u64)
            .unwrap_or(0);
        let backoff = retry
            .and_then(|r| r.get("backoffMs"))
            .and_then(Value::as_u64)
            .unwrap_or(0)
            .min(MAX_BACKOFF_MS);
        // A limit hit is not retried (the same request hits it again), and nothing starts
        // once the deadline has passed.
        let retried = |attempt: u32, code: ErrorCode| {
            u64::from(attempt) <= retries && code != ErrorCode::LimitExceeded
        };
        if let Some(over) = step.get("map") {
            // A map has no run of its own: a savepoint takes back a failed attempt.
            let mut attempt: u32 = 1;
            loop {
                let mark = self.ctx.savepoint();
                match self.run_map(step, over, &id, &key, scope, listed) {
                    Ok(output) => return Ok(output),
                    Err(error) => {
                        self.ctx.rollback(mark)?;
                        // An inner step that timed out has named itself already.
                        if error.code() == ErrorCode::Timeout && self.ctx.deadline().passed() {
                            return Err(error);
                        }
                        self.check_deadline(&id, None, "was running")?;
                        let error = error.to_run_error();
                        if retried(attempt, error.code) {
                            attempt += 1;
                            self.pause(backoff, &id, None, &error)?;
                            continue;
                        }
                        return self.fail_or_rescue(step, &id, &key, None, &error, scope, listed);
                    }
                }
            }
        }
        let timeout = step.get("timeoutMs").and_then(Value::as_u64);
        let mut attempt = 1;
        let mut run = loop {
            let run = self.run_request(step, true, scope, &id, attempt, timeout)?;
            let Some(error) = &run.error else {
                break run;
            };
            // A step that timed out says where (a nested workflow's own step, say).
            if error.code == ErrorCode::Timeout && self.ctx.deadline().passed() {
                return Err(stop(&id, Some(&run), error));
            }
            self.check_deadline(&id, Some(&run), "was running")?;
            if !retried(attempt, error.code) {
                break run;
            }
            attempt += 1;
            self.pause(backoff, &id, Some(&run), error)?;
        };
        match run.error.take() {
            None => {
                // Only `map` collects what its steps return; listed steps' outputs are read
                // from their records, so they are not copied here.
                let output = if listed {
                    Value::Null
                } else {
                    run.output.clone()
                };
                let taken = run.output.take();
                let entry = record(&id, Some(&run), "completed", taken, None);
                self.note(&key, entry, scope, listed);
                Ok(output)
            }
            Some(error) => self.fail_or_rescue(step, &id, &key, Some(&run), &error, scope, listed),
        }
    }

    /// A step failed: run its `onError` fallback (the workflow goes on, the step stays
    /// recorded as failed, `{{id.output}}` is the fallback's output), or stop the workflow.
    #[allow(clippy::too_many_arguments, reason = "the step's parts, each needed")]
    fn fail_or_rescue(
        &mut self,
        step: &Map<String, Value>,
        id: &str,
        key: &str,
        run: Option<&Run>,
        error: &crate::RunError,
        scope: &mut Scope,
        listed: bool,
    ) -> Result<Value> {
        let error_value =
            json!({"code": error.code, "message": error.message, "details": error.details});
        let failed = record(id, run, "failed", Value::Null, Some(error_value.clone()));
        let Some(fallback) = step.get("onError") else {
            self.note(key, failed, scope, listed);
            return Err(stop(id, run, error));
        };
        let mut fallback_scope = scope.clone();
        fallback_scope.insert("error".into(), error_value.clone());
        fallback_scope.insert(key.to_string(), failed.clone());
        let Value::Object(fallback) = fallback else {
            return Err(Error::bad_request(format!(
                "step `{id}`: `onError` must be a request"
            )));
        };
        let rescue = self.run_request(
            fallback,
            false,
            &fallback_scope,
            &format!("{id}.onError"),
            1,
            None,
        )?;
        if let Some(rescue_error) = &rescue.error {
            self.note(key, failed, scope, listed);
            return Err(stop(&format!("{id}.onError"), Some(&rescue), rescue_error));
        }
        let mut entry = record(id, run, "failed", rescue.output.clone(), Some(error_value));
        entry["fallbackRunId"] = json!(rescue.id);
        self.note(key, entry, scope, listed);
        Ok(rescue.output)
    }

    fn run_map(
        &mut self,
        step: &Map<String, Value>,
        over: &Value,
        id: &str,
        key: &str,
        scope: &mut Scope,
        listed: bool,
    ) -> Result<Value> {
        let items = match resolve(over, scope, &mut Allowance::default()) {
            Ok(Value::Array(items)) => items,
            Ok(other) => {
                return Err(Error::bad_request(format!(
                    "step `{id}`: `map` must refer to an array, got {other}"
                ))
                .with_details(json!({"stepId": id})));
            }
            Err(e) => {
                return Err(Error::new(e.code(), format!("step `{id}`: {e}"))
                    .with_details(json!({"stepId": id})));
            }
        };
        if items.len() > MAX_MAP_ITEMS {
            return Err(Error::new(
                ErrorCode::LimitExceeded,
                format!(
                    "step `{id}` maps over {} items (limit: {MAX_MAP_ITEMS} map fan-out)",
                    items.len()
                ),
            )
            .with_details(json!({"stepId": id})));
        }
        let inner = step
            .get("steps")
            .and_then(Value::as_array)
            .map_or(&[][..], Vec::as_slice);
        let mut outputs = Vec::with_capacity(items.len());
        for (index, item) in items.into_iter().enumerate() {
            let mut item_scope = scope.clone();
            item_scope.insert("item".into(), item);
            item_scope.insert("index".into(), json!(index));
            outputs.push(self.run_steps(
                inner,
                &mut item_scope,
                &format!("{id}[{index}]."),
                false,
            )?);
        }
        let output = Value::Array(outputs);
        self.note(
            key,
            record(id, None, "completed", output.clone(), None),
            scope,
            listed,
        );
        Ok(output)
    }

    /// Remember a step's record: visible to later references, listed in the output.
    fn note(&mut self, key: &str, entry: Value, scope: &mut Scope, listed: bool) {
        if entry.get("status").and_then(Value::as_str) != Some("skipped") {
            // `prev` names the step instead of copying its record (see `refs::lookup`).
            scope.insert("prev".into(), json!({ refs::PREV_KEY: key }));
        }
        if listed {
            self.listed.push(key.to_string());
        }
        scope.insert(key.to_string(), entry);
    }

    /// The records of the listed steps, in order, taken out of the final scope.
    fn records(&self, scope: &mut Scope) -> Vec<Value> {
        self.listed
            .iter()
            .enumerate()
            .map(|(i, key)| {
                let listed_again = self.listed[i + 1..].contains(key);
                let entry = if listed_again {
                    scope.get(key).cloned()
                } else {
                    scope.remove(key)
                };
                entry.unwrap_or(Value::Null)
            })
            .collect()
    }

    fn condition(&self, condition: &str, scope: &Scope) -> Result<bool> {
        let (source, bound) = condition_source(condition)?;
        let mut allowance = Allowance::default();
        let values = bound
            .iter()
            .map(|reference| refs::take(scope, reference, &mut allowance))
            .collect::<Result<Vec<_>>>()?;
        match script::eval_condition(&source, values)? {
            Value::Bool(go) => Ok(go),
            other => Err(Error::bad_request(format!(
                "`if` must give true or false, got {other} (from `{condition}`)"
            ))),
        }
    }
}

/// The workflow family's reach into the handler context: retries' backoff.
impl OpContext<'_, '_> {
    /// Wait `ms` before the next attempt of a retried step, within the run tree's total
    /// backoff budget and never past the deadline. Returns `false` (without waiting) when
    /// the wait would take the tree past its backoff budget.
    pub(crate) fn back_off(&mut self, ms: u64) -> bool {
        let spent = &mut self.log.spent;
        if spent.backoff_ms.saturating_add(ms) > MAX_TOTAL_BACKOFF_MS {
            return false;
        }
        spent.backoff_ms += ms;
        let wait = std::time::Duration::from_millis(ms).min(self.deadline.left());
        if !wait.is_zero() {
            std::thread::sleep(wait);
        }
        true
    }
}

/// The `workflow` operation: load the template (or take `input.children`), check it, run
/// its steps. Output: `{template, version, steps: [{id, runId, status, output}]}`.
pub(crate) fn execute(ctx: &mut OpContext<'_, '_>) -> Result<Value> {
    let request = ctx.request();
    // A saved template comes checked from the cache; inline steps are checked here and
    // run where they are, in the request.
    let cached;
    let (steps, variables, name, version, inline) = match &request.template {
        Some(name) => {
            cached = ctx.template(name)?.ok_or_else(|| {
                Error::not_found(format!(
                    "workflow template `{}` does not exist",
                    crate::value::echo_str(name)
                ))
                .with_details(json!({"template": name}))
            })?;
            let template = &*cached;
            (
                template.steps.as_slice(),
                template.variables.clone(),
                template.name.as_deref(),
                template.version.as_deref(),
                false,
            )
        }
        None => {
            let children = request.input.get("children").ok_or_else(|| {
                Error::new(
                    ErrorCode::MissingTarget,
                    "`workflow` needs a `template` or inline steps in `input.children`",
                )
            })?;
            check(None, children, &|op: &str| ctx.operation_exists(op))?;
            // `check` refused anything but an array.
            let steps = children.as_array().map_or(&[][..], Vec::as_slice);
            (steps, Value::Null, None, None, true)
        }
    };
    // A dry run checks the request (the template exists, inline steps are well formed)
    // and executes nothing, as for any operation: no step runs.
    if ctx.dry_run() {
        return Ok(json!({"dryRun": true, "template": name, "version": version}));
    }
    // The workflow's own input, without the inline steps.
    let input = match &request.input {
        Value::Object(fields) if inline => Value::Object(
            fields
                .iter()
                .filter(|(k, _)| *k != "children")
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        ),
        other => other.clone(),
    };
    // `input` and `variables` are always defined (`{}` when there are none), so a missing
    // key under them fails like any missing reference.
    let or_empty = |value: Value| match value {
        Value::Null => Value::Object(Map::new()),
        other => other,
    };
    let mut scope = Scope::new();
    scope.insert("input".into(), or_empty(input));
    scope.insert("variables".into(), or_empty(variables));
    scope.insert(
        "prev".into(),
        json!({"output": null, "status": "none", "runId": null}),
    );
    let mut output = Map::with_capacity(3);
    output.insert("template".into(), json!(name));
    output.insert("version".into(), json!(version));
    let mut executor = Executor {
        ctx,
        started: 0,
        listed: Vec::new(),
    };
    executor.run_steps(steps, &mut scope, "", true)?;
    output.insert("steps".into(), Value::Array(executor.records(&mut scope)));
    Ok(Value::Object(output))
}
