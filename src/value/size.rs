//! How large values entering the engine may be: one iterative walk ([`measure`]) that
//! refuses a value too deep, a string too long or a whole too large, naming where; the
//! size limits of the `System Settings` document `limits` built on it; and the size
//! estimate the write budget and workflow references charge by.

use super::{MAX_INPUT_DEPTH, MAX_VALUE_DEPTH, depth_exceeds, echo_str, human_bytes};
use crate::error::{Error, ErrorCode};
use serde_json::{Map, Value, json};

/// The size of `value` as JSON, in bytes, near enough to budget by (a run tree's write
/// budget, the size caps on resolved workflow references): escapes are not counted and
/// floats count as their longest form. Counts no further than just past `stop_after`; a
/// value nested deeper than [`MAX_VALUE_DEPTH`] counts as past it. The walk is
/// [`measure`]'s, iterative.
pub(crate) fn json_size(value: &Value, stop_after: u64) -> u64 {
    let stop_after = usize::try_from(stop_after).unwrap_or(usize::MAX);
    match measure(value, usize::MAX, stop_after) {
        Ok(size) | Err(Excess::Total(size)) => size as u64,
        Err(Excess::Depth(_) | Excess::Value(..)) => (stop_after as u64).saturating_add(1),
    }
}

/// The name of the `System Settings` document that holds the size limits.
pub(crate) const LIMITS_NAME: &str = "limits";

/// How large what enters the engine may be: the `System Settings` document `limits`
/// (`maxRequestBytes`, `maxValueBytes`, `maxDocumentBytes`). A field that is missing, or
/// not a positive integer, keeps its default. Sizes are of the JSON text, counted without
/// escapes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SizeLimits {
    /// Bytes of one request: its input and its text fields together.
    pub max_request_bytes: usize,
    /// Bytes of one string anywhere in a request or a document.
    pub max_value_bytes: usize,
    /// Bytes of one stored document.
    pub max_document_bytes: usize,
}

impl SizeLimits {
    /// Default `maxRequestBytes`: 16 MiB.
    pub(crate) const DEFAULT_MAX_REQUEST_BYTES: usize = crate::limits::DEFAULT_MAX_REQUEST_BYTES;
    /// Default `maxValueBytes`: 4 MiB.
    pub(crate) const DEFAULT_MAX_VALUE_BYTES: usize = crate::limits::DEFAULT_MAX_VALUE_BYTES;
    /// Default `maxDocumentBytes`: 8 MiB.
    pub(crate) const DEFAULT_MAX_DOCUMENT_BYTES: usize = crate::limits::DEFAULT_MAX_DOCUMENT_BYTES;

    /// The limits of a `limits` settings document.
    pub(crate) fn from_doc(doc: &Map<String, Value>) -> SizeLimits {
        let field = |key: &str, default: usize| {
            doc.get(key)
                .and_then(Value::as_u64)
                .filter(|n| *n > 0)
                .map_or(default, |n| usize::try_from(n).unwrap_or(usize::MAX))
        };
        SizeLimits {
            max_request_bytes: field("maxRequestBytes", Self::DEFAULT_MAX_REQUEST_BYTES),
            max_value_bytes: field("maxValueBytes", Self::DEFAULT_MAX_VALUE_BYTES),
            max_document_bytes: field("maxDocumentBytes", Self::DEFAULT_MAX_DOCUMENT_BYTES),
        }
    }

