//! Story: a user finds documents with Prisma-style `where` clauses, sorts them with
//! `orderBy`, pages through them with `take`/`skip` and picks fields with `select`;
//! comparisons are type-aware and every page is deterministic.

use crate::harness::*;
use coworker::{Engine, MAX_SELECT_ROWS};
use serde_json::{Value, json};
use std::collections::HashSet;

/// Six ToDo documents covering strings, numbers (integers and floats), arrays and missing
/// fields. `f` has no `status`, `priority` or `tags`.
fn todo_engine() -> Engine {
    let engine = engine();
    ok(
        &engine,
        json!({"operation": "create", "into": "ToDo", "input": {"data": [
            {"name": "a", "title": "Buy milk",     "status": "Open",    "priority": 2,   "tags": ["home", "shop"], "due": "2024-03-01"},
            {"name": "b", "title": "Sell car",     "status": "Closed",  "priority": 10,  "tags": ["money"],        "due": "2024-01-15"},
            {"name": "c", "title": "Call mom",     "status": "Open",    "priority": 1,   "tags": [],               "due": "2024-02-10"},
            {"name": "d", "title": "buy stamps",   "status": "Pending", "priority": 10,  "tags": ["shop", 7]},
            {"name": "e", "title": "Write report", "status": "Open",    "priority": 3.5, "tags": ["work"],         "note": null},
            {"name": "f", "title": "No status"}
        ]}}),
    );
    // A document of a doctype whose name is a prefix, and one extending it: never mixed in.
    for doctype in ["To", "ToDoList", "ToDo2"] {
        ok(
            &engine,
            json!({"operation": "create", "into": doctype,
                   "input": {"data": {"name": "a", "status": "Open", "title": "Buy milk"}}}),
        );
    }
    engine
}

/// Names matching `where`, in the default order (by name).
fn matching(engine: &Engine, where_: Value) -> Vec<String> {
    let run = ok(
        engine,
        json!({"operation": "select", "from": "ToDo", "input": {"where": where_}}),
    );
    assert_eq!(run.output["meta"]["count"], json!(run.data().len()));
    names(&run)
}

/// Names of a select with the given input, in the order returned.
fn select(engine: &Engine, doctype: &str, input: Value) -> Vec<String> {
    names(&ok(
        engine,
        json!({"operation": "select", "from": doctype, "input": input}),
    ))
}

/// Check a table of `[where, "expected names"]` cases (names are one letter each).
fn check_cases(engine: &Engine, cases: Value) {
    for case in cases.as_array().unwrap() {
        let got = matching(engine, case[0].clone()).concat();
        assert_eq!(got, case[1].as_str().unwrap(), "where {}", case[0]);
    }
}

#[test]
fn equality_matches_strings_numbers_arrays_and_missing_fields() {
    let engine = todo_engine();
    check_cases(
        &engine,
        json!([
            [{}, "abcdef"],
            [{"status": "Open"}, "ace"],
            [{"status": "open"}, ""],                        // case-sensitive
            [{"status": {"equals": "Closed"}}, "b"],
            [{"priority": 10}, "bd"],
            [{"priority": 10.0}, "bd"],                      // numbers compare numerically
            [{"priority": "10"}, ""],                        // a string is not a number
            [{"priority": 3.5}, "e"],
            [{"tags": ["money"]}, "b"],                      // whole-array equality
            [{"tags": []}, "c"],
            [{"note": null}, "abcdef"],                      // missing reads as null
            [{"status": null}, "f"],
            [{"status": "Open", "priority": 2}, "a"],        // keys are ANDed
            [{"status": "Open", "priority": 10}, ""],
            [{"missing_field": "x"}, ""],
        ]),
    );
}

#[test]
fn in_and_not_in() {
    let engine = todo_engine();
    check_cases(
        &engine,
        json!([
            [{"status": {"in": ["Open", "Pending"]}}, "acde"],
            [{"status": {"in": []}}, ""],
            [{"priority": {"in": [1, 10.0]}}, "bcd"],
            [{"status": {"in": [null]}}, "f"],
            [{"status": {"notIn": ["Open"]}}, "bdf"],        // a missing field is not in the list
            [{"status": {"notIn": []}}, "abcdef"],
            [{"priority": {"notIn": [10, 2]}}, "cef"],
        ]),
    );
}

