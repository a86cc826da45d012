//! Story: someone saves a hostile operation. Whatever its script does (loop forever,
//! recurse, grow strings, arrays and maps, reach for eval, modules, files or the clock,
//! recurse through `run`, forge identity or meta fields, throw odd values, return what is
//! not JSON), the run ends within its limits with the right code, no data changes, and the
//! engine keeps serving other runs.
//!
//! The cases are one table; each test walks a part of it on an engine of its own, so the
//! parts run in parallel. Cases that trip a known engine bug carry it in `bug`: the walk
//! skips them, and one ignored test per bug checks each (drop its `#[ignore]` once fixed).

use crate::harness::*;
use coworker::{Engine, Run, RunError};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// How long any hostile run may take, even in a debug build on a loaded machine.
const BOUND: Duration = Duration::from_secs(5);

/// What a hostile script must come to.
#[derive(Debug, Clone, Copy)]
enum Expect {
    /// Its Operation is refused when saved, with this code.
    Refused(&'static str),
    /// The run fails with this code and its message names the second field (a limit, a
    /// function, the thrown text).
    Fails(&'static str, &'static str),
    /// The run completes with this output (JSON text): the attack was contained.
    Contained(&'static str),
}

struct Case {
    name: &'static str,
    code: String,
    limits: Option<Value>,
    expect: Expect,
    /// The engine bug this case trips, if any (checked by an ignored test of its own).
    bug: Option<&'static str>,
}

fn case(
    name: &'static str,
    code: impl Into<String>,
    limits: Option<Value>,
    expect: Expect,
) -> Case {
    Case {
        name,
        code: code.into(),
        limits,
        expect,
        bug: None,
    }
}

fn bug(mut case: Case, why: &'static str) -> Case {
    case.bug = Some(why);
    case
}

use Expect::{Contained, Fails, Refused};

const LIMIT: &str = "LIMIT_EXCEEDED";
const SCRIPT: &str = "SCRIPT_ERROR";
const COMPILE: &str = "SCRIPT_COMPILE_ERROR";

/// Scripts that run away: loops, recursion, growing data. Limits are lowered where the
/// default would only be slow, and kept on defaults in a few cases to show defaults end.
fn runaway_cases() -> Vec<Case> {
    let ops = |n: u64| Some(json!({ "maxOperations": n }));
    vec![
        case(
            "infinite_loop",
            "loop {}",
            None,
            Fails(LIMIT, "maxOperations"),
        ),
        case(
            "while_true_with_work",
            "let x = 0; while true { x += 1; }",
            None,
            Fails(LIMIT, "maxOperations"),
        ),
        case(
            "for_over_a_huge_range",
            "let x = 0; for i in 0..9223372036854775807 { x += i % 7; } x",
            ops(100_000),
            Fails(LIMIT, "maxOperations"),
        ),
        case(
            "loop_until_the_clock_stops_it",
            "let x = 0; loop { x += 1; }",
            Some(json!({"timeoutMs": 100, "maxOperations": 1_000_000_000u64})),
            Fails("TIMEOUT", "timeoutMs"),
        ),
        case(
            "deep_recursion",
            "fn f(n) { f(n + 1) } f(0)",
            None,
            Fails(LIMIT, "maxCallDepth"),
        ),
        case(
            "mutual_recursion",
            "fn a(n) { b(n + 1) } fn b(n) { a(n + 1) } a(0)",
            None,
            Fails(LIMIT, "maxCallDepth"),
        ),
        case(
            "recursion_through_a_function_pointer",
            "fn f(g) { g.call(g) } f(Fn(\"f\"))",
            None,
            Fails(LIMIT, "maxCallDepth"),
        ),
        case(
            "recursion_through_a_closure",
            "let f = |g| g.call(g); f.call(f)",
            None,
            Fails(LIMIT, "maxCallDepth"),
        ),
        case(
            "string_doubling",
            "let s = \"x\"; loop { s += s; }",
            None,
            Fails(LIMIT, "maxStringSize"),
        ),
        case(
            "string_growth_in_a_loop",
            "let s = \"\"; loop { s += \"abcdefghij\"; }",
            Some(json!({"maxStringSize": 10_000})),
            Fails(LIMIT, "maxStringSize"),
        ),
        case(
            "string_pad_to_100_mb",
            "let s = \"\"; s.pad(100000000, \"y\"); s",
            None,
            Fails(LIMIT, "maxStringSize"),
        ),
        case(
            "array_push_forever",
            "let a = []; loop { a.push(1); }",
            Some(json!({"maxArraySize": 1_000})),
            Fails(LIMIT, "maxArraySize"),
        ),
        case(
            "array_pad_to_100_million",
            "let a = []; a.pad(100000000, 0); a",
            None,
            Fails(LIMIT, "maxArraySize"),
        ),
        case(
            "map_growth_by_mixin",
            "let m = #{}; let i = 0; loop { let n = #{}; n[`k${i}`] = i; m.mixin(n); i += 1; }",
            Some(json!({"maxMapSize": 1_000})),
            Fails(LIMIT, "maxMapSize"),
        ),
        bug(
            case(
                "map_growth_by_indexing",
                "let m = #{}; for i in 0..5000 { m[`k${i}`] = i; } m",
                Some(json!({"maxMapSize": 1_000})),
                Fails(LIMIT, "maxMapSize"),
            ),
            "maxMapSize is not checked when `m[key] = value` adds an entry: a 5,000-entry map \
             comes back as the output of an operation limited to 1,000",
        ),
        case(
            "try_catch_around_an_infinite_loop",
            "try { loop {} } catch { \"caught\" }",
            ops(100_000),
            Fails(LIMIT, "maxOperations"),
        ),
        case(
            "try_catch_inside_an_infinite_loop",
            "loop { try { loop {} } catch (e) { } }",
            ops(100_000),
            Fails(LIMIT, "maxOperations"),
        ),
        case(
            "try_catch_around_string_doubling",
            "try { let s = \"x\"; loop { s += s; } } catch { \"caught\" }",
            None,
            Fails(LIMIT, "maxStringSize"),
        ),
        case(
            "try_catch_around_deep_recursion",
            "fn f(n) { f(n + 1) } try { f(0) } catch { \"caught\" }",
            None,
            Fails(LIMIT, "maxCallDepth"),
        ),
        case(
            "try_catch_around_a_timeout",
            "try { let x = 0; loop { x += 1; } } catch { \"caught\" }",
            Some(json!({"timeoutMs": 100, "maxOperations": 1_000_000_000u64})),
            Fails("TIMEOUT", "timeoutMs"),
        ),
        bug(
            case(
                "sleep_past_the_deadline",
                "sleep(8); 1",
                Some(json!({"timeoutMs": 300})),
                Fails(SCRIPT, "sleep"),
            ),
            "rhai's CorePackage exposes `sleep`: a script blocks its thread past timeoutMs",
        ),
    ]
}

/// Scripts that must not even be saved.
fn refused_cases() -> Vec<Case> {
    let deep = |open: &str, close: &str| format!("{}1{}", open.repeat(500), close.repeat(500));
    vec![
        case("eval", "eval(\"40 + 2\")", None, Refused(COMPILE)),
        case(
            "eval_in_a_function",
            "fn f() { eval(\"1\") } f()",
            None,
            Refused(COMPILE),
        ),
        case(
            "import_a_module",
            "import \"secrets\" as s; s::key",
            None,
            Refused(COMPILE),
        ),
        case(
            "export_a_variable",
            "let x = 1; export x;",
            None,
            Refused(COMPILE),
        ),
        case(
            "export_a_constant",
            "export const X = 1;",
            None,
            Refused(COMPILE),
        ),
        case(
            "engine_namespace",
            "Engine::create()",
            None,
            Refused(COMPILE),
        ),
        case(
            "deeply_nested_parentheses",
            deep("(", ")"),
            None,
            Refused(COMPILE),
        ),
        case(
            "deeply_nested_arrays",
            deep("[", "]"),
            None,
            Refused(COMPILE),
        ),
        case("undefined_variable", "ENV.HOME", None, Refused(COMPILE)),
        case(
            "assign_to_an_undefined_global",
            "secrets = 1;",
            None,
            Refused(COMPILE),
        ),
    ]
}

/// Functions the sandbox does not expose, and faults at run time.
fn runtime_cases() -> Vec<Case> {
    vec![
        case("clock", "timestamp()", None, Fails(SCRIPT, "timestamp")),
        case(
            "open_a_file",
            "open(\"/etc/passwd\")",
            None,
            Fails(SCRIPT, "open"),
        ),
        case(
            "read_a_file",
            "read_file(\"/etc/passwd\")",
            None,
            Fails(SCRIPT, "read_file"),
        ),
        case(
            "http",
            "http_get(\"http://example.com\")",
            None,
            Fails(SCRIPT, "http_get"),
        ),
        case(
            "shell",
            "system(\"rm -rf /\")",
            None,
            Fails(SCRIPT, "system"),
        ),
        case("environment", "env(\"HOME\")", None, Fails(SCRIPT, "env")),
        case(
            "run_with_a_string",
            "run(\"select\")",
            None,
            Fails(SCRIPT, "run"),
        ),
        case(
            "get_schema_with_a_number",
            "get_schema(42)",
            None,
            Fails(SCRIPT, "get_schema"),
        ),
        bug(
            case(
                "function_pointer_to_eval",
                "let f = Fn(\"eval\"); f.call(\"1\")",
                None,
                Fails(SCRIPT, "eval"),
            ),
            "a runtime error of a saved script (Fn(\"eval\")) is reported as SCRIPT_COMPILE_ERROR",
        ),
        case(
            "throw_a_map",
            "throw #{code: \"FORGED\", a: 1}",
            None,
            Fails(SCRIPT, "FORGED"),
        ),
        case(
            "throw_a_limit_code",
            "throw #{code: \"LIMIT_EXCEEDED\"}",
            None,
            Fails(SCRIPT, "threw"),
        ),
        case("throw_a_number", "throw 42", None, Fails(SCRIPT, "42")),
        case("throw_unit", "throw ()", None, Fails(SCRIPT, "threw")),
        case("bare_throw", "throw;", None, Fails(SCRIPT, "threw")),
        case(
            "throw_an_array",
            "throw [1, [2]]",
            None,
            Fails(SCRIPT, "[1,[2]]"),
        ),
        case(
            "return_a_function_pointer",
            "Fn(\"f\")",
            None,
            Fails(SCRIPT, "not JSON"),
        ),
        case(
            "return_a_closure",
            "|x| x + 1",
            None,
            Fails(SCRIPT, "not JSON"),
        ),
        case(
            "return_a_function_pointer_in_a_map",
            "#{data: [Fn(\"f\")]}",
            None,
            Fails(SCRIPT, "not JSON"),
        ),
        case(
            "set_a_context_property",
            "context.owner = \"root\"; context.owner",
            None,
            Fails(SCRIPT, "constant"),
        ),
        case(
            "replace_context",
            "context = #{owner: \"root\"}; 1",
            None,
            Fails(SCRIPT, "constant"),
        ),
        case(
            "mutate_a_context_array",
            "context.childRunIds.push(\"forged\"); 1",
            None,
            Fails(SCRIPT, "constant"),
        ),
        case(
            "division_by_zero",
            "let x = 0; 1 / x",
            None,
            Fails(SCRIPT, "zero"),
        ),
        case(
            "modulo_by_zero",
            "let x = 0; 1 % x",
            None,
            Fails(SCRIPT, "zero"),
        ),
        case(
            "index_out_of_bounds",
            "[1, 2][5]",
            None,
            Fails(SCRIPT, "out of bounds"),
        ),
        case(
            "integer_overflow",
            "let x = 9223372036854775807; x + 1",
            None,
            Fails(SCRIPT, "overflow"),
        ),
        case("type_mismatch", "\"a\" - 1", None, Fails(SCRIPT, "-")),
        case(
            "failure_map_after_writing",
            "run(#{operation: \"update\", \"in\": \"Canary\", input: #{where: #{}, data: #{n: 99}}});\n\
             #{success: false, error: \"nope\"}",
            None,
            Fails(SCRIPT, "nope"),
        ),
        // JSON has no NaN or infinities: they come out as null, and the run stays valid JSON.
        case(
            "nan_and_infinity_output",
            "let zero = 0.0; [zero / zero, 1.0 / zero, -1.0 / zero]",
            None,
            Contained("[null, null, null]"),
        ),
        case(
            "get_schema_of_an_unknown_doctype",
            "get_schema(\"NoSuchDoctype\")",
            None,
            Contained("null"),
        ),
        case(
            "mutate_a_schema_copy",
            "let s = get_schema(\"Canary\"); s.fields = []; s.name = \"Other\";\n\
             [get_schema(\"Canary\").fields.len(), get_schema(\"Other\")]",
            None,
            Contained("[1, null]"),
        ),
    ]
}

/// Abuse of `run`: recursion through operations, fan-out, writes before a failure,
/// bypassing validation or protection, forging identity.
fn run_abuse_cases() -> Vec<Case> {
    let child_code = |code: &str| format!("run(#{{{code}}}).error.code");
    vec![
        case(
            "run_self",
            "run(#{operation: \"run_self\"})",
            None,
            Fails(LIMIT, "maxRunDepth"),
        ),
        case(
            "run_ping",
            "run(#{operation: \"run_pong\"})",
            None,
            Fails(LIMIT, "maxRunDepth"),
        ),
        case(
            "run_fan_out",
            "for i in 0..100000 { run(#{operation: \"select\", from: \"Canary\"}); } 1",
            Some(json!({"maxHostCalls": 100})),
            Fails(LIMIT, "maxHostCalls"),
        ),
        case(
            "get_schema_fan_out",
            "loop { get_schema(\"Canary\"); }",
            Some(json!({"maxHostCalls": 100})),
            Fails(LIMIT, "maxHostCalls"),
        ),
        case(
            "fork_bomb",
            "let d = context.input.d;\n\
             if d < 15 {\n\
                 run(#{operation: \"fork_bomb\", input: #{d: d + 1}});\n\
                 run(#{operation: \"fork_bomb\", input: #{d: d + 1}});\n\
             }\n\
             d",
            Some(json!({"timeoutMs": 300})),
            Fails("TIMEOUT", "timeoutMs"),
        ),
        case(
            "try_catch_around_a_nested_limit",
            "try { run(#{operation: \"looper\"}) } catch (e) { \"caught\" }",
            None,
            Fails(LIMIT, "maxOperations"),
        ),
        case(
            "try_catch_around_a_nested_timeout",
            "try { run(#{operation: \"slow_child\"}) } catch (e) { \"caught\" }",
            None,
            Fails("TIMEOUT", "timeoutMs"),
        ),
        case(
            "delete_everything_then_throw",
            "run(#{operation: \"delete\", from: \"Canary\", input: #{where: #{}}}); throw \"oops\"",
            None,
            Fails(SCRIPT, "oops"),
        ),
        case(
            "delete_everything_then_loop",
            "run(#{operation: \"delete\", from: \"Canary\", input: #{where: #{}}}); loop {}",
            Some(json!({"maxOperations": 50_000})),
            Fails(LIMIT, "maxOperations"),
        ),
        case(
            "raise_own_limits_mid_run",
            "run(#{operation: \"update\", \"in\": \"Operation\", input: #{name: \"raise_own_limits_mid_run\",\n\
                   data: #{limits: #{maxOperations: 1000000000}}}});\n\
             loop {}",
            Some(json!({"maxOperations": 50_000})),
            Fails(LIMIT, "maxOperations"),
        ),
        case(
            "update_bypassing_validation",
            child_code(
                "operation: \"update\", \"in\": \"Canary\", input: #{where: #{}, data: #{n: \"bad\"}}, options: #{validate: false}",
            ),
            None,
            Contained("\"BAD_REQUEST\""),
        ),
        case(
            "create_invalid_nested",
            child_code("operation: \"create\", into: \"Canary\", input: #{data: #{n: \"bad\"}}"),
            None,
            Contained("\"VALIDATION_FAILED\""),
        ),
        case(
            "delete_a_protected_operation",
            child_code("operation: \"delete\", from: \"Operation\", input: #{name: \"select\"}"),
            None,
            Contained("\"IMMUTABLE\""),
        ),
        case(
            "hijack_a_builtin",
            child_code(
                "operation: \"update\", \"in\": \"Operation\", input: #{name: \"create\", data: #{handlerCode: \"1\"}}",
            ),
            None,
            Contained("\"IMMUTABLE\""),
        ),
        case(
            "delete_a_seeded_schema",
            child_code("operation: \"delete\", from: \"Schema\", input: #{name: \"Operation\"}"),
            None,
            Contained("\"IMMUTABLE\""),
        ),
        case(
            "save_an_eval_operation",
            child_code(
                "operation: \"create\", into: \"Operation\", input: #{data: #{name: \"evil\", handlerCode: \"eval(`1`)\"}}",
            ),
            None,
            Contained("\"SCRIPT_COMPILE_ERROR\""),
        ),
        case(
            "malformed_nested_request",
            child_code("operation: \"select\", from: \"Canary\", bogus: 1"),
            None,
            Contained("\"BAD_REQUEST\""),
        ),
        case(
            "nested_unknown_operation",
            child_code("operation: \"no_such_operation\""),
            None,
            Contained("\"UNKNOWN_OPERATION\""),
        ),
        case(
            "forge_identity_in_a_nested_run",
            "let r = run(#{operation: \"select\", from: \"Canary\", owner: \"root\", agent: \"evil\",\n\
                           flowType: \"x\", flowId: \"other\"});\n\
             [r.owner, r.agent, r.flowId, r.parentRunId == context.id, r.chainId == context.id]",
            None,
            Contained("[\"alice\", \"alice\", null, true, true]"),
        ),
        bug(
            case(
                "parent_timeout_covers_nested_runs",
                "run(#{operation: \"spin_forever\"})",
                Some(json!({"timeoutMs": 200})),
                Fails("TIMEOUT", "timeoutMs"),
            ),
            "a nested run gets a fresh deadline of its own operation's timeoutMs: the parent's \
             timeoutMs (\"nested runs included\") is not enforced while a child runs",
        ),
    ]
}

/// An engine with a canary doctype (schema + documents) and the helper operations the
/// cases call.
fn arena() -> Engine {
    let engine = engine();
    ok(
        &engine,
        json!({"operation": "create", "into": "Schema", "input": {"data": {"name": "Canary",
            "fields": [{"fieldname": "n", "fieldtype": "Int", "reqd": 1}]}}}),
    );
    ok(
        &engine,
        json!({"operation": "create", "into": "Canary", "input": {"data": [
            {"name": "c1", "n": 1}, {"name": "c2", "n": 2}, {"name": "c3", "n": 3}]}}),
    );
    let helpers = [
        ("healthy", "40 + 2", json!(null)),
        ("looper", "loop {}", json!({"maxOperations": 50_000})),
        (
            "slow_child",
            "let x = 0; loop { x += 1; }",
            json!({"timeoutMs": 100, "maxOperations": 1_000_000_000u64}),
        ),
        (
            "spin_forever",
            "let x = 0; loop { x += 1; }",
            json!({"timeoutMs": 10_000, "maxOperations": 1_000_000_000u64}),
        ),
        ("run_pong", "run(#{operation: \"run_ping\"})", json!(null)),
    ];
    for (name, code, limits) in helpers {
        ok(
            &engine,
            json!({"operation": "create", "into": "Operation",
                   "input": {"data": {"name": name, "handlerCode": code, "limits": limits}}}),
        );
    }
    engine
}

/// Everything a hostile run must leave as it was: every document of the doctypes the
/// cases touch.
fn snapshot(engine: &Engine) -> Vec<Vec<Value>> {
    ["Canary", "Note", "Schema", "Operation"]
        .iter()
        .map(|doctype| {
            ok(engine, json!({"operation": "select", "from": doctype}))
                .data()
                .to_vec()
        })
        .collect()
}

/// A value's JSON text, cut to a readable length.
fn short(value: &Value) -> String {
    let text = value.to_string();
    match text.char_indices().nth(300) {
        Some((cut, _)) => format!("{}... ({} bytes)", &text[..cut], text.len()),
        None => text,
    }
}

fn error(run: &Run) -> &RunError {
    run.error.as_ref().expect("a failed run has an error")
}

/// Save the case's operation, run it, and check the outcome, the time, the data and that
/// the engine still serves.
fn check(engine: &Engine, case: &Case) {
    let name = case.name;
    let mut doc = json!({"name": name, "handlerCode": case.code});
    if let Some(limits) = &case.limits {
        doc["limits"] = limits.clone();
    }
    let save = json!({"operation": "create", "into": "Operation", "input": {"data": doc}});
    if let Refused(code) = case.expect {
        let before = snapshot(engine);
        let saved = fails(engine, save, code);
        let e = error(&saved);
        assert!(e.details["line"].is_number(), "{name}: no line in {e:?}");
        assert!(
            e.details["column"].is_number(),
            "{name}: no column in {e:?}"
        );
        assert_eq!(snapshot(engine), before, "{name}: saving changed data");
        fails(engine, json!({"operation": name}), "UNKNOWN_OPERATION");
    } else {
        ok(engine, save);
        let before = snapshot(engine);
        let started = Instant::now();
        let run = engine.run_value(
            json!({"operation": name, "from": "Canary", "owner": "alice", "input": {"d": 0}}),
        );
        let took = started.elapsed();
        assert!(took < BOUND, "{name} took {took:?}");
        match case.expect {
            Fails(code, names) => {
                let e = run.error.as_ref().unwrap_or_else(|| {
                    panic!("{name}: expected {code}, got output {}", short(&run.output))
                });
                assert_eq!(e.code.as_str(), code, "{name}: {}", e.message);
                assert!(
                    e.message.contains(names),
                    "{name}: `{names}` is not in: {}",
                    e.message
                );
                // Every failure names the operation that failed (in details, or the message).
                assert!(
                    e.details["operation"] == json!(name)
                        || e.message.contains(&format!("`{name}`")),
                    "{name}: not named in {e:?}"
                );
            }
            Contained(output) => {
                assert!(run.success, "{name}: {:?}", run.error);
                let expected: Value = serde_json::from_str(output).expect("case output is JSON");
                assert!(
                    run.output == expected,
                    "{name}: expected {expected}, got {}",
                    short(&run.output)
                );
            }
            Refused(_) => unreachable!("handled above"),
        }
        assert_eq!(snapshot(engine), before, "{name}: the run changed data");
        let stored = engine
            .get_run(&run.id)
            .expect("the store answers")
            .unwrap_or_else(|| panic!("{name}: the run is recorded"));
        assert_eq!(stored.success, run.success, "{name}");
    }
    // The engine keeps serving: a plain select and a script.
    assert_eq!(count(engine, "Canary"), 3, "after {name}");
    let healthy = ok(engine, json!({"operation": "healthy"}));
    assert_eq!(healthy.output, json!(42), "after {name}");
}

fn walk(cases: Vec<Case>) {
    let engine = arena();
    let started = Instant::now();
    let mut walked = 0;
    for case in cases.iter().filter(|c| c.bug.is_none()) {
        check(&engine, case);
        walked += 1;
    }
    assert!(walked > 0);
    eprintln!("{walked} hostile cases in {:?}", started.elapsed());
}

#[test]
fn the_suite_has_at_least_30_distinct_cases() {
    let all: Vec<Case> = [
        runaway_cases(),
        refused_cases(),
        runtime_cases(),
        run_abuse_cases(),
    ]
    .into_iter()
    .flatten()
    .collect();
    let mut names: Vec<&str> = all.iter().map(|c| c.name).collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), all.len(), "case names are unique");
    assert!(all.iter().filter(|c| c.bug.is_none()).count() >= 30);
}

