//! Story: documents validate as Frappe validates them (issue 12, "Validation parity").
//!
//! The schemas are written in Frappe's DocType export format: old exports with explicit
//! zeros (`"reqd": 0`, `"length": 0`) and `idx`/`doctype` keys in field rows, newer ones
//! with defaults left out. Each test checks one of Frappe's generic rules
//! (`base_document.py`, `document.py`, `naming.py`, `frappe/utils`) with exact paths and rules.

use crate::harness::{TempStore, cli, engine, fails, ok, stdout_json, violations};
use coworker::{Engine, Run};
use serde_json::{Value, json};

/// An old-style export: explicit zeros everywhere, field rows carrying `idx` and `doctype`.
fn customer_schema() -> Value {
    let row = |idx: u32, extra: Value| {
        let mut row = json!({"doctype": "DocField", "idx": idx, "reqd": 0, "unique": 0,
            "length": 0, "read_only": 0, "hidden": 0, "in_list_view": 0, "search_index": 0,
            "print_hide": 0, "permlevel": 0, "no_copy": 0});
        row.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        row
    };
    json!({"doctype": "DocType", "name": "Customer", "module": "Selling", "custom": 0,
        "istable": 0, "issingle": 0, "is_submittable": 0, "autoname": "field:customer_name",
        "fields": [
            row(1, json!({"fieldname": "customer_name", "fieldtype": "Data", "label": "Customer Name"})),
            row(2, json!({"fieldname": "territory", "fieldtype": "Data", "label": "Territory"})),
            row(3, json!({"fieldname": "email_id", "fieldtype": "Data", "options": "Email", "label": "Email Id"})),
            row(4, json!({"fieldname": "website", "fieldtype": "Data", "options": "URL", "label": "Website"})),
            row(5, json!({"fieldname": "mobile_no", "fieldtype": "Data", "options": "Phone", "label": "Mobile No"})),
            row(6, json!({"fieldname": "phone", "fieldtype": "Phone", "label": "Phone"})),
            row(7, json!({"fieldname": "contact_person", "fieldtype": "Data", "options": "Name", "label": "Contact Person"})),
            row(8, json!({"fieldname": "code", "fieldtype": "Data", "length": 10, "label": "Code"})),
            row(9, json!({"fieldname": "notes", "fieldtype": "Small Text", "label": "Notes"})),
            row(10, json!({"fieldname": "details", "fieldtype": "Text", "label": "Details"})),
            row(11, json!({"fieldname": "visits", "fieldtype": "Int", "label": "Visits", "default": "0"})),
            row(12, json!({"fieldname": "lifetime_visits", "fieldtype": "Int", "length": 20, "label": "Lifetime Visits"}))
        ],
        "permissions": [{"role": "System Manager", "read": 1, "write": 1, "create": 1, "delete": 1}]})
}

