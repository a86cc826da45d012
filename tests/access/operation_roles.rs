//! Operations' roles, the superuser and nested identity: an Operation's `roles` decide who may
//! run it, installing a pack is the superuser's alone, nested runs act for the caller.

use super::*;

fn write_pack(dir: &Path, name: &str, op: &str) {
    std::fs::create_dir_all(dir.join("operations")).unwrap();
    std::fs::write(
        dir.join("pack.json"),
        json!({"name": name, "version": "1.0.0"}).to_string(),
    )
    .unwrap();
    std::fs::write(
        dir.join("operations").join(format!("{op}.json")),
        json!({"name": op}).to_string(),
    )
    .unwrap();
    std::fs::write(dir.join("operations").join(format!("{op}.rhai")), "42").unwrap();
}

#[test]
fn an_operations_roles_decide_who_may_run_it() {
    let engine = setup();
    admin_ok(
        &engine,
        json!({"operation": "create", "into": "Operation", "input": {"data": {
            "name": "approve", "roles": ["Accounts Manager"], "handlerCode": "\"approved\""}}}),
    );
    admin_ok(
        &engine,
        json!({"operation": "create", "into": "Operation", "input": {"data": {
            "name": "hello", "handlerCode": "\"hi\""}}}),
    );
    for user in ["manager", ADMIN] {
        let run = ok(&engine, json!({"operation": "approve", "owner": user}));
        assert_eq!(run.output, json!("approved"), "{user}");
    }
    for user in ["clerk", "sales", "nobody"] {
        let run = fails(
            &engine,
            json!({"operation": "approve", "owner": user}),
            "PERMISSION_DENIED",
        );
        assert!(message(&run).contains("approve"), "{}", message(&run));
        let entries = audit(&engine, json!({"runId": run.id}));
        assert_eq!(entries.len(), 1, "{user}");
        assert_eq!(entries[0]["action"], json!("denied"));
        // An agent on the manager's behalf may; on the clerk's behalf may not.
        let mut request = json!({"operation": "approve", "owner": user, "agent": "manager"});
        assert_eq!(
            code(&engine.run_value(request.clone())),
            "PERMISSION_DENIED"
        );
        request["owner"] = json!("manager");
        request["agent"] = json!(user);
        assert!(engine.run_value(request).success);
    }
    // Through a workflow step and a script: the same.
    let step = |user: &str| {
        engine.run_value(json!({"operation": "workflow", "owner": user,
            "input": {"children": [{"id": "a", "operation": "approve"}]}}))
    };
    assert!(step("manager").success);
    assert_eq!(code(&step("clerk")), "PERMISSION_DENIED");
    let scripted = |user: &str| {
        engine.run_value(json!({"operation": "as_owner", "owner": user,
            "input": {"req": {"operation": "approve"}}}))
    };
    assert_eq!(scripted("manager").output, json!("approved"));
    assert_eq!(code(&scripted("clerk")), "PERMISSION_DENIED");
    // Without roles: open to every user.
    assert_eq!(
        ok(&engine, json!({"operation": "hello", "owner": "nobody"})).output,
        json!("hi")
    );
    // Only the superuser may write Operations (no permission rows on the Operation schema).
    fails(
        &engine,
        json!({"operation": "create", "into": "Operation", "owner": "manager",
               "input": {"data": {"name": "mine", "handlerCode": "1"}}}),
        "PERMISSION_DENIED",
    );
    fails(
        &engine,
        json!({"operation": "update", "in": "Operation", "owner": "manager",
               "input": {"name": "approve", "data": {"roles": []}}}),
        "PERMISSION_DENIED",
    );
}

#[test]
fn installing_a_pack_is_the_superusers_alone() {
    let engine = setup();
    let dir = tempfile::tempdir().unwrap();
    write_pack(dir.path(), "tiny", "tiny_answer");
    for user in ["manager", "clerk", "nobody"] {
        let run = engine.with_owner(user).install_pack(dir.path());
        assert_eq!(code(&run), "PERMISSION_DENIED", "{user}: {:?}", run.error);
        assert!(message(&run).contains("install_pack"), "{}", message(&run));
    }
    fails(
        &engine,
        json!({"operation": "tiny_answer", "owner": ADMIN}),
        "UNKNOWN_OPERATION",
    );
    assert!(docs(&engine, "Pack").is_empty());
    let run = engine.with_owner(ADMIN).install_pack(dir.path());
    assert!(run.success, "{:?}", run.error);
    let answer = ok(
        &engine,
        json!({"operation": "tiny_answer", "owner": "nobody"}),
    );
    assert_eq!(answer.output, json!(42));
}

