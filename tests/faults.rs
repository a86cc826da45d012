//! Faults of the store file: a full disk or a file-size limit fails the run that hits it
//! with the cause and is survived without restarting the process; a store left unclean by
//! a killed writer is repaired by the read-only commands; concurrent CLI writers wait for
//! the lock; a document or run record that no longer parses freezes nothing.
//!
//! Processes that must hold or crash a store are this test binary, re-executed to run the
//! ignored `child_holding_the_store` with `COWORKER_FAULTS_CHILD_DB` set.

use crate::harness::*;
use coworker::{Engine, RunRequest};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Where the child opens the store; its presence makes `child_holding_the_store` run.
const CHILD_DB: &str = "COWORKER_FAULTS_CHILD_DB";
/// Set: the child shares the store with readers.
const CHILD_SHARES: &str = "COWORKER_FAULTS_CHILD_SHARES";
/// ENOSPC on Linux.
const ENOSPC: i32 = 28;

fn create(name: &str) -> Value {
    json!({"operation": "create", "into": "Note", "input": {"data": {"name": name}}})
}

fn note_names(engine: &Engine) -> Vec<String> {
    names(&ok(
        engine,
        json!({"operation": "select", "from": "Note", "input": {"orderBy": {"name": "asc"}}}),
    ))
}

fn message(run: &coworker::Run) -> String {
    run.error.as_ref().expect("a failed run").message.clone()
}

#[test]
fn a_full_disk_fails_runs_with_its_cause_and_the_engine_recovers_once_it_clears() {
    let store = TempStore::new();
    let engine = store.open();
    ok(&engine, create("before"));

    coworker::faults::fail_writes(&store.path, Some(ENOSPC));
    let hit = fails(&engine, create("during-1"), "STORAGE_ERROR");
    assert!(
        message(&hit).contains("No space left on device (os error 28) (StorageFull)"),
        "the run that hits the error names its cause: {}",
        message(&hit)
    );
    // Later runs carry the cause too (not "Previous I/O error" without one), writes and
    // reads alike, and a reopen is tried at most every 250 ms, not on every run.
    for i in 0..20 {
        let later = fails(&engine, create(&format!("during-{i}")), "STORAGE_ERROR");
        assert!(
            message(&later).contains("No space left on device (os error 28) (StorageFull)")
                && !message(&later).contains("Previous I/O error"),
            "{}",
            message(&later)
        );
    }
    assert!(engine.reopen().is_err(), "no reopen while the disk is full");

    coworker::faults::fail_writes(&store.path, None);
    std::thread::sleep(Duration::from_millis(300));
    // The engine reopens its file by itself: same process, same handle.
    ok(&engine, create("after"));
    assert_eq!(
        note_names(&engine),
        ["after", "before"],
        "nothing half-written"
    );
    let report = engine.verify_audit().unwrap();
    assert!(report.broken.is_none(), "{report:?}");
    assert_eq!(report.entries, 2, "one audit entry per committed create");
    drop(engine);
    let reopened = store.open();
    assert_eq!(note_names(&reopened), ["after", "before"]);
}

