//! Naming: Frappe's autoname rules (hash, UUID, autoincrement, series patterns, field and prompt).

use super::*;

#[test]
fn hash_names_are_ten_characters_and_unique() {
    let engine = engine_with_fixtures();
    let rows: Vec<Value> = (0..50)
        .map(|i| json!({"first_name": format!("P{i}")}))
        .collect();
    let run = create(&engine, "Contact", Value::Array(rows));
    let found: BTreeSet<String> = names(&run).into_iter().collect();
    assert_eq!(found.len(), 50, "hash names are unique");
    assert!(found.iter().all(|n| is_hash_name(n)), "{found:?}");
    // Without an autoname rule a schema names by hash too.
    ok(
        &engine,
        json!({"operation": "create", "into": "Schema", "input": {"data": {"name": "Note", "fields": [
            {"fieldname": "title", "fieldtype": "Data"}]}}}),
    );
    let note = create_one(&engine, "Note", json!({"title": "x"}));
    assert!(is_hash_name(note["name"].as_str().unwrap()), "{note}");
    // Child rows are named by hash.
    let project = create_one(
        &engine,
        "Project",
        json!({"project_name": "p", "tasks": [{"subject": "a"}, {"subject": "b"}]}),
    );
    let rows: Vec<&str> = (0..2)
        .map(|i| project["tasks"][i]["name"].as_str().unwrap())
        .collect();
    assert!(rows.iter().all(|n| is_hash_name(n)) && rows[0] != rows[1]);
}

#[test]
fn uuid_names_are_hyphenated_hex_and_unique() {
    let engine = engine_with_fixtures();
    ok(
        &engine,
        json!({"operation": "create", "into": "Schema", "input": {"data": {"name": "Token",
            "autoname": "UUID", "fields": [{"fieldname": "label", "fieldtype": "Data"}]}}}),
    );
    let rows: Vec<Value> = (0..20).map(|i| json!({"label": format!("t{i}")})).collect();
    let run = create(&engine, "Token", Value::Array(rows));
    let found: BTreeSet<String> = names(&run).into_iter().collect();
    assert_eq!(found.len(), 20, "UUID names are unique: {found:?}");
    for name in &found {
        let groups: Vec<usize> = name.split('-').map(str::len).collect();
        assert_eq!(groups, [8, 4, 4, 4, 12], "8-4-4-4-12 groups: {name}");
        assert!(
            name.chars()
                .all(|c| c == '-' || c.is_ascii_digit() || ('a'..='f').contains(&c)),
            "lowercase hex: {name}"
        );
    }
}

#[test]
fn autoincrement_counts_and_failed_creates_do_not_consume_numbers() {
    let engine = engine_with_fixtures();
    let ticket = |subject: &str| json!({"subject": subject});
    for expected in ["1", "2", "3"] {
        assert_eq!(
            create_one(&engine, "Ticket", ticket("t"))["name"],
            json!(expected)
        );
    }
    // Validation fails before naming.
    create_fails(
        &engine,
        "Ticket",
        json!({"status": "Bogus"}),
        "VALIDATION_FAILED",
    );
    // The first record is named (4), the second fails: the counter rolls back.
    create_fails(
        &engine,
        "Ticket",
        json!([ticket("fine"), {"subject": 5}]),
        "VALIDATION_FAILED",
    );
    // The first is named (4), the second conflicts with an existing name.
    create_fails(
        &engine,
        "Ticket",
        json!([ticket("fine"), {"name": "2", "subject": "dup"}]),
        "CONFLICT",
    );
    // A dry run names nothing and consumes nothing.
    let dry = ok(
        &engine,
        json!({"operation": "create", "into": "Ticket", "input": {"data": ticket("dry")},
               "options": {"dryRun": true}}),
    );
    assert_eq!(dry.data()[0]["subject"], json!("dry"));
    assert_eq!(count(&engine, "Ticket"), 3);
    assert_eq!(
        create_one(&engine, "Ticket", ticket("t"))["name"],
        json!("4")
    );
    // Several in one create count on; an explicit name does not consume a number.
    let run = create(
        &engine,
        "Ticket",
        json!([ticket("a"), {"name": "manual", "subject": "b"}, ticket("c")]),
    );
    assert_eq!(names(&run), ["5", "manual", "6"]);
    // Deleting the newest does not hand its number out again.
    delete(&engine, "Ticket", "6");
    assert_eq!(
        create_one(&engine, "Ticket", ticket("t"))["name"],
        json!("7")
    );
}

