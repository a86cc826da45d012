//! A run tree's budget: the deadline that bounds every run beneath it, and the volume it
//! may write. Both are absolute marks inherited downwards: a nested run gets the tighter of
//! its own and its parent's, so no run, step, retry or nested run can outspend an ancestor.
//!
//! This module only measures and judges; it never writes, sleeps or stops anything itself.

use crate::error::{Error, ErrorCode, Result};
use crate::script::Limits;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub(crate) use crate::limits::DEFAULT_RUN_TIMEOUT_MS;

/// When a run tree must be done, and whose budget that is (for the message).
#[derive(Debug, Clone)]
pub(crate) struct Deadline {
    at: Instant,
    ms: u64,
    /// The run whose timeout this is.
    run_id: Arc<str>,
    /// Which setting gave it (`options.timeoutMs`, ...).
    source: &'static str,
}

impl Deadline {
    /// `ms` milliseconds after `from`, set by `source` of run `run_id`. A timeout too far
    /// away to represent is no deadline at all in practice: it is cut to a century.
    pub(crate) fn after(from: Instant, ms: u64, run_id: &str, source: &'static str) -> Deadline {
        let century = Duration::from_secs(100 * 365 * 24 * 3600);
        let at = from
            .checked_add(Duration::from_millis(ms).min(century))
            .unwrap_or(from + century);
        Deadline {
            at,
            ms,
            run_id: Arc::from(run_id),
            source,
        }
    }

    /// The earlier of two deadlines (`self` on a tie: the outer one names itself).
    pub(crate) fn tighter(self, other: Option<Deadline>) -> Deadline {
        match other {
            Some(other) if other.at < self.at => other,
            _ => self,
        }
    }

    /// The instant it passes.
    pub(crate) fn at(&self) -> Instant {
        self.at
    }

    /// Whether it has passed.
    pub(crate) fn passed(&self) -> bool {
        Instant::now() >= self.at
    }

    /// Time left until it passes (zero once passed).
    pub(crate) fn left(&self) -> Duration {
        self.at.saturating_duration_since(Instant::now())
    }

    /// Whether run `run_id`'s own timeout `source` set this deadline.
    pub(crate) fn is_own(&self, run_id: &str, source: &str) -> bool {
        &*self.run_id == run_id && self.source == source
    }

    /// What passed, for a message: "run `ID`'s 3000 ms deadline (options.timeoutMs)".
    pub(crate) fn describe(&self) -> String {
        format!(
            "run `{}`'s {} ms deadline ({})",
            self.run_id, self.ms, self.source
        )
    }

    /// TIMEOUT for `what` (a sentence start such as "step `b` was running when"), with
    /// `details` extended by the deadline's own.
    pub(crate) fn error(&self, what: &str, details: Value) -> Error {
        let mut details = match details {
            Value::Object(map) => map,
            _ => serde_json::Map::new(),
        };
        details.insert("deadlineOf".into(), json!(&*self.run_id));
        details.insert("timeoutMs".into(), json!(self.ms));
        details.insert("limit".into(), json!(self.source));
        Error::new(
            ErrorCode::Timeout,
            format!("{what} {} passed", self.describe()),
        )
        .with_details(Value::Object(details))
    }
}

/// What a run tree has spent so far (shared by every run of the tree).
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Spent {
    /// Bytes written: documents created or updated, and run records.
    pub(crate) bytes: u64,
    /// Documents created, updated or deleted.
    pub(crate) docs: u64,
    /// Milliseconds workflows waited between retries.
    pub(crate) backoff_ms: u64,
}

/// How far one kind of writing may go: an absolute mark on the tree's [`Spent`] counter,
/// and whose limit it is.
#[derive(Debug, Clone)]
struct Mark {
    at: u64,
    limit: u64,
    operation: Arc<str>,
}

/// The write marks a run must stay under: its own operation's `maxWriteBytes` and
/// `maxWrites` counted from its start, or an ancestor's if tighter.
#[derive(Debug, Clone)]
pub(crate) struct WriteCeiling {
    bytes: Mark,
    docs: Mark,
}

