//! Nested runs of native operations: parent, chain and children recorded, identity and flow
//! inherited, failures and panics rolled back, and the depth limit.

use super::*;

/// An engine with native operations used by the nested-run tests.
fn engine_with_ops() -> Engine {
    Engine::builder()
        // Creates a Note through a nested run and reports what it saw.
        .operation("make_note", |ctx| {
            let parent_status = ctx.current().status;
            let parent_id = ctx.current().id.clone();
            let title = ctx.request().input["title"].clone();
            let child = ctx.run(
                RunRequest::new("create")
                    .into_doctype("Note")
                    .input(json!({"data": {"title": title}}))
                    // A nested run cannot change who it runs for or in which flow.
                    .owner("mallory")
                    .agent("rogue")
                    .flow("other", "other-flow")
                    .step("child-step"),
            );
            Ok(json!({
                "child": child.id,
                "childSuccess": child.success,
                "parentStatus": parent_status,
                "parentId": parent_id,
                "name": child.data().first().map(|d| d["name"].clone()),
            }))
        })
        // Nests `make_note` one level deeper.
        .operation("outer", |ctx| {
            let first = ctx.run(RunRequest::new("make_note").input(json!({"title": "one"})));
            let second = ctx.run(RunRequest::new("select").from("Note"));
            Ok(json!({"first": first.id, "second": second.id, "seen": second.data().len()}))
        })
        // Writes through a nested run, then fails.
        .operation("create_then_fail", |ctx| {
            let child = ctx.run(
                RunRequest::new("create")
                    .into_doctype("Note")
                    .input(json!({"data": {"name": "doomed"}})),
            );
            assert!(child.success, "the nested create itself succeeds");
            Err(Error::new(
                ErrorCode::ValidationFailed,
                "the handler refused",
            ))
        })
        // Writes through a nested run, then panics.
        .operation("create_then_panic", |ctx| {
            ctx.run(
                RunRequest::new("create")
                    .into_doctype("Note")
                    .input(json!({"data": {"name": "panicked"}})),
            );
            panic!("boom in a native handler");
        })
        // One nested run succeeds, the next fails; the handler carries on.
        .operation("partial", |ctx| {
            let good = ctx.run(
                RunRequest::new("create")
                    .into_doctype("Note")
                    .input(json!({"data": {"name": "kept"}})),
            );
            let bad = ctx.run(
                RunRequest::new("create")
                    .into_doctype("Note")
                    .input(json!({"data": [{"name": "dropped"}, {"name": "kept"}]})),
            );
            Ok(json!({"good": good.success, "badCode": bad.error.map(|e| e.code)}))
        })
        // Recurses into itself until the depth limit stops it; every level writes a Note.
        .operation("recurse", |ctx| {
            let depth = ctx.request().input["depth"].as_u64().unwrap_or(0);
            ctx.run(
                RunRequest::new("create")
                    .into_doctype("Note")
                    .input(json!({"data": {"depth": depth}})),
            );
            let child = ctx.run(RunRequest::new("recurse").input(json!({"depth": depth + 1})));
            match child.error {
                Some(e) => Err(Error::new(e.code, e.message)),
                None => Ok(json!({"depth": depth})),
            }
        })
        .in_memory()
        .expect("in-memory store opens")
}

