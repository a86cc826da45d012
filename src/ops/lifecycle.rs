//! The document lifecycle of submittable doctypes (Frappe's `docstatus`): a document of a
//! schema with `is_submittable: 1` is a draft (0), then submitted (1), then cancelled (2),
//! and never moves back. A submitted document keeps its values except the fields marked
//! `allow_on_submit`; a cancelled one cannot change at all, but can be amended: a new draft
//! `NAME-1` linked by `amended_from`.
//!
//! The rules apply wherever `docstatus` can change — a `create`, an `update` (with or
//! without `docstatus`), a `delete`, and the `submit`, `cancel` and `amend` operations —
//! and each transition checks its own DocPerm flag (`submit`, `cancel`, `amend`). This module
//! judges transitions and builds amendments; the built-ins write them.

use super::META_FIELDS;
use super::builtins::{self, Intent};
use crate::acl::{self, Access, Grant};
use crate::audit::Action;
use crate::doc::Doc;
use crate::error::{Error, ErrorCode, FieldError, Result};
use crate::handler::OpContext;
use crate::query::values_equal;
use crate::run::type_name;
use crate::schema::{Kind, Schema, flag};
use serde_json::{Value, json};

/// `docstatus` of a draft.
const DRAFT: i64 = 0;
/// `docstatus` of a submitted document.
const SUBMITTED: i64 = 1;
/// `docstatus` of a cancelled document.
const CANCELLED: i64 = 2;

/// The field linking an amendment to the document it amends.
const AMENDED_FROM: &str = "amended_from";

/// What a save does to a document's lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Transition {
    /// A plain save (a draft stays a draft, or the doctype is not submittable).
    Save,
    /// 0 → 1.
    Submit,
    /// 1 → 1: only `allow_on_submit` fields changed.
    UpdateAfterSubmit,
    /// 1 → 2.
    Cancel,
}

impl Transition {
    /// The audit action of the save.
    pub(super) fn action(self) -> Action {
        match self {
            Transition::Save | Transition::UpdateAfterSubmit => Action::Update,
            Transition::Submit => Action::Submit,
            Transition::Cancel => Action::Cancel,
        }
    }
}

/// Whether documents of `schema` have a lifecycle (`is_submittable: 1`).
pub(super) fn is_submittable(schema: Option<&Schema>) -> bool {
    schema.is_some_and(|s| flag(s.doc.get("is_submittable")))
}

/// Refuse a lifecycle operation on a doctype that has none (BAD_REQUEST).
pub(super) fn require_submittable(
    ctx: &OpContext<'_, '_>,
    doctype: &str,
    schema: Option<&Schema>,
) -> Result<()> {
    if is_submittable(schema) {
        return Ok(());
    }
    Err(Error::bad_request(format!(
        "`{}` needs a submittable doctype: {doctype} is not submittable (its schema has no `is_submittable: 1`)",
        ctx.operation().name
    ))
    .with_details(json!({"doctype": doctype})))
}

fn label(status: i64) -> &'static str {
    match status {
        DRAFT => "0 (Draft)",
        SUBMITTED => "1 (Submitted)",
        _ => "2 (Cancelled)",
    }
}

fn join(prefix: &str, field: &str) -> String {
    if prefix.is_empty() {
        field.to_string()
    } else {
        format!("{prefix}.{field}")
    }
}

fn push(errors: &mut Vec<FieldError>, prefix: &str, field: &str, rule: &str, message: String) {
    errors.push(FieldError {
        path: join(prefix, field),
        rule: rule.into(),
        message,
    });
}

