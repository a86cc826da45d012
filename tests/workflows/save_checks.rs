//! Templates are checked when saved: refused shapes name what is wrong, mutual inclusion is stopped
//! by the depth limit, and the template version is its content hash, recorded on every run.

use super::*;

fn refused(engine: &Engine, name: &str, children: Value, code: &str, mentions: &str) {
    let run = fails(
        engine,
        json!({"operation": "create", "into": "Workflow Template",
               "input": {"data": {"name": name, "children": children}}}),
        code,
    );
    let message = &error(&run).message;
    assert!(message.contains(mentions), "`{mentions}` in: {message}");
    assert!(
        docs_where(engine, "Workflow Template", json!({"name": name})).is_empty(),
        "{name} was not saved"
    );
}

#[test]
fn templates_are_checked_when_saved() {
    let engine = engine();
    refused(
        &engine,
        "Dup",
        json!([
            {"id": "a", "operation": "select", "from": "Note"},
            {"id": "a", "operation": "select", "from": "Task"}
        ]),
        "BAD_REQUEST",
        "`a`",
    );
    refused(
        &engine,
        "Forward",
        json!([
            {"id": "a", "operation": "create", "into": "Note", "input": {"data": {"x": "{{b.name}}"}}},
            {"id": "b", "operation": "select", "from": "Note"}
        ]),
        "BAD_REQUEST",
        "{{b.name}}",
    );
    refused(
        &engine,
        "Self Ref",
        json!([{"id": "a", "operation": "create", "into": "Note", "input": {"data": {"x": "{{a.name}}"}}}]),
        "BAD_REQUEST",
        "{{a.name}}",
    );
    refused(
        &engine,
        "Inner Step Outside",
        json!([
            {"id": "m", "map": "{{input.xs}}", "steps": [{"id": "inner", "operation": "select", "from": "Note"}]},
            {"id": "after", "operation": "create", "into": "Note", "input": {"data": {"x": "{{inner.output}}"}}}
        ]),
        "BAD_REQUEST",
        "{{inner.output}}",
    );
    refused(
        &engine,
        "Item Outside",
        json!([{"id": "a", "operation": "create", "into": "Note", "input": {"data": {"x": "{{item}}"}}}]),
        "BAD_REQUEST",
        "{{item}}",
    );
    refused(
        &engine,
        "Error Outside",
        json!([{"id": "a", "operation": "create", "into": "Note", "input": {"data": {"x": "{{error.message}}"}}}]),
        "BAD_REQUEST",
        "{{error.message}}",
    );
    refused(
        &engine,
        "Unknown Op",
        json!([{"id": "a", "operation": "teleport", "from": "Note"}]),
        "UNKNOWN_OPERATION",
        "teleport",
    );
    refused(
        &engine,
        "Unknown Fallback Op",
        json!([{"id": "a", "operation": "select", "from": "Note", "onError": {"operation": "teleport"}}]),
        "UNKNOWN_OPERATION",
        "teleport",
    );
    let bad_if = fails(
        &engine,
        json!({"operation": "create", "into": "Workflow Template", "input": {"data": {"name": "Bad If",
            "children": [{"id": "a", "operation": "select", "from": "Note", "if": "{{input.n}} >"}]}}}),
        "SCRIPT_COMPILE_ERROR",
    );
    assert!(
        error(&bad_if).message.contains("Bad If"),
        "{}",
        error(&bad_if).message
    );
    refused(
        &engine,
        "Loop",
        json!([{"id": "again", "operation": "workflow", "template": "Loop"}]),
        "BAD_REQUEST",
        "Loop",
    );
    refused(
        &engine,
        "Deep Loop",
        json!([{"id": "m", "map": "{{input.xs}}", "steps": [
            {"id": "again", "operation": "workflow", "template": "Deep Loop"}]}]),
        "BAD_REQUEST",
        "Deep Loop",
    );
    refused(
        &engine,
        "Reserved",
        json!([{"id": "input", "operation": "select", "from": "Note"}]),
        "BAD_REQUEST",
        "input",
    );
    refused(
        &engine,
        "Map Needs Steps",
        json!([{"id": "m", "map": "{{input.xs}}"}]),
        "BAD_REQUEST",
        "steps",
    );
    refused(
        &engine,
        "Retry Max",
        json!([{"id": "a", "operation": "select", "from": "Note", "retry": {"max": "twice"}}]),
        "BAD_REQUEST",
        "retry",
    );

    // An update is checked too; the template keeps its old steps.
    template(
        &engine,
        "Good",
        json!([{"id": "a", "operation": "select", "from": "Note"}]),
    );
    fails(
        &engine,
        json!({"operation": "update", "in": "Workflow Template", "input": {"name": "Good",
            "data": {"children": [{"id": "a", "operation": "teleport"}]}}}),
        "UNKNOWN_OPERATION",
    );
    let good = &docs_where(&engine, "Workflow Template", json!({"name": "Good"}))[0];
    assert_eq!(good["children"][0]["operation"], json!("select"));

    // Inline workflows get the same checks before any step runs.
    let run = inline(
        &engine,
        json!([
            {"id": "a", "operation": "create", "into": "Note", "input": {"data": {"t": 1}}},
            {"id": "a", "operation": "create", "into": "Note", "input": {"data": {"t": 2}}}
        ]),
        Value::Null,
    );
    assert_eq!(error(&run).code.as_str(), "BAD_REQUEST");
    assert!(stored(&engine, &run.id).child_run_ids.is_empty());
    assert_eq!(count(&engine, "Note"), 0);
}

