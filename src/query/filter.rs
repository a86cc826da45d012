//! The `where` clause: parsed once into a [`Filter`] tree (refusing every malformed part with
//! `BAD_REQUEST`), then matched against documents in memory. See the parent module for the
//! matching rules.

use super::{bad, compare, kind, not_object, values_equal};
use crate::doc::{Doc, field_of};
use crate::error::{Error, Result};
use crate::value::echo_str;
use serde_json::{Map, Value, json};
use std::cmp::Ordering;
use std::ops::Bound;

/// The operators a field may be given, as error messages list them.
const OPERATORS: &str = "equals, in, notIn, not, lt, lte, gt, gte, contains, startsWith, endsWith";

/// A parsed `where` clause. Operator objects, `not` and `notIn` desugar into these nodes.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Filter {
    /// Every part matches (`AND`, and the keys of one where object). Empty matches everything.
    And(Vec<Filter>),
    /// At least one part matches. Empty matches nothing.
    Or(Vec<Filter>),
    /// The inner filter does not match.
    Not(Box<Filter>),
    /// One operator applied to one top-level field (missing reads as null).
    Field(String, Op),
}

/// A single-field test. Arguments were validated at parse time.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Op {
    /// [`values_equal`] to the value.
    Equals(Value),
    /// [`values_equal`] to one of the values.
    In(Vec<Value>),
    /// `lt`/`lte`/`gt`/`gte`: the field is of the bound's kind (number or string) and compares
    /// to it as `want`, or equal when `or_equal`.
    Range {
        want: Ordering,
        or_equal: bool,
        bound: Value,
    },
    /// Substring of a string field, or member of an array field.
    Contains(Value),
    /// String field starting with the prefix.
    StartsWith(String),
    /// String field ending with the suffix.
    EndsWith(String),
}

impl Filter {
    /// Parse a `where` object.
    pub(crate) fn parse(where_: &Value) -> Result<Filter> {
        let map = where_
            .as_object()
            .ok_or_else(|| not_object("where", where_))?;
        parse_where(map)
    }

    /// Does the document satisfy the filter?
    pub(crate) fn matches(&self, doc: &Doc) -> bool {
        match self {
            Filter::And(parts) => parts.iter().all(|p| p.matches(doc)),
            Filter::Or(parts) => parts.iter().any(|p| p.matches(doc)),
            Filter::Not(inner) => !inner.matches(doc),
            Filter::Field(field, op) => op.matches(field_of(doc, field)),
        }
    }

    /// If every match must have `field` equal (per [`values_equal`]) to one of a finite set of
    /// values, because of an equality or `in` at the top level or inside top-level ANDs, return
    /// that set (deduplicated; `Some(vec![])` means nothing can match). A missing field reads as
    /// null, so the set may hold null, and `1` also stands for `1.0`: an index lookup must treat
    /// both alike. Conservative: `None` whenever unsure (under OR and NOT, range operators, ...).
    pub(crate) fn candidates(&self, field: &str) -> Option<Vec<Value>> {
        let dedup = |values: &[Value]| {
            values.iter().fold(Vec::new(), |mut set: Vec<Value>, v| {
                if !set.iter().any(|s| values_equal(s, v)) {
                    set.push(v.clone());
                }
                set
            })
        };
        match self {
            Filter::Field(f, Op::Equals(v)) if f == field => Some(vec![v.clone()]),
            Filter::Field(f, Op::In(values)) if f == field => Some(dedup(values)),
            Filter::And(parts) => {
                parts
                    .iter()
                    .filter_map(|p| p.candidates(field))
                    .reduce(|a, b| {
                        a.into_iter()
                            .filter(|x| b.iter().any(|y| values_equal(x, y)))
                            .collect()
                    })
            }
            _ => None,
        }
    }
}

/// The values a field may hold to pass the range operators on it: from `lower` to
/// `upper` in [`compare`] order. Bounds the operators leave open are closed by the edges of
/// the operators' kind (numbers from the smallest JSON number up to the empty string,
/// strings from the empty string up to the empty array), so the range holds values of that
/// kind only, as the operators match. Operators of two kinds leave it empty (`lower` above
/// `upper`).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ValueRange {
    /// The least value (or the greatest one excluded).
    pub(crate) lower: Bound<Value>,
    /// The greatest value (or the least one excluded).
    pub(crate) upper: Bound<Value>,
}

