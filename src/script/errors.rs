//! What leaves a script, mapped to the engine's errors: Rhai errors and termination tokens
//! to error codes (with operation, line, column and captured prints), and a script's value
//! to JSON within the limits.
//!
//! A limit hit deep inside Rhai travels out as an uncatchable termination carrying a
//! [`token`] (code, message, whether a nested run's); [`script_error`] turns it and every
//! other Rhai error into one [`Error`].

use super::{Limits, convert, depth};
use crate::error::{Error, ErrorCode, Result};
use crate::value::MAX_VALUE_DEPTH;
use rhai::{Dynamic, EvalAltResult, Position};
use serde_json::{Value, json};

/// A token that terminates a script uncatchably with `code`.
pub(super) fn terminate(
    code: ErrorCode,
    message: String,
    position: Position,
) -> Box<EvalAltResult> {
    Box::new(EvalAltResult::ErrorTerminated(
        token(code, message, false),
        position,
    ))
}

/// What a terminated script carries: the code, the message, and whether the message is a
/// nested run's (which already says where it happened).
pub(super) fn token(code: ErrorCode, message: String, nested: bool) -> Dynamic {
    Dynamic::from_map(
        [
            ("code".into(), Dynamic::from(code.as_str().to_string())),
            ("message".into(), Dynamic::from(message)),
            ("nested".into(), Dynamic::from(nested)),
        ]
        .into_iter()
        .collect(),
    )
}

pub(super) fn show(value: &Dynamic) -> String {
    rhai::serde::from_dynamic::<Value>(value)
        .map(|v| v.to_string())
        .unwrap_or_else(|_| value.to_string())
}

pub(super) fn position_details(position: Position) -> (Value, Value) {
    (
        position.line().map_or(Value::Null, |l| json!(l)),
        position.position().map_or(Value::Null, |c| json!(c)),
    )
}

pub(super) fn compile_error(name: &str, message: &str, position: Position) -> Error {
    let (line, column) = position_details(position);
    let at = match (position.line(), position.position()) {
        (Some(l), Some(c)) => format!(" at line {l}, column {c}"),
        _ => String::new(),
    };
    Error::new(
        ErrorCode::ScriptCompileError,
        format!("`{name}` does not compile{at}: {message}"),
    )
    .with_details(json!({"operation": name, "line": line, "column": column}))
}

/// Map a Rhai error to the engine's: limits, timeouts, throws and failures.
pub(super) fn script_error(name: &str, error: EvalAltResult, printed: &[String]) -> Error {
    let position = error.position();
    let (line, column) = position_details(position);
    let at = match (position.line(), position.position()) {
        (Some(l), Some(c)) => format!(" (line {l}, column {c})"),
        _ => String::new(),
    };
    let details = |extra: Value| {
        let mut details =
            json!({"operation": name, "line": line, "column": column, "printed": printed});
        if let (Value::Object(d), Value::Object(e)) = (&mut details, extra) {
            d.extend(e);
        }
        details
    };
    let limit = |what: &str, limit: &str| {
        Error::new(
            ErrorCode::LimitExceeded,
            format!("`{name}` exceeded {what} (limit: {limit}){at}"),
        )
        .with_details(details(json!({"limit": limit})))
    };
    match error {
        EvalAltResult::ErrorInFunctionCall(_, _, inner, _) => script_error(name, *inner, printed),
        EvalAltResult::ErrorTooManyOperations(_) => limit("its operations budget", "maxOperations"),
        EvalAltResult::ErrorStackOverflow(_) => limit("the call depth", "maxCallDepth"),
        EvalAltResult::ErrorTooManyVariables(_) => limit("the number of variables", "maxVariables"),
        EvalAltResult::ErrorTooManyModules(_) => {
            limit("the module budget (none allowed)", "modules")
        }
        EvalAltResult::ErrorDataTooLarge(what, _) => {
            let (which, kind) = match what.to_lowercase() {
                w if w.contains("string") => ("maxStringSize", "string bytes"),
                w if w.contains("array") => ("maxArraySize", "array elements"),
                w if w.contains("map") => ("maxMapSize", "map entries"),
                _ => ("dataSize", "data"),
            };
            limit(
                &format!("the most {kind} one value may hold, nested values included"),
                which,
            )
        }
        EvalAltResult::ErrorTerminated(token, _) => {
            let code = token
                .read_lock::<rhai::Map>()
                .and_then(|m| m.get("code").map(|c| c.to_string()));
            let message = token
                .read_lock::<rhai::Map>()
                .and_then(|m| m.get("message").map(|c| c.to_string()))
                .unwrap_or_else(|| "terminated".into());
            let code = code
                .and_then(|c| serde_json::from_value::<ErrorCode>(json!(c)).ok())
                .unwrap_or(ErrorCode::ScriptError);
            let nested = token
                .read_lock::<rhai::Map>()
                .and_then(|m| m.get("nested").and_then(|n| n.as_bool().ok()))
                .unwrap_or(false);
            let message = if nested {
                message
            } else {
                format!("{message}{at}")
            };
            Error::new(code, message).with_details(details(json!({"nested": nested})))
        }
        EvalAltResult::ErrorRuntime(thrown, _) => {
            // `throw #{code: "CONFLICT", message: "..."}` picks a code a caller can act on.
            let as_json = rhai::serde::from_dynamic::<Value>(&thrown).unwrap_or(Value::Null);
            let chosen = as_json
                .get("code")
                .and_then(|c| serde_json::from_value::<ErrorCode>(c.clone()).ok())
                .filter(|c| {
                    !matches!(
                        c,
                        ErrorCode::Internal
                            | ErrorCode::StorageError
                            | ErrorCode::LimitExceeded
                            | ErrorCode::Timeout
                    )
                });
            if let (Some(code), Some(message)) =
                (chosen, as_json.get("message").and_then(Value::as_str))
            {
                return Error::new(code, format!("`{name}`: {message}{at}"))
                    .with_details(details(json!({"thrown": as_json})));
            }
            let text = match thrown.clone().into_string() {
                Ok(s) => s,
                Err(_) => show(&thrown),
            };
            Error::new(ErrorCode::ScriptError, format!("`{name}` threw: {text}{at}"))
                .with_details(details(json!({"thrown": rhai::serde::from_dynamic::<Value>(&thrown).unwrap_or(Value::Null)})))
        }
        // Code built at run time (`Fn("...")`) that does not parse: a run-time failure.
        EvalAltResult::ErrorParsing(kind, _) => Error::new(
            ErrorCode::ScriptError,
            format!("`{name}` failed: {kind}{at}"),
        )
        .with_details(details(json!({}))),
        other => {
            let mut text = other.to_string();
            if let Some(cut) = text.find(" (line ") {
                text.truncate(cut);
            }
            Error::new(
                ErrorCode::ScriptError,
                format!("`{name}` failed: {text}{at}"),
            )
            .with_details(details(json!({})))
        }
    }
}

