//! The Rhai sandbox: compile (cached), limits, and the two host functions.
//!
//! One constructor, [`Sandbox::new`], builds every engine from `Engine::new_raw()` with the
//! packages handlers need (no time package, no modules, no `eval`), strict variables and
//! every limit set explicitly. Scripts see `context` and exactly two host functions:
//! `run(map)` and `get_schema(name)`; the test runner adds `assert` and `assert_eq`.
//!
//! A handler script runs on a scoped thread of its own while the calling thread serves its
//! host calls: the calling thread holds the run's transaction, which cannot cross into
//! Rhai's `'static` callbacks. This module never touches the store: host calls are handed
//! to whoever runs the script.
//!
//! Over ~600 lines: issue 13 splits it into sandbox (the one constructor), host (hand-over),
//! cache and errors; `depth`, `convert`, `limits` and `workers` already are.

pub(crate) mod convert;
mod depth;
mod limits;
mod workers;

pub use limits::Limits;

use crate::error::{Error, ErrorCode, Result};
use crate::value::MAX_VALUE_DEPTH;
use rhai::packages::{
    BasicArrayPackage, BasicMapPackage, BasicMathPackage, BitFieldPackage, CorePackage,
    LogicPackage, MoreStringPackage, Package,
};
use rhai::{AST, Dynamic, EvalAltResult, NativeCallContext, Position, Scope};
use serde_json::{Value, json};
use std::cell::RefCell;
use std::collections::HashMap;
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// How many progress ticks (Rhai operations) pass between two looks at the clock.
const CLOCK_EVERY: u64 = 1024;
/// How many times a thread polls for a message before it blocks: the two threads of a
/// handler hand over to each other within microseconds, and waking a blocked thread costs
/// tens of them on a small virtual machine.
const SPINS_BEFORE_BLOCKING: u32 = 4_000;

/// The next message: a short spin, then a blocking wait. The spin yields now and then, so
/// that when both threads share a core the other one gets to send.
fn receive<T>(from: &Receiver<T>) -> std::result::Result<T, std::sync::mpsc::RecvError> {
    for spin in 0..SPINS_BEFORE_BLOCKING {
        match from.try_recv() {
            Ok(message) => return Ok(message),
            Err(std::sync::mpsc::TryRecvError::Empty) if spin % 64 == 63 => {
                std::thread::yield_now()
            }
            Err(std::sync::mpsc::TryRecvError::Empty) => std::hint::spin_loop(),
            Err(std::sync::mpsc::TryRecvError::Disconnected) => {
                return Err(std::sync::mpsc::RecvError);
            }
        }
    }
    from.recv()
}

/// The token that stops an inline handler at its first host call.
const NEEDS_HOST: &str = "coworker: needs a host";
/// The token that stops an inline handler once it holds more values than a measure on the
/// caller's thread should walk (it starts over on a script thread).
const NEEDS_THREAD: &str = "coworker: needs a thread";

/// How deep a value a script holds may nest (arrays, maps and closures each count a level):
/// room for values that entered at [`MAX_VALUE_DEPTH`] inside the wrappers around them
/// (`context.input.data`, a nested run's `output.data[i]`). What leaves a script (its output,
/// a request to `run`) nests at most [`MAX_VALUE_DEPTH`].
const HELD_DEPTH: usize = 2 * MAX_VALUE_DEPTH;

/// How many operations pass between two looks at whether the script's values are due to be
/// measured (see [`depth`]).
const SWEEP_CHECK_EVERY: u64 = 256;
/// The fewest operations between two measures of a script's values.
const SWEEP_MIN: u64 = 256;
/// The most operations between two measures on a script thread: a script adds at most a
/// level or two per operation, so its values stay well within [`workers::STACK_BYTES`].
const SWEEP_MAX_ON_THREAD: u64 = 65_536;
/// The most operations between two measures on a thread whose stack is not ours (the
/// inline start of a handler, ad-hoc scripts, script tests): a few thousand levels fit in
/// any thread's stack. A handler holding more values than this starts over on a thread.
const SWEEP_MAX_INLINE: u64 = 1_024;

/// Compiled scripts kept by code hash before the cache starts over.
const MAX_CACHED_SCRIPTS: usize = 4096;
/// Lines of `print`/`debug` kept to travel with a script error.
const MAX_PRINTED: usize = 50;

