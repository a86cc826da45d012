//! Run records: never modified once completed; concurrent runs keep one unbroken chain; a failed
//! nested run leaves only its failure entry; a trail cut short is detected.

use super::*;

#[test]
fn run_records_are_never_modified_once_completed() {
    let store = TempStore::new();
    let engine = store.open();
    save_op(
        &engine,
        "nested",
        r#"run(#{operation: "create", into: "Note", input: #{data: #{name: "s1"}}});
           run(#{operation: "select", from: "Note"}).output.meta.count"#,
    );
    let mut runs = vec![
        engine.run(
            RunRequest::new("create")
                .into_doctype("Note")
                .input(json!({"data": {"name": "n1", "v": 1}})),
        ),
        engine.run(RunRequest::new("select").from("Note")),
        engine.run(
            RunRequest::new("update")
                .in_doctype("Note")
                .input(json!({"name": "missing", "data": {}})),
        ),
        engine.run(RunRequest::new("nested").owner("alice")),
        engine.run_value(json!({"operation": "workflow", "input": {"children": [
            {"id": "a", "operation": "update", "in": "Note", "input": {"name": "n1", "data": {"v": 2}}}]}})),
    ];
    let children: Vec<String> = runs.iter().flat_map(|r| r.child_run_ids.clone()).collect();
    assert_eq!(children.len(), 3);
    for id in children {
        runs.push(stored(&engine, &id));
    }
    let records: Vec<Run> = runs.iter().map(|r| stored(&engine, &r.id)).collect();
    // Later runs touch the same documents, fail, nest, and time passes.
    for i in 0..5 {
        engine.run(
            RunRequest::new("update")
                .in_doctype("Note")
                .input(json!({"where": {}, "data": {"v": 10 + i}})),
        );
        engine.run(RunRequest::new("nested").owner("bob"));
        engine.run(RunRequest::new("select").from("Note"));
    }
    engine.run(
        RunRequest::new("delete")
            .from("Note")
            .input(json!({"where": {}})),
    );
    engine.flush().unwrap();
    for record in &records {
        assert_eq!(
            &stored(&engine, &record.id),
            record,
            "run {} changed",
            record.id
        );
    }
    drop(engine);
    let engine = store.open();
    for record in &records {
        assert_eq!(
            &stored(&engine, &record.id),
            record,
            "run {} changed on disk",
            record.id
        );
    }
}

#[test]
fn concurrent_runs_keep_one_unbroken_chain() {
    let engine = engine();
    let admin = acl_store(&engine);
    let imported = admin.import_schemas(vec![json!({"name": "Task", "fields": [
        {"fieldname": "title", "fieldtype": "Data", "reqd": 1}],
        "permissions": [{"role": "Accounts User", "read": 1, "create": 1}]})]);
    assert!(imported.success, "{:?}", imported.error);
    let before = engine.verify_audit().unwrap().entries;
    let mut requests = Vec::new();
    for i in 0..40 {
        let request = match i % 5 {
            // a change: one `create` entry
            0 => RunRequest::new("create")
                .into_doctype("Invoice")
                .input(json!({"data": {"name": format!("I-{i}")}})),
            // a validation failure: one `invalid` entry
            1 => RunRequest::new("create")
                .into_doctype("Task")
                .input(json!({"data": {"name": format!("T-{i}")}})),
            // a denied write and a denied read: one `denied` entry each
            2 => RunRequest::new("delete")
                .from("Invoice")
                .input(json!({"where": {}})),
            3 => RunRequest::new("select").from("Memo"),
            // a read: nothing
            _ => RunRequest::new("select").from("Invoice"),
        };
        requests.push(request.owner("clerk"));
    }
    let runs = engine.run_parallel(requests);
    for (i, run) in runs.iter().enumerate() {
        assert_eq!(
            run.success,
            i % 5 == 0 || i % 5 == 4,
            "run {i}: {:?}",
            run.error
        );
    }
    let report = engine.verify_audit().unwrap();
    assert_eq!(report.broken, None);
    assert_eq!(report.entries, before + 8 * 4);
    let all = all_entries(&admin);
    let seqs: Vec<u64> = all.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, (1..=all.len() as u64).collect::<Vec<_>>());
    for (i, run) in runs.iter().enumerate() {
        let by_run = entries(&admin, json!({"runId": run.id}));
        let wanted = match i % 5 {
            0 => vec!["create"],
            1 => vec!["invalid"],
            2 | 3 => vec!["denied"],
            _ => vec![],
        };
        let actions: Vec<&str> = by_run
            .iter()
            .map(|e| e["action"].as_str().unwrap())
            .collect();
        assert_eq!(actions, wanted, "run {i}");
    }
}

