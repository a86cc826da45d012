//! Packs and the CLI cannot touch the audit trail either.

use super::*;

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

#[test]
fn packs_cannot_touch_the_audit_trail() {
    let engine = engine();
    ok(
        &engine,
        json!({"operation": "create", "into": "Note", "input": {"data": {"name": "n1"}}}),
    );
    let before = all_entries(&engine);
    // A pack shipping its own `Audit Trail` schema is refused whole.
    let dir = tempfile::tempdir().unwrap();
    let shadow = dir.path().join("shadow");
    write(
        &shadow.join("pack.json"),
        r#"{"name": "shadow", "version": "1.0.0"}"#,
    );
    write(
        &shadow.join("schemas/audit.json"),
        &json!({"name": "Audit Trail", "fields": [{"fieldname": "action", "fieldtype": "Data"}],
                "permissions": [{"role": "Guest", "read": 1, "write": 1, "delete": 1}]})
        .to_string(),
    );
    write(
        &shadow.join("operations/hello.json"),
        r#"{"name": "shadow_hello"}"#,
    );
    write(&shadow.join("operations/hello.rhai"), "1");
    let run = engine.install_pack(&shadow);
    assert!(
        ["IMMUTABLE", "CONFLICT"].contains(&code(&run)),
        "{:?}",
        run.error
    );
    assert!(engine.packs().unwrap().is_empty());
    fails(
        &engine,
        json!({"operation": "shadow_hello"}),
        "UNKNOWN_OPERATION",
    );
    unchanged(&engine, &before, "shadow pack");
    // A pack whose operation and workflow try: installed, but refused when they run.
    let tamper = dir.path().join("tamper");
    write(
        &tamper.join("pack.json"),
        r#"{"name": "tamper", "version": "1.0.0"}"#,
    );
    write(
        &tamper.join("operations/scrub.json"),
        r#"{"name": "scrub"}"#,
    );
    write(
        &tamper.join("operations/scrub.rhai"),
        r#"let r = run(#{operation: "update", "in": "Audit Trail", input: #{where: #{}, data: #{owner: "x"}}});
           if !r.success { throw #{code: r.error.code, message: r.error.message}; }
           r.output"#,
    );
    write(
        &tamper.join("workflows/wipe.json"),
        &json!({"name": "Wipe Trail", "children": [
            {"id": "wipe", "operation": "delete", "from": "Audit Trail", "input": {"where": {}}}]})
        .to_string(),
    );
    let run = engine.install_pack(&tamper);
    assert!(run.success, "{:?}", run.error);
    let before = all_entries(&engine);
    fails(&engine, json!({"operation": "scrub"}), "IMMUTABLE");
    fails(
        &engine,
        json!({"operation": "workflow", "template": "Wipe Trail"}),
        "IMMUTABLE",
    );
    unchanged(&engine, &before, "tamper pack");
}

#[test]
fn the_cli_cannot_change_entries_either() {
    let store = TempStore::new();
    let before = {
        let engine = store.open();
        let admin = acl_store(&engine);
        ok(
            &admin,
            json!({"operation": "create", "into": "Invoice", "input": {"data": {"name": "I-1"}}}),
        );
        all_entries(&admin)
    };
    for request in tampering() {
        for user in [ADMIN, "clerk"] {
            let output = cli(&store.path)
                .args(["--as", user, "run", "--json", &request.to_string()])
                .output()
                .unwrap();
            assert_eq!(exit(&output), 1, "{user}: {request}");
            let run = stdout_json(&output);
            let code = run["error"]["code"].as_str().unwrap().to_string();
            if user == ADMIN {
                assert_eq!(code, "IMMUTABLE", "{request}");
            } else {
                assert!(["IMMUTABLE", "PERMISSION_DENIED"].contains(&code.as_str()));
            }
        }
    }
    let script = store.dir.path().join("tamper.rhai");
    std::fs::write(
        &script,
        r#"[run(#{operation: "delete", from: "Audit Trail", input: #{where: #{}}}).error.code,
            run(#{operation: "update", "in": "Audit Trail", input: #{name: "1", data: #{action: "x"}}}).error.code]"#,
    )
    .unwrap();
    let output = cli(&store.path)
        .args(["--as", ADMIN, "script"])
        .arg(&script)
        .output()
        .unwrap();
    assert_eq!(
        exit(&output),
        0,
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(stdout_json(&output), json!(["IMMUTABLE", "IMMUTABLE"]));
    let engine = store.open();
    unchanged(&engine.with_owner(ADMIN), &before, "CLI");
}
