//! A small harness shared by the stories: engines on temporary stores, CLI calls.
#![allow(dead_code)]

use coworker::{Engine, Run, RunRequest};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Every key of a run record's JSON (the design's names, camelCase), set or null.
pub const RUN_RECORD_KEYS: [&str; 22] = [
    "id",
    "timestamp",
    "operation",
    "status",
    "duration",
    "doctype",
    "from",
    "into",
    "template",
    "input",
    "output",
    "success",
    "error",
    "parentRunId",
    "childRunIds",
    "chainId",
    "owner",
    "agent",
    "flowType",
    "flowId",
    "stepId",
    "options",
];

/// An engine on a fresh in-memory store.
pub fn engine() -> Engine {
    Engine::in_memory().expect("in-memory store opens")
}

/// A temporary folder holding a store file; removed when dropped.
pub struct TempStore {
    pub dir: tempfile::TempDir,
    pub path: PathBuf,
}

impl TempStore {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("test.redb");
        TempStore { dir, path }
    }

    pub fn open(&self) -> Engine {
        Engine::open(&self.path).expect("store opens")
    }
}

/// Run a JSON request and return the run.
pub fn run(engine: &Engine, request: Value) -> Run {
    engine.run_value(request)
}

/// Run a request that must succeed; panics with the run's error otherwise.
pub fn ok(engine: &Engine, request: Value) -> Run {
    let run = engine.run_value(request.clone());
    assert!(
        run.success,
        "expected success for {request}, got {:?}",
        run.error
    );
    run
}

/// Run a request that must fail with `code` (e.g. "BAD_REQUEST"); returns the run.
pub fn fails(engine: &Engine, request: Value, code: &str) -> Run {
    let run = engine.run_value(request.clone());
    assert!(
        !run.success,
        "expected {code} for {request}, got success: {}",
        run.output
    );
    let error = run.error.as_ref().expect("a failed run has an error");
    assert_eq!(
        error.code.as_str(),
        code,
        "for {request}: {}",
        error.message
    );
    run
}

/// The stored record of a run (panics if it is missing).
pub fn stored(engine: &Engine, id: &str) -> Run {
    engine
        .get_run(id)
        .expect("the store answers")
        .unwrap_or_else(|| panic!("run {id} is recorded"))
}

/// The ids of `runs`, in order.
pub fn ids(runs: &[Run]) -> Vec<String> {
    runs.iter().map(|r| r.id.clone()).collect()
}

/// Names of the documents in a run's output, in order.
pub fn names(run: &Run) -> Vec<String> {
    run.data()
        .iter()
        .map(|d| d["name"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// Count documents of a doctype through a select.
pub fn count(engine: &Engine, doctype: &str) -> usize {
    engine
        .run(RunRequest::new("select").from(doctype))
        .data()
        .len()
}

/// The CLI binary, with `--db` set to `db`.
pub fn cli(db: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_coworker"));
    cmd.env_remove("COWORKER_DB").arg("--db").arg(db);
    cmd
}

/// stdout of a finished CLI call, parsed as JSON.
pub fn stdout_json(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}): {}\nstderr: {}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

/// The `(path, rule)` of every violation of a failed run, in order.
pub fn violations(run: &Run) -> Vec<(String, String)> {
    let error = run.error.as_ref().expect("a failed run");
    error
        .details
        .as_array()
        .unwrap_or_else(|| panic!("details are an array: {}", error.details))
        .iter()
        .map(|d| {
            (
                d["path"].as_str().unwrap_or_default().to_string(),
                d["rule"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

/// Behind the engine's back: set the byte at `offset` of every occurrence of `needle` in
/// the store file (old copies of a page included) to `byte`. Returns how many were changed.
pub fn flip(path: &Path, needle: &[u8], offset: usize, byte: u8) -> usize {
    let mut bytes = std::fs::read(path).unwrap();
    let mut flipped = 0;
    let mut at = 0;
    while let Some(i) = bytes[at..]
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|i| i + at)
    {
        bytes[i + offset] = byte;
        flipped += 1;
        at = i + needle.len();
    }
    std::fs::write(path, &bytes).unwrap();
    flipped
}
