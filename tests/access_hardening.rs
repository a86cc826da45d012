//! Story: access control that holds against a hostile user (issue 11). Skipping validation
//! is a privilege and never breaks `unique`; run history and audit listings apply the
//! reader's permissions; a pinned owner cannot be overridden by the request; an `if_owner`
//! grant reveals nothing through `where`; deleting a Link target, making a field unique over
//! duplicates and removing the last superuser are refused instead of locking users out; a
//! dry run writes nothing but its run record.

use crate::harness::*;
use coworker::{Engine, ErrorCode, Run, RunQuery};
use serde_json::{Value, json};
use std::process::Output;

const ADMIN: &str = "Administrator";

fn code(run: &Run) -> &str {
    run.error.as_ref().map_or("", |e| e.code.as_str())
}

fn message(run: &Run) -> String {
    run.error
        .as_ref()
        .map(|e| e.message.clone())
        .unwrap_or_default()
}

fn owned(mut request: Value, owner: &str) -> Value {
    request["owner"] = json!(owner);
    request
}

/// A store with access control on, the `Item`/`Customer` schemas and users:
/// `clerk` (Stock User: read, write, create Item; read Customer), `importer` (Stock User
/// and Importer), `ann` and `bob` (Sales User: if_owner on Item).
fn setup() -> Engine {
    let engine = engine();
    engine.enable_acl(ADMIN, None).expect("access control on");
    let admin = engine.with_owner(ADMIN);
    let imported = admin.import_schemas(vec![
        json!({"doctype": "DocType", "name": "Customer", "fields": [
            {"fieldname": "title", "fieldtype": "Data"}],
            "permissions": [{"role": "Stock User", "read": 1}]}),
        json!({"doctype": "DocType", "name": "Secret", "fields": [
            {"fieldname": "code", "fieldtype": "Data", "unique": 1}],
            "permissions": [{"role": "Stock User", "create": 1}]}),
        json!({"doctype": "DocType", "name": "Item", "fields": [
            {"fieldname": "code", "fieldtype": "Data", "unique": 1},
            {"fieldname": "status", "fieldtype": "Select", "options": "Open\nClosed"},
            {"fieldname": "qty", "fieldtype": "Int"},
            {"fieldname": "price", "fieldtype": "Int"},
            {"fieldname": "customer", "fieldtype": "Link", "options": "Customer"}],
            "permissions": [
                {"role": "Stock User", "read": 1, "write": 1, "create": 1, "delete": 1},
                {"role": "Sales User", "read": 1, "write": 1, "create": 1, "delete": 1, "if_owner": 1}]}),
    ]);
    assert!(imported.success, "{:?}", imported.error);
    for (user, roles) in [
        ("clerk", json!(["Stock User"])),
        ("importer", json!(["Stock User", "Importer"])),
        ("ann", json!(["Sales User"])),
        ("bob", json!(["Sales User"])),
    ] {
        ok(
            &admin,
            json!({"operation": "create", "into": "User",
                   "input": {"data": {"name": user, "full_name": user, "roles": roles}}}),
        );
    }
    ok(
        &admin,
        json!({"operation": "create", "into": "Customer", "input": {"data": {"name": "C-1"}}}),
    );
    engine
}

fn item(name: &str, code: &str) -> Value {
    json!({"operation": "create", "into": "Item",
           "input": {"data": {"name": name, "code": code, "status": "Open", "qty": 1}}})
}

fn item_names(engine: &Engine) -> Vec<String> {
    let all = ok(
        engine,
        owned(
            json!({"operation": "select", "from": "Item", "input": {"orderBy": {"name": "asc"}}}),
            ADMIN,
        ),
    );
    names(&all)
}

fn audit_count(engine: &Engine) -> usize {
    ok(
        engine,
        owned(json!({"operation": "select", "from": "Audit Trail"}), ADMIN),
    )
    .data()
    .len()
}

fn unvalidated(mut request: Value) -> Value {
    request["options"] = json!({"validate": false});
    request
}

// --- item 2: options.validate: false ------------------------------------------------------

