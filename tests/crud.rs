//! Story: a host creates, reads, updates and deletes documents through `Engine::run`, and
//! every run (top-level or nested, completed or failed) is recorded with the fields of
//! DESIGN.md; a top-level run and its nested runs write all or nothing.

use crate::harness::*;
use coworker::{Engine, Error, ErrorCode, Run, RunOptions, RunQuery, RunRequest, RunStatus};
use serde_json::{Value, json};
use std::collections::HashSet;

/// One document by name, through a select (`None` when absent).
fn get_doc(engine: &Engine, doctype: &str, name: &str) -> Option<Value> {
    let run = ok(
        engine,
        json!({"operation": "select", "from": doctype, "input": {"where": {"name": name}}}),
    );
    assert!(run.data().len() <= 1);
    run.data().first().cloned()
}

/// Every document of a doctype, in name order.
fn all_docs(engine: &Engine, doctype: &str) -> Vec<Value> {
    ok(engine, json!({"operation": "select", "from": doctype}))
        .data()
        .to_vec()
}

/// Create one document with a given name and fields; returns the created document.
fn create_named(engine: &Engine, doctype: &str, name: &str, fields: Value) -> Value {
    let mut data = fields;
    data["name"] = json!(name);
    let run = ok(
        engine,
        json!({"operation": "create", "into": doctype, "input": {"data": data}}),
    );
    run.data()[0].clone()
}

/// The run as JSON, without `duration` (a float may lose its last bit through JSON text).
fn without_duration(run: &Run) -> Value {
    let mut value = run.to_value();
    value.as_object_mut().unwrap().remove("duration");
    value
}

const META: [&str; 6] = [
    "creation",
    "modified",
    "owner",
    "modifiedBy",
    "createdByRun",
    "modifiedByRun",
];

// ---------------------------------------------------------------------------------------------
// create

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

// ---------------------------------------------------------------------------------------------
// select

#[test]
fn select_returns_full_documents_and_the_count() {
    let engine = engine();
    create_named(&engine, "ToDo", "a", json!({"status": "Open", "n": 1}));
    create_named(&engine, "ToDo", "b", json!({"status": "Closed", "n": 2}));
    create_named(&engine, "ToDo", "c", json!({"status": "Open", "n": 3}));
    create_named(&engine, "Other", "x", json!({"status": "Open"}));
    let run = ok(
        &engine,
        json!({"operation": "select", "from": "ToDo", "input": {"where": {"status": "Open"}}}),
    );
    assert_eq!(names(&run), ["a", "c"]);
    assert_eq!(run.output["meta"]["count"], json!(2));
    for doc in run.data() {
        assert_eq!(doc["doctype"], json!("ToDo"));
        for field in META {
            assert!(
                doc.get(field).is_some(),
                "select returns meta field {field}"
            );
        }
    }
    // Without input: every document of the doctype, none of another.
    let all = ok(&engine, json!({"operation": "select", "from": "ToDo"}));
    assert_eq!(names(&all), ["a", "b", "c"]);
    // A doctype nobody wrote: empty, not an error.
    let none = ok(&engine, json!({"operation": "select", "from": "Nothing"}));
    assert!(none.data().is_empty());
    assert_eq!(none.output["meta"]["count"], json!(0));
}

// ---------------------------------------------------------------------------------------------
// update

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

// ---------------------------------------------------------------------------------------------
// delete

#[test]
fn delete_by_name_returns_the_name_and_removes_the_document() {
    let engine = engine();
    create_named(&engine, "ToDo", "a", json!({}));
    create_named(&engine, "ToDo", "b", json!({}));
    let run = ok(
        &engine,
        json!({"operation": "delete", "from": "ToDo", "input": {"name": "a"}}),
    );
    assert_eq!(run.output["data"], json!(["a"]));
    assert!(get_doc(&engine, "ToDo", "a").is_none());
    assert!(get_doc(&engine, "ToDo", "b").is_some());
    // Deleting it again: NOT_FOUND, and `b` stays.
    let again = fails(
        &engine,
        json!({"operation": "delete", "from": "ToDo", "input": {"name": "a"}}),
        "NOT_FOUND",
    );
    assert!(again.error.unwrap().message.contains("`a`"));
    assert_eq!(count(&engine, "ToDo"), 1);
}

