//! Story: an operator must be able to look at a run long after retention pruned it, and an
//! auditor must be able to prove an archived stretch of the audit trail. Pruned runs go to
//! a gzip file of JSON lines first (readable with `zcat | jq`, or `runs show|list|tree
//! --archive`); an audit segment goes to an archive behind a checkpoint entry, and `audit
//! verify` still proves the chain, and the archive when given it.

use crate::harness::{TempStore, cli, ok, stdout_json};
use coworker::{Engine, RunArchive, RunQuery};
use serde_json::{Value, json};
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::time::Duration;

fn retain(engine: &Engine, settings: Value) {
    let mut data = settings;
    data["name"] = json!("retention");
    ok(
        engine,
        json!({"operation": "create", "into": "System Settings", "input": {"data": data}}),
    );
}

/// An operation whose run has two children: a select and a create.
fn nested(engine: &Engine) -> coworker::Run {
    ok(
        engine,
        json!({"operation": "create", "into": "Operation", "input": {"data": {
            "name": "file_and_count",
            "handlerCode": "let n = run(#{operation: \"select\", from: \"ToDo\"}); \
                            let c = run(#{operation: \"create\", into: \"ToDo\", \
                                          input: #{data: #{description: \"filed\"}}}); \
                            c.id"}}}),
    );
    ok(engine, json!({"operation": "file_and_count"}))
}

/// The archive files in `dir`, sorted.
fn archives(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| d.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default();
    files.sort();
    files
}

/// Every line of a gzip file, read with nothing but a gzip decoder and serde_json.
fn plain_lines(path: &Path) -> Vec<Value> {
    let file = std::fs::File::open(path).unwrap();
    std::io::BufReader::new(flate2::read::MultiGzDecoder::new(file))
        .lines()
        .map(|line| serde_json::from_str(&line.unwrap()).unwrap())
        .collect()
}

#[test]
fn pruned_runs_are_archived_and_read_back_as_they_were() {
    let store = TempStore::new();
    let engine = store.open();
    let select = ok(&engine, json!({"operation": "select", "from": "ToDo"}));
    let root = nested(&engine);
    let before: Vec<coworker::Run> = [
        &select.id,
        &root.id,
        &root.child_run_ids[0],
        &root.child_run_ids[1],
    ]
    .iter()
    .map(|id| engine.get_run(id).unwrap().unwrap())
    .collect();
    let tree_before = engine.run_tree(&root.id).unwrap().unwrap();
    retain(&engine, json!({"runs": {"maxAgeMs": 0, "archive": true}}));
    std::thread::sleep(Duration::from_millis(3));
    let report = engine.prune_runs(false).unwrap();
    assert!(report.archived >= 4, "{report:?}");
    assert_eq!(
        report.archived,
        report.removed + report.stubbed,
        "{report:?}"
    );

    let dir = coworker_archive_dir(&store.path);
    let files = archives(&dir);
    assert_eq!(files.len(), 1, "one file per day: {files:?}");
    let name = files[0].file_name().unwrap().to_str().unwrap().to_string();
    assert!(
        name.starts_with("runs-") && name.ends_with(".jsonl.gz"),
        "{name}"
    );

    // The stub left in the store names the archive.
    let stub = engine
        .get_run(&root.id)
        .unwrap()
        .expect("an audited tree keeps a stub");
    assert_eq!(stub.output["pruned"], json!(true));
    assert_eq!(stub.output["archive"], json!(name));
    assert!(
        engine.get_run(&select.id).unwrap().is_none(),
        "the select is gone"
    );

    // Read back through the API: identical to before pruning.
    let archive = RunArchive::open(&files[0]).unwrap();
    for run in &before {
        assert_eq!(archive.get(&run.id), Some(run), "run {} read back", run.id);
    }
    let tree = archive.tree(&root.id).unwrap();
    assert_eq!(
        serde_json::to_value(&tree).unwrap(),
        serde_json::to_value(&tree_before).unwrap()
    );
    let listed = archive
        .list(&RunQuery {
            chain_id: Some(root.id.clone()),
            ..RunQuery::default()
        })
        .unwrap();
    assert_eq!(listed.len(), 3, "the root and its two children");

    // Read back with the CLI.
    let show = cli(&store.path)
        .args(["runs", "show", &select.id, "--archive"])
        .arg(&files[0])
        .output()
        .unwrap();
    assert!(
        show.status.success(),
        "{}",
        String::from_utf8_lossy(&show.stderr)
    );
    assert_eq!(stdout_json(&show), before[0].to_value());
    let tree_json = cli(&store.path)
        .args(["runs", "tree", &root.id, "--json", "--archive"])
        .arg(&files[0])
        .output()
        .unwrap();
    assert_eq!(
        stdout_json(&tree_json),
        serde_json::to_value(&tree_before).unwrap()
    );
    let list = cli(&store.path)
        .args(["runs", "list", "--limit", "1000", "--archive"])
        .arg(&files[0])
        .output()
        .unwrap();
    let listed = stdout_json(&list);
    for run in &before {
        assert!(
            listed.as_array().unwrap().contains(&run.to_value()),
            "{} listed",
            run.id
        );
    }

    // Read back without the engine: plain gzip and JSON.
    let lines = plain_lines(&files[0]);
    assert_eq!(
        lines[0],
        json!({"format": "coworker-archive", "version": 1, "kind": "runs"})
    );
    assert!(lines[1..].iter().any(|l| l["id"] == json!(select.id)));
    assert_eq!(lines.len() as u64, 1 + report.archived);
}