#[test]
fn skipping_validation_is_refused_to_users_without_the_privilege() {
    let engine = setup();
    ok(&engine, owned(item("I-1", "A"), "clerk"));
    let broken = json!({"operation": "create", "into": "Item", "input": {"data": {
        "name": "I-2", "code": "B", "status": "Bogus", "qty": "many", "customer": "nobody"}}});
    let run = fails(
        &engine,
        owned(unvalidated(broken.clone()), "clerk"),
        "PERMISSION_DENIED",
    );
    assert!(
        message(&run).contains("options.validate"),
        "{}",
        message(&run)
    );
    assert_eq!(
        run.error.unwrap().details["option"],
        json!("options.validate")
    );
    assert_eq!(item_names(&engine), ["I-1"]);
    // The superuser may skip the field rules ...
    ok(&engine, owned(unvalidated(broken), ADMIN));
    // ... but never `unique`. (An update never skips validation: BAD_REQUEST.)
    let run = fails(
        &engine,
        owned(unvalidated(item("I-3", "A")), ADMIN),
        "VALIDATION_FAILED",
    );
    assert_eq!(run.error.unwrap().details[0]["rule"], json!("unique"));
    // Nor a unique value the index could not hold.
    let run = fails(
        &engine,
        owned(
            unvalidated(json!({"operation": "create", "into": "Item",
                "input": {"data": {"name": "I-4", "code": {"an": "object"}}}})),
            ADMIN,
        ),
        "VALIDATION_FAILED",
    );
    assert_eq!(run.error.unwrap().details[0]["rule"], json!("unique"));
    assert_eq!(item_names(&engine), ["I-1", "I-2"]);
    // The original owner of `A` can still update their document.
    ok(
        &engine,
        owned(
            json!({"operation": "update", "in": "Item", "input": {"name": "I-1", "data": {"qty": 5}}}),
            "clerk",
        ),
    );
}

#[test]
fn roles_named_in_the_settings_may_skip_validation() {
    let engine = setup();
    let request = json!({"operation": "create", "into": "Item",
        "input": {"data": {"name": "I-9", "code": "Z", "qty": "lots"}}});
    fails(
        &engine,
        owned(unvalidated(request.clone()), "importer"),
        "PERMISSION_DENIED",
    );
    ok(
        &engine,
        owned(
            json!({"operation": "update", "in": "System Settings",
                   "input": {"name": "acl", "data": {"skipValidationRoles": ["Importer"]}}}),
            ADMIN,
        ),
    );
    ok(&engine, owned(unvalidated(request), "importer"));
    fails(
        &engine,
        owned(unvalidated(item("I-8", "X")), "clerk"),
        "PERMISSION_DENIED",
    );
}

#[test]
fn without_access_control_the_local_user_skips_validation_but_not_unique() {
    let engine = engine();
    let imported = engine.import_schemas(vec![json!({"doctype": "DocType", "name": "Item",
        "fields": [{"fieldname": "code", "fieldtype": "Data", "unique": 1},
                   {"fieldname": "qty", "fieldtype": "Int"}]})]);
    assert!(imported.success);
    ok(
        &engine,
        unvalidated(json!({"operation": "create", "into": "Item",
            "input": {"data": {"name": "a", "code": "A", "qty": "x"}}})),
    );
    let run = fails(
        &engine,
        unvalidated(json!({"operation": "create", "into": "Item",
            "input": {"data": {"name": "b", "code": "A"}}})),
        "VALIDATION_FAILED",
    );
    assert!(message(&run).contains("`code`"), "{}", message(&run));
}

// --- item 10: existence oracles -----------------------------------------------------------

#[test]
fn existence_oracles_are_the_documented_ones() {
    let engine = setup();
    // Links are checked whatever the user may read (as Frappe): `ann` cannot read
    // Customer, yet her Item may link to C-1, and a missing one is named as missing.
    let linked = json!({"operation": "create", "into": "Item",
        "input": {"data": {"name": "ann-1", "code": "AN1", "customer": "C-1"}}});
    ok(&engine, owned(linked, "ann"));
    let missing = fails(
        &engine,
        owned(
            json!({"operation": "create", "into": "Item",
                   "input": {"data": {"name": "ann-2", "code": "AN2", "customer": "C-404"}}}),
            "ann",
        ),
        "VALIDATION_FAILED",
    );
    assert!(message(&missing).contains("C-404"));
    // A unique conflict names the value, never the document holding it.
    ok(
        &engine,
        owned(
            json!({"operation": "create", "into": "Secret",
                   "input": {"data": {"name": "hidden-doc-name", "code": "S1"}}}),
            ADMIN,
        ),
    );
    let run = fails(
        &engine,
        owned(
            json!({"operation": "create", "into": "Secret",
                   "input": {"data": {"name": "mine", "code": "S1"}}}),
            "clerk",
        ),
        "VALIDATION_FAILED",
    );
    let text = serde_json::to_string(&run.error).unwrap();
    assert!(!text.contains("hidden-doc-name"), "{text}");
    assert!(text.contains("already exists"), "{text}");
}

