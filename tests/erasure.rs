//! Story: GDPR erasure without breaking the audit chain. The superuser erases a person's
//! fields: the document's values become null, the values disappear from the run records and
//! from the audit entries' payloads (a redacted part keeps its salted digest), an `erase`
//! entry per document and one `erasure` event record who, why and what (never the values),
//! and `audit verify` still passes, listing the redacted entries as redacted. A forged
//! digest is still caught; bad requests are refused with nothing written; entries written
//! before format 2 still verify and are skipped (and counted) by erasure.

use crate::harness::*;
use coworker::Engine;
use serde_json::{Value, json};
use std::path::Path;

const SECRET: &str = "ann.secret@example.com";
const SECRET2: &str = "ann.moved@example.com";

fn customers(engine: &Engine) -> Vec<String> {
    let imported = engine.import_schemas(vec![json!({"name": "Customer", "fields": [
        {"fieldname": "email", "fieldtype": "Data", "reqd": 1},
        {"fieldname": "city", "fieldtype": "Data"}]})]);
    assert!(imported.success, "{:?}", imported.error);
    let mut runs = Vec::new();
    for (name, email) in [("c1", SECRET), ("c2", "bob@example.com")] {
        let run = ok(
            engine,
            json!({"operation": "create", "into": "Customer",
                   "input": {"data": {"name": name, "email": email, "city": "Paris"}}}),
        );
        runs.push(run.id);
    }
    let run = ok(
        engine,
        json!({"operation": "update", "in": "Customer",
               "input": {"name": "c1", "data": {"email": SECRET2}}}),
    );
    runs.push(run.id);
    runs
}

fn all_entries(engine: &Engine) -> Vec<Value> {
    ok(
        engine,
        json!({"operation": "select", "from": "Audit Trail",
               "input": {"orderBy": {"seq": "asc"}}}),
    )
    .data()
    .to_vec()
}

fn erase_c1(engine: &Engine) -> coworker::Run {
    ok(
        engine,
        json!({"operation": "erase", "in": "Customer",
               "input": {"name": "c1", "fields": ["email"], "reason": "GDPR request 42"}}),
    )
}

fn holds_secret(value: &impl serde::Serialize) -> bool {
    let text = serde_json::to_string(value).unwrap();
    text.contains("ann.secret") || text.contains("ann.moved")
}

#[test]
fn erasure_then_verify_reports_redacted_entries_not_a_broken_chain() {
    let engine = engine();
    let runs = customers(&engine);
    assert!(all_entries(&engine).iter().any(holds_secret));
    let before = engine.verify_audit().unwrap();
    assert_eq!((before.broken.clone(), before.redacted), (None, 0));

    let erased = erase_c1(&engine);
    assert_eq!(erased.output["documents"], json!(1));
    assert!(erased.output["auditEntriesRedacted"].as_u64().unwrap() >= 1);
    assert!(erased.output["runRecordsRedacted"].as_u64().unwrap() >= 2);

    // The document: the field is null, the others stay.
    let doc = ok(
        &engine,
        json!({"operation": "select", "from": "Customer", "input": {"where": {"name": "c1"}}}),
    )
    .data()[0]
        .clone();
    assert_eq!(doc["email"], Value::Null);
    assert_eq!(doc["city"], json!("Paris"));
    // The audit trail: no entry holds the values; the chain verifies, redacted entries named.
    let entries = all_entries(&engine);
    for entry in &entries {
        assert!(!holds_secret(entry), "{entry}");
    }
    let report = engine.verify_audit().unwrap();
    assert_eq!(report.broken, None, "{report:?}");
    assert_eq!(report.entries, entries.len() as u64);
    assert!(report.redacted >= 1);
    assert_eq!(
        json!(report.redacted_seqs),
        erased.output["redactedSeqs"],
        "verify lists what the erasure redacted"
    );
    let update = entries
        .iter()
        .find(|e| e["action"] == "update" && e["refName"] == "c1")
        .unwrap();
    assert_eq!(update["diff"]["redacted"], json!(true));
    assert_eq!(update["diff"]["digest"].as_str().unwrap().len(), 64);
    assert!(update.get("salts").is_none_or(|s| s.get("diff").is_none()));
    assert!(
        report
            .redacted_seqs
            .contains(&update["seq"].as_u64().unwrap())
    );
    // The run records of the runs that wrote the document.
    for id in &runs {
        assert!(!holds_secret(&stored(&engine, id)), "run {id}");
    }
    // c2 is untouched.
    let c2 = stored(&engine, &runs[1]);
    assert_eq!(c2.input["data"]["email"], json!("bob@example.com"));
    // The erase entry and the erasure event: who, why, what, never the values.
    let erase = entries.iter().find(|e| e["action"] == "erase").unwrap();
    assert_eq!(erase["refName"], json!("c1"));
    assert_eq!(erase["fields"], json!(["email"]));
    let event = entries.iter().find(|e| e["action"] == "erasure").unwrap();
    assert_eq!(event["reason"], json!("GDPR request 42"));
    assert_eq!(event["names"], json!(["c1"]));
    assert_eq!(event["fields"], json!(["email"]));
    assert_eq!(event["runId"], json!(erased.id));
    // The documents still match their last entries.
    let documents = engine.verify_documents().unwrap();
    assert!(documents.ok(), "{documents:?}");
}

