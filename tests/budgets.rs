//! Story: every run has a budget that holds across nested runs, steps and retries (issue
//! 11, item 11). Time: a run's deadline (its own, its handler's, or the tightest of its
//! ancestors') bounds step attempts, backoff sleeps and nested runs, and TIMEOUT names the
//! step that was running. Write volume: a run tree writes at most `maxWriteBytes` bytes and
//! `maxWrites` documents, refused before the transaction grows past them. References: what
//! a step's references bring in is capped as it grows. Each failed run leaves nothing
//! written, and the store serves other runs and other engines afterwards.
//!
//! Budgets here are small (milliseconds, kilobytes) so each test is quick; no test asserts
//! on speed.

use crate::harness::*;
use coworker::{Engine, Run, RunError, RunOptions, RunRequest};
use serde_json::{Value, json};
use std::time::Duration;

fn error(run: &Run) -> &RunError {
    run.error
        .as_ref()
        .unwrap_or_else(|| panic!("expected a failed run, got output {}", run.output))
}

fn save_operation(engine: &Engine, name: &str, code: &str, limits: Value) {
    ok(
        engine,
        json!({"operation": "create", "into": "Operation",
               "input": {"data": {"name": name, "handlerCode": code, "limits": limits}}}),
    );
}

fn inline(children: Value, timeout_ms: Option<u64>) -> Value {
    let mut request = json!({"operation": "workflow", "input": {"children": children}});
    if let Some(ms) = timeout_ms {
        request["options"] = json!({"timeoutMs": ms});
    }
    request
}

/// A step that always fails (NOT_FOUND), retried with a long backoff.
fn failing_retried_step(max: u64, backoff_ms: u64) -> Value {
    json!({"id": "bump", "operation": "update", "in": "Counter",
           "input": {"name": "missing", "data": {"n": 1}},
           "retry": {"max": max, "backoffMs": backoff_ms}})
}

/// The store still serves runs: a create and a select succeed.
fn still_serves(engine: &Engine) {
    ok(
        engine,
        json!({"operation": "create", "into": "Probe", "input": {"data": {"ok": 1}}}),
    );
    assert!(count(engine, "Probe") >= 1);
}

// --- time ---------------------------------------------------------------------------------

#[test]
fn a_retry_loop_stops_at_the_workflows_deadline_and_names_the_step() {
    let store = TempStore::new();
    let engine = store.open();
    let run = fails(
        &engine,
        inline(
            json!([
                {"id": "first", "operation": "create", "into": "Note", "input": {"data": {"t": 1}}},
                failing_retried_step(10, 1_000),
            ]),
            Some(200),
        ),
        "TIMEOUT",
    );
    let e = error(&run);
    assert!(e.message.contains("step `bump`"), "{}", e.message);
    assert!(e.message.contains("200 ms"), "{}", e.message);
    assert_eq!(e.details["stepId"], json!("bump"));
    let step_run = e.details["runId"].as_str().expect("the step's run id");
    assert!(
        run.child_run_ids.iter().any(|id| id == step_run),
        "{step_run} is one of {:?}",
        run.child_run_ids
    );
    assert_eq!(stored(&engine, step_run).step_id.as_deref(), Some("bump"));
    // The first attempt ran; the deadline stopped the wait before the second one.
    assert_eq!(run.child_run_ids.len(), 2, "{:?}", run.child_run_ids);
    assert_eq!(
        count(&engine, "Note"),
        0,
        "the failed workflow's write remains"
    );
    still_serves(&engine);
    drop(engine);
    let again = store.open();
    assert_eq!(count(&again, "Note"), 0);
    still_serves(&again);
}

