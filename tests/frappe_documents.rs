//! Story: documents as Frappe users know them. A submittable doctype (`is_submittable: 1`)
//! moves its documents from draft (`docstatus` 0) to submitted (1) to cancelled (2), never
//! back; a submitted document keeps its values except `allow_on_submit` fields; a cancelled
//! one is amended into `NAME-1` (`amended_from`). Each step checks its DocPerm flag
//! (`submit`, `cancel`, `amend`) and is audited. A select `include`s the documents its Link
//! fields name and the rows of its Table fields, under the included doctype's permissions.

use crate::harness::*;
use coworker::{Engine, Run};
use serde_json::{Value, json};

const ADMIN: &str = "Administrator";

/// Frappe DocType JSON, as exported (old-style explicit zeros included).
fn schemas() -> Vec<Value> {
    vec![
        json!({"doctype": "DocType", "name": "Customer", "module": "Selling", "autoname": "field:customer_name",
          "fields": [
            {"fieldname": "customer_name", "fieldtype": "Data", "label": "Customer Name", "reqd": 1},
            {"fieldname": "territory", "fieldtype": "Data", "label": "Territory", "reqd": 0}],
          "permissions": [
            {"role": "Sales User", "read": 1, "write": 1, "create": 1},
            {"role": "Own Reader", "read": 1, "if_owner": 1}]}),
        json!({"doctype": "DocType", "name": "Sales Invoice Item", "module": "Accounts", "istable": 1,
          "fields": [
            {"fieldname": "item_code", "fieldtype": "Data", "label": "Item", "reqd": 1},
            {"fieldname": "qty", "fieldtype": "Int", "label": "Quantity", "default": "1"}]}),
        json!({"doctype": "DocType", "name": "Sales Invoice", "module": "Accounts", "is_submittable": 1,
          "fields": [
            {"fieldname": "customer", "fieldtype": "Link", "options": "Customer", "label": "Customer"},
            {"fieldname": "grand_total", "fieldtype": "Currency", "label": "Grand Total"},
            {"fieldname": "remarks", "fieldtype": "Small Text", "label": "Remarks", "allow_on_submit": 1},
            {"fieldname": "internal_note", "fieldtype": "Data", "label": "Note", "no_copy": 1},
            {"fieldname": "items", "fieldtype": "Table", "options": "Sales Invoice Item", "label": "Items"},
            {"fieldname": "amended_from", "fieldtype": "Link", "options": "Sales Invoice",
             "label": "Amended From", "read_only": 1, "no_copy": 1}],
          "permissions": [
            {"role": "Accounts Manager", "read": 1, "write": 1, "create": 1, "delete": 1,
             "submit": 1, "cancel": 1, "amend": 1},
            {"role": "Accounts User", "read": 1, "write": 1, "create": 1, "submit": 1,
             "cancel": 0, "amend": 0},
            {"role": "Sales User", "read": 1, "write": 1, "create": 1}]}),
    ]
}

/// Users and their roles.
const USERS: [(&str, &[&str]); 4] = [
    ("manager", &["Accounts Manager", "Sales User"]),
    ("clerk", &["Accounts User"]),
    ("sales", &["Sales User"]),
    ("reader", &["Accounts Manager", "Own Reader"]),
];

/// A store with access control on, the schemas and the users.
fn setup() -> Engine {
    let engine = engine();
    engine.enable_acl(ADMIN, None).expect("access control on");
    let imported = engine.with_owner(ADMIN).import_schemas(schemas());
    assert!(imported.success, "{:?}", imported.error);
    for (user, roles) in USERS {
        as_ok(
            &engine,
            ADMIN,
            json!({"operation": "create", "into": "User", "input": {"data": {"name": user, "roles": roles}}}),
        );
    }
    as_ok(
        &engine,
        "manager",
        json!({"operation": "create", "into": "Customer", "input": {"data": {"customer_name": "Acme", "territory": "EU"}}}),
    );
    engine
}

fn owned(mut request: Value, owner: &str) -> Value {
    request["owner"] = json!(owner);
    request
}

fn as_ok(engine: &Engine, owner: &str, request: Value) -> Run {
    ok(engine, owned(request, owner))
}

fn as_fails(engine: &Engine, owner: &str, request: Value, code: &str) -> Run {
    fails(engine, owned(request, owner), code)
}

