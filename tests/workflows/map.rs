//! `map` steps: run per record with outputs collected in order, bounded and array-only, a bounded
//! number of step runs per workflow, and a rescued map step leaves none of its items.

use super::*;

#[test]
fn map_runs_its_steps_per_record_and_collects_outputs_in_order() {
    let engine = engine();
    ok(
        &engine,
        json!({"operation": "create", "into": "Customer", "input": {"data": [
            {"name": "C-1", "city": "Oslo"}, {"name": "C-2", "city": "Lyon"}, {"name": "C-3", "city": "Porto"}]}}),
    );
    let run = inline(
        &engine,
        json!([
            {"id": "customers", "operation": "select", "from": "Customer", "input": {"orderBy": {"name": "asc"}}},
            {"id": "invoices", "map": "{{customers.output.data}}", "steps": [
                {"id": "draft", "operation": "create", "into": "Invoice", "input": {"data": {
                    "customer": "{{item.name}}", "position": "{{index}}", "batch": "{{input.batch}}",
                    "of": "{{customers.output.data.length}}", "label": "#{{index}} {{item.city}}"}}},
                {"id": "line", "operation": "create", "into": "Invoice Line", "input": {"data": {
                    "invoice": "{{draft.name}}", "city": "{{item.city}}"}}}
            ]},
            {"id": "after", "operation": "create", "into": "Note", "input": {"data": {
                "count": "{{invoices.output.length}}",
                "second_line": "{{invoices.output[1].data[0].city}}",
                "prev": "{{prev.output.length}}"}}}
        ]),
        json!({"batch": "B-7"}),
    );
    assert!(run.success, "{:?}", run.error);
    let invoices = docs(&engine, "Invoice");
    let summary: Vec<Value> = {
        let mut v: Vec<Value> = invoices
            .iter()
            .map(|i| {
                json!([
                    i["customer"],
                    i["position"],
                    i["batch"],
                    i["of"],
                    i["label"]
                ])
            })
            .collect();
        v.sort_by_key(|x| x[1].as_u64());
        v
    };
    assert_eq!(
        summary,
        [
            json!(["C-1", 0, "B-7", 3, "#0 Oslo"]),
            json!(["C-2", 1, "B-7", 3, "#1 Lyon"]),
            json!(["C-3", 2, "B-7", 3, "#2 Porto"])
        ]
    );
    // Per-item output = the last inner step's output, in item order.
    let outputs = step(&run, "invoices")["output"].as_array().unwrap().clone();
    let cities: Vec<&Value> = outputs.iter().map(|o| &o["data"][0]["city"]).collect();
    assert_eq!(cities, [&json!("Oslo"), &json!("Lyon"), &json!("Porto")]);
    // Inner steps see their own item's earlier steps.
    for line in docs(&engine, "Invoice Line") {
        let invoice = docs_where(&engine, "Invoice", json!({"name": line["invoice"]}));
        assert_eq!(invoice.len(), 1);
    }
    let note = &docs(&engine, "Note")[0];
    assert_eq!(note["count"], json!(3));
    assert_eq!(note["second_line"], json!("Lyon"));
    assert_eq!(note["prev"], json!(3));
    // Inner step runs are named by item.
    let step_ids: Vec<String> = children(&engine, &run)
        .iter()
        .filter_map(|r| r.step_id.clone())
        .collect();
    assert_eq!(
        step_ids,
        [
            "customers",
            "invoices[0].draft",
            "invoices[0].line",
            "invoices[1].draft",
            "invoices[1].line",
            "invoices[2].draft",
            "invoices[2].line",
            "after"
        ]
    );
    // An empty array maps to an empty output.
    let empty = inline(
        &engine,
        json!([{"id": "m", "map": "{{input.items}}", "steps": [
            {"id": "x", "operation": "create", "into": "Never", "input": {"data": {"i": "{{item}}"}}}]}]),
        json!({"items": []}),
    );
    assert!(empty.success, "{:?}", empty.error);
    assert_eq!(step(&empty, "m")["output"], json!([]));
}

#[test]
fn map_is_bounded_and_needs_an_array() {
    let engine = engine();
    let children = json!([{"id": "m", "map": "{{input.items}}", "steps": [
        {"id": "x", "operation": "create", "into": "Note", "input": {"data": {"i": "{{item}}"}}}]}]);
    let items: Vec<u32> = (0..1_001).collect();
    let run = inline(&engine, children.clone(), json!({"items": items}));
    let e = error(&run);
    assert_eq!(e.code.as_str(), "LIMIT_EXCEEDED");
    assert!(e.message.contains("1001"), "{}", e.message);
    assert_eq!(e.details["stepId"], json!("m"));
    assert_eq!(count(&engine, "Note"), 0);

    let run = inline(&engine, children, json!({"items": "not a list"}));
    assert_eq!(error(&run).code.as_str(), "BAD_REQUEST");
    assert_eq!(error(&run).details["stepId"], json!("m"));
}

#[test]
fn a_workflow_may_start_a_bounded_number_of_step_runs() {
    let engine = engine();
    // 600 items x 2 steps = 1200 step runs, over the per-workflow limit of 1000.
    let items: Vec<u32> = (0..600).collect();
    let run = inline(
        &engine,
        json!([{"id": "m", "map": "{{input.items}}", "concurrency": 4, "steps": [
            {"id": "a", "operation": "create", "into": "Note", "input": {"data": {"i": "{{item}}"}}},
            {"id": "b", "operation": "select", "from": "Note", "input": {"take": 0}}]}]),
        json!({"items": items}),
    );
    let e = error(&run);
    assert_eq!(e.code.as_str(), "LIMIT_EXCEEDED", "{}", e.message);
    assert!(e.message.contains("1000"), "{}", e.message);
    assert_eq!(count(&engine, "Note"), 0);

    // Under the limit, `concurrency` is accepted and results stay in item order.
    let items: Vec<u32> = (0..20).collect();
    let run = inline(
        &engine,
        json!([{"id": "m", "map": "{{input.items}}", "concurrency": 4, "steps": [
            {"id": "a", "operation": "select", "from": "Note", "input": {"where": {"i": "{{item}}"}}}]},
            {"id": "n", "operation": "create", "into": "Note", "input": {"data": {"i": "{{m.output.length}}"}}}]),
        json!({"items": items}),
    );
    assert!(run.success, "{:?}", run.error);
    assert_eq!(docs(&engine, "Note")[0]["i"], json!(20));
}

#[test]
fn a_map_step_with_on_error_is_rescued_and_none_of_its_items_remain() {
    let engine = engine();
    let run = inline(
        &engine,
        json!([
            {"id": "m", "map": "{{input.items}}", "steps": [
                {"id": "x", "operation": "create", "into": "Note", "input": {"data": {"v": "{{item.v}}"}}}],
             "onError": {"operation": "create", "into": "Log", "input": {"data": {"code": "{{error.code}}"}}}},
            {"id": "after", "operation": "create", "into": "Done", "input": {"data": {"log": "{{m.output.data[0].name}}"}}}
        ]),
        json!({"items": [{"v": 1}, {"w": 2}]}),
    );
    assert!(run.success, "the fallback rescues the map: {:?}", run.error);
    assert_eq!(step(&run, "m")["status"], json!("failed"));
    assert_eq!(
        count(&engine, "Note"),
        0,
        "a rescued step is rolled back on its own"
    );
    let log = &docs(&engine, "Log")[0];
    assert_eq!(log["code"], json!("BAD_REQUEST"));
    assert_eq!(docs(&engine, "Done")[0]["log"], log["name"]);
}
