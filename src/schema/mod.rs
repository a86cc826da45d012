//! Schemas: Frappe-style doctype definitions stored as documents of doctype `Schema`.
//!
//! `Schema`, `DocField` and `DocPerm` are themselves schemas, seeded in every store, so a
//! schema document is validated like any other document. This module parses schema
//! documents into [`Schema`], caches them, validates documents against them
//! ([`validate`]) and names new documents ([`naming`]). It never writes documents itself:
//! the operations do, in their run's transaction.

mod fetch;
mod fieldtype;
pub(crate) mod formats;
pub(crate) mod frappe;
mod meta;
pub(crate) mod naming;
pub(crate) mod validate;

use crate::doc::Doc;
use crate::error::{Error, Result};
use serde_json::Value;

/// The doctype of schema documents.
pub(crate) const SCHEMA: &str = "Schema";

/// The schemas every store starts with (Frappe DocType JSON).
const SEEDS: &str = include_str!("seeds.json");

/// Names of the seeded schemas, which cannot be changed or deleted.
pub(crate) const SEEDED: [&str; 11] = [
    "Schema",
    "DocField",
    "DocPerm",
    "Operation",
    "Pack",
    "Workflow Template",
    "User",
    "Role",
    "System Settings",
    "Legal Hold",
    "Audit Trail",
];

/// Fields every document may carry whatever its schema: Frappe's standard fields and the
/// engine's meta fields.
pub(crate) const STANDARD_FIELDS: [&str; 15] = [
    "name",
    "doctype",
    "idx",
    "docstatus",
    "parent",
    "parentfield",
    "parenttype",
    "modified_by",
    "owner",
    "creation",
    "modified",
    "modifiedBy",
    "createdByRun",
    "modifiedByRun",
    "createdByTemplate",
];

/// What values a fieldtype holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A string, at most this many characters (`None`: no limit).
    Text(Option<usize>),
    Int,
    Float,
    Check,
    Date,
    Datetime,
    Time,
    /// Any JSON value.
    Json,
    Link,
    DynamicLink,
    Select,
    /// Child rows of the doctype in `options`.
    Table,
    /// Layout only (Section Break, Column Break, ...): holds no value.
    Layout,
}

/// Frappe's varchar length for short strings.
const VARCHAR: usize = 140;

/// The kind of a Frappe fieldtype, or `None` for an unknown fieldtype.
pub(crate) fn kind_of(fieldtype: &str) -> Option<Kind> {
    Some(match fieldtype {
        // Frappe's varchar columns; its `text` and `longtext` ones are not checked for length.
        "Data" | "Password" | "Phone" | "Autocomplete" | "Color" | "Read Only" | "Icon" => {
            Kind::Text(Some(VARCHAR))
        }
        "Attach" | "Attach Image" | "Small Text" | "Text" | "Long Text" | "Code"
        | "Text Editor" | "Markdown Editor" | "HTML Editor" | "Signature" | "Geolocation"
        | "Barcode" => Kind::Text(None),
        "Int" => Kind::Int,
        "Float" | "Currency" | "Percent" | "Duration" | "Rating" => Kind::Float,
        "Check" => Kind::Check,
        "Date" => Kind::Date,
        "Datetime" => Kind::Datetime,
        "Time" => Kind::Time,
        "JSON" => Kind::Json,
        "Link" => Kind::Link,
        "Dynamic Link" => Kind::DynamicLink,
        "Select" => Kind::Select,
        "Table" | "Table MultiSelect" => Kind::Table,
        "Section Break" | "Column Break" | "Tab Break" | "HTML" | "Heading" | "Button" | "Fold"
        | "Image" => Kind::Layout,
        _ => return None,
    })
}

