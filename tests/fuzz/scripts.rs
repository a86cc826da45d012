//! Rhai handlers generated from a grammar of risky constructs, saved as Operation documents
//! and called.

use super::queries::*;
use super::schemas::*;
use super::values::*;
use super::*;

/// A statement of a generated handler; `k` names its variables (`v{k}`), so statements
/// compose in any order.
#[derive(Debug, Clone)]
pub(super) enum Stmt {
    /// `f = |x| g.call(x) + 1`, `n` times.
    ClosureChain(usize),
    /// A recursive function called `n` deep.
    Recurse(usize),
    /// A string doubled `n` times, or grown by one character `n` times.
    StringGrowth(usize, bool),
    /// An array pushed to `n` times (or a map given `n` keys).
    Collection(usize, bool),
    /// An array (or map) nested `n` levels by reference, then maybe passed to `run` in a where
    /// or as data.
    Deep(usize, bool, u8),
    /// `n` creates of a Note with a payload of `bytes`.
    WriteLoop(usize, usize),
    /// A nested run of a generated request (data or where from a hostile value).
    Run(Value),
    /// A nested workflow whose step fails and is retried `max` times, `backoff` ms apart.
    Workflow(u64, u64),
    /// `throw` of a value.
    Throw(&'static str),
    /// A closure that captures the map that holds it.
    Cycle,
    /// A run of the handler itself (nesting until `maxRunDepth`).
    SelfCall,
    /// A `for` loop of `n` iterations around the inner statements.
    Loop(usize, Vec<Stmt>),
    /// `try { inner } catch (e) { ... }`.
    Try(Vec<Stmt>),
    /// An endless loop (ended by the operation's limits).
    Forever,
}

pub(super) const THROWN: &[&str] = &[
    "\"boom\"",
    "#{code: \"CONFLICT\", message: \"taken\"}",
    "#{code: \"INTERNAL\", message: \"x\"}",
    "#{code: 5}",
    "#{code: \"NOPE\"}",
    "42",
    "()",
    "[1, [2, #{a: 3}]]",
    "|| 1",
    "#{message: \"x\".pad(5000, 'y')}",
];

pub(super) const ENDINGS: &[&str] = &[
    "1",
    "()",
    "#{success: false, output: 1}",
    "#{success: true, output: #{a: [1, 2]}}",
    "|x| x",
    "Fn(\"print\")",
    "[1, 2.5, \"x\", true, ()]",
    "context",
    "context.input",
    "#{success: \"yes\"}",
    "1.0 / 0.0",
    "\"x\".pad(3000, 'z')",
    "run(#{operation: \"select\", from: \"Note\"})",
];

pub(super) fn stmt() -> BoxedStrategy<Stmt> {
    let s = sizes();
    let leaf = prop_oneof![
        2 => (1..=s.closures).prop_map(Stmt::ClosureChain),
        2 => (1usize..=40).prop_map(Stmt::Recurse),
        2 => (1usize..=30, any::<bool>()).prop_map(|(n, d)| Stmt::StringGrowth(if d { n } else { n * 100 }, d)),
        2 => (1..=s.elements, any::<bool>()).prop_map(|(n, a)| Stmt::Collection(n, a)),
        3 => (1..=s.script_depth, any::<bool>(), 0u8..4).prop_map(|(n, a, use_)| Stmt::Deep(n, a, use_)),
        3 => (1..=s.writes, 0..=s.payload).prop_map(|(n, b)| Stmt::WriteLoop(n, b)),
        4 => (prop::sample::select(&["select", "create", "update", "delete", "workflow", "fz_fail", "nope"][..]),
         prop::sample::select(&["Note", "ToDo", "Fz Item", "Run", "Audit Trail", "Operation"][..]),
         prop_oneof![query_input(), schema_data().prop_map(|d| json!({"data": d})), hostile_value()])
            .prop_map(|(op, doctype, input)| {
                let mut request = json!({"operation": op, "doctype": doctype, "input": input});
                tame_retries(&mut request);
                Stmt::Run(request)
            }),
        1 => (0u64..=3, 0u64..=20).prop_map(|(m, b)| Stmt::Workflow(m, b)),
        1 => prop::sample::select(THROWN).prop_map(Stmt::Throw),
        1 => Just(Stmt::Cycle),
        1 => Just(Stmt::SelfCall),
        1 => Just(Stmt::Forever),
    ];
    leaf.prop_recursive(2, 8, 3, |inner| {
        prop_oneof![
            1 => ((1usize..=5), prop::collection::vec(inner.clone(), 1..3)).prop_map(|(n, body)| Stmt::Loop(n, body)),
            2 => prop::collection::vec(inner, 1..3).prop_map(Stmt::Try),
        ]
    })
    .boxed()
}

/// A JSON value as a Rhai expression.
pub(super) fn rhai_value(v: &Value) -> String {
    match v {
        Value::Null => "()".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) if n.is_f64() => {
            let f = n.as_f64().unwrap_or(0.0);
            if f.fract() == 0.0 && f.abs() < 1e15 {
                format!("{f:.1}")
            } else {
                format!("{f:e}")
            }
        }
        Value::Number(n) => match n.as_i64() {
            Some(i) if i > i64::MIN => i.to_string(),
            Some(_) => "-9223372036854775807 - 1".into(),
            None => format!("{:e}", n.as_f64().unwrap_or(0.0)),
        },
        Value::String(s) => {
            // Rhai strings: escape backslashes, quotes and control characters.
            let mut out = String::from("\"");
            for c in s.chars() {
                match c {
                    '\\' => out.push_str("\\\\"),
                    '"' => out.push_str("\\\""),
                    c if c.is_control() => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
                    c => out.push(c),
                }
            }
            out.push('"');
            out
        }
        Value::Array(items) => format!(
            "[{}]",
            items.iter().map(rhai_value).collect::<Vec<_>>().join(", ")
        ),
        Value::Object(map) => format!(
            "#{{{}}}",
            map.iter()
                .map(|(k, v)| format!(
                    "{}: {}",
                    rhai_value(&Value::from(k.as_str())),
                    rhai_value(v)
                ))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

pub(super) fn render(stmt: &Stmt, k: &mut usize, out: &mut String) {
    *k += 1;
    let v = format!("v{k}");
    let line = match stmt {
        Stmt::ClosureChain(n) => format!(
            "let {v} = |x| x; for i in 0..{n} {{ let g = {v}; {v} = |x| g.call(x) + 1; }} let {v}r = {v}.call(1);"
        ),
        Stmt::Recurse(n) => format!("let {v} = rec({n});"),
        Stmt::StringGrowth(n, true) => {
            format!("let {v} = \"ab\"; for i in 0..{n} {{ {v} += {v}; }}")
        }
        Stmt::StringGrowth(n, false) => {
            format!("let {v} = \"\"; for i in 0..{n} {{ {v} += \"é\"; }}")
        }
        Stmt::Collection(n, true) => format!("let {v} = []; for i in 0..{n} {{ {v}.push(i); }}"),
        Stmt::Collection(n, false) => {
            format!("let {v} = #{{}}; for i in 0..{n} {{ {v}[`k${{i}}`] = i; }}")
        }
        Stmt::Deep(n, array, use_) => {
            let wrap = if *array {
                format!("[{v}]")
            } else {
                format!("#{{x: {v}}}")
            };
            let start = if *array { "[]" } else { "#{}" };
            let used = match use_ {
                0 => String::new(),
                1 => format!(
                    "run(#{{operation: \"create\", into: \"Note\", input: #{{data: #{{deep: {v}}}}}}});"
                ),
                2 => format!(
                    "run(#{{operation: \"select\", from: \"Note\", input: #{{where: #{{deep: {v}}}}}}});"
                ),
                _ => format!("let {v}j = `${{{v}}}`;"),
            };
            format!("let {v} = {start}; for i in 0..{n} {{ {v} = {wrap}; }} {used}")
        }
        Stmt::WriteLoop(n, bytes) => format!(
            "let {v} = \"\"; {v}.pad({bytes}, 'w'); for i in 0..{n} {{ run(#{{operation: \"create\", into: \"Note\", input: #{{data: #{{t: i, p: {v}}}}}}}); }}"
        ),
        Stmt::Run(request) => format!("let {v} = run({});", rhai_value(request)),
        Stmt::Workflow(max, backoff) => format!(
            "let {v} = run(#{{operation: \"workflow\", input: #{{children: [#{{id: \"u\", operation: \"update\", \"in\": \"Fz Item\", input: #{{name: \"nope\", data: #{{qty: 1}}}}, retry: #{{max: {max}, backoffMs: {backoff}}}}}]}}}});"
        ),
        Stmt::Throw(value) => format!("throw {value};"),
        Stmt::Cycle => format!("let {v} = #{{}}; let {v}f = || {v}; {v}.f = {v}f;"),
        Stmt::SelfCall => {
            format!("let {v} = run(#{{operation: context.operation, input: context.input}});")
        }
        Stmt::Forever => "loop { }".to_string(),
        Stmt::Loop(n, body) => {
            out.push_str(&format!("for {v} in 0..{n} {{\n"));
            body.iter().for_each(|s| render(s, k, out));
            out.push_str("}\n");
            return;
        }
        Stmt::Try(body) => {
            out.push_str("try {\n");
            body.iter().for_each(|s| render(s, k, out));
            out.push_str(&format!("}} catch ({v}) {{ let {v}m = `${{{v}}}`; }}\n"));
            return;
        }
    };
    out.push_str(&line);
    out.push('\n');
}

#[derive(Debug, Clone)]
pub(super) struct ScriptCase {
    code: String,
    input: Value,
}

pub(super) fn script_case() -> BoxedStrategy<ScriptCase> {
    (
        prop::collection::vec(stmt(), 1..=4),
        prop::sample::select(ENDINGS),
        prop_oneof![3 => scalar(), 1 => hostile_value()],
    )
        .prop_map(|(stmts, ending, input)| {
            let mut code = String::from("fn rec(n) { if n <= 0 { 0 } else { rec(n - 1) + 1 } }\n");
            let mut k = 0;
            stmts.iter().for_each(|s| render(s, &mut k, &mut code));
            code.push_str(ending);
            ScriptCase { code, input }
        })
        .boxed()
}

pub(super) fn script_test(shared: &Shared, case: ScriptCase) -> TestCaseResult {
    let engine = shared.get();
    let name = format!(
        "fz_op_{}",
        engine
            .run_value(json!({"operation": "select", "from": "Operation"}))
            .data()
            .len()
    );
    let save = json!({"operation": "create", "into": "Operation", "input": {"data": {
        "name": name, "requiresTarget": "none", "handlerCode": case.code,
        "limits": {"timeoutMs": 1_000, "maxOperations": 300_000}}}});
    let saved = check(&engine, &save)?;
    if let Some(error) = &saved.error {
        prop_assert_eq!(
            error.code,
            ErrorCode::ScriptCompileError,
            "{}",
            error.message
        );
        return Ok(());
    }
    check(&engine, &json!({"operation": name, "input": case.input}))?;
    // The engine keeps serving.
    check(&engine, &json!({"operation": "fz_echo", "input": 1}))?;
    Ok(())
}
