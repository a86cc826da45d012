//! Story: the host pruning run records is killed (SIGKILL) in the middle of a prune, several
//! times. Nothing is lost: every document is intact, every run the policy keeps (held or
//! young) is whole, the stubs left for lineage are well formed, the audit chain verifies,
//! and a final prune completes the work.
//!
//! The pruning process is the CLI, `coworker runs prune`, on a store of a few thousand runs
//! with `pruneBatch: 7`, so a prune is hundreds of small writes and a kill lands between or
//! inside them.

use crate::harness::{TempStore, cli, ok, stdout_json};
use coworker::Engine;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::process::Stdio;
use std::time::{Duration, Instant};

const KILLS: usize = 6;
const SELECTS: usize = 1_500;
const CREATES: usize = 150;
const TREES: usize = 40;

/// A small xorshift generator for kill times (seeded from the clock, printed to replay).
fn delays() -> impl FnMut() -> u64 {
    let seed = std::env::var("COWORKER_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(7, |d| d.as_nanos() as u64)
        });
    eprintln!("prune_crash: seed {seed} (replay with COWORKER_CRASH_SEED={seed})");
    let mut x = seed | 1;
    move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    }
}

/// Every document of `doctype` by name.
fn documents(engine: &Engine, doctype: &str) -> BTreeMap<String, Value> {
    ok(
        engine,
        json!({"operation": "select", "from": doctype, "input": {"take": 10000}}),
    )
    .data()
    .iter()
    .map(|d| (d["name"].as_str().unwrap().to_string(), d.clone()))
    .collect()
}

struct Fixture {
    /// Runs a legal hold keeps whole.
    held: Vec<String>,
    /// Runs that wrote documents (kept as stubs at least).
    writers: Vec<String>,
    /// Runs nothing names (removed by a complete prune).
    reads: Vec<String>,
    docs: BTreeMap<String, Value>,
}

fn fill(engine: &Engine) -> Fixture {
    ok(
        engine,
        json!({"operation": "create", "into": "Operation", "input": {"data": {
            "name": "file_it",
            "handlerCode": "run(#{operation: \"select\", from: \"Memo\"}); \
                            run(#{operation: \"create\", into: \"ToDo\", \
                                  input: #{data: #{description: \"filed\"}}}).id"}}}),
    );
    let mut fixture = Fixture {
        held: Vec::new(),
        writers: Vec::new(),
        reads: Vec::new(),
        docs: BTreeMap::new(),
    };
    for i in 0..SELECTS {
        fixture
            .reads
            .push(ok(engine, json!({"operation": "select", "from": "Memo"})).id);
        if i % (SELECTS / CREATES) == 0 {
            fixture.writers.push(
                ok(
                    engine,
                    json!({"operation": "create", "into": "ToDo",
                           "input": {"data": {"description": format!("note {i}")}}}),
                )
                .id,
            );
        }
        if i % (SELECTS / TREES) == 0 {
            let flow = if i % 2 == 0 { "case" } else { "routine" };
            let tree = ok(engine, json!({"operation": "file_it", "flowType": flow}));
            if flow == "case" {
                fixture.held.push(tree.id.clone());
                fixture.held.extend(tree.child_run_ids.iter().cloned());
            } else {
                fixture.writers.push(tree.id.clone());
            }
        }
    }
    ok(
        engine,
        json!({"operation": "create", "into": "Legal Hold",
               "input": {"data": {"heldFlowType": "case", "reason": "kept through crashes"}}}),
    );
    ok(
        engine,
        json!({"operation": "create", "into": "System Settings",
               "input": {"data": {"name": "retention", "runs": {"maxAgeMs": 0},
                                  "pruneBatch": 7, "pruneEveryMs": 3_600_000}}}),
    );
    fixture.docs = documents(engine, "ToDo");
    fixture
}

#[test]
fn a_prune_killed_again_and_again_loses_nothing() {
    let store = TempStore::new();
    let fixture = {
        let engine = store.open();
        fill(&engine)
    };
    std::thread::sleep(Duration::from_millis(5));
    let dry = cli(&store.path)
        .args(["runs", "prune", "--dry-run"])
        .output()
        .unwrap();
    assert!(dry.status.success(), "{dry:?}");
    let dry = stdout_json(&dry);
    let due = dry["removed"].as_u64().unwrap() + dry["stubbed"].as_u64().unwrap();
    let mut next = delays();
    let mut landed = 0;
    for kill in 0..KILLS {
        let mut child = cli(&store.path)
            .args(["runs", "prune"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the prune starts");
        let wait = 100 + next() % 400;
        std::thread::sleep(Duration::from_millis(wait));
        if child.try_wait().expect("the child's status").is_none() {
            landed += 1;
        }
        child.kill().expect("SIGKILL the prune");
        child.wait().expect("reaped");
        eprintln!("kill {kill} after {wait} ms");
    }
    assert!(
        landed >= 1,
        "at least one kill landed while the prune was running"
    );
    // A final prune completes the work.
    let started = Instant::now();
    let output = cli(&store.path).args(["runs", "prune"]).output().unwrap();
    assert!(output.status.success(), "{output:?}");
    let report = stdout_json(&output);
    eprintln!(
        "final prune: {report} in {:?}, {landed} of {KILLS} kills mid-prune",
        started.elapsed()
    );
    // The killed prunes got somewhere: the passes they committed are not done again.
    let left = report["removed"].as_u64().unwrap() + report["stubbed"].as_u64().unwrap();
    assert!(
        left < due,
        "the killed prunes committed no pass: {left} of {due} records left"
    );
    let verified = cli(&store.path).args(["audit", "verify"]).output().unwrap();
    assert!(verified.status.success(), "{verified:?}");

    let engine = store.open();
    // Nothing is left to prune (before this test's own reads add runs).
    let again = engine.prune_runs(false).unwrap();
    assert_eq!((again.removed, again.stubbed), (0, 0), "{again:?}");
    assert!(engine.verify_audit().unwrap().broken.is_none());
    assert_eq!(
        documents(&engine, "ToDo"),
        fixture.docs,
        "every document intact"
    );
    for id in &fixture.held {
        let run = engine.get_run(id).unwrap().expect("a held run is kept");
        assert!(run.output.get("pruned").is_none(), "{id} kept whole");
    }
    for id in &fixture.writers {
        let run = engine
            .get_run(id)
            .unwrap()
            .expect("a writer is kept as a stub");
        assert_eq!(run.output["pruned"], json!(true), "{id}");
        assert!(run.output["prunedAt"].is_string());
        assert!(run.operation.is_some() && run.input.is_null());
    }
    for doc in fixture.docs.values() {
        let by = doc["createdByRun"].as_str().unwrap();
        assert!(engine.get_run(by).unwrap().is_some(), "lineage of {doc}");
    }
    for id in &fixture.reads {
        assert!(engine.get_run(id).unwrap().is_none(), "{id} pruned");
    }
}
