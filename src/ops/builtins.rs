//! The built-in operations: select, create, update, delete.
//! (`submit` / `cancel` / `amend` are in [`super::lifecycle`], over [`modify`] and [`insert`].)
//!
//! Create and update validate each document against its doctype's schema (collecting every
//! violation of the request before failing), name new documents by the schema's autoname
//! rule, stamp the meta fields and maintain secondary indexes. In a dry run they do all of
//! that except writing. Writes go to the run's transaction only; the pipeline commits or
//! rolls back.
//!
//! Over ~600 lines: issue 13 splits it (select, insert, update and delete each their own file,
//! the system doctypes' save rules already in `integrity`).

use super::lifecycle;
use super::{
    Builtin, MAX_SELECT_ROWS, META_FIELDS, OPERATION, check_operation_delete, check_operation_doc,
};
use super::{include, integrity};
use crate::audit::{self, Action};
use crate::error::{Error, ErrorCode, FieldError, Result};
use crate::handler::OpContext;
use crate::query::{Doc, Query};
use crate::run::type_name;
use crate::schema::validate::{Checker, Mode};
use crate::schema::{self, Kind, SCHEMA, SEEDED, Schema, naming};
use crate::store::{AUDIT_TRAIL, View, WriteTables, index_value, unreadable_doc};
use crate::workflow::TEMPLATE;
use serde_json::{Map, Value, json};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// The longest document name (Frappe's limit).
const MAX_NAME_LEN: usize = 140;