/// Newer exports: defaults left out.
fn schemas() -> Vec<Value> {
    vec![
        customer_schema(),
        json!({"doctype": "DocType", "name": "Item", "module": "Stock",
            "autoname": "ITEM-.YYYY.-",
            "fields": [{"fieldname": "item_name", "fieldtype": "Data", "label": "Item Name", "reqd": 1}]}),
        json!({"doctype": "DocType", "name": "Sales Order Item", "module": "Selling", "istable": 1,
            "fields": [
                {"fieldname": "item", "fieldtype": "Link", "options": "Item", "label": "Item", "reqd": 1, "in_list_view": 1},
                {"fieldname": "qty", "fieldtype": "Int", "label": "Qty"}]}),
        json!({"doctype": "DocType", "name": "Sales Order", "module": "Selling",
            "autoname": "naming_series:",
            "fields": [
                {"fieldname": "naming_series", "fieldtype": "Select", "label": "Series",
                 "options": "SO-.YYYY.-\nSO-RET-.YYYY.-", "reqd": 1},
                {"fieldname": "customer", "fieldtype": "Link", "options": "Customer", "label": "Customer", "reqd": 1},
                {"fieldname": "territory", "fieldtype": "Data", "label": "Territory",
                 "fetch_from": "customer.territory", "read_only": 1},
                {"fieldname": "region", "fieldtype": "Data", "label": "Region",
                 "fetch_from": "customer.territory", "fetch_if_empty": 1},
                {"fieldname": "status", "fieldtype": "Select", "label": "Status",
                 "options": "Draft\nOpen\nClosed", "reqd": 1},
                {"fieldname": "priority", "fieldtype": "Select", "label": "Priority",
                 "options": "\nLow\nHigh"},
                {"fieldname": "description", "fieldtype": "Text Editor", "label": "Description"},
                {"fieldname": "delivery_date", "fieldtype": "Date", "label": "Delivery Date"},
                {"fieldname": "delivered_at", "fieldtype": "Datetime", "label": "Delivered At"},
                {"fieldname": "slot", "fieldtype": "Time", "label": "Slot"},
                {"fieldname": "items", "fieldtype": "Table", "options": "Sales Order Item", "label": "Items"}]}),
        json!({"doctype": "DocType", "name": "Dynamic Link", "module": "Core", "istable": 1,
            "fields": [
                {"fieldname": "link_doctype", "fieldtype": "Select", "options": "Customer\nItem", "label": "Link Document Type", "reqd": 1},
                {"fieldname": "link_name", "fieldtype": "Dynamic Link", "options": "link_doctype", "label": "Link Name", "reqd": 1}]}),
        json!({"doctype": "DocType", "name": "Note", "module": "Desk",
            "autoname": "format:NOTE-{#####}",
            "fields": [
                {"fieldname": "title", "fieldtype": "Data", "label": "Title", "reqd": 1},
                {"fieldname": "content", "fieldtype": "Text Editor", "label": "Content", "reqd": 1},
                {"fieldname": "reference_doctype", "fieldtype": "Select", "options": "\nCustomer\nItem", "label": "Reference Type"},
                {"fieldname": "reference_name", "fieldtype": "Dynamic Link", "options": "reference_doctype", "label": "Reference Name"},
                {"fieldname": "links", "fieldtype": "Table", "options": "Dynamic Link", "label": "Links"}]}),
        json!({"doctype": "DocType", "name": "Event", "module": "Desk", "autoname": "EV.#####",
            "fields": [{"fieldname": "subject", "fieldtype": "Small Text", "label": "Subject", "reqd": 1}]}),
        json!({"doctype": "DocType", "name": "ToDo", "module": "Desk", "autoname": "hash",
            "fields": [{"fieldname": "description", "fieldtype": "Text Editor", "label": "Description"}]}),
        json!({"doctype": "DocType", "name": "Comment Note", "module": "Desk",
            "fields": [{"fieldname": "text", "fieldtype": "Data", "label": "Text"}]}),
    ]
}

fn setup() -> Engine {
    let engine = engine();
    let run = engine.import_schemas(schemas());
    assert!(run.success, "the schemas import: {:?}", run.error);
    engine
}

fn create(doctype: &str, data: Value) -> Value {
    json!({"operation": "create", "into": doctype, "input": {"data": data}})
}

fn created(engine: &Engine, doctype: &str, data: Value) -> Value {
    ok(engine, create(doctype, data)).output["data"][0].clone()
}

fn update(doctype: &str, name: &str, data: Value) -> Value {
    json!({"operation": "update", "in": doctype, "input": {"name": name, "data": data}})
}

/// A create that must fail validation with exactly these violations.
fn refused(engine: &Engine, doctype: &str, data: Value, expected: &[(&str, &str)]) -> Run {
    let run = fails(engine, create(doctype, data), "VALIDATION_FAILED");
    let expected: Vec<(String, String)> = expected
        .iter()
        .map(|(p, r)| (p.to_string(), r.to_string()))
        .collect();
    assert_eq!(violations(&run), expected, "{:?}", run.error);
    run
}

fn year() -> i16 {
    jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date()
        .year()
}

/// A valid Sales Order for `customer`, with `extra` fields.
fn order(customer: &str, extra: Value) -> Value {
    let mut data = json!({"customer": customer, "items": [{"item": "ITEM-X"}]});
    data.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    data
}

