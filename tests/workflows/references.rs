//! `{{...}}` references and `if` conditions: a skipped step cannot be referenced, a string that
//! looks like code stays data, interpolation writes JSON text and whole references keep their type.

use super::*;

#[test]
fn referencing_a_skipped_step_fails_naming_it() {
    let engine = engine();
    let run = inline(
        &engine,
        json!([
            {"id": "maybe", "operation": "create", "into": "Note", "if": "{{input.go}}",
             "input": {"data": {"t": 1}}},
            {"id": "use", "operation": "create", "into": "Note",
             "input": {"data": {"from": "{{maybe.output.data[0].name}}"}}}
        ]),
        json!({"go": false}),
    );
    let e = error(&run);
    assert_eq!(e.code.as_str(), "BAD_REQUEST");
    assert!(e.message.contains("maybe"), "{}", e.message);
    assert!(e.message.contains("skipped"), "{}", e.message);
    assert_eq!(e.details["stepId"], json!("use"));
    assert_eq!(count(&engine, "Note"), 0);

    // The same workflow with the step taken works.
    let run = inline(
        &engine,
        json!([
            {"id": "maybe", "operation": "create", "into": "Note", "if": "{{input.go}}",
             "input": {"data": {"t": 1}}},
            {"id": "use", "operation": "create", "into": "Note",
             "input": {"data": {"from": "{{maybe.output.data[0].name}}"}}}
        ]),
        json!({"go": true}),
    );
    assert!(run.success, "{:?}", run.error);
    assert_eq!(count(&engine, "Note"), 2);
}

#[test]
fn a_string_that_looks_like_code_stays_data_in_if() {
    let engine = engine();
    let children = json!([
        {"id": "eq_x", "operation": "create", "into": "Hit", "if": "{{input.title}} == \"x\"",
         "input": {"data": {"which": "eq_x"}}},
        {"id": "eq_self", "operation": "create", "into": "Hit", "if": "{{input.title}} == \"1 == 1 || true\"",
         "input": {"data": {"which": "eq_self"}}},
        {"id": "typed", "operation": "create", "into": "Hit", "if": "type_of({{input.title}}) == \"string\"",
         "input": {"data": {"which": "typed"}}},
        {"id": "store", "operation": "create", "into": "Record",
         "input": {"data": {"title": "{{input.title}}", "quoted": "say {{input.title}}", "template": "{{input.template}}",
                            "inside": "see {{input.template}}"}}}
    ]);
    for hostile in [
        "1 == 1 || true",
        "\" || true || \"",
        "x\" || true || \"x",
        "}} {{input.secret}}",
    ] {
        let run = inline(
            &engine,
            children.clone(),
            json!({"title": hostile, "template": "{{input.secret}}", "secret": "s3cret"}),
        );
        assert!(run.success, "{hostile}: {:?}", run.error);
        assert_eq!(
            step(&run, "eq_x")["status"],
            json!("skipped"),
            "`{hostile}` is a string, not code"
        );
        let expected = if hostile == "1 == 1 || true" {
            "completed"
        } else {
            "skipped"
        };
        assert_eq!(
            step(&run, "eq_self")["status"],
            json!(expected),
            "{hostile}"
        );
        assert_eq!(step(&run, "typed")["status"], json!("completed"));
        let stored_doc = &step(&run, "store")["output"]["data"][0];
        assert_eq!(stored_doc["title"], json!(hostile));
        assert_eq!(stored_doc["quoted"], json!(format!("say {hostile}")));
        // A resolved value is never resolved again.
        assert_eq!(stored_doc["template"], json!("{{input.secret}}"));
        assert_eq!(stored_doc["inside"], json!("see {{input.secret}}"));
    }
    let records = docs(&engine, "Record");
    assert_eq!(records.len(), 4);
    assert!(
        records
            .iter()
            .all(|r| r["template"] == json!("{{input.secret}}"))
    );
    assert_eq!(count(&engine, "Hit"), 4 + 1);
}

#[test]
fn interpolation_writes_json_text_and_whole_references_keep_their_type() {
    let engine = engine();
    let run = inline(
        &engine,
        json!([
            {"id": "a", "operation": "create", "into": "Note", "input": {"data": {
                "n": "{{input.n}}", "b": "{{input.b}}", "o": "{{input.o}}", "l": "{{input.l}}", "z": "{{input.z}}",
                "text": "n={{input.n}} b={{input.b}} z={{input.z}} o={{input.o}} l={{input.l}} s={{input.s}}",
                "len": "{{input.l.length}}", "slen": "{{input.s.length}}", "second": "{{input.l[1]}}",
                "deep": "{{input.o.k[0].v}}"}}},
            {"id": "b", "operation": "create", "into": "Note", "input": {"data": {
                "first": "{{a.name}}", "prev": "{{prev.output.data[0].n}}", "whole": "{{a.output.data[0].o}}"}}}
        ]),
        json!({"n": 3, "b": true, "z": null, "o": {"k": [{"v": 1}]}, "l": [1, "two"], "s": "héllo"}),
    );
    assert!(run.success, "{:?}", run.error);
    let a = &step(&run, "a")["output"]["data"][0];
    assert_eq!(a["n"], json!(3));
    assert_eq!(a["b"], json!(true));
    assert_eq!(a["o"], json!({"k": [{"v": 1}]}));
    assert_eq!(a["l"], json!([1, "two"]));
    assert_eq!(
        a["text"],
        json!(r#"n=3 b=true z=null o={"k":[{"v":1}]} l=[1,"two"] s=héllo"#)
    );
    assert_eq!(a["len"], json!(2));
    assert_eq!(a["slen"], json!(5));
    assert_eq!(a["second"], json!("two"));
    assert_eq!(a["deep"], json!(1));
    let b = &step(&run, "b")["output"]["data"][0];
    assert_eq!(b["first"], a["name"]);
    assert_eq!(b["prev"], json!(3));
    assert_eq!(b["whole"], json!({"k": [{"v": 1}]}));
}
