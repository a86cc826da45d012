//! Delete by name or `where`, and a deleted name can be created again.

use super::*;

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
