//! Flow context: a top-level workflow starts a flow its runs inherit, a given flow is kept and
//! nested workflows join it, and the CLI lists a flow and prints a run tree.

use super::*;
use std::process::Output;

#[test]
fn a_top_level_workflow_starts_a_flow_its_runs_inherit() {
    let engine = engine();
    let run = traced_workflow(&engine);
    assert_eq!(run.flow_id.as_deref(), Some(run.id.as_str()));
    assert_eq!(run.flow_type.as_deref(), Some("workflow"));
    assert_eq!(run.step_id, None);
    let tree = engine.run_tree(&run.id).unwrap().unwrap();
    let mut all = Vec::new();
    flatten(&tree, &mut all);
    for r in &all {
        assert_eq!(r.flow_id.as_deref(), Some(run.id.as_str()), "{}", r.id);
        assert_eq!(r.flow_type.as_deref(), Some("workflow"));
        assert_eq!(r.owner.as_deref(), Some("alice"));
    }
    // Step runs carry their step id; the script's nested run does not invent one.
    assert_eq!(tree.children[1].run.step_id.as_deref(), Some("log"));

    // Other top-level runs start no flow.
    let plain = ok(&engine, json!({"operation": "select", "from": "Note"}));
    assert_eq!(plain.flow_id, None);
    assert_eq!(plain.flow_type, None);
}

#[test]
fn a_given_flow_is_kept_and_nested_workflows_join_it() {
    let engine = engine();
    template(
        &engine,
        "Inner",
        json!([{"id": "n", "operation": "create", "into": "Note", "input": {"data": {"t": 1}}}]),
    );
    let run = engine.run_value(
        json!({"operation": "workflow", "flowType": "ai-conversation", "flowId": "conv-42",
               "input": {"children": [
                   {"id": "first", "operation": "select", "from": "Note"},
                   {"id": "sub", "operation": "workflow", "template": "Inner"}]}}),
    );
    assert!(run.success, "{:?}", run.error);
    assert_eq!(run.flow_id.as_deref(), Some("conv-42"));
    assert_eq!(run.flow_type.as_deref(), Some("ai-conversation"));
    let tree = engine.run_tree(&run.id).unwrap().unwrap();
    let mut all = Vec::new();
    flatten(&tree, &mut all);
    assert_eq!(all.len(), 4);
    for r in &all {
        assert_eq!(r.flow_id.as_deref(), Some("conv-42"));
        assert_eq!(r.flow_type.as_deref(), Some("ai-conversation"));
    }
    let listed = engine
        .list_runs(&RunQuery {
            flow_id: Some("conv-42".into()),
            ..query()
        })
        .unwrap();
    assert_eq!(listed.len(), 4);
    // The same flow spans several top-level runs: each keeps it.
    let later = run_template_in_flow(&engine, "Inner", "conv-42");
    assert!(later.success, "{:?}", later.error);
    let listed = engine
        .list_runs(&RunQuery {
            flow_id: Some("conv-42".into()),
            ..query()
        })
        .unwrap();
    assert_eq!(listed.len(), 6);
    assert!(listed.windows(2).all(|w| w[0].id < w[1].id), "in order");

    // A custom flow type with a flow id, on a plain run.
    let custom = ok(
        &engine,
        json!({"operation": "select", "from": "Note", "flowType": "nightly-import", "flowId": "n-1"}),
    );
    assert_eq!(custom.flow_type.as_deref(), Some("nightly-import"));
    assert_eq!(custom.flow_id.as_deref(), Some("n-1"));

    // A flow type alone gets the workflow's own id as flow id.
    let typed = engine
        .run_value(json!({"operation": "workflow", "template": "Inner", "flowType": "batch-job"}));
    assert!(typed.success, "{:?}", typed.error);
    assert_eq!(typed.flow_type.as_deref(), Some("batch-job"));
    assert_eq!(typed.flow_id.as_deref(), Some(typed.id.as_str()));
}

