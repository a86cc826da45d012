//! Story: an operator backs up a store while its host keeps writing, and restores it. The
//! backup holds exactly one instant (every document acknowledged before it started, each
//! with its run and its audit entry), needs no redo log, and opens as a store; a restore
//! checks the copy (its digest and its audit chain) before it replaces anything, keeps the
//! old file aside and never lets the old redo log near the restored one; a backup killed
//! with SIGKILL leaves no file at the target name.

use crate::harness::*;
use coworker::{Engine, ErrorCode, RunQuery};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Documents each writer creates at most (eight writers stay under one select's rows).
const PER_WRITER: usize = 1000;

/// The names of every `doctype` document, through one select.
fn doc_names(engine: &Engine, doctype: &str) -> BTreeSet<String> {
    let run = ok(
        engine,
        json!({"operation": "select", "from": doctype, "input": {"take": 10_000}}),
    );
    names(&run).into_iter().collect()
}

/// Every `create` audit entry about `doctype`: its document's name.
fn created_in_audit(engine: &Engine, doctype: &str) -> BTreeSet<String> {
    let run = ok(
        engine,
        json!({"operation": "select", "from": "Audit Trail", "input": {"take": 10_000,
            "where": {"action": "create", "refDoctype": doctype}}}),
    );
    run.data()
        .iter()
        .map(|entry| entry["refName"].as_str().unwrap().to_string())
        .collect()
}

/// A copy of `file` named `name` in `dir`, with the byte at `offset` of every occurrence
/// of `needle` set to `byte`.
fn altered(file: &Path, dir: &Path, name: &str, needle: &[u8], offset: usize, byte: u8) -> PathBuf {
    let copy = dir.join(name);
    std::fs::copy(file, &copy).unwrap();
    assert!(
        flip(&copy, needle, offset, byte) >= 1,
        "{name}: nothing to alter"
    );
    copy
}

/// The names of the files in `dir`.
fn files_in(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn a_backup_taken_under_eight_writers_holds_one_instant_and_restores() {
    let store = TempStore::new();
    let engine = store.open();
    let acked = Arc::new(Mutex::new(Vec::<String>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..8)
        .map(|w| {
            let (engine, acked, stop) = (engine.clone(), acked.clone(), stop.clone());
            std::thread::spawn(move || {
                for i in 0..PER_WRITER {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let name = format!("w{w}-{i}");
                    ok(
                        &engine,
                        json!({"operation": "create", "into": "Task",
                            "input": {"data": {"name": name, "writer": w}}}),
                    );
                    acked.lock().unwrap().push(name);
                }
            })
        })
        .collect();
    while acked.lock().unwrap().len() < 200 {
        std::thread::sleep(Duration::from_millis(5));
    }
    let before: Vec<String> = acked.lock().unwrap().clone();
    let copy = store.dir.path().join("copy.redb");
    let report = engine.backup(&copy).expect("the backup is written");
    // The writers went on during the backup; let them write a little more after it.
    let after_backup = acked.lock().unwrap().len();
    while acked.lock().unwrap().len() < (after_backup + 50).min(8 * PER_WRITER) {
        std::thread::sleep(Duration::from_millis(5));
    }
    stop.store(true, Ordering::SeqCst);
    for writer in writers {
        writer.join().unwrap();
    }
    assert_eq!(report.path, copy);
    assert_eq!(report.bytes, std::fs::metadata(&copy).unwrap().len());
    assert_eq!(report.tables, 7);
    assert!(
        !log_of(&copy).exists(),
        "a backup is a store file alone: no redo log"
    );

    let restored = store.dir.path().join("restored.redb");
    let restore = Engine::builder()
        .restore_backup(&copy, &restored)
        .expect("the backup restores");
    assert!(restore.digest_checked);
    assert_eq!(restore.old_store, None);
    let engine = Engine::open(&restored).unwrap();
    let audit = engine.verify_audit().unwrap();
    assert_eq!(audit.broken, None);
    assert_eq!(audit.entries, restore.audit_entries);
    assert_eq!(audit.entries, report.audit_entries);
    assert_eq!(
        report.audit_head.as_ref().unwrap()["seq"],
        json!(audit.entries)
    );

    let tasks = doc_names(&engine, "Task");
    for name in &before {
        assert!(
            tasks.contains(name),
            "{name} was acknowledged before the backup"
        );
    }
    assert!(
        tasks.len() < acked.lock().unwrap().len(),
        "later writes are not in it"
    );
    // One instant: each copied document has its audit entry and its run, and no entry
    // names a document the copy lacks.
    assert_eq!(created_in_audit(&engine, "Task"), tasks);
    assert_eq!(audit.entries, tasks.len() as u64);
    let task_runs = engine
        .list_runs(&RunQuery::default())
        .unwrap()
        .into_iter()
        .filter(|run| run.operation.as_deref() == Some("create"))
        .count();
    assert_eq!(task_runs, tasks.len());
    let stats = engine.stats().unwrap();
    assert_eq!(stats.documents.values().sum::<u64>(), report.documents);
    assert_eq!(stats.runs.total, report.runs);
}

/// `<store>.wal`.
fn log_of(store: &Path) -> PathBuf {
    let mut name = store.as_os_str().to_owned();
    name.push(".wal");
    PathBuf::from(name)
}

#[test]
fn a_backup_of_a_store_whose_redo_log_is_not_checkpointed_needs_no_log() {
    let store = TempStore::new();
    let engine = store.open();
    // Write until the redo log holds records the store file has not checkpointed, then
    // back up at once (a checkpoint comes 150 ms after the first record at the earliest).
    let mut written = BTreeSet::new();
    for i in 0..1000 {
        let name = format!("n{i}");
        ok(
            &engine,
            json!({"operation": "create", "into": "Note", "input": {"data": {"name": name}}}),
        );
        written.insert(name);
        let pending = engine.stats().unwrap().redo_log.unwrap().pending_bytes;
        if pending.unwrap() > 0 && i >= 20 {
            break;
        }
    }
    let copy = store.dir.path().join("copy.redb");
    engine.backup(&copy).unwrap();
    drop(engine);
    // The copy moves alone and opens with everything.
    let elsewhere = tempfile::tempdir().unwrap();
    let moved = elsewhere.path().join("moved.redb");
    std::fs::copy(&copy, &moved).unwrap();
    let engine = Engine::open(&moved).unwrap();
    assert_eq!(doc_names(&engine, "Note"), written);
    assert_eq!(engine.verify_audit().unwrap().broken, None);
    assert_eq!(engine.verify_audit().unwrap().entries, written.len() as u64);
}

/// A store with six notes `x0`..`x5` (`i` = 0..5), closed; returns its path.
fn six_notes(dir: &Path, file: &str) -> PathBuf {
    let path = dir.join(file);
    let engine = Engine::open(&path).unwrap();
    for i in 0..6 {
        ok(
            &engine,
            json!({"operation": "create", "into": "Note",
                "input": {"data": {"name": format!("x{i}"), "i": i * 1111}}}),
        );
    }
    path
}

/// `restore_backup(backup, target)` is refused with `code`, and the target's folder is as
/// it was, byte for byte.
fn refused(backup: &Path, target: &Path, code: ErrorCode, saying: &str) {
    let folder = target.parent().unwrap();
    let files = files_in(folder);
    let bytes = std::fs::read(target).unwrap();
    let error = Engine::builder()
        .restore_backup(backup, target)
        .expect_err("the restore is refused");
    assert_eq!(error.code(), code, "{error}");
    assert!(error.to_string().contains(saying), "{error}");
    assert!(
        error.to_string().contains("nothing was replaced"),
        "{error}"
    );
    assert_eq!(
        files_in(folder),
        files,
        "no file left behind, none set aside"
    );
    assert_eq!(
        std::fs::read(target).unwrap(),
        bytes,
        "the target is untouched"
    );
}

#[test]
fn a_restore_refuses_a_copy_that_was_altered_and_leaves_the_target_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let source = six_notes(dir.path(), "source.redb");
    let target_dir = tempfile::tempdir().unwrap();
    let target = six_notes(target_dir.path(), "target.redb");
    let backup = dir.path().join("backup.redb");
    Engine::open(&source).unwrap().backup(&backup).unwrap();

    let entry = br#""refName":"x1""#;
    let document = br#""i":3333"#;
    for (copy, why) in [
        // A document's byte: only the digest the backup carries notices it.
        (
            altered(&backup, dir.path(), "document.redb", document, 7, b'4'),
            "does not match the digest",
        ),
        // An audit entry's byte.
        (
            altered(&backup, dir.path(), "entry.redb", entry, 12, b'9'),
            "does not match the digest",
        ),
        // A store file copied while closed carries no digest: its audit chain is what
        // catches an altered entry.
        (
            altered(&source, dir.path(), "closed.redb", entry, 12, b'9'),
            "audit chain breaks at entry 2",
        ),
    ] {
        refused(&copy, &target, ErrorCode::BadRequest, why);
    }

    // Not a store, and no file at all.
    let text = dir.path().join("notes.txt");
    std::fs::write(&text, "not a store\n".repeat(1000)).unwrap();
    refused(&text, &target, ErrorCode::BadRequest, "not a store file");
    refused(
        &dir.path().join("missing.redb"),
        &target,
        ErrorCode::NotFound,
        "does not exist",
    );

    // The unaltered backup restores; the closed copy's twin does too (chain checked only).
    let report = Engine::builder().restore_backup(&backup, &target).unwrap();
    assert!(report.digest_checked);
    let report = Engine::builder().restore_backup(&source, &target).unwrap();
    assert!(!report.digest_checked);
}

#[test]
fn a_restore_swaps_the_store_keeps_the_old_one_aside_and_waits_for_its_lock() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("target.redb");
    {
        let engine = Engine::open(&target).unwrap();
        ok(
            &engine,
            json!({"operation": "create", "into": "Note", "input": {"data": {"name": "old"}}}),
        );
    }
    assert!(log_of(&target).exists());
    let source = six_notes(dir.path(), "source.redb");
    let backup = dir.path().join("backup.redb");
    Engine::open(&source).unwrap().backup(&backup).unwrap();

    // While the store is open, the restore waits for it, then gives up.
    let holder = Engine::open(&target).unwrap();
    let error = Engine::builder()
        .lock_timeout(Duration::from_millis(100))
        .restore_backup(&backup, &target)
        .expect_err("the store is open");
    assert_eq!(error.code(), ErrorCode::StorageError);
    assert!(error.to_string().contains("has it open"), "{error}");
    assert_eq!(
        doc_names(&holder, "Note"),
        BTreeSet::from(["old".to_string()])
    );
    drop(holder);

    let report = Engine::builder().restore_backup(&backup, &target).unwrap();
    assert_eq!(report.path, target);
    assert_eq!(report.audit_entries, 6);
    let old_store = report.old_store.expect("the old file is kept");
    let old_log = report.old_redo_log.expect("its redo log with it");
    assert_eq!(old_log, log_of(&old_store));
    assert!(
        !log_of(&target).exists(),
        "the old log left with the old file"
    );
    let restored = Engine::open(&target).unwrap();
    let expected: BTreeSet<String> = (0..6).map(|i| format!("x{i}")).collect();
    assert_eq!(doc_names(&restored, "Note"), expected);
    assert_eq!(restored.verify_audit().unwrap().broken, None);
    let old = Engine::open(&old_store).unwrap();
    assert_eq!(doc_names(&old, "Note"), BTreeSet::from(["old".to_string()]));
    assert_eq!(old.verify_audit().unwrap().broken, None);
}

#[test]
fn the_cli_backs_up_refuses_to_overwrite_and_restores() {
    let dir = tempfile::tempdir().unwrap();
    let source = six_notes(dir.path(), "source.redb");
    let backup = dir.path().join("backup.redb");
    let output = cli(&source).arg("backup").arg(&backup).output().unwrap();
    assert!(output.status.success(), "{output:?}");
    let report = stdout_json(&output);
    assert_eq!(report["auditEntries"], json!(6));
    assert_eq!(report["auditHead"]["seq"], json!(6));
    assert_eq!(report["tables"], json!(7));
    assert_eq!(
        report["bytes"],
        json!(std::fs::metadata(&backup).unwrap().len())
    );

    let again = cli(&source).arg("backup").arg(&backup).output().unwrap();
    assert_eq!(again.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("CONFLICT"),
        "{again:?}"
    );
    let forced = cli(&source)
        .args(["backup", "--force"])
        .arg(&backup)
        .output()
        .unwrap();
    assert!(forced.status.success(), "{forced:?}");

    let target = dir.path().join("target.redb");
    let output = cli(&target)
        .arg("restore-backup")
        .arg(&backup)
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let report = stdout_json(&output);
    assert_eq!(report["digestChecked"], json!(true));
    assert_eq!(report["oldStore"], Value::Null);
    let verify = cli(&target).args(["audit", "verify"]).output().unwrap();
    assert_eq!(stdout_json(&verify)["entries"], json!(6));
    assert_eq!(stdout_json(&verify)["broken"], json!(null));
}

#[test]
fn a_backup_killed_mid_copy_leaves_no_file_at_its_name() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("source.redb");
    let documents = 6000;
    {
        let engine = Engine::open(&source).unwrap();
        let lines: String = (0..documents)
            .map(|i| {
                format!(
                    "{{\"name\": \"b{i}\", \"payload\": \"{}\"}}\n",
                    "y".repeat(1500)
                )
            })
            .collect();
        let report = engine
            .import_jsonl(
                lines.as_bytes(),
                &coworker::ImportOptions::new().doctype("Bulk"),
                |_| {},
            )
            .unwrap();
        assert!(report.success());
    }
    let target = dir.path().join("backup.redb");
    let mut kills = 0;
    for attempt in 0..8u64 {
        let mut child = cli(&source)
            .arg("backup")
            .arg(&target)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Wait for the copy to begin (its partial file appears), then kill a little later
        // each attempt.
        let finished = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break Some(status);
            }
            if files_in(dir.path())
                .iter()
                .any(|name| name.starts_with(".backup.redb.partial-"))
            {
                break None;
            }
            std::thread::sleep(Duration::from_millis(1));
        };
        if finished.is_none() {
            std::thread::sleep(Duration::from_millis(attempt * 15));
            child.kill().unwrap();
        }
        let status = child.wait().unwrap();
        if status.success() {
            // It finished first: what is at the name is a whole backup.
            let restored = dir.path().join(format!("check-{attempt}.redb"));
            Engine::builder()
                .restore_backup(&target, &restored)
                .expect("a finished backup restores");
            std::fs::remove_file(&target).unwrap();
        } else {
            kills += 1;
            assert!(
                !target.exists(),
                "attempt {attempt}: a killed backup left a file at the target name"
            );
        }
    }
    assert!(kills > 0, "no kill landed during a backup");
    // The source is intact, and the next backup succeeds beside the partial files left.
    let engine = Engine::open_read_only(&source).unwrap();
    assert_eq!(engine.verify_audit().unwrap().broken, None);
    drop(engine);
    let engine = Engine::open(&source).unwrap();
    assert_eq!(doc_names(&engine, "Bulk").len(), documents);
    let report = engine.backup(&target).unwrap();
    assert_eq!(report.documents, engine.stats().unwrap().tables[0].entries);
    let restored = dir.path().join("restored.redb");
    Engine::builder()
        .restore_backup(&target, &restored)
        .unwrap();
    assert_eq!(
        doc_names(&Engine::open(&restored).unwrap(), "Bulk").len(),
        documents
    );
}
