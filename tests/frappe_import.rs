//! Story: a Frappe user imports the DocType files of a real app unchanged — a whole app
//! folder at once — and exports them back.
//!
//! The app lives in `tests/fixtures/frappe/myapp/` laid out as Frappe lays out an app
//! (`myapp/<module>/doctype/<name>/<name>.json`, beside `.py`/`.js` files, test records,
//! reports, workspaces and a print format, which are not DocTypes). Its files span Frappe's
//! export formats: old ones (explicit zeros, `", "` separators, no indentation at all in
//! Has Role) and new ones (defaults omitted); child tables that declare the standard fields,
//! Links to `DocType`, Dynamic Links, numeric defaults, and Frappe's own Role and User.

use crate::harness::{TempStore, cli, engine, fails, ok, stdout_json};
use coworker::{Engine, Run};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

/// The DocTypes of the fixture app (every other JSON file in it is something else).
const APP_DOCTYPES: [&str; 8] = [
    "Auto Repeat",
    "Domain",
    "Dynamic Link",
    "Has Role",
    "Note",
    "Role",
    "ToDo",
    "User",
];

fn app_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/frappe/myapp")
}

fn app_file(path: &str) -> Value {
    let path = app_dir().join("myapp").join(path);
    serde_json::from_str(&std::fs::read_to_string(&path).expect("fixture readable"))
        .expect("fixture is JSON")
}

fn engine_with_app() -> Engine {
    let engine = engine();
    let run = engine.import_schema_dir(app_dir());
    assert!(run.success, "the app imports: {:?}", run.error);
    engine
}

fn imported_names(run: &Run) -> Vec<String> {
    let mut names: Vec<String> = run
        .data()
        .iter()
        .map(|d| d["name"].as_str().unwrap().to_string())
        .collect();
    names.sort();
    names
}

fn create(engine: &Engine, doctype: &str, data: Value) -> Run {
    engine.run_value(json!({"operation": "create", "into": doctype, "input": {"data": data}}))
}

fn created(engine: &Engine, doctype: &str, data: Value) -> Value {
    let run = create(engine, doctype, data.clone());
    assert!(run.success, "{doctype} {data}: {:?}", run.error);
    run.data()[0].clone()
}

/// (path, rule) of every violation of a failed run.
fn violations(run: &Run) -> Vec<(String, String)> {
    let error = run.error.as_ref().expect("the run failed");
    assert_eq!(
        error.code.as_str(),
        "VALIDATION_FAILED",
        "{}",
        error.message
    );
    crate::harness::violations(run)
}

fn violation_message(run: &Run, path: &str) -> String {
    let details = &run.error.as_ref().expect("failed").details;
    details
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["path"] == path)
        .unwrap_or_else(|| panic!("no violation at {path}: {details}"))["message"]
        .as_str()
        .unwrap()
        .to_string()
}

fn schema_count(engine: &Engine) -> usize {
    ok(engine, json!({"operation": "select", "from": "Schema"}))
        .data()
        .len()
}

/// A schema with one field row, for meta-validation cases.
fn one_field(name: &str, row: Value) -> Value {
    json!({"doctype": "DocType", "name": name, "fields": [row]})
}

// ---------------------------------------------------------------------------------------
// 6. A whole app at once
// ---------------------------------------------------------------------------------------

#[test]
fn a_frappe_app_folder_imports_whole_skipping_what_is_not_a_doctype() {
    let engine = engine();
    let before = schema_count(&engine);
    let run = engine.import_schema_dir(app_dir());
    assert!(run.success, "{:?}", run.error);
    assert_eq!(imported_names(&run), APP_DOCTYPES.map(String::from));
    // Role and User extend the seeded schemas: no new schema for them.
    assert_eq!(schema_count(&engine), before + APP_DOCTYPES.len() - 2);
    for not_a_doctype in ["Open ToDos", "Tools", "ToDo Card", "Report", "Workspace"] {
        assert!(
            engine.schema(not_a_doctype).unwrap().is_none(),
            "{not_a_doctype}"
        );
    }
    // Explicit zeros of old exports are kept as they are.
    let has_role = engine.schema("Has Role").unwrap().unwrap();
    assert_eq!(has_role["fields"][0]["length"], json!(0));
    assert_eq!(has_role["fields"][0]["reqd"], json!(0));
    assert_eq!(has_role["hide_heading"], json!(0));
}

