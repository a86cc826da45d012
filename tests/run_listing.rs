//! Story: an operator lists runs by status, owner and time on a busy store, and on a store
//! written by an earlier version. Completed runs are no longer indexed (most runs are):
//! `--status completed` walks the runs table newest first and stops at the limit, and
//! answers exactly as the index did, on new stores and old ones.

use crate::harness::*;
use coworker::{Engine, Run, RunQuery, RunStatus};
use serde_json::{Value, json};

/// Every run of the store, filtered by hand: what any listing must equal.
fn by_hand(engine: &Engine, keep: impl Fn(&Run) -> bool, limit: Option<usize>) -> Vec<String> {
    let all = engine.list_runs(&RunQuery::default()).unwrap();
    let mut kept: Vec<String> = all.into_iter().filter(|r| keep(r)).map(|r| r.id).collect();
    if let Some(limit) = limit {
        kept.drain(..kept.len().saturating_sub(limit));
    }
    kept
}

#[test]
fn completed_runs_list_by_status_across_many_pages_with_limits_and_time_bounds() {
    let store = TempStore::new();
    let engine = store.open();
    // 700 runs (more than two pages of the walk), every seventh one failed, some by ann.
    for i in 0..700 {
        let request = match i % 7 {
            0 => json!({"operation": "nope"}),
            3 => json!({"operation": "create", "into": "Note", "owner": "ann",
                        "input": {"data": {"n": i}}}),
            5 => json!({"operation": "select", "from": "Note", "input": {"take": 1}}),
            _ => json!({"operation": "create", "into": "Note", "input": {"data": {"n": i}}}),
        };
        run(&engine, request);
    }
    let all = engine.list_runs(&RunQuery::default()).unwrap();
    assert_eq!(all.len(), 700);
    // Bounds are instants (to the millisecond, as ids sort): a run's id starts with its
    // start's millisecond.
    let bound = |run: &Run| {
        let millisecond = &run.timestamp[..run.timestamp.len() - 4];
        (
            format!("{millisecond}000Z"),
            format!("{}{}", &run.id[..10], "0".repeat(16)),
        )
    };
    let (since, since_id) = bound(&all[150]);
    let (until, until_id) = bound(&all[600]);
    let completed = |r: &Run| r.status == RunStatus::Completed;
    for limit in [
        None,
        Some(1),
        Some(10),
        Some(255),
        Some(256),
        Some(257),
        Some(599),
        Some(5000),
    ] {
        let query = RunQuery {
            status: Some(RunStatus::Completed),
            limit,
            ..Default::default()
        };
        assert_eq!(
            ids(&engine.list_runs(&query).unwrap()),
            by_hand(&engine, completed, limit),
            "completed, limit {limit:?}"
        );
        let bounded = RunQuery {
            since: Some(since.clone()),
            until: Some(until.clone()),
            ..query
        };
        let in_bounds = |r: &Run| completed(r) && r.id >= since_id && r.id < until_id;
        assert_eq!(
            ids(&engine.list_runs(&bounded).unwrap()),
            by_hand(&engine, in_bounds, limit),
            "completed between, limit {limit:?}"
        );
        let failed = RunQuery {
            status: Some(RunStatus::Failed),
            limit,
            ..Default::default()
        };
        assert_eq!(
            ids(&engine.list_runs(&failed).unwrap()),
            by_hand(&engine, |r| r.status == RunStatus::Failed, limit),
            "failed, limit {limit:?}"
        );
        let anns = RunQuery {
            owner: Some("ann".into()),
            status: Some(RunStatus::Completed),
            limit,
            ..Default::default()
        };
        let ann_completed = |r: &Run| completed(r) && r.owner.as_deref() == Some("ann");
        assert_eq!(
            ids(&engine.list_runs(&anns).unwrap()),
            by_hand(&engine, ann_completed, limit),
            "ann's completed, limit {limit:?}"
        );
    }
    // The CLI answers as the API.
    drop(engine);
    let output = cli(&store.path)
        .args(["runs", "list", "--status", "completed", "--limit", "300"])
        .output()
        .unwrap();
    let listed: Vec<String> = stdout_json(&output)
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect();
    let engine = store.open();
    assert_eq!(listed, by_hand(&engine, completed, Some(300)));
}

#[test]
fn a_store_written_before_issue_14_lists_its_runs_as_it_did_and_keeps_its_chain() {
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/stores");
    let expected: Value =
        serde_json::from_slice(&std::fs::read(fixtures.join("before_issue14.json")).unwrap())
            .unwrap();
    let store = TempStore::new();
    std::fs::copy(fixtures.join("before_issue14.redb"), &store.path).unwrap();
    let list = |args: &[String]| -> Vec<String> {
        let output = cli(&store.path)
            .arg("runs")
            .arg("list")
            .args(args)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        stdout_json(&output)
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().unwrap().to_string())
            .collect()
    };
    let cases = expected["lists"].as_array().unwrap();
    for case in cases {
        let args: Vec<String> = serde_json::from_value(case["args"].clone()).unwrap();
        let ids: Vec<String> = serde_json::from_value(case["ids"].clone()).unwrap();
        assert_eq!(list(&args), ids, "runs list {args:?}");
    }

    // New runs join the old ones: listed with them, chained to the old trail's last entry.
    let old_completed: Vec<String> = serde_json::from_value(cases[1]["ids"].clone()).unwrap();
    let engine = store.open();
    let created = ok(
        &engine,
        json!({"operation": "create", "into": "Note", "input": {"data": {"name": "new"}}}),
    );
    let failed = fails(&engine, json!({"operation": "nope"}), "UNKNOWN_OPERATION");
    engine.flush().unwrap();
    let completed = engine
        .list_runs(&RunQuery {
            status: Some(RunStatus::Completed),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(
        ids(&completed),
        [old_completed, vec![created.id.clone()]].concat()
    );
    let failures = engine
        .list_runs(&RunQuery {
            status: Some(RunStatus::Failed),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(ids(&failures).last(), Some(&failed.id));
    drop(engine);
    let verify = cli(&store.path).args(["audit", "verify"]).output().unwrap();
    let report = stdout_json(&verify);
    assert_eq!(report["broken"], Value::Null, "{report}");
    assert_eq!(
        report["entries"],
        json!(expected["auditEntries"].as_u64().unwrap() + 1)
    );
}