#[test]
fn a_second_prune_appends_to_the_days_archive() {
    let store = TempStore::new();
    let engine = store.open();
    retain(
        &engine,
        json!({"runs": {"maxAgeMs": 0, "archive": {"dir": "kept"}}}),
    );
    let first = ok(&engine, json!({"operation": "select", "from": "ToDo"})).id;
    std::thread::sleep(Duration::from_millis(3));
    engine.prune_runs(false).unwrap();
    // A tail a crash left between the archive's sync and the prune's commit: readers skip
    // it, the next write cuts it off.
    let dir = store.dir.path().join("kept");
    let file = archives(&dir)
        .pop()
        .expect("the first prune wrote the archive");
    let committed = std::fs::metadata(&file).unwrap().len();
    let mut cut = std::fs::OpenOptions::new()
        .append(true)
        .open(&file)
        .unwrap();
    std::io::Write::write_all(&mut cut, &[0x1f, 0x8b, 8, 0, 0, 0]).unwrap();
    drop(cut);
    assert!(RunArchive::open(&file).unwrap().get(&first).is_some());
    let second = ok(&engine, json!({"operation": "select", "from": "ToDo"})).id;
    std::thread::sleep(Duration::from_millis(3));
    engine.prune_runs(false).unwrap();
    let files = archives(&dir);
    assert_eq!(files.len(), 1, "{files:?}");
    // The stray tail was cut off: what follows the committed length is exactly the new
    // pass's member(s), decoding whole and holding the second run.
    let bytes = std::fs::read(&file).unwrap();
    let mut appended = String::new();
    std::io::Read::read_to_string(
        &mut flate2::read::MultiGzDecoder::new(&bytes[committed as usize..]),
        &mut appended,
    )
    .expect("the bytes after the committed length are whole gzip members");
    assert!(appended.contains(&second), "{appended}");
    let archive = RunArchive::open(&files[0]).unwrap();
    assert!(archive.get(&first).is_some() && archive.get(&second).is_some());
    let lines = plain_lines(&files[0]);
    assert_eq!(
        lines.iter().filter(|l| l["format"].is_string()).count(),
        1,
        "one header"
    );
}

#[test]
fn an_archive_setting_that_is_not_one_is_refused() {
    let engine = crate::harness::engine();
    let run = engine.run_value(json!({"operation": "create", "into": "System Settings",
        "input": {"data": {"name": "retention", "runs": {"archive": "yes"},
                           "audit": {"archiveAfter": 5}}}}));
    assert!(!run.success);
    let message = &run.error.unwrap().message;
    assert!(
        message.contains("runs.archive") && message.contains("audit.archiveAfter"),
        "{message}"
    );
}

