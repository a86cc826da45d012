//! Schemas are validated like documents: a batch reports meta violations and imports nothing, a
//! table of a non-child doctype is refused, and the seeded schemas stay as seeded.

use super::*;

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
