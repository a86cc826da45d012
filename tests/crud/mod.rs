//! Story: a host creates, reads, updates and deletes documents through `Engine::run`, and
//! every run (top-level or nested, completed or failed) is recorded with the fields of
//! DESIGN.md; a top-level run and its nested runs write all or nothing.
//!
//! One file per story below; the helpers more than one story uses live here.

mod aliases;
mod create;
mod delete;
mod meta_fields;
mod nested_runs;
mod run_record;
mod select;
mod update;

use crate::harness::*;
use coworker::{Engine, Error, ErrorCode, Run, RunOptions, RunQuery, RunRequest, RunStatus};
use serde_json::{Value, json};
use std::collections::HashSet;

/// One document by name, through a select (`None` when absent).
fn get_doc(engine: &Engine, doctype: &str, name: &str) -> Option<Value> {
    let run = ok(
        engine,
        json!({"operation": "select", "from": doctype, "input": {"where": {"name": name}}}),
    );
    assert!(run.data().len() <= 1);
    run.data().first().cloned()
}

/// Every document of a doctype, in name order.
fn all_docs(engine: &Engine, doctype: &str) -> Vec<Value> {
    ok(engine, json!({"operation": "select", "from": doctype}))
        .data()
        .to_vec()
}

/// Create one document with a given name and fields; returns the created document.
fn create_named(engine: &Engine, doctype: &str, name: &str, fields: Value) -> Value {
    let mut data = fields;
    data["name"] = json!(name);
    let run = ok(
        engine,
        json!({"operation": "create", "into": doctype, "input": {"data": data}}),
    );
    run.data()[0].clone()
}

/// The run as JSON, without `duration` (a float may lose its last bit through JSON text).
fn without_duration(run: &Run) -> Value {
    let mut value = run.to_value();
    value.as_object_mut().unwrap().remove("duration");
    value
}