/// One field of a schema.
#[derive(Debug, Clone)]
pub(crate) struct Field {
    pub fieldname: String,
    pub fieldtype: String,
    pub kind: Kind,
    pub reqd: bool,
    pub unique: bool,
    pub options: Option<String>,
    pub default: Option<Value>,
    pub in_list_view: bool,
    pub search_index: bool,
    pub read_only: bool,
    pub set_only_once: bool,
    pub non_negative: bool,
    pub length: Option<usize>,
    /// `link_field.source_field`: filled from the linked document (see `fetch`).
    pub fetch_from: Option<String>,
    /// Fetch only into an empty field.
    pub fetch_if_empty: bool,
}

impl Field {
    /// The options of a Select, one per line.
    pub(crate) fn select_options(&self) -> Vec<&str> {
        self.options.as_deref().unwrap_or("").split('\n').collect()
    }

    /// The most characters a string value may have.
    pub(crate) fn max_len(&self) -> Option<usize> {
        match (self.length, self.kind) {
            (Some(n), _) if n > 0 => Some(n),
            (_, Kind::Text(max)) => max,
            (_, Kind::Link | Kind::DynamicLink | Kind::Select) => Some(VARCHAR),
            _ => None,
        }
    }
}

/// A parsed schema.
#[derive(Debug, Clone)]
pub(crate) struct Schema {
    pub name: String,
    pub fields: Vec<Field>,
    pub autoname: Option<String>,
    /// Accept fields the schema does not define (the `Schema` schema does, for Frappe keys).
    pub open: bool,
    /// The schema document as stored.
    pub doc: Doc,
}

/// A Frappe flag: `1`, `true` or `"1"`.
pub(crate) fn flag(value: Option<&Value>) -> bool {
    match value {
        Some(Value::Bool(b)) => *b,
        Some(Value::Number(n)) => n.as_f64().is_some_and(|f| f != 0.0),
        Some(Value::String(s)) => s == "1",
        _ => false,
    }
}

/// A field's default as the field holds it: Frappe files write `"default": 0` on an Int and
/// `"default": "1"` on a Check alike. Numbers and booleans become numbers in numeric fields
/// (a Check's 0 or 1) and their text in the others; strings are converted when applied.
fn typed_default(kind: Kind, default: &Value) -> Option<Value> {
    match (kind, default) {
        (_, Value::Null) => None,
        (_, Value::String(_)) | (Kind::Json, _) => Some(default.clone()),
        (Kind::Check, other) => Some(Value::from(u8::from(flag(Some(other))))),
        (Kind::Int | Kind::Float, Value::Bool(b)) => Some(Value::from(u8::from(*b))),
        (Kind::Int, Value::Number(n)) if n.as_f64().is_some_and(|f| f.fract() == 0.0) => {
            Some(Value::from(n.as_f64().unwrap_or_default() as i64))
        }
        (_, Value::Bool(b)) => Some(Value::String(u8::from(*b).to_string())),
        (Kind::Int | Kind::Float, Value::Number(_)) => Some(default.clone()),
        (_, Value::Number(n)) => Some(Value::String(n.to_string())),
        (_, other) => Some(other.clone()),
    }
}