#[test]
fn delete_by_where_returns_the_names_and_keeps_the_rest() {
    let engine = engine();
    for (name, n) in [("a", 1), ("b", 5), ("c", 7), ("d", 2)] {
        create_named(&engine, "ToDo", name, json!({"n": n}));
    }
    let run = ok(
        &engine,
        json!({"operation": "delete", "from": "ToDo", "input": {"where": {"n": {"gt": 3}}}}),
    );
    let mut deleted: Vec<String> = run.output["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    deleted.sort();
    assert_eq!(deleted, ["b", "c"]);
    let left = ok(&engine, json!({"operation": "select", "from": "ToDo"}));
    assert_eq!(names(&left), ["a", "d"]);
    // Matching nothing is a success that deletes nothing.
    let none = ok(
        &engine,
        json!({"operation": "delete", "from": "ToDo", "input": {"where": {"n": 99}}}),
    );
    assert_eq!(none.output["data"], json!([]));
    assert_eq!(count(&engine, "ToDo"), 2);
}

#[test]
fn a_deleted_name_can_be_created_again() {
    let engine = engine();
    create_named(&engine, "ToDo", "a", json!({"v": 1}));
    ok(
        &engine,
        json!({"operation": "delete", "from": "ToDo", "input": {"name": "a"}}),
    );
    let doc = create_named(&engine, "ToDo", "a", json!({"v": 2}));
    assert_eq!(doc["v"], json!(2));
}

// ---------------------------------------------------------------------------------------------
// aliases and target keys

#[test]
fn read_and_insert_are_aliases_of_select_and_create() {
    let engine = engine();
    let inserted = ok(
        &engine,
        json!({"operation": "insert", "into": "ToDo", "input": {"data": {"name": "a"}}}),
    );
    assert_eq!(inserted.operation.as_deref(), Some("create"));
    let read = ok(
        &engine,
        json!({"operation": "read", "from": "ToDo", "input": {"where": {"name": "a"}}}),
    );
    assert_eq!(read.operation.as_deref(), Some("select"));
    assert_eq!(names(&read), ["a"]);
    // The stored record of an aliased select is compact like any select's.
    let record = stored(&engine, &read.id);
    assert_eq!(record.operation.as_deref(), Some("select"));
    assert_eq!(record.output["names"], json!(["a"]));
}

#[test]
fn doctype_is_accepted_as_the_target_of_every_builtin() {
    let engine = engine();
    let created = ok(
        &engine,
        json!({"operation": "create", "doctype": "ToDo", "input": {"data": {"name": "a", "v": 1}}}),
    );
    assert_eq!(created.doctype.as_deref(), Some("ToDo"));
    let selected = ok(&engine, json!({"operation": "select", "doctype": "ToDo"}));
    assert_eq!(names(&selected), ["a"]);
    assert_eq!(selected.doctype.as_deref(), Some("ToDo"));
    let updated = ok(
        &engine,
        json!({"operation": "update", "doctype": "ToDo", "input": {"name": "a", "data": {"v": 2}}}),
    );
    assert_eq!(updated.data()[0]["v"], json!(2));
    let deleted = ok(
        &engine,
        json!({"operation": "delete", "doctype": "ToDo", "input": {"name": "a"}}),
    );
    assert_eq!(deleted.output["data"], json!(["a"]));
    assert_eq!(count(&engine, "ToDo"), 0);
}

#[test]
fn the_typed_builder_and_json_reach_the_same_documents() {
    let engine = engine();
    let run = engine.run(
        RunRequest::new("create")
            .into_doctype("ToDo")
            .input(json!({"data": {"name": "a", "v": 1}})),
    );
    assert!(run.success, "{:?}", run.error);
    assert_eq!(run.into.as_deref(), Some("ToDo"));
    let run = engine.run(
        RunRequest::new("update")
            .in_doctype("ToDo")
            .input(json!({"name": "a", "data": {"v": 2}})),
    );
    assert!(run.success, "{:?}", run.error);
    let run = engine.run(RunRequest::new("select").from("ToDo"));
    assert_eq!(run.from.as_deref(), Some("ToDo"));
    assert_eq!(run.data()[0]["v"], json!(2));
    let json_run = engine.run_json(r#"{"operation":"select","from":"ToDo"}"#);
    assert_eq!(json_run.data(), run.data());
}

#[test]
fn doctype_wins_over_the_operation_specific_key() {
    let engine = engine();
    create_named(&engine, "A", "a", json!({}));
    create_named(&engine, "B", "b", json!({}));
    let run = ok(
        &engine,
        json!({"operation": "select", "from": "A", "doctype": "B"}),
    );
    assert_eq!(run.doctype.as_deref(), Some("B"));
    assert_eq!(names(&run), ["b"]);
}

// ---------------------------------------------------------------------------------------------
// meta fields

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

// ---------------------------------------------------------------------------------------------
// the run record

#[test]
fn a_completed_run_carries_every_field_of_the_design() {
    let engine = engine();
    let request = json!({
        "operation": "create", "into": "ToDo",
        "input": {"data": {"name": "a"}},
        "owner": "alice", "agent": "planner-1",
        "flowType": "ai-conversation", "flowId": "flow-1", "stepId": "turn-3-op-1"
    });
    let run = ok(&engine, request.clone());
    let ulid = ulid::Ulid::from_string(&run.id).expect("the id is a ULID");
    assert_eq!(run.id.len(), 26);
    let age_ms = ulid::Ulid::new().timestamp_ms() - ulid.timestamp_ms();
    assert!(age_ms < 60_000, "the id encodes the time of the run");
    let when: jiff::Timestamp = run.timestamp.parse().expect("an RFC 3339 timestamp");
    assert!((jiff::Timestamp::now().as_second() - when.as_second()).abs() < 60);
    assert_eq!(run.status, RunStatus::Completed);
    assert!(run.success);
    assert!(run.error.is_none());
    assert!(run.duration >= 0.0 && run.duration.is_finite());
    assert_eq!(run.operation.as_deref(), Some("create"));
    assert_eq!(run.doctype.as_deref(), Some("ToDo"));
    assert_eq!(run.into.as_deref(), Some("ToDo"));
    assert_eq!(run.from, None);
    assert_eq!(run.template, None);
    assert_eq!(run.input, request["input"]);
    assert_eq!(run.owner.as_deref(), Some("alice"));
    assert_eq!(run.agent.as_deref(), Some("planner-1"));
    assert_eq!(run.flow_type.as_deref(), Some("ai-conversation"));
    assert_eq!(run.flow_id.as_deref(), Some("flow-1"));
    assert_eq!(run.step_id.as_deref(), Some("turn-3-op-1"));
    assert_eq!(
        run.chain_id, run.id,
        "a top-level run is the root of its chain"
    );
    assert_eq!(run.parent_run_id, None);
    assert!(run.child_run_ids.is_empty());
    // The JSON shape: every key of the design, camelCase, null when unset.
    let value = run.to_value();
    for key in [
        "id",
        "timestamp",
        "operation",
        "status",
        "duration",
        "doctype",
        "from",
        "into",
        "template",
        "input",
        "output",
        "success",
        "error",
        "parentRunId",
        "childRunIds",
        "chainId",
        "owner",
        "agent",
        "flowType",
        "flowId",
        "stepId",
        "options",
    ] {
        assert!(value.get(key).is_some(), "run JSON has `{key}`: {value}");
    }
    assert_eq!(value["status"], json!("completed"));
    assert_eq!(value["error"], Value::Null);
    assert_eq!(value["parentRunId"], Value::Null);
    // The stored record is the returned run.
    assert_eq!(
        without_duration(&stored(&engine, &run.id)),
        without_duration(&run)
    );
}

#[test]
fn a_failed_run_carries_its_error_code_message_and_details() {
    let engine = engine();
    let run = fails(
        &engine,
        json!({"operation": "select", "from": "ToDo", "input": {"where": {"x": {"like": 1}}},
               "owner": "alice"}),
        "BAD_REQUEST",
    );
    assert_eq!(run.status, RunStatus::Failed);
    assert!(run.duration >= 0.0);
    let error = run.error.as_ref().unwrap();
    assert_eq!(error.code, ErrorCode::BadRequest);
    assert!(error.message.contains("like"), "{}", error.message);
    assert_eq!(error.details, json!({"field": "x", "operator": "like"}));
    let value = run.to_value();
    assert_eq!(value["status"], json!("failed"));
    assert_eq!(value["success"], json!(false));
    assert_eq!(value["error"]["code"], json!("BAD_REQUEST"));
    assert!(value["error"]["message"].is_string());
    assert!(value["error"].get("details").is_some());
    assert_eq!(run.chain_id, run.id);
    let record = stored(&engine, &run.id);
    assert_eq!(record.status, RunStatus::Failed);
    assert_eq!(record.error, run.error);
    assert_eq!(record.owner.as_deref(), Some("alice"));
}

#[test]
fn agent_defaults_to_the_owner_and_options_are_kept() {
    let engine = engine();
    let run = ok(
        &engine,
        json!({"operation": "select", "from": "ToDo", "owner": "alice",
               "options": {"includeSchema": false}}),
    );
    assert_eq!(run.owner.as_deref(), Some("alice"));
    assert_eq!(run.agent.as_deref(), Some("alice"));
    assert_eq!(run.options.include_schema, Some(false));
    let anonymous = ok(&engine, json!({"operation": "select", "from": "ToDo"}));
    assert_eq!(anonymous.owner, None);
    assert_eq!(anonymous.agent, None);
}

#[test]
fn run_ids_are_unique_and_sort_in_the_order_runs_started() {
    let engine = engine();
    let mut ids = Vec::new();
    for i in 0..200 {
        let run = match i % 3 {
            0 => engine.run(RunRequest::new("select").from("ToDo")),
            1 => engine.run(
                RunRequest::new("create")
                    .into_doctype("ToDo")
                    .input(json!({"data": {"i": i}})),
            ),
            _ => engine.run(RunRequest::new("nope")),
        };
        assert_eq!(run.id.len(), 26);
        ids.push(run.id);
    }
    let mut sorted = ids.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted, ids, "ids are unique and increasing");
    // list_runs returns them oldest first.
    let listed: Vec<String> = engine
        .list_runs(&RunQuery::default())
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(listed, ids);
}

#[test]
fn a_dry_run_checks_the_request_and_writes_nothing() {
    let engine = engine();
    let options = RunOptions {
        dry_run: Some(true),
        ..Default::default()
    };
    let run = engine.run(
        RunRequest::new("create")
            .into_doctype("ToDo")
            .input(json!({"data": {"name": "a"}}))
            .options(options.clone()),
    );
    assert!(run.success, "{:?}", run.error);
    assert_eq!(run.options.dry_run, Some(true));
    assert_eq!(count(&engine, "ToDo"), 0);
    assert!(stored(&engine, &run.id).success);
    // A dry run still refuses what is wrong with the request.
    let bad = engine.run(RunRequest::new("create").from("ToDo").options(options));
    assert_eq!(bad.error.unwrap().code, ErrorCode::MissingTarget);
}

#[test]
fn a_select_is_stored_compact_but_returned_in_full() {
    let engine = engine();
    create_named(&engine, "ToDo", "a", json!({"big": "x".repeat(1000)}));
    create_named(&engine, "ToDo", "b", json!({"big": "y".repeat(1000)}));
    let run = ok(
        &engine,
        json!({"operation": "select", "from": "ToDo", "input": {"orderBy": {"name": "desc"}}}),
    );
    assert_eq!(run.data().len(), 2);
    assert_eq!(run.data()[0]["big"], json!("y".repeat(1000)));
    let record = stored(&engine, &run.id);
    assert_eq!(record.output["names"], json!(["b", "a"]));
    assert_eq!(record.output["meta"]["count"], json!(2));
    assert!(record.output.get("data").is_none(), "{}", record.output);
    assert!(!record.output.to_string().contains("xxxxxxxx"));
    // Everything but the output is as returned.
    let mut returned = without_duration(&run);
    let mut kept = without_duration(&record);
    returned["output"] = Value::Null;
    kept["output"] = Value::Null;
    assert_eq!(kept, returned);
}

#[test]
fn completed_runs_are_never_modified() {
    let engine = engine();
    let created = ok(
        &engine,
        json!({"operation": "create", "into": "ToDo", "input": {"data": {"name": "a", "v": 1}}}),
    );
    let selected = ok(&engine, json!({"operation": "select", "from": "ToDo"}));
    let failed = fails(
        &engine,
        json!({"operation": "delete", "from": "ToDo", "input": {"name": "zz"}}),
        "NOT_FOUND",
    );
    let first: Vec<Run> = [&created, &selected, &failed]
        .iter()
        .map(|r| stored(&engine, &r.id))
        .collect();
    // Later runs touch the same document, flush, and run more selects.
    ok(
        &engine,
        json!({"operation": "update", "in": "ToDo", "input": {"name": "a", "data": {"v": 2}}}),
    );
    engine.flush().unwrap();
    ok(
        &engine,
        json!({"operation": "delete", "from": "ToDo", "input": {"name": "a"}}),
    );
    ok(&engine, json!({"operation": "select", "from": "ToDo"}));
    let later: Vec<Run> = [&created, &selected, &failed]
        .iter()
        .map(|r| stored(&engine, &r.id))
        .collect();
    assert_eq!(later, first);
    assert_eq!(
        later[0].output["data"][0]["v"],
        json!(1),
        "the record keeps what was created"
    );
}

// ---------------------------------------------------------------------------------------------
// nested runs (native operations)

/// An engine with native operations used by the nested-run tests.
fn engine_with_ops() -> Engine {
    Engine::builder()
        // Creates a Note through a nested run and reports what it saw.
        .operation("make_note", |ctx| {
            let parent_status = ctx.current().status;
            let parent_id = ctx.current().id.clone();
            let title = ctx.request().input["title"].clone();
            let child = ctx.run(
                RunRequest::new("create")
                    .into_doctype("Note")
                    .input(json!({"data": {"title": title}}))
                    // A nested run cannot change who it runs for or in which flow.
                    .owner("mallory")
                    .agent("rogue")
                    .flow("other", "other-flow")
                    .step("child-step"),
            );
            Ok(json!({
                "child": child.id,
                "childSuccess": child.success,
                "parentStatus": parent_status,
                "parentId": parent_id,
                "name": child.data().first().map(|d| d["name"].clone()),
            }))
        })
        // Nests `make_note` one level deeper.
        .operation("outer", |ctx| {
            let first = ctx.run(RunRequest::new("make_note").input(json!({"title": "one"})));
            let second = ctx.run(RunRequest::new("select").from("Note"));
            Ok(json!({"first": first.id, "second": second.id, "seen": second.data().len()}))
        })
        // Writes through a nested run, then fails.
        .operation("create_then_fail", |ctx| {
            let child = ctx.run(
                RunRequest::new("create")
                    .into_doctype("Note")
                    .input(json!({"data": {"name": "doomed"}})),
            );
            assert!(child.success, "the nested create itself succeeds");
            Err(Error::new(
                ErrorCode::ValidationFailed,
                "the handler refused",
            ))
        })
        // Writes through a nested run, then panics.
        .operation("create_then_panic", |ctx| {
            ctx.run(
                RunRequest::new("create")
                    .into_doctype("Note")
                    .input(json!({"data": {"name": "panicked"}})),
            );
            panic!("boom in a native handler");
        })
        // One nested run succeeds, the next fails; the handler carries on.
        .operation("partial", |ctx| {
            let good = ctx.run(
                RunRequest::new("create")
                    .into_doctype("Note")
                    .input(json!({"data": {"name": "kept"}})),
            );
            let bad = ctx.run(
                RunRequest::new("create")
                    .into_doctype("Note")
                    .input(json!({"data": [{"name": "dropped"}, {"name": "kept"}]})),
            );
            Ok(json!({"good": good.success, "badCode": bad.error.map(|e| e.code)}))
        })
        // Recurses into itself until the depth limit stops it; every level writes a Note.
        .operation("recurse", |ctx| {
            let depth = ctx.request().input["depth"].as_u64().unwrap_or(0);
            ctx.run(
                RunRequest::new("create")
                    .into_doctype("Note")
                    .input(json!({"data": {"depth": depth}})),
            );
            let child = ctx.run(RunRequest::new("recurse").input(json!({"depth": depth + 1})));
            match child.error {
                Some(e) => Err(Error::new(e.code, e.message)),
                None => Ok(json!({"depth": depth})),
            }
        })
        .in_memory()
        .expect("in-memory store opens")
}

#[test]
fn a_nested_run_records_parent_chain_and_children_and_inherits_identity_and_flow() {
    let engine = engine_with_ops();
    let parent = engine.run(
        RunRequest::new("make_note")
            .input(json!({"title": "hello"}))
            .owner("alice")
            .agent("planner-1")
            .flow("ai-conversation", "flow-7")
            .step("turn-1"),
    );
    assert!(parent.success, "{:?}", parent.error);
    assert_eq!(parent.operation.as_deref(), Some("make_note"));
    assert_eq!(parent.output["parentStatus"], json!("running"));
    assert_eq!(parent.output["parentId"], json!(parent.id));
    assert_eq!(parent.output["childSuccess"], json!(true));
    let child_id = parent.output["child"].as_str().unwrap().to_string();
    assert_eq!(parent.child_run_ids, [child_id.as_str()]);
    assert_eq!(parent.chain_id, parent.id);
    assert_eq!(parent.parent_run_id, None);

    let child = stored(&engine, &child_id);
    assert_eq!(child.status, RunStatus::Completed);
    assert_eq!(child.operation.as_deref(), Some("create"));
    assert_eq!(child.parent_run_id.as_deref(), Some(parent.id.as_str()));
    assert_eq!(child.chain_id, parent.id);
    assert!(child.child_run_ids.is_empty());
    assert_eq!(child.owner.as_deref(), Some("alice"), "owner is inherited");
    assert_eq!(
        child.agent.as_deref(),
        Some("planner-1"),
        "agent is inherited"
    );
    assert_eq!(child.flow_type.as_deref(), Some("ai-conversation"));
    assert_eq!(child.flow_id.as_deref(), Some("flow-7"));
    assert_eq!(child.step_id.as_deref(), Some("child-step"));
    assert!(child.id > parent.id, "a child starts after its parent");

    // The document the child wrote is stamped with the child run and the inherited owner.
    let name = parent.output["name"].as_str().unwrap();
    let doc = get_doc(&engine, "Note", name).unwrap();
    assert_eq!(doc["title"], json!("hello"));
    assert_eq!(doc["createdByRun"], json!(child_id));
    assert_eq!(doc["owner"], json!("alice"));

    // The stored parent is the returned parent.
    assert_eq!(
        without_duration(&stored(&engine, &parent.id)),
        without_duration(&parent)
    );
}

#[test]
fn a_chain_of_three_levels_shares_the_root_id_and_can_be_listed() {
    let engine = engine_with_ops();
    let root = engine.run(RunRequest::new("outer").owner("alice"));
    assert!(root.success, "{:?}", root.error);
    assert_eq!(
        root.output["seen"],
        json!(1),
        "a nested select sees the run's own writes"
    );
    let first = stored(&engine, root.output["first"].as_str().unwrap());
    let second = stored(&engine, root.output["second"].as_str().unwrap());
    assert_eq!(root.child_run_ids, [first.id.clone(), second.id.clone()]);
    assert_eq!(first.child_run_ids.len(), 1);
    let grandchild = stored(&engine, &first.child_run_ids[0]);
    assert_eq!(grandchild.parent_run_id.as_deref(), Some(first.id.as_str()));
    for run in [&first, &second, &grandchild] {
        assert_eq!(run.chain_id, root.id);
        assert_eq!(run.owner.as_deref(), Some("alice"));
    }
    // A nested select is stored compact too.
    assert!(second.output.get("data").is_none());
    assert_eq!(second.output["meta"]["count"], json!(1));

    let chain = engine
        .list_runs(&RunQuery {
            chain_id: Some(root.id.clone()),
            ..Default::default()
        })
        .unwrap();
    let ids: Vec<&str> = chain.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            root.id.as_str(),
            first.id.as_str(),
            grandchild.id.as_str(),
            second.id.as_str()
        ]
    );
    let children = engine
        .list_runs(&RunQuery {
            parent_run_id: Some(root.id.clone()),
            ..Default::default()
        })
        .unwrap();
    let ids: Vec<&str> = children.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, [first.id.as_str(), second.id.as_str()]);
}

