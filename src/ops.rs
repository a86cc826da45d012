//! Operations: the built-in select / create / update / delete, and the registry that
//! resolves an operation's name (aliases included) to what executes it.
//!
//! Each built-in declares its settings (which target key it needs, which input keys it
//! takes, whether it writes) and the pipeline applies them uniformly. Handlers read and
//! write only through the store's tables handed to them; they never commit, never record
//! runs and never check permissions: the pipeline does.

use crate::engine::OpContext;
use crate::error::{Error, ErrorCode, Result};
use crate::query::{Doc, Query};
use crate::run::{RunRequest, type_name};
use crate::store::View;
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::sync::Arc;

/// Fields the engine sets on every document; a caller's values for them are ignored.
pub(crate) const META_FIELDS: [&str; 7] = [
    "creation",
    "modified",
    "owner",
    "modifiedBy",
    "createdByRun",
    "modifiedByRun",
    "createdByTemplate",
];

/// The most rows a select returns; `output.meta.truncated` says when it cut the result.
pub const MAX_SELECT_ROWS: usize = 10_000;

/// The longest document name (Frappe's limit).
const MAX_NAME_LEN: usize = 140;

/// A handler written in Rust and registered by the embedding host.
pub type NativeHandler = dyn Fn(&mut OpContext<'_, '_>) -> Result<Value> + Send + Sync;

/// Which request key names the target of an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TargetKey {
    From,
    Into,
    In,
    /// Any key, or none (native operations decide for themselves).
    Optional,
}

impl TargetKey {
    fn name(self) -> &'static str {
        match self {
            TargetKey::From => "from",
            TargetKey::Into => "into",
            TargetKey::In => "in",
            TargetKey::Optional => "doctype",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Builtin {
    Select,
    Create,
    Update,
    Delete,
}

/// What executes an operation.
#[derive(Clone)]
pub(crate) enum Handler {
    Builtin(Builtin),
    Native(Arc<NativeHandler>),
}

/// An operation as the pipeline sees it: its settings and its handler.
#[derive(Clone)]
pub(crate) struct Operation {
    pub name: String,
    pub target: TargetKey,
    /// Input keys the operation understands; `None` = anything.
    pub input_keys: Option<&'static [&'static str]>,
    pub requires_input: bool,
    /// Whether it may write (read-only runs skip the write transaction and its fsync).
    pub writes: bool,
    pub handler: Handler,
}

fn builtin(name: &str) -> Option<Operation> {
    let (builtin, target, input_keys, requires_input, writes): (
        _,
        _,
        &'static [&'static str],
        _,
        _,
    ) = match name {
        "select" | "read" => (
            Builtin::Select,
            TargetKey::From,
            &["where", "orderBy", "take", "skip", "select"],
            false,
            false,
        ),
        "create" | "insert" => (Builtin::Create, TargetKey::Into, &["data"], true, true),
        "update" => (
            Builtin::Update,
            TargetKey::In,
            &["data", "where", "name"],
            true,
            true,
        ),
        "delete" => (
            Builtin::Delete,
            TargetKey::From,
            &["where", "name"],
            true,
            true,
        ),
        _ => return None,
    };
    let canonical = match builtin {
        Builtin::Select => "select",
        Builtin::Create => "create",
        Builtin::Update => "update",
        Builtin::Delete => "delete",
    };
    Some(Operation {
        name: canonical.to_string(),
        target,
        input_keys: Some(input_keys),
        requires_input,
        writes,
        handler: Handler::Builtin(builtin),
    })
}

/// Every operation the engine knows: built-ins and the host's native ones.
#[derive(Clone, Default)]
pub(crate) struct Registry {
    native: HashMap<String, Arc<NativeHandler>>,
}

impl Registry {
    pub(crate) fn add_native(&mut self, name: String, handler: Arc<NativeHandler>) {
        self.native.insert(name, handler);
    }

    /// Resolve a name (aliases included) to its operation.
    pub(crate) fn resolve(&self, name: Option<&str>) -> Result<Operation> {
        let name = name.ok_or_else(|| Error::bad_request("the request names no `operation`"))?;
        if let Some(op) = builtin(name) {
            return Ok(op);
        }
        if let Some(handler) = self.native.get(name) {
            return Ok(Operation {
                name: name.to_string(),
                target: TargetKey::Optional,
                input_keys: None,
                requires_input: false,
                writes: true,
                handler: Handler::Native(handler.clone()),
            });
        }
        let mut known: Vec<&str> = vec!["select", "read", "create", "insert", "update", "delete"];
        known.extend(self.native.keys().map(String::as_str));
        Err(Error::new(
            ErrorCode::UnknownOperation,
            format!("unknown operation `{name}` (known: {})", known.join(", ")),
        ))
    }
}

