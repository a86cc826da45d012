//! Every limit of the engine in one table: the engine-wide constants, the size limits of the
//! `System Settings` document `limits`, and the per-operation script and write limits
//! ([`Limits`]). Each is defined here, with its unit; the modules that enforce them re-export
//! them under their old names. The README's Limits section is this table (a test keeps the two
//! alike, and the values the constants').
//!
//! "Set where" says who may change a limit: nobody (`fixed`), the host per request
//! (`options.timeoutMs`), the store's `System Settings` document `limits`, or an operation's
//! `limits` field (never above the cap shown).
//!
//! | Limit | Value | What it bounds | When exceeded | Set where |
//! |---|---|---|---|---|
//! | `MAX_VALUE_DEPTH` | 100 | levels of arrays and objects a JSON value nests: requests, stored documents, a script's output and its requests to `run` | `LIMIT_EXCEEDED` | fixed |
//! | `MAX_INPUT_DEPTH` | 102 | levels a request's `input` nests (a document of `MAX_VALUE_DEPTH` levels inside `input.data[i]`) | `LIMIT_EXCEEDED` | fixed |
//! | `HELD_DEPTH` | 200 | levels a value nests while a script holds it (arrays, maps and closures capturing them) | `LIMIT_EXCEEDED` | fixed |
//! | `MAX_NESTED_DEPTH` | 16 | levels runs nest below a top-level run (caps `maxRunDepth`) | `LIMIT_EXCEEDED` | fixed |
//! | `MAX_SELECT_ROWS` | 10,000 | documents one select returns (a larger `take` is cut) | none: `output.meta.truncated` | fixed |
//! | `MAX_WORKFLOW_STEPS` | 1,000 | step runs one workflow run starts (retries, map items and fallbacks included) | `LIMIT_EXCEEDED` | fixed |
//! | `MAX_MAP_ITEMS` | 1,000 | items one `map` step fans out over | `LIMIT_EXCEEDED` | fixed |
//! | `MAX_RETRIES` | 10 | a step's `retry.max` | `BAD_REQUEST` (a template: when saved) | fixed |
//! | `MAX_BACKOFF_MS` | 1,000 ms | the wait between two attempts of a retried step | none: `backoffMs` is cut to it | fixed |
//! | `MAX_TOTAL_BACKOFF_MS` | 10,000 ms | the retry waits of a top-level run and everything beneath it | `LIMIT_EXCEEDED` | fixed |
//! | `MAX_INTERPOLATED_BYTES` | 1 MiB | one string a workflow step builds from references | `LIMIT_EXCEEDED` | fixed |
//! | `MAX_RESOLVED_BYTES` | 16 MiB | what the references of one step request (or `map`, or `if`) bring in | `LIMIT_EXCEEDED` | fixed |
//! | `DEFAULT_RUN_TIMEOUT_MS` | 60,000 ms | the deadline of a top-level run that names none | `TIMEOUT` | request `options.timeoutMs` |
//! | `FAILED_TREE_RECORD_BYTES` | 1 MiB | the run records of a failed tree kept whole | none: nested records become stubs | fixed |
//! | `READ_ONLY_RECORD_BYTES` | 64 KiB | the record of a run, in a tree that writes nothing, kept with its whole output | none: the output is stored as `{trimmed, recordBytes, names, meta}` | fixed |
//! | `ECHO_CHARS` | 120 | characters of a value echoed in a message | none: the echo is cut | fixed |
//! | `STACK_BYTES` | 64 MiB | the stack of a script thread (reserved, not used) | none | fixed |
//! | `MAX_SCRIPT_VARIABLES` | 10,000 | variables one script run holds | `LIMIT_EXCEEDED` (`maxVariables`) | fixed |
//! | `MAX_SCRIPT_FUNCTIONS` | 1,000 | functions one script defines | `SCRIPT_COMPILE_ERROR` | fixed |
//! | `MAX_PRINTED` | 50 | `print`/`debug` lines that travel with a script error | none: later lines go to tracing only | fixed |
//! | `maxRequestBytes` | 16 MiB | one request as JSON (its input and text fields) | `LIMIT_EXCEEDED` | System Settings `limits` |
//! | `maxValueBytes` | 4 MiB | one string in a request or a stored document | `LIMIT_EXCEEDED` | System Settings `limits` |
//! | `maxDocumentBytes` | 8 MiB | one stored document as JSON | `LIMIT_EXCEEDED` | System Settings `limits` |
//! | `maxOperations` | 1,000,000 (cap 1,000,000,000) | Rhai operations of one script run | `LIMIT_EXCEEDED` | operation `limits` |
//! | `timeoutMs` | 2,000 ms (cap 60,000 ms) | wall clock of one script run, nested runs included | `TIMEOUT` | operation `limits` |
//! | `maxCallDepth` | 32 (cap 64) | depth of script function calls | `LIMIT_EXCEEDED` | operation `limits` |
//! | `maxExprDepth` | 64 (cap 128) | depth of nested expressions | `SCRIPT_COMPILE_ERROR` | operation `limits` |
//! | `maxStringSize` | 1 MiB (cap 64 MiB) | string bytes one script value holds, nested ones included | `LIMIT_EXCEEDED` | operation `limits` |
//! | `maxArraySize` | 100,000 (cap 10,000,000) | array elements one script value holds, nested ones included | `LIMIT_EXCEEDED` | operation `limits` |
//! | `maxMapSize` | 500,000 (cap 10,000,000) | map entries one script value holds, nested ones included | `LIMIT_EXCEEDED` | operation `limits` |
//! | `maxHostCalls` | 10,000 (cap 1,000,000) | calls of `run` and `get_schema` by one script run | `LIMIT_EXCEEDED` | operation `limits` |
//! | `maxRunDepth` | 16 (cap 16) | levels runs may nest below this one | `LIMIT_EXCEEDED` | operation `limits` |
//! | `maxWriteBytes` | 64 MiB (cap 1 GiB) | bytes a run and every run beneath it write | `LIMIT_EXCEEDED` | operation `limits` |
//! | `maxWrites` | 100,000 (cap 10,000,000) | documents a run and every run beneath it create, update or delete | `LIMIT_EXCEEDED` | operation `limits` |

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// How deep a JSON value may nest (arrays and objects, the outermost counting as 1) where it
/// enters the engine: requests, script values, resolved references, stored documents.
///
/// What cannot be read back must not be written: serde_json refuses to parse more than 128
/// levels, and a stored run record wraps a document in a few levels of its own
/// (`input.data[i]`, `output.data[i]`), so values stop well below that.
pub const MAX_VALUE_DEPTH: usize = 100;

