//! Story: a script grows its values at the cost of the work it does. `push`, `+=` and
//! `m[key] = value` in a loop cost amortised O(1) each (Rhai's size check used to walk the
//! whole value after every one), so the size limits, not the clock, end a growing value;
//! and values cloned into themselves, or one string referenced many times, still end with
//! LIMIT_EXCEEDED naming the limit instead of exhausting memory.

use crate::harness::*;
use coworker::Engine;
use serde_json::{Value, json};

/// Save an operation with `code` as its handler (and `limits`, if any).
fn save(engine: &Engine, name: &str, code: &str, limits: Value) {
    ok(
        engine,
        json!({"operation": "create", "into": "Operation",
               "input": {"data": {"name": name, "handlerCode": code, "limits": limits}}}),
    );
}

/// Run the handler `code`: it must fail with LIMIT_EXCEEDED naming one of `limits`.
fn exceeds(engine: &Engine, name: &str, code: &str, limits: Value, named: &[&str]) {
    save(engine, name, code, limits);
    let run = fails(engine, json!({"operation": name}), "LIMIT_EXCEEDED");
    let message = &run.error.as_ref().expect("an error").message;
    assert!(
        named
            .iter()
            .any(|limit| message.contains(&format!("limit: {limit})"))),
        "{name}: {message}"
    );
}

#[test]
fn growing_a_value_in_a_loop_costs_amortised_constant_time() {
    // Each of these took over the default 2 s timeout of a debug build when every push
    // walked the whole array.
    let engine = engine();
    let cases = [
        (
            "ints",
            "let a = []; for i in 0..50000 { a.push(i); } a.len()",
            50_000,
        ),
        (
            "strings",
            "let a = []; for i in 0..50000 { a.push(`s${i}`); } a.len()",
            50_000,
        ),
        (
            "plus_assign",
            "let a = []; for i in 0..50000 { a += i; } a.len()",
            50_000,
        ),
        (
            "maps",
            "let a = []; for i in 0..20000 { a.push(#{i: i}); } a.len()",
            20_000,
        ),
        (
            "map_entries",
            "let m = #{}; for i in 0..20000 { m[\"k\" + i] = i; } m.len()",
            20_000,
        ),
    ];
    for (name, code, expected) in cases {
        save(&engine, name, code, Value::Null);
        let run = ok(&engine, json!({"operation": name}));
        assert_eq!(run.output, json!(expected), "{name}");
    }
}

#[test]
fn pushing_past_max_array_size_fails_with_limit_exceeded_not_timeout() {
    let engine = engine();
    let lowered = json!({"maxArraySize": 50_000});
    exceeds(
        &engine,
        "push_forever",
        "let a = []; loop { a.push(1); }",
        lowered.clone(),
        &["maxArraySize"],
    );
    exceeds(
        &engine,
        "plus_assign_forever",
        "let a = []; loop { a += 1; }",
        lowered,
        &["maxArraySize"],
    );
    // Nested sizes too: every map pushed adds an entry to the array's total.
    exceeds(
        &engine,
        "push_maps_forever",
        "let a = []; let i = 0; loop { a.push(#{i: i}); i += 1; }",
        json!({"maxMapSize": 20_000}),
        &["maxMapSize"],
    );
    // `m[key] = value` is held to maxMapSize inside the script, not only at its output.
    exceeds(
        &engine,
        "index_set_forever",
        "let m = #{}; let i = 0; loop { m[`k${i}`] = i; i += 1; }",
        json!({"maxMapSize": 20_000}),
        &["maxMapSize"],
    );
}

#[test]
fn values_cloned_into_themselves_still_end_with_limit_exceeded() {
    let engine = engine();
    let cases = [
        ("literal_doubling", "let a = [1]; loop { a = [a, a]; }"),
        ("plus_assign_doubling", "let a = [1]; loop { a += a; }"),
        ("push_doubling", "let a = [1]; loop { a.push(a); }"),
        ("map_doubling", "let a = [1]; loop { a = #{x: a, y: a}; }"),
        ("concat_doubling", "let a = [1]; loop { a = a + a; }"),
        (
            "index_set_doubling",
            "let a = [1, 2]; loop { a[0] = a; a[1] = a; }",
        ),
        (
            "property_set_doubling",
            "let m = #{x: 1, y: 2}; loop { m.x = m; m.y = m; }",
        ),
        (
            "append_doubling",
            "let a = []; a.pad(1000, 0); loop { a.append(a); }",
        ),
    ];
    for (name, code) in cases {
        exceeds(
            &engine,
            name,
            code,
            Value::Null,
            &["maxArraySize", "maxMapSize"],
        );
    }
}

#[test]
fn one_string_referenced_many_times_is_refused_before_it_is_copied() {
    let engine = engine();
    // Pushed 50,000 times: Rhai's checks catch the total string bytes early on.
    exceeds(
        &engine,
        "same_string_pushed",
        "let s = \"\"; s.pad(100000, \"x\"); let a = []; \
         for i in 0..50000 { a.push(s); } a",
        Value::Null,
        &["maxStringSize"],
    );
    // Pushed where Rhai's amortised check does not walk the array (between 32,768 and
    // 65,536 elements): 3 GB of string bytes by reference, refused by the conversion of the
    // output, and of a request to `run`, as soon as it passes 1 MiB.
    let build = "let a = []; for i in 0..32768 { a.push(i); } \
                 let s = \"\"; s.pad(100000, \"x\"); for i in 0..30000 { a.push(s); }";
    exceeds(
        &engine,
        "same_string_returned",
        &format!("{build} a"),
        Value::Null,
        &["maxStringSize"],
    );
    // The request is grown in place: a map literal holding the array would be measured.
    exceeds(
        &engine,
        "same_string_passed_to_run",
        "let r = #{operation: \"create\", into: \"Note\", input: #{data: #{a: []}}}; \
         for i in 0..32768 { r.input.data.a.push(i); } \
         let s = \"\"; s.pad(100000, \"x\"); for i in 0..30000 { r.input.data.a.push(s); } \
         run(r)",
        Value::Null,
        &["maxStringSize"],
    );
}
