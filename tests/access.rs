//! Story: identity and permissions. Every run names who asked (`owner`) and who executed
//! (`agent`); once access control is on, the owner's roles decide what the run may do — Frappe
//! DocPerm rows per doctype (read, write, create, delete, if_owner) and an Operation's `roles`
//! — for top-level runs and for every nested run of scripts and workflows alike, so an agent
//! never does more than its owner. Denials are PERMISSION_DENIED naming doctype and
//! operation, change nothing and are audited. Hosts get rate limits per owner, timeouts,
//! batches and run callbacks.

use crate::harness::*;
use coworker::{Engine, Run, RunOptions, RunRequest, RunStatus};
use serde_json::{Value, json};
use std::path::Path;
use std::process::Output;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

const ADMIN: &str = "Administrator";

/// Users of the matrix and their roles.
const USERS: [(&str, &[&str]); 4] = [
    ("manager", &["Accounts Manager"]),
    ("clerk", &["Accounts User"]),
    ("sales", &["Sales User"]),
    ("nobody", &[]),
];

/// A handler that runs `input.req` as a nested run and fails with the child's error.
const AS_OWNER: &str = r#"
let child = run(context.input.req);
if !child.success { throw #{code: child.error.code, message: child.error.message}; }
child.output
"#;

/// The error code of a run, `""` when it succeeded.
fn code(run: &Run) -> &str {
    run.error.as_ref().map_or("", |e| e.code.as_str())
}

fn message(run: &Run) -> String {
    run.error
        .as_ref()
        .map(|e| e.message.clone())
        .unwrap_or_default()
}

/// `request` with `owner` set.
fn owned(mut request: Value, owner: &str) -> Value {
    request["owner"] = json!(owner);
    request
}

/// Run `request` as the superuser; must succeed.
fn admin_ok(engine: &Engine, request: Value) -> Run {
    ok(engine, owned(request, ADMIN))
}

/// Every document of `doctype`, by name, as the superuser sees them.
fn docs(engine: &Engine, doctype: &str) -> Vec<Value> {
    admin_ok(
        engine,
        json!({"operation": "select", "from": doctype, "input": {"orderBy": {"name": "asc"}}}),
    )
    .data()
    .to_vec()
}

fn doc(engine: &Engine, doctype: &str, name: &str) -> Option<Value> {
    docs(engine, doctype)
        .into_iter()
        .find(|d| d["name"] == json!(name))
}

/// Audit entries matching `filter`, oldest first (read as the superuser).
fn audit(engine: &Engine, filter: Value) -> Vec<Value> {
    admin_ok(
        engine,
        json!({"operation": "select", "from": "Audit Trail",
               "input": {"where": filter, "orderBy": {"seq": "asc"}}}),
    )
    .data()
    .to_vec()
}

/// The schemas of the matrix: `Invoice` with DocPerm rows, `Memo` with none.
fn schemas() -> Vec<Value> {
    vec![
        json!({"doctype": "DocType", "name": "Invoice", "fields": [
            {"fieldname": "customer", "fieldtype": "Data"},
            {"fieldname": "amount", "fieldtype": "Int"}],
            "permissions": [
                {"role": "Accounts Manager", "read": 1, "write": 1, "create": 1, "delete": 1},
                {"role": "Accounts User", "read": 1, "create": 1},
                {"role": "Sales User", "read": 1, "write": 1, "delete": 1, "if_owner": 1},
                {"role": "Sales User", "create": 1}]}),
        json!({"doctype": "DocType", "name": "Memo", "fields": [
            {"fieldname": "amount", "fieldtype": "Int"}], "permissions": []}),
    ]
}

/// A store with access control on: the matrix schemas, its users, and the `as_owner`
/// operation (open to every user) that runs a request as a nested run.
fn setup() -> Engine {
    let engine = engine();
    engine
        .enable_acl(ADMIN, None)
        .expect("access control turns on");
    let admin = engine.with_owner(ADMIN);
    let imported = admin.import_schemas(schemas());
    assert!(imported.success, "{:?}", imported.error);
    for (user, roles) in USERS {
        admin_ok(
            &engine,
            json!({"operation": "create", "into": "User",
                   "input": {"data": {"name": user, "full_name": user, "roles": roles}}}),
        );
    }
    admin_ok(
        &engine,
        json!({"operation": "create", "into": "Operation",
               "input": {"data": {"name": "as_owner", "handlerCode": AS_OWNER}}}),
    );
    engine
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Expect {
    Allow,
    Deny,
    /// A select that returns only the owner's documents.
    OwnOnly,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Via {
    Api,
    Script,
    Workflow,
}

const OPS: [&str; 4] = ["create", "select", "update", "delete"];
/// `Scratch` has no schema at all (the null schema).
const DOCTYPES: [&str; 3] = ["Invoice", "Memo", "Scratch"];

fn expected(user: &str, doctype: &str, op: &str) -> Expect {
    use Expect::*;
    match (user, doctype, op) {
        (ADMIN, _, _) => Allow,
        ("manager", "Invoice", _) => Allow,
        ("clerk", "Invoice", "create" | "select") => Allow,
        ("sales", "Invoice", "create") => Allow,
        ("sales", "Invoice", "select") => OwnOnly,
        _ => Deny,
    }
}

/// Run `request` for `user` through `via`; returns the top-level run and the run that did
/// the work (itself, the script's nested run, or the workflow's step).
fn through(engine: &Engine, via: Via, user: &str, request: Value) -> (Run, Run) {
    let top = match via {
        Via::Api => engine.run_value(owned(request, user)),
        Via::Script => engine.run_value(json!({"operation": "as_owner", "owner": user,
                                               "input": {"req": request}})),
        Via::Workflow => {
            let mut step = request;
            step["id"] = json!("step");
            engine.run_value(json!({"operation": "workflow", "owner": user,
                                    "input": {"children": [step]}}))
        }
    };
    let atomic = match via {
        Via::Api => top.clone(),
        _ => {
            assert_eq!(
                top.child_run_ids.len(),
                1,
                "{via:?}: one nested run expected, got {:?} ({:?})",
                top.child_run_ids,
                top.error
            );
            stored(engine, &top.child_run_ids[0])
        }
    };
    (top, atomic)
}

/// The names a select returned, whichever way it was run.
fn selected(via: Via, top: &Run) -> Vec<String> {
    let data = match via {
        Via::Api | Via::Script => top.output["data"].clone(),
        Via::Workflow => top.output["steps"][0]["output"]["data"].clone(),
    };
    data.as_array()
        .unwrap_or_else(|| panic!("{via:?}: no data in {}", top.output))
        .iter()
        .map(|d| d["name"].as_str().unwrap_or_default().to_string())
        .collect()
}

fn names_of(docs: &[Value]) -> Vec<String> {
    let mut names: Vec<String> = docs
        .iter()
        .map(|d| d["name"].as_str().unwrap_or_default().to_string())
        .collect();
    names.sort();
    names
}

// --- the permission matrix ----------------------------------------------------------------

#[test]
fn the_permission_matrix_holds_through_the_api_scripts_and_workflows() {
    let engine = setup();
    let users: Vec<&str> = std::iter::once(ADMIN)
        .chain(USERS.iter().map(|(u, _)| *u))
        .collect();
    let mut checked = 0;
    for via in [Via::Api, Via::Script, Via::Workflow] {
        for doctype in DOCTYPES {
            for user in &users {
                for op in OPS {
                    let expect = expected(user, doctype, op);
                    let tag = format!("{doctype}-{user}-{op}-{via:?}");
                    let context = format!("{user} {op} {doctype} via {via:?}");
                    // A target of the superuser's for update and delete.
                    let target = format!("t-{tag}");
                    if op == "update" || op == "delete" {
                        admin_ok(
                            &engine,
                            json!({"operation": "create", "into": doctype,
                                   "input": {"data": {"name": target, "amount": 1}}}),
                        );
                    }
                    let created = format!("c-{tag}");
                    let request = match op {
                        "create" => json!({"operation": "create", "into": doctype,
                                           "input": {"data": {"name": created, "amount": 7}}}),
                        "select" => json!({"operation": "select", "from": doctype}),
                        "update" => json!({"operation": "update", "in": doctype,
                                           "input": {"name": target, "data": {"amount": 2}}}),
                        _ => json!({"operation": "delete", "from": doctype,
                                    "input": {"name": target}}),
                    };
                    let before = docs(&engine, doctype);
                    let (top, atomic) = through(&engine, via, user, request);
                    assert_eq!(atomic.owner.as_deref(), Some(*user), "{context}");
                    match expect {
                        Expect::Allow | Expect::OwnOnly => {
                            assert!(
                                top.success,
                                "{context}: expected success, got {:?}",
                                top.error
                            );
                            assert!(atomic.success, "{context}");
                        }
                        Expect::Deny => {
                            assert_eq!(
                                code(&top),
                                "PERMISSION_DENIED",
                                "{context}: {:?}",
                                top.error
                            );
                            assert_eq!(code(&atomic), "PERMISSION_DENIED", "{context}");
                            let text = message(&atomic);
                            assert!(
                                text.contains(doctype) && text.contains(op),
                                "{context}: the message names neither doctype nor operation: {text}"
                            );
                            assert_eq!(
                                docs(&engine, doctype),
                                before,
                                "{context}: a denial changed documents"
                            );
                            let entries = audit(&engine, json!({"runId": atomic.id}));
                            assert_eq!(entries.len(), 1, "{context}: {entries:?}");
                            let entry = &entries[0];
                            assert_eq!(entry["action"], json!("denied"), "{context}");
                            assert_eq!(entry["refDoctype"], json!(doctype), "{context}");
                            assert_eq!(entry["owner"], json!(user), "{context}");
                            assert_eq!(entry["operation"], json!(op), "{context}");
                            checked += 1;
                            continue;
                        }
                    }
                    match op {
                        "create" => {
                            let made = doc(&engine, doctype, &created)
                                .unwrap_or_else(|| panic!("{context}: not created"));
                            assert_eq!(made["owner"], json!(user), "{context}");
                            assert_eq!(made["amount"], json!(7), "{context}");
                        }
                        "select" => {
                            let mut got = selected(via, &top);
                            got.sort();
                            let visible: Vec<Value> = match expect {
                                Expect::OwnOnly => before
                                    .iter()
                                    .filter(|d| d["owner"] == json!(user))
                                    .cloned()
                                    .collect(),
                                _ => before.clone(),
                            };
                            assert_eq!(got, names_of(&visible), "{context}");
                            if expect == Expect::OwnOnly {
                                assert!(!got.is_empty(), "{context}: the owner's documents");
                                assert!(visible.len() < before.len(), "{context}: others exist");
                            }
                        }
                        "update" => {
                            let after = doc(&engine, doctype, &target).expect("still there");
                            assert_eq!(after["amount"], json!(2), "{context}");
                            assert_eq!(after["modifiedBy"], json!(user), "{context}");
                        }
                        _ => assert!(
                            doc(&engine, doctype, &target).is_none(),
                            "{context}: not deleted"
                        ),
                    }
                    checked += 1;
                }
            }
        }
    }
    assert_eq!(checked, 3 * 3 * 5 * 4);
    assert_eq!(engine.verify_audit().unwrap().broken, None);
}

// --- identity: owner and agent ------------------------------------------------------------

#[test]
fn an_agent_has_exactly_its_owners_rights() {
    let engine = setup();
    admin_ok(
        &engine,
        json!({"operation": "create", "into": "Invoice", "input": {"data": {"name": "I-1", "amount": 1}}}),
    );
    let as_agent = |owner: &str, agent: &str, request: Value| {
        let mut request = owned(request, owner);
        request["agent"] = json!(agent);
        engine.run_value(request)
    };
    let create = |name: &str| json!({"operation": "create", "into": "Invoice", "input": {"data": {"name": name}}});
    let update = json!({"operation": "update", "in": "Invoice",
                        "input": {"name": "I-1", "data": {"amount": 5}}});
    // clerk may create, not update: the agent planner-1 the same.
    let created = as_agent("clerk", "planner-1", create("I-agent"));
    assert!(created.success, "{:?}", created.error);
    assert_eq!(created.owner.as_deref(), Some("clerk"));
    assert_eq!(created.agent.as_deref(), Some("planner-1"));
    let made = doc(&engine, "Invoice", "I-agent").expect("created");
    assert_eq!(made["owner"], json!("clerk"));
    let entry = audit(&engine, json!({"runId": created.id}));
    assert_eq!(entry.len(), 1);
    assert_eq!(entry[0]["agent"], json!("planner-1"));
    assert_eq!(entry[0]["owner"], json!("clerk"));
    let alone = engine.run_value(owned(update.clone(), "clerk"));
    assert_eq!(code(&alone), "PERMISSION_DENIED");
    let with_agent = as_agent("clerk", "planner-1", update.clone());
    assert_eq!(code(&with_agent), "PERMISSION_DENIED");
    // An agent that happens to be a powerful user lends no rights.
    for agent in ["manager", ADMIN] {
        let run = as_agent("clerk", agent, update.clone());
        assert_eq!(code(&run), "PERMISSION_DENIED", "agent {agent}");
    }
    assert_eq!(doc(&engine, "Invoice", "I-1").unwrap()["amount"], json!(1));
    // An agent that is no user takes nothing away either.
    let run = as_agent("manager", "ghost-agent", update.clone());
    assert!(run.success, "{:?}", run.error);
    assert_eq!(doc(&engine, "Invoice", "I-1").unwrap()["amount"], json!(5));
    // An owner that is not a User is denied, whatever the agent.
    for agent in ["planner-1", ADMIN] {
        let run = as_agent("ghost", agent, create("I-ghost"));
        assert_eq!(code(&run), "PERMISSION_DENIED", "agent {agent}");
        assert!(message(&run).contains("ghost"), "{}", message(&run));
    }
    // No owner at all is denied once access control is on (an agent alone is not enough).
    let mut anonymous = create("I-anon");
    anonymous["agent"] = json!(ADMIN);
    let run = engine.run_value(anonymous);
    assert_eq!(code(&run), "PERMISSION_DENIED");
    assert!(message(&run).contains("owner"), "{}", message(&run));
    let run = engine.run(RunRequest::new("select").from("Invoice"));
    assert_eq!(code(&run), "PERMISSION_DENIED");
    assert!(doc(&engine, "Invoice", "I-ghost").is_none());
    assert!(doc(&engine, "Invoice", "I-anon").is_none());
    // A disabled user is denied.
    admin_ok(
        &engine,
        json!({"operation": "update", "in": "User", "input": {"name": "manager", "data": {"enabled": 0}}}),
    );
    let run = as_agent("manager", "planner-1", update);
    assert_eq!(code(&run), "PERMISSION_DENIED");
}

#[test]
fn with_access_control_off_no_owner_is_needed() {
    let engine = engine();
    assert!(!engine.acl_enabled().unwrap());
    let imported = engine.import_schemas(schemas());
    assert!(imported.success, "{:?}", imported.error);
    // Memo has no permission rows, nobody is a User: still everything works.
    for doctype in DOCTYPES {
        ok(
            &engine,
            json!({"operation": "create", "into": doctype, "input": {"data": {"name": "x", "amount": 1}}}),
        );
        ok(
            &engine,
            json!({"operation": "update", "in": doctype, "owner": "ghost",
                   "input": {"name": "x", "data": {"amount": 2}}}),
        );
        assert_eq!(count(&engine, doctype), 1);
        ok(
            &engine,
            json!({"operation": "delete", "from": doctype, "input": {"name": "x"}}),
        );
    }
    // On, then off again: back to the single local user.
    engine.enable_acl(ADMIN, None).unwrap();
    assert!(engine.acl_enabled().unwrap());
    fails(
        &engine,
        json!({"operation": "select", "from": "Memo"}),
        "PERMISSION_DENIED",
    );
    engine.disable_acl(ADMIN).unwrap();
    assert!(!engine.acl_enabled().unwrap());
    ok(
        &engine,
        json!({"operation": "create", "into": "Memo", "input": {"data": {"amount": 3}}}),
    );
}

// --- if_owner -------------------------------------------------------------------------------

#[test]
fn if_owner_filters_selects_and_guards_updates_and_deletes() {
    let engine = setup();
    let create = |owner: &str, name: &str| {
        ok(
            &engine,
            json!({"operation": "create", "into": "Invoice", "owner": owner,
                   "input": {"data": {"name": name, "amount": 1}}}),
        );
    };
    create("sales", "s1");
    create("sales", "s2");
    create("clerk", "c1");
    create(ADMIN, "a1");
    let select = |input: Value| {
        ok(
            &engine,
            json!({"operation": "select", "from": "Invoice", "owner": "sales", "input": input}),
        )
    };
    let mine = select(json!({"orderBy": {"name": "asc"}}));
    assert_eq!(names(&mine), ["s1", "s2"]);
    assert_eq!(
        mine.output["meta"]["total"],
        json!(2),
        "no count of others leaks"
    );
    // Paging applies to what the owner may see (a1 and c1 sort before s1).
    assert_eq!(
        names(&select(json!({"orderBy": {"name": "asc"}, "take": 1}))),
        ["s1"]
    );
    assert_eq!(
        names(&select(
            json!({"orderBy": {"name": "asc"}, "skip": 1, "take": 5})
        )),
        ["s2"]
    );
    let counted = select(json!({"orderBy": {"name": "asc"}, "take": 1}));
    assert_eq!(counted.output["meta"]["total"], json!(2));
    // Asking for someone else's document is an empty answer, not a failure.
    assert!(select(json!({"where": {"name": "c1"}})).data().is_empty());
    assert!(
        select(json!({"where": {"owner": "clerk"}}))
            .data()
            .is_empty()
    );
    // clerk reads everything.
    let all = ok(
        &engine,
        json!({"operation": "select", "from": "Invoice", "owner": "clerk"}),
    );
    assert_eq!(all.data().len(), 4);
    // Through a script, the same filter.
    let scripted = ok(
        &engine,
        json!({"operation": "as_owner", "owner": "sales",
               "input": {"req": {"operation": "select", "from": "Invoice"}}}),
    );
    let mut got = names(&scripted);
    got.sort();
    assert_eq!(got, ["s1", "s2"]);

    // Own documents may be changed ...
    ok(
        &engine,
        json!({"operation": "update", "in": "Invoice", "owner": "sales",
               "input": {"name": "s1", "data": {"amount": 10}}}),
    );
    assert_eq!(doc(&engine, "Invoice", "s1").unwrap()["amount"], json!(10));
    // ... someone else's not: by name it is refused; a where reaches only the owner's own
    // documents, as a select's does (issue 11: no refusal naming a foreign match).
    let run = fails(
        &engine,
        json!({"operation": "update", "in": "Invoice", "owner": "sales",
               "input": {"name": "c1", "data": {"amount": 99}}}),
        "PERMISSION_DENIED",
    );
    assert!(message(&run).contains("Invoice") && message(&run).contains("update"));
    let everything = ok(
        &engine,
        json!({"operation": "update", "in": "Invoice", "owner": "sales",
               "input": {"where": {}, "data": {"amount": 99}}}),
    );
    assert_eq!(names(&everything), ["s1", "s2"]);
    for name in ["c1", "a1"] {
        let amount = doc(&engine, "Invoice", name).unwrap()["amount"].clone();
        assert_ne!(
            amount,
            json!(99),
            "{name} was changed by an update of sales"
        );
    }
    let run = fails(
        &engine,
        json!({"operation": "delete", "from": "Invoice", "owner": "sales", "input": {"name": "a1"}}),
        "PERMISSION_DENIED",
    );
    assert!(message(&run).contains("Invoice") && message(&run).contains("delete"));
    let none = ok(
        &engine,
        json!({"operation": "delete", "from": "Invoice", "owner": "sales",
               "input": {"where": {"name": "a1"}}}),
    );
    assert!(none.data().is_empty());
    assert_eq!(docs(&engine, "Invoice").len(), 4);
    ok(
        &engine,
        json!({"operation": "delete", "from": "Invoice", "owner": "sales", "input": {"name": "s2"}}),
    );
    assert_eq!(names_of(&docs(&engine, "Invoice")), ["a1", "c1", "s1"]);
}

#[test]
fn the_owner_meta_field_cannot_be_forged_to_reach_other_documents() {
    let engine = setup();
    let created = ok(
        &engine,
        json!({"operation": "create", "into": "Invoice", "owner": "sales",
               "input": {"data": {"name": "forged", "owner": "clerk", "amount": 1}}}),
    );
    assert_eq!(created.data()[0]["owner"], json!("sales"));
    ok(
        &engine,
        json!({"operation": "update", "in": "Invoice", "owner": "sales",
               "input": {"name": "forged", "data": {"owner": "clerk", "modifiedBy": "clerk"}}}),
    );
    let stored = doc(&engine, "Invoice", "forged").unwrap();
    assert_eq!(stored["owner"], json!("sales"));
    assert_eq!(stored["modifiedBy"], json!("sales"));
    // Still the sales user's: they see it, and may delete it.
    let mine = ok(
        &engine,
        json!({"operation": "select", "from": "Invoice", "owner": "sales"}),
    );
    assert_eq!(names(&mine), ["forged"]);
}

#[test]
fn users_cannot_grant_themselves_rights() {
    let engine = setup();
    let attempts = [
        // more roles for oneself
        json!({"operation": "update", "in": "User", "input": {"name": "clerk",
               "data": {"roles": ["Administrator"]}}}),
        // a new superuser
        json!({"operation": "create", "into": "User", "input": {"data": {"name": "clerk2",
               "roles": ["Administrator"]}}}),
        // access control off
        json!({"operation": "update", "in": "System Settings", "input": {"name": "acl",
               "data": {"enabled": 0}}}),
        json!({"operation": "delete", "from": "System Settings", "input": {"name": "acl"}}),
        // wider permission rows, or a schema of one's own
        json!({"operation": "update", "in": "Schema", "input": {"name": "Invoice",
               "data": {"permissions": [{"role": "Accounts User", "read": 1, "write": 1,
                                         "create": 1, "delete": 1}]}}}),
        json!({"operation": "delete", "from": "Schema", "input": {"name": "Invoice"}}),
        json!({"operation": "create", "into": "Schema", "input": {"data": {"name": "Mine",
               "fields": [], "permissions": [{"role": "Accounts User", "read": 1}]}}}),
        // an operation, a template
        json!({"operation": "create", "into": "Operation", "input": {"data": {"name": "mine",
               "handlerCode": "1"}}}),
        json!({"operation": "create", "into": "Workflow Template", "input": {"data": {
               "name": "Mine", "children": [{"id": "a", "operation": "select", "from": "Memo"}]}}}),
        // aliases, the `doctype` key and dry runs are no way around
        json!({"operation": "read", "from": "Memo"}),
        json!({"operation": "insert", "into": "Memo", "input": {"data": {"amount": 1}}}),
        json!({"operation": "delete", "doctype": "Invoice", "input": {"where": {}}}),
        json!({"operation": "create", "into": "Memo", "input": {"data": {"amount": 1}},
               "options": {"dryRun": true}}),
        json!({"operation": "update", "in": "Invoice", "input": {"where": {}, "data": {"amount": 0}},
               "options": {"dryRun": true}}),
    ];
    admin_ok(
        &engine,
        json!({"operation": "create", "into": "Invoice", "input": {"data": {"name": "I-1", "amount": 5}}}),
    );
    let watched = [
        "User",
        "System Settings",
        "Schema",
        "Operation",
        "Workflow Template",
        "Invoice",
        "Memo",
    ];
    let before: Vec<Vec<Value>> = watched.iter().map(|d| docs(&engine, d)).collect();
    for request in attempts {
        for agent in ["clerk", "planner-1", ADMIN] {
            let mut request = owned(request.clone(), "clerk");
            request["agent"] = json!(agent);
            let run = engine.run_value(request.clone());
            assert_eq!(
                code(&run),
                "PERMISSION_DENIED",
                "{request}: {:?}",
                run.error
            );
        }
    }
    let after: Vec<Vec<Value>> = watched.iter().map(|d| docs(&engine, d)).collect();
    assert_eq!(before, after);
    assert!(engine.acl_enabled().unwrap());
}

// --- operations' roles, the superuser, nested identity --------------------------------------

fn write_pack(dir: &Path, name: &str, op: &str) {
    std::fs::create_dir_all(dir.join("operations")).unwrap();
    std::fs::write(
        dir.join("pack.json"),
        json!({"name": name, "version": "1.0.0"}).to_string(),
    )
    .unwrap();
    std::fs::write(
        dir.join("operations").join(format!("{op}.json")),
        json!({"name": op}).to_string(),
    )
    .unwrap();
    std::fs::write(dir.join("operations").join(format!("{op}.rhai")), "42").unwrap();
}

#[test]
fn an_operations_roles_decide_who_may_run_it() {
    let engine = setup();
    admin_ok(
        &engine,
        json!({"operation": "create", "into": "Operation", "input": {"data": {
            "name": "approve", "roles": ["Accounts Manager"], "handlerCode": "\"approved\""}}}),
    );
    admin_ok(
        &engine,
        json!({"operation": "create", "into": "Operation", "input": {"data": {
            "name": "hello", "handlerCode": "\"hi\""}}}),
    );
    for user in ["manager", ADMIN] {
        let run = ok(&engine, json!({"operation": "approve", "owner": user}));
        assert_eq!(run.output, json!("approved"), "{user}");
    }
    for user in ["clerk", "sales", "nobody"] {
        let run = fails(
            &engine,
            json!({"operation": "approve", "owner": user}),
            "PERMISSION_DENIED",
        );
        assert!(message(&run).contains("approve"), "{}", message(&run));
        let entries = audit(&engine, json!({"runId": run.id}));
        assert_eq!(entries.len(), 1, "{user}");
        assert_eq!(entries[0]["action"], json!("denied"));
        // An agent on the manager's behalf may; on the clerk's behalf may not.
        let mut request = json!({"operation": "approve", "owner": user, "agent": "manager"});
        assert_eq!(
            code(&engine.run_value(request.clone())),
            "PERMISSION_DENIED"
        );
        request["owner"] = json!("manager");
        request["agent"] = json!(user);
        assert!(engine.run_value(request).success);
    }
    // Through a workflow step and a script: the same.
    let step = |user: &str| {
        engine.run_value(json!({"operation": "workflow", "owner": user,
            "input": {"children": [{"id": "a", "operation": "approve"}]}}))
    };
    assert!(step("manager").success);
    assert_eq!(code(&step("clerk")), "PERMISSION_DENIED");
    let scripted = |user: &str| {
        engine.run_value(json!({"operation": "as_owner", "owner": user,
            "input": {"req": {"operation": "approve"}}}))
    };
    assert_eq!(scripted("manager").output, json!("approved"));
    assert_eq!(code(&scripted("clerk")), "PERMISSION_DENIED");
    // Without roles: open to every user.
    assert_eq!(
        ok(&engine, json!({"operation": "hello", "owner": "nobody"})).output,
        json!("hi")
    );
    // Only the superuser may write Operations (no permission rows on the Operation schema).
    fails(
        &engine,
        json!({"operation": "create", "into": "Operation", "owner": "manager",
               "input": {"data": {"name": "mine", "handlerCode": "1"}}}),
        "PERMISSION_DENIED",
    );
    fails(
        &engine,
        json!({"operation": "update", "in": "Operation", "owner": "manager",
               "input": {"name": "approve", "data": {"roles": []}}}),
        "PERMISSION_DENIED",
    );
}

#[test]
fn installing_a_pack_is_the_superusers_alone() {
    let engine = setup();
    let dir = tempfile::tempdir().unwrap();
    write_pack(dir.path(), "tiny", "tiny_answer");
    for user in ["manager", "clerk", "nobody"] {
        let run = engine.with_owner(user).install_pack(dir.path());
        assert_eq!(code(&run), "PERMISSION_DENIED", "{user}: {:?}", run.error);
        assert!(message(&run).contains("install_pack"), "{}", message(&run));
    }
    fails(
        &engine,
        json!({"operation": "tiny_answer", "owner": ADMIN}),
        "UNKNOWN_OPERATION",
    );
    assert!(docs(&engine, "Pack").is_empty());
    let run = engine.with_owner(ADMIN).install_pack(dir.path());
    assert!(run.success, "{:?}", run.error);
    let answer = ok(
        &engine,
        json!({"operation": "tiny_answer", "owner": "nobody"}),
    );
    assert_eq!(answer.output, json!(42));
}

#[test]
fn nested_runs_act_for_the_caller_whoever_wrote_the_script() {
    let engine = setup();
    admin_ok(
        &engine,
        json!({"operation": "create", "into": "Memo", "input": {"data": {"name": "secret", "amount": 1}}}),
    );
    // The superuser writes a script that tries to act for the superuser.
    admin_ok(
        &engine,
        json!({"operation": "create", "into": "Operation", "input": {"data": {"name": "peek",
            "handlerCode": r#"
                let read = run(#{operation: "select", from: "Memo", owner: "Administrator", agent: "Administrator"});
                let write = run(#{operation: "create", into: "Memo", owner: "Administrator", input: #{data: #{name: "planted"}}});
                #{read: read.success, write: write.success,
                  codes: [if read.success { "" } else { read.error.code }, if write.success { "" } else { write.error.code }],
                  seen: if read.success { read.output.data.len() } else { 0 }}
            "#}}}),
    );
    let run = ok(
        &engine,
        json!({"operation": "peek", "owner": "clerk", "agent": "planner-1"}),
    );
    assert_eq!(run.output["read"], json!(false), "{}", run.output);
    assert_eq!(run.output["write"], json!(false), "{}", run.output);
    assert_eq!(
        run.output["codes"],
        json!(["PERMISSION_DENIED", "PERMISSION_DENIED"])
    );
    assert_eq!(run.output["seen"], json!(0));
    assert_eq!(run.child_run_ids.len(), 2);
    for id in &run.child_run_ids {
        let child = stored(&engine, id);
        assert_eq!(child.owner.as_deref(), Some("clerk"), "child {id}");
        assert_eq!(child.agent.as_deref(), Some("planner-1"), "child {id}");
        assert_eq!(child.parent_run_id.as_deref(), Some(run.id.as_str()));
    }
    assert!(doc(&engine, "Memo", "planted").is_none());
    // The superuser running the same script may do both.
    let run = ok(&engine, json!({"operation": "peek", "owner": ADMIN}));
    assert_eq!(run.output["read"], json!(true));
    assert_eq!(run.output["write"], json!(true));
    assert!(doc(&engine, "Memo", "planted").is_some());

    // A workflow step naming another owner still acts for the caller.
    let run = fails(
        &engine,
        json!({"operation": "workflow", "owner": "clerk", "input": {"children": [
            {"id": "s", "operation": "select", "from": "Memo", "owner": ADMIN, "agent": ADMIN}]}}),
        "PERMISSION_DENIED",
    );
    let step = stored(&engine, &run.child_run_ids[0]);
    assert_eq!(step.owner.as_deref(), Some("clerk"));
    assert_eq!(code(&step), "PERMISSION_DENIED");
    // A saved template written by the superuser, run by the clerk: the clerk's rights.
    admin_ok(
        &engine,
        json!({"operation": "create", "into": "Workflow Template", "input": {"data": {
            "name": "Wipe Memos", "children": [
                {"id": "wipe", "operation": "delete", "from": "Memo", "input": {"where": {}}}]}}}),
    );
    fails(
        &engine,
        json!({"operation": "workflow", "template": "Wipe Memos", "owner": "clerk"}),
        "PERMISSION_DENIED",
    );
    assert_eq!(docs(&engine, "Memo").len(), 2);
    // Nested twice (a workflow step running the script): still the clerk.
    let run = ok(
        &engine,
        json!({"operation": "workflow", "owner": "clerk", "input": {"children": [
            {"id": "p", "operation": "peek"}]}}),
    );
    assert_eq!(run.output["steps"][0]["output"]["read"], json!(false));
    let step = stored(&engine, &run.child_run_ids[0]);
    assert_eq!(step.child_run_ids.len(), 2, "the script's two nested runs");
    for id in &step.child_run_ids {
        assert_eq!(stored(&engine, id).owner.as_deref(), Some("clerk"));
    }
    assert_eq!(docs(&engine, "Memo").len(), 2);
}

#[test]
fn the_superuser_role_is_configurable() {
    let engine = engine();
    engine.enable_acl("root", Some("Root")).unwrap();
    assert!(engine.acl_enabled().unwrap());
    let user = ok(
        &engine,
        json!({"operation": "select", "from": "User", "owner": "root", "input": {"where": {"name": "root"}}}),
    );
    assert_eq!(user.data()[0]["roles"], json!(["Root"]));
    let root = engine.with_owner("root");
    let imported = root.import_schemas(schemas());
    assert!(imported.success, "{:?}", imported.error);
    ok(
        &engine,
        json!({"operation": "create", "into": "User", "owner": "root", "input": {"data": {
            "name": "old-admin", "roles": ["Administrator"]}}}),
    );
    // `Administrator` is just a role now; `Root` may do anything.
    fails(
        &engine,
        json!({"operation": "create", "into": "Memo", "owner": "old-admin", "input": {"data": {"amount": 1}}}),
        "PERMISSION_DENIED",
    );
    fails(
        &engine,
        json!({"operation": "select", "from": "Scratch", "owner": "old-admin"}),
        "PERMISSION_DENIED",
    );
    for doctype in DOCTYPES {
        ok(
            &engine,
            json!({"operation": "create", "into": doctype, "owner": "root",
                   "input": {"data": {"name": "r", "amount": 1}}}),
        );
        ok(
            &engine,
            json!({"operation": "delete", "from": doctype, "owner": "root", "input": {"name": "r"}}),
        );
    }
    // Turning access control off takes the superuser.
    assert!(engine.disable_acl("old-admin").is_err());
    assert!(engine.acl_enabled().unwrap());
    engine.disable_acl("root").unwrap();
    assert!(!engine.acl_enabled().unwrap());
}

// --- rate limits ----------------------------------------------------------------------------

#[test]
fn rate_limits_per_owner_are_off_by_default_and_give_limit_exceeded() {
    let engine = setup();
    let select = |owner: &str, agent: &str| {
        engine.run_value(
            json!({"operation": "select", "from": "Invoice", "owner": owner, "agent": agent}),
        )
    };
    for _ in 0..30 {
        assert!(select("clerk", "planner-1").success, "no limit by default");
    }
    engine.set_rate_limit(ADMIN, Some((2.0, 3.0))).unwrap();
    for i in 0..3 {
        let run = select("clerk", &format!("agent-{i}"));
        assert!(run.success, "run {i} of the burst: {:?}", run.error);
    }
    // The burst is spent, whichever agent asks for the clerk.
    for agent in ["agent-0", "agent-9"] {
        let run = select("clerk", agent);
        assert_eq!(code(&run), "LIMIT_EXCEEDED", "{:?}", run.error);
        assert!(message(&run).contains("clerk"), "{}", message(&run));
    }
    let denied_write = engine.run_value(json!({"operation": "create", "into": "Invoice",
        "owner": "clerk", "input": {"data": {"name": "limited"}}}));
    assert_eq!(code(&denied_write), "LIMIT_EXCEEDED");
    assert!(doc(&engine, "Invoice", "limited").is_none());
    // Another owner has a bucket of its own; a workflow counts once, its steps not at all.
    let workflow = engine.run_value(json!({"operation": "workflow", "owner": "manager",
        "input": {"children": [
            {"id": "a", "operation": "select", "from": "Invoice"},
            {"id": "b", "operation": "select", "from": "Invoice"},
            {"id": "c", "operation": "select", "from": "Invoice"},
            {"id": "d", "operation": "select", "from": "Invoice"},
            {"id": "e", "operation": "select", "from": "Invoice"}]}}));
    assert!(workflow.success, "{:?}", workflow.error);
    for _ in 0..2 {
        assert!(select("manager", "m").success);
    }
    assert_eq!(code(&select("manager", "m")), "LIMIT_EXCEEDED");
    // Tokens come back at the configured rate (2 a second): poll until one is back, with a
    // bound far above half a second, then the next run finds the bucket empty again.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let mut waits = 0;
    loop {
        let run = select("clerk", "planner-1");
        if run.success {
            break;
        }
        assert_eq!(code(&run), "LIMIT_EXCEEDED", "{:?}", run.error);
        assert!(
            std::time::Instant::now() < deadline,
            "no token came back within 10 s at 2 a second ({waits} polls)"
        );
        waits += 1;
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(code(&select("clerk", "planner-1")), "LIMIT_EXCEEDED");
    // Lifting the limit (the superuser's own burst is enough for it).
    engine.set_rate_limit(ADMIN, None).unwrap();
    for _ in 0..10 {
        assert!(select("clerk", "planner-1").success);
    }
}

// --- timeouts, batches -------------------------------------------------------------------

fn timeout(ms: u64) -> RunOptions {
    RunOptions {
        timeout_ms: Some(ms),
        ..RunOptions::default()
    }
}

fn slow_op(engine: &Engine) {
    ok(
        engine,
        json!({"operation": "create", "into": "Operation", "input": {"data": {"name": "slow",
            "limits": {"maxOperations": 1_000_000_000u64},
            "handlerCode": r#"
                run(#{operation: "create", into: "Note", input: #{data: #{name: "slow-1"}}});
                let i = 0;
                loop { i += 1; }
            "#}}}),
    );
}

#[test]
fn options_timeout_ms_fails_a_slow_run_and_rolls_its_writes_back() {
    let engine = engine();
    slow_op(&engine);
    let started = Instant::now();
    let run = engine.run(RunRequest::new("slow").options(timeout(50)));
    let took = started.elapsed();
    assert_eq!(code(&run), "TIMEOUT", "{:?}", run.error);
    assert!(took < Duration::from_millis(1000), "took {took:?}");
    assert_eq!(
        count(&engine, "Note"),
        0,
        "the timed-out run's write remains"
    );
    assert_eq!(stored(&engine, &run.id).status, RunStatus::Failed);
    // Runs within their time succeed, built-ins included.
    for request in [
        RunRequest::new("create")
            .into_doctype("Note")
            .input(json!({"data": {"name": "quick"}})),
        RunRequest::new("select").from("Note"),
    ] {
        let run = engine.run(request.options(timeout(10_000)));
        assert!(run.success, "{:?}", run.error);
        assert_eq!(run.options.timeout_ms, Some(10_000));
    }
    assert_eq!(count(&engine, "Note"), 1);
}

#[test]
fn a_workflows_timeout_bounds_its_steps() {
    let engine = engine();
    slow_op(&engine);
    // A workflow given 100 ms: its slow step does not get more.
    let started = Instant::now();
    let run = engine.run(
        RunRequest::new("workflow")
            .input(json!({"children": [
                {"id": "w", "operation": "create", "into": "Note", "input": {"data": {"name": "w1"}}},
                {"id": "s", "operation": "slow"}]}))
            .options(timeout(100)),
    );
    let took = started.elapsed();
    assert_eq!(code(&run), "TIMEOUT", "{:?}", run.error);
    assert!(took < Duration::from_millis(1000), "took {took:?}");
    assert_eq!(count(&engine, "Note"), 0);
}

fn create_note(name: &str) -> RunRequest {
    RunRequest::new("create")
        .into_doctype("Note")
        .input(json!({"data": {"name": name}}))
}

fn missing_update() -> RunRequest {
    RunRequest::new("update")
        .in_doctype("Note")
        .input(json!({"name": "missing", "data": {"x": 1}}))
}

#[test]
fn run_batch_stops_at_the_first_failure_only_when_asked() {
    let engine = engine();
    let runs = engine.run_batch(
        vec![create_note("b1"), missing_update(), create_note("b3")],
        true,
    );
    assert_eq!(runs.len(), 2);
    assert!(runs[0].success);
    assert_eq!(code(&runs[1]), "NOT_FOUND");
    assert_eq!(
        names(&engine.run(RunRequest::new("select").from("Note"))),
        ["b1"]
    );
    let runs = engine.run_batch(
        vec![create_note("b4"), missing_update(), create_note("b6")],
        false,
    );
    assert_eq!(runs.len(), 3);
    assert_eq!(
        runs.iter().map(|r| r.success).collect::<Vec<_>>(),
        [true, false, true]
    );
    // Each request is its own top-level run, recorded.
    for run in &runs {
        assert_eq!(run.parent_run_id, None);
        assert_eq!(run.chain_id, run.id);
        assert_eq!(stored(&engine, &run.id).success, run.success);
    }
    let mut found = names(&engine.run(RunRequest::new("select").from("Note")));
    found.sort();
    assert_eq!(found, ["b1", "b4", "b6"]);
    assert!(engine.run_batch(Vec::new(), true).is_empty());
}

#[test]
fn run_parallel_returns_the_runs_in_request_order() {
    let engine = engine();
    let mut requests = Vec::new();
    for i in 0..12 {
        requests.push(match i % 4 {
            3 => missing_update(),
            2 => RunRequest::new("select").from("Note"),
            _ => create_note(&format!("p{i}")),
        });
    }
    let runs = engine.run_parallel(requests.clone());
    assert_eq!(runs.len(), requests.len());
    for (i, (run, request)) in runs.iter().zip(&requests).enumerate() {
        assert_eq!(run.operation, request.operation, "run {i}");
        assert_eq!(run.input, request.input, "run {i}");
        assert_eq!(run.success, i % 4 != 3, "run {i}: {:?}", run.error);
    }
    let mut found = names(&engine.run(RunRequest::new("select").from("Note")));
    found.sort();
    let mut wanted: Vec<String> = (0..12)
        .filter(|i| i % 4 < 2)
        .map(|i| format!("p{i}"))
        .collect();
    wanted.sort();
    assert_eq!(found, wanted);
}

#[test]
fn batches_and_parallel_runs_are_checked_per_owner() {
    let engine = setup();
    let clerk = |request: RunRequest| request.owner("clerk");
    let runs = engine.run_parallel(vec![
        clerk(create_invoice("pi-1")),
        clerk(
            RunRequest::new("delete")
                .from("Invoice")
                .input(json!({"where": {}})),
        ),
        clerk(create_invoice("pi-2")),
    ]);
    assert!(runs[0].success && runs[2].success);
    assert_eq!(code(&runs[1]), "PERMISSION_DENIED");
    let runs = engine.run_batch(
        vec![
            clerk(create_invoice("pb-1")),
            create_invoice("pb-anon"),
            clerk(create_invoice("pb-3")),
        ],
        true,
    );
    assert_eq!(runs.len(), 2);
    assert_eq!(code(&runs[1]), "PERMISSION_DENIED");
    assert_eq!(
        names_of(&docs(&engine, "Invoice")),
        ["pb-1", "pi-1", "pi-2"]
    );
}

fn create_invoice(name: &str) -> RunRequest {
    RunRequest::new("create")
        .into_doctype("Invoice")
        .input(json!({"data": {"name": name}}))
}

// --- events -------------------------------------------------------------------------------

type Log = Arc<Mutex<Vec<(&'static str, Run)>>>;
/// What an after-run callback saw of a create: its id, its stored status, whether the
/// document was visible.
type SeenInside = Arc<Mutex<Vec<(String, Option<RunStatus>, usize)>>>;

#[test]
fn callbacks_receive_runs_and_after_run_sees_them_committed() {
    let log: Log = Arc::default();
    let seen_inside: SeenInside = Arc::default();
    let handle: Arc<OnceLock<Engine>> = Arc::default();
    let (before_log, after_log, error_log) = (log.clone(), log.clone(), log.clone());
    let (inside, cell) = (seen_inside.clone(), handle.clone());
    let engine = Engine::builder()
        .before_run(move |run| before_log.lock().unwrap().push(("before", run.clone())))
        .after_run(move |run| {
            after_log.lock().unwrap().push(("after", run.clone()));
            if run.operation.as_deref() == Some("create") {
                let engine = cell.get().expect("the engine is built");
                let stored = engine.get_run(&run.id).unwrap().map(|r| r.status);
                let name = run.input["data"]["name"].clone();
                let visible = engine
                    .run(
                        RunRequest::new("select")
                            .from("Note")
                            .input(json!({"where": {"name": name}})),
                    )
                    .data()
                    .len();
                inside
                    .lock()
                    .unwrap()
                    .push((run.id.clone(), stored, visible));
            }
        })
        .on_run_error(move |run| error_log.lock().unwrap().push(("error", run.clone())))
        .in_memory()
        .unwrap();
    assert!(handle.set(engine.clone()).is_ok());

    let created = engine.run(create_note("n1"));
    assert!(created.success);
    {
        let log = log.lock().unwrap();
        let kinds: Vec<&str> = log.iter().map(|(k, _)| *k).collect();
        // before(create), after(create), then the callback's own select: before, after.
        assert_eq!(kinds, ["before", "after", "before", "after"]);
        assert_eq!(log[0].1.id, created.id);
        assert_eq!(log[0].1.status, RunStatus::Pending);
        assert_eq!(
            log[0].1.input, created.input,
            "before_run sees the request's input"
        );
        assert_eq!(log[1].1, created, "after_run receives the run as returned");
    }
    assert_eq!(
        *seen_inside.lock().unwrap(),
        [(created.id.clone(), Some(RunStatus::Completed), 1)]
    );
    log.lock().unwrap().clear();

    // A failed run: before and error, never after.
    let failed = engine.run(missing_update());
    {
        let log = log.lock().unwrap();
        let kinds: Vec<&str> = log.iter().map(|(k, _)| *k).collect();
        assert_eq!(kinds, ["before", "error"]);
        assert_eq!(log[1].1, failed);
        assert_eq!(code(&log[1].1), "NOT_FOUND");
    }
    log.lock().unwrap().clear();

    // Nested runs are not top-level runs: one before and one after for a script.
    ok(
        &engine,
        json!({"operation": "create", "into": "Operation", "input": {"data": {"name": "two_notes",
            "handlerCode": r#"run(#{operation: "create", into: "Note", input: #{data: #{name: "n2"}}});
                               run(#{operation: "create", into: "Note", input: #{data: #{name: "n3"}}}); 2"#}}}),
    );
    log.lock().unwrap().clear();
    let scripted = engine.run(RunRequest::new("two_notes"));
    assert!(scripted.success, "{:?}", scripted.error);
    let log = log.lock().unwrap();
    let ids: Vec<(&str, &str)> = log.iter().map(|(k, r)| (*k, r.id.as_str())).collect();
    assert_eq!(
        ids,
        [
            ("before", scripted.id.as_str()),
            ("after", scripted.id.as_str())
        ]
    );
}

#[test]
fn a_panicking_callback_breaks_neither_the_run_nor_the_store() {
    let after_calls = Arc::new(Mutex::new(0));
    let counter = after_calls.clone();
    let store = TempStore::new();
    let engine = Engine::builder()
        .before_run(|_| panic!("before hook fails"))
        .after_run(|_| panic!("after hook fails"))
        .after_run(move |_| *counter.lock().unwrap() += 1)
        .on_run_error(|_| panic!("error hook fails"))
        .open(&store.path)
        .unwrap();
    let created = engine.run(create_note("n1"));
    assert!(created.success, "{:?}", created.error);
    assert_eq!(*after_calls.lock().unwrap(), 1, "later callbacks still run");
    let failed = engine.run(missing_update());
    assert_eq!(code(&failed), "NOT_FOUND");
    let updated = engine.run(
        RunRequest::new("update")
            .in_doctype("Note")
            .input(json!({"name": "n1", "data": {"done": true}})),
    );
    assert!(updated.success, "{:?}", updated.error);
    assert_eq!(stored(&engine, &created.id), created);
    assert_eq!(stored(&engine, &failed.id), failed);
    assert_eq!(engine.verify_audit().unwrap().broken, None);
    drop(engine);
    let engine = store.open();
    let notes = engine.run(RunRequest::new("select").from("Note"));
    assert_eq!(notes.data().len(), 1);
    assert_eq!(notes.data()[0]["done"], json!(true));
    assert_eq!(stored(&engine, &updated.id), updated);
    assert_eq!(engine.verify_audit().unwrap().broken, None);
}

// --- CLI --------------------------------------------------------------------------------

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

#[test]
fn on_run_error_hears_of_every_failed_top_level_run_even_a_malformed_one() {
    let failed: Arc<Mutex<Vec<Run>>> = Arc::default();
    let log = failed.clone();
    let engine = Engine::builder()
        .on_run_error(move |run| log.lock().unwrap().push(run.clone()))
        .in_memory()
        .unwrap();
    let runs = [
        engine.run(missing_update()),
        engine.run_json("{not json"),
        engine.run_value(json!({"operation": "select", "frm": "Note"})),
        engine.run(RunRequest::new("no_such_operation")),
    ];
    for run in &runs {
        assert!(!run.success);
        assert!(engine.get_run(&run.id).unwrap().is_some(), "recorded");
    }
    let heard: Vec<String> = failed
        .lock()
        .unwrap()
        .iter()
        .map(|r| r.id.clone())
        .collect();
    let wanted: Vec<String> = runs.iter().map(|r| r.id.clone()).collect();
    assert_eq!(heard, wanted);
}

#[test]
fn role_and_permission_changes_take_effect_at_once() {
    let engine = setup();
    admin_ok(
        &engine,
        json!({"operation": "create", "into": "Invoice", "input": {"data": {"name": "I-1", "amount": 1}}}),
    );
    let update = |amount: i64| {
        engine.run_value(
            json!({"operation": "update", "in": "Invoice", "owner": "clerk",
            "input": {"name": "I-1", "data": {"amount": amount}}}),
        )
    };
    let set_roles = |roles: Value| {
        admin_ok(
            &engine,
            json!({"operation": "update", "in": "User", "input": {"name": "clerk", "data": {"roles": roles}}}),
        );
    };
    assert_eq!(code(&update(2)), "PERMISSION_DENIED");
    set_roles(json!(["Accounts Manager"]));
    assert!(update(3).success, "a granted role counts at once");
    set_roles(json!(["Accounts User"]));
    assert_eq!(
        code(&update(4)),
        "PERMISSION_DENIED",
        "a revoked role counts at once"
    );
    // Child-row form of roles (Frappe's `Has Role`).
    set_roles(json!([{"role": "Accounts Manager"}]));
    assert!(update(5).success);
    set_roles(json!([]));
    // Permission rows of the schema.
    assert_eq!(code(&update(6)), "PERMISSION_DENIED");
    let mut invoice = engine.schema("Invoice").unwrap().unwrap();
    invoice["permissions"] = json!([{"role": "Clerk Plus", "read": 1, "write": 1}]);
    admin_ok(
        &engine,
        json!({"operation": "update", "in": "Schema", "input": {"name": "Invoice",
               "data": {"permissions": invoice["permissions"]}}}),
    );
    set_roles(json!(["Clerk Plus"]));
    assert!(update(7).success);
    admin_ok(
        &engine,
        json!({"operation": "update", "in": "Schema", "input": {"name": "Invoice",
               "data": {"permissions": [{"role": "Clerk Plus", "read": 1}]}}}),
    );
    assert_eq!(
        code(&update(8)),
        "PERMISSION_DENIED",
        "a narrowed row counts at once"
    );
    // A user deleted is no longer anyone.
    admin_ok(
        &engine,
        json!({"operation": "delete", "from": "User", "input": {"name": "clerk"}}),
    );
    let run = engine.run_value(json!({"operation": "select", "from": "Invoice", "owner": "clerk"}));
    assert_eq!(code(&run), "PERMISSION_DENIED");
    assert_eq!(doc(&engine, "Invoice", "I-1").unwrap()["amount"], json!(7));
}
