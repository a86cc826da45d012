//! The `erase` operation (GDPR erasure, superuser only): null the named fields of the
//! matching documents and redact their values wherever the engine recorded them — the
//! payload parts of the audit entries that name those documents or come from the runs that
//! wrote them, and the input, output and error of those runs' records (and their ancestors')
//! — then append an `erase` entry per document (its new `docDigest`) and one `erasure`
//! event (who, why, what, how many: never the values), all in the run's one transaction.
//!
//! The chain still verifies: a format-2 entry keeps a salted digest in place of a redacted
//! part (see `audit::payload`). A format-1 entry cannot be redacted without breaking the
//! chain: it is left as it is and counted (`oldFormatEntriesSkipped`). Names cannot be erased
//! (they are keys everywhere), nor engine fields; system doctypes are refused. Erasure never
//! validates the document (a mandatory field becomes null) and never changes a run's
//! indexed fields (owner, flow, status).

use super::META_FIELDS;
use super::builtins::matching;
use crate::audit::{self, Action, Redaction};
use crate::doc::Doc;
use crate::error::{Error, ErrorCode, Result};
use crate::handler::OpContext;
use crate::query::Query;
use crate::retention::holds::Holds;
use crate::run::type_name;
use crate::schema::Schema;
use crate::store::{Record, View, WriteTx};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use std::borrow::Cow;
use std::collections::BTreeSet;

/// The operation's name.
pub(crate) const ERASE: &str = "erase";

/// Fields erasure refuses: the document's identity and the engine's bookkeeping.
const ENGINE_FIELDS: [&str; 4] = ["name", "doctype", "docstatus", "amended_from"];

/// What stands in for an erased value in a run record.
const REDACTED: &str = "[redacted]";

/// Erased strings shorter than this are only redacted where they are a whole value, never
/// inside a longer text (a two-letter value would blank out half of every message).
const MIN_SUBSTRING: usize = 4;

/// The request, read and checked before anything is written.
struct Ask {
    doctype: String,
    fields: Vec<String>,
    reason: String,
}

/// The fields of an entry erasure reads to pick it (every other key skipped unparsed).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct EntryKeys<'a> {
    #[serde(borrow, default)]
    ref_doctype: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    ref_name: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    run_id: Option<Cow<'a, str>>,
}

