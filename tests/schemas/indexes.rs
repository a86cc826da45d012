//! Indexes: `search_index`/`unique` fields are indexed, and indexed queries agree with a scan
//! through updates, deletes, failed runs, schema changes and reopening the store.

use super::*;

fn item(i: usize) -> Value {
    let mut doc = json!({"name": format!("item-{i:02}"), "sku": format!("SKU-{i}"),
                         "qty": (i % 4) as f64, "note": if i.is_multiple_of(2) { "even" } else { "odd" }});
    // Every seventh item has no code.
    if !i.is_multiple_of(7) {
        doc["code"] = json!(["A", "B", "C"][i % 3]);
    }
    doc
}

fn item_queries() -> Vec<Value> {
    vec![
        json!({"code": "A"}),
        json!({"code": {"equals": "B"}}),
        json!({"code": {"in": ["A", "C", "nope"]}}),
        json!({"code": {"in": []}}),
        json!({"code": "Z"}),
        json!({"code": null}),
        json!({"code": "A", "note": "even"}),
        json!({"AND": [{"code": "B"}, {"qty": {"gt": 1}}]}),
        json!({"AND": [{"code": {"in": ["A", "B"]}}, {"code": "B"}]}),
        json!({"OR": [{"code": "A"}, {"qty": 2}]}),
        json!({"NOT": {"code": "A"}}),
        json!({"code": {"not": "A"}}),
        json!({"code": {"notIn": ["A", "B"]}}),
        json!({"qty": 3}),
        json!({"qty": 3.0}),
        json!({"qty": {"in": [0, 2.0]}}),
        json!({"sku": "SKU-7"}),
        json!({"sku": {"in": ["SKU-1", "SKU-2", "SKU-99"]}}),
        json!({"sku": "SKU-7", "code": "B"}),
        json!({"name": "item-03", "code": "A"}),
        json!({"code": {"startsWith": "A"}}),
    ]
}

/// Run every query on both doctypes: the indexed one must answer as the scanned one, and
/// both must hold exactly `expected` documents.
fn assert_indexed_agrees(engine: &Engine, expected: &[Value], stage: &str) {
    let all = expect_names(expected, |_| true);
    assert_eq!(
        select_names(engine, "Indexed Item", &json!({})),
        all,
        "{stage}"
    );
    assert_eq!(
        select_names(engine, "Plain Item", &json!({})),
        all,
        "{stage}"
    );
    for query in item_queries() {
        let indexed = select_names(engine, "Indexed Item", &query);
        let plain = select_names(engine, "Plain Item", &query);
        assert_eq!(indexed, plain, "{stage}: where {query}");
    }
}

/// Names of `docs` matching `keep`, sorted.
fn expect_names(docs: &[Value], keep: impl Fn(&Value) -> bool) -> Vec<String> {
    let mut found: Vec<String> = docs
        .iter()
        .filter(|d| keep(d))
        .map(|d| d["name"].as_str().unwrap().to_string())
        .collect();
    found.sort();
    found
}

#[test]
fn indexed_where_agrees_with_a_scan_through_updates_and_deletes() {
    let engine = engine();
    let run = engine.import_schemas(vec![
        item_schema("Indexed Item", true),
        item_schema("Plain Item", false),
    ]);
    assert!(run.success, "{:?}", run.error);
    let mut docs: Vec<Value> = (0..42).map(item).collect();
    create(&engine, "Indexed Item", Value::Array(docs.clone()));
    create(&engine, "Plain Item", Value::Array(docs.clone()));
    assert_indexed_agrees(&engine, &docs, "after create");
    let code_a = expect_names(&docs, |d| d["code"] == json!("A"));
    assert_eq!(
        select_names(&engine, "Indexed Item", &json!({"code": "A"})),
        code_a
    );
    assert_eq!(code_a.len(), 12);
    // Move every A to Z, by a where on the indexed field itself.
    for doctype in ["Indexed Item", "Plain Item"] {
        ok(
            &engine,
            json!({"operation": "update", "in": doctype, "input": {"where": {"code": "A"}, "data": {"code": "Z"}}}),
        );
    }
    for doc in docs.iter_mut().filter(|d| d["code"] == json!("A")) {
        doc["code"] = json!("Z");
    }
    assert_indexed_agrees(&engine, &docs, "after update");
    assert_eq!(
        select_names(&engine, "Indexed Item", &json!({"code": "A"})),
        Vec::<String>::new()
    );
    assert_eq!(
        select_names(&engine, "Indexed Item", &json!({"code": "Z"})),
        code_a
    );
    // Change a unique value: the old one is free, the new one found.
    for doctype in ["Indexed Item", "Plain Item"] {
        update(&engine, doctype, "item-07", json!({"sku": "SKU-700"}));
    }
    assert_eq!(
        select_names(&engine, "Indexed Item", &json!({"sku": "SKU-7"})),
        Vec::<String>::new()
    );
    assert_eq!(
        select_names(&engine, "Indexed Item", &json!({"sku": "SKU-700"})),
        ["item-07"]
    );
    // Delete by a where on the indexed field, and one by name.
    let deleted_b = expect_names(&docs, |d| d["code"] == json!("B"));
    for doctype in ["Indexed Item", "Plain Item"] {
        let run = ok(
            &engine,
            json!({"operation": "delete", "from": doctype, "input": {"where": {"code": "B"}}}),
        );
        assert_eq!(run.data().len(), deleted_b.len());
        delete(&engine, doctype, "item-05");
    }
    docs.retain(|d| d["code"] != json!("B") && d["name"] != json!("item-05"));
    assert_indexed_agrees(&engine, &docs, "after delete");
    assert_eq!(
        select_names(&engine, "Indexed Item", &json!({"code": "B"})),
        Vec::<String>::new()
    );
    assert_eq!(
        select_names(
            &engine,
            "Indexed Item",
            &json!({"code": {"in": ["Z", "C"]}})
        ),
        expect_names(&docs, |d| d["code"] == json!("Z")
            || d["code"] == json!("C"))
    );
    // A deleted document's name may come back with other values: no stale hits.
    for doctype in ["Indexed Item", "Plain Item"] {
        create(
            &engine,
            doctype,
            json!({"name": "item-05", "code": "C", "sku": "SKU-5b", "qty": 9}),
        );
    }
    assert_eq!(
        select_names(&engine, "Indexed Item", &json!({"qty": 9})),
        ["item-05"]
    );
    assert_eq!(
        select_names(&engine, "Indexed Item", &json!({"sku": "SKU-5"})),
        Vec::<String>::new()
    );
}

