//! Dry runs: a dry-run create validates and writes nothing.

use super::*;

#[test]
fn a_dry_run_create_validates_and_writes_nothing() {
    let engine = engine_with_fixtures();
    create(&engine, "Customer", json!({"customer_name": "Acme"}));
    let dry = |doctype: &str, data: Value| {
        engine.run_value(
            json!({"operation": "create", "into": doctype, "input": {"data": data},
                                "options": {"dryRun": true}}),
        )
    };
    let run = dry(
        "Project",
        json!({"project_name": "p", "customer": "Nobody", "tasks": [{}]}),
    );
    assert_eq!(
        run.error.as_ref().unwrap().code.as_str(),
        "VALIDATION_FAILED"
    );
    assert!(has_violation(&run, "customer", "link"));
    assert!(has_violation(&run, "tasks[0].subject", "reqd"));
    let run = dry("Project", json!({"project_name": "p", "customer": "Acme"}));
    assert!(run.success, "{:?}", run.error);
    assert_eq!(
        run.data()[0]["status"],
        json!("Open"),
        "defaults show in a dry run"
    );
    let run = dry("Customer", json!({"customer_name": "Dry"}));
    assert!(run.success, "{:?}", run.error);
    assert_eq!(run.data()[0]["name"], json!("Dry"));
    let mut label = frappe("tag.json");
    label["name"] = json!("Label");
    let run = dry("Schema", label);
    assert!(run.success, "{:?}", run.error);
    assert_eq!(count(&engine, "Project"), 0);
    assert_eq!(count(&engine, "Customer"), 1);
    assert!(!schema_names(&engine).contains(&"Label".to_string()));
    // Nothing was counted either.
    let year = year();
    assert_eq!(
        create_one(&engine, "Project", json!({"project_name": "p"}))["name"],
        json!(format!("PRJ-{year}-0001"))
    );
}

#[test]
fn a_dry_run_reports_a_unique_value_repeated_within_the_request() {
    let engine = engine_with_fixtures();
    let request = |dry_run: bool| {
        json!({"operation": "create", "into": "Ticket", "options": {"dryRun": dry_run},
               "input": {"data": [{"subject": "a", "external_ref": "X"}, {"subject": "b", "external_ref": "X"}]}})
    };
    let real = fails(&engine, request(false), "VALIDATION_FAILED");
    assert_violation(&real, "data[1].external_ref", "unique");
    let dry = fails(&engine, request(true), "VALIDATION_FAILED");
    assert_eq!(violations(&dry), violations(&real));
}
