//! Story: operations are documents. The built-ins have seeded, protected `Operation`
//! documents whose settings drive the pipeline; a custom operation is an `Operation` with a
//! Rhai `handlerCode`, compiled when it is saved and callable as soon as its create commits.
//! Its script sees `context` (the run), `run` and `get_schema`, within limits the operation
//! may override; its nested runs inherit identity and share the top-level run's transaction.

use crate::harness::*;
use coworker::{Engine, Limits, Run, RunError, RunStatus};
use serde_json::{Value, json};

/// The error of a failed run.
fn error(run: &Run) -> &RunError {
    run.error
        .as_ref()
        .unwrap_or_else(|| panic!("expected a failed run, got output {}", run.output))
}

/// Save a custom operation document (must succeed).
fn save_op(engine: &Engine, doc: Value) -> Run {
    ok(
        engine,
        json!({"operation": "create", "into": "Operation", "input": {"data": doc}}),
    )
}

/// Save a custom operation with just a name and handler code.
fn op(engine: &Engine, name: &str, code: &str) -> Run {
    save_op(engine, json!({"name": name, "handlerCode": code}))
}

/// The Operation documents named `name` (zero or one).
fn op_docs(engine: &Engine, name: &str) -> Vec<Value> {
    ok(
        engine,
        json!({"operation": "select", "from": "Operation", "input": {"where": {"name": name}}}),
    )
    .data()
    .to_vec()
}

fn customers(engine: &Engine) {
    ok(
        engine,
        json!({"operation": "create", "into": "Customer", "input": {"data": [
            {"name": "C-1", "city": "Oslo"},
            {"name": "C-2", "city": "Lyon"},
            {"name": "C-3", "city": "Porto"}]}}),
    );
}

/// A schema-backed doctype `Item` (qty: Int, required).
fn item_schema(engine: &Engine) {
    ok(
        engine,
        json!({"operation": "create", "into": "Schema", "input": {"data": {
            "name": "Item",
            "fields": [{"fieldname": "qty", "fieldtype": "Int", "reqd": 1}]}}}),
    );
}

