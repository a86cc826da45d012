//! Story: a host writes documents and runs, closes the engine (or the process ends), opens
//! the store again and finds every document and every run record: completed and failed
//! ones, and the records of read-only runs, which are written on `flush()` or on close.

use crate::harness::*;
use coworker::{Engine, Run, RunQuery, RunRequest, RunStatus};
use serde_json::{Value, json};
use std::process::Command;

fn all_docs(engine: &Engine, doctype: &str) -> Vec<Value> {
    ok(engine, json!({"operation": "select", "from": doctype}))
        .data()
        .to_vec()
}

#[test]
fn documents_and_every_kind_of_run_survive_a_reopen() {
    let store = TempStore::new();
    let (runs, docs, records) = {
        let engine = store.open();
        let created = ok(
            &engine,
            json!({"operation": "create", "into": "ToDo", "owner": "alice",
                   "input": {"data": [{"name": "a", "v": 1}, {"name": "b", "v": 2}, {"name": "c", "v": 3}]}}),
        );
        let updated = ok(
            &engine,
            json!({"operation": "update", "in": "ToDo", "input": {"name": "b", "data": {"v": 20}}}),
        );
        let deleted = ok(
            &engine,
            json!({"operation": "delete", "from": "ToDo", "input": {"name": "c"}}),
        );
        let conflict = fails(
            &engine,
            json!({"operation": "create", "into": "ToDo", "input": {"data": {"name": "a"}}}),
            "CONFLICT",
        );
        let unknown = fails(&engine, json!({"operation": "nope"}), "UNKNOWN_OPERATION");
        let malformed = engine.run_json("{oops");
        assert!(!malformed.success);
        // The last runs write nothing: their records are only written on close.
        let selected = ok(
            &engine,
            json!({"operation": "select", "from": "ToDo", "input": {"where": {"v": {"gt": 1}}}}),
        );
        let runs = vec![
            created, updated, deleted, conflict, unknown, malformed, selected,
        ];
        let records: Vec<Run> = runs.iter().map(|r| stored(&engine, &r.id)).collect();
        (runs, all_docs(&engine, "ToDo"), records)
    };
    let engine = store.open();
    assert_eq!(all_docs(&engine, "ToDo"), docs);
    let names: Vec<&str> = docs.iter().map(|d| d["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["a", "b"]);
    assert_eq!(docs[1]["v"], json!(20));
    for (run, before) in runs.iter().zip(&records) {
        let after = stored(&engine, &run.id);
        assert_eq!(&after, before, "run {} is unchanged by the reopen", run.id);
        assert_eq!(after.success, run.success);
        assert_eq!(after.error, run.error);
    }
    let selected = stored(&engine, &runs[6].id);
    assert_eq!(selected.output["names"], json!(["b"]));
    assert_eq!(selected.status, RunStatus::Completed);
    let malformed = stored(&engine, &runs[5].id);
    assert_eq!(malformed.status, RunStatus::Failed);
    // And everything is listed, oldest first.
    let listed = engine.list_runs(&RunQuery::default()).unwrap();
    let wanted: Vec<String> = runs.iter().map(|r| r.id.clone()).collect();
    let listed: Vec<String> = ids(&listed)
        .into_iter()
        .filter(|id| wanted.contains(id))
        .collect();
    assert_eq!(listed, wanted);
}

#[test]
fn nested_runs_and_a_failed_tree_survive_a_reopen() {
    let store = TempStore::new();
    let build = || {
        Engine::builder()
            .operation("note_then_fail", |ctx| {
                ctx.run(
                    RunRequest::new("create")
                        .into_doctype("Note")
                        .input(json!({"data": {"name": "never"}})),
                );
                Err(coworker::Error::bad_request("refused after writing"))
            })
            .open(&store.path)
            .unwrap()
    };
    let (parent, child) = {
        let engine = build();
        let parent = engine.run(RunRequest::new("note_then_fail").flow("test", "flow-n"));
        assert!(!parent.success);
        (parent.clone(), parent.child_run_ids[0].clone())
    };
    let engine = build();
    assert_eq!(count(&engine, "Note"), 0);
    let stored_parent = stored(&engine, &parent.id);
    assert_eq!(stored_parent.status, RunStatus::Failed);
    assert_eq!(stored_parent.child_run_ids, [child.as_str()]);
    let stored_child = stored(&engine, &child);
    assert_eq!(stored_child.status, RunStatus::Completed);
    assert_eq!(
        stored_child.parent_run_id.as_deref(),
        Some(parent.id.as_str())
    );
    assert_eq!(stored_child.chain_id, parent.id);
    assert_eq!(stored_child.flow_id.as_deref(), Some("flow-n"));
    let chain = engine
        .list_runs(&RunQuery {
            chain_id: Some(parent.id.clone()),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(ids(&chain), [parent.id.clone(), child]);
}

#[test]
fn list_runs_filters_by_flow_owner_chain_and_limit_across_reopens() {
    let store = TempStore::new();
    let mut flow1 = Vec::new();
    let mut flow2 = Vec::new();
    {
        let engine = store.open();
        for i in 0..3 {
            let run = engine.run(
                RunRequest::new("create")
                    .into_doctype("ToDo")
                    .input(json!({"data": {"i": i}}))
                    .owner("alice")
                    .flow("chat", "flow-1"),
            );
            assert!(run.success);
            flow1.push(run.id);
            let run = engine.run(
                RunRequest::new("select")
                    .from("ToDo")
                    .owner("bob")
                    .flow("chat", "flow-2"),
            );
            flow2.push(run.id);
        }
        // A failed run belongs to its flow too.
        let failed = engine.run(
            RunRequest::new("select")
                .owner("alice")
                .flow("chat", "flow-1"),
        );
        assert!(!failed.success);
        flow1.push(failed.id);
    }
    let engine = store.open();
    // More runs after the reopen join the same flow.
    let later = engine.run(
        RunRequest::new("select")
            .from("ToDo")
            .flow("chat", "flow-1"),
    );
    flow1.push(later.id.clone());
    let list = |query: RunQuery| ids(&engine.list_runs(&query).unwrap());
    assert_eq!(
        list(RunQuery {
            flow_id: Some("flow-1".into()),
            ..Default::default()
        }),
        flow1
    );
    assert_eq!(
        list(RunQuery {
            flow_id: Some("flow-2".into()),
            ..Default::default()
        }),
        flow2
    );
    assert_eq!(
        list(RunQuery {
            flow_id: Some("flow-1".into()),
            limit: Some(2),
            ..Default::default()
        }),
        flow1[flow1.len() - 2..],
        "a limit keeps the newest, oldest first"
    );
    assert_eq!(
        list(RunQuery {
            owner: Some("bob".into()),
            ..Default::default()
        }),
        flow2
    );
    assert_eq!(
        list(RunQuery {
            owner: Some("alice".into()),
            flow_id: Some("flow-1".into()),
            ..Default::default()
        }),
        flow1[..4],
        "filters combine"
    );
    assert!(
        list(RunQuery {
            flow_id: Some("nope".into()),
            ..Default::default()
        })
        .is_empty()
    );
    assert_eq!(
        list(RunQuery {
            limit: Some(1),
            ..Default::default()
        }),
        [later.id.as_str()]
    );
    assert_eq!(
        list(RunQuery {
            chain_id: Some(flow2[1].clone()),
            ..Default::default()
        }),
        [flow2[1].clone()]
    );
    let all = list(RunQuery::default());
    assert_eq!(all.len(), flow1.len() + flow2.len());
    let mut sorted = all.clone();
    sorted.sort();
    assert_eq!(all, sorted, "oldest first");
    assert!(
        list(RunQuery {
            limit: Some(0),
            ..Default::default()
        })
        .is_empty()
    );
}

#[test]
fn many_reopens_accumulate_and_generated_names_never_collide() {
    let store = TempStore::new();
    let mut all_names = std::collections::HashSet::new();
    for round in 0..5 {
        let engine = store.open();
        assert_eq!(count(&engine, "Item"), round * 10);
        let data: Vec<Value> = (0..10).map(|i| json!({"round": round, "i": i})).collect();
        let run = ok(
            &engine,
            json!({"operation": "create", "into": "Item", "input": {"data": data}}),
        );
        for name in names(&run) {
            assert!(all_names.insert(name));
        }
    }
    let engine = store.open();
    assert_eq!(count(&engine, "Item"), 50);
}

#[test]
fn records_of_read_only_runs_are_readable_before_they_are_flushed() {
    let store = TempStore::new();
    let engine = store.open();
    ok(
        &engine,
        json!({"operation": "create", "into": "ToDo", "input": {"data": {"name": "a"}}}),
    );
    let selects: Vec<Run> = (0..5)
        .map(|_| {
            ok(
                &engine,
                json!({"operation": "select", "from": "ToDo", "flowId": "f"}),
            )
        })
        .collect();
    for run in &selects {
        assert_eq!(stored(&engine, &run.id).output["names"], json!(["a"]));
    }
    let listed = engine
        .list_runs(&RunQuery {
            flow_id: Some("f".into()),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(ids(&listed), ids(&selects));
    engine.flush().unwrap();
    // Flushing changes nothing a reader sees.
    for run in &selects {
        assert_eq!(stored(&engine, &run.id).output["names"], json!(["a"]));
    }
    let listed = engine
        .list_runs(&RunQuery {
            flow_id: Some("f".into()),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(ids(&listed), ids(&selects), "no record listed twice");
}

/// Records of read-only runs are written in the background once 1,024 wait: a reading
/// process sees them committed although the host never flushes, and nothing is written twice.
#[test]
fn records_of_read_only_runs_are_written_in_the_background() {
    let store = TempStore::new();
    let host = Engine::builder()
        .share_with_readers()
        .open(&store.path)
        .unwrap();
    ok(
        &host,
        json!({"operation": "create", "into": "ToDo", "input": {"data": {"name": "a"}}}),
    );
    let selects: Vec<String> = (0..1100)
        .map(|_| {
            ok(
                &host,
                json!({"operation": "select", "from": "ToDo", "flowId": "bg"}),
            )
            .id
        })
        .collect();
    let reader = Engine::open_read_only(&store.path).unwrap();
    let bg = RunQuery {
        flow_id: Some("bg".into()),
        ..Default::default()
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let committed = loop {
        let committed = reader.list_runs(&bg).unwrap();
        if committed.len() >= 1024 || std::time::Instant::now() > deadline {
            break committed;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    };
    assert!(
        committed.len() >= 1024,
        "only {} records were written without a flush",
        committed.len()
    );
    assert_eq!(
        ids(&committed),
        selects[..committed.len()].to_vec(),
        "oldest first, once each"
    );
    // The host still lists every run exactly once, written or waiting.
    assert_eq!(ids(&host.list_runs(&bg).unwrap()), selects);
}

#[test]
fn a_clone_keeps_the_store_open_until_the_last_handle_is_dropped() {
    let store = TempStore::new();
    let engine = store.open();
    let clone = engine.clone();
    drop(engine);
    let run = ok(&clone, json!({"operation": "select", "from": "ToDo"}));
    drop(clone);
    let engine = store.open();
    assert!(stored(&engine, &run.id).success);
}

/// Set in the child process of `flush_makes_read_only_records_durable_without_a_clean_close`.
const CHILD_DB: &str = "COWORKER_TEST_FLUSH_CHILD_DB";

/// Runs only as a child process: records a select, flushes, then exits without dropping the
/// engine (no destructor runs), as a process that is killed after `flush()` would.
#[test]
fn flush_child_process() {
    let Some(path) = std::env::var_os(CHILD_DB) else {
        return;
    };
    let engine = Engine::open(path).unwrap();
    let created = engine.run(
        RunRequest::new("create")
            .into_doctype("ToDo")
            .input(json!({"data": {"name": "a"}})),
    );
    let flushed = engine.run(RunRequest::new("select").from("ToDo").flow("t", "flushed"));
    let failed = engine.run(RunRequest::new("select").flow("t", "flushed"));
    engine.flush().unwrap();
    println!("IDS {} {} {}", created.id, flushed.id, failed.id);
    use std::io::Write;
    std::io::stdout().flush().unwrap();
    std::process::exit(0);
}

#[test]
fn flush_makes_read_only_records_durable_without_a_clean_close() {
    let store = TempStore::new();
    let output = Command::new(std::env::current_exe().unwrap())
        .args([
            "persistence::flush_child_process",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_DB, &store.path)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "child failed: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let line = stdout
        .lines()
        .find_map(|l| l.split_once("IDS ").map(|(_, ids)| ids))
        .unwrap_or_else(|| panic!("the child printed its run ids: {stdout}"));
    let child_ids: Vec<&str> = line.split(' ').collect();
    assert_eq!(child_ids.len(), 3);
    let engine = store.open();
    assert_eq!(count(&engine, "ToDo"), 1);
    let created = stored(&engine, child_ids[0]);
    assert!(created.success);
    let flushed = stored(&engine, child_ids[1]);
    assert_eq!(flushed.output["names"], json!(["a"]));
    let failed = stored(&engine, child_ids[2]);
    assert_eq!(failed.status, RunStatus::Failed);
    let listed = engine
        .list_runs(&RunQuery {
            flow_id: Some("flushed".into()),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(ids(&listed), [child_ids[1], child_ids[2]]);
}
