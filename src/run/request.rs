//! The request callers send ([`RunRequest`], [`RunOptions`]) and its hand-written parser:
//! a request that does not parse is refused naming the key, what it takes and what it got.
//!
//! Plain data with the camelCase JSON shape of DESIGN.md; this module never touches the store
//! or executes anything.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// Options a caller may set on a request.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RunOptions {
    /// Return the doctype's schema with a select's output.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "flag_option"
    )]
    pub include_schema: Option<bool>,
    /// Check the request (operation, target, input) and execute nothing.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "flag_option"
    )]
    pub dry_run: Option<bool>,
    /// Skip schema validation (only where the operation allows it).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "flag_option"
    )]
    pub validate: Option<bool>,
    /// Give up after this many milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    /// Keep this run's record, and its whole tree's, whatever the retention settings say
    /// (set on a top-level request; see the `System Settings` document `retention`).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "flag_option"
    )]
    pub keep_alive: Option<bool>,
}

impl RunOptions {
    /// The options of a request's `options` value (null: none). A flag is `true`, `false`,
    /// `1` or `0` (Frappe's Check); `timeoutMs` a non-negative integer.
    fn from_value(value: Value) -> Result<Self> {
        let fields = match value {
            Value::Null => return Ok(RunOptions::default()),
            Value::Object(fields) => fields,
            other => return Err(wrong_type("options", OPTIONS_EXPECTED, &other)),
        };
        let mut options = RunOptions::default();
        for (key, value) in fields {
            let path = format!("options.{key}");
            let slot = match key.as_str() {
                "includeSchema" => &mut options.include_schema,
                "dryRun" => &mut options.dry_run,
                "validate" => &mut options.validate,
                "keepAlive" => &mut options.keep_alive,
                "timeoutMs" => {
                    options.timeout_ms = match &value {
                        Value::Null => None,
                        other => Some(other.as_u64().ok_or_else(|| {
                            wrong_type(&path, "a non-negative integer of milliseconds", other)
                        })?),
                    };
                    continue;
                }
                unknown => return Err(unknown_key(unknown, "options.", OPTION_KEYS)),
            };
            *slot = match &value {
                Value::Null => None,
                other => Some(
                    parse_flag(other)
                        .ok_or_else(|| wrong_type(&path, "true or false (or 1 or 0)", other))?,
                ),
            };
        }
        Ok(options)
    }
}

/// The keys a request may have.
pub(crate) const REQUEST_KEYS: &[&str] = &[
    "operation",
    "from",
    "into",
    "in",
    "template",
    "doctype",
    "input",
    "options",
    "owner",
    "agent",
    "flowType",
    "flowId",
    "stepId",
];

/// The keys of a request's `options`.
const OPTION_KEYS: &[&str] = &[
    "includeSchema",
    "dryRun",
    "validate",
    "timeoutMs",
    "keepAlive",
];

/// What `options` must be, in the words of an error message.
const OPTIONS_EXPECTED: &str =
    "an object of options (includeSchema, dryRun, validate, timeoutMs, keepAlive)";

/// What a request's text field must be, in the words of an error message.
fn text_expected(key: &str) -> &'static str {
    match key {
        "operation" => "a string: the operation's name",
        "from" | "into" | "in" | "doctype" => "a string: a doctype's name",
        "template" => "a string: a workflow template's name",
        "owner" | "agent" => "a string: a user's name",
        _ => "a string",
    }
}

/// A flag as a request gives it: a boolean, or 1 / 0 as Frappe's Check fields take it.
fn parse_flag(value: &Value) -> Option<bool> {
    match value {
        Value::Bool(flag) => Some(*flag),
        Value::Number(n) if n.as_f64() == Some(1.0) => Some(true),
        Value::Number(n) if n.as_f64() == Some(0.0) => Some(false),
        _ => None,
    }
}

/// serde's reading of a flag option, as [`RunOptions::from_value`] reads it.
fn flag_option<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> std::result::Result<Option<bool>, D::Error> {
    match Option::<Value>::deserialize(deserializer)? {
        None | Some(Value::Null) => Ok(None),
        Some(value) => parse_flag(&value)
            .map(Some)
            .ok_or_else(|| serde::de::Error::custom("expected true, false, 1 or 0")),
    }
}

/// BAD_REQUEST: the value at `path` is not what it must be.
fn wrong_type(path: &str, expected: &str, got: &Value) -> Error {
    let shown = match got {
        Value::Null => "null".to_string(),
        other => format!("{} {}", type_name(other), crate::value::echo(other)),
    };
    let message = if path.is_empty() {
        format!("a request must be {expected}, got {shown}")
    } else {
        format!("`{path}` must be {expected}, got {shown}")
    };
    Error::bad_request(message).with_details(json!({"path": path, "expected": expected}))
}

