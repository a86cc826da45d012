//! What every subcommand of the `coworker` binary shares: opening the store as the `--as` user
//! with the `--lock-timeout` wait, printing JSON and runs, and `Fatal`, a failure of the command
//! itself (exit 2). One module per subcommand family below; `main.rs` parses the arguments and
//! dispatches to them.
//!
//! The binary is a client of the library: it uses only the public API (`coworker::...`), never
//! a hidden item, so anything it shows a host could do the same.

use coworker::{Engine, Run};
use serde_json::Value;
use std::path::Path;
use std::process::ExitCode;

/// `println!` that does not panic when stdout is closed (`coworker runs list | head`).
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

pub(crate) mod acl;
pub(crate) mod audit;
pub(crate) mod demo;
pub(crate) mod erase;
pub(crate) mod import;
pub(crate) mod maintenance;
pub(crate) mod pack;
pub(crate) mod request;
pub(crate) mod runs;
pub(crate) mod schema;
pub(crate) mod scripts;

/// A failure of the command itself (not of a run): exit 2.
pub(crate) struct Fatal(pub(crate) String);

impl<E: std::fmt::Display> From<E> for Fatal {
    fn from(e: E) -> Self {
        Fatal(e.to_string())
    }
}

/// The user of `--as` (set once, at start).
pub(crate) static USER: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();

/// How long to wait for another process's lock on the store (`--lock-timeout`).
pub(crate) static LOCK_TIMEOUT: std::sync::OnceLock<std::time::Duration> =
    std::sync::OnceLock::new();

/// Bytes of the store file kept cached in memory (`--cache-mb`).
pub(crate) static CACHE_BYTES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();

/// A builder that waits `--lock-timeout` for the store's lock and caches `--cache-mb`.
fn builder() -> coworker::EngineBuilder {
    let builder = Engine::builder().lock_timeout(LOCK_TIMEOUT.get().copied().unwrap_or_default());
    match CACHE_BYTES.get() {
        Some(&bytes) => builder.cache_size(bytes),
        None => builder,
    }
}

/// The store at `db`, pinned to the `--as` user (see [`as_user`]).
pub(crate) fn open(db: &Path) -> Result<Engine, coworker::Error> {
    builder().open(db).map(as_user)
}

/// `engine` acting for the `--as` user alone: requests that name no owner act for them, a
/// request naming another is refused, runs read back are theirs to see.
fn as_user(engine: Engine) -> Engine {
    match USER.get() {
        Some(Some(user)) => engine.pin_owner(user.clone()),
        _ => engine,
    }
}

/// The store at `db` for reading only: an embedding host may have it open for writing.
/// (A store that does not exist yet is created, empty, as every command does.)
pub(crate) fn open_to_read(db: &Path) -> Result<Engine, coworker::Error> {
    if db.exists() {
        builder().open_read_only(db).map(as_user)
    } else {
        open(db)
    }
}

/// Print `value` as pretty JSON.
pub(crate) fn print_json(value: &Value) {
    say!(
        "{}",
        serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
    );
}

/// Print the run as JSON; exit 0 if it succeeded, 1 if it failed.
pub(crate) fn print_run(run: &Run) -> ExitCode {
    print_json(&run.to_value());
    if run.success {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