fn invoice(name: &str) -> Value {
    json!({"operation": "create", "into": "Sales Invoice", "input": {"data": {
        "name": name, "customer": "Acme", "grand_total": 100, "internal_note": "draft copy",
        "items": [{"item_code": "WIDGET", "qty": 2}]}}})
}

fn op(operation: &str, name: &str) -> Value {
    json!({"operation": operation, "in": "Sales Invoice", "input": {"name": name}})
}

fn update(name: &str, data: Value) -> Value {
    json!({"operation": "update", "in": "Sales Invoice", "input": {"name": name, "data": data}})
}

fn get(engine: &Engine, doctype: &str, name: &str) -> Value {
    let run = as_ok(
        engine,
        ADMIN,
        json!({"operation": "select", "from": doctype, "input": {"where": {"name": name}}}),
    );
    run.data().first().cloned().unwrap_or(Value::Null)
}

/// (action, extra) of the audit entries about `name`, oldest first.
fn actions(engine: &Engine, name: &str) -> Vec<String> {
    let run = as_ok(
        engine,
        ADMIN,
        json!({"operation": "select", "from": "Audit Trail",
               "input": {"where": {"refName": name}, "orderBy": {"seq": "asc"}}}),
    );
    run.data()
        .iter()
        .map(|e| e["action"].as_str().unwrap_or_default().to_string())
        .collect()
}

fn message(run: &Run) -> String {
    run.error
        .as_ref()
        .map(|e| e.message.clone())
        .unwrap_or_default()
}

#[test]
fn submittable_documents_go_draft_submitted_cancelled_and_never_back() {
    let engine = setup();
    let m = "manager";
    let created = as_ok(&engine, m, invoice("SINV-0001"));
    assert_eq!(created.data()[0]["docstatus"], json!(0), "drafts say so");
    as_ok(&engine, m, update("SINV-0001", json!({"grand_total": 120})));
    let submitted = as_ok(&engine, m, op("submit", "SINV-0001"));
    assert_eq!(submitted.data()[0]["docstatus"], json!(1));
    assert_eq!(
        get(&engine, "Sales Invoice", "SINV-0001")["docstatus"],
        json!(1)
    );

    // Submitted: only `allow_on_submit` fields change.
    let run = as_fails(
        &engine,
        m,
        update(
            "SINV-0001",
            json!({"grand_total": 1, "items": [], "remarks": "ok"}),
        ),
        "VALIDATION_FAILED",
    );
    let mut found = violations(&run);
    found.sort();
    assert_eq!(
        found,
        [
            ("grand_total".into(), "allow_on_submit".into()),
            ("items".into(), "allow_on_submit".into())
        ]
    );
    assert_eq!(
        get(&engine, "Sales Invoice", "SINV-0001")["grand_total"],
        json!(120)
    );
    let changed = as_ok(
        &engine,
        m,
        update("SINV-0001", json!({"remarks": "paid late"})),
    );
    assert_eq!(changed.data()[0]["remarks"], json!("paid late"));
    assert_eq!(changed.data()[0]["docstatus"], json!(1));
    // Never back to draft, never submitted twice, never deleted while submitted.
    let run = as_fails(
        &engine,
        m,
        update("SINV-0001", json!({"docstatus": 0})),
        "VALIDATION_FAILED",
    );
    assert_eq!(violations(&run), [("docstatus".into(), "docstatus".into())]);
    let run = as_fails(&engine, m, op("submit", "SINV-0001"), "VALIDATION_FAILED");
    assert!(
        message(&run).contains("only drafts can be submitted"),
        "{}",
        message(&run)
    );
    let run = as_fails(
        &engine,
        m,
        json!({"operation": "delete", "from": "Sales Invoice", "input": {"name": "SINV-0001"}}),
        "IMMUTABLE",
    );
    assert!(
        message(&run).contains("cancel it first"),
        "{}",
        message(&run)
    );
    // A draft cannot be cancelled; a bad docstatus is a violation.
    as_ok(&engine, m, invoice("SINV-0002"));
    let run = as_fails(&engine, m, op("cancel", "SINV-0002"), "VALIDATION_FAILED");
    assert!(message(&run).contains("only submitted documents can be cancelled"));
    for bad in [json!(2), json!(3), json!("1")] {
        let run = as_fails(
            &engine,
            m,
            update("SINV-0002", json!({"docstatus": bad})),
            "VALIDATION_FAILED",
        );
        assert_eq!(violations(&run), [("docstatus".into(), "docstatus".into())]);
    }

    let cancelled = as_ok(&engine, m, op("cancel", "SINV-0001"));
    assert_eq!(cancelled.data()[0]["docstatus"], json!(2));
    // Cancelled: nothing changes any more, by any path.
    for request in [
        update("SINV-0001", json!({"remarks": "again"})),
        update("SINV-0001", json!({"docstatus": 1})),
        op("cancel", "SINV-0001"),
        op("submit", "SINV-0001"),
    ] {
        let run = as_fails(&engine, m, request, "IMMUTABLE");
        assert!(message(&run).contains("is cancelled"), "{}", message(&run));
    }
    // A draft and a cancelled document may be deleted (Frappe's rule).
    as_ok(
        &engine,
        m,
        json!({"operation": "delete", "from": "Sales Invoice", "input": {"name": "SINV-0002"}}),
    );
    as_ok(&engine, m, invoice("SINV-0003"));
    as_ok(&engine, m, op("submit", "SINV-0003"));
    as_ok(&engine, m, op("cancel", "SINV-0003"));
    as_ok(
        &engine,
        m,
        json!({"operation": "delete", "from": "Sales Invoice", "input": {"name": "SINV-0003"}}),
    );
}

