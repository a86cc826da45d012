//! Schema benchmarks (issue 3): what validation costs, and what an index buys.
//!
//! Run with `cargo bench --bench schemas`. Stores are redb files under
//! `CARGO_TARGET_TMPDIR`, so durable commits pay a real fsync.
//!
//! Groups (measured in one run, so ratios are comparable):
//! 1. `create_validation`: 100 documents per create run of a doctype whose schema has nine
//!    fields (Data, Select, Int, Check, Date, a unique field, a Link, a child Table), with
//!    validation (the default) and with `options.validate = false` (the trusted-import path).
//! 2. `where_100k`: `where: {field: value}` on a store of 100,000 documents, once on a
//!    `search_index` field (the index answers) and once on the same values in a field with
//!    no index (a scan that parses every document). Both match 10 documents.

// `criterion_group!` defines an undocumented `pub fn`.
#![allow(missing_docs)]

mod common;

use common::{By, bench};
use coworker::{Engine, RunOptions, RunRequest};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use serde_json::{Value, json};
use std::cell::Cell;
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

fn temp_store() -> (tempfile::TempDir, Engine) {
    let dir = common::temp_dir();
    let engine = Engine::open(dir.path().join("bench.redb")).expect("store opens");
    (dir, engine)
}

fn import(engine: &Engine) {
    let run = engine.import_schemas(vec![
        json!({"doctype": "DocType", "name": "Bench Customer", "autoname": "field:customer_name",
               "fields": [{"fieldname": "customer_name", "fieldtype": "Data", "reqd": 1}]}),
        json!({"doctype": "DocType", "name": "Bench Line", "istable": 1, "fields": [
            {"fieldname": "item", "fieldtype": "Data", "reqd": 1},
            {"fieldname": "qty", "fieldtype": "Int", "default": "1"}]}),
        json!({"doctype": "DocType", "name": "Bench Order", "fields": [
            {"fieldname": "title", "fieldtype": "Data", "reqd": 1},
            {"fieldname": "status", "fieldtype": "Select", "options": "Open\nClosed", "default": "Open"},
            {"fieldname": "amount", "fieldtype": "Int"},
            {"fieldname": "paid", "fieldtype": "Check"},
            {"fieldname": "due", "fieldtype": "Date"},
            {"fieldname": "code", "fieldtype": "Data", "unique": 1},
            {"fieldname": "customer", "fieldtype": "Link", "options": "Bench Customer"},
            {"fieldname": "lines", "fieldtype": "Table", "options": "Bench Line"},
            {"fieldname": "bucket", "fieldtype": "Data", "search_index": 1},
            {"fieldname": "plain_bucket", "fieldtype": "Data"}]}),
    ]);
    assert!(run.success, "schemas import: {:?}", run.error);
    let run = engine.run_value(json!({"operation": "create", "into": "Bench Customer",
        "input": {"data": {"customer_name": "Acme"}}}));
    assert!(run.success, "{:?}", run.error);
}

static SEQ: AtomicU64 = AtomicU64::new(0);

fn orders(n: usize) -> Value {
    let docs: Vec<Value> = (0..n)
        .map(|_| {
            let i = SEQ.fetch_add(1, Ordering::Relaxed);
            json!({"title": format!("order {i}"), "amount": i % 1000, "paid": i.is_multiple_of(2),
                   "due": "2026-11-25", "code": format!("C{i}"), "customer": "Acme",
                   "lines": [{"item": "widget", "qty": 2}, {"item": "gadget"}],
                   "bucket": format!("b{}", i % 10_000), "plain_bucket": format!("b{}", i % 10_000)})
        })
        .collect();
    json!({ "data": docs })
}

fn create_validation(c: &mut Criterion) {
    let (_dir, engine) = temp_store();
    import(&engine);
    let mut group = c.benchmark_group("create_validation");
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(5));
    group.throughput(Throughput::Elements(100));
    for (label, validate) in [("validated", None), ("validate_false", Some(false))] {
        let create = By(label, || {
            let request = RunRequest::new("create")
                .into_doctype("Bench Order")
                .input(orders(100))
                .options(RunOptions {
                    validate,
                    ..Default::default()
                });
            let run = engine.run(request);
            assert!(run.success, "{:?}", run.error);
            black_box(run);
            Value::Null
        });
        bench(&mut group, None, &create);
    }
    group.finish();
}

fn where_100k(c: &mut Criterion) {
    let (_dir, engine) = temp_store();
    import(&engine);
    // Any 100,000 consecutive sequence numbers put exactly 10 documents in each bucket.
    for _ in 0..100 {
        let request = RunRequest::new("create")
            .into_doctype("Bench Order")
            .input(orders(1000))
            .options(RunOptions {
                validate: Some(false),
                ..Default::default()
            });
        assert!(engine.run(request).success);
    }
    let mut group = c.benchmark_group("where_100k");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(5));
    let k = Cell::new(0u64);
    for field in ["bucket", "plain_bucket"] {
        let label = if field == "bucket" {
            "indexed"
        } else {
            "unindexed"
        };
        let select = By(label, || {
            k.set((k.get() + 7919) % 10_000);
            let run = engine.run_value(json!({"operation": "select", "from": "Bench Order",
                "input": {"where": {field: format!("b{}", k.get())}}}));
            assert_eq!(run.data().len(), 10, "{:?}", run.error);
            black_box(run);
            Value::Null
        });
        bench(&mut group, None, &select);
    }
    group.finish();
}

criterion_group!(benches, create_validation, where_100k);
criterion_main!(benches);
