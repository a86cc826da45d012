//! Values entering the engine: how deep they may nest, and how they are echoed in messages.
//!
//! Every walk here is iterative: a value nested deeper than the limit must be refused (or
//! dropped) without the recursion that would overflow the stack on its way in. Nothing here
//! allocates in proportion to a value's size except [`drop_deep`]'s work list.

// Used by the issue-11 branches as they land; this allow goes at the merge.
#![allow(dead_code)]

use serde_json::Value;

/// How deep a JSON value may nest (arrays and objects, the outermost counting as 1) where it
/// enters the engine: requests, script values, resolved references, stored documents.
///
/// What cannot be read back must not be written: serde_json refuses to parse more than 128
/// levels, and a stored run record wraps a document in a few levels of its own
/// (`input.data[i]`, `output.data[i]`), so values stop well below that.
pub const MAX_VALUE_DEPTH: usize = 100;

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

/// The size of `value` as JSON, in bytes, near enough to budget by (a run tree's write budget, the size caps on resolved workflow references) (string escapes and
/// number formats are not reproduced exactly); counts no further than `stop_after`. The
/// walk is iterative.
pub(crate) fn json_size(value: &Value, stop_after: u64) -> u64 {
    let mut size: u64 = 0;
    let mut stack = vec![value];
    while let Some(value) = stack.pop() {
        size = size.saturating_add(match value {
            Value::Null => 4,
            Value::Bool(_) => 5,
            Value::Number(n) => number_len(n),
            Value::String(s) => s.len() as u64 + 2,
            Value::Array(items) => {
                stack.extend(items.iter());
                2 + items.len() as u64
            }
            Value::Object(map) => {
                stack.extend(map.values());
                2 + map.keys().map(|k| k.len() as u64 + 4).sum::<u64>()
            }
        });
        if size > stop_after {
            break;
        }
    }
    size
}

/// The size of a document as JSON, like [`json_size`].
pub(crate) fn doc_size(doc: &serde_json::Map<String, Value>) -> u64 {
    doc.iter().fold(2, |size, (key, value)| {
        size.saturating_add(key.len() as u64 + 4)
            .saturating_add(json_size(value, u64::MAX))
    })
}

fn number_len(n: &serde_json::Number) -> u64 {
    let digits = |mut x: u64| {
        let mut len = 1;
        while x >= 10 {
            x /= 10;
            len += 1;
        }
        len
    };
    match (n.as_u64(), n.as_i64()) {
        (Some(u), _) => digits(u),
        (None, Some(i)) => 1 + digits(i.unsigned_abs()),
        _ => 24,
    }
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

/// Characters of a value echoed in a message before it is cut.
pub(crate) const ECHO_CHARS: usize = 120;

/// `text` for a message: at most [`ECHO_CHARS`] characters, then `… (10.0 MB string)`.
pub(crate) fn echo_str(text: &str) -> String {
    match text.char_indices().nth(ECHO_CHARS) {
        None => text.to_string(),
        Some((cut, _)) => format!("{}… ({} string)", &text[..cut], human_bytes(text.len())),
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
    fn json_size_is_close_to_the_serialized_length() {
        for value in [
            json!({"name": "n-1", "qty": 12345, "neg": -7, "ok": true, "none": null,
                   "rows": [{"a": "x"}, {"b": [1, 2, 3]}]}),
            json!("x".repeat(1000)),
            json!([]),
        ] {
            let exact = value.to_string().len() as u64;
            let estimate = json_size(&value, u64::MAX);
            assert!(
                estimate >= exact && estimate <= exact + exact / 2 + 8,
                "{estimate} vs {exact} for {value}"
            );
        }
        // The walk stops soon after the limit (the whole would be ~103,000).
        assert!(json_size(&json!(vec!["x".repeat(100); 1000]), 500) < 2_000);
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