fn with_item(engine: &Engine) {
    created(
        engine,
        "Item",
        json!({"name": "ITEM-X", "item_name": "Bolt"}),
    );
}

// ---------------------------------------------------------------------------------------
// Data options and lengths
// ---------------------------------------------------------------------------------------

#[test]
fn email_option_takes_a_list_and_needs_a_dotted_domain() {
    let engine = setup();
    let doc = created(
        &engine,
        "Customer",
        json!({"customer_name": "Acme", "email_id": "ann@acme.example, Bob Lee <bob@acme.example>\ncy@mail.acme.io"}),
    );
    assert_eq!(
        doc["email_id"],
        json!("ann@acme.example, Bob Lee <bob@acme.example>\ncy@mail.acme.io")
    );
    for bad in [
        "ann@localhost",
        "ann.acme.example",
        "ann@acme.example bob@acme.example",
        "ann@acme.example, nobody",
    ] {
        let run = refused(
            &engine,
            "Customer",
            json!({"customer_name": "Beta", "email_id": bad}),
            &[("email_id", "format")],
        );
        assert!(
            run.error
                .as_ref()
                .unwrap()
                .message
                .contains("not a valid email address"),
            "{bad}: {:?}",
            run.error
        );
    }
}

#[test]
fn url_option_needs_a_scheme_and_a_host() {
    let engine = setup();
    created(
        &engine,
        "Customer",
        json!({"customer_name": "Acme", "website": "https://acme.example/about?x=1"}),
    );
    for bad in [
        "acme.example",
        "https://",
        "//acme.example",
        "mailto:ann@acme.example",
    ] {
        refused(
            &engine,
            "Customer",
            json!({"customer_name": "Beta", "website": bad}),
            &[("website", "format")],
        );
    }
}

#[test]
fn phone_option_and_phone_fieldtype_follow_frappes_pattern() {
    let engine = setup();
    created(
        &engine,
        "Customer",
        json!({"customer_name": "Acme", "mobile_no": "+49 (30) 1234-567", "phone": "+1 555 0100"}),
    );
    refused(
        &engine,
        "Customer",
        json!({"customer_name": "Beta", "mobile_no": "call me", "phone": "123456789012345678901"}),
        &[("mobile_no", "format"), ("phone", "format")],
    );
}

#[test]
fn name_option_takes_person_names_only() {
    let engine = setup();
    created(
        &engine,
        "Customer",
        json!({"customer_name": "Acme", "contact_person": "Anne-Marie O'Neil"}),
    );
    refused(
        &engine,
        "Customer",
        json!({"customer_name": "Beta", "contact_person": "Ann <script>"}),
        &[("contact_person", "format")],
    );
}

#[test]
fn data_is_capped_at_140_characters_unless_length_is_set_and_never_truncated() {
    let engine = setup();
    // `"length": 0` (old exports) means Frappe's default varchar(140).
    created(
        &engine,
        "Customer",
        json!({"customer_name": "Acme", "territory": "t".repeat(140), "code": "c".repeat(10)}),
    );
    let run = refused(
        &engine,
        "Customer",
        json!({"customer_name": "Beta", "territory": "t".repeat(141), "code": "c".repeat(11)}),
        &[("territory", "length"), ("code", "length")],
    );
    assert!(
        run.error
            .unwrap()
            .message
            .contains("longer than 140 characters")
    );
    // Rejected, not truncated: nothing was written.
    let run = ok(
        &engine,
        json!({"operation": "select", "from": "Customer", "input": {"count": true}}),
    );
    assert_eq!(run.output["meta"]["total"], json!(1));
}

#[test]
fn small_text_and_text_are_uncapped() {
    let engine = setup();
    let doc = created(
        &engine,
        "Customer",
        json!({"customer_name": "Acme", "notes": "n".repeat(70_000), "details": "d".repeat(70_000)}),
    );
    assert_eq!(doc["notes"].as_str().unwrap().len(), 70_000);
    assert_eq!(doc["details"].as_str().unwrap().len(), 70_000);
}