#[test]
fn nested_runs_act_for_the_caller_whoever_wrote_the_script() {
    let engine = setup();
    admin_ok(
        &engine,
        json!({"operation": "create", "into": "Memo", "input": {"data": {"name": "secret", "amount": 1}}}),
    );
    // The superuser writes a script that tries to act for the superuser.
    admin_ok(
        &engine,
        json!({"operation": "create", "into": "Operation", "input": {"data": {"name": "peek",
            "handlerCode": r#"
                let read = run(#{operation: "select", from: "Memo", owner: "Administrator", agent: "Administrator"});
                let write = run(#{operation: "create", into: "Memo", owner: "Administrator", input: #{data: #{name: "planted"}}});
                #{read: read.success, write: write.success,
                  codes: [if read.success { "" } else { read.error.code }, if write.success { "" } else { write.error.code }],
                  seen: if read.success { read.output.data.len() } else { 0 }}
            "#}}}),
    );
    let run = ok(
        &engine,
        json!({"operation": "peek", "owner": "clerk", "agent": "planner-1"}),
    );
    assert_eq!(run.output["read"], json!(false), "{}", run.output);
    assert_eq!(run.output["write"], json!(false), "{}", run.output);
    assert_eq!(
        run.output["codes"],
        json!(["PERMISSION_DENIED", "PERMISSION_DENIED"])
    );
    assert_eq!(run.output["seen"], json!(0));
    assert_eq!(run.child_run_ids.len(), 2);
    for id in &run.child_run_ids {
        let child = stored(&engine, id);
        assert_eq!(child.owner.as_deref(), Some("clerk"), "child {id}");
        assert_eq!(child.agent.as_deref(), Some("planner-1"), "child {id}");
        assert_eq!(child.parent_run_id.as_deref(), Some(run.id.as_str()));
    }
    assert!(doc(&engine, "Memo", "planted").is_none());
    // The superuser running the same script may do both.
    let run = ok(&engine, json!({"operation": "peek", "owner": ADMIN}));
    assert_eq!(run.output["read"], json!(true));
    assert_eq!(run.output["write"], json!(true));
    assert!(doc(&engine, "Memo", "planted").is_some());

    // A workflow step naming another owner still acts for the caller.
    let run = fails(
        &engine,
        json!({"operation": "workflow", "owner": "clerk", "input": {"children": [
            {"id": "s", "operation": "select", "from": "Memo", "owner": ADMIN, "agent": ADMIN}]}}),
        "PERMISSION_DENIED",
    );
    let step = stored(&engine, &run.child_run_ids[0]);
    assert_eq!(step.owner.as_deref(), Some("clerk"));
    assert_eq!(code(&step), "PERMISSION_DENIED");
    // A saved template written by the superuser, run by the clerk: the clerk's rights.
    admin_ok(
        &engine,
        json!({"operation": "create", "into": "Workflow Template", "input": {"data": {
            "name": "Wipe Memos", "children": [
                {"id": "wipe", "operation": "delete", "from": "Memo", "input": {"where": {}}}]}}}),
    );
    fails(
        &engine,
        json!({"operation": "workflow", "template": "Wipe Memos", "owner": "clerk"}),
        "PERMISSION_DENIED",
    );
    assert_eq!(docs(&engine, "Memo").len(), 2);
    // Nested twice (a workflow step running the script): still the clerk.
    let run = ok(
        &engine,
        json!({"operation": "workflow", "owner": "clerk", "input": {"children": [
            {"id": "p", "operation": "peek"}]}}),
    );
    assert_eq!(run.output["steps"][0]["output"]["read"], json!(false));
    let step = stored(&engine, &run.child_run_ids[0]);
    assert_eq!(step.child_run_ids.len(), 2, "the script's two nested runs");
    for id in &step.child_run_ids {
        assert_eq!(stored(&engine, id).owner.as_deref(), Some("clerk"));
    }
    assert_eq!(docs(&engine, "Memo").len(), 2);
}

#[test]
fn the_superuser_role_is_configurable() {
    let engine = engine();
    engine.enable_acl("root", Some("Root")).unwrap();
    assert!(engine.acl_enabled().unwrap());
    let user = ok(
        &engine,
        json!({"operation": "select", "from": "User", "owner": "root", "input": {"where": {"name": "root"}}}),
    );
    assert_eq!(user.data()[0]["roles"], json!(["Root"]));
    let root = engine.with_owner("root");
    let imported = root.import_schemas(schemas());
    assert!(imported.success, "{:?}", imported.error);
    ok(
        &engine,
        json!({"operation": "create", "into": "User", "owner": "root", "input": {"data": {
            "name": "old-admin", "roles": ["Administrator"]}}}),
    );
    // `Administrator` is just a role now; `Root` may do anything.
    fails(
        &engine,
        json!({"operation": "create", "into": "Memo", "owner": "old-admin", "input": {"data": {"amount": 1}}}),
        "PERMISSION_DENIED",
    );
    fails(
        &engine,
        json!({"operation": "select", "from": "Scratch", "owner": "old-admin"}),
        "PERMISSION_DENIED",
    );
    for doctype in DOCTYPES {
        ok(
            &engine,
            json!({"operation": "create", "into": doctype, "owner": "root",
                   "input": {"data": {"name": "r", "amount": 1}}}),
        );
        ok(
            &engine,
            json!({"operation": "delete", "from": doctype, "owner": "root", "input": {"name": "r"}}),
        );
    }
    // Turning access control off takes the superuser.
    assert!(engine.disable_acl("old-admin").is_err());
    assert!(engine.acl_enabled().unwrap());
    engine.disable_acl("root").unwrap();
    assert!(!engine.acl_enabled().unwrap());
}
