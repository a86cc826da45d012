//! The operation model: what a name resolves to ([`Operation`]: its settings and its
//! [`Handler`]), the built-ins and their aliases, and the check of a request against an
//! operation's settings (target key, input keys, `options.validate`). It reads no store:
//! the registry (`ops`) and the catalog resolve names to operations.

use super::OpContext;
use crate::doc::Doc;
use crate::error::{Error, ErrorCode, Result};
use crate::run::{RunRequest, type_name};
use crate::script::{self, Limits};
use serde_json::{Value, json};
use std::sync::Arc;

/// The doctype of operation documents.
pub(crate) const OPERATION: &str = "Operation";

/// A handler written in Rust and registered by the embedding host.
pub type NativeHandler = dyn Fn(&mut OpContext<'_, '_>) -> Result<Value> + Send + Sync;

/// Names that resolve to a built-in, with the built-in they stand for.
pub(crate) const BUILTIN_NAMES: [(&str, Builtin); 11] = [
    ("select", Builtin::Select),
    ("read", Builtin::Select),
    ("create", Builtin::Create),
    ("insert", Builtin::Create),
    ("update", Builtin::Update),
    ("delete", Builtin::Delete),
    ("workflow", Builtin::Workflow),
    ("submit", Builtin::Submit),
    ("cancel", Builtin::Cancel),
    ("amend", Builtin::Amend),
    ("restore", Builtin::Restore),
];

/// Which request key names the target of an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TargetKey {
    From,
    Into,
    In,
    Template,
    /// Any key, or none.
    Optional,
}

impl TargetKey {
    fn name(self) -> &'static str {
        match self {
            TargetKey::From => "from",
            TargetKey::Into => "into",
            TargetKey::In => "in",
            TargetKey::Template => "template",
            TargetKey::Optional => "doctype",
        }
    }

    fn parse(text: Option<&str>) -> TargetKey {
        match text {
            Some("from") => TargetKey::From,
            Some("into") => TargetKey::Into,
            Some("in") => TargetKey::In,
            Some("template") => TargetKey::Template,
            _ => TargetKey::Optional,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Builtin {
    Select,
    Create,
    Update,
    Delete,
    Workflow,
    /// Draft → submitted (`docstatus` 0 → 1) of a submittable doctype.
    Submit,
    /// Submitted → cancelled (`docstatus` 1 → 2).
    Cancel,
    /// A new draft `NAME-1` from a cancelled document, linked by `amended_from`.
    Amend,
    /// A deleted document brought back from its delete entry's snapshot, as a create.
    Restore,
}

impl Builtin {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Builtin::Select => "select",
            Builtin::Create => "create",
            Builtin::Update => "update",
            Builtin::Delete => "delete",
            Builtin::Workflow => "workflow",
            Builtin::Submit => "submit",
            Builtin::Cancel => "cancel",
            Builtin::Amend => "amend",
            Builtin::Restore => "restore",
        }
    }

    /// The input keys the built-in understands (`None`: any, as a workflow's input is its own).
    fn input_keys(self) -> Option<&'static [&'static str]> {
        match self {
            Builtin::Select => Some(&[
                "where",
                "orderBy",
                "take",
                "skip",
                "select",
                "view",
                "skipCorrupt",
                "count",
                "include",
            ]),
            Builtin::Create => Some(&["data"]),
            Builtin::Update => Some(&["data", "where", "name"]),
            Builtin::Delete => Some(&["where", "name"]),
            Builtin::Submit | Builtin::Cancel => Some(&["where", "name"]),
            Builtin::Amend => Some(&["name", "data"]),
            Builtin::Restore => Some(&["name"]),
            Builtin::Workflow => None,
        }
    }

    /// Whether runs of it may write (read-only runs skip the write transaction).
    pub(crate) fn writes(self) -> bool {
        self != Builtin::Select
    }
}

/// The built-in a name (or alias) stands for.
pub(crate) fn builtin_named(name: &str) -> Option<Builtin> {
    BUILTIN_NAMES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, b)| *b)
}

/// What executes an operation.
#[derive(Clone)]
pub(crate) enum Handler {
    Builtin(Builtin),
    Native(Arc<NativeHandler>),
    Script(Arc<script::Compiled>),
}

/// An operation as the pipeline sees it: its settings and its handler.
#[derive(Clone)]
pub(crate) struct Operation {
    pub name: String,
    pub target: TargetKey,
    /// Input keys the operation understands; `None` = anything.
    pub input_keys: Option<&'static [&'static str]>,
    pub requires_input: bool,
    /// Validate documents (or `input.data`) against the target's schema.
    pub validate_schema: bool,
    /// Whether `options.validate = false` may skip schema validation (trusted imports).
    pub may_skip_validation: bool,
    /// Return the schema with the output unless the request says otherwise.
    pub include_schema: bool,
    pub limits: Limits,
    /// Roles that may run it once access control is on (empty: every user).
    pub roles: Vec<String>,
    /// Only the superuser may run it (installing packs).
    pub superuser_only: bool,
    pub handler: Handler,
}

