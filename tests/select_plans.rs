//! Story: a select reads what its page needs, not its doctype. On a doctype of thousands of
//! documents, each path (names, an indexed field pinned by equality, `in` or a range, an index
//! walked in order, a scan in name order, a bounded heap) returns the right rows and says in
//! `meta.plan` how many documents it read; `meta.total` comes only when asked, from the index
//! when it can; a store written with the earlier index format is migrated when opened.

use crate::harness::{TempStore, engine, names, ok, stored};
use coworker::Engine;
use serde_json::{Value, json};

/// Documents in the `Task` doctype.
const TASKS: usize = 3000;

/// `Task` with indexed `status` and `n`, unindexed `title`: task `t0000`.. has `n` = i (every
/// 100th a float i + 0.5, every 250th none), status Open / Closed / Pending by i % 4.
fn tasks() -> Engine {
    let engine = engine();
    ok(
        &engine,
        json!({"operation": "create", "into": "Schema", "input": {"data": {"name": "Task", "fields": [
            {"fieldname": "status", "fieldtype": "Data", "search_index": 1},
            {"fieldname": "n", "fieldtype": "Float", "search_index": 1},
            {"fieldname": "title", "fieldtype": "Data"}]}}}),
    );
    let data: Vec<Value> = (0..TASKS).map(task).collect();
    for chunk in data.chunks(1000) {
        ok(
            &engine,
            json!({"operation": "create", "into": "Task", "input": {"data": chunk}}),
        );
    }
    engine
}

fn task(i: usize) -> Value {
    let status = ["Open", "Closed", "Open", "Pending"][i % 4];
    let mut doc = json!({"name": format!("t{i:04}"), "status": status, "title": format!("T{}", i * 7 % 1000)});
    match i {
        _ if i.is_multiple_of(250) => {}
        _ if i.is_multiple_of(100) => doc["n"] = json!(i as f64 + 0.5),
        _ => doc["n"] = json!(i),
    }
    doc
}

/// Every task as the store holds it, in name order.
fn all_tasks() -> Vec<Value> {
    (0..TASKS).map(task).collect()
}

fn name_of(doc: &Value) -> String {
    doc["name"].as_str().unwrap().to_string()
}

/// Select from `Task` and return the run's names and `meta`.
fn select(engine: &Engine, input: Value) -> (Vec<String>, Value) {
    let run = ok(
        engine,
        json!({"operation": "select", "from": "Task", "input": input}),
    );
    (names(&run), run.output["meta"].clone())
}

fn examined(meta: &Value) -> u64 {
    meta["plan"]["examined"]
        .as_u64()
        .expect("meta.plan.examined")
}

#[test]
fn a_page_by_name_under_an_indexed_equality_reads_only_the_page() {
    let engine = tasks();
    let open: Vec<String> = all_tasks()
        .iter()
        .filter(|d| d["status"] == "Open")
        .map(name_of)
        .collect();
    let (page, meta) = select(
        &engine,
        json!({"where": {"status": "Open"}, "orderBy": {"name": "asc"}, "take": 10, "skip": 20}),
    );
    assert_eq!(page, open[20..30]);
    assert_eq!(
        meta["plan"],
        json!({"path": "index", "field": "status", "order": "names", "examined": 10})
    );
    assert!(meta.get("total").is_none(), "no total unless asked");
    let (page, meta) = select(
        &engine,
        json!({"where": {"status": "Open"}, "orderBy": {"name": "desc"}, "take": 3}),
    );
    let last: Vec<String> = open.iter().rev().take(3).cloned().collect();
    assert_eq!(page, last);
    assert_eq!(examined(&meta), 3);
}

#[test]
fn a_page_without_a_filter_reads_only_the_page() {
    let engine = tasks();
    let (page, meta) = select(&engine, json!({"take": 10, "skip": 100}));
    let want: Vec<String> = (100..110).map(|i| format!("t{i:04}")).collect();
    assert_eq!(page, want);
    assert_eq!(
        meta["plan"],
        json!({"path": "scan", "order": "names", "examined": 10}),
        "the skipped documents are not read"
    );
    let (page, meta) = select(&engine, json!({"take": 2, "orderBy": {"name": "desc"}}));
    assert_eq!(page, ["t2999", "t2998"]);
    assert_eq!(examined(&meta), 2);
}