// --- item 12: if_owner where --------------------------------------------------------------

#[test]
fn an_if_owner_where_reaches_only_the_owners_documents() {
    let engine = setup();
    ok(&engine, owned(item("ann-1", "A1"), "ann"));
    let bobs = json!({"operation": "create", "into": "Item",
        "input": {"data": {"name": "bob-secret", "code": "B1", "price": 4242}}});
    ok(&engine, owned(bobs, "bob"));
    // Bisecting on bob's price finds nothing: no refusal, no name, same as a miss.
    for dry_run in [false, true] {
        for op in [
            json!({"operation": "update", "in": "Item",
                   "input": {"where": {"price": {"gt": 4000}}, "data": {"qty": 9}}}),
            json!({"operation": "delete", "from": "Item",
                   "input": {"where": {"price": 4242}}}),
        ] {
            let mut request = owned(op, "ann");
            request["options"] = json!({"dryRun": dry_run});
            let run = ok(&engine, request);
            assert!(run.data().is_empty(), "{}", run.output);
            assert!(!run.output.to_string().contains("bob-secret"));
        }
    }
    // Her own documents still match.
    let mine = ok(
        &engine,
        owned(
            json!({"operation": "update", "in": "Item",
                   "input": {"where": {}, "data": {"qty": 3}}}),
            "ann",
        ),
    );
    assert_eq!(names(&mine), ["ann-1"]);
    assert_eq!(item_names(&engine), ["ann-1", "bob-secret"]);
}

// --- item 12: Link targets ----------------------------------------------------------------

fn link_store() -> Engine {
    let engine = engine();
    let imported = engine.import_schemas(vec![
        json!({"doctype": "DocType", "name": "Customer", "fields": [
            {"fieldname": "title", "fieldtype": "Data"}]}),
        json!({"doctype": "DocType", "name": "Sales Order", "fields": [
            {"fieldname": "customer", "fieldtype": "Link", "options": "Customer", "search_index": 1}]}),
        json!({"doctype": "DocType", "name": "Invoice", "fields": [
            {"fieldname": "customer", "fieldtype": "Link", "options": "Customer"},
            {"fieldname": "lines", "fieldtype": "Table", "options": "Invoice Line"}]}),
        json!({"doctype": "DocType", "name": "Invoice Line", "istable": 1, "fields": [
            {"fieldname": "billed_to", "fieldtype": "Link", "options": "Customer"}]}),
    ]);
    assert!(imported.success, "{:?}", imported.error);
    for name in ["C-1", "C-2", "C-3"] {
        ok(
            &engine,
            json!({"operation": "create", "into": "Customer", "input": {"data": {"name": name}}}),
        );
    }
    ok(
        &engine,
        json!({"operation": "create", "into": "Sales Order",
               "input": {"data": {"name": "SO-1", "customer": "C-1"}}}),
    );
    ok(
        &engine,
        json!({"operation": "create", "into": "Invoice",
               "input": {"data": {"name": "INV-1", "customer": "C-1"}}}),
    );
    ok(
        &engine,
        json!({"operation": "create", "into": "Invoice",
               "input": {"data": {"name": "INV-2", "lines": [{"billed_to": "C-2"}]}}}),
    );
    engine
}

