//! `coworker demo`: the README's first command, a short real session against a fresh store
//! (schema, validation, create → select → update → delete, a bundled pack and its workflow).

use super::Fatal;
use super::runs::print_tree;
use coworker::{Engine, RunQuery};
use serde_json::{Value, json};
use std::path::Path;
use std::process::ExitCode;

/// The `project-flow` pack, shipped inside the binary for the demo.
macro_rules! bundled {
    ($path:literal) => {
        (
            $path,
            include_str!(concat!("../../operations/project-flow/", $path)),
        )
    };
}
const DEMO_PACK: &[(&str, &str)] = &[
    bundled!("pack.json"),
    bundled!("schemas/inbound_email.json"),
    bundled!("schemas/notification.json"),
    bundled!("schemas/project.json"),
    bundled!("schemas/project_task.json"),
    bundled!("schemas/sales_lead.json"),
    bundled!("schemas/sales_opportunity.json"),
    bundled!("operations/map_fields.json"),
    bundled!("operations/map_fields.rhai"),
    bundled!("operations/summarize_email.json"),
    bundled!("operations/summarize_email.rhai"),
    bundled!("workflows/email_to_tasks.json"),
    bundled!("workflows/lead_to_opportunity.json"),
    bundled!("workflows/triage_inbox.json"),
];

/// The demo's workflow input: an email that becomes a project and its tasks.
const DEMO_EMAIL: &str = "Hi team,\nThe launch moves to May. Budget is unchanged.\n- Book the venue @ana\n- Print badges asap @ben\n- Draft the press release\n- Order coffee when you can\nThanks,\nCara";

/// The README's first command: a short, real session against a fresh store.
pub(crate) fn demo(db: Option<&Path>) -> Result<ExitCode, Fatal> {
    let scratch;
    let path = match db {
        Some(path) => path.to_path_buf(),
        None => {
            scratch = tempfile::tempdir()?;
            scratch.path().join("demo.redb")
        }
    };
    say!("coworker demo — store: {}\n", path.display());
    let engine = Engine::open(&path)?;
    let steps: [(&str, Value); 8] = [
        (
            "import a ToDo schema (Frappe DocType JSON)",
            json!({"operation": "create", "into": "Schema", "owner": "alice", "input": {"data": {
                "doctype": "DocType", "name": "ToDo", "autoname": "TODO-.#####",
                "fields": [
                    {"fieldname": "description", "fieldtype": "Data", "reqd": 1, "in_list_view": 1},
                    {"fieldname": "status", "fieldtype": "Select", "options": "Open\nClosed",
                     "default": "Open", "search_index": 1, "in_list_view": 1},
                    {"fieldname": "priority", "fieldtype": "Int", "default": "3"}]}}}),
        ),
        (
            "a ToDo that breaks the schema is refused, every violation listed",
            json!({"operation": "create", "into": "ToDo", "owner": "alice", "input": {"data": {
                "status": "Done", "priority": "high"}}}),
        ),
        (
            "create three ToDo documents",
            json!({"operation": "create", "into": "ToDo", "owner": "alice", "input": {"data": [
                {"description": "Write the spec", "status": "Open", "priority": 2},
                {"description": "Review the spec", "status": "Open", "priority": 1},
                {"description": "Order lunch", "status": "Closed", "priority": 3}]}}),
        ),
        (
            "select the open ones, most urgent first",
            json!({"operation": "select", "from": "ToDo", "owner": "alice", "input": {
                "where": {"status": "Open"}, "orderBy": {"priority": "asc"},
                "select": ["name", "description", "priority"]}}),
        ),
        (
            "close everything about the spec",
            json!({"operation": "update", "in": "ToDo", "owner": "alice", "input": {
                "where": {"description": {"contains": "spec"}}, "data": {"status": "Closed"}}}),
        ),
        (
            "delete the closed ones with priority above 1",
            json!({"operation": "delete", "from": "ToDo", "owner": "alice", "input": {
                "where": {"AND": [{"status": "Closed"}, {"priority": {"gt": 1}}]}}}),
        ),
        (
            "a bad request is a failed run, not a crash",
            json!({"operation": "select", "from": "ToDo", "input": {"where": {"status": {"like": "%"}}}}),
        ),
        (
            "what is left",
            json!({"operation": "select", "from": "ToDo", "owner": "alice"}),
        ),
    ];
    for (i, (title, request)) in steps.into_iter().enumerate() {
        let run = engine.run_value(request);
        say!("{}. {title}", i + 1);
        match &run.error {
            None => {
                let docs: Vec<String> = run
                    .data()
                    .iter()
                    .map(|d| match d {
                        Value::Object(_) => format!(
                            "{} {}",
                            d.get("name").and_then(Value::as_str).unwrap_or("?"),
                            d.get("description")
                                .map(Value::to_string)
                                .unwrap_or_default()
                        ),
                        other => other.to_string(),
                    })
                    .collect();
                say!(
                    "   {} {} ok in {:.2} ms → {}",
                    run.operation.as_deref().unwrap_or("?"),
                    run.doctype.as_deref().unwrap_or(""),
                    run.duration,
                    if docs.is_empty() {
                        "nothing".into()
                    } else {
                        docs.join("; ")
                    }
                );
            }
            Some(error) => {
                say!("   failed: {} — {}", error.code, error.message);
                for detail in error.details.as_array().into_iter().flatten() {
                    say!(
                        "     {} [{}]: {}",
                        detail["path"].as_str().unwrap_or(""),
                        detail["rule"].as_str().unwrap_or(""),
                        detail["message"].as_str().unwrap_or("")
                    );
                }
            }
        }
        say!("   run {}", run.id);
    }
    say!("\n9. install the bundled pack `project-flow` (schemas, operations, workflow templates)");
    let pack = coworker::Pack::from_files(DEMO_PACK.iter().copied())?;
    let installed = engine.install(&pack);
    match &installed.error {
        None => say!(
            "   installed {} in one run ({} nested runs)",
            pack.name,
            installed.child_run_ids.len()
        ),
        Some(error) => say!("   failed: {} — {}", error.code, error.message),
    }
    say!("\n10. run the workflow `Email To Tasks` on an inbound email");
    let flow = engine.run_value(json!({"operation": "workflow", "template": "Email To Tasks",
        "owner": "alice", "input": {"from": "cara@client.example", "subject": "[Apollo] launch prep",
        "body": DEMO_EMAIL}}));
    for step in flow.output["steps"].as_array().into_iter().flatten() {
        say!(
            "   step {:<10} {}",
            step["id"].as_str().unwrap_or("?"),
            step["status"].as_str().unwrap_or("?")
        );
    }
    if let Some(error) = &flow.error {
        say!("   failed: {} — {}", error.code, error.message);
    }
    say!("\n   its run tree (coworker runs tree {}):", flow.id);
    if let Some(tree) = engine.run_tree(&flow.id)? {
        let mut text = String::new();
        print_tree(&tree, 2, &mut text);
        say!("{}", text.trim_end());
    }
    engine.flush()?;
    let recorded = engine.list_runs(&RunQuery::default())?;
    say!("\n{} runs recorded.", recorded.len());
    match db {
        Some(path) => say!(
            "Inspect one with: coworker --db {} runs show {}",
            path.display(),
            recorded.last().map(|r| r.id.as_str()).unwrap_or("?")
        ),
        None => say!("The store was temporary; keep one with: coworker --db demo.redb demo"),
    }
    Ok(ExitCode::SUCCESS)
}
