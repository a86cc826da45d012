//! Script benchmarks (issue 4): what a cached Rhai handler costs next to its peers.
//!
//! Run with `cargo bench --bench scripts` (about a minute on 2 cores, plus the
//! build); `cargo bench --bench scripts -- --test` runs each benchmark once as a smoke test.
//! The store is a redb *file* under Cargo's `CARGO_TARGET_TMPDIR` (removed afterwards), like
//! the other benches.
//!
//! Every benchmark of a group is a `common::Peer` (the one trait of every bench) doing the same work; before timing, a group calls
//! each peer once and checks that they all return the same value. All groups are measured in
//! the same run, so their ratios are comparable. The peers:
//!
//! - **`cached_op`**: the product. An `Operation` document with `handlerCode`, compiled once
//!   when it is saved and cached; each call is `engine.run(...)`: a top-level run whose
//!   handler runs in the sandbox on a scoped thread while the run's thread serves its `run`
//!   calls.
//! - **`compiled_op`**: the naive peer, *Rhai compiled on every call*. A native operation
//!   (`EngineBuilder::operation`) called through the same `engine.run(...)`, whose handler
//!   compiles the same source on every call with [`Mirror`] (the sandbox's own Rhai engine,
//!   built by the production constructor through `coworker::bench_support`: the same
//!   packages, limits and hooks) and evaluates it inline on the run's thread. Where the script calls `run(select)`, the
//!   handler has already made that nested select with `ctx.run` (same request, same nested
//!   run record) and the mirror's `run` hands its result in with the same conversions as the
//!   sandbox's host function (request map → JSON, child run JSON → `Dynamic`). So it pays
//!   the compile, and skips the sandbox's thread and channel hand-offs.
//!   (`Engine::run_script` also compiles per call, but runs no top-level run of its own and
//!   makes its `run` calls top-level runs, so it is only a peer where no `run` is called:
//!   `run_script` in group 2.)
//! - **`native`**: the floor, a Rust handler (`EngineBuilder::operation`) doing the same
//!   nested select with `ctx.run` and building the same CSV in Rust.
//! - **`inline_cached`** (diagnostic): like `compiled_op` but evaluating an AST compiled
//!   once: what `cached_op` would cost without the sandbox's thread.
//! - **`rhai_cached`** / **`rhai_compiled`**: no engine at all, the bare script on [`Mirror`]:
//!   evaluate a cached AST, or compile and evaluate.
//!
//! Groups:
//! 1. `select_map_csv`: select 10 `Customer` documents (a nested run) and map them into a
//!    CSV string. Target: `cached_op` within 3x of `native`.
//! 2. `compute/<peer>/<workload>`: pure-compute handlers of ~20 lines, no `run`. `rule`: a
//!    straight-line pricing rule (arithmetic, branches, a string), the usual shape of a rules
//!    handler; `primes_10` / `primes_200`: loops over primes below n + 2 and a label string
//!    (at 10 the loop already costs 60% of a compile; at 200 it dominates). Target: cached at
//!    least 4x faster than compile-per-call. The cache saves the compile, so the ratio is
//!    (compile + eval) / eval: `rhai_cached` vs `rhai_compiled` is that ratio for the bare
//!    handler; `cached_op` vs `compiled_op` adds a top-level run around both (its record,
//!    the run pipeline), which no cache removes.
//! 3. `deadline_check`: a tight loop of 200,000 iterations (~1M Rhai operations) as an
//!    operation through the engine (`engine_op`), and on [`Mirror`] with the sandbox's
//!    hooks (`rhai_progress`: `on_progress` called per operation, a thread-local look-up
//!    every 256 and a clock read every 1024, and the value measures it schedules) and without
//!    any (`rhai_no_progress`; operations are still counted against `max_operations`). Target: `rhai_progress / rhai_no_progress` under
//!    1.05; `engine_op / rhai_no_progress` adds the run pipeline and the script thread,
//!    which are negligible next to a 30 ms loop.

// `criterion_group!` defines an undocumented `pub fn`.
#![allow(missing_docs)]

mod common;

use common::{By, compare};
use coworker::bench_support::{in_script, sandbox_engine};
use coworker::{Engine, Error, OpContext, RunRequest};
use criterion::{Criterion, SamplingMode, criterion_group, criterion_main};
use rhai::{AST, Dynamic, EvalAltResult, Scope};
use serde_json::{Value, json};
use std::cell::RefCell;
use std::sync::OnceLock;
use std::time::Duration;

