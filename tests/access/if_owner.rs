//! `if_owner`: selects are filtered and updates and deletes guarded to the owner's documents, the
//! `owner` meta field cannot be forged, and users cannot grant themselves rights.

use super::*;

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
    let mine = select(json!({"orderBy": {"name": "asc"}, "count": true}));
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
    let counted = select(json!({"orderBy": {"name": "asc"}, "take": 1, "count": true}));
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