#[test]
fn not_negates_a_value_or_an_operator_object() {
    let engine = todo_engine();
    check_cases(
        &engine,
        json!([
            [{"status": {"not": "Open"}}, "bdf"],
            [{"status": {"not": null}}, "abcde"],
            [{"priority": {"not": 10}}, "acef"],
            [{"priority": {"not": {"gt": 2}}}, "acf"],     // missing priority: not (gt) holds
            [{"title": {"not": {"startsWith": "B"}}}, "bcdef"],
            [{"status": {"not": {"in": ["Open", "Closed"]}}}, "df"],
        ]),
    );
}

#[test]
fn range_operators_compare_numbers_as_numbers_and_strings_as_strings() {
    let engine = todo_engine();
    check_cases(
        &engine,
        json!([
            [{"priority": {"lt": 3}}, "ac"],                 // 2 < 3 and 1 < 3, 10 is not
            [{"priority": {"lt": 10}}, "ace"],               // numeric, not "10" < "2"
            [{"priority": {"lte": 10}}, "abcde"],
            [{"priority": {"gt": 2}}, "bde"],
            [{"priority": {"gte": 2}}, "abde"],
            [{"priority": {"gt": 3.4, "lt": 3.6}}, "e"],     // several operators are ANDed
            [{"priority": {"gt": 1, "lt": 10}}, "ae"],
            [{"priority": {"gte": 10.0}}, "bd"],
            [{"priority": {"lt": "5"}}, ""],                 // a string bound never matches numbers
            [{"due": {"lt": "2024-02-01"}}, "b"],            // strings compare byte-wise
            [{"due": {"gte": "2024-02-10"}}, "ac"],
            [{"due": {"gt": "2024"}}, "abc"],                // missing `due` never compares
            [{"title": {"lt": "C"}}, "a"],                   // "Buy milk" < "C" < "Call mom"
            [{"title": {"gte": "a"}}, "d"],                  // lowercase sorts after uppercase
        ]),
    );
}

#[test]
fn contains_starts_with_and_ends_with() {
    let engine = todo_engine();
    check_cases(
        &engine,
        json!([
            [{"title": {"contains": "uy"}}, "ad"],           // substring of a string
            [{"title": {"contains": "Buy"}}, "a"],           // case-sensitive
            [{"title": {"contains": ""}}, "abcdef"],
            [{"tags": {"contains": "shop"}}, "ad"],          // member of an array
            [{"tags": {"contains": 7}}, "d"],
            [{"tags": {"contains": "sho"}}, ""],             // members, not substrings
            [{"priority": {"contains": 1}}, ""],             // a number contains nothing
            [{"title": {"startsWith": "Buy"}}, "a"],
            [{"title": {"startsWith": "buy"}}, "d"],
            [{"title": {"startsWith": "Call mom"}}, "c"],
            [{"title": {"endsWith": "car"}}, "b"],
            [{"title": {"endsWith": "s"}}, "df"],
            [{"tags": {"startsWith": "ho"}}, ""],            // only strings start with anything
            [{"title": {"startsWith": "S", "endsWith": "r"}}, "b"],
        ]),
    );
}

#[test]
fn and_or_not_nest() {
    let engine = todo_engine();
    check_cases(
        &engine,
        json!([
            [{"AND": [{"status": "Open"}, {"priority": {"gte": 2}}]}, "ae"],
            [{"AND": {"status": "Open"}}, "ace"],
            [{"AND": []}, "abcdef"],
            [{"OR": [{"status": "Closed"}, {"tags": {"contains": "work"}}]}, "be"],
            [{"OR": []}, ""],
            [{"NOT": {"status": "Open"}}, "bdf"],
            [{"NOT": [{"status": "Open"}, {"status": "Closed"}]}, "df"],   // neither
            [{"status": "Open", "OR": [{"priority": 1}, {"priority": 2}]}, "ac"],
            [{"OR": [
                {"AND": [{"status": "Open"}, {"priority": {"lt": 2}}]},
                {"AND": [{"tags": {"contains": "shop"}}, {"NOT": {"title": {"startsWith": "B"}}}]}
            ]}, "cd"],
            [{"NOT": {"OR": [{"status": "Open"}, {"priority": {"gt": 5}}]}}, "f"],
            [{"AND": [{"NOT": {"status": "Closed"}}, {"NOT": {"status": null}}]}, "acde"],
        ]),
    );
}

