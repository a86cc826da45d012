//! Story: operations are documents. The built-ins have seeded, protected `Operation`
//! documents whose settings drive the pipeline; a custom operation is an `Operation` with a
//! Rhai `handlerCode`, compiled when it is saved and callable as soon as its create commits.
//! Its script sees `context` (the run), `run` and `get_schema`, within limits the operation
//! may override; its nested runs inherit identity and share the top-level run's transaction.
//!
//! One file per story below; the helpers more than one story uses live here.

mod builtins;
mod custom;
mod dry_runs;
mod nested_runs;
mod sandbox;
mod sharing;

use crate::harness::*;
use coworker::{Engine, Limits, Run, RunError, RunStatus};
use serde_json::{Value, json};

/// The error of a failed run.
fn error(run: &Run) -> &RunError {
    run.error
        .as_ref()
        .unwrap_or_else(|| panic!("expected a failed run, got output {}", run.output))
}

/// Save a custom operation document (must succeed).
fn save_op(engine: &Engine, doc: Value) -> Run {
    ok(
        engine,
        json!({"operation": "create", "into": "Operation", "input": {"data": doc}}),
    )
}

/// Save a custom operation with just a name and handler code.
fn op(engine: &Engine, name: &str, code: &str) -> Run {
    save_op(engine, json!({"name": name, "handlerCode": code}))
}

/// The Operation documents named `name` (zero or one).
fn op_docs(engine: &Engine, name: &str) -> Vec<Value> {
    ok(
        engine,
        json!({"operation": "select", "from": "Operation", "input": {"where": {"name": name}}}),
    )
    .data()
    .to_vec()
}

fn customers(engine: &Engine) {
    ok(
        engine,
        json!({"operation": "create", "into": "Customer", "input": {"data": [
            {"name": "C-1", "city": "Oslo"},
            {"name": "C-2", "city": "Lyon"},
            {"name": "C-3", "city": "Porto"}]}}),
    );
}

/// A schema-backed doctype `Item` (qty: Int, required).
fn item_schema(engine: &Engine) {
    ok(
        engine,
        json!({"operation": "create", "into": "Schema", "input": {"data": {
            "name": "Item",
            "fields": [{"fieldname": "qty", "fieldtype": "Int", "reqd": 1}]}}}),
    );
}

const CSV_OF_CONTEXT_DOCTYPE: &str = r#"
let rows = run(#{operation: "select", from: context.doctype, input: #{orderBy: #{name: "asc"}}}).output.data;
let csv = "name,city";
for row in rows { csv += "\n" + row.name + "," + row.city; }
csv
"#;
