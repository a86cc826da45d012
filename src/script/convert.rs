//! JSON values to Rhai values and back, directly rather than through serde.
//!
//! Every host call crosses this boundary twice (the request out, the nested run back, its
//! documents included), and serde's generic path cost several times more than the walk.
//! The results are exactly rhai's serde conversions: numbers that fit an `INT` are
//! integers, others floats; a map's keys stay in Rhai's order; a float that is not finite
//! becomes `null`. Anything rarer (blobs, timestamps, function pointers, custom or shared
//! values) is left to `rhai::serde`, errors included.

use rhai::{Array, Dynamic, EvalAltResult, INT, Map as RhaiMap};
use serde_json::{Map, Number, Value};

/// `value` as a Rhai value, taking its strings over.
pub(crate) fn into_dynamic(value: Value) -> Dynamic {
    match value {
        Value::Null => Dynamic::UNIT,
        Value::Bool(b) => Dynamic::from_bool(b),
        Value::Number(n) => number(&n),
        Value::String(s) => Dynamic::from(s),
        Value::Array(items) => {
            Dynamic::from_array(items.into_iter().map(into_dynamic).collect::<Array>())
        }
        Value::Object(fields) => Dynamic::from_map(into_rhai_map(fields)),
    }
}

/// `fields` as a Rhai map. Inserted one by one: collecting into the `BTreeMap` first
/// gathers every pair into a vector and sorts it, which cost a fifth of turning a nested
/// select's run into a script value (documents hold a dozen fields or so, where an insert
/// is a short scan of one node). A JSON object holds each key once, so nothing is lost.
fn into_rhai_map(fields: Map<String, Value>) -> RhaiMap {
    let mut map = RhaiMap::new();
    for (key, value) in fields {
        map.insert(key.into(), into_dynamic(value));
    }
    map
}

fn number(n: &Number) -> Dynamic {
    match (n.as_i64(), n.as_u64()) {
        (Some(i), _) => Dynamic::from_int(i as INT),
        // Too large for an INT: a float, as rhai's serializer does.
        (None, Some(u)) => Dynamic::from_float(u as rhai::FLOAT),
        (None, None) => Dynamic::from_float(n.as_f64().unwrap_or(f64::NAN)),
    }
}

/// The most one converted value may hold, each counted over the whole value as Rhai counts
/// them: array elements (BLOB bytes included), object map entries and string bytes.
///
/// Rhai checks a value it grows in amortised steps (see `vendor/rhai/PATCHED.md`), and a
/// value may hold one string many times over (strings are shared, so that costs a pointer
/// each): the conversion, which copies every string it meets, counts as it goes and stops
/// at the first limit passed, before it has allocated more than the limits allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Sizes {
    /// Array elements ([`super::Limits::max_array_size`]).
    pub(crate) array: usize,
    /// Map entries ([`super::Limits::max_map_size`]).
    pub(crate) map: usize,
    /// String bytes ([`super::Limits::max_string_size`]).
    pub(crate) string: usize,
}

impl Sizes {
    /// The sizes a sandbox with `limits` allows.
    pub(crate) fn of(limits: &super::Limits) -> Sizes {
        Sizes {
            array: limits.max_array_size,
            map: limits.max_map_size,
            string: limits.max_string_size,
        }
    }

    /// The sizes `engine` allows (0, no limit, as `usize::MAX`).
    pub(crate) fn of_engine(engine: &rhai::Engine) -> Sizes {
        let or_max = |n: usize| if n == 0 { usize::MAX } else { n };
        Sizes {
            array: or_max(engine.max_array_size()),
            map: or_max(engine.max_map_size()),
            string: or_max(engine.max_string_size()),
        }
    }
}

/// What [`Sizes`] counts: one kind each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Array elements.
    Array,
    /// Map entries.
    Map,
    /// String bytes.
    String,
}

impl Kind {
    /// The limit's name in `limits`.
    pub(crate) fn limit(self) -> &'static str {
        match self {
            Kind::Array => "maxArraySize",
            Kind::Map => "maxMapSize",
            Kind::String => "maxStringSize",
        }
    }

    /// What it counts, in words.
    pub(crate) fn counts(self) -> &'static str {
        match self {
            Kind::Array => "array elements",
            Kind::Map => "map entries",
            Kind::String => "string bytes",
        }
    }

    /// Its value in `sizes`.
    pub(crate) fn of(self, sizes: &Sizes) -> usize {
        match self {
            Kind::Array => sizes.array,
            Kind::Map => sizes.map,
            Kind::String => sizes.string,
        }
    }
}

/// One conversion's budget: how deep it may go, and how much it may still copy.
struct Walk {
    depth: usize,
    left: Sizes,
}

