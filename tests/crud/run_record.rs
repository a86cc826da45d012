//! The run record: every field of the design on completed and failed runs, agent and options,
//! sortable unique ids, dry runs, compact selects, and completed runs never modified.

use super::*;

#[test]
fn a_completed_run_carries_every_field_of_the_design() {
    let engine = engine();
    let request = json!({
        "operation": "create", "into": "ToDo",
        "input": {"data": {"name": "a"}},
        "owner": "alice", "agent": "planner-1",
        "flowType": "ai-conversation", "flowId": "flow-1", "stepId": "turn-3-op-1"
    });
    let run = ok(&engine, request.clone());
    let ulid = ulid::Ulid::from_string(&run.id).expect("the id is a ULID");
    assert_eq!(run.id.len(), 26);
    let age_ms = ulid::Ulid::new().timestamp_ms() - ulid.timestamp_ms();
    assert!(age_ms < 60_000, "the id encodes the time of the run");
    let when: jiff::Timestamp = run.timestamp.parse().expect("an RFC 3339 timestamp");
    assert!((jiff::Timestamp::now().as_second() - when.as_second()).abs() < 60);
    assert_eq!(run.status, RunStatus::Completed);
    assert!(run.success);
    assert!(run.error.is_none());
    assert!(run.duration >= 0.0 && run.duration.is_finite());
    assert_eq!(run.operation.as_deref(), Some("create"));
    assert_eq!(run.doctype.as_deref(), Some("ToDo"));
    assert_eq!(run.into.as_deref(), Some("ToDo"));
    assert_eq!(run.from, None);
    assert_eq!(run.template, None);
    assert_eq!(run.input, request["input"]);
    assert_eq!(run.owner.as_deref(), Some("alice"));
    assert_eq!(run.agent.as_deref(), Some("planner-1"));
    assert_eq!(run.flow_type.as_deref(), Some("ai-conversation"));
    assert_eq!(run.flow_id.as_deref(), Some("flow-1"));
    assert_eq!(run.step_id.as_deref(), Some("turn-3-op-1"));
    assert_eq!(
        run.chain_id, run.id,
        "a top-level run is the root of its chain"
    );
    assert_eq!(run.parent_run_id, None);
    assert!(run.child_run_ids.is_empty());
    // The JSON shape: every key of the design, camelCase, null when unset.
    let value = run.to_value();
    for key in RUN_RECORD_KEYS {
        assert!(value.get(key).is_some(), "run JSON has `{key}`: {value}");
    }
    assert_eq!(value["status"], json!("completed"));
    assert_eq!(value["error"], Value::Null);
    assert_eq!(value["parentRunId"], Value::Null);
    // The stored record is the returned run.
    assert_eq!(
        without_duration(&stored(&engine, &run.id)),
        without_duration(&run)
    );
}

#[test]
fn a_failed_run_carries_its_error_code_message_and_details() {
    let engine = engine();
    let run = fails(
        &engine,
        json!({"operation": "select", "from": "ToDo", "input": {"where": {"x": {"like": 1}}},
               "owner": "alice"}),
        "BAD_REQUEST",
    );
    assert_eq!(run.status, RunStatus::Failed);
    assert!(run.duration >= 0.0);
    let error = run.error.as_ref().unwrap();
    assert_eq!(error.code, ErrorCode::BadRequest);
    assert!(error.message.contains("like"), "{}", error.message);
    assert_eq!(error.details, json!({"field": "x", "operator": "like"}));
    let value = run.to_value();
    assert_eq!(value["status"], json!("failed"));
    assert_eq!(value["success"], json!(false));
    assert_eq!(value["error"]["code"], json!("BAD_REQUEST"));
    assert!(value["error"]["message"].is_string());
    assert!(value["error"].get("details").is_some());
    assert_eq!(run.chain_id, run.id);
    let record = stored(&engine, &run.id);
    assert_eq!(record.status, RunStatus::Failed);
    assert_eq!(record.error, run.error);
    assert_eq!(record.owner.as_deref(), Some("alice"));
}

#[test]
fn agent_defaults_to_the_owner_and_options_are_kept() {
    let engine = engine();
    let run = ok(
        &engine,
        json!({"operation": "select", "from": "ToDo", "owner": "alice",
               "options": {"includeSchema": false}}),
    );
    assert_eq!(run.owner.as_deref(), Some("alice"));
    assert_eq!(run.agent.as_deref(), Some("alice"));
    assert_eq!(run.options.include_schema, Some(false));
    let anonymous = ok(&engine, json!({"operation": "select", "from": "ToDo"}));
    assert_eq!(anonymous.owner, None);
    assert_eq!(anonymous.agent, None);
}

