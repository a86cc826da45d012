//! Story: the audit trail. Every create, update (with a field-level diff) and delete — through
//! the API, scripts and workflows — and every permission denial and validation failure leaves
//! an `Audit Trail` entry naming the document, the run, its owner and agent; entries commit
//! with the change they describe. No path can change or remove an entry (IMMUTABLE); a
//! correction is a new entry. Entries form a SHA-256 hash chain that `coworker audit verify`
//! walks, so a byte changed in the store file is caught. Run records never change once
//! completed.

use crate::harness::*;
use coworker::{Engine, Run, RunRequest};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::path::Path;
use std::process::Output;

const ADMIN: &str = "Administrator";

fn code(run: &Run) -> &str {
    run.error.as_ref().map_or("", |e| e.code.as_str())
}

/// Audit entries matching `filter`, oldest first (`engine` must be allowed to read them).
fn entries(engine: &Engine, filter: Value) -> Vec<Value> {
    ok(
        engine,
        json!({"operation": "select", "from": "Audit Trail",
               "input": {"where": filter, "orderBy": {"seq": "asc"}}}),
    )
    .data()
    .to_vec()
}

fn all_entries(engine: &Engine) -> Vec<Value> {
    entries(engine, json!({}))
}

/// The one entry matching `filter` (panics on none or several).
fn one(engine: &Engine, filter: Value) -> Value {
    let found = entries(engine, filter.clone());
    assert_eq!(found.len(), 1, "one entry for {filter}, found {found:#?}");
    found.into_iter().next().unwrap()
}

fn save_op(engine: &Engine, name: &str, code: &str) {
    ok(
        engine,
        json!({"operation": "create", "into": "Operation",
               "input": {"data": {"name": name, "handlerCode": code}}}),
    );
}

/// A handler that runs `input.req` as a nested run and fails with the child's error.
const AS_CALLER: &str = r#"
let child = run(context.input.req);
if !child.success { throw #{code: child.error.code, message: child.error.message}; }
child.output
"#;

/// A store with access control on, an `Invoice` schema clerks may read and create, the
/// users `clerk` and `nobody`, and the `as_caller` operation. Returns the superuser's handle.
fn acl_store(engine: &Engine) -> Engine {
    engine.enable_acl(ADMIN, None).unwrap();
    let admin = engine.with_owner(ADMIN);
    let imported = admin.import_schemas(vec![json!({"name": "Invoice", "fields": [
        {"fieldname": "amount", "fieldtype": "Int"}],
        "permissions": [{"role": "Accounts User", "read": 1, "create": 1}]})]);
    assert!(imported.success, "{:?}", imported.error);
    for (user, roles) in [("clerk", json!(["Accounts User"])), ("nobody", json!([]))] {
        ok(
            &admin,
            json!({"operation": "create", "into": "User",
                   "input": {"data": {"name": user, "roles": roles}}}),
        );
    }
    save_op(&admin, "as_caller", AS_CALLER);
    admin
}

// --- what is recorded ---------------------------------------------------------------------

#[test]
fn every_change_through_the_api_is_audited_with_run_owner_agent_and_diff() {
    let engine = engine();
    let created = engine.run(
        RunRequest::new("create")
            .into_doctype("Note")
            .input(json!({"data": [{"name": "n1", "status": "Open", "gone": 1},
                                   {"name": "n2", "status": "Open"}]}))
            .owner("alice")
            .agent("bot-1"),
    );
    assert!(created.success);
    for name in ["n1", "n2"] {
        let entry = one(&engine, json!({"refName": name}));
        assert_eq!(entry["action"], json!("create"));
        assert_eq!(entry["refDoctype"], json!("Note"));
        assert_eq!(entry["runId"], json!(created.id));
        assert_eq!(entry["owner"], json!("alice"));
        assert_eq!(entry["agent"], json!("bot-1"));
        assert_eq!(entry["operation"], json!("create"));
        assert_eq!(entry["doctype"], json!("Audit Trail"));
        assert!(entry["seq"].as_u64().is_some(), "{entry}");
        assert!(entry["timestamp"].as_str().is_some(), "{entry}");
    }
    let updated = engine.run(
        RunRequest::new("update")
            .in_doctype("Note")
            .input(json!({"name": "n1", "data": {"status": "Closed", "priority": 2, "gone": null}}))
            .owner("bob"),
    );
    assert!(updated.success);
    let entry = one(&engine, json!({"refName": "n1", "action": "update"}));
    assert_eq!(entry["runId"], json!(updated.id));
    assert_eq!(entry["owner"], json!("bob"));
    assert_eq!(
        entry["agent"],
        json!("bob"),
        "the agent defaults to the owner"
    );
    assert_eq!(
        entry["diff"],
        json!({"status": {"from": "Open", "to": "Closed"},
               "priority": {"from": null, "to": 2},
               "gone": {"from": 1, "to": null}}),
        "only the changed fields, no bookkeeping"
    );
    // An update that changes nothing has an empty diff; a where-update one entry per document.
    let same = engine.run(
        RunRequest::new("update")
            .in_doctype("Note")
            .input(json!({"where": {}, "data": {"status": "Closed"}}))
            .owner("bob"),
    );
    assert!(same.success);
    let by_run = entries(&engine, json!({"runId": same.id}));
    assert_eq!(by_run.len(), 2);
    assert_eq!(by_run[0]["refName"], json!("n1"));
    assert_eq!(by_run[0]["diff"], json!({}));
    assert_eq!(
        by_run[1]["diff"],
        json!({"status": {"from": "Open", "to": "Closed"}})
    );
    let deleted = engine.run(
        RunRequest::new("delete")
            .from("Note")
            .input(json!({"where": {}}))
            .owner("carol")
            .agent("janitor"),
    );
    assert!(deleted.success);
    for name in ["n1", "n2"] {
        let entry = one(&engine, json!({"refName": name, "action": "delete"}));
        assert_eq!(entry["runId"], json!(deleted.id));
        assert_eq!(entry["owner"], json!("carol"));
        assert_eq!(entry["agent"], json!("janitor"));
    }
    // Reads leave no entries; seq numbers run 1, 2, 3 ... without gaps.
    let before = all_entries(&engine).len();
    engine.run(RunRequest::new("select").from("Note"));
    let all = all_entries(&engine);
    assert_eq!(all.len(), before);
    let seqs: Vec<u64> = all.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, (1..=all.len() as u64).collect::<Vec<_>>());
}