#[test]
fn deleting_a_linked_document_is_a_conflict_naming_the_links() {
    let engine = link_store();
    let delete =
        |name: &str| json!({"operation": "delete", "from": "Customer", "input": {"name": name}});
    let run = fails(&engine, delete("C-1"), "CONFLICT");
    let text = message(&run);
    assert!(
        text.contains("Sales Order `SO-1`") && text.contains("Invoice `INV-1`"),
        "{text}"
    );
    let details = &run.error.as_ref().unwrap().details;
    assert_eq!(details["linkedFrom"].as_array().unwrap().len(), 2);
    // A link in a child row counts too; a dry run is refused the same way.
    let mut dry = delete("C-2");
    dry["options"] = json!({"dryRun": true});
    let run = fails(&engine, dry, "CONFLICT");
    assert!(message(&run).contains("INV-2") && message(&run).contains("lines.billed_to"));
    fails(&engine, delete("C-2"), "CONFLICT");
    // Deleting by a where that reaches a linked one deletes nothing.
    fails(
        &engine,
        json!({"operation": "delete", "from": "Customer", "input": {"where": {}}}),
        "CONFLICT",
    );
    assert_eq!(count(&engine, "Customer"), 3);
    // An unlinked one goes; once the links change, so does the target.
    ok(&engine, delete("C-3"));
    ok(
        &engine,
        json!({"operation": "update", "in": "Sales Order",
               "input": {"name": "SO-1", "data": {"customer": "C-2"}}}),
    );
    ok(
        &engine,
        json!({"operation": "delete", "from": "Invoice", "input": {"name": "INV-1"}}),
    );
    ok(&engine, delete("C-1"));
    // The documents that linked to it were never locked out.
    ok(
        &engine,
        json!({"operation": "update", "in": "Sales Order",
               "input": {"name": "SO-1", "data": {"customer": "C-2"}}}),
    );
}

#[test]
fn the_cli_refuses_to_delete_a_linked_document() {
    let store = TempStore::new();
    {
        let engine = store.open();
        let imported = engine.import_schemas(vec![
            json!({"doctype": "DocType", "name": "Customer", "fields": []}),
            json!({"doctype": "DocType", "name": "Sales Order", "fields": [
                {"fieldname": "customer", "fieldtype": "Link", "options": "Customer"}]}),
        ]);
        assert!(imported.success);
        ok(
            &engine,
            json!({"operation": "create", "into": "Customer", "input": {"data": {"name": "S-2026-0001"}}}),
        );
        ok(
            &engine,
            json!({"operation": "create", "into": "Sales Order",
                   "input": {"data": {"name": "SO-1", "customer": "S-2026-0001"}}}),
        );
    }
    let request =
        json!({"operation": "delete", "from": "Customer", "input": {"name": "S-2026-0001"}});
    let output = cli(&store.path)
        .args(["run", "--json", &request.to_string()])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let run = stdout_json(&output);
    assert_eq!(run["error"]["code"], json!("CONFLICT"));
    assert!(run["error"]["message"].as_str().unwrap().contains("SO-1"));
}

// --- item 12: unique over duplicates ------------------------------------------------------

#[test]
fn a_field_does_not_become_unique_over_duplicates() {
    let engine = engine();
    let schema = |unique: u8| {
        json!({"doctype": "DocType", "name": "Tag", "fields": [
            {"fieldname": "label", "fieldtype": "Data", "unique": unique}]})
    };
    assert!(engine.import_schemas(vec![schema(0)]).success);
    for (name, label) in [("t1", "red"), ("t2", "red"), ("t3", "blue")] {
        ok(
            &engine,
            json!({"operation": "create", "into": "Tag", "input": {"data": {"name": name, "label": label}}}),
        );
    }
    let mut data = schema(1);
    data.as_object_mut().unwrap().remove("doctype");
    data.as_object_mut().unwrap().remove("name");
    let change =
        json!({"operation": "update", "in": "Schema", "input": {"name": "Tag", "data": data}});
    let mut dry = change.clone();
    dry["options"] = json!({"dryRun": true});
    for request in [dry, change.clone()] {
        let run = fails(&engine, request, "VALIDATION_FAILED");
        let text = message(&run);
        assert!(
            text.contains("`t1`") && text.contains("`t2`") && !text.contains("t3"),
            "{text}"
        );
        assert_eq!(
            run.error.unwrap().details[0]["path"],
            json!("fields.label.unique")
        );
    }
    assert_eq!(
        engine.schema("Tag").unwrap().unwrap()["fields"][0]["unique"],
        json!(0)
    );
    // Every document stays updatable; once they differ the change goes through.
    ok(
        &engine,
        json!({"operation": "update", "in": "Tag", "input": {"name": "t2", "data": {"label": "green"}}}),
    );
    ok(&engine, change);
    fails(
        &engine,
        json!({"operation": "update", "in": "Tag", "input": {"name": "t3", "data": {"label": "red"}}}),
        "VALIDATION_FAILED",
    );
    // A new schema over documents already stored is checked the same way.
    for name in ["u1", "u2"] {
        ok(
            &engine,
            json!({"operation": "create", "into": "Untyped", "input": {"data": {"name": name, "k": 1}}}),
        );
    }
    let run = engine.import_schemas(vec![json!({"doctype": "DocType", "name": "Untyped",
        "fields": [{"fieldname": "k", "fieldtype": "Int", "unique": 1}]})]);
    assert_eq!(code(&run), "VALIDATION_FAILED", "{}", message(&run));
    assert!(engine.schema("Untyped").unwrap().is_none());
}