#[test]
fn update_with_docstatus_follows_the_same_rules_and_submit_takes_where() {
    let engine = setup();
    let m = "manager";
    as_ok(&engine, m, invoice("A"));
    as_ok(&engine, m, invoice("B"));
    let run = as_ok(
        &engine,
        m,
        update("A", json!({"docstatus": 1, "remarks": "go"})),
    );
    assert_eq!(run.data()[0]["docstatus"], json!(1));
    // Changing a field without allow_on_submit along with the cancel is refused.
    let run = as_fails(
        &engine,
        m,
        update("A", json!({"docstatus": 2, "grand_total": 5})),
        "VALIDATION_FAILED",
    );
    assert_eq!(
        violations(&run),
        [("grand_total".into(), "allow_on_submit".into())]
    );
    as_ok(&engine, m, update("A", json!({"docstatus": 2})));
    assert_eq!(get(&engine, "Sales Invoice", "A")["docstatus"], json!(2));
    // `submit` over a where: the drafts it matches.
    let run = as_ok(
        &engine,
        m,
        json!({"operation": "submit", "in": "Sales Invoice", "input": {"where": {"docstatus": 0}}}),
    );
    let names: Vec<&Value> = run.data().iter().map(|d| &d["name"]).collect();
    assert_eq!(names, [&json!("B")]);
    assert_eq!(actions(&engine, "A"), ["create", "submit", "cancel"]);
    assert_eq!(actions(&engine, "B"), ["create", "submit"]);
    // Created submitted at once: audited as a create and a submit; never created cancelled.
    let mut direct = invoice("C");
    direct["input"]["data"]["docstatus"] = json!(1);
    as_ok(&engine, m, direct);
    assert_eq!(actions(&engine, "C"), ["create", "submit"]);
    let mut cancelled = invoice("D");
    cancelled["input"]["data"]["docstatus"] = json!(2);
    let run = as_fails(&engine, m, cancelled, "VALIDATION_FAILED");
    assert_eq!(violations(&run), [("docstatus".into(), "docstatus".into())]);
}