    /// Check a request's `input` (at `input`) and its text fields: depth, each string, and
    /// the whole. Refusals are LIMIT_EXCEEDED naming the limit and where it was passed.
    pub(crate) fn check_request<'a>(
        &self,
        input: &Value,
        texts: impl IntoIterator<Item = (&'a str, Option<&'a str>)>,
    ) -> Result<(), Error> {
        let mut used = 0usize;
        for (key, text) in texts {
            let Some(text) = text else { continue };
            if text.len() > self.max_value_bytes {
                return Err(Excess::Value(key.to_string(), text.len()).into_error(
                    "the request",
                    "maxRequestBytes",
                    self,
                ));
            }
            used += text.len() + key.len() + 6;
        }
        let room = self.max_request_bytes.saturating_sub(used);
        measure_input(input, self.max_value_bytes, room)
            .map(drop)
            .map_err(|excess| {
                excess
                    .at("input")
                    .into_error("the request", "maxRequestBytes", self)
            })
    }

    /// Check a document about to be stored: depth, each string, and its whole size, which
    /// it returns (its JSON text's, escapes not counted: what the write budget charges).
    pub(crate) fn check_document(
        &self,
        doctype: &str,
        name: &str,
        doc: &Map<String, Value>,
    ) -> Result<u64, Error> {
        let mut walk = Walk::new(self.max_value_bytes, self.max_document_bytes);
        walk.enter(Children::Object(doc.iter()));
        match walk.run() {
            Ok(()) => Ok(walk.total as u64),
            Err(excess) => {
                let what = format!("{doctype} `{}`", echo_str(name));
                Err(excess.into_error(&what, "maxDocumentBytes", self))
            }
        }
    }
}

impl Default for SizeLimits {
    fn default() -> Self {
        SizeLimits::from_doc(&Map::new())
    }
}

/// Where a value passes a limit.
#[derive(Debug, PartialEq)]
pub(crate) enum Excess {
    /// It nests deeper than [`MAX_VALUE_DEPTH`] at this path.
    Depth(String),
    /// A string of this many bytes at this path.
    Value(String, usize),
    /// The whole is larger than its limit (at least this many bytes).
    Total(usize),
}

impl Excess {
    /// The same excess with its path under `prefix`.
    fn at(self, prefix: &str) -> Excess {
        let under = |path: String| match path.as_str() {
            "" => prefix.to_string(),
            p if p.starts_with('[') => format!("{prefix}{p}"),
            p => format!("{prefix}.{p}"),
        };
        match self {
            Excess::Depth(path) => Excess::Depth(under(path)),
            Excess::Value(path, bytes) => Excess::Value(under(path), bytes),
            total => total,
        }
    }

    /// LIMIT_EXCEEDED for `what` (`the request`, ``ToDo `x` ``) with this excess; `total`
    /// names the limit of the whole.
    fn into_error(self, what: &str, total: &str, limits: &SizeLimits) -> Error {
        let (message, details) = match self {
            Excess::Depth(path) => (
                format!(
                    "{what}: `{path}` nests deeper than {MAX_VALUE_DEPTH} levels of arrays and objects (the depth limit of values)"
                ),
                json!({"limit": "maxDepth", "max": MAX_VALUE_DEPTH, "path": path}),
            ),
            Excess::Value(path, bytes) => (
                format!(
                    "{what}: `{path}` is a {} string, over the limit of {} per value (limits.maxValueBytes)",
                    human_bytes(bytes),
                    human_bytes(limits.max_value_bytes)
                ),
                json!({"limit": "maxValueBytes", "max": limits.max_value_bytes, "size": bytes, "path": path}),
            ),
            Excess::Total(_) => {
                let max = if total == "maxDocumentBytes" {
                    limits.max_document_bytes
                } else {
                    limits.max_request_bytes
                };
                (
                    format!(
                        "{what} is larger than {} as JSON (limits.{total})",
                        human_bytes(max)
                    ),
                    json!({"limit": total, "max": max}),
                )
            }
        };
        Error::new(ErrorCode::LimitExceeded, message).with_details(details)
    }
}

/// Refuse a request (as a JSON value, before it is parsed) whose input nests deeper than
/// [`MAX_VALUE_DEPTH`], naming where, or any of whose other values nests deeper than the
/// request may. Nothing here recurses.
pub(crate) fn check_request_depth(request: &Value) -> Result<(), Error> {
    if !depth_exceeds(request, MAX_INPUT_DEPTH + 1) {
        return Ok(());
    }
    // Too deep somewhere: name where, if it is in the input.
    if let Some(input) = request.get("input")
        && let Err(excess) = measure_input(input, usize::MAX, usize::MAX)
    {
        let limits = SizeLimits::default();
        return Err(excess
            .at("input")
            .into_error("the request", "maxRequestBytes", &limits));
    }
    Err(request_too_deep())
}