impl Operation {
    /// Check the request against the operation's settings; returns the target doctype.
    pub(crate) fn check(&self, req: &RunRequest) -> Result<Option<String>> {
        let target = match self.target {
            TargetKey::From => req.doctype.as_ref().or(req.from.as_ref()),
            TargetKey::Into => req.doctype.as_ref().or(req.into.as_ref()),
            TargetKey::In => req.doctype.as_ref().or(req.in_.as_ref()),
            TargetKey::Optional => None,
        };
        let target = match (self.target, target) {
            (TargetKey::Optional, _) => req.target().map(str::to_string),
            (_, Some(target)) => Some(target.clone()),
            (_, None) => {
                let misplaced = req
                    .target()
                    .map(|t| format!(" (`{t}` was given under another key)"))
                    .unwrap_or_default();
                return Err(Error::new(
                    ErrorCode::MissingTarget,
                    format!(
                        "`{}` needs a target: `{}` or `doctype`{misplaced}",
                        self.name,
                        self.target.name()
                    ),
                ));
            }
        };
        if let Some(target) = &target {
            check_doctype_name(target)?;
        }
        match (&req.input, self.requires_input) {
            (Value::Null, true) => {
                return Err(Error::bad_request(format!(
                    "`{}` needs an `input`",
                    self.name
                )));
            }
            (Value::Null, false) | (Value::Object(_), _) => {}
            (other, _) if self.input_keys.is_some() => {
                return Err(Error::bad_request(format!(
                    "`input` must be an object, got {}",
                    type_name(other)
                )));
            }
            _ => {}
        }
        if let (Some(keys), Value::Object(input)) = (self.input_keys, &req.input)
            && let Some(unknown) = input.keys().find(|k| !keys.contains(&k.as_str()))
        {
            return Err(Error::bad_request(format!(
                "`{}` does not take `input.{unknown}` (it takes: {})",
                self.name,
                keys.join(", ")
            ))
            .with_details(json!({"key": unknown})));
        }
        Ok(target)
    }
}

fn check_doctype_name(doctype: &str) -> Result<()> {
    if doctype.trim().is_empty() || doctype.contains('\0') {
        return Err(Error::bad_request(format!(
            "`{doctype}` is not a valid doctype name"
        )));
    }
    Ok(())
}

fn check_doc_name(name: &str) -> Result<()> {
    if name.trim().is_empty() || name.contains('\0') || name.chars().count() > MAX_NAME_LEN {
        return Err(Error::bad_request(format!(
            "`{name}` is not a valid document name (non-empty, no NUL, at most {MAX_NAME_LEN} characters)"
        )));
    }
    Ok(())
}

/// Execute a built-in.
pub(crate) fn execute_builtin(
    builtin: Builtin,
    ctx: &mut OpContext<'_, '_>,
    doctype: &str,
) -> Result<Value> {
    match builtin {
        Builtin::Select => select(ctx.view(), doctype, &ctx.request().input),
        Builtin::Create => create(ctx, doctype),
        Builtin::Update => update(ctx, doctype),
        Builtin::Delete => delete(ctx, doctype),
    }
}

/// The documents of `doctype` a filter selects, using the name as a key when the filter
/// pins it.
fn matching(view: &dyn View, doctype: &str, query: &Query) -> Result<Vec<Doc>> {
    let mut found = Vec::new();
    match query.filter.as_ref() {
        Some(filter) => match filter.candidates("name") {
            Some(names) => {
                let mut seen = std::collections::HashSet::new();
                for name in names.iter().filter_map(Value::as_str) {
                    if !seen.insert(name) {
                        continue;
                    }
                    if let Some(doc) = view.get_doc(doctype, name)?
                        && filter.matches(&doc)
                    {
                        found.push(doc);
                    }
                }
            }
            None => view.scan_docs(doctype, &mut |doc| {
                if filter.matches(&doc) {
                    found.push(doc);
                }
                true
            })?,
        },
        None => view.scan_docs(doctype, &mut |doc| {
            found.push(doc);
            true
        })?,
    }
    Ok(found)
}

