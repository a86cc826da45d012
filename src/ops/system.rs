//! The save rules of system doctypes, in one table: the doctypes whose documents the engine
//! itself reads (schemas, operations, workflow templates, users, settings) or keeps (the audit
//! trail). Each declares here what a create, update or delete of one of its documents must
//! respect; the built-ins ask [`rules`] at their write points and never test a doctype's name.
//!
//! The checks themselves live with their concepts (`schema`, `ops`, `workflow`, `integrity`):
//! this module says which apply to which doctype, and when. Ordinary doctypes get
//! [`SaveRules::ORDINARY`], which adds nothing. No rule here writes a document; only the
//! `after_write` hook touches the write transaction (indexes), and the Audit Trail's create
//! appends entries through the run's audit.
//!
//! When each hook runs, for one document (the order the built-ins keep):
//! - create: `refuse_unvalidated`, then per document validation, naming, `protect` (unless it
//!   `extends` a seeded document), stamping and the size check, then `guard` and `integrity`,
//!   the write, `after_write`;
//! - update: `protect`, the owner check, validation, stamping and the size check, then
//!   `guard`, `integrity`, the write, `after_write`;
//! - delete: `protect`, the owner check, `guard`, the lifecycle and link checks, then
//!   `integrity`, the removal, `after_write`.
//!
//! The pipeline asks [`refuse_builtin`] before authorizing a run: the Audit Trail refuses
//! `update` and `delete` outright.

use super::{Builtin, OPERATION, check_operation_delete, check_operation_doc, integrity};
use crate::audit::AUDIT_TRAIL;
use crate::audit::{self, Action};
use crate::doc::Doc;
use crate::error::{Error, ErrorCode, Result};
use crate::handler::OpContext;
use crate::schema::{self, SCHEMA, SEEDED, Schema};
use crate::store::{Catalog, StoreTx, WriteTx};
use crate::workflow::TEMPLATE;
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::sync::LazyLock;

/// A check of one write: the document `before` (`None`: created) and `after` (`None`: deleted).
type Check = fn(&OpContext<'_, '_>, Option<&Doc>, Option<&Doc>) -> Result<()>;

/// Work in the write transaction after one write, `before` → `after`.
type AfterWrite = fn(&mut StoreTx<'_>, Option<&Doc>, Option<&Doc>) -> Result<()>;

/// What one create request's records tell the validation of each: name → flag.
type Batch = fn(&[Doc]) -> HashMap<String, bool>;

/// What a create does instead of inserting documents.
type Create = fn(&mut OpContext<'_, '_>) -> Result<Value>;

/// What a system doctype declares about saving its documents. Every hook is optional; the
/// flags default to "no special rule" ([`SaveRules::ORDINARY`]).
#[derive(Clone, Copy)]
pub(crate) struct SaveRules {
    /// The doctype these rules are for.
    doctype: &'static str,
    /// Its documents say how others are handled: writing one changes the meta generation,
    /// so what the engine caches from them is read again.
    meta: bool,
    /// Its documents are always validated: `options.validate = false` is refused.
    always_validated: bool,
    /// Another name `data.doctype` may give it (a Frappe DocType file says `DocType`).
    alias: Option<&'static str>,
    /// Seeded documents no create, update or delete may touch (IMMUTABLE).
    seeded: &'static [&'static str],
    /// Seeded documents a create extends (with `extend`) instead of conflicting with them.
    extendable: &'static [&'static str],
    /// Merges a created document into the seeded one it extends.
    extend: Option<fn(&str, &Doc) -> Doc>,
    /// Append-only: the `update` and `delete` built-ins are refused outright.
    append_only: bool,
    /// What `create` does instead of inserting documents.
    create: Option<Create>,
    /// What validation learns from the other documents of the same create request
    /// (name → flag; schemas: which of them are child tables).
    batch: Option<Batch>,
    /// The document's own rules, checked before it is written or deleted (a delete: ahead of
    /// the lifecycle and link checks).
    guard: Option<Check>,
    /// The rules against the rest of the store, checked last before the write or delete.
    integrity: Option<Check>,
    /// Work in the write transaction after the document was written or removed.
    after_write: Option<AfterWrite>,
}

