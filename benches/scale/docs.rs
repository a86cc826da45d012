//! The benchmark documents: the same 286-byte JSON object for every subject, and the names
//! and values the workloads ask for.

use serde_json::{Value, json};
use std::sync::atomic::{AtomicU64, Ordering};

/// The doctype every document belongs to.
pub const DOCTYPE: &str = "Task";

/// The size of every document as JSON text (the documents).
pub const DOC_BYTES: usize = 286;

/// The status every other document has: half the store matches it.
pub const OPEN: &str = "Open";

/// The statuses of the other half, cycled.
const OTHER_STATUSES: [&str; 3] = ["Working", "Review", "Closed"];

/// The status of documents written by the write workloads: no read workload matches it.
const WRITTEN_STATUS: &str = "Draft";

/// How many documents share one `team`: the equality workload returns exactly this many.
pub const TEAM_SIZE: u64 = 10_000;

/// Text the `notes` field is cut from to bring a document to [`DOC_BYTES`].
const FILLER: &str = "Check the figures against last quarter, call the supplier about the \
    late delivery, update the forecast and write the summary for the review meeting on \
    Thursday; attach the signed copy and the corrected invoice before closing the task.";

/// The name of the `i`-th loaded document; names sort in load order.
pub fn name(i: u64) -> String {
    format!("task-{i:010}")
}

/// The team of the `i`-th of `docs` loaded documents: `docs / TEAM_SIZE` teams, each
/// holding [`TEAM_SIZE`] documents.
pub fn team(i: u64, docs: u64) -> String {
    format!("team-{}", i % teams(docs))
}

/// How many teams a store of `docs` documents has (at least one).
pub fn teams(docs: u64) -> u64 {
    (docs / TEAM_SIZE).max(1)
}

/// The `i`-th loaded document of a store of `docs`: status `Open` for even `i`.
pub fn loaded(i: u64, docs: u64) -> Value {
    let status = if i.is_multiple_of(2) {
        OPEN
    } else {
        OTHER_STATUSES[((i / 2) % 3) as usize]
    };
    document(&name(i), status, &team(i, docs), i)
}

/// Names for documents written during the write workloads: never reused in a process, and
/// after every loaded name.
static NEXT_WRITTEN: AtomicU64 = AtomicU64::new(9_000_000_000);

/// A fresh document for a write workload: its status and team match no read workload.
pub fn written() -> Value {
    let i = NEXT_WRITTEN.fetch_add(1, Ordering::Relaxed);
    document(&name(i), WRITTEN_STATUS, "team-w", i)
}

/// `n` fresh documents for a write workload.
pub fn written_batch(n: usize) -> Vec<Value> {
    (0..n).map(|_| written()).collect()
}

/// A document of exactly [`DOC_BYTES`] bytes as JSON: a name, a status with a few values,
/// a team, a number, a date and some text.
fn document(name: &str, status: &str, team: &str, i: u64) -> Value {
    let mut doc = json!({
        "name": name,
        "title": format!("Quarterly review {i}"),
        "status": status,
        "team": team,
        "amount": i % 100_000,
        "due": format!("2026-{:02}-{:02}", 1 + i % 12, 1 + i % 28),
        "notes": "",
    });
    let bare = serde_json::to_vec(&doc).expect("a document encodes").len();
    let room = DOC_BYTES
        .checked_sub(bare)
        .expect("the fields fit in a document");
    doc["notes"] = json!(FILLER[..room]);
    doc
}

/// The CSV header of the select-10 workload; the rows follow in name order.
pub const CSV_HEADER: &str = "name,title,status,amount,due\n";

/// One CSV row of `doc`, as the workload's Rhai handler writes it.
pub fn csv_row(doc: &Value) -> String {
    let field = |key: &str| match &doc[key] {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    format!(
        "{},{},{},{},{}\n",
        field("name"),
        field("title"),
        field("status"),
        field("amount"),
        field("due")
    )
}

/// The caller's fields of `doc` (what every subject must give back on a point read).
pub fn fields(doc: &Value) -> Value {
    let keys = ["name", "title", "status", "team", "amount", "due", "notes"];
    Value::Object(
        keys.iter()
            .map(|k| (k.to_string(), doc[*k].clone()))
            .collect(),
    )
}

/// Loaded documents `start..end` of a store of `docs`.
pub fn loaded_batch(start: u64, end: u64, docs: u64) -> Vec<Value> {
    (start..end).map(|i| loaded(i, docs)).collect()
}
