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
    assert!(
        message.contains("`orderBy` direction for `title`"),
        "{message}"
    );
    assert!(message.contains("… (976.6 KB string)"), "{message}");
}

/// `Cust` (named by the caller), a child table `Line` with a Link to it, and `Order` with
/// those rows, a Dynamic Link `dl` (its doctype in `dl_type`) and a Data field `note`.
fn orders(engine: &Engine) {
    ok(
        engine,
        json!({"operation": "create", "into": "Schema", "input": {"data": [
            {"name": "Cust", "autoname": "Prompt",
             "fields": [{"fieldname": "code", "fieldtype": "Data"}]},
            {"name": "Line", "istable": 1,
             "fields": [{"fieldname": "cust", "fieldtype": "Link", "options": "Cust"}]},
            {"name": "Order", "autoname": "Prompt", "fields": [
                {"fieldname": "note", "fieldtype": "Data"},
                {"fieldname": "lines", "fieldtype": "Table", "options": "Line"},
                {"fieldname": "dl_type", "fieldtype": "Link", "options": "Schema"},
                {"fieldname": "dl", "fieldtype": "Dynamic Link", "options": "dl_type"}]}]}}),
    );
    ok(
        engine,
        json!({"operation": "create", "into": "Cust", "input": {"data": [{"name": "C1"}, {"name": "C2"}]}}),
    );
}

#[test]
fn a_dangling_link_in_a_child_row_left_as_it_was_locks_nobody_out() {
    let engine = engine();
    orders(&engine);
    // An unvalidated import (the superuser's) stored a row linking to a missing customer.
    ok(
        &engine,
        json!({"operation": "create", "into": "Order", "options": {"validate": false},
               "input": {"data": {"name": "O1", "lines": [{"cust": "ZZ"}]}}}),
    );
    let updated = ok(
        &engine,
        json!({"operation": "update", "in": "Order", "input": {"name": "O1", "data": {"note": "still mine"}}}),
    );
    assert_eq!(updated.output["data"][0]["lines"][0]["cust"], json!("ZZ"));
    // Sending the stored rows back unchanged passes too.
    let rows = updated.output["data"][0]["lines"].clone();
    ok(
        &engine,
        json!({"operation": "update", "in": "Order", "input": {"name": "O1", "data": {"lines": rows.clone()}}}),
    );
    // A row whose link changes, and a new row, are checked.
    let mut changed = rows.clone();
    changed[0]["cust"] = json!("YY");
    let run = fails(
        &engine,
        json!({"operation": "update", "in": "Order", "input": {"name": "O1", "data": {"lines": changed}}}),
        "VALIDATION_FAILED",
    );
    assert_eq!(error(&run).details[0]["path"], json!("lines[0].cust"));
    let run = fails(
        &engine,
        json!({"operation": "update", "in": "Order", "input": {"name": "O1",
               "data": {"lines": [rows[0].clone(), {"cust": "XX"}]}}}),
        "VALIDATION_FAILED",
    );
    let paths: Vec<&Value> = error(&run)
        .details
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["path"])
        .collect();
    assert_eq!(paths, [&json!("lines[1].cust")]);
}

#[test]
fn a_deleted_dynamic_link_target_locks_nobody_out_of_the_linking_document() {
    let engine = engine();
    orders(&engine);
    ok(
        &engine,
        json!({"operation": "create", "into": "Order",
               "input": {"data": {"name": "O1", "dl_type": "Cust", "dl": "C2"}}}),
    );
    // Dynamic Links are not followed by delete (README): the target goes.
    ok(
        &engine,
        json!({"operation": "delete", "from": "Cust", "input": {"name": "C2"}}),
    );
    ok(
        &engine,
        json!({"operation": "update", "in": "Order", "input": {"name": "O1", "data": {"note": "n"}}}),
    );
    // Changing the name or the doctype of the Dynamic Link checks it again.
    let run = fails(
        &engine,
        json!({"operation": "update", "in": "Order", "input": {"name": "O1", "data": {"dl": "C3"}}}),
        "VALIDATION_FAILED",
    );
    assert_eq!(error(&run).details[0]["path"], json!("dl"));
    assert_eq!(
        error(&run).details[0]["message"],
        json!("Cust `C3` does not exist")
    );
    let run = fails(
        &engine,
        json!({"operation": "update", "in": "Order", "input": {"name": "O1", "data": {"dl_type": "Order"}}}),
        "VALIDATION_FAILED",
    );
    assert_eq!(
        error(&run).details[0]["message"],
        json!("Order `C2` does not exist")
    );
}

