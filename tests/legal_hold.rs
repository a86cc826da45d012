//! Story: counsel puts a legal hold on a doctype, a document, an owner or a flow. While the
//! hold stands, the runs it covers survive every retention rule (age and count) whole; the
//! hold and its lifting are audit events; a lifted hold's runs are pruned at the next pass.
//! Only the superuser or a System Manager creates or lifts a hold, and no one deletes one.

use crate::harness::{TempStore, cli, engine, fails, ok, stdout_json, violations};
use coworker::{Engine, PruneReport, Run};
use serde_json::{Value, json};
use std::time::Duration;

fn retain(engine: &Engine, runs: Value) {
    ok(
        engine,
        json!({"operation": "create", "into": "System Settings",
               "input": {"data": {"name": "retention", "runs": runs}}}),
    );
}

fn hold(engine: &Engine, targets: Value) -> String {
    let mut data = targets;
    data["reason"] = json!("litigation 2026-17");
    let run = ok(
        engine,
        json!({"operation": "create", "into": "Legal Hold", "input": {"data": data}}),
    );
    run.data()[0]["name"]
        .as_str()
        .expect("a named hold")
        .to_string()
}

fn lift(engine: &Engine, name: &str) -> Run {
    ok(
        engine,
        json!({"operation": "update", "in": "Legal Hold",
               "input": {"name": name, "data": {"lifted": 1, "liftReason": "case settled"}}}),
    )
}

fn prune(engine: &Engine) -> PruneReport {
    std::thread::sleep(Duration::from_millis(3));
    engine.prune_runs(false).expect("prune")
}

/// Whether run `id` is stored in full (neither removed nor cut to a stub).
fn whole(engine: &Engine, id: &str) -> bool {
    engine
        .get_run(id)
        .expect("the store answers")
        .is_some_and(|run| run.output.get("pruned").is_none())
}

fn gone(engine: &Engine, id: &str) -> bool {
    engine.get_run(id).expect("the store answers").is_none()
}

fn select(engine: &Engine, request: Value) -> String {
    let mut request = request;
    request["operation"] = json!("select");
    ok(engine, request).id
}

#[test]
fn holds_on_a_doctype_a_document_an_owner_and_a_flow_outlive_the_age_rule() {
    let engine = engine();
    let created = ok(
        &engine,
        json!({"operation": "create", "into": "ToDo",
               "input": {"data": {"description": "the contract"}}}),
    );
    let contract = created.data()[0]["name"].as_str().unwrap().to_string();
    ok(
        &engine,
        json!({"operation": "create", "into": "Note", "input": {"data": {"title": "n"}}}),
    );
    let by_doctype = select(&engine, json!({"from": "Note"}));
    let by_document = select(
        &engine,
        json!({"from": "ToDo", "input": {"where": {"name": contract}}}),
    );
    // Selects of a doctype without documents: each is held by one hold only.
    let by_owner = select(&engine, json!({"from": "Memo", "owner": "ann"}));
    let by_flow = select(&engine, json!({"from": "Memo", "flowId": "case-7"}));
    let by_flow_type = select(&engine, json!({"from": "Memo", "flowType": "discovery"}));
    let unheld = select(
        &engine,
        json!({"from": "ToDo", "input": {"where": {"name": "nothing"}}}),
    );
    let owner_hold = hold(&engine, json!({"heldOwner": "ann"}));
    hold(&engine, json!({"heldDoctype": "Note"}));
    hold(
        &engine,
        json!({"heldDoctype": "ToDo", "heldName": contract}),
    );
    hold(&engine, json!({"heldFlowId": "case-7"}));
    hold(&engine, json!({"heldFlowType": "discovery"}));
    retain(&engine, json!({"maxAgeMs": 0}));
    let report = prune(&engine);
    assert!(report.held >= 6, "five selects and the create: {report:?}");
    for id in [
        &by_doctype,
        &by_document,
        &by_owner,
        &by_flow,
        &by_flow_type,
    ] {
        assert!(whole(&engine, id), "held run {id} kept whole");
    }
    assert!(
        whole(&engine, &created.id),
        "the contract's create is held too, not a stub"
    );
    assert!(gone(&engine, &unheld), "{report:?}");
    // Lifting is a new event; the next pass prunes what the hold kept.
    lift(&engine, &owner_hold);
    let after = prune(&engine);
    assert!(gone(&engine, &by_owner), "{after:?}");
    assert!(whole(&engine, &by_flow) && whole(&engine, &by_document));
    assert!(engine.verify_audit().unwrap().broken.is_none());
}

