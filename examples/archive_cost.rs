//! What archiving pruned runs costs: the same workload (creates and selects of `ToDo`)
//! pruned with `runs.archive` off and on, the prune's time per run record, and the archive's
//! bytes per record against the bytes the records took in the store.
//!
//! `cargo run --release --example archive_cost [RUNS]` (default 20,000 runs).

use coworker::{Engine, RunRequest};
use serde_json::json;
use std::time::{Duration, Instant};

fn workload(engine: &Engine, runs: usize) {
    for i in 0..runs {
        let run = if i % 2 == 0 {
            engine.run(RunRequest::new("create").into_doctype("ToDo").input(
                json!({"data": {"description": format!("task {i} with some words to carry")}}),
            ))
        } else {
            engine.run(
                RunRequest::new("select")
                    .from("ToDo")
                    .input(json!({"take": 5, "orderBy": {"modified": "desc"}})),
            )
        };
        assert!(run.success, "{:?}", run.error);
    }
}

fn main() {
    let runs: usize = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(20_000);
    for archive in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.redb");
        let engine = Engine::open(&path).unwrap();
        // Settings that keep everything first: the background pruner's first pass (right
        // away) finds nothing, and its next is an hour off, so only the timed prune prunes.
        let settings = json!({"data": {"name": "retention",
            "runs": {"maxAgeMs": 3_600_000, "archive": archive}, "pruneEveryMs": 3_600_000,
            "pruneBatch": 1000}});
        let saved = engine.run(
            RunRequest::new("create")
                .into_doctype("System Settings")
                .input(settings),
        );
        assert!(saved.success, "{:?}", saved.error);
        std::thread::sleep(Duration::from_millis(500));
        workload(&engine, runs);
        let update =
            json!({"name": "retention", "data": {"runs": {"maxAgeMs": 0, "archive": archive}}});
        let saved = engine.run(
            RunRequest::new("update")
                .in_doctype("System Settings")
                .input(update),
        );
        assert!(saved.success, "{:?}", saved.error);
        std::thread::sleep(Duration::from_millis(5));
        let started = Instant::now();
        let report = engine.prune_runs(false).unwrap();
        let elapsed = started.elapsed();
        let records = report.removed + report.stubbed;
        let (mut archive_bytes, mut plain_bytes) = (0u64, 0u64);
        if let Ok(files) = std::fs::read_dir(dir.path().join("store.redb.archive")) {
            for file in files.flatten() {
                archive_bytes += file.metadata().unwrap().len();
                let mut plain = Vec::new();
                std::io::Read::read_to_end(
                    &mut flate2::read::MultiGzDecoder::new(
                        std::fs::File::open(file.path()).unwrap(),
                    ),
                    &mut plain,
                )
                .unwrap();
                plain_bytes += plain.len() as u64;
            }
        }
        println!(
            "archive={archive}: {records} records pruned ({} removed, {} stubbed, {} archived) in {:.1} ms: {:.2} us/record; store bytes freed {} ({:.0} B/record); archive {} B ({:.1} B/record; {:.1} B/record as stored, uncompressed)",
            report.removed,
            report.stubbed,
            report.archived,
            elapsed.as_secs_f64() * 1e3,
            elapsed.as_secs_f64() * 1e6 / records.max(1) as f64,
            report.bytes_freed,
            report.bytes_freed as f64 / records.max(1) as f64,
            archive_bytes,
            archive_bytes as f64 / report.archived.max(1) as f64,
            plain_bytes as f64 / report.archived.max(1) as f64,
        );
    }
}