#[test]
fn a_file_that_is_no_archive_is_refused_clearly() {
    let store = TempStore::new();
    let plain = store.dir.path().join("plain.jsonl.gz");
    std::fs::write(&plain, b"not gzip").unwrap();
    let error = RunArchive::open(&plain).unwrap_err();
    assert_eq!(error.code().as_str(), "BAD_REQUEST", "{error}");
    let shown = cli(&store.path)
        .args(["runs", "show", "X", "--archive"])
        .arg(&plain)
        .output()
        .unwrap();
    assert!(!shown.status.success());
    assert!(String::from_utf8_lossy(&shown.stderr).contains("not a runs archive"));
}

/// Where a store's archives go by default.
fn coworker_archive_dir(store: &Path) -> PathBuf {
    let mut name = store.as_os_str().to_owned();
    name.push(".archive");
    PathBuf::from(name)
}

/// A store with `n` created ToDos (one audit entry each, after the seeds' own).
fn audited_store(n: usize) -> (TempStore, Engine) {
    let store = TempStore::new();
    let engine = store.open();
    for i in 0..n {
        ok(
            &engine,
            json!({"operation": "create", "into": "ToDo",
                   "input": {"data": {"description": format!("todo {i}")}}}),
        );
    }
    (store, engine)
}

fn verify(store: &TempStore, archives: &[&Path]) -> (bool, Value) {
    let mut command = cli(&store.path);
    command.args(["audit", "verify"]);
    for archive in archives {
        command.arg("--archive").arg(archive);
    }
    let output = command.output().unwrap();
    (output.status.success(), stdout_json(&output))
}