/// The doctype the CSV handler exports.
const DOCTYPE: &str = "Customer";

/// The select-and-map handler: the same source for every Rhai peer.
const CSV_CODE: &str = r#"
// export_csv: the documents of the target doctype as CSV.
let found = run(#{operation: "select", from: context.doctype, input: #{take: 10}});
if !found.success {
    throw found.error.message;
}
let csv = "name,customer_name,city,credit_limit\n";
for doc in found.output.data {
    csv += `${doc.name},${doc.customer_name},${doc.city},${doc.credit_limit}`;
    csv += "\n";
}
csv
"#;

/// The pure-compute handler (`@N@` is replaced by its size): no `run`, no `context`, so the
/// same source also runs as an ad-hoc script.
const COMPUTE_CODE: &str = r#"
// compute: primes below N + 2, their sum, and a label of the first few.
const N = @N@;
let primes = [];
let label = "";
for i in 2..N + 2 {
    let prime = true;
    for d in 2..i {
        if d * d > i { break; }
        if i % d == 0 { prime = false; break; }
    }
    if prime {
        primes.push(i);
        if label.len() < 40 { label += `${i} `; }
    }
}
let total = 0;
for p in primes { total += p; }
let kind = if total % 2 == 0 { "even" } else { "odd" };
#{n: N, count: primes.len(), sum: total, kind: kind, label: label}
"#;

/// The deadline-check loop: 200,000 iterations.
const SPIN_CODE: &str = r#"
let sum = 0;
for i in 0..200000 { sum += i % 7; }
sum
"#;

/// The operations budget for the spin loop (the default, 1M, is about its size).
const SPIN_MAX_OPERATIONS: u64 = 10_000_000;

/// The straight-line pure-compute handler: a pricing rule of ~20 lines with no loop, the
/// usual shape of a rules engine's handler (derive fields, branch, format).
const RULE_CODE: &str = r#"
// quote: a quote's total with a tiered discount, tax, flags and a summary line.
let qty = 12;
let unit = 250;
let subtotal = qty * unit;
let tier = if subtotal >= 5000 { "gold" } else if subtotal >= 2000 { "silver" } else { "bronze" };
let rate = switch tier { "gold" => 15, "silver" => 10, _ => 0 };
let discount = subtotal * rate / 100;
let net = subtotal - discount;
let tax = net * 23 / 100;
let total = net + tax;
let flags = [];
if qty > 10 { flags.push("bulk"); }
if total > 3000 { flags.push("review"); }
if tier != "bronze" { flags.push(tier); }
let summary = `${qty} x ${unit} = ${subtotal}, -${rate}% = ${net}, +tax ${tax}`;
#{subtotal: subtotal, tier: tier, rate: rate, discount: discount, net: net, tax: tax,
  total: total, flags: flags, summary: summary}
"#;

/// The pure-compute workloads of group 2: (label, source).
fn compute_workloads() -> Vec<(&'static str, String)> {
    vec![
        ("rule", RULE_CODE.to_string()),
        ("primes_10", COMPUTE_CODE.replace("@N@", "10")),
        ("primes_200", COMPUTE_CODE.replace("@N@", "200")),
    ]
}

// ---------------------------------------------------------------------------------------
// Mirror: the sandbox's own Rhai engine, driven without the engine around it.
// ---------------------------------------------------------------------------------------

thread_local! {
    /// The child run the mirror's `run` host function hands to the script (JSON).
    static PREFETCHED: RefCell<Option<Value>> = const { RefCell::new(None) };
}

/// The sandbox's Rhai engine, built by the production constructor
/// (`coworker::bench_support::sandbox_engine`, default limits but `max_operations`), with or
/// without its hooks (the `on_progress` deadline check and value measures), and a `run` host
/// function that returns the child run prepared in [`PREFETCHED`] in place of the sandbox's.
struct Mirror {
    engine: rhai::Engine,
    limits: coworker::Limits,
}

impl Mirror {
    fn new(max_operations: u64, deadline_check: bool) -> Mirror {
        let limits = coworker::Limits {
            max_operations,
            ..Default::default()
        };
        let mut engine = sandbox_engine(limits, deadline_check);
        engine.register_fn(
            "run",
            |request: rhai::Map| -> Result<Dynamic, Box<EvalAltResult>> {
                // The sandbox's `host_run` converts both ways; so does this.
                let request: Value = rhai::serde::from_dynamic(&Dynamic::from_map(request))?;
                assert_eq!(request["operation"], json!("select"));
                let child = PREFETCHED
                    .with(|cell| cell.borrow_mut().take())
                    .expect("the handler prepared the child run");
                rhai::serde::to_dynamic(child)
            },
        );
        Mirror { engine, limits }
    }