/// BAD_REQUEST: `key` (under `prefix`) is not one of `known`; suggests the closest.
fn unknown_key(key: &str, prefix: &str, known: &[&str]) -> Error {
    let shown = crate::value::echo_str(key);
    let hint = crate::schema::suggest(key, known.iter().copied())
        .map(|s| format!(" (did you mean `{prefix}{s}`?)"))
        .unwrap_or_default();
    let what = if prefix.is_empty() {
        "a request key"
    } else {
        "an option"
    };
    Error::bad_request(format!(
        "`{prefix}{shown}` is not {what}{hint}; known: {}",
        known.join(", ")
    ))
    .with_details(json!({"path": format!("{prefix}{shown}"), "expected": known}))
}

/// The error for request JSON text that does not parse: BAD_REQUEST, or LIMIT_EXCEEDED
/// when it nests deeper than the JSON parser goes.
pub(crate) fn malformed(e: serde_json::Error) -> Error {
    if e.to_string().starts_with("recursion limit exceeded") {
        return Error::new(
            crate::ErrorCode::LimitExceeded,
            format!(
                "the request JSON nests too deep to parse ({e}); values may nest at most {} levels (the depth limit of values)",
                crate::value::MAX_VALUE_DEPTH
            ),
        )
        .with_details(json!({"limit": "maxDepth", "max": crate::value::MAX_VALUE_DEPTH}));
    }
    Error::bad_request(format!("malformed request JSON: {e}"))
}

/// What a caller asks the engine to do: one operation on one target.
///
/// Built from JSON (names in camelCase) or with the typed builder:
///
/// ```
/// use coworker::RunRequest;
/// use serde_json::json;
///
/// let typed = RunRequest::new("select")
///     .from("ToDo")
///     .input(json!({"where": {"status": "Open"}, "take": 20}))
///     .owner("alice");
/// let parsed = RunRequest::from_json(
///     r#"{"operation":"select","from":"ToDo","input":{"where":{"status":"Open"},"take":20},"owner":"alice"}"#,
/// ).unwrap();
/// assert_eq!(typed, parsed);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RunRequest {
    /// The operation's name (`select`, `create`, a custom one, ...). Aliases: `read`, `insert`.
    #[serde(default)]
    pub operation: Option<String>,
    /// Target of select and delete.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// Target of create.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub into: Option<String>,
    /// Target of update (`in` in JSON).
    #[serde(default, rename = "in", skip_serializing_if = "Option::is_none")]
    pub in_: Option<String>,
    /// Target of a workflow.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
    /// Target for any operation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub doctype: Option<String>,
    /// The operation's input (`data`, `where`, `orderBy`, ...).
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub input: Value,
    /// Options.
    #[serde(default)]
    pub options: RunOptions,
    /// Who asked (the human).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// Who executes (e.g. an AI agent); defaults to the owner.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    /// Kind of flow this run belongs to (workflow, ai-conversation, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flow_type: Option<String>,
    /// The flow this run belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flow_id: Option<String>,
    /// The step of the flow.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step_id: Option<String>,
}

impl RunRequest {
    /// A request for `operation` with nothing else set.
    pub fn new(operation: impl Into<String>) -> Self {
        RunRequest {
            operation: Some(operation.into()),
            ..Default::default()
        }
    }

    /// Parse a request from JSON text. Unknown keys are refused (a typo such as `form`
    /// instead of `from` must not silently select nothing).
    pub fn from_json(text: &str) -> Result<Self> {
        let value: Value = serde_json::from_str(text).map_err(malformed)?;
        if let Err(error) = crate::value::check_request_depth(&value) {
            crate::value::drop_deep(value);
            return Err(error);
        }
        Self::from_value(value)
    }

    /// Parse a request from a JSON value. A key of the wrong type or an unknown key is
    /// refused with BAD_REQUEST naming its path in `error.details.path`.
    pub fn from_value(value: Value) -> Result<Self> {
        let Value::Object(fields) = value else {
            return Err(wrong_type("", "a JSON object", &value));
        };
        Self::from_fields(fields)
    }

    /// Parse a request from its fields, as [`Self::from_value`] parses an object's. Values
    /// are moved in, never copied.
    pub(crate) fn from_fields<K: AsRef<str> + Into<String>>(
        fields: impl IntoIterator<Item = (K, Value)>,
    ) -> Result<Self> {
        let mut request = RunRequest::default();
        for (key, value) in fields {
            let key = key.as_ref();
            let slot = match key {
                "input" => {
                    request.input = value;
                    continue;
                }
                "options" => {
                    request.options = RunOptions::from_value(value)?;
                    continue;
                }
                "operation" => &mut request.operation,
                "from" => &mut request.from,
                "into" => &mut request.into,
                "in" => &mut request.in_,
                "template" => &mut request.template,
                "doctype" => &mut request.doctype,
                "owner" => &mut request.owner,
                "agent" => &mut request.agent,
                "flowType" => &mut request.flow_type,
                "flowId" => &mut request.flow_id,
                "stepId" => &mut request.step_id,
                unknown => return Err(unknown_key(unknown, "", REQUEST_KEYS)),
            };
            *slot = match value {
                Value::String(text) => Some(text),
                Value::Null => None,
                other => return Err(wrong_type(key, text_expected(key), &other)),
            };
        }
        Ok(request)
    }

