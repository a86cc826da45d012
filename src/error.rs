//! Errors: one enum for the whole engine, each variant mapped to a stable [`ErrorCode`].
//!
//! Codes are part of the public contract: they are written into run records, scripted
//! against by users and mapped to CLI exit codes. A code, once published, never changes
//! meaning. This module never carries backend types (redb, rhai) in its public surface:
//! storage failures keep only their message.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::fmt;

/// The closed, documented set of error codes a failed run can carry.
///
/// Serialized as SCREAMING_SNAKE strings (`"NOT_FOUND"`, ...).
///
/// ```
/// use coworker::ErrorCode;
/// assert_eq!(ErrorCode::NotFound.as_str(), "NOT_FOUND");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[non_exhaustive]
pub enum ErrorCode {
    /// The request is malformed: bad JSON, wrong input shapes, unknown where-operators.
    BadRequest,
    /// The named operation does not exist.
    UnknownOperation,
    /// The operation needs a target (`from`, `into`, `in`, `template`, `doctype`) and none was given.
    MissingTarget,
    /// A document, run or template that was named does not exist.
    NotFound,
    /// A document with that name already exists.
    Conflict,
    /// The data does not satisfy its schema; `details` lists every violation.
    ValidationFailed,
    /// The owner of the run may not do this.
    PermissionDenied,
    /// The thing cannot be changed (completed runs, audit entries, protected operations).
    Immutable,
    /// A handler script does not compile.
    ScriptCompileError,
    /// A handler script failed at run time.
    ScriptError,
    /// A limit (rows, depth, size, operations) was exceeded.
    LimitExceeded,
    /// The run took longer than it was allowed to.
    Timeout,
    /// The store could not be read or written.
    StorageError,
    /// A bug in the engine (a caught panic, a broken invariant).
    Internal,
}

impl ErrorCode {
    /// The stable string form, as written into run records.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadRequest => "BAD_REQUEST",
            ErrorCode::UnknownOperation => "UNKNOWN_OPERATION",
            ErrorCode::MissingTarget => "MISSING_TARGET",
            ErrorCode::NotFound => "NOT_FOUND",
            ErrorCode::Conflict => "CONFLICT",
            ErrorCode::ValidationFailed => "VALIDATION_FAILED",
            ErrorCode::PermissionDenied => "PERMISSION_DENIED",
            ErrorCode::Immutable => "IMMUTABLE",
            ErrorCode::ScriptCompileError => "SCRIPT_COMPILE_ERROR",
            ErrorCode::ScriptError => "SCRIPT_ERROR",
            ErrorCode::LimitExceeded => "LIMIT_EXCEEDED",
            ErrorCode::Timeout => "TIMEOUT",
            ErrorCode::StorageError => "STORAGE_ERROR",
            ErrorCode::Internal => "INTERNAL",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One violation found while validating a document or a request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldError {
    /// Where the violation is, e.g. `status` or `items[2].qty`.
    pub path: String,
    /// The rule that failed, e.g. `reqd`, `type`, `options`.
    pub rule: String,
    /// A sentence for humans.
    pub message: String,
}

/// Every way an engine call can fail. Each variant has one [`ErrorCode`].
///
/// ```
/// use coworker::{Error, ErrorCode};
/// let e = Error::not_found("ToDo `x` does not exist");
/// assert_eq!(e.code(), ErrorCode::NotFound);
/// assert_eq!(e.to_string(), "ToDo `x` does not exist");
/// ```
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A failure with a code and a message, and optionally structured details.
    #[error("{message}")]
    Run {
        /// The stable code.
        code: ErrorCode,
        /// A sentence for humans.
        message: String,
        /// Structured details (JSON), `null` when there are none.
        details: Value,
    },
    /// Validation failed; every violation is listed.
    #[error("{message}")]
    Validation {
        /// A summary sentence.
        message: String,
        /// Every violation, not only the first.
        errors: Vec<FieldError>,
    },
    /// The store failed; the message shows the cause.
    #[error("storage error: {0}")]
    Storage(String),
}

impl Error {
    /// An error with the given code and message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Error::Run {
            code,
            message: message.into(),
            details: Value::Null,
        }
    }

    /// Attach structured details (kept in the run's `error.details`).
    pub fn with_details(self, details: Value) -> Self {
        match self {
            Error::Run { code, message, .. } => Error::Run {
                code,
                message,
                details,
            },
            other => other,
        }
    }

    /// `BAD_REQUEST`.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::BadRequest, message)
    }

    /// `NOT_FOUND`.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::NotFound, message)
    }

    /// `INTERNAL`.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Internal, message)
    }

    /// The stable code of this error.
    pub fn code(&self) -> ErrorCode {
        match self {
            Error::Run { code, .. } => *code,
            Error::Validation { .. } => ErrorCode::ValidationFailed,
            Error::Storage(_) => ErrorCode::StorageError,
        }
    }

    /// The serialized shape written into a run: `{code, message, details}`.
    pub fn to_run_error(&self) -> RunError {
        let details = match self {
            Error::Run { details, .. } => details.clone(),
            Error::Validation { errors, .. } => serde_json::to_value(errors).unwrap_or(Value::Null),
            Error::Storage(_) => Value::Null,
        };
        RunError {
            code: self.code(),
            message: cut_message(self.to_string()),
            details: cut_details(details, 0),
        }
    }
}

/// Characters of an error message kept in a run (and its audit entry); the violations are
/// in `details` whole.
const MAX_MESSAGE_CHARS: usize = 4096;

/// Characters of one string in an error's `details` before it is cut.
const MAX_DETAIL_CHARS: usize = 1024;

/// Nesting of an error's `details` kept before a deeper value is shown as a cut echo.
const MAX_DETAIL_DEPTH: usize = 8;

/// A message that names a value whole — wherever it was built — is cut like an echo, so
/// that one failed request is never stored, printed and audited several times over.
fn cut_message(message: String) -> String {
    crate::value::cut_str(&message, MAX_MESSAGE_CHARS, "message")
}

/// `details` with every long string cut and deep values echoed, for the same reason.
fn cut_details(details: Value, depth: usize) -> Value {
    match details {
        Value::String(s) if s.len() > MAX_DETAIL_CHARS => {
            Value::String(crate::value::cut_str(&s, MAX_DETAIL_CHARS, "string"))
        }
        Value::Array(_) | Value::Object(_) if depth >= MAX_DETAIL_DEPTH => {
            Value::String(crate::value::echo(&details))
        }
        Value::Array(items) => Value::Array(
            items
                .into_iter()
                .map(|v| cut_details(v, depth + 1))
                .collect(),
        ),
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| {
                    let key = if k.len() > MAX_DETAIL_CHARS {
                        crate::value::cut_str(&k, MAX_DETAIL_CHARS, "string")
                    } else {
                        k
                    };
                    (key, cut_details(v, depth + 1))
                })
                .collect(),
        ),
        other => other,
    }
}

/// The error as stored in a run record and printed by the CLI.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunError {
    /// The stable code.
    pub code: ErrorCode,
    /// A sentence for humans.
    pub message: String,
    /// Structured details: the violations of a validation failure, the offending operator, ...
    #[serde(default)]
    pub details: Value,
}

macro_rules! storage_from {
    ($($t:ty),* $(,)?) => {$(
        impl From<$t> for Error {
            fn from(e: $t) -> Self {
                Error::Storage(e.to_string())
            }
        }
    )*};
}

storage_from!(
    redb::Error,
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError,
);

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        Error::bad_request(format!("invalid JSON: {e}"))
    }
}

/// The engine's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
