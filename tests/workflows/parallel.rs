//! `parallel` groups: branches are listed in declaration order, one failing branch fails the
//! workflow with none of the branches' writes left, and a group never ignores what it is given.

use super::*;

#[test]
fn parallel_branches_are_listed_in_declaration_order_and_seen_afterwards() {
    let engine = engine();
    let run = inline(
        &engine,
        json!([
            {"id": "project", "operation": "create", "into": "Project", "input": {"data": {"title": "P"}}},
            {"parallel": ["design", "build", "test"], "operations": [
                {"operation": "create", "into": "Task", "input": {"data": {"title": "design", "project": "{{project.name}}"}}},
                {"operation": "create", "into": "Task", "input": {"data": {"title": "build", "project": "{{project.name}}"}}},
                {"operation": "create", "into": "Task", "input": {"data": {"title": "test", "project": "{{project.name}}"}}}
            ]},
            {"id": "summary", "operation": "create", "into": "Note",
             "input": {"data": {"tasks": ["{{design.name}}", "{{build.name}}", "{{test.name}}"]}}}
        ]),
        Value::Null,
    );
    assert!(run.success, "{:?}", run.error);
    assert_eq!(
        statuses(&run),
        pairs(&[
            ("project", "completed"),
            ("design", "completed"),
            ("build", "completed"),
            ("test", "completed"),
            ("summary", "completed")
        ])
    );
    let tasks = docs(&engine, "Task");
    assert_eq!(tasks.len(), 3);
    let note = &docs(&engine, "Note")[0];
    let names: Vec<Value> = ["design", "build", "test"]
        .iter()
        .map(|id| step(&run, id)["output"]["data"][0]["name"].clone())
        .collect();
    assert_eq!(note["tasks"], Value::Array(names));
    for id in ["design", "build", "test"] {
        assert_eq!(step_run(&engine, &run, id).step_id.as_deref(), Some(id));
    }
}

#[test]
fn a_failing_parallel_branch_fails_the_workflow_and_no_branch_writes_remain() {
    let engine = engine();
    schemas(
        &engine,
        json!([{"name": "Strict Task", "fields": [{"fieldname": "title", "fieldtype": "Data", "reqd": 1}]}]),
    );
    let run = inline(
        &engine,
        json!([
            {"id": "before", "operation": "create", "into": "Note", "input": {"data": {"t": 0}}},
            {"parallel": ["a", "b", "c"], "operations": [
                {"operation": "create", "into": "Strict Task", "input": {"data": {"title": "a"}}},
                {"operation": "create", "into": "Strict Task", "input": {"data": {"nope": "b"}}},
                {"operation": "create", "into": "Strict Task", "input": {"data": {"title": "c"}}}
            ]}
        ]),
        Value::Null,
    );
    let e = error(&run);
    assert_eq!(e.code.as_str(), "VALIDATION_FAILED");
    assert_eq!(e.details["stepId"], json!("b"));
    assert_eq!(count(&engine, "Strict Task"), 0);
    assert_eq!(count(&engine, "Note"), 0);

    // Branches are independent: one may not refer to another.
    let refused = inline(
        &engine,
        json!([
            {"parallel": ["a", "b"], "operations": [
                {"operation": "create", "into": "Note", "input": {"data": {"t": 1}}},
                {"operation": "create", "into": "Note", "input": {"data": {"t": "{{a.name}}"}}}
            ]}
        ]),
        Value::Null,
    );
    assert_eq!(error(&refused).code.as_str(), "BAD_REQUEST");
    assert!(
        error(&refused).message.contains("{{a.name}}"),
        "{}",
        error(&refused).message
    );
    assert_eq!(count(&engine, "Note"), 0);
}

#[test]
fn a_parallel_group_never_silently_ignores_what_it_is_given() {
    let engine = engine();
    let group = |extra: Value| {
        let mut group = json!({"parallel": ["a", "b"], "operations": [
            {"operation": "create", "into": "Note", "input": {"data": {"t": 1}}},
            {"operation": "create", "into": "Note", "input": {"data": {"t": 2}}}]});
        for (k, v) in extra.as_object().unwrap() {
            group[k] = v.clone();
        }
        group
    };
    // An unknown key is refused, as on a step.
    let bogus = engine.run_value(json!({"operation": "create", "into": "Workflow Template",
        "input": {"data": {"name": "Bogus", "children": [group(json!({"bogus": 1}))]}}}));
    assert_eq!(
        bogus.error.as_ref().map(|e| e.code.as_str()),
        Some("BAD_REQUEST"),
        "{:?}",
        bogus.output
    );
    // `if` on a group is refused at save (it belongs on the operations), not ignored.
    let guarded = engine.run_value(json!({"operation": "create", "into": "Workflow Template",
        "input": {"data": {"name": "Guarded", "children": [group(json!({"if": "false"}))]}}}));
    let e = error(&guarded);
    assert_eq!(e.code.as_str(), "BAD_REQUEST", "{}", e.message);
    assert!(e.message.contains("`if`"), "names the key: {}", e.message);
    // A group nested in a group is refused at save, not run half-way.
    let nested = json!([{"parallel": ["a", "b"], "operations": [
        {"operation": "create", "into": "Note", "input": {"data": {"t": 1}}},
        {"parallel": ["c", "d"], "operations": [
            {"operation": "select", "from": "Note"}, {"operation": "select", "from": "Note"}]}]}]);
    let saved = engine.run_value(json!({"operation": "create", "into": "Workflow Template",
        "input": {"data": {"name": "Nested", "children": nested}}}));
    let e = error(&saved);
    assert_eq!(e.code.as_str(), "BAD_REQUEST", "{}", e.message);
    assert!(e.message.contains("another group"), "{}", e.message);
    // None of the refused templates was saved, so none can be run.
    for name in ["Bogus", "Guarded", "Nested"] {
        let run = run_template(&engine, name, json!({}));
        assert!(!run.success, "{name} was not saved");
    }
    assert_eq!(count(&engine, "Note"), 0);
    // The same group without the extras is saved and both of its operations run.
    template(&engine, "Plain", json!([group(json!({}))]));
    let run = run_template(&engine, "Plain", json!({}));
    assert!(run.success, "{:?}", run.error);
    assert_eq!(
        pairs(&[("a", "completed"), ("b", "completed")]),
        statuses(&run)
    );
    let mut ts: Vec<Value> = docs(&engine, "Note")
        .iter()
        .map(|d| d["t"].clone())
        .collect();
    ts.sort_by_key(|t| t.as_i64());
    assert_eq!(ts, vec![json!(1), json!(2)]);
}
