//! What audit format 2 and erasure cost: N single-document creates, then N updates (each
//! update's entry carries a `diff`, sealed under a salted digest in format 2) on a file
//! store, with wall time per run; then one erasure of one document's field in that store
//! (the whole trail is walked twice), timed, and `audit verify` after it.
//!
//! ```sh
//! cargo run --release --example erasure_cost -- [N]    # N defaults to 20000
//! ERASURE_COST_MEMORY=1 cargo run --release --example erasure_cost -- [N]  # in memory
//! ```
//!
//! On a build without the `erase` operation it prints the create and update figures only
//! (so the same file measures the format before and after).

use coworker::{Engine, RunRequest};
use serde_json::json;
use std::time::Instant;

fn main() {
    let n: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(20_000);
    let dir = tempfile::tempdir().expect("a temporary folder");
    // `ERASURE_COST_MEMORY=1`: an in-memory store (no fsync), so the runs' CPU shows.
    let engine = if std::env::var_os("ERASURE_COST_MEMORY").is_some() {
        Engine::in_memory().expect("the store opens")
    } else {
        Engine::open(dir.path().join("erasure.redb")).expect("the store opens")
    };
    let imported = engine.import_schemas(vec![json!({"name": "Customer", "fields": [
        {"fieldname": "email", "fieldtype": "Data"},
        {"fieldname": "city", "fieldtype": "Data"}]})]);
    assert!(imported.success, "{:?}", imported.error);
    let timed = |what: &str, request: &dyn Fn(u64) -> RunRequest| {
        let start = Instant::now();
        for i in 0..n {
            let run = engine.run(request(i));
            assert!(run.success, "{what} {i}: {:?}", run.error);
        }
        let per_run = start.elapsed().as_secs_f64() * 1e6 / n as f64;
        println!("{what}: {n} runs, {per_run:.1} µs a run (one commit each)");
    };
    timed("create", &|i| {
        RunRequest::new("create").into_doctype("Customer").input(json!({"data": {
            "name": format!("c{i:08}"), "email": format!("person{i}@example.com"), "city": "Paris"}}))
    });
    timed("update", &|i| {
        RunRequest::new("update")
            .in_doctype("Customer")
            .input(json!({
            "name": format!("c{i:08}"), "data": {"email": format!("moved{i}@example.com")}}))
    });
    let start = Instant::now();
    let erased = engine.run(
        RunRequest::new("erase")
            .in_doctype("Customer")
            .input(json!({
        "name": format!("c{:08}", n / 2), "fields": ["email"], "reason": "measured"})),
    );
    let took = start.elapsed();
    if !erased.success {
        println!(
            "erase: not available here ({:?})",
            erased.error.map(|e| e.code)
        );
        return;
    }
    println!(
        "erase: one document of {n} ({} audit entries): {:.1} ms; output {}",
        2 * n,
        took.as_secs_f64() * 1e3,
        erased.output
    );
    let start = Instant::now();
    let report = engine.verify_audit().expect("verify");
    println!(
        "audit verify after it: {:.1} ms, broken {:?}, redacted {}",
        start.elapsed().as_secs_f64() * 1e3,
        report.broken,
        report.redacted
    );
}