#[test]
fn where_on_name_finds_documents_by_key() {
    let engine = todo_engine();
    check_cases(
        &engine,
        json!([
            [{"name": "c"}, "c"],
            [{"name": "zzz"}, ""],
            [{"name": {"in": ["e", "a", "nope", "a"]}}, "ae"],  // each once, missing skipped
            [{"name": {"in": []}}, ""],
            [{"name": "a", "status": "Closed"}, ""],            // the rest of the filter applies
            [{"name": {"in": ["a", "b", "c"]}, "status": "Open"}, "ac"],
            [{"AND": [{"name": {"in": ["a", "b", "c"]}}, {"name": {"in": ["b", "c", "d"]}}]}, "bc"],
            [{"name": {"equals": "d"}}, "d"],
            [{"name": {"not": "a"}}, "bcdef"],
            [{"name": {"notIn": ["a", "b"]}}, "cdef"],
            [{"name": {"gt": "d"}}, "ef"],
            [{"name": {"startsWith": "b"}}, "b"],
            [{"OR": [{"name": "a"}, {"name": "f"}]}, "af"],
            [{"name": 1}, ""],
            [{"name": null}, ""],
        ]),
    );
    // The point lookup never crosses into another doctype sharing the name.
    let run = ok(
        &engine,
        json!({"operation": "select", "from": "ToDo", "input": {"where": {"name": "a"}}}),
    );
    assert_eq!(run.data().len(), 1);
    assert_eq!(run.data()[0]["doctype"], json!("ToDo"));
    assert_eq!(run.data()[0]["priority"], json!(2));
}

#[test]
fn doctypes_sharing_a_prefix_never_mix() {
    let engine = todo_engine();
    for doctype in ["To", "ToDoList", "ToDo2"] {
        assert_eq!(select(&engine, doctype, json!({})), ["a"], "{doctype}");
    }
    assert_eq!(count(&engine, "ToDo"), 6);
    assert_eq!(count(&engine, "T"), 0);
    assert_eq!(count(&engine, "ToD"), 0);
}

#[test]
fn order_by_one_or_several_fields_with_name_as_tie_break() {
    let engine = todo_engine();
    let cases = json!([
        [null, "abcdef"],
        [{"priority": "asc"}, "fcaebd"],               // missing first, 10 twice: b before d
        [{"priority": "desc"}, "bdeacf"],              // ties still by name ascending
        ["priority", "fcaebd"],                        // a bare field name sorts ascending
        [{"priority": "DESC"}, "bdeacf"],
        [{"name": "desc"}, "fedcba"],
        [{"title": "asc"}, "acfbed"],                  // byte-wise: uppercase before lowercase
        [[{"status": "asc"}, {"priority": "desc"}], "fbeacd"],
        [{"status": "asc", "priority": "desc"}, "fbeacd"],   // key order is priority order
        [[{"status": "desc"}, {"priority": "asc"}], "dcaebf"],
        [["status", {"name": "desc"}], "fbecad"],
    ]);
    for case in cases.as_array().unwrap() {
        let got = select(&engine, "ToDo", json!({"orderBy": case[0]})).concat();
        assert_eq!(got, case[1].as_str().unwrap(), "orderBy {}", case[0]);
    }
}

