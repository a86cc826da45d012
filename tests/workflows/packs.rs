//! Workflows in packs: a pack whose workflow runs a missing template installs nothing, and the
//! project-flow pack turns an email into a project and tasks.

use super::*;
use std::path::Path;

fn write(dir: &Path, file: &str, text: &str) {
    let path = dir.join(file);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

#[test]
fn a_pack_whose_workflow_runs_a_missing_template_installs_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let pack = dir.path();
    write(
        pack,
        "pack.json",
        r#"{"name": "wf-broken", "version": "1.0.0", "description": "x"}"#,
    );
    write(
        pack,
        "schemas/thing.json",
        r#"{"name": "Thing", "fields": [{"fieldname": "title", "fieldtype": "Data"}]}"#,
    );
    write(
        pack,
        "operations/shout.json",
        r#"{"name": "shout", "requiresTarget": "none"}"#,
    );
    write(pack, "operations/shout.rhai", r#""HEY""#);
    write(
        pack,
        "workflows/outer.json",
        r#"{"name": "Outer", "children": [
            {"id": "t", "operation": "create", "into": "Thing", "input": {"data": {"title": "x"}}},
            {"id": "m", "map": "{{input.xs}}", "steps": [
                {"id": "sub", "operation": "workflow", "template": "Not Shipped"}]}]}"#,
    );
    write(
        pack,
        "workflows/fine.json",
        r#"{"name": "Fine", "children": [{"id": "s", "operation": "shout"}]}"#,
    );
    let engine = engine();
    let run = engine.install_pack(pack);
    let e = error(&run);
    assert_eq!(e.code.as_str(), "NOT_FOUND", "{}", e.message);
    assert!(e.message.contains("Not Shipped"), "{}", e.message);
    assert!(e.message.contains("Outer"), "{}", e.message);
    assert!(engine.schema("Thing").unwrap().is_none());
    assert!(docs_where(&engine, "Operation", json!({"name": "shout"})).is_empty());
    assert!(docs(&engine, "Workflow Template").is_empty());
    assert!(engine.packs().unwrap().is_empty());

    // Shipping the template, or having it in the store, makes the pack install.
    template(
        &engine,
        "Not Shipped",
        json!([{"id": "n", "operation": "select", "from": "Note"}]),
    );
    let run = engine.install_pack(pack);
    assert!(run.success, "{:?}", run.error);
    assert_eq!(docs(&engine, "Workflow Template").len(), 3);

    // A step whose operation does not exist is refused at install.
    write(
        pack,
        "workflows/fine.json",
        r#"{"name": "Fine", "children": [{"id": "s", "operation": "whisper"}]}"#,
    );
    write(
        pack,
        "pack.json",
        r#"{"name": "wf-broken", "version": "1.0.1", "description": "x"}"#,
    );
    let run = engine.install_pack(pack);
    assert_eq!(error(&run).code.as_str(), "UNKNOWN_OPERATION");
    let fine = &docs_where(&engine, "Workflow Template", json!({"name": "Fine"}))[0];
    assert_eq!(fine["children"][0]["operation"], json!("shout"));
}

