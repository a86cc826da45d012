//! Dry runs: a dry run of a custom operation executes nothing and validates against the schema.

use super::*;

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