#[test]
fn a_failing_handler_leaves_no_write_but_both_run_records() {
    let engine = engine_with_ops();
    let parent = engine.run(RunRequest::new("create_then_fail").owner("alice"));
    assert!(!parent.success);
    assert_eq!(parent.status, RunStatus::Failed);
    let error = parent.error.as_ref().unwrap();
    assert_eq!(error.code, ErrorCode::ValidationFailed);
    assert_eq!(error.message, "the handler refused");
    assert_eq!(
        parent.child_run_ids.len(),
        1,
        "the failed parent lists its child"
    );
    assert_eq!(
        count(&engine, "Note"),
        0,
        "the child's write is rolled back"
    );
    assert!(get_doc(&engine, "Note", "doomed").is_none());

    let stored_parent = stored(&engine, &parent.id);
    assert_eq!(stored_parent.status, RunStatus::Failed);
    assert_eq!(stored_parent.error, parent.error);
    let child = stored(&engine, &parent.child_run_ids[0]);
    assert_eq!(child.status, RunStatus::Completed, "the child did complete");
    assert_eq!(child.parent_run_id.as_deref(), Some(parent.id.as_str()));
    assert_eq!(child.chain_id, parent.id);
    assert_eq!(child.output["data"][0]["name"], json!("doomed"));

    // The name is free: nothing of the failed run remains.
    create_named(&engine, "Note", "doomed", json!({}));
}