#[test]
fn int_beyond_32_bits_is_refused_unless_length_makes_it_a_bigint() {
    let engine = setup();
    let doc = created(
        &engine,
        "Customer",
        json!({"customer_name": "Acme", "visits": 2_147_483_647, "lifetime_visits": 9_000_000_000_i64}),
    );
    assert_eq!(doc["visits"], json!(2_147_483_647));
    assert_eq!(doc["lifetime_visits"], json!(9_000_000_000_i64));
    created(
        &engine,
        "Customer",
        json!({"customer_name": "Beta", "visits": -2_147_483_647}),
    );
    for big in [
        json!(2_147_483_648_i64),
        json!(-2_147_483_648_i64),
        json!(1e12),
        json!(u64::MAX),
    ] {
        let run = refused(
            &engine,
            "Customer",
            json!({"customer_name": "Gamma", "visits": big}),
            &[("visits", "range")],
        );
        assert!(run.error.unwrap().message.contains("2147483647"));
    }
}

// ---------------------------------------------------------------------------------------
// Required values
// ---------------------------------------------------------------------------------------

#[test]
fn a_value_of_whitespace_only_is_empty() {
    let engine = setup();
    refused(
        &engine,
        "Item",
        json!({"item_name": "  \t\n "}),
        &[("item_name", "reqd")],
    );
    refused(
        &engine,
        "Event",
        json!({"subject": "\u{a0} "}),
        &[("subject", "reqd")],
    );
}

#[test]
fn a_text_editor_of_empty_markup_is_empty_but_an_image_is_content() {
    let engine = setup();
    for empty in [
        "<p><br></p>",
        "<div></div>",
        " <p>&nbsp;</p>\n",
        "<p> </p><p><br/></p>",
    ] {
        refused(
            &engine,
            "Note",
            json!({"title": "t", "content": empty}),
            &[("content", "reqd")],
        );
    }
    let note = created(
        &engine,
        "Note",
        json!({"title": "t", "content": "<p><img src=\"/files/chart.png\"></p>"}),
    );
    assert_eq!(
        note["content"],
        json!("<p><img src=\"/files/chart.png\"></p>")
    );
    created(
        &engine,
        "Note",
        json!({"title": "t", "content": "<p>hello</p>"}),
    );
}

#[test]
fn a_select_without_default_starts_at_its_first_option_but_an_explicit_empty_stays() {
    let engine = setup();
    with_item(&engine);
    created(&engine, "Customer", json!({"customer_name": "Acme"}));
    let so = created(&engine, "Sales Order", order("Acme", json!({})));
    assert_eq!(so["status"], json!("Draft"));
    assert_eq!(so["naming_series"], json!("SO-.YYYY.-"));
    // A first option that is empty gives no value.
    assert!(so.get("priority").is_none_or(Value::is_null), "{so}");
    refused(
        &engine,
        "Sales Order",
        order("Acme", json!({"status": ""})),
        &[("status", "reqd")],
    );
}

// ---------------------------------------------------------------------------------------
// Select
// ---------------------------------------------------------------------------------------

#[test]
fn select_values_are_trimmed_and_matched_case_sensitively() {
    let engine = setup();
    with_item(&engine);
    created(&engine, "Customer", json!({"customer_name": "Acme"}));
    let so = created(
        &engine,
        "Sales Order",
        order("Acme", json!({"status": "  Open "})),
    );
    assert_eq!(so["status"], json!("Open"));
    let run = refused(
        &engine,
        "Sales Order",
        order("Acme", json!({"status": "open"})),
        &[("status", "options")],
    );
    assert!(run.error.unwrap().message.contains("did you mean `Open`"));
}

#[test]
fn naming_series_is_never_checked_against_its_options() {
    let engine = setup();
    with_item(&engine);
    created(&engine, "Customer", json!({"customer_name": "Acme"}));
    let so = created(
        &engine,
        "Sales Order",
        order("Acme", json!({"naming_series": "ORD-.#####"})),
    );
    assert_eq!(so["name"], json!("ORD-00001"));
    let so = created(&engine, "Sales Order", order("Acme", json!({})));
    assert_eq!(so["name"], json!(format!("SO-{}-00001", year())));
}

