//! Generated `where` / `orderBy` / `take` / `skip` / `select` inputs, and the property that a
//! `where` and its `NOT` split a doctype in two.

use super::values::*;
use super::*;

pub(super) const FIELDS: &[&str] = &[
    "name",
    "status",
    "qty",
    "title",
    "tag",
    "code",
    "amount",
    "n",
    "tags",
    "nested",
    "description",
    "missing",
    "",
    "AND",
    "owner",
    "creation",
    "lines",
    "ünï",
];

pub(super) const OPERATORS: &[&str] = &[
    "equals",
    "in",
    "notIn",
    "not",
    "lt",
    "lte",
    "gt",
    "gte",
    "contains",
    "startsWith",
    "endsWith",
    "like",
    "Equals",
    "$eq",
    "in ",
    "",
];

pub(super) fn query_arg() -> BoxedStrategy<Value> {
    prop_oneof![
        3 => scalar(),
        2 => prop::collection::vec(scalar(), 0..4).prop_map(Value::from),
        1 => hostile_value(),
    ]
    .boxed()
}

/// A field's condition: a value, or an operator object (valid and invalid operators).
pub(super) fn condition() -> BoxedStrategy<Value> {
    let typed = prop_oneof![
        prop::sample::select(&["equals", "not", "contains"][..])
            .prop_flat_map(|op| scalar().prop_map(move |v| json!({ op: v }))),
        prop::sample::select(&["in", "notIn"][..]).prop_flat_map(|op| prop::collection::vec(
            scalar(),
            0..4
        )
        .prop_map(move |v| json!({ op: v }))),
        prop::sample::select(&["lt", "lte", "gt", "gte"][..]).prop_flat_map(|op| prop_oneof![
            number(),
            hostile_string().prop_map(Value::from)
        ]
        .prop_map(move |v| json!({ op: v }))),
        prop::sample::select(&["startsWith", "endsWith", "contains"][..])
            .prop_flat_map(|op| hostile_string().prop_map(move |v| json!({ op: v }))),
    ];
    let typed_pair = (typed.clone(), typed.clone()).prop_map(|(mut a, b)| {
        if let (Value::Object(a), Value::Object(b)) = (&mut a, b) {
            a.extend(b);
        }
        a
    });
    prop_oneof![
        3 => scalar(),
        4 => typed,
        2 => typed_pair,
        1 => prop::collection::vec((prop::sample::select(OPERATORS), query_arg()), 1..=3)
            .prop_map(|ops| Value::Object(ops.into_iter().map(|(k, v)| (k.to_string(), v)).collect())),
        1 => (prop::sample::select(OPERATORS), query_arg())
            .prop_map(|(a, arg)| json!({"not": {a: arg}})),
        1 => typed_not(),
    ]
    .boxed()
}

pub(super) fn typed_not() -> BoxedStrategy<Value> {
    (prop::sample::select(&["equals", "contains"][..]), scalar())
        .prop_map(|(op, v)| json!({"not": { op: v }}))
        .boxed()
}

/// A `where` object: field conditions and nested `AND`/`OR`/`NOT` (objects, arrays, wrong types).
pub(super) fn where_clause() -> BoxedStrategy<Value> {
    let leaf = prop::collection::vec((prop::sample::select(FIELDS), condition()), 0..3)
        .prop_map(|kv| Value::Object(kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect()));
    let tree = leaf.prop_recursive(4, 32, 3, |inner| {
        prop_oneof![
            (
                prop::sample::select(&["AND", "OR", "NOT"][..]),
                prop::collection::vec(inner.clone(), 0..3)
            )
                .prop_map(|(op, parts)| json!({ op: parts })),
            (prop::sample::select(&["AND", "NOT"][..]), inner.clone())
                .prop_map(|(op, part)| json!({ op: part })),
            (prop::sample::select(&["AND", "OR", "NOT"][..]), scalar())
                .prop_map(|(op, bad)| json!({ op: bad })),
            (
                prop::sample::select(&["AND", "OR", "NOT"][..]),
                prop::collection::vec(inner.clone(), 0..3)
            )
                .prop_map(|(op, parts)| json!({ op: parts })),
            (prop::sample::select(&["AND", "NOT"][..]), inner.clone())
                .prop_map(|(op, part)| json!({ op: part })),
            (inner.clone(), inner).prop_map(|(a, b)| {
                let mut a = a;
                if let (Value::Object(a), Value::Object(b)) = (&mut a, b) {
                    a.extend(b);
                }
                a
            }),
        ]
    });
    let depth = sizes().depth;
    prop_oneof![
        8 => tree,
        // Each level is two JSON levels (`{"AND": [...]}`).
        1 => (1..=depth / 2, prop::sample::select(&["AND", "OR", "NOT"][..])).prop_map(|(n, op)| {
            (0..n).fold(json!({"status": "Open"}), |inner, _| json!({ op: [inner] }))
        }),
        1 => hostile_value(),
    ]
    .boxed()
}

