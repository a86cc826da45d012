//! Schema-driven select: select can return the schema or its list view.

use super::*;

#[test]
fn select_can_return_the_schema() {
    let engine = engine_with_fixtures();
    let run = ok(
        &engine,
        json!({"operation": "select", "from": "Project", "options": {"includeSchema": true}}),
    );
    let schema = &run.output["schema"];
    assert_stored_unchanged(&frappe("project.json"), schema);
    assert_eq!(*schema, get(&engine, "Schema", "Project").unwrap());
    // Not asked: not given.
    let run = ok(&engine, json!({"operation": "select", "from": "Project"}));
    assert!(run.output.get("schema").is_none(), "{}", run.output);
    // No schema: null.
    let run = ok(
        &engine,
        json!({"operation": "select", "from": "Gadget", "options": {"includeSchema": true}}),
    );
    assert_eq!(run.output["schema"], Value::Null);
    // The schema of schemas is a schema.
    let run = ok(
        &engine,
        json!({"operation": "select", "from": "Schema", "input": {"where": {"name": "Tag"}},
               "options": {"includeSchema": true}}),
    );
    assert_eq!(run.output["schema"]["name"], json!("Schema"));
    assert_eq!(names(&run), ["Tag"]);
}

#[test]
fn the_list_view_returns_name_doctype_and_in_list_view_fields() {
    let engine = engine_with_fixtures();
    create(
        &engine,
        "Customer",
        json!([{"customer_name": "Acme", "email": "a@acme.test"}, {"customer_name": "Globex"}]),
    );
    let list = |doctype: &str, input: Value| {
        let mut input = input;
        input["view"] = json!("list");
        ok(
            &engine,
            json!({"operation": "select", "from": doctype, "input": input}),
        )
    };
    let run = list("Customer", json!({"orderBy": {"name": "asc"}}));
    assert_eq!(
        run.data(),
        [
            json!({"name": "Acme", "doctype": "Customer", "customer_name": "Acme", "customer_group": "Commercial"}),
            json!({"name": "Globex", "doctype": "Customer", "customer_name": "Globex", "customer_group": "Commercial"}),
        ]
    );
    // `select` overrides the view.
    let run = list(
        "Customer",
        json!({"select": ["name", "email"], "where": {"name": "Acme"}}),
    );
    assert_eq!(
        run.data(),
        [json!({"name": "Acme", "email": "a@acme.test"})]
    );
    // The list view works with where, and keys follow the schema's in_list_view fields.
    let project = create_one(
        &engine,
        "Project",
        json!({"project_name": "Roof", "customer": "Acme"}),
    );
    let run = list("Project", json!({"where": {"customer": "Acme"}}));
    assert_eq!(
        run.data(),
        [
            json!({"name": project["name"], "doctype": "Project", "project_name": "Roof", "status": "Open"})
        ]
    );
    // No schema: name and doctype.
    create(&engine, "Gadget", json!({"name": "g", "x": 1}));
    let run = list("Gadget", json!({}));
    assert_eq!(run.data(), [json!({"name": "g", "doctype": "Gadget"})]);
    // An unknown view is a bad request.
    fails(
        &engine,
        json!({"operation": "select", "from": "Customer", "input": {"view": "grid"}}),
        "BAD_REQUEST",
    );
}