// ---------------------------------------------------------------------------------------
// Links
// ---------------------------------------------------------------------------------------

#[test]
fn a_dynamic_link_is_checked_against_the_doctype_its_options_field_names() {
    let engine = setup();
    with_item(&engine);
    created(&engine, "Customer", json!({"customer_name": "Acme"}));
    created(
        &engine,
        "Note",
        json!({"title": "t", "content": "c", "reference_doctype": "Customer", "reference_name": "Acme"}),
    );
    // `Acme` is a Customer, not an Item.
    let run = refused(
        &engine,
        "Note",
        json!({"title": "t", "content": "c", "reference_doctype": "Item", "reference_name": "Acme"}),
        &[("reference_name", "link")],
    );
    assert!(
        run.error
            .unwrap()
            .message
            .contains("Item `Acme` does not exist")
    );
    // Without a doctype the target cannot be checked: refused, naming the field to set.
    let run = refused(
        &engine,
        "Note",
        json!({"title": "t", "content": "c", "reference_name": "Acme"}),
        &[("reference_name", "link")],
    );
    assert!(run.error.unwrap().message.contains("`reference_doctype`"));
    // In child rows too, with the row's path.
    refused(
        &engine,
        "Note",
        json!({"title": "t", "content": "c", "links": [
            {"link_doctype": "Customer", "link_name": "Acme"},
            {"link_doctype": "Customer", "link_name": "ITEM-X"}]}),
        &[("links[1].link_name", "link")],
    );
}

#[test]
fn link_errors_on_several_child_rows_are_all_reported_with_row_paths() {
    let engine = setup();
    with_item(&engine);
    created(&engine, "Customer", json!({"customer_name": "Acme"}));
    refused(
        &engine,
        "Sales Order",
        json!({"customer": "Nobody", "items": [
            {"item": "GONE-1"}, {"item": "ITEM-X"}, {"item": "GONE-2", "qty": 2}, {"qty": 1}]}),
        &[
            ("customer", "link"),
            ("items[0].item", "link"),
            ("items[2].item", "link"),
            ("items[3].item", "reqd"),
        ],
    );
}

// ---------------------------------------------------------------------------------------
// Dates and times
// ---------------------------------------------------------------------------------------

#[test]
fn dates_must_be_real_and_in_frappes_format() {
    let engine = setup();
    with_item(&engine);
    created(&engine, "Customer", json!({"customer_name": "Acme"}));
    let so = created(
        &engine,
        "Sales Order",
        order("Acme", json!({"delivery_date": "2024-02-29"})),
    );
    assert_eq!(so["delivery_date"], json!("2024-02-29"));
    for bad in [
        "2024-02-30",
        "2023-02-29",
        "2024-2-03",
        "03/02/2024",
        "2024-02-29 10:00:00",
    ] {
        let run = refused(
            &engine,
            "Sales Order",
            order("Acme", json!({"delivery_date": bad})),
            &[("delivery_date", "format")],
        );
        assert!(run.error.unwrap().message.contains("YYYY-MM-DD"));
    }
}

#[test]
fn datetimes_and_times_must_be_real_and_in_frappes_formats() {
    let engine = setup();
    with_item(&engine);
    created(&engine, "Customer", json!({"customer_name": "Acme"}));
    for (at, slot) in [
        ("2024-02-29 10:00:00", "09:05:00"),
        ("2024-02-29 10:00:00.123456", "9:05:00"),
        ("2024-02-29 10:00", "09:05"),
        ("2024-02-29T10:00:00", "23:59:59.5"),
    ] {
        let so = created(
            &engine,
            "Sales Order",
            order("Acme", json!({"delivered_at": at, "slot": slot})),
        );
        assert_eq!(
            (&so["delivered_at"], &so["slot"]),
            (&json!(at), &json!(slot))
        );
    }
    for (at, slot) in [
        ("2024-02-30 10:00:00", "24:00:00"),
        ("2024-02-29", "9:5"),
        ("2024-02-29 10:00:00.1234567", "09:05:60"),
        ("2024-02-29 25:00:00", "09:05.5"),
    ] {
        refused(
            &engine,
            "Sales Order",
            order("Acme", json!({"delivered_at": at, "slot": slot})),
            &[("delivered_at", "format"), ("slot", "format")],
        );
    }
}