/// Whether the flag `key` of `doc` is set (`1`, `true`).
pub(crate) fn flag(doc: &Doc, key: &str) -> bool {
    crate::schema::flag(doc.get(key))
}

impl Operation {
    /// An operation from its document.
    pub(crate) fn from_doc(doc: &Doc) -> Result<Operation> {
        let name = doc
            .get("name")
            .and_then(Value::as_str)
            .ok_or_else(|| Error::internal("a stored operation has no name"))?
            .to_string();
        let handler = match (
            builtin_named(&name),
            doc.get("handlerCode").and_then(Value::as_str),
        ) {
            (Some(builtin), _) => Handler::Builtin(builtin),
            (None, Some(code)) if !code.trim().is_empty() => Handler::Script(Arc::new(
                script::Compiled::new(script::compile_cached(&name, code)?),
            )),
            (None, _) => {
                return Err(Error::new(
                    ErrorCode::UnknownOperation,
                    format!("operation `{name}` has no handlerCode"),
                ));
            }
        };
        Ok(Operation {
            target: TargetKey::parse(doc.get("requiresTarget").and_then(Value::as_str)),
            input_keys: match &handler {
                Handler::Builtin(builtin) => builtin.input_keys(),
                _ => None,
            },
            requires_input: flag(doc, "requiresInput"),
            validate_schema: flag(doc, "validateSchema"),
            may_skip_validation: flag(doc, "allowSkipValidation"),
            include_schema: flag(doc, "includeSchema"),
            limits: Limits::from_overrides(doc.get("limits"))?,
            roles: doc
                .get("roles")
                .and_then(Value::as_array)
                .map(|roles| {
                    roles
                        .iter()
                        .filter_map(|r| r.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default(),
            superuser_only: false,
            handler,
            name,
        })
    }
}

impl Operation {
    /// Check the request against the operation's settings; returns the target doctype.
    pub(crate) fn check(&self, req: &RunRequest) -> Result<Option<String>> {
        let target = match self.target {
            TargetKey::From => req.doctype.as_ref().or(req.from.as_ref()),
            TargetKey::Into => req.doctype.as_ref().or(req.into.as_ref()),
            TargetKey::In => req.doctype.as_ref().or(req.in_.as_ref()),
            TargetKey::Template => req.template.as_ref(),
            TargetKey::Optional => None,
        };
        // A template is the target of a workflow, not a doctype.
        let target = target.filter(|_| self.target != TargetKey::Template);
        if self.target == TargetKey::Template && req.template.is_none() {
            return Err(Error::new(
                ErrorCode::MissingTarget,
                format!("`{}` needs a `template`", self.name),
            ));
        }
        let target = match (self.target, target) {
            (TargetKey::Optional, _) => {
                req.target().or(req.template.as_deref()).map(str::to_string)
            }
            (_, Some(target)) => Some(target.clone()),
            (_, None) => {
                let misplaced = req
                    .target()
                    .map(|t| format!(" (`{t}` was given under another key)"))
                    .unwrap_or_default();
                return Err(Error::new(
                    ErrorCode::MissingTarget,
                    format!(
                        "`{}` needs a target: `{}` or `doctype`{misplaced}",
                        self.name,
                        self.target.name()
                    ),
                ));
            }
        };
        if let Some(target) = &target {
            check_doctype_name(target)?;
        }
        // Frappe's `DocType` is the doctype of schemas.
        let target = target.map(|t| crate::schema::frappe::canonical_doctype(&t).to_string());
        if req.options.validate == Some(false) && !self.may_skip_validation {
            return Err(Error::bad_request(format!(
                "`{}` does not allow skipping validation (`options.validate = false`)",
                self.name
            )));
        }
        match (&req.input, self.requires_input) {
            (Value::Null, true) => {
                return Err(Error::bad_request(format!(
                    "`{}` needs an `input`",
                    self.name
                )));
            }
            (Value::Null, false) | (Value::Object(_), _) => {}
            (other, _) if self.input_keys.is_some() => {
                return Err(Error::bad_request(format!(
                    "`input` must be an object, got {}",
                    type_name(other)
                )));
            }
            _ => {}
        }
        if let (Some(keys), Value::Object(input)) = (self.input_keys, &req.input)
            && let Some(unknown) = input.keys().find(|k| !keys.contains(&k.as_str()))
        {
            return Err(Error::bad_request(format!(
                "`{}` does not take `input.{}` (it takes: {})",
                self.name,
                crate::value::echo_str(unknown),
                keys.join(", ")
            ))
            .with_details(json!({"key": unknown})));
        }
        Ok(target)
    }
}

fn check_doctype_name(doctype: &str) -> Result<()> {
    if doctype.trim().is_empty() || doctype.contains('\0') {
        return Err(Error::bad_request(format!(
            "`{doctype}` is not a valid doctype name"
        )));
    }
    Ok(())
}
