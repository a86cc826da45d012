//! The built-in operations: select, create, update, delete.
//! (`submit` / `cancel` / `amend` are in [`super::lifecycle`], over [`modify()`] and [`insert()`].)
//!
//! Create and update validate each document against its doctype's schema (collecting every
//! violation of the request before failing), name new documents by the schema's autoname
//! rule, stamp the meta fields and maintain secondary indexes. In a dry run they do all of
//! that except writing. Writes go to the run's transaction only; the pipeline commits or
//! rolls back.
//!
//! One file per built-in: [`select`], [`insert`](mod@insert) (create), [`update`],
//! [`delete`]; this file dispatches to them and holds what they share (records, validation,
//! child rows, targets). What system doctypes (schemas, operations, templates, users, the
//! audit trail) add to a write is asked of [`super::system`] at each write point, never tested
//! here by name.

mod delete;
mod insert;
mod select;
mod update;

pub(super) use select::matching;

pub(super) use insert::{Origin, insert};
pub(super) use update::modify;

use super::{Builtin, META_FIELDS, lifecycle, system};
use crate::doc::Doc;
use crate::error::{Error, FieldError, Result};
use crate::handler::OpContext;
use crate::query::Query;
use crate::run::type_name;
use crate::schema::validate::{Checker, Mode};
use crate::schema::{Kind, Schema, naming};
use serde_json::{Map, Value, json};
use std::collections::HashMap;

/// Execute a built-in.
pub(crate) fn execute_builtin(
    builtin: Builtin,
    ctx: &mut OpContext<'_, '_>,
    doctype: Option<&str>,
) -> Result<Value> {
    let target = || doctype.ok_or_else(|| Error::internal("a built-in ran without a target"));
    match builtin {
        Builtin::Select => select::select(ctx, target()?),
        Builtin::Create => insert::create(ctx, target()?),
        Builtin::Update => update::update(ctx, target()?),
        Builtin::Delete => delete::delete(ctx, target()?),
        Builtin::Workflow => crate::workflow::execute(ctx),
        Builtin::Submit => lifecycle::submit_or_cancel(ctx, target()?, Intent::Submit),
        Builtin::Cancel => lifecycle::submit_or_cancel(ctx, target()?, Intent::Cancel),
        Builtin::Amend => lifecycle::amend(ctx, target()?),
        Builtin::Restore => super::restore::restore(ctx, target()?),
    }
}

/// What an update is for: a plain update (any lifecycle transition its `docstatus` asks
/// for), or the `submit` / `cancel` operation (which expect a draft / a submitted document).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Intent {
    Update,
    Submit,
    Cancel,
}

/// The records in `input.data`: one object or a non-empty array of objects.
pub(super) fn records(input: &Value) -> Result<Vec<Doc>> {
    let bad = |what: &Value| {
        Error::bad_request(format!(
            "`input.data` must be an object or an array of objects, got {}",
            type_name(what)
        ))
    };
    match input.get("data") {
        Some(Value::Object(doc)) => Ok(vec![doc.clone()]),
        Some(Value::Array(items)) if !items.is_empty() => items
            .iter()
            .map(|item| item.as_object().cloned().ok_or_else(|| bad(item)))
            .collect(),
        Some(Value::Array(_)) => Err(Error::bad_request("`input.data` is an empty array")),
        Some(other) => Err(bad(other)),
        None => Err(Error::bad_request("`input.data` is missing")),
    }
}

/// Drop what the caller may not set and check the doctype it names, if any (a Frappe
/// DocType file names itself `DocType`: accepted for schemas).
fn strip_engine_fields(data: &mut Doc, doctype: &str) -> Result<()> {
    if let Some(given) = data.remove("doctype") {
        let alias = system::rules(doctype).is_alias(&given);
        if given.as_str() != Some(doctype) && !alias {
            return Err(Error::bad_request(format!(
                "`data.doctype` is {} but the target is `{doctype}`",
                crate::value::echo(&given)
            )));
        }
    }
    for field in META_FIELDS {
        data.remove(field);
    }
    Ok(())
}

fn validation_failed(doctype: &str, errors: Vec<FieldError>) -> Error {
    let summary: Vec<String> = errors.iter().take(3).map(|e| e.message.clone()).collect();
    let more = errors
        .len()
        .checked_sub(3)
        .filter(|n| *n > 0)
        .map(|n| format!(" (and {n} more)"))
        .unwrap_or_default();
    Error::Validation {
        message: format!("{doctype} failed validation: {}{more}", summary.join("; ")),
        errors,
    }
}