#[test]
fn amend_names_the_next_free_number_and_links_amended_from() {
    let engine = setup();
    let m = "manager";
    as_ok(&engine, m, invoice("SINV-0001"));
    // Only cancelled documents are amended.
    let run = as_fails(&engine, m, op("amend", "SINV-0001"), "VALIDATION_FAILED");
    assert_eq!(violations(&run), [("docstatus".into(), "docstatus".into())]);
    as_ok(&engine, m, op("submit", "SINV-0001"));
    as_ok(&engine, m, op("cancel", "SINV-0001"));
    let original = get(&engine, "Sales Invoice", "SINV-0001");

    let amended = as_ok(&engine, m, op("amend", "SINV-0001"));
    let doc = &amended.data()[0];
    assert_eq!(doc["name"], json!("SINV-0001-1"));
    assert_eq!(doc["amended_from"], json!("SINV-0001"));
    assert_eq!(doc["docstatus"], json!(0));
    assert_eq!(doc["grand_total"], json!(100));
    assert_eq!(doc["customer"], json!("Acme"));
    assert!(
        doc.get("internal_note").is_none(),
        "no_copy fields are not copied: {doc}"
    );
    let row = &doc["items"][0];
    assert_eq!(row["item_code"], json!("WIDGET"));
    assert_eq!(row["parent"], json!("SINV-0001-1"));
    assert_ne!(
        row["name"], original["items"][0]["name"],
        "child rows get new names"
    );
    assert_eq!(
        get(&engine, "Sales Invoice", "SINV-0001")["docstatus"],
        json!(2)
    );

    // Amending the amendment strips its `-1`: SINV-0001-2.
    as_ok(&engine, m, op("submit", "SINV-0001-1"));
    as_ok(&engine, m, op("cancel", "SINV-0001-1"));
    let run = as_ok(
        &engine,
        m,
        json!({"operation": "amend", "in": "Sales Invoice",
               "input": {"name": "SINV-0001-1", "data": {"grand_total": 90}}}),
    );
    assert_eq!(run.data()[0]["name"], json!("SINV-0001-2"));
    assert_eq!(run.data()[0]["amended_from"], json!("SINV-0001-1"));
    assert_eq!(run.data()[0]["grand_total"], json!(90));
    // Amending the original again takes the next free number.
    let run = as_ok(&engine, m, op("amend", "SINV-0001"));
    assert_eq!(run.data()[0]["name"], json!("SINV-0001-3"));
    // A name that merely ends in -N is not an amendment: INV-7 amends to INV-7-1.
    as_ok(&engine, m, invoice("INV-7"));
    as_ok(&engine, m, op("submit", "INV-7"));
    as_ok(&engine, m, op("cancel", "INV-7"));
    let run = as_ok(&engine, m, op("amend", "INV-7"));
    assert_eq!(run.data()[0]["name"], json!("INV-7-1"));

    // What amend sets cannot be given.
    let run = as_fails(
        &engine,
        m,
        json!({"operation": "amend", "in": "Sales Invoice",
               "input": {"name": "INV-7", "data": {"name": "X"}}}),
        "BAD_REQUEST",
    );
    assert!(message(&run).contains("`data.name`"), "{}", message(&run));
    as_fails(
        &engine,
        m,
        json!({"operation": "amend", "in": "Sales Invoice", "input": {"name": "NOPE"}}),
        "NOT_FOUND",
    );

    // Audited: each action under the document it changed or created.
    assert_eq!(
        actions(&engine, "SINV-0001"),
        ["create", "submit", "cancel"]
    );
    assert_eq!(
        actions(&engine, "SINV-0001-1"),
        ["amend", "submit", "cancel"]
    );
    let entry = as_ok(
        &engine,
        ADMIN,
        json!({"operation": "select", "from": "Audit Trail",
               "input": {"where": {"refName": "SINV-0001-2", "action": "amend"}}}),
    );
    assert_eq!(entry.data()[0]["amendedFrom"], json!("SINV-0001-1"));
    assert_eq!(entry.data()[0]["operation"], json!("amend"));
    assert_eq!(entry.data()[0]["owner"], json!("manager"));
}

#[test]
fn submit_cancel_and_amend_need_their_docperm_flags() {
    let engine = setup();
    // clerk: submit but not cancel or amend; sales: write but not submit.
    as_ok(&engine, "clerk", invoice("C1"));
    as_ok(&engine, "sales", invoice("S1"));
    for request in [op("submit", "S1"), update("S1", json!({"docstatus": 1}))] {
        let run = as_fails(&engine, "sales", request, "PERMISSION_DENIED");
        assert!(
            message(&run).contains("no submit permission"),
            "{}",
            message(&run)
        );
    }
    let mut direct = invoice("S2");
    direct["input"]["data"]["docstatus"] = json!(1);
    as_fails(&engine, "sales", direct, "PERMISSION_DENIED");
    as_ok(&engine, "clerk", op("submit", "C1"));
    // Update after submit needs `submit` too (Frappe's rule).
    as_fails(
        &engine,
        "sales",
        update("C1", json!({"remarks": "x"})),
        "PERMISSION_DENIED",
    );
    as_ok(&engine, "clerk", update("C1", json!({"remarks": "x"})));
    for request in [op("cancel", "C1"), update("C1", json!({"docstatus": 2}))] {
        let run = as_fails(&engine, "clerk", request, "PERMISSION_DENIED");
        assert!(
            message(&run).contains("no cancel permission"),
            "{}",
            message(&run)
        );
    }
    assert_eq!(get(&engine, "Sales Invoice", "C1")["docstatus"], json!(1));
    as_ok(&engine, "manager", op("cancel", "C1"));
    let run = as_fails(&engine, "clerk", op("amend", "C1"), "PERMISSION_DENIED");
    assert!(
        message(&run).contains("no amend permission"),
        "{}",
        message(&run)
    );
    assert_eq!(get(&engine, "Sales Invoice", "C1-1"), Value::Null);
    as_ok(&engine, "manager", op("amend", "C1"));
    // Denials are audited.
    let denied = as_ok(
        &engine,
        ADMIN,
        json!({"operation": "select", "from": "Audit Trail",
               "input": {"where": {"action": "denied", "operation": {"in": ["submit", "cancel", "amend"]}}}}),
    );
    assert_eq!(denied.data().len(), 3, "{:?}", denied.data());
}