#[test]
fn cli_schema_import_of_an_app_folder_matches_the_api() {
    let store = TempStore::new();
    let output = cli(&store.path)
        .args(["schema", "import"])
        .arg(app_dir())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let run = stdout_json(&output);
    let mut names: Vec<&str> = run["output"]["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, APP_DOCTYPES);
    // A module folder alone works too (its Links to other modules must exist already).
    let output = cli(&store.path)
        .args(["schema", "import"])
        .arg(app_dir().join("myapp/desk"))
        .output()
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(1),
        "ToDo exists already: {output:?}"
    );
    assert_eq!(stdout_json(&output)["error"]["code"], json!("CONFLICT"));
}

#[test]
fn cli_schema_import_refuses_a_folder_mixed_with_files() {
    let store = TempStore::new();
    let output = cli(&store.path)
        .args(["schema", "import"])
        .arg(app_dir())
        .arg(app_dir().join("myapp/desk/doctype/note/note.json"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    assert!(String::from_utf8_lossy(&output.stderr).contains("is a folder"));
}

/// A copy of the app without some files (by path under `myapp/`).
fn app_without(dir: &Path, drop: &[&str]) {
    fn copy(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            let target = to.join(entry.file_name());
            if entry.file_type().unwrap().is_dir() {
                copy(&entry.path(), &target);
            } else {
                std::fs::copy(entry.path(), target).unwrap();
            }
        }
    }
    copy(&app_dir(), dir);
    for file in drop {
        std::fs::remove_file(dir.join("myapp").join(file)).unwrap();
    }
}

#[test]
fn every_missing_target_of_an_app_is_reported_at_once_and_nothing_is_imported() {
    let temp = tempfile::tempdir().unwrap();
    app_without(
        temp.path(),
        &[
            "core/doctype/has_role/has_role.json",
            "core/doctype/dynamic_link/dynamic_link.json",
            "core/doctype/domain/domain.json",
        ],
    );
    let engine = engine();
    let before = schema_count(&engine);
    let run = engine.import_schema_dir(temp.path());
    let found = violations(&run);
    let message = &run.error.as_ref().unwrap().message;
    for missing in ["Has Role", "Dynamic Link", "Domain"] {
        assert!(message.contains(&format!("`{missing}`")), "{message}");
    }
    assert_eq!(found.len(), 3, "{found:?}");
    assert!(
        found
            .iter()
            .all(|(path, rule)| rule == "link" && path.ends_with(".options"))
    );
    assert_eq!(schema_count(&engine), before, "nothing of the app is kept");
    assert_eq!(
        engine.schema("Role").unwrap().unwrap()["fields"]
            .as_array()
            .unwrap()
            .len(),
        1,
        "the seeded Role is not extended by a failed import"
    );
}

#[test]
fn an_unreadable_app_file_fails_the_import_naming_it() {
    let temp = tempfile::tempdir().unwrap();
    app_without(temp.path(), &[]);
    let broken = temp.path().join("myapp/desk/doctype/note/note.json");
    std::fs::write(&broken, "{\"doctype\": \"DocType\", ").unwrap();
    let engine = engine();
    let run = engine.import_schema_dir(temp.path());
    let error = run.error.unwrap();
    assert_eq!(error.code.as_str(), "BAD_REQUEST");
    assert!(error.message.contains("note.json"), "{}", error.message);
    let run = engine.import_schema_dir(temp.path().join("nowhere"));
    assert_eq!(run.error.unwrap().code.as_str(), "BAD_REQUEST");
    // A folder without DocType files is most likely the wrong one.
    let run = engine.import_schema_dir(temp.path().join("myapp/desk/report"));
    let error = run.error.unwrap();
    assert_eq!(error.code.as_str(), "BAD_REQUEST");
    assert!(
        error.message.contains("holds no DocType file"),
        "{}",
        error.message
    );
}

// ---------------------------------------------------------------------------------------
// 1. Links to DocType
// ---------------------------------------------------------------------------------------

#[test]
fn links_to_doctype_name_schemas() {
    let engine = engine_with_app();
    let note = created(&engine, "Note", json!({"title": "Welcome"}));
    let todo = created(
        &engine,
        "ToDo",
        json!({"description": "read it", "reference_type": "Note", "reference_name": note["name"]}),
    );
    assert_eq!(todo["reference_type"], json!("Note"));
    // A seeded schema is a DocType too.
    created(
        &engine,
        "ToDo",
        json!({"description": "a role", "reference_type": "Role"}),
    );
    let run = create(
        &engine,
        "ToDo",
        json!({"description": "x", "reference_type": "Nope", "reference_name": "n"}),
    );
    let found = violations(&run);
    assert!(
        found.contains(&("reference_type".into(), "link".into())),
        "{found:?}"
    );
    assert!(violation_message(&run, "reference_type").contains("DocType `Nope` does not exist"));
    // The Dynamic Link follows the DocType named: no such Note.
    let run = create(
        &engine,
        "Auto Repeat",
        json!({"reference_doctype": "Note", "reference_document": "missing", "frequency": "Daily"}),
    );
    assert_eq!(
        violations(&run),
        [("reference_document".to_string(), "link".to_string())]
    );
}

#[test]
fn a_schema_named_by_a_link_to_doctype_cannot_be_deleted_under_it() {
    let engine = engine_with_app();
    ok(
        &engine,
        json!({"operation": "create", "into": "Schema", "input": {"data":
            one_field("Gadget", json!({"fieldname": "title", "fieldtype": "Data"}))}}),
    );
    let todo = created(
        &engine,
        "ToDo",
        json!({"description": "about gadgets", "reference_type": "Gadget"}),
    );
    let run = fails(
        &engine,
        json!({"operation": "delete", "from": "Schema", "input": {"name": "Gadget"}}),
        "CONFLICT",
    );
    let message = run.error.unwrap().message;
    assert!(
        message.contains(todo["name"].as_str().unwrap()),
        "{message}"
    );
}

#[test]
fn doctype_is_an_alias_of_schema_in_requests() {
    let engine = engine_with_app();
    let run = ok(
        &engine,
        json!({"operation": "select", "from": "DocType", "input": {"where": {"name": "ToDo"}}}),
    );
    assert_eq!(run.data().len(), 1);
    assert_eq!(run.data()[0]["doctype"], json!("Schema"));
    let run = ok(
        &engine,
        json!({"operation": "create", "into": "DocType", "input": {"data":
            one_field("Label", json!({"fieldname": "title", "fieldtype": "Data"}))}}),
    );
    assert_eq!(run.data()[0]["doctype"], json!("Schema"));
    assert!(engine.schema("Label").unwrap().is_some());
}

// ---------------------------------------------------------------------------------------
// 2. Unknown keys are kept, near-misses refused
// ---------------------------------------------------------------------------------------

#[test]
fn unknown_frappe_keys_are_kept_and_returned_as_imported() {
    let engine = engine_with_app();
    let note = engine.schema("Note").unwrap().unwrap();
    let row = &note["fields"][3];
    assert_eq!(row["fieldname"], json!("notify_on_every_login"));
    assert_eq!(row["display_if"], json!("eval:doc.notify_on_login"));
    let exported = engine.export_schema("Note").unwrap().unwrap();
    assert_eq!(
        exported["fields"][3]["display_if"],
        json!("eval:doc.notify_on_login")
    );
    // Keys of one's own, on a field or the DocType, are kept too, and ignored by validation.
    let run = ok(
        &engine,
        json!({"operation": "create", "into": "Schema", "input": {"data": {
            "name": "Gadget", "x_team": "ops",
            "fields": [{"fieldname": "title", "fieldtype": "Data", "reqd": 1, "help_url": "/docs"}]}}}),
    );
    assert_eq!(run.data()[0]["x_team"], json!("ops"));
    assert_eq!(run.data()[0]["fields"][0]["help_url"], json!("/docs"));
    let run = create(&engine, "Gadget", json!({}));
    assert_eq!(
        violations(&run),
        [("title".to_string(), "reqd".to_string())]
    );
}

#[test]
fn near_misses_of_known_keys_are_refused_with_the_key_meant() {
    let engine = engine();
    let cases = [
        ("required", "reqd"),
        ("reqd ", "reqd"),
        ("Reqd", "reqd"),
        ("mandatory", "reqd"),
        ("optons", "options"),
        ("in_listview", "in_list_view"),
        ("field_type", "fieldtype"),
        ("set-only-once", "set_only_once"),
    ];
    for (key, meant) in cases {
        let mut row = json!({"fieldname": "a", "fieldtype": "Data"});
        row[key] = json!(1);
        let run = engine.import_schemas(vec![one_field("W", row)]);
        let path = format!("fields[0].{key}");
        assert_eq!(
            violations(&run),
            [(path.clone(), "unknown".to_string())],
            "{key}"
        );
        assert!(
            violation_message(&run, &path).contains(&format!("did you mean `{meant}`?")),
            "{key}: {:?}",
            run.error
        );
    }
    // On the DocType itself.
    let run = engine.import_schemas(vec![
        json!({"doctype": "DocType", "name": "W", "is_table": 1, "fields": []}),
    ]);
    assert_eq!(
        violations(&run),
        [("is_table".to_string(), "unknown".to_string())]
    );
    assert!(violation_message(&run, "is_table").contains("did you mean `istable`?"));
}

#[test]
fn known_keys_with_values_of_the_wrong_type_are_refused() {
    let engine = engine();
    let run = engine.import_schemas(vec![one_field(
        "W",
        json!({"fieldname": "a", "fieldtype": "Data", "reqd": "yes", "length": "long"}),
    )]);
    let mut found = violations(&run);
    found.sort();
    assert_eq!(
        found,
        [
            ("fields[0].length".to_string(), "type".to_string()),
            ("fields[0].reqd".to_string(), "type".to_string())
        ]
    );
    let run = engine.import_schemas(vec![one_field(
        "W",
        json!({"fieldname": "a", "fieldtype": "Data", "default": {"value": 1}}),
    )]);
    assert_eq!(
        violations(&run),
        [("fields[0].default".to_string(), "type".to_string())]
    );
}

// ---------------------------------------------------------------------------------------
// 3. Child tables declaring the standard fields
// ---------------------------------------------------------------------------------------

#[test]
fn child_tables_may_declare_the_standard_fields_as_what_they_are() {
    let engine = engine_with_app();
    created(
        &engine,
        "User",
        json!({"name": "ann@example.com", "email": "ann@example.com", "first_name": "Ann"}),
    );
    // Rows get their standard values from the engine, whatever the declaration says.
    let note = created(
        &engine,
        "Note",
        json!({"title": "seen", "seen_by": [{"link_doctype": "User", "link_name": "ann@example.com"}]}),
    );
    let row = &note["seen_by"][0];
    assert_eq!(row["idx"], json!(1));
    assert_eq!(row["parenttype"], json!("Note"));
    assert_eq!(row["parentfield"], json!("seen_by"));
    // A declaration that disagrees with the standard field is refused.
    let run = engine.import_schemas(vec![
        json!({"doctype": "DocType", "name": "Row", "istable": 1,
        "fields": [
            {"fieldname": "idx", "fieldtype": "Data"},
            {"fieldname": "parent", "fieldtype": "Check"},
            {"fieldname": "parenttype", "fieldtype": "Data"}]}),
    ]);
    let mut found = violations(&run);
    found.sort();
    assert_eq!(
        found,
        [
            ("fields[0].fieldtype".to_string(), "reserved".to_string()),
            ("fields[1].fieldtype".to_string(), "reserved".to_string())
        ]
    );
}

// ---------------------------------------------------------------------------------------
// 4. Numeric and boolean defaults
// ---------------------------------------------------------------------------------------

#[test]
fn numeric_and_boolean_defaults_apply_with_the_field_type() {
    let engine = engine_with_app();
    let repeat = created(
        &engine,
        "Auto Repeat",
        json!({"reference_doctype": "Schema", "reference_document": "ToDo", "frequency": "Monthly"}),
    );
    assert_eq!(repeat["repeat_on_day"], json!(0), "Int default 0");
    assert_eq!(repeat["notify_by_email"], json!(1), "Check default 1");
    assert_eq!(repeat["disabled"], json!(0), "Check default 0");
    assert_eq!(
        repeat["submit_on_creation"],
        json!(0),
        "Check default \"0\""
    );
    assert_eq!(repeat["status"], json!("Active"));
    let run = ok(
        &engine,
        json!({"operation": "create", "into": "Schema", "input": {"data": {"name": "Knob", "fields": [
            {"fieldname": "on", "fieldtype": "Check", "default": true},
            {"fieldname": "count", "fieldtype": "Int", "default": 3.0},
            {"fieldname": "ratio", "fieldtype": "Float", "default": 2.5},
            {"fieldname": "code", "fieldtype": "Data", "default": 7},
            {"fieldname": "flag", "fieldtype": "Data", "default": false}]}}}),
    );
    // The schema keeps the defaults as written.
    assert_eq!(run.data()[0]["fields"][0]["default"], json!(true));
    let knob = created(&engine, "Knob", json!({}));
    assert_eq!(knob["on"], json!(1));
    assert_eq!(knob["count"], json!(3));
    assert_eq!(knob["ratio"], json!(2.5));
    assert_eq!(knob["code"], json!("7"));
    assert_eq!(knob["flag"], json!("0"));
}

// ---------------------------------------------------------------------------------------
// 5. Frappe's own Role and User
// ---------------------------------------------------------------------------------------

#[test]
fn frappe_role_and_user_files_extend_the_seeded_schemas() {
    let engine = engine_with_app();
    let role_schema = engine.schema("Role").unwrap().unwrap();
    let fieldnames: Vec<&str> = role_schema["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["fieldname"].as_str().unwrap())
        .collect();
    assert_eq!(
        fieldnames,
        [
            "role_name",
            "disabled",
            "desk_access",
            "two_factor_auth",
            "restrict_to_domain",
            "description"
        ],
        "the file's fields, then the seed's it does not declare"
    );
    assert_eq!(
        role_schema["icon"],
        json!("fa fa-bookmark"),
        "the file's keys are kept"
    );
    created(&engine, "Domain", json!({"domain": "Manufacturing"}));
    let role = created(
        &engine,
        "Role",
        json!({"role_name": "Stock User", "desk_access": 1, "restrict_to_domain": "Manufacturing",
               "description": "keeps the seed's field"}),
    );
    assert_eq!(
        role["name"],
        json!("Stock User"),
        "named by the file's field:role_name"
    );
    assert_eq!(role["two_factor_auth"], json!(0));
    let run = create(&engine, "Role", json!({"role_name": "X", "desk_acces": 1}));
    assert_eq!(
        violations(&run),
        [("desk_acces".to_string(), "unknown".to_string())]
    );
    let user = created(
        &engine,
        "User",
        json!({"name": "ann@example.com", "email": "ann@example.com", "first_name": "Ann",
               "user_type": "System User", "roles": [{"role": "Stock User"}]}),
    );
    assert_eq!(user["enabled"], json!(1));
    // The file's declarations of the seed's other fields apply: Frappe requires `email`.
    let run = create(
        &engine,
        "User",
        json!({"name": "bob", "first_name": "Bob", "email": ""}),
    );
    assert_eq!(
        violations(&run),
        [("email".to_string(), "reqd".to_string())]
    );
    // The schemas still cannot be changed or replaced by anything but a Frappe file.
    fails(
        &engine,
        json!({"operation": "update", "in": "Schema", "input": {"name": "Role", "data": {"module": "Mine"}}}),
        "IMMUTABLE",
    );
}

#[test]
fn fields_access_control_relies_on_keep_their_type() {
    let engine = engine();
    let mut user = app_file("core/doctype/user/user.json");
    user["fields"][0]["fieldtype"] = json!("Data"); // `enabled`
    user["fields"][14]["fieldtype"] = json!("Check"); // `roles`
    let has_role = app_file("core/doctype/has_role/has_role.json");
    // With `roles` no longer a Table, nothing orders User after Has Role: it stays first.
    let run = engine.import_schemas(vec![user, has_role]);
    let mut found = violations(&run);
    found.sort();
    assert_eq!(
        found,
        [
            (
                "data[0].fields[0].fieldtype".to_string(),
                "immutable".to_string()
            ),
            (
                "data[0].fields[14].fieldtype".to_string(),
                "immutable".to_string()
            )
        ]
    );
    assert!(
        violation_message(&run, "data[0].fields[0].fieldtype")
            .contains("`enabled` of the seeded schema `User` is Check")
    );
}

#[test]
fn access_control_reads_the_roles_of_frappe_user_rows() {
    let engine = engine_with_app();
    for (name, roles) in [
        ("admin", json!([{"role": "Administrator"}])),
        ("ann", json!([{"role": "System Manager"}])),
        ("bob", json!([{"role": "Guest"}])),
    ] {
        created(
            &engine,
            "User",
            json!({"name": name, "email": format!("{name}@example.com"), "first_name": name, "roles": roles}),
        );
    }
    engine.enable_acl("admin", None).unwrap();
    ok(
        &engine,
        json!({"operation": "select", "from": "ToDo", "owner": "ann"}),
    );
    fails(
        &engine,
        json!({"operation": "select", "from": "ToDo", "owner": "bob"}),
        "PERMISSION_DENIED",
    );
}

#[test]
fn an_extended_seed_survives_reopening_the_store() {
    let store = TempStore::new();
    {
        let engine = store.open();
        let run = engine.import_schema_dir(app_dir());
        assert!(run.success, "{:?}", run.error);
    }
    let engine = store.open();
    let role = engine.schema("Role").unwrap().unwrap();
    assert_eq!(role["fields"].as_array().unwrap().len(), 6);
    created(
        &engine,
        "Role",
        json!({"role_name": "Auditor", "desk_access": 0}),
    );
}

// ---------------------------------------------------------------------------------------
// 7. Export
// ---------------------------------------------------------------------------------------

/// A stored schema without what each import stamps anew (run stamps, row names).
fn comparable(schema: &Value) -> Value {
    let mut schema = schema.clone();
    let doc = schema.as_object_mut().unwrap();
    for key in [
        "creation",
        "modified",
        "owner",
        "modifiedBy",
        "createdByRun",
        "modifiedByRun",
    ] {
        doc.remove(key);
    }
    for table in ["fields", "permissions"] {
        for row in doc[table].as_array_mut().unwrap() {
            row.as_object_mut().unwrap().remove("name");
        }
    }
    schema
}

#[test]
fn export_gives_a_frappe_file_that_imports_as_the_same_schema() {
    let engine = engine_with_app();
    let again = coworker::Engine::in_memory().unwrap();
    let mut exported = Vec::new();
    for name in APP_DOCTYPES {
        let file = engine.export_schema(name).unwrap().expect("exported");
        assert_eq!(file["doctype"], json!("DocType"));
        assert_eq!(file["name"], json!(name));
        assert!(file.get("createdByRun").is_none() && file.get("modifiedByRun").is_none());
        for row in file["fields"].as_array().unwrap() {
            for key in [
                "name",
                "parent",
                "parenttype",
                "parentfield",
                "idx",
                "doctype",
            ] {
                assert!(row.get(key).is_none(), "{name}: `{key}` exported: {row}");
            }
        }
        exported.push(file);
    }
    let run = again.import_schemas(exported);
    assert!(run.success, "{:?}", run.error);
    for name in APP_DOCTYPES {
        assert_eq!(
            comparable(&again.schema(name).unwrap().unwrap()),
            comparable(&engine.schema(name).unwrap().unwrap()),
            "{name}"
        );
    }
    assert!(engine.export_schema("Nothing").unwrap().is_none());
    assert_eq!(
        engine.export_schema("DocType").unwrap().unwrap()["name"],
        json!("Schema")
    );
}

#[test]
fn cli_schema_export_prints_the_file() {
    let store = TempStore::new();
    let output = cli(&store.path)
        .args(["schema", "import"])
        .arg(app_dir())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let output = cli(&store.path)
        .args(["schema", "export", "ToDo"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let printed = stdout_json(&output);
    assert_eq!(
        printed,
        store.open().export_schema("ToDo").unwrap().unwrap()
    );
    // Every key of the file is there as in the file (the engine's stamps aside).
    let file = app_file("desk/doctype/todo/todo.json");
    for (key, value) in file.as_object().unwrap() {
        if !["creation", "modified", "owner"].contains(&key.as_str()) {
            assert_eq!(&printed[key], value, "`{key}`");
        }
    }
    let output = cli(&store.path)
        .args(["schema", "export", "Nothing"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("no schema `Nothing`"));
}