// ---------------------------------------------------------------------------------------
// Naming
// ---------------------------------------------------------------------------------------

#[test]
fn a_dotted_series_uses_the_dot_as_a_separator() {
    let engine = setup();
    let first = created(&engine, "Event", json!({"subject": "Kick-off"}));
    let second = created(&engine, "Event", json!({"subject": "Review"}));
    assert_eq!(
        (first["name"].clone(), second["name"].clone()),
        (json!("EV00001"), json!("EV00002"))
    );
}

#[test]
fn a_series_without_hashes_gets_a_five_digit_counter() {
    let engine = setup();
    let item = created(&engine, "Item", json!({"item_name": "Bolt"}));
    assert_eq!(item["name"], json!(format!("ITEM-{}-00001", year())));
}

#[test]
fn a_series_with_hashes_but_no_dot_is_refused_at_import() {
    let engine = engine();
    let run = engine.import_schemas(vec![json!({"doctype": "DocType", "name": "Visit",
        "module": "Desk", "autoname": "VIS#####",
        "fields": [{"fieldname": "notes", "fieldtype": "Data"}]})]);
    assert_eq!(
        run.error.as_ref().unwrap().code.as_str(),
        "VALIDATION_FAILED"
    );
    assert_eq!(
        violations(&run),
        [("autoname".to_string(), "autoname".to_string())]
    );
}

#[test]
fn a_format_rule_expands_its_braced_counter() {
    let engine = setup();
    let note = created(&engine, "Note", json!({"title": "t", "content": "c"}));
    assert_eq!(note["name"], json!("NOTE-00001"));
    let note = created(&engine, "Note", json!({"title": "t", "content": "c"}));
    assert_eq!(note["name"], json!("NOTE-00002"));
}

#[test]
fn a_field_rule_trims_the_value_and_requires_it_without_reqd() {
    let engine = setup();
    let doc = created(
        &engine,
        "Customer",
        json!({"customer_name": "  Acme Corp \t"}),
    );
    assert_eq!(doc["name"], json!("Acme Corp"));
    assert_eq!(doc["customer_name"], json!("Acme Corp"));
    for empty in [
        json!({}),
        json!({"customer_name": "   "}),
        json!({"customer_name": null}),
    ] {
        let run = refused(&engine, "Customer", empty, &[("customer_name", "reqd")]);
        assert!(
            run.error
                .unwrap()
                .message
                .contains("autoname `field:customer_name`")
        );
    }
}

#[test]
fn a_name_equal_to_the_doctype_or_holding_angle_brackets_is_refused() {
    let engine = setup();
    refused(
        &engine,
        "Customer",
        json!({"customer_name": "Customer"}),
        &[("name", "name")],
    );
    refused(
        &engine,
        "Comment Note",
        json!({"name": "<b>x</b>", "text": "hi"}),
        &[("name", "name")],
    );
    refused(
        &engine,
        "Comment Note",
        json!([{"name": "fine", "text": "a"}, {"name": "Comment Note", "text": "b"}]),
        &[("data[1].name", "name")],
    );
    // A given name is trimmed, as Frappe does.
    let doc = created(
        &engine,
        "Comment Note",
        json!({"name": "  spaced ", "text": "a"}),
    );
    assert_eq!(doc["name"], json!("spaced"));
}

#[test]
fn hash_names_are_ten_characters() {
    let engine = setup();
    for doctype in ["ToDo", "Comment Note"] {
        let doc = created(&engine, doctype, json!({}));
        let name = doc["name"].as_str().unwrap();
        assert_eq!(name.len(), 10, "{name}");
        assert!(name.chars().all(|c| c.is_ascii_alphanumeric()), "{name}");
    }
}

// ---------------------------------------------------------------------------------------
// fetch_from
// ---------------------------------------------------------------------------------------

