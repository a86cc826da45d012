//! Bringing a store written by an earlier version to the current index format, at open,
//! in the open's own write transaction (all of it or nothing).
//!
//! Format 1 (no META `index_format`) kept index keys as `doctype \0 field \0 text \0 name`,
//! the text type-tagged (`s…`, `n…`, `b0`/`b1`, NUL escaped): numbers did not sort
//! numerically, and null, missing and non-scalar values had no entry. Format 2
//! ([`IndexKey`]) sorts as the query language orders values and gives every document an
//! entry. Old keys are decoded and re-encoded without any schema, and each index found is
//! completed with the entries format 1 left out, then marked complete. An index format 1
//! held no key of (every document null, missing or non-scalar in that field) stays
//! unmarked: selects use it for lookups only, until its schema rebuilds it.
//! This module must never interpret a document beyond the fields its indexes name.

use super::layout::{
    DOC_INDEX, DOCS, INDEX_FORMAT, IndexKey, META, doctype_range, index_complete_key, index_entry,
    key_name, parse_doc,
};
use crate::error::{Error, Result};
use redb::{ReadableTable, WriteTransaction};
use serde_json::Value;
use std::collections::BTreeSet;

/// Migrate the store's indexes to [`INDEX_FORMAT`] unless they are in it already.
pub(super) fn migrate_indexes(txn: &WriteTransaction) -> Result<()> {
    let mut meta = txn.open_table(META)?;
    if meta
        .get(b"index_format".as_slice())?
        .map(|v| v.value().to_vec())
        == Some(INDEX_FORMAT.to_vec())
    {
        return Ok(());
    }
    let mut index = txn.open_table(DOC_INDEX)?;
    let mut old_keys = Vec::new();
    for entry in index.iter()? {
        old_keys.push(entry?.0.value().to_vec());
    }
    let mut fields = BTreeSet::new();
    for old in old_keys {
        let (doctype, field, value, name) = decode_format_1(&old).ok_or_else(|| {
            Error::Storage(format!(
                "index key {} is in no known format; the store cannot be migrated",
                String::from_utf8_lossy(&old)
            ))
        })?;
        index.remove(old.as_slice())?;
        let key = index_entry(&doctype, &field, &IndexKey::of(&value), &name);
        index.insert(key.as_slice(), [].as_slice())?;
        fields.insert((doctype, field));
    }
    let docs = txn.open_table(DOCS)?;
    for (doctype, field) in fields {
        let (start, end) = doctype_range(&doctype);
        for entry in docs.range(start.as_slice()..end.as_slice())? {
            let (key, body) = entry?;
            let name = key_name(key.value());
            // An unreadable body has no entry, as when it is written (see `write`).
            let Ok(doc) = parse_doc(&doctype, &name, body.value()) else {
                continue;
            };
            let value = doc.get(&field).unwrap_or(&Value::Null);
            if matches!(value, Value::Null | Value::Array(_) | Value::Object(_)) {
                let key = index_entry(&doctype, &field, &IndexKey::of(value), &name);
                index.insert(key.as_slice(), [].as_slice())?;
            }
        }
        index.insert(
            index_complete_key(&doctype, &field).as_slice(),
            [].as_slice(),
        )?;
    }
    meta.insert(b"index_format".as_slice(), INDEX_FORMAT)?;
    Ok(())
}

/// A format 1 index key: doctype, field, value and name.
fn decode_format_1(key: &[u8]) -> Option<(String, String, Value, String)> {
    let mut parts = key.splitn(4, |b| *b == 0);
    let text = |bytes: &[u8]| String::from_utf8(bytes.to_vec()).ok();
    let doctype = text(parts.next()?)?;
    let field = text(parts.next()?)?;
    let escaped = parts.next()?;
    let name = text(parts.next()?)?;
    let mut raw = Vec::with_capacity(escaped.len());
    let mut bytes = escaped.iter();
    while let Some(&byte) = bytes.next() {
        raw.push(match (byte, bytes.as_slice().first()) {
            (1, Some(2)) => 0,
            (1, Some(1)) => 1,
            (1, _) => return None,
            (b, _) => b,
        });
        if byte == 1 {
            bytes.next();
        }
    }
    let raw = String::from_utf8(raw).ok()?;
    let value = match raw.split_at_checked(1)? {
        ("s", s) => Value::from(s),
        ("b", "0") => Value::Bool(false),
        ("b", "1") => Value::Bool(true),
        ("n", n) => number(n)?,
        _ => return None,
    };
    Some((doctype, field, value, name))
}

/// A number as format 1 wrote it: an integer, an integral float as its integer (within
/// 1e38), or a float's `{:?}` text.
fn number(text: &str) -> Option<Value> {
    if let Ok(i) = text.parse::<i64>() {
        return Some(Value::from(i));
    }
    if let Ok(u) = text.parse::<u64>() {
        return Some(Value::from(u));
    }
    if let Ok(big) = text.parse::<i128>() {
        // Written from a float: converting back is exact.
        #[allow(clippy::cast_precision_loss, reason = "it was an f64")]
        return serde_json::Number::from_f64(big as f64).map(Value::Number);
    }
    text.parse::<f64>()
        .ok()
        .and_then(serde_json::Number::from_f64)
        .map(Value::Number)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Format 1's encoding of a value, as the earlier version wrote it.
    fn format_1(value: &Value) -> Vec<u8> {
        let text = match value {
            Value::String(s) => format!("s{s}"),
            Value::Bool(b) => format!("b{}", u8::from(*b)),
            Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
                (Some(i), _, _) => format!("n{i}"),
                (_, Some(u), _) => format!("n{u}"),
                #[allow(clippy::cast_possible_truncation, reason = "as format 1 did")]
                (_, _, Some(f)) if f.fract() == 0.0 && f.abs() < 1.0e38 => {
                    format!("n{}", f as i128)
                }
                (_, _, Some(f)) => format!("n{f:?}"),
                _ => unreachable!(),
            },
            _ => unreachable!(),
        };
        let mut out = Vec::new();
        for byte in text.bytes() {
            match byte {
                0 => out.extend_from_slice(&[1, 2]),
                1 => out.extend_from_slice(&[1, 1]),
                b => out.push(b),
            }
        }
        out
    }

    #[test]
    fn format_1_keys_decode_to_values_equal_to_the_indexed_ones() {
        for value in [
            json!("Open"),
            json!("a\u{0}b\u{1}c"),
            json!(""),
            json!(true),
            json!(false),
            json!(-12),
            json!(u64::MAX),
            json!(2.5),
            json!(1e-300),
            json!(1e16),
            json!(-3e37),
            json!(1e300),
        ] {
            let key = [b"Task\0status\0".as_slice(), &format_1(&value), b"\0T-1"].concat();
            let (doctype, field, decoded, name) = decode_format_1(&key).unwrap();
            assert_eq!(
                (doctype.as_str(), field.as_str(), name.as_str()),
                ("Task", "status", "T-1")
            );
            assert!(
                crate::query::values_equal(&decoded, &value),
                "{value} came back as {decoded}"
            );
            assert_eq!(IndexKey::of(&decoded), IndexKey::of(&value), "{value}");
        }
    }
}
