//! Meta fields cannot be forged on create or update; `data.doctype` must match the target.

use super::*;

#[test]
fn meta_fields_cannot_be_forged_on_create() {
    let engine = engine();
    let forged = json!({
        "name": "f", "title": "real",
        "creation": "1999-01-01T00:00:00Z", "modified": "1999-01-01T00:00:00Z",
        "owner": "mallory", "modifiedBy": "mallory",
        "createdByRun": "01FORGEDFORGEDFORGEDFORGED", "modifiedByRun": "01FORGEDFORGEDFORGEDFORGED",
        "createdByTemplate": "Evil Template"
    });
    let run = ok(
        &engine,
        json!({"operation": "create", "into": "ToDo", "owner": "alice", "input": {"data": forged}}),
    );
    let doc = get_doc(&engine, "ToDo", "f").unwrap();
    assert_eq!(doc["title"], json!("real"));
    assert_eq!(doc["owner"], json!("alice"));
    assert_eq!(doc["modifiedBy"], json!("alice"));
    assert_eq!(doc["createdByRun"], json!(run.id));
    assert_eq!(doc["modifiedByRun"], json!(run.id));
    assert_eq!(doc["creation"], json!(run.timestamp));
    assert_eq!(doc["modified"], json!(run.timestamp));
    assert!(
        doc.get("createdByTemplate").is_none(),
        "a caller cannot claim a template made the document: {doc}"
    );
}

#[test]
fn meta_fields_cannot_be_forged_on_update() {
    let engine = engine();
    let created = ok(
        &engine,
        json!({"operation": "create", "into": "ToDo", "owner": "alice",
               "input": {"data": {"name": "f", "v": 1}}}),
    );
    let before = created.data()[0].clone();
    let run = ok(
        &engine,
        json!({"operation": "update", "in": "ToDo", "owner": "bob",
               "input": {"name": "f", "data": {
                   "v": 2, "creation": "1999", "modified": "1999", "owner": "mallory",
                   "modifiedBy": "mallory", "createdByRun": "X", "modifiedByRun": "Y"}}}),
    );
    let doc = get_doc(&engine, "ToDo", "f").unwrap();
    assert_eq!(doc["v"], json!(2));
    assert_eq!(doc["creation"], before["creation"]);
    assert_eq!(doc["owner"], json!("alice"));
    assert_eq!(doc["createdByRun"], json!(created.id));
    assert_eq!(doc["modifiedBy"], json!("bob"));
    assert_eq!(doc["modifiedByRun"], json!(run.id));
    assert_eq!(doc["modified"], json!(run.timestamp));
}

#[test]
fn data_doctype_must_match_the_target() {
    let engine = engine();
    let run = ok(
        &engine,
        json!({"operation": "create", "into": "ToDo", "input": {"data": {"name": "a", "doctype": "ToDo"}}}),
    );
    assert_eq!(run.data()[0]["doctype"], json!("ToDo"));
    let run = fails(
        &engine,
        json!({"operation": "create", "into": "ToDo", "input": {"data": {"name": "b", "doctype": "Invoice"}}}),
        "BAD_REQUEST",
    );
    assert!(run.error.unwrap().message.contains("Invoice"));
    fails(
        &engine,
        json!({"operation": "update", "in": "ToDo", "input": {"name": "a", "data": {"doctype": "Invoice"}}}),
        "BAD_REQUEST",
    );
    assert_eq!(count(&engine, "Invoice"), 0);
    assert_eq!(
        names(&ok(&engine, json!({"operation": "select", "from": "ToDo"}))),
        ["a"]
    );
}
