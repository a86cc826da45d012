//! Story: a caller sends a bad request (malformed JSON, a missing or unknown operation, a
//! missing target, wrong input shapes, unknown where-operators ...) and gets a failed run
//! with the right code and a clear message; the run is recorded, nothing is written and
//! the engine keeps serving. The cases live in `tests/fixtures/bad_input.json`.

use crate::harness::*;
use coworker::{Engine, ErrorCode, Run, RunQuery, RunRequest, RunStatus};
use serde_json::{Value, json};

const FIXTURE: &str = include_str!("fixtures/bad_input.json");

fn fixture() -> Value {
    serde_json::from_str(FIXTURE).expect("the fixture is valid JSON")
}

/// Every document of every watched doctype: what "nothing was written" is checked against.
fn snapshot(engine: &Engine, watch: &[Value]) -> Vec<Vec<Value>> {
    watch
        .iter()
        .map(|doctype| {
            let run = engine.run(RunRequest::new("select").from(doctype.as_str().unwrap()));
            assert!(run.success, "{:?}", run.error);
            run.data().to_vec()
        })
        .collect()
}

/// Send a fixture case: `raw` as JSON text, `request` as a JSON value.
fn send(engine: &Engine, case: &Value) -> Run {
    match (case.get("raw"), case.get("request")) {
        (Some(Value::String(text)), None) => engine.run_json(text),
        (None, Some(request)) => engine.run_value(request.clone()),
        _ => panic!("a case has exactly one of `raw` (a string) or `request`: {case}"),
    }
}

/// Check one failed run against the expectation of its case; returns a description of what
/// is wrong, if anything.
fn check_failure(engine: &Engine, case: &Value, run: &Run) -> Result<(), String> {
    let name = &case["case"];
    let expect = &case["expect"];
    let code = expect["code"].as_str().unwrap();
    let needle = expect["messageContains"].as_str().unwrap();
    if run.success || run.status != RunStatus::Failed {
        return Err(format!(
            "{name}: expected {code}, got success: {}",
            run.output
        ));
    }
    let Some(error) = &run.error else {
        return Err(format!("{name}: a failed run without an error"));
    };
    if error.code.as_str() != code {
        return Err(format!(
            "{name}: expected {code}, got {} ({})",
            error.code, error.message
        ));
    }
    if !error.message.contains(needle) {
        return Err(format!(
            "{name}: message {:?} does not contain {needle:?}",
            error.message
        ));
    }
    if run.output != Value::Null {
        return Err(format!("{name}: a failed run has output {}", run.output));
    }
    if run.id.len() != 26 || run.chain_id != run.id {
        return Err(format!("{name}: bad ids {} / {}", run.id, run.chain_id));
    }
    match engine.get_run(&run.id) {
        Ok(Some(record)) if record.error == run.error && record.status == RunStatus::Failed => {
            Ok(())
        }
        other => Err(format!(
            "{name}: the failed run is not recorded as such: {other:?}"
        )),
    }
}