/// Eight clients create while the disk fills and clears again. Each create either succeeds,
/// and is there after a reopen, or fails with `STORAGE_ERROR` naming the cause; the engine
/// takes writes again by itself once the cause clears, and the audit chain verifies with one
/// entry per stored note.
#[test]
fn a_full_disk_under_eight_clients_acknowledges_only_what_is_kept() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let store = TempStore::new();
    let engine = store.open();
    let stop = AtomicBool::new(false);
    let outcomes: Vec<(String, coworker::Run)> = std::thread::scope(|scope| {
        let clients: Vec<_> = (0..8)
            .map(|client| {
                let (engine, stop) = (&engine, &stop);
                scope.spawn(move || {
                    let mut done = Vec::new();
                    while !stop.load(Ordering::SeqCst) {
                        let name = format!("c{client}-{}", done.len());
                        let run = engine.run_value(create(&name));
                        done.push((name, run));
                    }
                    done
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(60));
        coworker::faults::fail_writes(&store.path, Some(ENOSPC));
        std::thread::sleep(Duration::from_millis(120));
        coworker::faults::fail_writes(&store.path, None);
        // The engine reopens its file by itself, at most every 250 ms.
        std::thread::sleep(Duration::from_millis(600));
        stop.store(true, Ordering::SeqCst);
        clients
            .into_iter()
            .flat_map(|c| c.join().expect("a client thread"))
            .collect()
    });
    let failed: Vec<&(String, coworker::Run)> =
        outcomes.iter().filter(|(_, run)| !run.success).collect();
    assert!(
        !failed.is_empty(),
        "the full disk failed no create: the test proved nothing"
    );
    for (name, run) in &failed {
        let error = run.error.as_ref().expect("a failed run has an error");
        assert_eq!(
            error.code,
            coworker::ErrorCode::StorageError,
            "{name}: {error:?}"
        );
        assert!(
            message(run).contains("os error 28"),
            "{name}: {}",
            message(run)
        );
    }
    // Once a reopen is due (failing runs may have just tried one), the engine writes again.
    std::thread::sleep(Duration::from_millis(300));
    ok(&engine, create("after"));
    drop(engine);

    let reopened = store.open();
    let stored: std::collections::HashSet<String> = note_names(&reopened).into_iter().collect();
    for (name, run) in &outcomes {
        if run.success {
            assert!(stored.contains(name), "acknowledged {name} is missing");
        }
    }
    // A batch whose log sync failed after its append may land whole (its runs were told it
    // failed, as when any database's fsync fails); the rest of the failed ones are absent.
    let absent = failed
        .iter()
        .filter(|(name, _)| !stored.contains(name))
        .count();
    assert!(absent > 0, "no failed create was left out");
    let report = reopened.verify_audit().unwrap();
    assert!(report.broken.is_none(), "{report:?}");
    assert_eq!(
        report.entries,
        stored.len() as u64,
        "one audit entry per stored note"
    );
}

#[test]
fn engine_reopen_recovers_at_once_once_the_cause_clears() {
    let store = TempStore::new();
    let engine = store.open();
    coworker::faults::fail_writes(&store.path, Some(ENOSPC));
    let hit = fails(&engine, create("lost"), "STORAGE_ERROR");
    assert!(message(&hit).contains("os error 28"), "{}", message(&hit));
    let later = fails(&engine, create("lost-too"), "STORAGE_ERROR");
    assert!(
        message(&later).contains("Engine::reopen()"),
        "the error says how to recover: {}",
        message(&later)
    );
    coworker::faults::fail_writes(&store.path, None);
    engine.reopen().expect("the cause is gone");
    ok(&engine, create("kept"));
    assert_eq!(note_names(&engine), ["kept"]);
}

/// Runs `coworker` with the file size limited to the store's size plus `slack` bytes
/// (SIGXFSZ ignored, so a write past it fails with EFBIG).
fn cli_with_file_limit(db: &Path, slack: u64, request: &Path) -> std::process::Output {
    let size = std::fs::metadata(db).unwrap().len();
    let blocks = (size + slack) / 512;
    Command::new("sh")
        .arg("-c")
        .arg(format!(
            "trap '' XFSZ; ulimit -f {blocks} && exec \"$0\" --db \"$1\" run --file \"$2\""
        ))
        .arg(env!("CARGO_BIN_EXE_coworker"))
        .arg(db)
        .arg(request)
        .env_remove("COWORKER_DB")
        .output()
        .expect("sh runs")
}

#[test]
fn a_file_size_limit_fails_the_run_with_efbig_and_loses_nothing() {
    let store = TempStore::new();
    let done = cli(&store.path)
        .args(["run", "--json"])
        .arg(create("small").to_string())
        .output();
    assert!(done.unwrap().status.success());
    let request = store.dir.path().join("big.json");
    let big = json!({"operation": "create", "into": "Note",
        "input": {"data": {"name": "big", "text": "y".repeat(3_000_000)}}});
    std::fs::write(&request, big.to_string()).unwrap();

    let limited = cli_with_file_limit(&store.path, 100 * 1024, &request);
    let run = stdout_json(&limited);
    assert_eq!(
        limited.status.code(),
        Some(1),
        "the run failed, the CLI did not crash"
    );
    assert_eq!(run["error"]["code"], "STORAGE_ERROR");
    let text = run["error"]["message"].as_str().unwrap();
    assert!(
        text.contains("File too large (os error 27) (FileTooLarge)"),
        "{text}"
    );

    let engine = store.open();
    assert_eq!(
        note_names(&engine),
        ["small"],
        "acknowledged kept, failed run absent"
    );
    assert!(engine.verify_audit().unwrap().broken.is_none());
}

/// Kills the child when dropped.
struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Holds the store open (after one create) until killed or its stdin closes.
#[test]
#[ignore = "child process of the faults tests"]
fn child_holding_the_store() {
    let Some(path) = std::env::var_os(CHILD_DB) else {
        return;
    };
    let mut builder = Engine::builder();
    if std::env::var_os(CHILD_SHARES).is_some() {
        builder = builder.share_with_readers();
    }
    let engine = builder.open(&path).expect("the child opens the store");
    let run = engine.run(
        RunRequest::new("create")
            .into_doctype("Note")
            .input(json!({"data": {"name": format!("child-{}", std::process::id())}})),
    );
    assert!(run.success, "{:?}", run.error);
    println!("READY {}", std::process::id());
    let mut sink = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut sink);
}

/// Start a child holding the store at `path`; returns once it has written.
fn hold_store(path: &Path, shares: bool) -> ChildGuard {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args([
            "faults::child_holding_the_store",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_DB, path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    if shares {
        command.env(CHILD_SHARES, "1");
    }
    let mut child = ChildGuard(command.spawn().expect("the child starts"));
    let stdout = child.0.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    loop {
        let line = lines
            .next()
            .expect("the child reports READY")
            .expect("stdout reads");
        if line.contains("READY") {
            return child;
        }
    }
}

#[test]
fn after_a_kill_read_only_commands_repair_the_store_and_answer() {
    let store = TempStore::new();
    drop(store.open());
    let mut child = hold_store(&store.path, false);
    child.0.kill().unwrap();
    child.0.wait().unwrap();

    let listed = cli(&store.path).args(["runs", "list"]).output().unwrap();
    assert!(
        listed.status.success(),
        "{}",
        String::from_utf8_lossy(&listed.stderr)
    );
    let runs = stdout_json(&listed);
    assert!(
        runs.as_array().is_some_and(|r| !r.is_empty()),
        "the child's run is listed: {runs}"
    );
    let verified = cli(&store.path).args(["audit", "verify"]).output().unwrap();
    assert!(
        verified.status.success(),
        "{}",
        String::from_utf8_lossy(&verified.stderr)
    );
    assert_eq!(stdout_json(&verified)["entries"], 1);
    assert_eq!(
        note_names(&store.open()),
        [format!("child-{}", child.0.id())]
    );
}

#[test]
fn read_only_commands_beside_a_live_writer_behave_as_documented() {
    let store = TempStore::new();
    drop(store.open());
    {
        let _sharing = hold_store(&store.path, true);
        let listed = cli(&store.path).args(["runs", "list"]).output().unwrap();
        assert!(
            listed.status.success(),
            "a sharing writer lets readers in: {}",
            String::from_utf8_lossy(&listed.stderr)
        );
        let verified = cli(&store.path).args(["audit", "verify"]).output().unwrap();
        assert!(verified.status.success());
    }
    let _exclusive = hold_store(&store.path, false);
    let refused = cli(&store.path)
        .args(["--lock-timeout", "200", "runs", "list"])
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("open for writing") && stderr.contains("share_with_readers"),
        "{stderr}"
    );
}

#[test]
fn concurrent_cli_writers_wait_for_the_lock_and_all_succeed() {
    let store = TempStore::new();
    drop(store.open());
    let writers: Vec<_> = (0..12)
        .map(|i| {
            cli(&store.path)
                .args(["run", "--json"])
                .arg(create(&format!("w{i:02}")).to_string())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for writer in writers {
        let out = writer.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "every writer waits its turn: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let expected: Vec<String> = (0..12).map(|i| format!("w{i:02}")).collect();
    assert_eq!(note_names(&store.open()), expected);
}

#[test]
fn a_writer_that_gives_up_on_the_lock_says_what_holds_it() {
    let store = TempStore::new();
    drop(store.open());
    let child = hold_store(&store.path, false);
    let refused = cli(&store.path)
        .args(["--lock-timeout", "300", "run", "--json"])
        .arg(create("late").to_string())
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains(&store.path.display().to_string())
            && stderr.contains("another process")
            && stderr.contains("has it open for writing")
            && stderr.contains("waited"),
        "{stderr}"
    );
    let pid = child.0.id();
    if std::path::Path::new("/proc/locks").exists() {
        assert!(stderr.contains(&format!("pid {pid}")), "{stderr}");
    }
    // Through the library: zero timeout by default, a bounded wait when asked.
    let err = Engine::open(&store.path).err().expect("the lock is held");
    assert_eq!(err.code(), coworker::ErrorCode::StorageError);
    drop(child);
    Engine::builder()
        .lock_timeout(Duration::from_secs(10))
        .open(&store.path)
        .expect("the lock is free once the holder is gone");
}

/// Store `value` under `key` in the store's redb table `table`, behind the engine's back
/// (the store must be closed): how a corrupted or over-deep record is made.
fn write_raw(path: &Path, table: &'static str, key: &[u8], value: &[u8]) {
    let db = redb::Database::open(path).expect("redb opens the store");
    let txn = db.begin_write().unwrap();
    {
        let definition = redb::TableDefinition::<&[u8], &[u8]>::new(table);
        txn.open_table(definition)
            .unwrap()
            .insert(key, value)
            .unwrap();
    }
    txn.commit().unwrap();
}

/// JSON nested `depth` arrays deep: more than a JSON reader's recursion limit (128).
fn over_deep(depth: usize) -> String {
    format!("{}{}", "[".repeat(depth), "]".repeat(depth))
}

fn gadgets(engine: &Engine) {
    let run = engine.import_schemas(vec![json!({"doctype": "DocType", "name": "Gadget",
        "fields": [{"fieldname": "serial", "fieldtype": "Data", "unique": 1}]})]);
    assert!(run.success, "{:?}", run.error);
    for (name, serial) in [("a", "s1"), ("b", "s2"), ("c", "s3")] {
        ok(
            engine,
            json!({"operation": "create", "into": "Gadget",
                "input": {"data": {"name": name, "serial": serial}}}),
        );
    }
}

fn select_gadgets(input: Value) -> Value {
    json!({"operation": "select", "from": "Gadget", "input": input})
}

/// A document whose stored body is `body` (not JSON, or too deep to read) names itself,
/// is skipped on request, and can be deleted by name, freeing its unique value.
fn a_broken_document_freezes_nothing(body: &[u8]) {
    let store = TempStore::new();
    gadgets(&store.open());
    write_raw(&store.path, "docs", b"Gadget\0b", body);
    let engine = store.open();

    let failed = fails(&engine, select_gadgets(json!({})), "STORAGE_ERROR");
    let error = failed.error.unwrap();
    assert_eq!(error.details["doctype"], "Gadget", "{error:?}");
    assert_eq!(error.details["name"], "b", "{error:?}");
    assert!(error.message.contains("Gadget `b`"), "{}", error.message);

    let skipped = ok(&engine, select_gadgets(json!({"skipCorrupt": true})));
    assert_eq!(names(&skipped), ["a", "c"]);
    assert_eq!(skipped.output["meta"]["corrupt"], json!(["b"]));
    let by_index = ok(
        &engine,
        select_gadgets(json!({"skipCorrupt": true, "where": {"serial": "s2"}})),
    );
    assert_eq!(names(&by_index), Vec::<String>::new());
    assert_eq!(by_index.output["meta"]["corrupt"], json!(["b"]));
    let clean = ok(
        &engine,
        select_gadgets(json!({"skipCorrupt": true, "where": {"name": "a"}})),
    );
    assert_eq!(clean.output["meta"]["corrupt"], json!([]));

    // Other documents of the doctype stay writable; a where that reaches `b` names it.
    ok(
        &engine,
        json!({"operation": "update", "in": "Gadget", "input": {"name": "a", "data": {"serial": "s9"}}}),
    );
    let blocked = fails(
        &engine,
        json!({"operation": "update", "in": "Gadget", "input": {"where": {}, "data": {"serial": "x"}}}),
        "STORAGE_ERROR",
    );
    assert_eq!(blocked.error.unwrap().details["name"], "b");

    ok(
        &engine,
        json!({"operation": "delete", "from": "Gadget", "input": {"name": "b"}}),
    );
    let audit = ok(
        &engine,
        json!({"operation": "select", "from": "Audit Trail",
            "input": {"where": {"refName": "b", "action": "delete"}}}),
    );
    assert_eq!(audit.data().len(), 1, "{}", audit.output);
    assert_eq!(audit.data()[0]["bodyUnreadable"], true);
    // Its unique value is free again: the index entry went with it.
    ok(
        &engine,
        json!({"operation": "create", "into": "Gadget", "input": {"data": {"name": "d", "serial": "s2"}}}),
    );
    assert_eq!(
        names(&ok(&engine, select_gadgets(json!({})))),
        ["a", "c", "d"]
    );
    assert!(engine.verify_audit().unwrap().broken.is_none());
}

#[test]
fn a_document_that_is_not_json_freezes_nothing() {
    a_broken_document_freezes_nothing(b"{\"name\": \"b\", \"serial\": ");
}

#[test]
fn an_over_deep_stored_document_freezes_nothing() {
    let body = format!(
        "{{\"name\": \"b\", \"serial\": \"s2\", \"x\": {}}}",
        over_deep(200)
    );
    a_broken_document_freezes_nothing(body.as_bytes());
}

#[test]
fn runs_list_survives_an_unreadable_run_record() {
    let store = TempStore::new();
    let engine = store.open();
    let first = ok(&engine, create("one"));
    let second = ok(&engine, create("two"));
    drop(engine);
    let deep = format!(
        "{{\"id\": \"{}\", \"input\": {}}}",
        second.id,
        over_deep(300)
    );
    write_raw(&store.path, "runs", second.id.as_bytes(), deep.as_bytes());

    let listed = cli(&store.path).args(["runs", "list"]).output().unwrap();
    assert!(
        listed.status.success(),
        "{}",
        String::from_utf8_lossy(&listed.stderr)
    );
    let runs = stdout_json(&listed);
    let runs = runs.as_array().unwrap();
    let by_id = |id: &str| {
        runs.iter()
            .find(|r| r["id"] == id)
            .cloned()
            .unwrap_or_default()
    };
    assert_eq!(by_id(&first.id)["status"], "completed", "{runs:?}");
    let stub = by_id(&second.id);
    assert_eq!(
        stub["status"], "failed",
        "the unreadable record is listed as such: {stub}"
    );
    assert_eq!(stub["error"]["code"], "STORAGE_ERROR");
    assert!(
        stub["error"]["message"]
            .as_str()
            .unwrap()
            .contains(&second.id),
        "{stub}"
    );
    let engine = store.open();
    let failed = engine
        .list_runs(&coworker::RunQuery {
            status: Some(coworker::RunStatus::Completed),
            ..Default::default()
        })
        .expect("a filtered listing survives it too");
    assert!(failed.iter().any(|r| r.id == first.id));
    let shown = engine.get_run(&second.id).expect_err("showing it names it");
    assert!(shown.to_string().contains(&second.id), "{shown}");
}