#[test]
fn numbers_order_numerically_through_the_index() {
    let engine = tasks();
    let (page, meta) = select(&engine, json!({"orderBy": {"n": "desc"}, "take": 4}));
    assert_eq!(page, ["t2999", "t2998", "t2997", "t2996"]);
    assert_eq!(
        meta["plan"],
        json!({"path": "index", "field": "n", "order": "index", "examined": 4})
    );
    // Ascending: the tasks without `n` come first (missing sorts as null), by name; then
    // 1, 2, ..., 9, 10 (numerically, not as text), with the floats in their places.
    let (page, meta) = select(&engine, json!({"orderBy": {"n": "asc"}, "take": 16}));
    let missing: Vec<String> = (0..TASKS)
        .step_by(250)
        .map(|i| format!("t{i:04}"))
        .collect();
    assert_eq!(page[..12], missing[..]);
    assert_eq!(page[12..], ["t0001", "t0002", "t0003", "t0004"]);
    assert_eq!(examined(&meta), 16);
    let (page, _) = select(
        &engine,
        json!({"where": {"n": {"gte": 99, "lte": 101}}, "orderBy": {"n": "asc"}}),
    );
    assert_eq!(
        page,
        ["t0099", "t0100", "t0101"],
        "100.5 between 99 and 101"
    );
    // Equality treats 100 and 100.0 alike, and "100" apart.
    let (page, _) = select(&engine, json!({"where": {"n": 101.0}}));
    assert_eq!(page, ["t0101"]);
    let (page, _) = select(&engine, json!({"where": {"n": "101"}}));
    assert!(page.is_empty());
}

#[test]
fn ranges_walk_only_their_slice() {
    let engine = tasks();
    let (page, meta) = select(
        &engine,
        json!({"where": {"n": {"gte": 1100, "lt": 1110}}, "orderBy": {"n": "desc"}}),
    );
    // 1109, ..., 1101, then 1100.5.
    let want: Vec<String> = (1100..1110).rev().map(|i| format!("t{i:04}")).collect();
    assert_eq!(page, want);
    assert_eq!(
        meta["plan"],
        json!({"path": "index", "field": "n", "order": "index", "examined": 10})
    );
    let (page, meta) = select(
        &engine,
        json!({"where": {"n": {"gt": 2990}}, "orderBy": {"name": "asc"}, "take": 5}),
    );
    assert_eq!(page, ["t2991", "t2992", "t2993", "t2994", "t2995"]);
    assert_eq!(meta["plan"]["path"], "index");
    assert_eq!(examined(&meta), 5);
    // A range of one kind never matches the other: strings are not numbers.
    let (page, _) = select(&engine, json!({"where": {"n": {"gte": ""}}}));
    assert!(page.is_empty());
}

#[test]
fn in_merges_the_streams_of_each_value() {
    let engine = tasks();
    let want: Vec<String> = all_tasks()
        .iter()
        .filter(|d| d["status"] == "Closed" || d["status"] == "Pending")
        .map(name_of)
        .take(10)
        .collect();
    let (page, meta) = select(
        &engine,
        json!({"where": {"status": {"in": ["Pending", "Closed", "Nope"]}}, "take": 10}),
    );
    assert_eq!(page, want);
    assert_eq!(
        meta["plan"],
        json!({"path": "index", "field": "status", "order": "names", "examined": 10})
    );
}

#[test]
fn an_unindexed_order_keeps_a_bounded_heap() {
    let engine = tasks();
    let mut all = all_tasks();
    all.sort_by(|a, b| {
        b["title"]
            .as_str()
            .cmp(&a["title"].as_str())
            .then(name_of(a).cmp(&name_of(b)))
    });
    let want: Vec<String> = all.iter().skip(2).take(5).map(name_of).collect();
    let (page, meta) = select(
        &engine,
        json!({"orderBy": {"title": "desc"}, "skip": 2, "take": 5}),
    );
    assert_eq!(page, want);
    assert_eq!(meta["plan"]["order"], "heap");
    assert_eq!(examined(&meta), TASKS as u64, "every document is read once");
}

#[test]
fn what_the_filter_rejects_is_read_on_the_way_and_no_more() {
    let engine = tasks();
    let open: Vec<Value> = all_tasks()
        .into_iter()
        .filter(|d| d["status"] == "Open")
        .collect();
    let passes = |d: &Value| d["title"].as_str().unwrap().ends_with('4');
    let tenth = open.iter().filter(|d| passes(d)).nth(9).unwrap();
    let read = open.iter().position(|d| d == tenth).unwrap() + 1;
    let want: Vec<String> = open
        .iter()
        .filter(|d| passes(d))
        .take(10)
        .map(name_of)
        .collect();
    let (page, meta) = select(
        &engine,
        json!({"where": {"status": "Open", "title": {"endsWith": "4"}}, "take": 10}),
    );
    assert_eq!(page, want);
    assert_eq!(
        examined(&meta),
        read as u64,
        "the page and the rejects before it"
    );
    assert!(read < open.len() / 10);
}

