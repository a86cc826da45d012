//! The `update` built-in: apply changes to the documents a name or a filter targets, through
//! the lifecycle rules of the intent (plain update, `submit`, `cancel`).

use super::{
    Intent, check, data_output, doc_name, fill_child_rows, strip_engine_fields, targets,
    validation_failed,
};
use crate::audit;
use crate::doc::Doc;
use crate::error::{Error, Result};
use crate::handler::OpContext;
use crate::ops::{lifecycle, system};
use crate::run::type_name;
use crate::schema::Schema;
use crate::schema::validate::Mode;
use crate::store::WriteTx;
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::sync::Arc;

pub(super) fn update(ctx: &mut OpContext<'_, '_>, doctype: &str) -> Result<Value> {
    let changes = match ctx.request().input.get("data") {
        Some(Value::Object(data)) => data.clone(),
        Some(other) => {
            return Err(Error::bad_request(format!(
                "`input.data` must be an object, got {}",
                type_name(other)
            )));
        }
        None => return Err(Error::bad_request("`input.data` is missing")),
    };
    modify(ctx, doctype, changes, Intent::Update)
}

/// Apply `changes` to the documents `input.name` or `input.where` targets, through the
/// lifecycle rules of `intent`.
pub(in crate::ops) fn modify(
    ctx: &mut OpContext<'_, '_>,
    doctype: &str,
    mut changes: Doc,
    intent: Intent,
) -> Result<Value> {
    strip_engine_fields(&mut changes, doctype)?;
    let rename = changes.remove("name");
    let rules = system::rules(doctype);
    let schema: Option<Arc<Schema>> = ctx.schema(doctype)?;
    let indexed = schema
        .as_deref()
        .map(Schema::indexed_fields)
        .unwrap_or_default();
    let docs = targets(ctx, doctype, schema.as_deref())?;
    let many = docs.len() > 1;
    let batch = HashMap::new();
    let mut errors = Vec::new();
    let mut updated = Vec::with_capacity(docs.len());
    for before in docs {
        let name = doc_name(&before)?;
        if let Some(new_name) = &rename
            && new_name.as_str() != Some(name.as_str())
        {
            return Err(Error::bad_request(format!(
                "an update cannot rename a document (`{name}` to {})",
                crate::value::echo(new_name)
            )));
        }
        rules.protect(&name)?;
        ctx.may_change(doctype, &before)?;
        let mut doc = before.clone();
        for (field, value) in &changes {
            doc.insert(field.clone(), value.clone());
        }
        let before_errors = errors.len();
        let transition = lifecycle::on_update(
            ctx,
            doctype,
            schema.as_deref(),
            &before,
            &doc,
            intent,
            &mut errors,
        )?;
        check(
            ctx,
            schema.as_deref(),
            &mut doc,
            Mode::Update(&before),
            "",
            &batch,
            &mut errors,
        )?;
        if errors.len() > before_errors {
            // Several documents: each violation names its document (`ToDo x1: status`).
            if many {
                for error in &mut errors[before_errors..] {
                    error.path = format!("{doctype} {name}: {}", error.path);
                }
            }
            continue;
        }
        fill_child_rows(ctx, schema.as_deref(), &mut doc, doctype, &name)?;
        let stamp = ctx.stamp();
        doc.insert("modified".into(), json!(stamp.time));
        doc.insert("modifiedBy".into(), json!(stamp.user));
        doc.insert("modifiedByRun".into(), json!(stamp.run_id));
        let bytes = ctx.size_limits()?.check_document(doctype, &name, &doc)?;
        rules.guard(ctx, Some(&before), Some(&doc))?;
        rules.integrity(ctx, Some(&before), Some(&doc))?;
        ctx.charge_write(doctype, &name, bytes)?;
        let mut extra = Map::new();
        if let Some(tables) = ctx.tables_if_writing() {
            let stored = tables.put_doc(doctype, &name, &doc, &indexed)?;
            extra.insert(
                audit::DOC_DIGEST.into(),
                json!(audit::document_digest(&stored)),
            );
            rules.after_write(tables, Some(&before), Some(&doc))?;
        }
        extra.insert("diff".into(), audit::diff(&before, &doc));
        ctx.audit(transition.action(), doctype, &name, extra)?;
        updated.push(Value::Object(doc));
    }
    if !errors.is_empty() {
        return Err(validation_failed(doctype, errors));
    }
    Ok(data_output(updated))
}
