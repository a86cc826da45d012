//! The `select` built-in: the page of documents a query matches (found by [`plan`], which
//! reads O(skip + take) of them where an order can be streamed), projected and expanded by
//! `include`, with `meta` saying how many, whether a limit cut them, and how they were found.

use super::data_output;
use crate::doc::Doc;
use crate::error::{Error, Result};
use crate::handler::OpContext;
use crate::ops::{MAX_SELECT_ROWS, include};
use crate::query::Query;
use crate::run::type_name;
use crate::schema::Schema;
use plan::Ask;
use serde_json::{Value, json};

mod plan;
mod sink;

/// Every document of `doctype` the query's filter selects (under an `if_owner` grant, the
/// owner's only), in name order, by the cheapest path (see [`plan`]).
pub(in crate::ops) fn matching(
    ctx: &OpContext<'_, '_>,
    doctype: &str,
    schema: Option<&Schema>,
    query: &Query,
) -> Result<Vec<Doc>> {
    let ask = Ask {
        query,
        rows: None,
        peek: false,
        own_only: ctx.own_only(),
        count: false,
        skip_corrupt: false,
    };
    let indexed = schema.map(Schema::indexed_fields).unwrap_or_default();
    Ok(plan::select(ctx.view(), doctype, &indexed, &ask)?.rows)
}

/// A flag of the select input: absent, null or false is false.
fn flag(input: &Value, key: &str) -> Result<bool> {
    match input.get(key) {
        None | Some(Value::Null | Value::Bool(false)) => Ok(false),
        Some(Value::Bool(true)) => Ok(true),
        Some(other) => Err(Error::bad_request(format!(
            "`input.{key}` must be true or false, got {}",
            type_name(other)
        ))),
    }
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
    // in `meta.corrupt` (else the first one read fails the select, naming it).
    let skip_corrupt = flag(input, "skipCorrupt")?;
    // `input.count: true`: `meta.total`, every match (from the index alone when it can).
    let count = flag(input, "count")?;
    let indexed = schema
        .as_deref()
        .map(Schema::indexed_fields)
        .unwrap_or_default();
    let ask = Ask {
        query: &query,
        rows: Some(limit),
        // Whether rows beyond the limit match: one more is read to tell.
        peek: requested.is_none_or(|t| t > limit),
        own_only: ctx.own_only(),
        count,
        skip_corrupt,
    };
    let found = plan::select(ctx.view(), doctype, &indexed, &ask)?;
    let mut page: Vec<Value> = found
        .rows
        .into_iter()
        .map(|doc| Value::Object(query.project(doc)))
        .collect();
    include::expand(ctx, &includes, &mut page)?;
    let mut meta = json!({"count": page.len()});
    if let Some(total) = found.total {
        meta["total"] = json!(total);
    }
    if skip_corrupt {
        meta["corrupt"] = json!(found.corrupt);
    }
    if found.more {
        meta["truncated"] = json!(true);
        meta["limit"] = json!(MAX_SELECT_ROWS);
    }
    meta["plan"] = found.plan;
    let mut output = data_output(page);
    output["meta"] = meta;
    let include_schema = ctx.request().options.include_schema;
    if include_schema.unwrap_or(ctx.operation().include_schema) {
        output["schema"] = schema.map_or(Value::Null, |s| Value::Object(s.doc.clone()));
    }
    Ok(output)
}

#[cfg(test)]
mod tests;
