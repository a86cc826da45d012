//! A workflow template as the executor runs it: the [`Template`] type (parsed from a saved
//! `Workflow Template` document, or inline steps), its version (a content hash), whether
//! its steps only read, and the shape of a step (which keys steer the workflow, which make
//! the step's request). It runs nothing and writes nothing.

use super::check::{OperationExists, check};
use super::refs::{self, Reference};
use crate::doc::Doc;
use crate::error::{Error, Result};
use crate::handler::OpContext;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use std::sync::Arc;

/// Keys of a step that steer the workflow; every other key is part of the step's request.
pub(super) const CONTROL_KEYS: [&str; 10] = [
    "id",
    "if",
    "onError",
    "retry",
    "timeoutMs",
    "map",
    "steps",
    "concurrency",
    "parallel",
    "operations",
];

/// The content hash of a template: its version.
pub(crate) fn version_of(doc: &Doc) -> String {
    let content = json!({"children": doc.get("children"), "variables": doc.get("variables")});
    let digest = Sha256::digest(content.to_string().as_bytes());
    digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

pub(super) fn step_id(step: &Map<String, Value>) -> Option<&str> {
    step.get("id").and_then(Value::as_str)
}

/// The fields of the step that make its request (control keys left out).
pub(super) fn request_part(step: &Map<String, Value>) -> impl Iterator<Item = (&String, &Value)> {
    step.iter()
        .filter(|(k, _)| !CONTROL_KEYS.contains(&k.as_str()))
}

/// `if` source with each reference replaced by a variable; returns the source and the
/// references in variable order.
pub(super) fn condition_source(condition: &str) -> Result<(String, Vec<Reference>)> {
    let mut source = String::new();
    let mut bound = Vec::new();
    for piece in
        refs::pieces(condition)?.unwrap_or_else(|| vec![refs::Piece::Text(condition.to_string())])
    {
        match piece {
            refs::Piece::Text(text) => source.push_str(&text),
            refs::Piece::Ref(reference) => {
                source.push_str(&format!(" ref_{} ", bound.len()));
                bound.push(reference);
            }
        }
    }
    Ok((source, bound))
}

/// Whether a run of an operation name may write (see `Registry::may_write`).
pub(crate) type OperationWrites<'a> = &'a dyn Fn(&str) -> bool;

/// A workflow's steps as the executor runs them: a saved template (cached, see
/// [`OpContext::template`](crate::handler::OpContext::template)) or inline steps, checked.
pub(crate) struct Template {
    pub(super) name: Option<String>,
    pub(super) version: Option<String>,
    pub(super) steps: Vec<Value>,
    pub(super) variables: Value,
    /// Every step only reads (selects), fallbacks included: the workflow can run on a read
    /// snapshot, without the write transaction.
    pub(crate) reads_only: bool,
}

/// Whether no step of `steps` (branches, map steps and fallbacks included) may write, as
/// `may_write` judges an operation name. Steps are read as the executor runs them.
pub(crate) fn reads_only(steps: &[Value], may_write: OperationWrites<'_>) -> bool {
    let reads = |request: &Value| {
        request
            .get("operation")
            .and_then(Value::as_str)
            .is_some_and(|op| !may_write(op))
    };
    steps.iter().all(|step| {
        let fallback_reads = step.get("onError").is_none_or(reads);
        let body_reads = match (step.get("parallel"), step.get("operations")) {
            (Some(Value::Array(_)), Some(Value::Array(branches))) => {
                reads_only(branches, may_write)
            }
            _ if step.get("map").is_some() => step
                .get("steps")
                .and_then(Value::as_array)
                .is_some_and(|inner| reads_only(inner, may_write)),
            _ => reads(step),
        };
        fallback_reads && body_reads
    })
}

impl Template {
    /// A saved template, versioned and checked.
    pub(crate) fn from_doc(
        doc: &Doc,
        ops: OperationExists<'_>,
        may_write: OperationWrites<'_>,
    ) -> Result<Template> {
        let name = doc.get("name").and_then(Value::as_str);
        let children = doc.get("children").cloned().unwrap_or(Value::Null);
        check(name, &children, ops)?;
        let Value::Array(steps) = children else {
            return Err(Error::bad_request("`children` must be an array of steps"));
        };
        Ok(Template {
            name: name.map(str::to_string),
            version: Some(version_of(doc)),
            reads_only: reads_only(&steps, may_write),
            steps,
            variables: doc.get("variables").cloned().unwrap_or(Value::Null),
        })
    }
}

/// The workflow family's reach into the handler context: its templates.
impl OpContext<'_, '_> {
    /// The workflow template `name`, as this run sees it: read, versioned and checked once
    /// per meta generation (templates and the operations they name are meta documents).
    pub(crate) fn template(&self, name: &str) -> Result<Option<Arc<Template>>> {
        let catalog = self.runner.catalog();
        catalog.parsed(self.tx, super::TEMPLATE, name, |doc| {
            Template::from_doc(doc, &|op: &str| self.operation_exists(op), &|op: &str| {
                self.operation_may_write(op)
            })
        })
    }
}