/// The `docstatus` a document asks for: absent or null is 0; anything but 0, 1 or 2 is a
/// violation (pushed; `None`).
fn docstatus(doc: &Doc, prefix: &str, errors: &mut Vec<FieldError>) -> Option<i64> {
    match doc.get("docstatus") {
        None | Some(Value::Null) => Some(DRAFT),
        Some(Value::Number(n)) if [0.0, 1.0, 2.0].contains(&n.as_f64().unwrap_or(-1.0)) => {
            n.as_f64().map(|f| f as i64)
        }
        Some(other) => {
            push(
                errors,
                prefix,
                "docstatus",
                "docstatus",
                format!(
                    "`docstatus` must be 0 (Draft), 1 (Submitted) or 2 (Cancelled), got {}",
                    crate::value::echo(other)
                ),
            );
            None
        }
    }
}

/// The `docstatus` of a stored document.
fn stored_docstatus(doc: &Doc) -> i64 {
    docstatus(doc, "", &mut Vec::new()).unwrap_or(DRAFT)
}

/// Refuse unless the run's owner has `access` on `doctype` reaching `doc` (access control
/// off: allowed).
fn permit(
    ctx: &OpContext<'_, '_>,
    doctype: &str,
    schema: Option<&Schema>,
    doc: &Doc,
    access: Access,
) -> Result<()> {
    let Some(identity) = ctx.identity() else {
        return Ok(());
    };
    let grant = acl::doctype_access(identity, schema, doctype, access, &ctx.operation().name)?;
    let owner = doc.get("owner").and_then(Value::as_str);
    if grant == Grant::OwnOnly && owner.is_some_and(|o| o != identity.user) {
        let name = doc.get("name").and_then(Value::as_str).unwrap_or("?");
        return Err(Error::new(
            ErrorCode::PermissionDenied,
            format!(
                "`{}` may only {} their own {doctype} documents; `{name}` is not theirs",
                identity.user,
                access.key()
            ),
        )
        .with_details(json!({"doctype": doctype, "name": name, "access": access.key()})));
    }
    Ok(())
}

/// Check the `docstatus` of a new document (its owner already stamped). Returns whether it is
/// created submitted (`docstatus: 1`, which needs the `submit` permission). A submittable
/// doctype's drafts carry `docstatus: 0` explicitly, so `where: {docstatus: 0}` finds them.
pub(super) fn on_create(
    ctx: &OpContext<'_, '_>,
    doctype: &str,
    schema: Option<&Schema>,
    doc: &mut Doc,
    prefix: &str,
    errors: &mut Vec<FieldError>,
) -> Result<bool> {
    let unvalidated = ctx.request().options.validate == Some(false);
    if schema.is_none() || (unvalidated && !is_submittable(schema)) {
        // The null schema, or a trusted import: anything goes (a submittable doctype's
        // lifecycle holds even then: it is about permissions, not values).
        return Ok(false);
    }
    let Some(status) = docstatus(doc, prefix, errors) else {
        return Ok(false);
    };
    if !is_submittable(schema) {
        if status != DRAFT {
            push(
                errors,
                prefix,
                "docstatus",
                "docstatus",
                format!("{doctype} is not submittable: `docstatus` must be 0"),
            );
        }
        return Ok(false);
    }
    doc.insert("docstatus".into(), json!(status));
    match status {
        DRAFT => Ok(false),
        SUBMITTED => {
            permit(ctx, doctype, schema, doc, Access::Submit)?;
            Ok(true)
        }
        _ => {
            push(
                errors,
                prefix,
                "docstatus",
                "docstatus",
                "a document cannot be created cancelled (`docstatus` 2): create a draft or submit one".into(),
            );
            Ok(false)
        }
    }
}

