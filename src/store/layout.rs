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
use std::ops::Bound;

pub(super) type Bytes = &'static [u8];

/// Documents: key `doctype \0 name`, value the document's JSON.
pub(super) const DOCS: TableDefinition<Bytes, Bytes> = TableDefinition::new("docs");
/// Run records: key the run id (a ULID, so keys sort by time), value the run's JSON.
pub(super) const RUNS: TableDefinition<Bytes, Bytes> = TableDefinition::new("runs");
/// Run indexes: key `field \0 value \0 run id`, empty value. Fields: `flow`, `chain`,
/// `parent`, `owner`, `status`.
pub(super) const RUN_INDEX: TableDefinition<Bytes, Bytes> = TableDefinition::new("run_index");
/// Secondary indexes of documents: key `doctype \0 field \0 index form name`, empty value
/// (see [`IndexKey`]); every document has one entry per indexed field (null when missing),
/// and `doctype \0 field \0 \0` marks an index that was built over every document.
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

/// The index form of a scalar that is not null (strings, numbers, booleans): what a unique
/// field may hold. `None` for null, arrays and objects (see [`IndexKey::of`] for their
/// place in an index).
pub(crate) fn index_value(value: &Value) -> Option<Vec<u8>> {
    match value {
        Value::Null | Value::Array(_) | Value::Object(_) => None,
        scalar => Some(IndexKey::of(scalar).0),
    }
}

/// Tags of the index form, in the order `query`'s `compare` puts the kinds of values.
const TAG_COMPLETE: u8 = 0x00;
const TAG_NULL: u8 = 0x10;
const TAG_FALSE: u8 = 0x20;
const TAG_TRUE: u8 = 0x21;
const TAG_NUMBER: u8 = 0x30;
const TAG_STRING: u8 = 0x40;
const TAG_COMPLEX: u8 = 0x50;

/// A byte no UTF-8 name contains: it ends the range of one value's entries.
const AFTER_ANY_NAME: u8 = 0xFF;

/// The index form of a value: bytes whose order is the query language's order of values,
/// and whose equality is its equality (`1` and `1.0` agree, `"1"` and `1` differ).
///
/// null (a missing field reads as null) < `false` < `true` < numbers (by exact value) <
/// strings (byte-wise) < arrays and objects, which share one form: among themselves they
/// are ordered by whoever reads them. Each form is self-delimiting, so the document's name
/// follows it directly in an index key.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct IndexKey(Vec<u8>);

impl IndexKey {
    /// The index form of `value`.
    pub(crate) fn of(value: &Value) -> IndexKey {
        let mut out = Vec::new();
        match value {
            Value::Null => out.push(TAG_NULL),
            Value::Bool(false) => out.push(TAG_FALSE),
            Value::Bool(true) => out.push(TAG_TRUE),
            Value::Number(n) => {
                out.push(TAG_NUMBER);
                encode_number(n, &mut out);
            }
            Value::String(s) => {
                out.push(TAG_STRING);
                for byte in s.bytes() {
                    out.push(byte);
                    // NUL ends the string below: one inside it is followed by 0xFF.
                    if byte == 0 {
                        out.push(0xFF);
                    }
                }
                out.extend_from_slice(&[0, 1]);
            }
            Value::Array(_) | Value::Object(_) => out.push(TAG_COMPLEX),
        }
        IndexKey(out)
    }

    /// Whether this is the form every array and object shares (their order is not in it).
    pub(crate) fn is_complex(&self) -> bool {
        self.0 == [TAG_COMPLEX]
    }

    /// The length of the index form at the start of `bytes`, if one is there.
    fn length_in(bytes: &[u8]) -> Option<usize> {
        match *bytes.first()? {
            TAG_NULL | TAG_FALSE | TAG_TRUE | TAG_COMPLEX => Some(1),
            TAG_NUMBER => (bytes.len() >= 11).then_some(11),
            TAG_STRING => bytes.windows(2).position(|w| w == [0, 1]).map(|at| at + 2),
            _ => None,
        }
    }
}

/// Numbers by exact value: the largest `f64` not above the number (sign-flipped so its bits
/// sort as numbers do), then how far above it the number is (non-zero only for integers
/// beyond 2^53, where it is below 2^12). `-0.0` is `0`.
fn encode_number(n: &serde_json::Number, out: &mut Vec<u8>) {
    let exact = |i: i128| -> (f64, u16) {
        #[allow(clippy::cast_precision_loss, reason = "corrected below")]
        let mut floor = i as f64;
        #[allow(clippy::cast_possible_truncation, reason = "below 2^65: exact")]
        if floor as i128 > i {
            // Rounded up: step to the next float down (never zero: |i| > 2^53 here).
            let bits = floor.to_bits();
            floor = f64::from_bits(if floor > 0.0 { bits - 1 } else { bits + 1 });
        }
        #[allow(clippy::cast_possible_truncation, reason = "below 2^65: exact")]
        let above = i - floor as i128;
        (
            floor,
            u16::try_from(above).expect("an integer below 2^64 is within 2^12 of a float"),
        )
    };
    let (floor, above) = match (n.as_i64(), n.as_u64()) {
        (Some(i), _) => exact(i128::from(i)),
        (_, Some(u)) => exact(i128::from(u)),
        _ => {
            let f = n.as_f64().unwrap_or(0.0);
            (if f == 0.0 { 0.0 } else { f }, 0)
        }
    };
    let bits = floor.to_bits();
    let sortable = if bits >> 63 == 1 {
        !bits
    } else {
        bits | 1 << 63
    };
    out.extend_from_slice(&sortable.to_be_bytes());
    out.extend_from_slice(&above.to_be_bytes());
}