impl SaveRules {
    /// The rules of an ordinary doctype: none beyond its schema.
    pub(crate) const ORDINARY: SaveRules = SaveRules {
        doctype: "",
        meta: false,
        always_validated: false,
        alias: None,
        seeded: &[],
        extendable: &[],
        extend: None,
        append_only: false,
        create: None,
        batch: None,
        guard: None,
        integrity: None,
        after_write: None,
    };
}

/// The system doctypes and their rules. (`Pack`, the record of installed packs, has none.)
static SYSTEM: [SaveRules; 8] = [
    SaveRules {
        doctype: SCHEMA,
        meta: true,
        always_validated: true,
        alias: Some("DocType"),
        seeded: &SEEDED,
        // Frappe's own Role and User files extend the seeded schemas (see `extend_seed`).
        extendable: &schema::frappe::EXTENDABLE,
        extend: Some(extend_seeded_schema),
        batch: Some(schemas_in_batch),
        integrity: Some(schema_integrity),
        after_write: Some(reindex_after_schema_change),
        ..SaveRules::ORDINARY
    },
    SaveRules {
        doctype: OPERATION,
        meta: true,
        always_validated: true,
        guard: Some(operation_guard),
        ..SaveRules::ORDINARY
    },
    SaveRules {
        doctype: TEMPLATE,
        meta: true,
        guard: Some(template_guard),
        ..SaveRules::ORDINARY
    },
    SaveRules {
        doctype: AUDIT_TRAIL,
        append_only: true,
        create: Some(correct_audit),
        ..SaveRules::ORDINARY
    },
    SaveRules {
        doctype: crate::acl::USER,
        meta: true,
        integrity: Some(user_integrity),
        ..SaveRules::ORDINARY
    },
    SaveRules {
        doctype: crate::acl::SETTINGS,
        meta: true,
        integrity: Some(settings_integrity),
        ..SaveRules::ORDINARY
    },
    SaveRules {
        doctype: super::hold::DOCTYPE,
        always_validated: true,
        guard: Some(super::hold::guard),
        ..SaveRules::ORDINARY
    },
    SaveRules {
        // No save rules of its own; access control reads role documents.
        doctype: "Role",
        meta: true,
        ..SaveRules::ORDINARY
    },
];

/// The save rules of `doctype` ([`SaveRules::ORDINARY`] for every non-system doctype).
pub(crate) fn rules(doctype: &str) -> &'static SaveRules {
    SYSTEM
        .iter()
        .find(|rules| rules.doctype == doctype)
        .unwrap_or(&SaveRules::ORDINARY)
}

/// Whether `doctype` is a system doctype (the engine reads or keeps its documents: erasure
/// refuses them).
pub(crate) fn is_system(doctype: &str) -> bool {
    !rules(doctype).doctype.is_empty() || doctype == crate::pack::PACK
}

/// The doctypes whose documents change the meta generation when written (what the store
/// must be told when it opens).
fn meta_doctypes() -> Vec<&'static str> {
    SYSTEM
        .iter()
        .filter(|rules| rules.meta)
        .map(|rules| rules.doctype)
        .collect()
}

/// What the store is told about the system doctypes when it opens: which are meta, and
/// which holds the audit trail.
pub(crate) fn store_catalog() -> Catalog {
    static META: LazyLock<Vec<&'static str>> = LazyLock::new(meta_doctypes);
    Catalog {
        meta_doctypes: &META,
        audit_doctype: AUDIT_TRAIL,
    }
}

/// Refuse what the built-in may not do to `doctype` at all, before anything else is checked:
/// the Audit Trail's entries are never updated or deleted (IMMUTABLE).
pub(crate) fn refuse_builtin(doctype: Option<&str>, builtin: Builtin) -> Result<()> {
    match doctype {
        Some(doctype)
            if rules(doctype).append_only
                && matches!(builtin, Builtin::Update | Builtin::Delete) =>
        {
            Err(audit::immutable())
        }
        _ => Ok(()),
    }
}