fn run_template_in_flow(engine: &Engine, name: &str, flow: &str) -> Run {
    run(
        engine,
        json!({"operation": "workflow", "template": name, "flowType": "ai-conversation", "flowId": flow}),
    )
}

fn cli_text(output: &Output) -> String {
    assert!(
        output.status.success(),
        "the CLI failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn the_cli_lists_a_flow_and_prints_a_run_tree() {
    let store = TempStore::new();
    let (run_id, failed_id) = {
        let engine = store.open();
        let run = traced_workflow(&engine);
        let failed = inline(
            &engine,
            json!([
                {"id": "ok_step", "operation": "create", "into": "Note", "input": {"data": {"t": 1}}},
                {"id": "bad_step", "operation": "workflow", "template": "Missing"}
            ]),
            Value::Null,
        );
        assert!(!failed.success);
        engine.flush().unwrap();
        (run.id, failed.id)
    };

    let listed = cli(&store.path)
        .args(["runs", "list", "--flow", &run_id])
        .output()
        .expect("the CLI starts");
    let listed = stdout_json(&listed);
    let listed = listed.as_array().expect("an array");
    assert_eq!(listed.len(), 5);
    assert_eq!(listed[0]["id"], json!(run_id), "the workflow run first");
    assert!(listed.iter().all(|r| r["flowId"] == json!(run_id)));
    let ids: Vec<&str> = listed.iter().map(|r| r["id"].as_str().unwrap()).collect();
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(ids, sorted, "in order");

    let failed_only = cli(&store.path)
        .args(["runs", "list", "--flow", &failed_id, "--status", "failed"])
        .output()
        .expect("the CLI starts");
    let failed_only = stdout_json(&failed_only);
    let statuses: Vec<&Value> = failed_only
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["status"])
        .collect();
    assert_eq!(statuses.len(), 2, "{failed_only}");
    assert!(statuses.iter().all(|s| **s == json!("failed")));

    let tree = cli_text(
        &cli(&store.path)
            .args(["runs", "tree", &run_id])
            .output()
            .expect("the CLI starts"),
    );
    let lines: Vec<&str> = tree.lines().collect();
    assert_eq!(lines.len(), 5, "{tree}");
    assert!(lines[0].starts_with("ok"), "{tree}");
    assert!(
        lines[0].contains("workflow") && lines[0].contains("Traced"),
        "{tree}"
    );
    assert!(lines[0].contains(&run_id), "{tree}");
    assert!(
        lines[1].starts_with("  ok") && lines[1].contains("create Task [task]"),
        "{tree}"
    );
    assert!(
        lines[2].contains("log_note") && lines[2].contains("[log]"),
        "{tree}"
    );
    assert!(
        lines[3].starts_with("    ok") && lines[3].contains("create Note"),
        "{tree}"
    );
    assert!(lines[4].contains("update Task [close]"), "{tree}");
    assert!(lines.iter().all(|l| l.contains(" ms")), "durations: {tree}");

    let failed_tree = cli_text(
        &cli(&store.path)
            .args(["runs", "tree", &failed_id])
            .output()
            .expect("the CLI starts"),
    );
    assert!(failed_tree.starts_with("FAIL"), "{failed_tree}");
    assert!(failed_tree.contains("[ok_step]"), "{failed_tree}");
    assert!(failed_tree.contains("[bad_step]"), "{failed_tree}");
    assert!(failed_tree.contains("NOT_FOUND"), "{failed_tree}");

    let as_json = cli(&store.path)
        .args(["runs", "tree", &run_id, "--json"])
        .output()
        .expect("the CLI starts");
    let as_json = stdout_json(&as_json);
    assert_eq!(as_json["run"]["id"], json!(run_id));
    assert_eq!(as_json["children"].as_array().unwrap().len(), 3);
    assert_eq!(
        as_json["children"][1]["children"][0]["run"]["doctype"],
        json!("Note")
    );
}
