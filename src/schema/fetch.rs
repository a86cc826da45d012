//! `fetch_from`: a field that copies a value of the document its Link field points to
//! (`territory` with `fetch_from: customer.territory`), as Frappe does when it checks links.
//!
//! The copy is made during validation, so it lands in the same transaction as the save and
//! is validated like a value the caller gave. It reads the linked document, never writes.

use super::validate::{Checker, Mode};
use super::{Kind, Schema};
use crate::doc::Doc;
use crate::error::Result;
use serde_json::Value;
use std::collections::{HashMap, HashSet};

impl Checker<'_> {
    /// Fill the `fetch_from` fields of `doc` from the documents its links name: on create,
    /// and on update when the link changed. A `fetch_if_empty` field is filled only while it
    /// has no value. A link whose target does not exist fills nothing (its own check reports
    /// it); a source field the target lacks fetches `null`. Returns the fields filled.
    pub(crate) fn fetch_linked(
        &self,
        schema: &Schema,
        doc: &mut Doc,
        mode: Mode<'_>,
    ) -> Result<HashSet<String>> {
        let mut filled = HashSet::new();
        let mut linked: HashMap<(String, String), Option<Doc>> = HashMap::new();
        for field in &schema.fields {
            let Some((link, source)) = field
                .fetch_from
                .as_deref()
                .and_then(|spec| spec.split_once('.'))
                .map(|(l, s)| (l.trim(), s.trim()))
            else {
                continue;
            };
            let Some(link_field) = schema.field(link) else {
                continue;
            };
            let Some(target_name) = doc
                .get(link)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
            else {
                continue;
            };
            let target_doctype = match link_field.kind {
                Kind::Link => link_field.options.as_deref(),
                Kind::DynamicLink => link_field
                    .options
                    .as_deref()
                    .and_then(|source| doc.get(source))
                    .and_then(Value::as_str),
                _ => None,
            };
            let Some(target_doctype) = target_doctype.filter(|s| !s.is_empty()) else {
                continue;
            };
            if let Mode::Update(before) = mode
                && before.get(link) == doc.get(link)
            {
                continue;
            }
            let empty = match doc.get(&field.fieldname) {
                None | Some(Value::Null) => true,
                Some(Value::String(s)) => s.is_empty(),
                _ => false,
            };
            if field.fetch_if_empty && !empty {
                continue;
            }
            let key = (target_doctype.to_string(), target_name.to_string());
            if !linked.contains_key(&key) {
                let found = self.view.get_doc(&key.0, &key.1)?;
                linked.insert(key.clone(), found);
            }
            let Some(Some(target)) = linked.get(&key) else {
                continue;
            };
            let value = target.get(source).cloned().unwrap_or(Value::Null);
            doc.insert(field.fieldname.clone(), value);
            filled.insert(field.fieldname.clone());
        }
        Ok(filled)
    }
}
