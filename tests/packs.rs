//! Story: a developer ships operations as a pack folder (`pack.json`, `schemas/`,
//! `operations/*.json` + `*.rhai`, `tests/*.test.rhai` with `tests/fixtures/`). `coworker
//! pack install DIR` checks everything first and installs all of it in one run, or nothing;
//! a newer version upgrades in place, an older one is refused; `coworker test DIR` runs the
//! pack's script tests on fresh stores; `coworker script FILE` runs an ad-hoc script.
//!
//! The packs live in `tests/fixtures/packs/`: `mini` (1.0.0), `mini-v2` (mini 1.1.0),
//! `mini-old` (mini 0.9.0), `broken-script`, `bad-schema` and `failing-tests`.

use crate::harness::*;
use coworker::{Engine, RunStatus, run_script_tests};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Output;

fn pack_dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/packs")
        .join(name)
}

fn exit_code(output: &Output) -> i32 {
    output.status.code().unwrap_or_else(|| {
        panic!(
            "the CLI was killed by a signal; stderr: {}",
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// `coworker --db DB ARGS...`
fn coworker(db: &Path, args: &[&str]) -> Output {
    cli(db).args(args).output().expect("the CLI starts")
}

/// `coworker pack install DIR`: the exit code and the printed run.
fn cli_install(db: &Path, pack: &str) -> (i32, Value) {
    let dir = pack_dir(pack);
    let output = coworker(db, &["pack", "install", dir.to_str().expect("utf-8 path")]);
    (exit_code(&output), stdout_json(&output))
}

/// What a store holds of the packs' doctypes and operations, to compare before and after.
fn installed_state(engine: &Engine) -> Value {
    let all = |doctype: &str| {
        ok(engine, json!({"operation": "select", "from": doctype}))
            .data()
            .iter()
            .map(|d| d["name"].clone())
            .collect::<Vec<_>>()
    };
    json!({"schemas": all("Schema"), "operations": all("Operation"), "packs": all("Pack")})
}

// --- install -------------------------------------------------------------------------------

#[test]
fn a_good_pack_installs_schemas_operations_and_its_record_in_one_run() {
    let engine = engine();
    let install = engine.install_pack(pack_dir("mini"));
    assert!(install.success, "{:?}", install.error);
    assert_eq!(install.operation.as_deref(), Some("install_pack"));

    // Everything came in nested runs of the one install run.
    assert!(
        install.child_run_ids.len() >= 4,
        "{:?}",
        install.child_run_ids
    );
    let mut created = Vec::new();
    for id in &install.child_run_ids {
        let child = stored(&engine, id);
        assert_eq!(child.status, RunStatus::Completed, "{id}");
        assert_eq!(child.parent_run_id.as_deref(), Some(install.id.as_str()));
        assert_eq!(child.chain_id, install.id);
        created.push(child.doctype.unwrap_or_default());
    }
    for doctype in ["Schema", "Operation", "Pack"] {
        assert!(
            created.iter().any(|d| d == doctype),
            "{doctype}: {created:?}"
        );
    }
    assert_eq!(
        stored(&engine, &install.id).child_run_ids,
        install.child_run_ids
    );

    // The schema validates, the operations run, the Pack document records it.
    assert!(engine.schema("Widget").unwrap().is_some());
    fails(
        &engine,
        json!({"operation": "create", "into": "Widget", "input": {"data": {"qty": 1}}}),
        "VALIDATION_FAILED",
    );
    ok(
        &engine,
        json!({"operation": "create", "into": "Widget", "input": {"data": [{"title": "a"}, {"title": "b"}]}}),
    );
    assert_eq!(
        ok(&engine, json!({"operation": "widget_count"})).output,
        json!(2)
    );
    assert_eq!(
        ok(
            &engine,
            json!({"operation": "widget_restock", "input": {"qty": 5}})
        )
        .output,
        json!(2)
    );
    fails(
        &engine,
        json!({"operation": "widget_restock"}),
        "BAD_REQUEST",
    );

    let packs = engine.packs().unwrap();
    assert_eq!(packs.len(), 1);
    assert_eq!(packs[0]["name"], json!("mini"));
    assert_eq!(packs[0]["version"], json!("1.0.0"));
    assert_eq!(packs[0]["contents"]["schemas"], json!(["Widget"]));
    let mut ops: Vec<Value> = packs[0]["contents"]["operations"]
        .as_array()
        .expect("operations")
        .clone();
    ops.sort_by_key(|v| v.to_string());
    assert_eq!(ops, [json!("widget_count"), json!("widget_restock")]);
    // The operation documents say where they came from.
    let op = ok(
        &engine,
        json!({"operation": "select", "from": "Operation", "input": {"where": {"name": "widget_count"}}}),
    );
    assert_eq!(op.data()[0]["pack"], json!("mini"));
    assert!(
        op.data()[0]["handlerCode"]
            .as_str()
            .is_some_and(|c| c.contains("meta.count")),
        "the handler code comes from the sibling .rhai file"
    );
}

#[test]
fn a_pack_whose_script_does_not_compile_installs_nothing() {
    let engine = engine();
    let before = installed_state(&engine);
    let run = engine.install_pack(pack_dir("broken-script"));
    let error = run.error.as_ref().expect("the install fails");
    assert_eq!(
        error.code.as_str(),
        "SCRIPT_COMPILE_ERROR",
        "{}",
        error.message
    );
    assert!(
        error.message.contains("gadget_label.rhai"),
        "the message names the file: {}",
        error.message
    );
    assert_eq!(error.details["line"], json!(2), "{error:?}");
    assert!(error.details["column"].is_number(), "{error:?}");
    assert_eq!(installed_state(&engine), before);
    assert!(engine.schema("Gadget").unwrap().is_none());
    fails(
        &engine,
        json!({"operation": "gadget_count"}),
        "UNKNOWN_OPERATION",
    );
    assert!(engine.packs().unwrap().is_empty());
    // The failed install is recorded like any failed run.
    assert_eq!(stored(&engine, &run.id).status, RunStatus::Failed);
}

#[test]
fn a_pack_with_a_bad_schema_installs_nothing() {
    let engine = engine();
    let before = installed_state(&engine);
    let run = engine.install_pack(pack_dir("bad-schema"));
    let error = run.error.as_ref().expect("the install fails");
    assert_eq!(
        error.code.as_str(),
        "VALIDATION_FAILED",
        "{}",
        error.message
    );
    assert!(error.message.contains("Thing"), "{}", error.message);
    assert_eq!(installed_state(&engine), before);
    assert!(engine.schema("Thing").unwrap().is_none());
    fails(
        &engine,
        json!({"operation": "thing_count"}),
        "UNKNOWN_OPERATION",
    );
    assert!(engine.packs().unwrap().is_empty());
    // Nothing of it was committed, though every run of it is recorded.
    let stored_install = stored(&engine, &run.id);
    assert_eq!(stored_install.status, RunStatus::Failed);
    // The install stopped at the bad schema: one child run, the schema's create, failed.
    assert_eq!(
        stored_install.child_run_ids.len(),
        1,
        "{:?}",
        stored_install.child_run_ids
    );
    for id in &stored_install.child_run_ids {
        let child = stored(&engine, id);
        assert_eq!(child.operation.as_deref(), Some("create"));
        assert_eq!(child.doctype.as_deref(), Some("Schema"));
        assert_eq!(child.status, RunStatus::Failed);
        assert_eq!(
            child.error.as_ref().map(|e| e.code.as_str()),
            Some("VALIDATION_FAILED")
        );
        assert_eq!(child.parent_run_id.as_deref(), Some(run.id.as_str()));
    }
}

#[test]
fn a_pack_folder_that_is_not_a_pack_is_refused() {
    let engine = engine();
    let run = engine.install_pack(pack_dir("no-such-pack"));
    assert!(!run.success);
    assert_eq!(run.error.as_ref().unwrap().code.as_str(), "BAD_REQUEST");
    assert!(engine.packs().unwrap().is_empty());
}

#[test]
fn a_newer_version_upgrades_in_place_and_an_older_one_is_refused() {
    let engine = engine();
    let first = engine.install_pack(pack_dir("mini"));
    assert!(first.success, "{:?}", first.error);
    ok(
        &engine,
        json!({"operation": "create", "into": "Widget", "input": {"data": [{"title": "b"}, {"title": "a"}]}}),
    );
    assert_eq!(
        ok(&engine, json!({"operation": "widget_count"})).output,
        json!(2)
    );
    fails(
        &engine,
        json!({"operation": "widget_titles"}),
        "UNKNOWN_OPERATION",
    );

    let upgrade = engine.install_pack(pack_dir("mini-v2"));
    assert!(upgrade.success, "{:?}", upgrade.error);
    // The changed handler is live, the new operation exists, the schema gained a field,
    // the documents are still there, and the operation of v1 only stays.
    assert_eq!(
        ok(&engine, json!({"operation": "widget_count"})).output,
        json!({"count": 2, "version": 2})
    );
    assert_eq!(
        ok(&engine, json!({"operation": "widget_titles"})).output,
        json!(["a", "b"])
    );
    let widget = engine.schema("Widget").unwrap().expect("still there");
    assert!(
        widget["fields"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["fieldname"] == json!("color")),
        "{widget}"
    );
    let made = ok(
        &engine,
        json!({"operation": "create", "into": "Widget", "input": {"data": {"title": "c"}}}),
    );
    assert_eq!(made.data()[0]["color"], json!("red"));
    fails(
        &engine,
        json!({"operation": "create", "into": "Widget", "input": {"data": {"title": "d", "color": "plaid"}}}),
        "VALIDATION_FAILED",
    );
    ok(
        &engine,
        json!({"operation": "widget_restock", "input": {"qty": 1}}),
    );
    let packs = engine.packs().unwrap();
    assert_eq!(packs.len(), 1);
    assert_eq!(packs[0]["version"], json!("1.1.0"));

    // Older: refused, and nothing changes.
    let before = installed_state(&engine);
    let downgrade = engine.install_pack(pack_dir("mini-old"));
    let error = downgrade.error.as_ref().expect("a downgrade fails");
    assert_eq!(error.code.as_str(), "CONFLICT", "{}", error.message);
    assert!(error.message.contains("1.1.0"), "{}", error.message);
    assert_eq!(installed_state(&engine), before);
    assert_eq!(
        ok(&engine, json!({"operation": "widget_count"})).output,
        json!({"count": 3, "version": 2})
    );
    assert_eq!(engine.packs().unwrap()[0]["version"], json!("1.1.0"));
}

#[test]
fn the_cli_installs_lists_and_upgrades_packs() {
    let store = TempStore::new();
    let (exit, run) = cli_install(&store.path, "mini");
    assert_eq!(exit, 0, "{run}");
    assert_eq!(run["success"], json!(true));
    assert!(
        run["childRunIds"].as_array().is_some_and(|c| c.len() >= 4),
        "{run}"
    );

    let listed = coworker(&store.path, &["pack", "list"]);
    assert_eq!(exit_code(&listed), 0, "{}", text(&listed));
    let packs = stdout_json(&listed);
    assert_eq!(packs.as_array().map(Vec::len), Some(1), "{packs}");
    assert_eq!(packs[0]["name"], json!("mini"));
    assert_eq!(packs[0]["version"], json!("1.0.0"));
    assert_eq!(
        packs[0]["description"],
        json!("A minimal pack for tests: one schema, two operations, script tests.")
    );

    // The installed operation runs from the CLI, on the same store.
    let counted = coworker(
        &store.path,
        &["run", "--json", r#"{"operation": "widget_count"}"#],
    );
    assert_eq!(exit_code(&counted), 0, "{}", text(&counted));
    assert_eq!(stdout_json(&counted)["output"], json!(0));

    let (exit, run) = cli_install(&store.path, "mini-v2");
    assert_eq!(exit, 0, "{run}");
    let (exit, run) = cli_install(&store.path, "mini-old");
    assert_eq!(exit, 1, "{run}");
    assert_eq!(run["error"]["code"], json!("CONFLICT"));
    let (exit, run) = cli_install(&store.path, "broken-script");
    assert_eq!(exit, 1, "{run}");
    assert_eq!(run["error"]["code"], json!("SCRIPT_COMPILE_ERROR"));
    assert!(
        run["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("gadget_label.rhai")),
        "{run}"
    );

    let packs = stdout_json(&coworker(&store.path, &["pack", "list"]));
    assert_eq!(packs.as_array().map(Vec::len), Some(1), "{packs}");
    assert_eq!(packs[0]["version"], json!("1.1.0"));

    // The library sees what the CLI installed.
    let engine = store.open();
    assert_eq!(
        ok(&engine, json!({"operation": "widget_count"})).output,
        json!({"count": 0, "version": 2})
    );
}

#[test]
fn pack_list_of_an_empty_store_is_an_empty_array() {
    let store = TempStore::new();
    let listed = coworker(&store.path, &["pack", "list"]);
    assert_eq!(exit_code(&listed), 0, "{}", text(&listed));
    assert_eq!(stdout_json(&listed), json!([]));
}

// --- script tests --------------------------------------------------------------------------

#[test]
fn coworker_test_passes_a_pack_whose_tests_pass() {
    let store = TempStore::new();
    let dir = pack_dir("mini");
    let output = coworker(&store.path, &["test", dir.to_str().unwrap()]);
    let out = text(&output);
    assert_eq!(exit_code(&output), 0, "{out}");
    for test in [
        "test_fixtures_are_loaded",
        "test_create_then_count",
        "test_restock_updates_every_widget",
        "test_schema_is_installed",
    ] {
        let line = out
            .lines()
            .find(|l| l.contains(test))
            .unwrap_or_else(|| panic!("no line for {test} in:\n{out}"));
        assert!(line.starts_with("ok"), "{line}");
    }
    let last = out.lines().last().unwrap_or_default();
    assert_eq!(last, "4 passed, 0 failed", "{out}");
    // The tests ran on fresh in-memory stores, not on --db.
    assert!(store.open().packs().unwrap().is_empty());
}

#[test]
fn coworker_test_fails_with_expected_actual_file_and_line() {
    let store = TempStore::new();
    let dir = pack_dir("failing-tests");
    let output = coworker(&store.path, &["test", dir.to_str().unwrap()]);
    let out = text(&output);
    assert_eq!(exit_code(&output), 1, "{out}");
    assert_eq!(out.lines().last(), Some("1 passed, 2 failed"), "{out}");
    let passed = out
        .lines()
        .find(|l| l.contains("test_addition_holds"))
        .expect("a line for the passing test");
    assert!(passed.starts_with("ok"), "{passed}");

    let failure = |test: &str| -> String {
        let start = out
            .find(&format!("FAIL failing-tests/math.test.rhai::{test}"))
            .unwrap_or_else(|| panic!("no FAIL line for {test} in:\n{out}"));
        out[start..].lines().take(3).collect::<Vec<_>>().join("\n")
    };
    let wrong = failure("test_addition_is_wrong");
    assert!(wrong.contains("expected 3"), "{wrong}");
    assert!(wrong.contains("actual 2"), "{wrong}");
    assert!(
        wrong.contains("math.test.rhai:7:"),
        "file and line: {wrong}"
    );
    let falsy = failure("test_condition_is_false");
    assert!(falsy.contains("one is not above two"), "{falsy}");
    assert!(
        falsy.contains("math.test.rhai:11:"),
        "file and line: {falsy}"
    );
}

#[test]
fn run_script_tests_reports_each_test() {
    let report = run_script_tests(pack_dir("mini")).expect("the pack loads");
    assert_eq!((report.passed(), report.failed()), (4, 0), "{report:?}");
    for test in &report.tests {
        assert!(
            test.name.starts_with("mini/widgets.test.rhai::test_"),
            "{}",
            test.name
        );
        assert!(test.failure.is_none(), "{test:?}");
    }
    let report = run_script_tests(pack_dir("failing-tests")).expect("the pack loads");
    assert_eq!((report.passed(), report.failed()), (1, 2), "{report:?}");
    let wrong = report
        .tests
        .iter()
        .find(|t| t.name.ends_with("::test_addition_is_wrong"))
        .expect("reported");
    let why = wrong.failure.as_deref().expect("a failure");
    assert!(
        why.contains("expected 3") && why.contains("actual 2"),
        "{why}"
    );
    assert!(why.contains("math.test.rhai:7:"), "{why}");
    // A pack that does not load is an error, not a report.
    let broken = run_script_tests(pack_dir("broken-script")).expect_err("does not load");
    assert_eq!(broken.code().as_str(), "SCRIPT_COMPILE_ERROR");
}

// --- ad-hoc scripts ------------------------------------------------------------------------

#[test]
fn coworker_script_prints_the_final_value() {
    let store = TempStore::new();
    let script = store.dir.path().join("seed.rhai");
    std::fs::write(
        &script,
        r#"
        let made = run(#{operation: "create", into: "Note", input: #{data: [#{n: 1}, #{n: 2}, #{n: 3}]}});
        let total = 0;
        for doc in run(#{operation: "select", from: "Note"}).output.data { total += doc.n; }
        #{created: made.output.data.len(), total: total}
        "#,
    )
    .unwrap();
    let output = coworker(&store.path, &["script", script.to_str().unwrap()]);
    assert_eq!(exit_code(&output), 0, "{}", text(&output));
    assert_eq!(stdout_json(&output), json!({"created": 3, "total": 6}));
    // Its writes are in the store.
    assert_eq!(count(&store.open(), "Note"), 3);
}

#[test]
fn coworker_script_exits_1_with_an_error_for_a_failing_script() {
    let store = TempStore::new();
    let cases = [
        (
            "throws.rhai",
            "print(\"about to fail\");\nthrow \"no luck\";",
            "SCRIPT_ERROR",
        ),
        ("loops.rhai", "loop {}", "LIMIT_EXCEEDED"),
        ("broken.rhai", "let x = ;", "SCRIPT_COMPILE_ERROR"),
    ];
    for (file, code, expected) in cases {
        let script = store.dir.path().join(file);
        std::fs::write(&script, code).unwrap();
        let output = coworker(&store.path, &["script", script.to_str().unwrap()]);
        assert_eq!(exit_code(&output), 1, "{file}: {}", text(&output));
        let printed = stdout_json(&output);
        assert_eq!(
            printed["error"]["code"],
            json!(expected),
            "{file}: {printed}"
        );
        assert!(printed["error"]["message"].is_string(), "{printed}");
    }
    let printed = stdout_json(&coworker(
        &store.path,
        &[
            "script",
            store.dir.path().join("throws.rhai").to_str().unwrap(),
        ],
    ));
    assert!(
        printed["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("no luck")),
        "{printed}"
    );
    assert_eq!(printed["error"]["details"]["line"], json!(2));
    assert_eq!(
        printed["error"]["details"]["printed"],
        json!(["about to fail"])
    );
}

#[test]
fn engine_run_script_agrees_with_the_cli() {
    let store = TempStore::new();
    let code = "let n = 0; for i in 0..10 { n += i * i; } #{n: n, s: `${n}`}";
    let script = store.dir.path().join("squares.rhai");
    std::fs::write(&script, code).unwrap();
    let output = coworker(&store.path, &["script", script.to_str().unwrap()]);
    assert_eq!(exit_code(&output), 0, "{}", text(&output));
    let from_cli = stdout_json(&output);
    let from_engine = engine().run_script("squares", code).expect("runs");
    assert_eq!(from_cli, from_engine);
    assert_eq!(from_engine, json!({"n": 285, "s": "285"}));
}
