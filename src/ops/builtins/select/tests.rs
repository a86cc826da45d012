//! The planned select against the naive reference (read every document, filter, sort, page)
//! over random documents and random queries, on indexes complete and incomplete.

use super::plan::{Ask, select};
use crate::doc::Doc;
use crate::query::Query;
use crate::store::{Backend, Catalog, Store, WriteTx};
use proptest::prelude::*;
use serde_json::{Value, json};

const CATALOG: Catalog = Catalog {
    meta_doctypes: &[],
    audit_doctype: "Audit",
};

/// Field values as they come: every kind, numbers that are equal as integers and floats,
/// large integers beyond 2^53, strings with NUL, arrays and objects; `None` = missing.
fn value() -> BoxedStrategy<Option<Value>> {
    prop_oneof![
        Just(None),
        Just(Some(Value::Null)),
        any::<bool>().prop_map(|b| Some(json!(b))),
        (-3i64..4).prop_map(|i| Some(json!(i))),
        prop::sample::select(vec![
            json!(1.0),
            json!(-0.0),
            json!(2.5),
            json!(-1.5),
            json!(1e-300),
            json!(9_007_199_254_740_993_i64),
            json!(9_007_199_254_740_992.0),
            json!(u64::MAX),
            json!(-9_007_199_254_740_993_i64),
            json!(1e300),
        ])
        .prop_map(Some),
        prop::sample::select(vec!["", "a", "ab", "b", "a\u{0}", "B", "é"])
            .prop_map(|s| Some(json!(s))),
        prop::sample::select(vec![
            json!([]),
            json!([1]),
            json!(["a", 2]),
            json!({"k": 1})
        ])
        .prop_map(Some),
    ]
    .boxed()
}

fn operand() -> impl Strategy<Value = Value> {
    value().prop_map(|v| v.unwrap_or(Value::Null))
}

fn range_operand() -> impl Strategy<Value = Value> {
    prop_oneof![
        (-3i64..4).prop_map(|i| json!(i)),
        prop::sample::select(vec![
            json!(2.5),
            json!(1.0),
            json!(9_007_199_254_740_993_i64)
        ]),
        prop::sample::select(vec!["", "a", "ab", "b"]).prop_map(|s| json!(s)),
    ]
}

fn field() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec!["a", "a", "b", "c", "name"])
}

/// One test on one field.
fn leaf() -> BoxedStrategy<Value> {
    let name = || prop::sample::select(vec!["d00", "d03", "d07", "d11", "zz"]);
    prop_oneof![
        (field(), operand()).prop_map(|(f, v)| json!({ f: {"equals": v} })),
        (field(), prop::collection::vec(operand(), 0..3))
            .prop_map(|(f, v)| json!({ f: {"in": v} })),
        (
            field(),
            prop::sample::select(vec!["lt", "lte", "gt", "gte"]),
            range_operand()
        )
            .prop_map(|(f, op, v)| json!({ f: { op: v } })),
        (
            field(),
            prop::sample::select(vec!["gt", "gte"]),
            range_operand(),
            prop::sample::select(vec!["lt", "lte"]),
            range_operand()
        )
            .prop_map(|(f, lo, a, hi, b)| json!({ f: { lo: a, hi: b } })),
        (field(), operand()).prop_map(|(f, v)| json!({ f: {"not": {"equals": v}} })),
        prop::collection::vec(name(), 0..3).prop_map(|n| json!({"name": {"in": n}})),
        (field(), "[ab]").prop_map(|(f, s)| json!({ f: {"startsWith": s} })),
    ]
    .boxed()
}

fn filter() -> BoxedStrategy<Value> {
    prop_oneof![
        Just(Value::Null),
        leaf(),
        (leaf(), leaf()).prop_map(|(x, y)| json!({"AND": [x, y]})),
        (leaf(), leaf()).prop_map(|(x, y)| json!({"OR": [x, y]})),
        leaf().prop_map(|x| json!({"NOT": x})),
    ]
    .boxed()
}