#[test]
fn where_on_an_indexed_field_returns_exactly_the_matches() {
    let engine = engine();
    assert!(
        engine
            .import_schemas(vec![item_schema("Indexed Item", true)])
            .success
    );
    let docs: Vec<Value> = (0..42).map(item).collect();
    create(&engine, "Indexed Item", Value::Array(docs.clone()));
    let checks: Vec<(Value, Vec<String>)> = vec![
        (
            json!({"code": "A"}),
            expect_names(&docs, |d| d["code"] == json!("A")),
        ),
        (
            json!({"code": {"in": ["B", "C"]}}),
            expect_names(&docs, |d| {
                d["code"] == json!("B") || d["code"] == json!("C")
            }),
        ),
        (
            json!({"code": null}),
            expect_names(&docs, |d| d.get("code").is_none()),
        ),
        (
            json!({"qty": 3}),
            expect_names(&docs, |d| d["qty"] == json!(3.0)),
        ),
        (
            json!({"qty": {"in": [0, 2]}}),
            expect_names(&docs, |d| d["qty"] == json!(0.0) || d["qty"] == json!(2.0)),
        ),
        (json!({"sku": "SKU-11"}), vec!["item-11".to_string()]),
        (
            json!({"code": "A", "note": "odd"}),
            expect_names(&docs, |d| {
                d["code"] == json!("A") && d["note"] == json!("odd")
            }),
        ),
    ];
    for (query, expected) in checks {
        assert!(!expected.is_empty(), "the data has matches for {query}");
        assert_eq!(
            select_names(&engine, "Indexed Item", &query),
            expected,
            "where {query}"
        );
    }
}

#[test]
fn unique_values_are_free_again_after_updates_deletes_and_failed_runs() {
    let engine = engine_with_fixtures();
    create(
        &engine,
        "Ticket",
        json!({"subject": "a", "external_ref": "R-1"}),
    );
    // The old value is free after an update changes it.
    update(&engine, "Ticket", "1", json!({"external_ref": "R-2"}));
    create(
        &engine,
        "Ticket",
        json!({"subject": "b", "external_ref": "R-1"}),
    );
    // The value is free after a delete.
    delete(&engine, "Ticket", "1");
    create(
        &engine,
        "Ticket",
        json!({"subject": "c", "external_ref": "R-2"}),
    );
    // A failed create leaves no index entry behind.
    create_fails(
        &engine,
        "Ticket",
        json!([{"subject": "d", "external_ref": "R-3"}, {"subject": 1}]),
        "VALIDATION_FAILED",
    );
    create(
        &engine,
        "Ticket",
        json!({"subject": "e", "external_ref": "R-3"}),
    );
    // Two records of one create may not share a unique value.
    let run = create_fails(
        &engine,
        "Ticket",
        json!([{"subject": "f", "external_ref": "R-4"}, {"subject": "g", "external_ref": "R-4"}]),
        "VALIDATION_FAILED",
    );
    assert_violation(&run, "data[1].external_ref", "unique");
    create(
        &engine,
        "Ticket",
        json!({"subject": "h", "external_ref": "R-4"}),
    );
    // An update that moves two documents to one unique value fails whole.
    let run = fails(
        &engine,
        json!({"operation": "update", "in": "Ticket", "input": {"where": {"external_ref": {"in": ["R-1", "R-2"]}},
            "data": {"external_ref": "R-9"}}}),
        "VALIDATION_FAILED",
    );
    assert_eq!(violations(&run).len(), 1, "{:?}", run.error);
    assert_eq!(
        select_names(&engine, "Ticket", &json!({"external_ref": "R-9"})),
        Vec::<String>::new()
    );
    assert_eq!(
        select_names(&engine, "Ticket", &json!({"external_ref": "R-1"})).len(),
        1
    );
}

