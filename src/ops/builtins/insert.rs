//! The `create` built-in: validate, name, stamp and write new documents (an amendment's too,
//! for `amend`), collecting every violation of the request before failing.

use super::{check, data_output, fill_child_rows, records, strip_engine_fields, validation_failed};
use crate::audit::{self, Action};
use crate::doc::Doc;
use crate::error::{Error, ErrorCode, FieldError, Result};
use crate::handler::OpContext;
use crate::ops::{lifecycle, system};
use crate::run::type_name;
use crate::schema::validate::Mode;
use crate::schema::{Schema, naming};
use crate::store::WriteTx;
use serde_json::{Map, Value, json};
use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};

/// The longest document name (Frappe's limit).
const MAX_NAME_LEN: usize = 140;

fn check_doc_name(name: &str) -> Result<()> {
    if name.trim().is_empty() || name.contains('\0') || name.chars().count() > MAX_NAME_LEN {
        return Err(Error::bad_request(format!(
            "`{}` is not a valid document name (non-empty, no NUL, at most {MAX_NAME_LEN} characters)",
            crate::value::echo_str(name)
        )));
    }
    Ok(())
}
pub(super) fn create(ctx: &mut OpContext<'_, '_>, doctype: &str) -> Result<Value> {
    if let Some(create) = system::rules(doctype).create() {
        return create(ctx);
    }
    let records = records(&ctx.request().input)?;
    insert(ctx, doctype, records, Origin::New)
}

/// Where the documents an insert creates come from.
pub(in crate::ops) enum Origin<'a> {
    /// A plain create.
    New,
    /// An amendment of the cancelled document named.
    Amends(&'a str),
    /// A deleted document brought back from the snapshot of delete entry `seq`: `kept` are
    /// the snapshot's fields the create keeps instead of stamping them anew.
    Restores { seq: u64, kept: Doc },
}