/// How deep a request's `input` may nest: a document of [`MAX_VALUE_DEPTH`] levels inside
/// `input.data` (an object) or `input.data[i]` (a list of them). Scripts' requests to `run`
/// are held to the same.
pub(crate) const MAX_INPUT_DEPTH: usize = MAX_VALUE_DEPTH + 2;

/// How deep a value a script holds may nest (arrays, maps and closures each count a level):
/// room for values that entered at [`MAX_VALUE_DEPTH`] inside the wrappers around them
/// (`context.input.data`, a nested run's `output.data[i]`). What leaves a script (its output,
/// a request to `run`) nests at most [`MAX_VALUE_DEPTH`].
pub(crate) const HELD_DEPTH: usize = 2 * MAX_VALUE_DEPTH;

/// How deep runs may nest (a handler calling `run` that calls a handler ...).
pub const MAX_NESTED_DEPTH: usize = 16;

/// The most rows a select returns; `output.meta.truncated` says when it cut the result.
pub const MAX_SELECT_ROWS: usize = 10_000;

/// Step runs one workflow run may start (retries, map items and fallbacks included).
pub const MAX_WORKFLOW_STEPS: usize = 1_000;
/// Items one `map` step may fan out over.
pub const MAX_MAP_ITEMS: usize = 1_000;
/// The longest wait between two attempts of a retried step (the transaction stays open
/// meanwhile, so waits are kept short).
pub const MAX_BACKOFF_MS: u64 = 1_000;
/// The most retries a step may ask for (`retry.max`).
pub const MAX_RETRIES: u64 = 10;
/// How long, in total, a top-level run and everything beneath it may wait between retries
/// (nested workflows included); a retry that would wait past it fails LIMIT_EXCEEDED.
pub const MAX_TOTAL_BACKOFF_MS: u64 = 10_000;

