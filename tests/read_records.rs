//! Story: a host reads a lot (scripts that return thousands of documents) on a store kept in a
//! bounded page cache. What it reads comes back whole; what the store keeps of such a read is
//! its lineage (the names returned and the `meta`), not a second copy of the documents, and
//! `runs show` says the record was trimmed and how large it would have been. A bulk create is
//! recorded the same way: its request whole, the names it created, not the documents again.

use crate::harness::*;
use coworker::Engine;
use serde_json::{Value, json};

/// `READ_ONLY_RECORD_BYTES` (src/limits.rs): a read-only run's record above it is trimmed.
const READ_ONLY_RECORD_BYTES: u64 = 64 << 10;

/// A script that selects every ToDo (up to 10,000) and returns them with their `meta`.
const EXPORT: &str = r#"
let found = run(#{operation: "select", from: "ToDo", input: #{take: context.input.take}});
if !found.success { throw found.error.message; }
#{data: found.output.data, meta: found.output.meta}
"#;

/// A store holding `docs` ToDos of ~200 bytes each, and the `export` operation; the run
/// that created the ToDos.
fn store_with(engine: &Engine, docs: usize) -> coworker::Run {
    let data: Vec<Value> = (0..docs)
        .map(|i| json!({"name": format!("todo-{i:05}"), "description": "x".repeat(180)}))
        .collect();
    let created = ok(
        engine,
        json!({"operation": "create", "into": "ToDo", "input": {"data": data}}),
    );
    ok(
        engine,
        json!({"operation": "create", "into": "Operation",
               "input": {"data": {"name": "export", "handlerCode": EXPORT}}}),
    );
    created
}

/// A trimmed output's `names`: the 1,000 ToDos of [`store_with`], in order.
fn assert_holds_the_thousand_names(output: &Value) {
    let names: Vec<&str> = output["names"]
        .as_array()
        .expect("the names")
        .iter()
        .map(|n| n.as_str().expect("a name"))
        .collect();
    assert_eq!(names.len(), 1_000);
    assert_eq!((names[0], names[999]), ("todo-00000", "todo-00999"));
}

/// What `coworker runs show ID` prints for the store's run `id`.
fn runs_show(store: &TempStore, id: &str) -> Value {
    let output = cli(&store.path)
        .args(["runs", "show", id])
        .output()
        .expect("the CLI starts");
    assert!(output.status.success(), "runs show: {output:?}");
    stdout_json(&output)
}

#[test]
fn a_large_read_returns_everything_and_stores_its_names_trimmed() {
    let store = TempStore::new();
    let engine = store.open();
    store_with(&engine, 1_000);
    let run = ok(
        &engine,
        json!({"operation": "export", "input": {"take": 1_000}}),
    );
    // The caller gets every document.
    let returned = run.output["data"].as_array().expect("the documents");
    assert_eq!(returned.len(), 1_000);
    assert_eq!(returned[999]["description"], json!("x".repeat(180)));

    // The record keeps the request, the names in order and the meta; not the documents.
    let kept = stored(&engine, &run.id);
    assert_eq!(kept.input, run.input);
    assert_eq!(kept.output["trimmed"], json!(true));
    let record_bytes = kept.output["recordBytes"].as_u64().expect("recordBytes");
    assert!(
        record_bytes > READ_ONLY_RECORD_BYTES,
        "a record of {record_bytes} bytes was trimmed"
    );
    assert_holds_the_thousand_names(&kept.output);
    assert_eq!(kept.output["meta"], run.output["meta"]);
    assert!(
        kept.output.get("data").is_none(),
        "no copy of the documents"
    );
    drop(engine);

    // `runs show` prints the same trimmed record, from another process.
    let shown = runs_show(&store, &run.id);
    assert_eq!(shown["output"]["trimmed"], json!(true));
    assert_eq!(shown["output"]["recordBytes"], json!(record_bytes));
    assert_eq!(
        shown["output"]["names"].as_array().map(Vec::len),
        Some(1_000)
    );
}

#[test]
fn a_small_read_is_stored_whole() {
    let engine = engine();
    store_with(&engine, 100);
    let run = ok(
        &engine,
        json!({"operation": "export", "input": {"take": 20}}),
    );
    let kept = stored(&engine, &run.id);
    assert_eq!(
        kept.output, run.output,
        "20 small documents are kept as returned"
    );
}

#[test]
fn a_large_create_keeps_its_request_and_names_not_a_second_copy_of_the_documents() {
    let store = TempStore::new();
    let engine = store.open();
    // 1,000 documents of ~200 bytes: the create's record would be far above the limit. The
    // caller gets every document; the record keeps the request whole (it can be run again)
    // and the names it created, in order.
    let created = store_with(&engine, 1_000);
    assert_eq!(created.output["data"].as_array().map(Vec::len), Some(1_000));
    let kept = stored(&engine, &created.id);
    assert_eq!(kept.input, created.input);
    assert_eq!(kept.output["trimmed"], json!(true));
    let record_bytes = kept.output["recordBytes"].as_u64().expect("recordBytes");
    assert!(record_bytes > READ_ONLY_RECORD_BYTES, "{record_bytes}");
    assert_holds_the_thousand_names(&kept.output);
    assert!(kept.output.get("data").is_none());
    // The documents themselves are in the store.
    let read = ok(
        &engine,
        json!({"operation": "select", "from": "ToDo", "input": {"where": {"name": "todo-00999"}}}),
    );
    assert_eq!(
        read.output["data"][0]["description"],
        json!("x".repeat(180))
    );
    drop(engine);

    // `runs show` says so, from another process.
    let shown = runs_show(&store, &created.id);
    assert_eq!(shown["output"]["trimmed"], json!(true));
    assert_eq!(shown["output"]["names"][999], json!("todo-00999"));
}

#[test]
fn a_small_create_keeps_its_whole_output() {
    let engine = engine();
    let created = store_with(&engine, 10);
    let kept = stored(&engine, &created.id);
    assert!(kept.output.get("trimmed").is_none());
    assert_eq!(kept.output, created.output);
}

#[test]
fn a_store_with_a_small_page_cache_reads_and_writes_as_any() {
    let store = TempStore::new();
    let small = || {
        Engine::builder()
            .cache_size(256 << 10)
            .open(&store.path)
            .expect("the store opens with a 256 KiB cache")
    };
    store_with(&small(), 2_000);
    // Reopened, everything is read back through the small cache (it is 2 MB of documents).
    let engine = small();
    let run = ok(
        &engine,
        json!({"operation": "export", "input": {"take": 2_000}}),
    );
    assert_eq!(run.output["data"].as_array().map(Vec::len), Some(2_000));
    assert_eq!(run.output["data"][1_999]["name"], json!("todo-01999"));
    drop(engine);

    // The CLI's `--cache-mb` (or COWORKER_CACHE_MB) sets it; a bad value is a usage error.
    let output = cli(&store.path)
        .args(["--cache-mb", "1", "runs", "show", &run.id])
        .output()
        .expect("the CLI starts");
    assert!(output.status.success(), "--cache-mb 1: {output:?}");
    assert_eq!(stdout_json(&output)["id"], json!(run.id));
    let output = cli(&store.path)
        .args(["--cache-mb", "lots", "runs", "list"])
        .output()
        .expect("the CLI starts");
    assert_eq!(output.status.code(), Some(2), "--cache-mb lots: {output:?}");
}
