//! Regressions and gaps: large integral numbers in index and scan, legacy Frappe exports.

use super::*;

#[test]
fn index_and_scan_agree_on_large_integral_numbers() {
    let engine = engine();
    let run = engine.import_schemas(vec![
        item_schema("Indexed Item", true),
        item_schema("Plain Item", false),
    ]);
    assert!(run.success, "{:?}", run.error);
    for doctype in ["Indexed Item", "Plain Item"] {
        create(
            &engine,
            doctype,
            json!([{"name": "int", "qty": 10_000_000_000_000_000_i64}, {"name": "float", "qty": 2e16}]),
        );
    }
    for query in [
        json!({"qty": 1e16}),
        json!({"qty": 20_000_000_000_000_000_i64}),
        json!({"qty": {"in": [1e16, 2e16]}}),
    ] {
        let plain = select_names(&engine, "Plain Item", &query);
        assert!(!plain.is_empty(), "the scan finds {query}");
        assert_eq!(
            select_names(&engine, "Indexed Item", &query),
            plain,
            "where {query}"
        );
    }
}

#[test]
fn legacy_frappe_exports_import_unchanged() {
    let engine = engine();
    let path = frappe_dir().join("legacy/support_note_v11.json");
    let file = read_json(&path);
    let run = engine.import_schemas(vec![file.clone()]);
    assert!(run.success, "{:?}", run.error);
    assert_stored_unchanged(&file, &get(&engine, "Schema", "Support Note").unwrap());
    let note = create_one(
        &engine,
        "Support Note",
        json!({"title": "Reset a password"}),
    );
    assert_eq!(note["name"], json!("NOTE-00001"));
    assert_eq!(note["note_type"], json!("Question"));
    assert_eq!(note["views"], json!(0));
}