/// Create `records` of `doctype` (an amendment or a restored document, as `origin` says).
pub(in crate::ops) fn insert(
    ctx: &mut OpContext<'_, '_>,
    doctype: &str,
    mut records: Vec<Doc>,
    origin: Origin<'_>,
) -> Result<Value> {
    let schema = ctx.schema(doctype)?;
    let indexed = schema
        .as_deref()
        .map(Schema::indexed_fields)
        .unwrap_or_default();
    let rules = system::rules(doctype);
    let batch = rules.batch(&records);
    rules.refuse_unvalidated(ctx)?;
    // Unique values repeated inside the request (a dry run writes nothing to find them).
    let unique_fields: Vec<String> = schema
        .as_deref()
        .map(|s| {
            s.fields
                .iter()
                .filter(|f| f.unique)
                .map(|f| f.fieldname.clone())
                .collect()
        })
        .unwrap_or_default();
    let mut seen_unique = SeenValues::default();
    let many = records.len() > 1;
    let mut errors = Vec::new();
    let mut created = Vec::with_capacity(records.len());
    let mut names_in_request = HashSet::new();
    for (i, data) in records.iter_mut().enumerate() {
        strip_engine_fields(data, doctype)?;
        let prefix = if many {
            format!("data[{i}]")
        } else {
            String::new()
        };
        let before_errors = errors.len();
        check(
            ctx,
            schema.as_deref(),
            data,
            Mode::Create,
            &prefix,
            &batch,
            &mut errors,
        )?;
        let submitted =
            lifecycle::on_create(ctx, doctype, schema.as_deref(), data, &prefix, &mut errors)?;
        for field in &unique_fields {
            let Some(value) = data.get(field).filter(|v| !v.is_null()) else {
                continue;
            };
            if !seen_unique.insert(field, value) && errors.len() == before_errors {
                errors.push(FieldError {
                    path: if prefix.is_empty() {
                        field.clone()
                    } else {
                        format!("{prefix}.{field}")
                    },
                    rule: "unique".into(),
                    message: format!(
                        "{doctype} with `{field}` = {} already exists",
                        crate::value::echo(value)
                    ),
                });
            }
        }
        if errors.len() > before_errors {
            continue;
        }
        let name = match data.remove("name") {
            Some(Value::String(name)) => {
                check_doc_name(&name)?;
                name
            }
            Some(Value::Null) | None => {
                let autoname = schema.as_deref().and_then(|s| s.autoname.clone());
                let names = if ctx.writing() {
                    naming::Names::Write(ctx.tables_if_writing().expect("writing"))
                } else {
                    naming::Names::Read(ctx.view())
                };
                match naming::name_for(autoname.as_deref(), doctype, data, names) {
                    Ok(Some(name)) => name,
                    Ok(None) => String::new(), // a dry run does not advance counters
                    Err(Error::Validation { errors: found, .. }) => {
                        errors.extend(found.into_iter().map(|mut e| {
                            e.path = if prefix.is_empty() {
                                e.path
                            } else {
                                format!("{prefix}.{}", e.path)
                            };
                            e
                        }));
                        continue;
                    }
                    Err(other) => return Err(other),
                }
            }
            Some(other) => {
                return Err(Error::bad_request(format!(
                    "`data.name` must be a string, got {}",
                    type_name(&other)
                )));
            }
        };
        // Frappe's name rules (trimmed, not the doctype's name, no `<` or `>`).
        let name = match naming::checked_name(doctype, &name) {
            Ok(name) => name,
            Err(mut found) => {
                if !prefix.is_empty() {
                    found.path = format!("{prefix}.name");
                }
                errors.push(found);
                continue;
            }
        };
        let extends = rules.extends(&name);
        if !name.is_empty() {
            if !extends {
                rules.protect(&name)?;
            }
            if !names_in_request.insert(name.clone())
                || (!extends && ctx.view().get_doc(doctype, &name)?.is_some())
            {
                return Err(Error::new(
                    ErrorCode::Conflict,
                    format!("{doctype} `{name}` already exists"),
                )
                .with_details(json!({"doctype": doctype, "name": name})));
            }
        }
        let replaced = match extends {
            true => ctx.view().get_doc(doctype, &name)?,
            false => None,
        };
        if extends {
            *data = rules.extend(&name, data);
        }
        fill_child_rows(ctx, schema.as_deref(), data, doctype, &name)?;
        let stamp = ctx.stamp();
        let mut doc = Map::with_capacity(data.len() + 8);
        doc.insert("doctype".into(), json!(doctype));
        doc.insert(
            "name".into(),
            if name.is_empty() {
                Value::Null
            } else {
                json!(name)
            },
        );
        doc.extend(std::mem::take(data));
        doc.insert("creation".into(), json!(stamp.time));
        doc.insert("modified".into(), json!(stamp.time));
        doc.insert("owner".into(), json!(stamp.user));
        doc.insert("modifiedBy".into(), json!(stamp.user));
        doc.insert("createdByRun".into(), json!(stamp.run_id));
        doc.insert("modifiedByRun".into(), json!(stamp.run_id));
        if let Some(template) = &stamp.template {
            doc.insert("createdByTemplate".into(), json!(template));
        }
        if let Origin::Restores { kept, .. } = &origin {
            doc.remove("createdByTemplate");
            doc.extend(kept.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        let bytes = ctx.size_limits()?.check_document(doctype, &name, &doc)?;
        rules.guard(ctx, replaced.as_ref(), Some(&doc))?;
        rules.integrity(ctx, replaced.as_ref(), Some(&doc))?;
        ctx.charge_write(doctype, &name, bytes)?;
        let mut digest = Map::new();
        if let Some(tables) = ctx.tables_if_writing() {
            let stored = tables.put_doc(doctype, &name, &doc, &indexed)?;
            digest.insert(
                audit::DOC_DIGEST.into(),
                json!(audit::document_digest(&stored)),
            );
            rules.after_write(tables, replaced.as_ref(), Some(&doc))?;
        }
        let mut extra = digest.clone();
        let action = match &origin {
            Origin::New => Action::Create,
            Origin::Amends(source) => {
                extra.insert("amendedFrom".into(), json!(source));
                Action::Amend
            }
            Origin::Restores { seq, .. } => {
                extra.insert(audit::RESTORED_FROM.into(), json!(seq));
                Action::Create
            }
        };
        ctx.audit(action, doctype, &name, extra)?;
        if submitted {
            ctx.audit(Action::Submit, doctype, &name, digest)?;
        }
        created.push(Value::Object(doc));
    }
    if !errors.is_empty() {
        return Err(validation_failed(doctype, errors));
    }
    Ok(data_output(created))
}

/// The values of unique fields seen so far in one request, found in constant time whatever
/// the request's size (a bulk create of 1,000 documents compared each value with every
/// earlier one). Equality is the values' own (`==`): values are bucketed by a hash that
/// equal values share, then compared.
#[derive(Default)]
struct SeenValues {
    buckets: HashMap<(String, u64), Vec<Value>>,
}

impl SeenValues {
    /// Remember `value` of `field`; false if an equal value was seen before.
    fn insert(&mut self, field: &str, value: &Value) -> bool {
        let bucket = self
            .buckets
            .entry((field.to_string(), bucket_hash(value)))
            .or_default();
        if bucket.contains(value) {
            return false;
        }
        bucket.push(value.clone());
        true
    }
}

/// A hash equal values share: numbers by their `f64` value (`0.0 == -0.0`, and an integer
/// and a float never compare equal but may share a bucket), everything else by its JSON text.
fn bucket_hash(value: &Value) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    match value {
        Value::Number(n) => {
            let f = n.as_f64().unwrap_or(0.0);
            (if f == 0.0 { 0.0f64 } else { f })
                .to_bits()
                .hash(&mut hasher);
        }
        Value::String(text) => text.hash(&mut hasher),
        other => other.to_string().hash(&mut hasher),
    }
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::SeenValues;
    use serde_json::json;

    #[test]
    fn repeated_unique_values_are_found_by_equality_per_field() {
        let mut seen = SeenValues::default();
        assert!(seen.insert("code", &json!("A-1")));
        assert!(seen.insert("other", &json!("A-1")), "fields are apart");
        assert!(!seen.insert("code", &json!("A-1")));
        assert!(seen.insert("code", &json!(1)));
        assert!(
            seen.insert("code", &json!(1.0)),
            "1 and 1.0 differ as values"
        );
        assert!(!seen.insert("code", &json!(1)));
        assert!(seen.insert("code", &json!(0.0)));
        assert!(!seen.insert("code", &json!(-0.0)), "0.0 == -0.0");
        assert!(seen.insert("code", &json!(true)));
        assert!(!seen.insert("code", &json!(true)));
        for i in 0..2000 {
            assert!(seen.insert("many", &json!(format!("v{i}"))));
        }
        assert!(!seen.insert("many", &json!("v1999")));
    }
}