#[test]
fn non_submittable_doctypes_refuse_the_lifecycle() {
    let engine = setup();
    for operation in ["submit", "cancel", "amend"] {
        let run = as_fails(
            &engine,
            ADMIN,
            json!({"operation": operation, "in": "Customer", "input": {"name": "Acme"}}),
            "BAD_REQUEST",
        );
        assert!(
            message(&run).contains("Customer is not submittable"),
            "{}",
            message(&run)
        );
    }
    let run = as_fails(
        &engine,
        ADMIN,
        json!({"operation": "update", "in": "Customer", "input": {"name": "Acme", "data": {"docstatus": 1}}}),
        "VALIDATION_FAILED",
    );
    assert_eq!(violations(&run), [("docstatus".into(), "docstatus".into())]);
    // A docstatus stored before (an unvalidated import) locks nobody out.
    as_ok(
        &engine,
        ADMIN,
        json!({"operation": "create", "into": "Customer", "options": {"validate": false},
               "input": {"data": {"customer_name": "Old", "docstatus": 1}}}),
    );
    as_ok(
        &engine,
        ADMIN,
        json!({"operation": "update", "in": "Customer", "input": {"name": "Old", "data": {"territory": "EU"}}}),
    );
    // The lifecycle operations are protected built-ins, like the others.
    for operation in ["submit", "cancel", "amend"] {
        as_fails(
            &engine,
            ADMIN,
            json!({"operation": "delete", "from": "Operation", "input": {"name": operation}}),
            "IMMUTABLE",
        );
    }
    // A doctype without a schema has no lifecycle either.
    as_fails(
        &engine,
        ADMIN,
        json!({"operation": "submit", "in": "Loose", "input": {"name": "x"}}),
        "BAD_REQUEST",
    );
    // A submittable schema without `amended_from` cannot amend (Frappe adds the field).
    let engine = crate::harness::engine();
    let run = engine.import_schemas(vec![json!({"doctype": "DocType", "name": "Order",
        "is_submittable": 1, "fields": [{"fieldname": "total", "fieldtype": "Int"}]})]);
    assert!(run.success, "{:?}", run.error);
    ok(
        &engine,
        json!({"operation": "create", "into": "Order", "input": {"data": {"name": "O1"}}}),
    );
    ok(
        &engine,
        json!({"operation": "submit", "in": "Order", "input": {"name": "O1"}}),
    );
    ok(
        &engine,
        json!({"operation": "cancel", "in": "Order", "input": {"name": "O1"}}),
    );
    let run = fails(
        &engine,
        json!({"operation": "amend", "in": "Order", "input": {"name": "O1"}}),
        "VALIDATION_FAILED",
    );
    assert_eq!(
        violations(&run),
        [("amended_from".into(), "amended_from".into())]
    );
}

fn select(engine: &Engine, owner: &str, input: Value) -> Run {
    as_ok(
        engine,
        owner,
        json!({"operation": "select", "from": "Sales Invoice", "input": input}),
    )
}

