//! Durable creates through `Engine::run` on a store file: one client, then 8 concurrent
//! clients, with the bytes written (`/proc/self/io`, Linux) per create. The figures of the
//! commit path (issue 14); run it in release, e.g. under
//! `strace -f -c -e trace=fdatasync,fsync,pwrite64,write`:
//!
//! `cargo run --release --example durable_creates -- [creates-per-phase] [dir] [1|8|both]`

use coworker::{Engine, RunRequest};
use serde_json::json;
use std::time::Instant;

/// Bytes this process has caused to be written to storage so far (0 where unknown).
fn write_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/io")
        .ok()
        .and_then(|io| {
            io.lines()
                .find_map(|l| {
                    l.strip_prefix("write_bytes: ")
                        .map(|v| v.trim().parse().ok())
                })
                .flatten()
        })
        .unwrap_or(0)
}

/// A create of one document of about 286 bytes.
fn create(client: usize, i: usize) -> RunRequest {
    let request = json!({"operation": "create", "into": "Item", "input": {"data": {
        "name": format!("item-{client}-{i:07}"),
        "status": if i.is_multiple_of(2) { "Open" } else { "Closed" },
        "title": "A document of about the size the issue measures, with some text",
        "owner_email": format!("user{}@example.com", i % 97),
        "amount": i * 7 % 1000, "priority": i % 5,
        "notes": "lorem ipsum dolor sit amet consectetur adipiscing elit sed do",
    }}});
    serde_json::from_value(request).expect("a valid request")
}

fn main() {
    let mut args = std::env::args().skip(1);
    let per_phase: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(2_000);
    let base = args.next().map(std::path::PathBuf::from);
    let phases = args.next().unwrap_or_else(|| "both".into());
    let dir = match &base {
        Some(dir) => tempfile::tempdir_in(dir),
        None => tempfile::tempdir(),
    }
    .expect("a temporary directory");
    let engine = Engine::open(dir.path().join("bench.redb")).expect("the store opens");
    for i in 0..50 {
        assert!(engine.run(create(99, i)).success, "warm-up create");
    }

    if phases != "8" {
        one_client(&engine, per_phase);
    }
    if phases != "1" {
        eight_clients(&engine, per_phase);
    }
}

/// `creates` durable creates, one after the other.
fn one_client(engine: &Engine, per_phase: usize) {
    let (bytes, started) = (write_bytes(), Instant::now());
    for i in 0..per_phase {
        let run = engine.run(create(0, i));
        assert!(run.success, "{:?}", run.error);
    }
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "1 client:  {:>8.0} creates/s  {:>7.0} bytes written per create",
        per_phase as f64 / elapsed,
        (write_bytes() - bytes) as f64 / per_phase as f64
    );
}

/// `per_phase` durable creates from 8 threads at once.
fn eight_clients(engine: &Engine, per_phase: usize) {
    let clients = 8;
    let (bytes, started) = (write_bytes(), Instant::now());
    std::thread::scope(|scope| {
        for client in 1..=clients {
            scope.spawn(move || {
                for i in 0..per_phase / clients {
                    let run = engine.run(create(client, i));
                    assert!(run.success, "{:?}", run.error);
                }
            });
        }
    });
    let elapsed = started.elapsed().as_secs_f64();
    let done = per_phase / clients * clients;
    println!(
        "{clients} clients: {:>8.0} creates/s  {:>7.0} bytes written per create",
        done as f64 / elapsed,
        (write_bytes() - bytes) as f64 / done as f64
    );
}
