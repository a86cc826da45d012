//! The sandbox: the one constructor of the Rhai engine every script runs on.
//!
//! [`engine`] builds every Rhai engine from `Engine::new_raw()` with the packages handlers
//! need (no time package, no modules, no `eval`), strict variables and every limit set
//! explicitly; [`Sandbox::new`] keeps it with its limits. Scripts see `context` and exactly two host functions: `run(map)` and
//! `get_schema(name)`; the test runner adds `assert` and `assert_eq`. Production, the unit
//! tests, the script test runner and the benchmarks (through `coworker::bench_support`) all
//! build their engine here.

use super::errors::{compile_error, show, token};
use super::host::{Host, host_get_schema, host_run};
use super::state::{
    CLOCK_EVERY, RunState, SWEEP_CHECK_EVERY, SWEEP_DUE, in_state, sweep, with_state,
};
use super::{Limits, depth};
use crate::error::{ErrorCode, Result};
use crate::limits::{MAX_PRINTED, MAX_SCRIPT_FUNCTIONS, MAX_SCRIPT_VARIABLES};
use rhai::packages::{
    BasicArrayPackage, BasicMapPackage, BasicMathPackage, BitFieldPackage, CorePackage,
    LogicPackage, MoreStringPackage, Package,
};
use rhai::{AST, Dynamic, EvalAltResult, NativeCallContext, Scope};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

/// The error of a failed `assert`/`assert_eq` (catchable, like a throw).
pub(super) fn assertion_failed(ctx: &NativeCallContext, message: String) -> Box<EvalAltResult> {
    Box::new(EvalAltResult::ErrorRuntime(
        Dynamic::from(format!("assertion failed: {message}")),
        ctx.call_position(),
    ))
}

/// A configured Rhai engine.
pub(crate) struct Sandbox {
    pub(super) engine: rhai::Engine,
    pub(super) limits: Limits,
}

/// The sandbox's Rhai engine: the packages handlers need, `eval`, modules and `sleep` refused,
/// strict variables, every limit of `limits` set, and the host functions `run` and
/// `get_schema`. `watched` adds the hooks that hold a running script to its deadline,
/// measure its values and capture its prints: every [`Sandbox`] has them; only a benchmark
/// of their cost leaves them out (`coworker::bench_support`). `with_asserts` adds `assert`
/// and `assert_eq` (the script test runner).
pub(crate) fn engine(limits: &Limits, watched: bool, with_asserts: bool) -> rhai::Engine {
    let mut engine = rhai::Engine::new_raw();
    for package in [
        CorePackage::new().as_shared_module(),
        LogicPackage::new().as_shared_module(),
        BitFieldPackage::new().as_shared_module(),
        BasicMathPackage::new().as_shared_module(),
        BasicArrayPackage::new().as_shared_module(),
        BasicMapPackage::new().as_shared_module(),
        MoreStringPackage::new().as_shared_module(),
    ] {
        engine.register_global_module(package);
    }
    engine.disable_symbol("eval");
    engine.disable_symbol("import");
    engine.disable_symbol("export");
    engine.set_max_modules(0);
    engine.set_strict_variables(true);
    engine.set_max_operations(limits.max_operations);
    engine.set_max_call_levels(limits.max_call_depth);
    engine.set_max_expr_depths(limits.max_expr_depth, limits.max_expr_depth);
    engine.set_max_string_size(limits.max_string_size);
    engine.set_max_array_size(limits.max_array_size);
    engine.set_max_map_size(limits.max_map_size);
    engine.set_max_variables(MAX_SCRIPT_VARIABLES);
    engine.set_max_functions(MAX_SCRIPT_FUNCTIONS);
    if watched {
        watch(&mut engine);
    }
    // The core package has `sleep`: a script must not block its thread (or the
    // transaction it holds) outside the operations budget.
    engine.register_fn(
        "sleep",
        |ctx: NativeCallContext, _: rhai::INT| -> std::result::Result<(), Box<EvalAltResult>> {
            Err(Box::new(EvalAltResult::ErrorFunctionNotFound(
                "sleep (not available in the sandbox)".into(),
                ctx.call_position(),
            )))
        },
    );
    engine.register_fn(
        "sleep",
        |ctx: NativeCallContext, _: rhai::FLOAT| -> std::result::Result<(), Box<EvalAltResult>> {
            Err(Box::new(EvalAltResult::ErrorFunctionNotFound(
                "sleep (not available in the sandbox)".into(),
                ctx.call_position(),
            )))
        },
    );
    engine.register_fn("run", host_run);
    engine.register_fn("get_schema", host_get_schema);
    if with_asserts {
        engine.register_fn("assert", |ctx: NativeCallContext, ok: bool| {
            if ok {
                Ok(())
            } else {
                Err(assertion_failed(&ctx, "condition is false".into()))
            }
        });
        engine.register_fn(
            "assert",
            |ctx: NativeCallContext, ok: bool, message: &str| {
                if ok {
                    Ok(())
                } else {
                    Err(assertion_failed(&ctx, message.to_string()))
                }
            },
        );
        let assert_eq =
            |ctx: &NativeCallContext, actual: &Dynamic, expected: &Dynamic, note: &str| {
                let (a, e) = (show(actual), show(expected));
                if a == e {
                    Ok(())
                } else {
                    Err(assertion_failed(
                        ctx,
                        format!("{note}expected {e}, actual {a}"),
                    ))
                }
            };
        engine.register_fn(
            "assert_eq",
            move |ctx: NativeCallContext, actual: Dynamic, expected: Dynamic| {
                assert_eq(&ctx, &actual, &expected, "")
            },
        );
        engine.register_fn(
            "assert_eq",
            move |ctx: NativeCallContext, actual: Dynamic, expected: Dynamic, message: &str| {
                assert_eq(&ctx, &actual, &expected, &format!("{message}: "))
            },
        );
    }
    engine
}