#[test]
fn an_audit_segment_is_archived_behind_a_checkpoint_and_both_verify() {
    let (store, engine) = audited_store(10);
    let before = engine.verify_audit().unwrap();
    assert!(before.broken.is_none());
    let total = before.entries;
    let report = engine.archive_audit(Some(6), None).unwrap();
    assert_eq!(report.archived, 5, "{report:?}");
    assert_eq!(report.segments.len(), 1);
    let segment = &report.segments[0];
    assert_eq!((segment.from_seq, segment.to_seq), (1, 5));
    assert_eq!(segment.file, "audit-1-5.jsonl.gz");

    // The live trail: 6.. plus the checkpoint, and it verifies from the checkpoint.
    let after = engine.verify_audit().unwrap();
    assert!(after.broken.is_none(), "{after:?}");
    assert_eq!(after.archived, 5);
    assert_eq!(after.entries, total - 5 + 1);
    let last = engine.run_value(json!({"operation": "select", "from": "Audit Trail",
                          "input": {"orderBy": {"seq": "desc"}, "take": 1}}));
    let checkpoint = &last.data()[0];
    assert_eq!(checkpoint["action"], json!("checkpoint"));
    assert_eq!(checkpoint["fromSeq"], json!(1));
    assert_eq!(checkpoint["toSeq"], json!(5));
    assert_eq!(checkpoint["archive"], json!("audit-1-5.jsonl.gz"));
    // Archiving is the only way out: a delete of an entry, or of the checkpoint, is refused.
    for name in ["6", checkpoint["name"].as_str().unwrap()] {
        let refused = engine.run_value(json!({"operation": "delete", "from": "Audit Trail",
                                              "input": {"name": name}}));
        assert_eq!(refused.error.unwrap().code.as_str(), "IMMUTABLE");
    }
    drop(engine);

    // Without the archive, and with it.
    let (ok_live, live) = verify(&store, &[]);
    assert!(ok_live, "{live}");
    assert_eq!(live["archived"], json!(5));
    let file = coworker_archive_dir(&store.path).join("audit-1-5.jsonl.gz");
    let (ok_both, both) = verify(&store, &[&file]);
    assert!(ok_both, "{both}");
    assert_eq!(both["archives"][0]["entries"], json!(5));
    assert_eq!(both["archives"][0]["problem"], Value::Null);

    // Readable without the engine: the header, then the entries as stored.
    let lines = plain_lines(&file);
    assert_eq!(lines[0]["kind"], json!("audit"));
    assert_eq!(lines[0]["fromSeq"], json!(1));
    let seqs: Vec<u64> = lines[1..]
        .iter()
        .map(|l| l["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, [1, 2, 3, 4, 5]);

    // A second archive takes the rest, the first checkpoint with it.
    let engine = store.open();
    let second = engine.archive_audit(None, Some(0)).unwrap();
    assert_eq!(second.segments[0].from_seq, 6);
    drop(engine);
    let file2 = coworker_archive_dir(&store.path).join(&second.segments[0].file);
    let (ok_all, all) = verify(&store, &[&file, &file2]);
    assert!(ok_all, "{all}");
}

#[test]
fn a_tampered_or_wrong_archive_is_detected() {
    let (store, engine) = audited_store(4);
    engine.archive_audit(Some(4), None).unwrap();
    drop(engine);
    let dir = coworker_archive_dir(&store.path);
    let file = dir.join("audit-1-3.jsonl.gz");

    // An entry changed (recompressed, so the file is valid gzip): its hash no longer checks.
    let mut lines = plain_lines(&file);
    lines[2]["operation"] = json!("forged");
    let tampered = dir.join("tampered").join("audit-1-3.jsonl.gz");
    std::fs::create_dir_all(tampered.parent().unwrap()).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    for line in &lines {
        use std::io::Write;
        writeln!(gz, "{line}").unwrap();
    }
    std::fs::write(&tampered, gz.finish().unwrap()).unwrap();
    let (ok_tampered, report) = verify(&store, &[&tampered]);
    assert!(!ok_tampered);
    let problem = report["archives"][0]["problem"].as_str().unwrap();
    assert!(problem.contains("entry 2"), "{problem}");

    // The same entries, recompressed unchanged: the chain checks but the SHA-256 does not.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    for line in plain_lines(&file) {
        use std::io::Write;
        writeln!(gz, "{line}").unwrap();
    }
    std::fs::write(&tampered, gz.finish().unwrap()).unwrap();
    let (ok_rewritten, report) = verify(&store, &[&tampered]);
    assert!(!ok_rewritten, "{report}");

    // An archive of another store is no archive of this one.
    let (other, other_engine) = audited_store(4);
    other_engine.archive_audit(Some(3), None).unwrap();
    drop(other_engine);
    let foreign = coworker_archive_dir(&other.path).join("audit-1-2.jsonl.gz");
    let (ok_foreign, report) = verify(&store, &[&foreign]);
    assert!(!ok_foreign, "{report}");
    assert!(
        report["archives"][0]["problem"]
            .as_str()
            .unwrap()
            .contains("no checkpoint")
    );

    // The true archive still checks.
    let (ok_true, report) = verify(&store, &[&file]);
    assert!(ok_true, "{report}");
}

#[test]
fn archiving_nothing_or_without_a_bound_is_refused() {
    let (store, engine) = audited_store(2);
    let error = engine.archive_audit(None, None).unwrap_err();
    assert_eq!(error.code().as_str(), "BAD_REQUEST");
    let error = engine.archive_audit(Some(1), None).unwrap_err();
    assert_eq!(error.code().as_str(), "BAD_REQUEST", "{error}");
    assert!(error.to_string().contains("no audit entry"), "{error}");
    let error = engine.archive_audit(None, Some(3_600_000)).unwrap_err();
    assert_eq!(error.code().as_str(), "BAD_REQUEST");
    drop(engine);
    let bad = cli(&store.path)
        .args(["audit", "archive", "--older-than", "ninety days"])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--older-than"));
    let cli_ok = cli(&store.path)
        .args(["audit", "archive", "--before", "3"])
        .output()
        .unwrap();
    assert!(
        cli_ok.status.success(),
        "{}",
        String::from_utf8_lossy(&cli_ok.stderr)
    );
    assert_eq!(stdout_json(&cli_ok)["archived"], json!(2));
    let engine = store.open();
    assert!(engine.verify_audit().unwrap().broken.is_none());
    assert_eq!(
        engine
            .archive_audit(Some(2), None)
            .unwrap_err()
            .code()
            .as_str(),
        "BAD_REQUEST",
        "entries already archived"
    );
}

#[test]
fn the_background_pruner_archives_old_audit_entries() {
    let (store, engine) = audited_store(3);
    retain(
        &engine,
        json!({"runs": {"maxCount": 1_000_000}, "audit": {"archiveAfterMs": 0},
               "pruneEveryMs": 100}),
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let report = engine.verify_audit().unwrap();
        assert!(report.broken.is_none(), "{report:?}");
        if report.archived > 0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "nothing archived in 20 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    drop(engine);
    let files: Vec<PathBuf> = archives(&coworker_archive_dir(&store.path));
    assert!(!files.is_empty());
    let refs: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
    let (ok_all, report) = verify(&store, &refs);
    assert!(ok_all, "{report}");
}

/// Where the crash child works; its presence makes `archive_child` run.
const CHILD_DB: &str = "COWORKER_ARCHIVE_CHILD_DB";

/// The child killed by `kill_9_while_archiving_loses_nothing`: it creates a ToDo and runs a
/// select, acknowledges both run ids, then prunes (archiving runs) and archives the audit
/// trail's old entries, over and over.
#[test]
#[ignore = "child process of archives::kill_9_while_archiving_loses_nothing"]
fn archive_child() {
    let Some(path) = std::env::var_os(CHILD_DB) else {
        return;
    };
    std::thread::spawn(|| {
        let mut sink = Vec::new();
        let _ = std::io::Read::read_to_end(&mut std::io::stdin(), &mut sink);
        std::process::exit(0);
    });
    let engine = Engine::open(&path).expect("the child opens the store");
    let started = std::time::Instant::now();
    let mut i = 0;
    while started.elapsed() < Duration::from_secs(60) {
        let created = ok(
            &engine,
            json!({"operation": "create", "into": "ToDo",
                   "input": {"data": {"description": format!("crash {i}")}}}),
        );
        let selected = ok(
            &engine,
            json!({"operation": "select", "from": "ToDo", "input": {"take": 1}}),
        );
        engine.prune_runs(false).expect("prune");
        println!("ACK {} {}", created.id, selected.id);
        if i % 3 == 0 {
            match engine.archive_audit(None, Some(0)) {
                Ok(_) => {}
                Err(e) if e.code().as_str() == "BAD_REQUEST" => {}
                Err(e) => panic!("archive: {e}"),
            }
        }
        i += 1;
    }
}

#[test]
fn kill_9_while_archiving_loses_nothing() {
    use std::io::BufRead as _;
    let store = TempStore::new();
    {
        let engine = store.open();
        retain(&engine, json!({"runs": {"maxAgeMs": 0, "archive": true}}));
    }
    let mut acked: Vec<String> = Vec::new();
    for kill in 0..6u64 {
        let exe = std::env::current_exe().unwrap();
        let mut child = std::process::Command::new(exe)
            .args([
                "archives::archive_child",
                "--exact",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_DB, &store.path)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (send, receive) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut reader = std::io::BufReader::new(stdout);
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 0) && line.ends_with('\n') {
                if send.send(line.trim_end().to_string()).is_err() {
                    break;
                }
                line.clear();
            }
        });
        // Wait for a few acknowledgements, then a little more, then kill mid-stream.
        let wanted = 3 + kill as usize;
        let mut seen = 0;
        while seen < wanted {
            let line = receive
                .recv_timeout(Duration::from_secs(60))
                .expect("the child acknowledges");
            if let Some(ids) = line.strip_prefix("ACK ") {
                acked.extend(ids.split(' ').map(str::to_string));
                seen += 1;
            }
        }
        std::thread::sleep(Duration::from_millis(7 * kill + 3));
        child.kill().unwrap();
        child.wait().unwrap();
        while let Ok(line) = receive.try_recv() {
            if let Some(ids) = line.strip_prefix("ACK ") {
                acked.extend(ids.split(' ').map(str::to_string));
            }
        }
    }
    let engine = store.open();
    // The next archive removes a segment file a killed attempt left uncommitted.
    engine.archive_audit(None, Some(0)).unwrap();
    let dir = coworker_archive_dir(&store.path);
    let files = archives(&dir);
    let audit_files: Vec<PathBuf> = files
        .iter()
        .filter(|f| {
            f.file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with("audit-")
        })
        .cloned()
        .collect();
    assert!(!audit_files.is_empty(), "{files:?}");
    let report = engine.verify_audit_archives(&audit_files).unwrap();
    assert!(report.broken.is_none(), "{report:?}");
    for check in &report.archives {
        assert_eq!(check.problem, None, "{check:?}");
    }
    // Every acknowledged run is in the store in full or in a run archive.
    let run_archives: Vec<RunArchive> = files
        .iter()
        .filter(|f| {
            f.file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with("runs-")
        })
        .map(|f| RunArchive::open(f).unwrap())
        .collect();
    for id in &acked {
        let stored = engine.get_run(id).unwrap();
        let full_in_store = stored
            .as_ref()
            .is_some_and(|r| r.output["pruned"] != json!(true));
        let archived = run_archives.iter().any(|a| a.get(id).is_some());
        assert!(full_in_store || archived, "run {id} is lost");
    }
    assert!(acked.len() >= 2 * (3 + 4 + 5 + 6 + 7 + 8));
}

