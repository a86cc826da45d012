//! Referential and unique integrity around the built-ins: what a delete would leave dangling,
//! and what a schema change would leave duplicated.
//!
//! A document that Link fields of other documents point to is not deleted (Frappe's
//! LinkExistsError): otherwise every later update of those documents would fail their Link
//! check, locking their owners out. A field does not become `unique` while it holds
//! duplicates: its later updates would fail the same way. The last superuser keeps the role.
//! These checks read; they never write.

use crate::error::{Error, ErrorCode, FieldError, Result};
use crate::handler::OpContext;
use crate::query::{Doc, values_equal};
use crate::schema::frappe::canonical_doctype;
use crate::schema::{Kind, SCHEMA, Schema};
use crate::store::{View, index_value};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashSet};

/// The integrity rules of system doctypes for one write: `before` → `after` (`None`: created
/// or deleted). A schema does not make a field unique over duplicates; the last superuser
/// keeps the role while access control is on.
pub(crate) fn check_save(
    ctx: &OpContext<'_, '_>,
    doctype: &str,
    before: Option<&Doc>,
    after: Option<&Doc>,
) -> Result<()> {
    match (doctype, before, after) {
        (SCHEMA, before, Some(after)) => refuse_unique_over_duplicates(ctx.view(), before, after),
        (crate::acl::USER, Some(before), after) => match ctx.superuser_role()? {
            Some(role) => keep_a_superuser(ctx.view(), &role, before, after),
            None => Ok(()),
        },
        (crate::acl::SETTINGS, Some(before), Some(after))
            if doc_name(after) == crate::acl::SETTINGS_NAME =>
        {
            keep_a_superuser_role(ctx.view(), before, after)
        }
        _ => Ok(()),
    }
}

/// How many linking documents (or duplicates) a message names before it counts the rest.
const NAMED: usize = 10;

/// Where documents of one doctype may link to a target doctype: found from the schemas,
/// so a delete looks only at doctypes that can hold such a link.
#[derive(Debug, Default)]
pub(crate) struct LinkPlan {
    /// Top-level Link fields: doctype, field, whether the field is indexed.
    direct: Vec<(String, String, bool)>,
    /// Link fields in child rows: parent doctype, its Table field, the child's Link fields.
    rows: Vec<(String, String, Vec<String>)>,
}

impl LinkPlan {
    /// The Link fields (plain Link, options = `target`; `DocType` for `Schema`) of every
    /// schema. Dynamic Links name their target doctype per document and are not followed.
    pub(crate) fn to(view: &dyn View, target: &str) -> Result<LinkPlan> {
        let mut schemas = Vec::new();
        view.scan_docs(SCHEMA, &mut |doc| {
            // A schema that no longer parses cannot hold a usable link either.
            if let Ok(schema) = Schema::from_doc(&doc) {
                schemas.push(schema);
            }
            true
        })?;
        let links_of = |schema: &Schema| -> Vec<(String, bool)> {
            let indexed = schema.indexed_fields();
            schema
                .fields
                .iter()
                .filter(|f| {
                    f.kind == Kind::Link
                        && f.options.as_deref().map(canonical_doctype) == Some(target)
                })
                .map(|f| (f.fieldname.clone(), indexed.contains(&f.fieldname)))
                .collect()
        };
        let mut plan = LinkPlan::default();
        let children: BTreeMap<&str, Vec<String>> = schemas
            .iter()
            .filter(|s| crate::schema::flag(s.doc.get("istable")))
            .map(|s| {
                let fields = links_of(s).into_iter().map(|(f, _)| f).collect();
                (s.name.as_str(), fields)
            })
            .filter(|(_, fields): &(&str, Vec<String>)| !fields.is_empty())
            .collect();
        for schema in &schemas {
            if crate::schema::flag(schema.doc.get("istable")) {
                continue;
            }
            for (field, indexed) in links_of(schema) {
                plan.direct.push((schema.name.clone(), field, indexed));
            }
            for table in schema.fields.iter().filter(|f| f.kind == Kind::Table) {
                if let Some(fields) = table.options.as_deref().and_then(|c| children.get(c)) {
                    plan.rows
                        .push((schema.name.clone(), table.fieldname.clone(), fields.clone()));
                }
            }
        }
        Ok(plan)
    }