#[test]
fn runaway_scripts_end_within_their_limits() {
    walk(runaway_cases());
}

#[test]
fn forbidden_scripts_are_refused_at_save() {
    walk(refused_cases());
}

#[test]
fn unexposed_functions_and_runtime_faults_are_script_errors() {
    walk(runtime_cases());
}

#[test]
fn abuse_of_run_is_contained() {
    walk(run_abuse_cases());
}

/// Check the one case named `name`, which trips a known bug, on an arena of its own.
fn check_bug(name: &str) {
    let case = [
        runaway_cases(),
        refused_cases(),
        runtime_cases(),
        run_abuse_cases(),
    ]
    .into_iter()
    .flatten()
    .find(|c| c.name == name)
    .unwrap_or_else(|| panic!("no case {name}"));
    assert!(
        case.bug.is_some(),
        "{name} is not marked as a bug: it is walked with the others"
    );
    check(&arena(), &case);
}

#[test]
fn regression_sleep_is_not_exposed_to_scripts() {
    check_bug("sleep_past_the_deadline");
}

#[test]
fn regression_map_growth_by_indexing_is_held_to_max_map_size() {
    check_bug("map_growth_by_indexing");
}

#[test]
fn regression_a_parents_timeout_covers_its_nested_runs() {
    check_bug("parent_timeout_covers_nested_runs");
}

