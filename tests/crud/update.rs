//! Update by name or `where`: fields merged and meta stamped, matching nothing is fine, a missing
//! name is not found, and a rename is refused with nothing written.

use super::*;

#[test]
fn update_by_name_merges_fields_and_stamps_meta() {
    let engine = engine();
    let created = ok(
        &engine,
        json!({"operation": "create", "into": "ToDo", "owner": "alice",
               "input": {"data": {"name": "t1", "status": "Open", "keep": "me"}}}),
    );
    let before = created.data()[0].clone();
    let run = ok(
        &engine,
        json!({"operation": "update", "in": "ToDo", "owner": "bob",
               "input": {"name": "t1", "data": {"status": "Closed", "added": [1, 2]}}}),
    );
    assert_eq!(run.operation.as_deref(), Some("update"));
    assert_eq!(run.data().len(), 1, "update returns the touched document");
    let doc = &run.data()[0];
    assert_eq!(doc["name"], json!("t1"));
    assert_eq!(doc["status"], json!("Closed"));
    assert_eq!(doc["keep"], json!("me"), "fields not in data are kept");
    assert_eq!(doc["added"], json!([1, 2]));
    assert_eq!(doc["modifiedBy"], json!("bob"));
    assert_eq!(doc["modifiedByRun"], json!(run.id));
    assert_eq!(doc["modified"], json!(run.timestamp));
    assert_ne!(doc["modified"], before["modified"]);
    // Creation meta is untouched.
    for field in ["creation", "owner", "createdByRun"] {
        assert_eq!(
            doc[field], before[field],
            "{field} must not change on update"
        );
    }
    assert_eq!(doc["owner"], json!("alice"));
    assert_eq!(doc["createdByRun"], json!(created.id));
    assert_eq!(get_doc(&engine, "ToDo", "t1").as_ref(), Some(doc));
}

#[test]
fn update_by_where_returns_every_touched_document_and_leaves_the_others() {
    let engine = engine();
    for (name, status) in [("a", "Open"), ("b", "Closed"), ("c", "Open"), ("d", "Open")] {
        create_named(&engine, "ToDo", name, json!({"status": status}));
    }
    let untouched = get_doc(&engine, "ToDo", "b").unwrap();
    let run = ok(
        &engine,
        json!({"operation": "update", "in": "ToDo",
               "input": {"where": {"status": "Open"}, "data": {"status": "Done", "seen": true}}}),
    );
    let mut touched = names(&run);
    touched.sort();
    assert_eq!(touched, ["a", "c", "d"]);
    for doc in run.data() {
        assert_eq!(doc["status"], json!("Done"));
        assert_eq!(doc["seen"], json!(true));
        assert_eq!(doc["modifiedByRun"], json!(run.id));
    }
    assert_eq!(get_doc(&engine, "ToDo", "b"), Some(untouched));
    let done = ok(
        &engine,
        json!({"operation": "select", "from": "ToDo", "input": {"where": {"status": "Done"}}}),
    );
    assert_eq!(names(&done), ["a", "c", "d"]);
}

#[test]
fn update_matching_nothing_succeeds_with_no_documents() {
    let engine = engine();
    create_named(&engine, "ToDo", "a", json!({"status": "Open"}));
    let run = ok(
        &engine,
        json!({"operation": "update", "in": "ToDo",
               "input": {"where": {"status": "Nope"}, "data": {"status": "X"}}}),
    );
    assert!(run.data().is_empty());
    assert_eq!(
        get_doc(&engine, "ToDo", "a").unwrap()["status"],
        json!("Open")
    );
}

#[test]
fn update_of_a_missing_name_is_not_found() {
    let engine = engine();
    let run = fails(
        &engine,
        json!({"operation": "update", "in": "ToDo", "input": {"name": "ghost", "data": {"x": 1}}}),
        "NOT_FOUND",
    );
    let error = run.error.unwrap();
    assert!(error.message.contains("ghost"), "{}", error.message);
    assert_eq!(error.details, json!({"doctype": "ToDo", "name": "ghost"}));
    assert_eq!(count(&engine, "ToDo"), 0, "an update never creates");
}

#[test]
fn update_cannot_rename_and_the_failed_update_writes_nothing() {
    let engine = engine();
    create_named(&engine, "ToDo", "a", json!({"status": "Open"}));
    create_named(&engine, "ToDo", "b", json!({"status": "Open"}));
    let before = all_docs(&engine, "ToDo");
    let run = fails(
        &engine,
        json!({"operation": "update", "in": "ToDo",
               "input": {"name": "a", "data": {"name": "z", "status": "Closed"}}}),
        "BAD_REQUEST",
    );
    assert!(run.error.unwrap().message.contains("rename"));
    // By where: `a` keeps its name (allowed), `b` would be renamed: nothing is written, not
    // even the update of `a` that came first.
    fails(
        &engine,
        json!({"operation": "update", "in": "ToDo",
               "input": {"where": {"status": "Open"}, "data": {"name": "a", "status": "Closed"}}}),
        "BAD_REQUEST",
    );
    assert_eq!(all_docs(&engine, "ToDo"), before);
    assert!(get_doc(&engine, "ToDo", "z").is_none());
    // Giving the document's own name is not a rename.
    let run = ok(
        &engine,
        json!({"operation": "update", "in": "ToDo",
               "input": {"name": "a", "data": {"name": "a", "status": "Closed"}}}),
    );
    assert_eq!(run.data()[0]["status"], json!("Closed"));
}
