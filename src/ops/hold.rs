//! The save rules of `Legal Hold` documents: only the superuser or a System Manager creates
//! or lifts a hold (any user while access control is off); a hold names at least one target
//! and an existing doctype; once created its targets and reason never change, it is lifted
//! only by an update setting `lifted: 1` with a `liftReason`, never un-lifted, never
//! deleted. Creating and lifting are ordinary audited writes, so each is an audit event.

use crate::doc::Doc;
use crate::error::{Error, ErrorCode, FieldError, Result};
use crate::handler::OpContext;
use crate::retention::holds::{Hold, LEGAL_HOLD, is_lifted};
use serde_json::Value;

/// The role that may create or lift holds besides the superuser.
const HOLD_ROLE: &str = "System Manager";

/// The fields a hold's creation fixes for good.
const FIXED: [&str; 6] = [
    "heldDoctype",
    "heldName",
    "heldOwner",
    "heldFlowId",
    "heldFlowType",
    "reason",
];

/// Check one write of a `Legal Hold` document, `before` (`None`: created) → `after`
/// (`None`: deleted).
pub(super) fn guard(
    ctx: &OpContext<'_, '_>,
    before: Option<&Doc>,
    after: Option<&Doc>,
) -> Result<()> {
    let Some(after) = after else {
        return Err(Error::new(
            ErrorCode::Immutable,
            "a Legal Hold is never deleted: lift it with an update setting `lifted: 1` and `liftReason`",
        ));
    };
    if let Some(identity) = ctx.identity()
        && !identity.superuser
        && !identity.roles.iter().any(|r| r == HOLD_ROLE)
    {
        return Err(Error::new(
            ErrorCode::PermissionDenied,
            format!(
                "only the superuser or a {HOLD_ROLE} may create or lift a Legal Hold; `{}` is neither",
                identity.user
            ),
        ));
    }
    match before {
        None => check_new(ctx, after),
        Some(before) => check_lift(before, after),
    }
}

fn invalid(path: &str, message: String) -> Error {
    Error::Validation {
        message: format!("the Legal Hold is not valid: {message}"),
        errors: vec![FieldError {
            path: path.into(),
            rule: "legalHold".into(),
            message,
        }],
    }
}

/// A new hold names a target, `heldName` only with `heldDoctype`, a doctype that exists,
/// and is not lifted already.
fn check_new(ctx: &OpContext<'_, '_>, doc: &Doc) -> Result<()> {
    let text = |key: &str| {
        doc.get(key)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    };
    let hold = Hold::from_doc(doc);
    if is_lifted(doc) {
        return Err(invalid(
            "lifted",
            "a Legal Hold is created active; lift it later with an update".into(),
        ));
    }
    if hold.is_none_or(|h| h.is_empty()) {
        return Err(invalid(
            "heldDoctype",
            "a Legal Hold names what it holds: heldDoctype (with heldName for one document), heldOwner, heldFlowId or heldFlowType".into(),
        ));
    }
    if text("heldName").is_some() && text("heldDoctype").is_none() {
        return Err(invalid(
            "heldName",
            "`heldName` names a document of `heldDoctype`, which is missing".into(),
        ));
    }
    if let Some(doctype) = text("heldDoctype")
        && !doctype_known(ctx, doctype)?
    {
        return Err(invalid(
            "heldDoctype",
            format!("`heldDoctype` names `{doctype}`, which is not a doctype of this store"),
        ));
    }
    Ok(())
}

/// Whether `doctype` has a schema or, schemaless, documents.
fn doctype_known(ctx: &OpContext<'_, '_>, doctype: &str) -> Result<bool> {
    if ctx.schema(doctype)?.is_some() {
        return Ok(true);
    }
    let mut found = false;
    ctx.view().scan_docs(doctype, &mut |_| {
        found = true;
        false
    })?;
    Ok(found)
}

/// An update only lifts an active hold, with a reason.
fn check_lift(before: &Doc, after: &Doc) -> Result<()> {
    let name = after.get("name").and_then(Value::as_str).unwrap_or("?");
    if is_lifted(before) {
        return Err(Error::new(
            ErrorCode::Immutable,
            format!(
                "Legal Hold `{name}` is lifted: it cannot be changed again (create a new hold)"
            ),
        ));
    }
    for field in FIXED {
        if before.get(field) != after.get(field) {
            return Err(Error::new(
                ErrorCode::Immutable,
                format!(
                    "Legal Hold `{name}`: `{field}` cannot change; an update only lifts a hold (`lifted: 1`, `liftReason`)"
                ),
            ));
        }
    }
    if !is_lifted(after) {
        return Err(invalid(
            "lifted",
            format!("an update of Legal Hold `{name}` lifts it: set `lifted: 1` with `liftReason`"),
        ));
    }
    let reason = after
        .get("liftReason")
        .and_then(Value::as_str)
        .filter(|r| !r.trim().is_empty());
    if reason.is_none() {
        return Err(invalid(
            "liftReason",
            format!("lifting Legal Hold `{name}` needs a `liftReason`"),
        ));
    }
    Ok(())
}

/// The doctype these rules are for.
pub(super) const DOCTYPE: &str = LEGAL_HOLD;
