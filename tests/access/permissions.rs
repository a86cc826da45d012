//! The permission matrix: every user × doctype × operation, through the API, scripts and
//! workflows alike, allows, denies or narrows to the owner's own documents as DocPerm says;
//! role and permission changes take effect at once.

use super::*;

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
