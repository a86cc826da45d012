//! Story: documents under the audit chain. Every entry that writes a document carries the
//! digest of the bytes stored (`docDigest`) and a delete entry the deleted document
//! (`snapshot`); `coworker audit verify --documents` finds a document changed, removed or
//! put back behind the engine's back, naming its doctype, name and last entry; `coworker
//! restore DOCTYPE NAME` brings a deleted document back as a new audited create.

use crate::harness::{TempStore, cli, fails, flip, ok, stdout_json, violations};
use coworker::{Engine, Problem};
use redb::{ReadableDatabase, TableDefinition};
use serde_json::{Value, json};
use std::path::Path;

/// The engine's documents table, as the store file holds it: key `doctype \0 name`.
const DOCS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("docs");

fn doc_key(doctype: &str, name: &str) -> Vec<u8> {
    [doctype.as_bytes(), &[0], name.as_bytes()].concat()
}

/// Behind the engine's back (it is closed): change the documents table with `edit`.
fn edit_docs(path: &Path, edit: impl FnOnce(&mut redb::Table<&[u8], &[u8]>)) {
    let db = redb::Database::open(path).expect("the store file opens with redb");
    let txn = db.begin_write().unwrap();
    {
        let mut docs = txn.open_table(DOCS).unwrap();
        edit(&mut docs);
    }
    txn.commit().unwrap();
}

/// A document's stored bytes, read behind the engine's back.
fn stored_bytes(path: &Path, doctype: &str, name: &str) -> Option<Vec<u8>> {
    let db = redb::Database::open(path).unwrap();
    let txn = db.begin_read().unwrap();
    let docs = txn.open_table(DOCS).unwrap();
    let key = doc_key(doctype, name);
    docs.get(key.as_slice())
        .unwrap()
        .map(|v| v.value().to_vec())
}

/// The audit entries about one document, oldest first.
fn entries_of(engine: &Engine, doctype: &str, name: &str) -> Vec<Value> {
    let run = ok(
        engine,
        json!({"operation": "select", "from": "Audit Trail",
            "input": {"where": {"refDoctype": doctype, "refName": name}, "orderBy": {"seq": "asc"}}}),
    );
    run.data().to_vec()
}

/// `audit verify --documents` through the CLI: its exit code and report.
fn verify_cli(path: &Path) -> (i32, Value) {
    let output = cli(path)
        .args(["audit", "verify", "--documents"])
        .output()
        .unwrap();
    (output.status.code().unwrap(), stdout_json(&output))
}

/// Notes `n1`..`n3` (n2 updated, n3 deleted) and a Task, in a store file.
fn notes(store: &TempStore) {
    let engine = store.open();
    for i in 1..=3 {
        ok(
            &engine,
            json!({"operation": "create", "into": "Note",
                "input": {"data": {"name": format!("n{i}"), "text": format!("note number {i}")}}}),
        );
    }
    ok(
        &engine,
        json!({"operation": "update", "in": "Note", "input": {"name": "n2", "data": {"text": "changed"}}}),
    );
    ok(
        &engine,
        json!({"operation": "delete", "from": "Note", "input": {"name": "n3"}}),
    );
    ok(
        &engine,
        json!({"operation": "create", "into": "Task", "input": {"data": {"name": "t1", "done": false}}}),
    );
}