/// The longest string a step may build by interpolating references, in bytes (1 MiB).
pub const MAX_INTERPOLATED_BYTES: u64 = 1 << 20;
/// What the references of one resolved step request (or `map`, or `if`) may bring in
/// together, in bytes of JSON (16 MiB).
pub const MAX_RESOLVED_BYTES: u64 = 16 << 20;

/// The deadline of a top-level run that names no `options.timeoutMs`, in milliseconds: a
/// run holding the store's writer (a retry loop, a slow handler) lets go within it.
pub(crate) const DEFAULT_RUN_TIMEOUT_MS: u64 = 60_000;

/// How many bytes the run records of a failed tree may take before its nested runs' records
/// are kept as stubs (their input and output left out).
pub(crate) const FAILED_TREE_RECORD_BYTES: usize = 1 << 20;

/// How many bytes the record of a run in a tree that writes nothing (a script that reads and
/// returns) may take with its whole output; beyond it the record keeps only the names of the
/// documents the run returned and its `meta` (`{trimmed: true, recordBytes}`), so a read does
/// not write megabytes of run records. The record of a successful `create` or `update` is
/// trimmed the same way beyond it: the documents it returned are the ones it wrote.
pub(crate) const READ_ONLY_RECORD_BYTES: usize = 64 << 10;

/// Characters of a value echoed in a message before it is cut.
pub(crate) const ECHO_CHARS: usize = 120;

/// The stack of a script thread. Rhai drops, clones and compares values recursively; the
/// sandbox measures a script's values often enough (see `depth`) that what it holds between
/// two measures nests at most some 65,000 levels, a few hundred bytes of stack each even in
/// a debug build. The memory is reserved, not used, until a script goes that deep.
pub(crate) const STACK_BYTES: usize = 64 << 20;

/// Variables one script run may hold at once (Rhai's `max_variables`).
pub(crate) const MAX_SCRIPT_VARIABLES: usize = 10_000;
/// Functions one script may define (Rhai's `max_functions`).
pub(crate) const MAX_SCRIPT_FUNCTIONS: usize = 1_000;
/// Lines of `print`/`debug` kept to travel with a script error.
pub(crate) const MAX_PRINTED: usize = 50;

/// Default `maxRequestBytes` of the `System Settings` document `limits`: 16 MiB.
pub(crate) const DEFAULT_MAX_REQUEST_BYTES: usize = 16 << 20;
/// Default `maxValueBytes` of the `System Settings` document `limits`: 4 MiB.
pub(crate) const DEFAULT_MAX_VALUE_BYTES: usize = 4 << 20;
/// Default `maxDocumentBytes` of the `System Settings` document `limits`: 8 MiB.
pub(crate) const DEFAULT_MAX_DOCUMENT_BYTES: usize = 8 << 20;

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

#[cfg(test)]
mod tests {
    use super::*;

    /// The rows of the first Markdown table in `text` whose lines start with `prefix`.
    fn table(text: &str, prefix: &str) -> Vec<String> {
        text.lines()
            .filter_map(|l| l.strip_prefix(prefix))
            .skip_while(|l| !l.starts_with('|'))
            .take_while(|l| l.starts_with('|'))
            .map(str::to_string)
            .collect()
    }

    /// `1,000 ms`, `64 KiB`, `16 MiB`, `1 GiB`, `120` as a number.
    fn number(text: &str) -> u64 {
        let (digits, unit) = text.split_once(' ').unwrap_or((text, ""));
        let n: u64 = digits.replace(',', "").parse().expect(text);
        match unit {
            "KiB" => n << 10,
            "MiB" => n << 20,
            "GiB" => n << 30,
            "" | "ms" => n,
            other => panic!("unknown unit {other}"),
        }
    }

