//! The `select` built-in: the documents a query matches (by name, by index or by a scan),
//! sorted, paged, projected and expanded by `include`.

use super::data_output;
use crate::doc::Doc;
use crate::error::{Error, Result};
use crate::handler::OpContext;
use crate::ops::{MAX_SELECT_ROWS, include};
use crate::query::Query;
use crate::run::type_name;
use crate::schema::Schema;
use crate::store::{View, index_value, unreadable_doc};
use serde_json::{Value, json};

/// The documents of `doctype` a filter selects, by the cheapest path: names pinned by the
/// filter, then an indexed field pinned by it, then a scan.
///
/// With `unreadable`, documents whose stored body cannot be read back are skipped and
/// named there; without, the first one fails the whole match, naming it.
pub(super) fn matching(
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

pub(super) fn select(ctx: &mut OpContext<'_, '_>, doctype: &str) -> Result<Value> {
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