/// Which index entries of one field a walk or a count covers: bounds on the index form of
/// the value, each inclusive, exclusive or absent (the whole field).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KeyRange {
    /// Where the range starts.
    pub(crate) lower: Bound<IndexKey>,
    /// Where the range ends.
    pub(crate) upper: Bound<IndexKey>,
}

impl KeyRange {
    /// Every entry of the field.
    pub(crate) fn all() -> KeyRange {
        KeyRange {
            lower: Bound::Unbounded,
            upper: Bound::Unbounded,
        }
    }

    /// The entries of one value.
    pub(crate) fn exactly(key: IndexKey) -> KeyRange {
        KeyRange {
            lower: Bound::Included(key.clone()),
            upper: Bound::Included(key),
        }
    }

    /// The byte range `[start, end)` of its entries in DOC_INDEX (`None` when empty).
    pub(super) fn bytes(&self, doctype: &str, field: &str) -> Option<(Vec<u8>, Vec<u8>)> {
        let prefix = index_prefix(doctype, field);
        let at = |key: &IndexKey, after: bool| {
            let mut bytes = [prefix.as_slice(), &key.0].concat();
            if after {
                bytes.push(AFTER_ANY_NAME);
            }
            bytes
        };
        let start = match &self.lower {
            Bound::Unbounded => [prefix.as_slice(), &[TAG_NULL]].concat(),
            Bound::Included(key) => at(key, false),
            Bound::Excluded(key) => at(key, true),
        };
        let end = match &self.upper {
            Bound::Unbounded => prefix_end(&prefix),
            Bound::Included(key) => at(key, true),
            Bound::Excluded(key) => at(key, false),
        };
        (start < end).then_some((start, end))
    }
}

/// The index key of document `name` under `key` in `doctype`'s index of `field`.
pub(super) fn index_entry(doctype: &str, field: &str, key: &IndexKey, name: &str) -> Vec<u8> {
    [
        index_prefix(doctype, field).as_slice(),
        &key.0,
        name.as_bytes(),
    ]
    .concat()
}

/// The key saying that `doctype`'s index of `field` holds every document (written when the
/// index is built), so an ordered walk over it visits them all.
pub(super) fn index_complete_key(doctype: &str, field: &str) -> Vec<u8> {
    [index_prefix(doctype, field).as_slice(), &[TAG_COMPLETE]].concat()
}

/// The index form and the name of an entry of DOC_INDEX, `prefix_len` bytes into its key
/// (`None` for the completeness mark, or a key this format did not write).
pub(super) fn split_index_entry(key: &[u8], prefix_len: usize) -> Option<(IndexKey, String)> {
    let rest = key.get(prefix_len..)?;
    let len = IndexKey::length_in(rest)?;
    let name = String::from_utf8_lossy(&rest[len..]).into_owned();
    Some((IndexKey(rest[..len].to_vec()), name))
}

/// The index format this code writes, kept as META `index_format` (see `migrate`).
pub(super) const INDEX_FORMAT: &[u8] = b"2";