    #[test]
    fn the_readme_shows_this_table_and_its_values_are_the_constants() {
        let here = table(include_str!("limits.rs"), "//! ");
        let readme = table(include_str!("../README.md"), "");
        assert!(here.len() > 30, "the table is found");
        assert_eq!(readme, here, "README.md's Limits table is this module's");
        let value = |name: &str| -> (u64, Option<u64>) {
            let row = here
                .iter()
                .find(|r| r.starts_with(&format!("| `{name}` |")))
                .unwrap_or_else(|| panic!("a row for {name}"));
            let cell = row.split('|').nth(2).unwrap().trim();
            match cell.split_once(" (cap ") {
                Some((default, cap)) => (number(default), Some(number(&cap[..cap.len() - 1]))),
                None => (number(cell), None),
            }
        };
        let d = Limits::default();
        let m = Limits::MAX;
        let expected: Vec<(&str, (u64, Option<u64>))> = vec![
            ("MAX_VALUE_DEPTH", (MAX_VALUE_DEPTH as u64, None)),
            ("MAX_INPUT_DEPTH", (MAX_INPUT_DEPTH as u64, None)),
            ("HELD_DEPTH", (HELD_DEPTH as u64, None)),
            ("MAX_NESTED_DEPTH", (MAX_NESTED_DEPTH as u64, None)),
            ("MAX_SELECT_ROWS", (MAX_SELECT_ROWS as u64, None)),
            ("MAX_WORKFLOW_STEPS", (MAX_WORKFLOW_STEPS as u64, None)),
            ("MAX_MAP_ITEMS", (MAX_MAP_ITEMS as u64, None)),
            ("MAX_RETRIES", (MAX_RETRIES, None)),
            ("MAX_BACKOFF_MS", (MAX_BACKOFF_MS, None)),
            ("MAX_TOTAL_BACKOFF_MS", (MAX_TOTAL_BACKOFF_MS, None)),
            ("MAX_INTERPOLATED_BYTES", (MAX_INTERPOLATED_BYTES, None)),
            ("MAX_RESOLVED_BYTES", (MAX_RESOLVED_BYTES, None)),
            ("DEFAULT_RUN_TIMEOUT_MS", (DEFAULT_RUN_TIMEOUT_MS, None)),
            (
                "FAILED_TREE_RECORD_BYTES",
                (FAILED_TREE_RECORD_BYTES as u64, None),
            ),
            (
                "READ_ONLY_RECORD_BYTES",
                (READ_ONLY_RECORD_BYTES as u64, None),
            ),
            ("ECHO_CHARS", (ECHO_CHARS as u64, None)),
            ("STACK_BYTES", (STACK_BYTES as u64, None)),
            ("MAX_SCRIPT_VARIABLES", (MAX_SCRIPT_VARIABLES as u64, None)),
            ("MAX_SCRIPT_FUNCTIONS", (MAX_SCRIPT_FUNCTIONS as u64, None)),
            ("MAX_PRINTED", (MAX_PRINTED as u64, None)),
            ("maxRequestBytes", (DEFAULT_MAX_REQUEST_BYTES as u64, None)),
            ("maxValueBytes", (DEFAULT_MAX_VALUE_BYTES as u64, None)),
            (
                "maxDocumentBytes",
                (DEFAULT_MAX_DOCUMENT_BYTES as u64, None),
            ),
            ("maxOperations", (d.max_operations, Some(m.max_operations))),
            ("timeoutMs", (d.timeout_ms, Some(m.timeout_ms))),
            (
                "maxCallDepth",
                (d.max_call_depth as u64, Some(m.max_call_depth as u64)),
            ),
            (
                "maxExprDepth",
                (d.max_expr_depth as u64, Some(m.max_expr_depth as u64)),
            ),
            (
                "maxStringSize",
                (d.max_string_size as u64, Some(m.max_string_size as u64)),
            ),
            (
                "maxArraySize",
                (d.max_array_size as u64, Some(m.max_array_size as u64)),
            ),
            (
                "maxMapSize",
                (d.max_map_size as u64, Some(m.max_map_size as u64)),
            ),
            (
                "maxHostCalls",
                (d.max_host_calls as u64, Some(m.max_host_calls as u64)),
            ),
            (
                "maxRunDepth",
                (d.max_run_depth as u64, Some(m.max_run_depth as u64)),
            ),
            (
                "maxWriteBytes",
                (d.max_write_bytes, Some(m.max_write_bytes)),
            ),
            ("maxWrites", (d.max_writes, Some(m.max_writes))),
        ];
        assert_eq!(expected.len(), here.len() - 2, "every row is checked");
        for (name, want) in expected {
            assert_eq!(value(name), want, "{name}");
        }
    }
}