/// The error for a request nesting deeper than [`MAX_VALUE_DEPTH`] where it enters (before
/// it is even parsed, so no path is known).
pub(crate) fn request_too_deep() -> Error {
    Error::new(
        ErrorCode::LimitExceeded,
        format!(
            "the request nests deeper than {MAX_VALUE_DEPTH} levels of arrays and objects (the depth limit of values)"
        ),
    )
    .with_details(json!({"limit": "maxDepth", "max": MAX_VALUE_DEPTH}))
}

/// Walk `value` once, without recursion: refuse a nesting deeper than [`MAX_VALUE_DEPTH`],
/// a string longer than `max_string` bytes, and a whole over `max_total` bytes (the walk
/// stops there). Returns the size of its JSON text (escapes not counted).
pub(crate) fn measure(value: &Value, max_string: usize, max_total: usize) -> Result<usize, Excess> {
    let mut walk = Walk::new(max_string, max_total);
    walk.visit(value)?;
    walk.run()?;
    Ok(walk.total)
}

/// [`measure`] for a request's `input`, which may nest [`MAX_INPUT_DEPTH`] levels.
fn measure_input(value: &Value, max_string: usize, max_total: usize) -> Result<usize, Excess> {
    let mut walk = Walk::new(max_string, max_total);
    walk.max_depth = MAX_INPUT_DEPTH;
    walk.visit(value)?;
    walk.run()?;
    Ok(walk.total)
}

/// The children of an array or object being walked.
enum Children<'a> {
    Array(std::iter::Enumerate<std::slice::Iter<'a, Value>>),
    Object(serde_json::map::Iter<'a>),
}

/// One step of a path: an array index or an object key.
enum Step<'a> {
    Index(usize),
    Key(&'a str),
}

/// The state of [`measure`]: open containers, the path to the value being visited, bytes.
struct Walk<'a> {
    frames: Vec<Children<'a>>,
    path: Vec<Step<'a>>,
    total: usize,
    max_string: usize,
    max_total: usize,
    /// Containers that may be open at once (their nesting depth).
    max_depth: usize,
}

impl<'a> Walk<'a> {
    fn new(max_string: usize, max_total: usize) -> Self {
        Walk {
            frames: Vec::new(),
            path: Vec::new(),
            total: 0,
            max_string,
            max_total,
            max_depth: MAX_VALUE_DEPTH,
        }
    }

    fn enter(&mut self, children: Children<'a>) {
        self.total += 2;
        self.frames.push(children);
    }

    /// Count one value; open it if it holds others.
    fn visit(&mut self, value: &'a Value) -> Result<(), Excess> {
        match value {
            Value::String(s) => {
                if s.len() > self.max_string {
                    return Err(Excess::Value(self.render(), s.len()));
                }
                self.total += s.len() + 2;
            }
            Value::Number(n) => self.total += number_len(n),
            Value::Bool(_) | Value::Null => self.total += 5,
            Value::Array(_) | Value::Object(_) if self.frames.len() >= self.max_depth => {
                return Err(Excess::Depth(self.render()));
            }
            Value::Array(items) => self.enter(Children::Array(items.iter().enumerate())),
            Value::Object(map) => self.enter(Children::Object(map.iter())),
        }
        if self.total > self.max_total {
            return Err(Excess::Total(self.total));
        }
        Ok(())
    }

    /// Visit every value below the open containers, depth first.
    fn run(&mut self) -> Result<(), Excess> {
        loop {
            let depth = self.frames.len();
            let Some(top) = self.frames.last_mut() else {
                return Ok(());
            };
            let next = match top {
                Children::Array(items) => items.next().map(|(i, v)| (Step::Index(i), v, 1)),
                Children::Object(map) => map.next().map(|(k, v)| (Step::Key(k), v, k.len() + 4)),
            };
            self.path.truncate(depth - 1);
            if let Some((Step::Key(key), ..)) = &next
                && key.len() > self.max_string
            {
                self.path.push(Step::Key(key));
                return Err(Excess::Value(self.render(), key.len()));
            }
            match next {
                Some((step, child, punctuation)) => {
                    self.total += punctuation;
                    self.path.push(step);
                    self.visit(child)?;
                }
                None => {
                    self.frames.pop();
                }
            }
        }
    }