// --- item 13: the last superuser ----------------------------------------------------------

#[test]
fn the_last_superuser_keeps_the_role() {
    let engine = setup();
    let admin = |request: Value| engine.run_value(owned(request, ADMIN));
    for request in [
        json!({"operation": "update", "in": "User", "input": {"name": ADMIN, "data": {"roles": []}}}),
        json!({"operation": "update", "in": "User", "input": {"name": ADMIN, "data": {"enabled": 0}}}),
        json!({"operation": "delete", "from": "User", "input": {"name": ADMIN}}),
    ] {
        let run = admin(request.clone());
        assert_eq!(code(&run), "CONFLICT", "{request}: {:?}", run.error);
        assert!(message(&run).contains("last"), "{}", message(&run));
    }
    assert!(engine.acl_enabled().unwrap());
    // With a second superuser, the first may step down.
    let run = admin(json!({"operation": "create", "into": "User",
        "input": {"data": {"name": "root", "roles": [ADMIN]}}}));
    assert!(run.success, "{:?}", run.error);
    let run = admin(json!({"operation": "update", "in": "User",
        "input": {"name": ADMIN, "data": {"roles": []}}}));
    assert!(run.success, "{:?}", run.error);
    let run = engine.run_value(owned(
        json!({"operation": "delete", "from": "User", "input": {"name": "root"}}),
        "root",
    ));
    assert_eq!(code(&run), "CONFLICT");
}

// --- item 8: dry runs ---------------------------------------------------------------------

#[test]
fn a_dry_run_writes_nothing_but_its_run_record() {
    let engine = setup();
    let before = audit_count(&engine);
    let mut invalid = owned(
        json!({"operation": "create", "into": "Item",
               "input": {"data": {"name": "x", "status": "Bogus"}}}),
        "clerk",
    );
    invalid["options"] = json!({"dryRun": true});
    let run = fails(&engine, invalid.clone(), "VALIDATION_FAILED");
    let mut denied = owned(
        json!({"operation": "delete", "from": "Customer", "input": {"name": "C-1"}}),
        "clerk",
    );
    denied["options"] = json!({"dryRun": true});
    let denied_run = fails(&engine, denied, "PERMISSION_DENIED");
    assert_eq!(
        audit_count(&engine),
        before,
        "a dry run added audit entries"
    );
    // Its run records are kept.
    assert_eq!(stored(&engine, &run.id).status, coworker::RunStatus::Failed);
    stored(&engine, &denied_run.id);
    // The same request for real is audited.
    invalid["options"] = json!({});
    fails(&engine, invalid, "VALIDATION_FAILED");
    assert_eq!(audit_count(&engine), before + 1);
}

// --- item 8: run history ------------------------------------------------------------------