#[test]
fn regression_a_runtime_parse_error_is_a_script_error() {
    check_bug("function_pointer_to_eval");
}

// --- forged meta fields ------------------------------------------------------------------

/// A script that creates a document with forged meta fields: the engine's values win.
#[test]
fn forged_meta_fields_on_create_lose_to_the_engine() {
    let engine = arena();
    ok(
        &engine,
        json!({"operation": "create", "into": "Operation", "input": {"data": {"name": "forger",
            "handlerCode": "run(#{operation: \"create\", into: \"Note\", owner: \"root\", input: #{data: #{
                name: \"forged\", title: \"t\", owner: \"root\", modifiedBy: \"root\",
                creation: \"1970-01-01T00:00:00Z\", modified: \"1970-01-01T00:00:00Z\",
                createdByRun: \"FAKE\", modifiedByRun: \"FAKE\", createdByTemplate: \"FAKE\"}}})"}}}),
    );
    let top = ok(&engine, json!({"operation": "forger", "owner": "alice"}));
    let child_id = top.output["id"]
        .as_str()
        .expect("the child run")
        .to_string();
    assert_eq!(top.child_run_ids, std::slice::from_ref(&child_id));
    let doc = ok(
        &engine,
        json!({"operation": "select", "from": "Note", "input": {"where": {"name": "forged"}}}),
    )
    .data()[0]
        .clone();
    assert_eq!(doc["title"], json!("t"));
    assert_eq!(doc["owner"], json!("alice"));
    assert_eq!(doc["modifiedBy"], json!("alice"));
    assert_eq!(doc["createdByRun"], json!(child_id));
    assert_eq!(doc["modifiedByRun"], json!(child_id));
    assert_ne!(doc["creation"], json!("1970-01-01T00:00:00Z"));
    assert_ne!(doc["modified"], json!("1970-01-01T00:00:00Z"));
    assert!(
        doc.get("createdByTemplate").is_none_or(Value::is_null),
        "{doc}"
    );
}

