//! Document validation against a schema: every violation of a request is collected, none
//! is reported alone. Validation also normalizes what Frappe normalizes (Check booleans to
//! 0/1, integral floats in Int fields) and applies defaults on create. It reads the store
//! (Link targets, unique values) but never writes it.
//!
//! This file holds the document-level checks (unknown keys, required, set-only-once and
//! read-only fields, unique values, child rows, defaults); each value is checked against its
//! fieldtype in `fieldtype`.

use super::{Field, Kind, SCHEMA, STANDARD_FIELDS, Schema, flag, formats, naming, suggest};
use crate::doc::Doc;
use crate::error::{FieldError, Result};
use crate::query::values_equal;
use crate::store::View;
use crate::value::{echo, echo_str};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;

/// What validation needs from around it.
pub(crate) struct Checker<'a> {
    pub view: &'a dyn View,
    pub schema_of: &'a dyn Fn(&str) -> Result<Option<Arc<Schema>>>,
    /// Schemas saved by the same request (they may link to each other): name → istable.
    pub batch: &'a HashMap<String, bool>,
}

/// Create or update (with the document as it was).
#[derive(Clone, Copy)]
pub(crate) enum Mode<'a> {
    Create,
    Update(&'a Doc),
}

pub(super) fn push(errors: &mut Vec<FieldError>, path: String, rule: &str, message: String) {
    errors.push(FieldError {
        path,
        rule: rule.to_string(),
        message,
    });
}

fn is_missing(value: Option<&Value>) -> bool {
    match value {
        None | Some(Value::Null) => true,
        Some(Value::String(s)) => s.is_empty(),
        Some(Value::Array(a)) => a.is_empty(),
        _ => false,
    }
}

pub(super) fn join(prefix: &str, field: &str) -> String {
    if prefix.is_empty() {
        field.to_string()
    } else {
        format!("{prefix}.{field}")
    }
}