#[test]
fn runs_are_read_back_with_the_readers_permissions() {
    let engine = setup();
    let anns = ok(&engine, owned(item("ann-1", "A1"), "ann"));
    let bobs = ok(&engine, owned(item("bob-1", "B1"), "bob"));
    let bobs_flow = ok(
        &engine,
        owned(
            json!({"operation": "workflow", "input": {"children": [
                {"id": "s", "operation": "select", "from": "Item"}]}}),
            "bob",
        ),
    );
    let ann = engine.with_owner("ann");
    // Her own run, not bob's.
    assert_eq!(ann.get_run(&anns.id).unwrap().unwrap().id, anns.id);
    let refused = ann.get_run(&bobs.id).unwrap_err();
    assert_eq!(refused.code(), ErrorCode::PermissionDenied);
    assert!(!refused.to_string().contains("bob"), "{refused}");
    assert_eq!(
        ann.run_tree(&bobs_flow.id).unwrap_err().code(),
        ErrorCode::PermissionDenied
    );
    let listed = ann.list_runs(&RunQuery::default()).unwrap();
    assert!(!listed.is_empty());
    assert!(
        listed.iter().all(|r| r.owner.as_deref() == Some("ann")),
        "{:?}",
        listed.iter().map(|r| &r.owner).collect::<Vec<_>>()
    );
    let asked_for_bob = RunQuery {
        owner: Some("bob".into()),
        ..Default::default()
    };
    assert!(ann.list_runs(&asked_for_bob).unwrap().is_empty());
    // The superuser, the host's own handle, and a role granted read on `Run` see all.
    for reader in [engine.with_owner(ADMIN), engine.clone()] {
        assert_eq!(reader.get_run(&bobs.id).unwrap().unwrap().id, bobs.id);
        let tree = reader.run_tree(&bobs_flow.id).unwrap().unwrap();
        assert_eq!(tree.children.len(), 1);
        assert!(reader.list_runs(&asked_for_bob).unwrap().len() >= 2);
    }
    let granted = engine.with_owner(ADMIN).import_schemas(vec![json!({
        "doctype": "DocType", "name": "Run", "fields": [],
        "permissions": [{"role": "Sales User", "read": 1}]})]);
    assert!(granted.success, "{:?}", granted.error);
    assert_eq!(ann.get_run(&bobs.id).unwrap().unwrap().id, bobs.id);
    // Without access control everything stays visible.
    let local = self::engine();
    let run = ok(
        &local,
        json!({"operation": "select", "from": "Item", "owner": "bob"}),
    );
    assert!(local.with_owner("ann").get_run(&run.id).unwrap().is_some());
}

fn cli_as(db: &std::path::Path, user: &str, args: &[&str]) -> Output {
    cli(db)
        .env_remove("COWORKER_USER")
        .args(["--as", user])
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn the_cli_shows_runs_only_to_those_who_may_see_them() {
    let store = TempStore::new();
    let (anns, bobs) = {
        let engine = store.open();
        engine.enable_acl(ADMIN, None).unwrap();
        let admin = engine.with_owner(ADMIN);
        for user in ["ann", "bob"] {
            ok(
                &admin,
                json!({"operation": "create", "into": "User",
                       "input": {"data": {"name": user, "roles": ["Sales User"]}}}),
            );
        }
        let anns = engine.run_value(json!({"operation": "select", "from": "Note", "owner": "ann"}));
        let bobs = engine.run_value(json!({"operation": "workflow", "owner": "bob",
            "input": {"children": [{"id": "s", "operation": "select", "from": "Note"}]}}));
        (anns.id, bobs.id)
    };
    for args in [["runs", "show", &bobs], ["runs", "tree", &bobs]] {
        let output = cli_as(&store.path, "ann", &args);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("may not see run"), "{stderr}");
        assert!(output.stdout.is_empty());
    }
    let output = cli_as(&store.path, "ann", &["runs", "show", &anns]);
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(stdout_json(&output)["id"], json!(anns));
    let output = cli_as(&store.path, "ann", &["runs", "list"]);
    let listed = stdout_json(&output);
    let owners: Vec<&Value> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["owner"])
        .collect();
    assert!(
        !owners.is_empty() && owners.iter().all(|o| *o == "ann"),
        "{owners:?}"
    );
    let output = cli_as(&store.path, "bob", &["runs", "tree", &bobs]);
    assert_eq!(output.status.code(), Some(0));
    let output = cli_as(&store.path, ADMIN, &["runs", "list"]);
    let all = stdout_json(&output);
    assert!(all.as_array().unwrap().iter().any(|r| r["owner"] == "bob"));
}

// --- item 9: identity ---------------------------------------------------------------------

