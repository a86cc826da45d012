//! The `create` built-in: validate, name, stamp and write new documents (an amendment's too,
//! for `amend`), collecting every violation of the request before failing.

use super::{check, data_output, fill_child_rows, records, strip_engine_fields, validation_failed};
use crate::audit::Action;
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
    insert(ctx, doctype, records, None)
}

/// Create `records` of `doctype` (an amendment of the document `amends`, when given).
pub(in crate::ops) fn insert(
    ctx: &mut OpContext<'_, '_>,
    doctype: &str,
    mut records: Vec<Doc>,
    amends: Option<&str>,
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
    let mut seen_unique: HashMap<String, Vec<Value>> = HashMap::new();
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
            let seen = seen_unique.entry(field.clone()).or_default();
            if seen.contains(value) && errors.len() == before_errors {
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
            seen.push(value.clone());
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
        let bytes = ctx.size_limits()?.check_document(doctype, &name, &doc)?;
        rules.guard(ctx, replaced.as_ref(), Some(&doc))?;
        rules.integrity(ctx, replaced.as_ref(), Some(&doc))?;
        ctx.charge_write(doctype, &name, bytes)?;
        if let Some(tables) = ctx.tables_if_writing() {
            tables.put_doc(doctype, &name, &doc, &indexed)?;
            rules.after_write(tables, replaced.as_ref(), Some(&doc))?;
        }
        match amends {
            Some(source) => {
                let mut extra = Map::new();
                extra.insert("amendedFrom".into(), json!(source));
                ctx.audit(Action::Amend, doctype, &name, extra)?;
            }
            None => ctx.audit(Action::Create, doctype, &name, Map::new())?,
        }
        if submitted {
            ctx.audit(Action::Submit, doctype, &name, Map::new())?;
        }
        created.push(Value::Object(doc));
    }
    if !errors.is_empty() {
        return Err(validation_failed(doctype, errors));
    }
    Ok(data_output(created))
}