#[test]
fn the_project_flow_pack_turns_an_email_into_a_project_and_tasks() {
    let engine = engine();
    let installed = engine.install_pack(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/operations/project-flow"
    ));
    assert!(installed.success, "{:?}", installed.error);
    let run = engine.run_value(
        json!({"operation": "workflow", "template": "Email To Tasks", "owner": "pm", "input": {
            "from": "cara@client.example", "subject": "[Apollo] launch prep",
            "body": "Hi team,\nThe launch moves to May. Budget unchanged.\n- Book the venue @ana\n- Print badges asap @ben\n- Draft the press release\n- Order coffee when you can\nThanks"}}),
    );
    assert!(run.success, "{:?}", run.error);
    assert_eq!(run.output["template"], json!("Email To Tasks"));
    assert!(run.output["version"].is_string());
    assert_eq!(
        statuses(&run),
        pairs(&[
            ("email", "completed"),
            ("summary", "completed"),
            ("existing", "completed"),
            ("project", "completed"),
            ("tasks", "completed"),
            ("notify", "completed"),
            ("processed", "completed")
        ])
    );
    let project = &docs(&engine, "Project")[0];
    assert_eq!(project["name"], json!("Apollo"));
    let tasks = docs(&engine, "Project Task");
    assert_eq!(tasks.len(), 4);
    assert!(tasks.iter().all(|t| t["project"] == json!("Apollo")
        && t["createdByTemplate"] == json!("Email To Tasks")
        && t["owner"] == json!("pm")));
    assert_eq!(tasks[1]["priority"], json!("High"));
    assert_eq!(tasks[1]["assignee"], json!("ben"));
    let email = &docs(&engine, "Inbound Email")[0];
    assert_eq!(email["status"], json!("Processed"));
    assert_eq!(email["task_count"], json!(4));
    assert_eq!(email["summary"], json!("The launch moves to May."));
    assert_eq!(docs(&engine, "Notification").len(), 1);

    // A second email about the same project reuses it and, with few tasks, notifies nobody.
    let second = run_template(
        &engine,
        "Email To Tasks",
        json!({"from": "ana@example.com", "subject": "Re: [Apollo] venue", "body": "Booked.\n- Send the floor plan"}),
    );
    assert!(second.success, "{:?}", second.error);
    assert_eq!(step(&second, "project")["status"], json!("skipped"));
    assert_eq!(step(&second, "notify")["status"], json!("skipped"));
    assert_eq!(docs(&engine, "Project").len(), 1);
    assert_eq!(docs(&engine, "Notification").len(), 1);

    // The nested template over a batch, one bad email rescued.
    let triage = run_template(
        &engine,
        "Triage Inbox",
        json!({"emails": [
            {"from": "eve@x.example", "subject": "[Zeus] kickoff", "body": "Kickoff.\n- agenda @eve"},
            {"from": "bo@x.example", "subject": "no body"}]}),
    );
    assert!(triage.success, "{:?}", triage.error);
    let zeus = docs_where(&engine, "Project Task", json!({"project": "Zeus"}));
    assert_eq!(zeus.len(), 1);
    assert_eq!(zeus[0]["createdByTemplate"], json!("Email To Tasks"));
    let errors = docs_where(&engine, "Notification", json!({"kind": "Error"}));
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0]["createdByTemplate"], json!("Triage Inbox"));
    let tree = engine.run_tree(&triage.id).unwrap().unwrap();
    assert_eq!(
        tree.children.len(),
        4,
        "two nested workflows, a fallback, a select"
    );
    assert_eq!(
        tree.children[0].run.template.as_deref(),
        Some("Email To Tasks")
    );

    // Lead To Opportunity, with its field map as data.
    ok(
        &engine,
        json!({"operation": "create", "into": "Sales Lead", "input": {"data": {
            "lead_name": "Ada Lovelace", "company_name": "Analytical Engines", "email_id": "ada@engines.example"}}}),
    );
    let converted = run_template(
        &engine,
        "Lead To Opportunity",
        json!({"lead": "SL-00001", "expectedValue": 75000, "rep": "sam"}),
    );
    assert!(converted.success, "{:?}", converted.error);
    let opp = &docs(&engine, "Sales Opportunity")[0];
    assert_eq!(opp["customer_name"], json!("Analytical Engines"));
    assert_eq!(opp["contact_person"], json!("Ada Lovelace"));
    assert_eq!(opp["lead"], json!("SL-00001"));
    assert_eq!(opp["expected_value"], json!(75000));
    assert!(opp.get("territory").is_none_or(Value::is_null));
    let lead = &docs(&engine, "Sales Lead")[0];
    assert_eq!(lead["opportunity"], opp["name"]);
    assert_eq!(lead["status"], json!("Converted"));
    assert_eq!(step(&converted, "big_deal")["status"], json!("completed"));
}
