//! Story: multi-step work is declared as data. A `Workflow Template` document (or an inline
//! `input.children`, what an AI planner generates) lists steps; the built-in `workflow`
//! operation runs each step as a nested run of the workflow run, so every step is validated,
//! recorded and rolled back like any run. Steps see earlier results through `{{...}}`
//! references (data lookups, never code), `if` conditions bind those references as typed
//! variables, `parallel` groups, `onError` fallbacks, `retry`, `timeoutMs` and `map` steer
//! them, and the run records (trees, flows, `createdByRun`/`createdByTemplate`) tell what
//! happened afterwards.

use crate::harness::*;
use coworker::{Engine, Run, RunError, RunQuery, RunStatus, RunTree};
use serde_json::{Value, json};
use std::path::Path;
use std::process::Output;

// --- helpers ----------------------------------------------------------------------------

/// The error of a failed run.
fn error(run: &Run) -> &RunError {
    run.error
        .as_ref()
        .unwrap_or_else(|| panic!("expected a failed run, got output {}", run.output))
}

/// Run an inline workflow: `children` are the steps, `input` the rest of its input.
fn inline(engine: &Engine, children: Value, input: Value) -> Run {
    let mut input = match input {
        Value::Null => json!({}),
        other => other,
    };
    input["children"] = children;
    run(engine, json!({"operation": "workflow", "input": input}))
}

/// Run the template `name` with `input`.
fn run_template(engine: &Engine, name: &str, input: Value) -> Run {
    run(
        engine,
        json!({"operation": "workflow", "template": name, "input": input}),
    )
}

/// Save a `Workflow Template` (must succeed).
fn template(engine: &Engine, name: &str, children: Value) -> Run {
    ok(
        engine,
        json!({"operation": "create", "into": "Workflow Template",
               "input": {"data": {"name": name, "children": children}}}),
    )
}

/// Save a `Workflow Template` with variables (must succeed).
fn template_with(engine: &Engine, name: &str, variables: Value, children: Value) -> Run {
    ok(
        engine,
        json!({"operation": "create", "into": "Workflow Template",
               "input": {"data": {"name": name, "variables": variables, "children": children}}}),
    )
}

/// Save a custom operation with Rhai handler code (must succeed).
fn op(engine: &Engine, name: &str, code: &str) {
    ok(
        engine,
        json!({"operation": "create", "into": "Operation",
               "input": {"data": {"name": name, "handlerCode": code}}}),
    );
}

/// Import schemas (must succeed).
fn schemas(engine: &Engine, docs: Value) {
    let Value::Array(docs) = docs else {
        panic!("schemas takes an array")
    };
    let run = engine.import_schemas(docs);
    assert!(run.success, "schemas import: {:?}", run.error);
}

/// The documents of a doctype, by name.
fn docs(engine: &Engine, doctype: &str) -> Vec<Value> {
    ok(
        engine,
        json!({"operation": "select", "from": doctype, "input": {"orderBy": {"name": "asc"}}}),
    )
    .data()
    .to_vec()
}

/// The documents of a doctype matching `filter`.
fn docs_where(engine: &Engine, doctype: &str, filter: Value) -> Vec<Value> {
    ok(
        engine,
        json!({"operation": "select", "from": doctype,
               "input": {"where": filter, "orderBy": {"name": "asc"}}}),
    )
    .data()
    .to_vec()
}

/// The entry of step `id` in a workflow run's `output.steps`.
fn step<'r>(run: &'r Run, id: &str) -> &'r Value {
    run.output["steps"]
        .as_array()
        .unwrap_or_else(|| panic!("no output.steps in {}", run.output))
        .iter()
        .find(|s| s["id"] == json!(id))
        .unwrap_or_else(|| panic!("no step `{id}` in {}", run.output["steps"]))
}

