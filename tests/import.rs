//! A user loads documents from a JSON-lines file with `coworker import`: one create run per
//! batch, a JSON report on stdout, a failing batch stops the import (nothing of it written)
//! and the report says how to resume; standard input, dry runs, access control, and a file
//! larger than any one batch.

use crate::harness::*;
use coworker::{Engine, ImportOptions, RunQuery, RunRequest};
use serde_json::{Value, json};
use std::io::Write;
use std::path::Path;
use std::process::{Output, Stdio};

/// `coworker --db DB import ARGS...` with `input` on stdin when given.
fn import(db: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    let mut cmd = cli(db);
    cmd.env_remove("COWORKER_USER").arg("import").args(args);
    let Some(text) = stdin else {
        return cmd.output().expect("the CLI starts");
    };
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the CLI starts");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("stdin takes the lines");
    child.wait_with_output().expect("the CLI ends")
}

fn exit(output: &Output) -> i32 {
    output.status.code().expect("the CLI exits")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Write `text` as a file beside the store.
fn file(store: &TempStore, name: &str, text: &str) -> String {
    let path = store.dir.path().join(name);
    std::fs::write(&path, text).expect("the file is written");
    path.to_string_lossy().into_owned()
}

/// `Task` needs a title; role `Importer` may create and read tasks.
fn task_schema(engine: &Engine) {
    let run = engine.import_schemas(vec![json!({"doctype": "DocType", "name": "Task",
        "fields": [{"fieldname": "title", "fieldtype": "Data", "reqd": 1},
                   {"fieldname": "points", "fieldtype": "Int"}],
        "permissions": [{"role": "Importer", "read": 1, "write": 1, "create": 1}]})]);
    assert!(run.success, "{:?}", run.error);
}

fn names_of(engine: &Engine, doctype: &str) -> Vec<String> {
    let run = engine.run(
        RunRequest::new("select")
            .from(doctype)
            .input(json!({"orderBy": {"name": "asc"}})),
    );
    assert!(run.success, "{:?}", run.error);
    names(&run)
}

/// The runs of the import flow `report` names, oldest first.
fn flow_runs(engine: &Engine, report: &Value) -> Vec<coworker::Run> {
    let mut runs = engine
        .list_runs(&RunQuery {
            flow_id: report["flowId"].as_str().map(str::to_string),
            ..RunQuery::default()
        })
        .expect("runs list");
    runs.sort_by(|a, b| a.id.cmp(&b.id));
    runs
}

#[test]
fn a_file_is_imported_one_create_run_per_batch_and_recorded_as_a_flow() {
    let store = TempStore::new();
    task_schema(&store.open());
    let lines: String = (1..=5)
        .map(|i| format!("{{\"name\": \"t{i}\", \"title\": \"task {i}\", \"points\": {i}}}\n"))
        .collect();
    let path = file(&store, "tasks.jsonl", &format!("{lines}\n   \n"));
    let output = import(
        &store.path,
        &[&path, "--doctype", "Task", "--batch", "2"],
        None,
    );
    assert_eq!(exit(&output), 0, "{}", stderr(&output));
    let report = stdout_json(&output);
    assert_eq!(report["success"], json!(true), "{report}");
    assert_eq!(report["documents"], json!(5));
    assert_eq!(
        report["lines"],
        json!(7),
        "the empty lines at the end are read too"
    );
    assert_eq!(report["runs"], json!(3), "batches of 2, 2 and 1");
    assert_eq!(report["failed"], Value::Null);
    assert!(
        stderr(&output).is_empty(),
        "no progress when stderr is not a terminal: {}",
        stderr(&output)
    );

    let engine = store.open();
    assert_eq!(names_of(&engine, "Task"), ["t1", "t2", "t3", "t4", "t5"]);
    let runs = flow_runs(&engine, &report);
    assert_eq!(runs.len(), 3);
    for run in &runs {
        assert!(run.success);
        assert_eq!(run.operation.as_deref(), Some("create"));
        assert_eq!(run.flow_type.as_deref(), Some("import"));
    }
    assert_eq!(
        runs[0].data().len(),
        2,
        "runs show what each batch returned"
    );
    assert_eq!(runs[0].data()[1]["title"], json!("task 2"));
    assert_eq!(runs[2].data()[0]["points"], json!(5));
    let audit = engine.verify_audit().expect("the audit trail reads");
    assert!(audit.broken.is_none(), "{audit:?}");
}

#[test]
fn each_line_may_name_its_doctype_and_a_change_of_doctype_starts_a_run() {
    let store = TempStore::new();
    let text = [
        r#"{"doctype": "Note", "name": "n1"}"#,
        r#"{"doctype": "Note", "name": "n2"}"#,
        r#"{"doctype": "Memo", "name": "m1"}"#,
        r#"{"doctype": "Note", "name": "n3"}"#,
    ]
    .join("\n");
    let path = file(&store, "mixed.jsonl", &text);
    let output = import(&store.path, &[&path], None);
    assert_eq!(exit(&output), 0, "{}", stderr(&output));
    let report = stdout_json(&output);
    assert_eq!(
        (report["documents"].clone(), report["runs"].clone()),
        (json!(4), json!(3))
    );
    let engine = store.open();
    assert_eq!(names_of(&engine, "Note"), ["n1", "n2", "n3"]);
    assert_eq!(names_of(&engine, "Memo"), ["m1"]);
    let doctypes: Vec<_> = flow_runs(&engine, &report)
        .iter()
        .map(|r| r.into.clone().unwrap_or_default())
        .collect();
    assert_eq!(doctypes, ["Note", "Memo", "Note"]);
    drop(engine);

    // With --doctype, a line naming another doctype fails its batch.
    let path = file(
        &store,
        "other.jsonl",
        r#"{"doctype": "Memo", "name": "m2"}"#,
    );
    let output = import(&store.path, &[&path, "--doctype", "Note"], None);
    assert_eq!(exit(&output), 1);
    let report = stdout_json(&output);
    assert_eq!(
        report["failed"]["error"]["code"],
        json!("BAD_REQUEST"),
        "{report}"
    );
    assert_eq!(report["failed"]["line"], json!(1));
}

#[test]
fn a_line_that_is_not_a_json_object_or_names_no_doctype_is_refused_by_its_number() {
    let store = TempStore::new();
    for (text, args, line, says) in [
        (
            "{\"name\": \"a\"}\n[1, 2]\n",
            &["--doctype", "Note"][..],
            2,
            "not a JSON object",
        ),
        (
            "{\"name\": \"a\"}\n\n{\"name\": \n",
            &["--doctype", "Note"][..],
            3,
            "not JSON",
        ),
        (
            "{\"doctype\": \"Note\", \"name\": \"a\"}\n{\"name\": \"b\"}\n",
            &[][..],
            2,
            "names no doctype",
        ),
        (
            "\"just a string\"\n",
            &["--doctype", "Note"][..],
            1,
            "not a JSON object",
        ),
    ] {
        let path = file(&store, "bad.jsonl", text);
        let output = import(&store.path, &[&[path.as_str()][..], args].concat(), None);
        assert_eq!(exit(&output), 1, "{text:?}: {}", stderr(&output));
        let report = stdout_json(&output);
        let failed = &report["failed"];
        assert_eq!(failed["error"]["code"], json!("BAD_REQUEST"), "{report}");
        assert_eq!(failed["line"], json!(line), "{report}");
        assert_eq!(failed["error"]["details"]["line"], json!(line));
        let message = failed["error"]["message"].as_str().unwrap_or_default();
        assert!(
            message.contains(&format!("line {line}")) && message.contains(says),
            "{message}"
        );
        assert_eq!(
            report["documents"],
            json!(0),
            "the line's batch is not written"
        );
        // The refusal is a recorded failed run.
        let run = stored(&store.open(), failed["runId"].as_str().expect("a run id"));
        assert_eq!(run.error.expect("failed").code.as_str(), "BAD_REQUEST");
    }
    assert!(names_of(&store.open(), "Note").is_empty());
}

#[test]
fn a_failing_batch_writes_nothing_stops_the_import_and_says_how_to_resume() {
    let store = TempStore::new();
    task_schema(&store.open());
    let line = |i: u32, title: &str| format!("{{\"name\": \"t{i}\", \"title\": \"{title}\"}}");
    let mut lines: Vec<String> = (1..=9).map(|i| line(i, &format!("task {i}"))).collect();
    lines.insert(2, String::new()); // an empty line 3
    lines[6] = r#"{"name": "t6"}"#.into(); // line 7: no title
    let text = lines.join("\n");
    let path = file(&store, "tasks.jsonl", &text);
    let args = [path.as_str(), "--doctype", "Task", "--batch", "3"];
    let output = import(&store.path, &args, None);
    assert_eq!(exit(&output), 1, "{}", stderr(&output));
    let report = stdout_json(&output);
    // Batches: lines 1-4 (t1 t2 t3), lines 5-7 (t4 t5 t6): the second fails.
    assert_eq!(report["success"], json!(false));
    assert_eq!(report["documents"], json!(3));
    assert_eq!(report["lines"], json!(4));
    assert_eq!(report["resume"], json!({"skipLines": 4}));
    let failed = &report["failed"];
    assert_eq!(
        failed["error"]["code"],
        json!("VALIDATION_FAILED"),
        "{report}"
    );
    assert_eq!(
        (failed["firstLine"].clone(), failed["lastLine"].clone()),
        (json!(5), json!(7))
    );
    assert_eq!(
        failed["line"],
        json!(7),
        "the violation's document is on line 7"
    );
    let says = stderr(&output);
    assert!(
        says.contains("--skip-lines 4") && says.contains("3 documents"),
        "{says}"
    );
    assert_eq!(names_of(&store.open(), "Task"), ["t1", "t2", "t3"]);

    // Fix line 7 and resume where the report says: every task once.
    lines[6] = line(6, "task 6");
    std::fs::write(&path, lines.join("\n")).expect("fixed");
    let output = import(
        &store.path,
        &[&args[..], &["--skip-lines", "4"]].concat(),
        None,
    );
    assert_eq!(exit(&output), 0, "{}", stderr(&output));
    let report = stdout_json(&output);
    assert_eq!(
        (report["documents"].clone(), report["lines"].clone()),
        (json!(6), json!(10))
    );
    let expected: Vec<String> = (1..=9).map(|i| format!("t{i}")).collect();
    assert_eq!(names_of(&store.open(), "Task"), expected);

    // Importing again conflicts on the first name, and the report names its line.
    let output = import(&store.path, &args, None);
    assert_eq!(exit(&output), 1);
    let report = stdout_json(&output);
    assert_eq!(report["failed"]["error"]["code"], json!("CONFLICT"));
    assert_eq!(report["failed"]["line"], json!(1));
}

#[test]
fn standard_input_and_a_dry_run_that_writes_nothing() {
    let store = TempStore::new();
    task_schema(&store.open());
    let good = "{\"title\": \"a\"}\n{\"title\": \"b\"}\n";
    let output = import(
        &store.path,
        &["-", "--doctype", "Task", "--dry-run"],
        Some(good),
    );
    assert_eq!(exit(&output), 0, "{}", stderr(&output));
    let report = stdout_json(&output);
    assert_eq!(report["dryRun"], json!(true));
    assert_eq!(report["documents"], json!(2));
    assert!(
        names_of(&store.open(), "Task").is_empty(),
        "a dry run writes nothing"
    );

    let bad = "{\"title\": \"a\"}\n{\"points\": 1}\n";
    let output = import(
        &store.path,
        &["-", "--doctype", "Task", "--dry-run"],
        Some(bad),
    );
    assert_eq!(exit(&output), 1);
    let report = stdout_json(&output);
    assert_eq!(
        report["failed"]["error"]["code"],
        json!("VALIDATION_FAILED")
    );
    assert_eq!(report["failed"]["line"], json!(2));

    let output = import(&store.path, &["-", "--doctype", "Task"], Some(good));
    assert_eq!(exit(&output), 0, "{}", stderr(&output));
    assert_eq!(
        names_of(&store.open(), "Task").len(),
        2,
        "autonamed, from stdin"
    );
}

#[test]
fn the_import_acts_as_the_user_and_access_control_refuses_who_may_not_create() {
    let store = TempStore::new();
    {
        let engine = store.open();
        task_schema(&engine);
        for (user, roles) in [("ann", json!(["Importer"])), ("bob", json!([]))] {
            ok(
                &engine,
                json!({"operation": "create", "into": "User", "input": {"data": {"name": user, "roles": roles}}}),
            );
        }
        engine.enable_acl("admin", None).expect("access control on");
    }
    let text = "{\"name\": \"t1\", \"title\": \"one\"}\n";
    let output = import(
        &store.path,
        &["--as", "bob", "-", "--doctype", "Task"],
        Some(text),
    );
    assert_eq!(exit(&output), 1);
    let report = stdout_json(&output);
    assert_eq!(
        report["failed"]["error"]["code"],
        json!("PERMISSION_DENIED"),
        "{report}"
    );
    assert_eq!(report["documents"], json!(0));

    let output = import(
        &store.path,
        &["--as", "ann", "-", "--doctype", "Task"],
        Some(text),
    );
    assert_eq!(exit(&output), 0, "{}", stderr(&output));
    let engine = store.open();
    let task = engine.run(
        RunRequest::new("select")
            .from("Task")
            .input(json!({"where": {"name": "t1"}}))
            .owner("admin"),
    );
    assert_eq!(task.data()[0]["owner"], json!("ann"), "{:?}", task.error);
}

#[test]
fn a_file_larger_than_any_batch_streams_in_batches_whose_records_stay_batch_sized() {
    let store = TempStore::new();
    let count = 20_000;
    let mut text = String::with_capacity(count * 80);
    for i in 0..count {
        text.push_str(&format!(
            "{{\"name\": \"n{i:05}\", \"body\": \"note number {i}\", \"n\": {i}}}\n"
        ));
    }
    let path = file(&store, "big.jsonl", &text);
    let output = import(
        &store.path,
        &[&path, "--doctype", "Note", "--progress"],
        None,
    );
    assert_eq!(exit(&output), 0, "{}", stderr(&output));
    let report = stdout_json(&output);
    assert_eq!(report["documents"], json!(count));
    assert_eq!(
        report["runs"],
        json!(20),
        "1,000 documents a run by default"
    );
    let progress = stderr(&output);
    assert!(
        progress
            .lines()
            .last()
            .is_some_and(|l| l.starts_with("imported 20000 documents")),
        "--progress reports on stderr: {progress}"
    );
    let engine = store.open();
    let runs = flow_runs(&engine, &report);
    assert_eq!(runs.len(), 20);
    for (i, run) in runs.iter().enumerate() {
        // The record holds its batch's request whole, and the names it created (a record
        // this large is stored trimmed: the documents are in the store).
        let batch = run.input["data"].as_array().expect("the batch's documents");
        assert_eq!(batch.len(), 1000, "run {i} holds its batch, no more");
        assert_eq!(batch[0]["n"], json!(i * 1000));
        assert_eq!(run.output["trimmed"], json!(true));
        assert_eq!(run.output["names"].as_array().map(Vec::len), Some(1000));
    }
    for half in [json!({"lt": 10_000}), json!({"gte": 10_000})] {
        let found = engine.run(
            RunRequest::new("select")
                .from("Note")
                .input(json!({"where": {"n": half}, "take": count, "select": ["name"]})),
        );
        assert_eq!(found.data().len(), count / 2, "{:?}", found.error);
    }

    // The library path: the same import, resumed halfway, from memory.
    let engine = Engine::in_memory().expect("in memory");
    let mut calls = 0;
    let report = engine
        .import_jsonl(
            text.as_bytes(),
            &ImportOptions::new()
                .doctype("Note")
                .batch(4000)
                .skip_lines(10_000),
            |_| calls += 1,
        )
        .expect("the input reads");
    assert!(report.success());
    assert_eq!(
        (report.progress.documents, report.progress.lines),
        (10_000, 20_000)
    );
    assert_eq!(calls, 3, "progress after each of the 3 runs");
}

#[test]
fn batches_stay_under_the_request_size_limit_and_a_longer_line_is_refused_by_its_number() {
    let store = TempStore::new();
    ok(
        &store.open(),
        json!({"operation": "create", "into": "System Settings",
               "input": {"data": {"name": "limits", "maxRequestBytes": 4096}}}),
    );
    // 40 lines of ~300 bytes: 12 KB, three times the limit, in batches that each fit.
    let body = "x".repeat(280);
    let text: String = (0..40)
        .map(|i| format!("{{\"name\": \"n{i:02}\", \"body\": \"{body}\"}}\n"))
        .collect();
    let path = file(&store, "wide.jsonl", &text);
    let output = import(&store.path, &[&path, "--doctype", "Note"], None);
    assert_eq!(exit(&output), 0, "{}", stderr(&output));
    let report = stdout_json(&output);
    assert_eq!(report["documents"], json!(40));
    let runs = report["runs"].as_u64().expect("a count");
    assert!(
        (3..40).contains(&runs),
        "split by size, not one run a line: {runs}"
    );

    let long = format!(
        "{{\"name\": \"n99\", \"body\": \"{}\"}}\n",
        "y".repeat(5000)
    );
    let path = file(
        &store,
        "long.jsonl",
        &format!("{{\"name\": \"n98\"}}\n{long}"),
    );
    let output = import(&store.path, &[&path, "--doctype", "Note"], None);
    assert_eq!(exit(&output), 1);
    let report = stdout_json(&output);
    assert_eq!(
        report["failed"]["error"]["code"],
        json!("LIMIT_EXCEEDED"),
        "{report}"
    );
    assert_eq!(report["failed"]["line"], json!(2));
    assert_eq!(report["documents"], json!(0));
    assert_eq!(names_of(&store.open(), "Note").len(), 40);
}
