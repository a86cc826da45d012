//! The `delete` built-in: remove the targeted documents unless others link to them (a
//! document whose body cannot be read back is deleted as a stub of its name).

use super::{data_output, doc_name, targets};
use crate::audit::{self, Action};
use crate::error::Result;
use crate::handler::OpContext;
use crate::ops::{lifecycle, system};
use crate::schema::Schema;
use crate::store::{WriteTx, unreadable_doc};
use serde_json::{Map, Value, json};
use std::collections::HashSet;

pub(super) fn delete(ctx: &mut OpContext<'_, '_>, doctype: &str) -> Result<Value> {
    let rules = system::rules(doctype);
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
        rules.protect(&name)?;
        ctx.may_change(doctype, &doc)?;
        rules.guard(ctx, Some(&doc), None)?;
        lifecycle::on_delete(doctype, schema.as_deref(), &doc)?;
        links.refuse_if_linked(ctx.view(), doctype, &name, &deleting)?;
        rules.integrity(ctx, Some(&doc), None)?;
        ctx.charge_write(doctype, &name, 0)?;
        if let Some(tables) = ctx.tables_if_writing() {
            tables.remove_doc(doctype, &name, &indexed)?;
            rules.after_write(tables, Some(&doc), None)?;
        }
        let mut extra = Map::new();
        if unreadable {
            extra.insert("bodyUnreadable".into(), json!(true));
        } else {
            // The deleted document as stored, so `restore` can bring it back.
            extra.insert(audit::SNAPSHOT.into(), Value::Object(doc));
        }
        ctx.audit(Action::Delete, doctype, &name, extra)?;
        deleted.push(json!(name));
    }
    Ok(data_output(deleted))
}