/// `[id, status]` of every listed step, in order.
fn statuses(run: &Run) -> Vec<(String, String)> {
    run.output["steps"]
        .as_array()
        .unwrap_or_else(|| panic!("no output.steps in {}", run.output))
        .iter()
        .map(|s| {
            (
                s["id"].as_str().unwrap_or_default().to_string(),
                s["status"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

/// The step run of step `id` (through the `runId` its entry names).
fn step_run(engine: &Engine, run: &Run, id: &str) -> Run {
    let run_id = step(run, id)["runId"]
        .as_str()
        .unwrap_or_else(|| panic!("step `{id}` has no run"));
    stored(engine, run_id)
}

/// The direct child runs of `run`, as stored.
fn children(engine: &Engine, run: &Run) -> Vec<Run> {
    stored(engine, &run.id)
        .child_run_ids
        .iter()
        .map(|id| stored(engine, id))
        .collect()
}

fn query() -> RunQuery {
    RunQuery::default()
}

/// Every run of a tree, depth first.
fn flatten(tree: &RunTree, out: &mut Vec<Run>) {
    out.push(tree.run.clone());
    for child in &tree.children {
        flatten(child, out);
    }
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

// --- 1. the seed's examples -----------------------------------------------------------------

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

#[test]
fn referencing_a_skipped_step_fails_naming_it() {
    let engine = engine();
    let run = inline(
        &engine,
        json!([
            {"id": "maybe", "operation": "create", "into": "Note", "if": "{{input.go}}",
             "input": {"data": {"t": 1}}},
            {"id": "use", "operation": "create", "into": "Note",
             "input": {"data": {"from": "{{maybe.output.data[0].name}}"}}}
        ]),
        json!({"go": false}),
    );
    let e = error(&run);
    assert_eq!(e.code.as_str(), "BAD_REQUEST");
    assert!(e.message.contains("maybe"), "{}", e.message);
    assert!(e.message.contains("skipped"), "{}", e.message);
    assert_eq!(e.details["stepId"], json!("use"));
    assert_eq!(count(&engine, "Note"), 0);

    // The same workflow with the step taken works.
    let run = inline(
        &engine,
        json!([
            {"id": "maybe", "operation": "create", "into": "Note", "if": "{{input.go}}",
             "input": {"data": {"t": 1}}},
            {"id": "use", "operation": "create", "into": "Note",
             "input": {"data": {"from": "{{maybe.output.data[0].name}}"}}}
        ]),
        json!({"go": true}),
    );
    assert!(run.success, "{:?}", run.error);
    assert_eq!(count(&engine, "Note"), 2);
}

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

/// A Rhai op that writes a Note, then throws: its write must not survive its failure.
const WRITE_THEN_THROW: &str = r#"
run(#{operation: "create", into: "Scratch", input: #{data: #{by: "doomed"}}});
throw "the payment service is down";
"#;

#[test]
fn on_error_runs_a_fallback_and_the_workflow_continues() {
    let engine = engine();
    op(&engine, "charge", WRITE_THEN_THROW);
    let run = inline(
        &engine,
        json!([
            {"id": "charge", "operation": "charge",
             "onError": {"operation": "create", "into": "Log",
                         "input": {"data": {"code": "{{error.code}}", "message": "{{error.message}}",
                                            "line": "charge failed: {{error.code}}"}}}},
            {"id": "after", "operation": "create", "into": "Note",
             "input": {"data": {"log": "{{charge.output.data[0].name}}", "prev": "{{prev.output.data[0].code}}"}}}
        ]),
        Value::Null,
    );
    assert!(run.success, "{:?}", run.error);
    let charge = step(&run, "charge");
    assert_eq!(
        charge["status"],
        json!("failed"),
        "the failure stays recorded"
    );
    assert_eq!(charge["error"]["code"], json!("SCRIPT_ERROR"));
    let failed = step_run(&engine, &run, "charge");
    assert_eq!(failed.status, RunStatus::Failed);
    assert_eq!(failed.operation.as_deref(), Some("charge"));

    let logs = docs(&engine, "Log");
    assert_eq!(logs.len(), 1);
    assert_eq!(logs[0]["code"], json!("SCRIPT_ERROR"));
    assert!(
        logs[0]["message"]
            .as_str()
            .unwrap()
            .contains("the payment service is down"),
        "{}",
        logs[0]["message"]
    );
    assert_eq!(logs[0]["line"], json!("charge failed: SCRIPT_ERROR"));
    // Afterwards the step's output is the fallback's.
    assert_eq!(charge["output"]["data"][0]["name"], logs[0]["name"]);
    let note = &docs(&engine, "Note")[0];
    assert_eq!(note["log"], logs[0]["name"]);
    assert_eq!(note["prev"], json!("SCRIPT_ERROR"));
    // The failed step's own write was rolled back; the fallback's remains.
    assert_eq!(count(&engine, "Scratch"), 0);
    let fallback = stored(
        &engine,
        charge["fallbackRunId"].as_str().expect("fallbackRunId"),
    );
    assert!(fallback.success);
    assert_eq!(logs[0]["createdByRun"], json!(fallback.id));
    assert_eq!(fallback.parent_run_id.as_deref(), Some(run.id.as_str()));

    // A fallback that fails too fails the workflow, naming the fallback.
    let run = inline(
        &engine,
        json!([
            {"id": "first", "operation": "create", "into": "Note", "input": {"data": {"t": 1}}},
            {"id": "charge", "operation": "charge",
             "onError": {"operation": "nope_not_an_operation"}}
        ]),
        Value::Null,
    );
    assert_eq!(error(&run).code.as_str(), "UNKNOWN_OPERATION");
    let run = inline(
        &engine,
        json!([
            {"id": "first", "operation": "create", "into": "Note", "input": {"data": {"t": 1}}},
            {"id": "charge", "operation": "charge",
             "onError": {"operation": "charge"}}
        ]),
        Value::Null,
    );
    let e = error(&run);
    assert_eq!(e.code.as_str(), "SCRIPT_ERROR");
    assert_eq!(e.details["stepId"], json!("charge.onError"));
    assert_eq!(count(&engine, "Note"), 1, "only the first workflow's note");
}

#[test]
fn a_failed_nested_workflow_rescued_by_on_error_leaves_none_of_its_writes() {
    let engine = engine();
    template(
        &engine,
        "Half Done",
        json!([
            {"id": "one", "operation": "create", "into": "Task", "input": {"data": {"title": "one"}}},
            {"id": "two", "operation": "create", "into": "Task", "input": {"data": {"title": "two"}}},
            {"id": "bad", "operation": "workflow", "template": "Nowhere"}
        ]),
    );
    let run = inline(
        &engine,
        json!([
            {"id": "kept", "operation": "create", "into": "Note", "input": {"data": {"t": "kept"}}},
            {"id": "sub", "operation": "workflow", "template": "Half Done",
             "onError": {"operation": "create", "into": "Log", "input": {"data": {
                 "code": "{{error.code}}", "failed": "{{error.details.stepId}}"}}}},
            {"id": "after", "operation": "select", "from": "Task"}
        ]),
        Value::Null,
    );
    assert!(run.success, "{:?}", run.error);
    assert_eq!(step(&run, "sub")["status"], json!("failed"));
    assert_eq!(
        count(&engine, "Task"),
        0,
        "the nested workflow's writes are rolled back"
    );
    assert_eq!(step(&run, "after")["output"]["data"], json!([]));
    assert_eq!(count(&engine, "Note"), 1);
    let log = &docs(&engine, "Log")[0];
    assert_eq!(log["code"], json!("NOT_FOUND"));
    assert_eq!(log["failed"], json!("bad"));
}

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

#[test]
fn a_failing_middle_step_leaves_no_writes_and_names_the_step() {
    let engine = engine();
    schemas(
        &engine,
        json!([{"name": "Invoice", "fields": [{"fieldname": "amount", "fieldtype": "Currency", "reqd": 1}]}]),
    );
    template(
        &engine,
        "Bill",
        json!([
            {"id": "customer", "operation": "create", "into": "Customer", "input": {"data": {"name": "C-1"}}},
            {"id": "touch", "operation": "update", "in": "Customer", "input": {"name": "C-1", "data": {"touched": true}}},
            {"id": "invoice", "operation": "create", "into": "Invoice", "input": {"data": {"amount": "{{input.amount}}"}}},
            {"id": "after", "operation": "create", "into": "Note", "input": {"data": {"t": 1}}}
        ]),
    );
    let run = run_template(&engine, "Bill", json!({"amount": "lots"}));
    let e = error(&run);
    assert_eq!(
        e.code.as_str(),
        "VALIDATION_FAILED",
        "the step's own code: {}",
        e.message
    );
    assert_eq!(e.details["stepId"], json!("invoice"));
    let failed = stored(&engine, e.details["runId"].as_str().expect("runId"));
    assert_eq!(failed.step_id.as_deref(), Some("invoice"));
    assert_eq!(failed.status, RunStatus::Failed);
    assert_eq!(failed.parent_run_id.as_deref(), Some(run.id.as_str()));
    assert!(e.message.contains("invoice"), "{}", e.message);
    assert_eq!(count(&engine, "Customer"), 0);
    assert_eq!(count(&engine, "Invoice"), 0);
    assert_eq!(count(&engine, "Note"), 0);
    // The records remain: the workflow and the steps that ran, the later step never started.
    let recorded = stored(&engine, &run.id);
    assert_eq!(recorded.status, RunStatus::Failed);
    let steps: Vec<Option<String>> = children(&engine, &run)
        .iter()
        .map(|r| r.step_id.clone())
        .collect();
    assert_eq!(
        steps,
        ["customer", "touch", "invoice"].map(|s| Some(s.to_string()))
    );

    // A script step's own error code passes through too.
    op(&engine, "boom", r#"throw "boom""#);
    let run = inline(
        &engine,
        json!([
            {"id": "a", "operation": "create", "into": "Note", "input": {"data": {"t": 1}}},
            {"id": "b", "operation": "boom"},
            {"id": "c", "operation": "create", "into": "Note", "input": {"data": {"t": 2}}}
        ]),
        Value::Null,
    );
    assert_eq!(error(&run).code.as_str(), "SCRIPT_ERROR");
    assert_eq!(error(&run).details["stepId"], json!("b"));
    assert_eq!(count(&engine, "Note"), 0);
}

#[test]
fn a_string_that_looks_like_code_stays_data_in_if() {
    let engine = engine();
    let children = json!([
        {"id": "eq_x", "operation": "create", "into": "Hit", "if": "{{input.title}} == \"x\"",
         "input": {"data": {"which": "eq_x"}}},
        {"id": "eq_self", "operation": "create", "into": "Hit", "if": "{{input.title}} == \"1 == 1 || true\"",
         "input": {"data": {"which": "eq_self"}}},
        {"id": "typed", "operation": "create", "into": "Hit", "if": "type_of({{input.title}}) == \"string\"",
         "input": {"data": {"which": "typed"}}},
        {"id": "store", "operation": "create", "into": "Record",
         "input": {"data": {"title": "{{input.title}}", "quoted": "say {{input.title}}", "template": "{{input.template}}",
                            "inside": "see {{input.template}}"}}}
    ]);
    for hostile in [
        "1 == 1 || true",
        "\" || true || \"",
        "x\" || true || \"x",
        "}} {{input.secret}}",
    ] {
        let run = inline(
            &engine,
            children.clone(),
            json!({"title": hostile, "template": "{{input.secret}}", "secret": "s3cret"}),
        );
        assert!(run.success, "{hostile}: {:?}", run.error);
        assert_eq!(
            step(&run, "eq_x")["status"],
            json!("skipped"),
            "`{hostile}` is a string, not code"
        );
        let expected = if hostile == "1 == 1 || true" {
            "completed"
        } else {
            "skipped"
        };
        assert_eq!(
            step(&run, "eq_self")["status"],
            json!(expected),
            "{hostile}"
        );
        assert_eq!(step(&run, "typed")["status"], json!("completed"));
        let stored_doc = &step(&run, "store")["output"]["data"][0];
        assert_eq!(stored_doc["title"], json!(hostile));
        assert_eq!(stored_doc["quoted"], json!(format!("say {hostile}")));
        // A resolved value is never resolved again.
        assert_eq!(stored_doc["template"], json!("{{input.secret}}"));
        assert_eq!(stored_doc["inside"], json!("see {{input.secret}}"));
    }
    let records = docs(&engine, "Record");
    assert_eq!(records.len(), 4);
    assert!(
        records
            .iter()
            .all(|r| r["template"] == json!("{{input.secret}}"))
    );
    assert_eq!(count(&engine, "Hit"), 4 + 1);
}

#[test]
fn interpolation_writes_json_text_and_whole_references_keep_their_type() {
    let engine = engine();
    let run = inline(
        &engine,
        json!([
            {"id": "a", "operation": "create", "into": "Note", "input": {"data": {
                "n": "{{input.n}}", "b": "{{input.b}}", "o": "{{input.o}}", "l": "{{input.l}}", "z": "{{input.z}}",
                "text": "n={{input.n}} b={{input.b}} z={{input.z}} o={{input.o}} l={{input.l}} s={{input.s}}",
                "len": "{{input.l.length}}", "slen": "{{input.s.length}}", "second": "{{input.l[1]}}",
                "deep": "{{input.o.k[0].v}}"}}},
            {"id": "b", "operation": "create", "into": "Note", "input": {"data": {
                "first": "{{a.name}}", "prev": "{{prev.output.data[0].n}}", "whole": "{{a.output.data[0].o}}"}}}
        ]),
        json!({"n": 3, "b": true, "z": null, "o": {"k": [{"v": 1}]}, "l": [1, "two"], "s": "héllo"}),
    );
    assert!(run.success, "{:?}", run.error);
    let a = &step(&run, "a")["output"]["data"][0];
    assert_eq!(a["n"], json!(3));
    assert_eq!(a["b"], json!(true));
    assert_eq!(a["o"], json!({"k": [{"v": 1}]}));
    assert_eq!(a["l"], json!([1, "two"]));
    assert_eq!(
        a["text"],
        json!(r#"n=3 b=true z=null o={"k":[{"v":1}]} l=[1,"two"] s=héllo"#)
    );
    assert_eq!(a["len"], json!(2));
    assert_eq!(a["slen"], json!(5));
    assert_eq!(a["second"], json!("two"));
    assert_eq!(a["deep"], json!(1));
    let b = &step(&run, "b")["output"]["data"][0];
    assert_eq!(b["first"], a["name"]);
    assert_eq!(b["prev"], json!(3));
    assert_eq!(b["whole"], json!({"k": [{"v": 1}]}));
}

/// Writes a Scratch note of its attempt, then throws unless this is attempt 3 or later.
const FLAKY: &str = r#"
run(#{operation: "create", into: "Scratch", input: #{data: #{attempt: context.attempt}}});
if context.attempt < 3 { throw `attempt ${context.attempt} failed`; }
#{attempt: context.attempt}
"#;

#[test]
fn a_retried_step_succeeds_on_a_later_attempt_and_failed_attempts_leave_nothing() {
    let engine = engine();
    op(&engine, "flaky", FLAKY);
    let run = inline(
        &engine,
        json!([
            {"id": "call", "operation": "flaky", "retry": {"max": 2, "backoffMs": 5}},
            {"id": "after", "operation": "create", "into": "Note", "input": {"data": {"attempt": "{{call.output.attempt}}"}}}
        ]),
        Value::Null,
    );
    assert!(run.success, "{:?}", run.error);
    assert_eq!(step(&run, "call")["status"], json!("completed"));
    assert_eq!(step(&run, "call")["output"], json!({"attempt": 3}));
    let scratch = docs(&engine, "Scratch");
    assert_eq!(
        scratch.len(),
        1,
        "each failed attempt is rolled back on its own"
    );
    assert_eq!(scratch[0]["attempt"], json!(3));
    assert_eq!(docs(&engine, "Note")[0]["attempt"], json!(3));
    // Every attempt is a recorded run of the same step; the listed one is the last.
    let attempts: Vec<(Option<String>, RunStatus)> = children(&engine, &run)
        .iter()
        .map(|r| (r.step_id.clone(), r.status))
        .collect();
    let call = Some("call".to_string());
    assert_eq!(
        attempts,
        [
            (call.clone(), RunStatus::Failed),
            (call.clone(), RunStatus::Failed),
            (call, RunStatus::Completed),
            (Some("after".to_string()), RunStatus::Completed)
        ]
    );
    assert_eq!(
        step(&run, "call")["runId"],
        json!(children(&engine, &run)[2].id)
    );
}

#[test]
fn retries_come_before_the_fallback() {
    let engine = engine();
    op(&engine, "flaky", FLAKY);
    let run = inline(
        &engine,
        json!([
            {"id": "call", "operation": "flaky", "retry": {"max": 1},
             "onError": {"operation": "create", "into": "Log", "input": {"data": {"why": "{{error.message}}"}}}},
            {"id": "after", "operation": "create", "into": "Note", "input": {"data": {"log": "{{call.name}}"}}}
        ]),
        Value::Null,
    );
    assert!(run.success, "{:?}", run.error);
    let call = step(&run, "call");
    assert_eq!(call["status"], json!("failed"));
    assert!(
        call["error"]["message"]
            .as_str()
            .unwrap()
            .contains("attempt 2 failed"),
        "{}",
        call["error"]
    );
    assert_eq!(count(&engine, "Scratch"), 0, "no attempt's write remains");
    let logs = docs(&engine, "Log");
    assert_eq!(logs.len(), 1);
    assert!(
        logs[0]["why"]
            .as_str()
            .unwrap()
            .contains("attempt 2 failed"),
        "{}",
        logs[0]["why"]
    );
    assert_eq!(docs(&engine, "Note")[0]["log"], logs[0]["name"]);
    let kinds: Vec<Option<String>> = children(&engine, &run)
        .iter()
        .map(|r| r.step_id.clone())
        .collect();
    assert_eq!(
        kinds,
        ["call", "call", "call.onError", "after"].map(|s| Some(s.to_string()))
    );

    // Without a fallback the last attempt's error fails the workflow.
    let run = inline(
        &engine,
        json!([{"id": "call", "operation": "flaky", "retry": {"max": 1}}]),
        Value::Null,
    );
    assert_eq!(error(&run).code.as_str(), "SCRIPT_ERROR");
    assert!(
        error(&run).message.contains("attempt 2 failed"),
        "{}",
        error(&run).message
    );
    assert_eq!(count(&engine, "Scratch"), 0);
}

#[test]
fn a_step_that_outlives_its_timeout_fails_with_timeout() {
    let engine = engine();
    // An operations budget no 30 ms loop reaches, so the clock is what stops it.
    ok(
        &engine,
        json!({"operation": "create", "into": "Operation", "input": {"data": {"name": "slow",
            "limits": {"maxOperations": 1_000_000_000u64},
            "handlerCode": r#"run(#{operation: "create", into: "Scratch", input: #{data: #{t: 1}}}); let i = 0; loop { i += 1; }"#}}}),
    );
    let started = std::time::Instant::now();
    let run = inline(
        &engine,
        json!([
            {"id": "first", "operation": "create", "into": "Note", "input": {"data": {"t": 1}}},
            {"id": "slow", "operation": "slow", "timeoutMs": 30}
        ]),
        Value::Null,
    );
    let e = error(&run);
    assert_eq!(e.code.as_str(), "TIMEOUT", "{}", e.message);
    assert_eq!(e.details["stepId"], json!("slow"));
    assert!(
        started.elapsed().as_millis() < 1_500,
        "{:?}",
        started.elapsed()
    );
    assert_eq!(count(&engine, "Scratch"), 0);
    assert_eq!(count(&engine, "Note"), 0);

    // With a fallback, the timeout is rescued like any failure.
    let run = inline(
        &engine,
        json!([
            {"id": "slow", "operation": "slow", "timeoutMs": 30,
             "onError": {"operation": "create", "into": "Log", "input": {"data": {"code": "{{error.code}}"}}}}
        ]),
        Value::Null,
    );
    assert!(run.success, "{:?}", run.error);
    assert_eq!(docs(&engine, "Log")[0]["code"], json!("TIMEOUT"));
}

#[test]
fn map_runs_its_steps_per_record_and_collects_outputs_in_order() {
    let engine = engine();
    ok(
        &engine,
        json!({"operation": "create", "into": "Customer", "input": {"data": [
            {"name": "C-1", "city": "Oslo"}, {"name": "C-2", "city": "Lyon"}, {"name": "C-3", "city": "Porto"}]}}),
    );
    let run = inline(
        &engine,
        json!([
            {"id": "customers", "operation": "select", "from": "Customer", "input": {"orderBy": {"name": "asc"}}},
            {"id": "invoices", "map": "{{customers.output.data}}", "steps": [
                {"id": "draft", "operation": "create", "into": "Invoice", "input": {"data": {
                    "customer": "{{item.name}}", "position": "{{index}}", "batch": "{{input.batch}}",
                    "of": "{{customers.output.data.length}}", "label": "#{{index}} {{item.city}}"}}},
                {"id": "line", "operation": "create", "into": "Invoice Line", "input": {"data": {
                    "invoice": "{{draft.name}}", "city": "{{item.city}}"}}}
            ]},
            {"id": "after", "operation": "create", "into": "Note", "input": {"data": {
                "count": "{{invoices.output.length}}",
                "second_line": "{{invoices.output[1].data[0].city}}",
                "prev": "{{prev.output.length}}"}}}
        ]),
        json!({"batch": "B-7"}),
    );
    assert!(run.success, "{:?}", run.error);
    let invoices = docs(&engine, "Invoice");
    let summary: Vec<Value> = {
        let mut v: Vec<Value> = invoices
            .iter()
            .map(|i| {
                json!([
                    i["customer"],
                    i["position"],
                    i["batch"],
                    i["of"],
                    i["label"]
                ])
            })
            .collect();
        v.sort_by_key(|x| x[1].as_u64());
        v
    };
    assert_eq!(
        summary,
        [
            json!(["C-1", 0, "B-7", 3, "#0 Oslo"]),
            json!(["C-2", 1, "B-7", 3, "#1 Lyon"]),
            json!(["C-3", 2, "B-7", 3, "#2 Porto"])
        ]
    );
    // Per-item output = the last inner step's output, in item order.
    let outputs = step(&run, "invoices")["output"].as_array().unwrap().clone();
    let cities: Vec<&Value> = outputs.iter().map(|o| &o["data"][0]["city"]).collect();
    assert_eq!(cities, [&json!("Oslo"), &json!("Lyon"), &json!("Porto")]);
    // Inner steps see their own item's earlier steps.
    for line in docs(&engine, "Invoice Line") {
        let invoice = docs_where(&engine, "Invoice", json!({"name": line["invoice"]}));
        assert_eq!(invoice.len(), 1);
    }
    let note = &docs(&engine, "Note")[0];
    assert_eq!(note["count"], json!(3));
    assert_eq!(note["second_line"], json!("Lyon"));
    assert_eq!(note["prev"], json!(3));
    // Inner step runs are named by item.
    let step_ids: Vec<String> = children(&engine, &run)
        .iter()
        .filter_map(|r| r.step_id.clone())
        .collect();
    assert_eq!(
        step_ids,
        [
            "customers",
            "invoices[0].draft",
            "invoices[0].line",
            "invoices[1].draft",
            "invoices[1].line",
            "invoices[2].draft",
            "invoices[2].line",
            "after"
        ]
    );
    // An empty array maps to an empty output.
    let empty = inline(
        &engine,
        json!([{"id": "m", "map": "{{input.items}}", "steps": [
            {"id": "x", "operation": "create", "into": "Never", "input": {"data": {"i": "{{item}}"}}}]}]),
        json!({"items": []}),
    );
    assert!(empty.success, "{:?}", empty.error);
    assert_eq!(step(&empty, "m")["output"], json!([]));
}

#[test]
fn map_is_bounded_and_needs_an_array() {
    let engine = engine();
    let children = json!([{"id": "m", "map": "{{input.items}}", "steps": [
        {"id": "x", "operation": "create", "into": "Note", "input": {"data": {"i": "{{item}}"}}}]}]);
    let items: Vec<u32> = (0..1_001).collect();
    let run = inline(&engine, children.clone(), json!({"items": items}));
    let e = error(&run);
    assert_eq!(e.code.as_str(), "LIMIT_EXCEEDED");
    assert!(e.message.contains("1001"), "{}", e.message);
    assert_eq!(e.details["stepId"], json!("m"));
    assert_eq!(count(&engine, "Note"), 0);

    let run = inline(&engine, children, json!({"items": "not a list"}));
    assert_eq!(error(&run).code.as_str(), "BAD_REQUEST");
    assert_eq!(error(&run).details["stepId"], json!("m"));
}

#[test]
fn a_workflow_may_start_a_bounded_number_of_step_runs() {
    let engine = engine();
    // 600 items x 2 steps = 1200 step runs, over the per-workflow limit of 1000.
    let items: Vec<u32> = (0..600).collect();
    let run = inline(
        &engine,
        json!([{"id": "m", "map": "{{input.items}}", "concurrency": 4, "steps": [
            {"id": "a", "operation": "create", "into": "Note", "input": {"data": {"i": "{{item}}"}}},
            {"id": "b", "operation": "select", "from": "Note", "input": {"take": 0}}]}]),
        json!({"items": items}),
    );
    let e = error(&run);
    assert_eq!(e.code.as_str(), "LIMIT_EXCEEDED", "{}", e.message);
    assert!(e.message.contains("1000"), "{}", e.message);
    assert_eq!(count(&engine, "Note"), 0);

    // Under the limit, `concurrency` is accepted and results stay in item order.
    let items: Vec<u32> = (0..20).collect();
    let run = inline(
        &engine,
        json!([{"id": "m", "map": "{{input.items}}", "concurrency": 4, "steps": [
            {"id": "a", "operation": "select", "from": "Note", "input": {"where": {"i": "{{item}}"}}}]},
            {"id": "n", "operation": "create", "into": "Note", "input": {"data": {"i": "{{m.output.length}}"}}}]),
        json!({"items": items}),
    );
    assert!(run.success, "{:?}", run.error);
    assert_eq!(docs(&engine, "Note")[0]["i"], json!(20));
}

#[test]
fn a_map_step_with_on_error_is_rescued_and_none_of_its_items_remain() {
    let engine = engine();
    let run = inline(
        &engine,
        json!([
            {"id": "m", "map": "{{input.items}}", "steps": [
                {"id": "x", "operation": "create", "into": "Note", "input": {"data": {"v": "{{item.v}}"}}}],
             "onError": {"operation": "create", "into": "Log", "input": {"data": {"code": "{{error.code}}"}}}},
            {"id": "after", "operation": "create", "into": "Done", "input": {"data": {"log": "{{m.output.data[0].name}}"}}}
        ]),
        json!({"items": [{"v": 1}, {"w": 2}]}),
    );
    assert!(run.success, "the fallback rescues the map: {:?}", run.error);
    assert_eq!(step(&run, "m")["status"], json!("failed"));
    assert_eq!(
        count(&engine, "Note"),
        0,
        "a rescued step is rolled back on its own"
    );
    let log = &docs(&engine, "Log")[0];
    assert_eq!(log["code"], json!("BAD_REQUEST"));
    assert_eq!(docs(&engine, "Done")[0]["log"], log["name"]);
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

// --- 2. errors that name what is wrong ------------------------------------------------------

#[test]
fn an_if_that_does_not_give_a_boolean_is_a_bad_request() {
    let engine = engine();
    for condition in ["{{input.n}} + 1", "{{input.s}}", "()"] {
        let run = inline(
            &engine,
            json!([
                {"id": "first", "operation": "create", "into": "Note", "input": {"data": {"t": 1}}},
                {"id": "odd", "operation": "create", "into": "Note", "if": condition, "input": {"data": {"t": 2}}}
            ]),
            json!({"n": 1, "s": "yes"}),
        );
        let e = error(&run);
        assert_eq!(e.code.as_str(), "BAD_REQUEST", "{condition}: {}", e.message);
        assert!(e.message.contains("odd"), "{}", e.message);
        assert_eq!(e.details["stepId"], json!("odd"));
        assert_eq!(count(&engine, "Note"), 0);
    }
}

#[test]
fn a_missing_reference_is_a_bad_request_naming_it() {
    let engine = engine();
    for (reference, why) in [
        ("{{input.missing}}", "missing"),
        ("{{first.output.data[5].name}}", "[5]"),
        ("{{first.nope}}", "nope"),
        ("{{input.n.deeper}}", "deeper"),
    ] {
        let run = inline(
            &engine,
            json!([
                {"id": "first", "operation": "create", "into": "Note", "input": {"data": {"t": 1}}},
                {"id": "second", "operation": "create", "into": "Note", "input": {"data": {"x": reference}}}
            ]),
            json!({"n": 3}),
        );
        let e = error(&run);
        assert_eq!(e.code.as_str(), "BAD_REQUEST", "{reference}");
        assert!(e.message.contains(reference), "{reference}: {}", e.message);
        assert!(e.message.contains(why), "{reference}: {}", e.message);
        assert_eq!(e.details["stepId"], json!("second"));
        assert_eq!(count(&engine, "Note"), 0, "never a silent null");
    }
    // A root that is no earlier step is refused before anything runs.
    let run = inline(
        &engine,
        json!([{"id": "a", "operation": "create", "into": "Note", "input": {"data": {"x": "{{ghost.output}}"}}}]),
        Value::Null,
    );
    assert_eq!(error(&run).code.as_str(), "BAD_REQUEST");
    assert!(
        error(&run).message.contains("ghost"),
        "{}",
        error(&run).message
    );
    assert!(stored(&engine, &run.id).child_run_ids.is_empty());
}

#[test]
fn an_unknown_template_is_not_found_naming_it() {
    let engine = engine();
    let run = run_template(&engine, "No Such Template", json!({}));
    let e = error(&run);
    assert_eq!(e.code.as_str(), "NOT_FOUND");
    assert!(e.message.contains("No Such Template"), "{}", e.message);

    // Inside a step too: the step fails with NOT_FOUND, and the workflow with it.
    let run = inline(
        &engine,
        json!([
            {"id": "a", "operation": "create", "into": "Note", "input": {"data": {"t": 1}}},
            {"id": "sub", "operation": "workflow", "template": "Ghost"}
        ]),
        Value::Null,
    );
    let e = error(&run);
    assert_eq!(e.code.as_str(), "NOT_FOUND");
    assert!(e.message.contains("Ghost"), "{}", e.message);
    assert_eq!(e.details["stepId"], json!("sub"));
    assert_eq!(count(&engine, "Note"), 0);

    // Neither a template nor inline steps.
    let run = engine.run_value(json!({"operation": "workflow", "input": {}}));
    assert!(!run.success);
}

/// A template is checked again when what it names changes: deleting an operation it uses
/// makes its next run fail, and a deleted template is not found, however often it ran before.
#[test]
fn a_template_whose_operation_or_itself_is_deleted_stops_running() {
    let engine = engine();
    op(&engine, "helper", "42");
    template(
        &engine,
        "Uses Helper",
        json!([{"id": "h", "operation": "helper"}]),
    );
    for _ in 0..3 {
        let run = run_template(&engine, "Uses Helper", json!({}));
        assert!(run.success, "{:?}", run.error);
        assert_eq!(step(&run, "h")["output"], json!(42));
    }
    ok(
        &engine,
        json!({"operation": "delete", "from": "Operation", "input": {"name": "helper"}}),
    );
    let run = run_template(&engine, "Uses Helper", json!({}));
    assert!(!run.success, "the deleted operation is noticed");
    assert!(
        error(&run).message.contains("helper"),
        "{}",
        error(&run).message
    );
    ok(
        &engine,
        json!({"operation": "delete", "from": "Workflow Template", "input": {"name": "Uses Helper"}}),
    );
    let run = run_template(&engine, "Uses Helper", json!({}));
    assert_eq!(error(&run).code.as_str(), "NOT_FOUND");
}

/// A workflow that only selects runs on a read snapshot; once its template gains a step that
/// writes, the write happens (it is never dropped on a snapshot).
#[test]
fn a_template_that_only_reads_and_then_writes_does_both() {
    let engine = engine();
    ok(
        &engine,
        json!({"operation": "create", "into": "Note", "input": {"data": {"name": "n1"}}}),
    );
    template(
        &engine,
        "Reader",
        json!([{"id": "look", "operation": "select", "from": "Note"}]),
    );
    for _ in 0..3 {
        let run = run_template(&engine, "Reader", json!({}));
        assert!(run.success, "{:?}", run.error);
        assert_eq!(step(&run, "look")["output"]["data"][0]["name"], json!("n1"));
        assert_eq!(children(&engine, &run).len(), 1, "the step run is recorded");
    }
    ok(
        &engine,
        json!({"operation": "update", "in": "Workflow Template", "input": {"name": "Reader",
        "data": {"children": [
            {"id": "look", "operation": "select", "from": "Note"},
            {"id": "add", "operation": "create", "into": "Note", "input": {"data": {"name": "n2"}}}
        ]}}}),
    );
    let run = run_template(&engine, "Reader", json!({}));
    assert!(run.success, "{:?}", run.error);
    assert_eq!(count(&engine, "Note"), 2, "the new step's write is kept");
    // Inline steps that only read take the read path too, and see the same documents.
    let run = inline(
        &engine,
        json!([{"id": "all", "operation": "select", "from": "Note"}]),
        Value::Null,
    );
    assert!(run.success, "{:?}", run.error);
    assert_eq!(step(&run, "all")["output"]["meta"]["count"], json!(2));
}

// --- 3. checked at save -------------------------------------------------------------------------

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

// --- 4. traceability ------------------------------------------------------------------------

/// A Rhai op whose handler makes a nested run: workflow → step → script's child.
const LOG_NOTE: &str = r#"
let made = run(#{operation: "create", into: "Note", input: #{data: #{text: context.input.text}}});
if !made.success { throw made.error.message; }
made.output.data[0].name
"#;

fn traced_workflow(engine: &Engine) -> Run {
    op(engine, "log_note", LOG_NOTE);
    template(
        engine,
        "Traced",
        json!([
            {"id": "task", "operation": "create", "into": "Task", "input": {"data": {"title": "t"}}},
            {"id": "log", "operation": "log_note", "input": {"text": "made {{task.name}}"}},
            {"id": "close", "operation": "update", "in": "Task", "input": {"name": "{{task.name}}", "data": {"done": true}}}
        ]),
    );
    let run = engine.run_value(
        json!({"operation": "workflow", "template": "Traced", "owner": "alice", "input": {}}),
    );
    assert!(run.success, "{:?}", run.error);
    run
}

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

// --- 5. flow context ------------------------------------------------------------------------

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

// --- 6. packs ---------------------------------------------------------------------------------

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

// --- 7. scripts may run workflows -----------------------------------------------------------

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
