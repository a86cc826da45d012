//! Soak (issue #15, "Measure"): a steady mix of runs for N minutes on a file store, with
//! retention ("keep `--keep-ms`", one minute by default) and without, to show whether the
//! file stops growing and runs stop slowing down, what pruning costs per record, and how
//! long writers wait while a prune runs.
//!
//! ```text
//! cargo bench --bench soak -- --minutes 10 [--mode retention|none|both] [--keep-ms 60000]
//!                             [--rate 2000] [--prune-every-ms 5000] [--batch 200]
//! ```
//!
//! One client thread runs, paced to `--rate` top-level runs per second: 16 selects by name,
//! one inline workflow of three select steps, one create and one delete (of the document
//! created 200 cycles before, so the live documents stay about 200). With retention a
//! pruner thread calls `Engine::prune_runs` every `--prune-every-ms` (the background pruner
//! is set to an hour, so every prune is one the bench times) and flags the writes made
//! while it runs. Every 10 s a line: elapsed, file MB, runs pruned so far, and the p50 of
//! each kind of run in that window. At the end: file size after the first `keep` and at
//! the end, the runs and audit tables' stored bytes, latency start vs end, prune cost per
//! record, and create (durable write) latency during prunes vs outside them.

#![allow(missing_docs)]

mod common;

use coworker::Engine;
use serde_json::json;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

struct Args {
    minutes: f64,
    modes: Vec<bool>,
    keep_ms: u64,
    rate: u64,
    prune_every_ms: u64,
    batch: u64,
}

fn args() -> Args {
    let mut args = Args {
        minutes: 1.0,
        modes: vec![true, false],
        keep_ms: 60_000,
        rate: 2_000,
        prune_every_ms: 5_000,
        batch: 200,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || it.next().unwrap_or_default();
        match arg.as_str() {
            "--minutes" => args.minutes = value().parse().expect("--minutes N"),
            "--keep-ms" => args.keep_ms = value().parse().expect("--keep-ms N"),
            "--rate" => args.rate = value().parse().expect("--rate N"),
            "--prune-every-ms" => args.prune_every_ms = value().parse().expect("ms"),
            "--batch" => args.batch = value().parse().expect("--batch N (pruneBatch)"),
            "--mode" => {
                args.modes = match value().as_str() {
                    "retention" => vec![true],
                    "none" => vec![false],
                    "both" => vec![true, false],
                    other => panic!("--mode retention|none|both, not {other}"),
                }
            }
            // `cargo bench` passes `--bench`.
            _ => {}
        }
    }
    args
}

/// Latencies (µs) of one kind of run in one window.
#[derive(Default, Clone)]
struct Samples(Vec<u64>);

impl Samples {
    fn add(&mut self, since: Instant) {
        self.0.push(since.elapsed().as_micros() as u64);
    }
    fn quantile(&self, q: f64) -> u64 {
        let mut v = self.0.clone();
        if v.is_empty() {
            return 0;
        }
        v.sort_unstable();
        v[((v.len() - 1) as f64 * q) as usize]
    }
    fn mean(&self) -> f64 {
        if self.0.is_empty() {
            return 0.0;
        }
        self.0.iter().sum::<u64>() as f64 / self.0.len() as f64
    }
}

#[derive(Default, Clone)]
struct Window {
    select: Samples,
    workflow: Samples,
    create: Samples,
    runs: u64,
}

fn file_mb(path: &std::path::Path) -> f64 {
    std::fs::metadata(path).map_or(0.0, |m| m.len() as f64 / 1e6)
}