#[test]
fn a_pinned_owner_cannot_be_overridden_by_the_request() {
    let engine = setup();
    let bob = engine.pin_owner("bob");
    let run = bob.run_value(json!({"operation": "select", "from": "Item", "owner": "alice"}));
    assert_eq!(code(&run), "PERMISSION_DENIED");
    assert!(message(&run).contains("bob") && message(&run).contains("alice"));
    assert_eq!(run.owner.as_deref(), Some("bob"));
    assert_eq!(stored(&engine, &run.id).owner.as_deref(), Some("bob"));
    // A request that does not parse is recorded as bob's too.
    let run = bob.run_value(json!({"operation": 5, "owner": "alice"}));
    assert_eq!(run.owner.as_deref(), Some("bob"));
    let run = bob.run_json("{not json");
    assert_eq!(run.owner.as_deref(), Some("bob"));
    assert_eq!(bob.get_run(&run.id).unwrap().unwrap().id, run.id);
    assert!(
        bob.run_value(json!({"operation": "select", "from": "Item", "owner": "bob"}))
            .success
    );
    // The unpinned handle trusts the request's owner: that is what pinning is for.
    let trusted = engine
        .with_owner("bob")
        .run_value(json!({"operation": "select", "from": "Item", "owner": "ann"}));
    assert_eq!(trusted.owner.as_deref(), Some("ann"));
}

#[test]
fn the_cli_pins_the_as_user_and_says_it_is_not_authentication() {
    let store = TempStore::new();
    {
        let engine = store.open();
        engine.enable_acl(ADMIN, None).unwrap();
        ok(
            &engine.with_owner(ADMIN),
            json!({"operation": "create", "into": "User", "input": {"data": {"name": "bob", "roles": []}}}),
        );
    }
    let request = json!({"operation": "select", "from": "Note", "owner": ADMIN});
    let output = cli_as(&store.path, "bob", &["run", "--json", &request.to_string()]);
    assert_eq!(output.status.code(), Some(1));
    let run = stdout_json(&output);
    assert_eq!(run["error"]["code"], json!("PERMISSION_DENIED"));
    assert_eq!(run["owner"], json!("bob"));
    let help = cli(&store.path).arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(help.contains("not authentication"), "{help}");
}

// --- item 13: acl disable -----------------------------------------------------------------