    /// Set `from`.
    pub fn from(mut self, doctype: impl Into<String>) -> Self {
        self.from = Some(doctype.into());
        self
    }
    /// Set `into`.
    pub fn into_doctype(mut self, doctype: impl Into<String>) -> Self {
        self.into = Some(doctype.into());
        self
    }
    /// Set `in`.
    pub fn in_doctype(mut self, doctype: impl Into<String>) -> Self {
        self.in_ = Some(doctype.into());
        self
    }
    /// Set `doctype`.
    pub fn doctype(mut self, doctype: impl Into<String>) -> Self {
        self.doctype = Some(doctype.into());
        self
    }
    /// Set `template`.
    pub fn template(mut self, template: impl Into<String>) -> Self {
        self.template = Some(template.into());
        self
    }
    /// Set `input`.
    pub fn input(mut self, input: Value) -> Self {
        self.input = input;
        self
    }
    /// Set `options`.
    pub fn options(mut self, options: RunOptions) -> Self {
        self.options = options;
        self
    }
    /// Set `owner`.
    pub fn owner(mut self, owner: impl Into<String>) -> Self {
        self.owner = Some(owner.into());
        self
    }
    /// Set `agent`.
    pub fn agent(mut self, agent: impl Into<String>) -> Self {
        self.agent = Some(agent.into());
        self
    }
    /// Set `flowType` and `flowId`.
    pub fn flow(mut self, flow_type: impl Into<String>, flow_id: impl Into<String>) -> Self {
        self.flow_type = Some(flow_type.into());
        self.flow_id = Some(flow_id.into());
        self
    }
    /// Set `stepId`.
    pub fn step(mut self, step_id: impl Into<String>) -> Self {
        self.step_id = Some(step_id.into());
        self
    }

    /// The target doctype, whichever key carried it (`doctype` wins, then `from`, `into`, `in`).
    pub fn target(&self) -> Option<&str> {
        self.doctype
            .as_deref()
            .or(self.from.as_deref())
            .or(self.into.as_deref())
            .or(self.in_.as_deref())
    }
}

/// The JSON type name of a value, for error messages.
pub(crate) fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn requests_read_as_serde_reads_them() {
        let requests = [
            json!({}),
            json!({"operation": "select", "from": "Item", "input": {"where": {"name": "a"}}}),
            json!({"operation": null, "input": null, "owner": null}),
            json!({"operation": "x", "input": "text", "stepId": "s1", "flowId": "f",
                   "flowType": "batch-job", "agent": "bot", "owner": "ann", "doctype": "D",
                   "template": "T", "in": "I", "into": "O", "from": "F"}),
            json!({"input": [1, 2, {"a": null}]}),
            json!({"options": {"dryRun": true, "timeoutMs": 5, "validate": 0, "includeSchema": 1}}),
        ];
        for request in requests {
            let by_serde: RunRequest = serde_json::from_value(request.clone()).unwrap();
            assert_eq!(RunRequest::from_value(request).unwrap(), by_serde);
        }
        for other in [
            json!({"operation": 5}),
            json!({"form": "Item"}),
            json!({"options": {"dryRan": true}}),
            json!({"options": {"dryRun": 2}}),
            json!({"options": {"timeoutMs": "x"}}),
            json!({"options": {"timeoutMs": -1}}),
        ] {
            assert!(
                serde_json::from_value::<RunRequest>(other.clone()).is_err(),
                "{other}"
            );
            let error = RunRequest::from_value(other.clone()).unwrap_err();
            assert_eq!(error.code(), crate::ErrorCode::BadRequest, "{other}");
        }
        // (serde reads `[]` as a struct with nothing set; a request may not be one.)
        let error = RunRequest::from_value(json!({"options": []})).unwrap_err();
        assert_eq!(error.to_run_error().details["path"], json!("options"));
        let error = RunRequest::from_value(json!([])).unwrap_err();
        assert_eq!(error.to_run_error().details["path"], json!(""));
    }

    #[test]
    fn parse_errors_name_the_path_and_what_it_takes() {
        let details = |request: Value| {
            let error = RunRequest::from_value(request).unwrap_err();
            (error.to_string(), error.to_run_error().details)
        };
        let (message, found) = details(json!({"options": {"timeoutMs": "x"}}));
        assert_eq!(found["path"], json!("options.timeoutMs"));
        assert_eq!(
            message,
            "`options.timeoutMs` must be a non-negative integer of milliseconds, got a string \"x\""
        );
        let (message, found) = details(json!({"operation": 5}));
        assert_eq!(found["path"], json!("operation"));
        assert!(
            message.contains("a string: the operation's name, got a number 5"),
            "{message}"
        );
        let (message, found) = details(json!({"form": "ToDo"}));
        assert_eq!(found["path"], json!("form"));
        assert!(message.contains("(did you mean `from`?)"), "{message}");
        let (message, _) = details(json!({"options": {"dryrun": 1}}));
        assert!(
            message.contains("(did you mean `options.dryRun`?)"),
            "{message}"
        );
        let flags =
            RunRequest::from_value(json!({"options": {"dryRun": 1, "validate": 0}})).unwrap();
        assert_eq!(
            (flags.options.dry_run, flags.options.validate),
            (Some(true), Some(false))
        );
    }
}
