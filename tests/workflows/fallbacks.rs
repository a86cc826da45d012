//! `onError` fallbacks and rollback: a fallback lets the workflow continue, a rescued nested
//! workflow leaves none of its writes, a failing middle step leaves no writes and names the step.

use super::*;

/// A Rhai op that writes a Note, then throws: its write must not survive its failure.
const WRITE_THEN_THROW: &str = r#"
run(#{operation: "create", into: "Scratch", input: #{data: #{by: "doomed"}}});
throw "the payment service is down";
"#;

#[test]
fn on_error_runs_a_fallback_and_the_workflow_continues() {
    let engine = engine();
    op(&engine, "charge", WRITE_THEN_THROW);
    let run = inline(
        &engine,
        json!([
            {"id": "charge", "operation": "charge",
             "onError": {"operation": "create", "into": "Log",
                         "input": {"data": {"code": "{{error.code}}", "message": "{{error.message}}",
                                            "line": "charge failed: {{error.code}}"}}}},
            {"id": "after", "operation": "create", "into": "Note",
             "input": {"data": {"log": "{{charge.output.data[0].name}}", "prev": "{{prev.output.data[0].code}}"}}}
        ]),
        Value::Null,
    );
    assert!(run.success, "{:?}", run.error);
    let charge = step(&run, "charge");
    assert_eq!(
        charge["status"],
        json!("failed"),
        "the failure stays recorded"
    );
    assert_eq!(charge["error"]["code"], json!("SCRIPT_ERROR"));
    let failed = step_run(&engine, &run, "charge");
    assert_eq!(failed.status, RunStatus::Failed);
    assert_eq!(failed.operation.as_deref(), Some("charge"));

    let logs = docs(&engine, "Log");
    assert_eq!(logs.len(), 1);
    assert_eq!(logs[0]["code"], json!("SCRIPT_ERROR"));
    assert!(
        logs[0]["message"]
            .as_str()
            .unwrap()
            .contains("the payment service is down"),
        "{}",
        logs[0]["message"]
    );
    assert_eq!(logs[0]["line"], json!("charge failed: SCRIPT_ERROR"));
    // Afterwards the step's output is the fallback's.
    assert_eq!(charge["output"]["data"][0]["name"], logs[0]["name"]);
    let note = &docs(&engine, "Note")[0];
    assert_eq!(note["log"], logs[0]["name"]);
    assert_eq!(note["prev"], json!("SCRIPT_ERROR"));
    // The failed step's own write was rolled back; the fallback's remains.
    assert_eq!(count(&engine, "Scratch"), 0);
    let fallback = stored(
        &engine,
        charge["fallbackRunId"].as_str().expect("fallbackRunId"),
    );
    assert!(fallback.success);
    assert_eq!(logs[0]["createdByRun"], json!(fallback.id));
    assert_eq!(fallback.parent_run_id.as_deref(), Some(run.id.as_str()));

    // A fallback that fails too fails the workflow, naming the fallback.
    let run = inline(
        &engine,
        json!([
            {"id": "first", "operation": "create", "into": "Note", "input": {"data": {"t": 1}}},
            {"id": "charge", "operation": "charge",
             "onError": {"operation": "nope_not_an_operation"}}
        ]),
        Value::Null,
    );
    assert_eq!(error(&run).code.as_str(), "UNKNOWN_OPERATION");
    let run = inline(
        &engine,
        json!([
            {"id": "first", "operation": "create", "into": "Note", "input": {"data": {"t": 1}}},
            {"id": "charge", "operation": "charge",
             "onError": {"operation": "charge"}}
        ]),
        Value::Null,
    );
    let e = error(&run);
    assert_eq!(e.code.as_str(), "SCRIPT_ERROR");
    assert_eq!(e.details["stepId"], json!("charge.onError"));
    assert_eq!(count(&engine, "Note"), 1, "only the first workflow's note");
}

#[test]
fn a_failed_nested_workflow_rescued_by_on_error_leaves_none_of_its_writes() {
    let engine = engine();
    template(
        &engine,
        "Half Done",
        json!([
            {"id": "one", "operation": "create", "into": "Task", "input": {"data": {"title": "one"}}},
            {"id": "two", "operation": "create", "into": "Task", "input": {"data": {"title": "two"}}},
            {"id": "bad", "operation": "workflow", "template": "Nowhere"}
        ]),
    );
    let run = inline(
        &engine,
        json!([
            {"id": "kept", "operation": "create", "into": "Note", "input": {"data": {"t": "kept"}}},
            {"id": "sub", "operation": "workflow", "template": "Half Done",
             "onError": {"operation": "create", "into": "Log", "input": {"data": {
                 "code": "{{error.code}}", "failed": "{{error.details.stepId}}"}}}},
            {"id": "after", "operation": "select", "from": "Task"}
        ]),
        Value::Null,
    );
    assert!(run.success, "{:?}", run.error);
    assert_eq!(step(&run, "sub")["status"], json!("failed"));
    assert_eq!(
        count(&engine, "Task"),
        0,
        "the nested workflow's writes are rolled back"
    );
    assert_eq!(step(&run, "after")["output"]["data"], json!([]));
    assert_eq!(count(&engine, "Note"), 1);
    let log = &docs(&engine, "Log")[0];
    assert_eq!(log["code"], json!("NOT_FOUND"));
    assert_eq!(log["failed"], json!("bad"));
}

#[test]
fn a_failing_middle_step_leaves_no_writes_and_names_the_step() {
    let engine = engine();
    schemas(
        &engine,
        json!([{"name": "Invoice", "fields": [{"fieldname": "amount", "fieldtype": "Currency", "reqd": 1}]}]),
    );
    template(
        &engine,
        "Bill",
        json!([
            {"id": "customer", "operation": "create", "into": "Customer", "input": {"data": {"name": "C-1"}}},
            {"id": "touch", "operation": "update", "in": "Customer", "input": {"name": "C-1", "data": {"touched": true}}},
            {"id": "invoice", "operation": "create", "into": "Invoice", "input": {"data": {"amount": "{{input.amount}}"}}},
            {"id": "after", "operation": "create", "into": "Note", "input": {"data": {"t": 1}}}
        ]),
    );
    let run = run_template(&engine, "Bill", json!({"amount": "lots"}));
    let e = error(&run);
    assert_eq!(
        e.code.as_str(),
        "VALIDATION_FAILED",
        "the step's own code: {}",
        e.message
    );
    assert_eq!(e.details["stepId"], json!("invoice"));
    let failed = stored(&engine, e.details["runId"].as_str().expect("runId"));
    assert_eq!(failed.step_id.as_deref(), Some("invoice"));
    assert_eq!(failed.status, RunStatus::Failed);
    assert_eq!(failed.parent_run_id.as_deref(), Some(run.id.as_str()));
    assert!(e.message.contains("invoice"), "{}", e.message);
    assert_eq!(count(&engine, "Customer"), 0);
    assert_eq!(count(&engine, "Invoice"), 0);
    assert_eq!(count(&engine, "Note"), 0);
    // The records remain: the workflow and the steps that ran, the later step never started.
    let recorded = stored(&engine, &run.id);
    assert_eq!(recorded.status, RunStatus::Failed);
    let steps: Vec<Option<String>> = children(&engine, &run)
        .iter()
        .map(|r| r.step_id.clone())
        .collect();
    assert_eq!(
        steps,
        ["customer", "touch", "invoice"].map(|s| Some(s.to_string()))
    );

    // A script step's own error code passes through too.
    op(&engine, "boom", r#"throw "boom""#);
    let run = inline(
        &engine,
        json!([
            {"id": "a", "operation": "create", "into": "Note", "input": {"data": {"t": 1}}},
            {"id": "b", "operation": "boom"},
            {"id": "c", "operation": "create", "into": "Note", "input": {"data": {"t": 2}}}
        ]),
        Value::Null,
    );
    assert_eq!(error(&run).code.as_str(), "SCRIPT_ERROR");
    assert_eq!(error(&run).details["stepId"], json!("b"));
    assert_eq!(count(&engine, "Note"), 0);
}
