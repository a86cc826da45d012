//! Append-only: no run, script or workflow can change or delete an entry; a correction is a new
//! entry referencing the corrected one.

use super::*;

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
