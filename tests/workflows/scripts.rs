//! Scripts may run workflows: a script and a handler run a workflow with conditions, and the
//! workflow is stored with its steps' outcomes, each step with its own output.

use super::*;

#[test]
fn a_script_and_a_handler_can_run_a_workflow_with_conditions() {
    let engine = engine();
    template(
        &engine,
        "Guarded",
        json!([
            {"id": "a", "operation": "create", "into": "Note", "if": "{{input.n}} > 1", "input": {"data": {"n": "{{input.n}}"}}},
            {"id": "b", "operation": "select", "from": "Note"}
        ]),
    );
    // An ad-hoc script (a direct host on this thread) runs it.
    let out = engine
        .run_script(
            "wf",
            r#"
            let r = run(#{operation: "workflow", template: "Guarded", input: #{n: 2}});
            if !r.success { throw r.error.message; }
            r.output.steps.map(|s| s.status)
            "#,
        )
        .expect("the script runs");
    assert_eq!(out, json!(["completed", "completed"]));
    // A handler runs it as a nested run of its own.
    op(
        &engine,
        "run_guarded",
        r#"let r = run(#{operation: "workflow", template: "Guarded", input: #{n: context.input.n}});
           if !r.success { throw r.error.message; }
           r.output.steps[0].status"#,
    );
    let run = ok(
        &engine,
        json!({"operation": "run_guarded", "input": {"n": 0}}),
    );
    assert_eq!(run.output, json!("skipped"));
    assert_eq!(count(&engine, "Note"), 1);
}

#[test]
fn a_workflow_is_stored_with_its_steps_outcomes_and_each_step_with_its_own_output() {
    let engine = engine();
    ok(
        &engine,
        json!({"operation": "create", "into": "Note", "input": {"data": [{"name": "n1", "t": 1}, {"name": "n2", "t": 2}]}}),
    );
    let run = inline(
        &engine,
        json!([
            {"id": "all", "operation": "select", "from": "Note", "input": {"orderBy": "name"}},
            {"id": "add", "operation": "create", "into": "Note", "input": {"data": {"name": "n3", "t": 3}}}
        ]),
        json!({}),
    );
    assert!(run.success, "{:?}", run.error);
    let recorded = stored(&engine, &run.id);
    let steps = recorded.output["steps"].as_array().expect("steps");
    assert_eq!(steps.len(), 2);
    for (step, id) in steps.iter().zip(["all", "add"]) {
        assert_eq!(step["id"], json!(id));
        assert_eq!(step["status"], json!("completed"));
        assert!(step["runId"].is_string());
        assert!(
            step.get("output").is_none(),
            "a step's output lives in its own record: {step}"
        );
    }
    assert_eq!(recorded.output.get("template"), Some(&Value::Null));
    // The select step keeps its names and counts, the create its documents.
    let select = stored(&engine, steps[0]["runId"].as_str().unwrap());
    assert_eq!(select.output["names"], json!(["n1", "n2"]));
    assert_eq!(select.output["meta"]["count"], json!(2));
    assert!(select.output.get("data").is_none());
    let create = stored(&engine, steps[1]["runId"].as_str().unwrap());
    assert_eq!(create.output["data"][0]["name"], json!("n3"));
    // What the caller got back is whole.
    assert_eq!(run.output["steps"][0]["output"]["data"][1]["t"], json!(2));
    // A step's record reads back with its place in the tree (stored compact, unset keys
    // left out) and nothing it did not have.
    assert_eq!(create.step_id.as_deref(), Some("add"));
    assert_eq!(create.parent_run_id.as_deref(), Some(run.id.as_str()));
    assert_eq!(create.chain_id, run.id);
    assert_eq!(create.flow_type.as_deref(), Some("workflow"));
    assert_eq!(create.flow_id.as_deref(), Some(run.id.as_str()));
    assert_eq!(
        (create.owner.as_deref(), create.error.as_ref()),
        (None, None)
    );
    assert!(create.child_run_ids.is_empty());
}