pub(super) fn order_by() -> BoxedStrategy<Value> {
    let dir = prop_oneof![
        12 => prop::sample::select(&["asc", "desc", "ASC", "Desc"][..]).prop_map(Value::from),
        1 => scalar(),
    ];
    let entry = prop_oneof![
        4 => prop::sample::select(FIELDS).prop_map(Value::from),
        4 => prop::collection::vec((prop::sample::select(FIELDS), dir), 0..3)
            .prop_map(|kv| Value::Object(kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect())),
        1 => scalar(),
    ];
    prop_oneof![
        entry.clone(),
        prop::collection::vec(entry, 0..4).prop_map(Value::from),
    ]
    .boxed()
}

/// `take`/`skip`: small, huge, negative, fractional, or of the wrong type.
pub(super) fn count_value() -> BoxedStrategy<Value> {
    prop_oneof![
        12 => (0u64..6).prop_map(Value::from),
        2 => number(),
        1 => scalar(),
    ]
    .boxed()
}

/// A select (or update / delete) input built from the query strategies; keys may be absent.
pub(super) fn query_input() -> BoxedStrategy<Value> {
    (
        prop::option::weighted(0.8, where_clause()),
        prop::option::weighted(0.4, order_by()),
        prop::option::weighted(0.3, count_value()),
        prop::option::weighted(0.3, count_value()),
        prop::option::weighted(0.3, prop_oneof![
            6 => prop::collection::vec(prop::sample::select(FIELDS).prop_map(Value::from), 0..4).prop_map(Value::from),
            1 => scalar(),
        ]),
        prop::option::weighted(0.1, (prop::sample::select(KEYS), hostile_value())),
    )
        .prop_map(|(where_, order, take, skip, select, extra)| {
            let mut input = Map::new();
            let mut put = |k: &str, v: Option<Value>| {
                if let Some(v) = v {
                    input.insert(k.to_string(), v);
                }
            };
            put("where", where_);
            put("orderBy", order);
            put("take", take);
            put("skip", skip);
            put("select", select);
            if let Some((k, v)) = extra {
                input.insert(k.to_string(), v);
            }
            Value::Object(input)
        })
        .boxed()
}

#[derive(Debug, Clone)]
pub(super) struct QueryCase {
    operation: &'static str,
    doctype: &'static str,
    input: Value,
    data: Value,
}

pub(super) fn query_case() -> BoxedStrategy<QueryCase> {
    let data = prop_oneof![
        Just(json!({"status": "Closed"})),
        Just(json!({"qty": 1})),
        Just(json!({"code": "A1"})),
        (prop::sample::select(FIELDS), scalar()).prop_map(|(k, v)| json!({ k: v })),
    ];
    (
        prop::sample::select(&["select", "select", "select", "update", "delete"][..]),
        prop::sample::select(&["Fz Item", "ToDo"][..]),
        query_input(),
        data,
    )
        .prop_map(|(operation, doctype, input, data)| QueryCase {
            operation,
            doctype,
            input,
            data,
        })
        .boxed()
}

