//! Story: identity and permissions. Every run names who asked (`owner`) and who executed
//! (`agent`); once access control is on, the owner's roles decide what the run may do — Frappe
//! DocPerm rows per doctype (read, write, create, delete, if_owner) and an Operation's `roles`
//! — for top-level runs and for every nested run of scripts and workflows alike, so an agent
//! never does more than its owner. Denials are PERMISSION_DENIED naming doctype and
//! operation, change nothing and are audited. Hosts get rate limits per owner, timeouts,
//! batches and run callbacks.
//!
//! One file per story below; the helpers and fixtures more than one story uses live here.

mod cli;
mod events;
mod identity;
mod if_owner;
mod operation_roles;
mod permissions;
mod rate_limits;
mod timeouts_and_batches;

use crate::harness::*;
use coworker::{Engine, Run, RunOptions, RunRequest, RunStatus};
use serde_json::{Value, json};
use std::path::Path;
use std::process::Output;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

const ADMIN: &str = "Administrator";

/// Users of the matrix and their roles.
const USERS: [(&str, &[&str]); 4] = [
    ("manager", &["Accounts Manager"]),
    ("clerk", &["Accounts User"]),
    ("sales", &["Sales User"]),
    ("nobody", &[]),
];

/// A handler that runs `input.req` as a nested run and fails with the child's error.
const AS_OWNER: &str = r#"
let child = run(context.input.req);
if !child.success { throw #{code: child.error.code, message: child.error.message}; }
child.output
"#;

/// The error code of a run, `""` when it succeeded.
fn code(run: &Run) -> &str {
    run.error.as_ref().map_or("", |e| e.code.as_str())
}

fn message(run: &Run) -> String {
    run.error
        .as_ref()
        .map(|e| e.message.clone())
        .unwrap_or_default()
}

/// `request` with `owner` set.
fn owned(mut request: Value, owner: &str) -> Value {
    request["owner"] = json!(owner);
    request
}

/// Run `request` as the superuser; must succeed.
fn admin_ok(engine: &Engine, request: Value) -> Run {
    ok(engine, owned(request, ADMIN))
}

/// Every document of `doctype`, by name, as the superuser sees them.
fn docs(engine: &Engine, doctype: &str) -> Vec<Value> {
    admin_ok(
        engine,
        json!({"operation": "select", "from": doctype, "input": {"orderBy": {"name": "asc"}}}),
    )
    .data()
    .to_vec()
}

fn doc(engine: &Engine, doctype: &str, name: &str) -> Option<Value> {
    docs(engine, doctype)
        .into_iter()
        .find(|d| d["name"] == json!(name))
}

/// Audit entries matching `filter`, oldest first (read as the superuser).
fn audit(engine: &Engine, filter: Value) -> Vec<Value> {
    admin_ok(
        engine,
        json!({"operation": "select", "from": "Audit Trail",
               "input": {"where": filter, "orderBy": {"seq": "asc"}}}),
    )
    .data()
    .to_vec()
}

/// The schemas of the matrix: `Invoice` with DocPerm rows, `Memo` with none.
fn schemas() -> Vec<Value> {
    vec![
        json!({"doctype": "DocType", "name": "Invoice", "fields": [
            {"fieldname": "customer", "fieldtype": "Data"},
            {"fieldname": "amount", "fieldtype": "Int"}],
            "permissions": [
                {"role": "Accounts Manager", "read": 1, "write": 1, "create": 1, "delete": 1},
                {"role": "Accounts User", "read": 1, "create": 1},
                {"role": "Sales User", "read": 1, "write": 1, "delete": 1, "if_owner": 1},
                {"role": "Sales User", "create": 1}]}),
        json!({"doctype": "DocType", "name": "Memo", "fields": [
            {"fieldname": "amount", "fieldtype": "Int"}], "permissions": []}),
    ]
}

/// A store with access control on: the matrix schemas, its users, and the `as_owner`
/// operation (open to every user) that runs a request as a nested run.
fn setup() -> Engine {
    let engine = engine();
    engine
        .enable_acl(ADMIN, None)
        .expect("access control turns on");
    let admin = engine.with_owner(ADMIN);
    let imported = admin.import_schemas(schemas());
    assert!(imported.success, "{:?}", imported.error);
    for (user, roles) in USERS {
        admin_ok(
            &engine,
            json!({"operation": "create", "into": "User",
                   "input": {"data": {"name": user, "full_name": user, "roles": roles}}}),
        );
    }
    admin_ok(
        &engine,
        json!({"operation": "create", "into": "Operation",
               "input": {"data": {"name": "as_owner", "handlerCode": AS_OWNER}}}),
    );
    engine
}

/// `Scratch` has no schema at all (the null schema).
const DOCTYPES: [&str; 3] = ["Invoice", "Memo", "Scratch"];

fn names_of(docs: &[Value]) -> Vec<String> {
    let mut names: Vec<String> = docs
        .iter()
        .map(|d| d["name"].as_str().unwrap_or_default().to_string())
        .collect();
    names.sort();
    names
}

fn create_note(name: &str) -> RunRequest {
    RunRequest::new("create")
        .into_doctype("Note")
        .input(json!({"data": {"name": name}}))
}

fn missing_update() -> RunRequest {
    RunRequest::new("update")
        .in_doctype("Note")
        .input(json!({"name": "missing", "data": {"x": 1}}))
}