/// A script that updates a document trying to rewrite who made it: only `modified*` move,
/// and they move to the engine's values.
#[test]
fn an_update_cannot_rewrite_meta_fields() {
    let engine = arena();
    let created = ok(
        &engine,
        json!({"operation": "create", "into": "Note", "owner": "alice",
               "input": {"data": {"name": "n1", "title": "first"}}}),
    );
    let original = created.data()[0].clone();
    ok(
        &engine,
        json!({"operation": "create", "into": "Operation", "input": {"data": {"name": "reforger",
            "handlerCode": "run(#{operation: \"update\", \"in\": \"Note\", input: #{name: \"n1\", data: #{
                title: \"second\", owner: \"mallory\", creation: \"1970-01-01T00:00:00Z\",
                createdByRun: \"FAKE\", modifiedByRun: \"FAKE\", modifiedBy: \"mallory\"}}})"}}}),
    );
    let top = ok(&engine, json!({"operation": "reforger", "owner": "bob"}));
    let child_id = top.output["id"]
        .as_str()
        .expect("the child run")
        .to_string();
    let doc = ok(
        &engine,
        json!({"operation": "select", "from": "Note", "input": {"where": {"name": "n1"}}}),
    )
    .data()[0]
        .clone();
    assert_eq!(doc["title"], json!("second"));
    assert_eq!(doc["owner"], original["owner"]);
    assert_eq!(doc["creation"], original["creation"]);
    assert_eq!(doc["createdByRun"], original["createdByRun"]);
    assert_eq!(doc["createdByRun"], json!(created.id));
    assert_eq!(doc["modifiedByRun"], json!(child_id));
    assert_eq!(doc["modifiedBy"], json!("bob"));
}