impl Checker<'_> {
    /// Apply the schema's defaults to fields that have no value (create only).
    pub(crate) fn apply_defaults(&self, schema: &Schema, doc: &mut Doc) -> Result<()> {
        for field in &schema.fields {
            // Frappe fills only what has no value at all: an explicit `""` stays.
            let absent = doc.get(&field.fieldname).is_none_or(Value::is_null);
            if let Some(default) = &field.default
                && absent
                && field.kind != Kind::Table
            {
                doc.insert(field.fieldname.clone(), self.default_value(field, default));
            } else if field.kind == Kind::Select
                && field.default.is_none()
                && absent
                && let Some(first) = field.select_options().first().filter(|o| !o.is_empty())
            {
                // Frappe's `new_doc`: a Select without a default starts at its first option.
                doc.insert(field.fieldname.clone(), json!(first));
            }
            if field.kind == Kind::Table
                && let (Some(Value::Array(rows)), Some(child)) = (
                    doc.get_mut(&field.fieldname),
                    field
                        .options
                        .as_deref()
                        .map(self.schema_of)
                        .transpose()?
                        .flatten(),
                )
            {
                for row in rows.iter_mut().filter_map(Value::as_object_mut) {
                    self.apply_defaults(&child, row)?;
                }
            }
        }
        Ok(())
    }

    fn default_value(&self, field: &Field, default: &Value) -> Value {
        let text = match default {
            Value::String(s) => s.as_str(),
            other => return other.clone(),
        };
        match field.kind {
            Kind::Check => json!(u8::from(flag(Some(default)))),
            Kind::Int => text
                .trim()
                .parse::<i64>()
                .map_or(default.clone(), |n| json!(n)),
            Kind::Float => text
                .trim()
                .parse::<f64>()
                .map_or(default.clone(), |n| json!(n)),
            Kind::Date if text.eq_ignore_ascii_case("today") => json!(utc_now().date().to_string()),
            Kind::Datetime if text.eq_ignore_ascii_case("now") => {
                json!(
                    utc_now()
                        .datetime()
                        .strftime("%Y-%m-%d %H:%M:%S")
                        .to_string()
                )
            }
            _ => default.clone(),
        }
    }

    /// Validate (and normalize) `doc` of `schema`; violations go to `errors`, storage
    /// failures are returned.
    pub(crate) fn validate(
        &self,
        schema: &Schema,
        doc: &mut Doc,
        mode: Mode<'_>,
        prefix: &str,
        errors: &mut Vec<FieldError>,
    ) -> Result<()> {
        if !schema.open {
            for key in doc.keys() {
                let known = STANDARD_FIELDS.contains(&key.as_str())
                    || schema.field(key).is_some_and(|f| f.kind != Kind::Layout);
                if !known {
                    let hint = suggest(key, schema.fields.iter().map(|f| f.fieldname.as_str()))
                        .map(|s| format!(" (did you mean `{s}`?)"))
                        .unwrap_or_default();
                    push(
                        errors,
                        join(prefix, &echo_str(key)),
                        "unknown",
                        format!(
                            "`{}` is not a field of {}{hint}",
                            echo_str(key),
                            schema.name
                        ),
                    );
                }
            }
        }
        let own_name = doc.get("name").and_then(Value::as_str).map(str::to_string);
        let fetched = self.fetch_linked(schema, doc, mode)?;
        // `field:x` names a new document by `x`, trimmed: `x` is required even without `reqd`.
        let names_by = match mode {
            Mode::Create => naming::name_field(schema.autoname.as_deref()),
            Mode::Update(_) => None,
        };
        if let Some(Value::String(text)) = names_by.and_then(|f| doc.get_mut(f))
            && text.trim().len() != text.len()
        {
            *text = text.trim().to_string();
        }
        for field in schema.fields.iter().filter(|f| f.kind != Kind::Layout) {
            let path = join(prefix, &field.fieldname);
            let missing = is_missing(doc.get(&field.fieldname));
            let names_doc = names_by == Some(field.fieldname.as_str());
            if (field.reqd || names_doc)
                && (missing || formats::is_blank(field, doc.get(&field.fieldname)))
            {
                let why = if names_doc && !field.reqd {
                    format!(
                        " (it names the document: autoname `field:{}`)",
                        field.fieldname
                    )
                } else {
                    String::new()
                };
                push(
                    errors,
                    path.clone(),
                    "reqd",
                    format!("`{}` is required{why}", field.fieldname),
                );
            }
            if missing {
                // Clearing a value is a change too.
                if let Mode::Update(before) = mode
                    && !is_missing(before.get(&field.fieldname))
                {
                    if field.set_only_once {
                        push(
                            errors,
                            path.clone(),
                            "set_only_once",
                            format!("`{}` can be set only once", field.fieldname),
                        );
                    }
                    if field.read_only {
                        push(
                            errors,
                            path,
                            "read_only",
                            format!("`{}` is read-only", field.fieldname),
                        );
                    }
                }
                continue;
            }
            let old = match mode {
                Mode::Update(before) => before.get(&field.fieldname),
                Mode::Create => None,
            };
            let value = doc
                .get_mut(&field.fieldname)
                .expect("present: checked above");
            self.check_value(schema, field, value, old, &path, errors)?;
            if let Kind::Table = field.kind {
                self.check_rows(field, value, &path, mode, errors)?;
            }
            let value = doc.get(&field.fieldname).expect("present: checked above");
            if field.unique {
                self.check_unique(
                    schema,
                    field,
                    value,
                    own_name.as_deref(),
                    mode,
                    &path,
                    errors,
                )?;
            }
            if let Mode::Update(before) = mode {
                let old = before.get(&field.fieldname);
                let changed = !old.is_some_and(|old| values_equal(old, value));
                // A value fetched from a changed link is the engine's change, not the caller's.
                let changed = changed && !fetched.contains(&field.fieldname);
                if changed && field.set_only_once && !is_missing(old) {
                    push(
                        errors,
                        path.clone(),
                        "set_only_once",
                        format!("`{}` can be set only once", field.fieldname),
                    );
                }
                if changed && field.read_only {
                    push(
                        errors,
                        path,
                        "read_only",
                        format!("`{}` is read-only", field.fieldname),
                    );
                }
            }
        }
        if schema.name == SCHEMA {
            self.check_schema_doc(doc, mode, prefix, errors)?;
        }
        Ok(())
    }

    /// The unique fields of `doc`, alone: what holds even when validation is skipped.
    pub(crate) fn validate_unique(
        &self,
        schema: &Schema,
        doc: &Doc,
        mode: Mode<'_>,
        prefix: &str,
        errors: &mut Vec<FieldError>,
    ) -> Result<()> {
        let own_name = doc.get("name").and_then(Value::as_str);
        for field in schema.fields.iter().filter(|f| f.unique) {
            if let Some(value) = doc.get(&field.fieldname).filter(|v| !is_missing(Some(v))) {
                let path = join(prefix, &field.fieldname);
                if crate::store::index_value(value).is_none() {
                    // Not indexable, so uniqueness could not be kept: refused even unvalidated.
                    push(
                        errors,
                        path,
                        "unique",
                        format!(
                            "`{}` is unique: its value must be a string, number or boolean",
                            field.fieldname
                        ),
                    );
                    continue;
                }
                self.check_unique(schema, field, value, own_name, mode, &path, errors)?;
            }
        }
        Ok(())
    }

    /// No other document of the doctype holds `value` in the unique `field`. An update that
    /// leaves the value as it was never fails on it: duplicates stored before the field was
    /// unique (or by an earlier version) must not lock their owners out.
    #[allow(
        clippy::too_many_arguments,
        reason = "the field's parts, each borrowed separately"
    )]
    fn check_unique(
        &self,
        schema: &Schema,
        field: &Field,
        value: &Value,
        own_name: Option<&str>,
        mode: Mode<'_>,
        path: &str,
        errors: &mut Vec<FieldError>,
    ) -> Result<()> {
        if let Mode::Update(before) = mode
            && before
                .get(&field.fieldname)
                .is_some_and(|old| values_equal(old, value))
        {
            return Ok(());
        }
        let others = self
            .view
            .index_lookup(&schema.name, &field.fieldname, value)?;
        if others.iter().any(|n| Some(n.as_str()) != own_name) {
            // The message names the value, never the other document: a user who may not
            // read it learns only that the value is taken (see README, Security).
            push(
                errors,
                path.to_string(),
                "unique",
                format!(
                    "{} with `{}` = {} already exists",
                    schema.name,
                    field.fieldname,
                    echo(value)
                ),
            );
        }
        Ok(())
    }

    fn check_rows(
        &self,
        field: &Field,
        value: &mut Value,
        path: &str,
        mode: Mode<'_>,
        errors: &mut Vec<FieldError>,
    ) -> Result<()> {
        let Some(child) = field.options.as_deref() else {
            return Ok(());
        };
        let Some(schema) = (self.schema_of)(child)? else {
            push(
                errors,
                path.to_string(),
                "link",
                format!("child doctype `{child}` has no schema"),
            );
            return Ok(());
        };
        let Value::Array(rows) = value else {
            return Ok(());
        };
        // The rows as stored, by name: a row's Link left as it was is not checked again
        // (a dangling link stored before locks nobody out of its parent).
        let stored: HashMap<&str, &Doc> = match mode {
            Mode::Update(before) => before
                .get(&field.fieldname)
                .and_then(Value::as_array)
                .map(|rows| {
                    rows.iter()
                        .filter_map(Value::as_object)
                        .filter_map(|row| Some((row.get("name")?.as_str()?, row)))
                        .collect()
                })
                .unwrap_or_default(),
            Mode::Create => HashMap::new(),
        };
        for (i, row) in rows.iter_mut().enumerate() {
            if let Value::Object(row) = row {
                let row_path = format!("{path}[{i}]");
                let row_mode = match mode {
                    Mode::Update(_) => Mode::Create,
                    create => create,
                };
                let old_row = row
                    .get("name")
                    .and_then(Value::as_str)
                    .and_then(|name| stored.get(name).copied());
                let found = errors.len();
                self.validate(&schema, row, row_mode, &row_path, errors)?;
                if let Some(old_row) = old_row {
                    let kept_link = |e: &FieldError| {
                        e.rule == "link"
                            && schema.fields.iter().any(|f| {
                                f.kind == Kind::Link
                                    && e.path == join(&row_path, &f.fieldname)
                                    && old_row.get(&f.fieldname) == row.get(&f.fieldname)
                            })
                    };
                    let mut i = found;
                    while i < errors.len() {
                        if kept_link(&errors[i]) {
                            errors.remove(i);
                        } else {
                            i += 1;
                        }
                    }
                }
                self.check_dynamic_links(&schema, row, old_row, &row_path, errors)?;
            }
        }
        Ok(())
    }
}

/// The clock, read only for `Today` / `now` defaults (Frappe's formats, UTC).
fn utc_now() -> jiff::Zoned {
    jiff::Timestamp::now().to_zoned(jiff::tz::TimeZone::UTC)
}
