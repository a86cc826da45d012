//! The request callers send ([`RunRequest`]) and the record of what happened ([`Run`]).
//!
//! Both are plain data with the camelCase JSON shape of DESIGN.md. This module never
//! touches the store or executes anything; it only parses, builds and describes. The
//! request and its parser live in `request`; the run record here.

mod request;

pub(crate) use request::{REQUEST_KEYS, malformed, type_name};
pub use request::{RunOptions, RunRequest};

use crate::error::RunError;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Where a run is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    /// Accepted, not started.
    Pending,
    /// Executing.
    Running,
    /// Finished successfully; never modified again.
    Completed,
    /// Finished with an error; never modified again.
    Failed,
}

impl RunStatus {
    /// The stable string form (`pending`, `running`, `completed`, `failed`).
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Pending => "pending",
            RunStatus::Running => "running",
            RunStatus::Completed => "completed",
            RunStatus::Failed => "failed",
        }
    }

    /// `completed` or `failed`.
    pub fn is_final(self) -> bool {
        matches!(self, RunStatus::Completed | RunStatus::Failed)
    }
}

/// The record of one execution: what was asked, by whom, what happened.
///
/// Every key of DESIGN.md's run is always present in the JSON (null when not set), so
/// consumers can rely on the shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Run {
    /// Unique, sortable by time (a ULID).
    pub id: String,
    /// When the run started (RFC 3339, UTC).
    pub timestamp: String,
    /// The operation as resolved (aliases replaced), or as given when it could not be resolved.
    pub operation: Option<String>,
    /// Where the run is in its life.
    pub status: RunStatus,
    /// Milliseconds from start to end.
    pub duration: f64,
    /// The target doctype, whichever key carried it.
    pub doctype: Option<String>,
    /// `from` as given.
    pub from: Option<String>,
    /// `into` as given.
    pub into: Option<String>,
    /// `template` as given.
    pub template: Option<String>,
    /// The input as given.
    #[serde(default)]
    pub input: Value,
    /// The output (see DESIGN.md for shapes); stored compact for selects.
    #[serde(default)]
    pub output: Value,
    /// `true` when completed.
    pub success: bool,
    /// `true` for a run that completed but whose writes were taken back because a run
    /// above it failed (or its workflow attempt was retried): nothing it did remains.
    #[serde(default)]
    pub rolled_back: bool,
    /// Set when failed.
    pub error: Option<RunError>,
    /// The run whose handler started this one.
    pub parent_run_id: Option<String>,
    /// Runs started by this one, in order.
    #[serde(default)]
    pub child_run_ids: Vec<String>,
    /// The id of the top-level run of this tree.
    pub chain_id: String,
    /// Who asked.
    pub owner: Option<String>,
    /// Who executed.
    pub agent: Option<String>,
    /// Kind of flow.
    pub flow_type: Option<String>,
    /// The flow.
    pub flow_id: Option<String>,
    /// The step of the flow.
    pub step_id: Option<String>,
    /// The options as given.
    #[serde(default)]
    pub options: RunOptions,
}

