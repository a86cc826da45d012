//! The hand-over between a script and its host: what a script asks ([`HostCall`]), the
//! threads and channels a handler runs over, and the host functions `run` and `get_schema`.
//!
//! A handler script runs on a thread of its own (see `workers`) while the calling thread
//! serves its host calls: the calling thread holds the run's transaction, which cannot cross
//! into Rhai's `'static` callbacks. A handler starts inline on its caller's thread and moves
//! to a thread only at its first host call. This module never touches the store: host calls
//! are handed to whoever runs the script.

use super::errors::{handler_output, script_error, terminate, to_json, token, too_deep_error};
use super::state::{CURRENT, HELD_DEPTH, RunState, SWEEP_MAX_ON_THREAD, in_state, with_state};
use super::{Compiled, Sandbox, convert, depth, workers};
use crate::error::{Error, ErrorCode, Result};
use crate::value::MAX_VALUE_DEPTH;
use rhai::{AST, Dynamic, EvalAltResult, NativeCallContext, Scope};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::time::{Duration, Instant};

/// How many times a thread polls for a message before it blocks: the two threads of a
/// handler hand over to each other within microseconds, and waking a blocked thread costs
/// tens of them on a small virtual machine.
pub(super) const SPINS_BEFORE_BLOCKING: u32 = 4_000;

/// The next message: a short spin, then a blocking wait. The spin yields now and then, so
/// that when both threads share a core the other one gets to send.
pub(super) fn receive<T>(from: &Receiver<T>) -> std::result::Result<T, std::sync::mpsc::RecvError> {
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
pub(super) const NEEDS_HOST: &str = "coworker: needs a host";
/// The token that stops an inline handler once it holds more values than a measure on the
/// caller's thread should walk (it starts over on a script thread).
pub(super) const NEEDS_THREAD: &str = "coworker: needs a thread";

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
pub(super) fn on_sized_thread<R: Send>(job: impl FnOnce() -> R + Send) -> Result<R> {
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

pub(super) enum Message {
    Call(HostCall),
    Done(std::result::Result<Value, Error>),
}

/// Where a script's host calls go.
pub(super) enum Host {
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

/// Call the host: from a handler's thread to its caller, or directly.
pub(super) fn call_host(
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

pub(super) fn host_run(
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

pub(super) fn host_get_schema(
    ctx: NativeCallContext,
    name: &str,
) -> std::result::Result<Dynamic, Box<EvalAltResult>> {
    let schema = call_host(&ctx, HostCall::GetSchema(name.to_string()))?;
    Ok(convert::into_dynamic(schema))
}

impl Sandbox {
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
    pub(super) fn handler_result(
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limits::Limits;
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
