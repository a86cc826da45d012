//! The `Operation` doctype and the protected built-ins: seeded documents that cannot be deleted,
//! given code or unprotected, whose settings drive selects and validation and survive reopening.

use super::*;

#[test]
fn the_operation_doctype_has_a_schema_listing_its_settings() {
    let engine = engine();
    let found = ok(
        &engine,
        json!({"operation": "select", "from": "Schema", "input": {"where": {"name": "Operation"}}}),
    );
    assert_eq!(names(&found), ["Operation"]);
    let schema = engine.schema("Operation").unwrap().expect("seeded");
    let fields: Vec<&str> = schema["fields"]
        .as_array()
        .expect("fields")
        .iter()
        .filter_map(|f| f["fieldname"].as_str())
        .collect();
    for wanted in [
        "description",
        "requiresTarget",
        "requiresInput",
        "validateSchema",
        "includeSchema",
        "roles",
        "limits",
        "handlerCode",
    ] {
        assert!(fields.contains(&wanted), "{wanted} missing from {fields:?}");
    }
}

#[test]
fn builtins_have_seeded_protected_operation_documents() {
    let engine = engine();
    let protected = ok(
        &engine,
        json!({"operation": "select", "from": "Operation",
               "input": {"where": {"protected": 1}, "orderBy": {"name": "asc"}}}),
    );
    let protected_names = names(&protected);
    for builtin in ["create", "delete", "select", "update"] {
        assert!(
            protected_names.iter().any(|n| n == builtin),
            "{builtin} is not among the protected operations {protected_names:?}"
        );
    }
    // Only built-ins are protected: a fresh store has no other Operation documents.
    let all = ok(&engine, json!({"operation": "select", "from": "Operation"}));
    assert_eq!(all.data().len(), protected_names.len());
    let target = |name: &str| op_docs(&engine, name)[0]["requiresTarget"].clone();
    assert_eq!(target("select"), json!("from"));
    assert_eq!(target("create"), json!("into"));
    assert_eq!(target("update"), json!("in"));
    assert_eq!(target("delete"), json!("from"));
    for doc in protected.data() {
        assert!(
            doc.get("handlerCode").is_none_or(Value::is_null),
            "built-ins are native: {doc}"
        );
    }
}

#[test]
fn protected_operations_cannot_be_deleted() {
    let engine = engine();
    op(&engine, "custom", "1");
    for name in ["select", "create", "update", "delete"] {
        let run = fails(
            &engine,
            json!({"operation": "delete", "from": "Operation", "input": {"name": name}}),
            "IMMUTABLE",
        );
        assert!(
            error(&run).message.contains(name),
            "{}",
            error(&run).message
        );
        assert_eq!(op_docs(&engine, name).len(), 1);
    }
    // Deleting every operation at once fails whole: the custom one survives too.
    fails(
        &engine,
        json!({"operation": "delete", "from": "Operation", "input": {"where": {}}}),
        "IMMUTABLE",
    );
    assert_eq!(op_docs(&engine, "custom").len(), 1);
    ok(&engine, json!({"operation": "custom"}));
    ok(&engine, json!({"operation": "select", "from": "Operation"}));
}

#[test]
fn protected_operations_cannot_get_handler_code() {
    let engine = engine();
    for name in ["select", "create", "update", "delete"] {
        fails(
            &engine,
            json!({"operation": "update", "in": "Operation",
                   "input": {"name": name, "data": {"handlerCode": "throw \"hijacked\""}}}),
            "IMMUTABLE",
        );
        assert!(
            op_docs(&engine, name)[0]
                .get("handlerCode")
                .is_none_or(Value::is_null)
        );
    }
    // An alias is a built-in name too, and a custom operation cannot claim protection.
    fails(
        &engine,
        json!({"operation": "create", "into": "Operation",
               "input": {"data": {"name": "read", "handlerCode": "1"}}}),
        "IMMUTABLE",
    );
    fails(
        &engine,
        json!({"operation": "create", "into": "Operation",
               "input": {"data": {"name": "sneaky", "handlerCode": "1", "protected": 1}}}),
        "IMMUTABLE",
    );
    assert!(op_docs(&engine, "sneaky").is_empty());
    // Selects still run natively.
    customers(&engine);
    assert_eq!(count(&engine, "Customer"), 3);
}

#[test]
fn protected_flag_cannot_be_changed() {
    let engine = engine();
    fails(
        &engine,
        json!({"operation": "update", "in": "Operation",
               "input": {"name": "select", "data": {"protected": 0}}}),
        "VALIDATION_FAILED",
    );
    fails(
        &engine,
        json!({"operation": "delete", "from": "Operation", "input": {"name": "select"}}),
        "IMMUTABLE",
    );
}