impl ValueRange {
    /// The values of one range operator.
    fn of(want: Ordering, or_equal: bool, bound: &Value) -> ValueRange {
        let (kind_lower, kind_upper) = match bound {
            Value::Number(_) => (json!(f64::MIN), json!("")),
            _ => (json!(""), json!([])),
        };
        let at = if or_equal {
            Bound::Included(bound.clone())
        } else {
            Bound::Excluded(bound.clone())
        };
        match want {
            Ordering::Less => ValueRange {
                lower: Bound::Included(kind_lower),
                upper: at,
            },
            _ => ValueRange {
                lower: at,
                upper: Bound::Excluded(kind_upper),
            },
        }
    }

    /// The values in both ranges.
    fn intersect(self, other: ValueRange) -> ValueRange {
        // Of two bounds on the same side, the tighter; at the same value, the exclusive one.
        let tighter = |a: Bound<Value>, b: Bound<Value>, lower: bool| {
            let (Bound::Included(x) | Bound::Excluded(x)) = &a else {
                return b;
            };
            let (Bound::Included(y) | Bound::Excluded(y)) = &b else {
                return a;
            };
            match (compare(x, y), lower) {
                (Ordering::Greater, true) | (Ordering::Less, false) => a,
                (Ordering::Less, true) | (Ordering::Greater, false) => b,
                (Ordering::Equal, _) if matches!(a, Bound::Excluded(_)) => a,
                (Ordering::Equal, _) => b,
            }
        };
        ValueRange {
            lower: tighter(self.lower, other.lower, true),
            upper: tighter(self.upper, other.upper, false),
        }
    }
}

impl Filter {
    /// If every match must have `field` within a range because of range operators at the top
    /// level or inside top-level ANDs, that range (see [`ValueRange`]). Conservative: `None`
    /// when no such operator is there.
    pub(crate) fn range_of(&self, field: &str) -> Option<ValueRange> {
        match self {
            Filter::Field(
                f,
                Op::Range {
                    want,
                    or_equal,
                    bound,
                },
            ) if f == field => Some(ValueRange::of(*want, *or_equal, bound)),
            Filter::And(parts) => parts
                .iter()
                .filter_map(|p| p.range_of(field))
                .reduce(ValueRange::intersect),
            _ => None,
        }
    }

    /// Whether the filter tests `field` alone, with equalities, `in` and range operators
    /// joined by AND (so an index of `field` answers it without reading documents).
    pub(crate) fn tests_only(&self, field: &str) -> bool {
        match self {
            Filter::And(parts) => parts.iter().all(|p| p.tests_only(field)),
            Filter::Field(f, Op::Equals(_) | Op::In(_) | Op::Range { .. }) => f == field,
            _ => false,
        }
    }
}

impl Op {
    fn matches(&self, v: &Value) -> bool {
        match self {
            Op::Equals(x) => values_equal(v, x),
            Op::In(xs) => xs.iter().any(|x| values_equal(v, x)),
            Op::Range {
                want,
                or_equal,
                bound,
            } => {
                let same_kind = matches!(
                    (v, bound),
                    (Value::Number(_), Value::Number(_)) | (Value::String(_), Value::String(_))
                );
                same_kind && {
                    let o = compare(v, bound);
                    o == *want || (*or_equal && o.is_eq())
                }
            }
            Op::Contains(x) => match (v, x) {
                (Value::String(s), Value::String(sub)) => s.contains(sub.as_str()),
                (Value::Array(items), x) => items.iter().any(|i| values_equal(i, x)),
                _ => false,
            },
            Op::StartsWith(p) => v.as_str().is_some_and(|s| s.starts_with(p.as_str())),
            Op::EndsWith(p) => v.as_str().is_some_and(|s| s.ends_with(p.as_str())),
        }
    }
}

/// AND of the parts, without a wrapper for a single part.
fn all(mut parts: Vec<Filter>) -> Filter {
    if parts.len() == 1 {
        parts.remove(0)
    } else {
        Filter::And(parts)
    }
}