#[test]
fn a_prune_of_many_passes_archives_every_record_it_prunes() {
    let store = TempStore::new();
    let engine = store.open();
    for i in 0..12 {
        ok(
            &engine,
            json!({"operation": "create", "into": "ToDo",
                   "input": {"data": {"description": format!("many {i}")}}}),
        );
        ok(
            &engine,
            json!({"operation": "select", "from": "ToDo", "input": {"take": 1}}),
        );
    }
    retain(
        &engine,
        json!({"runs": {"maxAgeMs": 0, "archive": true}, "pruneBatch": 5}),
    );
    std::thread::sleep(Duration::from_millis(3));
    let report = engine.prune_runs(false).unwrap();
    assert!(report.passes > 1, "{report:?}");
    assert!(report.removed + report.stubbed >= 24, "{report:?}");
    assert_eq!(
        report.archived,
        report.removed + report.stubbed,
        "{report:?}"
    );
    let files = archives(&coworker_archive_dir(&store.path));
    let archive = RunArchive::open(&files[0]).unwrap();
    assert_eq!(archive.len() as u64, report.archived);
}

#[test]
fn an_archive_that_cannot_be_written_prunes_nothing() {
    let store = TempStore::new();
    let engine = store.open();
    let root = nested(&engine);
    let select = ok(&engine, json!({"operation": "select", "from": "ToDo"})).id;
    // The archive directory's place is taken by a file.
    std::fs::write(store.dir.path().join("blocked"), b"a file").unwrap();
    retain(
        &engine,
        json!({"runs": {"maxAgeMs": 0, "archive": {"dir": "blocked"}}}),
    );
    std::thread::sleep(Duration::from_millis(3));
    let before: Vec<coworker::Run> = engine.list_runs(&RunQuery::default()).unwrap();
    let error = engine.prune_runs(false).unwrap_err();
    assert_eq!(error.code().as_str(), "STORAGE_ERROR", "{error}");
    assert!(error.to_string().contains("blocked"), "{error}");
    // Every run is still there in full, found by id and through the run index alike.
    assert_eq!(engine.list_runs(&RunQuery::default()).unwrap(), before);
    for id in [&root.id, &select, &root.child_run_ids[0]] {
        let run = engine.get_run(id).unwrap().expect("kept");
        assert_ne!(run.output["pruned"], json!(true), "{id} kept in full");
    }
    let by_chain = engine
        .list_runs(&RunQuery {
            chain_id: Some(root.id.clone()),
            ..RunQuery::default()
        })
        .unwrap();
    assert_eq!(by_chain.len(), 3);
    // Once the place is free, the same prune archives and prunes.
    std::fs::remove_file(store.dir.path().join("blocked")).unwrap();
    let report = engine.prune_runs(false).unwrap();
    assert!(
        report.archived >= 4 && report.archived == report.removed + report.stubbed,
        "{report:?}"
    );
}
