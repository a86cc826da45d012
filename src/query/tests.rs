//! Unit tests of the query language: matching, ordering, paging, candidates and refusals.

use super::*;
use crate::error::ErrorCode;
use proptest::prelude::*;

fn doc(v: Value) -> Doc {
    v.as_object().cloned().expect("test documents are objects")
}

fn docs() -> Vec<Doc> {
    [
        json!({"name": "a", "status": "Open", "n": 10, "title": "Buy milk", "tags": ["x", 1]}),
        json!({"name": "b", "status": "Closed", "n": 2.5, "title": "Sell car"}),
        json!({"name": "c", "status": "Open", "n": "7", "title": "buy bread", "tags": []}),
        json!({"name": "d", "n": null, "flag": true}),
    ]
    .into_iter()
    .map(doc)
    .collect()
}

fn names(page: &[Doc]) -> String {
    page.iter().map(|d| d["name"].as_str().unwrap()).collect()
}

/// `cases` is a JSON array of `[where, names of the matching documents]`.
fn check_where(cases: Value) {
    for case in cases.as_array().unwrap() {
        let f = Filter::parse(&case[0]).expect("valid where");
        let got: Vec<Doc> = docs().into_iter().filter(|d| f.matches(d)).collect();
        assert_eq!(names(&got), case[1], "where {}", case[0]);
    }
}

#[test]
fn equality_and_implicit_and() {
    check_where(json!([
        [{}, "abcd"],
        [{"status": "Open"}, "ac"],
        [{"status": "Open", "n": 10}, "a"],
        [{"n": 10.0}, "a"],               // 10 == 10.0
        [{"n": "10"}, ""],                // no cross-type equality
        [{"status": null}, "d"],          // missing reads as null
        [{"tags": {"equals": []}}, "c"],
    ]));
}

#[test]
fn operators() {
    check_where(json!([
        [{"status": {"in": ["Closed", "x"]}}, "b"],
        [{"status": {"notIn": ["Open"]}}, "bd"],
        [{"status": {"not": "Open"}}, "bd"],
        [{"n": {"not": {"in": [10, 2.5]}}}, "cd"],
        [{"n": {"lt": 10}}, "b"],         // numbers only: "7" and null never match
        [{"n": {"lte": 10}}, "ab"],
        [{"n": {"gt": 2.5}}, "a"],
        [{"n": {"gte": 2.5, "lt": 10}}, "b"],
        [{"n": {"gt": "5"}}, "c"],        // strings only
        [{"flag": {"gt": 0}}, ""],        // boolean vs number
        [{"title": {"contains": "uy"}}, "ac"],
        [{"title": {"contains": "BUY"}}, ""],
        [{"tags": {"contains": "x"}}, "a"],
        [{"tags": {"contains": 1.0}}, "a"],
        [{"title": {"startsWith": "Buy"}}, "a"],
        [{"title": {"endsWith": "d"}}, "c"],
        [{"n": {"startsWith": "7"}}, "c"],
    ]));
}

#[test]
fn logical_nesting() {
    check_where(json!([
        [{"OR": [{"name": "a"}, {"name": "d"}]}, "ad"],
        [{"OR": []}, ""],
        [{"AND": []}, "abcd"],
        [{"AND": {"status": "Open"}}, "ac"],
        [{"NOT": {"status": "Open"}}, "bd"],
        [{"NOT": [{"name": "a"}, {"name": "b"}]}, "cd"],
        [{"NOT": []}, "abcd"],
        [{"status": "Open", "OR": [
            {"AND": [{"n": {"gt": 5}}, {"NOT": {"name": "x"}}]},
            {"title": {"startsWith": "buy"}}
        ]}, "ac"],
    ]));
}