fn select(view: &dyn View, doctype: &str, input: &Value) -> Result<Value> {
    let mut query = Query::parse(input)?;
    let requested = query.take;
    let limit = requested.unwrap_or(MAX_SELECT_ROWS).min(MAX_SELECT_ROWS);
    query.take = Some(limit);
    let found = matching(view, doctype, &query)?;
    let total = found.len();
    let page: Vec<Value> = query
        .sort_and_page(found)
        .into_iter()
        .map(|doc| Value::Object(query.project(doc)))
        .collect();
    let mut meta = json!({"count": page.len(), "total": total});
    if total.saturating_sub(query.skip) > limit && requested.is_none_or(|t| t > limit) {
        meta["truncated"] = json!(true);
        meta["limit"] = json!(MAX_SELECT_ROWS);
    }
    Ok(json!({"data": page, "meta": meta}))
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

/// Drop what the caller may not set and check the doctype it names, if any.
fn strip_engine_fields(data: &mut Doc, doctype: &str) -> Result<()> {
    if let Some(given) = data.remove("doctype")
        && given.as_str() != Some(doctype)
    {
        return Err(Error::bad_request(format!(
            "`data.doctype` is {given} but the target is `{doctype}`"
        )));
    }
    for field in META_FIELDS {
        data.remove(field);
    }
    Ok(())
}

fn create(ctx: &mut OpContext<'_, '_>, doctype: &str) -> Result<Value> {
    let records = records(&ctx.request().input)?;
    let mut created = Vec::with_capacity(records.len());
    for mut data in records {
        strip_engine_fields(&mut data, doctype)?;
        let name = match data.remove("name") {
            Some(Value::String(name)) => {
                check_doc_name(&name)?;
                if ctx.view().get_doc(doctype, &name)?.is_some() {
                    return Err(Error::new(
                        ErrorCode::Conflict,
                        format!("{doctype} `{name}` already exists"),
                    )
                    .with_details(json!({"doctype": doctype, "name": name})));
                }
                name
            }
            Some(Value::Null) | None => generate_name(ctx.view(), doctype)?,
            Some(other) => {
                return Err(Error::bad_request(format!(
                    "`data.name` must be a string, got {}",
                    type_name(&other)
                )));
            }
        };
        let stamp = ctx.stamp();
        let mut doc = Map::with_capacity(data.len() + 8);
        doc.insert("doctype".into(), json!(doctype));
        doc.insert("name".into(), json!(name));
        doc.extend(data);
        doc.insert("creation".into(), json!(stamp.time));
        doc.insert("modified".into(), json!(stamp.time));
        doc.insert("owner".into(), json!(stamp.user));
        doc.insert("modifiedBy".into(), json!(stamp.user));
        doc.insert("createdByRun".into(), json!(stamp.run_id));
        doc.insert("modifiedByRun".into(), json!(stamp.run_id));
        ctx.tables()?.put_doc(doctype, &name, &doc)?;
        created.push(Value::Object(doc));
    }
    Ok(json!({"data": created}))
}

/// A fresh hash-style name (10 characters), checked against the store.
fn generate_name(view: &dyn View, doctype: &str) -> Result<String> {
    loop {
        let name = crate::engine::new_ulid().to_string()[16..].to_lowercase();
        if view.get_doc(doctype, &name)?.is_none() {
            return Ok(name);
        }
    }
}

/// The documents an update or delete targets: `input.name` (must exist) or `input.where`.
fn targets(view: &dyn View, doctype: &str, input: &Value) -> Result<Vec<Doc>> {
    match (input.get("name"), input.get("where")) {
        (Some(_), Some(_)) => Err(Error::bad_request(
            "give either `input.name` or `input.where`, not both",
        )),
        (Some(Value::String(name)), None) => match view.get_doc(doctype, name)? {
            Some(doc) => Ok(vec![doc]),
            None => Err(
                Error::not_found(format!("{doctype} `{name}` does not exist"))
                    .with_details(json!({"doctype": doctype, "name": name})),
            ),
        },
        (Some(other), None) => Err(Error::bad_request(format!(
            "`input.name` must be a string, got {}",
            type_name(other)
        ))),
        (None, Some(filter)) => {
            let query = Query::parse(&json!({"where": filter}))?;
            matching(view, doctype, &query)
        }
        (None, None) => Err(Error::bad_request("give `input.name` or `input.where`")),
    }
}

fn update(ctx: &mut OpContext<'_, '_>, doctype: &str) -> Result<Value> {
    let input = ctx.request().input.clone();
    let mut changes = match input.get("data") {
        Some(Value::Object(data)) => data.clone(),
        Some(other) => {
            return Err(Error::bad_request(format!(
                "`input.data` must be an object, got {}",
                type_name(other)
            )));
        }
        None => return Err(Error::bad_request("`input.data` is missing")),
    };
    strip_engine_fields(&mut changes, doctype)?;
    let rename = changes.remove("name");
    let docs = targets(ctx.view(), doctype, &input)?;
    let mut updated = Vec::with_capacity(docs.len());
    for mut doc in docs {
        if let Some(new_name) = &rename
            && doc.get("name") != Some(new_name)
        {
            return Err(Error::bad_request(format!(
                "an update cannot rename a document (`{}` to {new_name})",
                doc.get("name").and_then(Value::as_str).unwrap_or_default()
            )));
        }
        let stamp = ctx.stamp();
        for (field, value) in &changes {
            doc.insert(field.clone(), value.clone());
        }
        doc.insert("modified".into(), json!(stamp.time));
        doc.insert("modifiedBy".into(), json!(stamp.user));
        doc.insert("modifiedByRun".into(), json!(stamp.run_id));
        let name = doc_name(&doc)?;
        ctx.tables()?.put_doc(doctype, &name, &doc)?;
        updated.push(Value::Object(doc));
    }
    Ok(json!({"data": updated}))
}

fn delete(ctx: &mut OpContext<'_, '_>, doctype: &str) -> Result<Value> {
    let docs = targets(ctx.view(), doctype, &ctx.request().input)?;
    let mut deleted = Vec::with_capacity(docs.len());
    for doc in docs {
        let name = doc_name(&doc)?;
        ctx.tables()?.remove_doc(doctype, &name)?;
        deleted.push(json!(name));
    }
    Ok(json!({"data": deleted}))
}

fn doc_name(doc: &Doc) -> Result<String> {
    doc.get("name")
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| Error::internal("a stored document has no name"))
}
