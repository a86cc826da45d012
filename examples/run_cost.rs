//! What one run costs beyond the store: N durable single-document creates and N point
//! reads by name through `Engine::run` on a file store, with the process's CPU time per run
//! (user + system, from `/proc/self/stat`) and the bytes written per create
//! (`/proc/self/io`). Meant to run under `perf record -g`, `perf stat` or `heaptrack`:
//!
//! ```sh
//! cargo run --release --example run_cost -- [create|create100|create1000|clients8|read|both] [N]
//! ```
//!
//! `clients8`: N single-document durable creates from 8 threads at once (group commit).

use coworker::{Engine, RunRequest};
use serde_json::{Value, json};
use std::time::Instant;

/// The documents the store is loaded with before the point reads.
const LOADED: u64 = 10_000;

fn todo(i: u64) -> Value {
    let status = ["Open", "Closed", "Working"][(i % 3) as usize];
    json!({
        "name": format!("todo-{i:08}"),
        "description": format!("task {i}: write the benchmark, run it, read its numbers"),
        "status": status,
        "priority": i % 5,
        "tags": ["bench", "engine"],
    })
}

/// The process's CPU time so far (user + system), in seconds.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // The fields after the command name (which is in parentheses): utime is the 12th, stime
    // the 13th of them, in clock ticks (100 per second on Linux).
    let after = stat.rsplit(')').next().unwrap_or_default();
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

/// Bytes this process has caused to be written to storage so far.
fn written_bytes() -> u64 {
    let io = std::fs::read_to_string("/proc/self/io").unwrap_or_default();
    io.lines()
        .find_map(|line| line.strip_prefix("write_bytes: "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0)
}

/// Time `n` calls of `work` and print per-call figures.
fn measure(label: &str, n: u64, mut work: impl FnMut(u64)) {
    let (cpu, written, wall) = (cpu_seconds(), written_bytes(), Instant::now());
    for i in 0..n {
        work(i);
    }
    let wall = wall.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu;
    let written = written_bytes() - written;
    println!(
        "{label}: {n} runs, {:.1} µs wall/run, {:.1} µs CPU/run, {:.0} runs/s, {} bytes written/run",
        wall / n as f64 * 1e6,
        cpu / n as f64 * 1e6,
        n as f64 / wall,
        written / n,
    );
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mode = args.next().unwrap_or_else(|| "both".into());
    let n: u64 = args.next().and_then(|n| n.parse().ok()).unwrap_or(5_000);
    let dir = tempfile::tempdir().expect("a temporary directory");
    let engine = Engine::open(dir.path().join("cost.redb")).expect("the store opens");
    if mode == "create" || mode == "both" {
        measure("create_1", n, |i| {
            let run = engine.run(
                RunRequest::new("create")
                    .into_doctype("ToDo")
                    .input(json!({"data": todo(LOADED + i)})),
            );
            assert!(run.success, "create failed: {:?}", run.error);
        });
    }
    if let Some(per_run) = mode
        .strip_prefix("create")
        .and_then(|k| k.parse::<u64>().ok())
    {
        measure(&format!("create_{per_run} (per document)"), n, |i| {
            if i % per_run == 0 {
                let docs: Vec<Value> = (i..i + per_run).map(|j| todo(LOADED + j)).collect();
                let run = engine.run(
                    RunRequest::new("create")
                        .into_doctype("ToDo")
                        .input(json!({"data": docs})),
                );
                assert!(run.success, "create failed: {:?}", run.error);
            }
        });
    }
    if mode == "clients8" {
        const CLIENTS: u64 = 8;
        let per_client = n / CLIENTS;
        let engine = &engine;
        measure("clients_8 (per create)", per_client * CLIENTS, |i| {
            if i == 0 {
                std::thread::scope(|scope| {
                    for client in 0..CLIENTS {
                        scope.spawn(move || {
                            for j in 0..per_client {
                                let doc = todo(LOADED + client * per_client + j);
                                let run = engine.run(
                                    RunRequest::new("create")
                                        .into_doctype("ToDo")
                                        .input(json!({"data": doc})),
                                );
                                assert!(run.success, "create failed: {:?}", run.error);
                            }
                        });
                    }
                });
            }
        });
    }
    if mode == "read" || mode == "both" {
        for start in (0..LOADED).step_by(1_000) {
            let docs: Vec<Value> = (start..start + 1_000).map(todo).collect();
            let run = engine.run(
                RunRequest::new("create")
                    .into_doctype("ToDo")
                    .input(json!({"data": docs})),
            );
            assert!(run.success, "load failed: {:?}", run.error);
        }
        measure("select_by_name", n, |i| {
            let name = format!("todo-{:08}", (i * 7919) % LOADED);
            let run = engine.run(
                RunRequest::new("select")
                    .from("ToDo")
                    .input(json!({"where": {"name": name}})),
            );
            assert!(run.success && run.output["data"][0]["name"] == json!(name));
        });
    }
}
