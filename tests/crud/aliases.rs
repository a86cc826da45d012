//! Aliases and target keys: `read`/`insert`, `doctype` as the target of every built-in, the typed
//! builder and JSON reaching the same documents.

use super::*;

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
