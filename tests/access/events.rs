//! Run callbacks: they receive runs, `after_run` sees them committed, `on_run_error` hears of every
//! failed top-level run, and a panicking callback breaks neither the run nor the store.

use super::*;

type Log = Arc<Mutex<Vec<(&'static str, Run)>>>;
/// What an after-run callback saw of a create: its id, its stored status, whether the
/// document was visible.
type SeenInside = Arc<Mutex<Vec<(String, Option<RunStatus>, usize)>>>;

#[test]
fn callbacks_receive_runs_and_after_run_sees_them_committed() {
    let log: Log = Arc::default();
    let seen_inside: SeenInside = Arc::default();
    let handle: Arc<OnceLock<Engine>> = Arc::default();
    let (before_log, after_log, error_log) = (log.clone(), log.clone(), log.clone());
    let (inside, cell) = (seen_inside.clone(), handle.clone());
    let engine = Engine::builder()
        .before_run(move |run| before_log.lock().unwrap().push(("before", run.clone())))
        .after_run(move |run| {
            after_log.lock().unwrap().push(("after", run.clone()));
            if run.operation.as_deref() == Some("create") {
                let engine = cell.get().expect("the engine is built");
                let stored = engine.get_run(&run.id).unwrap().map(|r| r.status);
                let name = run.input["data"]["name"].clone();
                let visible = engine
                    .run(
                        RunRequest::new("select")
                            .from("Note")
                            .input(json!({"where": {"name": name}})),
                    )
                    .data()
                    .len();
                inside
                    .lock()
                    .unwrap()
                    .push((run.id.clone(), stored, visible));
            }
        })
        .on_run_error(move |run| error_log.lock().unwrap().push(("error", run.clone())))
        .in_memory()
        .unwrap();
    assert!(handle.set(engine.clone()).is_ok());

    let created = engine.run(create_note("n1"));
    assert!(created.success);
    {
        let log = log.lock().unwrap();
        let kinds: Vec<&str> = log.iter().map(|(k, _)| *k).collect();
        // before(create), after(create), then the callback's own select: before, after.
        assert_eq!(kinds, ["before", "after", "before", "after"]);
        assert_eq!(log[0].1.id, created.id);
        assert_eq!(log[0].1.status, RunStatus::Pending);
        assert_eq!(
            log[0].1.input, created.input,
            "before_run sees the request's input"
        );
        assert_eq!(log[1].1, created, "after_run receives the run as returned");
    }
    assert_eq!(
        *seen_inside.lock().unwrap(),
        [(created.id.clone(), Some(RunStatus::Completed), 1)]
    );
    log.lock().unwrap().clear();

    // A failed run: before and error, never after.
    let failed = engine.run(missing_update());
    {
        let log = log.lock().unwrap();
        let kinds: Vec<&str> = log.iter().map(|(k, _)| *k).collect();
        assert_eq!(kinds, ["before", "error"]);
        assert_eq!(log[1].1, failed);
        assert_eq!(code(&log[1].1), "NOT_FOUND");
    }
    log.lock().unwrap().clear();

    // Nested runs are not top-level runs: one before and one after for a script.
    ok(
        &engine,
        json!({"operation": "create", "into": "Operation", "input": {"data": {"name": "two_notes",
            "handlerCode": r#"run(#{operation: "create", into: "Note", input: #{data: #{name: "n2"}}});
                               run(#{operation: "create", into: "Note", input: #{data: #{name: "n3"}}}); 2"#}}}),
    );
    log.lock().unwrap().clear();
    let scripted = engine.run(RunRequest::new("two_notes"));
    assert!(scripted.success, "{:?}", scripted.error);
    let log = log.lock().unwrap();
    let ids: Vec<(&str, &str)> = log.iter().map(|(k, r)| (*k, r.id.as_str())).collect();
    assert_eq!(
        ids,
        [
            ("before", scripted.id.as_str()),
            ("after", scripted.id.as_str())
        ]
    );
}

#[test]
fn a_panicking_callback_breaks_neither_the_run_nor_the_store() {
    let after_calls = Arc::new(Mutex::new(0));
    let counter = after_calls.clone();
    let store = TempStore::new();
    let engine = Engine::builder()
        .before_run(|_| panic!("before hook fails"))
        .after_run(|_| panic!("after hook fails"))
        .after_run(move |_| *counter.lock().unwrap() += 1)
        .on_run_error(|_| panic!("error hook fails"))
        .open(&store.path)
        .unwrap();
    let created = engine.run(create_note("n1"));
    assert!(created.success, "{:?}", created.error);
    assert_eq!(*after_calls.lock().unwrap(), 1, "later callbacks still run");
    let failed = engine.run(missing_update());
    assert_eq!(code(&failed), "NOT_FOUND");
    let updated = engine.run(
        RunRequest::new("update")
            .in_doctype("Note")
            .input(json!({"name": "n1", "data": {"done": true}})),
    );
    assert!(updated.success, "{:?}", updated.error);
    assert_eq!(stored(&engine, &created.id), created);
    assert_eq!(stored(&engine, &failed.id), failed);
    assert_eq!(engine.verify_audit().unwrap().broken, None);
    drop(engine);
    let engine = store.open();
    let notes = engine.run(RunRequest::new("select").from("Note"));
    assert_eq!(notes.data().len(), 1);
    assert_eq!(notes.data()[0]["done"], json!(true));
    assert_eq!(stored(&engine, &updated.id), updated);
    assert_eq!(engine.verify_audit().unwrap().broken, None);
}

#[test]
fn on_run_error_hears_of_every_failed_top_level_run_even_a_malformed_one() {
    let failed: Arc<Mutex<Vec<Run>>> = Arc::default();
    let log = failed.clone();
    let engine = Engine::builder()
        .on_run_error(move |run| log.lock().unwrap().push(run.clone()))
        .in_memory()
        .unwrap();
    let runs = [
        engine.run(missing_update()),
        engine.run_json("{not json"),
        engine.run_value(json!({"operation": "select", "frm": "Note"})),
        engine.run(RunRequest::new("no_such_operation")),
    ];
    for run in &runs {
        assert!(!run.success);
        assert!(engine.get_run(&run.id).unwrap().is_some(), "recorded");
    }
    let heard: Vec<String> = failed
        .lock()
        .unwrap()
        .iter()
        .map(|r| r.id.clone())
        .collect();
    let wanted: Vec<String> = runs.iter().map(|r| r.id.clone()).collect();
    assert_eq!(heard, wanted);
}