#[test]
fn compare_orders_mixed_types() {
    let ascending = json!([
        null, false, true, -1.5, 2, 10, u64::MAX, 1e300, "", "B", "a",
        [], [1], [1, 2], [2], {"a": 1}, {"b": 0}
    ]);
    let ascending = ascending.as_array().unwrap();
    for (i, a) in ascending.iter().enumerate() {
        for (j, b) in ascending.iter().enumerate() {
            assert_eq!(compare(a, b), i.cmp(&j), "{a} vs {b}");
        }
    }
    assert!(compare(&json!(1), &json!(1.0)).is_eq());
    assert!(compare(&json!(9007199254740993_u64), &json!(9007199254740992.0)).is_gt());
    let (x, y) = (json!([1, {"x": 2}]), json!([1.0, {"x": 2.0}]));
    assert!(values_equal(&x, &y));
    assert!(!values_equal(&json!(1), &json!("1")));
    assert!(!values_equal(&json!(null), &json!(false)));
}

#[test]
fn order_by_forms_and_name_tie_break() {
    let cases = json!([
        [null, "abcd"],
        [{"orderBy": {"n": "desc"}}, "cabd"],                 // null last in desc
        [{"orderBy": "n"}, "dbac"],
        [{"orderBy": [{"status": "ASC"}, {"n": "desc"}]}, "dbca"],
        [{"orderBy": {"status": "desc", "name": "desc"}}, "cabd"],
        [{"orderBy": {"status": "asc"}}, "dbac"],             // ties broken by name
    ]);
    for case in cases.as_array().unwrap() {
        let (page, _) = Query::parse(&case[0]).unwrap().apply(docs());
        assert_eq!(names(&page), case[1], "{}", case[0]);
    }
    let q = Query::parse(&json!({"orderBy": {"status": "asc"}})).unwrap();
    let asc = |f: &str| (f.to_owned(), Direction::Asc);
    assert_eq!(q.order, [asc("status"), asc("name")]);
    let q = Query::parse(&json!({"orderBy": {"name": "desc"}})).unwrap();
    assert_eq!(q.order, [("name".into(), Direction::Desc)]);
}

#[test]
fn take_skip_select_and_total() {
    let q = Query::parse(&json!({
        "where": {"name": {"not": "d"}}, "orderBy": {"name": "desc"},
        "skip": 1, "take": 1, "select": ["title", "name", "missing"], "view": "ignored"
    }))
    .unwrap();
    let (page, total) = q.apply(docs());
    assert_eq!(total, 3);
    assert_eq!(page, [doc(json!({"title": "Sell car", "name": "b"}))]);
    assert_eq!(page[0].keys().collect::<Vec<_>>(), ["title", "name"]);
    let q = Query::parse(&json!({"take": 0, "skip": 99})).unwrap();
    assert_eq!(q.apply(docs()), (vec![], 4));
}

#[test]
fn candidates_are_conservative() {
    // [where, candidates for `name` (null = None)]
    let cases = json!([
        [{"name": "a", "x": 1}, ["a"]],
        [{"name": {"in": ["a", "b", "a"]}}, ["a", "b"]],
        [{"AND": [{"name": {"in": ["a", "b"]}}, {"name": "b"}]}, ["b"]],
        [{"name": {"in": ["a"], "equals": "b"}}, []],
        [{"name": null}, [null]],
        [{"x": 1}, null],
        [{"name": {"gt": "a"}}, null],
        [{"OR": [{"name": "a"}, {"name": "b"}]}, null],
        [{"NOT": {"name": "a"}}, null],
        [{"name": {"not": "a"}}, null],
    ]);
    for case in cases.as_array().unwrap() {
        let got = Filter::parse(&case[0]).unwrap().candidates("name");
        assert_eq!(Value::from(got), case[1], "{}", case[0]);
    }
}

