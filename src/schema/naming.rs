//! Naming new documents by Frappe's autoname rules: `hash` (the default), `autoincrement`,
//! `field:<fieldname>`, `naming_series:`, `format:<pattern>`, a bare series pattern such as
//! `TASK-.YYYY.-.#####`, `UUID` and `Prompt` (the caller must give the name).
//!
//! Series counters live in the store and advance in the run's transaction, so a failed run
//! does not consume a number. This module never writes documents.

use crate::doc::Doc;
use crate::error::{Error, FieldError, Result};
use crate::store::{StoreTx, View, WriteTx};
use serde_json::Value;
use std::collections::HashSet;

/// A fresh hash-style name (10 characters), checked against the store.
pub(crate) fn random_name(view: &dyn View, doctype: &str) -> Result<String> {
    loop {
        let id = crate::clock::new_ulid();
        // Mix the time part into the random part so consecutive names do not look alike.
        let mixed = (id.random()
            ^ u128::from(id.timestamp_ms()).wrapping_mul(0x9E37_79B9_7F4A_7C15))
        .wrapping_mul(0xD6E8_FEB8_6659_FD93);
        let name = ulid::Ulid(mixed).to_string()[16..].to_lowercase();
        if view.get_doc(doctype, &name)?.is_none() {
            return Ok(name);
        }
    }
}

/// Whether `autoname` is a rule this module understands; `None` if so, else why not.
pub(crate) fn check_rule(autoname: &str, fieldnames: &HashSet<String>) -> Option<String> {
    let lower = autoname.to_lowercase();
    match lower.as_str() {
        "hash" | "random" | "autoincrement" | "prompt" | "uuid" => return None,
        "naming_series:" if !fieldnames.contains("naming_series") => {
            return Some("`naming_series:` needs a `naming_series` field".into());
        }
        "naming_series:" => return None,
        _ => {}
    }
    if let Some(field) = autoname.strip_prefix("field:") {
        return (!fieldnames.contains(field.trim()))
            .then(|| format!("`{autoname}` names a field the schema does not define"));
    }
    if autoname.starts_with("format:") {
        return None;
    }
    if autoname.contains('#') && !autoname.contains('.') {
        // Frappe's "Invalid naming series (. missing)": the `.` separates the counter.
        return Some(format!(
            "`{autoname}` is a series without a `.` before its counter (write `PREFIX.#####`)"
        ));
    }
    if autoname.contains('#') || autoname.contains('.') {
        return None;
    }
    Some(format!(
        "`{autoname}` is not an autoname rule (hash, autoincrement, field:<fieldname>, naming_series:, format:<pattern>, PREFIX-.#####, UUID, Prompt)"
    ))
}

/// The field that names new documents (`field:<fieldname>`), if the rule is one.
pub(crate) fn name_field(autoname: Option<&str>) -> Option<&str> {
    autoname?
        .trim()
        .strip_prefix("field:")
        .map(str::trim)
        .filter(|f| !f.is_empty())
}

/// Frappe's `validate_name`: the name of a new document, trimmed; it may not be the name of
/// its doctype nor contain `<` or `>`. The error's path is `name`, its rule `name`.
pub(crate) fn checked_name(doctype: &str, name: &str) -> std::result::Result<String, FieldError> {
    let name = name.trim();
    // A schema is named after its doctype by definition (Frappe exempts `DocType` alike).
    let problem = if name == doctype && doctype != super::SCHEMA {
        Some(format!(
            "a {doctype} cannot be named `{name}`, the name of its doctype"
        ))
    } else if name.contains(['<', '>']) {
        Some(format!(
            "`{}` is not a valid name: it may not contain `<` or `>`",
            crate::value::echo_str(name)
        ))
    } else {
        None
    };
    match problem {
        Some(message) => Err(FieldError {
            path: "name".into(),
            rule: "name".into(),
            message,
        }),
        None => Ok(name.to_string()),
    }
}

fn invalid(path: &str, message: String) -> Error {
    Error::Validation {
        message: message.clone(),
        errors: vec![FieldError {
            path: path.to_string(),
            rule: "autoname".into(),
            message,
        }],
    }
}

/// Where names are looked up and counters advanced: a dry run only reads.
pub(crate) enum Names<'a, 't: 'a> {
    Read(&'a dyn View),
    Write(&'a mut StoreTx<'t>),
}

/// The name for a new document of `doctype` by rule `autoname`. In a dry run counters are
/// not advanced and series names come back as `None`.
pub(crate) fn name_for(
    autoname: Option<&str>,
    doctype: &str,
    doc: &Doc,
    names: Names<'_, '_>,
) -> Result<Option<String>> {
    let random = matches!(
        autoname.map(|a| a.trim().to_lowercase()).as_deref(),
        None | Some("" | "hash" | "random")
    );
    match names {
        // A fresh random name only needs to read; the other rules never read.
        Names::Read(view) if random => random_name(view, doctype).map(Some),
        Names::Write(tables) if random => random_name(&*tables, doctype).map(Some),
        Names::Read(_) => name_by_rule(autoname, doctype, doc, None),
        Names::Write(tables) => name_by_rule(autoname, doctype, doc, Some(tables)),
    }
}