/// The handler of `erase`.
pub(crate) fn erase(ctx: &mut OpContext<'_, '_>) -> Result<Value> {
    let ask = ask(ctx)?;
    let schema = ctx.schema(&ask.doctype)?;
    check_fields(&ask, schema.as_deref())?;
    let (docs, gone) = targets(ctx, &ask.doctype, schema.as_deref())?;
    refuse_held(ctx.view(), &ask.doctype, &docs, &gone)?;
    let names: Vec<String> = docs
        .iter()
        .map(|doc| doc_name(doc).to_string())
        .chain(gone.iter().cloned())
        .collect();
    let summary = |extra: Map<String, Value>| {
        let mut out = Map::new();
        out.insert("doctype".into(), json!(ask.doctype));
        out.insert("names".into(), json!(names));
        out.insert("fields".into(), json!(ask.fields));
        out.insert("documents".into(), json!(names.len() - gone.len()));
        out.insert("deleted".into(), json!(gone));
        out.extend(extra);
        Value::Object(out)
    };
    if !ctx.writing() {
        return Ok(summary(Map::new()));
    }
    // The values to erase: the documents' current ones, then every earlier one the trail's
    // entries on them record.
    let mut values: Vec<Value> = Vec::new();
    for doc in &docs {
        for field in &ask.fields {
            remember(&mut values, doc.get(field));
        }
    }
    let wanted: BTreeSet<&str> = names.iter().map(String::as_str).collect();
    let mut naming = Vec::new();
    let mut runs: BTreeSet<String> = BTreeSet::new();
    ctx.view().audit_newest_first(&mut |seq, bytes| {
        let Ok(keys) = serde_json::from_slice::<EntryKeys<'_>>(bytes) else {
            return Ok(true); // the chain's check reports it
        };
        let names_one = keys.ref_doctype.as_deref() == Some(ask.doctype.as_str())
            && keys.ref_name.as_deref().is_some_and(|n| wanted.contains(n));
        if names_one {
            if let Some(run) = keys.run_id {
                runs.insert(run.into_owned());
            }
            if let Ok(entry) = serde_json::from_slice::<Doc>(bytes) {
                for part in ["diff", "snapshot"] {
                    earlier_values(&mut values, entry.get(part), &ask.fields);
                }
            }
            naming.push(seq);
        }
        Ok(true)
    })?;
    for doc in &docs {
        for meta in ["createdByRun", "modifiedByRun"] {
            if let Some(run) = doc.get(meta).and_then(Value::as_str) {
                runs.insert(run.to_string());
            }
        }
    }
    let runs = with_ancestors(ctx.view(), runs)?;
    let scrub = Scrub {
        fields: &ask.fields,
        values: &values,
    };
    let run = ctx.current().clone();
    let tables = ctx
        .tables_if_writing()
        .ok_or_else(|| Error::internal("an erasure ran without its write transaction"))?;
    // The trail's entries: those naming the documents, then the other entries of the runs.
    let mut redacted_seqs = Vec::new();
    let mut old_format = 0u64;
    let naming_set: BTreeSet<u64> = naming.iter().copied().collect();
    let mut candidates: Vec<(u64, Vec<u8>)> = Vec::new();
    tables.audit_newest_first(&mut |seq, bytes| {
        let pick = naming_set.contains(&seq)
            || serde_json::from_slice::<EntryKeys<'_>>(bytes)
                .ok()
                .and_then(|keys| keys.run_id)
                .is_some_and(|id| runs.contains(id.as_ref()));
        if pick {
            candidates.push((seq, bytes.to_vec()));
        }
        Ok(true)
    })?;
    for (seq, bytes) in candidates {
        let names_doc = naming_set.contains(&seq);
        let choose = |_: &str, part: &Value| {
            (names_doc && scrub.names_a_field(part)) || scrub.holds_a_value(part)
        };
        match audit::redact_entry(tables, seq, &bytes, &choose)? {
            Redaction::Redacted(..) => redacted_seqs.push(seq),
            Redaction::OldFormat => old_format += 1,
            Redaction::Unchanged => {}
        }
    }
    redacted_seqs.sort_unstable();
    // The run records.
    let mut records = 0u64;
    for id in &runs {
        let Some(mut stored) = tables.get_run(id)? else {
            continue; // pruned
        };
        let mut changed = scrub.value(&mut stored.input);
        changed |= scrub.value(&mut stored.output);
        if let Some(error) = &mut stored.error {
            let mut whole =
                serde_json::to_value(&*error).map_err(|e| Error::internal(e.to_string()))?;
            if scrub.value(&mut whole) {
                *error =
                    serde_json::from_value(whole).map_err(|e| Error::internal(e.to_string()))?;
                changed = true;
            }
        }
        if changed {
            tables.redact_record(&Record::new(&stored, None::<&Value>))?;
            records += 1;
        }
    }
    // The documents, each with its `erase` entry.
    let indexed = schema
        .as_deref()
        .map(Schema::indexed_fields)
        .unwrap_or_default();
    let timestamp = crate::clock::now_rfc3339();
    for mut doc in docs.into_iter() {
        let name = doc_name(&doc).to_string();
        for field in &ask.fields {
            if doc.get(field).is_some_and(|v| !v.is_null()) {
                doc.insert(field.clone(), Value::Null);
            }
        }
        doc.insert("modified".into(), json!(run.timestamp));
        doc.insert("modifiedBy".into(), json!(run.owner));
        doc.insert("modifiedByRun".into(), json!(run.id));
        let stored = tables.put_doc(&ask.doctype, &name, &doc, &indexed)?;
        let mut extra = Map::new();
        extra.insert(
            audit::DOC_DIGEST.into(),
            json!(audit::document_digest(&stored)),
        );
        extra.insert("fields".into(), json!(ask.fields));
        audit::append_for_run(
            tables,
            Action::Erase,
            &run,
            (&ask.doctype, &name),
            extra,
            &timestamp,
        )?;
    }
    let mut counts = Map::new();
    counts.insert("auditEntriesRedacted".into(), json!(redacted_seqs.len()));
    counts.insert("runRecordsRedacted".into(), json!(records));
    counts.insert("oldFormatEntriesSkipped".into(), json!(old_format));
    let mut event = audit::entry(Action::Erasure, &run, Some(&ask.doctype), None);
    event.insert("reason".into(), json!(ask.reason));
    event.insert("names".into(), json!(names));
    event.insert("fields".into(), json!(ask.fields));
    event.insert("documents".into(), json!(names.len() - gone.len()));
    event.insert("deleted".into(), json!(gone));
    event.extend(counts.clone());
    event.insert("redactedSeqs".into(), json!(redacted_seqs));
    audit::append(tables, &event, &timestamp)?;
    counts.insert("redactedSeqs".into(), json!(redacted_seqs));
    Ok(summary(counts))
}