impl Walk {
    fn new(depth: usize, sizes: Sizes) -> Walk {
        Walk { depth, left: sizes }
    }

    /// Take `n` of `kind` from what is left, or refuse the value.
    fn take(&mut self, kind: Kind, n: usize) -> Result<(), Box<EvalAltResult>> {
        let left = match kind {
            Kind::Array => &mut self.left.array,
            Kind::Map => &mut self.left.map,
            Kind::String => &mut self.left.string,
        };
        *left = left.checked_sub(n).ok_or_else(|| {
            Box::new(EvalAltResult::ErrorRuntime(
                Dynamic::from(format!("{TOO_LARGE}{}", kind.limit())),
                rhai::Position::NONE,
            ))
        })?;
        Ok(())
    }
}

/// A Rhai value as JSON, nested at most `limit` levels (arrays and maps) and holding at most
/// `sizes`: deeper is refused (see [`too_deep`]) before the walk goes further, so it never
/// recurses past the limit; larger is refused (see [`too_large`]) as soon as a size passes.
pub(crate) fn from_dynamic(
    value: &Dynamic,
    limit: usize,
    sizes: Sizes,
) -> Result<Value, Box<EvalAltResult>> {
    walk(value, &mut Walk::new(limit, sizes), 0)
}

/// What a value larger than its [`Sizes`] is refused with (see [`too_large`]).
const TOO_LARGE: &str = "coworker: too large: ";

/// Which limit `error` refused a value for, if it is the refusal of a value too large.
pub(crate) fn too_large(error: &EvalAltResult) -> Option<Kind> {
    let EvalAltResult::ErrorRuntime(token, _) = error else {
        return None;
    };
    let token = token.read_lock::<rhai::ImmutableString>()?;
    [Kind::Array, Kind::Map, Kind::String]
        .into_iter()
        .find(|kind| token.as_str().strip_prefix(TOO_LARGE) == Some(kind.limit()))
}

/// What a value nested deeper than its limit is refused with (see [`too_deep`]).
const TOO_DEEP: &str = "coworker: nested too deep";

/// Whether `error` is the refusal of a value nested too deep.
pub(crate) fn too_deep(error: &EvalAltResult) -> bool {
    matches!(error, EvalAltResult::ErrorRuntime(token, _)
        if token.read_lock::<rhai::ImmutableString>().is_some_and(|t| t.as_str() == TOO_DEEP))
}

fn refuse() -> Box<EvalAltResult> {
    Box::new(EvalAltResult::ErrorRuntime(
        Dynamic::from(TOO_DEEP.to_string()),
        rhai::Position::NONE,
    ))
}

fn walk(value: &Dynamic, budget: &mut Walk, level: usize) -> Result<Value, Box<EvalAltResult>> {
    if value.is_shared() {
        let inner = value.read_lock::<Dynamic>().expect("a shared value");
        return walk(&inner, budget, level);
    }
    if value.is_unit() {
        return Ok(Value::Null);
    }
    if let Ok(b) = value.as_bool() {
        return Ok(Value::Bool(b));
    }
    if let Ok(i) = value.as_int() {
        return Ok(Value::Number(i.into()));
    }
    if let Ok(f) = value.as_float() {
        return Ok(Number::from_f64(f).map_or(Value::Null, Value::Number));
    }
    if let Some(s) = value.read_lock::<rhai::ImmutableString>() {
        budget.take(Kind::String, s.len())?;
        return Ok(Value::String(s.as_str().to_string()));
    }
    if let Ok(c) = value.as_char() {
        budget.take(Kind::String, c.len_utf8())?;
        return Ok(Value::String(c.to_string()));
    }
    if value.is_array() {
        let items = value.read_lock::<Array>().expect("an array");
        if level >= budget.depth {
            return Err(refuse());
        }
        let mut array = Vec::with_capacity(items.len().min(budget.left.array));
        for item in items.iter() {
            budget.take(Kind::Array, 1)?;
            array.push(walk(item, budget, level + 1)?);
        }
        return Ok(Value::Array(array));
    }
    if value.is_map() {
        let map = value.read_lock::<RhaiMap>().expect("a map");
        return fields(&map, budget, level);
    }
    if let Some(blob) = value.read_lock::<rhai::Blob>() {
        budget.take(Kind::Array, blob.len())?;
    }
    // Leaves only (blobs, timestamps, function pointers): nothing to recurse into.
    rhai::serde::from_dynamic(value)
}

/// A Rhai object map as a JSON object, nested at most `limit` levels, itself included, and
/// holding at most `sizes`.
pub(crate) fn from_map(
    map: &RhaiMap,
    limit: usize,
    sizes: Sizes,
) -> Result<Value, Box<EvalAltResult>> {
    fields(map, &mut Walk::new(limit, sizes), 0)
}

