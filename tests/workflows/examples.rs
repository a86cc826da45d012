//! The seed's examples, end to end: an email becomes a summary and tasks, a lead becomes an
//! opportunity, a notification is created only above a threshold.

use super::*;

/// Save a `Workflow Template` with variables (must succeed).
fn template_with(engine: &Engine, name: &str, variables: Value, children: Value) -> Run {
    ok(
        engine,
        json!({"operation": "create", "into": "Workflow Template",
               "input": {"data": {"name": name, "variables": variables, "children": children}}}),
    )
}

/// A Rhai op that summarizes an email: the first line is the summary, `- ` lines are action
/// items (`@name` assigns), `Project: X` names a project.
const SUMMARIZE: &str = r#"
let body = context.input.body;
let summary = ();
let project = ();
let items = [];
for raw in body.split("\n") {
    let line = raw;
    line.trim();
    if line == "" { continue; }
    if line.starts_with("Project:") {
        let p = line.sub_string(8);
        p.trim();
        project = p;
    } else if line.starts_with("- ") {
        let text = line.sub_string(2);
        let who = ();
        let at = text.index_of(" @");
        if at >= 0 {
            who = text.sub_string(at + 2);
            text = text.sub_string(0, at);
        }
        items.push(#{title: text, assignee: who});
    } else if summary == () {
        summary = line;
    }
}
#{summary: summary, project: project, hasProject: project != (), actionItems: items}
"#;

const EMAIL: &str = "Hi team, the launch moves to May.\nProject: Apollo\n- Book the venue @ana\n- Print badges @ben\n- Draft the press release";

#[test]
fn an_email_becomes_a_summary_and_tasks() {
    let engine = engine();
    op(&engine, "summarize", SUMMARIZE);
    let run = inline(
        &engine,
        json!([
            {"id": "email", "operation": "create", "into": "Email",
             "input": {"data": {"from": "{{input.from}}", "body": "{{input.body}}"}}},
            {"id": "summary", "operation": "summarize", "input": {"body": "{{email.body}}"}},
            {"id": "tasks", "map": "{{summary.output.actionItems}}", "steps": [
                {"id": "task", "operation": "create", "into": "Task",
                 "input": {"data": {"title": "{{item.title}}", "assignee": "{{item.assignee}}",
                                    "position": "{{index}}", "email": "{{email.name}}",
                                    "about": "{{summary.output.summary}}"}}}]},
            {"id": "done", "operation": "update", "in": "Email",
             "input": {"name": "{{email.name}}",
                       "data": {"summary": "{{summary.output.summary}}", "tasks": "{{tasks.output.length}}"}}}
        ]),
        json!({"from": "cara@client.example", "body": EMAIL}),
    );
    assert!(run.success, "{:?}", run.error);
    assert_eq!(
        statuses(&run),
        pairs(&[
            ("email", "completed"),
            ("summary", "completed"),
            ("tasks", "completed"),
            ("done", "completed")
        ])
    );
    let summary = &step(&run, "summary")["output"];
    assert_eq!(
        summary["summary"],
        json!("Hi team, the launch moves to May.")
    );
    assert_eq!(summary["project"], json!("Apollo"));

    let email = &docs(&engine, "Email")[0];
    // Schema-less documents get hash names: order the tasks by their position.
    let mut tasks = docs(&engine, "Task");
    tasks.sort_by_key(|t| t["position"].as_u64());
    let titles: Vec<&Value> = tasks.iter().map(|t| &t["title"]).collect();
    assert_eq!(
        titles,
        [
            &json!("Book the venue"),
            &json!("Print badges"),
            &json!("Draft the press release")
        ]
    );
    let assignees: Vec<&Value> = tasks.iter().map(|t| &t["assignee"]).collect();
    assert_eq!(assignees, [&json!("ana"), &json!("ben"), &Value::Null]);
    let positions: Vec<&Value> = tasks.iter().map(|t| &t["position"]).collect();
    assert_eq!(
        positions,
        [&json!(0), &json!(1), &json!(2)],
        "{{{{index}}}} keeps its number type"
    );
    for task in &tasks {
        assert_eq!(task["email"], email["name"]);
        assert_eq!(task["about"], json!("Hi team, the launch moves to May."));
    }
    assert_eq!(email["tasks"], json!(3));
    assert_eq!(email["summary"], json!("Hi team, the launch moves to May."));
    assert_eq!(email["body"], json!(EMAIL));
}

#[test]
fn tasks_and_projects_are_created_together() {
    let engine = engine();
    schemas(
        &engine,
        json!([
            {"name": "Project", "autoname": "field:project_name", "fields": [
                {"fieldname": "project_name", "fieldtype": "Data", "reqd": 1},
                {"fieldname": "task_count", "fieldtype": "Int"}]},
            {"name": "Project Task", "autoname": "format:PT-{###}", "fields": [
                {"fieldname": "subject", "fieldtype": "Data", "reqd": 1},
                {"fieldname": "project", "fieldtype": "Link", "options": "Project", "reqd": 1}]}
        ]),
    );
    template(
        &engine,
        "Plan Project",
        json!([
            {"id": "project", "operation": "create", "into": "Project",
             "input": {"data": {"project_name": "{{input.name}}"}}},
            {"id": "tasks", "map": "{{input.tasks}}", "steps": [
                {"id": "task", "operation": "create", "into": "Project Task",
                 "input": {"data": {"subject": "{{item}}", "project": "{{project.name}}"}}}]},
            {"id": "count", "operation": "select", "from": "Project Task",
             "input": {"where": {"project": "{{project.name}}"}}},
            {"id": "total", "operation": "update", "in": "Project",
             "input": {"name": "{{project.name}}", "data": {"task_count": "{{count.output.meta.count}}"}}}
        ]),
    );
    let run = run_template(
        &engine,
        "Plan Project",
        json!({"name": "Apollo", "tasks": ["venue", "badges"]}),
    );
    assert!(run.success, "{:?}", run.error);
    // Each task links to the project created earlier in the same transaction.
    let tasks = docs(&engine, "Project Task");
    assert_eq!(tasks.len(), 2);
    assert_eq!(tasks[0]["name"], json!("PT-001"));
    assert_eq!(tasks[0]["subject"], json!("venue"));
    assert!(tasks.iter().all(|t| t["project"] == json!("Apollo")));
    assert_eq!(docs(&engine, "Project")[0]["task_count"], json!(2));

    // A second plan for the same project fails at its first step, a task of a project that
    // does not exist at its map: nothing of either remains.
    let again = run_template(
        &engine,
        "Plan Project",
        json!({"name": "Apollo", "tasks": ["more"]}),
    );
    assert_eq!(error(&again).details["stepId"], json!("project"));
    let broken = inline(
        &engine,
        json!([
            {"id": "p", "operation": "create", "into": "Project", "input": {"data": {"project_name": "Zeus"}}},
            {"id": "t", "operation": "create", "into": "Project Task",
             "input": {"data": {"subject": "x", "project": "Nope"}}}
        ]),
        Value::Null,
    );
    assert_eq!(error(&broken).code.as_str(), "VALIDATION_FAILED");
    assert_eq!(docs(&engine, "Project").len(), 1);
    assert_eq!(docs(&engine, "Project Task").len(), 2);
}

#[test]
fn a_lead_becomes_an_opportunity_with_field_mapping_and_a_back_link() {
    let engine = engine();
    schemas(
        &engine,
        json!([
            {"name": "Lead", "autoname": "format:LEAD-{####}", "fields": [
                {"fieldname": "lead_name", "fieldtype": "Data", "reqd": 1},
                {"fieldname": "company_name", "fieldtype": "Data"},
                {"fieldname": "email_id", "fieldtype": "Data"},
                {"fieldname": "status", "fieldtype": "Select", "options": "Open\nConverted", "default": "Open"},
                {"fieldname": "opportunity", "fieldtype": "Link", "options": "Opportunity", "set_only_once": 1}]},
            {"name": "Opportunity", "autoname": "format:OPP-{####}", "fields": [
                {"fieldname": "lead", "fieldtype": "Link", "options": "Lead"},
                {"fieldname": "customer_name", "fieldtype": "Data", "reqd": 1},
                {"fieldname": "contact_person", "fieldtype": "Data"},
                {"fieldname": "contact_email", "fieldtype": "Data"},
                {"fieldname": "expected_value", "fieldtype": "Currency"},
                {"fieldname": "title", "fieldtype": "Data"}]}
        ]),
    );
    ok(
        &engine,
        json!({"operation": "create", "into": "Lead", "input": {"data": {
            "lead_name": "Ada Lovelace", "company_name": "Analytical Engines", "email_id": "ada@engines.example"}}}),
    );
    template(
        &engine,
        "Convert Lead",
        json!([
            {"id": "lead", "operation": "select", "from": "Lead", "input": {"where": {"name": "{{input.lead}}"}}},
            {"id": "opportunity", "operation": "create", "into": "Opportunity", "input": {"data": {
                "lead": "{{lead.name}}",
                "customer_name": "{{lead.company_name}}",
                "contact_person": "{{lead.lead_name}}",
                "contact_email": "{{lead.output.data[0].email_id}}",
                "expected_value": "{{input.value}}",
                "title": "{{lead.company_name}} ({{input.value}})"}}},
            {"id": "backlink", "operation": "update", "in": "Lead", "input": {
                "name": "{{lead.name}}", "data": {"status": "Converted", "opportunity": "{{opportunity.name}}"}}}
        ]),
    );
    let run = run_template(
        &engine,
        "Convert Lead",
        json!({"lead": "LEAD-0001", "value": 12000}),
    );
    assert!(run.success, "{:?}", run.error);
    let opp = &docs(&engine, "Opportunity")[0];
    assert_eq!(opp["name"], json!("OPP-0001"));
    assert_eq!(opp["lead"], json!("LEAD-0001"));
    assert_eq!(opp["customer_name"], json!("Analytical Engines"));
    assert_eq!(opp["contact_person"], json!("Ada Lovelace"));
    assert_eq!(opp["contact_email"], json!("ada@engines.example"));
    assert_eq!(
        opp["expected_value"],
        json!(12000),
        "a whole reference keeps its type"
    );
    assert_eq!(
        opp["title"],
        json!("Analytical Engines (12000)"),
        "inside a longer string it is text"
    );
    assert_eq!(opp["createdByTemplate"], json!("Convert Lead"));
    // The step's run records the request as it ran: references resolved.
    let opp_run = step_run(&engine, &run, "opportunity");
    assert_eq!(
        opp_run.input["data"]["customer_name"],
        json!("Analytical Engines")
    );
    assert_eq!(opp_run.step_id.as_deref(), Some("opportunity"));
    assert_eq!(opp_run.parent_run_id.as_deref(), Some(run.id.as_str()));
    assert_eq!(opp["createdByRun"], step(&run, "opportunity")["runId"]);

    let lead = &docs(&engine, "Lead")[0];
    assert_eq!(lead["status"], json!("Converted"));
    assert_eq!(lead["opportunity"], json!("OPP-0001"));
    assert_eq!(lead["modifiedByRun"], step(&run, "backlink")["runId"]);
    assert_ne!(lead["createdByRun"], lead["modifiedByRun"]);

    // Converting again fails at the back-link (set only once): no second opportunity.
    let again = run_template(
        &engine,
        "Convert Lead",
        json!({"lead": "LEAD-0001", "value": 1}),
    );
    assert_eq!(error(&again).code.as_str(), "VALIDATION_FAILED");
    assert_eq!(error(&again).details["stepId"], json!("backlink"));
    assert_eq!(docs(&engine, "Opportunity").len(), 1);
}

fn notify_template(engine: &Engine) {
    template_with(
        engine,
        "Notify Busy",
        json!({"above": 2, "who": "pm@example.com"}),
        json!([
            {"id": "tasks", "operation": "select", "from": "Task", "input": {"where": {"batch": "{{input.batch}}"}}},
            {"id": "notify", "operation": "create", "into": "Notification",
             "if": "{{tasks.output.data.length}} > {{variables.above}}",
             "input": {"data": {"for": "{{variables.who}}", "text": "{{tasks.output.data.length}} tasks in {{input.batch}}"}}},
            {"id": "after", "operation": "select", "from": "Notification"}
        ]),
    );
}

#[test]
fn a_notification_is_created_only_when_there_are_more_than_n_records() {
    let engine = engine();
    notify_template(&engine);
    ok(
        &engine,
        json!({"operation": "create", "into": "Task", "input": {"data": [
            {"batch": "big"}, {"batch": "big"}, {"batch": "big"}, {"batch": "small"}, {"batch": "small"}]}}),
    );

    // More than N: the step runs.
    let busy = run_template(&engine, "Notify Busy", json!({"batch": "big"}));
    assert!(busy.success, "{:?}", busy.error);
    assert_eq!(step(&busy, "notify")["status"], json!("completed"));
    let notes = docs(&engine, "Notification");
    assert_eq!(notes.len(), 1);
    assert_eq!(notes[0]["text"], json!("3 tasks in big"));
    assert_eq!(notes[0]["for"], json!("pm@example.com"));

    // Exactly N: skipped, yet listed in output.steps in its place, without a run.
    let quiet = run_template(&engine, "Notify Busy", json!({"batch": "small"}));
    assert!(quiet.success, "{:?}", quiet.error);
    assert_eq!(
        statuses(&quiet),
        pairs(&[
            ("tasks", "completed"),
            ("notify", "skipped"),
            ("after", "completed")
        ])
    );
    assert_eq!(step(&quiet, "notify")["runId"], Value::Null);
    assert_eq!(step(&quiet, "notify")["output"], Value::Null);
    assert_eq!(docs(&engine, "Notification").len(), 1);
    let steps: Vec<Option<String>> = children(&engine, &quiet)
        .iter()
        .map(|r| r.step_id.clone())
        .collect();
    assert_eq!(
        steps,
        [Some("tasks".to_string()), Some("after".to_string())],
        "a skipped step starts no run"
    );
}