impl SaveRules {
    /// Refuse `options.validate = false` for a doctype that is always validated.
    pub(crate) fn refuse_unvalidated(&self, ctx: &OpContext<'_, '_>) -> Result<()> {
        if ctx.request().options.validate == Some(false) && self.always_validated {
            return Err(Error::bad_request(format!(
                "{} documents are always validated (`options.validate = false` is refused)",
                self.doctype
            )));
        }
        Ok(())
    }

    /// Whether `data.doctype` may say `given` for this doctype (besides its own name).
    pub(crate) fn is_alias(&self, given: &Value) -> bool {
        self.alias.is_some() && given.as_str() == self.alias
    }

    /// What `create` does instead of inserting documents (the Audit Trail: a correction).
    pub(crate) fn create(&self) -> Option<Create> {
        self.create
    }

    /// What validation learns from the other records of one create request.
    pub(crate) fn batch(&self, records: &[Doc]) -> HashMap<String, bool> {
        match self.batch {
            Some(batch) => batch(records),
            None => HashMap::new(),
        }
    }

    /// Refuse to create, change or delete a seeded document (IMMUTABLE).
    pub(crate) fn protect(&self, name: &str) -> Result<()> {
        if self.seeded.contains(&name) {
            // Only schemas are seeded this way (seeded operations are protected by their guard).
            return Err(Error::new(
                ErrorCode::Immutable,
                format!("the seeded schema `{name}` cannot be changed or deleted"),
            ));
        }
        Ok(())
    }

    /// Whether a create of `name` extends a seeded document (instead of conflicting with it).
    pub(crate) fn extends(&self, name: &str) -> bool {
        self.extend.is_some() && self.extendable.contains(&name)
    }

    /// The created document `data` merged into the seeded `name` it extends.
    pub(crate) fn extend(&self, name: &str, data: &Doc) -> Doc {
        let extend = self.extend.expect("only extendable doctypes extend");
        extend(name, data)
    }

    /// The document's own rules for one write: `before` (`None`: a create) → `after`
    /// (`None`: a delete).
    pub(crate) fn guard(
        &self,
        ctx: &OpContext<'_, '_>,
        before: Option<&Doc>,
        after: Option<&Doc>,
    ) -> Result<()> {
        self.guard.map_or(Ok(()), |guard| guard(ctx, before, after))
    }

    /// The rules against the rest of the store for one write, `before` → `after`.
    pub(crate) fn integrity(
        &self,
        ctx: &OpContext<'_, '_>,
        before: Option<&Doc>,
        after: Option<&Doc>,
    ) -> Result<()> {
        self.integrity
            .map_or(Ok(()), |integrity| integrity(ctx, before, after))
    }

    /// The follow-up work of one write, `before` → `after`, in its transaction.
    pub(crate) fn after_write(
        &self,
        tables: &mut StoreTx<'_>,
        before: Option<&Doc>,
        after: Option<&Doc>,
    ) -> Result<()> {
        self.after_write
            .map_or(Ok(()), |after_write| after_write(tables, before, after))
    }
}

/// Schemas created together: name → whether it is a child table (so a parent may name a
/// child table created in the same request).
fn schemas_in_batch(records: &[Doc]) -> HashMap<String, bool> {
    records
        .iter()
        .filter_map(|r| {
            let name = r.get("name").and_then(Value::as_str)?;
            Some((name.to_string(), schema::flag(r.get("istable"))))
        })
        .collect()
}

/// A Frappe Role or User file over the seeded schema of that name.
fn extend_seeded_schema(name: &str, data: &Doc) -> Doc {
    let seed = schema::seeds().into_iter().find(|s| s["name"] == name);
    schema::frappe::extend_seed(&seed.expect("extendable schemas are seeded"), data)
}