#[test]
fn numbers_sort_as_numbers_not_as_text() {
    let engine = engine();
    let data: Vec<Value> = json!([100, 9, 2, 10, -1, 1.5, 20, 0])
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
        .map(|(i, n)| json!({"name": format!("n{i}"), "v": n}))
        .collect();
    ok(
        &engine,
        json!({"operation": "create", "into": "Num", "input": {"data": data}}),
    );
    let run = ok(
        &engine,
        json!({"operation": "select", "from": "Num", "input": {"orderBy": {"v": "asc"}}}),
    );
    let values: Vec<Value> = run.data().iter().map(|d| d["v"].clone()).collect();
    assert_eq!(
        values,
        [
            json!(-1),
            json!(0),
            json!(1.5),
            json!(2),
            json!(9),
            json!(10),
            json!(20),
            json!(100)
        ]
    );
    let small = ok(
        &engine,
        json!({"operation": "select", "from": "Num", "input": {"where": {"v": {"lt": 10}}, "orderBy": {"v": "desc"}}}),
    );
    let values: Vec<Value> = small.data().iter().map(|d| d["v"].clone()).collect();
    assert_eq!(
        values,
        [json!(9), json!(2), json!(1.5), json!(0), json!(-1)]
    );
}

#[test]
fn mixed_types_order_as_documented() {
    // missing/null < booleans < numbers < strings < arrays < objects; ties by name.
    let engine = engine();
    let values = json!([
        ["m01", {"x": 1}],
        ["m02", [1, 2]],
        ["m03", "abc"],
        ["m04", 10],
        ["m05", true],
        ["m06", null],
        ["m07", "10"],
        ["m08", [1]],
        ["m09", false],
        ["m10", 2.5],
        ["m11", "B"],
        ["m12", "MISSING"],
        ["m13", {"a": 1}],
        ["m14", 3],
    ]);
    let data: Vec<Value> = values
        .as_array()
        .unwrap()
        .iter()
        .map(|pair| {
            let mut doc = json!({"name": pair[0]});
            if pair[1] != json!("MISSING") {
                doc["v"] = pair[1].clone();
            }
            doc
        })
        .collect();
    ok(
        &engine,
        json!({"operation": "create", "into": "Mixed", "input": {"data": data}}),
    );
    let asc = select(&engine, "Mixed", json!({"orderBy": {"v": "asc"}}));
    let expected_asc = [
        "m06", "m12", // null and missing tie, broken by name
        "m09", "m05", // false < true
        "m10", "m14", "m04", // 2.5 < 3 < 10
        "m07", "m11", "m03", // "10" < "B" < "abc" (byte-wise)
        "m08", "m02", // [1] < [1, 2]
        "m13", "m01", // objects by their JSON text: {"a":1} < {"x":1}
    ];
    assert_eq!(asc, expected_asc);
    let desc = select(&engine, "Mixed", json!({"orderBy": {"v": "desc"}}));
    let expected_desc = [
        "m01", "m13", "m02", "m08", "m03", "m11", "m07", "m04", "m14", "m10", "m05", "m09", "m06",
        "m12", // nulls last, ties still by name ascending
    ];
    assert_eq!(desc, expected_desc);
    // Range operators never match across types.
    let cases = [
        (json!({"v": {"gt": 5}}), vec!["m04"]),
        (json!({"v": {"gte": 0}}), vec!["m04", "m10", "m14"]),
        (json!({"v": {"lt": "B"}}), vec!["m07"]),
        (json!({"v": {"gte": "B"}}), vec!["m03", "m11"]),
        (json!({"v": {"equals": {"a": 1}}}), vec!["m13"]),
        (json!({"v": {"equals": [1.0]}}), vec!["m08"]),
        (json!({"v": {"contains": 2}}), vec!["m02"]),
        (json!({"v": false}), vec!["m09"]),
        (json!({"v": null}), vec!["m06", "m12"]),
    ];
    for (where_, want) in cases {
        assert_eq!(
            select(&engine, "Mixed", json!({"where": where_})),
            want,
            "where {where_}"
        );
    }
}