/// What a script asks of its host.
pub(crate) enum HostCall {
    /// Start a run (a request as JSON); the reply is the run as JSON.
    Run(Value),
    /// The schema of a doctype; the reply is the schema document or `null`.
    GetSchema(String),
}

/// A host that answers a script's calls itself (an engine running top-level runs).
pub(crate) type DirectHost = Box<dyn FnMut(HostCall) -> Value + Send>;

/// Run `job` on a thread of [`workers::STACK_BYTES`] (a script whose host is direct runs
/// there rather than on its caller's thread, whose stack is not known); a panic goes on.
fn on_sized_thread<R: Send>(job: impl FnOnce() -> R + Send) -> Result<R> {
    std::thread::scope(|scope| {
        let thread = std::thread::Builder::new()
            .name("coworker script".into())
            .stack_size(workers::STACK_BYTES)
            .spawn_scoped(scope, job)
            .map_err(|e| Error::internal(format!("cannot start a script thread: {e}")))?;
        Ok(thread
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic)))
    })
}

enum Message {
    Call(HostCall),
    Done(std::result::Result<Value, Error>),
}

/// Where a script's host calls go.
enum Host {
    /// To the thread that started the script (a handler inside a run).
    Remote {
        calls: SyncSender<Message>,
        replies: Receiver<Value>,
    },
    /// Straight to an engine (ad-hoc scripts and script tests: top-level runs).
    Direct(DirectHost),
    /// A direct host while it is serving a call (the engine it calls may run scripts on
    /// this same thread, so the state is not kept borrowed meanwhile).
    Serving,
    /// No host yet: a handler runs on its run's own thread until its first host call,
    /// which stops it so it can start over on a thread of its own (nothing it did before
    /// that call left the sandbox).
    Inline,
}

/// What one script run keeps beside the Rhai engine: its clock, budget and output.
struct RunState {
    name: String,
    deadline: Instant,
    timeout_ms: u64,
    host_calls_left: usize,
    max_host_calls: usize,
    printed: Vec<String>,
    host: Host,
    /// Operations performed so far (as of the last progress look).
    ops: u64,
    /// When (in operations) the script's values are next measured.
    next_sweep: u64,
    /// The most operations between two measures on this thread.
    sweep_max: u64,
}

thread_local! {
    /// The script running on this thread (one at a time: nested handlers run elsewhere).
    static CURRENT: RefCell<Option<RunState>> = const { RefCell::new(None) };
    /// The running script's values are to be measured at its next variable access (apart
    /// from [`CURRENT`]: it is looked at on every access).
    static SWEEP_DUE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Run `f` with `state` as this thread's script, then give back the outer one (a script
/// test's `run` may evaluate a workflow condition on the same thread).
fn in_state<R>(state: RunState, f: impl FnOnce() -> R) -> (R, RunState) {
    let outer = CURRENT.with(|cell| cell.replace(Some(state)));
    let result = f();
    let state = CURRENT
        .with(|cell| cell.replace(outer))
        .expect("the state set above is still there");
    (result, state)
}

fn with_state<R>(f: impl FnOnce(&mut RunState) -> R) -> Option<R> {
    CURRENT.with(|cell| cell.borrow_mut().as_mut().map(f))
}

/// A token that terminates a script uncatchably with `code`.
fn terminate(code: ErrorCode, message: String, position: Position) -> Box<EvalAltResult> {
    Box::new(EvalAltResult::ErrorTerminated(
        token(code, message, false),
        position,
    ))
}

/// What a terminated script carries: the code, the message, and whether the message is a
/// nested run's (which already says where it happened).
fn token(code: ErrorCode, message: String, nested: bool) -> Dynamic {
    Dynamic::from_map(
        [
            ("code".into(), Dynamic::from(code.as_str().to_string())),
            ("message".into(), Dynamic::from(message)),
            ("nested".into(), Dynamic::from(nested)),
        ]
        .into_iter()
        .collect(),
    )
}

/// Measure the values a script holds (its running scope): a value nested deeper than
/// [`MAX_VALUE_DEPTH`] ends the script with LIMIT_EXCEEDED; an inline handler holding many
/// values goes to a thread of its own. The next measure comes after as many operations as
/// this one visited values (bounded), so measuring costs a constant per operation.
fn sweep<'a>(
    values: impl Iterator<Item = &'a Dynamic>,
) -> std::result::Result<(), Box<EvalAltResult>> {
    let found = depth::measure(values, HELD_DEPTH);
    let outcome = with_state(|state| {
        let gap = (found.nodes as u64).clamp(SWEEP_MIN, state.sweep_max);
        state.next_sweep = state.ops + gap;
        if found.depth > HELD_DEPTH {
            return Err(terminate(
                ErrorCode::LimitExceeded,
                format!(
                    "`{}` holds a value nested deeper than {HELD_DEPTH} levels \
                     (arrays, maps and closures capturing them; limit: 2 × MAX_VALUE_DEPTH)",
                    state.name
                ),
                Position::NONE,
            ));
        }
        if matches!(state.host, Host::Inline) && found.nodes as u64 > SWEEP_MAX_INLINE {
            return Err(Box::new(EvalAltResult::ErrorTerminated(
                Dynamic::from(NEEDS_THREAD.to_string()),
                Position::NONE,
            )));
        }
        Ok(())
    });
    outcome.unwrap_or(Ok(()))
}

