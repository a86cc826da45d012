//! Workflows: `Workflow Template` documents whose `children` are steps, executed by the
//! built-in `workflow` operation (or inline, from `input.children`).
//!
//! Each step is a request run through the whole pipeline as a nested run of the workflow
//! run, so it is validated, recorded and rolled back like any run. Steps see earlier
//! results only through references (`refs`), never as code; `if` conditions are Rhai
//! expressions with the references bound as typed variables. This module never writes
//! documents itself: its steps do.
//!
//! Over ~600 lines: issue 13 splits it into check (the save check), executor and template.

pub(crate) mod refs;

use crate::engine::OpContext;
use crate::error::{Error, ErrorCode, Result};
use crate::query::Doc;
use crate::run::{Run, RunRequest};
use crate::script;
use refs::{Allowance, Reference, Scope, references, resolve};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use std::collections::HashSet;

/// The doctype of workflow templates.
pub(crate) const TEMPLATE: &str = "Workflow Template";
pub use crate::limits::MAX_BACKOFF_MS;
pub use crate::limits::MAX_MAP_ITEMS;
pub use crate::limits::MAX_RETRIES;
pub use crate::limits::MAX_TOTAL_BACKOFF_MS;
pub use crate::limits::MAX_WORKFLOW_STEPS;

/// Keys of a step that steer the workflow; every other key is part of the step's request.
const CONTROL_KEYS: [&str; 10] = [
    "id",
    "if",
    "onError",
    "retry",
    "timeoutMs",
    "map",
    "steps",
    "concurrency",
    "parallel",
    "operations",
];