/// A legal hold keeps what it covers as it is: erasure yields to it (GDPR art. 17(3)(e)
/// exempts data kept for legal claims). Refused with CONFLICT naming the documents; lift
/// the hold first.
fn refuse_held(view: &dyn View, doctype: &str, docs: &[Doc], gone: &[String]) -> Result<()> {
    let holds = Holds::load(view)?;
    if holds.is_empty() {
        return Ok(());
    }
    let present = docs
        .iter()
        .map(|doc| (doc_name(doc), doc.get("owner").and_then(Value::as_str)));
    let held: Vec<&str> = present
        .chain(gone.iter().map(|name| (name.as_str(), None)))
        .filter(|(name, owner)| holds.holds_document(doctype, name, *owner))
        .map(|(name, _)| name)
        .collect();
    if held.is_empty() {
        return Ok(());
    }
    Err(Error::new(
        ErrorCode::Conflict,
        format!(
            "{} of {doctype} {} under a legal hold: erasure yields to it; lift the hold first",
            held.join(", "),
            if held.len() == 1 { "is" } else { "are" }
        ),
    ))
}

fn doc_name(doc: &Doc) -> &str {
    doc.get("name").and_then(Value::as_str).unwrap_or_default()
}

/// Read `fields`, `reason` and the target doctype off the request.
fn ask(ctx: &OpContext<'_, '_>) -> Result<Ask> {
    let request = ctx.request();
    let doctype = request
        .target()
        .ok_or_else(|| Error::bad_request("`erase` needs a doctype (`in`, `from` or `doctype`)"))?
        .to_string();
    if super::system::is_system(&doctype) {
        return Err(Error::bad_request(format!(
            "`{doctype}` is a system doctype: its documents cannot be erased"
        )));
    }
    let input = &request.input;
    let fields = match input.get("fields") {
        Some(Value::Array(items)) if !items.is_empty() => items
            .iter()
            .map(|f| {
                f.as_str().map(str::to_string).ok_or_else(|| {
                    Error::bad_request(format!(
                        "`input.fields` must hold field names, got {}",
                        type_name(f)
                    ))
                })
            })
            .collect::<Result<Vec<_>>>()?,
        _ => {
            return Err(Error::bad_request(
                "`erase` needs `input.fields`: a non-empty array of the field names to erase",
            ));
        }
    };
    let reason = input
        .get("reason")
        .and_then(Value::as_str)
        .filter(|r| !r.trim().is_empty())
        .ok_or_else(|| Error::bad_request("`erase` needs `input.reason`: why it is erased"))?
        .to_string();
    Ok(Ask {
        doctype,
        fields,
        reason,
    })
}

