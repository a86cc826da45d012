//! Story: before pruning, an operator asks `coworker stats` what retention will do: the
//! settings, the legal holds in force, and what the next prune would remove, cut to stubs or
//! keep for a hold, and the oldest run it would reach. Asking changes nothing.

use crate::harness::{TempStore, cli, ok, stdout_json};
use serde_json::json;
use std::time::Duration;

#[test]
fn stats_tell_the_settings_the_holds_and_what_the_next_prune_would_do() {
    let store = TempStore::new();
    let engine = store.open();
    let none = engine.stats().unwrap().retention;
    assert!(none.settings.is_none() && none.holds.is_empty() && none.next_prune.is_none());
    let first = ok(&engine, json!({"operation": "select", "from": "ToDo"})).id;
    ok(&engine, json!({"operation": "select", "from": "ToDo"}));
    let created = ok(
        &engine,
        json!({"operation": "create", "into": "ToDo", "input": {"data": {"description": "x"}}}),
    )
    .id;
    let held = ok(
        &engine,
        json!({"operation": "select", "from": "Memo", "owner": "ann"}),
    )
    .id;
    ok(
        &engine,
        json!({"operation": "create", "into": "Legal Hold",
               "input": {"data": {"heldOwner": "ann", "reason": "subpoena"}}}),
    );
    ok(
        &engine,
        json!({"operation": "create", "into": "System Settings",
               "input": {"data": {"name": "retention", "runs": {"maxAgeMs": 0}}}}),
    );
    std::thread::sleep(Duration::from_millis(3));
    engine.flush().unwrap();
    let stats = engine.stats().unwrap();
    let retention = &stats.retention;
    assert_eq!(
        retention.settings.as_ref().unwrap()["runs"],
        json!({"maxAgeMs": 0})
    );
    assert_eq!(retention.holds.len(), 1);
    assert_eq!(retention.holds[0]["heldOwner"], json!("ann"));
    let next = retention.next_prune.clone().expect("a dry pass");
    // Two selects go; the create and the two audited creates (hold, settings) are stubbed;
    // the held select stays.
    assert_eq!((next.remove, next.stub, next.held), (2, 3, 1), "{next:?}");
    assert_eq!(next.oldest.as_ref().unwrap().id, first);
    // Asking changed nothing; the prune then does what stats said.
    assert!(engine.get_run(&first).unwrap().is_some());
    let report = engine.prune_runs(false).unwrap();
    assert_eq!(
        (report.removed, report.stubbed, report.held),
        (next.remove, next.stub, next.held)
    );
    assert!(engine.get_run(&held).unwrap().is_some());
    assert!(engine.get_run(&created).unwrap().is_some());
    drop(engine);
    // The CLI prints the same section.
    let output = cli(&store.path).arg("stats").output().unwrap();
    assert!(output.status.success(), "{output:?}");
    let printed = stdout_json(&output);
    assert_eq!(
        printed["retention"]["holds"][0]["reason"],
        json!("subpoena")
    );
    assert_eq!(printed["retention"]["nextPrune"]["remove"], json!(0));
    assert_eq!(printed["retention"]["nextPrune"]["held"], json!(0));
}