/// Call the host: from a handler's thread to its caller, or directly.
fn call_host(
    ctx: &NativeCallContext,
    call: HostCall,
) -> std::result::Result<Value, Box<EvalAltResult>> {
    let position = ctx.call_position();
    let outcome = CURRENT.with(|cell| {
        let mut state = cell.borrow_mut();
        let Some(state) = state.as_mut() else {
            return Err(terminate(
                ErrorCode::Internal,
                "no script is running".into(),
                position,
            ));
        };
        if Instant::now() > state.deadline {
            return Err(terminate(
                ErrorCode::Timeout,
                format!(
                    "`{}` ran longer than {} ms (limit: timeoutMs)",
                    state.name, state.timeout_ms
                ),
                position,
            ));
        }
        if state.host_calls_left == 0 {
            return Err(terminate(
                ErrorCode::LimitExceeded,
                format!(
                    "`{}` called `run`/`get_schema` more than {} times (limit: maxHostCalls)",
                    state.name, state.max_host_calls
                ),
                position,
            ));
        }
        state.host_calls_left -= 1;
        match &mut state.host {
            Host::Remote { calls, replies } => {
                calls.send(Message::Call(call)).map_err(|_| {
                    terminate(ErrorCode::Internal, "the run went away".into(), position)
                })?;
                receive(replies).map(Ok).map_err(|_| {
                    terminate(ErrorCode::Internal, "the run went away".into(), position)
                })
            }
            Host::Direct(_) => match std::mem::replace(&mut state.host, Host::Serving) {
                Host::Direct(host) => Ok(Err((host, call))),
                _ => unreachable!("matched Direct above"),
            },
            Host::Serving => Err(terminate(
                ErrorCode::Internal,
                "a host call is already being served".into(),
                position,
            )),
            Host::Inline => Err(Box::new(EvalAltResult::ErrorTerminated(
                Dynamic::from(NEEDS_HOST.to_string()),
                position,
            ))),
        }
    })?;
    match outcome {
        Ok(reply) => Ok(reply),
        // A direct call runs with the state released, then hands the host back.
        Err((mut host, call)) => {
            let reply = host(call);
            with_state(|state| state.host = Host::Direct(host));
            Ok(reply)
        }
    }
}

/// A handler's compiled script, and whether it was seen calling its host when run inline
/// (then later runs start on a script thread at once).
pub(crate) struct Compiled {
    ast: Arc<AST>,
    calls_host: std::sync::atomic::AtomicBool,
}

impl Compiled {
    pub(crate) fn new(ast: Arc<AST>) -> Compiled {
        Compiled {
            ast,
            calls_host: std::sync::atomic::AtomicBool::new(false),
        }
    }
}

