//! Meta fields: documents of a schema get them without declaring them.

use super::*;

#[test]
fn documents_of_a_schema_get_meta_fields_without_declaring_them() {
    let engine = engine_with_fixtures();
    let ticket = frappe("ticket.json");
    let declared: Vec<&str> = ticket["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["fieldname"].as_str().unwrap())
        .collect();
    let meta = [
        "creation",
        "modified",
        "owner",
        "modifiedBy",
        "createdByRun",
        "modifiedByRun",
    ];
    assert!(meta.iter().all(|m| !declared.contains(m)));
    let created = ok(
        &engine,
        json!({"operation": "create", "into": "Ticket", "owner": "alice", "input": {"data": {
            "subject": "Meta", "owner": "mallory", "creation": "1999-01-01", "createdByRun": "forged"}}}),
    );
    let doc = get(&engine, "Ticket", "1").unwrap();
    assert_eq!(doc, created.data()[0]);
    assert_eq!(doc["owner"], json!("alice"));
    assert_eq!(doc["modifiedBy"], json!("alice"));
    assert_eq!(doc["createdByRun"], json!(created.id));
    assert_eq!(doc["modifiedByRun"], json!(created.id));
    assert_ne!(doc["creation"], json!("1999-01-01"));
    assert_eq!(doc["creation"], doc["modified"]);
    let updated = ok(
        &engine,
        json!({"operation": "update", "in": "Ticket", "owner": "bob",
               "input": {"name": "1", "data": {"status": "Replied"}}}),
    );
    let after = get(&engine, "Ticket", "1").unwrap();
    assert_eq!(after["owner"], json!("alice"));
    assert_eq!(after["creation"], doc["creation"]);
    assert_eq!(after["createdByRun"], json!(created.id));
    assert_eq!(after["modifiedBy"], json!("bob"));
    assert_eq!(after["modifiedByRun"], json!(updated.id));
    assert!(after["modified"].as_str().unwrap() >= doc["modified"].as_str().unwrap());
    // Schema documents are documents: they carry them too.
    let schema = get(&engine, "Schema", "Ticket").unwrap();
    assert!(meta.iter().all(|m| schema.get(*m).is_some()), "{schema}");
}