#[test]
fn fetch_from_fills_on_create_and_when_the_link_changes() {
    let engine = setup();
    with_item(&engine);
    created(
        &engine,
        "Customer",
        json!({"customer_name": "Acme", "territory": "North"}),
    );
    created(
        &engine,
        "Customer",
        json!({"customer_name": "Beta", "territory": "East"}),
    );
    let so = created(&engine, "Sales Order", order("Acme", json!({})));
    assert_eq!(
        (&so["territory"], &so["region"]),
        (&json!("North"), &json!("North"))
    );
    let name = so["name"].as_str().unwrap().to_string();
    // The customer moves; the order keeps what it fetched while its link stays.
    ok(
        &engine,
        update("Customer", "Acme", json!({"territory": "South"})),
    );
    let run = ok(
        &engine,
        update("Sales Order", &name, json!({"status": "Open"})),
    );
    assert_eq!(run.output["data"][0]["territory"], json!("North"));
    // The link changes: the read-only `territory` follows (the engine's change, not the
    // caller's); `region` is `fetch_if_empty` and keeps its value.
    let run = ok(
        &engine,
        update("Sales Order", &name, json!({"customer": "Beta"})),
    );
    let doc = &run.output["data"][0];
    assert_eq!(
        (&doc["territory"], &doc["region"]),
        (&json!("East"), &json!("North"))
    );
    // The caller still may not change the read-only field itself.
    let run = fails(
        &engine,
        update("Sales Order", &name, json!({"territory": "West"})),
        "VALIDATION_FAILED",
    );
    assert_eq!(
        violations(&run),
        [("territory".to_string(), "read_only".to_string())]
    );
}

#[test]
fn fetch_if_empty_keeps_a_given_value_and_fetch_from_overrides_one() {
    let engine = setup();
    with_item(&engine);
    created(
        &engine,
        "Customer",
        json!({"customer_name": "Acme", "territory": "North"}),
    );
    let so = created(
        &engine,
        "Sales Order",
        order("Acme", json!({"territory": "Mine", "region": "Mine"})),
    );
    assert_eq!(
        (&so["territory"], &so["region"]),
        (&json!("North"), &json!("Mine"))
    );
}

#[test]
fn fetch_from_reads_a_link_written_earlier_in_the_same_transaction() {
    let engine = setup();
    with_item(&engine);
    let run = ok(
        &engine,
        json!({"operation": "workflow", "input": {"children": [
            {"id": "c", "operation": "create", "into": "Customer",
             "input": {"data": {"customer_name": "Fresh", "territory": "West"}}},
            {"id": "o", "operation": "create", "into": "Sales Order",
             "input": {"data": {"customer": "Fresh", "items": [{"item": "ITEM-X"}]}}}]}}),
    );
    let so = &run.output["steps"][1]["output"]["data"][0];
    assert_eq!(so["territory"], json!("West"), "{}", run.output);
}

// ---------------------------------------------------------------------------------------
// The CLI reports the same violations as the library
// ---------------------------------------------------------------------------------------

#[test]
fn the_cli_reports_format_and_range_violations_like_the_library() {
    let store = TempStore::new();
    let request = create(
        "Customer",
        json!({"customer_name": "Acme", "email_id": "ann@localhost", "visits": 3_000_000_000_i64}),
    );
    let expected = {
        let engine = store.open();
        assert!(engine.import_schemas(schemas()).success);
        let run = fails(&engine, request.clone(), "VALIDATION_FAILED");
        assert_eq!(
            violations(&run),
            [
                ("email_id".to_string(), "format".to_string()),
                ("visits".to_string(), "range".to_string())
            ]
        );
        serde_json::to_value(&run.error).unwrap()["details"].clone()
    };
    let output = cli(&store.path)
        .args(["run", "--json", &request.to_string()])
        .output()
        .expect("the CLI starts");
    assert_eq!(output.status.code(), Some(1));
    let run = stdout_json(&output);
    assert_eq!(run["error"]["code"], json!("VALIDATION_FAILED"));
    assert_eq!(run["error"]["details"], expected);
}
