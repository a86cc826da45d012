//! Errors that name what is wrong: a non-boolean `if`, a missing reference, an unknown or deleted
//! template; and a template that reads, then gains a write, does both.

use super::*;

#[test]
fn an_if_that_does_not_give_a_boolean_is_a_bad_request() {
    let engine = engine();
    for condition in ["{{input.n}} + 1", "{{input.s}}", "()"] {
        let run = inline(
            &engine,
            json!([
                {"id": "first", "operation": "create", "into": "Note", "input": {"data": {"t": 1}}},
                {"id": "odd", "operation": "create", "into": "Note", "if": condition, "input": {"data": {"t": 2}}}
            ]),
            json!({"n": 1, "s": "yes"}),
        );
        let e = error(&run);
        assert_eq!(e.code.as_str(), "BAD_REQUEST", "{condition}: {}", e.message);
        assert!(e.message.contains("odd"), "{}", e.message);
        assert_eq!(e.details["stepId"], json!("odd"));
        assert_eq!(count(&engine, "Note"), 0);
    }
}

#[test]
fn a_missing_reference_is_a_bad_request_naming_it() {
    let engine = engine();
    for (reference, why) in [
        ("{{input.missing}}", "missing"),
        ("{{first.output.data[5].name}}", "[5]"),
        ("{{first.nope}}", "nope"),
        ("{{input.n.deeper}}", "deeper"),
    ] {
        let run = inline(
            &engine,
            json!([
                {"id": "first", "operation": "create", "into": "Note", "input": {"data": {"t": 1}}},
                {"id": "second", "operation": "create", "into": "Note", "input": {"data": {"x": reference}}}
            ]),
            json!({"n": 3}),
        );
        let e = error(&run);
        assert_eq!(e.code.as_str(), "BAD_REQUEST", "{reference}");
        assert!(e.message.contains(reference), "{reference}: {}", e.message);
        assert!(e.message.contains(why), "{reference}: {}", e.message);
        assert_eq!(e.details["stepId"], json!("second"));
        assert_eq!(count(&engine, "Note"), 0, "never a silent null");
    }
    // A root that is no earlier step is refused before anything runs.
    let run = inline(
        &engine,
        json!([{"id": "a", "operation": "create", "into": "Note", "input": {"data": {"x": "{{ghost.output}}"}}}]),
        Value::Null,
    );
    assert_eq!(error(&run).code.as_str(), "BAD_REQUEST");
    assert!(
        error(&run).message.contains("ghost"),
        "{}",
        error(&run).message
    );
    assert!(stored(&engine, &run.id).child_run_ids.is_empty());
}

#[test]
fn an_unknown_template_is_not_found_naming_it() {
    let engine = engine();
    let run = run_template(&engine, "No Such Template", json!({}));
    let e = error(&run);
    assert_eq!(e.code.as_str(), "NOT_FOUND");
    assert!(e.message.contains("No Such Template"), "{}", e.message);

    // Inside a step too: the step fails with NOT_FOUND, and the workflow with it.
    let run = inline(
        &engine,
        json!([
            {"id": "a", "operation": "create", "into": "Note", "input": {"data": {"t": 1}}},
            {"id": "sub", "operation": "workflow", "template": "Ghost"}
        ]),
        Value::Null,
    );
    let e = error(&run);
    assert_eq!(e.code.as_str(), "NOT_FOUND");
    assert!(e.message.contains("Ghost"), "{}", e.message);
    assert_eq!(e.details["stepId"], json!("sub"));
    assert_eq!(count(&engine, "Note"), 0);

    // Neither a template nor inline steps.
    let run = engine.run_value(json!({"operation": "workflow", "input": {}}));
    assert!(!run.success);
}

/// A template is checked again when what it names changes: deleting an operation it uses
/// makes its next run fail, and a deleted template is not found, however often it ran before.
#[test]
fn a_template_whose_operation_or_itself_is_deleted_stops_running() {
    let engine = engine();
    op(&engine, "helper", "42");
    template(
        &engine,
        "Uses Helper",
        json!([{"id": "h", "operation": "helper"}]),
    );
    for _ in 0..3 {
        let run = run_template(&engine, "Uses Helper", json!({}));
        assert!(run.success, "{:?}", run.error);
        assert_eq!(step(&run, "h")["output"], json!(42));
    }
    ok(
        &engine,
        json!({"operation": "delete", "from": "Operation", "input": {"name": "helper"}}),
    );
    let run = run_template(&engine, "Uses Helper", json!({}));
    assert!(!run.success, "the deleted operation is noticed");
    assert!(
        error(&run).message.contains("helper"),
        "{}",
        error(&run).message
    );
    ok(
        &engine,
        json!({"operation": "delete", "from": "Workflow Template", "input": {"name": "Uses Helper"}}),
    );
    let run = run_template(&engine, "Uses Helper", json!({}));
    assert_eq!(error(&run).code.as_str(), "NOT_FOUND");
}

/// A workflow that only selects runs on a read snapshot; once its template gains a step that
/// writes, the write happens (it is never dropped on a snapshot).
#[test]
fn a_template_that_only_reads_and_then_writes_does_both() {
    let engine = engine();
    ok(
        &engine,
        json!({"operation": "create", "into": "Note", "input": {"data": {"name": "n1"}}}),
    );
    template(
        &engine,
        "Reader",
        json!([{"id": "look", "operation": "select", "from": "Note"}]),
    );
    for _ in 0..3 {
        let run = run_template(&engine, "Reader", json!({}));
        assert!(run.success, "{:?}", run.error);
        assert_eq!(step(&run, "look")["output"]["data"][0]["name"], json!("n1"));
        assert_eq!(children(&engine, &run).len(), 1, "the step run is recorded");
    }
    ok(
        &engine,
        json!({"operation": "update", "in": "Workflow Template", "input": {"name": "Reader",
        "data": {"children": [
            {"id": "look", "operation": "select", "from": "Note"},
            {"id": "add", "operation": "create", "into": "Note", "input": {"data": {"name": "n2"}}}
        ]}}}),
    );
    let run = run_template(&engine, "Reader", json!({}));
    assert!(run.success, "{:?}", run.error);
    assert_eq!(count(&engine, "Note"), 2, "the new step's write is kept");
    // Inline steps that only read take the read path too, and see the same documents.
    let run = inline(
        &engine,
        json!([{"id": "all", "operation": "select", "from": "Note"}]),
        Value::Null,
    );
    assert!(run.success, "{:?}", run.error);
    assert_eq!(step(&run, "all")["output"]["meta"]["count"], json!(2));
}