fn text(value: Option<&Value>) -> Option<String> {
    value
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

impl Schema {
    /// Parse a schema document (already validated against the `Schema` schema).
    ///
    /// Rows declaring a standard field (`parent`, `idx`, ... as Frappe's child tables do)
    /// are kept in the document but not parsed: the standard field's own rules apply. In
    /// the seeded `User`, which a Frappe file may extend, `enabled` and `roles` keep the
    /// seed's definition whatever the file declared: access control relies on them.
    pub(crate) fn from_doc(doc: &Doc) -> Result<Schema> {
        let name =
            text(doc.get("name")).ok_or_else(|| Error::internal("a stored schema has no name"))?;
        let protected = frappe::protected_fields(&name);
        let seed = (!protected.is_empty())
            .then(|| seeds().into_iter().find(|s| s["name"] == name.as_str()))
            .flatten();
        let seed_rows = seed
            .as_ref()
            .and_then(|s| s.get("fields"))
            .and_then(Value::as_array);
        let seed_row = |fieldname: &str| {
            seed_rows
                .into_iter()
                .flatten()
                .filter(|_| protected.contains(&fieldname))
                .find(|r| r["fieldname"] == fieldname)
        };
        let rows = doc.get("fields").and_then(Value::as_array);
        let mut fields = Vec::new();
        for row in rows.into_iter().flatten().filter_map(Value::as_object) {
            let Some(fieldname) = text(row.get("fieldname")) else {
                continue;
            };
            if STANDARD_FIELDS.contains(&fieldname.as_str()) && fieldname != "owner" {
                continue;
            }
            let row = seed_row(&fieldname)
                .and_then(Value::as_object)
                .unwrap_or(row);
            let fieldtype = text(row.get("fieldtype")).unwrap_or_else(|| "Data".into());
            let Some(kind) = kind_of(&fieldtype) else {
                continue;
            };
            fields.push(Field {
                fieldname,
                kind,
                reqd: flag(row.get("reqd")),
                unique: flag(row.get("unique")),
                options: text(row.get("options")),
                default: row.get("default").and_then(|d| typed_default(kind, d)),
                in_list_view: flag(row.get("in_list_view")),
                search_index: flag(row.get("search_index")),
                read_only: flag(row.get("read_only")),
                set_only_once: flag(row.get("set_only_once")),
                non_negative: flag(row.get("non_negative")),
                length: row
                    .get("length")
                    .and_then(Value::as_u64)
                    .map(|n| n as usize),
                fetch_from: text(row.get("fetch_from")),
                fetch_if_empty: flag(row.get("fetch_if_empty")),
                fieldtype,
            });
        }
        Ok(Schema {
            name,
            fields,
            autoname: text(doc.get("autoname")),
            open: flag(doc.get("allow_unknown_fields")),
            doc: doc.clone(),
        })
    }

    /// The field named `fieldname`, if the schema defines it.
    pub(crate) fn field(&self, fieldname: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.fieldname == fieldname)
    }

    /// Fields with a secondary index (`unique` or `search_index`).
    pub(crate) fn indexed_fields(&self) -> Vec<String> {
        self.fields
            .iter()
            .filter(|f| {
                (f.unique || f.search_index) && !matches!(f.kind, Kind::Layout | Kind::Table)
            })
            .map(|f| f.fieldname.clone())
            .collect()
    }

    /// `name`, `doctype` and the `in_list_view` fields: the list view.
    pub(crate) fn list_view_fields(&self) -> Vec<String> {
        let mut fields = vec!["name".to_string(), "doctype".to_string()];
        fields.extend(
            self.fields
                .iter()
                .filter(|f| f.in_list_view)
                .map(|f| f.fieldname.clone()),
        );
        fields
    }
}

/// The seeded schema documents.
pub(crate) fn seeds() -> Vec<Doc> {
    let docs: Vec<Doc> = serde_json::from_str(SEEDS).expect("seeds.json is valid JSON");
    docs.into_iter()
        .map(|mut doc| {
            doc.insert("doctype".into(), Value::String(SCHEMA.into()));
            doc
        })
        .collect()
}

