//! The sandbox's limits: every one named, with its unit and default, in one place.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Limits on one script run, and the write budget of every operation's runs (built-ins
/// included). Defaults are the `DEFAULT_*` constants; an operation's `limits` document
/// field overrides them (camelCase keys), never above the `MAX_*` caps.
///
/// ```
/// use coworker::Limits;
/// let limits = Limits::default();
/// assert_eq!(limits.timeout_ms, coworker::Limits::DEFAULT_TIMEOUT_MS);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct Limits {
    /// Rhai operations one script run may perform (a loop iteration is a few).
    pub max_operations: u64,
    /// Wall-clock milliseconds one script run may take, nested runs included.
    pub timeout_ms: u64,
    /// Depth of script function calls.
    pub max_call_depth: usize,
    /// Depth of nested expressions (checked when compiling).
    pub max_expr_depth: usize,
    /// String bytes one value may hold, nested strings counted together (as Rhai counts
    /// them).
    pub max_string_size: usize,
    /// Elements one value may hold in arrays, nested arrays counted together.
    pub max_array_size: usize,
    /// Entries one value may hold in object maps, nested maps counted together (a select
    /// of 1,000 documents of 20 fields is 20,000 entries).
    pub max_map_size: usize,
    /// Calls of `run` and `get_schema` one script run may make.
    pub max_host_calls: usize,
    /// How deep runs may nest below this one (a script calling `run` of a script ...).
    pub max_run_depth: usize,
    /// Bytes a run and every run beneath it may write: the JSON of each document created or
    /// updated, and the records of nested runs. Counted across the whole top-level tree
    /// (a nested run stays within its own limit and every ancestor's), including writes a
    /// failed step later took back; a write that would pass it is refused before it is made.
    pub max_write_bytes: u64,
    /// Documents a run and every run beneath it may create, update or delete, counted like
    /// [`Limits::max_write_bytes`].
    pub max_writes: u64,
}

impl Limits {
    /// Default [`Limits::max_operations`]: about 0.15 s of tight loop on this machine class.
    pub const DEFAULT_MAX_OPERATIONS: u64 = 1_000_000;
    /// Default [`Limits::timeout_ms`].
    pub const DEFAULT_TIMEOUT_MS: u64 = 2_000;
    /// Default [`Limits::max_call_depth`].
    pub const DEFAULT_MAX_CALL_DEPTH: usize = 32;
    /// Default [`Limits::max_expr_depth`].
    pub const DEFAULT_MAX_EXPR_DEPTH: usize = 64;
    /// Default [`Limits::max_string_size`]: 1 MiB.
    pub const DEFAULT_MAX_STRING_SIZE: usize = 1 << 20;
    /// Default [`Limits::max_array_size`].
    pub const DEFAULT_MAX_ARRAY_SIZE: usize = 100_000;
    /// Default [`Limits::max_map_size`]: room for a full select (10,000 documents) of
    /// documents with up to 50 fields.
    pub const DEFAULT_MAX_MAP_SIZE: usize = 500_000;
    /// Default [`Limits::max_host_calls`].
    pub const DEFAULT_MAX_HOST_CALLS: usize = 10_000;
    /// Default [`Limits::max_run_depth`].
    pub const DEFAULT_MAX_RUN_DEPTH: usize = 16;
    /// Default [`Limits::max_write_bytes`]: 64 MiB.
    pub const DEFAULT_MAX_WRITE_BYTES: u64 = 64 << 20;
    /// Default [`Limits::max_writes`]: room for a create of ten full selects' worth of
    /// documents ([`crate::MAX_SELECT_ROWS`]) in one request.
    pub const DEFAULT_MAX_WRITES: u64 = 100_000;

    /// The caps an operation's overrides may not exceed.
    pub const MAX: Limits = Limits {
        max_operations: 1_000_000_000,
        timeout_ms: 60_000,
        max_call_depth: 64,
        max_expr_depth: 128,
        max_string_size: 64 << 20,
        max_array_size: 10_000_000,
        max_map_size: 10_000_000,
        max_host_calls: 1_000_000,
        max_run_depth: 16,
        max_write_bytes: 1 << 30,
        max_writes: 10_000_000,
    };

    /// The defaults overridden by an operation's `limits` field (`null` = defaults).
    pub(crate) fn from_overrides(overrides: Option<&Value>) -> Result<Limits> {
        let limits: Limits = match overrides {
            None | Some(Value::Null) => Limits::default(),
            Some(value @ Value::Object(_)) => serde_json::from_value(value.clone())
                .map_err(|e| Error::bad_request(format!("bad `limits`: {e}")))?,
            Some(other) => {
                return Err(Error::bad_request(format!(
                    "`limits` must be an object such as {{\"timeoutMs\": 500}}, got {other}"
                )));
            }
        };
        let over = |name: &str, value: u64, cap: u64| -> Result<()> {
            if value == 0 || value > cap {
                return Err(Error::bad_request(format!(
                    "`limits.{name}` must be between 1 and {cap}, got {value}"
                )));
            }
            Ok(())
        };
        let max = Limits::MAX;
        over("maxOperations", limits.max_operations, max.max_operations)?;
        over("timeoutMs", limits.timeout_ms, max.timeout_ms)?;
        over(
            "maxCallDepth",
            limits.max_call_depth as u64,
            max.max_call_depth as u64,
        )?;
        over(
            "maxExprDepth",
            limits.max_expr_depth as u64,
            max.max_expr_depth as u64,
        )?;
        over(
            "maxStringSize",
            limits.max_string_size as u64,
            max.max_string_size as u64,
        )?;
        over(
            "maxArraySize",
            limits.max_array_size as u64,
            max.max_array_size as u64,
        )?;
        over(
            "maxMapSize",
            limits.max_map_size as u64,
            max.max_map_size as u64,
        )?;
        over(
            "maxHostCalls",
            limits.max_host_calls as u64,
            max.max_host_calls as u64,
        )?;
        over(
            "maxRunDepth",
            limits.max_run_depth as u64,
            max.max_run_depth as u64,
        )?;
        over("maxWriteBytes", limits.max_write_bytes, max.max_write_bytes)?;
        over("maxWrites", limits.max_writes, max.max_writes)?;
        Ok(limits)
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_operations: Self::DEFAULT_MAX_OPERATIONS,
            timeout_ms: Self::DEFAULT_TIMEOUT_MS,
            max_call_depth: Self::DEFAULT_MAX_CALL_DEPTH,
            max_expr_depth: Self::DEFAULT_MAX_EXPR_DEPTH,
            max_string_size: Self::DEFAULT_MAX_STRING_SIZE,
            max_array_size: Self::DEFAULT_MAX_ARRAY_SIZE,
            max_map_size: Self::DEFAULT_MAX_MAP_SIZE,
            max_host_calls: Self::DEFAULT_MAX_HOST_CALLS,
            max_run_depth: Self::DEFAULT_MAX_RUN_DEPTH,
            max_write_bytes: Self::DEFAULT_MAX_WRITE_BYTES,
            max_writes: Self::DEFAULT_MAX_WRITES,
        }
    }
}