#[test]
fn a_failed_nested_run_inside_a_successful_script_leaves_only_its_failure_entry() {
    let engine = engine();
    let imported = engine.import_schemas(vec![json!({"name": "Task", "fields": [
        {"fieldname": "title", "fieldtype": "Data", "reqd": 1}]})]);
    assert!(imported.success);
    save_op(
        &engine,
        "partly",
        r#"let bad = run(#{operation: "create", into: "Task", input: #{data: [
               #{name: "a", title: "fine"}, #{name: "c"}]}});
           let good = run(#{operation: "create", into: "Task", input: #{data: #{name: "b", title: "ok"}}});
           [bad.success, good.success]"#,
    );
    let before = engine.verify_audit().unwrap().entries;
    let run = engine.run(RunRequest::new("partly").owner("alice"));
    assert_eq!(run.output, json!([false, true]), "{:?}", run.error);
    assert_eq!(
        names(&engine.run(RunRequest::new("select").from("Task"))),
        ["b"]
    );
    let new: Vec<Value> = all_entries(&engine)
        .into_iter()
        .skip(before as usize)
        .collect();
    let got: Vec<(Value, Value, Value)> = new
        .iter()
        .map(|e| {
            (
                e["action"].clone(),
                e["refName"].clone(),
                e["runId"].clone(),
            )
        })
        .collect();
    let mut wanted = vec![
        (json!("create"), json!("b"), json!(run.child_run_ids[1])),
        (json!("invalid"), Value::Null, json!(run.child_run_ids[0])),
    ];
    wanted.sort_by_key(|w| w.0.to_string());
    let mut sorted = got.clone();
    sorted.sort_by_key(|w| w.0.to_string());
    assert_eq!(sorted, wanted, "{new:#?}");
    assert_eq!(engine.verify_audit().unwrap().broken, None);
}

#[test]
fn a_trail_cut_short_behind_the_engines_back_is_detected() {
    let store = TempStore::new();
    {
        let engine = store.open();
        for i in 0..3 {
            ok(
                &engine,
                json!({"operation": "create", "into": "Note", "input": {"data": {"name": format!("n{i}")}}}),
            );
        }
        assert!(engine.verify_audit().unwrap().broken.is_none());
    }
    // A tamperer with redb itself removes the newest entry: every remaining link still
    // checks out, but the trail no longer ends where its head says.
    {
        use redb::ReadableTable;
        const AUDIT: redb::TableDefinition<u64, &[u8]> = redb::TableDefinition::new("audit");
        let db = redb::Database::open(&store.path).unwrap();
        let txn = db.begin_write().unwrap();
        {
            let mut table = txn.open_table(AUDIT).unwrap();
            let last = table.last().unwrap().map(|(k, _)| k.value()).unwrap();
            table.remove(last).unwrap();
        }
        txn.commit().unwrap();
    }
    let report = store.open().verify_audit().unwrap();
    let broken = report.broken.expect("the removal is detected");
    assert_eq!(broken.seq, 3, "{broken:?}");
    assert!(broken.reason.contains("removed"), "{}", broken.reason);
}
