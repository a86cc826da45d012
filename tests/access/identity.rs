//! Identity: an agent has exactly its owner's rights; with access control off no owner is needed.

use super::*;

#[test]
fn an_agent_has_exactly_its_owners_rights() {
    let engine = setup();
    admin_ok(
        &engine,
        json!({"operation": "create", "into": "Invoice", "input": {"data": {"name": "I-1", "amount": 1}}}),
    );
    let as_agent = |owner: &str, agent: &str, request: Value| {
        let mut request = owned(request, owner);
        request["agent"] = json!(agent);
        engine.run_value(request)
    };
    let create = |name: &str| json!({"operation": "create", "into": "Invoice", "input": {"data": {"name": name}}});
    let update = json!({"operation": "update", "in": "Invoice",
                        "input": {"name": "I-1", "data": {"amount": 5}}});
    // clerk may create, not update: the agent planner-1 the same.
    let created = as_agent("clerk", "planner-1", create("I-agent"));
    assert!(created.success, "{:?}", created.error);
    assert_eq!(created.owner.as_deref(), Some("clerk"));
    assert_eq!(created.agent.as_deref(), Some("planner-1"));
    let made = doc(&engine, "Invoice", "I-agent").expect("created");
    assert_eq!(made["owner"], json!("clerk"));
    let entry = audit(&engine, json!({"runId": created.id}));
    assert_eq!(entry.len(), 1);
    assert_eq!(entry[0]["agent"], json!("planner-1"));
    assert_eq!(entry[0]["owner"], json!("clerk"));
    let alone = engine.run_value(owned(update.clone(), "clerk"));
    assert_eq!(code(&alone), "PERMISSION_DENIED");
    let with_agent = as_agent("clerk", "planner-1", update.clone());
    assert_eq!(code(&with_agent), "PERMISSION_DENIED");
    // An agent that happens to be a powerful user lends no rights.
    for agent in ["manager", ADMIN] {
        let run = as_agent("clerk", agent, update.clone());
        assert_eq!(code(&run), "PERMISSION_DENIED", "agent {agent}");
    }
    assert_eq!(doc(&engine, "Invoice", "I-1").unwrap()["amount"], json!(1));
    // An agent that is no user takes nothing away either.
    let run = as_agent("manager", "ghost-agent", update.clone());
    assert!(run.success, "{:?}", run.error);
    assert_eq!(doc(&engine, "Invoice", "I-1").unwrap()["amount"], json!(5));
    // An owner that is not a User is denied, whatever the agent.
    for agent in ["planner-1", ADMIN] {
        let run = as_agent("ghost", agent, create("I-ghost"));
        assert_eq!(code(&run), "PERMISSION_DENIED", "agent {agent}");
        assert!(message(&run).contains("ghost"), "{}", message(&run));
    }
    // No owner at all is denied once access control is on (an agent alone is not enough).
    let mut anonymous = create("I-anon");
    anonymous["agent"] = json!(ADMIN);
    let run = engine.run_value(anonymous);
    assert_eq!(code(&run), "PERMISSION_DENIED");
    assert!(message(&run).contains("owner"), "{}", message(&run));
    let run = engine.run(RunRequest::new("select").from("Invoice"));
    assert_eq!(code(&run), "PERMISSION_DENIED");
    assert!(doc(&engine, "Invoice", "I-ghost").is_none());
    assert!(doc(&engine, "Invoice", "I-anon").is_none());
    // A disabled user is denied.
    admin_ok(
        &engine,
        json!({"operation": "update", "in": "User", "input": {"name": "manager", "data": {"enabled": 0}}}),
    );
    let run = as_agent("manager", "planner-1", update);
    assert_eq!(code(&run), "PERMISSION_DENIED");
}

#[test]
fn with_access_control_off_no_owner_is_needed() {
    let engine = engine();
    assert!(!engine.acl_enabled().unwrap());
    let imported = engine.import_schemas(schemas());
    assert!(imported.success, "{:?}", imported.error);
    // Memo has no permission rows, nobody is a User: still everything works.
    for doctype in DOCTYPES {
        ok(
            &engine,
            json!({"operation": "create", "into": doctype, "input": {"data": {"name": "x", "amount": 1}}}),
        );
        ok(
            &engine,
            json!({"operation": "update", "in": doctype, "owner": "ghost",
                   "input": {"name": "x", "data": {"amount": 2}}}),
        );
        assert_eq!(count(&engine, doctype), 1);
        ok(
            &engine,
            json!({"operation": "delete", "from": doctype, "input": {"name": "x"}}),
        );
    }
    // On, then off again: back to the single local user.
    engine.enable_acl(ADMIN, None).unwrap();
    assert!(engine.acl_enabled().unwrap());
    fails(
        &engine,
        json!({"operation": "select", "from": "Memo"}),
        "PERMISSION_DENIED",
    );
    engine.disable_acl(ADMIN).unwrap();
    assert!(!engine.acl_enabled().unwrap());
    ok(
        &engine,
        json!({"operation": "create", "into": "Memo", "input": {"data": {"amount": 3}}}),
    );
}
