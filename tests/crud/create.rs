//! Create: one object or an array, generated names unique across runs, a given name kept,
//! names per doctype, and a repeated name a conflict that writes nothing.

use super::*;

#[test]
fn create_one_object_returns_the_document_with_engine_meta() {
    let engine = engine();
    let run = ok(
        &engine,
        json!({"operation": "create", "into": "ToDo", "owner": "alice",
               "input": {"data": {"description": "write tests", "status": "Open", "n": 3}}}),
    );
    assert_eq!(run.operation.as_deref(), Some("create"));
    assert_eq!(run.status, RunStatus::Completed);
    assert_eq!(run.data().len(), 1);
    let doc = &run.data()[0];
    assert_eq!(doc["doctype"], json!("ToDo"));
    assert_eq!(doc["description"], json!("write tests"));
    assert_eq!(doc["status"], json!("Open"));
    assert_eq!(doc["n"], json!(3));
    let name = doc["name"].as_str().expect("a generated name");
    assert!(!name.is_empty());
    assert_eq!(doc["owner"], json!("alice"));
    assert_eq!(doc["modifiedBy"], json!("alice"));
    assert_eq!(doc["createdByRun"], json!(run.id));
    assert_eq!(doc["modifiedByRun"], json!(run.id));
    assert_eq!(doc["creation"], json!(run.timestamp));
    assert_eq!(doc["modified"], json!(run.timestamp));
    // What was returned is what is stored.
    assert_eq!(get_doc(&engine, "ToDo", name).as_ref(), Some(doc));
}

#[test]
fn create_an_array_creates_every_record_in_order_with_unique_generated_names() {
    let engine = engine();
    let data: Vec<Value> = (0..100).map(|i| json!({"i": i})).collect();
    let run = ok(
        &engine,
        json!({"operation": "create", "into": "Item", "input": {"data": data}}),
    );
    assert_eq!(run.data().len(), 100);
    for (i, doc) in run.data().iter().enumerate() {
        assert_eq!(doc["i"], json!(i), "records come back in request order");
        assert_eq!(doc["createdByRun"], json!(run.id));
    }
    let generated: HashSet<String> = names(&run).into_iter().collect();
    assert_eq!(generated.len(), 100, "generated names are unique");
    assert!(generated.iter().all(|n| !n.trim().is_empty()));
    assert_eq!(count(&engine, "Item"), 100);
}

#[test]
fn generated_names_are_unique_across_runs() {
    let engine = engine();
    let mut seen = HashSet::new();
    for i in 0..50 {
        let run = ok(
            &engine,
            json!({"operation": "create", "into": "Item", "input": {"data": [{"i": i}, {"i": i}]}}),
        );
        for name in names(&run) {
            assert!(seen.insert(name.clone()), "name {name} generated twice");
        }
    }
    assert_eq!(count(&engine, "Item"), 100);
}

#[test]
fn create_with_a_given_name_keeps_it_and_a_null_name_is_generated() {
    let engine = engine();
    let run = ok(
        &engine,
        json!({"operation": "create", "into": "Customer",
               "input": {"data": [{"name": "ACME Corp.", "city": "Paris"}, {"name": null, "city": "Rome"}]}}),
    );
    let created = names(&run);
    assert_eq!(created[0], "ACME Corp.");
    assert!(!created[1].is_empty() && created[1] != "ACME Corp.");
    assert_eq!(
        get_doc(&engine, "Customer", "ACME Corp.").unwrap()["city"],
        json!("Paris")
    );
}

#[test]
fn the_same_name_in_two_doctypes_is_two_documents() {
    let engine = engine();
    create_named(&engine, "A", "same", json!({"x": 1}));
    create_named(&engine, "B", "same", json!({"x": 2}));
    assert_eq!(get_doc(&engine, "A", "same").unwrap()["x"], json!(1));
    assert_eq!(get_doc(&engine, "B", "same").unwrap()["x"], json!(2));
}

#[test]
fn creating_an_existing_name_is_a_conflict_and_writes_nothing() {
    let engine = engine();
    let original = create_named(&engine, "ToDo", "t1", json!({"v": "original"}));
    // A request holding a new record before the conflicting one: the whole request fails.
    let run = fails(
        &engine,
        json!({"operation": "create", "into": "ToDo",
               "input": {"data": [{"name": "fresh", "v": 1}, {"name": "t1", "v": "overwrite"}]}}),
        "CONFLICT",
    );
    let error = run.error.as_ref().unwrap();
    assert!(error.message.contains("t1"), "{}", error.message);
    assert_eq!(error.details, json!({"doctype": "ToDo", "name": "t1"}));
    assert_eq!(run.status, RunStatus::Failed);
    assert_eq!(run.output, Value::Null);
    assert!(
        get_doc(&engine, "ToDo", "fresh").is_none(),
        "no partial write"
    );
    assert_eq!(get_doc(&engine, "ToDo", "t1"), Some(original));
    assert_eq!(count(&engine, "ToDo"), 1);
    // The failed run is recorded.
    assert_eq!(stored(&engine, &run.id).error, run.error);
}

#[test]
fn duplicate_names_inside_one_request_conflict_and_write_nothing() {
    let engine = engine();
    let run = fails(
        &engine,
        json!({"operation": "create", "into": "ToDo",
               "input": {"data": [{"name": "a"}, {"name": "b"}, {"name": "a"}]}}),
        "CONFLICT",
    );
    assert!(run.error.unwrap().message.contains("`a`"));
    assert_eq!(count(&engine, "ToDo"), 0);
}