/// Judge the save `before` → `doc` of one stored document; violations of the rules go to
/// `errors`, refusals that are not about values (a cancelled document, a permission) are
/// returned.
pub(super) fn on_update(
    ctx: &OpContext<'_, '_>,
    doctype: &str,
    schema: Option<&Schema>,
    before: &Doc,
    doc: &Doc,
    intent: Intent,
    errors: &mut Vec<FieldError>,
) -> Result<Transition> {
    if schema.is_none() {
        return Ok(Transition::Save); // the null schema: anything goes
    }
    if !is_submittable(schema) {
        // A value stored before (an unvalidated import) locks nobody out: only a change counts.
        let old = before.get("docstatus").unwrap_or(&Value::Null);
        if values_equal(old, doc.get("docstatus").unwrap_or(&Value::Null)) {
            return Ok(Transition::Save);
        }
        if docstatus(doc, "", errors).is_some_and(|new| new != DRAFT) {
            push(
                errors,
                "",
                "docstatus",
                "docstatus",
                format!("{doctype} is not submittable: `docstatus` must be 0"),
            );
        }
        return Ok(Transition::Save);
    }
    let Some(new) = docstatus(doc, "", errors) else {
        return Ok(Transition::Save);
    };
    let old = stored_docstatus(before);
    let name = before.get("name").and_then(Value::as_str).unwrap_or("?");
    if old == CANCELLED {
        return Err(Error::new(
            ErrorCode::Immutable,
            format!("{doctype} `{name}` is cancelled and cannot be changed (amend it instead)"),
        )
        .with_details(json!({"doctype": doctype, "name": name, "docstatus": old})));
    }
    let wrong_state = match intent {
        Intent::Submit if old != DRAFT => Some("only drafts can be submitted"),
        Intent::Cancel if old != SUBMITTED => Some("only submitted documents can be cancelled"),
        _ => None,
    };
    if let Some(why) = wrong_state {
        push(
            errors,
            "",
            "docstatus",
            "docstatus",
            format!("{why}: `{name}` has docstatus {}", label(old)),
        );
        return Ok(Transition::Save);
    }
    let transition = match (old, new) {
        (DRAFT, DRAFT) => Transition::Save,
        (DRAFT, SUBMITTED) => Transition::Submit,
        (SUBMITTED, SUBMITTED) => Transition::UpdateAfterSubmit,
        (SUBMITTED, CANCELLED) => Transition::Cancel,
        (old, new) => {
            push(
                errors,
                "",
                "docstatus",
                "docstatus",
                format!(
                    "`docstatus` cannot go from {} to {} (a draft is submitted, then cancelled; a cancelled document is amended)",
                    label(old),
                    label(new)
                ),
            );
            return Ok(Transition::Save);
        }
    };
    match transition {
        Transition::Save => {}
        // Frappe checks `submit` for a submit and for an update after submit.
        Transition::Submit | Transition::UpdateAfterSubmit => {
            permit(ctx, doctype, schema, before, Access::Submit)?;
        }
        Transition::Cancel => permit(ctx, doctype, schema, before, Access::Cancel)?,
    }
    if matches!(
        transition,
        Transition::UpdateAfterSubmit | Transition::Cancel
    ) && let Some(schema) = schema
    {
        changed_after_submit(schema, before, doc, errors);
    }
    Ok(transition)
}

/// The fields of `schema` marked `allow_on_submit`.
fn allowed_on_submit(schema: &Schema) -> Vec<&str> {
    let rows = schema.doc.get("fields").and_then(Value::as_array);
    rows.into_iter()
        .flatten()
        .filter(|row| flag(row.get("allow_on_submit")))
        .filter_map(|row| row.get("fieldname").and_then(Value::as_str))
        .collect()
}

/// A submitted document's fields that changed without `allow_on_submit` (a Table field is
/// compared whole: its rows change only if the Table field allows it).
fn changed_after_submit(schema: &Schema, before: &Doc, doc: &Doc, errors: &mut Vec<FieldError>) {
    let allowed = allowed_on_submit(schema);
    let engine_kept = |key: &str| {
        META_FIELDS.contains(&key) || ["name", "doctype", "docstatus", "modified_by"].contains(&key)
    };
    let keys = doc
        .keys()
        .chain(before.keys().filter(|k| !doc.contains_key(*k)));
    for key in keys {
        if engine_kept(key) || allowed.contains(&key.as_str()) {
            continue;
        }
        let old = before.get(key).unwrap_or(&Value::Null);
        let new = doc.get(key).unwrap_or(&Value::Null);
        if !values_equal(old, new) {
            push(
                errors,
                "",
                key,
                "allow_on_submit",
                format!(
                    "`{key}` cannot be changed after submit (the field has no `allow_on_submit`)"
                ),
            );
        }
    }
}

