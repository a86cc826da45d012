//! Nested templates: a template run inside a step, stamping the innermost template on its records.

use super::*;

#[test]
fn a_nested_template_runs_inside_a_step_and_stamps_the_innermost_template() {
    let engine = engine();
    template(
        &engine,
        "Make Tasks",
        json!([
            {"id": "tasks", "map": "{{input.titles}}", "steps": [
                {"id": "t", "operation": "create", "into": "Task", "input": {"data": {"title": "{{item}}", "project": "{{input.project}}"}}}]}
        ]),
    );
    template(
        &engine,
        "Start Project",
        json!([
            {"id": "project", "operation": "create", "into": "Project", "input": {"data": {"title": "{{input.title}}"}}},
            {"id": "sub", "operation": "workflow", "template": "Make Tasks",
             "input": {"project": "{{project.name}}", "titles": "{{input.tasks}}"}},
            {"id": "check", "operation": "select", "from": "Task",
             "input": {"where": {"project": "{{project.name}}"}}}
        ]),
    );
    let run = run_template(
        &engine,
        "Start Project",
        json!({"title": "Apollo", "tasks": ["a", "b"]}),
    );
    assert!(run.success, "{:?}", run.error);
    let sub = step(&run, "sub");
    assert_eq!(sub["output"]["template"], json!("Make Tasks"));
    assert_eq!(
        step(&run, "check")["output"]["data"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let project = &docs(&engine, "Project")[0];
    assert_eq!(project["createdByTemplate"], json!("Start Project"));
    for task in docs(&engine, "Task") {
        assert_eq!(task["createdByTemplate"], json!("Make Tasks"));
        assert_eq!(task["project"], project["name"]);
        // createdByRun is the inner step's run, two levels under the workflow.
        let creator = stored(&engine, task["createdByRun"].as_str().unwrap());
        let parent = stored(&engine, creator.parent_run_id.as_deref().unwrap());
        assert_eq!(parent.template.as_deref(), Some("Make Tasks"));
        assert_eq!(parent.parent_run_id.as_deref(), Some(run.id.as_str()));
        assert_eq!(
            engine.root_of(&creator.id).unwrap().unwrap().id,
            run.id,
            "root_of walks up to the outer workflow"
        );
    }

    // An inline workflow stamps no template; createdByRun still traces it.
    let inline_run = inline(
        &engine,
        json!([{"id": "n", "operation": "create", "into": "Note", "input": {"data": {"t": 1}}}]),
        Value::Null,
    );
    assert!(inline_run.success, "{:?}", inline_run.error);
    let note = &docs(&engine, "Note")[0];
    assert!(
        note.get("createdByTemplate").is_none_or(Value::is_null),
        "{note}"
    );
    assert_eq!(note["createdByRun"], step(&inline_run, "n")["runId"]);

    // An inline workflow may run a template: its documents carry that template.
    let outer = inline(
        &engine,
        json!([{"id": "sub", "operation": "workflow", "template": "Make Tasks",
                "input": {"project": "none", "titles": ["c"]}}]),
        Value::Null,
    );
    assert!(outer.success, "{:?}", outer.error);
    let c = docs_where(&engine, "Task", json!({"title": "c"}));
    assert_eq!(c[0]["createdByTemplate"], json!("Make Tasks"));
}
