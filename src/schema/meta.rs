//! Meta-validation: what makes a schema document usable beyond the field types its
//! `Schema` and `DocField` schemas check. Fieldnames are unique, Link and Table targets
//! exist (in the store or the same batch), a key that is a near-miss of a known Frappe key
//! is refused, standard fields are declared only as what they are, an extension of a seeded
//! schema keeps the seed's fields. It reads the store, never writes it.

use super::frappe::{self, KeySet, agrees_with_seed, agrees_with_standard, near_miss};
use super::validate::{Checker, Mode, join, push};
use super::{Kind, SCHEMA, SEEDED, Schema, flag, kind_of};
use crate::doc::Doc;
use crate::error::{FieldError, Result};
use crate::value::echo_str;
use serde_json::Value;
use std::collections::HashSet;

/// The fieldnames `schema` defines (the known keys of its documents).
fn defined(schema: Option<&Schema>) -> Vec<&str> {
    schema
        .map(|s| s.fields.iter().map(|f| f.fieldname.as_str()).collect())
        .unwrap_or_default()
}

impl Checker<'_> {
    /// What makes a schema document usable beyond its field types.
    pub(super) fn check_schema_doc(
        &self,
        doc: &Doc,
        mode: Mode<'_>,
        prefix: &str,
        errors: &mut Vec<FieldError>,
    ) -> Result<()> {
        let mut found = Vec::new();
        self.check_schema_keys(doc, &mut found)?;
        self.check_schema_fields(doc, mode, &mut found)?;
        errors.extend(found.into_iter().map(|mut e| {
            e.path = join(prefix, &e.path);
            e
        }));
        Ok(())
    }

    /// Unknown keys are kept; near-misses of known ones are refused (see
    /// [`frappe::near_miss`]), on the document and on each of its fields.
    fn check_schema_keys(&self, doc: &Doc, errors: &mut Vec<FieldError>) -> Result<()> {
        let schema = (self.schema_of)(SCHEMA)?;
        let docfield = (self.schema_of)("DocField")?;
        let (doc_keys, field_keys) = (defined(schema.as_deref()), defined(docfield.as_deref()));
        for key in doc.keys() {
            if let Some(meant) = near_miss(key, KeySet::DocType, &doc_keys) {
                push(
                    errors,
                    echo_str(key),
                    "unknown",
                    format!(
                        "`{}` is not a DocType key (did you mean `{meant}`?)",
                        echo_str(key)
                    ),
                );
            }
        }
        let rows = doc.get("fields").and_then(Value::as_array);
        for (i, row) in rows.into_iter().flatten().enumerate() {
            let Some(row) = row.as_object() else { continue };
            for key in row.keys() {
                if let Some(meant) = near_miss(key, KeySet::DocField, &field_keys) {
                    push(
                        errors,
                        format!("fields[{i}].{}", echo_str(key)),
                        "unknown",
                        format!(
                            "`{}` is not a DocField property (did you mean `{meant}`?)",
                            echo_str(key)
                        ),
                    );
                }
            }
            if row
                .get("default")
                .is_some_and(|d| d.is_object() || d.is_array())
            {
                push(
                    errors,
                    format!("fields[{i}].default"),
                    "type",
                    "`default` must be a string, number or boolean".into(),
                );
            }
        }
        Ok(())
    }

    fn check_schema_fields(
        &self,
        doc: &Doc,
        mode: Mode<'_>,
        errors: &mut Vec<FieldError>,
    ) -> Result<()> {
        let name = doc.get("name").and_then(Value::as_str).unwrap_or_default();
        if SEEDED.contains(&name) && matches!(mode, Mode::Update(_)) {
            push(
                errors,
                "name".into(),
                "immutable",
                format!("the seeded schema `{name}` cannot be changed"),
            );
        }
        // A Frappe file extending a seeded schema (Role, User): the fields access control
        // relies on keep their meaning, so the file may declare them only as what they are.
        let protected = frappe::protected_fields(name);
        let seed = (frappe::EXTENDABLE.contains(&name) && matches!(mode, Mode::Create))
            .then(|| {
                super::seeds()
                    .into_iter()
                    .find(|s| s.get("name").and_then(Value::as_str) == Some(name))
            })
            .flatten();
        let seed = seed.as_ref().map(Schema::from_doc).transpose()?;
        let rows = doc
            .get("fields")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let mut seen = HashSet::new();
        let mut fieldnames = HashSet::new();
        for (i, row) in rows.iter().enumerate() {
            let path = |key: &str| format!("fields[{i}].{key}");
            let fieldtype = row
                .get("fieldtype")
                .and_then(Value::as_str)
                .unwrap_or("Data");
            let kind = kind_of(fieldtype);
            let fieldname = row
                .get("fieldname")
                .and_then(Value::as_str)
                .unwrap_or_default();
            if fieldname.is_empty() {
                if kind != Some(Kind::Layout) {
                    push(
                        errors,
                        path("fieldname"),
                        "reqd",
                        format!("field {i} ({fieldtype}) needs a `fieldname`"),
                    );
                }
            } else {
                fieldnames.insert(fieldname.to_string());
                if !seen.insert(fieldname) {
                    push(
                        errors,
                        path("fieldname"),
                        "unique",
                        format!("`{fieldname}` is defined twice"),
                    );
                }
                if fieldname != "owner" && agrees_with_standard(fieldname, fieldtype) == Some(false)
                {
                    push(
                        errors,
                        path("fieldtype"),
                        "reserved",
                        format!(
                            "`{fieldname}` is a standard field: it can be declared only as what it is, not as {fieldtype}"
                        ),
                    );
                }
                if let Some(kept) = seed.as_ref().and_then(|s| s.field(fieldname))
                    && protected.contains(&fieldname)
                    && !agrees_with_seed(&kept.fieldtype, fieldtype)
                {
                    push(
                        errors,
                        path("fieldtype"),
                        "immutable",
                        format!(
                            "`{fieldname}` of the seeded schema `{name}` is {}, and access control relies on it: it cannot be declared as {fieldtype}",
                            kept.fieldtype
                        ),
                    );
                }
            }
            let options = row
                .get("options")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let needs_options = matches!(
                kind,
                Some(Kind::Link | Kind::Select | Kind::Table | Kind::DynamicLink)
            );
            if needs_options && options.trim().is_empty() {
                let what = match kind {
                    Some(Kind::Link) => "the doctype it links to",
                    Some(Kind::Table) => "the child doctype",
                    Some(Kind::DynamicLink) => "the field that holds the doctype",
                    _ => "its choices, one per line",
                };
                push(
                    errors,
                    path("options"),
                    "options",
                    format!("`{fieldname}` ({fieldtype}) needs `options`: {what}"),
                );
                continue;
            }
            // A Link to `DocType` names a schema: its target is `Schema`.
            let options = frappe::canonical_doctype(options);
            if matches!(kind, Some(Kind::Link | Kind::Table)) && options != name {
                self.check_target(kind, fieldname, options, &path("options"), errors)?;
            }
        }
        if let Some(autoname) = doc
            .get("autoname")
            .and_then(Value::as_str)
            .filter(|a| !a.is_empty())
            && let Some(problem) = super::naming::check_rule(autoname, &fieldnames)
        {
            push(errors, "autoname".into(), "autoname", problem);
        }
        Ok(())
    }

    /// The doctype a Link or Table field names exists (a Table's is a child table).
    /// Earlier members of an import batch are already visible here; later ones are only
    /// names (their own validation checks them).
    fn check_target(
        &self,
        kind: Option<Kind>,
        fieldname: &str,
        options: &str,
        path: &str,
        errors: &mut Vec<FieldError>,
    ) -> Result<()> {
        let not_child = || {
            format!("`{fieldname}` is a Table of `{options}`, which is not a child table (istable)")
        };
        match (self.schema_of)(options)? {
            None if kind == Some(Kind::Table) && self.batch.get(options) == Some(&false) => {
                push(errors, path.into(), "link", not_child())
            }
            None if self.batch.contains_key(options) => {}
            None => push(
                errors,
                path.into(),
                "link",
                format!(
                    "`{fieldname}` refers to doctype `{options}`, which has no schema (import it first, or in the same batch)"
                ),
            ),
            Some(target) if kind == Some(Kind::Table) && !flag(target.doc.get("istable")) => {
                push(errors, path.into(), "link", not_child())
            }
            _ => {}
        }
        Ok(())
    }
}
