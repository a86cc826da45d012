//! A user scripts coworker from the shell: `run` prints the Run as JSON (exit 0, or 1 when the
//! run failed, 2 for usage errors), `runs show` / `runs list` read the stored runs back, the
//! store is `--db`, `$COWORKER_DB` or `./coworker.redb`, and `demo` tells the CRUD story.

use crate::harness::*;
use coworker::{Engine, RunRequest};
use serde_json::{Value, json};
use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

/// The exit code of a finished CLI call (a signal is a test failure).
fn code(output: &Output) -> i32 {
    output.status.code().unwrap_or_else(|| {
        panic!(
            "the CLI was killed by a signal; stderr: {}",
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// `coworker --db DB run --json REQUEST`: the exit code and the printed run.
fn cli_run(db: &Path, request: &str) -> (i32, Value) {
    let output = cli(db)
        .args(["run", "--json", request])
        .output()
        .expect("the CLI starts");
    (code(&output), stdout_json(&output))
}

/// A run request through the CLI that must succeed; returns the printed run.
fn cli_ok(db: &Path, request: Value) -> Value {
    let (exit, run) = cli_run(db, &request.to_string());
    assert_eq!(exit, 0, "exit code for {request}: {run}");
    assert_eq!(run["success"], json!(true), "for {request}: {run}");
    run
}

/// `coworker --db DB ARGS...` that must exit 0 and print JSON.
fn cli_json(db: &Path, args: &[&str]) -> Value {
    let output = cli(db).args(args).output().expect("the CLI starts");
    assert_eq!(code(&output), 0, "{args:?}: {}", stderr(&output));
    stdout_json(&output)
}

/// The ids of a JSON array of runs, in order.
fn ids(runs: &Value) -> Vec<String> {
    runs.as_array()
        .unwrap_or_else(|| panic!("expected a JSON array of runs, got {runs}"))
        .iter()
        .map(|r| r["id"].as_str().expect("a run has an id").to_string())
        .collect()
}

/// The exit code and printed run must agree with each other.
fn assert_failed_run(exit: i32, run: &Value, code: &str) {
    assert_eq!(exit, 1, "a failed run exits 1: {run}");
    assert_eq!(run["success"], json!(false), "{run}");
    assert_eq!(run["status"], json!("failed"), "{run}");
    assert_eq!(run["error"]["code"], json!(code), "{run}");
    let message = run["error"]["message"].as_str().unwrap_or_default();
    assert!(!message.is_empty(), "a failed run explains itself: {run}");
    assert!(run["id"].as_str().is_some_and(|id| !id.is_empty()), "{run}");
}

#[test]
fn run_json_prints_the_completed_run_and_exits_zero() {
    let store = TempStore::new();
    let request = json!({"operation": "create", "into": "ToDo", "owner": "alice",
        "input": {"data": {"name": "t1", "description": "buy milk", "status": "Open"}}});
    let output = cli(&store.path)
        .args(["run", "--json", &request.to_string()])
        .output()
        .expect("the CLI starts");
    assert_eq!(code(&output), 0, "stderr: {}", stderr(&output));
    let run = stdout_json(&output);
    assert_eq!(run["success"], json!(true));
    assert_eq!(run["status"], json!("completed"));
    assert_eq!(run["operation"], json!("create"));
    assert_eq!(run["doctype"], json!("ToDo"));
    assert_eq!(run["owner"], json!("alice"));
    assert_eq!(run["error"], Value::Null);
    assert_eq!(run["output"]["data"][0]["name"], json!("t1"));
    assert_eq!(run["output"]["data"][0]["description"], json!("buy milk"));
    assert_eq!(run["output"]["data"][0]["createdByRun"], run["id"]);
    // Every key of the run record is present, set or null.
    for key in RUN_RECORD_KEYS {
        assert!(
            run.get(key).is_some(),
            "the printed run lacks `{key}`: {run}"
        );
    }

    // The write is in the store the CLI was pointed at.
    let engine = store.open();
    let found = ok(
        &engine,
        json!({"operation": "select", "from": "ToDo", "input": {"where": {"name": "t1"}}}),
    );
    assert_eq!(found.data()[0]["description"], json!("buy milk"));
}

#[test]
fn failed_runs_print_the_failed_run_and_exit_one() {
    let store = TempStore::new();
    cli_ok(
        &store.path,
        json!({"operation": "create", "into": "ToDo", "input": {"data": {"name": "keep", "n": 1}}}),
    );
    let cases = [
        (
            r#"{"operation": "frobnicate", "from": "ToDo"}"#,
            "UNKNOWN_OPERATION",
        ),
        (r#"{"operation": "select", "from": "ToDo""#, "BAD_REQUEST"),
        ("not json at all", "BAD_REQUEST"),
        (
            r#"{"operation": "select", "from": "ToDo", "input": {"where": {"n": {"like": "%"}}}}"#,
            "BAD_REQUEST",
        ),
        (r#"{"operation": "select"}"#, "MISSING_TARGET"),
        (
            r#"{"operation": "create", "into": "ToDo", "input": {"data": {"name": "keep"}}}"#,
            "CONFLICT",
        ),
        (
            r#"{"operation": "update", "in": "ToDo", "input": {"data": 5, "where": {"name": "keep"}}}"#,
            "BAD_REQUEST",
        ),
    ];
    let mut failed_ids = Vec::new();
    for (request, expected) in cases {
        let (exit, run) = cli_run(&store.path, request);
        assert_failed_run(exit, &run, expected);
        failed_ids.push(run["id"].as_str().unwrap().to_string());
    }

    // No partial writes, and every failed run was recorded.
    let engine = store.open();
    let left = ok(&engine, json!({"operation": "select", "from": "ToDo"}));
    assert_eq!(left.data().len(), 1);
    assert_eq!(left.data()[0]["n"], json!(1));
    for id in &failed_ids {
        let stored = engine.get_run(id).unwrap();
        assert!(
            stored.as_ref().is_some_and(|r| !r.success),
            "failed run {id} is stored: {stored:?}"
        );
    }
}

#[test]
fn run_file_reads_the_request_from_a_file() {
    let store = TempStore::new();
    let file = store.dir.path().join("request.json");
    std::fs::write(
        &file,
        r#"{"operation": "insert", "into": "Note",
            "input": {"data": [{"name": "n1", "title": "a"}, {"name": "n2", "title": "b"}]}}"#,
    )
    .unwrap();
    let output = cli(&store.path)
        .arg("run")
        .arg("--file")
        .arg(&file)
        .output()
        .expect("the CLI starts");
    assert_eq!(code(&output), 0, "stderr: {}", stderr(&output));
    let run = stdout_json(&output);
    assert_eq!(
        run["operation"],
        json!("create"),
        "the alias resolves: {run}"
    );
    let names: Vec<&Value> = run["output"]["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| &d["name"])
        .collect();
    assert_eq!(names, [&json!("n1"), &json!("n2")]);

    // A failing request from a file is a failed run too.
    std::fs::write(
        &file,
        r#"{"operation": "delete", "from": "Note", "input": 3}"#,
    )
    .unwrap();
    let output = cli(&store.path)
        .arg("run")
        .arg("--file")
        .arg(&file)
        .output()
        .unwrap();
    assert_failed_run(code(&output), &stdout_json(&output), "BAD_REQUEST");
    assert_eq!(count(&store.open(), "Note"), 2);
}

#[test]
fn run_dash_reads_the_request_from_stdin() {
    let store = TempStore::new();
    let send = |text: &str| -> Output {
        let mut child = cli(&store.path)
            .args(["run", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the CLI starts");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    };

    let output = send(
        r#"{"operation": "create", "into": "ToDo", "input": {"data": {"name": "from-stdin"}}}"#,
    );
    assert_eq!(code(&output), 0, "stderr: {}", stderr(&output));
    let run = stdout_json(&output);
    assert_eq!(run["output"]["data"][0]["name"], json!("from-stdin"));

    let output = send(r#"{"operation": "select", "from": "ToDo", "input": {"take": -1}}"#);
    assert_failed_run(code(&output), &stdout_json(&output), "BAD_REQUEST");

    let output = send("");
    assert_failed_run(code(&output), &stdout_json(&output), "BAD_REQUEST");
}

#[test]
fn run_without_a_usable_request_is_a_usage_error() {
    let store = TempStore::new();
    let missing = store.dir.path().join("no-such-request.json");
    let json_text = r#"{"operation": "select", "from": "ToDo"}"#;
    let cases: Vec<Vec<&str>> = vec![
        vec!["run"],
        vec!["run", "--json", json_text, "--file", "x.json"],
        vec!["run", "--json", json_text, "-"],
        vec!["run", "request.json"],
        vec!["run", "--file", missing.to_str().unwrap()],
    ];
    for args in cases {
        let output = cli(&store.path)
            .args(&args)
            .stdin(Stdio::null())
            .output()
            .expect("the CLI starts");
        assert_eq!(code(&output), 2, "{args:?}: stdout {}", stdout(&output));
        assert!(
            !stderr(&output).trim().is_empty(),
            "{args:?} says what is wrong on stderr"
        );
        assert!(
            stdout(&output).trim().is_empty(),
            "{args:?} prints no run: {}",
            stdout(&output)
        );
    }
    // Nothing was run, so nothing was recorded.
    assert_eq!(cli_json(&store.path, &["runs", "list"]), json!([]));
}

#[test]
fn runs_show_prints_the_stored_run() {
    let store = TempStore::new();
    let created = cli_ok(
        &store.path,
        json!({"operation": "create", "into": "ToDo", "flowType": "cli", "flowId": "f-1",
            "input": {"data": [{"name": "a", "n": 1}, {"name": "b", "n": 2}]}}),
    );
    let id = created["id"].as_str().unwrap();
    let shown = cli_json(&store.path, &["runs", "show", id]);
    assert_eq!(shown["id"], created["id"]);
    assert_eq!(shown["status"], json!("completed"));
    // The stored run of a write is the run that was printed (duration up to float printing).
    let without_duration = |run: &Value| {
        let mut run = run.clone();
        run.as_object_mut().unwrap().remove("duration");
        run
    };
    assert_eq!(without_duration(&shown), without_duration(&created));
    let (a, b) = (&shown["duration"], &created["duration"]);
    assert!(
        (a.as_f64().unwrap() - b.as_f64().unwrap()).abs() < 1e-9,
        "{a} vs {b}"
    );

    // A select is stored compact: the names and the count, not the documents.
    let selected = cli_ok(
        &store.path,
        json!({"operation": "select", "from": "ToDo", "input": {"orderBy": {"n": "desc"}}}),
    );
    let shown = cli_json(
        &store.path,
        &["runs", "show", selected["id"].as_str().unwrap()],
    );
    assert_eq!(shown["id"], selected["id"]);
    assert_eq!(shown["status"], json!("completed"));
    assert_eq!(shown["success"], json!(true));
    assert_eq!(shown["operation"], json!("select"));
    assert_eq!(shown["input"], selected["input"]);
    assert_eq!(shown["output"]["names"], json!(["b", "a"]));
    assert_eq!(shown["output"]["meta"]["count"], json!(2));
    assert_eq!(selected["output"]["meta"]["count"], json!(2));

    // A failed run is shown as failed, with its error.
    let (exit, failed) = cli_run(&store.path, r#"{"operation": "nope"}"#);
    assert_eq!(exit, 1);
    let shown = cli_json(
        &store.path,
        &["runs", "show", failed["id"].as_str().unwrap()],
    );
    assert_eq!(shown["id"], failed["id"]);
    assert_eq!(shown["status"], json!("failed"));
    assert_eq!(shown["error"], failed["error"]);
}

#[test]
fn runs_show_of_an_unknown_id_is_exit_two() {
    let store = TempStore::new();
    cli_ok(
        &store.path,
        json!({"operation": "create", "into": "ToDo", "input": {"data": {}}}),
    );
    for id in ["01ARZ3NDEKTSV4RRFFQ69G5FAV", "no-such-run", ""] {
        let output = cli(&store.path)
            .args(["runs", "show", id])
            .output()
            .unwrap();
        assert_eq!(code(&output), 2, "runs show {id:?}: {}", stdout(&output));
        assert!(!stderr(&output).trim().is_empty(), "runs show {id:?}");
        assert!(stdout(&output).trim().is_empty(), "runs show {id:?}");
    }
}

#[test]
fn runs_list_returns_the_runs_oldest_first_filtered_by_flow_and_limited() {
    let store = TempStore::new();
    let db = &store.path;
    assert_eq!(cli_json(db, &["runs", "list"]), json!([]));

    // Six runs: flows f1, f2, none; writes, a read-only select and a failure.
    let mut all = Vec::new();
    let mut f1 = Vec::new();
    let requests = [
        (
            json!({"operation": "create", "into": "ToDo", "flowId": "f1",
            "input": {"data": {"name": "x"}}}),
            true,
        ),
        (
            json!({"operation": "create", "into": "ToDo", "flowId": "f2",
            "input": {"data": {"name": "y"}}}),
            true,
        ),
        (
            json!({"operation": "select", "from": "ToDo", "flowId": "f1"}),
            true,
        ),
        (
            json!({"operation": "create", "into": "ToDo", "input": {"data": {"name": "z"}}}),
            true,
        ),
        (
            json!({"operation": "select", "from": "ToDo", "flowId": "f1",
            "input": {"where": {"name": {"near": 1}}}}),
            false,
        ),
        (
            json!({"operation": "update", "in": "ToDo", "flowId": "f1",
            "input": {"name": "x", "data": {"done": true}}}),
            true,
        ),
    ];
    for (request, succeeds) in requests {
        let (exit, run) = cli_run(db, &request.to_string());
        assert_eq!(exit, if succeeds { 0 } else { 1 }, "{request}: {run}");
        let id = run["id"].as_str().unwrap().to_string();
        if request["flowId"] == json!("f1") {
            f1.push(id.clone());
        }
        all.push(id);
    }

    let listed = cli_json(db, &["runs", "list"]);
    assert_eq!(ids(&listed), all, "every run, oldest first");
    let statuses: Vec<&Value> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["status"])
        .collect();
    assert_eq!(
        statuses,
        [
            "completed",
            "completed",
            "completed",
            "completed",
            "failed",
            "completed"
        ]
        .map(|s| json!(s))
        .iter()
        .collect::<Vec<_>>()
    );

    let flow = cli_json(db, &["runs", "list", "--flow", "f1"]);
    assert_eq!(ids(&flow), f1, "only flow f1, oldest first");
    assert!(
        flow.as_array()
            .unwrap()
            .iter()
            .all(|r| r["flowId"] == json!("f1"))
    );
    assert_eq!(
        ids(&cli_json(db, &["runs", "list", "--flow", "nope"])),
        Vec::<String>::new()
    );

    let newest = cli_json(db, &["runs", "list", "--limit", "2"]);
    assert_eq!(ids(&newest), all[4..], "the newest two, oldest first");
    let newest_f1 = cli_json(db, &["runs", "list", "--flow", "f1", "--limit", "3"]);
    assert_eq!(
        ids(&newest_f1),
        f1[1..],
        "the newest three of f1, oldest first"
    );
    assert_eq!(ids(&cli_json(db, &["runs", "list", "--limit", "100"])), all);

    // A run listed by `runs list` is what `runs show` shows.
    let shown = cli_json(db, &["runs", "show", &all[1]]);
    assert_eq!(shown, listed[1]);
}

#[test]
fn runs_list_rejects_a_bad_limit_as_a_usage_error() {
    let store = TempStore::new();
    for limit in ["-1", "many"] {
        let output = cli(&store.path)
            .args(["runs", "list", "--limit", limit])
            .output()
            .unwrap();
        assert_eq!(code(&output), 2, "--limit {limit}");
        assert!(!stderr(&output).trim().is_empty(), "--limit {limit}");
    }
}

/// The binary without `--db`, in `dir`, with `COWORKER_DB` as given.
fn bare_cli(dir: &Path, env_db: Option<&Path>) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_coworker"));
    cmd.current_dir(dir);
    match env_db {
        Some(path) => cmd.env("COWORKER_DB", path),
        None => cmd.env_remove("COWORKER_DB"),
    };
    cmd
}

#[test]
fn coworker_db_names_the_store_when_db_is_absent() {
    let cwd = tempfile::tempdir().unwrap();
    let store = TempStore::new();
    let request =
        json!({"operation": "create", "into": "ToDo", "input": {"data": {"name": "env"}}});
    let output = bare_cli(cwd.path(), Some(&store.path))
        .args(["run", "--json", &request.to_string()])
        .output()
        .unwrap();
    assert_eq!(code(&output), 0, "stderr: {}", stderr(&output));
    let run = stdout_json(&output);
    assert!(store.path.exists(), "the store is where COWORKER_DB says");
    assert!(
        !cwd.path().join("coworker.redb").exists(),
        "no default store when COWORKER_DB is set"
    );

    // The env var serves the read commands too.
    let output = bare_cli(cwd.path(), Some(&store.path))
        .args(["runs", "list"])
        .output()
        .unwrap();
    assert_eq!(code(&output), 0, "stderr: {}", stderr(&output));
    assert_eq!(ids(&stdout_json(&output)), [run["id"].as_str().unwrap()]);

    // --db wins over COWORKER_DB.
    let other = store.dir.path().join("other.redb");
    let output = bare_cli(cwd.path(), Some(&store.path))
        .arg("--db")
        .arg(&other)
        .args(["run", "--json", &request.to_string()])
        .output()
        .unwrap();
    assert_eq!(
        code(&output),
        0,
        "same name, other store: {}",
        stdout(&output)
    );
    assert!(other.exists());
    let engine = store.open();
    assert_eq!(count(&engine, "ToDo"), 1);
}

#[test]
fn default_store_is_coworker_redb_in_the_current_directory() {
    let cwd = tempfile::tempdir().unwrap();
    let request =
        json!({"operation": "create", "into": "ToDo", "input": {"data": {"name": "here"}}});
    let output = bare_cli(cwd.path(), None)
        .args(["run", "--json", &request.to_string()])
        .output()
        .unwrap();
    assert_eq!(code(&output), 0, "stderr: {}", stderr(&output));
    let run = stdout_json(&output);
    let default = cwd.path().join("coworker.redb");
    assert!(default.exists(), "./coworker.redb was created");

    let output = bare_cli(cwd.path(), None)
        .args(["runs", "show", run["id"].as_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(code(&output), 0, "stderr: {}", stderr(&output));
    assert_eq!(stdout_json(&output)["id"], run["id"]);

    let engine = Engine::open(&default).unwrap();
    assert_eq!(count(&engine, "ToDo"), 1);
}

#[test]
fn demo_tells_the_create_select_update_delete_story() {
    let cwd = tempfile::tempdir().unwrap();
    let output = bare_cli(cwd.path(), None).arg("demo").output().unwrap();
    assert_eq!(code(&output), 0, "stderr: {}", stderr(&output));
    let text = stdout(&output);
    for word in ["create", "select", "update", "delete"] {
        assert!(text.contains(word), "the demo shows `{word}`:\n{text}");
    }
    assert!(
        text.contains("BAD_REQUEST"),
        "the demo shows a failed run:\n{text}"
    );
    assert!(
        !cwd.path().join("coworker.redb").exists(),
        "the demo without --db does not touch ./coworker.redb"
    );
}

/// The `runs show ID` the demo's last line suggests, if any: (db path, run id).
fn suggested_show(text: &str) -> Option<(String, String)> {
    let line = text.lines().find(|l| l.contains("runs show"))?;
    let command = &line[line.find("coworker")?..];
    let words: Vec<&str> = command.split_whitespace().collect();
    let db = words.iter().position(|w| *w == "--db")? + 1;
    let id = words.iter().position(|w| *w == "show")? + 1;
    Some((words.get(db)?.to_string(), words.get(id)?.to_string()))
}

#[test]
fn demo_with_db_leaves_a_store_whose_runs_can_be_listed() {
    let store = TempStore::new();
    let output = cli(&store.path).arg("demo").output().unwrap();
    assert_eq!(code(&output), 0, "stderr: {}", stderr(&output));
    let text = stdout(&output);
    let printed: Vec<String> = text
        .lines()
        .filter_map(|l| l.trim().strip_prefix("run "))
        .map(str::to_string)
        .collect();
    assert!(!printed.is_empty(), "the demo prints its run ids:\n{text}");

    let listed = cli_json(&store.path, &["runs", "list"]);
    // The demo prints its top-level CRUD runs first; the pack install and the workflow
    // (top-level too) and their nested runs follow.
    let top_level: Vec<serde_json::Value> = listed
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["parentRunId"].is_null())
        .cloned()
        .collect();
    let top_ids = ids(&serde_json::Value::Array(top_level));
    assert!(top_ids.len() >= printed.len(), "{top_ids:?}");
    assert_eq!(
        top_ids[..printed.len()],
        printed[..],
        "the runs the demo printed, in order"
    );
    let operations: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["operation"].as_str().unwrap_or("?"))
        .collect();
    for op in ["create", "select", "update", "delete"] {
        assert!(operations.contains(&op), "{op} in {operations:?}");
    }
    let first = |op: &str| operations.iter().position(|o| *o == op).unwrap();
    assert!(first("create") < first("select"));
    assert!(first("select") < first("update"));
    assert!(first("update") < first("delete"));

    // The command the demo suggests works.
    let (db, id) = suggested_show(&text).expect("the demo suggests `runs show`");
    assert_eq!(Path::new(&db), store.path);
    let shown = cli_json(&store.path, &["runs", "show", &id]);
    assert_eq!(shown["id"], json!(id));
}

#[test]
fn demo_without_db_suggests_a_command_that_works() {
    let cwd = tempfile::tempdir().unwrap();
    let output = bare_cli(cwd.path(), None).arg("demo").output().unwrap();
    assert_eq!(code(&output), 0, "stderr: {}", stderr(&output));
    let text = stdout(&output);
    assert!(
        text.contains("temporary"),
        "the demo says its store was temporary: {text}"
    );
    // Its store is gone, so it suggests no `runs show`; it suggests keeping one instead.
    assert_eq!(suggested_show(&text), None, "{text}");
    let line = text
        .lines()
        .find(|l| l.contains("keep one with"))
        .unwrap_or_else(|| panic!("the demo suggests a command: {text}"));
    let suggested: Vec<&str> = line[line.find("coworker").expect("a coworker command") + 8..]
        .split_whitespace()
        .collect();
    assert_eq!(suggested, ["--db", "demo.redb", "demo"], "{line}");
    // The suggested command works: it keeps a store whose runs can be shown.
    let output = bare_cli(cwd.path(), None)
        .args(&suggested)
        .output()
        .unwrap();
    assert_eq!(
        code(&output),
        0,
        "the demo suggested `{line}`: {}",
        stderr(&output)
    );
    assert!(cwd.path().join("demo.redb").exists());
    let text = stdout(&output);
    let (db, id) = suggested_show(&text).expect("the kept demo suggests `runs show`");
    assert_eq!(db, "demo.redb");
    let output = bare_cli(cwd.path(), None)
        .args(["--db", &db, "runs", "show", &id])
        .output()
        .unwrap();
    assert_eq!(code(&output), 0, "stderr: {}", stderr(&output));
    assert_eq!(stdout_json(&output)["id"], json!(id));
}

/// A run as JSON without what differs between two executions of the same request.
fn comparable(run: &Value) -> Value {
    let mut run = run.clone();
    let map = run.as_object_mut().expect("a run is an object");
    for key in ["id", "timestamp", "duration", "chainId"] {
        assert!(map.remove(key).is_some(), "the run has `{key}`");
    }
    if let Some(docs) = map
        .get_mut("output")
        .and_then(|o| o.get_mut("data"))
        .and_then(Value::as_array_mut)
    {
        for doc in docs.iter_mut().filter_map(Value::as_object_mut) {
            for key in ["creation", "modified", "createdByRun", "modifiedByRun"] {
                doc.remove(key);
            }
        }
    }
    run
}

#[test]
fn the_cli_and_the_library_give_the_same_runs() {
    let requests = [
        r#"{"operation": "create", "into": "ToDo", "owner": "alice", "flowId": "d",
            "input": {"data": [{"name": "a", "status": "Open", "n": 3},
                               {"name": "b", "status": "Closed", "n": 1},
                               {"name": "c", "status": "Open", "n": 2.5}]}}"#,
        r#"{"operation": "select", "from": "ToDo", "input": {"where": {"status": "Open"},
            "orderBy": {"n": "asc"}, "select": ["name", "n"]}}"#,
        r#"{"operation": "read", "doctype": "ToDo", "input": {"where": {"OR": [{"n": {"gt": 2}},
            {"name": {"startsWith": "b"}}]}, "take": 2, "skip": 1}}"#,
        r#"{"operation": "update", "in": "ToDo", "input": {"where": {"n": {"lte": 2.5}},
            "data": {"status": "Done"}}}"#,
        r#"{"operation": "delete", "from": "ToDo", "input": {"name": "b"}}"#,
        r#"{"operation": "select", "from": "ToDo", "options": {"dryRun": true}}"#,
        r#"{"operation": "select", "from": "ToDo"}"#,
        r#"{"operation": "create", "into": "ToDo", "input": {"data": {"name": "a"}}}"#,
        r#"{"operation": "create", "into": "ToDo", "input": {"data": "a"}}"#,
        r#"{"operation": "delete", "from": "ToDo", "input": {"name": "missing"}}"#,
        r#"{"operation": "select", "from": "ToDo", "input": {"where": {"n": {"between": [1, 2]}}}}"#,
        r#"{"operation": "select", "from": "ToDo", "input": {"take": -3}}"#,
        r#"{"operation": "select", "form": "ToDo"}"#,
        r#"{"operation": "update", "input": {"data": {}}}"#,
        r#"{"operation": "teleport", "from": "ToDo"}"#,
        r#"{"from": "ToDo"}"#,
        r#"["select"]"#,
        r#"{"operation": "select", "from": "#,
    ];
    let library_store = TempStore::new();
    let engine = library_store.open();
    let cli_store = TempStore::new();
    for text in requests {
        // The library through its typed API when the request parses, else from the text.
        let from_library = match RunRequest::from_json(text) {
            Ok(request) => engine.run(request),
            Err(_) => engine.run_json(text),
        };
        let (exit, from_cli) = cli_run(&cli_store.path, text);
        let expected_exit = if from_library.success { 0 } else { 1 };
        assert_eq!(exit, expected_exit, "exit code for {text}: {from_cli}");
        assert_eq!(
            comparable(&from_cli),
            comparable(&from_library.to_value()),
            "CLI vs library for {text}"
        );
        // And the stored records agree too.
        let stored = engine.get_run(&from_library.id).unwrap().unwrap();
        let shown = cli_json(
            &cli_store.path,
            &["runs", "show", from_cli["id"].as_str().unwrap()],
        );
        assert_eq!(
            comparable(&shown),
            comparable(&stored.to_value()),
            "stored run for {text}"
        );
    }
}