#[test]
fn adding_an_index_to_a_schema_with_documents_builds_it_and_removing_it_keeps_queries_right() {
    let engine = engine();
    assert!(
        engine
            .import_schemas(vec![item_schema("Plain Item", false)])
            .success
    );
    let docs: Vec<Value> = (0..42).map(item).collect();
    create(&engine, "Plain Item", Value::Array(docs.clone()));
    let code_a = expect_names(&docs, |d| d["code"] == json!("A"));
    let sku_7 = vec!["item-07".to_string()];
    // Add search_index on code and unique on sku.
    update(
        &engine,
        "Schema",
        "Plain Item",
        json!({"fields": item_schema("Plain Item", true)["fields"]}),
    );
    assert_eq!(
        select_names(&engine, "Plain Item", &json!({"code": "A"})),
        code_a
    );
    assert_eq!(
        select_names(&engine, "Plain Item", &json!({"code": {"in": ["A"]}})),
        code_a
    );
    assert_eq!(
        select_names(&engine, "Plain Item", &json!({"sku": "SKU-7"})),
        sku_7
    );
    // The built unique index guards existing values.
    let run = create_fails(
        &engine,
        "Plain Item",
        json!({"name": "dup", "sku": "SKU-7"}),
        "VALIDATION_FAILED",
    );
    assert_violation(&run, "sku", "unique");
    // Documents written while indexed are found; then the index goes.
    create(&engine, "Plain Item", json!({"name": "late", "code": "A"}));
    let mut with_late = code_a.clone();
    with_late.push("late".into());
    with_late.sort();
    assert_eq!(
        select_names(&engine, "Plain Item", &json!({"code": "A"})),
        with_late
    );
    update(
        &engine,
        "Schema",
        "Plain Item",
        json!({"fields": item_schema("Plain Item", false)["fields"]}),
    );
    assert_eq!(
        select_names(&engine, "Plain Item", &json!({"code": "A"})),
        with_late
    );
    // Changes made while unindexed, then indexed again: the rebuilt index sees them.
    update(&engine, "Plain Item", "late", json!({"code": "B"}));
    delete(&engine, "Plain Item", "item-01");
    update(
        &engine,
        "Schema",
        "Plain Item",
        json!({"fields": item_schema("Plain Item", true)["fields"]}),
    );
    let now_a: Vec<String> = code_a.iter().filter(|n| *n != "item-01").cloned().collect();
    assert_eq!(
        select_names(&engine, "Plain Item", &json!({"code": "A"})),
        now_a
    );
    assert!(select_names(&engine, "Plain Item", &json!({"code": "B"})).contains(&"late".into()));
    // Deleting the schema drops its indexes; queries scan and stay right.
    delete(&engine, "Schema", "Plain Item");
    assert_eq!(
        select_names(&engine, "Plain Item", &json!({"code": "A"})),
        now_a
    );
    assert_eq!(
        select_names(&engine, "Plain Item", &json!({"sku": "SKU-7"})),
        sku_7
    );
}

#[test]
fn documents_written_before_their_schema_are_indexed_when_it_arrives() {
    let engine = engine();
    let docs: Vec<Value> = (0..42).map(item).collect();
    create(&engine, "Indexed Item", Value::Array(docs.clone()));
    assert!(
        engine
            .import_schemas(vec![item_schema("Indexed Item", true)])
            .success
    );
    assert_eq!(
        select_names(&engine, "Indexed Item", &json!({"code": "C"})),
        expect_names(&docs, |d| d["code"] == json!("C"))
    );
    assert_eq!(
        select_names(&engine, "Indexed Item", &json!({"sku": "SKU-40"})),
        ["item-40"]
    );
}

#[test]
fn indexes_survive_reopening_the_store() {
    let store = TempStore::new();
    let docs: Vec<Value> = (0..20).map(item).collect();
    {
        let engine = store.open();
        assert!(
            engine
                .import_schemas(vec![item_schema("Indexed Item", true)])
                .success
        );
        create(&engine, "Indexed Item", Value::Array(docs.clone()));
        update(&engine, "Indexed Item", "item-01", json!({"code": "Q"}));
    }
    let engine = store.open();
    assert_eq!(
        select_names(&engine, "Indexed Item", &json!({"code": "Q"})),
        ["item-01"]
    );
    let mut code_b = expect_names(&docs, |d| d["code"] == json!("B"));
    code_b.retain(|n| n != "item-01");
    assert_eq!(
        select_names(&engine, "Indexed Item", &json!({"code": "B"})),
        code_b
    );
}
