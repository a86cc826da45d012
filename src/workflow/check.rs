//! The check of a workflow template (or an inline workflow) at save and before it runs:
//! step ids unique and referable, references to earlier steps, the input or the variables
//! only, known operations, `if` expressions that compile, well-formed parallel groups, map
//! steps and fallbacks, retries within bounds, no direct self-inclusion. It runs nothing.

use super::MAX_RETRIES;
use super::refs::references;
use super::template::{CONTROL_KEYS, condition_source, request_part, step_id};
use crate::doc::Doc;
use crate::error::{Error, ErrorCode, Result};
use crate::handler::OpContext;
use crate::script;
use serde_json::{Value, json};
use std::collections::HashSet;

/// Whether an operation name resolves (what a save-time check needs to know of operations).
pub(crate) type OperationExists<'a> = &'a dyn Fn(&str) -> bool;

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