    fn compile(&self, code: &str) -> AST {
        let mut scope = Scope::new();
        scope.push_constant("context", Dynamic::UNIT);
        self.engine
            .compile_with_scope(&scope, code)
            .expect("the script compiles")
    }

    /// Evaluate `ast` with `context` in scope, as the sandbox runs a script on this thread
    /// (its deadline set, its values measured).
    fn eval(&self, ast: &AST, context: &Value) -> Value {
        let mut scope = Scope::new();
        let context = rhai::serde::to_dynamic(context).expect("context converts");
        scope.push_constant("context", context);
        let outcome = in_script("bench", self.limits, || {
            self.engine.eval_ast_with_scope::<Dynamic>(&mut scope, ast)
        });
        let value = outcome.unwrap_or_else(|e| panic!("the script fails: {e}"));
        rhai::serde::from_dynamic(&value).expect("the result is JSON")
    }
}

fn mirror() -> &'static Mirror {
    static MIRROR: OnceLock<Mirror> = OnceLock::new();
    MIRROR.get_or_init(|| Mirror::new(coworker::Limits::DEFAULT_MAX_OPERATIONS, true))
}

// ---------------------------------------------------------------------------------------
// Native handlers registered with the engine.
// ---------------------------------------------------------------------------------------

fn select_request(ctx: &OpContext<'_, '_>) -> RunRequest {
    let doctype = ctx.current().doctype.clone().unwrap_or_default();
    RunRequest::new("select")
        .from(doctype)
        .input(json!({"take": 10}))
}

/// The CSV in Rust: the floor.
fn export_csv_native(ctx: &mut OpContext<'_, '_>) -> coworker::Result<Value> {
    let found = ctx.run(select_request(ctx));
    if let Some(error) = found.error {
        return Err(Error::internal(error.message));
    }
    let field = |doc: &Value, key: &str| match &doc[key] {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let mut csv = String::from("name,customer_name,city,credit_limit\n");
    for doc in found.data() {
        csv.push_str(&format!(
            "{},{},{},{}\n",
            field(doc, "name"),
            field(doc, "customer_name"),
            field(doc, "city"),
            field(doc, "credit_limit"),
        ));
    }
    Ok(Value::String(csv))
}

/// Evaluate `ast` on the mirror inline, after making the nested select its `run` asks for
/// (when `selects`).
fn eval_inline(ctx: &mut OpContext<'_, '_>, ast: &AST, selects: bool) -> Value {
    let context = ctx.current().to_value();
    if selects {
        let child = ctx.run(select_request(ctx)).to_value();
        PREFETCHED.with(|cell| *cell.borrow_mut() = Some(child));
    }
    mirror().eval(ast, &context)
}

fn export_csv_compiled(ctx: &mut OpContext<'_, '_>) -> coworker::Result<Value> {
    let ast = mirror().compile(CSV_CODE);
    Ok(eval_inline(ctx, &ast, true))
}

fn export_csv_inline_cached(ctx: &mut OpContext<'_, '_>) -> coworker::Result<Value> {
    static AST: OnceLock<AST> = OnceLock::new();
    let ast = AST.get_or_init(|| mirror().compile(CSV_CODE));
    Ok(eval_inline(ctx, ast, true))
}

/// The `compute_compiled_<label>` operations: compile a compute handler on every call.
fn compute_compiled(
    code: String,
) -> impl Fn(&mut OpContext<'_, '_>) -> coworker::Result<Value> + Send + Sync + 'static {
    move |ctx| {
        let ast = mirror().compile(&code);
        Ok(eval_inline(ctx, &ast, false))
    }
}

// ---------------------------------------------------------------------------------------
// The store.
// ---------------------------------------------------------------------------------------

/// The engine on its store file (the folder is removed when this is dropped), with the
/// operations and documents every group uses.
struct Fixture {
    engine: Engine,
    _dir: tempfile::TempDir,
}

fn create(engine: &Engine, doctype: &str, data: Value) {
    let run = engine.run(
        RunRequest::new("create")
            .into_doctype(doctype)
            .input(json!({ "data": data })),
    );
    assert!(run.success, "create {doctype}: {:?}", run.error);
}