fn order() -> impl Strategy<Value = Value> {
    prop::sample::select(vec![
        Value::Null,
        json!({"name": "asc"}),
        json!({"name": "desc"}),
        json!({"a": "asc"}),
        json!({"a": "desc"}),
        json!({"b": "desc"}),
        json!({"c": "asc"}),
        json!([{"a": "desc"}, {"name": "desc"}]),
        json!([{"a": "asc"}, {"name": "desc"}]),
        json!([{"a": "asc"}, {"c": "desc"}]),
    ])
}

fn docs() -> impl Strategy<Value = Vec<Doc>> {
    prop::collection::vec((value(), value(), value(), any::<bool>()), 0..24).prop_map(|rows| {
        rows.into_iter()
            .enumerate()
            .map(|(i, (a, b, c, mine))| {
                let mut doc = Doc::new();
                doc.insert("name".into(), json!(format!("d{i:02}")));
                doc.insert("owner".into(), json!(if mine { "u1" } else { "u2" }));
                for (key, v) in [("a", a), ("b", b), ("c", c)] {
                    if let Some(v) = v {
                        doc.insert(key.into(), v);
                    }
                }
                doc
            })
            .collect()
    })
}

/// The reference: every document read, filtered, sorted and paged.
fn reference(docs: &[Doc], query: &Query, own_only: Option<&str>) -> (Vec<Doc>, usize) {
    let matched: Vec<Doc> = docs
        .iter()
        .filter(|d| query.filter.as_ref().is_none_or(|f| f.matches(d)))
        .filter(|d| own_only.is_none_or(|u| d["owner"] == json!(u)))
        .cloned()
        .collect();
    let total = matched.len();
    (query.sort_and_page(matched), total)
}

fn names(docs: &[Doc]) -> Vec<&str> {
    docs.iter().map(|d| d["name"].as_str().unwrap()).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(600))]
    #[test]
    fn the_planned_select_equals_filtering_sorting_and_paging_every_document(
        docs in docs(),
        where_ in filter(),
        order_by in order(),
        take in prop::option::of(0usize..6),
        skip in 0usize..5,
        own in any::<bool>(),
        count in any::<bool>(),
        complete in any::<bool>(),
        indexed_b in any::<bool>(),
    ) {
        let store = Store::in_memory(CATALOG).unwrap();
        let indexed: Vec<String> =
            if indexed_b { vec!["a".into(), "b".into()] } else { vec!["a".into()] };
        store.write(|mut tx| -> crate::error::Result<()> {
            for doc in &docs {
                // An incomplete index is one format 1 left: scalars that are not null only.
                let listed: Vec<String> = indexed
                    .iter()
                    .filter(|f| complete || doc.get(f.as_str()).and_then(crate::store::index_value).is_some())
                    .cloned()
                    .collect();
                tx.put_doc("T", doc["name"].as_str().unwrap(), doc, &listed)?;
            }
            if complete {
                for field in &indexed {
                    tx.rebuild_index("T", field, true)?;
                }
            }
            Ok(())
        }).unwrap().unwrap();
        let view = store.read().unwrap();
        let mut input = json!({"where": where_, "orderBy": order_by, "skip": skip});
        if let Some(take) = take {
            input["take"] = json!(take);
        }
        let query = Query::parse(&input).unwrap();
        let own_only = own.then_some("u1");
        let ask = Ask { query: &query, rows: take, peek: true, own_only, count, skip_corrupt: false };
        let page = select(&*view, "T", &indexed, &ask).unwrap();
        let (want, total) = reference(&docs, &query, own_only);
        prop_assert_eq!(names(&page.rows), names(&want), "plan {}", page.plan);
        prop_assert_eq!(page.total, count.then_some(total), "plan {}", page.plan);
        let beyond = take.is_some_and(|t| total.saturating_sub(skip) > t);
        prop_assert_eq!(page.more, beyond, "plan {}", page.plan);
        let examined = page.plan["examined"].as_u64().unwrap();
        prop_assert!(examined as usize <= docs.len() + 1, "plan {}", page.plan);
    }
}
