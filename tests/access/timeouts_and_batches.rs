//! Timeouts and batches: `timeoutMs` fails a slow run and rolls its writes back, batches stop at
//! the first failure only when asked, parallel runs keep request order, each checked per owner.

use super::*;

fn timeout(ms: u64) -> RunOptions {
    RunOptions {
        timeout_ms: Some(ms),
        ..RunOptions::default()
    }
}

fn slow_op(engine: &Engine) {
    ok(
        engine,
        json!({"operation": "create", "into": "Operation", "input": {"data": {"name": "slow",
            "limits": {"maxOperations": 1_000_000_000u64},
            "handlerCode": r#"
                run(#{operation: "create", into: "Note", input: #{data: #{name: "slow-1"}}});
                let i = 0;
                loop { i += 1; }
            "#}}}),
    );
}

#[test]
fn options_timeout_ms_fails_a_slow_run_and_rolls_its_writes_back() {
    let engine = engine();
    slow_op(&engine);
    let started = Instant::now();
    let run = engine.run(RunRequest::new("slow").options(timeout(50)));
    let took = started.elapsed();
    assert_eq!(code(&run), "TIMEOUT", "{:?}", run.error);
    assert!(took < Duration::from_millis(1000), "took {took:?}");
    assert_eq!(
        count(&engine, "Note"),
        0,
        "the timed-out run's write remains"
    );
    assert_eq!(stored(&engine, &run.id).status, RunStatus::Failed);
    // Runs within their time succeed, built-ins included.
    for request in [
        RunRequest::new("create")
            .into_doctype("Note")
            .input(json!({"data": {"name": "quick"}})),
        RunRequest::new("select").from("Note"),
    ] {
        let run = engine.run(request.options(timeout(10_000)));
        assert!(run.success, "{:?}", run.error);
        assert_eq!(run.options.timeout_ms, Some(10_000));
    }
    assert_eq!(count(&engine, "Note"), 1);
}

#[test]
fn a_workflows_timeout_bounds_its_steps() {
    let engine = engine();
    slow_op(&engine);
    // A workflow given 100 ms: its slow step does not get more.
    let started = Instant::now();
    let run = engine.run(
        RunRequest::new("workflow")
            .input(json!({"children": [
                {"id": "w", "operation": "create", "into": "Note", "input": {"data": {"name": "w1"}}},
                {"id": "s", "operation": "slow"}]}))
            .options(timeout(100)),
    );
    let took = started.elapsed();
    assert_eq!(code(&run), "TIMEOUT", "{:?}", run.error);
    assert!(took < Duration::from_millis(1000), "took {took:?}");
    assert_eq!(count(&engine, "Note"), 0);
}

#[test]
fn run_batch_stops_at_the_first_failure_only_when_asked() {
    let engine = engine();
    let runs = engine.run_batch(
        vec![create_note("b1"), missing_update(), create_note("b3")],
        true,
    );
    assert_eq!(runs.len(), 2);
    assert!(runs[0].success);
    assert_eq!(code(&runs[1]), "NOT_FOUND");
    assert_eq!(
        names(&engine.run(RunRequest::new("select").from("Note"))),
        ["b1"]
    );
    let runs = engine.run_batch(
        vec![create_note("b4"), missing_update(), create_note("b6")],
        false,
    );
    assert_eq!(runs.len(), 3);
    assert_eq!(
        runs.iter().map(|r| r.success).collect::<Vec<_>>(),
        [true, false, true]
    );
    // Each request is its own top-level run, recorded.
    for run in &runs {
        assert_eq!(run.parent_run_id, None);
        assert_eq!(run.chain_id, run.id);
        assert_eq!(stored(&engine, &run.id).success, run.success);
    }
    let mut found = names(&engine.run(RunRequest::new("select").from("Note")));
    found.sort();
    assert_eq!(found, ["b1", "b4", "b6"]);
    assert!(engine.run_batch(Vec::new(), true).is_empty());
}

#[test]
fn run_parallel_returns_the_runs_in_request_order() {
    let engine = engine();
    let mut requests = Vec::new();
    for i in 0..12 {
        requests.push(match i % 4 {
            3 => missing_update(),
            2 => RunRequest::new("select").from("Note"),
            _ => create_note(&format!("p{i}")),
        });
    }
    let runs = engine.run_parallel(requests.clone());
    assert_eq!(runs.len(), requests.len());
    for (i, (run, request)) in runs.iter().zip(&requests).enumerate() {
        assert_eq!(run.operation, request.operation, "run {i}");
        assert_eq!(run.input, request.input, "run {i}");
        assert_eq!(run.success, i % 4 != 3, "run {i}: {:?}", run.error);
    }
    let mut found = names(&engine.run(RunRequest::new("select").from("Note")));
    found.sort();
    let mut wanted: Vec<String> = (0..12)
        .filter(|i| i % 4 < 2)
        .map(|i| format!("p{i}"))
        .collect();
    wanted.sort();
    assert_eq!(found, wanted);
}

#[test]
fn batches_and_parallel_runs_are_checked_per_owner() {
    let engine = setup();
    let clerk = |request: RunRequest| request.owner("clerk");
    let runs = engine.run_parallel(vec![
        clerk(create_invoice("pi-1")),
        clerk(
            RunRequest::new("delete")
                .from("Invoice")
                .input(json!({"where": {}})),
        ),
        clerk(create_invoice("pi-2")),
    ]);
    assert!(runs[0].success && runs[2].success);
    assert_eq!(code(&runs[1]), "PERMISSION_DENIED");
    let runs = engine.run_batch(
        vec![
            clerk(create_invoice("pb-1")),
            create_invoice("pb-anon"),
            clerk(create_invoice("pb-3")),
        ],
        true,
    );
    assert_eq!(runs.len(), 2);
    assert_eq!(code(&runs[1]), "PERMISSION_DENIED");
    assert_eq!(
        names_of(&docs(&engine, "Invoice")),
        ["pb-1", "pi-1", "pi-2"]
    );
}

fn create_invoice(name: &str) -> RunRequest {
    RunRequest::new("create")
        .into_doctype("Invoice")
        .input(json!({"data": {"name": name}}))
}