#[test]
fn the_superuser_role_cannot_be_renamed_to_a_role_nobody_holds() {
    let engine = engine();
    ok(
        &engine,
        json!({"operation": "create", "into": "User", "input": {"data": [
            {"name": "ann", "roles": ["System Manager"]}]}}),
    );
    engine.enable_acl("root", None).unwrap();
    let root = engine.pin_owner("root");
    let run = fails(
        &root,
        json!({"operation": "update", "in": "System Settings",
               "input": {"name": "acl", "data": {"superuserRole": "Nobody"}}}),
        "CONFLICT",
    );
    assert!(
        error(&run)
            .message
            .contains("no enabled user has the role `Nobody`"),
        "{}",
        error(&run).message
    );
    assert_eq!(error(&run).details["field"], json!("superuserRole"));
    // root is still the superuser and can still turn access control off.
    ok(
        &root,
        json!({"operation": "select", "from": "User", "input": {"where": {"name": "ann"}}}),
    );
    // A role an enabled user holds may become the superuser role.
    let moved = ok(
        &root,
        json!({"operation": "update", "in": "System Settings",
               "input": {"name": "acl", "data": {"superuserRole": "System Manager"}}}),
    );
    assert_eq!(
        moved.output["data"][0]["superuserRole"],
        json!("System Manager")
    );
    let ann = engine.pin_owner("ann");
    ok(
        &ann,
        json!({"operation": "select", "from": "System Settings", "input": {"where": {"name": "acl"}}}),
    );
    engine.disable_acl("ann").unwrap();
}

#[test]
fn a_dry_run_workflow_checks_its_steps_and_runs_none() {
    let engine = engine();
    notes(&engine);
    let workflow = json!({"operation": "workflow", "options": {"dryRun": true}, "input": {"children": [
        {"id": "a", "operation": "create", "into": "Note", "input": {"data": {"name": "n2"}}},
        {"id": "b", "operation": "update", "in": "Note", "input": {"name": "n1", "data": {"title": "b"}}}]}});
    let run = ok(&engine, workflow);
    assert_eq!(run.output["dryRun"], json!(true));
    assert!(run.child_run_ids.is_empty(), "{:?}", run.child_run_ids);
    let notes = ok(
        &engine,
        json!({"operation": "select", "from": "Note", "input": {"select": ["name", "title"]}}),
    );
    assert_eq!(notes.output["data"], json!([{"name": "n1", "title": "a"}]));
    // The request is still checked: a step naming no known operation, a missing template.
    fails(
        &engine,
        json!({"operation": "workflow", "options": {"dryRun": true}, "input": {"children": [
            {"id": "a", "operation": "creat", "into": "Note"}]}}),
        "UNKNOWN_OPERATION",
    );
    fails(
        &engine,
        json!({"operation": "workflow", "template": "Nope", "options": {"dryRun": true}}),
        "NOT_FOUND",
    );
}

#[test]
fn a_failed_step_is_audited_once_and_a_dry_run_step_not_at_all() {
    let engine = engine();
    notes(&engine);
    let entries = |engine: &Engine| {
        ok(
            engine,
            json!({"operation": "select", "from": "Audit Trail", "input": {"where": {"action": "invalid"}}}),
        )
        .output["data"]
            .as_array()
            .unwrap()
            .clone()
    };
    let step = |options: Value| {
        json!({"operation": "workflow", "input": {"children": [
            {"id": "a", "operation": "create", "into": "Note", "options": options,
             "input": {"data": {"name": "n2", "nope": 1}}}]}})
    };
    // A step's validation failure: one entry, the step's own.
    let run = fails(&engine, step(json!({})), "VALIDATION_FAILED");
    let audited = entries(&engine);
    assert_eq!(audited.len(), 1, "{audited:?}");
    assert_eq!(audited[0]["runId"], json!(run.child_run_ids[0]));
    assert_eq!(audited[0]["operation"], json!("create"));
    // A dry-run step's validation failure is in no entry, not even the workflow's.
    fails(&engine, step(json!({"dryRun": true})), "VALIDATION_FAILED");
    assert_eq!(entries(&engine).len(), 1);
}