#[test]
fn the_cli_reads_runs_and_audit_of_a_store_a_host_is_writing() {
    let store = TempStore::new();
    let host = coworker::Engine::builder()
        .share_with_readers()
        .open(&store.path)
        .unwrap();
    let created = host.run_value(json!({"operation": "create", "into": "Note",
        "input": {"data": {"name": "n1"}}, "flowId": "shared"}));
    assert!(created.success);
    // The host keeps the store open for writing; the CLI reads alongside it.
    let listed = cli_json(&store.path, &["runs", "list", "--flow", "shared"]);
    assert_eq!(ids(&listed), vec![created.id.clone()]);
    let shown = cli_json(&store.path, &["runs", "show", &created.id]);
    assert_eq!(shown["id"], json!(created.id));
    let verify = cli(&store.path).args(["audit", "verify"]).output().unwrap();
    assert_eq!(code(&verify), 0, "{}", stderr(&verify));
    // A second writer is refused clearly, and the host goes on.
    let writer = cli(&store.path)
        .args(["run", "--json", r#"{"operation":"select","from":"Note"}"#])
        .output()
        .unwrap();
    assert_eq!(code(&writer), 2, "{}", stdout(&writer));
    assert!(
        stderr(&writer).contains("cannot open store"),
        "{}",
        stderr(&writer)
    );
    let later = host.run_value(json!({"operation": "create", "into": "Note",
        "input": {"data": {"name": "n2"}}, "flowId": "shared"}));
    assert!(later.success);
    // The reader follows the host's commits.
    assert_eq!(
        cli_json(&store.path, &["runs", "list", "--flow", "shared"])
            .as_array()
            .unwrap()
            .len(),
        2
    );
}

#[test]
fn a_host_that_does_not_share_its_store_is_named_in_the_readers_error() {
    let store = TempStore::new();
    let host = store.open();
    assert!(
        host.run_value(json!({"operation": "create", "into": "Note", "input": {"data": {"x": 1}}}))
            .success
    );
    let listed = cli(&store.path).args(["runs", "list"]).output().unwrap();
    assert_eq!(code(&listed), 2);
    assert!(
        stderr(&listed).contains("share_with_readers"),
        "{}",
        stderr(&listed)
    );
}