const CSV_OF_CONTEXT_DOCTYPE: &str = r#"
let rows = run(#{operation: "select", from: context.doctype, input: #{orderBy: #{name: "asc"}}}).output.data;
let csv = "name,city";
for row in rows { csv += "\n" + row.name + "," + row.city; }
csv
"#;

// --- 1. the Operation doctype and the protected built-ins ---------------------------------

#[test]
fn the_operation_doctype_has_a_schema_listing_its_settings() {
    let engine = engine();
    let found = ok(
        &engine,
        json!({"operation": "select", "from": "Schema", "input": {"where": {"name": "Operation"}}}),
    );
    assert_eq!(names(&found), ["Operation"]);
    let schema = engine.schema("Operation").unwrap().expect("seeded");
    let fields: Vec<&str> = schema["fields"]
        .as_array()
        .expect("fields")
        .iter()
        .filter_map(|f| f["fieldname"].as_str())
        .collect();
    for wanted in [
        "description",
        "requiresTarget",
        "requiresInput",
        "validateSchema",
        "includeSchema",
        "roles",
        "limits",
        "handlerCode",
    ] {
        assert!(fields.contains(&wanted), "{wanted} missing from {fields:?}");
    }
}

#[test]
fn builtins_have_seeded_protected_operation_documents() {
    let engine = engine();
    let protected = ok(
        &engine,
        json!({"operation": "select", "from": "Operation",
               "input": {"where": {"protected": 1}, "orderBy": {"name": "asc"}}}),
    );
    let protected_names = names(&protected);
    for builtin in ["create", "delete", "select", "update"] {
        assert!(
            protected_names.iter().any(|n| n == builtin),
            "{builtin} is not among the protected operations {protected_names:?}"
        );
    }
    // Only built-ins are protected: a fresh store has no other Operation documents.
    let all = ok(&engine, json!({"operation": "select", "from": "Operation"}));
    assert_eq!(all.data().len(), protected_names.len());
    let target = |name: &str| op_docs(&engine, name)[0]["requiresTarget"].clone();
    assert_eq!(target("select"), json!("from"));
    assert_eq!(target("create"), json!("into"));
    assert_eq!(target("update"), json!("in"));
    assert_eq!(target("delete"), json!("from"));
    for doc in protected.data() {
        assert!(
            doc.get("handlerCode").is_none_or(Value::is_null),
            "built-ins are native: {doc}"
        );
    }
}

#[test]
fn protected_operations_cannot_be_deleted() {
    let engine = engine();
    op(&engine, "custom", "1");
    for name in ["select", "create", "update", "delete"] {
        let run = fails(
            &engine,
            json!({"operation": "delete", "from": "Operation", "input": {"name": name}}),
            "IMMUTABLE",
        );
        assert!(
            error(&run).message.contains(name),
            "{}",
            error(&run).message
        );
        assert_eq!(op_docs(&engine, name).len(), 1);
    }
    // Deleting every operation at once fails whole: the custom one survives too.
    fails(
        &engine,
        json!({"operation": "delete", "from": "Operation", "input": {"where": {}}}),
        "IMMUTABLE",
    );
    assert_eq!(op_docs(&engine, "custom").len(), 1);
    ok(&engine, json!({"operation": "custom"}));
    ok(&engine, json!({"operation": "select", "from": "Operation"}));
}

#[test]
fn protected_operations_cannot_get_handler_code() {
    let engine = engine();
    for name in ["select", "create", "update", "delete"] {
        fails(
            &engine,
            json!({"operation": "update", "in": "Operation",
                   "input": {"name": name, "data": {"handlerCode": "throw \"hijacked\""}}}),
            "IMMUTABLE",
        );
        assert!(
            op_docs(&engine, name)[0]
                .get("handlerCode")
                .is_none_or(Value::is_null)
        );
    }
    // An alias is a built-in name too, and a custom operation cannot claim protection.
    fails(
        &engine,
        json!({"operation": "create", "into": "Operation",
               "input": {"data": {"name": "read", "handlerCode": "1"}}}),
        "IMMUTABLE",
    );
    fails(
        &engine,
        json!({"operation": "create", "into": "Operation",
               "input": {"data": {"name": "sneaky", "handlerCode": "1", "protected": 1}}}),
        "IMMUTABLE",
    );
    assert!(op_docs(&engine, "sneaky").is_empty());
    // Selects still run natively.
    customers(&engine);
    assert_eq!(count(&engine, "Customer"), 3);
}

#[test]
fn protected_flag_cannot_be_changed() {
    let engine = engine();
    fails(
        &engine,
        json!({"operation": "update", "in": "Operation",
               "input": {"name": "select", "data": {"protected": 0}}}),
        "VALIDATION_FAILED",
    );
    fails(
        &engine,
        json!({"operation": "delete", "from": "Operation", "input": {"name": "select"}}),
        "IMMUTABLE",
    );
}

/// Regression: `read_only` was checked only for non-null values, so `protected: null`
/// unprotected a built-in, which could then be deleted (and `create` with it: the store
/// can no longer create anything until it is reopened and re-seeded).
#[test]
fn protected_flag_cannot_be_cleared_with_null() {
    let engine = engine();
    let cleared = run(
        &engine,
        json!({"operation": "update", "in": "Operation",
               "input": {"name": "create", "data": {"protected": null}}}),
    );
    let deleted = run(
        &engine,
        json!({"operation": "delete", "from": "Operation", "input": {"name": "create"}}),
    );
    assert!(
        !cleared.success || !deleted.success,
        "a built-in was unprotected and deleted"
    );
    assert_eq!(op_docs(&engine, "create").len(), 1);
    ok(
        &engine,
        json!({"operation": "create", "into": "Note", "input": {"data": {"t": 1}}}),
    );
}

#[test]
fn select_include_schema_setting_drives_selects() {
    let engine = engine();
    item_schema(&engine);
    ok(
        &engine,
        json!({"operation": "create", "into": "Item", "input": {"data": {"qty": 1}}}),
    );
    let plain = ok(&engine, json!({"operation": "select", "from": "Item"}));
    assert!(plain.output.get("schema").is_none(), "{}", plain.output);

    ok(
        &engine,
        json!({"operation": "update", "in": "Operation",
               "input": {"name": "select", "data": {"includeSchema": 1}}}),
    );
    for alias in ["select", "read"] {
        let with = ok(&engine, json!({"operation": alias, "from": "Item"}));
        assert_eq!(with.output["schema"]["name"], json!("Item"), "{alias}");
        assert_eq!(with.data().len(), 1);
    }
    // The request still overrides the operation's default.
    let without = ok(
        &engine,
        json!({"operation": "select", "from": "Item", "options": {"includeSchema": false}}),
    );
    assert!(without.output.get("schema").is_none(), "{}", without.output);
}

#[test]
fn create_validate_schema_setting_drives_validation() {
    let engine = engine();
    item_schema(&engine);
    let bad = json!({"operation": "create", "into": "Item", "input": {"data": {"qty": "many"}}});
    fails(&engine, bad.clone(), "VALIDATION_FAILED");
    assert_eq!(count(&engine, "Item"), 0);

    ok(
        &engine,
        json!({"operation": "update", "in": "Operation",
               "input": {"name": "create", "data": {"validateSchema": 0}}}),
    );
    let created = ok(&engine, bad.clone());
    assert_eq!(created.data()[0]["qty"], json!("many"));

    ok(
        &engine,
        json!({"operation": "update", "in": "Operation",
               "input": {"name": "create", "data": {"validateSchema": 1}}}),
    );
    fails(&engine, bad, "VALIDATION_FAILED");
    assert_eq!(count(&engine, "Item"), 1);
}

#[test]
fn create_allow_skip_validation_setting_drives_options_validate() {
    let engine = engine();
    item_schema(&engine);
    let trusted = json!({"operation": "create", "into": "Item",
                         "input": {"data": {"qty": "x"}}, "options": {"validate": false}});
    ok(&engine, trusted.clone());
    ok(
        &engine,
        json!({"operation": "update", "in": "Operation",
               "input": {"name": "create", "data": {"allowSkipValidation": 0}}}),
    );
    fails(&engine, trusted, "BAD_REQUEST");
    // From a script too: a nested run goes through the same pipeline.
    op(
        &engine,
        "skipper",
        r#"run(#{operation: "create", into: "Item", input: #{data: #{qty: "y"}}, options: #{validate: false}}).error.code"#,
    );
    let run = ok(&engine, json!({"operation": "skipper"}));
    assert_eq!(run.output, json!("BAD_REQUEST"));
    assert_eq!(count(&engine, "Item"), 1);
}

#[test]
fn operation_settings_survive_reopen() {
    let store = TempStore::new();
    {
        let engine = store.open();
        item_schema(&engine);
        ok(
            &engine,
            json!({"operation": "update", "in": "Operation",
                   "input": {"name": "select", "data": {"includeSchema": 1}}}),
        );
    }
    let engine = store.open();
    let with = ok(&engine, json!({"operation": "select", "from": "Item"}));
    assert_eq!(with.output["schema"]["name"], json!("Item"));
}

// --- 2. custom operations: compile at save, cache, invalidate ------------------------------

#[test]
fn a_custom_operation_is_callable_right_after_its_create() {
    let engine = engine();
    customers(&engine);
    save_op(
        &engine,
        json!({"name": "export_csv", "description": "Customers as CSV",
               "requiresTarget": "from", "handlerCode": CSV_OF_CONTEXT_DOCTYPE}),
    );
    let run = ok(
        &engine,
        json!({"operation": "export_csv", "from": "Customer"}),
    );
    assert_eq!(
        run.output,
        json!("name,city\nC-1,Oslo\nC-2,Lyon\nC-3,Porto")
    );
    assert_eq!(run.operation.as_deref(), Some("export_csv"));
    assert_eq!(run.doctype.as_deref(), Some("Customer"));
    assert_eq!(run.child_run_ids.len(), 1);
    // The run is recorded like any other.
    assert_eq!(stored(&engine, &run.id).output, run.output);
    // Through JSON text as well.
    let again = engine.run_json(r#"{"operation": "export_csv", "from": "Customer"}"#);
    assert_eq!(again.output, run.output);
}

#[test]
fn a_script_that_does_not_compile_is_refused_at_save() {
    let engine = engine();
    let code = "let a = 1;\nlet b = 2;\nlet c = a +* b;\nc";
    let run = fails(
        &engine,
        json!({"operation": "create", "into": "Operation",
               "input": {"data": {"name": "broken", "handlerCode": code}}}),
        "SCRIPT_COMPILE_ERROR",
    );
    let e = error(&run);
    assert_eq!(e.details["line"], json!(3), "{e:?}");
    assert_eq!(e.details["column"], json!(12), "{e:?}");
    assert_eq!(e.details["operation"], json!("broken"));
    assert!(e.message.contains("line 3"), "{}", e.message);
    assert!(op_docs(&engine, "broken").is_empty());
    fails(&engine, json!({"operation": "broken"}), "UNKNOWN_OPERATION");

    // In a batch, the good operation is not saved either.
    fails(
        &engine,
        json!({"operation": "create", "into": "Operation", "input": {"data": [
            {"name": "good", "handlerCode": "1"},
            {"name": "bad", "handlerCode": "fn ("}]}}),
        "SCRIPT_COMPILE_ERROR",
    );
    assert!(op_docs(&engine, "good").is_empty());
    fails(&engine, json!({"operation": "good"}), "UNKNOWN_OPERATION");

    // An operation without code is refused too.
    fails(
        &engine,
        json!({"operation": "create", "into": "Operation", "input": {"data": {"name": "empty"}}}),
        "VALIDATION_FAILED",
    );
    assert!(op_docs(&engine, "empty").is_empty());
}

#[test]
fn updating_an_operation_recompiles_it() {
    let engine = engine();
    op(&engine, "answer", "41");
    assert_eq!(
        ok(&engine, json!({"operation": "answer"})).output,
        json!(41)
    );
    ok(
        &engine,
        json!({"operation": "update", "in": "Operation",
               "input": {"name": "answer", "data": {"handlerCode": "40 + 2"}}}),
    );
    assert_eq!(
        ok(&engine, json!({"operation": "answer"})).output,
        json!(42)
    );

    // A broken update is refused and the last good handler keeps serving.
    let run = fails(
        &engine,
        json!({"operation": "update", "in": "Operation",
               "input": {"name": "answer", "data": {"handlerCode": "40 +"}}}),
        "SCRIPT_COMPILE_ERROR",
    );
    assert!(error(&run).details["line"].is_number());
    assert_eq!(
        ok(&engine, json!({"operation": "answer"})).output,
        json!(42)
    );
    assert_eq!(
        op_docs(&engine, "answer")[0]["handlerCode"],
        json!("40 + 2")
    );

    // Going back to code compiled before (cached by hash) gives the old behaviour again.
    ok(
        &engine,
        json!({"operation": "update", "in": "Operation",
               "input": {"name": "answer", "data": {"handlerCode": "41"}}}),
    );
    assert_eq!(
        ok(&engine, json!({"operation": "answer"})).output,
        json!(41)
    );
}

#[test]
fn deleting_an_operation_drops_it() {
    let engine = engine();
    op(&engine, "ephemeral", "1");
    ok(&engine, json!({"operation": "ephemeral"}));
    ok(
        &engine,
        json!({"operation": "delete", "from": "Operation", "input": {"name": "ephemeral"}}),
    );
    let run = fails(
        &engine,
        json!({"operation": "ephemeral"}),
        "UNKNOWN_OPERATION",
    );
    assert!(error(&run).message.contains("ephemeral"));
    // The name is free again, for a different handler.
    op(&engine, "ephemeral", "2");
    assert_eq!(
        ok(&engine, json!({"operation": "ephemeral"})).output,
        json!(2)
    );
}

#[test]
fn custom_operations_survive_reopen() {
    let store = TempStore::new();
    {
        let engine = store.open();
        customers(&engine);
        save_op(
            &engine,
            json!({"name": "export_csv", "requiresTarget": "from",
                   "handlerCode": CSV_OF_CONTEXT_DOCTYPE, "limits": {"maxOperations": 50000}}),
        );
        op(&engine, "gone", "1");
        ok(
            &engine,
            json!({"operation": "delete", "from": "Operation", "input": {"name": "gone"}}),
        );
    }
    let engine = store.open();
    let run = ok(
        &engine,
        json!({"operation": "export_csv", "from": "Customer"}),
    );
    assert_eq!(
        run.output,
        json!("name,city\nC-1,Oslo\nC-2,Lyon\nC-3,Porto")
    );
    fails(&engine, json!({"operation": "gone"}), "UNKNOWN_OPERATION");
}

#[test]
fn unknown_operations_fail_with_unknown_operation() {
    let engine = engine();
    for name in ["nope", "Select", "export_csv", ""] {
        let run = fails(&engine, json!({"operation": name}), "UNKNOWN_OPERATION");
        assert!(error(&run).message.contains(name));
        assert_eq!(stored(&engine, &run.id).status, RunStatus::Failed);
    }
}

#[test]
fn custom_operation_settings_check_target_and_input() {
    let engine = engine();
    save_op(
        &engine,
        json!({"name": "needs_both", "requiresTarget": "from", "requiresInput": 1,
               "handlerCode": "context.input.n * 2"}),
    );
    fails(
        &engine,
        json!({"operation": "needs_both", "input": {"n": 1}}),
        "MISSING_TARGET",
    );
    fails(
        &engine,
        json!({"operation": "needs_both", "from": "X"}),
        "BAD_REQUEST",
    );
    let run = ok(
        &engine,
        json!({"operation": "needs_both", "from": "X", "input": {"n": 21}}),
    );
    assert_eq!(run.output, json!(42));

    // validateSchema checks input.data against the target's schema before the script runs.
    item_schema(&engine);
    save_op(
        &engine,
        json!({"name": "checked", "requiresTarget": "into", "validateSchema": 1,
               "handlerCode": "run(#{operation: \"create\", into: \"Note\", input: #{data: #{x: 1}}}); 1"}),
    );
    fails(
        &engine,
        json!({"operation": "checked", "into": "Item", "input": {"data": {"qty": "x"}}}),
        "VALIDATION_FAILED",
    );
    assert_eq!(count(&engine, "Note"), 0);
    ok(
        &engine,
        json!({"operation": "checked", "into": "Item", "input": {"data": {"qty": 1}}}),
    );
    assert_eq!(count(&engine, "Note"), 1);
}

// --- 3. the sandbox ------------------------------------------------------------------------

#[test]
fn context_is_the_run_as_a_map() {
    let engine = engine();
    op(
        &engine,
        "introspect",
        "#{id: context.id, operation: context.operation, doctype: context.doctype,
           from: context.from, input: context.input, owner: context.owner,
           agent: context.agent, flowType: context.flowType, flowId: context.flowId,
           stepId: context.stepId, status: context.status, chainId: context.chainId,
           parentRunId: context.parentRunId, childRunIds: context.childRunIds}",
    );
    let run = ok(
        &engine,
        json!({"operation": "introspect", "from": "Customer", "input": {"n": [1, 2]},
               "owner": "alice", "agent": "planner-1", "flowType": "ai-conversation",
               "flowId": "flow-1", "stepId": "turn-1"}),
    );
    let out = &run.output;
    assert_eq!(out["id"], json!(run.id));
    assert_eq!(out["chainId"], json!(run.id));
    assert_eq!(out["operation"], json!("introspect"));
    assert_eq!(out["doctype"], json!("Customer"));
    assert_eq!(out["from"], json!("Customer"));
    assert_eq!(out["input"], json!({"n": [1, 2]}));
    assert_eq!(out["owner"], json!("alice"));
    assert_eq!(out["agent"], json!("planner-1"));
    assert_eq!(out["flowType"], json!("ai-conversation"));
    assert_eq!(out["flowId"], json!("flow-1"));
    assert_eq!(out["stepId"], json!("turn-1"));
    assert_eq!(out["status"], json!("running"));
    assert_eq!(out["parentRunId"], Value::Null);
    assert_eq!(out["childRunIds"], json!([]));
}

#[test]
fn get_schema_returns_the_schema_map_or_unit() {
    let engine = engine();
    item_schema(&engine);
    op(
        &engine,
        "schemas",
        r#"let item = get_schema("Item");
           #{item: item.name, field: item.fields[0].fieldname,
             missing: get_schema("Nothing") == (), type: type_of(get_schema("Nothing"))}"#,
    );
    let run = ok(&engine, json!({"operation": "schemas"}));
    assert_eq!(
        run.output,
        json!({"item": "Item", "field": "qty", "missing": true, "type": "()"})
    );
}

