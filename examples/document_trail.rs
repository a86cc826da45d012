//! A store for measuring `coworker audit verify --documents` at scale: DOCS documents and
//! about ENTRIES audit entries (one create per document, then updates of every document in
//! rounds until the trail holds ENTRIES), written through `Engine::run` in runs of 10,000.
//!
//! ```sh
//! cargo build --release --example document_trail --bin coworker
//! target/release/examples/document_trail /tmp/trail.redb 100000 1000000
//! /usr/bin/time -v target/release/coworker --db /tmp/trail.redb audit verify
//! /usr/bin/time -v target/release/coworker --db /tmp/trail.redb audit verify --documents
//! ```

use coworker::Engine;
use serde_json::json;
use std::time::Instant;

/// Documents per run.
const CHUNK: u64 = 10_000;

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .expect("usage: document_trail PATH [DOCS] [ENTRIES]");
    let docs: u64 = args.next().map_or(100_000, |n| n.parse().expect("DOCS"));
    let entries: u64 = args
        .next()
        .map_or(1_000_000, |n| n.parse().expect("ENTRIES"));
    let engine = Engine::open(&path).expect("the store opens");
    let started = Instant::now();
    let chunks = docs.div_ceil(CHUNK);
    for chunk in 0..chunks {
        let data: Vec<_> = (chunk * CHUNK..((chunk + 1) * CHUNK).min(docs))
            .map(|i| {
                json!({"name": format!("note-{i:08}"), "chunk": chunk, "round": 0,
                    "text": format!("note {i}: a short text like most documents carry")})
            })
            .collect();
        let run = engine.run_value(json!({"operation": "create", "into": "Note",
            "input": {"data": data}}));
        assert!(run.success, "{:?}", run.error);
    }
    let mut written = docs;
    let mut round = 0;
    while written < entries {
        round += 1;
        for chunk in 0..chunks {
            if written >= entries {
                break;
            }
            let run = engine.run_value(json!({"operation": "update", "in": "Note",
                "input": {"where": {"chunk": chunk}, "data": {"round": round}}}));
            assert!(run.success, "{:?}", run.error);
            written += CHUNK.min(docs - chunk * CHUNK);
        }
    }
    println!(
        "{docs} documents, {written} document entries in {:.1} s",
        started.elapsed().as_secs_f64()
    );
}