/// Outputs as large as the limits allow come back whole and are recorded.
#[test]
fn huge_outputs_within_the_limits_are_returned_and_recorded() {
    let engine = arena();
    let cases = [
        (
            "a_one_mib_string",
            "let s = \"\"; s.pad(1048576, \"y\"); s",
            Value::String("y".repeat(1_048_576)),
        ),
        (
            "a_long_array",
            "let a = []; a.pad(19999, \"xxxx\"); a",
            Value::Array(vec![json!("xxxx"); 19_999]),
        ),
    ];
    for (name, code, expected) in cases {
        ok(
            &engine,
            json!({"operation": "create", "into": "Operation",
                   "input": {"data": {"name": name, "handlerCode": code}}}),
        );
        let started = Instant::now();
        let run = ok(&engine, json!({"operation": name}));
        assert!(started.elapsed() < BOUND, "{name}");
        // Whole, not truncated: exactly what the script built.
        assert!(run.output == expected, "{name}: the output is not whole");
        // Recorded, but not a second copy: a run that writes nothing keeps a trimmed output
        // once its record passes READ_ONLY_RECORD_BYTES (64 KiB), saying how large it was.
        let stored = engine.get_run(&run.id).unwrap().expect("recorded");
        assert_eq!(stored.output["trimmed"], json!(true), "{name}");
        let whole = serde_json::to_vec(&run.output).unwrap().len() as u64;
        assert!(
            stored.output["recordBytes"].as_u64().unwrap() > whole,
            "{name}"
        );
    }
}