#[test]
fn every_bad_request_of_the_fixture_fails_cleanly_and_writes_nothing() {
    let fixture = fixture();
    let watch = fixture["watch"].as_array().unwrap();
    let cases = fixture["cases"].as_array().unwrap();
    assert!(cases.len() >= 40, "the fixture holds the cases");
    let mut problems = Vec::new();
    for case in cases {
        let engine = engine();
        for request in fixture["setup"].as_array().unwrap() {
            ok(&engine, request.clone());
        }
        let before = snapshot(&engine, watch);
        let run = send(&engine, case);
        if let Err(problem) = check_failure(&engine, case, &run) {
            problems.push(problem);
        }
        if snapshot(&engine, watch) != before {
            problems.push(format!("{}: the failed run wrote something", case["case"]));
        }
        // The engine keeps serving.
        let after = engine.run(RunRequest::new("select").from("ToDo"));
        if !after.success {
            problems.push(format!("{}: the next run failed", case["case"]));
        }
    }
    assert!(
        problems.is_empty(),
        "{} problems:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

#[test]
fn every_case_names_a_documented_code() {
    for case in fixture()["cases"].as_array().unwrap() {
        let code: ErrorCode = serde_json::from_value(case["expect"]["code"].clone())
            .unwrap_or_else(|e| panic!("{}: {e}", case["case"]));
        assert_eq!(json!(code), case["expect"]["code"]);
        assert!(
            !case["expect"]["messageContains"]
                .as_str()
                .unwrap()
                .is_empty()
        );
    }
}

#[test]
fn all_bad_runs_on_one_engine_are_listed_and_the_store_is_unchanged() {
    // The same cases against one shared engine: failures must not accumulate into writes.
    let fixture = fixture();
    let watch = fixture["watch"].as_array().unwrap();
    let engine = engine();
    for request in fixture["setup"].as_array().unwrap() {
        ok(&engine, request.clone());
    }
    let before = snapshot(&engine, watch);
    let failed: Vec<String> = fixture["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|case| {
            let run = send(&engine, case);
            assert!(!run.success, "{}", case["case"]);
            run.id
        })
        .collect();
    assert_eq!(snapshot(&engine, watch), before);
    let listed: Vec<String> = engine
        .list_runs(&RunQuery::default())
        .unwrap()
        .into_iter()
        .filter(|r| !r.success)
        .map(|r| r.id)
        .collect();
    assert_eq!(listed, failed, "every failed run is listed, in order");
}

#[test]
fn a_rejected_request_still_records_who_sent_it_and_in_which_flow() {
    let engine = engine();
    let run = fails(
        &engine,
        json!({"operation": "select", "form": "ToDo", "owner": "alice", "agent": "bot-1",
               "flowType": "ai-conversation", "flowId": "flow-9", "stepId": "s-2"}),
        "BAD_REQUEST",
    );
    assert_eq!(run.operation.as_deref(), Some("select"));
    assert_eq!(run.owner.as_deref(), Some("alice"));
    assert_eq!(run.agent.as_deref(), Some("bot-1"));
    assert_eq!(run.flow_type.as_deref(), Some("ai-conversation"));
    assert_eq!(run.flow_id.as_deref(), Some("flow-9"));
    assert_eq!(run.step_id.as_deref(), Some("s-2"));
    let message = &run.error.as_ref().unwrap().message;
    assert!(message.contains("`form`"), "{message}");
    let in_flow = engine
        .list_runs(&RunQuery {
            flow_id: Some("flow-9".into()),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(in_flow.len(), 1);
    assert_eq!(in_flow[0].id, run.id);
    assert_eq!(in_flow[0].error, run.error);
}

#[test]
fn malformed_json_keeps_a_snippet_of_what_was_received() {
    let engine = engine();
    let run = engine.run_json("{oops");
    assert_eq!(run.status, RunStatus::Failed);
    let error = run.error.as_ref().unwrap();
    assert_eq!(error.code, ErrorCode::BadRequest);
    assert!(error.message.contains("malformed request JSON"));
    assert!(
        error.message.contains("line 1"),
        "says where: {}",
        error.message
    );
    assert_eq!(error.details["received"], json!("{oops"));
    assert_eq!(run.operation, None);
    // A huge malformed body is not copied whole into the record.
    let huge = format!("{{\"operation\": \"{}", "x".repeat(100_000));
    let run = engine.run_json(&huge);
    let received = run.error.unwrap().details["received"]
        .as_str()
        .unwrap()
        .len();
    assert!(
        received <= 1_000,
        "the record keeps a snippet, not {received} bytes"
    );
    let record = engine.get_run(&run.id).unwrap().unwrap();
    assert!(record.to_value().to_string().len() < 10_000);
}

#[test]
fn error_details_name_the_offending_part() {
    let engine = engine();
    let run = fails(
        &engine,
        json!({"operation": "select", "from": "ToDo", "input": {"where": {"status": {"like": "x"}}}}),
        "BAD_REQUEST",
    );
    assert_eq!(
        run.error.unwrap().details,
        json!({"field": "status", "operator": "like"})
    );
    let run = fails(
        &engine,
        json!({"operation": "select", "from": "ToDo", "input": {"order": {"x": "asc"}}}),
        "BAD_REQUEST",
    );
    let error = run.error.unwrap();
    assert_eq!(error.details, json!({"key": "order"}));
    assert!(
        error.message.contains("orderBy"),
        "lists what it takes: {}",
        error.message
    );
    let run = fails(
        &engine,
        json!({"operation": "frobnicate"}),
        "UNKNOWN_OPERATION",
    );
    let message = run.error.unwrap().message;
    for known in ["select", "create", "update", "delete"] {
        assert!(
            message.contains(known),
            "lists the known operations: {message}"
        );
    }
}

#[test]
fn the_typed_builder_gets_the_same_answers() {
    let engine = engine();
    let run = engine.run(RunRequest::default());
    assert_eq!(run.error.unwrap().code, ErrorCode::BadRequest);
    let run = engine.run(RunRequest::new("select"));
    assert_eq!(run.error.unwrap().code, ErrorCode::MissingTarget);
    let run = engine.run(
        RunRequest::new("create")
            .from("ToDo")
            .input(json!({"data": {}})),
    );
    assert_eq!(run.error.unwrap().code, ErrorCode::MissingTarget);
    let run = engine.run(RunRequest::new("nope").from("ToDo"));
    assert_eq!(run.error.unwrap().code, ErrorCode::UnknownOperation);
    let run = engine.run(
        RunRequest::new("select")
            .from("ToDo")
            .input(json!({"take": -5})),
    );
    assert_eq!(run.error.unwrap().code, ErrorCode::BadRequest);
    assert_eq!(count(&engine, "ToDo"), 0);
    // Parsing alone refuses the same way, without running anything.
    for text in ["{oops", "[]", r#"{"operation": "select", "form": "ToDo"}"#] {
        let error = RunRequest::from_json(text).expect_err(text);
        assert_eq!(error.code(), ErrorCode::BadRequest, "{text}");
    }
}

#[test]
fn document_names_are_checked_for_length_and_unicode_is_fine() {
    let engine = engine();
    let longest = "n".repeat(140);
    ok(
        &engine,
        json!({"operation": "create", "into": "ToDo", "input": {"data": {"name": longest}}}),
    );
    let too_long = "n".repeat(141);
    let run = fails(
        &engine,
        json!({"operation": "create", "into": "ToDo", "input": {"data": {"name": too_long}}}),
        "BAD_REQUEST",
    );
    assert!(run.error.unwrap().message.contains("140"));
    for name in [
        "Café ☕",
        "a/b\\c",
        "with space",
        "日本語の名前",
        "quote\"and'apostrophe",
    ] {
        let run = ok(
            &engine,
            json!({"operation": "create", "into": "ToDo", "input": {"data": {"name": name}}}),
        );
        assert_eq!(names(&run), [name]);
        let found = ok(
            &engine,
            json!({"operation": "select", "from": "ToDo", "input": {"where": {"name": name}}}),
        );
        assert_eq!(names(&found), [name]);
    }
    assert_eq!(count(&engine, "ToDo"), 6);
}

#[test]
fn a_bad_where_on_delete_or_update_touches_nothing() {
    let engine = engine();
    ok(
        &engine,
        json!({"operation": "create", "into": "ToDo", "input": {"data": [
            {"name": "a", "status": "Open"}, {"name": "b", "status": "Closed"}]}}),
    );
    let before = snapshot(&engine, &[json!("ToDo")]);
    // Each where below is wrong in a way that, read leniently, would match everything.
    let wheres = [
        json!({"status": {"is": "Open"}}),
        json!({"status": {}}),
        json!({"OR": {"status": "Open"}}),
        json!({"status": {"in": "Open"}}),
        json!("everything"),
        json!(null),
    ];
    for where_ in wheres {
        fails(
            &engine,
            json!({"operation": "delete", "from": "ToDo", "input": {"where": where_}}),
            "BAD_REQUEST",
        );
        fails(
            &engine,
            json!({"operation": "update", "in": "ToDo",
                   "input": {"where": where_, "data": {"status": "Gone"}}}),
            "BAD_REQUEST",
        );
        assert_eq!(
            snapshot(&engine, &[json!("ToDo")]),
            before,
            "where {where_}"
        );
    }
}
