//! Generated requests under access control: a user with an `if_owner` grant on one doctype
//! sends mutated requests, queries and workflows (and calls handlers she may call). Whatever
//! she sends, succeeded or not, no document she may not change changes, and a select shows
//! her only her own documents.

use super::queries::*;
use super::values::*;
use super::workflows::*;
use super::*;

/// The user every case runs as.
const USER: &str = "ann";

/// The superuser (whose handle reads the digests).
const ADMIN: &str = "Administrator";

/// The fixture with access control on: `ann` (role `Staff`) may read, write, create and
/// delete her own `Fz Item` documents and call the `fz_*` operations; nothing else.
pub(super) fn acl_fresh() -> Engine {
    let engine = fresh();
    engine
        .enable_acl(ADMIN, None)
        .expect("access control turns on");
    let admin = engine.with_owner(ADMIN);
    ok(
        &admin,
        json!({"operation": "create", "into": "User",
               "input": {"data": {"name": USER, "full_name": "Ann", "roles": ["Staff"]}}}),
    );
    let perms =
        json!([{"role": "Staff", "read": 1, "write": 1, "create": 1, "delete": 1, "if_owner": 1}]);
    ok(
        &admin,
        json!({"operation": "update", "in": "Schema",
               "input": {"name": "Fz Item", "data": {"permissions": perms}}}),
    );
    for op in ["fz_echo", "fz_fail", "fz_note"] {
        ok(
            &admin,
            json!({"operation": "update", "in": "Operation",
                   "input": {"name": op, "data": {"roles": ["Staff"]}}}),
        );
    }
    ok(
        &admin,
        json!({"operation": "create", "into": "Fz Item", "owner": USER, "input": {"data": [
            {"name": "a1", "title": "Ann's", "status": "Open", "qty": 1, "code": "N1", "tag": "x"},
            {"name": "a2", "title": "Ann's too", "status": "Closed", "qty": 2, "tag": "y"}]}}),
    );
    admin
}

/// Every document `ann` may not change, as the superuser sees them.
fn protected(admin: &Engine) -> BTreeMap<String, Value> {
    let doctypes: BTreeSet<String> = WATCHED.iter().map(|s| s.to_string()).collect();
    let mut seen = digest(admin, &doctypes);
    if let Some(Value::Array(items)) = seen.get_mut("Fz Item") {
        items.retain(|doc| doc["owner"] != json!(USER));
    }
    seen
}

#[derive(Debug, Clone)]
pub(super) enum AclCase {
    Request(Value),
    Query(QueryCase),
    Workflow(WorkflowCase),
}

pub(super) fn acl_case() -> BoxedStrategy<AclCase> {
    prop_oneof![
        mutated_request().prop_map(AclCase::Request),
        query_case().prop_map(AclCase::Query),
        workflow_case().prop_map(AclCase::Workflow),
    ]
    .boxed()
}

pub(super) fn acl_test(shared: &Shared, case: AclCase) -> TestCaseResult {
    let admin = shared.get();
    let mut request = match case {
        AclCase::Request(request) => request,
        AclCase::Query(case) => query_request(&case),
        AclCase::Workflow(case) => case.inline_request(),
    };
    // The host authenticates and names the owner (the README's identity model).
    if let Value::Object(map) = &mut request {
        map.insert("owner".into(), json!(USER));
    }
    let before = protected(&admin);
    let run = check(&admin, &request)?;
    let after = protected(&admin);
    if let Some((doctype, _)) = before.iter().find(|(d, docs)| after.get(*d) != Some(docs)) {
        return Err(TestCaseError::fail(format!(
            "`{USER}` changed {doctype} ({}): {}",
            run.error.map_or("succeeded".to_string(), |e| e.message),
            cut(&request)
        )));
    }
    if run.success && run.operation.as_deref() == Some("select") {
        for doc in run.data() {
            if let Some(owner) = doc.get("owner") {
                prop_assert_eq!(owner, &json!(USER), "`{}` sees {}", USER, doc);
            }
        }
    }
    Ok(())
}