#[test]
fn printed_lines_travel_with_a_script_error() {
    let engine = engine();
    op(
        &engine,
        "chatty",
        "print(\"step 1\");\nprint(`n = ${40 + 2}`);\nthrow \"gave up\";",
    );
    let run = fails(&engine, json!({"operation": "chatty"}), "SCRIPT_ERROR");
    assert_eq!(error(&run).details["printed"], json!(["step 1", "n = 42"]));
    // print alone does not fail a run.
    op(&engine, "quiet", "print(\"hello\"); debug(#{a: 1}); 7");
    assert_eq!(ok(&engine, json!({"operation": "quiet"})).output, json!(7));
}

#[test]
fn throw_is_a_script_error_with_message_and_position() {
    let engine = engine();
    op(
        &engine,
        "thrower",
        "let x = 1;\nif x == 1 {\n    throw \"no way\";\n}\n2",
    );
    let run = fails(&engine, json!({"operation": "thrower"}), "SCRIPT_ERROR");
    let e = error(&run);
    assert!(e.message.contains("no way"), "{}", e.message);
    assert!(e.message.contains("thrower"), "{}", e.message);
    assert_eq!(e.details["line"], json!(3));
    assert_eq!(e.details["column"], json!(5));
    assert_eq!(e.details["thrown"], json!("no way"));
    assert_eq!(stored(&engine, &run.id).error.as_ref(), Some(e));
}

