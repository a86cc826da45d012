//! What is recorded: every change through the API, scripts and workflows is audited under its own
//! run with owner, agent and diff; entries commit with their change; denials leave an entry.

use super::*;

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