fn host_run(
    ctx: NativeCallContext,
    request: rhai::Map,
) -> std::result::Result<Dynamic, Box<EvalAltResult>> {
    // The request map wraps its `input`, which may nest as deep as any request's.
    let sizes = convert::Sizes::of_engine(ctx.engine());
    let limit = crate::value::MAX_INPUT_DEPTH + 1;
    let request = convert::from_map(&request, limit, sizes).map_err(|e| {
        if let Some(kind) = convert::too_large(&e) {
            let name = with_state(|s| s.name.clone()).unwrap_or_default();
            let message = format!(
                "`{name}` passed `run` a value holding more than {} {} (limit: {})",
                kind.of(&sizes),
                kind.counts(),
                kind.limit()
            );
            terminate(ErrorCode::LimitExceeded, message, ctx.call_position())
        } else if convert::too_deep(&e) {
            let name = with_state(|s| s.name.clone()).unwrap_or_default();
            let message = format!(
                "`{name}` passed `run` a value nested deeper than {MAX_VALUE_DEPTH} levels \
                 (limit: MAX_VALUE_DEPTH)"
            );
            terminate(ErrorCode::LimitExceeded, message, ctx.call_position())
        } else {
            e
        }
    })?;
    let child = call_host(&ctx, HostCall::Run(request))?;
    // Limits hold for the whole tree: a child that hit one stops its parent too.
    if let Some(code) = child.pointer("/error/code").and_then(Value::as_str)
        && let Some(code @ (ErrorCode::LimitExceeded | ErrorCode::Timeout)) =
            serde_json::from_value::<ErrorCode>(json!(code)).ok()
    {
        let message = child
            .pointer("/error/message")
            .and_then(Value::as_str)
            .unwrap_or("");
        let token = token(code, message.to_string(), true);
        return Err(Box::new(EvalAltResult::ErrorTerminated(
            token,
            ctx.call_position(),
        )));
    }
    if crate::value::depth_exceeds(&child, HELD_DEPTH) {
        let message = format!("`run` returned a value nested deeper than {HELD_DEPTH} levels");
        return Err(terminate(
            ErrorCode::LimitExceeded,
            message,
            ctx.call_position(),
        ));
    }
    Ok(convert::into_dynamic(child))
}

fn host_get_schema(
    ctx: NativeCallContext,
    name: &str,
) -> std::result::Result<Dynamic, Box<EvalAltResult>> {
    let schema = call_host(&ctx, HostCall::GetSchema(name.to_string()))?;
    Ok(convert::into_dynamic(schema))
}

fn assertion_failed(ctx: &NativeCallContext, message: String) -> Box<EvalAltResult> {
    Box::new(EvalAltResult::ErrorRuntime(
        Dynamic::from(format!("assertion failed: {message}")),
        ctx.call_position(),
    ))
}

fn show(value: &Dynamic) -> String {
    rhai::serde::from_dynamic::<Value>(value)
        .map(|v| v.to_string())
        .unwrap_or_else(|_| value.to_string())
}

/// A configured Rhai engine.
pub(crate) struct Sandbox {
    engine: rhai::Engine,
    limits: Limits,
}

