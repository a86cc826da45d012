//! Custom operations: compiled at save, callable at once, recompiled on update, dropped on delete,
//! kept across reopening; unknown operations fail; their settings check target and input.

use super::*;

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