    /// Refuse to delete `target` `name` while documents link to it (CONFLICT naming them).
    /// Documents in `deleting` (doctype, name) go in the same request and do not count.
    pub(crate) fn refuse_if_linked(
        &self,
        view: &dyn View,
        target: &str,
        name: &str,
        deleting: &HashSet<(String, String)>,
    ) -> Result<()> {
        if self.direct.is_empty() && self.rows.is_empty() {
            return Ok(());
        }
        let wanted = json!(name);
        let mut found: Vec<(String, String, String)> = Vec::new();
        let mut keep = |doctype: &str, doc_name: &str, field: String| {
            if !deleting.contains(&(doctype.to_string(), doc_name.to_string())) {
                found.push((doctype.to_string(), doc_name.to_string(), field));
            }
        };
        for (doctype, field, indexed) in &self.direct {
            if *indexed && index_value(&wanted).is_some() {
                for linking in view.index_lookup(doctype, field, &wanted)? {
                    keep(doctype, &linking, field.clone());
                }
                continue;
            }
            view.scan_docs(doctype, &mut |doc| {
                if doc.get(field).is_some_and(|v| values_equal(v, &wanted)) {
                    keep(doctype, doc_name(&doc), field.clone());
                }
                true
            })?;
        }
        for (doctype, table, fields) in &self.rows {
            view.scan_docs(doctype, &mut |doc| {
                let rows = doc.get(table).and_then(Value::as_array);
                let hit = rows.into_iter().flatten().find_map(|row| {
                    fields.iter().find(|f| {
                        row.get(f.as_str())
                            .is_some_and(|v| values_equal(v, &wanted))
                    })
                });
                if let Some(field) = hit {
                    keep(doctype, doc_name(&doc), format!("{table}.{field}"));
                }
                true
            })?;
        }
        if found.is_empty() {
            return Ok(());
        }
        let listed: Vec<String> = found
            .iter()
            .take(NAMED)
            .map(|(doctype, name, field)| format!("{doctype} `{name}` ({field})"))
            .collect();
        let more = found.len().saturating_sub(NAMED);
        let more = if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        };
        Err(Error::new(
            ErrorCode::Conflict,
            format!(
                "cannot delete {target} `{name}`: it is linked from {}{more}; change or delete those first",
                listed.join(", ")
            ),
        )
        .with_details(json!({
            "doctype": target,
            "name": name,
            "linkedFrom": found
                .iter()
                .take(NAMED * 10)
                .map(|(doctype, name, field)| json!({"doctype": doctype, "name": name, "field": field}))
                .collect::<Vec<_>>(),
        })))
    }
}

/// A value as JSON text, cut to a readable length.
fn short(value: &Value) -> String {
    let text = value.to_string();
    match text.char_indices().nth(60) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    }
}

fn doc_name(doc: &Doc) -> &str {
    doc.get("name").and_then(Value::as_str).unwrap_or("?")
}

/// The documents holding each value of one field: value (index form) → (value, names).
type Holders = BTreeMap<Vec<u8>, (Value, Vec<String>)>;

