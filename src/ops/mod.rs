//! Operations: the built-in select / create / update / delete, and the registry that
//! resolves an operation's name (aliases included) to what executes it.
//!
//! Each built-in declares its settings (which target key it needs, which input keys it
//! takes, whether it writes) and the pipeline applies them uniformly. Handlers read and
//! write only through the store's tables handed to them; they never commit, never record
//! runs and never check permissions: the pipeline does.

mod builtins;

pub(crate) use builtins::execute_builtin;

use crate::engine::OpContext;
use crate::error::{Error, ErrorCode, Result};
use crate::run::{RunRequest, type_name};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;

/// Fields the engine sets on every document; a caller's values for them are ignored.
pub(crate) const META_FIELDS: [&str; 7] = [
    "creation",
    "modified",
    "owner",
    "modifiedBy",
    "createdByRun",
    "modifiedByRun",
    "createdByTemplate",
];

/// The most rows a select returns; `output.meta.truncated` says when it cut the result.
pub const MAX_SELECT_ROWS: usize = 10_000;

/// A handler written in Rust and registered by the embedding host.
pub type NativeHandler = dyn Fn(&mut OpContext<'_, '_>) -> Result<Value> + Send + Sync;

/// Which request key names the target of an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TargetKey {
    From,
    Into,
    In,
    /// Any key, or none (native operations decide for themselves).
    Optional,
}

impl TargetKey {
    fn name(self) -> &'static str {
        match self {
            TargetKey::From => "from",
            TargetKey::Into => "into",
            TargetKey::In => "in",
            TargetKey::Optional => "doctype",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Builtin {
    Select,
    Create,
    Update,
    Delete,
}

/// What executes an operation.
#[derive(Clone)]
pub(crate) enum Handler {
    Builtin(Builtin),
    Native(Arc<NativeHandler>),
}

/// An operation as the pipeline sees it: its settings and its handler.
#[derive(Clone)]
pub(crate) struct Operation {
    pub name: String,
    pub target: TargetKey,
    /// Input keys the operation understands; `None` = anything.
    pub input_keys: Option<&'static [&'static str]>,
    pub requires_input: bool,
    /// Whether `options.validate = false` may skip schema validation (trusted imports).
    pub may_skip_validation: bool,
    /// Whether it may write (read-only runs skip the write transaction and its fsync).
    pub writes: bool,
    pub handler: Handler,
}

fn builtin(name: &str) -> Option<Operation> {
    type Settings = (
        Builtin,
        TargetKey,
        &'static [&'static str],
        bool,
        bool,
        bool,
    );
    // (handler, target key, input keys, requires input, writes, may skip validation)
    let (builtin, target, input_keys, requires_input, writes, may_skip_validation): Settings =
        match name {
            "select" | "read" => (
                Builtin::Select,
                TargetKey::From,
                &["where", "orderBy", "take", "skip", "select", "view"],
                false,
                false,
                false,
            ),
            "create" | "insert" => (
                Builtin::Create,
                TargetKey::Into,
                &["data"],
                true,
                true,
                true,
            ),
            "update" => (
                Builtin::Update,
                TargetKey::In,
                &["data", "where", "name"],
                true,
                true,
                false,
            ),
            "delete" => (
                Builtin::Delete,
                TargetKey::From,
                &["where", "name"],
                true,
                true,
                false,
            ),
            _ => return None,
        };
    let canonical = match builtin {
        Builtin::Select => "select",
        Builtin::Create => "create",
        Builtin::Update => "update",
        Builtin::Delete => "delete",
    };
    Some(Operation {
        name: canonical.to_string(),
        target,
        input_keys: Some(input_keys),
        requires_input,
        may_skip_validation,
        writes,
        handler: Handler::Builtin(builtin),
    })
}

/// Every operation the engine knows: built-ins and the host's native ones.
#[derive(Clone, Default)]
pub(crate) struct Registry {
    native: HashMap<String, Arc<NativeHandler>>,
}

impl Registry {
    pub(crate) fn add_native(&mut self, name: String, handler: Arc<NativeHandler>) {
        self.native.insert(name, handler);
    }

    /// Resolve a name (aliases included) to its operation.
    pub(crate) fn resolve(&self, name: Option<&str>) -> Result<Operation> {
        let name = name.ok_or_else(|| Error::bad_request("the request names no `operation`"))?;
        if let Some(op) = builtin(name) {
            return Ok(op);
        }
        if let Some(handler) = self.native.get(name) {
            return Ok(Operation {
                name: name.to_string(),
                target: TargetKey::Optional,
                input_keys: None,
                requires_input: false,
                may_skip_validation: true,
                writes: true,
                handler: Handler::Native(handler.clone()),
            });
        }
        let mut known: Vec<&str> = vec!["select", "read", "create", "insert", "update", "delete"];
        known.extend(self.native.keys().map(String::as_str));
        Err(Error::new(
            ErrorCode::UnknownOperation,
            format!("unknown operation `{name}` (known: {})", known.join(", ")),
        ))
    }
}

impl Operation {
    /// Check the request against the operation's settings; returns the target doctype.
    pub(crate) fn check(&self, req: &RunRequest) -> Result<Option<String>> {
        let target = match self.target {
            TargetKey::From => req.doctype.as_ref().or(req.from.as_ref()),
            TargetKey::Into => req.doctype.as_ref().or(req.into.as_ref()),
            TargetKey::In => req.doctype.as_ref().or(req.in_.as_ref()),
            TargetKey::Optional => None,
        };
        let target = match (self.target, target) {
            (TargetKey::Optional, _) => req.target().map(str::to_string),
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
                "`{}` does not take `input.{unknown}` (it takes: {})",
                self.name,
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
