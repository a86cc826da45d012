//! Workflow overhead (issue 5): a 10-step workflow of cheap operations against the same 10
//! runs called directly, in one `cargo bench --bench workflows` run, on a file store under
//! `CARGO_TARGET_TMPDIR`.
//!
//! - `ten_selects`: 10 selects by name. Direct: 10 top-level read-only runs (no fsync).
//!   Workflow: one `workflow` run whose steps are those selects as nested runs, inline
//!   (`input.children`) and as a saved template (references resolved, run tree recorded).
//! - `ten_creates`: 10 single-document creates. Direct: 10 durable commits. Workflow: one
//!   run, one durable commit for all ten.
//!
//! Every peer is a `common::Peer` (the one trait of every bench) and runs on a fresh store with the same documents: the run records a peer leaves
//! (hundreds of thousands in a few seconds) would otherwise slow down the peers after it.

// `criterion_group!` defines an undocumented `pub fn`.
#![allow(missing_docs)]

mod common;

use common::{By, bench};
use coworker::{Engine, RunRequest};
use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::{Value, json};
use std::hint::black_box;
use std::time::Duration;

fn temp_store() -> (tempfile::TempDir, Engine) {
    let dir = common::temp_dir();
    let engine = Engine::open(dir.path().join("bench.redb")).expect("store opens");
    (dir, engine)
}

fn select_request(i: usize) -> Value {
    json!({"operation": "select", "from": "Item", "input": {"where": {"name": format!("item-{i}")}}})
}

/// The same request as a workflow step (with an id).
fn select_step(i: usize) -> Value {
    let mut step = select_request(i);
    step["id"] = json!(format!("s{i}"));
    step
}

/// A fresh store with the 10 items and the `Ten Selects` template: every peer gets its own,
/// because run records pile up as a bench runs (hundreds of thousands of them) and a peer
/// measured later on a bigger store would pay for its predecessors' records.
fn selects_store(steps: &[Value]) -> (tempfile::TempDir, Engine) {
    let (dir, engine) = temp_store();
    let items: Vec<Value> = (0..10)
        .map(|i| json!({"name": format!("item-{i}"), "n": i}))
        .collect();
    assert!(
        engine
            .run_value(json!({"operation": "create", "into": "Item", "input": {"data": items}}))
            .success
    );
    let template = json!({"operation": "create", "into": "Workflow Template",
        "input": {"data": {"name": "Ten Selects", "children": steps}}});
    assert!(engine.run_value(template).success);
    (dir, engine)
}

fn ten_selects(c: &mut Criterion) {
    let steps: Vec<Value> = (0..10).map(select_step).collect();
    let mut group = c.benchmark_group("ten_selects");
    group
        .sample_size(30)
        .measurement_time(Duration::from_secs(4));
    // Each peer's store is closed (and removed) before the next peer's is made.
    {
        let (_dir, engine) = selects_store(&steps);
        bench(
            &mut group,
            None,
            &By("direct", || {
                for i in 0..10 {
                    let run = engine.run_value(select_request(i));
                    assert_eq!(run.data().len(), 1);
                    black_box(run);
                }
                Value::Null
            }),
        );
    }
    {
        let (_dir, engine) = selects_store(&steps);
        let request = json!({"operation": "workflow", "input": {"children": steps}});
        bench(
            &mut group,
            None,
            &By("workflow_inline", || {
                let run = engine.run_value(request.clone());
                assert!(run.success, "{:?}", run.error);
                black_box(run);
                Value::Null
            }),
        );
    }
    {
        let (_dir, engine) = selects_store(&steps);
        bench(
            &mut group,
            None,
            &By("workflow_template", || {
                let run = engine.run(RunRequest::new("workflow").template("Ten Selects"));
                assert!(run.success, "{:?}", run.error);
                black_box(run);
                Value::Null
            }),
        );
    }
    group.finish();
}

fn ten_creates(c: &mut Criterion) {
    let create =
        |i: usize| json!({"operation": "create", "into": "Note", "input": {"data": {"n": i}}});
    let mut group = c.benchmark_group("ten_creates");
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(5));
    // Each peer on a fresh store, as above.
    {
        let (_dir, engine) = temp_store();
        bench(
            &mut group,
            None,
            &By("direct", || {
                for i in 0..10 {
                    assert!(engine.run_value(create(i)).success);
                }
                Value::Null
            }),
        );
    }
    let steps: Vec<Value> = (0..10)
        .map(|i| {
            let mut step = create(i);
            step["id"] = json!(format!("c{i}"));
            step
        })
        .collect();
    {
        let (_dir, engine) = temp_store();
        let request = json!({"operation": "workflow", "input": {"children": steps}});
        bench(
            &mut group,
            None,
            &By("workflow_inline", || {
                let run = engine.run_value(request.clone());
                assert!(run.success, "{:?}", run.error);
                black_box(run);
                Value::Null
            }),
        );
    }
    group.finish();
}

criterion_group!(benches, ten_selects, ten_creates);
criterion_main!(benches);
