//! Story: schemas are documents (issue 3). A user imports Frappe DocType files as they are
//! (`coworker schema import`, or a create into `Schema`), a schema is validated like any
//! document (`required` instead of `reqd` is caught), documents are validated on create and
//! update with every violation reported together, new documents are named by Frappe's
//! autoname rules, `search_index`/`unique` fields get indexes that stay right through
//! updates, deletes and schema changes, and select can return the schema or its list view.
//!
//! The Frappe files live in `tests/fixtures/frappe/`; the validation cases, with their
//! expectations, in `tests/fixtures/schema_cases.json`.
//!
//! One file per story below; the helpers more than one story uses live here.

mod changes;
mod dry_runs;
mod fieldtypes;
mod fixtures;
mod frappe;
mod indexes;
mod meta_fields;
mod naming;
mod regressions;
mod schema_validation;
mod select;
mod validation;

use crate::harness::*;
use coworker::{Engine, Run, RunRequest};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Fields the engine stamps on every document whatever the caller sent.
const STAMPED: [&str; 3] = ["creation", "modified", "owner"];

fn frappe_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/frappe")
}

fn frappe_path(file: &str) -> PathBuf {
    frappe_dir().join(file)
}

/// Every Frappe fixture file, sorted by file name (which is not dependency order:
/// `contact.json` links `Customer`, `invoice.json` holds a Table of `Invoice Item`, ...).
fn frappe_paths() -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(frappe_dir())
        .expect("tests/fixtures/frappe exists")
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    paths.sort();
    paths
}

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

fn frappe(file: &str) -> Value {
    read_json(&frappe_path(file))
}

fn frappe_docs() -> Vec<Value> {
    frappe_paths().iter().map(|p| read_json(p)).collect()
}

/// A fresh engine holding every Frappe fixture schema.
fn engine_with_fixtures() -> Engine {
    let engine = engine();
    let run = engine.import_schemas(frappe_docs());
    assert!(run.success, "the fixtures import: {:?}", run.error);
    engine
}

fn create(engine: &Engine, doctype: &str, data: Value) -> Run {
    ok(
        engine,
        json!({"operation": "create", "into": doctype, "input": {"data": data}}),
    )
}

/// Create one document that must be valid; returns it as stored.
fn create_one(engine: &Engine, doctype: &str, data: Value) -> Value {
    let run = create(engine, doctype, data);
    assert_eq!(run.data().len(), 1);
    run.data()[0].clone()
}

fn create_fails(engine: &Engine, doctype: &str, data: Value, code: &str) -> Run {
    fails(
        engine,
        json!({"operation": "create", "into": doctype, "input": {"data": data}}),
        code,
    )
}

fn update(engine: &Engine, doctype: &str, name: &str, data: Value) -> Run {
    ok(
        engine,
        json!({"operation": "update", "in": doctype, "input": {"name": name, "data": data}}),
    )
}

fn delete(engine: &Engine, doctype: &str, name: &str) -> Run {
    ok(
        engine,
        json!({"operation": "delete", "from": doctype, "input": {"name": name}}),
    )
}

/// The stored document, read back through a select.
fn get(engine: &Engine, doctype: &str, name: &str) -> Option<Value> {
    let run = ok(
        engine,
        json!({"operation": "select", "from": doctype, "input": {"where": {"name": name}}}),
    );
    assert!(run.data().len() <= 1);
    run.data().first().cloned()
}

/// Names of the documents a `where` selects, sorted.
fn select_names(engine: &Engine, doctype: &str, filter: &Value) -> Vec<String> {
    let run = ok(
        engine,
        json!({"operation": "select", "from": doctype, "input": {"where": filter}}),
    );
    let mut found = names(&run);
    found.sort();
    found
}

fn has_violation(run: &Run, path: &str, rule: &str) -> bool {
    violations(run).iter().any(|(p, r)| p == path && r == rule)
}