#[test]
fn entries_carry_the_digest_of_the_stored_document_and_a_delete_its_snapshot() {
    let store = TempStore::new();
    notes(&store);
    let engine = store.open();
    let n2 = entries_of(&engine, "Note", "n2");
    let n3 = entries_of(&engine, "Note", "n3");
    drop(engine);
    let digest = |bytes: &[u8]| {
        use sha2::Digest;
        sha2::Sha256::digest(bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    };
    let stored = stored_bytes(&store.path, "Note", "n2").unwrap();
    assert_eq!(n2[1]["action"], "update");
    assert_eq!(
        n2[1]["docDigest"],
        digest(&stored),
        "the last entry's digest"
    );
    assert_ne!(n2[0]["docDigest"], n2[1]["docDigest"]);
    assert_eq!(n3[1]["action"], "delete");
    assert_eq!(n3[1]["snapshot"]["text"], "note number 3");
    assert_eq!(n3[1]["snapshot"]["name"], "n3");
    assert_eq!(n3[0]["docDigest"].as_str().unwrap().len(), 64);
}

#[test]
fn a_clean_store_passes_and_counts_every_document() {
    let store = TempStore::new();
    notes(&store);
    let report = store.open().verify_documents().unwrap();
    assert!(report.ok(), "{report:?}");
    assert_eq!(report.verified, 3, "n1, n2 and t1");
    assert_eq!(report.unverifiable, 0);
    assert!(report.seeded > 0, "schemas and operations the engine seeds");
    assert_eq!(report.documents, report.verified + report.seeded);
    let (code, json) = verify_cli(&store.path);
    assert_eq!(code, 0, "{json}");
    assert_eq!(json["chain"]["broken"], Value::Null);
    assert_eq!(json["mismatches"], 0);
}

#[test]
fn a_byte_changed_in_a_live_document_is_named_with_its_last_entry() {
    let store = TempStore::new();
    notes(&store);
    let engine = store.open();
    let last_seq = entries_of(&engine, "Note", "n2")[1]["seq"].clone();
    drop(engine);
    // "changed" → "chanGed": only the document holds this text as its value.
    assert!(flip(&store.path, br#""text":"changed""#, 12, b'G') >= 1);
    let (code, json) = verify_cli(&store.path);
    assert_eq!(code, 1, "{json}");
    assert_eq!(
        json["chain"]["broken"],
        Value::Null,
        "the chain itself holds"
    );
    assert_eq!(json["mismatches"], 1, "{json}");
    let found = &json["listed"][0];
    assert_eq!(found["doctype"], "Note");
    assert_eq!(found["name"], "n2");
    assert_eq!(found["seq"], last_seq);
    assert_eq!(found["problem"], "digestDiffers");
    assert!(
        found["reason"]
            .as_str()
            .unwrap()
            .contains("changed outside the engine"),
        "{found}"
    );
}

#[test]
fn documents_removed_put_back_or_added_behind_the_engines_back_are_named() {
    let store = TempStore::new();
    notes(&store);
    let engine = store.open();
    let snapshot = entries_of(&engine, "Note", "n3")[1]["snapshot"].clone();
    drop(engine);
    edit_docs(&store.path, |docs| {
        docs.remove(doc_key("Note", "n1").as_slice()).unwrap();
        let back = serde_json::to_vec(&snapshot).unwrap();
        docs.insert(doc_key("Note", "n3").as_slice(), back.as_slice())
            .unwrap();
        docs.insert(
            doc_key("Note", "forged").as_slice(),
            br#"{"doctype":"Note","name":"forged"}"#.as_slice(),
        )
        .unwrap();
    });
    let report = store.open().verify_documents().unwrap();
    assert!(!report.ok());
    assert_eq!(report.mismatches, 3, "{report:?}");
    let found = |name: &str| {
        report
            .listed
            .iter()
            .find(|m| m.name == name)
            .unwrap_or_else(|| panic!("{name} is named: {report:?}"))
    };
    assert_eq!(found("n1").problem, Problem::Missing);
    assert_eq!(found("n1").seq, Some(1), "n1's create is entry 1");
    assert_eq!(found("n3").problem, Problem::DeletedButExists);
    assert!(found("n3").seq.is_some());
    assert_eq!(found("forged").problem, Problem::NoEntry);
    assert_eq!(found("forged").seq, None);
    assert_eq!(report.verified, 2, "n2 and t1 still check out");
}

#[test]
fn an_old_store_reports_unverifiable_counts_not_failures() {
    let store = TempStore::new();
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/stores");
    std::fs::copy(fixtures.join("before_issue14.redb"), &store.path).unwrap();
    let (code, json) = verify_cli(&store.path);
    assert_eq!(code, 0, "{json}");
    assert_eq!(json["mismatches"], 0, "{json}");
    assert!(json["unverifiable"].as_u64().unwrap() > 0, "{json}");
    assert_eq!(json["verified"], 0, "{json}");
    // A document written now is verified beside the old ones.
    let engine = store.open();
    ok(
        &engine,
        json!({"operation": "create", "into": "Note", "input": {"data": {"name": "new-one"}}}),
    );
    let report = engine.verify_documents().unwrap();
    assert!(report.ok(), "{report:?}");
    assert_eq!(report.verified, 1);
}

#[test]
fn a_deleted_document_is_restored_by_the_cli_as_an_audited_create_and_verifies() {
    let store = TempStore::new();
    notes(&store);
    let engine = store.open();
    let created = entries_of(&engine, "Note", "n3");
    let original = created[1]["snapshot"].clone();
    let delete_seq = created[1]["seq"].clone();
    drop(engine);

    let output = cli(&store.path)
        .args(["restore", "Note", "n3"])
        .output()
        .unwrap();
    let run = stdout_json(&output);
    assert_eq!(output.status.code(), Some(0), "{run}");
    assert_eq!(run["operation"], "restore");
    let doc = &run["output"]["data"][0];
    assert_eq!(doc["text"], "note number 3");
    // The lineage stays the original's; the modification is the restore's.
    for kept in ["creation", "owner", "createdByRun"] {
        assert_eq!(doc[kept], original[kept], "{kept}");
    }
    assert_eq!(doc["modifiedByRun"], run["id"]);
    assert_ne!(doc["modified"], original["modified"]);

    let engine = store.open();
    let entries = entries_of(&engine, "Note", "n3");
    let restored = entries.last().unwrap();
    assert_eq!(restored["action"], "create");
    assert_eq!(restored["restoredFrom"], delete_seq);
    assert_eq!(restored["runId"], run["id"]);
    let recorded = engine.get_run(run["id"].as_str().unwrap()).unwrap();
    assert!(recorded.unwrap().success, "the restore's run is recorded");
    let report = engine.verify_documents().unwrap();
    assert!(report.ok(), "{report:?}");
    assert_eq!(report.verified, 4);

    // Deleted again, it restores from the newer delete entry.
    ok(
        &engine,
        json!({"operation": "delete", "from": "Note", "input": {"name": "n3"}}),
    );
    let again = ok(
        &engine,
        json!({"operation": "restore", "into": "Note", "input": {"name": "n3"}}),
    );
    assert_eq!(again.data()[0]["modifiedByRun"], json!(again.id));
    let entries = entries_of(&engine, "Note", "n3");
    assert_eq!(
        entries.last().unwrap()["restoredFrom"],
        entries[entries.len() - 2]["seq"]
    );
}

#[test]
fn restore_refuses_with_documented_codes() {
    let store = TempStore::new();
    notes(&store);
    let engine = store.open();
    // The document exists.
    fails(
        &engine,
        json!({"operation": "restore", "into": "Note", "input": {"name": "n1"}}),
        "CONFLICT",
    );
    // No entry at all.
    fails(
        &engine,
        json!({"operation": "restore", "into": "Note", "input": {"name": "never"}}),
        "NOT_FOUND",
    );
    fails(
        &engine,
        json!({"operation": "restore", "into": "Note", "input": {}}),
        "BAD_REQUEST",
    );
    // A document whose body could not be read was deleted as a stub: no snapshot.
    drop(engine);
    assert!(flip(&store.path, br#""text":"note number 1""#, 0, b'!') >= 1);
    let engine = store.open();
    ok(
        &engine,
        json!({"operation": "delete", "from": "Note", "input": {"name": "n1"}}),
    );
    let refused = fails(
        &engine,
        json!({"operation": "restore", "into": "Note", "input": {"name": "n1"}}),
        "VALIDATION_FAILED",
    );
    assert_eq!(
        violations(&refused),
        vec![("snapshot".to_string(), "snapshot".to_string())]
    );
    // Removed behind the engine's back: its last entry is no delete.
    drop(engine);
    edit_docs(&store.path, |docs| {
        docs.remove(doc_key("Task", "t1").as_slice()).unwrap();
    });
    let engine = store.open();
    let refused = fails(
        &engine,
        json!({"operation": "restore", "into": "Task", "input": {"name": "t1"}}),
        "NOT_FOUND",
    );
    assert!(
        refused
            .error
            .unwrap()
            .message
            .contains("not deleted by the engine")
    );
    // Through the CLI, a refusal exits 1.
    drop(engine);
    let output = cli(&store.path)
        .args(["restore", "Note", "n2"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(stdout_json(&output)["error"]["code"], "CONFLICT");
}

#[test]
fn a_restore_passes_todays_validation() {
    let engine = crate::harness::engine();
    let schema = |fields: Value| json!({"doctype": "DocType", "name": "Book", "fields": fields});
    let imported = engine.import_schemas(vec![schema(json!([
        {"fieldname": "title", "fieldtype": "Data", "reqd": 1}]))]);
    assert!(imported.success, "{:?}", imported.error);
    ok(
        &engine,
        json!({"operation": "create", "into": "Book", "input": {"data": {"name": "b1", "title": "Dune"}}}),
    );
    ok(
        &engine,
        json!({"operation": "delete", "from": "Book", "input": {"name": "b1"}}),
    );
    // The schema now requires a field the snapshot lacks.
    ok(
        &engine,
        json!({"operation": "update", "in": "Schema", "input": {"name": "Book", "data": {"fields": [
            {"fieldname": "title", "fieldtype": "Data", "reqd": 1},
            {"fieldname": "isbn", "fieldtype": "Data", "reqd": 1}]}}}),
    );
    let refused = fails(
        &engine,
        json!({"operation": "restore", "into": "Book", "input": {"name": "b1"}}),
        "VALIDATION_FAILED",
    );
    assert_eq!(
        violations(&refused),
        vec![("isbn".to_string(), "reqd".to_string())]
    );
    assert_eq!(crate::harness::count(&engine, "Book"), 0, "nothing written");
}

#[test]
fn a_submittable_document_comes_back_in_the_state_it_was_deleted_in() {
    let engine = crate::harness::engine();
    let imported = engine.import_schemas(vec![json!({"doctype": "DocType", "name": "Order",
        "is_submittable": 1, "fields": [
            {"fieldname": "total", "fieldtype": "Int"},
            {"fieldname": "amended_from", "fieldtype": "Link", "options": "Order"}]})]);
    assert!(imported.success, "{:?}", imported.error);
    for name in ["draft", "cancelled"] {
        ok(
            &engine,
            json!({"operation": "create", "into": "Order", "input": {"data": {"name": name, "total": 5}}}),
        );
    }
    ok(
        &engine,
        json!({"operation": "submit", "in": "Order", "input": {"name": "cancelled"}}),
    );
    ok(
        &engine,
        json!({"operation": "cancel", "in": "Order", "input": {"name": "cancelled"}}),
    );
    for name in ["draft", "cancelled"] {
        ok(
            &engine,
            json!({"operation": "delete", "from": "Order", "input": {"name": name}}),
        );
        ok(
            &engine,
            json!({"operation": "restore", "into": "Order", "input": {"name": name}}),
        );
    }
    let status = |name: &str| {
        let run = ok(
            &engine,
            json!({"operation": "select", "from": "Order", "input": {"where": {"name": name}}}),
        );
        run.data()[0]["docstatus"].clone()
    };
    assert_eq!(status("draft"), json!(0));
    assert_eq!(
        status("cancelled"),
        json!(2),
        "a cancelled document stays cancelled"
    );
    // Still cancelled: it cannot be submitted again, and can be amended.
    fails(
        &engine,
        json!({"operation": "submit", "in": "Order", "input": {"name": "cancelled"}}),
        "IMMUTABLE",
    );
    ok(
        &engine,
        json!({"operation": "amend", "in": "Order", "input": {"name": "cancelled"}}),
    );
    let report = engine.verify_documents().unwrap();
    assert!(report.ok(), "{report:?}");
}
