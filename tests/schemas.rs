//! Story: schemas are documents (issue 3). A user imports Frappe DocType files as they are
//! (`coworker schema import`, or a create into `Schema`), a schema is validated like any
//! document (`required` instead of `reqd` is caught), documents are validated on create and
//! update with every violation reported together, new documents are named by Frappe's
//! autoname rules, `search_index`/`unique` fields get indexes that stay right through
//! updates, deletes and schema changes, and select can return the schema or its list view.
//!
//! The Frappe files live in `tests/fixtures/frappe/`; the validation cases, with their
//! expectations, in `tests/fixtures/schema_cases.json`.

use crate::harness::*;
use coworker::{Engine, Run, RunRequest};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Output;

const CASES: &str = include_str!("fixtures/schema_cases.json");

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

/// A fresh engine holding the given fixture schemas (imported as one batch).
fn engine_with(files: &[&str]) -> Engine {
    let engine = engine();
    let run = engine.import_schemas(files.iter().map(|f| frappe(f)).collect());
    assert!(run.success, "{files:?} import: {:?}", run.error);
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

fn exit_code(output: &Output) -> i32 {
    output.status.code().unwrap_or_else(|| {
        panic!(
            "the CLI was killed by a signal; stderr: {}",
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

/// `coworker --db DB schema import FILES...`: the exit code and the printed run.
fn cli_import(db: &Path, files: &[PathBuf]) -> (i32, Value) {
    let output = cli(db)
        .arg("schema")
        .arg("import")
        .args(files)
        .output()
        .expect("the CLI starts");
    (exit_code(&output), stdout_json(&output))
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

// ---------------------------------------------------------------------------------------
// The fixture-driven cases
// ---------------------------------------------------------------------------------------

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

fn snapshot(engine: &Engine, watch: &[Value]) -> Vec<Vec<Value>> {
    watch
        .iter()
        .map(|doctype| {
            let run = engine.run(RunRequest::new("select").from(doctype.as_str().unwrap()));
            assert!(run.success, "{:?}", run.error);
            run.data().to_vec()
        })
        .collect()
}

/// What is wrong with a case's outcome, if anything.
fn check_case(
    engine: &Engine,
    watch: &[Value],
    case: &Value,
    run: &Run,
    before: &[Vec<Value>],
) -> Vec<String> {
    let name = case["name"].as_str().unwrap();
    let expect = &case["expect"];
    let mut problems = Vec::new();
    let unchanged = snapshot(engine, watch) == before;
    if expect["success"] == json!(true) {
        if !run.success {
            problems.push(format!("{name}: expected success, got {:?}", run.error));
            return problems;
        }
        if let Some(doc) = expect.get("doc") {
            let got = run.data().first().cloned().unwrap_or(Value::Null);
            if !holds(&got, doc) {
                problems.push(format!("{name}: output {got} does not hold {doc}"));
            }
        }
        if expect["writesNothing"] == json!(true) && !unchanged {
            problems.push(format!("{name}: a dry run wrote something"));
        }
        return problems;
    }
    let code = expect["code"]
        .as_str()
        .expect("a failure case names its code");
    let Some(error) = &run.error else {
        problems.push(format!(
            "{name}: expected {code}, got success {}",
            run.output
        ));
        return problems;
    };
    if run.success || error.code.as_str() != code {
        problems.push(format!(
            "{name}: expected {code}, got {} ({})",
            error.code, error.message
        ));
    }
    if let Some(needle) = expect["messageContains"].as_str()
        && !error.message.contains(needle)
    {
        problems.push(format!(
            "{name}: message {:?} lacks {needle:?}",
            error.message
        ));
    }
    let details = error.details.as_array().cloned().unwrap_or_default();
    for want in expect["detailsContain"].as_array().into_iter().flatten() {
        let found = details.iter().any(|d| {
            d["path"] == want["path"]
                && d["rule"] == want["rule"]
                && want["messageContains"]
                    .as_str()
                    .is_none_or(|needle| d["message"].as_str().is_some_and(|m| m.contains(needle)))
        });
        if !found {
            problems.push(format!(
                "{name}: no violation {want} among {}",
                error.details
            ));
        }
    }
    if let Some(count) = expect["detailsCount"].as_u64()
        && details.len() as u64 != count
    {
        problems.push(format!(
            "{name}: expected {count} violations, got {}: {}",
            details.len(),
            error.details
        ));
    }
    for detail in &details {
        let filled = ["path", "rule", "message"]
            .iter()
            .all(|k| detail[k].as_str().is_some_and(|s| !s.is_empty()));
        if !filled {
            problems.push(format!(
                "{name}: a violation lacks path/rule/message: {detail}"
            ));
        }
    }
    if !unchanged {
        problems.push(format!("{name}: the failed run left writes behind"));
    }
    problems
}

#[test]
fn fixture_cases_hold() {
    let file: Value = serde_json::from_str(CASES).unwrap();
    let watch = file["watch"].as_array().unwrap();
    let cases = file["cases"].as_array().unwrap();
    assert!(cases.len() > 100, "the fixture holds its cases");
    let mut problems = Vec::new();
    for case in cases {
        let engine = engine_with_fixtures();
        for request in file["setup"].as_array().unwrap() {
            ok(&engine, request.clone());
        }
        let before = snapshot(&engine, watch);
        let run = engine.run_value(case["request"].clone());
        problems.extend(check_case(&engine, watch, case, &run, &before));
    }
    assert!(
        problems.is_empty(),
        "{} problem(s):\n{}",
        problems.len(),
        problems.join("\n")
    );
}

#[test]
fn fixture_setup_names_tickets_by_autoincrement() {
    let file: Value = serde_json::from_str(CASES).unwrap();
    let engine = engine_with_fixtures();
    let runs: Vec<Run> = file["setup"]
        .as_array()
        .unwrap()
        .iter()
        .map(|request| ok(&engine, request.clone()))
        .collect();
    // The cases rely on these names.
    assert_eq!(names(&runs[0]), ["Acme Corp", "Globex"]);
    assert_eq!(names(&runs[2]), ["1"]);
    assert_eq!(names(&runs[3]), ["2"]);
}

// ---------------------------------------------------------------------------------------
// 1. Frappe compatibility
// ---------------------------------------------------------------------------------------

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

#[test]
fn frappe_files_import_with_every_key_kept() {
    let engine = engine();
    let docs = frappe_docs();
    assert_eq!(docs.len(), 9, "the fixture folder holds nine DocTypes");
    let run = engine.import_schemas(docs.clone());
    assert!(run.success, "{:?}", run.error);
    assert_eq!(run.data().len(), docs.len());
    for file in &docs {
        let name = file["name"].as_str().unwrap();
        let stored = get(&engine, "Schema", name).unwrap_or_else(|| panic!("{name} stored"));
        assert_stored_unchanged(file, &stored);
    }
    // Keys the Schema schema does not define are Frappe's, and kept.
    let customer = get(&engine, "Schema", "Customer").unwrap();
    for key in [
        "engine",
        "actions",
        "links",
        "states",
        "track_changes",
        "quick_entry",
        "index_web_pages_for_search",
        "document_type",
        "icon",
        "allow_rename",
        "show_title_field_in_link",
        "modified_by",
    ] {
        assert_eq!(customer[key], frappe("customer.json")[key], "`{key}`");
    }
    assert_eq!(
        customer["links"][0]["link_doctype"],
        json!("Project"),
        "nested Frappe values are kept as they are"
    );
}

#[test]
fn frappe_files_import_through_create_into_schema() {
    let engine = engine();
    // As a JSON value, `doctype: "DocType"` and all.
    let tag = frappe("tag.json");
    let run = ok(
        &engine,
        json!({"operation": "create", "into": "Schema", "input": {"data": tag}}),
    );
    assert_eq!(names(&run), ["Tag"]);
    assert_stored_unchanged(&tag, &get(&engine, "Schema", "Tag").unwrap());
    // As JSON text, the file's bytes pasted into the request.
    let text = std::fs::read_to_string(frappe_path("customer.json")).unwrap();
    let request =
        format!(r#"{{"operation": "create", "into": "Schema", "input": {{"data": {text}}}}}"#);
    let run = engine.run_json(&request);
    assert!(run.success, "{:?}", run.error);
    assert_stored_unchanged(
        &frappe("customer.json"),
        &get(&engine, "Schema", "Customer").unwrap(),
    );
    // The imported schemas are in force.
    let run = create_fails(
        &engine,
        "Tag",
        json!({"description": "x"}),
        "VALIDATION_FAILED",
    );
    assert_violation(&run, "name", "autoname");
    let customer = create_one(&engine, "Customer", json!({"customer_name": "Acme"}));
    assert_eq!(customer["name"], json!("Acme"));
}

#[test]
fn import_puts_child_tables_and_link_targets_first() {
    let engine = engine();
    // Parents first: every document names one that comes after it.
    let files = [
        "task.json",
        "project.json",
        "invoice.json",
        "contact.json",
        "project_task.json",
        "invoice_item.json",
        "customer.json",
    ];
    let run = engine.import_schemas(files.iter().map(|f| frappe(f)).collect());
    assert!(run.success, "{:?}", run.error);
    let order = names(&run);
    let at = |name: &str| order.iter().position(|n| n == name).unwrap();
    assert!(at("Project Task") < at("Project"), "{order:?}");
    assert!(at("Customer") < at("Project"), "{order:?}");
    assert!(at("Project") < at("Task"), "{order:?}");
    assert!(at("Invoice Item") < at("Invoice"), "{order:?}");
    assert!(at("Customer") < at("Invoice"), "{order:?}");
    assert!(at("Customer") < at("Contact"), "{order:?}");
}

#[test]
fn links_between_schemas_of_one_batch_may_form_a_cycle() {
    let engine = engine();
    let run = engine.import_schemas(vec![
        json!({"doctype": "DocType", "name": "Team", "fields": [
            {"fieldname": "lead", "fieldtype": "Link", "options": "Member"}]}),
        json!({"doctype": "DocType", "name": "Member", "fields": [
            {"fieldname": "team", "fieldtype": "Link", "options": "Team"}]}),
    ]);
    assert!(run.success, "{:?}", run.error);
    create(&engine, "Team", json!({"name": "core"}));
    create(&engine, "Member", json!({"name": "ann", "team": "core"}));
    update(&engine, "Team", "core", json!({"lead": "ann"}));
}

#[test]
fn cli_schema_import_takes_files_in_any_order() {
    let store = TempStore::new();
    // Parents before their child tables and Link targets.
    let files: Vec<PathBuf> = [
        "project.json",
        "task.json",
        "invoice.json",
        "contact.json",
        "ticket.json",
        "customer.json",
        "project_task.json",
        "invoice_item.json",
        "tag.json",
    ]
    .iter()
    .map(|f| frappe_path(f))
    .collect();
    let (exit, run) = cli_import(&store.path, &files);
    assert_eq!(exit, 0, "{run}");
    assert_eq!(run["success"], json!(true));
    assert_eq!(run["output"]["data"].as_array().unwrap().len(), 9);
    let engine = store.open();
    let mut expected: Vec<String> = frappe_docs()
        .iter()
        .map(|d| d["name"].as_str().unwrap().to_string())
        .chain(seeded())
        .collect();
    expected.sort();
    assert_eq!(schema_names(&engine), expected);
    for file in frappe_docs() {
        let stored = get(&engine, "Schema", file["name"].as_str().unwrap()).unwrap();
        assert_stored_unchanged(&file, &stored);
    }
    create(&engine, "Customer", json!({"customer_name": "Acme"}));
    let project = create_one(
        &engine,
        "Project",
        json!({"project_name": "Roof", "customer": "Acme", "tasks": [{"subject": "Tiles"}]}),
    );
    assert_eq!(project["tasks"][0]["parent"], project["name"]);
}

#[test]
fn cli_schema_import_reads_a_file_holding_several_doctypes() {
    let store = TempStore::new();
    let bundle = store.dir.path().join("bundle.json");
    let docs = json!([frappe("invoice.json"), frappe("invoice_item.json")]);
    std::fs::write(&bundle, docs.to_string()).unwrap();
    let (exit, run) = cli_import(&store.path, &[bundle, frappe_path("customer.json")]);
    assert_eq!(exit, 0, "{run}");
    let engine = store.open();
    let mut expected = seeded();
    expected.extend(["Customer", "Invoice", "Invoice Item"].map(String::from));
    expected.sort();
    assert_eq!(schema_names(&engine), expected);
}

#[test]
fn cli_schema_import_of_a_missing_link_target_exits_1_naming_it() {
    let store = TempStore::new();
    // Project links Customer, which is not imported.
    let files = [
        frappe_path("project.json"),
        frappe_path("project_task.json"),
    ];
    let (exit, run) = cli_import(&store.path, &files);
    assert_eq!(exit, 1, "{run}");
    assert_eq!(run["success"], json!(false));
    assert_eq!(run["error"]["code"], json!("VALIDATION_FAILED"));
    let message = run["error"]["message"].as_str().unwrap();
    assert!(message.contains("`Customer`"), "{message}");
    let details = run["error"]["details"].as_array().unwrap();
    assert!(
        details.iter().any(|d| d["rule"] == json!("link")
            && d["path"].as_str().unwrap().ends_with("fields[2].options")
            && d["message"].as_str().unwrap().contains("`Customer`")),
        "{details:?}"
    );
    // All or nothing: the child table, which was fine, was not imported either.
    assert_eq!(schema_names(&store.open()), seeded());
}

#[test]
fn cli_schema_import_of_a_missing_child_table_exits_1_naming_it() {
    let store = TempStore::new();
    let files = [frappe_path("customer.json"), frappe_path("invoice.json")];
    let (exit, run) = cli_import(&store.path, &files);
    assert_eq!(exit, 1, "{run}");
    let message = run["error"]["message"].as_str().unwrap();
    assert!(message.contains("`Invoice Item`"), "{message}");
    assert_eq!(schema_names(&store.open()), seeded());
}

#[test]
fn cli_schema_import_of_a_file_that_is_not_json_exits_2() {
    let store = TempStore::new();
    let broken = store.dir.path().join("broken.json");
    std::fs::write(&broken, "{\"doctype\": \"DocType\",").unwrap();
    let output = cli(&store.path)
        .args(["schema", "import"])
        .arg(&broken)
        .arg(frappe_path("tag.json"))
        .output()
        .unwrap();
    assert_eq!(exit_code(&output), 2);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("broken.json"), "{stderr}");
    assert_eq!(schema_names(&store.open()), seeded());
}

// ---------------------------------------------------------------------------------------
// 2. Schemas are validated like documents
// ---------------------------------------------------------------------------------------

#[test]
fn a_batch_reports_meta_violations_under_the_record_and_imports_nothing() {
    let engine = engine();
    let mut docs = frappe_docs();
    let mut bad = frappe("tag.json");
    bad["name"] = json!("Label");
    bad["fields"][0]["required"] = json!(1);
    docs.push(bad);
    let run = engine.import_schemas(docs);
    assert_eq!(
        run.error.as_ref().unwrap().code.as_str(),
        "VALIDATION_FAILED"
    );
    let found = violations(&run);
    assert_eq!(found.len(), 1, "{found:?}");
    let (path, rule) = &found[0];
    assert!(
        path.starts_with("data[") && path.ends_with("].fields[0].required"),
        "{path}"
    );
    assert_eq!(rule, "unknown");
    assert!(run.error.unwrap().message.contains("did you mean `reqd`"));
    assert_eq!(
        schema_names(&engine),
        seeded(),
        "nothing of the batch is kept"
    );
}

#[test]
fn a_batch_with_a_missing_link_target_names_it_and_imports_nothing() {
    let engine = engine();
    let mut docs = frappe_docs();
    docs.retain(|d| d["name"] != json!("Customer"));
    let run = engine.import_schemas(docs);
    let error = run.error.as_ref().expect("the import fails");
    assert_eq!(error.code.as_str(), "VALIDATION_FAILED");
    assert!(error.message.contains("`Customer`"), "{}", error.message);
    // Every schema linking Customer is reported, not only the first.
    let linking: BTreeSet<&str> = ["Contact", "Invoice", "Project", "Ticket"].into();
    let reported = error.details.as_array().unwrap().len();
    assert_eq!(reported, linking.len(), "{}", error.details);
    assert_eq!(schema_names(&engine), seeded());
}

#[test]
fn a_table_of_a_non_child_doctype_in_the_same_batch_is_refused() {
    let engine = engine();
    let run = engine.import_schemas(vec![
        json!({"doctype": "DocType", "name": "Order", "fields": [
            {"fieldname": "lines", "fieldtype": "Table", "options": "Order Line"}]}),
        // Not `istable`: an ordinary doctype cannot hold child rows.
        json!({"doctype": "DocType", "name": "Order Line", "fields": [
            {"fieldname": "sku", "fieldtype": "Data"}]}),
    ]);
    assert!(
        !run.success,
        "a Table of a non-child doctype was accepted because both came in one batch"
    );
    assert!(
        violations(&run)
            .iter()
            .any(|(p, r)| r == "link" && p.ends_with("fields[0].options")),
        "{:?}",
        run.error
    );
    assert_eq!(schema_names(&engine), seeded());
}

#[test]
fn a_table_of_a_non_child_doctype_is_refused_whatever_the_order_of_one_create() {
    let engine = engine();
    // The parent first, through a plain create (no reordering).
    let run = fails(
        &engine,
        json!({"operation": "create", "into": "Schema", "input": {"data": [
            {"doctype": "DocType", "name": "Order", "fields": [
                {"fieldname": "lines", "fieldtype": "Table", "options": "Order Line"}]},
            {"doctype": "DocType", "name": "Order Line", "fields": [
                {"fieldname": "sku", "fieldtype": "Data"}]}]}}),
        "VALIDATION_FAILED",
    );
    assert_violation(&run, "data[0].fields[0].options", "link");
    assert_eq!(schema_names(&engine), seeded());
}

#[test]
fn seeded_schemas_stay_as_seeded() {
    let engine = engine();
    let before: Vec<Value> = SEEDS
        .iter()
        .map(|s| get(&engine, "Schema", s).unwrap())
        .collect();
    for seed in SEEDS {
        fails(
            &engine,
            json!({"operation": "update", "in": "Schema", "input": {"name": seed, "data": {"module": "Mine"}}}),
            "IMMUTABLE",
        );
        fails(
            &engine,
            json!({"operation": "delete", "from": "Schema", "input": {"name": seed}}),
            "IMMUTABLE",
        );
        fails(
            &engine,
            json!({"operation": "create", "into": "Schema", "input": {"data": {"name": seed, "fields": []}}}),
            "IMMUTABLE",
        );
    }
    fails(
        &engine,
        json!({"operation": "delete", "from": "Schema", "input": {"where": {}}}),
        "IMMUTABLE",
    );
    let after: Vec<Value> = SEEDS
        .iter()
        .map(|s| get(&engine, "Schema", s).unwrap())
        .collect();
    assert_eq!(before, after);
    // ... and still validate: DocField still refuses `required`.
    let run = create_fails(
        &engine,
        "Schema",
        json!({"name": "W", "fields": [{"fieldname": "a", "required": 1}]}),
        "VALIDATION_FAILED",
    );
    assert_violation(&run, "fields[0].required", "unknown");
}

// ---------------------------------------------------------------------------------------
// 3. Document validation that needs more than one request or today's date
// ---------------------------------------------------------------------------------------

#[test]
fn defaults_apply_on_create_including_today() {
    let engine = engine_with_fixtures();
    let customer = create_one(&engine, "Customer", json!({"customer_name": "Acme"}));
    assert_eq!(customer["is_active"], json!(1), "Check default \"1\" is 1");
    assert_eq!(
        customer["credit_days"],
        json!(30),
        "Int default \"30\" is 30"
    );
    assert_eq!(customer["customer_group"], json!("Commercial"));
    assert_eq!(
        customer["customer_since"],
        json!(today()),
        "Date default Today"
    );
    assert_eq!(get(&engine, "Customer", "Acme").unwrap(), customer);
    let invoice = create_one(
        &engine,
        "Invoice",
        json!({"customer": "Acme", "items": [{"item_name": "Bolt"}]}),
    );
    assert_eq!(invoice["posting_date"], json!(today()));
    assert_eq!(invoice["is_paid"], json!(0));
    assert_eq!(invoice["items"][0]["qty"], json!(1));
    // A default of a reqd field satisfies it.
    assert_eq!(invoice["naming_series"], json!("INV-.YYYY.-.#####"));
}

#[test]
fn text_lengths_follow_frappe_column_types() {
    let engine = engine_with_fixtures();
    let acme = json!({"customer_name": "Acme"});
    create(&engine, "Customer", acme);
    let invoice = |remarks: String| {
        json!({"operation": "create", "into": "Invoice", "input": {"data": {
            "customer": "Acme", "items": [{"item_name": "a"}], "remarks": remarks}}})
    };
    // Small Text is a `text` column, which Frappe does not check for length.
    ok(&engine, invoice("z".repeat(65_536)));
    // Long Text has no limit.
    let ticket = create_one(
        &engine,
        "Ticket",
        json!({"subject": "long", "description": "y".repeat(100_000)}),
    );
    assert_eq!(ticket["description"].as_str().unwrap().len(), 100_000);
    // A Link is a varchar(140) too.
    let run = create_fails(
        &engine,
        "Project",
        json!({"project_name": "p", "customer": "c".repeat(141)}),
        "VALIDATION_FAILED",
    );
    assert_violation(&run, "customer", "length");
}

#[test]
fn a_document_failing_validation_writes_nothing() {
    let engine = engine_with_fixtures();
    create(&engine, "Customer", json!({"customer_name": "Acme"}));
    let (customers, projects) = (count(&engine, "Customer"), count(&engine, "Project"));
    // The first record is valid, the second is not: neither is written.
    let run = create_fails(
        &engine,
        "Customer",
        json!([{"customer_name": "Fine"}, {"customer_name": 7}]),
        "VALIDATION_FAILED",
    );
    assert_eq!(
        violations(&run),
        [("data[1].customer_name".into(), "type".into())]
    );
    create_fails(
        &engine,
        "Project",
        json!({"project_name": "x", "customer": "Acme", "tasks": [{"subject": 1}]}),
        "VALIDATION_FAILED",
    );
    assert_eq!(count(&engine, "Customer"), customers);
    assert_eq!(count(&engine, "Project"), projects);
    assert_eq!(get(&engine, "Customer", "Fine"), None);
    // A failed update leaves the document as it was.
    let before = get(&engine, "Customer", "Acme").unwrap();
    fails(
        &engine,
        json!({"operation": "update", "in": "Customer", "input": {"name": "Acme",
            "data": {"credit_days": 9, "customer_group": "Nope"}}}),
        "VALIDATION_FAILED",
    );
    assert_eq!(get(&engine, "Customer", "Acme").unwrap(), before);
}

#[test]
fn updates_revalidate_child_rows_and_renumber_them() {
    let engine = engine_with_fixtures();
    let project = create_one(
        &engine,
        "Project",
        json!({"name": "P1", "project_name": "Roof", "tasks": [{"subject": "a"}, {"subject": "b"}]}),
    );
    assert_eq!(project["tasks"][1]["idx"], json!(2));
    let run = update(
        &engine,
        "Project",
        "P1",
        json!({"tasks": [project["tasks"][1].clone(), {"subject": "c", "done": true}]}),
    );
    let tasks = &run.data()[0]["tasks"];
    assert_eq!(tasks[0]["subject"], json!("b"));
    assert_eq!(tasks[0]["idx"], json!(1), "rows are renumbered in order");
    assert_eq!(tasks[1]["idx"], json!(2));
    assert_eq!(tasks[1]["done"], json!(1));
    assert_eq!(tasks[1]["parent"], json!("P1"));
    assert_eq!(tasks[1]["parentfield"], json!("tasks"));
    assert_eq!(get(&engine, "Project", "P1").unwrap()["tasks"], *tasks);
}

// ---------------------------------------------------------------------------------------
// 4. Null schema and skipping validation
// ---------------------------------------------------------------------------------------

#[test]
fn a_doctype_without_schema_accepts_any_object() {
    let engine = engine_with_fixtures();
    let data = json!({"title": 5, "tags": ["a", 1, null], "nested": {"deep": {"x": true}}});
    let doc = create_one(&engine, "Gadget", data.clone());
    assert!(holds(&doc, &data), "{doc}");
    assert_eq!(doc["name"].as_str().unwrap().len(), 10, "named by hash");
    let name = doc["name"].as_str().unwrap();
    update(&engine, "Gadget", name, json!({"title": {"any": "thing"}}));
    assert_eq!(
        get(&engine, "Gadget", name).unwrap()["title"],
        json!({"any": "thing"})
    );
}

#[test]
fn validate_false_is_for_trusted_creates_only() {
    let engine = engine_with_fixtures();
    let raw = json!({"name": "Legacy", "customer_group": "Wholesale", "legacy_id": 99});
    let run = ok(
        &engine,
        json!({"operation": "create", "into": "Customer", "input": {"data": raw},
               "options": {"validate": false}}),
    );
    assert!(holds(&run.data()[0], &raw));
    assert!(holds(&get(&engine, "Customer", "Legacy").unwrap(), &raw));
    for request in [
        json!({"operation": "update", "in": "Customer",
               "input": {"name": "Legacy", "data": {"legacy_id": 100}}, "options": {"validate": false}}),
        json!({"operation": "select", "from": "Customer", "options": {"validate": false}}),
    ] {
        let run = fails(&engine, request, "BAD_REQUEST");
        assert!(run.error.unwrap().message.contains("validate"));
    }
    assert_eq!(
        get(&engine, "Customer", "Legacy").unwrap()["legacy_id"],
        json!(99)
    );
}

// ---------------------------------------------------------------------------------------
// 5. Meta fields
// ---------------------------------------------------------------------------------------

#[test]
fn documents_of_a_schema_get_meta_fields_without_declaring_them() {
    let engine = engine_with_fixtures();
    let ticket = frappe("ticket.json");
    let declared: Vec<&str> = ticket["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["fieldname"].as_str().unwrap())
        .collect();
    let meta = [
        "creation",
        "modified",
        "owner",
        "modifiedBy",
        "createdByRun",
        "modifiedByRun",
    ];
    assert!(meta.iter().all(|m| !declared.contains(m)));
    let created = ok(
        &engine,
        json!({"operation": "create", "into": "Ticket", "owner": "alice", "input": {"data": {
            "subject": "Meta", "owner": "mallory", "creation": "1999-01-01", "createdByRun": "forged"}}}),
    );
    let doc = get(&engine, "Ticket", "1").unwrap();
    assert_eq!(doc, created.data()[0]);
    assert_eq!(doc["owner"], json!("alice"));
    assert_eq!(doc["modifiedBy"], json!("alice"));
    assert_eq!(doc["createdByRun"], json!(created.id));
    assert_eq!(doc["modifiedByRun"], json!(created.id));
    assert_ne!(doc["creation"], json!("1999-01-01"));
    assert_eq!(doc["creation"], doc["modified"]);
    let updated = ok(
        &engine,
        json!({"operation": "update", "in": "Ticket", "owner": "bob",
               "input": {"name": "1", "data": {"status": "Replied"}}}),
    );
    let after = get(&engine, "Ticket", "1").unwrap();
    assert_eq!(after["owner"], json!("alice"));
    assert_eq!(after["creation"], doc["creation"]);
    assert_eq!(after["createdByRun"], json!(created.id));
    assert_eq!(after["modifiedBy"], json!("bob"));
    assert_eq!(after["modifiedByRun"], json!(updated.id));
    assert!(after["modified"].as_str().unwrap() >= doc["modified"].as_str().unwrap());
    // Schema documents are documents: they carry them too.
    let schema = get(&engine, "Schema", "Ticket").unwrap();
    assert!(meta.iter().all(|m| schema.get(*m).is_some()), "{schema}");
}

// ---------------------------------------------------------------------------------------
// 6. Naming
// ---------------------------------------------------------------------------------------

fn is_hash_name(name: &str) -> bool {
    name.len() == 10
        && name
            .chars()
            .all(|c| c.is_ascii_digit() || c.is_ascii_lowercase())
}

#[test]
fn hash_names_are_ten_characters_and_unique() {
    let engine = engine_with_fixtures();
    let rows: Vec<Value> = (0..50)
        .map(|i| json!({"first_name": format!("P{i}")}))
        .collect();
    let run = create(&engine, "Contact", Value::Array(rows));
    let found: BTreeSet<String> = names(&run).into_iter().collect();
    assert_eq!(found.len(), 50, "hash names are unique");
    assert!(found.iter().all(|n| is_hash_name(n)), "{found:?}");
    // Without an autoname rule a schema names by hash too.
    ok(
        &engine,
        json!({"operation": "create", "into": "Schema", "input": {"data": {"name": "Note", "fields": [
            {"fieldname": "title", "fieldtype": "Data"}]}}}),
    );
    let note = create_one(&engine, "Note", json!({"title": "x"}));
    assert!(is_hash_name(note["name"].as_str().unwrap()), "{note}");
    // Child rows are named by hash.
    let project = create_one(
        &engine,
        "Project",
        json!({"project_name": "p", "tasks": [{"subject": "a"}, {"subject": "b"}]}),
    );
    let rows: Vec<&str> = (0..2)
        .map(|i| project["tasks"][i]["name"].as_str().unwrap())
        .collect();
    assert!(rows.iter().all(|n| is_hash_name(n)) && rows[0] != rows[1]);
}

#[test]
fn uuid_names_are_hyphenated_hex_and_unique() {
    let engine = engine_with_fixtures();
    ok(
        &engine,
        json!({"operation": "create", "into": "Schema", "input": {"data": {"name": "Token",
            "autoname": "UUID", "fields": [{"fieldname": "label", "fieldtype": "Data"}]}}}),
    );
    let rows: Vec<Value> = (0..20).map(|i| json!({"label": format!("t{i}")})).collect();
    let run = create(&engine, "Token", Value::Array(rows));
    let found: BTreeSet<String> = names(&run).into_iter().collect();
    assert_eq!(found.len(), 20, "UUID names are unique: {found:?}");
    for name in &found {
        let groups: Vec<usize> = name.split('-').map(str::len).collect();
        assert_eq!(groups, [8, 4, 4, 4, 12], "8-4-4-4-12 groups: {name}");
        assert!(
            name.chars()
                .all(|c| c == '-' || c.is_ascii_digit() || ('a'..='f').contains(&c)),
            "lowercase hex: {name}"
        );
    }
}

#[test]
fn autoincrement_counts_and_failed_creates_do_not_consume_numbers() {
    let engine = engine_with_fixtures();
    let ticket = |subject: &str| json!({"subject": subject});
    for expected in ["1", "2", "3"] {
        assert_eq!(
            create_one(&engine, "Ticket", ticket("t"))["name"],
            json!(expected)
        );
    }
    // Validation fails before naming.
    create_fails(
        &engine,
        "Ticket",
        json!({"status": "Bogus"}),
        "VALIDATION_FAILED",
    );
    // The first record is named (4), the second fails: the counter rolls back.
    create_fails(
        &engine,
        "Ticket",
        json!([ticket("fine"), {"subject": 5}]),
        "VALIDATION_FAILED",
    );
    // The first is named (4), the second conflicts with an existing name.
    create_fails(
        &engine,
        "Ticket",
        json!([ticket("fine"), {"name": "2", "subject": "dup"}]),
        "CONFLICT",
    );
    // A dry run names nothing and consumes nothing.
    let dry = ok(
        &engine,
        json!({"operation": "create", "into": "Ticket", "input": {"data": ticket("dry")},
               "options": {"dryRun": true}}),
    );
    assert_eq!(dry.data()[0]["subject"], json!("dry"));
    assert_eq!(count(&engine, "Ticket"), 3);
    assert_eq!(
        create_one(&engine, "Ticket", ticket("t"))["name"],
        json!("4")
    );
    // Several in one create count on; an explicit name does not consume a number.
    let run = create(
        &engine,
        "Ticket",
        json!([ticket("a"), {"name": "manual", "subject": "b"}, ticket("c")]),
    );
    assert_eq!(names(&run), ["5", "manual", "6"]);
    // Deleting the newest does not hand its number out again.
    delete(&engine, "Ticket", "6");
    assert_eq!(
        create_one(&engine, "Ticket", ticket("t"))["name"],
        json!("7")
    );
}

#[test]
fn autoincrement_counters_survive_reopening_the_store() {
    let store = TempStore::new();
    {
        let engine = store.open();
        assert!(
            engine
                .import_schemas(vec![frappe("customer.json"), frappe("ticket.json")])
                .success
        );
        create(
            &engine,
            "Ticket",
            json!([{"subject": "a"}, {"subject": "b"}]),
        );
    }
    let engine = store.open();
    assert_eq!(
        create_one(&engine, "Ticket", json!({"subject": "c"}))["name"],
        json!("3")
    );
}

#[test]
fn series_patterns_expand_the_year_and_pad_the_counter() {
    let engine = engine_with_fixtures();
    let year = year();
    create(&engine, "Customer", json!({"customer_name": "Acme"}));
    // format:PRJ-{YYYY}-{####}
    let project = |name: &str| json!({"project_name": name});
    assert_eq!(
        names(&create(
            &engine,
            "Project",
            json!([project("a"), project("b")])
        )),
        [format!("PRJ-{year}-0001"), format!("PRJ-{year}-0002")]
    );
    // An explicit name wins and takes no number.
    assert_eq!(
        create_one(
            &engine,
            "Project",
            json!({"name": "Special", "project_name": "s"})
        )["name"],
        json!("Special")
    );
    assert_eq!(
        create_one(&engine, "Project", project("c"))["name"],
        json!(format!("PRJ-{year}-0003"))
    );
    // A bare (old style) pattern: TASK-.YYYY.-.#####
    for n in 1..=3 {
        let task = create_one(&engine, "Task", json!({"subject": format!("t{n}")}));
        assert_eq!(task["name"], json!(format!("TASK-{year}-{n:05}")));
    }
    // naming_series: the document's own series field, default or chosen.
    let items = json!([{"item_name": "Bolt"}]);
    let invoice = |series: Option<&str>| {
        let mut data = json!({"customer": "Acme", "items": items.clone()});
        if let Some(series) = series {
            data["naming_series"] = json!(series);
        }
        data
    };
    assert_eq!(
        create_one(&engine, "Invoice", invoice(None))["name"],
        json!(format!("INV-{year}-00001"))
    );
    assert_eq!(
        create_one(&engine, "Invoice", invoice(Some("INV-.YYYY.-.#####")))["name"],
        json!(format!("INV-{year}-00002"))
    );
    assert_eq!(
        create_one(&engine, "Invoice", invoice(Some("SINV-.YY.-.####")))["name"],
        json!(format!("SINV-{}-0001", &year[2..]))
    );
    assert_eq!(
        create_one(&engine, "Invoice", invoice(None))["name"],
        json!(format!("INV-{year}-00003"))
    );
    // Frappe never checks `naming_series` against its options: any series names.
    let other = create_one(&engine, "Invoice", invoice(Some("OTHER-.#####")));
    assert_eq!(other["name"], json!("OTHER-00001"));
    // A failed create takes no number back from the series.
    create_fails(
        &engine,
        "Invoice",
        json!([invoice(None), {"customer": "Nobody", "items": items.clone()}]),
        "VALIDATION_FAILED",
    );
    assert_eq!(
        create_one(&engine, "Invoice", invoice(None))["name"],
        json!(format!("INV-{year}-00004"))
    );
    // naming_series is set only once.
    let name = format!("INV-{year}-00004");
    let run = fails(
        &engine,
        json!({"operation": "update", "in": "Invoice", "input": {"name": name,
            "data": {"naming_series": "SINV-.YY.-.####"}}}),
        "VALIDATION_FAILED",
    );
    assert_violation(&run, "naming_series", "set_only_once");
}

#[test]
fn field_and_prompt_names_come_from_the_data() {
    let engine = engine_with_fixtures();
    assert_eq!(
        create_one(
            &engine,
            "Customer",
            json!({"customer_name": "Globex Corporation"})
        )["name"],
        json!("Globex Corporation")
    );
    let run = create_fails(
        &engine,
        "Tag",
        json!({"color": "#00ff00"}),
        "VALIDATION_FAILED",
    );
    assert_eq!(violations(&run), [("name".into(), "autoname".into())]);
    assert_eq!(count(&engine, "Tag"), 0);
    assert_eq!(
        create_one(&engine, "Tag", json!({"name": "green"}))["name"],
        json!("green")
    );
    // A series name is taken like any other: an explicit duplicate conflicts.
    create(&engine, "Customer", json!({"customer_name": "Acme"}));
    let year = year();
    create_one(&engine, "Project", json!({"project_name": "a"}));
    fails(
        &engine,
        json!({"operation": "create", "into": "Project", "input": {"data": {
            "name": format!("PRJ-{year}-0001"), "project_name": "b"}}}),
        "CONFLICT",
    );
}

// ---------------------------------------------------------------------------------------
// 7. Schema changes apply at once
// ---------------------------------------------------------------------------------------

#[test]
fn a_schema_change_applies_to_the_next_request() {
    let engine = engine_with(&["tag.json"]);
    create(
        &engine,
        "Tag",
        json!({"name": "a", "description": "before"}),
    );
    // Warm the schema cache.
    let run = ok(
        &engine,
        json!({"operation": "select", "from": "Tag", "options": {"includeSchema": true}}),
    );
    assert_eq!(run.output["schema"]["fields"].as_array().unwrap().len(), 2);
    // Add a required Select.
    let mut fields = frappe("tag.json")["fields"].clone();
    fields.as_array_mut().unwrap().push(json!(
        {"fieldname": "category", "fieldtype": "Select", "options": "Team\nTopic", "reqd": 1}));
    update(&engine, "Schema", "Tag", json!({"fields": fields}));
    // (Left out, it would start at its first option; an explicit "" stays and fails.)
    let run = create_fails(
        &engine,
        "Tag",
        json!({"name": "b", "category": ""}),
        "VALIDATION_FAILED",
    );
    assert_eq!(violations(&run), [("category".into(), "reqd".into())]);
    let run = create_fails(
        &engine,
        "Tag",
        json!({"name": "b", "category": "Other"}),
        "VALIDATION_FAILED",
    );
    assert_violation(&run, "category", "options");
    create(&engine, "Tag", json!({"name": "b", "category": "Team"}));
    // Documents written before the change are validated by the new schema on update.
    let run = fails(
        &engine,
        json!({"operation": "update", "in": "Tag", "input": {"name": "a", "data": {"description": "after"}}}),
        "VALIDATION_FAILED",
    );
    assert_violation(&run, "category", "reqd");
    let run = ok(
        &engine,
        json!({"operation": "select", "from": "Tag", "options": {"includeSchema": true}}),
    );
    assert_eq!(run.output["schema"]["fields"].as_array().unwrap().len(), 3);
    // Rename the rule: from Prompt to hash.
    update(&engine, "Schema", "Tag", json!({"autoname": "hash"}));
    let tag = create_one(&engine, "Tag", json!({"category": "Topic"}));
    assert!(is_hash_name(tag["name"].as_str().unwrap()));
    // Delete the schema: Tag falls back to the null schema.
    delete(&engine, "Schema", "Tag");
    let tag = create_one(&engine, "Tag", json!({"anything": ["goes"], "category": 7}));
    assert!(is_hash_name(tag["name"].as_str().unwrap()));
    update(&engine, "Tag", "a", json!({"description": "after"}));
    let run = ok(
        &engine,
        json!({"operation": "select", "from": "Tag", "options": {"includeSchema": true}}),
    );
    assert_eq!(run.output["schema"], Value::Null);
}

#[test]
fn a_schema_created_in_one_request_validates_the_next() {
    let engine = engine();
    // No schema: anything goes.
    create(&engine, "Book", json!({"name": "b0", "pages": "many"}));
    ok(
        &engine,
        json!({"operation": "create", "into": "Schema", "input": {"data": {
            "doctype": "DocType", "name": "Book", "autoname": "field:isbn", "fields": [
                {"fieldname": "isbn", "fieldtype": "Data", "reqd": 1, "unique": 1},
                {"fieldname": "pages", "fieldtype": "Int"}]}}}),
    );
    let run = create_fails(
        &engine,
        "Book",
        json!({"pages": "many"}),
        "VALIDATION_FAILED",
    );
    assert_eq!(
        violations(&run),
        [
            ("isbn".into(), "reqd".into()),
            ("pages".into(), "type".into())
        ]
    );
    assert_eq!(
        create_one(&engine, "Book", json!({"isbn": "978-3", "pages": 120}))["name"],
        json!("978-3")
    );
}

// ---------------------------------------------------------------------------------------
// 8. Indexes
// ---------------------------------------------------------------------------------------

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

fn item(i: usize) -> Value {
    let mut doc = json!({"name": format!("item-{i:02}"), "sku": format!("SKU-{i}"),
                         "qty": (i % 4) as f64, "note": if i.is_multiple_of(2) { "even" } else { "odd" }});
    // Every seventh item has no code.
    if !i.is_multiple_of(7) {
        doc["code"] = json!(["A", "B", "C"][i % 3]);
    }
    doc
}

fn item_queries() -> Vec<Value> {
    vec![
        json!({"code": "A"}),
        json!({"code": {"equals": "B"}}),
        json!({"code": {"in": ["A", "C", "nope"]}}),
        json!({"code": {"in": []}}),
        json!({"code": "Z"}),
        json!({"code": null}),
        json!({"code": "A", "note": "even"}),
        json!({"AND": [{"code": "B"}, {"qty": {"gt": 1}}]}),
        json!({"AND": [{"code": {"in": ["A", "B"]}}, {"code": "B"}]}),
        json!({"OR": [{"code": "A"}, {"qty": 2}]}),
        json!({"NOT": {"code": "A"}}),
        json!({"code": {"not": "A"}}),
        json!({"code": {"notIn": ["A", "B"]}}),
        json!({"qty": 3}),
        json!({"qty": 3.0}),
        json!({"qty": {"in": [0, 2.0]}}),
        json!({"sku": "SKU-7"}),
        json!({"sku": {"in": ["SKU-1", "SKU-2", "SKU-99"]}}),
        json!({"sku": "SKU-7", "code": "B"}),
        json!({"name": "item-03", "code": "A"}),
        json!({"code": {"startsWith": "A"}}),
    ]
}

/// Run every query on both doctypes: the indexed one must answer as the scanned one, and
/// both must hold exactly `expected` documents.
fn assert_indexed_agrees(engine: &Engine, expected: &[Value], stage: &str) {
    let all = expect_names(expected, |_| true);
    assert_eq!(
        select_names(engine, "Indexed Item", &json!({})),
        all,
        "{stage}"
    );
    assert_eq!(
        select_names(engine, "Plain Item", &json!({})),
        all,
        "{stage}"
    );
    for query in item_queries() {
        let indexed = select_names(engine, "Indexed Item", &query);
        let plain = select_names(engine, "Plain Item", &query);
        assert_eq!(indexed, plain, "{stage}: where {query}");
    }
}

/// Names of `docs` matching `keep`, sorted.
fn expect_names(docs: &[Value], keep: impl Fn(&Value) -> bool) -> Vec<String> {
    let mut found: Vec<String> = docs
        .iter()
        .filter(|d| keep(d))
        .map(|d| d["name"].as_str().unwrap().to_string())
        .collect();
    found.sort();
    found
}

#[test]
fn indexed_where_agrees_with_a_scan_through_updates_and_deletes() {
    let engine = engine();
    let run = engine.import_schemas(vec![
        item_schema("Indexed Item", true),
        item_schema("Plain Item", false),
    ]);
    assert!(run.success, "{:?}", run.error);
    let mut docs: Vec<Value> = (0..42).map(item).collect();
    create(&engine, "Indexed Item", Value::Array(docs.clone()));
    create(&engine, "Plain Item", Value::Array(docs.clone()));
    assert_indexed_agrees(&engine, &docs, "after create");
    let code_a = expect_names(&docs, |d| d["code"] == json!("A"));
    assert_eq!(
        select_names(&engine, "Indexed Item", &json!({"code": "A"})),
        code_a
    );
    assert_eq!(code_a.len(), 12);
    // Move every A to Z, by a where on the indexed field itself.
    for doctype in ["Indexed Item", "Plain Item"] {
        ok(
            &engine,
            json!({"operation": "update", "in": doctype, "input": {"where": {"code": "A"}, "data": {"code": "Z"}}}),
        );
    }
    for doc in docs.iter_mut().filter(|d| d["code"] == json!("A")) {
        doc["code"] = json!("Z");
    }
    assert_indexed_agrees(&engine, &docs, "after update");
    assert_eq!(
        select_names(&engine, "Indexed Item", &json!({"code": "A"})),
        Vec::<String>::new()
    );
    assert_eq!(
        select_names(&engine, "Indexed Item", &json!({"code": "Z"})),
        code_a
    );
    // Change a unique value: the old one is free, the new one found.
    for doctype in ["Indexed Item", "Plain Item"] {
        update(&engine, doctype, "item-07", json!({"sku": "SKU-700"}));
    }
    assert_eq!(
        select_names(&engine, "Indexed Item", &json!({"sku": "SKU-7"})),
        Vec::<String>::new()
    );
    assert_eq!(
        select_names(&engine, "Indexed Item", &json!({"sku": "SKU-700"})),
        ["item-07"]
    );
    // Delete by a where on the indexed field, and one by name.
    let deleted_b = expect_names(&docs, |d| d["code"] == json!("B"));
    for doctype in ["Indexed Item", "Plain Item"] {
        let run = ok(
            &engine,
            json!({"operation": "delete", "from": doctype, "input": {"where": {"code": "B"}}}),
        );
        assert_eq!(run.data().len(), deleted_b.len());
        delete(&engine, doctype, "item-05");
    }
    docs.retain(|d| d["code"] != json!("B") && d["name"] != json!("item-05"));
    assert_indexed_agrees(&engine, &docs, "after delete");
    assert_eq!(
        select_names(&engine, "Indexed Item", &json!({"code": "B"})),
        Vec::<String>::new()
    );
    assert_eq!(
        select_names(
            &engine,
            "Indexed Item",
            &json!({"code": {"in": ["Z", "C"]}})
        ),
        expect_names(&docs, |d| d["code"] == json!("Z")
            || d["code"] == json!("C"))
    );
    // A deleted document's name may come back with other values: no stale hits.
    for doctype in ["Indexed Item", "Plain Item"] {
        create(
            &engine,
            doctype,
            json!({"name": "item-05", "code": "C", "sku": "SKU-5b", "qty": 9}),
        );
    }
    assert_eq!(
        select_names(&engine, "Indexed Item", &json!({"qty": 9})),
        ["item-05"]
    );
    assert_eq!(
        select_names(&engine, "Indexed Item", &json!({"sku": "SKU-5"})),
        Vec::<String>::new()
    );
}

#[test]
fn where_on_an_indexed_field_returns_exactly_the_matches() {
    let engine = engine();
    assert!(
        engine
            .import_schemas(vec![item_schema("Indexed Item", true)])
            .success
    );
    let docs: Vec<Value> = (0..42).map(item).collect();
    create(&engine, "Indexed Item", Value::Array(docs.clone()));
    let checks: Vec<(Value, Vec<String>)> = vec![
        (
            json!({"code": "A"}),
            expect_names(&docs, |d| d["code"] == json!("A")),
        ),
        (
            json!({"code": {"in": ["B", "C"]}}),
            expect_names(&docs, |d| {
                d["code"] == json!("B") || d["code"] == json!("C")
            }),
        ),
        (
            json!({"code": null}),
            expect_names(&docs, |d| d.get("code").is_none()),
        ),
        (
            json!({"qty": 3}),
            expect_names(&docs, |d| d["qty"] == json!(3.0)),
        ),
        (
            json!({"qty": {"in": [0, 2]}}),
            expect_names(&docs, |d| d["qty"] == json!(0.0) || d["qty"] == json!(2.0)),
        ),
        (json!({"sku": "SKU-11"}), vec!["item-11".to_string()]),
        (
            json!({"code": "A", "note": "odd"}),
            expect_names(&docs, |d| {
                d["code"] == json!("A") && d["note"] == json!("odd")
            }),
        ),
    ];
    for (query, expected) in checks {
        assert!(!expected.is_empty(), "the data has matches for {query}");
        assert_eq!(
            select_names(&engine, "Indexed Item", &query),
            expected,
            "where {query}"
        );
    }
}

#[test]
fn unique_values_are_free_again_after_updates_deletes_and_failed_runs() {
    let engine = engine_with_fixtures();
    create(
        &engine,
        "Ticket",
        json!({"subject": "a", "external_ref": "R-1"}),
    );
    // The old value is free after an update changes it.
    update(&engine, "Ticket", "1", json!({"external_ref": "R-2"}));
    create(
        &engine,
        "Ticket",
        json!({"subject": "b", "external_ref": "R-1"}),
    );
    // The value is free after a delete.
    delete(&engine, "Ticket", "1");
    create(
        &engine,
        "Ticket",
        json!({"subject": "c", "external_ref": "R-2"}),
    );
    // A failed create leaves no index entry behind.
    create_fails(
        &engine,
        "Ticket",
        json!([{"subject": "d", "external_ref": "R-3"}, {"subject": 1}]),
        "VALIDATION_FAILED",
    );
    create(
        &engine,
        "Ticket",
        json!({"subject": "e", "external_ref": "R-3"}),
    );
    // Two records of one create may not share a unique value.
    let run = create_fails(
        &engine,
        "Ticket",
        json!([{"subject": "f", "external_ref": "R-4"}, {"subject": "g", "external_ref": "R-4"}]),
        "VALIDATION_FAILED",
    );
    assert_violation(&run, "data[1].external_ref", "unique");
    create(
        &engine,
        "Ticket",
        json!({"subject": "h", "external_ref": "R-4"}),
    );
    // An update that moves two documents to one unique value fails whole.
    let run = fails(
        &engine,
        json!({"operation": "update", "in": "Ticket", "input": {"where": {"external_ref": {"in": ["R-1", "R-2"]}},
            "data": {"external_ref": "R-9"}}}),
        "VALIDATION_FAILED",
    );
    assert_eq!(violations(&run).len(), 1, "{:?}", run.error);
    assert_eq!(
        select_names(&engine, "Ticket", &json!({"external_ref": "R-9"})),
        Vec::<String>::new()
    );
    assert_eq!(
        select_names(&engine, "Ticket", &json!({"external_ref": "R-1"})).len(),
        1
    );
}

#[test]
fn adding_an_index_to_a_schema_with_documents_builds_it_and_removing_it_keeps_queries_right() {
    let engine = engine();
    assert!(
        engine
            .import_schemas(vec![item_schema("Plain Item", false)])
            .success
    );
    let docs: Vec<Value> = (0..42).map(item).collect();
    create(&engine, "Plain Item", Value::Array(docs.clone()));
    let code_a = expect_names(&docs, |d| d["code"] == json!("A"));
    let sku_7 = vec!["item-07".to_string()];
    // Add search_index on code and unique on sku.
    update(
        &engine,
        "Schema",
        "Plain Item",
        json!({"fields": item_schema("Plain Item", true)["fields"]}),
    );
    assert_eq!(
        select_names(&engine, "Plain Item", &json!({"code": "A"})),
        code_a
    );
    assert_eq!(
        select_names(&engine, "Plain Item", &json!({"code": {"in": ["A"]}})),
        code_a
    );
    assert_eq!(
        select_names(&engine, "Plain Item", &json!({"sku": "SKU-7"})),
        sku_7
    );
    // The built unique index guards existing values.
    let run = create_fails(
        &engine,
        "Plain Item",
        json!({"name": "dup", "sku": "SKU-7"}),
        "VALIDATION_FAILED",
    );
    assert_violation(&run, "sku", "unique");
    // Documents written while indexed are found; then the index goes.
    create(&engine, "Plain Item", json!({"name": "late", "code": "A"}));
    let mut with_late = code_a.clone();
    with_late.push("late".into());
    with_late.sort();
    assert_eq!(
        select_names(&engine, "Plain Item", &json!({"code": "A"})),
        with_late
    );
    update(
        &engine,
        "Schema",
        "Plain Item",
        json!({"fields": item_schema("Plain Item", false)["fields"]}),
    );
    assert_eq!(
        select_names(&engine, "Plain Item", &json!({"code": "A"})),
        with_late
    );
    // Changes made while unindexed, then indexed again: the rebuilt index sees them.
    update(&engine, "Plain Item", "late", json!({"code": "B"}));
    delete(&engine, "Plain Item", "item-01");
    update(
        &engine,
        "Schema",
        "Plain Item",
        json!({"fields": item_schema("Plain Item", true)["fields"]}),
    );
    let now_a: Vec<String> = code_a.iter().filter(|n| *n != "item-01").cloned().collect();
    assert_eq!(
        select_names(&engine, "Plain Item", &json!({"code": "A"})),
        now_a
    );
    assert!(select_names(&engine, "Plain Item", &json!({"code": "B"})).contains(&"late".into()));
    // Deleting the schema drops its indexes; queries scan and stay right.
    delete(&engine, "Schema", "Plain Item");
    assert_eq!(
        select_names(&engine, "Plain Item", &json!({"code": "A"})),
        now_a
    );
    assert_eq!(
        select_names(&engine, "Plain Item", &json!({"sku": "SKU-7"})),
        sku_7
    );
}

#[test]
fn documents_written_before_their_schema_are_indexed_when_it_arrives() {
    let engine = engine();
    let docs: Vec<Value> = (0..42).map(item).collect();
    create(&engine, "Indexed Item", Value::Array(docs.clone()));
    assert!(
        engine
            .import_schemas(vec![item_schema("Indexed Item", true)])
            .success
    );
    assert_eq!(
        select_names(&engine, "Indexed Item", &json!({"code": "C"})),
        expect_names(&docs, |d| d["code"] == json!("C"))
    );
    assert_eq!(
        select_names(&engine, "Indexed Item", &json!({"sku": "SKU-40"})),
        ["item-40"]
    );
}

#[test]
fn indexes_survive_reopening_the_store() {
    let store = TempStore::new();
    let docs: Vec<Value> = (0..20).map(item).collect();
    {
        let engine = store.open();
        assert!(
            engine
                .import_schemas(vec![item_schema("Indexed Item", true)])
                .success
        );
        create(&engine, "Indexed Item", Value::Array(docs.clone()));
        update(&engine, "Indexed Item", "item-01", json!({"code": "Q"}));
    }
    let engine = store.open();
    assert_eq!(
        select_names(&engine, "Indexed Item", &json!({"code": "Q"})),
        ["item-01"]
    );
    let mut code_b = expect_names(&docs, |d| d["code"] == json!("B"));
    code_b.retain(|n| n != "item-01");
    assert_eq!(
        select_names(&engine, "Indexed Item", &json!({"code": "B"})),
        code_b
    );
}

// ---------------------------------------------------------------------------------------
// 9. Schema-driven select
// ---------------------------------------------------------------------------------------

#[test]
fn select_can_return_the_schema() {
    let engine = engine_with_fixtures();
    let run = ok(
        &engine,
        json!({"operation": "select", "from": "Project", "options": {"includeSchema": true}}),
    );
    let schema = &run.output["schema"];
    assert_stored_unchanged(&frappe("project.json"), schema);
    assert_eq!(*schema, get(&engine, "Schema", "Project").unwrap());
    // Not asked: not given.
    let run = ok(&engine, json!({"operation": "select", "from": "Project"}));
    assert!(run.output.get("schema").is_none(), "{}", run.output);
    // No schema: null.
    let run = ok(
        &engine,
        json!({"operation": "select", "from": "Gadget", "options": {"includeSchema": true}}),
    );
    assert_eq!(run.output["schema"], Value::Null);
    // The schema of schemas is a schema.
    let run = ok(
        &engine,
        json!({"operation": "select", "from": "Schema", "input": {"where": {"name": "Tag"}},
               "options": {"includeSchema": true}}),
    );
    assert_eq!(run.output["schema"]["name"], json!("Schema"));
    assert_eq!(names(&run), ["Tag"]);
}

#[test]
fn the_list_view_returns_name_doctype_and_in_list_view_fields() {
    let engine = engine_with_fixtures();
    create(
        &engine,
        "Customer",
        json!([{"customer_name": "Acme", "email": "a@acme.test"}, {"customer_name": "Globex"}]),
    );
    let list = |doctype: &str, input: Value| {
        let mut input = input;
        input["view"] = json!("list");
        ok(
            &engine,
            json!({"operation": "select", "from": doctype, "input": input}),
        )
    };
    let run = list("Customer", json!({"orderBy": {"name": "asc"}}));
    assert_eq!(
        run.data(),
        [
            json!({"name": "Acme", "doctype": "Customer", "customer_name": "Acme", "customer_group": "Commercial"}),
            json!({"name": "Globex", "doctype": "Customer", "customer_name": "Globex", "customer_group": "Commercial"}),
        ]
    );
    // `select` overrides the view.
    let run = list(
        "Customer",
        json!({"select": ["name", "email"], "where": {"name": "Acme"}}),
    );
    assert_eq!(
        run.data(),
        [json!({"name": "Acme", "email": "a@acme.test"})]
    );
    // The list view works with where, and keys follow the schema's in_list_view fields.
    let project = create_one(
        &engine,
        "Project",
        json!({"project_name": "Roof", "customer": "Acme"}),
    );
    let run = list("Project", json!({"where": {"customer": "Acme"}}));
    assert_eq!(
        run.data(),
        [
            json!({"name": project["name"], "doctype": "Project", "project_name": "Roof", "status": "Open"})
        ]
    );
    // No schema: name and doctype.
    create(&engine, "Gadget", json!({"name": "g", "x": 1}));
    let run = list("Gadget", json!({}));
    assert_eq!(run.data(), [json!({"name": "g", "doctype": "Gadget"})]);
    // An unknown view is a bad request.
    fails(
        &engine,
        json!({"operation": "select", "from": "Customer", "input": {"view": "grid"}}),
        "BAD_REQUEST",
    );
}

// ---------------------------------------------------------------------------------------
// 10. Dry runs
// ---------------------------------------------------------------------------------------

#[test]
fn a_dry_run_create_validates_and_writes_nothing() {
    let engine = engine_with_fixtures();
    create(&engine, "Customer", json!({"customer_name": "Acme"}));
    let dry = |doctype: &str, data: Value| {
        engine.run_value(
            json!({"operation": "create", "into": doctype, "input": {"data": data},
                                "options": {"dryRun": true}}),
        )
    };
    let run = dry(
        "Project",
        json!({"project_name": "p", "customer": "Nobody", "tasks": [{}]}),
    );
    assert_eq!(
        run.error.as_ref().unwrap().code.as_str(),
        "VALIDATION_FAILED"
    );
    assert!(has_violation(&run, "customer", "link"));
    assert!(has_violation(&run, "tasks[0].subject", "reqd"));
    let run = dry("Project", json!({"project_name": "p", "customer": "Acme"}));
    assert!(run.success, "{:?}", run.error);
    assert_eq!(
        run.data()[0]["status"],
        json!("Open"),
        "defaults show in a dry run"
    );
    let run = dry("Customer", json!({"customer_name": "Dry"}));
    assert!(run.success, "{:?}", run.error);
    assert_eq!(run.data()[0]["name"], json!("Dry"));
    let mut label = frappe("tag.json");
    label["name"] = json!("Label");
    let run = dry("Schema", label);
    assert!(run.success, "{:?}", run.error);
    assert_eq!(count(&engine, "Project"), 0);
    assert_eq!(count(&engine, "Customer"), 1);
    assert!(!schema_names(&engine).contains(&"Label".to_string()));
    // Nothing was counted either.
    let year = year();
    assert_eq!(
        create_one(&engine, "Project", json!({"project_name": "p"}))["name"],
        json!(format!("PRJ-{year}-0001"))
    );
}

#[test]
fn a_dry_run_reports_a_unique_value_repeated_within_the_request() {
    let engine = engine_with_fixtures();
    let request = |dry_run: bool| {
        json!({"operation": "create", "into": "Ticket", "options": {"dryRun": dry_run},
               "input": {"data": [{"subject": "a", "external_ref": "X"}, {"subject": "b", "external_ref": "X"}]}})
    };
    let real = fails(&engine, request(false), "VALIDATION_FAILED");
    assert_violation(&real, "data[1].external_ref", "unique");
    let dry = fails(&engine, request(true), "VALIDATION_FAILED");
    assert_eq!(violations(&dry), violations(&real));
}

// ---------------------------------------------------------------------------------------
// More fieldtypes: Dynamic Link, Table MultiSelect, Datetime and Float defaults
// ---------------------------------------------------------------------------------------

#[test]
fn dynamic_links_check_the_doctype_named_by_another_field() {
    let engine = engine_with_fixtures();
    let run = engine.import_schemas(vec![json!({"doctype": "DocType", "name": "Comment", "fields": [
        {"fieldname": "reference_doctype", "fieldtype": "Link", "options": "Schema"},
        {"fieldname": "reference_name", "fieldtype": "Dynamic Link", "options": "reference_doctype"},
        {"fieldname": "content", "fieldtype": "Text"}]})]);
    assert!(run.success, "{:?}", run.error);
    create(&engine, "Customer", json!({"customer_name": "Acme"}));
    create(
        &engine,
        "Comment",
        json!({"reference_doctype": "Customer", "reference_name": "Acme", "content": "hi"}),
    );
    let run = create_fails(
        &engine,
        "Comment",
        json!({"reference_doctype": "Customer", "reference_name": "Nobody"}),
        "VALIDATION_FAILED",
    );
    assert_eq!(violations(&run), [("reference_name".into(), "link".into())]);
    let run = create_fails(
        &engine,
        "Comment",
        json!({"reference_name": "Acme"}),
        "VALIDATION_FAILED",
    );
    assert_eq!(violations(&run), [("reference_name".into(), "link".into())]);
    let run = create_fails(
        &engine,
        "Comment",
        json!({"reference_doctype": "Supplier", "reference_name": "Acme"}),
        "VALIDATION_FAILED",
    );
    assert!(
        has_violation(&run, "reference_doctype", "link"),
        "{:?}",
        run.error
    );
    // A Dynamic Link needs the field naming its doctype.
    let run = create_fails(
        &engine,
        "Schema",
        json!({"name": "Bad", "fields": [{"fieldname": "ref", "fieldtype": "Dynamic Link"}]}),
        "VALIDATION_FAILED",
    );
    assert_violation(&run, "fields[0].options", "options");
}

#[test]
fn table_multiselect_rows_are_child_rows() {
    let engine = engine_with_fixtures();
    let run = engine.import_schemas(vec![
        json!({"doctype": "DocType", "name": "Note", "fields": [
            {"fieldname": "title", "fieldtype": "Data"},
            {"fieldname": "tags", "fieldtype": "Table MultiSelect", "options": "Note Tag"}]}),
        json!({"doctype": "DocType", "name": "Note Tag", "istable": 1, "fields": [
            {"fieldname": "tag", "fieldtype": "Link", "options": "Tag", "reqd": 1, "in_list_view": 1}]}),
    ]);
    assert!(run.success, "{:?}", run.error);
    create(&engine, "Tag", json!([{"name": "red"}, {"name": "blue"}]));
    let note = create_one(
        &engine,
        "Note",
        json!({"name": "n1", "tags": [{"tag": "red"}, {"tag": "blue"}]}),
    );
    assert!(holds(
        &note["tags"],
        &json!([
            {"tag": "red", "idx": 1, "parent": "n1", "parenttype": "Note", "parentfield": "tags", "doctype": "Note Tag"},
            {"tag": "blue", "idx": 2, "parent": "n1", "parenttype": "Note", "parentfield": "tags", "doctype": "Note Tag"}
        ])
    ));
    let run = create_fails(
        &engine,
        "Note",
        json!({"tags": [{"tag": "green"}, {}]}),
        "VALIDATION_FAILED",
    );
    assert_eq!(
        violations(&run),
        [
            ("tags[0].tag".into(), "link".into()),
            ("tags[1].tag".into(), "reqd".into())
        ]
    );
}

#[test]
fn datetime_now_and_float_defaults_take_their_types() {
    let engine = engine();
    ok(
        &engine,
        json!({"operation": "create", "into": "Schema", "input": {"data": {"name": "Event", "fields": [
            {"fieldname": "logged_at", "fieldtype": "Datetime", "default": "now"},
            {"fieldname": "weight", "fieldtype": "Float", "default": "2.5"},
            {"fieldname": "label", "fieldtype": "Data", "default": "untitled"}]}}}),
    );
    let event = create_one(&engine, "Event", json!({}));
    let logged = event["logged_at"].as_str().unwrap();
    assert_eq!(logged.len(), 19, "{logged}");
    assert!(logged.starts_with(&today()), "{logged}");
    assert_eq!(&logged[10..11], " ", "Frappe's datetime format: {logged}");
    assert_eq!(event["weight"], json!(2.5));
    assert_eq!(event["label"], json!("untitled"));
}

// ---------------------------------------------------------------------------------------
// Regressions and gaps
// ---------------------------------------------------------------------------------------

#[test]
fn index_and_scan_agree_on_large_integral_numbers() {
    let engine = engine();
    let run = engine.import_schemas(vec![
        item_schema("Indexed Item", true),
        item_schema("Plain Item", false),
    ]);
    assert!(run.success, "{:?}", run.error);
    for doctype in ["Indexed Item", "Plain Item"] {
        create(
            &engine,
            doctype,
            json!([{"name": "int", "qty": 10_000_000_000_000_000_i64}, {"name": "float", "qty": 2e16}]),
        );
    }
    for query in [
        json!({"qty": 1e16}),
        json!({"qty": 20_000_000_000_000_000_i64}),
        json!({"qty": {"in": [1e16, 2e16]}}),
    ] {
        let plain = select_names(&engine, "Plain Item", &query);
        assert!(!plain.is_empty(), "the scan finds {query}");
        assert_eq!(
            select_names(&engine, "Indexed Item", &query),
            plain,
            "where {query}"
        );
    }
}

#[test]
fn legacy_frappe_exports_import_unchanged() {
    let engine = engine();
    let path = frappe_dir().join("legacy/support_note_v11.json");
    let file = read_json(&path);
    let run = engine.import_schemas(vec![file.clone()]);
    assert!(run.success, "{:?}", run.error);
    assert_stored_unchanged(&file, &get(&engine, "Schema", "Support Note").unwrap());
    let note = create_one(
        &engine,
        "Support Note",
        json!({"title": "Reset a password"}),
    );
    assert_eq!(note["name"], json!("NOTE-00001"));
    assert_eq!(note["note_type"], json!("Question"));
    assert_eq!(note["views"], json!(0));
}
