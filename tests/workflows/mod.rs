//! Story: multi-step work is declared as data. A `Workflow Template` document (or an inline
//! `input.children`, what an AI planner generates) lists steps; the built-in `workflow`
//! operation runs each step as a nested run of the workflow run, so every step is validated,
//! recorded and rolled back like any run. Steps see earlier results through `{{...}}`
//! references (data lookups, never code), `if` conditions bind those references as typed
//! variables, `parallel` groups, `onError` fallbacks, `retry`, `timeoutMs` and `map` steer
//! them, and the run records (trees, flows, `createdByRun`/`createdByTemplate`) tell what
//! happened afterwards.
//!
//! One file per story below; the helpers and fixtures more than one story uses live here.

mod errors;
mod examples;
mod fallbacks;
mod flows;
mod map;
mod nesting;
mod packs;
mod parallel;
mod references;
mod retries;
mod save_checks;
mod scripts;
mod traceability;

use crate::harness::*;
use coworker::{Engine, Run, RunError, RunQuery, RunStatus, RunTree};
use serde_json::{Value, json};

// --- helpers ----------------------------------------------------------------------------

/// The error of a failed run.
fn error(run: &Run) -> &RunError {
    run.error
        .as_ref()
        .unwrap_or_else(|| panic!("expected a failed run, got output {}", run.output))
}

/// Run an inline workflow: `children` are the steps, `input` the rest of its input.
fn inline(engine: &Engine, children: Value, input: Value) -> Run {
    let mut input = match input {
        Value::Null => json!({}),
        other => other,
    };
    input["children"] = children;
    run(engine, json!({"operation": "workflow", "input": input}))
}

/// Run the template `name` with `input`.
fn run_template(engine: &Engine, name: &str, input: Value) -> Run {
    run(
        engine,
        json!({"operation": "workflow", "template": name, "input": input}),
    )
}

/// Save a `Workflow Template` (must succeed).
fn template(engine: &Engine, name: &str, children: Value) -> Run {
    ok(
        engine,
        json!({"operation": "create", "into": "Workflow Template",
               "input": {"data": {"name": name, "children": children}}}),
    )
}

/// Save a custom operation with Rhai handler code (must succeed).
fn op(engine: &Engine, name: &str, code: &str) {
    ok(
        engine,
        json!({"operation": "create", "into": "Operation",
               "input": {"data": {"name": name, "handlerCode": code}}}),
    );
}

/// Import schemas (must succeed).
fn schemas(engine: &Engine, docs: Value) {
    let Value::Array(docs) = docs else {
        panic!("schemas takes an array")
    };
    let run = engine.import_schemas(docs);
    assert!(run.success, "schemas import: {:?}", run.error);
}

/// The documents of a doctype, by name.
fn docs(engine: &Engine, doctype: &str) -> Vec<Value> {
    ok(
        engine,
        json!({"operation": "select", "from": doctype, "input": {"orderBy": {"name": "asc"}}}),
    )
    .data()
    .to_vec()
}

/// The documents of a doctype matching `filter`.
fn docs_where(engine: &Engine, doctype: &str, filter: Value) -> Vec<Value> {
    ok(
        engine,
        json!({"operation": "select", "from": doctype,
               "input": {"where": filter, "orderBy": {"name": "asc"}}}),
    )
    .data()
    .to_vec()
}

/// The entry of step `id` in a workflow run's `output.steps`.
fn step<'r>(run: &'r Run, id: &str) -> &'r Value {
    run.output["steps"]
        .as_array()
        .unwrap_or_else(|| panic!("no output.steps in {}", run.output))
        .iter()
        .find(|s| s["id"] == json!(id))
        .unwrap_or_else(|| panic!("no step `{id}` in {}", run.output["steps"]))
}

/// `[id, status]` of every listed step, in order.
fn statuses(run: &Run) -> Vec<(String, String)> {
    run.output["steps"]
        .as_array()
        .unwrap_or_else(|| panic!("no output.steps in {}", run.output))
        .iter()
        .map(|s| {
            (
                s["id"].as_str().unwrap_or_default().to_string(),
                s["status"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

/// The step run of step `id` (through the `runId` its entry names).
fn step_run(engine: &Engine, run: &Run, id: &str) -> Run {
    let run_id = step(run, id)["runId"]
        .as_str()
        .unwrap_or_else(|| panic!("step `{id}` has no run"));
    stored(engine, run_id)
}

/// The direct child runs of `run`, as stored.
fn children(engine: &Engine, run: &Run) -> Vec<Run> {
    stored(engine, &run.id)
        .child_run_ids
        .iter()
        .map(|id| stored(engine, id))
        .collect()
}

fn query() -> RunQuery {
    RunQuery::default()
}

/// Every run of a tree, depth first.
fn flatten(tree: &RunTree, out: &mut Vec<Run>) {
    out.push(tree.run.clone());
    for child in &tree.children {
        flatten(child, out);
    }
}

/// A Rhai op whose handler makes a nested run: workflow → step → script's child.
const LOG_NOTE: &str = r#"
let made = run(#{operation: "create", into: "Note", input: #{data: #{text: context.input.text}}});
if !made.success { throw made.error.message; }
made.output.data[0].name
"#;

fn traced_workflow(engine: &Engine) -> Run {
    op(engine, "log_note", LOG_NOTE);
    template(
        engine,
        "Traced",
        json!([
            {"id": "task", "operation": "create", "into": "Task", "input": {"data": {"title": "t"}}},
            {"id": "log", "operation": "log_note", "input": {"text": "made {{task.name}}"}},
            {"id": "close", "operation": "update", "in": "Task", "input": {"name": "{{task.name}}", "data": {"done": true}}}
        ]),
    );
    let run = engine.run_value(
        json!({"operation": "workflow", "template": "Traced", "owner": "alice", "input": {}}),
    );
    assert!(run.success, "{:?}", run.error);
    run
}
