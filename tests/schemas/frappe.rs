//! Frappe compatibility: Frappe DocType files import with every key kept, through `schema import`
//! or a create into `Schema`, in any order, with link targets and child tables checked.

use super::*;
use std::process::Output;

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
