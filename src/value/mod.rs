//! Values entering the engine: how deep they may nest, how large they may be (the
//! `System Settings` document `limits`), and how they are echoed in messages.
//!
//! Every walk here is iterative: a value nested deeper than the limit must be refused (or
//! dropped) without the recursion that would overflow the stack on its way in. Nothing here
//! allocates in proportion to a value's size except the walks' work lists. A message never
//! carries a value whole: [`echo`] and [`echo_str`] cut it.

use serde_json::Value;

pub(crate) use crate::limits::MAX_INPUT_DEPTH;
pub use crate::limits::MAX_VALUE_DEPTH;

/// The nesting depth of `value` (a scalar is 0, `[]` and `{}` are 1), counting no further
/// than `stop_at + 1`: the walk ends as soon as the limit is passed, whatever the size.
pub(crate) fn depth_exceeds(value: &Value, stop_at: usize) -> bool {
    let mut stack: Vec<(&Value, usize)> = vec![(value, 0)];
    while let Some((value, depth)) = stack.pop() {
        let children: Box<dyn Iterator<Item = &Value>> = match value {
            Value::Array(items) => Box::new(items.iter()),
            Value::Object(map) => Box::new(map.values()),
            _ => continue,
        };
        let depth = depth + 1;
        if depth > stop_at {
            return true;
        }
        stack.extend(children.map(|child| (child, depth)));
    }
    false
}

/// Drop `value` without recursion (a value nested thousands of levels deep overflows the
/// stack in serde_json's recursive drop).
pub(crate) fn drop_deep(value: Value) {
    let mut stack = vec![value];
    while let Some(value) = stack.pop() {
        match value {
            Value::Array(items) => stack.extend(items),
            Value::Object(map) => stack.extend(map.into_iter().map(|(_, v)| v)),
            _ => {}
        }
    }
}

pub(crate) use crate::limits::ECHO_CHARS;

/// `text` for a message: at most [`ECHO_CHARS`] characters, then `… (10.0 MB string)`.
pub(crate) fn echo_str(text: &str) -> String {
    match text.char_indices().nth(ECHO_CHARS) {
        None => text.to_string(),
        Some((cut, _)) => format!("{}… ({} string)", &text[..cut], human_bytes(text.len())),
    }
}

/// `text` cut after `max` characters, then `… (10.0 MB {what})`; short text is kept whole.
pub(crate) fn cut_str(text: &str, max: usize, what: &str) -> String {
    match text.char_indices().nth(max) {
        None => text.to_string(),
        Some((cut, _)) => format!("{}… ({} {what})", &text[..cut], human_bytes(text.len())),
    }
}

/// `value` as compact JSON for a message, cut like [`echo_str`] (strings are shown with
/// their quotes; the JSON is never built beyond what is shown).
pub(crate) fn echo(value: &Value) -> String {
    match value {
        Value::String(s) => match s.char_indices().nth(ECHO_CHARS) {
            None => Value::String(s.clone()).to_string(),
            Some((cut, _)) => format!(
                "{}… ({} string)",
                Value::String(s[..cut].to_string()),
                human_bytes(s.len())
            ),
        },
        Value::Array(_) | Value::Object(_) => {
            let mut out = LimitedWriter {
                text: Vec::new(),
                limit: ECHO_CHARS * 4,
            };
            let complete = serde_json::to_writer(&mut out, value).is_ok();
            let text = String::from_utf8_lossy(&out.text).into_owned();
            if complete && text.chars().count() <= ECHO_CHARS {
                text
            } else {
                let kind = if value.is_array() { "array" } else { "object" };
                let shown: String = text.chars().take(ECHO_CHARS).collect();
                format!("{shown}… (a larger {kind})")
            }
        }
        scalar => scalar.to_string(),
    }
}

/// A byte count for people: `512 B`, `10.0 KB`, `10.0 MB` (powers of 1,024).
pub(crate) fn human_bytes(bytes: usize) -> String {
    const UNITS: [&str; 4] = ["KB", "MB", "GB", "TB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut size = bytes as f64 / 1024.0;
    let mut unit = 0;
    while size >= 1024.0 && unit < UNITS.len() - 1 {
        size /= 1024.0;
        unit += 1;
    }
    format!("{size:.1} {}", UNITS[unit])
}

/// A writer that stops (with an error) once it holds `limit` bytes.
struct LimitedWriter {
    text: Vec<u8>,
    limit: usize,
}

impl std::io::Write for LimitedWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let room = self.limit.saturating_sub(self.text.len());
        if room == 0 {
            return Err(std::io::Error::other("enough to show"));
        }
        let taken = room.min(buf.len());
        self.text.extend_from_slice(&buf[..taken]);
        Ok(taken)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

mod size;

pub(crate) use size::{LIMITS_NAME, SizeLimits, check_request_depth, json_size};

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn nested(levels: usize) -> Value {
        let mut value = json!(1);
        for _ in 0..levels {
            value = Value::Array(vec![value]);
        }
        value
    }

    #[test]
    fn depth_is_counted_without_recursion_and_stops_at_the_limit() {
        assert!(!depth_exceeds(&json!(1), 0));
        assert!(depth_exceeds(&json!([]), 0));
        assert!(!depth_exceeds(&nested(100), 100));
        assert!(depth_exceeds(&nested(101), 100));
        assert!(!depth_exceeds(&json!({"a": [{"b": []}]}), 4));
        assert!(depth_exceeds(&json!({"a": [{"b": []}]}), 3));
        let deep = nested(200_000);
        assert!(depth_exceeds(&deep, MAX_VALUE_DEPTH));
        drop_deep(deep);
    }

    #[test]
    fn long_values_are_echoed_cut_with_their_size() {
        let long = "x".repeat(10 * 1024 * 1024);
        let shown = echo_str(&long);
        assert!(shown.starts_with(&"x".repeat(ECHO_CHARS)));
        assert!(shown.ends_with("… (10.0 MB string)"), "{shown}");
        assert_eq!(echo(&json!("short")), "\"short\"");
        assert!(echo(&json!(long)).ends_with("… (10.0 MB string)"));
        let big = json!({"k": vec![1; 100_000]});
        let shown = echo(&big);
        assert!(shown.ends_with("… (a larger object)"), "{shown}");
        assert!(shown.chars().count() < ECHO_CHARS + 30);
        assert_eq!(echo(&json!({"a": 1})), "{\"a\":1}");
        assert_eq!(human_bytes(512), "512 B");
    }
}
