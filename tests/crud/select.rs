//! Select returns full documents and the count.

use super::*;

const META: [&str; 6] = [
    "creation",
    "modified",
    "owner",
    "modifiedBy",
    "createdByRun",
    "modifiedByRun",
];

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
