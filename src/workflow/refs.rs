//! References `{{...}}` inside workflow steps: parsing, checking and resolving them against
//! what earlier steps produced. A reference is data lookup only, never code: it names a
//! root (`input`, `variables`, `prev`, a step id, `item`, `index`, `error`) and a path of
//! `.field`, `[index]` and `.length`.
//!
//! A string that is exactly one reference takes the referenced value with its JSON type; a
//! reference inside a longer string is written as text (strings as they are, everything
//! else as JSON). A resolved value is never resolved again.
//!
//! What references bring in is capped as it is looked up, before it is copied: a string
//! built from references stops growing at [`MAX_INTERPOLATED_BYTES`], and everything the
//! references of one resolved request bring in stops at [`MAX_RESOLVED_BYTES`]
//! (LIMIT_EXCEEDED naming the reference).

use crate::error::{Error, ErrorCode, Result};
use crate::value::json_size;
use serde_json::{Map, Value, json};
use std::borrow::Cow;

pub use crate::limits::MAX_INTERPOLATED_BYTES;
pub use crate::limits::MAX_RESOLVED_BYTES;

/// How much more the references of one resolved request may bring in.
pub(crate) struct Allowance {
    left: u64,
}

impl Default for Allowance {
    fn default() -> Self {
        Allowance {
            left: MAX_RESOLVED_BYTES,
        }
    }
}

impl Allowance {
    /// Take `value`, brought in by `reference`, out of the allowance (measured no further
    /// than what is left).
    fn take(&mut self, reference: &Reference, value: &Value) -> Result<()> {
        let size = json_size(value, self.left);
        if size > self.left {
            return Err(too_big(
                reference,
                format!(
                    "would bring more than {MAX_RESOLVED_BYTES} bytes into one resolved request (limit: resolved request size)"
                ),
                "resolvedRequestBytes",
                MAX_RESOLVED_BYTES,
            ));
        }
        self.left -= size;
        Ok(())
    }
}

fn too_big(reference: &Reference, why: String, limit: &str, max: u64) -> Error {
    Error::new(
        ErrorCode::LimitExceeded,
        format!("reference `{{{{{}}}}}` {why}", reference.text),
    )
    .with_details(json!({"reference": reference.text, "limit": limit, "max": max}))
}

/// What an interpolated string is built of (a reference's value is written as text).
enum Part<'p> {
    Text(&'p str),
    Value(&'p Value),
}

/// A string growing from text and references, refused past [`MAX_INTERPOLATED_BYTES`].
struct Interpolated {
    text: Vec<u8>,
}

impl std::io::Write for Interpolated {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if (self.text.len() + buf.len()) as u64 > MAX_INTERPOLATED_BYTES {
            return Err(std::io::Error::other("too long"));
        }
        self.text.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Interpolated {
    /// Append `piece` (the text of `reference`, or literal text); refused once the string
    /// would pass the cap.
    fn push(&mut self, piece: Part<'_>, reference: Option<&Reference>) -> Result<()> {
        use std::io::Write;
        let fits = match piece {
            Part::Text(text) => self.write_all(text.as_bytes()),
            Part::Value(Value::String(text)) => self.write_all(text.as_bytes()),
            Part::Value(other) => {
                serde_json::to_writer(&mut *self, other).map_err(std::io::Error::other)
            }
        };
        fits.map_err(|_| {
            let why = format!(
                "would make an interpolated string longer than {MAX_INTERPOLATED_BYTES} bytes (limit: interpolated string size)"
            );
            match reference {
                Some(reference) => too_big(reference, why, "interpolatedStringBytes", MAX_INTERPOLATED_BYTES),
                None => Error::new(ErrorCode::LimitExceeded, format!("text {why}"))
                    .with_details(json!({"limit": "interpolatedStringBytes", "max": MAX_INTERPOLATED_BYTES})),
            }
        })
    }
}

/// One segment of a reference path.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Segment {
    Field(String),
    Index(usize),
}

/// A parsed reference: `root` then `path`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Reference {
    pub text: String,
    pub root: String,
    pub path: Vec<Segment>,
}

fn bad(text: &str, why: &str) -> Error {
    Error::bad_request(format!("reference `{{{{{text}}}}}` {why}"))
        .with_details(json!({"reference": text}))
}

