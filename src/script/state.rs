//! One script run's state on its thread: its clock, host-call budget, captured prints, host,
//! and when its values are next measured.
//!
//! The Rhai engine is shared by every script of the same limits, so what belongs to one run
//! lives in a thread-local [`RunState`] that the engine's hooks (see `sandbox`) and host
//! functions (see `host`) look up. This module never touches the store.

use super::Limits;
use super::depth;
use super::errors::terminate;
use super::host::{Host, NEEDS_THREAD};
use crate::error::ErrorCode;
use rhai::{Dynamic, EvalAltResult, Position};
use std::cell::RefCell;
use std::time::{Duration, Instant};

/// How many progress ticks (Rhai operations) pass between two looks at the clock.
pub(super) const CLOCK_EVERY: u64 = 1024;

pub(super) use crate::limits::HELD_DEPTH;

/// How many operations pass between two looks at whether the script's values are due to be
/// measured (see [`depth`]).
pub(super) const SWEEP_CHECK_EVERY: u64 = 256;
/// The fewest operations between two measures of a script's values.
pub(super) const SWEEP_MIN: u64 = 256;
/// The most operations between two measures on a script thread: a script adds at most a
/// level or two per operation, so its values stay well within [`workers::STACK_BYTES`].
pub(super) const SWEEP_MAX_ON_THREAD: u64 = 65_536;
/// The most operations between two measures on a thread whose stack is not ours (the
/// inline start of a handler, ad-hoc scripts, script tests): a few thousand levels fit in
/// any thread's stack. A handler holding more values than this starts over on a thread.
pub(super) const SWEEP_MAX_INLINE: u64 = 1_024;

/// What one script run keeps beside the Rhai engine: its clock, budget and output.
pub(super) struct RunState {
    pub(super) name: String,
    pub(super) deadline: Instant,
    pub(super) timeout_ms: u64,
    pub(super) host_calls_left: usize,
    pub(super) max_host_calls: usize,
    pub(super) printed: Vec<String>,
    pub(super) host: Host,
    /// Operations performed so far (as of the last progress look).
    pub(super) ops: u64,
    /// When (in operations) the script's values are next measured.
    pub(super) next_sweep: u64,
    /// The most operations between two measures on this thread.
    pub(super) sweep_max: u64,
}

impl RunState {
    /// The state of a script run named `name` starting now under `limits`, its host calls
    /// going to `host`.
    pub(super) fn new(name: &str, limits: &Limits, host: Host) -> RunState {
        RunState {
            name: name.to_string(),
            deadline: Instant::now() + Duration::from_millis(limits.timeout_ms),
            timeout_ms: limits.timeout_ms,
            host_calls_left: limits.max_host_calls,
            max_host_calls: limits.max_host_calls,
            printed: Vec::new(),
            host,
            ops: 0,
            next_sweep: SWEEP_MIN,
            sweep_max: SWEEP_MAX_INLINE,
        }
    }
}

thread_local! {
    /// The script running on this thread (one at a time: nested handlers run elsewhere).
    pub(super) static CURRENT: RefCell<Option<RunState>> = const { RefCell::new(None) };
    /// The running script's values are to be measured at its next variable access (apart
    /// from [`CURRENT`]: it is looked at on every access).
    pub(super) static SWEEP_DUE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Run `f` with `state` as this thread's script, then give back the outer one (a script
/// test's `run` may evaluate a workflow condition on the same thread).
pub(super) fn in_state<R>(state: RunState, f: impl FnOnce() -> R) -> (R, RunState) {
    let outer = CURRENT.with(|cell| cell.replace(Some(state)));
    let result = f();
    let state = CURRENT
        .with(|cell| cell.replace(outer))
        .expect("the state set above is still there");
    (result, state)
}

pub(super) fn with_state<R>(f: impl FnOnce(&mut RunState) -> R) -> Option<R> {
    CURRENT.with(|cell| cell.borrow_mut().as_mut().map(f))
}

/// Measure the values a script holds (its running scope): a value nested deeper than
/// [`HELD_DEPTH`] (2 × `MAX_VALUE_DEPTH`) ends the script with LIMIT_EXCEEDED; an inline
/// handler holding many values goes to a thread of its own. The next measure comes after as many operations as
/// this one visited values (bounded), so measuring costs a constant per operation.
pub(super) fn sweep<'a>(
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