/// Validate one document of `doctype` (if it has a schema and validation is on).
fn check(
    ctx: &OpContext<'_, '_>,
    schema: Option<&Schema>,
    doc: &mut Doc,
    mode: Mode<'_>,
    prefix: &str,
    batch: &HashMap<String, bool>,
    errors: &mut Vec<FieldError>,
) -> Result<()> {
    let Some(schema) = schema else {
        return Ok(());
    };
    let schema_of = |doctype: &str| ctx.schema(doctype);
    let checker = Checker {
        view: ctx.view(),
        schema_of: &schema_of,
        batch,
    };
    let skip_requested = ctx.request().options.validate == Some(false);
    if skip_requested {
        // Skipping validation is a privilege: the superuser's (and named roles').
        crate::acl::may_skip_validation(ctx.identity())?;
    }
    if skip_requested || !ctx.operation().validate_schema {
        // Unique values hold even unvalidated: the index could not keep them otherwise.
        return checker.validate_unique(schema, doc, mode, prefix, errors);
    }
    if let Mode::Create = mode {
        checker.apply_defaults(schema, doc)?;
    }
    checker.validate(schema, doc, mode, prefix, errors)?;
    let before = match mode {
        Mode::Update(before) => Some(before),
        Mode::Create => None,
    };
    checker.check_dynamic_links(schema, doc, before, prefix, errors)
}

/// Validate `input.data` (an object or array of objects) against `doctype`'s schema before a
/// custom handler runs (operations with `validateSchema`).
pub(crate) fn validate_input_data(ctx: &OpContext<'_, '_>, doctype: &str) -> Result<()> {
    let Some(data) = ctx.request().input.get("data") else {
        return Ok(());
    };
    let mut records = match data {
        Value::Object(_) | Value::Array(_) => records(&ctx.request().input)?,
        _ => return Ok(()),
    };
    let schema = ctx.schema(doctype)?;
    let many = records.len() > 1;
    let mut errors = Vec::new();
    let batch = HashMap::new();
    for (i, record) in records.iter_mut().enumerate() {
        strip_engine_fields(record, doctype)?;
        let prefix = if many {
            format!("data[{i}]")
        } else {
            String::new()
        };
        check(
            ctx,
            schema.as_deref(),
            record,
            Mode::Create,
            &prefix,
            &batch,
            &mut errors,
        )?;
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(validation_failed(doctype, errors))
    }
}

/// Give child rows of Table fields their Frappe bookkeeping: doctype, name, idx, parent,
/// parenttype, parentfield.
fn fill_child_rows(
    ctx: &OpContext<'_, '_>,
    schema: Option<&Schema>,
    doc: &mut Doc,
    doctype: &str,
    name: &str,
) -> Result<()> {
    let Some(schema) = schema else {
        return Ok(());
    };
    for field in schema.fields.iter().filter(|f| f.kind == Kind::Table) {
        let child = field.options.clone().unwrap_or_default();
        let Some(Value::Array(rows)) = doc.get_mut(&field.fieldname) else {
            continue;
        };
        for (i, row) in rows.iter_mut().enumerate() {
            let Value::Object(row) = row else { continue };
            if !row.get("name").is_some_and(Value::is_string) {
                row.insert(
                    "name".into(),
                    json!(naming::random_name(ctx.view(), &child)?),
                );
            }
            row.insert("doctype".into(), json!(child));
            row.insert("idx".into(), json!(i + 1));
            row.insert("parent".into(), json!(name));
            row.insert("parenttype".into(), json!(doctype));
            row.insert("parentfield".into(), json!(field.fieldname));
        }
    }
    Ok(())
}

/// The documents an update or delete targets: `input.name` (must exist) or `input.where`
/// (under an `if_owner` grant, among the owner's documents only).
fn targets(ctx: &OpContext<'_, '_>, doctype: &str, schema: Option<&Schema>) -> Result<Vec<Doc>> {
    let input = &ctx.request().input;
    let view = ctx.view();
    match (input.get("name"), input.get("where")) {
        (Some(_), Some(_)) => Err(Error::bad_request(
            "give either `input.name` or `input.where`, not both",
        )),
        (Some(Value::String(name)), None) => match view.get_doc(doctype, name)? {
            Some(doc) => Ok(vec![doc]),
            None => Err(Error::not_found(format!(
                "{doctype} `{}` does not exist",
                crate::value::echo_str(name)
            ))
            .with_details(json!({"doctype": doctype, "name": name}))),
        },
        (Some(other), None) => Err(Error::bad_request(format!(
            "`input.name` must be a string, got {}",
            type_name(other)
        ))),
        (None, Some(Value::Null)) => Err(Error::bad_request(
            "`input.where` is null; to target every document say `\"where\": {}`",
        )),
        (None, Some(filter)) => {
            let query = Query::parse(&json!({ "where": filter }))?;
            // `if_owner`: a `where` reaches only the owner's documents, as a select's does,
            // so matching reveals nothing about the others (no refusal naming one).
            matching(ctx, doctype, schema, &query)
        }
        (None, None) => Err(Error::bad_request("give `input.name` or `input.where`")),
    }
}

fn doc_name(doc: &Doc) -> Result<String> {
    doc.get("name")
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| Error::internal("a stored document has no name"))
}

/// `{"data": documents}`, the output of the built-in operations. (Built by hand: `json!`
/// would copy every document through serde.)
pub(super) fn data_output(documents: Vec<Value>) -> Value {
    let mut output = Map::with_capacity(2);
    output.insert("data".into(), Value::Array(documents));
    Value::Object(output)
}