#[test]
fn run_ids_are_unique_and_sort_in_the_order_runs_started() {
    let engine = engine();
    let mut ids = Vec::new();
    for i in 0..200 {
        let run = match i % 3 {
            0 => engine.run(RunRequest::new("select").from("ToDo")),
            1 => engine.run(
                RunRequest::new("create")
                    .into_doctype("ToDo")
                    .input(json!({"data": {"i": i}})),
            ),
            _ => engine.run(RunRequest::new("nope")),
        };
        assert_eq!(run.id.len(), 26);
        ids.push(run.id);
    }
    let mut sorted = ids.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted, ids, "ids are unique and increasing");
    // list_runs returns them oldest first.
    let listed: Vec<String> = engine
        .list_runs(&RunQuery::default())
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(listed, ids);
}

#[test]
fn a_dry_run_checks_the_request_and_writes_nothing() {
    let engine = engine();
    let options = RunOptions {
        dry_run: Some(true),
        ..Default::default()
    };
    let run = engine.run(
        RunRequest::new("create")
            .into_doctype("ToDo")
            .input(json!({"data": {"name": "a"}}))
            .options(options.clone()),
    );
    assert!(run.success, "{:?}", run.error);
    assert_eq!(run.options.dry_run, Some(true));
    assert_eq!(count(&engine, "ToDo"), 0);
    assert!(stored(&engine, &run.id).success);
    // A dry run still refuses what is wrong with the request.
    let bad = engine.run(RunRequest::new("create").from("ToDo").options(options));
    assert_eq!(bad.error.unwrap().code, ErrorCode::MissingTarget);
}

#[test]
fn a_select_is_stored_compact_but_returned_in_full() {
    let engine = engine();
    create_named(&engine, "ToDo", "a", json!({"big": "x".repeat(1000)}));
    create_named(&engine, "ToDo", "b", json!({"big": "y".repeat(1000)}));
    let run = ok(
        &engine,
        json!({"operation": "select", "from": "ToDo", "input": {"orderBy": {"name": "desc"}}}),
    );
    assert_eq!(run.data().len(), 2);
    assert_eq!(run.data()[0]["big"], json!("y".repeat(1000)));
    let record = stored(&engine, &run.id);
    assert_eq!(record.output["names"], json!(["b", "a"]));
    assert_eq!(record.output["meta"]["count"], json!(2));
    assert!(record.output.get("data").is_none(), "{}", record.output);
    assert!(!record.output.to_string().contains("xxxxxxxx"));
    // Everything but the output is as returned.
    let mut returned = without_duration(&run);
    let mut kept = without_duration(&record);
    returned["output"] = Value::Null;
    kept["output"] = Value::Null;
    assert_eq!(kept, returned);
}

#[test]
fn completed_runs_are_never_modified() {
    let engine = engine();
    let created = ok(
        &engine,
        json!({"operation": "create", "into": "ToDo", "input": {"data": {"name": "a", "v": 1}}}),
    );
    let selected = ok(&engine, json!({"operation": "select", "from": "ToDo"}));
    let failed = fails(
        &engine,
        json!({"operation": "delete", "from": "ToDo", "input": {"name": "zz"}}),
        "NOT_FOUND",
    );
    let first: Vec<Run> = [&created, &selected, &failed]
        .iter()
        .map(|r| stored(&engine, &r.id))
        .collect();
    // Later runs touch the same document, flush, and run more selects.
    ok(
        &engine,
        json!({"operation": "update", "in": "ToDo", "input": {"name": "a", "data": {"v": 2}}}),
    );
    engine.flush().unwrap();
    ok(
        &engine,
        json!({"operation": "delete", "from": "ToDo", "input": {"name": "a"}}),
    );
    ok(&engine, json!({"operation": "select", "from": "ToDo"}));
    let later: Vec<Run> = [&created, &selected, &failed]
        .iter()
        .map(|r| stored(&engine, &r.id))
        .collect();
    assert_eq!(later, first);
    assert_eq!(
        later[0].output["data"][0]["v"],
        json!(1),
        "the record keeps what was created"
    );
}