impl WriteCeiling {
    /// The ceiling of a run of `operation` starting when the tree has spent `spent`,
    /// under `parent`'s ceiling (if any).
    pub(crate) fn of(
        operation: &str,
        limits: &Limits,
        spent: &Spent,
        parent: Option<&WriteCeiling>,
    ) -> WriteCeiling {
        let operation: Arc<str> = Arc::from(operation);
        let own = WriteCeiling {
            bytes: Mark {
                at: spent.bytes.saturating_add(limits.max_write_bytes),
                limit: limits.max_write_bytes,
                operation: operation.clone(),
            },
            docs: Mark {
                at: spent.docs.saturating_add(limits.max_writes),
                limit: limits.max_writes,
                operation,
            },
        };
        match parent {
            None => own,
            Some(parent) => WriteCeiling {
                bytes: tighter(parent.bytes.clone(), own.bytes),
                docs: tighter(parent.docs.clone(), own.docs),
            },
        }
    }

    /// Refuse a nested run once the tree has written past this ceiling (its run records
    /// count, and they are kept whatever happens).
    pub(crate) fn check_spent(&self, spent: &Spent) -> Result<()> {
        if spent.bytes > self.bytes.at {
            return Err(over(
                &self.bytes,
                "maxWriteBytes",
                format!(
                    "the run tree has written {} bytes (documents and run records), more than the {} bytes `{}` may write (limit: maxWriteBytes)",
                    spent.bytes, self.bytes.limit, self.bytes.operation
                ),
                Value::Null,
            ));
        }
        Ok(())
    }

    /// Charge one document write of `bytes` to `spent`, or refuse it (LIMIT_EXCEEDED
    /// naming the limit) before anything is written.
    pub(crate) fn charge(
        &self,
        spent: &mut Spent,
        bytes: u64,
        doctype: &str,
        name: &str,
    ) -> Result<()> {
        // Built only for a refusal: every written document passes here.
        let details = || json!({"doctype": doctype, "name": name, "bytes": bytes});
        if spent.docs + 1 > self.docs.at {
            return Err(over(
                &self.docs,
                "maxWrites",
                format!(
                    "writing {doctype} `{name}` would make more than {} documents written by `{}` (limit: maxWrites)",
                    self.docs.limit, self.docs.operation
                ),
                details(),
            ));
        }
        if spent.bytes.saturating_add(bytes) > self.bytes.at {
            return Err(over(
                &self.bytes,
                "maxWriteBytes",
                format!(
                    "writing {doctype} `{name}` ({bytes} bytes) would take the run tree past the {} bytes `{}` may write (limit: maxWriteBytes)",
                    self.bytes.limit, self.bytes.operation
                ),
                details(),
            ));
        }
        spent.docs += 1;
        spent.bytes = spent.bytes.saturating_add(bytes);
        Ok(())
    }
}

fn tighter(a: Mark, b: Mark) -> Mark {
    if b.at < a.at { b } else { a }
}

fn over(mark: &Mark, limit: &str, message: String, details: Value) -> Error {
    let mut details = match details {
        Value::Object(map) => map,
        _ => serde_json::Map::new(),
    };
    details.insert("limit".into(), json!(limit));
    details.insert("max".into(), json!(mark.limit));
    details.insert("operation".into(), json!(&*mark.operation));
    Error::new(ErrorCode::LimitExceeded, message).with_details(Value::Object(details))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ceiling_is_the_tighter_of_its_own_and_its_parents() {
        let big = Limits {
            max_write_bytes: 1000,
            max_writes: 10,
            ..Limits::default()
        };
        let small = Limits {
            max_write_bytes: 100,
            max_writes: 2,
            ..Limits::default()
        };
        let mut spent = Spent::default();
        let outer = WriteCeiling::of("outer", &big, &spent, None);
        outer.charge(&mut spent, 950, "Note", "a").unwrap();
        // The inner run may write 100 bytes of its own, but only 50 are left outside.
        let inner = WriteCeiling::of("inner", &small, &spent, Some(&outer));
        let error = inner.charge(&mut spent, 60, "Note", "b").unwrap_err();
        assert_eq!(error.code(), ErrorCode::LimitExceeded);
        assert!(error.to_string().contains("`outer`"), "{error}");
        inner.charge(&mut spent, 40, "Note", "c").unwrap();
        inner.charge(&mut spent, 20, "Note", "d").unwrap_err();
        assert_eq!((spent.bytes, spent.docs), (990, 2));
        let far = Deadline::after(Instant::now(), u64::MAX, "r", "options.timeoutMs");
        assert!(!far.passed());
        let near = Deadline::after(Instant::now(), 0, "s", "options.timeoutMs");
        assert!(far.tighter(Some(near)).passed());
    }
}