#[test]
fn a_hold_keeps_a_whole_tree_against_the_count_rule() {
    let engine = engine();
    ok(
        &engine,
        json!({"operation": "create", "into": "Operation", "input": {"data": {
            "name": "file_it",
            "handlerCode": "run(#{operation: \"select\", from: \"Memo\"}); \
                            let c = run(#{operation: \"create\", into: \"ToDo\", \
                                          input: #{data: #{description: \"filed\"}}}); \
                            c.output.data[0].name"}}}),
    );
    let root = ok(&engine, json!({"operation": "file_it"}));
    let filed = root.output.as_str().unwrap().to_string();
    let other = ok(&engine, json!({"operation": "file_it"}));
    let name = hold(&engine, json!({"heldDoctype": "ToDo", "heldName": filed}));
    retain(&engine, json!({"maxCount": 0}));
    let report = prune(&engine);
    assert!(report.held >= 1, "{report:?}");
    for id in std::iter::once(&root.id).chain(&root.child_run_ids) {
        assert!(whole(&engine, id), "{id} of the held tree kept whole");
    }
    let stub = engine.get_run(&other.id).unwrap().expect("audited: a stub");
    assert_eq!(stub.output["pruned"], json!(true));
    assert!(
        gone(&engine, &other.child_run_ids[0]),
        "its select is removed"
    );
    lift(&engine, &name);
    prune(&engine);
    assert!(gone(&engine, &root.child_run_ids[0]), "no longer held");
    assert!(!whole(&engine, &root.id), "cut to a stub");
}