#[test]
fn a_panicking_handler_becomes_an_internal_failure_and_the_engine_keeps_serving() {
    let engine = engine_with_ops();
    let run = engine.run(RunRequest::new("create_then_panic"));
    assert!(!run.success);
    assert_eq!(run.status, RunStatus::Failed);
    let error = run.error.as_ref().unwrap();
    assert_eq!(error.code, ErrorCode::Internal);
    assert!(
        error.message.contains("boom in a native handler"),
        "{}",
        error.message
    );
    assert_eq!(
        count(&engine, "Note"),
        0,
        "nothing of a panicked run is written"
    );
    assert_eq!(stored(&engine, &run.id).error, run.error);
    assert_eq!(run.child_run_ids.len(), 1);
    assert!(stored(&engine, &run.child_run_ids[0]).success);
    // The engine still serves reads and writes, including the same name.
    for _ in 0..3 {
        let again = engine.run(RunRequest::new("create_then_panic"));
        assert_eq!(again.error.unwrap().code, ErrorCode::Internal);
    }
    create_named(&engine, "Note", "panicked", json!({"ok": true}));
    assert_eq!(count(&engine, "Note"), 1);
    let made = engine.run(RunRequest::new("make_note").input(json!({"title": "after"})));
    assert!(made.success, "{:?}", made.error);
    assert_eq!(count(&engine, "Note"), 2);
}