#[test]
fn a_retry_waits_at_most_one_second_and_retry_max_is_at_most_ten() {
    let engine = engine();
    // A minute of backoff asked for: the wait is cut to 1 s, so the second attempt runs and
    // fails with the step's own code well inside a 5 s deadline (uncut, it would be TIMEOUT).
    let run = fails(
        &engine,
        inline(json!([failing_retried_step(1, 60_000)]), Some(5_000)),
        "NOT_FOUND",
    );
    assert_eq!(
        error(&run).details["stepId"],
        json!("bump"),
        "{:?}",
        run.error
    );
    assert_eq!(
        run.child_run_ids.len(),
        2,
        "two attempts: {:?}",
        run.child_run_ids
    );
    // `retry.max` is 0 to 10: 10 is taken, 11 refused before any step runs.
    let saved = engine.run_value(json!({"operation": "create", "into": "Workflow Template",
        "input": {"data": {"name": "Ten", "children": [failing_retried_step(10, 0)]}}}));
    assert!(saved.success, "{:?}", saved.error);
    let run = fails(
        &engine,
        inline(json!([failing_retried_step(11, 0)]), None),
        "BAD_REQUEST",
    );
    let e = error(&run);
    assert_eq!(e.details["limit"], json!("retry.max"), "{}", e.message);
    assert_eq!(e.details["max"], json!(10));
    assert!(run.child_run_ids.is_empty(), "{:?}", run.child_run_ids);
}

#[test]
fn a_timeout_inside_a_nested_workflow_or_a_map_names_the_inner_step() {
    let engine = engine();
    ok(
        &engine,
        json!({"operation": "create", "into": "Workflow Template", "input": {"data": {
            "name": "Inner", "children": [failing_retried_step(10, 1_000)]}}}),
    );
    let run = fails(
        &engine,
        inline(
            json!([{"id": "sub", "operation": "workflow", "template": "Inner"}]),
            Some(200),
        ),
        "TIMEOUT",
    );
    let e = error(&run);
    assert!(e.message.contains("step `sub`"), "{}", e.message);
    assert!(e.message.contains("step `bump`"), "{}", e.message);
    assert_eq!(e.details["stepId"], json!("sub"));
    assert_eq!(e.details["details"]["stepId"], json!("bump"));

    let mut request = inline(
        json!([{"id": "each", "map": "{{input.items}}", "steps": [failing_retried_step(10, 1_000)]}]),
        Some(200),
    );
    request["input"]["items"] = json!([1, 2]);
    let run = fails(&engine, request, "TIMEOUT");
    let e = error(&run);
    assert!(e.message.contains("step `each[0].bump`"), "{}", e.message);
    assert_eq!(e.details["stepId"], json!("each[0].bump"));
}

