//! `include` in a select (Prisma's relations): `include: {customer: true}` replaces the name
//! in the Link field `customer` of each returned document with the linked document, and
//! `include: {items: true}` returns the rows of the Table field `items` even when `select`
//! would leave them out (child rows are stored inside their parent, so that costs nothing).
//!
//! The included doctype's read permission applies: a user who may not read it gets
//! PERMISSION_DENIED for the whole select; under an `if_owner` grant, linked documents of
//! other owners stay plain names. A name whose document does not exist stays a name. The
//! cost is one point read per distinct link of the returned page, never a scan.

use crate::acl::{self, Access, Grant};
use crate::doc::Doc;
use crate::error::{Error, Result};
use crate::handler::OpContext;
use crate::query::parse_include;
use crate::schema::{Kind, SCHEMA, Schema};
use serde_json::{Value, json};
use std::collections::HashMap;

/// Where an included field's documents come from.
#[derive(Debug, Clone)]
enum Source {
    /// A Link: documents of this doctype.
    Link(String),
    /// A Dynamic Link: of the doctype named by this field of the same document.
    Dynamic(String),
    /// A Table: the rows already inside the document.
    Rows,
}

/// One included field.
#[derive(Debug, Clone)]
pub(super) struct Included {
    field: String,
    source: Source,
}

/// Parse `input.include` against `doctype`'s schema: every name must be a Link, Dynamic
/// Link or Table field (else BAD_REQUEST naming it), and the owner must be able to read
/// every Link's doctype (else PERMISSION_DENIED).
pub(super) fn parse(
    ctx: &OpContext<'_, '_>,
    doctype: &str,
    schema: Option<&Schema>,
    input: &Value,
) -> Result<Vec<Included>> {
    let Some(include) = input.get("include").filter(|v| !v.is_null()) else {
        return Ok(Vec::new());
    };
    let mut included = Vec::new();
    for name in parse_include(include)? {
        let field = schema.and_then(|s| s.field(&name));
        let source = match field.map(|f| (f.kind, f.options.clone())) {
            Some((Kind::Link, Some(target))) => Source::Link(linked_doctype(target)),
            Some((Kind::DynamicLink, Some(by))) => Source::Dynamic(by),
            Some((Kind::Table, _)) => Source::Rows,
            Some(_) => {
                let fieldtype = field.map(|f| f.fieldtype.as_str()).unwrap_or_default();
                return Err(Error::bad_request(format!(
                    "`include.{name}`: `{name}` is a {fieldtype} field of {doctype}; only Link, Dynamic Link and Table fields can be included"
                ))
                .with_details(json!({"path": format!("input.include.{name}")})));
            }
            None => {
                return Err(Error::bad_request(format!(
                    "`include.{name}`: {doctype} has no field `{name}`"
                ))
                .with_details(json!({"path": format!("input.include.{name}")})));
            }
        };
        if let Source::Link(target) = &source {
            read_grant(ctx, target)?;
        }
        included.push(Included {
            field: name,
            source,
        });
    }
    Ok(included)
}

/// A Link to `DocType` names a schema.
fn linked_doctype(target: String) -> String {
    if target == "DocType" {
        SCHEMA.to_string()
    } else {
        target
    }
}

/// How far the owner may read `doctype` (`None`: access control off, everything).
fn read_grant(ctx: &OpContext<'_, '_>, doctype: &str) -> Result<Option<Grant>> {
    let Some(identity) = ctx.identity() else {
        return Ok(None);
    };
    let schema = ctx.schema(doctype)?;
    acl::doctype_access(
        identity,
        schema.as_deref(),
        doctype,
        Access::Read,
        "include",
    )
    .map(Some)
}

/// Included fields are returned even when `select` does not list them.
pub(super) fn add_to_select(included: &[Included], select: &mut Option<Vec<String>>) {
    if let Some(fields) = select {
        for include in included {
            if !fields.contains(&include.field) {
                fields.push(include.field.clone());
            }
        }
    }
}

/// Replace the names in the included Link fields of `page` with their documents (each
/// distinct target read once).
pub(super) fn expand(
    ctx: &OpContext<'_, '_>,
    included: &[Included],
    page: &mut [Value],
) -> Result<()> {
    if included.iter().all(|i| matches!(i.source, Source::Rows)) {
        return Ok(());
    }
    let mut grants: HashMap<String, Option<Grant>> = HashMap::new();
    let mut read: HashMap<(String, String), Option<Doc>> = HashMap::new();
    let user = ctx.identity().map(|i| i.user.clone());
    for doc in page.iter_mut().filter_map(Value::as_object_mut) {
        for include in included {
            let target = match &include.source {
                Source::Link(target) => target.clone(),
                Source::Dynamic(by) => match doc.get(by).and_then(Value::as_str) {
                    Some(target) if !target.is_empty() => linked_doctype(target.to_string()),
                    _ => continue,
                },
                Source::Rows => continue,
            };
            let Some(name) = doc
                .get(&include.field)
                .and_then(Value::as_str)
                .filter(|n| !n.is_empty())
                .map(str::to_string)
            else {
                continue;
            };
            let grant = match grants.get(&target) {
                Some(grant) => *grant,
                None => {
                    let grant = read_grant(ctx, &target)?;
                    grants.insert(target.clone(), grant);
                    grant
                }
            };
            let key = (target, name);
            if !read.contains_key(&key) {
                let linked = ctx.view().get_doc(&key.0, &key.1)?;
                read.insert(key.clone(), linked);
            }
            let Some(linked) = &read[&key] else {
                continue; // a missing target stays a name
            };
            let theirs = linked.get("owner").and_then(Value::as_str) == user.as_deref();
            if grant == Some(Grant::OwnOnly) && !theirs {
                continue; // not the owner's: stays a name
            }
            doc.insert(include.field.clone(), Value::Object(linked.clone()));
        }
    }
    Ok(())
}