/// `value` as JSON (at most [`MAX_VALUE_DEPTH`] levels deep, and within the sizes of
/// `limits`: a value holding more is refused as soon as the conversion passes one, before it
/// has copied more), then taken apart.
pub(super) fn to_json(name: &str, value: Dynamic, limits: &Limits) -> Result<Value> {
    let sizes = convert::Sizes::of(limits);
    let json = convert::from_dynamic(&value, MAX_VALUE_DEPTH, sizes).map_err(|e| {
        if let Some(kind) = convert::too_large(&e) {
            return Error::new(
                ErrorCode::LimitExceeded,
                format!(
                    "`{name}` returned a value holding more than {} {} (limit: {})",
                    kind.of(&sizes),
                    kind.counts(),
                    kind.limit()
                ),
            )
            .with_details(json!({"operation": name, "limit": kind.limit()}));
        }
        if convert::too_deep(&e) {
            return too_deep_error(name, MAX_VALUE_DEPTH, "returned a value");
        }
        Error::new(
            ErrorCode::ScriptError,
            format!(
                "`{name}` returned a value that is not JSON ({}): {e}",
                value.type_name()
            ),
        )
    });
    depth::dismantle([value]);
    json
}

/// LIMIT_EXCEEDED for a value of `name`'s nested deeper than `limit` levels.
pub(super) fn too_deep_error(name: &str, limit: usize, what: &str) -> Error {
    let which = if limit == MAX_VALUE_DEPTH {
        "MAX_VALUE_DEPTH"
    } else {
        "2 × MAX_VALUE_DEPTH"
    };
    Error::new(
        ErrorCode::LimitExceeded,
        format!("`{name}` {what} nested deeper than {limit} levels (limit: {which})"),
    )
    .with_details(json!({"operation": name, "limit": which}))
}

/// A handler returns its output, or `#{success, output}` (with `error` when it failed).
pub(super) fn handler_output(name: &str, value: Dynamic, limits: &Limits) -> Result<Value> {
    let output = to_json(name, value, limits)?;
    let Value::Object(map) = &output else {
        return Ok(output);
    };
    let wrapped = map.get("success").is_some_and(Value::is_boolean)
        && map
            .keys()
            .all(|k| ["success", "output", "error", "message"].contains(&k.as_str()));
    if !wrapped {
        return Ok(output);
    }
    if map["success"] == json!(true) {
        return Ok(map.get("output").cloned().unwrap_or(Value::Null));
    }
    let message = map
        .get("error")
        .or_else(|| map.get("message"))
        .map(|m| m.as_str().map_or_else(|| m.to_string(), str::to_string))
        .unwrap_or_else(|| "the handler reported failure".into());
    Err(Error::new(
        ErrorCode::ScriptError,
        format!("`{name}` failed: {message}"),
    )
    .with_details(json!({"operation": name, "output": map.get("output")})))
}