impl Fixture {
    fn new() -> Fixture {
        let dir = common::temp_dir();
        let mut builder = Engine::builder()
            .operation("export_csv_native", export_csv_native)
            .operation("export_csv_compiled", export_csv_compiled)
            .operation("export_csv_inline_cached", export_csv_inline_cached);
        for (label, code) in compute_workloads() {
            builder =
                builder.operation(format!("compute_compiled_{label}"), compute_compiled(code));
        }
        let engine = builder
            .open(dir.path().join("bench.redb"))
            .expect("store opens");
        let cities = ["Lisbon", "Porto", "Nairobi", "Osaka", "Quito"];
        let customers: Vec<Value> = (0..10)
            .map(|i| {
                json!({"name": format!("CUST-{i:04}"), "customer_name": format!("Customer {i}"),
                       "city": cities[i % cities.len()], "credit_limit": 1000 * (i + 1)})
            })
            .collect();
        create(&engine, DOCTYPE, Value::Array(customers));
        let mut ops = vec![
            json!({"name": "export_csv", "requiresTarget": "from", "handlerCode": CSV_CODE}),
            json!({"name": "spin", "handlerCode": SPIN_CODE,
                   "limits": {"maxOperations": SPIN_MAX_OPERATIONS}}),
        ];
        for (label, code) in compute_workloads() {
            ops.push(json!({"name": format!("compute_{label}"), "handlerCode": code}));
        }
        create(&engine, "Operation", Value::Array(ops));
        Fixture { engine, _dir: dir }
    }
}

/// A successful run's output.
fn output_of(engine: &Engine, request: RunRequest) -> Value {
    let run = engine.run(request);
    assert!(run.success, "{:?}", run.error);
    run.output
}

// ---------------------------------------------------------------------------------------
// Groups: every peer is a `common::Peer`.
// ---------------------------------------------------------------------------------------

fn csv_request(operation: &str) -> RunRequest {
    RunRequest::new(operation).from(DOCTYPE)
}

fn select_map_csv(c: &mut Criterion, engine: &Engine) {
    let mut group = c.benchmark_group("select_map_csv");
    compare(
        &mut group,
        None,
        &[
            &By("cached_op", || output_of(engine, csv_request("export_csv"))),
            &By("compiled_op", || {
                output_of(engine, csv_request("export_csv_compiled"))
            }),
            &By("native", || {
                output_of(engine, csv_request("export_csv_native"))
            }),
            &By("inline_cached", || {
                output_of(engine, csv_request("export_csv_inline_cached"))
            }),
        ],
    );
    group.finish();
}

fn compute(c: &mut Criterion, engine: &Engine) {
    let mut group = c.benchmark_group("compute");
    for (label, code) in compute_workloads() {
        let ast = mirror().compile(&code);
        let (cached, compiled) = (
            format!("compute_{label}"),
            format!("compute_compiled_{label}"),
        );
        compare(
            &mut group,
            Some(label),
            &[
                &By("cached_op", || {
                    output_of(engine, RunRequest::new(cached.as_str()))
                }),
                &By("compiled_op", || {
                    output_of(engine, RunRequest::new(compiled.as_str()))
                }),
                &By("run_script", || {
                    engine
                        .run_script("compute", &code)
                        .expect("the script runs")
                }),
                &By("rhai_cached", || mirror().eval(&ast, &Value::Null)),
                &By("rhai_compiled", || {
                    mirror().eval(&mirror().compile(&code), &Value::Null)
                }),
            ],
        );
    }
    group.finish();
}

fn deadline_check(c: &mut Criterion, engine: &Engine) {
    let with = Mirror::new(SPIN_MAX_OPERATIONS, true);
    let without = Mirror::new(SPIN_MAX_OPERATIONS, false);
    let (ast_with, ast_without) = (with.compile(SPIN_CODE), without.compile(SPIN_CODE));
    let mut group = c.benchmark_group("deadline_check");
    // Iterations take tens of milliseconds: the same count in every sample.
    group
        .sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .measurement_time(Duration::from_secs(4));
    compare(
        &mut group,
        None,
        &[
            &By("engine_op", || output_of(engine, RunRequest::new("spin"))),
            &By("rhai_progress", || with.eval(&ast_with, &Value::Null)),
            &By("rhai_no_progress", || {
                without.eval(&ast_without, &Value::Null)
            }),
        ],
    );
    group.finish();
}

/// Every group, on one store made for them and removed afterwards.
fn scripts(c: &mut Criterion) {
    let fixture = Fixture::new();
    select_map_csv(c, &fixture.engine);
    compute(c, &fixture.engine);
    deadline_check(c, &fixture.engine);
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = scripts
}
criterion_main!(benches);
