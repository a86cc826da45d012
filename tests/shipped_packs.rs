//! The packs shipped in `operations/`: their script tests pass, and they install together.

use crate::harness::*;
use serde_json::json;

const OPERATIONS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/operations");

#[test]
fn every_shipped_pack_passes_its_script_tests() {
    let report = coworker::run_script_tests(OPERATIONS).expect("the packs load");
    let failed: Vec<String> = report
        .tests
        .iter()
        .filter(|t| !t.passed)
        .map(|t| format!("{}: {}", t.name, t.failure.as_deref().unwrap_or("")))
        .collect();
    assert!(
        failed.is_empty(),
        "failing script tests:\n{}",
        failed.join("\n")
    );
    assert!(
        report.passed() >= 60,
        "the shipped packs carry their tests ({} ran)",
        report.passed()
    );
}

#[test]
fn the_shipped_packs_install_side_by_side_and_reinstall_in_place() {
    let engine = engine();
    for pack in ["core-examples", "crm", "project-flow"] {
        let dir = format!("{OPERATIONS}/{pack}");
        let first = engine.install_pack(&dir);
        assert!(first.success, "{pack}: {:?}", first.error);
        let again = engine.install_pack(&dir);
        assert!(again.success, "{pack} reinstalls: {:?}", again.error);
    }
    let packs = engine.packs().unwrap();
    assert_eq!(packs.len(), 3);
    // One operation of each pack answers.
    ok(
        &engine,
        json!({"operation": "create", "into": "Customer", "input": {"data": {"customer_name": "Acme"}}}),
    );
    let csv = ok(
        &engine,
        json!({"operation": "export_csv", "from": "Customer"}),
    );
    assert!(
        csv.output.as_str().unwrap_or_default().contains("Acme"),
        "{}",
        csv.output
    );
    ok(&engine, json!({"operation": "pipeline_summary"}));
    let summary = ok(
        &engine,
        json!({"operation": "summarize_email", "input": {"subject": "[X] hi", "body": "Hello.\n- do it @me"}}),
    );
    assert_eq!(summary.output["actionCount"], json!(1));
}