#[test]
fn a_runtime_error_names_operation_line_and_column() {
    let engine = engine();
    op(&engine, "typo", "let x = 1;\nlet y = x + no_such_fn(x);\ny");
    let run = fails(&engine, json!({"operation": "typo"}), "SCRIPT_ERROR");
    let e = error(&run);
    assert_eq!(e.details["operation"], json!("typo"));
    assert_eq!(e.details["line"], json!(2));
    assert_eq!(e.details["column"], json!(13));
    assert!(e.message.contains("no_such_fn"), "{}", e.message);
    assert!(e.message.contains("line 2"), "{}", e.message);
}

#[test]
fn a_failure_map_fails_the_run() {
    let engine = engine();
    op(
        &engine,
        "soft_fail",
        "#{success: false, error: \"out of stock\"}",
    );
    let run = fails(&engine, json!({"operation": "soft_fail"}), "SCRIPT_ERROR");
    assert!(error(&run).message.contains("out of stock"));
    op(&engine, "wrapped", "#{success: true, output: 5}");
    assert_eq!(
        ok(&engine, json!({"operation": "wrapped"})).output,
        json!(5)
    );
}

#[test]
fn a_script_may_return_any_value() {
    let engine = engine();
    let cases = [
        ("a_string", r#""text""#, json!("text")),
        ("an_int", "-7", json!(-7)),
        ("a_float", "1.5", json!(1.5)),
        ("a_bool", "true", json!(true)),
        ("unit", "()", Value::Null),
        ("an_array", "[1, \"two\", [3]]", json!([1, "two", [3]])),
        (
            "a_map",
            "#{a: #{b: [1]}, success: 1}",
            json!({"a": {"b": [1]}, "success": 1}),
        ),
        ("a_char", "'x'", json!("x")),
        ("nothing", "let x = 1;", Value::Null),
    ];
    for (name, code, expected) in cases {
        op(&engine, name, code);
        let run = ok(&engine, json!({"operation": name}));
        assert_eq!(run.output, expected, "{name}");
    }
}

#[test]
fn limits_can_be_overridden_per_operation() {
    let engine = engine();
    let ten_k = "let n = 0; for i in 0..10000 { n += i; } n";
    op(&engine, "default_limits", ten_k);
    assert_eq!(
        ok(&engine, json!({"operation": "default_limits"})).output,
        json!(49_995_000)
    );
    save_op(
        &engine,
        json!({"name": "tight", "handlerCode": ten_k, "limits": {"maxOperations": 1000}}),
    );
    let run = fails(&engine, json!({"operation": "tight"}), "LIMIT_EXCEEDED");
    assert!(
        error(&run).message.contains("maxOperations"),
        "{:?}",
        run.error
    );
    assert_eq!(error(&run).details["limit"], json!("maxOperations"));

    save_op(
        &engine,
        json!({"name": "hasty", "handlerCode": "let n = 0; loop { n += 1; }",
               "limits": {"timeoutMs": 50, "maxOperations": 1_000_000_000u64}}),
    );
    let started = std::time::Instant::now();
    let run = fails(&engine, json!({"operation": "hasty"}), "TIMEOUT");
    let took = started.elapsed();
    assert!(error(&run).message.contains("timeoutMs"), "{:?}", run.error);
    assert!(took.as_millis() >= 50, "{took:?}");
    assert!(took.as_secs() < 3, "{took:?}");
}

#[test]
fn bad_limits_are_refused_at_save() {
    let engine = engine();
    let max = Limits::MAX;
    let bad = [
        json!("fast"),
        json!(true),
        json!({"maxOperations": 0}),
        json!({"maxOperations": -5}),
        json!({"timeoutMs": max.timeout_ms + 1}),
        json!({"maxCallDepth": max.max_call_depth + 1}),
        json!({"maxRunDepth": max.max_run_depth + 1}),
        json!({"maxOperatons": 10}),
        json!({"timeoutMs": "100"}),
    ];
    for (i, limits) in bad.into_iter().enumerate() {
        let name = format!("bad_limits_{i}");
        let run = fails(
            &engine,
            json!({"operation": "create", "into": "Operation",
                   "input": {"data": {"name": name, "handlerCode": "1", "limits": limits}}}),
            "BAD_REQUEST",
        );
        assert!(
            error(&run).message.contains("limits"),
            "{}",
            error(&run).message
        );
        assert!(op_docs(&engine, &name).is_empty(), "{name} was saved");
    }
    // And on update, keeping the last good limits.
    save_op(
        &engine,
        json!({"name": "limited", "handlerCode": "1", "limits": {"maxOperations": 10}}),
    );
    fails(
        &engine,
        json!({"operation": "update", "in": "Operation",
               "input": {"name": "limited", "data": {"limits": {"maxOperations": 0}}}}),
        "BAD_REQUEST",
    );
    assert_eq!(
        op_docs(&engine, "limited")[0]["limits"],
        json!({"maxOperations": 10})
    );
    ok(&engine, json!({"operation": "limited"}));
}

/// Regression: serde reads a struct from an array (fields by position), so `limits: [1]`
/// was saved and meant `maxOperations: 1`.
#[test]
fn limits_must_be_an_object() {
    let engine = engine();
    fails(
        &engine,
        json!({"operation": "create", "into": "Operation",
               "input": {"data": {"name": "positional", "handlerCode": "1", "limits": [1]}}}),
        "BAD_REQUEST",
    );
    assert!(op_docs(&engine, "positional").is_empty());
}

// --- 4. nested runs ------------------------------------------------------------------------

const MAKE_NOTES: &str = r#"
let a = run(#{operation: "create", into: "Note", input: #{data: #{title: "a"}}});
let b = run(#{operation: "create", into: "Note", input: #{data: #{title: "b"}}});
[a.id, b.id, a.parentRunId, a.owner]
"#;

#[test]
fn nested_runs_inherit_identity_and_chain() {
    let engine = engine();
    op(&engine, "make_notes", MAKE_NOTES);
    op(
        &engine,
        "outer",
        r#"let child = run(#{operation: "make_notes", owner: "mallory", agent: "rogue", flowId: "other"});
           child.id"#,
    );
    let top = ok(
        &engine,
        json!({"operation": "outer", "owner": "alice", "agent": "planner-1",
               "flowType": "ai-conversation", "flowId": "flow-1", "stepId": "turn-1"}),
    );
    let middle_id = top.output.as_str().expect("the child's id").to_string();
    assert_eq!(top.child_run_ids, std::slice::from_ref(&middle_id));
    let middle = stored(&engine, &middle_id);
    assert_eq!(middle.status, RunStatus::Completed);
    assert_eq!(middle.parent_run_id.as_deref(), Some(top.id.as_str()));
    assert_eq!(middle.child_run_ids.len(), 2);
    // The middle run's own output names its children and what they saw.
    assert_eq!(
        middle.output,
        json!([
            middle.child_run_ids[0],
            middle.child_run_ids[1],
            middle_id,
            "alice"
        ])
    );
    for run in std::iter::once(&middle).chain(
        middle
            .child_run_ids
            .iter()
            .map(|id| stored(&engine, id))
            .collect::<Vec<_>>()
            .iter(),
    ) {
        assert_eq!(run.chain_id, top.id, "{}", run.id);
        assert_eq!(run.owner.as_deref(), Some("alice"), "{}", run.id);
        assert_eq!(run.agent.as_deref(), Some("planner-1"), "{}", run.id);
        assert_eq!(run.flow_type.as_deref(), Some("ai-conversation"));
        assert_eq!(run.flow_id.as_deref(), Some("flow-1"));
    }
    for id in &middle.child_run_ids {
        let child = stored(&engine, id);
        assert_eq!(child.parent_run_id.as_deref(), Some(middle_id.as_str()));
        assert_eq!(child.operation.as_deref(), Some("create"));
        assert_eq!(child.status, RunStatus::Completed);
        // The documents carry the nested run that made them and the inherited owner.
        let doc = &child.data()[0];
        assert_eq!(doc["createdByRun"], json!(child.id));
        assert_eq!(doc["owner"], json!("alice"));
    }
    assert_eq!(count(&engine, "Note"), 2);
}

#[test]
fn a_failed_top_level_run_leaves_no_writes_but_every_record() {
    let engine = engine();
    customers(&engine);
    op(
        &engine,
        "create_then_throw",
        r#"run(#{operation: "create", into: "Note", input: #{data: [#{t: 1}, #{t: 2}]}});
           run(#{operation: "update", "in": "Customer", input: #{name: "C-1", data: #{city: "Nowhere"}}});
           run(#{operation: "delete", from: "Customer", input: #{name: "C-2"}});
           throw "changed my mind";"#,
    );
    let before = ok(&engine, json!({"operation": "select", "from": "Customer"}))
        .data()
        .to_vec();
    let top = fails(
        &engine,
        json!({"operation": "create_then_throw", "owner": "alice"}),
        "SCRIPT_ERROR",
    );
    assert_eq!(count(&engine, "Note"), 0);
    let after = ok(&engine, json!({"operation": "select", "from": "Customer"}))
        .data()
        .to_vec();
    assert_eq!(before, after);

    let parent = stored(&engine, &top.id);
    assert_eq!(parent.status, RunStatus::Failed);
    assert_eq!(
        parent.error.as_ref().map(|e| e.code.as_str()),
        Some("SCRIPT_ERROR")
    );
    assert_eq!(parent.child_run_ids.len(), 3);
    assert_eq!(parent.child_run_ids, top.child_run_ids);
    for id in &parent.child_run_ids {
        let child = stored(&engine, id);
        assert_eq!(child.status, RunStatus::Completed, "{id}");
        assert_eq!(child.parent_run_id.as_deref(), Some(top.id.as_str()));
        assert_eq!(child.chain_id, top.id);
    }
}

#[test]
fn a_failed_nested_run_inside_a_successful_one_keeps_its_siblings_writes() {
    let engine = engine();
    item_schema(&engine);
    op(
        &engine,
        "partly",
        r#"let good = run(#{operation: "create", into: "Item", input: #{data: #{name: "I-1", qty: 1}}});
           let bad = run(#{operation: "create", into: "Item", input: #{data: [#{name: "I-2", qty: 2}, #{name: "I-3", qty: "x"}]}});
           [good.success, bad.success, bad.error.code]"#,
    );
    let top = ok(&engine, json!({"operation": "partly"}));
    assert_eq!(top.output, json!([true, false, "VALIDATION_FAILED"]));
    let items = ok(&engine, json!({"operation": "select", "from": "Item"}));
    assert_eq!(names(&items), ["I-1"]);
    let statuses: Vec<RunStatus> = top
        .child_run_ids
        .iter()
        .map(|id| stored(&engine, id).status)
        .collect();
    assert_eq!(statuses, [RunStatus::Completed, RunStatus::Failed]);
}

#[test]
fn a_limit_hit_deep_in_the_tree_fails_and_rolls_back_the_whole_tree() {
    let engine = engine();
    save_op(
        &engine,
        json!({"name": "spin", "handlerCode": "loop {}", "limits": {"maxOperations": 20000}}),
    );
    op(
        &engine,
        "writes_then_calls_spin",
        r#"run(#{operation: "create", into: "Note", input: #{data: #{t: "inner"}}});
           run(#{operation: "spin"})"#,
    );
    op(
        &engine,
        "root",
        r#"run(#{operation: "create", into: "Note", input: #{data: #{t: "outer"}}});
           try { run(#{operation: "writes_then_calls_spin"}) } catch (e) { "caught" }"#,
    );
    let top = fails(&engine, json!({"operation": "root"}), "LIMIT_EXCEEDED");
    assert!(
        error(&top).message.contains("maxOperations"),
        "{:?}",
        top.error
    );
    assert_eq!(count(&engine, "Note"), 0);
    let middle = stored(&engine, &top.child_run_ids[1]);
    assert_eq!(middle.status, RunStatus::Failed);
    let spin = stored(&engine, &middle.child_run_ids[1]);
    assert_eq!(spin.operation.as_deref(), Some("spin"));
    assert_eq!(spin.chain_id, top.id);
    assert_eq!(
        spin.error.as_ref().map(|e| e.code.as_str()),
        Some("LIMIT_EXCEEDED")
    );
}

// --- 8. dry runs ---------------------------------------------------------------------------

#[test]
fn a_dry_run_of_a_custom_operation_executes_nothing() {
    let engine = engine();
    save_op(
        &engine,
        json!({"name": "writer", "requiresTarget": "into",
               "handlerCode": "run(#{operation: \"create\", into: context.doctype, input: #{data: #{t: 1}}}); 1"}),
    );
    let dry = ok(
        &engine,
        json!({"operation": "writer", "into": "Note", "options": {"dryRun": true}}),
    );
    assert!(dry.child_run_ids.is_empty(), "{:?}", dry.child_run_ids);
    assert_ne!(dry.output, json!(1), "the handler ran");
    assert_eq!(count(&engine, "Note"), 0);
    assert!(stored(&engine, &dry.id).child_run_ids.is_empty());
    // Still checked: the operation exists, and its target is given.
    fails(
        &engine,
        json!({"operation": "no_such_op", "into": "Note", "options": {"dryRun": true}}),
        "UNKNOWN_OPERATION",
    );
    fails(
        &engine,
        json!({"operation": "writer", "options": {"dryRun": true}}),
        "MISSING_TARGET",
    );
    // The real run writes.
    ok(&engine, json!({"operation": "writer", "into": "Note"}));
    assert_eq!(count(&engine, "Note"), 1);
}

#[test]
fn a_dry_run_validates_against_the_schema() {
    let engine = engine();
    item_schema(&engine);
    let run = fails(
        &engine,
        json!({"operation": "create", "into": "Item", "input": {"data": {"qty": "x"}},
               "options": {"dryRun": true}}),
        "VALIDATION_FAILED",
    );
    assert_eq!(error(&run).details[0]["path"], json!("qty"));
    ok(
        &engine,
        json!({"operation": "create", "into": "Item", "input": {"data": {"qty": 3}},
               "options": {"dryRun": true}}),
    );
    assert_eq!(count(&engine, "Item"), 0);
    // A custom operation with validateSchema checks input.data in a dry run too.
    save_op(
        &engine,
        json!({"name": "checked_writer", "requiresTarget": "into", "validateSchema": 1,
               "handlerCode": "1"}),
    );
    fails(
        &engine,
        json!({"operation": "checked_writer", "into": "Item", "input": {"data": {}},
               "options": {"dryRun": true}}),
        "VALIDATION_FAILED",
    );
    ok(
        &engine,
        json!({"operation": "checked_writer", "into": "Item", "input": {"data": {"qty": 1}},
               "options": {"dryRun": true}}),
    );
    // A dry-run create of an Operation compiles it but saves nothing.
    fails(
        &engine,
        json!({"operation": "create", "into": "Operation", "options": {"dryRun": true},
               "input": {"data": {"name": "dry_op", "handlerCode": "1 +"}}}),
        "SCRIPT_COMPILE_ERROR",
    );
    ok(
        &engine,
        json!({"operation": "create", "into": "Operation", "options": {"dryRun": true},
               "input": {"data": {"name": "dry_op", "handlerCode": "1"}}}),
    );
    assert!(op_docs(&engine, "dry_op").is_empty());
    fails(&engine, json!({"operation": "dry_op"}), "UNKNOWN_OPERATION");
}

// --- differential and sharing --------------------------------------------------------------

/// The same handler as a cached operation and as an ad-hoc script compiled fresh.
#[test]
fn a_cached_operation_and_a_fresh_script_agree() {
    let engine = engine();
    customers(&engine);
    let handlers = [
        r#"let rows = run(#{operation: "select", from: "Customer", input: #{orderBy: #{city: "desc"}}}).output.data;
           let csv = "name,city";
           for row in rows { csv += "\n" + row.name + "," + row.city; }
           csv"#,
        r#"let total = 0; let squares = [];
           for i in 0..50 { total += i * i; if i % 10 == 0 { squares.push(i * i); } }
           #{total: total, squares: squares, half: total / 2.0, text: `${total}`}"#,
        r#"let s = get_schema("Operation");
           #{fields: s.fields.len() > 5, none: get_schema("Nope"), count: run(#{operation: "select", from: "Customer"}).output.meta.count}"#,
    ];
    for (i, code) in handlers.iter().enumerate() {
        let name = format!("differential_{i}");
        op(&engine, &name, code);
        let cached = ok(&engine, json!({"operation": name})).output;
        let again = ok(&engine, json!({"operation": name})).output;
        let fresh = engine.run_script(&name, code).expect("the script runs");
        assert_eq!(cached, fresh, "handler {i}");
        assert_eq!(cached, again, "handler {i}");
    }
}

#[test]
fn custom_operations_serve_many_threads_at_once() {
    let engine = engine();
    customers(&engine);
    save_op(
        &engine,
        json!({"name": "export_csv", "requiresTarget": "from", "handlerCode": CSV_OF_CONTEXT_DOCTYPE}),
    );
    op(
        &engine,
        "add_note",
        "run(#{operation: \"create\", into: \"Note\", input: #{data: #{by: context.owner}}}).success",
    );
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let engine = engine.clone();
            std::thread::spawn(move || {
                for _ in 0..10 {
                    let csv = ok(
                        &engine,
                        json!({"operation": "export_csv", "from": "Customer"}),
                    );
                    assert_eq!(
                        csv.output,
                        json!("name,city\nC-1,Oslo\nC-2,Lyon\nC-3,Porto")
                    );
                    let added = ok(
                        &engine,
                        json!({"operation": "add_note", "owner": format!("t{t}")}),
                    );
                    assert_eq!(added.output, json!(true));
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().expect("no thread panicked");
    }
    assert_eq!(count(&engine, "Note"), 40);
}

/// A run that changes an operation sees the change at once (inside its transaction); if
/// it then fails, the compiled-operation cache must not keep what was rolled back.
#[test]
fn operations_changed_by_a_failed_run_are_rolled_back_in_the_cache_too() {
    let engine = engine();
    op(&engine, "victim", "1");
    op(
        &engine,
        "mutator",
        r#"run(#{operation: "update", "in": "Operation", input: #{name: "victim", data: #{handlerCode: "2"}}});
           let seen = run(#{operation: "victim"}).output;
           if context.input.fail { throw `saw ${seen}`; }
           seen"#,
    );
    let failed = fails(
        &engine,
        json!({"operation": "mutator", "input": {"fail": true}}),
        "SCRIPT_ERROR",
    );
    assert!(
        error(&failed).message.contains("saw 2"),
        "{:?}",
        failed.error
    );
    assert_eq!(ok(&engine, json!({"operation": "victim"})).output, json!(1));
    assert_eq!(op_docs(&engine, "victim")[0]["handlerCode"], json!("1"));

    let committed = ok(
        &engine,
        json!({"operation": "mutator", "input": {"fail": false}}),
    );
    assert_eq!(committed.output, json!(2));
    assert_eq!(ok(&engine, json!({"operation": "victim"})).output, json!(2));

    // An operation created and called inside a failed run does not outlive it.
    op(
        &engine,
        "maker",
        r#"run(#{operation: "create", into: "Operation", input: #{data: #{name: "ghost", handlerCode: "7"}}});
           throw `ghost said ${run(#{operation: "ghost"}).output}`"#,
    );
    let failed = fails(&engine, json!({"operation": "maker"}), "SCRIPT_ERROR");
    assert!(
        error(&failed).message.contains("ghost said 7"),
        "{:?}",
        failed.error
    );
    fails(&engine, json!({"operation": "ghost"}), "UNKNOWN_OPERATION");
    assert!(op_docs(&engine, "ghost").is_empty());
}