impl Reference {
    /// Parse the inside of `{{ ... }}`.
    pub(crate) fn parse(text: &str) -> Result<Reference> {
        let trimmed = text.trim();
        let mut chars = trimmed.char_indices().peekable();
        let mut root = String::new();
        while let Some(&(_, c)) = chars.peek() {
            if c == '.' || c == '[' {
                break;
            }
            root.push(c);
            chars.next();
        }
        let valid_name = |s: &str| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_alphanumeric() || c == '_' || c == '-')
        };
        if !valid_name(&root) {
            return Err(bad(trimmed, "does not start with a name"));
        }
        let mut path = Vec::new();
        while let Some((_, c)) = chars.next() {
            match c {
                '.' => {
                    let mut field = String::new();
                    while let Some(&(_, c)) = chars.peek() {
                        if c == '.' || c == '[' {
                            break;
                        }
                        field.push(c);
                        chars.next();
                    }
                    if !valid_name(&field) {
                        return Err(bad(trimmed, "has an empty or invalid field name"));
                    }
                    path.push(Segment::Field(field));
                }
                '[' => {
                    let mut digits = String::new();
                    for (_, c) in chars.by_ref() {
                        if c == ']' {
                            break;
                        }
                        digits.push(c);
                    }
                    let index = digits.trim().parse::<usize>().map_err(|_| {
                        bad(trimmed, "has an index that is not a non-negative integer")
                    })?;
                    path.push(Segment::Index(index));
                }
                _ => return Err(bad(trimmed, "is malformed")),
            }
        }
        Ok(Reference {
            text: trimmed.to_string(),
            root,
            path,
        })
    }
}

/// The pieces of a string: literal text and references.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Piece {
    Text(String),
    Ref(Reference),
}

/// Split a string into text and references. `Ok(None)` when it holds no reference.
pub(crate) fn pieces(text: &str) -> Result<Option<Vec<Piece>>> {
    if !text.contains("{{") {
        return Ok(None);
    }
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find("{{") {
        if open > 0 {
            out.push(Piece::Text(rest[..open].to_string()));
        }
        let after = &rest[open + 2..];
        let close = after.find("}}").ok_or_else(|| {
            Error::bad_request(format!(
                "`{text}` opens a reference `{{{{` that is never closed"
            ))
        })?;
        out.push(Piece::Ref(Reference::parse(&after[..close])?));
        rest = &after[close + 2..];
    }
    if !rest.is_empty() {
        out.push(Piece::Text(rest.to_string()));
    }
    Ok(Some(out))
}

/// Every reference in a JSON value (strings anywhere inside it).
pub(crate) fn references(value: &Value, found: &mut Vec<Reference>) -> Result<()> {
    match value {
        Value::String(text) => {
            for piece in pieces(text)?.into_iter().flatten() {
                if let Piece::Ref(reference) = piece {
                    found.push(reference);
                }
            }
        }
        Value::Array(items) => items.iter().try_for_each(|v| references(v, found))?,
        Value::Object(map) => map.values().try_for_each(|v| references(v, found))?,
        _ => {}
    }
    Ok(())
}

/// What references can see: roots by name. A step's entry is its record
/// `{id, runId, status, output, error}`.
pub(crate) type Scope = Map<String, Value>;

/// How `prev` names the step it stands for in a scope (instead of a copy of its record).
pub(crate) const PREV_KEY: &str = "$step";

/// Look a reference up. `{{step.field}}` on a step means the first record's field
/// (`step.output.data[0].field`) unless `field` is one of the record's own keys. Only the
/// value referred to is copied, and only by a caller that keeps it.
pub(crate) fn lookup<'s>(scope: &'s Scope, reference: &Reference) -> Result<Cow<'s, Value>> {
    let named = scope.get(&reference.root);
    let root = match named.and_then(|r| r.get(PREV_KEY)).and_then(Value::as_str) {
        Some(step) => scope.get(step),
        None => named,
    };
    let Some(root) = root else {
        return Err(bad(
            &reference.text,
            &format!(
                "names `{}`, which is not the input, the variables or an earlier step",
                reference.root
            ),
        ));
    };
    let is_step = root.get("status").is_some() && root.get("runId").is_some();
    if is_step && root["status"] == json!("skipped") && !reference.path.is_empty() {
        let record_key =
            matches!(reference.path.first(), Some(Segment::Field(f)) if f == "status" || f == "id");
        if !record_key {
            return Err(bad(
                &reference.text,
                &format!("refers to step `{}`, which was skipped", reference.root),
            ));
        }
    }
    let mut current = Cow::Borrowed(root);
    for (i, segment) in reference.path.iter().enumerate() {
        let first_of_step = i == 0 && is_step;
        current = match current {
            Cow::Borrowed(value) => follow(value, segment, first_of_step, reference)?,
            Cow::Owned(value) => {
                Cow::Owned(follow(&value, segment, first_of_step, reference)?.into_owned())
            }
        };
    }
    Ok(current)
}

