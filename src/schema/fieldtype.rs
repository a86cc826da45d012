//! One field's value against its fieldtype: the type, the normalization Frappe applies
//! (trimmed Select values, Check booleans to 0/1, integral floats in Int fields), length,
//! format, range, sign, Select options, and Link and Dynamic Link targets. Document-level
//! validation (`validate`) calls it per field; it reads the store (Link targets) but never
//! writes it.

use super::validate::{Checker, join, push};
use super::{Field, Kind, Schema, formats, suggest};
use crate::doc::Doc;
use crate::error::{FieldError, Result};
use crate::value::{echo, echo_str};
use serde_json::{Value, json};

impl Checker<'_> {
    /// Check (and normalize) one value; `old` is the value before an update. A Link that an
    /// update leaves as it was is not looked up again: a target that went away (an earlier
    /// version allowed it) must not lock the document's owner out.
    pub(super) fn check_value(
        &self,
        schema: &Schema,
        field: &Field,
        value: &mut Value,
        old: Option<&Value>,
        path: &str,
        errors: &mut Vec<FieldError>,
    ) -> Result<()> {
        let name = &field.fieldname;
        let type_error = |errors: &mut Vec<FieldError>, wanted: &str, value: &Value| {
            push(
                errors,
                path.to_string(),
                "type",
                format!(
                    "`{name}` ({}) must be {wanted}, got {}",
                    field.fieldtype,
                    echo(value)
                ),
            )
        };
        match field.kind {
            Kind::Text(_) | Kind::Link | Kind::DynamicLink | Kind::Select => {
                let Some(text) = value.as_str() else {
                    type_error(errors, "a string", value);
                    return Ok(());
                };
                if field.kind == Kind::Select && text.trim().len() != text.len() {
                    // Frappe trims Select values before matching them.
                    *value = json!(text.trim());
                }
                let text = value.as_str().expect("a string: checked above");
                if let Some(max) = field.max_len()
                    && text.chars().count() > max
                {
                    // Rejected, not truncated (Frappe's CharacterLengthExceededError).
                    push(
                        errors,
                        path.to_string(),
                        "length",
                        format!(
                            "`{name}` is longer than {max} characters ({} given)",
                            text.chars().count()
                        ),
                    );
                }
                if let Some(problem) = formats::data_format_problem(field, text) {
                    push(
                        errors,
                        path.to_string(),
                        "format",
                        format!("`{name}`: {problem}"),
                    );
                }
            }
            Kind::Int => {
                let integral = match value.as_f64() {
                    Some(f) if f.fract() == 0.0 && value.is_f64() && f.abs() < 9.2e18 => {
                        *value = json!(f as i64);
                        true
                    }
                    Some(f) if f.fract() == 0.0 || value.is_i64() || value.is_u64() => true,
                    _ => {
                        type_error(errors, "an integer", value);
                        false
                    }
                };
                // Frappe's int column, or bigint when the field's `length` is over 11.
                let max: i64 = if field.length.is_some_and(|l| l > 11) {
                    i64::MAX
                } else {
                    i32::MAX.into()
                };
                let within = value
                    .as_i64()
                    .is_some_and(|n| n.unsigned_abs() <= max.unsigned_abs());
                if integral && !within {
                    push(
                        errors,
                        path.to_string(),
                        "range",
                        format!(
                            "`{name}` ({}) must be between -{max} and {max}, got {}",
                            field.fieldtype,
                            echo(value)
                        ),
                    );
                }
            }
            Kind::Float if !value.is_number() => type_error(errors, "a number", value),
            Kind::Check => match value {
                Value::Bool(b) => *value = json!(u8::from(*b)),
                Value::Number(n) if n.as_f64() == Some(0.0) || n.as_f64() == Some(1.0) => {
                    *value = json!(u8::from(n.as_f64() == Some(1.0)))
                }
                _ => type_error(errors, "0, 1, true or false", value),
            },
            Kind::Date | Kind::Datetime | Kind::Time
                if !value.as_str().is_some_and(|s| match field.kind {
                    Kind::Date => formats::is_date(s),
                    Kind::Datetime => formats::is_datetime(s),
                    _ => formats::is_time(s),
                }) =>
            {
                let format = match field.kind {
                    Kind::Date => "a real date `YYYY-MM-DD`",
                    Kind::Datetime => "a real datetime `YYYY-MM-DD HH:MM:SS[.ffffff]`",
                    _ => "a time `HH:MM[:SS[.ffffff]]`",
                };
                push(
                    errors,
                    path.to_string(),
                    "format",
                    format!("`{name}` must be {format}, got {}", echo(value)),
                );
            }
            Kind::Table
                if !value
                    .as_array()
                    .is_some_and(|rows| rows.iter().all(Value::is_object)) =>
            {
                type_error(errors, "an array of rows (objects)", value)
            }
            _ => {}
        }
        if field.non_negative && value.as_f64().is_some_and(|f| f < 0.0) {
            push(
                errors,
                path.to_string(),
                "non_negative",
                format!("`{name}` must not be negative"),
            );
        }
        let Some(text) = value.as_str() else {
            return Ok(());
        };
        // Frappe never checks `naming_series` against its options, nor a Select whose
        // options are all empty.
        let free_select = field.fieldname == "naming_series"
            || text.is_empty()
            || field.select_options().iter().all(|o| o.is_empty());
        match field.kind {
            Kind::Select if !free_select && !field.select_options().contains(&text) => push(
                errors,
                path.to_string(),
                "options",
                format!(
                    "`{}` is not an option of `{name}`{} (options: {})",
                    echo_str(text),
                    suggest(text, field.select_options())
                        .map(|s| format!(" (did you mean `{s}`?)"))
                        .unwrap_or_default(),
                    field
                        .select_options()
                        .iter()
                        .filter(|o| !o.is_empty())
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ),
            Kind::Link => {
                let unchanged = old.is_some_and(|old| old.as_str() == Some(text));
                if let (Some(target), false) = (field.options.as_deref(), unchanged) {
                    self.check_link(target, text, path, errors)?;
                }
            }
            Kind::DynamicLink => {
                let _ = schema;
                // `options` names the field holding the target doctype; checked by the caller
                // who has the whole document (see `check_dynamic_links`).
            }
            _ => {}
        }
        Ok(())
    }

    fn check_link(
        &self,
        target: &str,
        name: &str,
        path: &str,
        errors: &mut Vec<FieldError>,
    ) -> Result<()> {
        // `DocType` (Frappe's doctype of schemas) names a schema.
        if self
            .view
            .get_doc(super::frappe::canonical_doctype(target), name)?
            .is_none()
        {
            push(
                errors,
                path.to_string(),
                "link",
                format!("{target} `{}` does not exist", echo_str(name)),
            );
        }
        Ok(())
    }

    /// Dynamic Links: the target doctype is the value of the field named in `options`.
    /// `before` is the document (or child row) as stored: a Dynamic Link whose name and
    /// doctype are both left as they were is not checked again, like a Link.
    pub(crate) fn check_dynamic_links(
        &self,
        schema: &Schema,
        doc: &Doc,
        before: Option<&Doc>,
        prefix: &str,
        errors: &mut Vec<FieldError>,
    ) -> Result<()> {
        for field in schema.fields.iter().filter(|f| f.kind == Kind::DynamicLink) {
            let (Some(name), Some(source)) = (
                doc.get(&field.fieldname)
                    .and_then(Value::as_str)
                    .filter(|s| !s.is_empty()),
                field.options.as_deref(),
            ) else {
                continue;
            };
            let kept = |key: &str| before.is_some_and(|old| old.get(key) == doc.get(key));
            if kept(&field.fieldname) && kept(source) {
                continue;
            }
            let path = join(prefix, &field.fieldname);
            match doc.get(source).and_then(Value::as_str) {
                Some(target) => self.check_link(target, name, &path, errors)?,
                None => push(
                    errors,
                    path,
                    "link",
                    format!(
                        "`{source}` must name the doctype `{}` links to",
                        field.fieldname
                    ),
                ),
            }
        }
        Ok(())
    }
}