/// The request a query case sends.
pub(super) fn query_request(case: &QueryCase) -> Value {
    let mut input = case.input.clone();
    if let (Value::Object(map), "update" | "delete") = (&mut input, case.operation) {
        // Paging belongs to select (the requests property sends it elsewhere).
        for key in ["orderBy", "take", "skip", "select"] {
            map.remove(key);
        }
        if case.operation == "update" {
            map.insert("data".into(), case.data.clone());
        }
    }
    let target = match case.operation {
        "update" => "in",
        _ => "from",
    };
    json!({"operation": case.operation, target: case.doctype, "input": input})
}

pub(super) fn query_test(shared: &Shared, case: QueryCase) -> TestCaseResult {
    let engine = shared.get();
    let request = query_request(&case);
    let run = check(&engine, &request)?;
    if run.success && case.operation == "select" {
        check_page(&engine, &request, &run)?;
    }
    // A `where` that parses splits the documents in two: those it matches, and those
    // `NOT` it matches (the index may serve the first, never the second).
    let where_ = case.input.get("where").filter(|w| w.is_object());
    // (A `where` at the depth limit cannot be wrapped in a `NOT`: then there is no split.)
    let wrappable = !coworker_depth_exceeded(where_);
    if let (true, "select", Some(where_), true) = (run.success, case.operation, where_, wrappable) {
        let names = |where_: Value| -> std::result::Result<BTreeSet<String>, TestCaseError> {
            let request = json!({"operation": "select", "from": case.doctype,
                                     "input": {"where": where_, "select": ["name"], "take": 100_000}});
            let run = check(&engine, &request)?;
            prop_assert!(run.success, "{:?} for {}", run.error, cut(&request));
            Ok(run.data().iter().map(|d| d["name"].to_string()).collect())
        };
        let all = names(json!({}))?;
        let matched = names(where_.clone())?;
        let unmatched = names(json!({"NOT": where_}))?;
        prop_assert!(
            matched.is_disjoint(&unmatched),
            "where {} and its NOT overlap",
            cut(where_)
        );
        let union: BTreeSet<String> = matched.union(&unmatched).cloned().collect();
        prop_assert_eq!(
            union,
            all,
            "where {} and its NOT do not cover the doctype",
            cut(where_)
        );
    }
    Ok(())
}

/// Whether `where_` wrapped in `{"NOT": …}` inside a request's `input` would nest past the
/// engine's depth limit for a request's input (`MAX_VALUE_DEPTH` + 2).
fn coworker_depth_exceeded(where_: Option<&Value>) -> bool {
    fn depth(value: &Value) -> usize {
        match value {
            Value::Array(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
            Value::Object(map) => 1 + map.values().map(depth).max().unwrap_or(0),
            _ => 0,
        }
    }
    // input { where { NOT <where_> } }
    where_.is_some_and(|w| 3 + depth(w) > coworker::MAX_VALUE_DEPTH + 2)
}

/// A page (`skip`, `take`) is the same slice of the whole ordered result.
fn check_page(engine: &Engine, request: &Value, page: &Run) -> TestCaseResult {
    let input = &request["input"];
    let skip = input.get("skip").and_then(Value::as_u64);
    let take = input.get("take").and_then(Value::as_u64);
    if skip.is_none() && take.is_none() {
        return Ok(());
    }
    let mut whole = request.clone();
    whole["input"]["take"] = json!(100_000);
    whole["input"]["skip"] = json!(0);
    let whole = check(engine, &whole)?;
    prop_assert!(whole.success, "{:?}", whole.error);
    let all = whole.data();
    let from = usize::try_from(skip.unwrap_or(0))
        .unwrap_or(usize::MAX)
        .min(all.len());
    let to = usize::try_from(take.unwrap_or(u64::MAX))
        .unwrap_or(usize::MAX)
        .saturating_add(from)
        .min(all.len());
    let strip = |docs: &[Value]| docs.iter().map(|d| d["name"].clone()).collect::<Vec<_>>();
    prop_assert_eq!(
        strip(page.data()),
        strip(&all[from..to]),
        "the page is not the slice of the whole result for {}",
        cut(request)
    );
    Ok(())
}