/// The hooks of a running script: its deadline and value measures (`on_progress`, `on_var`)
/// and its captured `print`/`debug` lines (see `state`).
fn watch(engine: &mut rhai::Engine) {
    engine.on_progress(|count| {
        if count % SWEEP_CHECK_EVERY != 0 {
            return None;
        }
        let due = with_state(|state| {
            state.ops = count;
            if count >= state.next_sweep {
                SWEEP_DUE.set(true);
            }
        });
        if due.is_none() || count % CLOCK_EVERY != 0 {
            return None;
        }
        with_state(|state| {
            (Instant::now() > state.deadline).then(|| {
                let message = format!(
                    "`{}` ran longer than {} ms (limit: timeoutMs)",
                    state.name, state.timeout_ms
                );
                token(ErrorCode::Timeout, message, false)
            })
        })
        .flatten()
    });
    // Values are measured where a variable is read, since only there the running scope
    // is at hand; `on_progress` says when (see `depth`).
    #[allow(deprecated)] // `on_var` is marked volatile, not deprecated.
    engine.on_var(|_, _, ctx| {
        if !SWEEP_DUE.get() {
            return Ok(None);
        }
        SWEEP_DUE.set(false);
        let values = ctx.scope().iter_raw().map(|(_, _, v)| v);
        sweep(values.chain(ctx.this_ptr())).map(|()| None)
    });
    engine.on_print(|line| {
        tracing::info!(target: "coworker::script", "{line}");
        with_state(|state| {
            if state.printed.len() < MAX_PRINTED {
                state.printed.push(line.to_string());
            }
        });
    });
    engine.on_debug(|line, _source, position| {
        tracing::debug!(target: "coworker::script", "{line} @ {position}");
        with_state(|state| {
            if state.printed.len() < MAX_PRINTED {
                state.printed.push(line.to_string());
            }
        });
    });
}

impl Sandbox {
    /// The one constructor: production, tests and the script runner all use it.
    pub(crate) fn new(limits: Limits, with_asserts: bool) -> Sandbox {
        Sandbox {
            engine: engine(&limits, true, with_asserts),
            limits,
        }
    }

    /// The shared sandbox for `limits` (engines are built once per distinct limits).
    pub(crate) fn shared(limits: Limits) -> Arc<Sandbox> {
        static SANDBOXES: OnceLock<Mutex<HashMap<Limits, Arc<Sandbox>>>> = OnceLock::new();
        let mut map = SANDBOXES
            .get_or_init(Default::default)
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        map.entry(limits)
            .or_insert_with(|| Arc::new(Sandbox::new(limits, false)))
            .clone()
    }

    /// The scope handlers compile against: `context` is known (strict variables) but not a
    /// constant yet, so the optimizer cannot fold it into the code.
    pub(super) fn scope() -> Scope<'static> {
        let mut scope = Scope::new();
        scope.push("context", Dynamic::UNIT);
        scope
    }

    /// Compile a handler (with `context` known). Errors carry line and column.
    pub(crate) fn compile_handler(&self, name: &str, code: &str) -> Result<AST> {
        self.engine
            .compile_with_scope(&Self::scope(), code)
            .map_err(|e| compile_error(name, &e.0.to_string(), e.1))
    }

    /// Compile a stand-alone script (tests, ad-hoc scripts).
    pub(crate) fn compile_script(&self, name: &str, code: &str) -> Result<AST> {
        self.engine
            .compile(code)
            .map_err(|e| compile_error(name, &e.0.to_string(), e.1))
    }

    /// Evaluate `ast` in `scope` with `state` as this thread's script; the scope's values are
    /// taken apart afterwards.
    pub(super) fn eval(
        &self,
        state: RunState,
        ast: &AST,
        scope: &mut Scope,
    ) -> (std::result::Result<Dynamic, Box<EvalAltResult>>, RunState) {
        let outcome = in_state(state, || {
            self.engine.eval_ast_with_scope::<Dynamic>(scope, ast)
        });
        // What the script held goes without recursion, its cycles broken.
        let held = std::mem::replace(scope, Scope::new());
        depth::dismantle(held.into_iter().map(|(_, value, _)| value));
        outcome
    }

    /// A fresh state for a run of a script named `name` on this sandbox.
    pub(super) fn state(&self, name: &str, host: Host) -> RunState {
        RunState::new(name, &self.limits, host)
    }

    /// Names of the script-defined functions of `ast` that take no parameters.
    pub(crate) fn functions(ast: &AST) -> Vec<String> {
        ast.iter_functions()
            .filter(|f| f.params.is_empty())
            .map(|f| f.name.to_string())
            .collect()
    }
}
