//! Story: an operator keeps run history from filling the disk. Retention settings (the
//! `System Settings` document `retention`) say how long runs are kept; pruning removes the
//! rest in bounded passes, on demand or in the background, and keeps a stub of every run a
//! document or the audit trail names, so lineage never dangles. The file stops growing, and
//! `coworker compact` gives the space back.

use crate::harness::{TempStore, cli, engine, fails, ok, stdout_json, violations};
use coworker::{Engine, PruneReport};
use serde_json::{Value, json};
use std::time::Duration;

/// Save the retention settings (created, or replaced when they exist).
fn retain(engine: &Engine, settings: Value) {
    let mut data = settings;
    data["name"] = json!("retention");
    let exists = engine
        .run_value(json!({"operation": "select", "from": "System Settings",
                          "input": {"where": {"name": "retention"}}}))
        .data()
        .len()
        == 1;
    if exists {
        ok(
            engine,
            json!({"operation": "update", "in": "System Settings",
                   "input": {"name": "retention", "data": data}}),
        );
    } else {
        ok(
            engine,
            json!({"operation": "create", "into": "System Settings", "input": {"data": data}}),
        );
    }
}

fn select(engine: &Engine) -> String {
    ok(engine, json!({"operation": "select", "from": "ToDo"})).id
}

fn create(engine: &Engine, description: &str) -> String {
    ok(
        engine,
        json!({"operation": "create", "into": "ToDo",
               "input": {"data": {"description": description}}}),
    )
    .id
}

/// Prune now, after the clock has moved past every run started so far.
fn prune(engine: &Engine) -> PruneReport {
    std::thread::sleep(Duration::from_millis(3));
    engine.prune_runs(false).expect("prune")
}

fn record(engine: &Engine, id: &str) -> Option<coworker::Run> {
    engine.get_run(id).expect("the store answers")
}

fn is_stub(run: &coworker::Run) -> bool {
    run.output["pruned"] == json!(true) && run.input.is_null()
}

#[test]
fn without_settings_nothing_is_pruned() {
    let engine = engine();
    let id = select(&engine);
    let report = prune(&engine);
    assert!(!report.policy);
    assert_eq!((report.removed, report.stubbed), (0, 0));
    assert!(record(&engine, &id).is_some());
}

#[test]
fn settings_are_checked_when_saved() {
    let engine = engine();
    let run = fails(
        &engine,
        json!({"operation": "create", "into": "System Settings",
               "input": {"data": {"name": "retention",
                                  "runs": {"maxAge": 5, "maxCount": "ten",
                                           "byStatus": {"done": {"maxAgeMs": 1}},
                                           "byOperation": {"select": {"keep": false}}},
                                  "pruneEveryMs": 1}}}),
        "VALIDATION_FAILED",
    );
    let violations = violations(&run);
    let paths: Vec<&str> = violations.iter().map(|(path, _)| path.as_str()).collect();
    for path in [
        "runs.maxAge",
        "runs.maxCount",
        "pruneEveryMs",
        "runs.byStatus.done",
        "runs.byOperation.select",
    ] {
        assert!(paths.contains(&path), "{path} named in {paths:?}");
    }
    retain(
        &engine,
        json!({"runs": {"maxAgeMs": 3_600_000,
                                   "byStatus": {"failed": {"keep": true}}}}),
    );
    // An update is checked too.
    fails(
        &engine,
        json!({"operation": "update", "in": "System Settings",
               "input": {"name": "retention", "data": {"runs": {"maxAgeMs": -1}}}}),
        "VALIDATION_FAILED",
    );
}