#[test]
fn mutual_inclusion_is_allowed_at_save_and_stopped_by_the_depth_limit() {
    let engine = engine();
    // B does not exist yet when A is saved: allowed, so cycles can be built.
    template(
        &engine,
        "A",
        json!([
            {"id": "note", "operation": "create", "into": "Note", "input": {"data": {"in": "A"}}},
            {"id": "b", "operation": "workflow", "template": "B"}
        ]),
    );
    template(
        &engine,
        "B",
        json!([{"id": "a", "operation": "workflow", "template": "A"}]),
    );
    let started = std::time::Instant::now();
    let run = run_template(&engine, "A", json!({}));
    let e = error(&run);
    assert_eq!(e.code.as_str(), "LIMIT_EXCEEDED", "{}", e.message);
    assert_eq!(e.details["stepId"], json!("b"));
    assert!(started.elapsed().as_secs() < 5);
    assert_eq!(count(&engine, "Note"), 0);
    // The tree shows how deep it went before the limit stopped it.
    let tree = engine.run_tree(&run.id).unwrap().unwrap();
    let mut all = Vec::new();
    flatten(&tree, &mut all);
    let workflows = all
        .iter()
        .filter(|r| r.operation.as_deref() == Some("workflow"))
        .count();
    fn depth(tree: &RunTree) -> usize {
        tree.children
            .iter()
            .map(|c| 1 + depth(c))
            .max()
            .unwrap_or(0)
    }
    // The README's 16 levels: the top run is level 0, levels 1 to 16 run, and the step run
    // that would be level 17 (A's `create`) is refused, recorded as a leaf past the limit.
    assert_eq!(coworker::MAX_NESTED_DEPTH, 16);
    assert_eq!(
        depth(&tree),
        17,
        "the tree is 16 levels deep plus the refused run"
    );
    assert_eq!(workflows, 17, "one workflow run per level from 0 to 16");
    assert!(all.iter().any(|r| {
        r.error
            .as_ref()
            .is_some_and(|e| e.code.as_str() == "LIMIT_EXCEEDED" && r.child_run_ids.is_empty())
    }));
}

#[test]
fn the_template_version_is_its_content_hash_recorded_on_every_run() {
    let engine = engine();
    template(
        &engine,
        "Versioned",
        json!([{"id": "a", "operation": "create", "into": "Note", "input": {"data": {"v": 1}}}]),
    );
    let first = run_template(&engine, "Versioned", json!({}));
    assert!(first.success, "{:?}", first.error);
    let v1 = first.output["version"]
        .as_str()
        .expect("a version")
        .to_string();
    assert!(!v1.is_empty());
    assert_eq!(first.output["template"], json!("Versioned"));
    assert_eq!(stored(&engine, &first.id).output["version"], json!(v1));
    let again = run_template(&engine, "Versioned", json!({}));
    assert_eq!(
        again.output["version"],
        json!(v1),
        "same content, same version"
    );

    ok(
        &engine,
        json!({"operation": "update", "in": "Workflow Template", "input": {"name": "Versioned", "data": {
            "children": [{"id": "a", "operation": "create", "into": "Note", "input": {"data": {"v": 2}}}]}}}),
    );
    let changed = run_template(&engine, "Versioned", json!({}));
    assert!(changed.success, "{:?}", changed.error);
    let v2 = changed.output["version"].as_str().unwrap();
    assert_ne!(v1, v2, "a new content is a new version");
    assert_eq!(stored(&engine, &changed.id).output["version"], json!(v2));
    assert_eq!(
        stored(&engine, &first.id).output["version"],
        json!(v1),
        "old runs keep theirs"
    );

    ok(
        &engine,
        json!({"operation": "update", "in": "Workflow Template", "input": {"name": "Versioned", "data": {
            "variables": {"x": 1}}}}),
    );
    let with_variables = run_template(&engine, "Versioned", json!({}));
    assert!(with_variables.success, "{:?}", with_variables.error);
    assert_ne!(
        with_variables.output["version"],
        json!(v2),
        "variables are content too"
    );
    assert_ne!(with_variables.output["version"], json!(v1));

    // Another template with the same steps has the same version.
    template(
        &engine,
        "Copy",
        json!([{"id": "a", "operation": "create", "into": "Note", "input": {"data": {"v": 2}}}]),
    );
    assert_eq!(
        run_template(&engine, "Copy", json!({})).output["version"],
        json!(v2)
    );
}
