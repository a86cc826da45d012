//! Story: an operator asks what a store holds and what its file costs (`coworker stats`,
//! `Engine::stats`): documents per doctype, index entries, runs by status and age and the
//! oldest, the audit trail and its head, each table's entries and pages, free pages, the
//! redo log. Every figure is checked against content the test wrote.

use crate::harness::*;
use coworker::{Engine, RunQuery};
use serde_json::json;
use std::collections::BTreeMap;

/// A store with 5 Tasks (3 Open, 2 Closed; `status` indexed), 4 Notes, 2 failed creates
/// and 3 selects: 15 runs, 10 audit entries (the schema is one).
fn known_content(engine: &Engine) {
    let schema = engine.import_schemas(vec![json!({"doctype": "DocType", "name": "Task",
        "fields": [{"fieldname": "status", "fieldtype": "Data", "search_index": 1}]})]);
    assert!(schema.success, "{:?}", schema.error);
    for (i, status) in ["Open", "Open", "Closed", "Open", "Closed"]
        .iter()
        .enumerate()
    {
        ok(
            engine,
            json!({"operation": "create", "into": "Task",
                "input": {"data": {"name": format!("t{i}"), "status": status}}}),
        );
    }
    for i in 0..4 {
        ok(
            engine,
            json!({"operation": "create", "into": "Note", "input": {"data": {"name": format!("n{i}")}}}),
        );
    }
    for _ in 0..2 {
        fails(
            engine,
            json!({"operation": "create", "into": "Note", "input": {"data": {"name": "n0"}}}),
            "CONFLICT",
        );
    }
    for doctype in ["Task", "Note", "Task"] {
        ok(engine, json!({"operation": "select", "from": doctype}));
    }
    // The selects' records wait for a commit: write them.
    engine.flush().unwrap();
}

#[test]
fn stats_count_what_the_store_holds() {
    let store = TempStore::new();
    let engine = store.open();
    known_content(&engine);
    let stats = engine.stats().unwrap();

    assert_eq!(stats.documents["Task"], 5);
    assert_eq!(stats.documents["Note"], 4);
    let table = |name: &str| {
        stats
            .tables
            .iter()
            .find(|t| t.name == name)
            .unwrap_or_else(|| panic!("table {name}"))
            .clone()
    };
    assert_eq!(
        stats.documents.values().sum::<u64>(),
        table("docs").entries,
        "every document is counted under its doctype"
    );
    let names: Vec<&str> = stats.tables.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "docs",
            "runs",
            "run_index",
            "doc_index",
            "counters",
            "meta",
            "audit"
        ]
    );

    let status = stats
        .indexes
        .iter()
        .find(|i| i.doctype == "Task" && i.field == "status")
        .expect("the status index");
    assert_eq!(status.entries, 5);
    assert_eq!(
        stats.indexes.iter().map(|i| i.entries).sum::<u64>()
            + stats.indexes.iter().filter(|i| i.complete).count() as u64,
        table("doc_index").entries
    );

    // The runs: the schema import, 9 creates, 2 failed creates, 3 selects.
    let all = engine.list_runs(&RunQuery::default()).unwrap();
    let mut by_status: BTreeMap<String, u64> = BTreeMap::new();
    for run in &all {
        *by_status
            .entry(run.status.as_str().to_string())
            .or_default() += 1;
    }
    assert_eq!(stats.runs.total, all.len() as u64);
    assert_eq!(stats.runs.total, table("runs").entries);
    assert_eq!(stats.runs.by_status, by_status);
    assert_eq!(stats.runs.by_status["failed"], 2);
    assert_eq!(stats.runs.total, 15);
    assert_eq!(stats.runs.by_status["completed"], 13);
    assert_eq!(stats.runs.by_age["<1h"], all.len() as u64);
    for band in ["<1d", "<7d", "<30d", ">=30d"] {
        assert_eq!(stats.runs.by_age[band], 0, "{band}");
    }
    let oldest = stats.runs.oldest.as_ref().expect("an oldest run");
    assert_eq!(oldest.id, all[0].id);
    // Read off its id: the run's start, to the millisecond.
    let started = oldest.started.as_deref().expect("a ULID tells its time");
    assert_eq!(started[..23], all[0].timestamp[..23]);

    let audit = engine.verify_audit().unwrap();
    assert_eq!(audit.entries, 10);
    assert_eq!(stats.audit.entries, 10);
    assert_eq!(table("audit").entries, 10);
    assert_eq!(stats.audit.head.as_ref().unwrap()["seq"], json!(10));

    let file = stats.file.as_ref().expect("a store file");
    assert_eq!(file.bytes, std::fs::metadata(&store.path).unwrap().len());
    let space = stats.space.as_ref().expect("a writer tells its pages");
    let pages = file.bytes / space.page_size;
    assert_eq!(space.free_pages, Some(pages - space.allocated_pages));
    assert!(space.leaf_pages >= stats.tables.iter().map(|t| t.leaf_pages).sum::<u64>());
    let log = stats.redo_log.as_ref().expect("the store keeps a redo log");
    assert_eq!(log.path, format!("{}.wal", store.path.display()));
    assert_eq!(log.file_bytes, std::fs::metadata(&log.path).unwrap().len());
    assert_eq!(log.pending_bytes, Some(0), "the flush checkpointed it");
}

#[test]
fn the_cli_and_a_read_only_engine_report_the_same_counts() {
    let store = TempStore::new();
    let stats = {
        let engine = store.open();
        known_content(&engine);
        engine.stats().unwrap()
    };
    let output = cli(&store.path).arg("stats").output().unwrap();
    assert!(output.status.success(), "{output:?}");
    let printed = stdout_json(&output);
    assert_eq!(printed["documents"], json!(stats.documents));
    assert_eq!(printed["runs"]["byStatus"], json!(stats.runs.by_status));
    assert_eq!(printed["audit"]["entries"], json!(10));
    assert!(printed["space"]["freePages"].is_u64(), "{printed}");

    let reader = Engine::open_read_only(&store.path).unwrap();
    let read = reader.stats().unwrap();
    assert_eq!(read.documents, stats.documents);
    assert_eq!(read.runs.by_status, stats.runs.by_status);
    assert_eq!(read.space, None, "redb tells free pages to a writer only");
    assert!(read.file.is_some());
    assert_eq!(
        read.redo_log.as_ref().and_then(|log| log.pending_bytes),
        None
    );
}

#[test]
fn a_store_in_memory_has_no_file_and_no_log() {
    let engine = engine();
    ok(
        &engine,
        json!({"operation": "create", "into": "Note", "input": {"data": {"name": "a"}}}),
    );
    let stats = engine.stats().unwrap();
    assert_eq!(stats.file, None);
    assert_eq!(stats.redo_log, None);
    assert_eq!(stats.documents["Note"], 1);
    assert_eq!(stats.runs.total, 1);
    assert_eq!(stats.space.as_ref().unwrap().free_pages, None);
}