#[test]
fn the_cli_reports_the_timed_out_step_and_the_store_opens_again() {
    let store = TempStore::new();
    let request = inline(json!([failing_retried_step(10, 1_000)]), Some(200));
    let output = cli(&store.path)
        .args(["run", "--json", &request.to_string()])
        .output()
        .expect("the CLI starts");
    assert_eq!(output.status.code(), Some(1));
    let run = stdout_json(&output);
    assert_eq!(run["error"]["code"], json!("TIMEOUT"));
    assert_eq!(run["error"]["details"]["stepId"], json!("bump"));
    let create = json!({"operation": "create", "into": "Probe", "input": {"data": {"ok": 1}}});
    let output = cli(&store.path)
        .args(["run", "--json", &create.to_string()])
        .output()
        .expect("the CLI starts");
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn a_handlers_deadline_bounds_the_workflow_it_runs() {
    let engine = engine();
    let workflow = inline(json!([failing_retried_step(10, 1_000)]), None);
    save_operation(
        &engine,
        "runs_a_retrying_workflow",
        &format!(
            "run(#{{operation: \"create\", into: \"Note\", input: #{{data: #{{t: 1}}}}}});\n\
             run({})",
            rhai_map(&workflow)
        ),
        json!({"timeoutMs": 250}),
    );
    let run = fails(
        &engine,
        json!({"operation": "runs_a_retrying_workflow"}),
        "TIMEOUT",
    );
    let e = error(&run);
    assert!(e.message.contains("step `bump`"), "{}", e.message);
    assert!(e.message.contains("250 ms"), "{}", e.message);
    assert_eq!(count(&engine, "Note"), 0);
    still_serves(&engine);
}

#[test]
fn a_parents_timeout_bounds_a_nested_handler_with_a_longer_limit() {
    let engine = engine();
    save_operation(
        &engine,
        "spins",
        "let x = 0; loop { x += 1; }",
        json!({"timeoutMs": 10_000, "maxOperations": 1_000_000_000u64}),
    );
    save_operation(
        &engine,
        "calls_spins",
        "run(#{operation: \"create\", into: \"Note\", input: #{data: #{t: 1}}}); run(#{operation: \"spins\"})",
        Value::Null,
    );
    let run = fails(
        &engine,
        json!({"operation": "calls_spins", "options": {"timeoutMs": 150}}),
        "TIMEOUT",
    );
    let e = error(&run);
    assert!(e.message.contains("`spins`"), "{}", e.message);
    assert!(
        e.message.contains("150 ms deadline (options.timeoutMs)"),
        "{}",
        e.message
    );
    assert_eq!(count(&engine, "Note"), 0);
}

#[test]
fn every_run_has_a_deadline_and_a_nested_run_gets_no_more_than_its_parent() {
    let engine = Engine::builder()
        .operation("time_left", |ctx| {
            Ok(json!(ctx.time_left().as_millis() as u64))
        })
        .operation("nested_time_left", |ctx| {
            let child = ctx.run(RunRequest::new("time_left").options(RunOptions {
                timeout_ms: Some(60_000),
                ..RunOptions::default()
            }));
            Ok(child.output)
        })
        .in_memory()
        .unwrap();
    let left = |run: Run| {
        assert!(run.success, "{:?}", run.error);
        run.output.as_u64().expect("milliseconds")
    };
    // No timeout asked for: the documented default (60 s).
    let default = left(engine.run(RunRequest::new("time_left")));
    assert!(default <= 60_000 && default > 30_000, "{default}");
    let short = RunOptions {
        timeout_ms: Some(5_000),
        ..RunOptions::default()
    };
    let own = left(engine.run(RunRequest::new("time_left").options(short.clone())));
    assert!(own <= 5_000, "{own}");
    // The child asks for 60 s but its parent has 5 s.
    let nested = left(engine.run(RunRequest::new("nested_time_left").options(short)));
    assert!(nested <= 5_000, "{nested}");
}

#[test]
fn retries_are_capped() {
    let engine = engine();
    let run = fails(
        &engine,
        inline(json!([failing_retried_step(1_000, 1_000)]), None),
        "BAD_REQUEST",
    );
    let e = error(&run);
    assert!(e.message.contains("from 0 to 10"), "{}", e.message);
    assert_eq!(e.details["limit"], json!("retry.max"));
    // A template is refused when saved, not when it runs.
    let run = fails(
        &engine,
        json!({"operation": "create", "into": "Workflow Template", "input": {"data": {
            "name": "Hammer", "children": [failing_retried_step(1_000, 1_000)]}}}),
        "BAD_REQUEST",
    );
    assert!(error(&run).message.contains("retry"), "{:?}", run.error);
}

#[test]
fn a_limit_hit_is_not_retried() {
    let engine = engine();
    save_operation(
        &engine,
        "writes_two",
        WRITE_LOOP_SMALL,
        json!({"maxWrites": 2}),
    );
    let run = fails(
        &engine,
        inline(
            json!([{"id": "w", "operation": "writes_two", "retry": {"max": 3, "backoffMs": 1}}]),
            None,
        ),
        "LIMIT_EXCEEDED",
    );
    assert_eq!(
        run.child_run_ids.len(),
        1,
        "retried: {:?}",
        run.child_run_ids
    );
    assert_eq!(count(&engine, "Note"), 0);
}

/// Ten seconds of real backoff: `cargo test --test main budgets -- --ignored`.
#[test]
#[ignore = "waits the whole 10 s backoff budget"]
fn backoff_is_bounded_in_total_across_steps() {
    let engine = engine();
    let run = fails(
        &engine,
        inline(
            json!([
                {"id": "a", "operation": "update", "in": "Counter",
                 "input": {"name": "missing", "data": {"n": 1}},
                 "retry": {"max": 10, "backoffMs": 1_000},
                 "onError": {"operation": "select", "from": "Counter"}},
                {"id": "b", "operation": "update", "in": "Counter",
                 "input": {"name": "missing", "data": {"n": 1}},
                 "retry": {"max": 1, "backoffMs": 1}},
            ]),
            Some(30_000),
        ),
        "LIMIT_EXCEEDED",
    );
    let e = error(&run);
    assert_eq!(e.details["stepId"], json!("b"));
    assert_eq!(e.details["limit"], json!("totalBackoffMs"));
    assert!(e.message.contains("NOT_FOUND") || e.message.contains("does not exist"));
}

// --- write volume -------------------------------------------------------------------------

/// A handler that creates Notes until something stops it.
const WRITE_LOOP_SMALL: &str = "let i = 0; loop { i += 1; \
    run(#{operation: \"create\", into: \"Note\", input: #{data: #{n: i}}}); }";

/// A handler that builds a ~100 KB string and creates Blobs holding it until something
/// stops it.
const WRITE_LOOP_BIG: &str = "let s = \"0123456789\"; while s.len() < 100000 { s += s; }\n\
    let i = 0; loop { i += 1;\n\
    let r = run(#{operation: \"create\", into: \"Blob\", input: #{data: #{n: i, body: s}}});\n\
    if !r.success { throw r.error; } }";

#[test]
fn a_write_loop_stops_at_the_write_budget_and_leaves_nothing() {
    let store = TempStore::new();
    let budget: u64 = 4 << 20;
    {
        let engine = store.open();
        save_operation(
            &engine,
            "hoarder",
            WRITE_LOOP_BIG,
            json!({"maxWriteBytes": budget, "timeoutMs": 30_000}),
        );
        still_serves(&engine);
    }
    let before = std::fs::metadata(&store.path).unwrap().len();
    let engine = store.open();
    let run = fails(&engine, json!({"operation": "hoarder"}), "LIMIT_EXCEEDED");
    let e = error(&run);
    assert!(e.message.contains("maxWriteBytes"), "{}", e.message);
    assert!(e.message.contains("`hoarder`"), "{}", e.message);
    // Stopped by the budget after a few documents, not by the clock.
    assert!(
        (5..=12).contains(&run.child_run_ids.len()),
        "{:?}",
        run.child_run_ids
    );
    assert_eq!(
        count(&engine, "Blob"),
        0,
        "the failed run's documents remain"
    );
    still_serves(&engine);
    drop(engine);
    // A store may also end smaller (redb trims free pages at its end).
    let grown = std::fs::metadata(&store.path)
        .unwrap()
        .len()
        .saturating_sub(before);
    assert!(
        grown < budget * 2,
        "the store grew by {grown} bytes for a {budget}-byte budget"
    );
    let again = store.open();
    assert_eq!(count(&again, "Blob"), 0);
    still_serves(&again);
}

#[test]
fn the_document_budget_holds_across_nested_runs_and_workflow_steps() {
    let engine = engine();
    save_operation(
        &engine,
        "scribbler",
        WRITE_LOOP_SMALL,
        json!({"maxWrites": 5}),
    );
    let run = fails(&engine, json!({"operation": "scribbler"}), "LIMIT_EXCEEDED");
    let e = error(&run);
    assert!(e.message.contains("maxWrites"), "{}", e.message);
    assert_eq!(run.child_run_ids.len(), 6, "five writes, the sixth refused");
    assert_eq!(count(&engine, "Note"), 0);

    // A handler with a budget of 3 runs a workflow of 5 creates: the 4th step is refused.
    let steps: Vec<Value> = (1..=5)
        .map(|i| {
            json!({"id": format!("c{i}"), "operation": "create", "into": "Note",
                         "input": {"data": {"n": i}}})
        })
        .collect();
    save_operation(
        &engine,
        "budgeted_flow",
        &format!("run({})", rhai_map(&inline(json!(steps), None))),
        json!({"maxWrites": 3}),
    );
    let run = fails(
        &engine,
        json!({"operation": "budgeted_flow"}),
        "LIMIT_EXCEEDED",
    );
    let e = error(&run);
    assert!(e.message.contains("step `c4`"), "{}", e.message);
    assert!(e.message.contains("`budgeted_flow`"), "{}", e.message);
    assert_eq!(count(&engine, "Note"), 0);
    still_serves(&engine);
}

#[test]
fn records_of_failed_nested_runs_count_toward_the_write_budget() {
    let engine = engine();
    // Every child fails (unknown operation) but its record keeps its 160 KB input.
    save_operation(
        &engine,
        "litterer",
        "let s = \"0123456789\"; while s.len() < 100000 { s += s; }\n\
         loop { run(#{operation: \"no_such_operation\", input: #{body: s}}); }",
        json!({"maxWriteBytes": 1 << 20, "timeoutMs": 30_000}),
    );
    let run = fails(&engine, json!({"operation": "litterer"}), "LIMIT_EXCEEDED");
    let e = error(&run);
    assert!(e.message.contains("run records"), "{}", e.message);
    assert!(e.message.contains("maxWriteBytes"), "{}", e.message);
    assert!(run.child_run_ids.len() <= 10, "{:?}", run.child_run_ids);
}

#[test]
fn write_limits_are_checked_when_an_operation_is_saved() {
    let engine = engine();
    for limits in [
        json!({"maxWriteBytes": 0}),
        json!({"maxWriteBytes": 1u64 << 40}),
        json!({"maxWrites": 100_000_000}),
    ] {
        let run = fails(
            &engine,
            json!({"operation": "create", "into": "Operation",
                   "input": {"data": {"name": "bad_limits", "handlerCode": "1", "limits": limits}}}),
            "BAD_REQUEST",
        );
        assert!(
            error(&run).message.contains("limits.maxWrite"),
            "{:?}",
            run.error
        );
    }
}

// --- references ---------------------------------------------------------------------------

/// A store holding one Page whose `body` is `size` bytes.
fn with_page(size: usize) -> Engine {
    let engine = engine();
    ok(
        &engine,
        json!({"operation": "create", "into": "Page",
               "input": {"data": {"name": "p1", "body": "y".repeat(size)}}}),
    );
    engine
}

#[test]
fn an_interpolated_string_is_capped_as_it_grows() {
    let engine = with_page(20_000);
    // The 1.4 KB request: one reference repeated 100 times in one string.
    let text = "{{a.output}} ".repeat(100);
    let request = inline(
        json!([
            {"id": "w", "operation": "create", "into": "Note", "input": {"data": {"t": 0}}},
            {"id": "a", "operation": "select", "from": "Page"},
            {"id": "b", "operation": "create", "into": "Note", "input": {"data": {"text": text}}},
        ]),
        None,
    );
    assert!(request.to_string().len() < 2_000);
    let run = fails(&engine, request, "LIMIT_EXCEEDED");
    let e = error(&run);
    assert!(e.message.contains("step `b`"), "{}", e.message);
    assert!(e.message.contains("{{a.output}}"), "{}", e.message);
    assert!(e.message.contains("interpolated string"), "{}", e.message);
    assert_eq!(e.details["stepId"], json!("b"));
    assert_eq!(e.details["details"]["reference"], json!("a.output"));
    assert_eq!(count(&engine, "Note"), 0);
    // Ten copies fit.
    let request = inline(
        json!([
            {"id": "a", "operation": "select", "from": "Page"},
            {"id": "b", "operation": "create", "into": "Note",
             "input": {"data": {"text": "{{a.output}} ".repeat(10)}}},
        ]),
        None,
    );
    ok(&engine, request);
    assert_eq!(count(&engine, "Note"), 1);
}

#[test]
fn what_one_step_resolves_is_capped() {
    let engine = with_page(300_000);
    // Each whole reference keeps its type; 60 copies of 300 KB pass 16 MiB.
    let data: serde_json::Map<String, Value> = (0..60)
        .map(|i| (format!("k{i}"), json!("{{a.output.data}}")))
        .collect();
    let run = fails(
        &engine,
        inline(
            json!([
                {"id": "a", "operation": "select", "from": "Page"},
                {"id": "b", "operation": "create", "into": "Note", "input": {"data": data}},
            ]),
            None,
        ),
        "LIMIT_EXCEEDED",
    );
    let e = error(&run);
    assert!(e.message.contains("step `b`"), "{}", e.message);
    assert!(e.message.contains("{{a.output.data}}"), "{}", e.message);
    assert!(e.message.contains("resolved request size"), "{}", e.message);
    assert_eq!(count(&engine, "Note"), 0);
}

#[test]
fn variables_and_input_are_always_defined_and_missing_keys_fail_like_any_reference() {
    let engine = engine();
    // An inline workflow has no variables: `{{variables}}` is `{}`, and so is `{{input}}`
    // when the workflow's input holds nothing but its steps.
    let run = ok(
        &engine,
        inline(
            json!([{"id": "n", "operation": "create", "into": "Note",
                    "input": {"data": {"vars": "{{variables}}", "input": "{{input}}"}}}]),
            None,
        ),
    );
    let steps = run.output["steps"].as_array().unwrap();
    let note = &steps[0]["output"]["data"][0];
    assert_eq!(note["vars"], json!({}));
    assert_eq!(note["input"], json!({}));
    // A missing variable fails the step like a missing input key.
    for reference in ["{{variables.region}}", "{{input.region}}"] {
        let run = fails(
            &engine,
            inline(
                json!([{"id": "n", "operation": "create", "into": "Note",
                        "input": {"data": {"region": reference}}}]),
                None,
            ),
            "BAD_REQUEST",
        );
        let e = error(&run);
        assert!(e.message.contains("step `n`"), "{}", e.message);
        assert!(e.message.contains("region"), "{}", e.message);
    }
    // A template's variables are seen as they are.
    ok(
        &engine,
        json!({"operation": "create", "into": "Workflow Template", "input": {"data": {
            "name": "Regional", "variables": {"region": "north"},
            "children": [{"id": "n", "operation": "create", "into": "Note",
                          "input": {"data": {"region": "{{variables.region}}"}}}]}}}),
    );
    ok(
        &engine,
        json!({"operation": "workflow", "template": "Regional"}),
    );
    assert_eq!(
        engine
            .run(RunRequest::new("select").from("Note"))
            .data()
            .iter()
            .filter(|n| n["region"] == json!("north"))
            .count(),
        1
    );
}

/// `value` as a Rhai object-map literal (for a handler that runs it).
fn rhai_map(value: &Value) -> String {
    match value {
        Value::Object(map) => {
            let entries: Vec<String> = map
                .iter()
                .map(|(k, v)| format!("{}: {}", Value::String(k.clone()), rhai_map(v)))
                .collect();
            format!("#{{{}}}", entries.join(", "))
        }
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(rhai_map).collect();
            format!("[{}]", items.join(", "))
        }
        Value::Null => "()".to_string(),
        other => other.to_string(),
    }
}

