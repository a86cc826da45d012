//! `retry` and `timeoutMs`: a retried step succeeds on a later attempt with no writes left from
//! the failed ones, retries come before the fallback, a step that outlives its timeout fails.

use super::*;

/// Writes a Scratch note of its attempt, then throws unless this is attempt 3 or later.
const FLAKY: &str = r#"
run(#{operation: "create", into: "Scratch", input: #{data: #{attempt: context.attempt}}});
if context.attempt < 3 { throw `attempt ${context.attempt} failed`; }
#{attempt: context.attempt}
"#;

#[test]
fn a_retried_step_succeeds_on_a_later_attempt_and_failed_attempts_leave_nothing() {
    let engine = engine();
    op(&engine, "flaky", FLAKY);
    let run = inline(
        &engine,
        json!([
            {"id": "call", "operation": "flaky", "retry": {"max": 2, "backoffMs": 5}},
            {"id": "after", "operation": "create", "into": "Note", "input": {"data": {"attempt": "{{call.output.attempt}}"}}}
        ]),
        Value::Null,
    );
    assert!(run.success, "{:?}", run.error);
    assert_eq!(step(&run, "call")["status"], json!("completed"));
    assert_eq!(step(&run, "call")["output"], json!({"attempt": 3}));
    let scratch = docs(&engine, "Scratch");
    assert_eq!(
        scratch.len(),
        1,
        "each failed attempt is rolled back on its own"
    );
    assert_eq!(scratch[0]["attempt"], json!(3));
    assert_eq!(docs(&engine, "Note")[0]["attempt"], json!(3));
    // Every attempt is a recorded run of the same step; the listed one is the last.
    let attempts: Vec<(Option<String>, RunStatus)> = children(&engine, &run)
        .iter()
        .map(|r| (r.step_id.clone(), r.status))
        .collect();
    let call = Some("call".to_string());
    assert_eq!(
        attempts,
        [
            (call.clone(), RunStatus::Failed),
            (call.clone(), RunStatus::Failed),
            (call, RunStatus::Completed),
            (Some("after".to_string()), RunStatus::Completed)
        ]
    );
    assert_eq!(
        step(&run, "call")["runId"],
        json!(children(&engine, &run)[2].id)
    );
}

#[test]
fn retries_come_before_the_fallback() {
    let engine = engine();
    op(&engine, "flaky", FLAKY);
    let run = inline(
        &engine,
        json!([
            {"id": "call", "operation": "flaky", "retry": {"max": 1},
             "onError": {"operation": "create", "into": "Log", "input": {"data": {"why": "{{error.message}}"}}}},
            {"id": "after", "operation": "create", "into": "Note", "input": {"data": {"log": "{{call.name}}"}}}
        ]),
        Value::Null,
    );
    assert!(run.success, "{:?}", run.error);
    let call = step(&run, "call");
    assert_eq!(call["status"], json!("failed"));
    assert!(
        call["error"]["message"]
            .as_str()
            .unwrap()
            .contains("attempt 2 failed"),
        "{}",
        call["error"]
    );
    assert_eq!(count(&engine, "Scratch"), 0, "no attempt's write remains");
    let logs = docs(&engine, "Log");
    assert_eq!(logs.len(), 1);
    assert!(
        logs[0]["why"]
            .as_str()
            .unwrap()
            .contains("attempt 2 failed"),
        "{}",
        logs[0]["why"]
    );
    assert_eq!(docs(&engine, "Note")[0]["log"], logs[0]["name"]);
    let kinds: Vec<Option<String>> = children(&engine, &run)
        .iter()
        .map(|r| r.step_id.clone())
        .collect();
    assert_eq!(
        kinds,
        ["call", "call", "call.onError", "after"].map(|s| Some(s.to_string()))
    );

    // Without a fallback the last attempt's error fails the workflow.
    let run = inline(
        &engine,
        json!([{"id": "call", "operation": "flaky", "retry": {"max": 1}}]),
        Value::Null,
    );
    assert_eq!(error(&run).code.as_str(), "SCRIPT_ERROR");
    assert!(
        error(&run).message.contains("attempt 2 failed"),
        "{}",
        error(&run).message
    );
    assert_eq!(count(&engine, "Scratch"), 0);
}

#[test]
fn a_step_that_outlives_its_timeout_fails_with_timeout() {
    let engine = engine();
    // An operations budget no 30 ms loop reaches, so the clock is what stops it.
    ok(
        &engine,
        json!({"operation": "create", "into": "Operation", "input": {"data": {"name": "slow",
            "limits": {"maxOperations": 1_000_000_000u64},
            "handlerCode": r#"run(#{operation: "create", into: "Scratch", input: #{data: #{t: 1}}}); let i = 0; loop { i += 1; }"#}}}),
    );
    let started = std::time::Instant::now();
    let run = inline(
        &engine,
        json!([
            {"id": "first", "operation": "create", "into": "Note", "input": {"data": {"t": 1}}},
            {"id": "slow", "operation": "slow", "timeoutMs": 30}
        ]),
        Value::Null,
    );
    let e = error(&run);
    assert_eq!(e.code.as_str(), "TIMEOUT", "{}", e.message);
    assert_eq!(e.details["stepId"], json!("slow"));
    assert!(
        started.elapsed().as_millis() < 1_500,
        "{:?}",
        started.elapsed()
    );
    assert_eq!(count(&engine, "Scratch"), 0);
    assert_eq!(count(&engine, "Note"), 0);

    // With a fallback, the timeout is rescued like any failure.
    let run = inline(
        &engine,
        json!([
            {"id": "slow", "operation": "slow", "timeoutMs": 30,
             "onError": {"operation": "create", "into": "Log", "input": {"data": {"code": "{{error.code}}"}}}}
        ]),
        Value::Null,
    );
    assert!(run.success, "{:?}", run.error);
    assert_eq!(docs(&engine, "Log")[0]["code"], json!("TIMEOUT"));
}
