//! Nested runs: they inherit identity and chain; a failed top-level run leaves no writes but every
//! record; a failed nested run inside a successful one keeps its siblings' writes.

use super::*;

const MAKE_NOTES: &str = r#"
let a = run(#{operation: "create", into: "Note", input: #{data: #{title: "a"}}});
let b = run(#{operation: "create", into: "Note", input: #{data: #{title: "b"}}});
[a.id, b.id, a.parentRunId, a.owner]
"#;

#[test]
fn nested_runs_inherit_identity_and_chain() {
    let engine = engine();
    op(&engine, "make_notes", MAKE_NOTES);
    op(
        &engine,
        "outer",
        r#"let child = run(#{operation: "make_notes", owner: "mallory", agent: "rogue", flowId: "other"});
           child.id"#,
    );
    let top = ok(
        &engine,
        json!({"operation": "outer", "owner": "alice", "agent": "planner-1",
               "flowType": "ai-conversation", "flowId": "flow-1", "stepId": "turn-1"}),
    );
    let middle_id = top.output.as_str().expect("the child's id").to_string();
    assert_eq!(top.child_run_ids, std::slice::from_ref(&middle_id));
    let middle = stored(&engine, &middle_id);
    assert_eq!(middle.status, RunStatus::Completed);
    assert_eq!(middle.parent_run_id.as_deref(), Some(top.id.as_str()));
    assert_eq!(middle.child_run_ids.len(), 2);
    // The middle run's own output names its children and what they saw.
    assert_eq!(
        middle.output,
        json!([
            middle.child_run_ids[0],
            middle.child_run_ids[1],
            middle_id,
            "alice"
        ])
    );
    for run in std::iter::once(&middle).chain(
        middle
            .child_run_ids
            .iter()
            .map(|id| stored(&engine, id))
            .collect::<Vec<_>>()
            .iter(),
    ) {
        assert_eq!(run.chain_id, top.id, "{}", run.id);
        assert_eq!(run.owner.as_deref(), Some("alice"), "{}", run.id);
        assert_eq!(run.agent.as_deref(), Some("planner-1"), "{}", run.id);
        assert_eq!(run.flow_type.as_deref(), Some("ai-conversation"));
        assert_eq!(run.flow_id.as_deref(), Some("flow-1"));
    }
    for id in &middle.child_run_ids {
        let child = stored(&engine, id);
        assert_eq!(child.parent_run_id.as_deref(), Some(middle_id.as_str()));
        assert_eq!(child.operation.as_deref(), Some("create"));
        assert_eq!(child.status, RunStatus::Completed);
        // The documents carry the nested run that made them and the inherited owner.
        let doc = &child.data()[0];
        assert_eq!(doc["createdByRun"], json!(child.id));
        assert_eq!(doc["owner"], json!("alice"));
    }
    assert_eq!(count(&engine, "Note"), 2);
}

#[test]
fn a_failed_top_level_run_leaves_no_writes_but_every_record() {
    let engine = engine();
    customers(&engine);
    op(
        &engine,
        "create_then_throw",
        r#"run(#{operation: "create", into: "Note", input: #{data: [#{t: 1}, #{t: 2}]}});
           run(#{operation: "update", "in": "Customer", input: #{name: "C-1", data: #{city: "Nowhere"}}});
           run(#{operation: "delete", from: "Customer", input: #{name: "C-2"}});
           throw "changed my mind";"#,
    );
    let before = ok(&engine, json!({"operation": "select", "from": "Customer"}))
        .data()
        .to_vec();
    let top = fails(
        &engine,
        json!({"operation": "create_then_throw", "owner": "alice"}),
        "SCRIPT_ERROR",
    );
    assert_eq!(count(&engine, "Note"), 0);
    let after = ok(&engine, json!({"operation": "select", "from": "Customer"}))
        .data()
        .to_vec();
    assert_eq!(before, after);

    let parent = stored(&engine, &top.id);
    assert_eq!(parent.status, RunStatus::Failed);
    assert_eq!(
        parent.error.as_ref().map(|e| e.code.as_str()),
        Some("SCRIPT_ERROR")
    );
    assert_eq!(parent.child_run_ids.len(), 3);
    assert_eq!(parent.child_run_ids, top.child_run_ids);
    for id in &parent.child_run_ids {
        let child = stored(&engine, id);
        assert_eq!(child.status, RunStatus::Completed, "{id}");
        assert_eq!(child.parent_run_id.as_deref(), Some(top.id.as_str()));
        assert_eq!(child.chain_id, top.id);
    }
}

#[test]
fn a_failed_nested_run_inside_a_successful_one_keeps_its_siblings_writes() {
    let engine = engine();
    item_schema(&engine);
    op(
        &engine,
        "partly",
        r#"let good = run(#{operation: "create", into: "Item", input: #{data: #{name: "I-1", qty: 1}}});
           let bad = run(#{operation: "create", into: "Item", input: #{data: [#{name: "I-2", qty: 2}, #{name: "I-3", qty: "x"}]}});
           [good.success, bad.success, bad.error.code]"#,
    );
    let top = ok(&engine, json!({"operation": "partly"}));
    assert_eq!(top.output, json!([true, false, "VALIDATION_FAILED"]));
    let items = ok(&engine, json!({"operation": "select", "from": "Item"}));
    assert_eq!(names(&items), ["I-1"]);
    let statuses: Vec<RunStatus> = top
        .child_run_ids
        .iter()
        .map(|id| stored(&engine, id).status)
        .collect();
    assert_eq!(statuses, [RunStatus::Completed, RunStatus::Failed]);
}

#[test]
fn a_limit_hit_deep_in_the_tree_fails_and_rolls_back_the_whole_tree() {
    let engine = engine();
    save_op(
        &engine,
        json!({"name": "spin", "handlerCode": "loop {}", "limits": {"maxOperations": 20000}}),
    );
    op(
        &engine,
        "writes_then_calls_spin",
        r#"run(#{operation: "create", into: "Note", input: #{data: #{t: "inner"}}});
           run(#{operation: "spin"})"#,
    );
    op(
        &engine,
        "root",
        r#"run(#{operation: "create", into: "Note", input: #{data: #{t: "outer"}}});
           try { run(#{operation: "writes_then_calls_spin"}) } catch (e) { "caught" }"#,
    );
    let top = fails(&engine, json!({"operation": "root"}), "LIMIT_EXCEEDED");
    assert!(
        error(&top).message.contains("maxOperations"),
        "{:?}",
        top.error
    );
    assert_eq!(count(&engine, "Note"), 0);
    let middle = stored(&engine, &top.child_run_ids[1]);
    assert_eq!(middle.status, RunStatus::Failed);
    let spin = stored(&engine, &middle.child_run_ids[1]);
    assert_eq!(spin.operation.as_deref(), Some("spin"));
    assert_eq!(spin.chain_id, top.id);
    assert_eq!(
        spin.error.as_ref().map(|e| e.code.as_str()),
        Some("LIMIT_EXCEEDED")
    );
}
