//! Document validation that needs more than one request or today's date (defaults, text lengths,
//! nothing written on failure, child rows revalidated), and the null schema / `validate: false`.

use super::*;

#[test]
fn defaults_apply_on_create_including_today() {
    let engine = engine_with_fixtures();
    let customer = create_one(&engine, "Customer", json!({"customer_name": "Acme"}));
    assert_eq!(customer["is_active"], json!(1), "Check default \"1\" is 1");
    assert_eq!(
        customer["credit_days"],
        json!(30),
        "Int default \"30\" is 30"
    );
    assert_eq!(customer["customer_group"], json!("Commercial"));
    assert_eq!(
        customer["customer_since"],
        json!(today()),
        "Date default Today"
    );
    assert_eq!(get(&engine, "Customer", "Acme").unwrap(), customer);
    let invoice = create_one(
        &engine,
        "Invoice",
        json!({"customer": "Acme", "items": [{"item_name": "Bolt"}]}),
    );
    assert_eq!(invoice["posting_date"], json!(today()));
    assert_eq!(invoice["is_paid"], json!(0));
    assert_eq!(invoice["items"][0]["qty"], json!(1));
    // A default of a reqd field satisfies it.
    assert_eq!(invoice["naming_series"], json!("INV-.YYYY.-.#####"));
}

#[test]
fn text_lengths_follow_frappe_column_types() {
    let engine = engine_with_fixtures();
    let acme = json!({"customer_name": "Acme"});
    create(&engine, "Customer", acme);
    let invoice = |remarks: String| {
        json!({"operation": "create", "into": "Invoice", "input": {"data": {
            "customer": "Acme", "items": [{"item_name": "a"}], "remarks": remarks}}})
    };
    // Small Text is a `text` column, which Frappe does not check for length.
    ok(&engine, invoice("z".repeat(65_536)));
    // Long Text has no limit.
    let ticket = create_one(
        &engine,
        "Ticket",
        json!({"subject": "long", "description": "y".repeat(100_000)}),
    );
    assert_eq!(ticket["description"].as_str().unwrap().len(), 100_000);
    // A Link is a varchar(140) too.
    let run = create_fails(
        &engine,
        "Project",
        json!({"project_name": "p", "customer": "c".repeat(141)}),
        "VALIDATION_FAILED",
    );
    assert_violation(&run, "customer", "length");
}

#[test]
fn a_document_failing_validation_writes_nothing() {
    let engine = engine_with_fixtures();
    create(&engine, "Customer", json!({"customer_name": "Acme"}));
    let (customers, projects) = (count(&engine, "Customer"), count(&engine, "Project"));
    // The first record is valid, the second is not: neither is written.
    let run = create_fails(
        &engine,
        "Customer",
        json!([{"customer_name": "Fine"}, {"customer_name": 7}]),
        "VALIDATION_FAILED",
    );
    assert_eq!(
        violations(&run),
        [("data[1].customer_name".into(), "type".into())]
    );
    create_fails(
        &engine,
        "Project",
        json!({"project_name": "x", "customer": "Acme", "tasks": [{"subject": 1}]}),
        "VALIDATION_FAILED",
    );
    assert_eq!(count(&engine, "Customer"), customers);
    assert_eq!(count(&engine, "Project"), projects);
    assert_eq!(get(&engine, "Customer", "Fine"), None);
    // A failed update leaves the document as it was.
    let before = get(&engine, "Customer", "Acme").unwrap();
    fails(
        &engine,
        json!({"operation": "update", "in": "Customer", "input": {"name": "Acme",
            "data": {"credit_days": 9, "customer_group": "Nope"}}}),
        "VALIDATION_FAILED",
    );
    assert_eq!(get(&engine, "Customer", "Acme").unwrap(), before);
}

#[test]
fn updates_revalidate_child_rows_and_renumber_them() {
    let engine = engine_with_fixtures();
    let project = create_one(
        &engine,
        "Project",
        json!({"name": "P1", "project_name": "Roof", "tasks": [{"subject": "a"}, {"subject": "b"}]}),
    );
    assert_eq!(project["tasks"][1]["idx"], json!(2));
    let run = update(
        &engine,
        "Project",
        "P1",
        json!({"tasks": [project["tasks"][1].clone(), {"subject": "c", "done": true}]}),
    );
    let tasks = &run.data()[0]["tasks"];
    assert_eq!(tasks[0]["subject"], json!("b"));
    assert_eq!(tasks[0]["idx"], json!(1), "rows are renumbered in order");
    assert_eq!(tasks[1]["idx"], json!(2));
    assert_eq!(tasks[1]["done"], json!(1));
    assert_eq!(tasks[1]["parent"], json!("P1"));
    assert_eq!(tasks[1]["parentfield"], json!("tasks"));
    assert_eq!(get(&engine, "Project", "P1").unwrap()["tasks"], *tasks);
}

// ---------------------------------------------------------------------------------------
// Null schema and skipping validation
// ---------------------------------------------------------------------------------------

#[test]
fn a_doctype_without_schema_accepts_any_object() {
    let engine = engine_with_fixtures();
    let data = json!({"title": 5, "tags": ["a", 1, null], "nested": {"deep": {"x": true}}});
    let doc = create_one(&engine, "Gadget", data.clone());
    assert!(holds(&doc, &data), "{doc}");
    assert_eq!(doc["name"].as_str().unwrap().len(), 10, "named by hash");
    let name = doc["name"].as_str().unwrap();
    update(&engine, "Gadget", name, json!({"title": {"any": "thing"}}));
    assert_eq!(
        get(&engine, "Gadget", name).unwrap()["title"],
        json!({"any": "thing"})
    );
}

#[test]
fn validate_false_is_for_trusted_creates_only() {
    let engine = engine_with_fixtures();
    let raw = json!({"name": "Legacy", "customer_group": "Wholesale", "legacy_id": 99});
    let run = ok(
        &engine,
        json!({"operation": "create", "into": "Customer", "input": {"data": raw},
               "options": {"validate": false}}),
    );
    assert!(holds(&run.data()[0], &raw));
    assert!(holds(&get(&engine, "Customer", "Legacy").unwrap(), &raw));
    for request in [
        json!({"operation": "update", "in": "Customer",
               "input": {"name": "Legacy", "data": {"legacy_id": 100}}, "options": {"validate": false}}),
        json!({"operation": "select", "from": "Customer", "options": {"validate": false}}),
    ] {
        let run = fails(&engine, request, "BAD_REQUEST");
        assert!(run.error.unwrap().message.contains("validate"));
    }
    assert_eq!(
        get(&engine, "Customer", "Legacy").unwrap()["legacy_id"],
        json!(99)
    );
}