/// Execute a built-in.
pub(crate) fn execute_builtin(
    builtin: Builtin,
    ctx: &mut OpContext<'_, '_>,
    doctype: Option<&str>,
) -> Result<Value> {
    let target = || doctype.ok_or_else(|| Error::internal("a built-in ran without a target"));
    match builtin {
        Builtin::Select => select(ctx, target()?),
        Builtin::Create => create(ctx, target()?),
        Builtin::Update => update(ctx, target()?),
        Builtin::Delete => delete(ctx, target()?),
        Builtin::Workflow => crate::workflow::execute(ctx),
        Builtin::Submit => lifecycle::submit_or_cancel(ctx, target()?, Intent::Submit),
        Builtin::Cancel => lifecycle::submit_or_cancel(ctx, target()?, Intent::Cancel),
        Builtin::Amend => lifecycle::amend(ctx, target()?),
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

fn check_doc_name(name: &str) -> Result<()> {
    if name.trim().is_empty() || name.contains('\0') || name.chars().count() > MAX_NAME_LEN {
        return Err(Error::bad_request(format!(
            "`{}` is not a valid document name (non-empty, no NUL, at most {MAX_NAME_LEN} characters)",
            crate::value::echo_str(name)
        )));
    }
    Ok(())
}

/// The documents of `doctype` a filter selects, by the cheapest path: names pinned by the
/// filter, then an indexed field pinned by it, then a scan.
///
/// With `unreadable`, documents whose stored body cannot be read back are skipped and
/// named there; without, the first one fails the whole match, naming it.
fn matching(
    view: &dyn View,
    doctype: &str,
    schema: Option<&Schema>,
    query: &Query,
    mut unreadable: Option<&mut Vec<String>>,
) -> Result<Vec<Doc>> {
    let mut found = Vec::new();
    let scan =
        |visit: &mut dyn FnMut(Doc) -> bool, unreadable: Option<&mut Vec<String>>| match unreadable
        {
            Some(names) => view.scan_readable_docs(doctype, visit, &mut |name| names.push(name)),
            None => view.scan_docs(doctype, visit),
        };
    let Some(filter) = query.filter.as_ref() else {
        scan(
            &mut |doc| {
                found.push(doc);
                true
            },
            unreadable,
        )?;
        return Ok(found);
    };
    let indexed = schema.map(Schema::indexed_fields).unwrap_or_default();
    let pinned_names = filter.candidates("name").map(|names| {
        names
            .iter()
            .filter_map(|n| n.as_str().map(str::to_string))
            .collect::<Vec<_>>()
    });
    let pinned_by_index = || -> Result<Option<Vec<String>>> {
        for field in &indexed {
            if let Some(values) = filter.candidates(field)
                && values.iter().all(|v| index_value(v).is_some())
            {
                let mut names = Vec::new();
                for value in &values {
                    names.extend(view.index_lookup(doctype, field, value)?);
                }
                return Ok(Some(names));
            }
        }
        Ok(None)
    };
    let candidates = match pinned_names {
        Some(names) => Some(names),
        None => pinned_by_index()?,
    };
    match candidates {
        Some(mut names) => {
            names.sort();
            names.dedup();
            for name in names {
                let doc = match (view.get_doc(doctype, &name), &mut unreadable) {
                    (Err(e), Some(names)) if unreadable_doc(&e).is_some() => {
                        names.push(name);
                        continue;
                    }
                    (doc, _) => doc?,
                };
                if let Some(doc) = doc
                    && filter.matches(&doc)
                {
                    found.push(doc);
                }
            }
        }
        None => scan(
            &mut |doc| {
                if filter.matches(&doc) {
                    found.push(doc);
                }
                true
            },
            unreadable,
        )?,
    }
    Ok(found)
}

fn select(ctx: &mut OpContext<'_, '_>, doctype: &str) -> Result<Value> {
    let input = &ctx.request().input;
    let schema = ctx.schema(doctype)?;
    let mut query = Query::parse(input)?;
    match input.get("view") {
        None | Some(Value::Null) => {}
        Some(Value::String(view)) if view == "list" => {
            if query.select.is_none() {
                query.select = Some(match &schema {
                    Some(schema) => schema.list_view_fields(),
                    None => vec!["name".into(), "doctype".into()],
                });
            }
        }
        Some(other) => {
            return Err(Error::bad_request(format!(
                "`input.view` must be \"list\", got {}",
                crate::value::echo(other)
            )));
        }
    }
    let includes = include::parse(ctx, doctype, schema.as_deref(), input)?;
    include::add_to_select(&includes, &mut query.select);
    let requested = query.take;
    let limit = requested.unwrap_or(MAX_SELECT_ROWS).min(MAX_SELECT_ROWS);
    query.take = Some(limit);
    // `input.skipCorrupt: true`: documents that cannot be read back are skipped and named
    // in `meta.corrupt` (else the first one fails the select, naming it).
    let skip_corrupt = match input.get("skipCorrupt") {
        None | Some(Value::Null | Value::Bool(false)) => false,
        Some(Value::Bool(true)) => true,
        Some(other) => {
            return Err(Error::bad_request(format!(
                "`input.skipCorrupt` must be true or false, got {}",
                type_name(other)
            )));
        }
    };
    let mut corrupt = Vec::new();
    let mut found = matching(
        ctx.view(),
        doctype,
        schema.as_deref(),
        &query,
        skip_corrupt.then_some(&mut corrupt),
    )?;
    // `if_owner` read permission: the owner's documents only, never a failure.
    if let Some(user) = ctx.own_only() {
        found.retain(|doc| doc.get("owner").and_then(Value::as_str) == Some(user));
    }
    let total = found.len();
    let mut page: Vec<Value> = query
        .sort_and_page(found)
        .into_iter()
        .map(|doc| Value::Object(query.project(doc)))
        .collect();
    include::expand(ctx, &includes, &mut page)?;
    let mut meta = json!({"count": page.len(), "total": total});
    if skip_corrupt {
        meta["corrupt"] = json!(corrupt);
    }
    if total.saturating_sub(query.skip) > limit && requested.is_none_or(|t| t > limit) {
        meta["truncated"] = json!(true);
        meta["limit"] = json!(MAX_SELECT_ROWS);
    }
    let mut output = data_output(page);
    output["meta"] = meta;
    let include_schema = ctx.request().options.include_schema;
    if include_schema.unwrap_or(ctx.operation().include_schema) {
        output["schema"] = schema.map_or(Value::Null, |s| Value::Object(s.doc.clone()));
    }
    Ok(output)
}

/// The records in `input.data`: one object or a non-empty array of objects.
fn records(input: &Value) -> Result<Vec<Doc>> {
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
        let alias = doctype == SCHEMA && given.as_str() == Some("DocType");
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

/// After a schema document was written: build indexes for newly indexed fields of the
/// doctype it describes, drop those no longer indexed.
fn reindex_after_schema_change(
    tables: &mut WriteTables<'_>,
    before: Option<&Doc>,
    after: Option<&Doc>,
) -> Result<()> {
    let fields_of = |doc: Option<&Doc>| -> Result<(Option<String>, Vec<String>)> {
        match doc {
            Some(doc) => {
                let schema = Schema::from_doc(doc)?;
                Ok((Some(schema.name.clone()), schema.indexed_fields()))
            }
            None => Ok((None, Vec::new())),
        }
    };
    let (old_name, old_fields) = fields_of(before)?;
    let (new_name, new_fields) = fields_of(after)?;
    let Some(doctype) = new_name.or(old_name) else {
        return Ok(());
    };
    for field in old_fields.iter().filter(|f| !new_fields.contains(f)) {
        tables.rebuild_index(&doctype, field, false)?;
    }
    for field in new_fields.iter().filter(|f| !old_fields.contains(f)) {
        tables.rebuild_index(&doctype, field, true)?;
    }
    Ok(())
}

fn protect_seeded(doctype: &str, name: &str) -> Result<()> {
    if doctype == SCHEMA && SEEDED.contains(&name) {
        return Err(Error::new(
            ErrorCode::Immutable,
            format!("the seeded schema `{name}` cannot be changed or deleted"),
        ));
    }
    Ok(())
}

/// A create into the Audit Trail is a correction: a new entry naming the one it corrects.
fn correct_audit(ctx: &mut OpContext<'_, '_>) -> Result<Value> {
    let records = records(&ctx.request().input)?;
    let mut written = Vec::new();
    for record in records {
        let corrects = record.get("corrects").and_then(Value::as_u64);
        let reason = record
            .get("reason")
            .and_then(Value::as_str)
            .filter(|r| !r.trim().is_empty());
        let (Some(corrects), Some(reason)) = (corrects, reason) else {
            return Err(Error::bad_request(
                "an Audit Trail entry is only ever added as a correction: give `corrects` (the entry's seq) and `reason`",
            ));
        };
        let Some(target) = ctx.view().get_doc(AUDIT_TRAIL, &corrects.to_string())? else {
            return Err(Error::not_found(format!(
                "there is no Audit Trail entry {corrects} to correct"
            )));
        };
        let mut extra = Map::new();
        extra.insert("corrects".into(), json!(corrects));
        extra.insert("reason".into(), json!(reason));
        ctx.audit(
            Action::Correction,
            target
                .get("refDoctype")
                .and_then(Value::as_str)
                .unwrap_or(AUDIT_TRAIL),
            target
                .get("refName")
                .and_then(Value::as_str)
                .unwrap_or_default(),
            extra.clone(),
        )?;
        written.push(Value::Object(extra));
    }
    Ok(data_output(written))
}

fn create(ctx: &mut OpContext<'_, '_>, doctype: &str) -> Result<Value> {
    if doctype == AUDIT_TRAIL {
        return correct_audit(ctx);
    }
    let records = records(&ctx.request().input)?;
    insert(ctx, doctype, records, None)
}

/// Create `records` of `doctype` (an amendment of the document `amends`, when given).
pub(super) fn insert(
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
    let batch: HashMap<String, bool> = match doctype {
        SCHEMA => records
            .iter()
            .filter_map(|r| {
                let name = r.get("name").and_then(Value::as_str)?;
                Some((name.to_string(), schema::flag(r.get("istable"))))
            })
            .collect(),
        _ => HashMap::new(),
    };
    if ctx.request().options.validate == Some(false) && [SCHEMA, OPERATION].contains(&doctype) {
        return Err(Error::bad_request(format!(
            "{doctype} documents are always validated (`options.validate = false` is refused)"
        )));
    }
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
        // Frappe's own Role and User files extend the seeded schemas (see `extend_seed`).
        let extends = doctype == SCHEMA && schema::frappe::EXTENDABLE.contains(&name.as_str());
        if !name.is_empty() {
            if !extends {
                protect_seeded(doctype, &name)?;
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
            let seed = schema::seeds()
                .into_iter()
                .find(|s| s["name"] == name.as_str());
            *data =
                schema::frappe::extend_seed(&seed.expect("extendable schemas are seeded"), data);
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
        if doctype == OPERATION {
            check_operation_doc(&doc, None)?;
        }
        if doctype == TEMPLATE {
            crate::workflow::check_template_doc(ctx, &doc)?;
        }
        integrity::check_save(ctx, doctype, replaced.as_ref(), Some(&doc))?;
        ctx.charge_write(doctype, &name, bytes)?;
        if let Some(tables) = ctx.tables_if_writing() {
            tables.put_doc(doctype, &name, &doc, &indexed)?;
            if doctype == SCHEMA {
                reindex_after_schema_change(tables, replaced.as_ref(), Some(&doc))?;
            }
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
            let mut found = matching(view, doctype, schema, &query, None)?;
            // `if_owner`: a `where` reaches only the owner's documents, as a select's does,
            // so matching reveals nothing about the others (no refusal naming one).
            if let Some(user) = ctx.own_only() {
                found.retain(|doc| doc.get("owner").and_then(Value::as_str) == Some(user));
            }
            Ok(found)
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

fn update(ctx: &mut OpContext<'_, '_>, doctype: &str) -> Result<Value> {
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
pub(super) fn modify(
    ctx: &mut OpContext<'_, '_>,
    doctype: &str,
    mut changes: Doc,
    intent: Intent,
) -> Result<Value> {
    strip_engine_fields(&mut changes, doctype)?;
    let rename = changes.remove("name");
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
        protect_seeded(doctype, &name)?;
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
        if doctype == OPERATION {
            check_operation_doc(&doc, Some(&before))?;
        }
        if doctype == TEMPLATE {
            crate::workflow::check_template_doc(ctx, &doc)?;
        }
        integrity::check_save(ctx, doctype, Some(&before), Some(&doc))?;
        ctx.charge_write(doctype, &name, bytes)?;
        if let Some(tables) = ctx.tables_if_writing() {
            tables.put_doc(doctype, &name, &doc, &indexed)?;
            if doctype == SCHEMA {
                reindex_after_schema_change(tables, Some(&before), Some(&doc))?;
            }
        }
        let mut diff = Map::new();
        diff.insert("diff".into(), audit::diff(&before, &doc));
        ctx.audit(transition.action(), doctype, &name, diff)?;
        updated.push(Value::Object(doc));
    }
    if !errors.is_empty() {
        return Err(validation_failed(doctype, errors));
    }
    Ok(data_output(updated))
}

fn delete(ctx: &mut OpContext<'_, '_>, doctype: &str) -> Result<Value> {
    let schema = ctx.schema(doctype)?;
    let indexed = schema
        .as_deref()
        .map(Schema::indexed_fields)
        .unwrap_or_default();
    // A document named for deletion whose stored body cannot be read back is deleted all
    // the same, as a stub of its name (its audit entry says the body was unreadable).
    let named = ctx.request().input.get("name").and_then(Value::as_str);
    let (docs, unreadable) = match targets(ctx, doctype, schema.as_deref()) {
        Err(e) if unreadable_doc(&e).is_some_and(|(_, name)| Some(name) == named) => {
            let name = named.unwrap_or_default();
            let stub = json!({"doctype": doctype, "name": name});
            let Value::Object(stub) = stub else {
                unreachable!("an object literal")
            };
            (vec![stub], true)
        }
        other => (other?, false),
    };
    // Documents linking to what goes would fail every later update: refuse (CONFLICT).
    let links = ctx.link_plan(doctype)?;
    let deleting: HashSet<(String, String)> = docs
        .iter()
        .filter_map(|d| d.get("name").and_then(Value::as_str))
        .map(|n| (doctype.to_string(), n.to_string()))
        .collect();
    let mut deleted = Vec::with_capacity(docs.len());
    for doc in docs {
        let name = doc_name(&doc)?;
        protect_seeded(doctype, &name)?;
        ctx.may_change(doctype, &doc)?;
        if doctype == OPERATION {
            check_operation_delete(&doc)?;
        }
        lifecycle::on_delete(doctype, schema.as_deref(), &doc)?;
        links.refuse_if_linked(ctx.view(), doctype, &name, &deleting)?;
        integrity::check_save(ctx, doctype, Some(&doc), None)?;
        ctx.charge_write(doctype, &name, 0)?;
        if let Some(tables) = ctx.tables_if_writing() {
            tables.remove_doc(doctype, &name, &indexed)?;
            if doctype == SCHEMA {
                reindex_after_schema_change(tables, Some(&doc), None)?;
            }
        }
        let mut extra = Map::new();
        if unreadable {
            extra.insert("bodyUnreadable".into(), json!(true));
        }
        ctx.audit(Action::Delete, doctype, &name, extra)?;
        deleted.push(json!(name));
    }
    Ok(data_output(deleted))
}

/// `{"data": documents}`, the output of the built-in operations. (Built by hand: `json!`
/// would copy every document through serde.)
fn data_output(documents: Vec<Value>) -> Value {
    let mut output = Map::with_capacity(2);
    output.insert("data".into(), Value::Array(documents));
    Value::Object(output)
}