fn assert_violation(run: &Run, path: &str, rule: &str) {
    assert!(
        has_violation(run, path, rule),
        "expected a `{rule}` violation at `{path}`, got {:?}",
        run.error
    );
}

/// Today (UTC) as Frappe writes dates.
fn today() -> String {
    jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date()
        .to_string()
}

fn year() -> String {
    today()[..4].to_string()
}

/// Names of the stored schemas, sorted.
fn schema_names(engine: &Engine) -> Vec<String> {
    let mut found = names(&engine.run(RunRequest::new("select").from("Schema")));
    found.sort();
    found
}

/// The schemas this story seeds (other stories may seed more).
const SEEDS: [&str; 3] = ["DocField", "DocPerm", "Schema"];

/// The schemas every fresh store holds: what "nothing was imported" compares against.
fn seeded() -> Vec<String> {
    let seeded = schema_names(&engine());
    assert!(
        SEEDS.iter().all(|s| seeded.iter().any(|n| n == s)),
        "{seeded:?}"
    );
    seeded
}

/// Does `actual` hold `expected`: objects by subset, arrays row by row (same length).
fn holds(actual: &Value, expected: &Value) -> bool {
    match (actual, expected) {
        (Value::Object(a), Value::Object(e)) => e
            .iter()
            .all(|(k, v)| a.get(k).is_some_and(|got| holds(got, v))),
        (Value::Array(a), Value::Array(e)) => {
            a.len() == e.len() && a.iter().zip(e).all(|(got, want)| holds(got, want))
        }
        _ => actual == expected,
    }
}

/// Every key of a Frappe file is in the stored schema with its value, except what the engine
/// stamps (`creation`, `modified`, `owner`) and `doctype` (`DocType` is stored as `Schema`);
/// child rows keep every key and gain Frappe's bookkeeping.
fn assert_stored_unchanged(file: &Value, stored: &Value) {
    let name = file["name"].as_str().unwrap();
    let stored_map = stored.as_object().unwrap();
    assert_eq!(stored["doctype"], json!("Schema"));
    assert_eq!(stored["name"], file["name"]);
    for (key, value) in file.as_object().unwrap() {
        assert!(
            stored_map.contains_key(key),
            "{name}: `{key}` was dropped on import"
        );
        if key == "doctype" || STAMPED.contains(&key.as_str()) {
            continue;
        }
        if key == "fields" || key == "permissions" {
            let rows = value.as_array().unwrap();
            let kept = stored[key].as_array().unwrap();
            assert_eq!(rows.len(), kept.len(), "{name}.{key}: rows lost");
            for (i, (row, kept)) in rows.iter().zip(kept).enumerate() {
                assert!(holds(kept, row), "{name}.{key}[{i}]: {row} became {kept}");
                assert_eq!(kept["idx"], json!(i + 1), "{name}.{key}[{i}]");
                assert_eq!(kept["parent"], json!(name));
                assert_eq!(kept["parenttype"], json!("Schema"));
                assert_eq!(kept["parentfield"], json!(key));
            }
            continue;
        }
        assert_eq!(&stored[key], value, "{name}: `{key}` changed on import");
    }
}

fn is_hash_name(name: &str) -> bool {
    name.len() == 10
        && name
            .chars()
            .all(|c| c.is_ascii_digit() || c.is_ascii_lowercase())
}

/// Two doctypes with the same fields, one indexed (`code`, `qty` by `search_index`, `sku` by
/// `unique`) and one not: every query must give both the same answer, the reference.
fn item_schema(name: &str, indexed: bool) -> Value {
    let flag = u8::from(indexed);
    json!({"doctype": "DocType", "name": name, "autoname": "Prompt", "fields": [
        {"fieldname": "code", "fieldtype": "Data", "search_index": flag},
        {"fieldname": "sku", "fieldtype": "Data", "unique": flag},
        {"fieldname": "qty", "fieldtype": "Float", "search_index": flag},
        {"fieldname": "note", "fieldtype": "Data"}]})
}