fn soak(args: &Args, retention: bool) {
    let dir = common::temp_dir();
    let path = dir.path().join("soak.redb");
    let engine = Arc::new(Engine::open(&path).expect("store opens"));
    let items: Vec<_> = (0..100)
        .map(|i| json!({"name": format!("item-{i}"), "n": i, "text": "x".repeat(200)}))
        .collect();
    assert!(
        engine
            .run_value(json!({"operation": "create", "into": "Item", "input": {"data": items}}))
            .success
    );
    if retention {
        let settings = json!({"operation": "create", "into": "System Settings",
            "input": {"data": {"name": "retention", "runs": {"maxAgeMs": args.keep_ms},
                               "pruneEveryMs": 3_600_000, "pruneBatch": args.batch}}});
        let saved = engine.run_value(settings);
        assert!(saved.success, "{:?}", saved.error);
    }
    let label = if retention { "retention" } else { "none" };
    println!(
        "== mode {label}: {} min, keep {} ms, {} runs/s ==",
        args.minutes, args.keep_ms, args.rate
    );
    let stop = Arc::new(AtomicBool::new(false));
    let pruning = Arc::new(AtomicBool::new(false));
    let pruned = Arc::new(AtomicU64::new(0));
    let prune_time = Arc::new(Mutex::new((Duration::ZERO, 0u64, 0u64)));
    let pruner = retention.then(|| {
        let (engine, stop, pruning, pruned, prune_time) = (
            engine.clone(),
            stop.clone(),
            pruning.clone(),
            pruned.clone(),
            prune_time.clone(),
        );
        let every = Duration::from_millis(args.prune_every_ms);
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(every);
                pruning.store(true, Ordering::SeqCst);
                let started = Instant::now();
                let report = engine.prune_runs(false).expect("prune");
                let took = started.elapsed();
                pruning.store(false, Ordering::SeqCst);
                let records = report.removed + report.stubbed;
                pruned.fetch_add(records, Ordering::Relaxed);
                let mut total = prune_time.lock().unwrap();
                total.0 += took;
                total.1 += records;
                total.2 += report.passes;
            }
        })
    });
    let started = Instant::now();
    let end = Duration::from_secs_f64(args.minutes * 60.0);
    let per_run = Duration::from_secs_f64(1.0 / args.rate as f64);
    let mut windows: Vec<Window> = vec![Window::default()];
    let mut window_start = Instant::now();
    let (mut during_prune, mut outside_prune) = (Samples::default(), Samples::default());
    let mut sizes: Vec<(f64, f64)> = Vec::new();
    let mut cycle: u64 = 0;
    let mut issued: u64 = 0;
    while started.elapsed() < end {
        for i in 0..16 {
            let t = Instant::now();
            let run = engine.run_value(json!({"operation": "select", "from": "Item",
                "input": {"where": {"name": format!("item-{}", (cycle * 16 + i) % 100)}}}));
            assert!(run.success);
            windows.last_mut().unwrap().select.add(t);
        }
        let t = Instant::now();
        let steps: Vec<_> = (0..3)
            .map(|k| {
                json!({"id": format!("s{k}"), "operation": "select", "from": "Item",
                            "input": {"where": {"name": format!("item-{k}")}}})
            })
            .collect();
        let run = engine.run_value(json!({"operation": "workflow", "input": {"children": steps}}));
        assert!(run.success, "{:?}", run.error);
        windows.last_mut().unwrap().workflow.add(t);
        let t = Instant::now();
        let during = pruning.load(Ordering::SeqCst);
        let run = engine.run_value(json!({"operation": "create", "into": "Note",
            "input": {"data": {"name": format!("note-{cycle}"), "text": "y".repeat(300)}}}));
        assert!(run.success, "{:?}", run.error);
        windows.last_mut().unwrap().create.add(t);
        if during && pruning.load(Ordering::SeqCst) {
            during_prune.add(t);
        } else if !during && !pruning.load(Ordering::SeqCst) {
            outside_prune.add(t);
        }
        if cycle >= 200 {
            let run = engine.run_value(json!({"operation": "delete", "from": "Note",
                "input": {"name": format!("note-{}", cycle - 200)}}));
            assert!(run.success, "{:?}", run.error);
        }
        cycle += 1;
        issued += 19;
        windows.last_mut().unwrap().runs += 19;
        // Pace to the rate.
        let due = per_run * issued as u32;
        if let Some(ahead) = due.checked_sub(started.elapsed()) {
            std::thread::sleep(ahead);
        }
        if window_start.elapsed() >= Duration::from_secs(10) {
            let w = windows.last().unwrap();
            let mb = file_mb(&path);
            let at = started.elapsed().as_secs_f64();
            sizes.push((at, mb));
            println!(
                "t={at:6.1}s file={mb:8.1} MB runs/s={:6.0} pruned={:8} p50 µs: select {:5} workflow {:6} create {:6}",
                w.runs as f64 / window_start.elapsed().as_secs_f64(),
                pruned.load(Ordering::Relaxed),
                w.select.quantile(0.5),
                w.workflow.quantile(0.5),
                w.create.quantile(0.5),
            );
            windows.push(Window::default());
            window_start = Instant::now();
        }
    }
    stop.store(true, Ordering::Relaxed);
    if let Some(pruner) = pruner {
        pruner.join().expect("the pruner ends");
    }
    let stats = engine.stats().expect("stats");
    let table = |name: &str| {
        stats
            .tables
            .iter()
            .find(|t| t.name == name)
            .map_or((0, 0), |t| (t.entries, t.stored_bytes))
    };
    let (runs, runs_bytes) = table("runs");
    let (audit, audit_bytes) = table("audit");
    let (docs, docs_bytes) = table("docs");
    let keep_s = args.keep_ms as f64 / 1000.0;
    let after_keep: Vec<f64> = sizes
        .iter()
        .filter(|(at, _)| *at >= keep_s + 10.0)
        .map(|(_, mb)| *mb)
        .collect();
    println!("-- mode {label} summary --");
    println!(
        "file: {:.1} MB after the first keep+10 s, {:.1} MB max after it, {:.1} MB at the end",
        after_keep.first().copied().unwrap_or(0.0),
        after_keep.iter().copied().fold(0.0, f64::max),
        file_mb(&path)
    );
    println!(
        "live set at the end: runs {runs} ({:.1} MB stored), audit {audit} ({:.1} MB), docs {docs} ({:.1} MB)",
        runs_bytes as f64 / 1e6,
        audit_bytes as f64 / 1e6,
        docs_bytes as f64 / 1e6
    );
    let full: Vec<&Window> = windows.iter().filter(|w| w.runs > 0).collect();
    if let (Some(first), Some(last)) = (full.first(), full.get(full.len().saturating_sub(2))) {
        println!(
            "mean µs first window → last full window: select {:.0} → {:.0} ({:.2}×), workflow {:.0} → {:.0} ({:.2}×), create {:.0} → {:.0} ({:.2}×)",
            first.select.mean(),
            last.select.mean(),
            last.select.mean() / first.select.mean(),
            first.workflow.mean(),
            last.workflow.mean(),
            last.workflow.mean() / first.workflow.mean(),
            first.create.mean(),
            last.create.mean(),
            last.create.mean() / first.create.mean()
        );
    }
    if retention {
        let (took, records, passes) = *prune_time.lock().unwrap();
        println!(
            "prune: {records} records in {passes} passes, {:.2} s in all, {:.1} µs per record",
            took.as_secs_f64(),
            took.as_micros() as f64 / records.max(1) as f64
        );
        println!(
            "create (durable write) during a prune: n={} p50 {} µs p99 {} µs mean {:.0}; outside: n={} p50 {} µs p99 {} µs mean {:.0}",
            during_prune.0.len(),
            during_prune.quantile(0.5),
            during_prune.quantile(0.99),
            during_prune.mean(),
            outside_prune.0.len(),
            outside_prune.quantile(0.5),
            outside_prune.quantile(0.99),
            outside_prune.mean()
        );
    }
}

fn main() {
    let args = args();
    for retention in args.modes.clone() {
        soak(&args, retention);
    }
}