#[test]
fn the_cli_erases_and_verify_says_redacted_and_compact_takes_the_value_off_the_file() {
    let store = TempStore::new();
    let runs = customers(&store.open());
    let output = cli(&store.path)
        .args(["erase", "Customer", "--name", "c1", "--field", "email"])
        .args(["--reason", "GDPR request 42"])
        .output()
        .unwrap();
    let run = stdout_json(&output);
    assert_eq!(output.status.code(), Some(0), "{run}");
    assert_eq!(run["output"]["names"], json!(["c1"]));

    let verify = cli(&store.path).args(["audit", "verify"]).output().unwrap();
    let report = stdout_json(&verify);
    assert_eq!(verify.status.code(), Some(0), "{report}");
    assert_eq!(report["broken"], Value::Null);
    assert!(report["redacted"].as_u64().unwrap() >= 1, "{report}");
    assert_eq!(report["oldFormatEntries"], json!(0));
    let documents = cli(&store.path)
        .args(["audit", "verify", "--documents"])
        .output()
        .unwrap();
    assert_eq!(
        documents.status.code(),
        Some(0),
        "{}",
        stdout_json(&documents)
    );
    for id in &runs {
        let shown = cli(&store.path)
            .args(["runs", "show", id])
            .output()
            .unwrap();
        assert!(shown.status.success());
        let shown = String::from_utf8_lossy(&shown.stdout);
        assert!(!holds_secret(&shown.as_ref()), "run {id}: {shown}");
    }
    // redb frees the old pages but does not zero them: after a compaction the values are
    // gone from the file.
    let compact = cli(&store.path).arg("compact").output().unwrap();
    assert!(compact.status.success());
    let file = std::fs::read(&store.path).unwrap();
    for secret in [SECRET, SECRET2] {
        assert!(
            !file.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "{secret} is still in the file"
        );
    }
    assert!(file.windows(15).any(|w| w == b"bob@example.com"));
}

#[test]
fn a_forged_digest_in_a_redacted_entry_is_still_caught() {
    let store = TempStore::new();
    let engine = store.open();
    customers(&engine);
    erase_c1(&engine);
    let entries = all_entries(&engine);
    let update = entries
        .iter()
        .find(|e| e["action"] == "update" && e["refName"] == "c1")
        .unwrap();
    let seq = update["seq"].as_u64().unwrap();
    let digest = update["diff"]["digest"].as_str().unwrap().to_string();
    drop(engine);
    let replacement = if digest.starts_with('0') { b'1' } else { b'0' };
    assert!(flip(&store.path, digest.as_bytes(), 0, replacement) >= 1);
    let report = store.open().verify_audit().unwrap();
    let broken = report.broken.expect("a forged digest breaks the chain");
    assert_eq!(broken.seq, seq, "{}", broken.reason);
}

