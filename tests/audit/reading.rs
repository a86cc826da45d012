//! Reading the trail: select filters, orders and pages it; reading takes read permission; the CLI
//! lists entries by doctype, name and owner.

use super::*;

fn notes_history(engine: &Engine) {
    for (owner, request) in [
        (
            "alice",
            json!({"operation": "create", "into": "Note", "input": {"data": [{"name": "n1"}, {"name": "n2"}]}}),
        ),
        (
            "alice",
            json!({"operation": "update", "in": "Note", "input": {"name": "n1", "data": {"v": 1}}}),
        ),
        (
            "bob",
            json!({"operation": "update", "in": "Note", "input": {"name": "n1", "data": {"v": 2}}}),
        ),
        (
            "bob",
            json!({"operation": "update", "in": "Note", "input": {"name": "n2", "data": {"v": 3}}}),
        ),
        (
            "alice",
            json!({"operation": "delete", "from": "Note", "input": {"name": "n1"}}),
        ),
        (
            "bob",
            json!({"operation": "create", "into": "Task", "input": {"data": {"name": "t1"}}}),
        ),
    ] {
        let mut request = request;
        request["owner"] = json!(owner);
        ok(engine, request);
    }
}

#[test]
fn select_on_the_audit_trail_filters_orders_and_pages() {
    let engine = engine();
    notes_history(&engine);
    let select = |input: Value| {
        ok(
            &engine,
            json!({"operation": "select", "from": "Audit Trail", "input": input}),
        )
    };
    let updates = select(json!({"where": {"refDoctype": "Note", "action": "update"},
                                "orderBy": {"seq": "desc"}, "take": 2}));
    let got: Vec<(Value, Value)> = updates
        .data()
        .iter()
        .map(|e| (e["refName"].clone(), e["diff"]["v"]["to"].clone()))
        .collect();
    assert_eq!(got, [(json!("n2"), json!(3)), (json!("n1"), json!(2))]);
    let skipped = select(json!({"where": {"refDoctype": "Note", "action": "update"},
                                "orderBy": {"seq": "desc"}, "skip": 2}));
    assert_eq!(skipped.data().len(), 1);
    assert_eq!(skipped.data()[0]["diff"]["v"]["to"], json!(1));
    let by_bob = select(
        json!({"where": {"owner": "bob", "refName": {"in": ["n1", "t1"]}},
                               "select": ["seq", "action", "refName"], "orderBy": {"seq": "asc"}}),
    );
    assert_eq!(
        by_bob.data().to_vec(),
        [
            json!({"seq": 4, "action": "update", "refName": "n1"}),
            json!({"seq": 7, "action": "create", "refName": "t1"}),
        ]
    );
    let recent = select(json!({"where": {"seq": {"gt": 5}}, "orderBy": {"seq": "asc"}}));
    let seqs: Vec<&Value> = recent.data().iter().map(|e| &e["seq"]).collect();
    assert_eq!(seqs, [&json!(6), &json!(7)]);
    // By name (its seq), like any document.
    let third = select(json!({"where": {"name": "3"}}));
    assert_eq!(third.data()[0]["seq"], json!(3));
    assert_eq!(select(json!({})).output["meta"]["count"], json!(7));
}

#[test]
fn reading_the_trail_takes_read_permission() {
    let engine = engine();
    let admin = acl_store(&engine);
    ok(
        &engine,
        json!({"operation": "create", "into": "Invoice", "owner": "clerk", "input": {"data": {"name": "I-1"}}}),
    );
    let total = engine.verify_audit().unwrap().entries as usize;
    let everything = all_entries(&admin);
    assert_eq!(everything.len(), total, "the superuser reads every entry");
    for user in ["clerk", "nobody"] {
        let run = fails(
            &engine,
            json!({"operation": "select", "from": "Audit Trail", "owner": user,
                   "input": {"where": {"owner": user}}}),
            "PERMISSION_DENIED",
        );
        assert!(run.output.is_null() || run.data().is_empty());
        // The attempt is itself audited.
        let entry = one(&admin, json!({"runId": run.id}));
        assert_eq!(entry["action"], json!("denied"));
        assert_eq!(entry["refDoctype"], json!("Audit Trail"));
        // Not through a script either.
        let run = fails(
            &engine,
            json!({"operation": "as_caller", "owner": user,
                   "input": {"req": {"operation": "select", "from": "Audit Trail"}}}),
            "PERMISSION_DENIED",
        );
        assert!(run.output.is_null(), "{}", run.output);
    }
}

#[test]
fn the_cli_lists_entries_by_doctype_name_and_owner() {
    let store = TempStore::new();
    {
        let engine = store.open();
        notes_history(&engine);
    }
    let list = |args: &[&str]| -> Vec<(String, String, String)> {
        let output = cli(&store.path)
            .args(["audit", "list"])
            .args(args)
            .output()
            .unwrap();
        assert_eq!(
            exit(&output),
            0,
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        stdout_json(&output)
            .as_array()
            .expect("a JSON array")
            .iter()
            .map(|e| {
                let text = |k: &str| e[k].as_str().unwrap_or_default().to_string();
                (text("action"), text("refName"), text("owner"))
            })
            .collect()
    };
    let t = |a: &str, n: &str, o: &str| (a.to_string(), n.to_string(), o.to_string());
    assert_eq!(
        list(&["--doctype", "Note", "--name", "n1"]),
        [
            t("create", "n1", "alice"),
            t("update", "n1", "alice"),
            t("update", "n1", "bob"),
            t("delete", "n1", "alice")
        ]
    );
    assert_eq!(
        list(&["--doctype", "Note", "--name", "n1", "--owner", "bob"]),
        [t("update", "n1", "bob")]
    );
    assert_eq!(
        list(&["--owner", "bob"]),
        [
            t("update", "n1", "bob"),
            t("update", "n2", "bob"),
            t("create", "t1", "bob")
        ]
    );
    assert_eq!(
        list(&["--doctype", "Note", "--limit", "2"]),
        [t("update", "n2", "bob"), t("delete", "n1", "alice")],
        "the newest N, oldest first"
    );
    assert_eq!(list(&["--doctype", "Task"]), [t("create", "t1", "bob")]);
    assert!(list(&["--name", "nothing"]).is_empty());
    assert_eq!(list(&[]).len(), 7);

    // With access control on, the superuser may list, a plain user may not.
    {
        let engine = store.open();
        acl_store(&engine);
    }
    let output = cli(&store.path)
        .args(["--as", "clerk", "audit", "list"])
        .output()
        .unwrap();
    assert_ne!(exit(&output), 0);
    assert!(String::from_utf8_lossy(&output.stderr).contains("PERMISSION_DENIED"));
    assert!(
        output.stdout.is_empty() || !String::from_utf8_lossy(&output.stdout).contains("refName")
    );
    let output = cli(&store.path)
        .args([
            "--as",
            ADMIN,
            "audit",
            "list",
            "--doctype",
            "Note",
            "--name",
            "n2",
        ])
        .output()
        .unwrap();
    assert_eq!(exit(&output), 0);
    assert_eq!(stdout_json(&output).as_array().unwrap().len(), 2);
}