#[test]
fn a_failed_nested_run_is_rolled_back_alone_when_the_handler_carries_on() {
    let engine = engine_with_ops();
    let run = engine.run(RunRequest::new("partial"));
    assert!(run.success, "{:?}", run.error);
    assert_eq!(run.output, json!({"good": true, "badCode": "CONFLICT"}));
    let notes = all_docs(&engine, "Note");
    let kept: Vec<&str> = notes.iter().map(|d| d["name"].as_str().unwrap()).collect();
    assert_eq!(
        kept,
        ["kept"],
        "the failed child's own write is rolled back"
    );
    let bad = stored(&engine, &run.child_run_ids[1]);
    assert_eq!(bad.status, RunStatus::Failed);
    assert_eq!(bad.error.unwrap().code, ErrorCode::Conflict);
}

#[test]
fn runs_nested_beyond_the_depth_limit_fail_and_the_whole_tree_writes_nothing() {
    let engine = engine_with_ops();
    let root = engine.run(RunRequest::new("recurse"));
    let error = root.error.as_ref().expect("the recursion is stopped");
    assert_eq!(error.code, ErrorCode::LimitExceeded);
    assert!(error.message.contains("nest"), "{}", error.message);
    assert_eq!(count(&engine, "Note"), 0);
    let chain = engine
        .list_runs(&RunQuery {
            chain_id: Some(root.id.clone()),
            ..Default::default()
        })
        .unwrap();
    let levels = chain
        .iter()
        .filter(|r| r.operation.as_deref() == Some("recurse"));
    assert_eq!(levels.count(), coworker::MAX_NESTED_DEPTH + 2);
    assert!(chain.iter().all(|r| r.chain_id == root.id));
}