/// A schema does not make a field unique over duplicates.
fn schema_integrity(
    ctx: &OpContext<'_, '_>,
    before: Option<&Doc>,
    after: Option<&Doc>,
) -> Result<()> {
    match after {
        Some(after) => integrity::refuse_unique_over_duplicates(ctx.view(), before, after),
        None => Ok(()),
    }
}

/// After a schema document was written: build indexes for newly indexed fields of the
/// doctype it describes, drop those no longer indexed.
fn reindex_after_schema_change(
    tables: &mut StoreTx<'_>,
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

/// An operation's script compiles and protected operations keep their handler; protected
/// operations are not deleted.
fn operation_guard(_: &OpContext<'_, '_>, before: Option<&Doc>, after: Option<&Doc>) -> Result<()> {
    match (before, after) {
        (before, Some(after)) => check_operation_doc(after, before),
        (Some(before), None) => check_operation_delete(before),
        (None, None) => Ok(()),
    }
}

/// A workflow template names operations that exist and keeps within the workflow limits.
fn template_guard(ctx: &OpContext<'_, '_>, _: Option<&Doc>, after: Option<&Doc>) -> Result<()> {
    match after {
        Some(after) => crate::workflow::check_template_doc(ctx, after),
        None => Ok(()),
    }
}

/// The last superuser keeps the role while access control is on.
fn user_integrity(
    ctx: &OpContext<'_, '_>,
    before: Option<&Doc>,
    after: Option<&Doc>,
) -> Result<()> {
    match before {
        Some(before) => match ctx.superuser_role()? {
            Some(role) => integrity::keep_a_superuser(ctx.view(), &role, before, after),
            None => Ok(()),
        },
        None => Ok(()),
    }
}

/// The superuser role of the access control settings stays held by an enabled user, and
/// the retention settings hold a policy.
fn settings_integrity(
    ctx: &OpContext<'_, '_>,
    before: Option<&Doc>,
    after: Option<&Doc>,
) -> Result<()> {
    if let Some(after) = after
        && after.get("name").and_then(Value::as_str) == Some(crate::retention::RETENTION_NAME)
    {
        crate::retention::Retention::from_doc(after)?;
    }
    match (before, after) {
        (Some(before), Some(after))
            if after.get("name").and_then(Value::as_str).unwrap_or("?")
                == crate::acl::SETTINGS_NAME =>
        {
            integrity::keep_a_superuser_role(ctx.view(), before, after)
        }
        _ => Ok(()),
    }
}

/// A create into the Audit Trail is a correction: a new entry naming the one it corrects.
fn correct_audit(ctx: &mut OpContext<'_, '_>) -> Result<Value> {
    let records = super::builtins::records(&ctx.request().input)?;
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
    Ok(super::builtins::data_output(written))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_system_doctype_is_declared_once() {
        for (i, rules) in SYSTEM.iter().enumerate() {
            assert!(!rules.doctype.is_empty());
            assert!(
                SYSTEM[..i].iter().all(|r| r.doctype != rules.doctype),
                "{} declared twice",
                rules.doctype
            );
            assert!(std::ptr::eq(super::rules(rules.doctype), rules));
        }
        assert_eq!(rules("ToDo").doctype, "");
    }

    #[test]
    fn the_meta_doctypes_are_those_the_store_tracks() {
        let tracked = [
            "Schema",
            "Operation",
            "Workflow Template",
            "User",
            "System Settings",
            "Role",
        ];
        assert_eq!(meta_doctypes(), tracked);
    }

    #[test]
    fn only_the_audit_trail_refuses_update_and_delete() {
        for builtin in [Builtin::Update, Builtin::Delete] {
            let refused = refuse_builtin(Some(AUDIT_TRAIL), builtin).unwrap_err();
            assert_eq!(refused.code(), ErrorCode::Immutable);
            assert!(refuse_builtin(Some(SCHEMA), builtin).is_ok());
            assert!(refuse_builtin(None, builtin).is_ok());
        }
        for builtin in [Builtin::Select, Builtin::Create, Builtin::Submit] {
            assert!(refuse_builtin(Some(AUDIT_TRAIL), builtin).is_ok());
        }
    }
}