#[test]
fn malformed_queries_are_bad_requests() {
    let e = Filter::parse(&json!({"title": {"equals": 1, "like": "x"}})).unwrap_err();
    assert_eq!(e.code(), ErrorCode::BadRequest);
    let known = "equals, in, notIn, not, lt, lte, gt, gte, contains, startsWith, endsWith";
    let msg = format!("unknown where-operator `like` on field `title` (known: {known})");
    assert_eq!(e.to_string(), msg);
    let details = e.to_run_error().details;
    assert_eq!(details, json!({"field": "title", "operator": "like"}));
    let cases = json!([
        [{"where": {"t": {"in": 1, "like": 1}}}, "unknown where-operator `like`"],
        [{"where": {"t": {"not": {"like": 1}}}}, "unknown where-operator `like`"],
        [{"where": "x"}, "`where` must be an object, got string"],
        [{"where": {"t": {}}}, "empty operator object on field `t`"],
        [{"where": {"t": {"in": "a"}}}, "`in` on field `t` needs an array, got string"],
        [{"where": {"t": {"notIn": 1}}}, "`notIn` on field `t` needs an array"],
        [{"where": {"t": {"lt": true}}}, "needs a number or a string, got boolean"],
        [{"where": {"t": {"gte": null}}}, "needs a number or a string, got null"],
        [{"where": {"t": {"startsWith": 1}}}, "needs a string"],
        [{"where": {"t": {"endsWith": []}}}, "needs a string"],
        [{"where": {"OR": {"a": 1}}}, "`OR` must be an array of objects, got object"],
        [{"where": {"AND": 3}}, "`AND` must be an object or an array of objects"],
        [{"where": {"NOT": [1]}}, "`NOT` must be an object or an array of objects"],
        [{"take": -1}, "`take` must be a non-negative integer, got -1"],
        [{"take": 1.5}, "`take` must be a non-negative integer, got 1.5"],
        [{"skip": "2"}, "`skip` must be a non-negative integer, got \"2\""],
        [{"orderBy": {"date": "up"}}, "`date` must be \"asc\" or \"desc\", got \"up\""],
        [{"orderBy": [["date"]]}, "`orderBy` entries must be a field name or an object"],
        [{"orderBy": 1}, "`orderBy` entries must be a field name or an object"],
        [{"select": "name"}, "`select` must be an array of field names"],
        [{"select": ["a", 1]}, "`select` must be an array of field names"],
        [[], "`input` must be an object"],
    ]);
    for case in cases.as_array().unwrap() {
        let e = Query::parse(&case[0]).expect_err("should be refused");
        assert_eq!(e.code(), ErrorCode::BadRequest, "{}", case[0]);
        let want = case[1].as_str().unwrap();
        assert!(e.to_string().contains(want), "{}: {e}", case[0]);
    }
}

fn value() -> impl Strategy<Value = Value> {
    let scalar = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        (-1e20f64..1e20).prop_map(Value::from),
        "[a-c]{0,2}".prop_map(Value::from),
    ];
    scalar.prop_recursive(2, 8, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(Value::from),
            prop::collection::vec(("[ab]", inner), 0..2)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

proptest! {
    #[test]
    fn compare_is_a_total_order(a in value(), b in value(), c in value()) {
        prop_assert_eq!(compare(&a, &b), compare(&b, &a).reverse());
        if compare(&a, &b).is_le() && compare(&b, &c).is_le() {
            prop_assert!(compare(&a, &c).is_le());
        }
    }

    #[test]
    fn sort_is_a_sorted_permutation(keys in prop::collection::vec(value(), 0..20), desc: bool) {
        let input: Vec<Doc> = keys.iter().enumerate()
            .map(|(i, k)| doc(json!({"name": format!("{i:02}"), "k": k}))).collect();
        let q = Query::parse(&json!({"orderBy": {"k": if desc { "desc" } else { "asc" }}}));
        let out = q.unwrap().sort_and_page(input.clone());
        let mut seen: Vec<&str> = out.iter().map(|d| d["name"].as_str().unwrap()).collect();
        seen.sort_unstable();
        prop_assert_eq!(seen.concat(), names(&input));
        for w in out.windows(2) {
            let o = compare(&w[0]["k"], &w[1]["k"]);
            let o = if desc { o.reverse() } else { o };
            prop_assert!(o.is_lt() || (o.is_eq() && w[0]["name"].as_str() < w[1]["name"].as_str()));
        }
    }
}
