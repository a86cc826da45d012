//! The fixture-driven cases: `tests/fixtures/schema_cases.json` holds setup documents and cases
//! (`request` → `expect`); one test walks them, checking outcomes and what was (not) written.

use super::*;

const CASES: &str = include_str!("../fixtures/schema_cases.json");

fn snapshot(engine: &Engine, watch: &[Value]) -> Vec<Vec<Value>> {
    watch
        .iter()
        .map(|doctype| {
            let run = engine.run(RunRequest::new("select").from(doctype.as_str().unwrap()));
            assert!(run.success, "{:?}", run.error);
            run.data().to_vec()
        })
        .collect()
}

/// What is wrong with a case's outcome, if anything.
fn check_case(
    engine: &Engine,
    watch: &[Value],
    case: &Value,
    run: &Run,
    before: &[Vec<Value>],
) -> Vec<String> {
    let name = case["name"].as_str().unwrap();
    let expect = &case["expect"];
    let mut problems = Vec::new();
    let unchanged = snapshot(engine, watch) == before;
    if expect["success"] == json!(true) {
        if !run.success {
            problems.push(format!("{name}: expected success, got {:?}", run.error));
            return problems;
        }
        if let Some(doc) = expect.get("doc") {
            let got = run.data().first().cloned().unwrap_or(Value::Null);
            if !holds(&got, doc) {
                problems.push(format!("{name}: output {got} does not hold {doc}"));
            }
        }
        if expect["writesNothing"] == json!(true) && !unchanged {
            problems.push(format!("{name}: a dry run wrote something"));
        }
        return problems;
    }
    let code = expect["code"]
        .as_str()
        .expect("a failure case names its code");
    let Some(error) = &run.error else {
        problems.push(format!(
            "{name}: expected {code}, got success {}",
            run.output
        ));
        return problems;
    };
    if run.success || error.code.as_str() != code {
        problems.push(format!(
            "{name}: expected {code}, got {} ({})",
            error.code, error.message
        ));
    }
    if let Some(needle) = expect["messageContains"].as_str()
        && !error.message.contains(needle)
    {
        problems.push(format!(
            "{name}: message {:?} lacks {needle:?}",
            error.message
        ));
    }
    let details = error.details.as_array().cloned().unwrap_or_default();
    for want in expect["detailsContain"].as_array().into_iter().flatten() {
        let found = details.iter().any(|d| {
            d["path"] == want["path"]
                && d["rule"] == want["rule"]
                && want["messageContains"]
                    .as_str()
                    .is_none_or(|needle| d["message"].as_str().is_some_and(|m| m.contains(needle)))
        });
        if !found {
            problems.push(format!(
                "{name}: no violation {want} among {}",
                error.details
            ));
        }
    }
    if let Some(count) = expect["detailsCount"].as_u64()
        && details.len() as u64 != count
    {
        problems.push(format!(
            "{name}: expected {count} violations, got {}: {}",
            details.len(),
            error.details
        ));
    }
    for detail in &details {
        let filled = ["path", "rule", "message"]
            .iter()
            .all(|k| detail[k].as_str().is_some_and(|s| !s.is_empty()));
        if !filled {
            problems.push(format!(
                "{name}: a violation lacks path/rule/message: {detail}"
            ));
        }
    }
    if !unchanged {
        problems.push(format!("{name}: the failed run left writes behind"));
    }
    problems
}

#[test]
fn fixture_cases_hold() {
    let file: Value = serde_json::from_str(CASES).unwrap();
    let watch = file["watch"].as_array().unwrap();
    let cases = file["cases"].as_array().unwrap();
    assert!(cases.len() > 100, "the fixture holds its cases");
    let mut problems = Vec::new();
    for case in cases {
        let engine = engine_with_fixtures();
        for request in file["setup"].as_array().unwrap() {
            ok(&engine, request.clone());
        }
        let before = snapshot(&engine, watch);
        let run = engine.run_value(case["request"].clone());
        problems.extend(check_case(&engine, watch, case, &run, &before));
    }
    assert!(
        problems.is_empty(),
        "{} problem(s):\n{}",
        problems.len(),
        problems.join("\n")
    );
}

#[test]
fn fixture_setup_names_tickets_by_autoincrement() {
    let file: Value = serde_json::from_str(CASES).unwrap();
    let engine = engine_with_fixtures();
    let runs: Vec<Run> = file["setup"]
        .as_array()
        .unwrap()
        .iter()
        .map(|request| ok(&engine, request.clone()))
        .collect();
    // The cases rely on these names.
    assert_eq!(names(&runs[0]), ["Acme Corp", "Globex"]);
    assert_eq!(names(&runs[2]), ["1"]);
    assert_eq!(names(&runs[3]), ["2"]);
}