/// Refuse engine fields and fields the doctype's schema does not define.
fn check_fields(ask: &Ask, schema: Option<&Schema>) -> Result<()> {
    for field in &ask.fields {
        if ENGINE_FIELDS.contains(&field.as_str()) || META_FIELDS.contains(&field.as_str()) {
            return Err(Error::bad_request(format!(
                "`{field}` is an engine field: it cannot be erased (names identify documents everywhere; erase the fields that hold the data)"
            ))
            .with_details(json!({"field": field})));
        }
        if let Some(schema) = schema
            && !schema.fields.iter().any(|f| f.fieldname == *field)
        {
            return Err(
                Error::bad_request(format!("`{field}` is not a field of {}", ask.doctype))
                    .with_details(json!({"doctype": ask.doctype, "field": field})),
            );
        }
    }
    Ok(())
}

/// The documents `input.name` (one or several) or `input.where` names, and the names of
/// deleted documents `input.name` gives (the trail still records their values: a delete's
/// snapshot); none is an error.
fn targets(
    ctx: &OpContext<'_, '_>,
    doctype: &str,
    schema: Option<&Schema>,
) -> Result<(Vec<Doc>, Vec<String>)> {
    let mut gone: Vec<String> = Vec::new();
    let input = &ctx.request().input;
    let docs = match (input.get("name"), input.get("where")) {
        (Some(_), Some(_)) => {
            return Err(Error::bad_request(
                "give either `input.name` or `input.where`, not both",
            ));
        }
        (Some(names), None) => {
            let names: Vec<&str> = match names {
                Value::String(name) => vec![name.as_str()],
                Value::Array(items) if !items.is_empty() => items
                    .iter()
                    .map(|n| {
                        n.as_str().ok_or_else(|| {
                            Error::bad_request("`input.name` must be a name or names")
                        })
                    })
                    .collect::<Result<_>>()?,
                _ => return Err(Error::bad_request("`input.name` must be a name or names")),
            };
            let mut docs = Vec::with_capacity(names.len());
            for name in names {
                match ctx.view().get_doc(doctype, name)? {
                    Some(doc) if !docs.iter().any(|d: &Doc| doc_name(d) == name) => docs.push(doc),
                    Some(_) => {}
                    None if audit::last_entry_of(ctx.view(), doctype, name)?.is_some() => {
                        if !gone.iter().any(|g| g == name) {
                            gone.push(name.to_string());
                        }
                    }
                    None => {
                        return Err(Error::not_found(format!(
                            "{doctype} `{}` does not exist, and no audit entry names it",
                            crate::value::echo_str(name)
                        ))
                        .with_details(json!({"doctype": doctype, "name": name})));
                    }
                }
            }
            docs
        }
        (None, Some(filter @ Value::Object(_))) => matching(
            ctx,
            doctype,
            schema,
            &Query::parse(&json!({ "where": filter }))?,
        )?,
        (None, Some(_)) => return Err(Error::bad_request("`input.where` must be an object")),
        (None, None) => return Err(Error::bad_request("give `input.name` or `input.where`")),
    };
    if docs.is_empty() && gone.is_empty() {
        return Err(Error::new(
            ErrorCode::NotFound,
            format!("no {doctype} document matches: nothing to erase"),
        ));
    }
    Ok((docs, gone))
}

/// Add a value to erase (nulls and empty strings erase nothing).
fn remember(values: &mut Vec<Value>, value: Option<&Value>) {
    match value {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) if s.is_empty() => {}
        Some(value) if !values.contains(value) => values.push(value.clone()),
        Some(_) => {}
    }
}

/// The earlier values of `fields` a `diff` (`{field: {from, to}}`) or `snapshot` records.
fn earlier_values(values: &mut Vec<Value>, part: Option<&Value>, fields: &[String]) {
    let Some(Value::Object(part)) = part else {
        return;
    };
    for field in fields {
        match part.get(field) {
            Some(Value::Object(change)) if change.contains_key("from") => {
                remember(values, change.get("from"));
                remember(values, change.get("to"));
            }
            other => remember(values, other),
        }
    }
}