#[test]
fn take_and_skip_walk_every_document_exactly_once() {
    let engine = engine();
    // Many ties on `group`, so the order depends on the name tie-break.
    let data: Vec<Value> = (0..37)
        .map(|i| json!({"name": format!("p{:02}", (i * 17) % 37), "group": i % 4, "i": i}))
        .collect();
    ok(
        &engine,
        json!({"operation": "create", "into": "Page", "input": {"data": data}}),
    );
    for order in [
        json!({"group": "asc"}),
        json!({"group": "desc"}),
        json!(null),
    ] {
        let full = select(&engine, "Page", json!({"orderBy": order}));
        assert_eq!(full.len(), 37);
        for size in [1, 5, 10, 37, 50] {
            let mut walked = Vec::new();
            let mut skip = 0;
            loop {
                let run = ok(
                    &engine,
                    json!({"operation": "select", "from": "Page",
                           "input": {"orderBy": order, "take": size, "skip": skip, "count": true}}),
                );
                assert_eq!(run.output["meta"]["total"], json!(37));
                assert_eq!(run.output["meta"]["count"], json!(run.data().len()));
                assert!(run.output["meta"].get("truncated").is_none());
                if run.data().is_empty() {
                    break;
                }
                assert!(run.data().len() <= size);
                walked.extend(names(&run));
                skip += size;
            }
            assert_eq!(walked, full, "pages of {size} ordered by {order}");
            let unique: HashSet<&String> = walked.iter().collect();
            assert_eq!(unique.len(), 37);
        }
    }
}

#[test]
fn take_and_skip_edges_and_paging_under_a_filter() {
    let engine = todo_engine();
    let page = |input: Value| {
        let run = ok(
            &engine,
            json!({"operation": "select", "from": "ToDo", "input": input}),
        );
        assert!(
            run.output["meta"].get("total").is_none(),
            "no total unless asked"
        );
        let mut counted = input.clone();
        counted["count"] = json!(true);
        let counted = ok(
            &engine,
            json!({"operation": "select", "from": "ToDo", "input": counted}),
        );
        assert_eq!(names(&counted), names(&run), "counting changes no row");
        (
            names(&run).concat(),
            run.output["meta"]["count"].clone(),
            counted.output["meta"]["total"].clone(),
        )
    };
    assert_eq!(
        page(json!({"take": 0})),
        (String::new(), json!(0), json!(6))
    );
    assert_eq!(
        page(json!({"skip": 99})),
        (String::new(), json!(0), json!(6))
    );
    assert_eq!(page(json!({"skip": 4})), ("ef".into(), json!(2), json!(6)));
    assert_eq!(page(json!({"take": 2})), ("ab".into(), json!(2), json!(6)));
    assert_eq!(
        page(
            json!({"where": {"status": "Open"}, "orderBy": {"priority": "desc"}, "skip": 1, "take": 1})
        ),
        ("a".into(), json!(1), json!(3))
    );
    assert_eq!(
        page(json!({"take": null, "skip": null, "where": null, "orderBy": null})),
        ("abcdef".into(), json!(6), json!(6)),
        "a null key is an absent key"
    );
}

#[test]
fn select_keeps_only_the_listed_fields_in_their_order() {
    let engine = todo_engine();
    let run = ok(
        &engine,
        json!({"operation": "select", "from": "ToDo",
               "input": {"where": {"status": "Open"}, "orderBy": {"priority": "desc"},
                         "select": ["title", "name", "nonexistent"]}}),
    );
    let docs = run.data();
    assert_eq!(
        docs,
        [
            json!({"title": "Write report", "name": "e"}),
            json!({"title": "Buy milk", "name": "a"}),
            json!({"title": "Call mom", "name": "c"}),
        ]
    );
    let keys: Vec<&String> = docs[0].as_object().unwrap().keys().collect();
    assert_eq!(keys, ["title", "name"], "fields come in the order asked");
    // Sorting and filtering use fields that are not selected.
    let run = ok(
        &engine,
        json!({"operation": "select", "from": "ToDo",
               "input": {"where": {"priority": {"gt": 2}}, "orderBy": {"priority": "asc"}, "select": ["title"]}}),
    );
    assert_eq!(
        run.data(),
        [
            json!({"title": "Write report"}),
            json!({"title": "Sell car"}),
            json!({"title": "buy stamps"}),
        ]
    );
    // The stored record still names the documents.
    let record = engine.get_run(&run.id).unwrap().unwrap();
    assert_eq!(record.output["meta"]["count"], json!(3));
    assert_eq!(record.output["names"].as_array().unwrap().len(), 3);
    // An empty field list keeps nothing of each document, but still counts them.
    let run = ok(
        &engine,
        json!({"operation": "select", "from": "ToDo", "input": {"select": []}}),
    );
    assert_eq!(run.data().len(), 6);
    assert!(run.data().iter().all(|d| d == &json!({})));
}

