//! Traceability: records name the step run that created and modified them, run trees and
//! `root_of` follow the workflow, and runs are listed by chain, flow, parent, owner, status and time.

use super::*;

#[test]
fn records_name_the_step_run_that_created_and_modified_them() {
    let engine = engine();
    let run = traced_workflow(&engine);
    let task = &docs(&engine, "Task")[0];
    assert_eq!(task["createdByRun"], step(&run, "task")["runId"]);
    assert_eq!(task["modifiedByRun"], step(&run, "close")["runId"]);
    assert_eq!(task["createdByTemplate"], json!("Traced"));
    // The note is created by the script's nested run, under the `log` step.
    let note = &docs(&engine, "Note")[0];
    let creator = stored(&engine, note["createdByRun"].as_str().unwrap());
    assert_eq!(
        creator.parent_run_id.as_ref(),
        step(&run, "log")["runId"]
            .as_str()
            .map(str::to_string)
            .as_ref()
    );
    assert_eq!(note["createdByTemplate"], json!("Traced"));
    assert_eq!(
        note["text"],
        json!(format!("made {}", task["name"].as_str().unwrap()))
    );
}

#[test]
fn run_tree_and_root_of_follow_the_workflow() {
    let engine = engine();
    let run = traced_workflow(&engine);
    let tree = engine.run_tree(&run.id).unwrap().expect("a tree");
    assert_eq!(tree.run.id, run.id);
    assert_eq!(tree.run.operation.as_deref(), Some("workflow"));
    assert_eq!(tree.run.template.as_deref(), Some("Traced"));
    let steps: Vec<(Option<&str>, Option<&str>, Option<&str>)> = tree
        .children
        .iter()
        .map(|c| {
            (
                c.run.step_id.as_deref(),
                c.run.operation.as_deref(),
                c.run.doctype.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        steps,
        [
            (Some("task"), Some("create"), Some("Task")),
            (Some("log"), Some("log_note"), None),
            (Some("close"), Some("update"), Some("Task"))
        ]
    );
    assert!(tree.children[0].children.is_empty());
    let nested = &tree.children[1].children;
    assert_eq!(nested.len(), 1, "the script's own run");
    assert_eq!(nested[0].run.operation.as_deref(), Some("create"));
    assert_eq!(nested[0].run.doctype.as_deref(), Some("Note"));
    assert_eq!(
        nested[0].run.parent_run_id.as_deref(),
        Some(tree.children[1].run.id.as_str())
    );
    // Every run of the tree shares the chain and is finished.
    let mut all = Vec::new();
    flatten(&tree, &mut all);
    assert_eq!(all.len(), 5);
    assert!(all.iter().all(|r| r.chain_id == run.id && r.success));
    assert!(all.iter().all(|r| r.duration >= 0.0));

    // root_of walks up from the deepest run, from a step, and stays on the root.
    assert_eq!(
        engine.root_of(&nested[0].run.id).unwrap().unwrap().id,
        run.id
    );
    assert_eq!(
        engine
            .root_of(&tree.children[2].run.id)
            .unwrap()
            .unwrap()
            .id,
        run.id
    );
    assert_eq!(engine.root_of(&run.id).unwrap().unwrap().id, run.id);
    // A read-only workflow's records are readable at once (no flush needed).
    let read_only = inline(
        &engine,
        json!([
            {"id": "a", "operation": "select", "from": "Task"},
            {"id": "b", "operation": "select", "from": "Note"}
        ]),
        Value::Null,
    );
    assert!(read_only.success, "{:?}", read_only.error);
    let tree = engine.run_tree(&read_only.id).unwrap().expect("a tree");
    let steps: Vec<Option<&str>> = tree
        .children
        .iter()
        .map(|c| c.run.step_id.as_deref())
        .collect();
    assert_eq!(steps, [Some("a"), Some("b")]);
    assert_eq!(
        engine
            .root_of(&tree.children[1].run.id)
            .unwrap()
            .unwrap()
            .id,
        read_only.id
    );
    assert!(
        engine
            .root_of("01J00000000000000000000000")
            .unwrap()
            .is_none()
    );
    assert!(
        engine
            .run_tree("01J00000000000000000000000")
            .unwrap()
            .is_none()
    );
}

#[test]
fn runs_are_listed_by_chain_flow_parent_owner_status_and_time() {
    let engine = engine();
    let before = jiff::Timestamp::now().to_string();
    std::thread::sleep(std::time::Duration::from_millis(3));
    let run = traced_workflow(&engine);
    std::thread::sleep(std::time::Duration::from_millis(3));
    let middle = jiff::Timestamp::now().to_string();
    std::thread::sleep(std::time::Duration::from_millis(3));
    let other = inline(
        &engine,
        json!([{"id": "x", "operation": "create", "into": "Note", "input": {"data": {"t": 1}}}]),
        Value::Null,
    );
    assert!(other.success, "{:?}", other.error);
    let failing = run_template(&engine, "No Such", json!({}));
    assert!(!failing.success);
    engine.flush().unwrap();

    let tree = engine.run_tree(&run.id).unwrap().unwrap();
    let mut all = Vec::new();
    flatten(&tree, &mut all);
    let mut tree_ids = ids(&all);
    tree_ids.sort();

    let chain = engine
        .list_runs(&RunQuery {
            chain_id: Some(run.id.clone()),
            ..query()
        })
        .unwrap();
    assert_eq!(
        ids(&chain),
        tree_ids,
        "a chain lists its tree, oldest first"
    );

    let flow = engine
        .list_runs(&RunQuery {
            flow_id: Some(run.id.clone()),
            ..query()
        })
        .unwrap();
    assert_eq!(ids(&flow), tree_ids);

    let parent = engine
        .list_runs(&RunQuery {
            parent_run_id: Some(run.id.clone()),
            ..query()
        })
        .unwrap();
    assert_eq!(ids(&parent), stored(&engine, &run.id).child_run_ids);
    // Deeper in the tree too (a step's own children), for every run that has children.
    let mut deeper = 0;
    for node in all
        .iter()
        .filter(|r| r.id != run.id && !r.child_run_ids.is_empty())
    {
        let children = engine
            .list_runs(&RunQuery {
                parent_run_id: Some(node.id.clone()),
                ..query()
            })
            .unwrap();
        assert_eq!(ids(&children), node.child_run_ids);
        deeper += 1;
    }
    assert!(deeper > 0, "the traced workflow has a step with children");

    let owned = engine
        .list_runs(&RunQuery {
            owner: Some("alice".into()),
            ..query()
        })
        .unwrap();
    assert_eq!(ids(&owned), tree_ids, "nested runs inherit the owner");

    let failed = engine
        .list_runs(&RunQuery {
            status: Some(RunStatus::Failed),
            ..query()
        })
        .unwrap();
    assert_eq!(ids(&failed), [failing.id.as_str()]);

    // A limit keeps the newest matching runs, not the newest runs.
    let completed = engine
        .list_runs(&RunQuery {
            status: Some(RunStatus::Completed),
            ..query()
        })
        .unwrap();
    assert!(completed.iter().all(|r| r.status == RunStatus::Completed));
    assert!(
        tree_ids
            .iter()
            .all(|id| completed.iter().any(|r| &r.id == id))
    );
    assert!(!completed.iter().any(|r| r.id == failing.id));
    let newest_completed = engine
        .list_runs(&RunQuery {
            status: Some(RunStatus::Completed),
            limit: Some(1),
            ..query()
        })
        .unwrap();
    assert_eq!(
        ids(&newest_completed),
        [completed.last().unwrap().id.as_str()]
    );

    let both = engine
        .list_runs(&RunQuery {
            owner: Some("alice".into()),
            status: Some(RunStatus::Failed),
            ..query()
        })
        .unwrap();
    assert!(both.is_empty(), "filters combine");

    // Time range: `since` includes, `until` excludes.
    let since_other = engine
        .list_runs(&RunQuery {
            since: Some(middle.clone()),
            ..query()
        })
        .unwrap();
    assert!(since_other.iter().any(|r| r.id == other.id));
    assert!(since_other.iter().any(|r| r.id == failing.id));
    assert!(!since_other.iter().any(|r| r.id == run.id));
    let until_other = engine
        .list_runs(&RunQuery {
            since: Some(before.clone()),
            until: Some(middle),
            ..query()
        })
        .unwrap();
    assert!(until_other.iter().any(|r| r.id == run.id));
    assert!(!until_other.iter().any(|r| r.id == other.id));
    let window = engine
        .list_runs(&RunQuery {
            chain_id: Some(run.id.clone()),
            until: Some(before),
            ..query()
        })
        .unwrap();
    assert!(window.is_empty(), "the workflow started after `before`");

    let limited = engine
        .list_runs(&RunQuery {
            chain_id: Some(run.id.clone()),
            limit: Some(2),
            ..query()
        })
        .unwrap();
    assert_eq!(ids(&limited), tree_ids[tree_ids.len() - 2..].to_vec());

    let bad = engine.list_runs(&RunQuery {
        since: Some("yesterday".into()),
        ..query()
    });
    assert!(bad.is_err());
}
