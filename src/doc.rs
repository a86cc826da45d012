//! A document: a JSON object, as the store keeps it and every rule reads it.
//!
//! Documents carry no type of their own: the `doctype` field names their schema, and what a
//! field means is the schema's to say. This module owns only the shape and the one reading
//! rule every consumer shares: a missing field reads as null.

use serde_json::{Map, Value};

/// A document: a JSON object.
pub(crate) type Doc = Map<String, Value>;

/// What a missing field reads as.
static NULL: Value = Value::Null;

/// A top-level field of `doc`; a missing field reads as null.
pub(crate) fn field_of<'a>(doc: &'a Doc, field: &str) -> &'a Value {
    doc.get(field).unwrap_or(&NULL)
}