#[test]
fn a_timed_out_tree_leaves_the_store_to_the_next_writer() {
    // The writer is held no longer than the deadline: a second engine thread gets through.
    let engine = engine();
    let busy = engine.clone();
    let handle = std::thread::spawn(move || {
        busy.run_value(inline(json!([failing_retried_step(10, 1_000)]), Some(300)))
    });
    std::thread::sleep(Duration::from_millis(50));
    still_serves(&engine);
    let run = handle.join().unwrap();
    assert_eq!(error(&run).code.as_str(), "TIMEOUT");
}

/// A short request whose handler loops over nested runs carrying a large value, then fails:
/// its tree's records are trimmed to stubs (issue 11: no amplification), so the store grows
/// by about a megabyte, not by the ~32 MB its nested records would have taken whole.
#[test]
fn a_failed_tree_of_large_nested_runs_leaves_stubs_not_copies() {
    let store = TempStore::new();
    let code = "let s = \"0123456789\"; while s.len() < 160000 { s += s; }\n\
        for i in 0..200 { run(#{operation: \"select\", from: \"Note\", input: #{where: #{title: s}}}); }\n\
        throw \"done looping\";";
    {
        let engine = store.open();
        save_operation(&engine, "looper", code, json!({"timeoutMs": 30_000}));
        still_serves(&engine);
    }
    let before = std::fs::metadata(&store.path).unwrap().len();
    let engine = store.open();
    let run = fails(&engine, json!({"operation": "looper"}), "SCRIPT_ERROR");
    assert_eq!(run.child_run_ids.len(), 200);
    engine.flush().unwrap();
    let child = engine
        .get_run(&run.child_run_ids[0])
        .unwrap()
        .expect("a stub of the nested run is kept");
    assert_eq!(child.operation.as_deref(), Some("select"));
    assert_eq!(child.parent_run_id.as_deref(), Some(run.id.as_str()));
    assert!(child.input.is_null(), "the stub keeps no input");
    assert_eq!(child.output["trimmed"], json!(true));
    assert!(child.output["recordBytes"].as_u64().unwrap() > 160_000);
    // The failed run's own record keeps its (short) request whole.
    let root = engine.get_run(&run.id).unwrap().unwrap();
    assert_eq!(root.operation.as_deref(), Some("looper"));
    drop(engine);
    // A store may also end smaller (redb trims free pages at its end).
    let grown = std::fs::metadata(&store.path)
        .unwrap()
        .len()
        .saturating_sub(before);
    assert!(
        grown < 4 << 20,
        "a 30-byte request that failed grew the store by {grown} bytes"
    );
}