/// One segment of a reference's path, from `current`.
fn follow<'v>(
    current: &'v Value,
    segment: &Segment,
    first_of_step: bool,
    reference: &Reference,
) -> Result<Cow<'v, Value>> {
    Ok(match (segment, current) {
        (Segment::Field(f), _) if f == "length" => match current {
            Value::Array(items) => Cow::Owned(json!(items.len())),
            Value::String(s) => Cow::Owned(json!(s.chars().count())),
            Value::Object(map) if map.contains_key("length") => Cow::Borrowed(&map["length"]),
            Value::Object(map) => Cow::Owned(json!(map.len())),
            _ => {
                return Err(bad(
                    &reference.text,
                    "takes `.length` of something that has none",
                ));
            }
        },
        (Segment::Field(f), Value::Object(map)) if map.contains_key(f) => Cow::Borrowed(&map[f]),
        // `{{customer.name}}`: the first record's field.
        (Segment::Field(f), Value::Object(_)) if first_of_step => {
            match current
                .pointer("/output/data/0")
                .and_then(|first| first.get(f))
            {
                Some(value) => Cow::Borrowed(value),
                None => {
                    return Err(bad(
                        &reference.text,
                        &format!(
                            "finds no `{f}` in the first record of step `{}`",
                            reference.root
                        ),
                    ));
                }
            }
        }
        (Segment::Field(f), _) => {
            return Err(bad(&reference.text, &format!("finds no field `{f}`")));
        }
        (Segment::Index(n), Value::Array(items)) => match items.get(*n) {
            Some(value) => Cow::Borrowed(value),
            None => {
                return Err(bad(
                    &reference.text,
                    &format!("indexes [{n}] past the end ({} items)", items.len()),
                ));
            }
        },
        (Segment::Index(n), _) => {
            return Err(bad(
                &reference.text,
                &format!("indexes [{n}] into something that is not an array"),
            ));
        }
    })
}

/// Look a reference up and take a copy of its value out of `allowance`.
pub(crate) fn take(
    scope: &Scope,
    reference: &Reference,
    allowance: &mut Allowance,
) -> Result<Value> {
    let value = lookup(scope, reference)?;
    allowance.take(reference, &value)?;
    Ok(value.into_owned())
}

/// Whether `value` has a string that opens a reference (`{{`) anywhere inside it.
fn mentions_references(value: &Value) -> bool {
    match value {
        Value::String(text) => text.contains("{{"),
        Value::Array(items) => items.iter().any(mentions_references),
        Value::Object(map) => map.values().any(mentions_references),
        _ => false,
    }
}