#[test]
fn autoincrement_counters_survive_reopening_the_store() {
    let store = TempStore::new();
    {
        let engine = store.open();
        assert!(
            engine
                .import_schemas(vec![frappe("customer.json"), frappe("ticket.json")])
                .success
        );
        create(
            &engine,
            "Ticket",
            json!([{"subject": "a"}, {"subject": "b"}]),
        );
    }
    let engine = store.open();
    assert_eq!(
        create_one(&engine, "Ticket", json!({"subject": "c"}))["name"],
        json!("3")
    );
}

#[test]
fn series_patterns_expand_the_year_and_pad_the_counter() {
    let engine = engine_with_fixtures();
    let year = year();
    create(&engine, "Customer", json!({"customer_name": "Acme"}));
    // format:PRJ-{YYYY}-{####}
    let project = |name: &str| json!({"project_name": name});
    assert_eq!(
        names(&create(
            &engine,
            "Project",
            json!([project("a"), project("b")])
        )),
        [format!("PRJ-{year}-0001"), format!("PRJ-{year}-0002")]
    );
    // An explicit name wins and takes no number.
    assert_eq!(
        create_one(
            &engine,
            "Project",
            json!({"name": "Special", "project_name": "s"})
        )["name"],
        json!("Special")
    );
    assert_eq!(
        create_one(&engine, "Project", project("c"))["name"],
        json!(format!("PRJ-{year}-0003"))
    );
    // A bare (old style) pattern: TASK-.YYYY.-.#####
    for n in 1..=3 {
        let task = create_one(&engine, "Task", json!({"subject": format!("t{n}")}));
        assert_eq!(task["name"], json!(format!("TASK-{year}-{n:05}")));
    }
    // naming_series: the document's own series field, default or chosen.
    let items = json!([{"item_name": "Bolt"}]);
    let invoice = |series: Option<&str>| {
        let mut data = json!({"customer": "Acme", "items": items.clone()});
        if let Some(series) = series {
            data["naming_series"] = json!(series);
        }
        data
    };
    assert_eq!(
        create_one(&engine, "Invoice", invoice(None))["name"],
        json!(format!("INV-{year}-00001"))
    );
    assert_eq!(
        create_one(&engine, "Invoice", invoice(Some("INV-.YYYY.-.#####")))["name"],
        json!(format!("INV-{year}-00002"))
    );
    assert_eq!(
        create_one(&engine, "Invoice", invoice(Some("SINV-.YY.-.####")))["name"],
        json!(format!("SINV-{}-0001", &year[2..]))
    );
    assert_eq!(
        create_one(&engine, "Invoice", invoice(None))["name"],
        json!(format!("INV-{year}-00003"))
    );
    // Frappe never checks `naming_series` against its options: any series names.
    let other = create_one(&engine, "Invoice", invoice(Some("OTHER-.#####")));
    assert_eq!(other["name"], json!("OTHER-00001"));
    // A failed create takes no number back from the series.
    create_fails(
        &engine,
        "Invoice",
        json!([invoice(None), {"customer": "Nobody", "items": items.clone()}]),
        "VALIDATION_FAILED",
    );
    assert_eq!(
        create_one(&engine, "Invoice", invoice(None))["name"],
        json!(format!("INV-{year}-00004"))
    );
    // naming_series is set only once.
    let name = format!("INV-{year}-00004");
    let run = fails(
        &engine,
        json!({"operation": "update", "in": "Invoice", "input": {"name": name,
            "data": {"naming_series": "SINV-.YY.-.####"}}}),
        "VALIDATION_FAILED",
    );
    assert_violation(&run, "naming_series", "set_only_once");
}

#[test]
fn field_and_prompt_names_come_from_the_data() {
    let engine = engine_with_fixtures();
    assert_eq!(
        create_one(
            &engine,
            "Customer",
            json!({"customer_name": "Globex Corporation"})
        )["name"],
        json!("Globex Corporation")
    );
    let run = create_fails(
        &engine,
        "Tag",
        json!({"color": "#00ff00"}),
        "VALIDATION_FAILED",
    );
    assert_eq!(violations(&run), [("name".into(), "autoname".into())]);
    assert_eq!(count(&engine, "Tag"), 0);
    assert_eq!(
        create_one(&engine, "Tag", json!({"name": "green"}))["name"],
        json!("green")
    );
    // A series name is taken like any other: an explicit duplicate conflicts.
    create(&engine, "Customer", json!({"customer_name": "Acme"}));
    let year = year();
    create_one(&engine, "Project", json!({"project_name": "a"}));
    fails(
        &engine,
        json!({"operation": "create", "into": "Project", "input": {"data": {
            "name": format!("PRJ-{year}-0001"), "project_name": "b"}}}),
        "CONFLICT",
    );
}