/// Refuse a schema change that makes a field `unique` while stored documents of the doctype
/// share a value in it (VALIDATION_FAILED naming the duplicates): the index could not hold
/// them, and every later update of those documents would fail.
fn refuse_unique_over_duplicates(view: &dyn View, before: Option<&Doc>, after: &Doc) -> Result<()> {
    let after = Schema::from_doc(after)?;
    let was_unique: Vec<String> = match before.map(Schema::from_doc).transpose()? {
        Some(before) if before.name == after.name => before
            .fields
            .iter()
            .filter(|f| f.unique)
            .map(|f| f.fieldname.clone())
            .collect(),
        _ => Vec::new(),
    };
    let newly: Vec<&str> = after
        .fields
        .iter()
        .filter(|f| f.unique && !was_unique.contains(&f.fieldname))
        .map(|f| f.fieldname.as_str())
        .collect();
    if newly.is_empty() {
        return Ok(());
    }
    let mut seen: Vec<Holders> = vec![BTreeMap::new(); newly.len()];
    view.scan_docs(&after.name, &mut |doc| {
        for (i, field) in newly.iter().enumerate() {
            if let Some(value) = doc.get(*field).filter(|v| !v.is_null())
                && let Some(key) = index_value(value)
            {
                let entry = seen[i]
                    .entry(key)
                    .or_insert_with(|| (value.clone(), Vec::new()));
                entry.1.push(doc_name(&doc).to_string());
            }
        }
        true
    })?;
    let mut errors = Vec::new();
    for (field, values) in newly.iter().zip(seen) {
        for (_, (value, names)) in values.into_iter().filter(|(_, (_, n))| n.len() > 1) {
            let shown: Vec<String> = names.iter().take(NAMED).map(|n| format!("`{n}`")).collect();
            errors.push(FieldError {
                path: format!("fields.{field}.unique"),
                rule: "unique".into(),
                message: format!(
                    "`{field}` cannot become unique: {} {} share {}; make them differ first",
                    after.name,
                    shown.join(", "),
                    short(&value)
                ),
            });
            if errors.len() >= NAMED {
                break;
            }
        }
    }
    if errors.is_empty() {
        return Ok(());
    }
    let summary: Vec<String> = errors.iter().take(3).map(|e| e.message.clone()).collect();
    Err(Error::Validation {
        message: format!(
            "Schema `{}` failed validation: {}",
            after.name,
            summary.join("; ")
        ),
        errors,
    })
}

/// Refuse a change of the superuser role (System Settings `acl`, `superuserRole`) while
/// access control is on to a role no enabled user holds (CONFLICT): nobody could then read
/// or change the settings again, `acl disable` included.
fn keep_a_superuser_role(view: &dyn View, before: &Doc, after: &Doc) -> Result<()> {
    let old = crate::acl::Settings::from_doc(Some(before));
    let new = crate::acl::Settings::from_doc(Some(after));
    if !new.enabled || new.superuser_role == old.superuser_role {
        return Ok(());
    }
    let role = new.superuser_role;
    let mut held = false;
    view.scan_docs(crate::acl::USER, &mut |user| {
        let enabled = user
            .get("enabled")
            .is_none_or(|e| crate::schema::flag(Some(e)));
        held = enabled && crate::acl::role_names(user.get("roles")).contains(&role);
        !held
    })?;
    if held {
        return Ok(());
    }
    Err(Error::new(
        ErrorCode::Conflict,
        format!(
            "no enabled user has the role `{}`: give it to a user before making it the superuser role",
            crate::value::echo_str(&role)
        ),
    )
    .with_details(json!({"doctype": crate::acl::SETTINGS, "name": crate::acl::SETTINGS_NAME,
        "field": "superuserRole", "role": role})))
}

/// Refuse a change to the `User` `before` (to `after`, or deleted) that would leave no
/// enabled user holding `superuser_role` (CONFLICT): access control would then lock
/// everyone out of its settings, as Frappe keeps its Administrator.
fn keep_a_superuser(
    view: &dyn View,
    superuser_role: &str,
    before: &Doc,
    after: Option<&Doc>,
) -> Result<()> {
    let is_superuser = |user: &Doc| {
        let enabled = user
            .get("enabled")
            .is_none_or(|e| crate::schema::flag(Some(e)));
        enabled
            && crate::acl::role_names(user.get("roles"))
                .iter()
                .any(|r| r == superuser_role)
    };
    if !is_superuser(before) || after.is_some_and(is_superuser) {
        return Ok(());
    }
    let name = doc_name(before).to_string();
    let mut another = false;
    view.scan_docs(crate::acl::USER, &mut |user| {
        another = doc_name(&user) != name && is_superuser(&user);
        !another
    })?;
    if another {
        return Ok(());
    }
    Err(Error::new(
        ErrorCode::Conflict,
        format!(
            "`{name}` is the last enabled user with the superuser role `{superuser_role}`: give another user that role first"
        ),
    )
    .with_details(json!({"doctype": crate::acl::USER, "name": name, "role": superuser_role})))
}