/// Regression: `read_only` was checked only for non-null values, so `protected: null`
/// unprotected a built-in, which could then be deleted (and `create` with it: the store
/// can no longer create anything until it is reopened and re-seeded).
#[test]
fn protected_flag_cannot_be_cleared_with_null() {
    let engine = engine();
    let cleared = run(
        &engine,
        json!({"operation": "update", "in": "Operation",
               "input": {"name": "create", "data": {"protected": null}}}),
    );
    let deleted = run(
        &engine,
        json!({"operation": "delete", "from": "Operation", "input": {"name": "create"}}),
    );
    assert!(
        !cleared.success || !deleted.success,
        "a built-in was unprotected and deleted"
    );
    assert_eq!(op_docs(&engine, "create").len(), 1);
    ok(
        &engine,
        json!({"operation": "create", "into": "Note", "input": {"data": {"t": 1}}}),
    );
}

#[test]
fn select_include_schema_setting_drives_selects() {
    let engine = engine();
    item_schema(&engine);
    ok(
        &engine,
        json!({"operation": "create", "into": "Item", "input": {"data": {"qty": 1}}}),
    );
    let plain = ok(&engine, json!({"operation": "select", "from": "Item"}));
    assert!(plain.output.get("schema").is_none(), "{}", plain.output);

    ok(
        &engine,
        json!({"operation": "update", "in": "Operation",
               "input": {"name": "select", "data": {"includeSchema": 1}}}),
    );
    for alias in ["select", "read"] {
        let with = ok(&engine, json!({"operation": alias, "from": "Item"}));
        assert_eq!(with.output["schema"]["name"], json!("Item"), "{alias}");
        assert_eq!(with.data().len(), 1);
    }
    // The request still overrides the operation's default.
    let without = ok(
        &engine,
        json!({"operation": "select", "from": "Item", "options": {"includeSchema": false}}),
    );
    assert!(without.output.get("schema").is_none(), "{}", without.output);
}

#[test]
fn create_validate_schema_setting_drives_validation() {
    let engine = engine();
    item_schema(&engine);
    let bad = json!({"operation": "create", "into": "Item", "input": {"data": {"qty": "many"}}});
    fails(&engine, bad.clone(), "VALIDATION_FAILED");
    assert_eq!(count(&engine, "Item"), 0);

    ok(
        &engine,
        json!({"operation": "update", "in": "Operation",
               "input": {"name": "create", "data": {"validateSchema": 0}}}),
    );
    let created = ok(&engine, bad.clone());
    assert_eq!(created.data()[0]["qty"], json!("many"));

    ok(
        &engine,
        json!({"operation": "update", "in": "Operation",
               "input": {"name": "create", "data": {"validateSchema": 1}}}),
    );
    fails(&engine, bad, "VALIDATION_FAILED");
    assert_eq!(count(&engine, "Item"), 1);
}

#[test]
fn create_allow_skip_validation_setting_drives_options_validate() {
    let engine = engine();
    item_schema(&engine);
    let trusted = json!({"operation": "create", "into": "Item",
                         "input": {"data": {"qty": "x"}}, "options": {"validate": false}});
    ok(&engine, trusted.clone());
    ok(
        &engine,
        json!({"operation": "update", "in": "Operation",
               "input": {"name": "create", "data": {"allowSkipValidation": 0}}}),
    );
    fails(&engine, trusted, "BAD_REQUEST");
    // From a script too: a nested run goes through the same pipeline.
    op(
        &engine,
        "skipper",
        r#"run(#{operation: "create", into: "Item", input: #{data: #{qty: "y"}}, options: #{validate: false}}).error.code"#,
    );
    let run = ok(&engine, json!({"operation": "skipper"}));
    assert_eq!(run.output, json!("BAD_REQUEST"));
    assert_eq!(count(&engine, "Item"), 1);
}

#[test]
fn operation_settings_survive_reopen() {
    let store = TempStore::new();
    {
        let engine = store.open();
        item_schema(&engine);
        ok(
            &engine,
            json!({"operation": "update", "in": "Operation",
                   "input": {"name": "select", "data": {"includeSchema": 1}}}),
        );
    }
    let engine = store.open();
    let with = ok(&engine, json!({"operation": "select", "from": "Item"}));
    assert_eq!(with.output["schema"]["name"], json!("Item"));
}