/// The content hash of a template: its version.
pub(crate) fn version_of(doc: &Doc) -> String {
    let content = json!({"children": doc.get("children"), "variables": doc.get("variables")});
    let digest = Sha256::digest(content.to_string().as_bytes());
    digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

fn step_id(step: &Map<String, Value>) -> Option<&str> {
    step.get("id").and_then(Value::as_str)
}

/// The fields of the step that make its request (control keys left out).
fn request_part(step: &Map<String, Value>) -> impl Iterator<Item = (&String, &Value)> {
    step.iter()
        .filter(|(k, _)| !CONTROL_KEYS.contains(&k.as_str()))
}

/// `if` source with each reference replaced by a variable; returns the source and the
/// references in variable order.
fn condition_source(condition: &str) -> Result<(String, Vec<Reference>)> {
    let mut source = String::new();
    let mut bound = Vec::new();
    for piece in
        refs::pieces(condition)?.unwrap_or_else(|| vec![refs::Piece::Text(condition.to_string())])
    {
        match piece {
            refs::Piece::Text(text) => source.push_str(&text),
            refs::Piece::Ref(reference) => {
                source.push_str(&format!(" ref_{} ", bound.len()));
                bound.push(reference);
            }
        }
    }
    Ok((source, bound))
}

/// Whether an operation name resolves (what a save-time check needs to know of operations).
pub(crate) type OperationExists<'a> = &'a dyn Fn(&str) -> bool;
/// Whether a run of an operation name may write (see `Registry::may_write`).
pub(crate) type OperationWrites<'a> = &'a dyn Fn(&str) -> bool;

/// Check a template (or an inline workflow) before it is saved or run: step ids unique,
/// references to earlier steps / input / variables only, known operations, `if`
/// expressions that compile, no direct self-inclusion.
pub(crate) fn check(name: Option<&str>, children: &Value, ops: OperationExists<'_>) -> Result<()> {
    let Value::Array(steps) = children else {
        return Err(Error::bad_request("`children` must be an array of steps"));
    };
    let mut known: HashSet<String> = ["input", "variables", "prev"].map(String::from).into();
    let mut ids = HashSet::new();
    check_steps(name, steps, &mut known, &mut ids, ops, "children")
}

fn check_steps(
    name: Option<&str>,
    steps: &[Value],
    known: &mut HashSet<String>,
    ids: &mut HashSet<String>,
    ops: OperationExists<'_>,
    path: &str,
) -> Result<()> {
    for (i, step) in steps.iter().enumerate() {
        let here = format!("{path}[{i}]");
        let Value::Object(step) = step else {
            return Err(Error::bad_request(format!("{here} must be an object")));
        };
        if let Some(parallel) = step.get("parallel") {
            let Value::Array(branches) = parallel else {
                return Err(Error::bad_request(format!(
                    "{here}: `parallel` lists the ids of its operations"
                )));
            };
            if let Some(key) = step
                .keys()
                .find(|k| !["parallel", "operations"].contains(&k.as_str()))
            {
                return Err(Error::bad_request(format!(
                    "{here}: a `parallel` group takes only `parallel` and `operations`, not `{key}` (put it on the operations)"
                )));
            }
            if step
                .get("operations")
                .and_then(Value::as_array)
                .is_some_and(|ops| ops.iter().any(|op| op.get("parallel").is_some()))
            {
                return Err(Error::bad_request(format!(
                    "{here}: a `parallel` group cannot hold another group"
                )));
            }
            let operations = step
                .get("operations")
                .and_then(Value::as_array)
                .ok_or_else(|| {
                    Error::bad_request(format!("{here}: a `parallel` group needs `operations`"))
                })?;
            if branches.len() != operations.len() {
                return Err(Error::bad_request(format!(
                    "{here}: `parallel` names {} ids for {} operations",
                    branches.len(),
                    operations.len()
                )));
            }
            // Branches see what came before the group, not each other.
            let before = known.clone();
            let mut added = Vec::new();
            for (j, (branch, op)) in branches.iter().zip(operations).enumerate() {
                let mut op = op.clone();
                if let (Value::Object(op), Some(id)) = (&mut op, branch.as_str()) {
                    op.entry("id").or_insert(json!(id));
                }
                let mut scope = before.clone();
                check_steps(
                    name,
                    &[op],
                    &mut scope,
                    ids,
                    ops,
                    &format!("{here}.operations[{j}]"),
                )?;
                added.extend(scope.difference(&before).cloned().collect::<Vec<_>>());
            }
            known.extend(added);
            continue;
        }
        if step.contains_key("operations") {
            return Err(Error::bad_request(format!(
                "{here}: `operations` belongs to a `parallel` group (with `parallel` naming their ids)"
            )));
        }
        let id = step_id(step).map(str::to_string);
        if let Some(id) = &id {
            let referable = !id.is_empty()
                && id
                    .chars()
                    .all(|c| c.is_alphanumeric() || c == '_' || c == '-');
            if !referable {
                return Err(Error::bad_request(format!(
                    "{here}: step id `{id}` must be letters, digits, `_` or `-` (so `{{{{{id}.output}}}}` can name it)"
                )));
            }
            if !ids.insert(id.clone()) {
                return Err(Error::bad_request(format!(
                    "{here}: step id `{id}` is used twice"
                )));
            }
            if ["input", "variables", "prev", "item", "index", "error"].contains(&id.as_str()) {
                return Err(Error::bad_request(format!(
                    "{here}: `{id}` is reserved and cannot be a step id"
                )));
            }
        }
        for key in step.keys() {
            // A step's request takes a request's keys but `stepId` (its `id` is that).
            let request_key = key != "stepId" && crate::run::REQUEST_KEYS.contains(&key.as_str());
            if !CONTROL_KEYS.contains(&key.as_str()) && !request_key {
                return Err(Error::bad_request(format!(
                    "{here}: unknown step key `{key}`"
                )));
            }
        }
        let check_refs = |value: &Value, scope: &HashSet<String>, what: &str| -> Result<()> {
            let mut found = Vec::new();
            references(value, &mut found)?;
            for reference in found {
                if !scope.contains(&reference.root) {
                    return Err(Error::bad_request(format!(
                        "{here}{what}: `{{{{{}}}}}` refers to `{}`, which is not an earlier step, the input or the variables",
                        reference.text, reference.root
                    ))
                    .with_details(json!({"reference": reference.text, "step": id})));
                }
            }
            Ok(())
        };
        if let Some(condition) = step.get("if") {
            let Some(condition) = condition.as_str() else {
                return Err(Error::bad_request(format!(
                    "{here}: `if` must be a string expression"
                )));
            };
            check_refs(&json!(condition), known, ".if")?;
            let (source, bound) = condition_source(condition)?;
            script::compile_condition(&source, bound.len())
                .map_err(|e| Error::new(e.code(), format!("{here}.if: {e}")))?;
        }
        if let Some(over) = step.get("map") {
            check_refs(over, known, ".map")?;
            let inner = step
                .get("steps")
                .and_then(Value::as_array)
                .ok_or_else(|| Error::bad_request(format!("{here}: a `map` step needs `steps`")))?;
            let mut scope = known.clone();
            scope.extend(["item".to_string(), "index".to_string()]);
            check_steps(name, inner, &mut scope, ids, ops, &format!("{here}.steps"))?;
        } else {
            let operation = step
                .get("operation")
                .and_then(Value::as_str)
                .ok_or_else(|| {
                    Error::bad_request(format!("{here}: a step needs an `operation`"))
                })?;
            if !ops(operation) {
                return Err(Error::new(
                    ErrorCode::UnknownOperation,
                    format!("{here}: unknown operation `{operation}`"),
                ));
            }
            if operation == "workflow"
                && let (Some(own), Some(target)) =
                    (name, step.get("template").and_then(Value::as_str))
                && own == target
            {
                return Err(Error::bad_request(format!(
                    "{here}: template `{own}` includes itself"
                )));
            }
            for (_, value) in request_part(step) {
                check_refs(value, known, "")?;
            }
        }
        if let Some(fallback) = step.get("onError") {
            let Value::Object(fallback) = fallback else {
                return Err(Error::bad_request(format!(
                    "{here}: `onError` must be a request"
                )));
            };
            let mut scope = known.clone();
            scope.insert("error".into());
            if let Some(id) = &id {
                scope.insert(id.clone());
            }
            check_refs(&Value::Object(fallback.clone()), &scope, ".onError")?;
            let operation = fallback
                .get("operation")
                .and_then(Value::as_str)
                .unwrap_or_default();
            if !ops(operation) {
                return Err(Error::new(
                    ErrorCode::UnknownOperation,
                    format!("{here}.onError: unknown operation `{operation}`"),
                ));
            }
        }
        if let Some(retry) = step.get("retry")
            && retry
                .get("max")
                .and_then(Value::as_u64)
                .is_none_or(|max| max > MAX_RETRIES)
        {
            return Err(Error::bad_request(format!(
                "{here}: `retry` is {{max, backoffMs}} with a whole `max` from 0 to {MAX_RETRIES}"
            ))
            .with_details(json!({"stepId": id, "limit": "retry.max", "max": MAX_RETRIES})));
        }
        if let Some(id) = id {
            known.insert(id);
        }
    }
    Ok(())
}

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

/// A workflow's steps as the executor runs them: a saved template (cached, see
/// [`OpContext::template`]) or inline steps, checked.
pub(crate) struct Template {
    name: Option<String>,
    version: Option<String>,
    steps: Vec<Value>,
    variables: Value,
    /// Every step only reads (selects), fallbacks included: the workflow can run on a read
    /// snapshot, without the write transaction.
    pub(crate) reads_only: bool,
}

/// Whether no step of `steps` (branches, map steps and fallbacks included) may write, as
/// `may_write` judges an operation name. Steps are read as the executor runs them.
pub(crate) fn reads_only(steps: &[Value], may_write: OperationWrites<'_>) -> bool {
    let reads = |request: &Value| {
        request
            .get("operation")
            .and_then(Value::as_str)
            .is_some_and(|op| !may_write(op))
    };
    steps.iter().all(|step| {
        let fallback_reads = step.get("onError").is_none_or(reads);
        let body_reads = match (step.get("parallel"), step.get("operations")) {
            (Some(Value::Array(_)), Some(Value::Array(branches))) => {
                reads_only(branches, may_write)
            }
            _ if step.get("map").is_some() => step
                .get("steps")
                .and_then(Value::as_array)
                .is_some_and(|inner| reads_only(inner, may_write)),
            _ => reads(step),
        };
        fallback_reads && body_reads
    })
}

impl Template {
    /// A saved template, versioned and checked.
    pub(crate) fn from_doc(
        doc: &Doc,
        ops: OperationExists<'_>,
        may_write: OperationWrites<'_>,
    ) -> Result<Template> {
        let name = doc.get("name").and_then(Value::as_str);
        let children = doc.get("children").cloned().unwrap_or(Value::Null);
        check(name, &children, ops)?;
        let Value::Array(steps) = children else {
            return Err(Error::bad_request("`children` must be an array of steps"));
        };
        Ok(Template {
            name: name.map(str::to_string),
            version: Some(version_of(doc)),
            reads_only: reads_only(&steps, may_write),
            steps,
            variables: doc.get("variables").cloned().unwrap_or(Value::Null),
        })
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

/// Save-time check of a `Workflow Template` document.
pub(crate) fn check_template_doc(ctx: &OpContext<'_, '_>, doc: &Doc) -> Result<()> {
    let name = doc.get("name").and_then(Value::as_str);
    let children = doc.get("children").unwrap_or(&Value::Null);
    check(name, children, &|op: &str| ctx.operation_exists(op)).map_err(|e| {
        let error = e.to_run_error();
        Error::new(
            error.code,
            format!(
                "workflow template `{}`: {}",
                name.unwrap_or("?"),
                error.message
            ),
        )
        .with_details(error.details)
    })
}