#[test]
fn expired_runs_go_and_the_audited_ones_stay_as_stubs() {
    let engine = engine();
    let created = create(&engine, "kept by its lineage");
    let read = select(&engine);
    let doc = ok(&engine, json!({"operation": "select", "from": "ToDo"})).data()[0].clone();
    assert_eq!(doc["createdByRun"], json!(created));
    retain(&engine, json!({"runs": {"maxAgeMs": 0}}));
    let report = prune(&engine);
    assert!(report.policy);
    assert!(report.removed >= 2, "{report:?}");
    assert!(
        report.stubbed >= 2,
        "the create and the settings' create: {report:?}"
    );
    assert!(report.bytes_freed > 0);
    assert!(
        record(&engine, &read).is_none(),
        "a select names nothing: removed"
    );
    let stub = record(&engine, &created).expect("the document's createdByRun still resolves");
    assert!(is_stub(&stub), "{:?}", stub.to_value());
    assert_eq!(stub.operation.as_deref(), Some("create"));
    assert!(stub.success);
    assert!(stub.output["prunedAt"].is_string());
    let audit = engine.verify_audit().unwrap();
    assert!(audit.broken.is_none(), "{:?}", audit.broken);
    // A second prune finds nothing more (stubs are never pruned again).
    let again = prune(&engine);
    assert_eq!((again.removed, again.stubbed), (0, 0), "{again:?}");
}

#[test]
fn a_script_that_wrote_keeps_its_tree_as_stubs_and_loses_its_reads() {
    let engine = engine();
    ok(
        &engine,
        json!({"operation": "create", "into": "Operation", "input": {"data": {
            "name": "file_and_count",
            "handlerCode": "let n = run(#{operation: \"select\", from: \"ToDo\"}); \
                            let c = run(#{operation: \"create\", into: \"ToDo\", \
                                          input: #{data: #{description: \"filed\"}}}); \
                            c.id"}}}),
    );
    let root = ok(&engine, json!({"operation": "file_and_count"}));
    let child_ids = root.child_run_ids.clone();
    assert_eq!(child_ids.len(), 2);
    let (read_child, create_child) = (&child_ids[0], &child_ids[1]);
    retain(&engine, json!({"runs": {"maxAgeMs": 0}}));
    prune(&engine);
    let root_stub = record(&engine, &root.id).expect("the parent of an audited run stays");
    assert!(is_stub(&root_stub));
    assert_eq!(
        root_stub.child_run_ids,
        vec![create_child.clone()],
        "only kept children listed"
    );
    let child = record(&engine, create_child).expect("the audited child stays");
    assert!(is_stub(&child));
    assert_eq!(child.parent_run_id.as_deref(), Some(root.id.as_str()));
    assert!(
        record(&engine, read_child).is_none(),
        "the nested select is removed"
    );
}

#[test]
fn failed_runs_can_be_kept_longer_and_keep_alive_exempts_a_tree() {
    let engine = engine();
    let failed = fails(
        &engine,
        json!({"operation": "update", "in": "ToDo", "input": {"name": "missing", "data": {}}}),
        "NOT_FOUND",
    )
    .id;
    let kept = ok(
        &engine,
        json!({"operation": "select", "from": "ToDo", "options": {"keepAlive": true}}),
    )
    .id;
    let plain = select(&engine);
    retain(
        &engine,
        json!({"runs": {"maxAgeMs": 0, "byStatus": {"failed": {"maxAgeMs": 3_600_000}}}}),
    );
    let report = prune(&engine);
    assert!(
        report.deferred >= 1,
        "the failed run is listed for later: {report:?}"
    );
    assert!(record(&engine, &plain).is_none());
    let failed_run = record(&engine, &failed).expect("failed runs are kept an hour");
    assert!(!is_stub(&failed_run));
    let kept_run = record(&engine, &kept).expect("keepAlive");
    assert!(!is_stub(&kept_run));
    // A new policy starts the walk over: now failed runs go too; keepAlive still holds.
    retain(&engine, json!({"runs": {"maxAgeMs": 0}}));
    prune(&engine);
    assert!(
        record(&engine, &failed).is_none(),
        "a NOT_FOUND failure names nothing"
    );
    assert!(record(&engine, &kept).is_some_and(|r| !is_stub(&r)));
}

#[test]
fn max_count_keeps_the_newest_full_records() {
    let engine = engine();
    let ids: Vec<String> = (0..30).map(|_| select(&engine)).collect();
    retain(&engine, json!({"runs": {"maxCount": 10}}));
    let report = prune(&engine);
    assert!(report.removed >= 20, "{report:?}");
    let left: Vec<&String> = ids
        .iter()
        .filter(|id| record(&engine, id).is_some())
        .collect();
    // Saving the settings took two runs (a select looking for them, the create), newer
    // than every select here: they are two of the ten kept in full.
    assert_eq!(left.len(), 8, "the newest records stay: {left:?}");
    assert_eq!(left, ids[22..].iter().collect::<Vec<_>>());
}