#[test]
fn acl_disable_acts_as_the_as_user() {
    let store = TempStore::new();
    let enable = cli(&store.path)
        .env_remove("COWORKER_USER")
        .args(["acl", "enable", "--admin", "root"])
        .output()
        .unwrap();
    assert_eq!(enable.status.code(), Some(0));
    // Without --as or --admin it says who it acted as and how to choose.
    let output = cli(&store.path)
        .env_remove("COWORKER_USER")
        .args(["acl", "disable"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("Administrator") && stderr.contains("--as"),
        "{stderr}"
    );
    let output = cli_as(&store.path, "root", &["acl", "disable"]);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(stdout_json(&output), json!({"enabled": false}));
}

// --- item 8: children of a rolled-back tree -----------------------------------------------

#[test]
fn the_children_of_a_rolled_back_tree_are_recorded_as_rolled_back() {
    let store = TempStore::new();
    let (flow, first) = {
        let engine = store.open();
        let flow = engine.run_value(json!({"operation": "workflow", "input": {"children": [
            {"id": "a", "operation": "create", "into": "Note", "input": {"data": {"name": "n1"}}},
            {"id": "b", "operation": "update", "in": "Note",
             "input": {"name": "missing", "data": {"t": 1}}}]}}));
        assert_eq!(code(&flow), "NOT_FOUND");
        assert_eq!(count(&engine, "Note"), 0);
        let tree = engine.run_tree(&flow.id).unwrap().unwrap();
        let (a, b) = (&tree.children[0].run, &tree.children[1].run);
        assert!(
            a.success && a.rolled_back,
            "the step's create was taken back"
        );
        assert!(!b.success && !b.rolled_back);
        assert!(!tree.run.rolled_back);
        assert_eq!(a.to_value()["rolledBack"], json!(true));
        // A run that stands keeps `rolledBack: false`.
        let kept = ok(
            &engine,
            json!({"operation": "create", "into": "Note", "input": {"data": {"name": "n2"}}}),
        );
        assert!(!stored(&engine, &kept.id).rolled_back);
        (flow.id, a.id.clone())
    };
    let output = cli(&store.path)
        .args(["runs", "show", &first])
        .output()
        .unwrap();
    assert_eq!(stdout_json(&output)["rolledBack"], json!(true));
    let output = cli(&store.path)
        .args(["runs", "tree", &flow])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    let line = text.lines().find(|l| l.contains("[a]")).unwrap();
    assert!(line.trim_start().starts_with("UNDO"), "{text}");
}

#[test]
fn a_failed_attempt_of_a_rescued_map_step_is_recorded_as_rolled_back() {
    let engine = engine();
    let flow = engine.run_value(json!({"operation": "workflow", "input": {"children": [
        {"id": "m", "map": "{{input.items}}", "steps": [
            {"id": "c", "operation": "create", "into": "Note", "input": {"data": {"name": "{{item}}"}}}],
         "onError": {"operation": "select", "from": "Note"}}],
        "items": ["x", "x"]}}));
    // The workflow stands (the map was rescued); the map's attempt did not.
    assert!(flow.success, "{:?}", flow.error);
    assert_eq!(count(&engine, "Note"), 0);
    let tree = engine.run_tree(&flow.id).unwrap().unwrap();
    let completed: Vec<&Run> = tree
        .children
        .iter()
        .map(|c| &c.run)
        .filter(|r| r.success)
        .collect();
    let (creates, rescue): (Vec<&Run>, Vec<&Run>) = completed
        .into_iter()
        .partition(|r| r.operation.as_deref() == Some("create"));
    assert_eq!(creates.len(), 1);
    assert!(creates[0].rolled_back, "the map's create was taken back");
    assert_eq!(rescue.len(), 1);
    assert!(!rescue[0].rolled_back, "the rescue stands");
}

#[test]
fn a_dangling_link_stored_earlier_does_not_lock_its_document() {
    let engine = link_store();
    // What an earlier version (or a trusted import) could store: a link to nothing.
    ok(
        &engine,
        unvalidated(json!({"operation": "create", "into": "Sales Order",
            "input": {"data": {"name": "SO-9", "customer": "C-gone"}}})),
    );
    ok(
        &engine,
        json!({"operation": "update", "in": "Sales Order",
               "input": {"name": "SO-9", "data": {"customer": "C-gone"}}}),
    );
    let run = fails(
        &engine,
        json!({"operation": "update", "in": "Sales Order",
               "input": {"name": "SO-9", "data": {"customer": "C-404"}}}),
        "VALIDATION_FAILED",
    );
    assert!(message(&run).contains("C-404"));
    ok(
        &engine,
        json!({"operation": "update", "in": "Sales Order",
               "input": {"name": "SO-9", "data": {"customer": "C-3"}}}),
    );
}

#[test]
fn a_link_added_by_a_later_schema_protects_its_target_too() {
    let engine = engine();
    assert!(
        engine
            .import_schemas(vec![
                json!({"doctype": "DocType", "name": "Customer", "fields": []})
            ])
            .success
    );
    for name in ["C-1", "C-2"] {
        ok(
            &engine,
            json!({"operation": "create", "into": "Customer", "input": {"data": {"name": name}}}),
        );
    }
    // Nothing links to Customer yet (what a delete learns is cached per schema version).
    ok(
        &engine,
        json!({"operation": "delete", "from": "Customer", "input": {"name": "C-1"}}),
    );
    // One run adds the linking schema and a document, then deletes the target: refused.
    let flow = engine.run_value(json!({"operation": "workflow", "input": {"children": [
        {"id": "s", "operation": "create", "into": "Schema", "input": {"data": {
            "name": "Visit", "fields": [
                {"fieldname": "customer", "fieldtype": "Link", "options": "Customer"}]}}},
        {"id": "v", "operation": "create", "into": "Visit",
         "input": {"data": {"name": "V-1", "customer": "C-2"}}},
        {"id": "d", "operation": "delete", "from": "Customer", "input": {"name": "C-2"}}]}}));
    assert_eq!(code(&flow), "CONFLICT", "{:?}", flow.error);
    // And once committed, from then on.
    ok(
        &engine,
        json!({"operation": "create", "into": "Schema", "input": {"data": {
            "name": "Visit", "fields": [
                {"fieldname": "customer", "fieldtype": "Link", "options": "Customer"}]}}}),
    );
    ok(
        &engine,
        json!({"operation": "create", "into": "Visit", "input": {"data": {"name": "V-1", "customer": "C-2"}}}),
    );
    fails(
        &engine,
        json!({"operation": "delete", "from": "Customer", "input": {"name": "C-2"}}),
        "CONFLICT",
    );
}