#[test]
fn holding_and_lifting_are_audit_events_and_a_hold_is_never_deleted() {
    let engine = engine();
    let name = hold(&engine, json!({"heldOwner": "ann"}));
    fails(
        &engine,
        json!({"operation": "delete", "from": "Legal Hold", "input": {"name": name}}),
        "IMMUTABLE",
    );
    fails(
        &engine,
        json!({"operation": "update", "in": "Legal Hold",
               "input": {"name": name, "data": {"heldOwner": "bob", "lifted": 1,
                                                "liftReason": "wrong person"}}}),
        "IMMUTABLE",
    );
    let unexplained = fails(
        &engine,
        json!({"operation": "update", "in": "Legal Hold",
               "input": {"name": name, "data": {"lifted": 1}}}),
        "VALIDATION_FAILED",
    );
    assert_eq!(violations(&unexplained)[0].0, "liftReason");
    let lifted = lift(&engine, &name);
    fails(
        &engine,
        json!({"operation": "update", "in": "Legal Hold",
               "input": {"name": name, "data": {"lifted": 0}}}),
        "IMMUTABLE",
    );
    let trail = ok(
        &engine,
        json!({"operation": "select", "from": "Audit Trail",
               "input": {"where": {"refDoctype": "Legal Hold"}, "orderBy": {"seq": "asc"}}}),
    );
    let actions: Vec<(&str, &str)> = trail
        .data()
        .iter()
        .filter(|e| e["refName"] == json!(name))
        .map(|e| {
            (
                e["action"].as_str().unwrap(),
                e["runId"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(actions.len(), 2, "{actions:?}");
    assert_eq!(actions[0].0, "create");
    assert_eq!(actions[1], ("update", lifted.id.as_str()));
    let doc = ok(
        &engine,
        json!({"operation": "select", "from": "Legal Hold", "input": {"where": {"name": name}}}),
    );
    assert_eq!(doc.data()[0]["liftReason"], json!("case settled"));
}

#[test]
fn a_hold_must_name_a_known_target_and_a_reason() {
    let engine = engine();
    let bad = [
        json!({"reason": "no target"}),
        json!({"heldDoctype": "Nonesuch", "reason": "unknown doctype"}),
        json!({"heldName": "T-1", "reason": "a name without its doctype"}),
        json!({"heldOwner": "ann"}),
        json!({"heldOwner": "ann", "reason": "born lifted", "lifted": 1}),
    ];
    for data in bad {
        fails(
            &engine,
            json!({"operation": "create", "into": "Legal Hold", "input": {"data": data}}),
            "VALIDATION_FAILED",
        );
    }
    let holds = ok(
        &engine,
        json!({"operation": "select", "from": "Legal Hold"}),
    );
    assert!(holds.data().is_empty(), "nothing half-written");
}

#[test]
fn only_the_superuser_or_a_system_manager_holds_and_lifts() {
    let engine = engine();
    engine.enable_acl("Administrator", None).unwrap();
    for (user, roles) in [
        ("clerk", json!(["Accounts User"])),
        ("cso", json!(["System Manager"])),
    ] {
        ok(
            &engine,
            json!({"operation": "create", "into": "User", "owner": "Administrator",
                   "input": {"data": {"name": user, "full_name": user, "roles": roles}}}),
        );
    }
    let request = |owner: &str| {
        json!({"operation": "create", "into": "Legal Hold", "owner": owner,
               "input": {"data": {"heldOwner": "clerk", "reason": "audit"}}})
    };
    fails(&engine, request("clerk"), "PERMISSION_DENIED");
    let by_admin = ok(&engine, request("Administrator"));
    let name = by_admin.data()[0]["name"].as_str().unwrap().to_string();
    let lift = |owner: &str| {
        json!({"operation": "update", "in": "Legal Hold", "owner": owner,
               "input": {"name": name, "data": {"lifted": 1, "liftReason": "done"}}})
    };
    fails(&engine, lift("clerk"), "PERMISSION_DENIED");
    ok(&engine, request("cso"));
    ok(&engine, lift("cso"));
}

#[test]
fn the_cli_prune_reports_held_trees() {
    let store = TempStore::new();
    {
        let engine = store.open();
        select(&engine, json!({"from": "ToDo", "owner": "ann"}));
        hold(&engine, json!({"heldOwner": "ann"}));
        retain(&engine, json!({"maxAgeMs": 0}));
    }
    std::thread::sleep(Duration::from_millis(3));
    let output = cli(&store.path).args(["runs", "prune"]).output().unwrap();
    assert!(output.status.success(), "{output:?}");
    let report = stdout_json(&output);
    assert_eq!(report["held"], json!(1), "{report}");
}

/// An audit entry a hold covers is not archived: a segment stops before it (and everything
/// after it stays live) until the hold is lifted; the chain verifies throughout.
#[test]
fn a_hold_stops_audit_archiving_before_the_entries_it_covers() {
    let store = TempStore::new();
    let engine = store.open();
    let mut names = Vec::new();
    for i in 0..5 {
        let run = ok(
            &engine,
            json!({"operation": "create", "into": "ToDo",
                   "input": {"data": {"description": format!("todo {i}")}}}),
        );
        names.push(run.data()[0]["name"].as_str().unwrap().to_string());
    }
    let seq_of = |name: &str| {
        let found = ok(
            &engine,
            json!({"operation": "select", "from": "Audit Trail",
                   "input": {"where": {"refDoctype": "ToDo", "refName": name}}}),
        );
        found.data()[0]["seq"].as_u64().unwrap()
    };
    let held_seq = seq_of(&names[2]);
    let hold_name = hold(
        &engine,
        json!({"heldDoctype": "ToDo", "heldName": names[2]}),
    );
    let everything = seq_of(&names[4]) + 1_000;

    let report = engine.archive_audit(Some(everything), None).unwrap();
    assert_eq!(report.segments.len(), 1, "{report:?}");
    assert_eq!(report.segments[0].to_seq, held_seq - 1);
    let verified = engine.verify_audit().unwrap();
    assert_eq!(verified.broken, None);
    assert_eq!(verified.archived, held_seq - 1);
    // Nothing more goes while the hold stands.
    let refused = engine.archive_audit(Some(everything), None).unwrap_err();
    assert_eq!(refused.code().as_str(), "BAD_REQUEST", "{refused}");
    assert!(refused.to_string().contains("legal hold"), "{refused}");

    lift(&engine, &hold_name);
    let after = engine.archive_audit(Some(everything), None).unwrap();
    assert_eq!(after.segments[0].from_seq, held_seq);
    assert_eq!(engine.verify_audit().unwrap().broken, None);
}