#[test]
fn a_dry_run_counts_and_changes_nothing() {
    let engine = engine();
    let ids: Vec<String> = (0..5).map(|_| select(&engine)).collect();
    retain(&engine, json!({"runs": {"maxAgeMs": 0}}));
    std::thread::sleep(Duration::from_millis(3));
    let dry = engine.prune_runs(true).unwrap();
    assert!(dry.dry_run);
    // The five selects and the one that looked for the settings before saving them.
    assert_eq!(dry.removed, 6, "{dry:?}");
    assert!(ids.iter().all(|id| record(&engine, id).is_some()));
    let real = prune(&engine);
    assert_eq!((real.removed, real.stubbed), (dry.removed, dry.stubbed));
    assert!(ids.iter().all(|id| record(&engine, id).is_none()));
}

#[test]
fn a_steady_workload_stops_growing_the_file_once_retention_applies() {
    let store = TempStore::new();
    let engine = store.open();
    retain(&engine, json!({"runs": {"maxAgeMs": 0}, "pruneBatch": 500}));
    create(&engine, "one document to read");
    let size = || {
        engine.flush().unwrap();
        std::fs::metadata(&store.path).unwrap().len()
    };
    let mut sizes = Vec::new();
    for _ in 0..6 {
        for _ in 0..1_500 {
            select(&engine);
        }
        prune(&engine);
        sizes.push(size());
    }
    // After the first round the freed pages are reused: the file holds steady.
    let settled = sizes[1];
    assert!(
        sizes[2..].iter().all(|s| *s <= settled + settled / 10),
        "file sizes per round: {sizes:?}"
    );
}

#[test]
fn the_engine_prunes_in_the_background() {
    let engine = engine();
    let id = select(&engine);
    retain(
        &engine,
        json!({"runs": {"maxAgeMs": 0}, "pruneEveryMs": 100}),
    );
    // Eventually (the pruner wakes every 250 ms): not a timing check, a bound on waiting.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while record(&engine, &id).is_some() {
        assert!(
            std::time::Instant::now() < deadline,
            "the background pruner never ran"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn the_cli_prunes_and_compacts() {
    let store = TempStore::new();
    {
        let engine = store.open();
        create(&engine, "stays");
        for _ in 0..3_000 {
            ok(
                &engine,
                json!({"operation": "select", "from": "ToDo",
                               "input": {"where": {"description": "x".repeat(200)}}}),
            );
        }
        retain(&engine, json!({"runs": {"maxAgeMs": 0}}));
    }
    std::thread::sleep(Duration::from_millis(3));
    let dry = cli(&store.path)
        .args(["runs", "prune", "--dry-run"])
        .output()
        .unwrap();
    assert!(
        dry.status.success(),
        "{}",
        String::from_utf8_lossy(&dry.stderr)
    );
    let dry = stdout_json(&dry);
    assert_eq!(dry["dryRun"], json!(true));
    assert!(dry["removed"].as_u64().unwrap() >= 3_000, "{dry}");
    let pruned = cli(&store.path).args(["runs", "prune"]).output().unwrap();
    assert!(pruned.status.success());
    assert_eq!(stdout_json(&pruned)["removed"], dry["removed"]);
    let compacted = cli(&store.path).arg("compact").output().unwrap();
    assert!(
        compacted.status.success(),
        "{}",
        String::from_utf8_lossy(&compacted.stderr)
    );
    let sizes = stdout_json(&compacted);
    assert!(
        sizes["bytesAfter"].as_u64() < sizes["bytesBefore"].as_u64(),
        "compaction shrinks the file: {sizes}"
    );
    let engine = store.open();
    assert_eq!(
        engine
            .run_value(json!({"operation": "select", "from": "ToDo"}))
            .data()
            .len(),
        1
    );
    assert!(engine.verify_audit().unwrap().broken.is_none());
}