/// Refuse to delete a submitted document (drafts and cancelled documents may go, as in
/// Frappe).
pub(super) fn on_delete(doctype: &str, schema: Option<&Schema>, doc: &Doc) -> Result<()> {
    if is_submittable(schema) && stored_docstatus(doc) == SUBMITTED {
        let name = doc.get("name").and_then(Value::as_str).unwrap_or("?");
        return Err(Error::new(
            ErrorCode::Immutable,
            format!("{doctype} `{name}` is submitted and cannot be deleted (cancel it first)"),
        )
        .with_details(json!({"doctype": doctype, "name": name, "docstatus": SUBMITTED})));
    }
    Ok(())
}

/// Whether a deleted document of `schema` comes back cancelled: a cancelled document is
/// restored as it was (a create could not make it: `docstatus` 2 is refused there), still
/// amendable and never submittable again.
pub(super) fn restores_cancelled(schema: Option<&Schema>, snapshot: &Doc) -> bool {
    is_submittable(schema) && stored_docstatus(snapshot) == CANCELLED
}

/// The `submit` and `cancel` operations: an update of `docstatus` alone, from the state the
/// operation expects.
pub(super) fn submit_or_cancel(
    ctx: &mut OpContext<'_, '_>,
    doctype: &str,
    intent: Intent,
) -> Result<Value> {
    let schema = ctx.schema(doctype)?;
    require_submittable(ctx, doctype, schema.as_deref())?;
    let status = match intent {
        Intent::Cancel => CANCELLED,
        _ => SUBMITTED,
    };
    let mut changes = Doc::new();
    changes.insert("docstatus".into(), json!(status));
    builtins::modify(ctx, doctype, changes, intent)
}

/// The document `input.name` names (a string), or BAD_REQUEST saying `missing`.
pub(super) fn named_document(input: &Value, missing: &str) -> Result<String> {
    match input.get("name") {
        Some(Value::String(name)) => Ok(name.clone()),
        Some(other) => Err(Error::bad_request(format!(
            "`input.name` must be a string, got {}",
            type_name(other)
        ))),
        None => Err(Error::bad_request(missing)),
    }
}