#[test]
fn changes_made_by_scripts_and_workflows_are_audited_under_their_own_runs() {
    let engine = engine();
    save_op(
        &engine,
        "file_note",
        r#"let made = run(#{operation: "create", into: "Note", input: #{data: #{name: "s1", v: 1}}});
           run(#{operation: "update", "in": "Note", input: #{name: "s1", data: #{v: 2}}});
           made.output.data[0].name"#,
    );
    let top = engine.run(
        RunRequest::new("file_note")
            .owner("alice")
            .agent("planner-1"),
    );
    assert!(top.success, "{:?}", top.error);
    assert_eq!(top.child_run_ids.len(), 2);
    let created = one(&engine, json!({"refName": "s1", "action": "create"}));
    let updated = one(&engine, json!({"refName": "s1", "action": "update"}));
    assert_eq!(created["runId"], json!(top.child_run_ids[0]));
    assert_eq!(updated["runId"], json!(top.child_run_ids[1]));
    assert_eq!(updated["diff"], json!({"v": {"from": 1, "to": 2}}));
    for entry in [&created, &updated] {
        assert_eq!(entry["owner"], json!("alice"));
        assert_eq!(entry["agent"], json!("planner-1"));
        let run = stored(&engine, entry["runId"].as_str().unwrap());
        assert_eq!(run.parent_run_id.as_deref(), Some(top.id.as_str()));
    }
    // A workflow: each step's entries carry the step's run.
    ok(
        &engine,
        json!({"operation": "create", "into": "Workflow Template", "input": {"data": {
            "name": "Tidy", "children": [
                {"id": "make", "operation": "create", "into": "Note", "input": {"data": {"name": "w1"}}},
                {"id": "mark", "operation": "update", "in": "Note",
                 "input": {"name": "{{make.name}}", "data": {"done": true}}},
                {"id": "drop", "operation": "delete", "from": "Note", "input": {"name": "s1"}}]}}}),
    );
    let flow = engine.run(
        RunRequest::new("workflow")
            .template("Tidy")
            .owner("bob")
            .agent("flow-bot"),
    );
    assert!(flow.success, "{:?}", flow.error);
    let steps = &flow.child_run_ids;
    assert_eq!(steps.len(), 3);
    for (filter, step) in [
        (json!({"refName": "w1", "action": "create"}), &steps[0]),
        (json!({"refName": "w1", "action": "update"}), &steps[1]),
        (json!({"refName": "s1", "action": "delete"}), &steps[2]),
    ] {
        let entry = one(&engine, filter);
        assert_eq!(&entry["runId"], &json!(step));
        assert_eq!(entry["owner"], json!("bob"));
        assert_eq!(entry["agent"], json!("flow-bot"));
    }
    // An inline workflow too.
    let inline = engine.run(
        RunRequest::new("workflow")
            .input(json!({"children": [
                {"id": "a", "operation": "create", "into": "Note", "input": {"data": {"name": "i1"}}}]}))
            .owner("carol"),
    );
    assert!(inline.success);
    let entry = one(&engine, json!({"refName": "i1"}));
    assert_eq!(entry["runId"], json!(inline.child_run_ids[0]));
    // Schemas, operations and templates are documents: their changes are audited as well.
    one(
        &engine,
        json!({"refDoctype": "Operation", "refName": "file_note"}),
    );
    one(
        &engine,
        json!({"refDoctype": "Workflow Template", "refName": "Tidy"}),
    );
}

#[test]
fn entries_commit_with_their_change_and_failures_are_audited_after_the_rollback() {
    let engine = engine();
    let imported = engine.import_schemas(vec![json!({"name": "Task", "fields": [
        {"fieldname": "title", "fieldtype": "Data", "reqd": 1}]})]);
    assert!(imported.success);
    let count_entries = |engine: &Engine| engine.verify_audit().unwrap().entries;
    // A script that writes then fails: neither the write nor its entry remain.
    save_op(
        &engine,
        "write_then_fail",
        r#"run(#{operation: "create", into: "Note", input: #{data: #{name: "f1"}}}); throw "boom";"#,
    );
    let before = count_entries(&engine);
    let run = engine.run(RunRequest::new("write_then_fail").owner("alice"));
    assert_eq!(code(&run), "SCRIPT_ERROR");
    assert_eq!(count(&engine, "Note"), 0);
    assert!(entries(&engine, json!({"refName": "f1"})).is_empty());
    assert_eq!(count_entries(&engine), before);
    // A dry run writes no entry.
    let dry = engine.run_value(json!({"operation": "create", "into": "Note",
        "input": {"data": {"name": "d1"}}, "options": {"dryRun": true}}));
    assert!(dry.success);
    assert_eq!(count_entries(&engine), before);
    // A workflow whose second step fails: the first step's create and its entry are gone.
    let flow = engine.run_value(json!({"operation": "workflow", "owner": "alice", "input": {"children": [
        {"id": "a", "operation": "create", "into": "Note", "input": {"data": {"name": "w1"}}},
        {"id": "b", "operation": "update", "in": "Note", "input": {"name": "missing", "data": {}}}]}}));
    assert_eq!(code(&flow), "NOT_FOUND");
    assert!(entries(&engine, json!({"refName": "w1"})).is_empty());
    assert_eq!(count_entries(&engine), before);

    // A validation failure leaves an `invalid` entry, not a create.
    let invalid = engine.run_value(
        json!({"operation": "create", "into": "Task", "owner": "alice",
        "agent": "bot", "input": {"data": {"name": "t1"}}}),
    );
    assert_eq!(code(&invalid), "VALIDATION_FAILED");
    let entry = one(&engine, json!({"runId": invalid.id}));
    assert_eq!(entry["action"], json!("invalid"));
    assert_eq!(entry["refDoctype"], json!("Task"));
    assert_eq!(entry["owner"], json!("alice"));
    assert_eq!(entry["agent"], json!("bot"));
    assert_eq!(entry["error"]["code"], json!("VALIDATION_FAILED"));
    assert_eq!(count(&engine, "Task"), 0);
    // Inside a failing workflow: the step's write is rolled back, its `invalid` entry stays,
    // and no entry of the rolled-back create remains.
    let flow = engine.run_value(
        json!({"operation": "workflow", "owner": "alice", "input": {"children": [
        {"id": "a", "operation": "create", "into": "Note", "input": {"data": {"name": "w2"}}},
        {"id": "b", "operation": "create", "into": "Task", "input": {"data": {"title": 5}}}]}}),
    );
    assert_eq!(code(&flow), "VALIDATION_FAILED");
    assert!(entries(&engine, json!({"refName": "w2"})).is_empty());
    let entry = one(&engine, json!({"runId": flow.child_run_ids[1]}));
    assert_eq!(entry["action"], json!("invalid"));
    assert_eq!(count(&engine, "Note"), 0);
    assert_eq!(engine.verify_audit().unwrap().broken, None);
}

#[test]
fn a_denied_run_changes_nothing_but_leaves_a_denied_entry() {
    let engine = engine();
    let admin = acl_store(&engine);
    ok(
        &admin,
        json!({"operation": "create", "into": "Invoice", "input": {"data": {"name": "I-1", "amount": 1}}}),
    );
    let invoices = |engine: &Engine| {
        ok(engine, json!({"operation": "select", "from": "Invoice"}))
            .data()
            .to_vec()
    };
    let before = invoices(&admin);
    let cases = [
        json!({"operation": "update", "in": "Invoice", "input": {"name": "I-1", "data": {"amount": 9}}}),
        json!({"operation": "delete", "from": "Invoice", "input": {"name": "I-1"}}),
        json!({"operation": "select", "from": "Memo"}),
        json!({"operation": "create", "into": "Memo", "input": {"data": {"name": "m"}}}),
    ];
    for request in cases {
        let mut request = request;
        request["owner"] = json!("clerk");
        request["agent"] = json!("planner-1");
        let run = fails(&engine, request.clone(), "PERMISSION_DENIED");
        let entry = one(&admin, json!({"runId": run.id}));
        assert_eq!(entry["action"], json!("denied"), "{request}");
        assert_eq!(
            entry["refDoctype"],
            request
                .get("in")
                .or(request.get("from"))
                .or(request.get("into"))
                .unwrap()
                .clone()
        );
        assert_eq!(entry["operation"], request["operation"]);
        assert_eq!(entry["owner"], json!("clerk"));
        assert_eq!(entry["agent"], json!("planner-1"));
        assert_eq!(entry["error"]["code"], json!("PERMISSION_DENIED"));
        assert!(
            entries(
                &admin,
                json!({"runId": run.id, "action": {"not": "denied"}})
            )
            .is_empty()
        );
    }
    assert_eq!(invoices(&admin), before);
    assert!(
        ok(&admin, json!({"operation": "select", "from": "Memo"}))
            .data()
            .is_empty()
    );
    // Denied through a script: the nested run's denial is audited, its caller's too.
    let run = fails(
        &engine,
        json!({"operation": "as_caller", "owner": "clerk", "input": {"req":
            {"operation": "delete", "from": "Invoice", "input": {"where": {}}}}}),
        "PERMISSION_DENIED",
    );
    let child = &run.child_run_ids[0];
    let entry = one(&admin, json!({"runId": child}));
    assert_eq!(entry["action"], json!("denied"));
    assert_eq!(entry["refDoctype"], json!("Invoice"));
    assert_eq!(invoices(&admin), before);
    // No owner at all: denied and audited.
    let run = fails(
        &engine,
        json!({"operation": "select", "from": "Invoice"}),
        "PERMISSION_DENIED",
    );
    assert_eq!(
        one(&admin, json!({"runId": run.id}))["action"],
        json!("denied")
    );
    assert_eq!(engine.verify_audit().unwrap().broken, None);
}

// --- append-only --------------------------------------------------------------------------

/// The entries of `before` are all still there, unchanged (new ones may follow).
fn unchanged(engine: &Engine, before: &[Value], context: &str) {
    let now = all_entries(engine);
    assert!(now.len() >= before.len(), "{context}: entries disappeared");
    assert_eq!(&now[..before.len()], before, "{context}: an entry changed");
    assert_eq!(engine.verify_audit().unwrap().broken, None, "{context}");
}

/// Requests that try to change or remove audit entries.
fn tampering() -> Vec<Value> {
    vec![
        json!({"operation": "update", "in": "Audit Trail", "input": {"name": "1", "data": {"action": "create"}}}),
        json!({"operation": "update", "in": "Audit Trail", "input": {"where": {}, "data": {"owner": "nobody"}}}),
        json!({"operation": "update", "doctype": "Audit Trail", "input": {"where": {"seq": 1}, "data": {"hash": "0"}}}),
        json!({"operation": "delete", "from": "Audit Trail", "input": {"name": "1"}}),
        json!({"operation": "delete", "from": "Audit Trail", "input": {"where": {}}}),
        json!({"operation": "delete", "doctype": "Audit Trail", "input": {"where": {"seq": {"gte": 1}}}}),
        json!({"operation": "update", "in": "Audit Trail", "input": {"name": "1", "data": {"reason": "x"}},
               "options": {"dryRun": true}}),
    ]
}

#[test]
fn no_run_script_or_workflow_can_change_or_delete_an_entry() {
    let engine = engine();
    let admin = acl_store(&engine);
    ok(
        &admin,
        json!({"operation": "create", "into": "Invoice", "input": {"data": {"name": "I-1"}}}),
    );
    let before = all_entries(&admin);
    assert!(before.len() > 3);
    for request in tampering() {
        // The superuser, directly.
        let run = fails(&admin, request.clone(), "IMMUTABLE");
        assert!(
            run.error.as_ref().unwrap().message.contains("append-only"),
            "{:?}",
            run.error
        );
        unchanged(&admin, &before, &format!("superuser: {request}"));
        // A plain user: refused either way.
        let mut as_clerk = request.clone();
        as_clerk["owner"] = json!("clerk");
        let run = engine.run_value(as_clerk);
        assert!(
            ["IMMUTABLE", "PERMISSION_DENIED"].contains(&code(&run)),
            "clerk: {request}: {:?}",
            run.error
        );
        unchanged(&admin, &before, &format!("clerk: {request}"));
        // A script the superuser runs.
        let run = admin.run_value(json!({"operation": "as_caller", "input": {"req": request}}));
        assert_eq!(
            code(&run),
            "IMMUTABLE",
            "script: {request}: {:?}",
            run.error
        );
        unchanged(&admin, &before, &format!("script: {request}"));
        // An inline workflow step, and one with an onError fallback that tries again.
        let mut step = request.clone();
        step["id"] = json!("tamper");
        let run = admin.run_value(json!({"operation": "workflow", "input": {"children": [step]}}));
        assert_eq!(
            code(&run),
            "IMMUTABLE",
            "workflow: {request}: {:?}",
            run.error
        );
        let mut rescued = request.clone();
        rescued["id"] = json!("again");
        rescued["onError"] = request.clone();
        let run =
            admin.run_value(json!({"operation": "workflow", "input": {"children": [rescued]}}));
        assert_eq!(
            code(&run),
            "IMMUTABLE",
            "workflow with a fallback: {request}"
        );
        assert_eq!(run.child_run_ids.len(), 2, "the step and its fallback ran");
        assert!(
            run.child_run_ids
                .iter()
                .all(|id| code(&stored(&engine, id)) == "IMMUTABLE")
        );
        unchanged(&admin, &before, &format!("workflow: {request}"));
    }
    // A saved template, whoever runs it.
    ok(
        &admin,
        json!({"operation": "create", "into": "Workflow Template", "input": {"data": {
            "name": "Wipe", "children": [
                {"id": "wipe", "operation": "delete", "from": "Audit Trail", "input": {"where": {}}}]}}}),
    );
    let before = all_entries(&admin);
    fails(
        &admin,
        json!({"operation": "workflow", "template": "Wipe"}),
        "IMMUTABLE",
    );
    unchanged(&admin, &before, "template");
    // A direct script (the CLI's `coworker script`).
    let out = admin
        .run_script(
            "tamper",
            r#"[run(#{operation: "delete", from: "Audit Trail", input: #{where: #{}}}).error.code,
                run(#{operation: "update", "in": "Audit Trail", input: #{name: "1", data: #{action: "x"}}}).error.code]"#,
        )
        .unwrap();
    assert_eq!(out, json!(["IMMUTABLE", "IMMUTABLE"]));
    unchanged(&admin, &before, "direct script");
    // The seeded schema itself cannot be replaced, changed or removed.
    for request in [
        json!({"operation": "update", "in": "Schema", "input": {"name": "Audit Trail",
               "data": {"permissions": [{"role": "Accounts User", "read": 1, "write": 1, "delete": 1}]}}}),
        json!({"operation": "delete", "from": "Schema", "input": {"name": "Audit Trail"}}),
        json!({"operation": "create", "into": "Schema", "input": {"data": {"name": "Audit Trail", "fields": []}}}),
    ] {
        let run = admin.run_value(request.clone());
        assert!(
            ["IMMUTABLE", "CONFLICT"].contains(&code(&run)),
            "{request}: {:?}",
            run.error
        );
    }
    unchanged(&admin, &before, "schema");
    // Access control off changes nothing.
    engine.disable_acl(ADMIN).unwrap();
    for request in tampering() {
        fails(&engine, request, "IMMUTABLE");
    }
    unchanged(&engine, &before, "access control off");
}

#[test]
fn a_correction_is_a_new_entry_referencing_the_corrected_one() {
    let engine = engine();
    let admin = acl_store(&engine);
    let made = ok(
        &admin,
        json!({"operation": "create", "into": "Invoice", "input": {"data": {"name": "I-1", "amount": 100}}}),
    );
    let corrected = one(&admin, json!({"runId": made.id}));
    let seq = corrected["seq"].as_u64().unwrap();
    let before = all_entries(&admin);
    // Without `corrects` and `reason` there is nothing to add.
    for data in [
        json!({"action": "create", "refDoctype": "Invoice", "refName": "I-2"}),
        json!({"corrects": seq}),
        json!({"reason": "typo"}),
        json!({"corrects": seq, "reason": "   "}),
        json!({"corrects": seq.to_string(), "reason": "typo"}),
    ] {
        fails(
            &admin,
            json!({"operation": "create", "into": "Audit Trail", "input": {"data": data}}),
            "BAD_REQUEST",
        );
    }
    fails(
        &admin,
        json!({"operation": "create", "into": "Audit Trail",
               "input": {"data": {"corrects": 999_999, "reason": "no such entry"}}}),
        "NOT_FOUND",
    );
    // Not for a plain user.
    fails(
        &engine,
        json!({"operation": "create", "into": "Audit Trail", "owner": "clerk",
               "input": {"data": {"corrects": seq, "reason": "mine"}}}),
        "PERMISSION_DENIED",
    );
    unchanged(&admin, &before, "refused corrections");
    // (the plain user's attempt added its `denied` entry)
    let before = all_entries(&admin);
    // A correction, even one that names an existing entry and its own chain fields, is
    // appended and changes nothing before it.
    let run = ok(
        &admin,
        json!({"operation": "create", "into": "Audit Trail", "agent": "auditor-bot", "input": {"data": {
            "name": seq.to_string(), "seq": seq, "corrects": seq,
            "reason": "the amount was 10, not 100",
            "hash": "0000", "prevHash": "0000", "action": "create", "owner": "clerk"}}}),
    );
    unchanged(&admin, &before, "correction");
    let now = all_entries(&admin);
    let last = now.last().unwrap();
    assert_eq!(now.len(), before.len() + 1);
    assert_eq!(last["seq"], json!(before.len() as u64 + 1));
    assert_eq!(last["action"], json!("correction"));
    assert_eq!(last["corrects"], json!(seq));
    assert_eq!(last["reason"], json!("the amount was 10, not 100"));
    assert_eq!(last["refDoctype"], json!("Invoice"));
    assert_eq!(last["refName"], json!("I-1"));
    assert_eq!(last["runId"], json!(run.id));
    assert_eq!(last["owner"], json!(ADMIN));
    assert_eq!(last["agent"], json!("auditor-bot"));
    assert_eq!(last["prevHash"], before.last().unwrap()["hash"]);
    // Several at once: one entry each.
    ok(
        &admin,
        json!({"operation": "create", "into": "Audit Trail", "input": {"data": [
            {"corrects": 1, "reason": "a"}, {"corrects": 2, "reason": "b"}]}}),
    );
    let corrections = entries(&admin, json!({"action": "correction"}));
    let corrects: Vec<&Value> = corrections.iter().map(|e| &e["corrects"]).collect();
    assert_eq!(corrects, [&json!(seq), &json!(1), &json!(2)]);
}

// --- packs and the CLI --------------------------------------------------------------------

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

#[test]
fn packs_cannot_touch_the_audit_trail() {
    let engine = engine();
    ok(
        &engine,
        json!({"operation": "create", "into": "Note", "input": {"data": {"name": "n1"}}}),
    );
    let before = all_entries(&engine);
    // A pack shipping its own `Audit Trail` schema is refused whole.
    let dir = tempfile::tempdir().unwrap();
    let shadow = dir.path().join("shadow");
    write(
        &shadow.join("pack.json"),
        r#"{"name": "shadow", "version": "1.0.0"}"#,
    );
    write(
        &shadow.join("schemas/audit.json"),
        &json!({"name": "Audit Trail", "fields": [{"fieldname": "action", "fieldtype": "Data"}],
                "permissions": [{"role": "Guest", "read": 1, "write": 1, "delete": 1}]})
        .to_string(),
    );
    write(
        &shadow.join("operations/hello.json"),
        r#"{"name": "shadow_hello"}"#,
    );
    write(&shadow.join("operations/hello.rhai"), "1");
    let run = engine.install_pack(&shadow);
    assert!(
        ["IMMUTABLE", "CONFLICT"].contains(&code(&run)),
        "{:?}",
        run.error
    );
    assert!(engine.packs().unwrap().is_empty());
    fails(
        &engine,
        json!({"operation": "shadow_hello"}),
        "UNKNOWN_OPERATION",
    );
    unchanged(&engine, &before, "shadow pack");
    // A pack whose operation and workflow try: installed, but refused when they run.
    let tamper = dir.path().join("tamper");
    write(
        &tamper.join("pack.json"),
        r#"{"name": "tamper", "version": "1.0.0"}"#,
    );
    write(
        &tamper.join("operations/scrub.json"),
        r#"{"name": "scrub"}"#,
    );
    write(
        &tamper.join("operations/scrub.rhai"),
        r#"let r = run(#{operation: "update", "in": "Audit Trail", input: #{where: #{}, data: #{owner: "x"}}});
           if !r.success { throw #{code: r.error.code, message: r.error.message}; }
           r.output"#,
    );
    write(
        &tamper.join("workflows/wipe.json"),
        &json!({"name": "Wipe Trail", "children": [
            {"id": "wipe", "operation": "delete", "from": "Audit Trail", "input": {"where": {}}}]})
        .to_string(),
    );
    let run = engine.install_pack(&tamper);
    assert!(run.success, "{:?}", run.error);
    let before = all_entries(&engine);
    fails(&engine, json!({"operation": "scrub"}), "IMMUTABLE");
    fails(
        &engine,
        json!({"operation": "workflow", "template": "Wipe Trail"}),
        "IMMUTABLE",
    );
    unchanged(&engine, &before, "tamper pack");
}

fn exit(output: &Output) -> i32 {
    output.status.code().expect("the CLI exits")
}

#[test]
fn the_cli_cannot_change_entries_either() {
    let store = TempStore::new();
    let before = {
        let engine = store.open();
        let admin = acl_store(&engine);
        ok(
            &admin,
            json!({"operation": "create", "into": "Invoice", "input": {"data": {"name": "I-1"}}}),
        );
        all_entries(&admin)
    };
    for request in tampering() {
        for user in [ADMIN, "clerk"] {
            let output = cli(&store.path)
                .args(["--as", user, "run", "--json", &request.to_string()])
                .output()
                .unwrap();
            assert_eq!(exit(&output), 1, "{user}: {request}");
            let run = stdout_json(&output);
            let code = run["error"]["code"].as_str().unwrap().to_string();
            if user == ADMIN {
                assert_eq!(code, "IMMUTABLE", "{request}");
            } else {
                assert!(["IMMUTABLE", "PERMISSION_DENIED"].contains(&code.as_str()));
            }
        }
    }
    let script = store.dir.path().join("tamper.rhai");
    std::fs::write(
        &script,
        r#"[run(#{operation: "delete", from: "Audit Trail", input: #{where: #{}}}).error.code,
            run(#{operation: "update", "in": "Audit Trail", input: #{name: "1", data: #{action: "x"}}}).error.code]"#,
    )
    .unwrap();
    let output = cli(&store.path)
        .args(["--as", ADMIN, "script"])
        .arg(&script)
        .output()
        .unwrap();
    assert_eq!(
        exit(&output),
        0,
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(stdout_json(&output), json!(["IMMUTABLE", "IMMUTABLE"]));
    let engine = store.open();
    unchanged(&engine.with_owner(ADMIN), &before, "CLI");
}

// --- the hash chain -----------------------------------------------------------------------

#[test]
fn entries_are_hash_chained_and_verify_walks_the_chain() {
    let engine = engine();
    let report = engine.verify_audit().unwrap();
    assert_eq!(report.entries, 0);
    assert_eq!(report.broken, None);
    for i in 0..5 {
        ok(
            &engine,
            json!({"operation": "create", "into": "Note", "input": {"data": {"name": format!("n{i}")}}}),
        );
    }
    ok(
        &engine,
        json!({"operation": "update", "in": "Note", "input": {"where": {}, "data": {"x": 1}}}),
    );
    let all = all_entries(&engine);
    assert_eq!(all.len(), 10);
    let mut prev = "0".repeat(64);
    for (i, entry) in all.iter().enumerate() {
        assert_eq!(entry["seq"], json!(i as u64 + 1));
        assert_eq!(entry["name"], json!((i + 1).to_string()));
        assert_eq!(entry["prevHash"], json!(prev), "entry {}", i + 1);
        let hash = entry["hash"].as_str().expect("a hash").to_string();
        assert_eq!(hash.len(), 64);
        assert!(hash.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(hash, prev);
        // The hash is SHA-256 of the previous hash then the entry's JSON without `hash`.
        let mut unhashed = entry.as_object().unwrap().clone();
        unhashed.remove("hash");
        let digest = Sha256::new()
            .chain_update(prev.as_bytes())
            .chain_update(serde_json::to_vec(&unhashed).unwrap())
            .finalize();
        let expected: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hash, expected, "entry {}", i + 1);
        prev = hash;
    }
    let report = engine.verify_audit().unwrap();
    assert_eq!(report.entries, 10);
    assert_eq!(report.broken, None);
}

/// `coworker audit verify` on `db`: exit code and report.
fn cli_verify(db: &Path) -> (i32, Value) {
    let output = cli(db).args(["audit", "verify"]).output().unwrap();
    (exit(&output), stdout_json(&output))
}

/// A store file with seven entries (six creates, then an update of x4); returns the
/// entries.
fn tamperable_store(store: &TempStore) -> Vec<Value> {
    let engine = store.open();
    for i in 0..6 {
        ok(
            &engine,
            json!({"operation": "create", "into": "Note", "input": {"data": {"name": format!("x{i}"), "i": i}}}),
        );
    }
    ok(
        &engine,
        json!({"operation": "update", "in": "Note", "input": {"name": "x4", "data": {"i": 40}}}),
    );
    assert_eq!(engine.verify_audit().unwrap().broken, None);
    all_entries(&engine)
}

/// Behind the engine's back: set the byte at `offset` of every occurrence of `needle` in
/// the store file (old copies of a page included) to `byte`. Returns how many were changed.
fn flip(path: &Path, needle: &[u8], offset: usize, byte: u8) -> usize {
    let mut bytes = std::fs::read(path).unwrap();
    let mut flipped = 0;
    let mut at = 0;
    while let Some(i) = bytes[at..]
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|i| i + at)
    {
        bytes[i + offset] = byte;
        flipped += 1;
        at = i + needle.len();
    }
    std::fs::write(path, &bytes).unwrap();
    flipped
}

/// After tampering: `coworker audit verify` exits 1 naming the entry `seq` (or an earlier
/// one, if the store's own checksums refuse the page) and a reason; the library agrees.
fn assert_broken_at(store: &TempStore, seq: u64) {
    let (code, report) = cli_verify(&store.path);
    assert_eq!(code, 1, "{report}");
    let broken = &report["broken"];
    let reason = broken["reason"].as_str().expect("a reason");
    assert!(!reason.is_empty());
    if reason.contains("cannot read") {
        assert!(broken["seq"].as_u64().unwrap() <= seq, "{report}");
    } else {
        assert_eq!(broken["seq"], json!(seq), "{report}");
    }
    let engine = Engine::open(&store.path).expect("the store still opens");
    let report = engine.verify_audit().unwrap();
    let link = report.broken.expect("a broken link");
    assert_eq!(json!(link.seq), broken["seq"]);
    assert_eq!(link.reason, reason);
}

#[test]
fn a_byte_flipped_in_the_store_file_breaks_the_chain() {
    let store = TempStore::new();
    let history = tamperable_store(&store);
    let (code, report) = cli_verify(&store.path);
    assert_eq!(code, 0, "{report}");
    assert_eq!(report, json!({"entries": 7, "broken": null}));
    let target = history
        .iter()
        .find(|e| e["refName"] == json!("x1"))
        .unwrap();
    // One character of the entry's content: `"refName":"x1"` becomes `"refName":"x9"`.
    let needle = br#""refName":"x1""#;
    assert!(flip(&store.path, needle, needle.len() - 2, b'9') >= 1);
    assert_broken_at(&store, target["seq"].as_u64().unwrap());
}

#[test]
fn an_entry_made_unreadable_in_the_file_breaks_the_chain() {
    let store = TempStore::new();
    let history = tamperable_store(&store);
    let update = history.last().unwrap();
    assert_eq!(update["action"], json!("update"));
    // `"action":"update"` becomes `"action";"update"`: no longer JSON.
    let needle = br#""action":"update""#;
    assert!(flip(&store.path, needle, 8, b';') >= 1);
    assert_broken_at(&store, update["seq"].as_u64().unwrap());
}

#[test]
fn a_forged_hash_in_the_file_breaks_the_chain() {
    let store = TempStore::new();
    let history = tamperable_store(&store);
    let third = &history[2];
    let hash = third["hash"].as_str().unwrap();
    // The first character of entry 3's own hash (it also appears as entry 4's prevHash).
    let needle = format!(r#""hash":"{hash}""#);
    let replacement = if hash.starts_with('0') { b'1' } else { b'0' };
    assert!(flip(&store.path, needle.as_bytes(), 8, replacement) >= 1);
    assert_broken_at(&store, 3);
}

#[test]
fn the_cli_verify_reports_an_empty_and_a_healthy_trail() {
    let store = TempStore::new();
    drop(store.open());
    let (code, report) = cli_verify(&store.path);
    assert_eq!((code, report), (0, json!({"entries": 0, "broken": null})));
    {
        let engine = store.open();
        let admin = acl_store(&engine);
        fails(
            &engine,
            json!({"operation": "select", "from": "Memo", "owner": "clerk"}),
            "PERMISSION_DENIED",
        );
        assert_eq!(admin.verify_audit().unwrap().broken, None);
    }
    // Verifying needs no user, even with access control on.
    let (code, report) = cli_verify(&store.path);
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["broken"], Value::Null);
    let engine = store.open();
    let total = all_entries(&engine.with_owner(ADMIN)).len();
    assert_eq!(report["entries"], json!(total));
}

// --- reading the trail --------------------------------------------------------------------

fn notes_history(engine: &Engine) {
    for (owner, request) in [
        (
            "alice",
            json!({"operation": "create", "into": "Note", "input": {"data": [{"name": "n1"}, {"name": "n2"}]}}),
        ),
        (
            "alice",
            json!({"operation": "update", "in": "Note", "input": {"name": "n1", "data": {"v": 1}}}),
        ),
        (
            "bob",
            json!({"operation": "update", "in": "Note", "input": {"name": "n1", "data": {"v": 2}}}),
        ),
        (
            "bob",
            json!({"operation": "update", "in": "Note", "input": {"name": "n2", "data": {"v": 3}}}),
        ),
        (
            "alice",
            json!({"operation": "delete", "from": "Note", "input": {"name": "n1"}}),
        ),
        (
            "bob",
            json!({"operation": "create", "into": "Task", "input": {"data": {"name": "t1"}}}),
        ),
    ] {
        let mut request = request;
        request["owner"] = json!(owner);
        ok(engine, request);
    }
}

#[test]
fn select_on_the_audit_trail_filters_orders_and_pages() {
    let engine = engine();
    notes_history(&engine);
    let select = |input: Value| {
        ok(
            &engine,
            json!({"operation": "select", "from": "Audit Trail", "input": input}),
        )
    };
    let updates = select(json!({"where": {"refDoctype": "Note", "action": "update"},
                                "orderBy": {"seq": "desc"}, "take": 2}));
    let got: Vec<(Value, Value)> = updates
        .data()
        .iter()
        .map(|e| (e["refName"].clone(), e["diff"]["v"]["to"].clone()))
        .collect();
    assert_eq!(got, [(json!("n2"), json!(3)), (json!("n1"), json!(2))]);
    let skipped = select(json!({"where": {"refDoctype": "Note", "action": "update"},
                                "orderBy": {"seq": "desc"}, "skip": 2}));
    assert_eq!(skipped.data().len(), 1);
    assert_eq!(skipped.data()[0]["diff"]["v"]["to"], json!(1));
    let by_bob = select(
        json!({"where": {"owner": "bob", "refName": {"in": ["n1", "t1"]}},
                               "select": ["seq", "action", "refName"], "orderBy": {"seq": "asc"}}),
    );
    assert_eq!(
        by_bob.data().to_vec(),
        [
            json!({"seq": 4, "action": "update", "refName": "n1"}),
            json!({"seq": 7, "action": "create", "refName": "t1"}),
        ]
    );
    let recent = select(json!({"where": {"seq": {"gt": 5}}, "orderBy": {"seq": "asc"}}));
    let seqs: Vec<&Value> = recent.data().iter().map(|e| &e["seq"]).collect();
    assert_eq!(seqs, [&json!(6), &json!(7)]);
    // By name (its seq), like any document.
    let third = select(json!({"where": {"name": "3"}}));
    assert_eq!(third.data()[0]["seq"], json!(3));
    assert_eq!(select(json!({})).output["meta"]["count"], json!(7));
}

#[test]
fn reading_the_trail_takes_read_permission() {
    let engine = engine();
    let admin = acl_store(&engine);
    ok(
        &engine,
        json!({"operation": "create", "into": "Invoice", "owner": "clerk", "input": {"data": {"name": "I-1"}}}),
    );
    let total = engine.verify_audit().unwrap().entries as usize;
    let everything = all_entries(&admin);
    assert_eq!(everything.len(), total, "the superuser reads every entry");
    for user in ["clerk", "nobody"] {
        let run = fails(
            &engine,
            json!({"operation": "select", "from": "Audit Trail", "owner": user,
                   "input": {"where": {"owner": user}}}),
            "PERMISSION_DENIED",
        );
        assert!(run.output.is_null() || run.data().is_empty());
        // The attempt is itself audited.
        let entry = one(&admin, json!({"runId": run.id}));
        assert_eq!(entry["action"], json!("denied"));
        assert_eq!(entry["refDoctype"], json!("Audit Trail"));
        // Not through a script either.
        let run = fails(
            &engine,
            json!({"operation": "as_caller", "owner": user,
                   "input": {"req": {"operation": "select", "from": "Audit Trail"}}}),
            "PERMISSION_DENIED",
        );
        assert!(run.output.is_null(), "{}", run.output);
    }
}

#[test]
fn the_cli_lists_entries_by_doctype_name_and_owner() {
    let store = TempStore::new();
    {
        let engine = store.open();
        notes_history(&engine);
    }
    let list = |args: &[&str]| -> Vec<(String, String, String)> {
        let output = cli(&store.path)
            .args(["audit", "list"])
            .args(args)
            .output()
            .unwrap();
        assert_eq!(
            exit(&output),
            0,
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        stdout_json(&output)
            .as_array()
            .expect("a JSON array")
            .iter()
            .map(|e| {
                let text = |k: &str| e[k].as_str().unwrap_or_default().to_string();
                (text("action"), text("refName"), text("owner"))
            })
            .collect()
    };
    let t = |a: &str, n: &str, o: &str| (a.to_string(), n.to_string(), o.to_string());
    assert_eq!(
        list(&["--doctype", "Note", "--name", "n1"]),
        [
            t("create", "n1", "alice"),
            t("update", "n1", "alice"),
            t("update", "n1", "bob"),
            t("delete", "n1", "alice")
        ]
    );
    assert_eq!(
        list(&["--doctype", "Note", "--name", "n1", "--owner", "bob"]),
        [t("update", "n1", "bob")]
    );
    assert_eq!(
        list(&["--owner", "bob"]),
        [
            t("update", "n1", "bob"),
            t("update", "n2", "bob"),
            t("create", "t1", "bob")
        ]
    );
    assert_eq!(
        list(&["--doctype", "Note", "--limit", "2"]),
        [t("update", "n2", "bob"), t("delete", "n1", "alice")],
        "the newest N, oldest first"
    );
    assert_eq!(list(&["--doctype", "Task"]), [t("create", "t1", "bob")]);
    assert!(list(&["--name", "nothing"]).is_empty());
    assert_eq!(list(&[]).len(), 7);

    // With access control on, the superuser may list, a plain user may not.
    {
        let engine = store.open();
        acl_store(&engine);
    }
    let output = cli(&store.path)
        .args(["--as", "clerk", "audit", "list"])
        .output()
        .unwrap();
    assert_ne!(exit(&output), 0);
    assert!(String::from_utf8_lossy(&output.stderr).contains("PERMISSION_DENIED"));
    assert!(
        output.stdout.is_empty() || !String::from_utf8_lossy(&output.stdout).contains("refName")
    );
    let output = cli(&store.path)
        .args([
            "--as",
            ADMIN,
            "audit",
            "list",
            "--doctype",
            "Note",
            "--name",
            "n2",
        ])
        .output()
        .unwrap();
    assert_eq!(exit(&output), 0);
    assert_eq!(stdout_json(&output).as_array().unwrap().len(), 2);
}

// --- run records --------------------------------------------------------------------------

#[test]
fn run_records_are_never_modified_once_completed() {
    let store = TempStore::new();
    let engine = store.open();
    save_op(
        &engine,
        "nested",
        r#"run(#{operation: "create", into: "Note", input: #{data: #{name: "s1"}}});
           run(#{operation: "select", from: "Note"}).output.meta.count"#,
    );
    let mut runs = vec![
        engine.run(
            RunRequest::new("create")
                .into_doctype("Note")
                .input(json!({"data": {"name": "n1", "v": 1}})),
        ),
        engine.run(RunRequest::new("select").from("Note")),
        engine.run(
            RunRequest::new("update")
                .in_doctype("Note")
                .input(json!({"name": "missing", "data": {}})),
        ),
        engine.run(RunRequest::new("nested").owner("alice")),
        engine.run_value(json!({"operation": "workflow", "input": {"children": [
            {"id": "a", "operation": "update", "in": "Note", "input": {"name": "n1", "data": {"v": 2}}}]}})),
    ];
    let children: Vec<String> = runs.iter().flat_map(|r| r.child_run_ids.clone()).collect();
    assert_eq!(children.len(), 3);
    for id in children {
        runs.push(stored(&engine, &id));
    }
    let records: Vec<Run> = runs.iter().map(|r| stored(&engine, &r.id)).collect();
    // Later runs touch the same documents, fail, nest, and time passes.
    for i in 0..5 {
        engine.run(
            RunRequest::new("update")
                .in_doctype("Note")
                .input(json!({"where": {}, "data": {"v": 10 + i}})),
        );
        engine.run(RunRequest::new("nested").owner("bob"));
        engine.run(RunRequest::new("select").from("Note"));
    }
    engine.run(
        RunRequest::new("delete")
            .from("Note")
            .input(json!({"where": {}})),
    );
    engine.flush().unwrap();
    for record in &records {
        assert_eq!(
            &stored(&engine, &record.id),
            record,
            "run {} changed",
            record.id
        );
    }
    drop(engine);
    let engine = store.open();
    for record in &records {
        assert_eq!(
            &stored(&engine, &record.id),
            record,
            "run {} changed on disk",
            record.id
        );
    }
}

#[test]
fn concurrent_runs_keep_one_unbroken_chain() {
    let engine = engine();
    let admin = acl_store(&engine);
    let imported = admin.import_schemas(vec![json!({"name": "Task", "fields": [
        {"fieldname": "title", "fieldtype": "Data", "reqd": 1}],
        "permissions": [{"role": "Accounts User", "read": 1, "create": 1}]})]);
    assert!(imported.success, "{:?}", imported.error);
    let before = engine.verify_audit().unwrap().entries;
    let mut requests = Vec::new();
    for i in 0..40 {
        let request = match i % 5 {
            // a change: one `create` entry
            0 => RunRequest::new("create")
                .into_doctype("Invoice")
                .input(json!({"data": {"name": format!("I-{i}")}})),
            // a validation failure: one `invalid` entry
            1 => RunRequest::new("create")
                .into_doctype("Task")
                .input(json!({"data": {"name": format!("T-{i}")}})),
            // a denied write and a denied read: one `denied` entry each
            2 => RunRequest::new("delete")
                .from("Invoice")
                .input(json!({"where": {}})),
            3 => RunRequest::new("select").from("Memo"),
            // a read: nothing
            _ => RunRequest::new("select").from("Invoice"),
        };
        requests.push(request.owner("clerk"));
    }
    let runs = engine.run_parallel(requests);
    for (i, run) in runs.iter().enumerate() {
        assert_eq!(
            run.success,
            i % 5 == 0 || i % 5 == 4,
            "run {i}: {:?}",
            run.error
        );
    }
    let report = engine.verify_audit().unwrap();
    assert_eq!(report.broken, None);
    assert_eq!(report.entries, before + 8 * 4);
    let all = all_entries(&admin);
    let seqs: Vec<u64> = all.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, (1..=all.len() as u64).collect::<Vec<_>>());
    for (i, run) in runs.iter().enumerate() {
        let by_run = entries(&admin, json!({"runId": run.id}));
        let wanted = match i % 5 {
            0 => vec!["create"],
            1 => vec!["invalid"],
            2 | 3 => vec!["denied"],
            _ => vec![],
        };
        let actions: Vec<&str> = by_run
            .iter()
            .map(|e| e["action"].as_str().unwrap())
            .collect();
        assert_eq!(actions, wanted, "run {i}");
    }
}

#[test]
fn a_failed_nested_run_inside_a_successful_script_leaves_only_its_failure_entry() {
    let engine = engine();
    let imported = engine.import_schemas(vec![json!({"name": "Task", "fields": [
        {"fieldname": "title", "fieldtype": "Data", "reqd": 1}]})]);
    assert!(imported.success);
    save_op(
        &engine,
        "partly",
        r#"let bad = run(#{operation: "create", into: "Task", input: #{data: [
               #{name: "a", title: "fine"}, #{name: "c"}]}});
           let good = run(#{operation: "create", into: "Task", input: #{data: #{name: "b", title: "ok"}}});
           [bad.success, good.success]"#,
    );
    let before = engine.verify_audit().unwrap().entries;
    let run = engine.run(RunRequest::new("partly").owner("alice"));
    assert_eq!(run.output, json!([false, true]), "{:?}", run.error);
    assert_eq!(
        names(&engine.run(RunRequest::new("select").from("Task"))),
        ["b"]
    );
    let new: Vec<Value> = all_entries(&engine)
        .into_iter()
        .skip(before as usize)
        .collect();
    let got: Vec<(Value, Value, Value)> = new
        .iter()
        .map(|e| {
            (
                e["action"].clone(),
                e["refName"].clone(),
                e["runId"].clone(),
            )
        })
        .collect();
    let mut wanted = vec![
        (json!("create"), json!("b"), json!(run.child_run_ids[1])),
        (json!("invalid"), Value::Null, json!(run.child_run_ids[0])),
    ];
    wanted.sort_by_key(|w| w.0.to_string());
    let mut sorted = got.clone();
    sorted.sort_by_key(|w| w.0.to_string());
    assert_eq!(sorted, wanted, "{new:#?}");
    assert_eq!(engine.verify_audit().unwrap().broken, None);
}

#[test]
fn a_trail_cut_short_behind_the_engines_back_is_detected() {
    let store = TempStore::new();
    {
        let engine = store.open();
        for i in 0..3 {
            ok(
                &engine,
                json!({"operation": "create", "into": "Note", "input": {"data": {"name": format!("n{i}")}}}),
            );
        }
        assert!(engine.verify_audit().unwrap().broken.is_none());
    }
    // A tamperer with redb itself removes the newest entry: every remaining link still
    // checks out, but the trail no longer ends where its head says.
    {
        use redb::ReadableTable;
        const AUDIT: redb::TableDefinition<u64, &[u8]> = redb::TableDefinition::new("audit");
        let db = redb::Database::open(&store.path).unwrap();
        let txn = db.begin_write().unwrap();
        {
            let mut table = txn.open_table(AUDIT).unwrap();
            let last = table.last().unwrap().map(|(k, _)| k.value()).unwrap();
            table.remove(last).unwrap();
        }
        txn.commit().unwrap();
    }
    let report = store.open().verify_audit().unwrap();
    let broken = report.broken.expect("the removal is detected");
    assert_eq!(broken.seq, 3, "{broken:?}");
    assert!(broken.reason.contains("removed"), "{}", broken.reason);
}
