//! The sandbox: `context` is the run as a map, `get_schema`, printed lines and errors with their
//! position, failure maps, any return value, and limits overridden per operation.

use super::*;

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
