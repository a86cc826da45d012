//! More fieldtypes: Dynamic Link, Table MultiSelect, Datetime and Float defaults.

use super::*;

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