#[test]
fn only_the_superuser_may_erase() {
    let engine = engine();
    customers(&engine);
    engine.enable_acl("Administrator", None).unwrap();
    let admin = engine.with_owner("Administrator");
    ok(
        &admin,
        json!({"operation": "create", "into": "User",
               "input": {"data": {"name": "clerk", "roles": []}}}),
    );
    let clerk = engine.with_owner("clerk");
    fails(
        &clerk,
        json!({"operation": "erase", "in": "Customer",
               "input": {"name": "c1", "fields": ["email"], "reason": "mine"}}),
        "PERMISSION_DENIED",
    );
    let report = engine.verify_audit().unwrap();
    assert_eq!((report.broken, report.redacted), (None, 0));
    assert!(all_entries(&admin).iter().any(holds_secret));
    erase_c1(&admin);
    assert!(!all_entries(&admin).iter().any(holds_secret));
}

#[test]
fn bad_erase_requests_get_a_clear_error_and_write_nothing() {
    let engine = engine();
    customers(&engine);
    let entries = all_entries(&engine).len();
    let cases = [
        (
            json!({"name": "c1", "fields": ["phone"], "reason": "r"}),
            "BAD_REQUEST",
            "phone",
        ),
        (
            json!({"name": "c1", "fields": ["owner"], "reason": "r"}),
            "BAD_REQUEST",
            "engine field",
        ),
        (
            json!({"name": "c1", "fields": ["name"], "reason": "r"}),
            "BAD_REQUEST",
            "engine field",
        ),
        (
            json!({"name": "c1", "fields": [], "reason": "r"}),
            "BAD_REQUEST",
            "input.fields",
        ),
        (
            json!({"name": "c1", "fields": ["email"]}),
            "BAD_REQUEST",
            "input.reason",
        ),
        (
            json!({"name": "nobody", "fields": ["email"], "reason": "r"}),
            "NOT_FOUND",
            "nobody",
        ),
        (
            json!({"where": {"city": "Rome"}, "fields": ["email"], "reason": "r"}),
            "NOT_FOUND",
            "nothing to erase",
        ),
        (
            json!({"name": "c1", "where": {}, "fields": ["email"], "reason": "r"}),
            "BAD_REQUEST",
            "not both",
        ),
    ];
    for (input, code, says) in cases {
        let run = fails(
            &engine,
            json!({"operation": "erase", "in": "Customer", "input": input}),
            code,
        );
        let message = &run.error.unwrap().message;
        assert!(message.contains(says), "{input}: {message}");
    }
    let system = fails(
        &engine,
        json!({"operation": "erase", "in": "User",
               "input": {"name": "x", "fields": ["full_name"], "reason": "r"}}),
        "BAD_REQUEST",
    );
    assert!(system.error.unwrap().message.contains("system doctype"));
    // Nothing written: no entry (failures are audited as `invalid` or not at all, never
    // as a redaction), the document and the trail's values as they were.
    let after = all_entries(&engine);
    assert!(
        after
            .iter()
            .all(|e| e["action"] != "erase" && e["action"] != "erasure")
    );
    assert_eq!(after.len(), entries, "a refused erasure appends no entry");
    assert!(after.iter().any(holds_secret));
    assert_eq!(engine.verify_audit().unwrap().redacted, 0);
    let c1 = ok(
        &engine,
        json!({"operation": "select", "from": "Customer", "input": {"where": {"name": "c1"}}}),
    );
    assert_eq!(c1.data()[0]["email"], json!(SECRET2));
}

#[test]
fn a_deleted_documents_snapshot_is_redacted_and_restore_refuses_it() {
    let engine = engine();
    customers(&engine);
    ok(
        &engine,
        json!({"operation": "delete", "from": "Customer", "input": {"name": "c1"}}),
    );
    let erased = erase_c1(&engine);
    assert_eq!(erased.output["documents"], json!(0));
    assert_eq!(erased.output["deleted"], json!(["c1"]));
    let entries = all_entries(&engine);
    let delete = entries.iter().find(|e| e["action"] == "delete").unwrap();
    assert_eq!(delete["snapshot"]["redacted"], json!(true));
    assert!(!entries.iter().any(holds_secret));
    assert_eq!(engine.verify_audit().unwrap().broken, None);
    let refused = fails(
        &engine,
        json!({"operation": "restore", "into": "Customer", "input": {"name": "c1"}}),
        "VALIDATION_FAILED",
    );
    assert!(refused.error.unwrap().message.contains("redacted"));
}

