//! Schema changes apply at once: a changed or new schema governs the next request.

use super::*;

/// A fresh engine holding the given fixture schemas (imported as one batch).
fn engine_with(files: &[&str]) -> Engine {
    let engine = engine();
    let run = engine.import_schemas(files.iter().map(|f| frappe(f)).collect());
    assert!(run.success, "{files:?} import: {:?}", run.error);
    engine
}

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