#[test]
fn the_total_is_counted_from_the_index_when_asked() {
    let engine = tasks();
    let (page, meta) = select(
        &engine,
        json!({"where": {"status": "Open"}, "take": 0, "count": true}),
    );
    assert!(page.is_empty());
    assert_eq!(meta["total"], json!(TASKS / 2));
    assert_eq!(examined(&meta), 0, "counted from the index alone");
    let (_, meta) = select(
        &engine,
        json!({"where": {"status": {"in": ["Open", "Pending"]}}, "take": 1, "count": true}),
    );
    assert_eq!(meta["total"], json!(TASKS * 3 / 4));
    assert_eq!(examined(&meta), 1);
    let (_, meta) = select(
        &engine,
        json!({"where": {"n": {"lt": 100}}, "take": 1, "count": true}),
    );
    assert_eq!(meta["total"], json!(99), "0 has no n");
    assert_eq!(examined(&meta), 1);
    // Anything else is counted by reading on past the page.
    let (_, meta) = select(
        &engine,
        json!({"where": {"title": "T7"}, "take": 1, "count": true}),
    );
    let want = all_tasks().iter().filter(|d| d["title"] == "T7").count();
    assert_eq!(meta["total"], json!(want));
    assert_eq!(examined(&meta), TASKS as u64);
    let (_, meta) = select(&engine, json!({"take": 1, "count": true}));
    assert_eq!(meta["total"], json!(TASKS));
    assert_eq!(
        examined(&meta),
        1,
        "without a filter nothing needs to be read"
    );
    // `count` is a flag.
    let run =
        engine.run_value(json!({"operation": "select", "from": "Task", "input": {"count": "yes"}}));
    let error = run.error.expect("refused");
    assert_eq!(error.code.as_str(), "BAD_REQUEST");
    assert!(error.message.contains("input.count"), "{}", error.message);
}

#[test]
fn the_plan_is_recorded_with_the_run() {
    let engine = tasks();
    let run = ok(
        &engine,
        json!({"operation": "select", "from": "Task", "input": {"where": {"status": "Pending"}, "take": 2}}),
    );
    let record = stored(&engine, &run.id);
    assert_eq!(record.output["meta"]["plan"], run.output["meta"]["plan"]);
    assert_eq!(record.output["meta"]["plan"]["field"], "status");
}

#[test]
fn updates_and_deletes_find_their_targets_through_the_planner() {
    let engine = tasks();
    let run = ok(
        &engine,
        json!({"operation": "update", "in": "Task",
               "input": {"where": {"n": {"gte": 10, "lt": 13}}, "data": {"status": "Done"}}}),
    );
    assert_eq!(names(&run), ["t0010", "t0011", "t0012"]);
    let (page, _) = select(&engine, json!({"where": {"status": "Done"}}));
    assert_eq!(page, ["t0010", "t0011", "t0012"]);
    let run = ok(
        &engine,
        json!({"operation": "delete", "from": "Task", "input": {"where": {"status": "Done"}}}),
    );
    assert_eq!(run.data().len(), 3);
    let (_, meta) = select(&engine, json!({"where": {"status": "Done"}, "count": true}));
    assert_eq!(meta["total"], json!(0));
}

/// `index_format_1.redb` was written by the version before this index format: schema
/// `Item` with indexed `status`, `qty` (a Float) and `note` (never set), unique `code`;
/// items i1..i6 (qty 10, 9, 100, 2.5, -1, 1e16; i4 has no status, i6 no code).
#[test]
fn a_store_in_the_earlier_index_format_is_migrated_when_opened() {
    let store = TempStore::new();
    std::fs::copy("tests/fixtures/index_format_1.redb", &store.path).unwrap();
    for reopened in [false, true] {
        let engine = store.open();
        let select = |input: Value| {
            let run = ok(
                &engine,
                json!({"operation": "select", "from": "Item", "input": input}),
            );
            (names(&run), run.output["meta"]["plan"].clone())
        };
        let (page, plan) = select(json!({"where": {"qty": {"gt": 5}}, "orderBy": {"qty": "asc"}}));
        assert_eq!(
            page,
            ["i2", "i1", "i3", "i6"],
            "numerically (reopened: {reopened})"
        );
        assert_eq!(plan["path"], "index");
        let (page, plan) = select(json!({"orderBy": {"qty": "desc"}, "take": 2}));
        assert_eq!(page, ["i6", "i3"]);
        assert_eq!(plan["order"], "index", "the migrated index is complete");
        let (page, _) = select(json!({"where": {"status": null}}));
        assert_eq!(page, ["i4"], "a missing value is in the index now");
        let (page, _) = select(json!({"where": {"status": "Open"}, "orderBy": {"name": "desc"}}));
        assert_eq!(page, ["i5", "i3", "i1"]);
        let (page, plan) = select(json!({"orderBy": {"note": "asc"}, "take": 3}));
        assert_eq!(page, ["i1", "i2", "i3"]);
        assert_eq!(
            plan["order"], "heap",
            "no entry to migrate: not trusted whole"
        );
        let taken = engine.run_value(
            json!({"operation": "create", "into": "Item", "input": {"data": {"code": "C"}}}),
        );
        assert_eq!(
            taken.error.expect("unique").code.as_str(),
            "VALIDATION_FAILED"
        );
    }
}