/// `audit_format_1.redb` was written by the version before audit format 2: a `Customer`
/// schema (email required, city), `c1` created with `old.secret@example.com` and updated to
/// `old.moved@example.com` (three format-1 entries, the update's with a plain `diff`).
#[test]
fn old_format_entries_still_verify_and_erasure_skips_them() {
    let store = TempStore::new();
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/stores");
    std::fs::copy(fixtures.join("audit_format_1.redb"), &store.path).unwrap();
    let (code, report) = verify_cli(&store.path);
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["entries"], json!(3));
    assert_eq!(report["oldFormatEntries"], json!(3));
    let engine = store.open();
    // Entries written now are format 2, beside the old ones.
    ok(
        &engine,
        json!({"operation": "create", "into": "Customer",
               "input": {"data": {"name": "c2", "email": SECRET}}}),
    );
    ok(
        &engine,
        json!({"operation": "update", "in": "Customer",
               "input": {"name": "c2", "data": {"email": SECRET2}}}),
    );
    let erased = ok(
        &engine,
        json!({"operation": "erase", "in": "Customer",
               "input": {"name": ["c1", "c2"], "fields": ["email"], "reason": "both"}}),
    );
    assert_eq!(erased.output["documents"], json!(2));
    assert_eq!(
        erased.output["oldFormatEntriesSkipped"],
        json!(1),
        "{}",
        erased.output
    );
    assert_eq!(
        erased.output["auditEntriesRedacted"],
        json!(1),
        "c2's update"
    );
    drop(engine);
    let (code, report) = verify_cli(&store.path);
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["broken"], Value::Null);
    assert_eq!(report["oldFormatEntries"], json!(3));
    assert_eq!(report["redacted"], json!(1));
    // The limit, as documented: the old entry keeps its value; the new ones do not.
    let engine = store.open();
    let entries = all_entries(&engine);
    let old_update = entries.iter().find(|e| e["seq"] == json!(3)).unwrap();
    assert_eq!(
        old_update["diff"]["email"]["to"],
        json!("old.moved@example.com")
    );
    assert!(!entries.iter().any(holds_secret));
    assert!(engine.verify_documents().unwrap().ok());
}

fn verify_cli(db: &Path) -> (i32, Value) {
    let output = cli(db).args(["audit", "verify"]).output().unwrap();
    (output.status.code().unwrap_or(-1), stdout_json(&output))
}

/// A legal hold keeps what it covers: erasure of a held document is refused (CONFLICT,
/// nothing written) until the hold is lifted, and a hold elsewhere does not stand in the way.
#[test]
fn erasure_yields_to_a_legal_hold_until_it_is_lifted() {
    let engine = engine();
    customers(&engine);
    ok(
        &engine,
        json!({"operation": "create", "into": "Legal Hold",
               "input": {"data": {"name": "case-7", "heldDoctype": "Customer", "heldName": "c1",
                                  "reason": "litigation 7"}}}),
    );
    let entries_before = all_entries(&engine).len();
    let refused = fails(
        &engine,
        json!({"operation": "erase", "in": "Customer",
               "input": {"name": "c1", "fields": ["email"], "reason": "GDPR request 42"}}),
        "CONFLICT",
    );
    let message = refused.error.unwrap().message;
    assert!(
        message.contains("c1") && message.contains("legal hold"),
        "{message}"
    );
    assert_eq!(
        all_entries(&engine).len(),
        entries_before,
        "a refused erasure writes no entry"
    );
    assert!(all_entries(&engine).iter().any(holds_secret));
    // c2 is not held: its erasure goes ahead.
    ok(
        &engine,
        json!({"operation": "erase", "in": "Customer",
               "input": {"name": "c2", "fields": ["email"], "reason": "GDPR request 43"}}),
    );
    ok(
        &engine,
        json!({"operation": "update", "in": "Legal Hold",
               "input": {"name": "case-7", "data": {"lifted": 1, "liftReason": "case settled"}}}),
    );
    erase_c1(&engine);
    assert!(!all_entries(&engine).iter().any(holds_secret));
    assert_eq!(engine.verify_audit().unwrap().broken, None);
}