    /// The path to the value being visited (`a.b[2].c`), cut after a few steps.
    fn render(&self) -> String {
        const SHOWN: usize = 8;
        let mut out = String::new();
        for step in self.path.iter().take(SHOWN) {
            match step {
                Step::Index(i) => out.push_str(&format!("[{i}]")),
                Step::Key(k) if out.is_empty() => out.push_str(&echo_str(k)),
                Step::Key(k) => {
                    out.push('.');
                    out.push_str(&echo_str(k));
                }
            }
        }
        if self.path.len() > SHOWN {
            out.push('…');
        }
        out
    }
}

/// The length of a number's JSON text (floats: at most).
fn number_len(n: &serde_json::Number) -> usize {
    let digits = |mut v: u64| {
        let mut len = 1;
        while v >= 10 {
            v /= 10;
            len += 1;
        }
        len
    };
    match (n.as_u64(), n.as_i64()) {
        (Some(u), _) => digits(u),
        (None, Some(i)) => digits(i.unsigned_abs()) + 1,
        _ => 24,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nested(levels: usize) -> Value {
        let mut value = json!(1);
        for _ in 0..levels {
            value = Value::Array(vec![value]);
        }
        value
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
    fn sizes_are_measured_once_and_named_by_path() {
        let value = json!({"a": [1, "xy", {"b": null}], "c": true});
        let size = measure(&value, 100, 1000).unwrap();
        let text = value.to_string().len();
        assert!(
            size >= text && size <= text + 10,
            "close to the JSON text: {size}"
        );
        assert_eq!(
            measure(&json!({"a": [1, {"b": "long"}]}), 3, 1000),
            Err(Excess::Value("a[1].b".into(), 4))
        );
        assert!(matches!(
            measure(&json!(vec!["x"; 10]), 10, 20),
            Err(Excess::Total(_))
        ));
        let deep = json!({"k": nested(MAX_VALUE_DEPTH)});
        match measure(&deep, 100, usize::MAX) {
            Err(Excess::Depth(path)) => assert_eq!(path, "k[0][0][0][0][0][0][0]…"),
            other => panic!("{other:?}"),
        }
        assert!(measure(&nested(MAX_VALUE_DEPTH), 100, usize::MAX).is_ok());
        let limits = SizeLimits {
            max_request_bytes: 100,
            max_value_bytes: 10,
            max_document_bytes: 50,
        };
        let error = limits
            .check_request(
                &json!({"data": {"t": "x".repeat(11)}}),
                [("owner", Some("ann"))],
            )
            .unwrap_err();
        assert_eq!(error.code(), ErrorCode::LimitExceeded);
        assert_eq!(error.to_run_error().details["path"], json!("input.data.t"));
        let error = limits
            .check_request(&json!({}), [("owner", Some("o".repeat(11).as_str()))])
            .unwrap_err();
        assert_eq!(error.to_run_error().details["path"], json!("owner"));
        let mut doc = Map::new();
        doc.insert("deep".into(), nested(MAX_VALUE_DEPTH));
        let error = SizeLimits::default()
            .check_document("ToDo", "t1", &doc)
            .unwrap_err();
        assert!(
            error.to_string().starts_with("ToDo `t1`: `deep[0]"),
            "{error}"
        );
        doc.insert("deep".into(), json!(vec!["y"; 20]));
        let error = limits.check_document("ToDo", "t1", &doc).unwrap_err();
        assert!(
            error.to_string().contains("limits.maxDocumentBytes"),
            "{error}"
        );
        assert_eq!(SizeLimits::from_doc(&Map::new()), SizeLimits::default());
    }
}
