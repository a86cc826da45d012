//! Differential and sharing: a cached operation and a fresh script agree, operations serve many
//! threads at once, and a failed run's operation changes are rolled back in the cache too.

use super::*;

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