/// The start of every key of `doctype`'s index of `field`: `doctype \0 field \0`.
pub(super) fn index_prefix(doctype: &str, field: &str) -> Vec<u8> {
    [doctype.as_bytes(), &[0], field.as_bytes(), &[0]].concat()
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
    let mut reader = serde_json::Deserializer::from_slice(bytes);
    serde::Deserializer::deserialize_map(&mut reader, DocVisitor { bytes: bytes.len() })
        .and_then(|doc| reader.end().map(|()| doc))
        .map_err(|e| {
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

/// Stored JSON bytes per top-level field a document is assumed to hold at least, so its
/// map is sized once: `serde_json` gives no length for a map, and growing one from empty
/// reallocated it three times for a typical document (a fifth of a point read's parse).
const BYTES_PER_FIELD: usize = 24;

/// The most fields a document's map is sized for up front (a larger one grows as usual).
const MAX_PRESIZED_FIELDS: usize = 64;

/// Reads a stored document into a map sized from its byte length (see [`BYTES_PER_FIELD`]);
/// otherwise exactly what `serde_json` does for a `Map`.
struct DocVisitor {
    bytes: usize,
}

impl<'de> serde::de::Visitor<'de> for DocVisitor {
    type Value = Doc;

    fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
        formatter.write_str("a map")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(
        self,
        mut access: A,
    ) -> std::result::Result<Doc, A::Error> {
        let mut doc = Doc::with_capacity((self.bytes / BYTES_PER_FIELD).min(MAX_PRESIZED_FIELDS));
        while let Some((key, value)) = access.next_entry::<String, Value>()? {
            doc.insert(key, value);
        }
        Ok(doc)
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::{compare, values_equal};
    use proptest::prelude::*;

    fn scalar() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<f64>()
                .prop_filter("JSON numbers are finite", |f| f.is_finite())
                .prop_map(Value::from),
            (-5i64..5).prop_map(|i| Value::from(i as f64)),
            (-5i64..5).prop_map(Value::from),
            // Integers beyond 2^53 and the floats around them.
            (0u64..4).prop_map(|d| Value::from((1u64 << 53) + d)),
            (0i64..4).prop_map(|d| Value::from(-(1i64 << 53) - d)),
            (0u64..4).prop_map(|d| Value::from(((1u64 << 53) + 2 * d) as f64)),
            (0u64..3000).prop_map(|d| Value::from(u64::MAX - d)),
            Just(Value::from(u64::MAX as f64)),
            Just(Value::from(i64::MIN as f64)),
            Just(Value::from(-0.0)),
            "[a\u{0}\u{1}é]{0,3}".prop_map(Value::from),
        ]
    }

    #[test]
    fn parse_doc_reads_what_serde_json_reads() {
        let cases: [&[u8]; 5] = [
            br#"{}"#,
            br#"{"name":"a","z":1,"b":[1,{"c":null}],"d":{"e":"\u00e9"}}"#,
            // A duplicate key keeps its first position and its last value, as serde_json.
            br#"{"a":1,"b":2,"a":3}"#,
            br#" {"n": -0.5e3, "big": 18446744073709551615} "#,
            br#"{"k0":0,"k1":1,"k2":2,"k3":3,"k4":4,"k5":5,"k6":6,"k7":7,"k8":8,"k9":9,"ka":10}"#,
        ];
        for bytes in cases {
            let expected: Doc = serde_json::from_slice(bytes).unwrap();
            let parsed = parse_doc("T", "n", bytes).unwrap();
            assert_eq!(parsed, expected);
            let keys = |d: &Doc| d.keys().cloned().collect::<Vec<_>>();
            assert_eq!(keys(&parsed), keys(&expected), "field order");
        }
    }

    #[test]
    fn parse_doc_names_what_it_cannot_read() {
        for bytes in [&b"[1]"[..], b"null", b"{\"a\":1} x", b"{\"a\":", b"\xff"] {
            let error = parse_doc("Task", "t-1", bytes).unwrap_err();
            assert_eq!(unreadable_doc(&error), Some(("Task", "t-1")), "{bytes:?}");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        #[test]
        fn the_index_form_orders_and_equates_as_queries_do(a in scalar(), b in scalar()) {
            let (x, y) = (IndexKey::of(&a), IndexKey::of(&b));
            prop_assert_eq!(x.cmp(&y), compare(&a, &b), "{} vs {}", a, b);
            prop_assert_eq!(x == y, values_equal(&a, &b), "{} vs {}", a, b);
            prop_assert_eq!(IndexKey::length_in(&[x.0.as_slice(), b"name"].concat()), Some(x.0.len()));
        }
    }

    #[test]
    fn arrays_and_objects_share_one_form_after_every_scalar() {
        let complex = IndexKey::of(&json!([1]));
        assert!(complex.is_complex());
        assert_eq!(complex, IndexKey::of(&json!({"a": 1})));
        assert!(IndexKey::of(&json!("\u{10FFFF}")) < complex);
        assert!(IndexKey::of(&Value::Null) < IndexKey::of(&json!(false)));
        assert_eq!(index_value(&json!(null)), None);
        assert_eq!(index_value(&json!([])), None);
    }

    #[test]
    fn a_range_covers_whole_values_and_no_more() {
        let name_after = |key: &IndexKey| index_entry("T", "f", key, "\u{10FFFF}zz");
        let one = IndexKey::of(&json!("a"));
        let (start, end) = KeyRange::exactly(one.clone()).bytes("T", "f").unwrap();
        assert!(start <= index_entry("T", "f", &one, ""));
        assert!(name_after(&one) < end);
        assert!(end <= index_entry("T", "f", &IndexKey::of(&json!("a\u{0}")), ""));
        let empty = KeyRange {
            lower: Bound::Excluded(one.clone()),
            upper: Bound::Excluded(one),
        };
        assert_eq!(empty.bytes("T", "f"), None);
    }
}