#[test]
fn include_replaces_links_with_documents_and_returns_table_rows() {
    let engine = setup();
    as_ok(&engine, "manager", invoice("I1"));
    // A link whose target is gone stays a name (written unvalidated by the superuser).
    as_ok(
        &engine,
        ADMIN,
        json!({"operation": "create", "into": "Sales Invoice", "options": {"validate": false},
               "input": {"data": {"name": "I2", "customer": "Ghost"}}}),
    );
    let run = select(&engine, "manager", json!({"include": {"customer": true}}));
    let customer = &run.data()[0]["customer"];
    assert_eq!(customer["name"], json!("Acme"));
    assert_eq!(customer["doctype"], json!("Customer"));
    assert_eq!(customer["territory"], json!("EU"));
    assert_eq!(run.data()[1]["customer"], json!("Ghost"));
    // With `select`, included fields come back even when not listed; `false` includes nothing.
    let run = select(
        &engine,
        "manager",
        json!({"where": {"name": "I1"}, "select": ["name"],
               "include": {"customer": true, "items": true, "amended_from": false}}),
    );
    let doc = &run.data()[0];
    assert_eq!(doc["customer"]["customer_name"], json!("Acme"));
    assert_eq!(doc["items"][0]["item_code"], json!("WIDGET"));
    assert_eq!(doc["items"][0]["parent"], json!("I1"));
    assert!(
        doc.get("amended_from").is_none() && doc.get("grand_total").is_none(),
        "{doc}"
    );
    let run = select(
        &engine,
        "manager",
        json!({"where": {"name": "I1"}, "select": ["name"]}),
    );
    assert!(run.data()[0].get("items").is_none());
}

#[test]
fn include_checks_the_included_doctype_and_the_field() {
    let engine = setup();
    as_ok(&engine, "manager", invoice("I1"));
    // clerk reads invoices but not customers.
    select(&engine, "clerk", json!({}));
    let run = as_fails(
        &engine,
        "clerk",
        json!({"operation": "select", "from": "Sales Invoice", "input": {"include": {"customer": true}}}),
        "PERMISSION_DENIED",
    );
    assert!(
        message(&run).contains("may not include Customer"),
        "{}",
        message(&run)
    );
    // Table rows carry no permission of their own: they are the parent's.
    select(&engine, "clerk", json!({"include": {"items": true}}));
    // Under `if_owner` read, another owner's customer stays a name.
    let run = select(&engine, "reader", json!({"include": {"customer": true}}));
    assert_eq!(run.data()[0]["customer"], json!("Acme"));
    // Not a Link or Table field, no such field, not a flag: BAD_REQUEST naming it.
    for (include, says) in [
        (
            json!({"grand_total": true}),
            "`grand_total` is a Currency field",
        ),
        (json!({"buyer": true}), "has no field `buyer`"),
        (
            json!({"customer": "yes"}),
            "`include.customer` must be true or false",
        ),
        (json!(["customer"]), "`include` must be an object"),
    ] {
        let run = as_fails(
            &engine,
            "manager",
            json!({"operation": "select", "from": "Sales Invoice", "input": {"include": include}}),
            "BAD_REQUEST",
        );
        assert!(
            message(&run).contains(says),
            "{} lacks {says}",
            message(&run)
        );
    }
}

#[test]
fn include_follows_dynamic_links_and_links_to_doctype() {
    let engine = engine();
    let run = engine.import_schemas(vec![
        json!({"doctype": "DocType", "name": "Customer", "autoname": "field:customer_name",
               "fields": [{"fieldname": "customer_name", "fieldtype": "Data"}]}),
        json!({"doctype": "DocType", "name": "Comment", "fields": [
            {"fieldname": "reference_doctype", "fieldtype": "Link", "options": "Schema"},
            {"fieldname": "reference_name", "fieldtype": "Dynamic Link", "options": "reference_doctype"}]}),
    ]);
    assert!(run.success, "{:?}", run.error);
    ok(
        &engine,
        json!({"operation": "create", "into": "Customer", "input": {"data": {"customer_name": "Acme"}}}),
    );
    ok(
        &engine,
        json!({"operation": "create", "into": "Comment", "input": {"data": {
            "name": "c1", "reference_doctype": "Customer", "reference_name": "Acme"}}}),
    );
    let run = ok(
        &engine,
        json!({"operation": "select", "from": "Comment",
               "input": {"include": {"reference_name": true, "reference_doctype": true}}}),
    );
    let doc = &run.data()[0];
    assert_eq!(doc["reference_name"]["customer_name"], json!("Acme"));
    assert_eq!(doc["reference_doctype"]["name"], json!("Customer"));
    assert_eq!(doc["reference_doctype"]["doctype"], json!("Schema"));
}
