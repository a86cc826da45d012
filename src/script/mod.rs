//! The Rhai sandbox: compile (cached), limits, and the two host functions.
//!
//! Scripts see `context` and exactly two host functions, `run(map)` and `get_schema(name)`;
//! the test runner adds `assert` and `assert_eq`. This module never touches the store: host
//! calls are handed to whoever runs the script. Its parts:
//!
//! - `sandbox`: [`Sandbox`], the one constructor of the Rhai engine (packages, limits,
//!   disabled symbols, hooks, host functions), used by production, tests and benchmarks;
//! - `host`: the hand-over between a handler's thread and its host ([`HostCall`], channels,
//!   the `run` and `get_schema` functions) and the ways to run a script;
//! - `state`: what one running script keeps on its thread (clock, budget, prints, sweeps);
//! - `cache`: compiled handlers and `if` conditions, shared by code hash;
//! - `errors`: Rhai errors and a script's value mapped to the engine's errors and JSON;
//! - `bench_support`: the sandbox's engine for the benchmarks (not a supported API);
//! - `depth` (measuring and dismantling held values), `convert` (JSON ↔ `Dynamic` within the
//!   limits), `workers` (the script threads); the limits themselves are [`crate::limits`].

#[doc(hidden)]
pub mod bench_support;
mod cache;
pub(crate) mod convert;
mod depth;
mod errors;
mod host;
mod sandbox;
mod state;
mod workers;

pub use crate::limits::Limits;
pub(crate) use cache::{Compiled, compile_cached, compile_condition, eval_condition};
pub(crate) use host::{DirectHost, HostCall};
pub(crate) use sandbox::Sandbox;
