//! Story: an adversarial pass over issue 11 after the fixes were merged. Each test is a
//! gap found by attacking the built engine the way a user or an attacker would, and
//! regresses it through the public API or the CLI.

use crate::harness::{engine, fails, ok};
use coworker::{Engine, Run};
use serde_json::{Value, json};

/// The error of a failed run.
fn error(run: &Run) -> &coworker::RunError {
    run.error
        .as_ref()
        .unwrap_or_else(|| panic!("expected a failed run, got {}", run.output))
}

/// The longest string anywhere in `value` (keys included).
fn longest_string(value: &Value) -> usize {
    match value {
        Value::String(s) => s.len(),
        Value::Array(items) => items.iter().map(longest_string).max().unwrap_or(0),
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| k.len().max(longest_string(v)))
            .max()
            .unwrap_or(0),
        _ => 0,
    }
}

/// A schema `Note` (named by the caller) with a Data field `title`, and a note `n1`.
fn notes(engine: &Engine) {
    ok(
        engine,
        json!({"operation": "create", "into": "Schema", "input": {"data": {
            "name": "Note", "autoname": "Prompt",
            "fields": [{"fieldname": "title", "fieldtype": "Data"}]}}}),
    );
    ok(
        engine,
        json!({"operation": "create", "into": "Note", "input": {"data": {"name": "n1", "title": "a"}}}),
    );
}

#[test]
fn error_messages_and_details_never_echo_a_large_value_whole() {
    let engine = engine();
    notes(&engine);
    let big = "y".repeat(1_000_000);
    let cases = [
        // Values inside `where` and `orderBy`, `select`, `take`.
        json!({"operation": "select", "from": "Note", "input": {"where": {"title": {big.clone(): 1}}}}),
        json!({"operation": "select", "from": "Note", "input": {"where": {big.clone(): {"bogus": 1}}}}),
        json!({"operation": "select", "from": "Note", "input": {"orderBy": {"title": big.clone()}}}),
        json!({"operation": "select", "from": "Note", "input": {"select": big.clone()}}),
        json!({"operation": "select", "from": "Note", "input": {"take": big.clone()}}),
        json!({"operation": "select", "from": "Note", "input": {"include": {big.clone(): true}}}),
        json!({"operation": "select", "from": "Note", "input": {big.clone(): 1}}),
        // Names that do not exist or are not valid, by update, delete and create.
        json!({"operation": "update", "in": "Note", "input": {"name": big.clone(), "data": {"title": "b"}}}),
        json!({"operation": "delete", "from": "Note", "input": {"name": big.clone()}}),
        json!({"operation": "create", "into": "Note", "input": {"data": {"name": big.clone()}}}),
        json!({"operation": "workflow", "template": big.clone()}),
        // Compile errors of scripts and conditions, unknown workflow references.
        json!({"operation": "create", "into": "Operation",
               "input": {"data": {"name": "bad", "handlerCode": big.clone()}}}),
        json!({"operation": "workflow", "input": {"children": [
            {"id": "a", "operation": "select", "from": "Note", "if": big.clone()}]}}),
        json!({"operation": "workflow", "input": {"children": [
            {"id": "a", "operation": "select", "from": format!("{{{{{big}}}}}")}]}}),
    ];
    for request in cases {
        let run = engine.run_value(request.clone());
        let error = error(&run);
        let shown = format!("{:.200}", request.to_string());
        assert!(
            error.message.len() < 5_000,
            "{shown}: a {}-byte message",
            error.message.len()
        );
        assert!(
            longest_string(&error.details) < 2_000,
            "{shown}: details hold a {}-byte string",
            longest_string(&error.details)
        );
        // The audit entry of a failure is built from the same cut error.
        let stored = engine.get_run(&run.id).unwrap().expect("the run is stored");
        assert_eq!(stored.error.as_ref(), Some(error), "{shown}");
    }
    // A cut keeps what names the failure and says how large the value was.
    let run = fails(
        &engine,
        json!({"operation": "select", "from": "Note", "input": {"orderBy": {"title": big}}}),
        "BAD_REQUEST",
    );
    let message = &error(&run).message;
    assert!(message.contains("`orderBy` direction for `title`"), "{message}");
    assert!(message.contains("… (976.6 KB string)"), "{message}");
}
