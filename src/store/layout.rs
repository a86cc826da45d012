//! The store's layout: every redb table, declared once, and the codecs of their keys and
//! values (document keys, index keys and the index form of a value, documents as JSON).
//!
//! Keys are byte strings whose parts are separated by NUL and compare as bytes, so each
//! listing (a doctype's documents, an index value's names, a field's runs) is one ordered
//! range. This module must never interpret a document beyond its key and indexed values.

use crate::doc::Doc;
use crate::error::{Error, Result};
use redb::{TableDefinition, TableError, WriteTransaction};
use serde_json::{Value, json};

pub(super) type Bytes = &'static [u8];

/// Documents: key `doctype \0 name`, value the document's JSON.
pub(super) const DOCS: TableDefinition<Bytes, Bytes> = TableDefinition::new("docs");
/// Run records: key the run id (a ULID, so keys sort by time), value the run's JSON.
pub(super) const RUNS: TableDefinition<Bytes, Bytes> = TableDefinition::new("runs");
/// Run indexes: key `field \0 value \0 run id`, empty value. Fields: `flow`, `chain`,
/// `parent`, `owner`, `status`.
pub(super) const RUN_INDEX: TableDefinition<Bytes, Bytes> = TableDefinition::new("run_index");
/// Secondary indexes of documents: key `doctype \0 field \0 encoded value \0 name`, empty
/// value (see [`index_value`]).
pub(super) const DOC_INDEX: TableDefinition<Bytes, Bytes> = TableDefinition::new("doc_index");
/// Counters (naming series, autoincrement): key the counter's name, value a u64 (big endian).
pub(super) const COUNTERS: TableDefinition<Bytes, Bytes> = TableDefinition::new("counters");
/// The audit trail: key the entry's sequence number (u64, big endian), value its JSON.
/// Append-only: the store offers no way to replace or remove an entry.
pub(super) const AUDIT: TableDefinition<u64, Bytes> = TableDefinition::new("audit");

/// Create every table that does not exist yet, in `txn`.
pub(super) fn create_tables(txn: &WriteTransaction) -> std::result::Result<(), TableError> {
    txn.open_table(DOCS)?;
    txn.open_table(RUNS)?;
    txn.open_table(RUN_INDEX)?;
    txn.open_table(DOC_INDEX)?;
    txn.open_table(COUNTERS)?;
    txn.open_table(AUDIT)?;
    txn.open_table(META)?;
    Ok(())
}

/// Small facts about the store, by name (e.g. `audit_head`: the last audit entry's seq and
/// hash, so a trail cut short is noticed).
pub(super) const META: TableDefinition<Bytes, Bytes> = TableDefinition::new("meta");

pub(super) fn doc_key(doctype: &str, name: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(doctype.len() + name.len() + 1);
    key.extend_from_slice(doctype.as_bytes());
    key.push(0);
    key.extend_from_slice(name.as_bytes());
    key
}

/// The key range holding every document of `doctype`.
pub(super) fn doctype_range(doctype: &str) -> (Vec<u8>, Vec<u8>) {
    let mut start = doctype.as_bytes().to_vec();
    start.push(0);
    let mut end = doctype.as_bytes().to_vec();
    end.push(1);
    (start, end)
}

pub(super) fn run_index_key(field: &str, value: &str, run_id: &str) -> Vec<u8> {
    [
        field.as_bytes(),
        &[0],
        value.as_bytes(),
        &[0],
        run_id.as_bytes(),
    ]
    .concat()
}

/// The index form of a value: type-tagged, so `"1"` and `1` differ while `1` and `1.0`
/// agree (as in queries). Values that are not scalars are not indexed.
pub(crate) fn index_value(value: &Value) -> Option<Vec<u8>> {
    let text = match value {
        Value::String(s) => format!("s{s}"),
        Value::Bool(b) => format!("b{}", u8::from(*b)),
        Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => format!("n{i}"),
            (_, Some(u), _) => format!("n{u}"),
            // Integral floats read as the integers they equal (1e16 == 10000000000000000).
            (_, _, Some(f)) if f.fract() == 0.0 && f.abs() < 1.0e38 => format!("n{}", f as i128),
            (_, _, Some(f)) => format!("n{f:?}"),
            _ => return None,
        },
        _ => return None,
    };
    // NUL separates key parts: escape it (and the escape byte) inside values.
    let mut out = Vec::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            0 => out.extend_from_slice(&[1, 2]),
            1 => out.extend_from_slice(&[1, 1]),
            b => out.push(b),
        }
    }
    Some(out)
}

pub(super) fn index_prefix(doctype: &str, field: &str, value: Option<&[u8]>) -> Vec<u8> {
    let mut key = [doctype.as_bytes(), &[0], field.as_bytes(), &[0]].concat();
    if let Some(value) = value {
        key.extend_from_slice(value);
        key.push(0);
    }
    key
}

/// The end of the key range that starts with `prefix` (which ends with a NUL).
pub(super) fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    *end.last_mut().expect("prefixes end with a separator") = 1;
    end
}

/// Read back the stored document `doctype`/`name` (an unreadable one is named, see
/// [`unreadable_doc`]).
pub(super) fn parse_doc(doctype: &str, name: &str, bytes: &[u8]) -> Result<Doc> {
    serde_json::from_slice(bytes).map_err(|e| {
        Error::new(
            crate::ErrorCode::StorageError,
            format!(
                "stored document {doctype} `{name}` cannot be read ({e}); delete it by name, \
                 or select with `input.skipCorrupt: true` to skip it"
            ),
        )
        .with_details(json!({"doctype": doctype, "name": name, "unreadable": true}))
    })
}

/// The doctype and name of the document an error says cannot be read back (its stored
/// bytes are not JSON, or nest deeper than JSON is read).
pub(crate) fn unreadable_doc(error: &Error) -> Option<(&str, &str)> {
    let Error::Run { code, details, .. } = error else {
        return None;
    };
    if *code != crate::ErrorCode::StorageError || details["unreadable"] != true {
        return None;
    }
    Some((details["doctype"].as_str()?, details["name"].as_str()?))
}

/// The name part of a document key.
pub(super) fn key_name(key: &[u8]) -> String {
    let name = key
        .iter()
        .position(|b| *b == 0)
        .map_or(key, |at| &key[at + 1..]);
    String::from_utf8_lossy(name).into_owned()
}

pub(super) fn encode<T: serde::Serialize>(value: &T) -> Result<Vec<u8>> {
    serde_json::to_vec(value).map_err(|e| Error::internal(format!("cannot encode: {e}")))
}