fn parse_where(map: &Map<String, Value>) -> Result<Filter> {
    let part = |(key, value): (&String, &Value)| match key.as_str() {
        "AND" => Ok(Filter::And(parse_list("AND", value, true)?)),
        "OR" => Ok(Filter::Or(parse_list("OR", value, false)?)),
        // NOT of a list: none of them matches.
        "NOT" => Ok(Filter::Not(Box::new(Filter::Or(parse_list(
            "NOT", value, true,
        )?)))),
        field => parse_field(field, value),
    };
    Ok(all(map.iter().map(part).collect::<Result<_>>()?))
}

/// The operand of `AND`/`OR`/`NOT`: an array of where objects, or (if `single_ok`) one object.
fn parse_list(key: &str, value: &Value, single_ok: bool) -> Result<Vec<Filter>> {
    let shape = if single_ok {
        "an object or an array of objects"
    } else {
        "an array of objects"
    };
    let err = |got: &Value| {
        let message = format!("`{key}` must be {shape}, got {}", kind(got));
        bad(message, json!({ "operator": key }))
    };
    let one = |v: &Value| {
        v.as_object()
            .map(parse_where)
            .unwrap_or_else(|| Err(err(v)))
    };
    match value {
        Value::Object(_) if single_ok => Ok(vec![one(value)?]),
        Value::Array(items) => items.iter().map(one).collect(),
        other => Err(err(other)),
    }
}

/// A field's condition: a plain value (equality) or an operator object (AND of its operators).
fn parse_field(field: &str, value: &Value) -> Result<Filter> {
    let Value::Object(ops) = value else {
        return Ok(Filter::Field(field.to_owned(), Op::Equals(value.clone())));
    };
    if ops.is_empty() {
        let message = format!(
            "empty operator object on field `{field}` (known: {OPERATORS}; use `equals` to compare with an object)"
        );
        return Err(bad(message, json!({ "field": field })));
    }
    // Unknown operators are reported first: `{"x": {"a": 1}}` most likely meant `equals`.
    if let Some(unknown) = ops.keys().find(|k| !OPERATORS.split(", ").any(|o| o == *k)) {
        return Err(unknown_operator(field, unknown));
    }
    let parts = ops.iter().map(|(name, arg)| parse_op(field, name, arg));
    Ok(all(parts.collect::<Result<_>>()?))
}

fn unknown_operator(field: &str, operator: &str) -> Error {
    let message = format!(
        "unknown where-operator `{}` on field `{}` (known: {OPERATORS})",
        echo_str(operator),
        echo_str(field)
    );
    bad(message, json!({ "field": field, "operator": operator }))
}

/// One `operator: argument` pair of a field's operator object.
fn parse_op(field: &str, name: &str, arg: &Value) -> Result<Filter> {
    let leaf = |op| Filter::Field(field.to_owned(), op);
    let err = |want: &str| {
        let message = format!(
            "`{name}` on field `{field}` needs {want}, got {}",
            kind(arg)
        );
        bad(message, json!({ "field": field, "operator": name }))
    };
    let array = || arg.as_array().cloned().ok_or_else(|| err("an array"));
    let string = || {
        arg.as_str()
            .map(str::to_owned)
            .ok_or_else(|| err("a string"))
    };
    let range = |want, or_equal| match arg {
        Value::Number(_) | Value::String(_) => Ok(leaf(Op::Range {
            want,
            or_equal,
            bound: arg.clone(),
        })),
        _ => Err(err("a number or a string")),
    };
    match name {
        "equals" => Ok(leaf(Op::Equals(arg.clone()))),
        "in" => Ok(leaf(Op::In(array()?))),
        "notIn" => Ok(Filter::Not(Box::new(leaf(Op::In(array()?))))),
        "not" if arg.is_object() => Ok(Filter::Not(Box::new(parse_field(field, arg)?))),
        "not" => Ok(Filter::Not(Box::new(leaf(Op::Equals(arg.clone()))))),
        "lt" => range(Ordering::Less, false),
        "lte" => range(Ordering::Less, true),
        "gt" => range(Ordering::Greater, false),
        "gte" => range(Ordering::Greater, true),
        "contains" => Ok(leaf(Op::Contains(arg.clone()))),
        "startsWith" => Ok(leaf(Op::StartsWith(string()?))),
        "endsWith" => Ok(leaf(Op::EndsWith(string()?))),
        unknown => Err(unknown_operator(field, unknown)),
    }
}