/// The `amend` operation: a new draft from the cancelled document `input.name`, named
/// [`amended_name`], linked by `amended_from`, with `input.data` applied over the copy.
pub(super) fn amend(ctx: &mut OpContext<'_, '_>, doctype: &str) -> Result<Value> {
    let schema = ctx.schema(doctype)?;
    require_submittable(ctx, doctype, schema.as_deref())?;
    let schema = schema.expect("a submittable doctype has a schema");
    let input = &ctx.request().input;
    let name = named_document(
        input,
        "`amend` needs `input.name`: the cancelled document to amend",
    )?;
    let changes = match input.get("data") {
        None | Some(Value::Null) => Doc::new(),
        Some(Value::Object(data)) => data.clone(),
        Some(other) => {
            return Err(Error::bad_request(format!(
                "`input.data` must be an object, got {}",
                type_name(other)
            )));
        }
    };
    if let Some(key) = ["name", "docstatus", AMENDED_FROM]
        .into_iter()
        .find(|k| changes.contains_key(*k))
    {
        return Err(Error::bad_request(format!(
            "`data.{key}` is set by `amend` and cannot be given"
        )));
    }
    let Some(source) = ctx.view().get_doc(doctype, &name)? else {
        return Err(
            Error::not_found(format!("{doctype} `{name}` does not exist"))
                .with_details(json!({"doctype": doctype, "name": name})),
        );
    };
    ctx.may_change(doctype, &source)?;
    let status = stored_docstatus(&source);
    if status != CANCELLED {
        return Err(Error::Validation {
            message: format!(
                "only cancelled documents can be amended: {doctype} `{name}` has docstatus {}",
                label(status)
            ),
            errors: vec![FieldError {
                path: "docstatus".into(),
                rule: "docstatus".into(),
                message: format!(
                    "`{name}` has docstatus {}, not 2 (Cancelled)",
                    label(status)
                ),
            }],
        });
    }
    if schema.field(AMENDED_FROM).is_none() && !schema.open {
        return Err(Error::Validation {
            message: format!(
                "{doctype} cannot be amended: its schema declares no `amended_from` field (Frappe's: Link, options `{doctype}`, read_only, no_copy)"
            ),
            errors: vec![FieldError {
                path: AMENDED_FROM.into(),
                rule: "amended_from".into(),
                message: format!("{doctype} declares no `amended_from` field"),
            }],
        });
    }
    // The amendment is a new document: creating it needs `create` too (as Frappe's insert).
    permit(ctx, doctype, Some(&schema), &source, Access::Create)?;
    let mut data = copy_for_amendment(&schema, &source);
    data.extend(changes);
    data.insert("name".into(), json!(amended_name(ctx, doctype, &source)?));
    data.insert(AMENDED_FROM.into(), json!(name));
    data.insert("docstatus".into(), json!(DRAFT));
    builtins::insert(ctx, doctype, vec![data], builtins::Origin::Amends(&name))
}

/// The values an amendment starts from: the source's own fields, without the engine's meta
/// fields, its lifecycle and the fields marked `no_copy`; child rows get new names.
fn copy_for_amendment(schema: &Schema, source: &Doc) -> Doc {
    let rows = schema.doc.get("fields").and_then(Value::as_array);
    let no_copy: Vec<&str> = rows
        .into_iter()
        .flatten()
        .filter(|row| flag(row.get("no_copy")))
        .filter_map(|row| row.get("fieldname").and_then(Value::as_str))
        .collect();
    let mut data = Doc::new();
    for (key, value) in source {
        let skip = META_FIELDS.contains(&key.as_str())
            || ["name", "doctype", "docstatus", AMENDED_FROM].contains(&key.as_str())
            || no_copy.contains(&key.as_str());
        if skip {
            continue;
        }
        let mut value = value.clone();
        let table = schema.field(key).is_some_and(|f| f.kind == Kind::Table);
        if let (true, Value::Array(rows)) = (table, &mut value) {
            for row in rows.iter_mut().filter_map(Value::as_object_mut) {
                row.remove("name");
                row.remove("docstatus");
            }
        }
        data.insert(key.clone(), value);
    }
    data
}

/// Frappe's amended name: `NAME-1`; amending an amendment (`NAME-1`, itself `amended_from`
/// another) strips its `-N` and takes `NAME-2`. A number already taken is passed over.
fn amended_name(ctx: &OpContext<'_, '_>, doctype: &str, source: &Doc) -> Result<String> {
    let name = source
        .get("name")
        .and_then(Value::as_str)
        .ok_or_else(|| Error::internal("a stored document has no name"))?;
    let is_amendment = source
        .get(AMENDED_FROM)
        .and_then(Value::as_str)
        .is_some_and(|s| !s.is_empty());
    let (prefix, mut number) = match name.rsplit_once('-') {
        Some((prefix, n)) if is_amendment && !prefix.is_empty() => match n.parse::<u64>() {
            Ok(n) => (prefix, n.saturating_add(1)),
            Err(_) => (name, 1),
        },
        _ => (name, 1),
    };
    loop {
        let candidate = format!("{prefix}-{number}");
        if ctx.view().get_doc(doctype, &candidate)?.is_none() {
            return Ok(candidate);
        }
        number = number.saturating_add(1);
    }
}
