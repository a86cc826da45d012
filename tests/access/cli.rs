//! Turning access control on and off: the CLI acts as a user (`--as`) and switches it, and
//! enabling it never locks the superuser out.

use super::*;

fn exit(output: &Output) -> i32 {
    output.status.code().expect("the CLI exits")
}

fn cli_run(db: &Path, user: Option<&str>, request: Value) -> (i32, Value) {
    let mut cmd = cli(db);
    if let Some(user) = user {
        cmd.args(["--as", user]);
    }
    let output = cmd
        .args(["run", "--json", &request.to_string()])
        .env_remove("COWORKER_USER")
        .output()
        .unwrap();
    (exit(&output), stdout_json(&output))
}

fn cli_acl(db: &Path, args: &[&str]) -> (i32, Output) {
    let output = cli(db)
        .arg("acl")
        .args(args)
        .env_remove("COWORKER_USER")
        .output()
        .unwrap();
    (exit(&output), output)
}

#[test]
fn the_cli_acts_as_a_user_and_turns_access_control_on_and_off() {
    let store = TempStore::new();
    {
        let engine = store.open();
        let imported = engine.import_schemas(schemas());
        assert!(imported.success);
        for (user, roles) in USERS {
            ok(
                &engine,
                json!({"operation": "create", "into": "User", "input": {"data": {"name": user, "roles": roles}}}),
            );
        }
    }
    let (code_, out) = cli_acl(&store.path, &["status"]);
    assert_eq!(code_, 0);
    assert_eq!(stdout_json(&out), json!({"enabled": false}));
    let (code_, out) = cli_acl(&store.path, &["enable"]);
    assert_eq!(code_, 0, "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(stdout_json(&out), json!({"enabled": true}));
    let (code_, out) = cli_acl(&store.path, &["status"]);
    assert_eq!((code_, stdout_json(&out)), (0, json!({"enabled": true})));

    let create = |name: &str| json!({"operation": "create", "into": "Invoice", "input": {"data": {"name": name}}});
    let (code_, run) = cli_run(&store.path, None, create("anon"));
    assert_eq!(code_, 1);
    assert_eq!(run["error"]["code"], json!("PERMISSION_DENIED"));
    let (code_, run) = cli_run(&store.path, Some("clerk"), create("by-clerk"));
    assert_eq!(code_, 0, "{run}");
    assert_eq!(run["owner"], json!("clerk"));
    let (code_, run) = cli_run(
        &store.path,
        Some("clerk"),
        json!({"operation": "delete", "from": "Invoice", "input": {"name": "by-clerk"}}),
    );
    assert_eq!(code_, 1);
    assert_eq!(run["error"]["code"], json!("PERMISSION_DENIED"));
    let message = run["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("Invoice") && message.contains("delete"),
        "{message}"
    );
    let (code_, run) = cli_run(&store.path, Some("ghost"), create("by-ghost"));
    assert_eq!(
        (code_, run["error"]["code"].clone()),
        (1, json!("PERMISSION_DENIED"))
    );
    // COWORKER_USER is --as from the environment.
    let output = cli(&store.path)
        .env("COWORKER_USER", "manager")
        .args(["run", "--json", &create("by-env").to_string()])
        .output()
        .unwrap();
    assert_eq!(exit(&output), 0);
    assert_eq!(stdout_json(&output)["owner"], json!("manager"));
    // Only the superuser turns it off.
    let (code_, out) = cli_acl(&store.path, &["disable", "--admin", "clerk"]);
    assert_eq!(code_, 2, "{}", String::from_utf8_lossy(&out.stdout));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("clerk") && stderr.contains("may not"),
        "{stderr}"
    );
    let (_, out) = cli_acl(&store.path, &["status"]);
    assert_eq!(stdout_json(&out), json!({"enabled": true}));
    let (code_, out) = cli_acl(&store.path, &["disable"]);
    assert_eq!((code_, stdout_json(&out)), (0, json!({"enabled": false})));
    let (code_, run) = cli_run(&store.path, None, create("anon"));
    assert_eq!(code_, 0, "{run}");
    // Enable with another superuser and role.
    let (code_, out) = cli_acl(
        &store.path,
        &["enable", "--admin", "root", "--superuser-role", "Root"],
    );
    assert_eq!((code_, stdout_json(&out)), (0, json!({"enabled": true})));
    let (code_, run) = cli_run(
        &store.path,
        Some("root"),
        json!({"operation": "create", "into": "Memo", "input": {"data": {"name": "m"}}}),
    );
    assert_eq!(code_, 0, "{run}");
    let engine = store.open();
    let invoices = names_of(
        engine
            .run(RunRequest::new("select").from("Invoice").owner("root"))
            .data(),
    );
    assert_eq!(invoices, ["anon", "by-clerk", "by-env"]);
}

#[test]
fn enabling_access_control_never_locks_the_superuser_out() {
    // The named admin already exists, without the superuser role.
    let engine = engine();
    ok(
        &engine,
        json!({"operation": "create", "into": "User", "input": {"data": {"name": "boss", "roles": ["Accounts User"]}}}),
    );
    engine
        .enable_acl("boss", None)
        .expect("enable_acl gives the named admin the superuser role");
    assert!(engine.acl_enabled().unwrap());
    let boss = engine
        .run(
            RunRequest::new("select")
                .from("User")
                .input(json!({"where": {"name": "boss"}}))
                .owner("boss"),
        )
        .data()[0]
        .clone();
    assert_eq!(boss["roles"], json!(["Accounts User", "Administrator"]));
    ok(
        &engine,
        json!({"operation": "create", "into": "User", "owner": "boss",
               "input": {"data": {"name": "someone"}}}),
    );
    engine
        .disable_acl("boss")
        .expect("the admin enable_acl named is the superuser");
    // Access control on, then enabled again with another superuser role for the same admin.
    let engine = self::engine();
    engine.enable_acl(ADMIN, None).unwrap();
    engine
        .enable_acl(ADMIN, Some("Root"))
        .expect("the admin is given the new role before the settings name it");
    engine
        .disable_acl(ADMIN)
        .expect("the admin enable_acl named is the superuser");
}
