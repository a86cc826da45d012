//! The `restore` operation (Frappe's "Deleted Document" restore): bring a deleted document
//! back from the snapshot its last delete entry holds, as a new create whose entry names
//! `restoredFrom: <seq>`. It runs through the pipeline like any create (permission to
//! create, today's validation, the run record, the audit trail).
//!
//! What comes back: the snapshot's fields, validated against today's schema; `creation`,
//! `owner`, `createdByRun` and `createdByTemplate` stay the original's (the document's
//! lineage), `modified`, `modifiedBy` and `modifiedByRun` are the restore's. A cancelled
//! document comes back cancelled (see [`lifecycle::restores_cancelled`]). It never
//! restores over an existing document, and never from an entry that is not a delete.

use super::builtins::{Origin, insert};
use super::lifecycle;
use crate::audit;
use crate::doc::Doc;
use crate::error::{Error, ErrorCode, FieldError, Result};
use crate::handler::OpContext;
use serde_json::{Value, json};

/// The meta fields a restored document keeps from its snapshot.
const KEPT: [&str; 4] = ["creation", "owner", "createdByRun", "createdByTemplate"];

pub(super) fn restore(ctx: &mut OpContext<'_, '_>, doctype: &str) -> Result<Value> {
    let name = lifecycle::named_document(
        &ctx.request().input,
        "`restore` needs `input.name`: the deleted document to bring back",
    )?;
    let details = json!({"doctype": doctype, "name": name});
    if ctx.view().get_doc_bytes(doctype, &name)?.is_some() {
        return Err(Error::new(
            ErrorCode::Conflict,
            format!("{doctype} `{name}` exists: only a deleted document can be restored"),
        )
        .with_details(details));
    }
    let (seq, snapshot) = match audit::last_entry_of(ctx.view(), doctype, &name)? {
        Some((seq, action, snapshot)) if action == "delete" => (seq, snapshot),
        Some((seq, action, _)) => {
            return Err(Error::not_found(format!(
                "{doctype} `{name}` was not deleted by the engine: its last entry ({seq}) is a `{action}`, so there is no snapshot to restore from"
            ))
            .with_details(json!({"doctype": doctype, "name": name, "seq": seq})));
        }
        None => {
            return Err(Error::not_found(format!(
                "no audit entry records a deletion of {doctype} `{name}`"
            ))
            .with_details(details));
        }
    };
    let mut record = match snapshot {
        Some(Value::Object(snapshot)) if audit::redacted_object(&snapshot).is_none() => snapshot,
        other => {
            let why = if other.is_none() {
                "holds no snapshot (it was deleted before delete entries kept one, or its body could not be read)"
            } else {
                "holds no readable snapshot (it was redacted)"
            };
            return Err(Error::Validation {
                message: format!(
                    "{doctype} `{name}` cannot be restored: its delete entry ({seq}) {why}"
                ),
                errors: vec![FieldError {
                    path: audit::SNAPSHOT.into(),
                    rule: "snapshot".into(),
                    message: format!("delete entry {seq} {why}"),
                }],
            });
        }
    };
    ctx.may_change(doctype, &record)?;
    let schema = ctx.schema(doctype)?;
    let mut kept: Doc = KEPT
        .iter()
        .filter_map(|field| Some((field.to_string(), record.get(*field)?.clone())))
        .collect();
    if lifecycle::restores_cancelled(schema.as_deref(), &record) {
        kept.insert(
            "docstatus".into(),
            record.remove("docstatus").unwrap_or_default(),
        );
    }
    record.insert("name".into(), json!(name));
    insert(ctx, doctype, vec![record], Origin::Restores { seq, kept })
}