#[test]
fn count_and_total_describe_the_page_and_the_matches() {
    let engine = todo_engine();
    let run = ok(
        &engine,
        json!({"operation": "select", "from": "ToDo",
               "input": {"where": {"status": {"in": ["Open", "Pending"]}}, "take": 3, "skip": 2,
                         "count": true}}),
    );
    assert_eq!(names(&run), ["d", "e"]);
    assert_eq!(run.output["meta"]["count"], json!(2));
    assert_eq!(run.output["meta"]["total"], json!(4));
    let stored = engine.get_run(&run.id).unwrap().unwrap();
    assert_eq!(stored.output["names"], json!(["d", "e"]));
    assert_eq!(stored.output["meta"], run.output["meta"]);
}

#[test]
fn a_select_without_take_says_when_the_row_limit_cut_it() {
    let engine = engine();
    let rows = MAX_SELECT_ROWS + 3;
    let data: Vec<Value> = (0..rows).map(|i| json!({"i": i})).collect();
    ok(
        &engine,
        json!({"operation": "create", "into": "Big", "input": {"data": data}}),
    );
    let run = ok(
        &engine,
        json!({"operation": "select", "from": "Big", "input": {"count": true}}),
    );
    assert_eq!(run.data().len(), MAX_SELECT_ROWS);
    let meta = &run.output["meta"];
    assert_eq!(meta["truncated"], json!(true), "{meta}");
    assert_eq!(meta["count"], json!(MAX_SELECT_ROWS));
    assert_eq!(meta["total"], json!(rows));
    // Skipping past the cut: the rest fits, nothing is cut.
    let rest = ok(
        &engine,
        json!({"operation": "select", "from": "Big", "input": {"skip": MAX_SELECT_ROWS}}),
    );
    assert_eq!(rest.data().len(), 3);
    assert!(rest.output["meta"].get("truncated").is_none());
    // An explicit take within the limit is never called truncated.
    let page = ok(
        &engine,
        json!({"operation": "select", "from": "Big", "input": {"take": 10}}),
    );
    assert_eq!(page.data().len(), 10);
    assert!(page.output["meta"].get("truncated").is_none());
    // A filter that matches few is not cut.
    let few = ok(
        &engine,
        json!({"operation": "select", "from": "Big", "input": {"where": {"i": {"lt": 5}}}}),
    );
    assert_eq!(few.data().len(), 5);
    assert!(few.output["meta"].get("truncated").is_none());
}

#[test]
fn update_and_delete_use_the_same_where_language() {
    let engine = todo_engine();
    let updated = ok(
        &engine,
        json!({"operation": "update", "in": "ToDo",
               "input": {"where": {"OR": [{"priority": {"gte": 10}}, {"tags": {"contains": "work"}}]},
                         "data": {"flag": true}}}),
    );
    let mut touched = names(&updated);
    touched.sort();
    assert_eq!(touched, ["b", "d", "e"]);
    assert_eq!(matching(&engine, json!({"flag": true})), ["b", "d", "e"]);
    let deleted = ok(
        &engine,
        json!({"operation": "delete", "from": "ToDo",
               "input": {"where": {"name": {"in": ["a", "f", "ghost"]}}}}),
    );
    let mut gone: Vec<&str> = deleted.output["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    gone.sort_unstable();
    assert_eq!(gone, ["a", "f"]);
    assert_eq!(matching(&engine, json!({})), ["b", "c", "d", "e"]);
}
