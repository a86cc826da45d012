//! The sandbox's engine for the benchmarks (not part of the supported API: it hands out a
//! `rhai::Engine`, and may change with any release).
//!
//! `benches/scripts.rs` measures Rhai on its own next to the product; it builds that engine
//! here, with the one constructor production uses (`sandbox::engine`), instead of a copy.

use super::host::Host;
use super::state::{RunState, SWEEP_MAX_ON_THREAD, in_state};
use super::{Limits, sandbox};
use serde_json::Value;

/// The Rhai engine of a sandbox with `limits`, as production builds it. With `watched`, it
/// has the hooks every sandbox has (deadline, value measures, captured prints), which act
/// only inside [`in_script`]; without, it has none (to measure what they cost).
pub fn sandbox_engine(limits: Limits, watched: bool) -> rhai::Engine {
    sandbox::engine(&limits, watched, false)
}

/// Run `f` (an evaluation on a [`sandbox_engine`]) as the sandbox runs an ad-hoc script on
/// this thread: named `name`, its deadline `limits.timeoutMs` from now, host calls refused.
pub fn in_script<R>(name: &str, limits: Limits, f: impl FnOnce() -> R) -> R {
    let mut state = RunState::new(name, &limits, Host::Direct(Box::new(|_| Value::Null)));
    state.sweep_max = SWEEP_MAX_ON_THREAD;
    in_state(state, f).0
}