#[test]
fn a_nested_run_records_parent_chain_and_children_and_inherits_identity_and_flow() {
    let engine = engine_with_ops();
    let parent = engine.run(
        RunRequest::new("make_note")
            .input(json!({"title": "hello"}))
            .owner("alice")
            .agent("planner-1")
            .flow("ai-conversation", "flow-7")
            .step("turn-1"),
    );
    assert!(parent.success, "{:?}", parent.error);
    assert_eq!(parent.operation.as_deref(), Some("make_note"));
    assert_eq!(parent.output["parentStatus"], json!("running"));
    assert_eq!(parent.output["parentId"], json!(parent.id));
    assert_eq!(parent.output["childSuccess"], json!(true));
    let child_id = parent.output["child"].as_str().unwrap().to_string();
    assert_eq!(parent.child_run_ids, [child_id.as_str()]);
    assert_eq!(parent.chain_id, parent.id);
    assert_eq!(parent.parent_run_id, None);

    let child = stored(&engine, &child_id);
    assert_eq!(child.status, RunStatus::Completed);
    assert_eq!(child.operation.as_deref(), Some("create"));
    assert_eq!(child.parent_run_id.as_deref(), Some(parent.id.as_str()));
    assert_eq!(child.chain_id, parent.id);
    assert!(child.child_run_ids.is_empty());
    assert_eq!(child.owner.as_deref(), Some("alice"), "owner is inherited");
    assert_eq!(
        child.agent.as_deref(),
        Some("planner-1"),
        "agent is inherited"
    );
    assert_eq!(child.flow_type.as_deref(), Some("ai-conversation"));
    assert_eq!(child.flow_id.as_deref(), Some("flow-7"));
    assert_eq!(child.step_id.as_deref(), Some("child-step"));
    assert!(child.id > parent.id, "a child starts after its parent");

    // The document the child wrote is stamped with the child run and the inherited owner.
    let name = parent.output["name"].as_str().unwrap();
    let doc = get_doc(&engine, "Note", name).unwrap();
    assert_eq!(doc["title"], json!("hello"));
    assert_eq!(doc["createdByRun"], json!(child_id));
    assert_eq!(doc["owner"], json!("alice"));

    // The stored parent is the returned parent.
    assert_eq!(
        without_duration(&stored(&engine, &parent.id)),
        without_duration(&parent)
    );
}

#[test]
fn a_chain_of_three_levels_shares_the_root_id_and_can_be_listed() {
    let engine = engine_with_ops();
    let root = engine.run(RunRequest::new("outer").owner("alice"));
    assert!(root.success, "{:?}", root.error);
    assert_eq!(
        root.output["seen"],
        json!(1),
        "a nested select sees the run's own writes"
    );
    let first = stored(&engine, root.output["first"].as_str().unwrap());
    let second = stored(&engine, root.output["second"].as_str().unwrap());
    assert_eq!(root.child_run_ids, [first.id.clone(), second.id.clone()]);
    assert_eq!(first.child_run_ids.len(), 1);
    let grandchild = stored(&engine, &first.child_run_ids[0]);
    assert_eq!(grandchild.parent_run_id.as_deref(), Some(first.id.as_str()));
    for run in [&first, &second, &grandchild] {
        assert_eq!(run.chain_id, root.id);
        assert_eq!(run.owner.as_deref(), Some("alice"));
    }
    // A nested select is stored compact too.
    assert!(second.output.get("data").is_none());
    assert_eq!(second.output["meta"]["count"], json!(1));

    let chain = engine
        .list_runs(&RunQuery {
            chain_id: Some(root.id.clone()),
            ..Default::default()
        })
        .unwrap();
    let ids: Vec<&str> = chain.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            root.id.as_str(),
            first.id.as_str(),
            grandchild.id.as_str(),
            second.id.as_str()
        ]
    );
    let children = engine
        .list_runs(&RunQuery {
            parent_run_id: Some(root.id.clone()),
            ..Default::default()
        })
        .unwrap();
    let ids: Vec<&str> = children.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, [first.id.as_str(), second.id.as_str()]);
}