/// Resolve every reference in `value` against `scope`. Strings that are one whole
/// reference keep the referenced JSON type; others get text. Results are not re-scanned.
/// What the references bring in is taken out of `allowance`.
pub(crate) fn resolve(value: &Value, scope: &Scope, allowance: &mut Allowance) -> Result<Value> {
    // Most of a request refers to nothing: it is copied whole (an object's copy keeps its
    // hash table instead of inserting every key again).
    if !mentions_references(value) {
        return Ok(value.clone());
    }
    Ok(match value {
        Value::String(text) => match pieces(text)? {
            None => value.clone(),
            Some(pieces) => match pieces.as_slice() {
                [Piece::Ref(reference)] => take(scope, reference, allowance)?,
                _ => {
                    let mut out = Interpolated { text: Vec::new() };
                    // Literal text that overflows is blamed on the string's first reference.
                    let first = pieces.iter().find_map(|piece| match piece {
                        Piece::Ref(reference) => Some(reference),
                        Piece::Text(_) => None,
                    });
                    for piece in &pieces {
                        match piece {
                            Piece::Text(text) => out.push(Part::Text(text), first)?,
                            Piece::Ref(reference) => {
                                let value = lookup(scope, reference)?;
                                allowance.take(reference, &value)?;
                                out.push(Part::Value(&value), Some(reference))?;
                            }
                        }
                    }
                    // Built of `str`s and serde_json's output: always UTF-8.
                    Value::String(
                        String::from_utf8(out.text)
                            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()),
                    )
                }
            },
        },
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|v| resolve(v, scope, allowance))
                .collect::<Result<_>>()?,
        ),
        Value::Object(map) => {
            let mut out = Map::with_capacity(map.len());
            for (key, v) in map {
                out.insert(key.clone(), resolve(v, scope, allowance)?);
            }
            Value::Object(out)
        }
        other => other.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve_all(value: &Value, scope: &Scope) -> Result<Value> {
        resolve(value, scope, &mut Allowance::default())
    }

    fn scope() -> Scope {
        let scope = json!({
            "input": {"customer": "C-1", "n": 3, "tags": ["a", "b"]},
            "customer": {"id": "customer", "runId": "r1", "status": "completed",
                         "output": {"data": [{"name": "C-1", "city": "Oslo"}]}},
            "skipped": {"id": "skipped", "runId": null, "status": "skipped", "output": null},
        });
        scope.as_object().unwrap().clone()
    }

    #[test]
    fn whole_references_keep_their_type_and_embedded_ones_become_text() {
        let s = scope();
        assert_eq!(resolve_all(&json!("{{input.n}}"), &s).unwrap(), json!(3));
        assert_eq!(
            resolve_all(&json!("{{input.tags}}"), &s).unwrap(),
            json!(["a", "b"])
        );
        assert_eq!(
            resolve_all(&json!("n={{input.n}} t={{input.tags}}"), &s).unwrap(),
            json!("n=3 t=[\"a\",\"b\"]")
        );
        assert_eq!(
            resolve_all(&json!("{{customer.output.data.length}}"), &s).unwrap(),
            json!(1)
        );
        assert_eq!(
            resolve_all(&json!("{{customer.output.data[0].city}}"), &s).unwrap(),
            json!("Oslo")
        );
        assert_eq!(
            resolve_all(&json!("{{customer.city}}"), &s).unwrap(),
            json!("Oslo")
        );
    }

    #[test]
    fn resolved_values_are_not_resolved_again() {
        let mut s = scope();
        s.insert("input".into(), json!({"x": "{{customer.city}}"}));
        assert_eq!(
            resolve_all(&json!("{{input.x}}"), &s).unwrap(),
            json!("{{customer.city}}")
        );
        assert_eq!(
            resolve_all(&json!("say {{input.x}}"), &s).unwrap(),
            json!("say {{customer.city}}")
        );
    }

    #[test]
    fn missing_references_are_errors_naming_them() {
        let s = scope();
        for bad in [
            "{{nope.x}}",
            "{{input.missing}}",
            "{{customer.output.data[5]}}",
            "{{skipped.output}}",
            "{{input.n[0]}}",
            "{{ .x}}",
            "{{input..x}}",
            "{{input.x",
        ] {
            let error = resolve_all(&json!(bad), &s).unwrap_err();
            assert_eq!(error.code(), crate::ErrorCode::BadRequest, "{bad}");
        }
        let error = resolve_all(&json!("{{skipped.output}}"), &s).unwrap_err();
        assert!(error.to_string().contains("skipped"), "{error}");
    }

    #[test]
    fn what_references_bring_in_is_capped_as_it_grows() {
        let mut s = scope();
        let half = "x".repeat((MAX_INTERPOLATED_BYTES / 2) as usize);
        s.insert(
            "big".into(),
            json!({"id": "big", "runId": "r", "status": "completed", "output": half}),
        );
        // Two copies fit a string only just too small for them.
        let error = resolve_all(&json!("{{big.output}}{{big.output}}!"), &s).unwrap_err();
        assert_eq!(error.code(), crate::ErrorCode::LimitExceeded);
        assert!(error.to_string().contains("{{big.output}}"), "{error}");
        assert!(error.to_string().contains("interpolated string"), "{error}");
        assert_eq!(
            resolve_all(&json!("{{big.output}}"), &s)
                .unwrap()
                .as_str()
                .map(str::len),
            Some(half.len())
        );
        // Whole references add up over the request.
        let many: Map<String, Value> = (0..40)
            .map(|i| (format!("k{i}"), json!("{{big.output}}")))
            .collect();
        let error = resolve_all(&Value::Object(many), &s).unwrap_err();
        assert_eq!(error.code(), crate::ErrorCode::LimitExceeded);
        assert!(
            error.to_string().contains("resolved request size"),
            "{error}"
        );
        // Objects written into a string count as their JSON text.
        s.insert("obj".into(), json!({"a": half}));
        let error = resolve_all(&json!("a {{obj}} b {{obj}}"), &s).unwrap_err();
        assert!(error.to_string().contains("{{obj}}"), "{error}");
    }
}