impl Run {
    /// The output's `data` as an array of documents (empty when there is none).
    ///
    /// ```
    /// # use coworker::Engine;
    /// # use serde_json::json;
    /// let engine = Engine::in_memory().unwrap();
    /// let run = engine.run_json(r#"{"operation":"create","into":"Note","input":{"data":{"title":"hi"}}}"#);
    /// assert_eq!(run.data()[0]["title"], json!("hi"));
    /// ```
    pub fn data(&self) -> &[Value] {
        self.output
            .get("data")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    /// The run as a JSON value.
    pub fn to_value(&self) -> Value {
        self.clone().into_value()
    }

    /// The run as a JSON value, taking its parts over (no copy of its input or output).
    ///
    /// ```
    /// # use coworker::Engine;
    /// # use serde_json::json;
    /// let engine = Engine::in_memory().unwrap();
    /// let run = engine.run_json(r#"{"operation":"select","from":"Note"}"#);
    /// let expected = serde_json::to_value(&run).unwrap();
    /// assert_eq!(run.into_value(), expected);
    /// ```
    pub fn into_value(self) -> Value {
        fn text(value: Option<String>) -> Value {
            value.map_or(Value::Null, Value::String)
        }
        // Every key, in the order (and with the values) the derived serialization gives.
        let Run {
            id,
            timestamp,
            operation,
            status,
            duration,
            doctype,
            from,
            into,
            template,
            input,
            output,
            success,
            rolled_back,
            error,
            parent_run_id,
            child_run_ids,
            chain_id,
            owner,
            agent,
            flow_type,
            flow_id,
            step_id,
            options,
        } = self;
        let fields: [(&str, Value); 23] = [
            ("id", Value::String(id)),
            ("timestamp", Value::String(timestamp)),
            ("operation", text(operation)),
            ("status", Value::String(status.as_str().to_string())),
            ("duration", Value::from(duration)),
            ("doctype", text(doctype)),
            ("from", text(from)),
            ("into", text(into)),
            ("template", text(template)),
            ("input", input),
            ("output", output),
            ("success", Value::Bool(success)),
            ("rolledBack", Value::Bool(rolled_back)),
            ("error", serde_json::to_value(error).unwrap_or(Value::Null)),
            ("parentRunId", text(parent_run_id)),
            (
                "childRunIds",
                Value::Array(child_run_ids.into_iter().map(Value::String).collect()),
            ),
            ("chainId", Value::String(chain_id)),
            ("owner", text(owner)),
            ("agent", text(agent)),
            ("flowType", text(flow_type)),
            ("flowId", text(flow_id)),
            ("stepId", text(step_id)),
            (
                "options",
                serde_json::to_value(options).unwrap_or(Value::Null),
            ),
        ];
        Value::Object(
            fields
                .into_iter()
                .map(|(key, value)| (key.to_string(), value))
                .collect(),
        )
    }

    /// The run as a JSON map (what handlers see as `context`).
    pub fn to_map(&self) -> Map<String, Value> {
        match self.to_value() {
            Value::Object(map) => map,
            _ => Map::new(),
        }
    }
}

impl Run {
    /// A run with only its id (its chain's too), timestamp and `status` set: the stub
    /// listed for a stored record that cannot be read back, and unit tests' runs.
    pub(crate) fn bare(id: String, timestamp: String, status: RunStatus) -> Run {
        Run {
            chain_id: id.clone(),
            id,
            timestamp,
            operation: None,
            status,
            duration: 0.0,
            doctype: None,
            from: None,
            into: None,
            template: None,
            input: Value::Null,
            output: Value::Null,
            success: status == RunStatus::Completed,
            rolled_back: false,
            error: None,
            parent_run_id: None,
            child_run_ids: Vec::new(),
            owner: None,
            agent: None,
            flow_type: None,
            flow_id: None,
            step_id: None,
            options: RunOptions::default(),
        }
    }
}

/// A run with only its id, chain, timestamp and `status` set, for unit tests.
#[cfg(test)]
pub(crate) fn blank_run(status: RunStatus) -> Run {
    Run {
        duration: 0.25,
        ..Run::bare(
            "01J00000000000000000000000".into(),
            "2026-11-25T14:00:00.000000Z".into(),
            status,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_run_as_a_value_is_its_serialization() {
        let bare = blank_run(RunStatus::Running);
        let full = Run {
            operation: Some("select".into()),
            status: RunStatus::Failed,
            duration: 1.0 / 3.0,
            doctype: Some("D".into()),
            from: Some("F".into()),
            into: Some("I".into()),
            template: Some("T".into()),
            input: json!({"where": {"a": 1}}),
            output: json!({"data": [{"name": "x"}]}),
            success: true,
            error: Some(RunError {
                code: crate::ErrorCode::Conflict,
                message: "m".into(),
                details: json!({"d": [1]}),
            }),
            parent_run_id: Some("P".into()),
            child_run_ids: vec!["C1".into(), "C2".into()],
            owner: Some("o".into()),
            agent: Some("a".into()),
            flow_type: Some("ft".into()),
            flow_id: Some("f".into()),
            step_id: Some("s".into()),
            options: RunOptions {
                dry_run: Some(true),
                timeout_ms: Some(9),
                ..Default::default()
            },
            ..bare.clone()
        };
        for run in [bare, full] {
            let by_serde = serde_json::to_value(&run).unwrap();
            let keys: Vec<_> = by_serde.as_object().unwrap().keys().cloned().collect();
            let direct = run.into_value();
            assert_eq!(direct, by_serde);
            let direct_keys: Vec<_> = direct.as_object().unwrap().keys().cloned().collect();
            assert_eq!(direct_keys, keys, "the same key order");
        }
    }
}