/// The runs and every ancestor of each (a parent's input may carry what its child wrote).
fn with_ancestors(view: &dyn View, runs: BTreeSet<String>) -> Result<BTreeSet<String>> {
    let mut all = BTreeSet::new();
    for id in runs {
        let mut next = Some(id);
        while let Some(id) = next.take() {
            if !all.insert(id.clone()) {
                break;
            }
            next = view.get_run(&id)?.and_then(|run| run.parent_run_id);
        }
    }
    Ok(all)
}

/// What erasure looks for in recorded values.
struct Scrub<'a> {
    fields: &'a [String],
    values: &'a [Value],
}

impl Scrub<'_> {
    /// Whether a payload part records one of the fields (a diff or snapshot naming it).
    fn names_a_field(&self, part: &Value) -> bool {
        part.as_object().is_some_and(|part| {
            self.fields
                .iter()
                .any(|f| part.get(f).is_some_and(|v| !v.is_null()))
        })
    }

    /// Whether a value holds one of the erased values anywhere (whole, or inside a text).
    fn holds_a_value(&self, value: &Value) -> bool {
        match value {
            Value::Object(map) => map.values().any(|v| self.holds_a_value(v)),
            Value::Array(items) => items.iter().any(|v| self.holds_a_value(v)),
            Value::String(text) => self.values.iter().any(|erased| match erased {
                Value::String(e) => {
                    text == e || (e.len() >= MIN_SUBSTRING && text.contains(e.as_str()))
                }
                _ => false,
            }),
            _ => false,
        }
    }

    /// Redact the erased values in `value`: a field's value that is an erased one, a string
    /// that is one, and an erased string inside a longer text. Whether anything changed.
    fn value(&self, value: &mut Value) -> bool {
        match value {
            Value::Object(map) => {
                let mut changed = false;
                for (key, inner) in map.iter_mut() {
                    if self.fields.contains(key) && self.values.contains(inner) {
                        *inner = json!(REDACTED);
                        changed = true;
                    } else {
                        changed |= self.value(inner);
                    }
                }
                changed
            }
            Value::Array(items) => items
                .iter_mut()
                .fold(false, |changed, v| self.value(v) | changed),
            Value::String(text) => {
                if self
                    .values
                    .iter()
                    .any(|e| e.as_str() == Some(text.as_str()))
                {
                    *text = REDACTED.to_string();
                    return true;
                }
                let mut changed = false;
                for erased in self.values.iter().filter_map(Value::as_str) {
                    if erased.len() >= MIN_SUBSTRING && text.contains(erased) {
                        *text = text.replace(erased, REDACTED);
                        changed = true;
                    }
                }
                changed
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrubbing_redacts_fields_whole_values_and_values_inside_texts() {
        let fields = vec!["email".to_string(), "age".to_string()];
        let values = vec![json!("ann@example.com"), json!(42), json!("ab")];
        let scrub = Scrub {
            fields: &fields,
            values: &values,
        };
        let mut run = json!({
            "data": [{"email": "ann@example.com", "age": 42, "other": 42},
                     {"email": "bob@example.com", "age": 7}],
            "message": "duplicate ann@example.com; ab stays inside words like abc",
            "exact": "ab"
        });
        assert!(scrub.value(&mut run));
        assert_eq!(
            run,
            json!({
                "data": [{"email": REDACTED, "age": REDACTED, "other": 42},
                         {"email": "bob@example.com", "age": 7}],
                "message": "duplicate [redacted]; ab stays inside words like abc",
                "exact": REDACTED
            })
        );
        assert!(!scrub.value(&mut run), "nothing left to redact");
        assert!(scrub.names_a_field(&json!({"age": {"from": 1, "to": 2}})));
        assert!(!scrub.names_a_field(&json!({"other": 1, "age": null})));
        assert!(scrub.holds_a_value(&json!({"x": ["mail ann@example.com"]})));
        assert!(!scrub.holds_a_value(&json!({"x": "cab"})));
    }
}
