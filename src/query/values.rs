//! How values compare in the query language: [`compare`], the total order `orderBy` and the
//! range operators use, and [`values_equal`], the equality of `where` (see the parent module).

use crate::doc::Doc;
use serde_json::{Number, Value};
use std::cmp::Ordering;

/// Total order over JSON values used for `orderBy` and the range operators; see the module docs.
pub(crate) fn compare(a: &Value, b: &Value) -> Ordering {
    let rank = |v: &Value| match v {
        Value::Null => 0,
        Value::Bool(_) => 1,
        Value::Number(_) => 2,
        Value::String(_) => 3,
        Value::Array(_) => 4,
        Value::Object(_) => 5,
    };
    match (a, b) {
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        (Value::Number(x), Value::Number(y)) => compare_numbers(x, y),
        (Value::String(x), Value::String(y)) => x.cmp(y),
        (Value::Array(x), Value::Array(y)) => {
            let first_difference = x
                .iter()
                .zip(y)
                .map(|(p, q)| compare(p, q))
                .find(|o| o.is_ne());
            first_difference.unwrap_or_else(|| x.len().cmp(&y.len()))
        }
        (Value::Object(x), Value::Object(y)) => {
            let text = |m: &Doc| serde_json::to_string(m).unwrap_or_default();
            text(x).cmp(&text(y))
        }
        _ => rank(a).cmp(&rank(b)),
    }
}

/// Equality as the query language sees it: numbers compare numerically (`1 == 1.0`), other
/// values structurally (recursively, so `[1] == [1.0]`); different types are never equal.
pub(crate) fn values_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => compare_numbers(x, y).is_eq(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| values_equal(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, p)| y.get(k).is_some_and(|q| values_equal(p, q)))
        }
        _ => a == b,
    }
}

/// Exact numeric comparison. Integer/float pairs are compared exactly rather than through a
/// lossy `f64` cast: a non-transitive comparator may make `sort_by` panic.
fn compare_numbers(a: &Number, b: &Number) -> Ordering {
    // An integer against a finite float (JSON has no NaN or infinities). `as` saturates, which
    // keeps the order right for floats beyond the i128 range.
    fn int_float(i: i128, f: f64) -> Ordering {
        let t = f.trunc();
        i.cmp(&(t as i128))
            .then(0.0_f64.partial_cmp(&(f - t)).unwrap_or(Ordering::Equal))
    }
    let float = |n: &Number| n.as_f64().unwrap_or(0.0);
    match (a.as_i128(), b.as_i128()) {
        (Some(x), Some(y)) => x.cmp(&y),
        (Some(x), None) => int_float(x, float(b)),
        (None, Some(y)) => int_float(y, float(a)).reverse(),
        (None, None) => float(a).partial_cmp(&float(b)).unwrap_or(Ordering::Equal),
    }
}