fn fields(map: &RhaiMap, budget: &mut Walk, level: usize) -> Result<Value, Box<EvalAltResult>> {
    if level >= budget.depth {
        return Err(refuse());
    }
    let mut fields = Map::with_capacity(map.len().min(budget.left.map));
    for (key, value) in map {
        budget.take(Kind::Map, 1)?;
        fields.insert(key.to_string(), walk(value, budget, level + 1)?);
    }
    Ok(Value::Object(fields))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const UNLIMITED: Sizes = Sizes {
        array: usize::MAX,
        map: usize::MAX,
        string: usize::MAX,
    };

    fn samples() -> Vec<Value> {
        vec![
            json!(null),
            json!(true),
            json!(-7),
            json!(u64::MAX),
            json!(2.5),
            json!("text with ünïcode"),
            json!([1, "a", null, [2.0, {"k": false}]]),
            json!({"zeta": 1, "alpha": {"nested": [1, 2, 3]}, "": "empty key", "n": 1e300}),
        ]
    }

    #[test]
    fn json_converts_to_rhai_as_rhai_serde_converts_it() {
        for value in samples() {
            let by_serde = rhai::serde::to_dynamic(&value).unwrap();
            let direct = into_dynamic(value.clone());
            assert_eq!(direct.type_name(), by_serde.type_name(), "{value}");
            assert_eq!(direct.to_string(), by_serde.to_string(), "{value}");
            assert_eq!(
                from_dynamic(&direct, 100, UNLIMITED).unwrap(),
                rhai::serde::from_dynamic::<Value>(&by_serde).unwrap(),
                "{value}"
            );
        }
    }

    #[test]
    fn rhai_values_convert_to_json_as_rhai_serde_converts_them() {
        let engine = rhai::Engine::new();
        for source in [
            "()",
            "[1, 2.5, true, 'c', \"s\", #{b: 1, a: [()]}]",
            "#{x: 1.0 / 0.0, y: -0.0}",
            "let m = #{a: 1}; let f = |x| m.a + x; m",
            "blob(3, 7)",
            "fn f() { 1 } Fn(\"f\")",
        ] {
            let value: Dynamic = engine.eval(source).unwrap();
            let direct = from_dynamic(&value, 100, UNLIMITED).map_err(|e| e.to_string());
            let by_serde = rhai::serde::from_dynamic::<Value>(&value).map_err(|e| e.to_string());
            assert_eq!(direct, by_serde, "{source}");
        }
    }

    #[test]
    fn a_value_larger_than_its_sizes_is_refused_before_it_is_copied() {
        // 3 GB of string bytes by reference: refused after copying 1 MiB.
        let text: rhai::ImmutableString = "x".repeat(100_000).into();
        let many: Array = (0..30_000).map(|_| Dynamic::from(text.clone())).collect();
        let sizes = Sizes {
            array: 100_000,
            map: 100,
            string: 1 << 20,
        };
        let refused = from_dynamic(&Dynamic::from_array(many), 10, sizes).expect_err("large");
        assert_eq!(too_large(&refused), Some(Kind::String), "{refused}");
        let items = Dynamic::from_array(vec![Dynamic::from_int(1); 101]);
        let small = Sizes {
            array: 100,
            ..sizes
        };
        let refused = from_dynamic(&items, 10, small).expect_err("too many");
        assert_eq!(too_large(&refused), Some(Kind::Array));
        let entries: RhaiMap = (0..101)
            .map(|i| (i.to_string().into(), Dynamic::UNIT))
            .collect();
        let refused = from_map(&entries, 10, sizes).expect_err("too many");
        assert_eq!(too_large(&refused), Some(Kind::Map));
        // At the limits exactly: converted.
        let at = Dynamic::from_array(vec![Dynamic::from_int(1); 100]);
        assert!(from_dynamic(&at, 10, small).is_ok());
    }

    #[test]
    fn a_value_deeper_than_the_limit_is_refused_without_walking_further() {
        let mut value = Dynamic::from_int(1);
        for level in 1..=1_000 {
            value = if level % 2 == 0 {
                Dynamic::from_array(vec![value])
            } else {
                Dynamic::from_map([("k".into(), value)].into_iter().collect())
            };
            if level == 100 {
                assert!(from_dynamic(&value, 100, UNLIMITED).is_ok());
            }
        }
        let refused = from_dynamic(&value, 100, UNLIMITED).expect_err("too deep");
        assert!(too_deep(&refused), "{refused}");
        crate::script::depth::dismantle([value]);
    }
}