/// Order schema documents for import: a document after the child tables and Link targets
/// it names from the same batch (cycles of Links keep their given order).
pub(crate) fn import_order(docs: Vec<Value>) -> Vec<Value> {
    let name_of = |doc: &Value| doc.get("name").and_then(Value::as_str).map(str::to_string);
    let names: Vec<Option<String>> = docs.iter().map(name_of).collect();
    // For each document, the batch members it names: (index, through a Table field).
    let needs: Vec<Vec<(usize, bool)>> = docs
        .iter()
        .enumerate()
        .map(|(i, doc)| {
            let rows = doc.get("fields").and_then(Value::as_array);
            rows.into_iter()
                .flatten()
                .filter_map(|row| {
                    let kind = row
                        .get("fieldtype")
                        .and_then(Value::as_str)
                        .and_then(kind_of);
                    let target = row.get("options").and_then(Value::as_str)?;
                    let j = names.iter().position(|n| n.as_deref() == Some(target))?;
                    match kind {
                        Some(Kind::Table) if j != i => Some((j, true)),
                        Some(Kind::Link) if j != i => Some((j, false)),
                        _ => None,
                    }
                })
                .collect()
        })
        .collect();
    let mut placed = vec![false; docs.len()];
    let mut order = Vec::with_capacity(docs.len());
    while order.len() < docs.len() {
        let ready = |tables_only: bool| {
            (0..docs.len()).find(|&i| {
                !placed[i]
                    && needs[i]
                        .iter()
                        .all(|&(j, table)| placed[j] || (tables_only && !table))
            })
        };
        // Links may form cycles (A links B, B links A): break them, never a Table edge.
        let next = ready(false)
            .or_else(|| ready(true))
            .or_else(|| (0..docs.len()).find(|&i| !placed[i]))
            .expect("an unplaced document remains");
        placed[next] = true;
        order.push(next);
    }
    let mut slots: Vec<Option<Value>> = docs.into_iter().map(Some).collect();
    order.into_iter().filter_map(|i| slots[i].take()).collect()
}

/// The closest known name to `unknown`, if one is close enough to suggest.
pub(crate) fn suggest<'a>(
    unknown: &str,
    known: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    const SYNONYMS: [(&str, &str); 8] = [
        ("required", "reqd"),
        ("mandatory", "reqd"),
        ("type", "fieldtype"),
        ("field_type", "fieldtype"),
        ("name", "fieldname"),
        ("field_name", "fieldname"),
        ("index", "search_index"),
        ("readonly", "read_only"),
    ];
    // A long value is no typo of a name (and measuring its distance would cost its length
    // times every candidate's).
    if unknown.len() > 256 {
        return None;
    }
    let known: Vec<&str> = known.into_iter().collect();
    let lower = unknown.to_lowercase();
    if let Some((_, target)) = SYNONYMS.iter().find(|(s, _)| *s == lower)
        && let Some(found) = known.iter().find(|k| *k == target)
    {
        return Some(found);
    }
    known
        .iter()
        .map(|k| (edit_distance(&lower, &k.to_lowercase()), *k))
        .filter(|(d, k)| *d <= 2.max(k.len() / 4))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous + usize::from(ca != *cb);
            previous = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(previous + 1);
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_parse_and_define_every_docfield_property_they_use() {
        let seeds = seeds();
        assert_eq!(seeds.len(), SEEDED.len());
        let docfield = Schema::from_doc(&seeds[1]).unwrap();
        for seed in &seeds {
            for row in seed["fields"].as_array().unwrap() {
                for key in row.as_object().unwrap().keys() {
                    assert!(docfield.field(key).is_some(), "DocField lacks `{key}`");
                }
                assert!(kind_of(row["fieldtype"].as_str().unwrap()).is_some());
            }
        }
    }

    #[test]
    fn import_order_puts_children_and_link_targets_first() {
        let docs = vec![
            serde_json::json!({"name": "Order", "fields": [
                {"fieldname": "items", "fieldtype": "Table", "options": "Order Item"},
                {"fieldname": "customer", "fieldtype": "Link", "options": "Customer"}]}),
            serde_json::json!({"name": "Order Item", "istable": 1, "fields": [
                {"fieldname": "order", "fieldtype": "Link", "options": "Order"}]}),
            serde_json::json!({"name": "Customer", "fields": []}),
        ];
        let names: Vec<String> = import_order(docs)
            .iter()
            .map(|d| d["name"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(names, ["Customer", "Order Item", "Order"].map(String::from));
    }

    #[test]
    fn suggestions_catch_typos_and_synonyms() {
        let known = ["reqd", "fieldtype", "fieldname", "options", "unique"];
        assert_eq!(suggest("required", known), Some("reqd"));
        assert_eq!(suggest("optons", known), Some("options"));
        assert_eq!(suggest("uniq", known), Some("unique"));
        assert_eq!(suggest("colour", known), None);
    }
}