#[test]
fn a_failing_handler_leaves_no_write_but_both_run_records() {
    let engine = engine_with_ops();
    let parent = engine.run(RunRequest::new("create_then_fail").owner("alice"));
    assert!(!parent.success);
    assert_eq!(parent.status, RunStatus::Failed);
    let error = parent.error.as_ref().unwrap();
    assert_eq!(error.code, ErrorCode::ValidationFailed);
    assert_eq!(error.message, "the handler refused");
    assert_eq!(
        parent.child_run_ids.len(),
        1,
        "the failed parent lists its child"
    );
    assert_eq!(
        count(&engine, "Note"),
        0,
        "the child's write is rolled back"
    );
    assert!(get_doc(&engine, "Note", "doomed").is_none());

    let stored_parent = stored(&engine, &parent.id);
    assert_eq!(stored_parent.status, RunStatus::Failed);
    assert_eq!(stored_parent.error, parent.error);
    let child = stored(&engine, &parent.child_run_ids[0]);
    assert_eq!(child.status, RunStatus::Completed, "the child did complete");
    assert_eq!(child.parent_run_id.as_deref(), Some(parent.id.as_str()));
    assert_eq!(child.chain_id, parent.id);
    assert_eq!(child.output["data"][0]["name"], json!("doomed"));

    // The name is free: nothing of the failed run remains.
    create_named(&engine, "Note", "doomed", json!({}));
}

#[test]
fn a_panicking_handler_becomes_an_internal_failure_and_the_engine_keeps_serving() {
    let engine = engine_with_ops();
    let run = engine.run(RunRequest::new("create_then_panic"));
    assert!(!run.success);
    assert_eq!(run.status, RunStatus::Failed);
    let error = run.error.as_ref().unwrap();
    assert_eq!(error.code, ErrorCode::Internal);
    assert!(
        error.message.contains("boom in a native handler"),
        "{}",
        error.message
    );
    assert_eq!(
        count(&engine, "Note"),
        0,
        "nothing of a panicked run is written"
    );
    assert_eq!(stored(&engine, &run.id).error, run.error);
    assert_eq!(run.child_run_ids.len(), 1);
    assert!(stored(&engine, &run.child_run_ids[0]).success);
    // The engine still serves reads and writes, including the same name.
    for _ in 0..3 {
        let again = engine.run(RunRequest::new("create_then_panic"));
        assert_eq!(again.error.unwrap().code, ErrorCode::Internal);
    }
    create_named(&engine, "Note", "panicked", json!({"ok": true}));
    assert_eq!(count(&engine, "Note"), 1);
    let made = engine.run(RunRequest::new("make_note").input(json!({"title": "after"})));
    assert!(made.success, "{:?}", made.error);
    assert_eq!(count(&engine, "Note"), 2);
}

#[test]
fn a_failed_nested_run_is_rolled_back_alone_when_the_handler_carries_on() {
    let engine = engine_with_ops();
    let run = engine.run(RunRequest::new("partial"));
    assert!(run.success, "{:?}", run.error);
    assert_eq!(run.output, json!({"good": true, "badCode": "CONFLICT"}));
    let notes = all_docs(&engine, "Note");
    let kept: Vec<&str> = notes.iter().map(|d| d["name"].as_str().unwrap()).collect();
    assert_eq!(
        kept,
        ["kept"],
        "the failed child's own write is rolled back"
    );
    let bad = stored(&engine, &run.child_run_ids[1]);
    assert_eq!(bad.status, RunStatus::Failed);
    assert_eq!(bad.error.unwrap().code, ErrorCode::Conflict);
}

#[test]
fn runs_nested_beyond_the_depth_limit_fail_and_the_whole_tree_writes_nothing() {
    let engine = engine_with_ops();
    let root = engine.run(RunRequest::new("recurse"));
    let error = root.error.as_ref().expect("the recursion is stopped");
    assert_eq!(error.code, ErrorCode::LimitExceeded);
    assert!(error.message.contains("nest"), "{}", error.message);
    assert_eq!(count(&engine, "Note"), 0);
    let chain = engine
        .list_runs(&RunQuery {
            chain_id: Some(root.id.clone()),
            ..Default::default()
        })
        .unwrap();
    let levels = chain
        .iter()
        .filter(|r| r.operation.as_deref() == Some("recurse"));
    assert_eq!(levels.count(), coworker::MAX_NESTED_DEPTH + 2);
    assert!(chain.iter().all(|r| r.chain_id == root.id));
}
