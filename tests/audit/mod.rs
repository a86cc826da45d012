//! Story: the audit trail. Every create, update (with a field-level diff) and delete — through
//! the API, scripts and workflows — and every permission denial and validation failure leaves
//! an `Audit Trail` entry naming the document, the run, its owner and agent; entries commit
//! with the change they describe. No path can change or remove an entry (IMMUTABLE); a
//! correction is a new entry. Entries form a SHA-256 hash chain that `coworker audit verify`
//! walks, so a byte changed in the store file is caught. Run records never change once
//! completed.
//!
//! One file per story below; the helpers more than one story uses live here.

mod append_only;
mod hash_chain;
mod packs_and_cli;
mod reading;
mod recorded;
mod run_records;

use crate::harness::*;
use coworker::{Engine, Run, RunRequest};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::path::Path;
use std::process::Output;

const ADMIN: &str = "Administrator";

fn code(run: &Run) -> &str {
    run.error.as_ref().map_or("", |e| e.code.as_str())
}

/// Audit entries matching `filter`, oldest first (`engine` must be allowed to read them).
fn entries(engine: &Engine, filter: Value) -> Vec<Value> {
    ok(
        engine,
        json!({"operation": "select", "from": "Audit Trail",
               "input": {"where": filter, "orderBy": {"seq": "asc"}}}),
    )
    .data()
    .to_vec()
}

fn all_entries(engine: &Engine) -> Vec<Value> {
    entries(engine, json!({}))
}

/// The one entry matching `filter` (panics on none or several).
fn one(engine: &Engine, filter: Value) -> Value {
    let found = entries(engine, filter.clone());
    assert_eq!(found.len(), 1, "one entry for {filter}, found {found:#?}");
    found.into_iter().next().unwrap()
}

fn save_op(engine: &Engine, name: &str, code: &str) {
    ok(
        engine,
        json!({"operation": "create", "into": "Operation",
               "input": {"data": {"name": name, "handlerCode": code}}}),
    );
}

/// A handler that runs `input.req` as a nested run and fails with the child's error.
const AS_CALLER: &str = r#"
let child = run(context.input.req);
if !child.success { throw #{code: child.error.code, message: child.error.message}; }
child.output
"#;

/// A store with access control on, an `Invoice` schema clerks may read and create, the
/// users `clerk` and `nobody`, and the `as_caller` operation. Returns the superuser's handle.
fn acl_store(engine: &Engine) -> Engine {
    engine.enable_acl(ADMIN, None).unwrap();
    let admin = engine.with_owner(ADMIN);
    let imported = admin.import_schemas(vec![json!({"name": "Invoice", "fields": [
        {"fieldname": "amount", "fieldtype": "Int"}],
        "permissions": [{"role": "Accounts User", "read": 1, "create": 1}]})]);
    assert!(imported.success, "{:?}", imported.error);
    for (user, roles) in [("clerk", json!(["Accounts User"])), ("nobody", json!([]))] {
        ok(
            &admin,
            json!({"operation": "create", "into": "User",
                   "input": {"data": {"name": user, "roles": roles}}}),
        );
    }
    save_op(&admin, "as_caller", AS_CALLER);
    admin
}

/// The entries of `before` are all still there, unchanged (new ones may follow).
fn unchanged(engine: &Engine, before: &[Value], context: &str) {
    let now = all_entries(engine);
    assert!(now.len() >= before.len(), "{context}: entries disappeared");
    assert_eq!(&now[..before.len()], before, "{context}: an entry changed");
    assert_eq!(engine.verify_audit().unwrap().broken, None, "{context}");
}

/// Requests that try to change or remove audit entries.
fn tampering() -> Vec<Value> {
    vec![
        json!({"operation": "update", "in": "Audit Trail", "input": {"name": "1", "data": {"action": "create"}}}),
        json!({"operation": "update", "in": "Audit Trail", "input": {"where": {}, "data": {"owner": "nobody"}}}),
        json!({"operation": "update", "doctype": "Audit Trail", "input": {"where": {"seq": 1}, "data": {"hash": "0"}}}),
        json!({"operation": "delete", "from": "Audit Trail", "input": {"name": "1"}}),
        json!({"operation": "delete", "from": "Audit Trail", "input": {"where": {}}}),
        json!({"operation": "delete", "doctype": "Audit Trail", "input": {"where": {"seq": {"gte": 1}}}}),
        json!({"operation": "update", "in": "Audit Trail", "input": {"name": "1", "data": {"reason": "x"}},
               "options": {"dryRun": true}}),
    ]
}

fn exit(output: &Output) -> i32 {
    output.status.code().expect("the CLI exits")
}