/// Every rule but the random one; `tables` is `None` in a dry run.
fn name_by_rule(
    autoname: Option<&str>,
    doctype: &str,
    doc: &Doc,
    tables: Option<&mut StoreTx<'_>>,
) -> Result<Option<String>> {
    let rule = autoname.unwrap_or("hash").trim();
    let lower = rule.to_lowercase();
    match lower.as_str() {
        "prompt" => {
            return Err(invalid(
                "name",
                format!("{doctype} is named by the caller (autoname: Prompt): give `data.name`"),
            ));
        }
        "uuid" => {
            let hex = format!("{:032x}", crate::clock::new_ulid().0);
            return Ok(Some(format!(
                "{}-{}-{}-{}-{}",
                &hex[..8],
                &hex[8..12],
                &hex[12..16],
                &hex[16..20],
                &hex[20..]
            )));
        }
        "autoincrement" => {
            return match tables {
                Some(tables) => Ok(Some(
                    tables
                        .next_counter(&format!("autoincrement\0{doctype}"))?
                        .to_string(),
                )),
                None => Ok(None),
            };
        }
        _ => {}
    }
    if let Some(field) = rule.strip_prefix("field:") {
        return match doc.get(field.trim()) {
            Some(Value::String(s)) if !s.trim().is_empty() => Ok(Some(s.trim().to_string())),
            Some(Value::Number(n)) => Ok(Some(n.to_string())),
            _ => Err(invalid(
                field.trim(),
                format!(
                    "{doctype} is named by `{}`, which has no value",
                    field.trim()
                ),
            )),
        };
    }
    let pattern = if lower == "naming_series:" {
        match doc.get("naming_series").and_then(Value::as_str) {
            Some(series) if !series.is_empty() => series.to_string(),
            _ => {
                return Err(invalid(
                    "naming_series",
                    format!("{doctype} is named by its `naming_series`, which has no value"),
                ));
            }
        }
    } else if let Some(format) = rule.strip_prefix("format:") {
        format.to_string()
    } else {
        rule.to_string()
    };
    series_name(&pattern, doc, tables)
}

/// Expand a series pattern: `.`-separated parts (`PREFIX-.YYYY.-.#####`) or `{}` parts
/// (`INV-{YYYY}-{####}`); date parts, field values and one run of `#` (the counter).
fn series_name(
    pattern: &str,
    doc: &Doc,
    tables: Option<&mut StoreTx<'_>>,
) -> Result<Option<String>> {
    let today = jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date();
    let braces = pattern.contains('{');
    let parts: Vec<String> = if braces {
        let mut parts = Vec::new();
        let mut rest = pattern;
        while let Some(open) = rest.find('{') {
            parts.push(format!("={}", &rest[..open]));
            let close = rest[open..].find('}').map_or(rest.len(), |c| open + c);
            parts.push(rest[open + 1..close].to_string());
            rest = rest.get(close + 1..).unwrap_or("");
        }
        parts.push(format!("={rest}"));
        parts
    } else {
        let mut parts: Vec<String> = pattern.split('.').map(str::to_string).collect();
        if !pattern.contains('#') {
            parts.push("#####".into());
        }
        parts
    };
    let mut prefix = String::new();
    let mut digits = None;
    for part in &parts {
        if let Some(literal) = part.strip_prefix('=') {
            prefix.push_str(literal);
            continue;
        }
        match part.as_str() {
            "YYYY" => prefix.push_str(&format!("{:04}", today.year())),
            "YY" => prefix.push_str(&format!("{:02}", today.year() % 100)),
            "MM" => prefix.push_str(&format!("{:02}", today.month())),
            "DD" => prefix.push_str(&format!("{:02}", today.day())),
            hashes if !hashes.is_empty() && hashes.chars().all(|c| c == '#') => {
                digits = Some(hashes.len());
                break;
            }
            other => match doc.get(other) {
                Some(Value::String(s)) => prefix.push_str(s),
                Some(Value::Number(n)) => prefix.push_str(&n.to_string()),
                _ if braces => {
                    return Err(invalid(
                        other,
                        format!("the naming pattern uses `{other}`, which has no value"),
                    ));
                }
                _ => prefix.push_str(other),
            },
        }
    }
    let Some(tables) = tables else {
        return Ok(None);
    };
    let number = tables.next_counter(&format!("series\0{prefix}"))?;
    Ok(Some(format!(
        "{prefix}{number:0width$}",
        width = digits.unwrap_or(5)
    )))
}