impl Sandbox {
    /// The one constructor: production, tests and the script runner all use it.
    pub(crate) fn new(limits: Limits, with_asserts: bool) -> Sandbox {
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
        engine.set_max_variables(10_000);
        engine.set_max_functions(1_000);
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
            |ctx: NativeCallContext,
             _: rhai::FLOAT|
             -> std::result::Result<(), Box<EvalAltResult>> {
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
        Sandbox { engine, limits }
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
    fn scope() -> Scope<'static> {
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

    fn eval(
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

    fn state(&self, name: &str, host: Host) -> RunState {
        RunState {
            name: name.to_string(),
            deadline: Instant::now() + Duration::from_millis(self.limits.timeout_ms),
            timeout_ms: self.limits.timeout_ms,
            host_calls_left: self.limits.max_host_calls,
            max_host_calls: self.limits.max_host_calls,
            printed: Vec::new(),
            host,
            ops: 0,
            next_sweep: SWEEP_MIN,
            sweep_max: SWEEP_MAX_INLINE,
        }
    }

    /// Run a handler on a thread of its own; `serve` answers its host calls on this thread.
    /// It stops at its `timeoutMs` or at `until` (its run's deadline), whichever comes first.
    /// Returns the handler's output.
    pub(crate) fn run_handler(
        self: &Arc<Self>,
        name: &str,
        handler: &Compiled,
        context: Value,
        until: Instant,
        serve: &mut dyn FnMut(HostCall) -> Value,
    ) -> Result<Value> {
        use std::sync::atomic::Ordering::Relaxed;
        let ast = &handler.ast;
        if crate::value::depth_exceeds(&context, HELD_DEPTH) {
            return Err(too_deep_error(name, HELD_DEPTH, "its input"));
        }
        let context = convert::into_dynamic(context);
        // First on this thread, with no host: most handlers compute and return without a
        // host call, and a thread would cost more than their work. A handler seen calling
        // its host before goes to a thread at once.
        let deadline = (Instant::now() + Duration::from_millis(self.limits.timeout_ms)).min(until);
        if !handler.calls_host.load(Relaxed) {
            let mut state = self.state(name, Host::Inline);
            state.deadline = deadline;
            let mut scope = Scope::new();
            scope.push_constant("context", context.clone());
            let (outcome, state) = self.eval(state, ast, &mut scope);
            let needs_host = matches!(&outcome, Err(e) if matches!(&**e,
                EvalAltResult::ErrorTerminated(token, _) if token.clone().into_string().is_ok_and(|t| t == NEEDS_HOST || t == NEEDS_THREAD)));
            if !needs_host {
                return self.handler_result(name, outcome, &state);
            }
            handler.calls_host.store(true, Relaxed);
        }
        // One message at most is ever in flight each way (the two threads take turns), so
        // one-slot channels: they allocate nothing per message.
        let (calls, inbox) = sync_channel::<Message>(1);
        let (answer, replies) = sync_channel::<Value>(1);
        let done = calls.clone();
        let (sandbox, ast, job_name) = (self.clone(), ast.clone(), name.to_string());
        workers::spawn(Box::new(move || {
            let mut scope = Scope::new();
            scope.push_constant("context", context);
            let host = Host::Remote { calls, replies };
            let mut state = sandbox.state(&job_name, host);
            // The time spent before the first host call counts.
            state.deadline = deadline;
            state.sweep_max = SWEEP_MAX_ON_THREAD;
            let (outcome, state) = sandbox.eval(state, &ast, &mut scope);
            let result = sandbox.handler_result(&job_name, outcome, &state);
            let _ = done.send(Message::Done(result));
        }))
        .map_err(|e| Error::internal(format!("cannot start a script thread: {e}")))?;
        while let Ok(message) = receive(&inbox) {
            match message {
                Message::Call(call) => {
                    let reply = serve(call);
                    if answer.send(reply).is_err() {
                        break;
                    }
                }
                Message::Done(result) => return result,
            }
        }
        Err(Error::internal(format!(
            "the script thread of `{name}` stopped without a result (it panicked)"
        )))
    }

    /// What a handler's evaluation comes to: its output, checked against the limits, or
    /// its error.
    fn handler_result(
        &self,
        name: &str,
        outcome: std::result::Result<Dynamic, Box<EvalAltResult>>,
        state: &RunState,
    ) -> Result<Value> {
        outcome
            .map_err(|e| script_error(name, *e, &state.printed))
            .and_then(|value| handler_output(name, value, &self.limits))
    }

    /// Run a stand-alone script on this thread with host calls answered by `host`.
    pub(crate) fn run_direct(&self, name: &str, ast: &AST, host: DirectHost) -> Result<Value> {
        on_sized_thread(|| {
            let mut scope = Scope::new();
            let mut state = self.state(name, Host::Direct(host));
            state.sweep_max = SWEEP_MAX_ON_THREAD;
            let (outcome, state) = self.eval(state, ast, &mut scope);
            outcome
                .map_err(|e| script_error(name, *e, &state.printed))
                .and_then(|value| to_json(name, value, &self.limits))
        })?
    }

    /// Names of the script-defined functions of `ast` that take no parameters.
    pub(crate) fn functions(ast: &AST) -> Vec<String> {
        ast.iter_functions()
            .filter(|f| f.params.is_empty())
            .map(|f| f.name.to_string())
            .collect()
    }

    /// Call a no-argument function of `ast` (a test), host calls answered by `host`.
    pub(crate) fn call_direct(
        &self,
        label: &str,
        ast: &AST,
        function: &str,
        host: DirectHost,
    ) -> Result<Value> {
        on_sized_thread(|| {
            let mut state = self.state(label, Host::Direct(host));
            state.sweep_max = SWEEP_MAX_ON_THREAD;
            let mut scope = Scope::new();
            let (outcome, state) = in_state(state, || {
                self.engine
                    .call_fn::<Dynamic>(&mut scope, ast, function, ())
            });
            depth::dismantle(scope.into_iter().map(|(_, value, _)| value));
            outcome
                .map_err(|e| script_error(label, *e, &state.printed))
                .and_then(|value| to_json(label, value, &self.limits))
        })?
    }
}

/// The sandbox used to compile handlers (limits that matter at compile time are the
/// defaults' and are not raised per operation).
pub(crate) fn compiler() -> Arc<Sandbox> {
    Sandbox::shared(Limits::default())
}

/// Compiled handlers by hash of their code (the code is kept to rule out collisions).
type CompiledCache = Mutex<HashMap<u64, (String, Arc<AST>)>>;

/// A compiled handler, shared by every engine of the process, keyed by a hash of its code.
pub(crate) fn compile_cached(name: &str, code: &str) -> Result<Arc<AST>> {
    compile_with(code, || compiler().compile_handler(name, code))
}

/// The cached AST for `code` (compiled by `compile` on a miss).
fn compile_with(code: &str, compile: impl FnOnce() -> Result<AST>) -> Result<Arc<AST>> {
    static CACHE: OnceLock<CompiledCache> = OnceLock::new();
    let mut hasher = DefaultHasher::new();
    code.hash(&mut hasher);
    let key = hasher.finish();
    let cache = CACHE.get_or_init(Default::default);
    if let Some((cached_code, ast)) = cache.lock().unwrap_or_else(|p| p.into_inner()).get(&key)
        && cached_code == code
    {
        return Ok(ast.clone());
    }
    let ast = Arc::new(compile()?);
    let mut cache = cache.lock().unwrap_or_else(|p| p.into_inner());
    // Old versions of edited handlers would pile up: start over past a bound (live
    // operations keep their AST through the operation cache anyway).
    if cache.len() >= MAX_CACHED_SCRIPTS {
        cache.clear();
    }
    cache.insert(key, (code.to_string(), ast.clone()));
    Ok(ast)
}

/// A compiled `if` condition whose references are the variables `ref_0`, `ref_1`, ...
/// (compiled once per distinct source, shared like handlers).
pub(crate) fn compile_condition(source: &str, variables: usize) -> Result<Arc<AST>> {
    // Plain variables at compile time: constants would be folded into the expression.
    let mut scope = Scope::new();
    for i in 0..variables {
        scope.push(format!("ref_{i}"), Dynamic::UNIT);
    }
    let key = format!("if\0{variables}\0{source}");
    compile_with(&key, || {
        compiler()
            .engine
            .compile_expression_with_scope(&scope, source)
            .map_err(|e| compile_error("if", &e.0.to_string(), e.1))
    })
}

/// Evaluate an `if` condition with its references' values bound as typed variables.
pub(crate) fn eval_condition(source: &str, values: Vec<Value>) -> Result<Value> {
    let ast = compile_condition(source, values.len())?;
    let mut scope = Scope::new();
    for (i, value) in values.into_iter().enumerate() {
        scope.push_constant(format!("ref_{i}"), convert::into_dynamic(value));
    }
    let sandbox = compiler();
    let refuse: DirectHost = Box::new(|_| Value::Null);
    let (outcome, state) =
        sandbox.eval(sandbox.state("if", Host::Direct(refuse)), &ast, &mut scope);
    outcome
        .map_err(|e| script_error("if", *e, &state.printed))
        .and_then(|value| to_json("if", value, &sandbox.limits))
}

fn position_details(position: Position) -> (Value, Value) {
    (
        position.line().map_or(Value::Null, |l| json!(l)),
        position.position().map_or(Value::Null, |c| json!(c)),
    )
}

fn compile_error(name: &str, message: &str, position: Position) -> Error {
    let (line, column) = position_details(position);
    let at = match (position.line(), position.position()) {
        (Some(l), Some(c)) => format!(" at line {l}, column {c}"),
        _ => String::new(),
    };
    Error::new(
        ErrorCode::ScriptCompileError,
        format!("`{name}` does not compile{at}: {message}"),
    )
    .with_details(json!({"operation": name, "line": line, "column": column}))
}

/// Map a Rhai error to the engine's: limits, timeouts, throws and failures.
fn script_error(name: &str, error: EvalAltResult, printed: &[String]) -> Error {
    let position = error.position();
    let (line, column) = position_details(position);
    let at = match (position.line(), position.position()) {
        (Some(l), Some(c)) => format!(" (line {l}, column {c})"),
        _ => String::new(),
    };
    let details = |extra: Value| {
        let mut details =
            json!({"operation": name, "line": line, "column": column, "printed": printed});
        if let (Value::Object(d), Value::Object(e)) = (&mut details, extra) {
            d.extend(e);
        }
        details
    };
    let limit = |what: &str, limit: &str| {
        Error::new(
            ErrorCode::LimitExceeded,
            format!("`{name}` exceeded {what} (limit: {limit}){at}"),
        )
        .with_details(details(json!({"limit": limit})))
    };
    match error {
        EvalAltResult::ErrorInFunctionCall(_, _, inner, _) => script_error(name, *inner, printed),
        EvalAltResult::ErrorTooManyOperations(_) => limit("its operations budget", "maxOperations"),
        EvalAltResult::ErrorStackOverflow(_) => limit("the call depth", "maxCallDepth"),
        EvalAltResult::ErrorTooManyVariables(_) => limit("the number of variables", "maxVariables"),
        EvalAltResult::ErrorTooManyModules(_) => {
            limit("the module budget (none allowed)", "modules")
        }
        EvalAltResult::ErrorDataTooLarge(what, _) => {
            let (which, kind) = match what.to_lowercase() {
                w if w.contains("string") => ("maxStringSize", "string bytes"),
                w if w.contains("array") => ("maxArraySize", "array elements"),
                w if w.contains("map") => ("maxMapSize", "map entries"),
                _ => ("dataSize", "data"),
            };
            limit(
                &format!("the most {kind} one value may hold, nested values included"),
                which,
            )
        }
        EvalAltResult::ErrorTerminated(token, _) => {
            let code = token
                .read_lock::<rhai::Map>()
                .and_then(|m| m.get("code").map(|c| c.to_string()));
            let message = token
                .read_lock::<rhai::Map>()
                .and_then(|m| m.get("message").map(|c| c.to_string()))
                .unwrap_or_else(|| "terminated".into());
            let code = code
                .and_then(|c| serde_json::from_value::<ErrorCode>(json!(c)).ok())
                .unwrap_or(ErrorCode::ScriptError);
            let nested = token
                .read_lock::<rhai::Map>()
                .and_then(|m| m.get("nested").and_then(|n| n.as_bool().ok()))
                .unwrap_or(false);
            let message = if nested {
                message
            } else {
                format!("{message}{at}")
            };
            Error::new(code, message).with_details(details(json!({"nested": nested})))
        }
        EvalAltResult::ErrorRuntime(thrown, _) => {
            // `throw #{code: "CONFLICT", message: "..."}` picks a code a caller can act on.
            let as_json = rhai::serde::from_dynamic::<Value>(&thrown).unwrap_or(Value::Null);
            let chosen = as_json
                .get("code")
                .and_then(|c| serde_json::from_value::<ErrorCode>(c.clone()).ok())
                .filter(|c| {
                    !matches!(
                        c,
                        ErrorCode::Internal
                            | ErrorCode::StorageError
                            | ErrorCode::LimitExceeded
                            | ErrorCode::Timeout
                    )
                });
            if let (Some(code), Some(message)) =
                (chosen, as_json.get("message").and_then(Value::as_str))
            {
                return Error::new(code, format!("`{name}`: {message}{at}"))
                    .with_details(details(json!({"thrown": as_json})));
            }
            let text = match thrown.clone().into_string() {
                Ok(s) => s,
                Err(_) => show(&thrown),
            };
            Error::new(ErrorCode::ScriptError, format!("`{name}` threw: {text}{at}"))
                .with_details(details(json!({"thrown": rhai::serde::from_dynamic::<Value>(&thrown).unwrap_or(Value::Null)})))
        }
        // Code built at run time (`Fn("...")`) that does not parse: a run-time failure.
        EvalAltResult::ErrorParsing(kind, _) => Error::new(
            ErrorCode::ScriptError,
            format!("`{name}` failed: {kind}{at}"),
        )
        .with_details(details(json!({}))),
        other => {
            let mut text = other.to_string();
            if let Some(cut) = text.find(" (line ") {
                text.truncate(cut);
            }
            Error::new(
                ErrorCode::ScriptError,
                format!("`{name}` failed: {text}{at}"),
            )
            .with_details(details(json!({})))
        }
    }
}

/// `value` as JSON (at most [`MAX_VALUE_DEPTH`] levels deep, and within the sizes of
/// `limits`: a value holding more is refused as soon as the conversion passes one, before it
/// has copied more), then taken apart.
fn to_json(name: &str, value: Dynamic, limits: &Limits) -> Result<Value> {
    let sizes = convert::Sizes::of(limits);
    let json = convert::from_dynamic(&value, MAX_VALUE_DEPTH, sizes).map_err(|e| {
        if let Some(kind) = convert::too_large(&e) {
            return Error::new(
                ErrorCode::LimitExceeded,
                format!(
                    "`{name}` returned a value holding more than {} {} (limit: {})",
                    kind.of(&sizes),
                    kind.counts(),
                    kind.limit()
                ),
            )
            .with_details(json!({"operation": name, "limit": kind.limit()}));
        }
        if convert::too_deep(&e) {
            return too_deep_error(name, MAX_VALUE_DEPTH, "returned a value");
        }
        Error::new(
            ErrorCode::ScriptError,
            format!(
                "`{name}` returned a value that is not JSON ({}): {e}",
                value.type_name()
            ),
        )
    });
    depth::dismantle([value]);
    json
}

/// LIMIT_EXCEEDED for a value of `name`'s nested deeper than `limit` levels.
fn too_deep_error(name: &str, limit: usize, what: &str) -> Error {
    let which = if limit == MAX_VALUE_DEPTH {
        "MAX_VALUE_DEPTH"
    } else {
        "2 × MAX_VALUE_DEPTH"
    };
    Error::new(
        ErrorCode::LimitExceeded,
        format!("`{name}` {what} nested deeper than {limit} levels (limit: {which})"),
    )
    .with_details(json!({"operation": name, "limit": which}))
}

/// A handler returns its output, or `#{success, output}` (with `error` when it failed).
fn handler_output(name: &str, value: Dynamic, limits: &Limits) -> Result<Value> {
    let output = to_json(name, value, limits)?;
    let Value::Object(map) = &output else {
        return Ok(output);
    };
    let wrapped = map.get("success").is_some_and(Value::is_boolean)
        && map
            .keys()
            .all(|k| ["success", "output", "error", "message"].contains(&k.as_str()));
    if !wrapped {
        return Ok(output);
    }
    if map["success"] == json!(true) {
        return Ok(map.get("output").cloned().unwrap_or(Value::Null));
    }
    let message = map
        .get("error")
        .or_else(|| map.get("message"))
        .map(|m| m.as_str().map_or_else(|| m.to_string(), str::to_string))
        .unwrap_or_else(|| "the handler reported failure".into());
    Err(Error::new(
        ErrorCode::ScriptError,
        format!("`{name}` failed: {message}"),
    )
    .with_details(json!({"operation": name, "output": map.get("output")})))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::Ordering::Relaxed;

    /// The handler's output (or error text), and whether it ended up on a script thread.
    fn run(code: &str) -> (std::result::Result<Value, String>, bool) {
        let sandbox = Sandbox::shared(Limits::default());
        let compiled = Compiled::new(Arc::new(sandbox.compile_handler("h", code).unwrap()));
        let output = sandbox.run_handler(
            "h",
            &compiled,
            json!({}),
            Instant::now() + Duration::from_secs(60),
            &mut |_| Value::Null,
        );
        (
            output.map_err(|e| format!("{}: {e}", e.code().as_str())),
            compiled.calls_host.load(Relaxed),
        )
    }

    #[test]
    fn an_inline_handler_holding_many_values_starts_over_on_a_thread() {
        let many = "let a = []; a.pad(3000, #{i: 1}); let n = 0; \
                    for i in 0..1000 { n += a[i].i; } n + a.len()";
        assert_eq!(run(many), (Ok(json!(4000)), true));
        let few = "let a = []; a.pad(30, #{i: 1}); let n = 0; \
                   for i in 0..1000 { n += a[i % 30].i; } n + a.len()";
        assert_eq!(run(few), (Ok(json!(1030)), false));
    }

    #[test]
    fn inline_handlers_fit_a_small_callers_stack() {
        // The caller's stack is not ours: what an inline handler can build between two
        // measures must be dropped safely on a 1 MiB thread, even in a debug build.
        let small = std::thread::Builder::new().stack_size(1 << 20);
        let worst = small
            .spawn(|| {
                [
                    "let a = 1; loop { a = [a]; }",
                    "let m = #{}; loop { m = #{m: m}; }",
                    "let f = |x| x; loop { let g = f; f = |x| g.call(x); }",
                    "let m = #{}; loop { let h = m; m = #{f: || h}; }",
                ]
                .map(|code| run(code).0)
            })
            .unwrap()
            .join()
            .expect("no overflow");
        for outcome in worst {
            let error = outcome.expect_err("too deep");
            assert!(error.contains("limit: 2 × MAX_VALUE_DEPTH"), "{error}");
        }
    }

    #[test]
    fn a_too_deep_value_ends_the_script_where_it_is_measured() {
        let (output, _) = run("let a = 1; for i in 0..10000 { a = [a]; } 0");
        let error = output.expect_err("too deep");
        assert!(error.starts_with("LIMIT_EXCEEDED"), "{error}");
        assert!(error.contains("limit: 2 × MAX_VALUE_DEPTH"), "{error}");
    }
}
