//! Operations: the built-in select / create / update / delete (and the document lifecycle's
//! submit / cancel / amend), the registry that resolves an operation's name (aliases
//! included) to what executes it, and [`dispatch`], the one entry from the pipeline to a
//! handler of any kind (built-in, native, script).
//!
//! Each built-in declares its settings (which target key it needs, which input keys it
//! takes, whether it writes; see `handler::Operation`) and the pipeline applies them
//! uniformly. Handlers read and write only through the store's tables handed to them; they
//! never commit, never record runs and never check permissions: the pipeline does.

mod builtins;
mod hold;
mod include;
mod integrity;
mod lifecycle;
mod restore;
pub(crate) mod system;

mod dispatch;
mod erase;

pub(crate) use builtins::{execute_builtin, validate_input_data};
pub(crate) use dispatch::{dispatch, validate};
pub(crate) use erase::{ERASE, erase};
pub(crate) use integrity::LinkPlan;

// The operation model lives with the handler contract; these paths stay for its users.
pub use crate::handler::NativeHandler;
pub(crate) use crate::handler::{Builtin, Handler, OPERATION, Operation, TargetKey, builtin_named};

use crate::doc::Doc;
use crate::error::{Error, ErrorCode, Result};
use crate::handler::{BUILTIN_NAMES, flag};
use crate::script::{self, Limits};
use crate::store::View;
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

pub use crate::limits::MAX_SELECT_ROWS;

/// The seeded, protected operation documents of the built-ins.
const SEEDS: &str = include_str!("seeds.json");

/// The seeded operation documents of the built-ins.
pub(crate) fn seeds() -> Vec<Doc> {
    let docs: Vec<Doc> = serde_json::from_str(SEEDS).expect("ops/seeds.json is valid JSON");
    docs.into_iter()
        .map(|mut doc| {
            doc.insert("doctype".into(), json!(OPERATION));
            doc.insert("protected".into(), json!(1));
            doc
        })
        .collect()
}

impl crate::handler::OpContext<'_, '_> {
    /// Where documents may link to `doctype` (read from the schemas once per generation).
    pub(crate) fn link_plan(&self, doctype: &str) -> Result<Arc<LinkPlan>> {
        let tx = &*self.tx;
        self.catalog()
            .derived(tx, doctype, || LinkPlan::to(tx.view(), doctype))
    }
}

/// The operations the host registered in Rust (not documents), each built once.
#[derive(Clone, Default)]
pub(crate) struct Registry {
    native: HashMap<String, Arc<Operation>>,
}

impl Registry {
    /// Register a host operation; one registered under a built-in's name replaces it.
    pub(crate) fn add_native(&mut self, name: String, handler: Arc<NativeHandler>) {
        // A name that was registered for the superuser only stays so.
        let superuser_only = self.native.get(&name).is_some_and(|op| op.superuser_only);
        self.insert(name, handler, superuser_only);
    }

    /// Register an operation only the superuser may run (installing packs).
    pub(crate) fn add_superuser_only(&mut self, name: String, handler: Arc<NativeHandler>) {
        self.insert(name, handler, true);
    }

    fn insert(&mut self, name: String, handler: Arc<NativeHandler>, superuser_only: bool) {
        let op = Operation {
            name: name.clone(),
            target: TargetKey::Optional,
            input_keys: None,
            requires_input: false,
            validate_schema: false,
            may_skip_validation: true,
            include_schema: false,
            limits: Limits::default(),
            roles: Vec::new(),
            superuser_only,
            handler: Handler::Native(handler),
        };
        self.native.insert(name, Arc::new(op));
    }

    /// Whether a top-level run of `name` may write, judged without the store: only the
    /// built-in select is known not to (a custom operation might, and a host operation
    /// registered under a built-in's name replaces it, see [`Registry::resolve`]).
    pub(crate) fn may_write(&self, name: Option<&str>) -> bool {
        name.is_some_and(|n| {
            self.native.contains_key(n) || builtin_named(n).is_none_or(Builtin::writes)
        })
    }

    /// Resolve a name (aliases included) to its operation: a host operation, or the
    /// operation document `stored` finds under the canonical name, as `view` sees it.
    pub(crate) fn resolve(
        &self,
        name: Option<&str>,
        view: &dyn View,
        stored: impl FnOnce(&str) -> Result<Option<Arc<Operation>>>,
    ) -> Result<Arc<Operation>> {
        let name = name.ok_or_else(|| Error::bad_request("the request names no `operation`"))?;
        if let Some(op) = self.native.get(name) {
            return Ok(op.clone());
        }
        let canonical: &str = match builtin_named(name) {
            Some(builtin) => builtin.name(),
            None => name,
        };
        match stored(canonical)? {
            Some(op) => Ok(op),
            None => {
                let mut known: Vec<&str> = BUILTIN_NAMES.iter().map(|(n, _)| *n).collect();
                // The host's operations in name order (the registry is a hash map).
                let mut native: Vec<&str> = self.native.keys().map(String::as_str).collect();
                native.sort_unstable();
                known.extend(native);
                // The store's own operations are candidates for the hint too (a failing
                // run's cost, never a successful one's).
                let mut stored = Vec::new();
                view.scan_docs(OPERATION, &mut |doc| {
                    if let Some(Value::String(op)) = doc.get("name") {
                        stored.push(op.clone());
                    }
                    true
                })?;
                let candidates = known
                    .iter()
                    .copied()
                    .chain(stored.iter().map(String::as_str));
                let hint = crate::schema::suggest(name, candidates)
                    .map(|s| format!(" (did you mean `{s}`?)"))
                    .unwrap_or_default();
                let shown = crate::value::echo_str(name);
                Err(Error::new(
                    ErrorCode::UnknownOperation,
                    format!(
                        "unknown operation `{shown}`{hint} (known: {}, and the Operation documents of the store)",
                        known.join(", ")
                    ),
                )
                .with_details(json!({"path": "operation"})))
            }
        }
    }
}

/// Check an operation document before it is saved: its script compiles, its limits parse,
/// and protected operations keep their handler.
pub(crate) fn check_operation_doc(doc: &Doc, before: Option<&Doc>) -> Result<()> {
    let name = doc.get("name").and_then(Value::as_str).unwrap_or_default();
    let code = doc.get("handlerCode").and_then(Value::as_str).unwrap_or("");
    let protected = before.is_some_and(|b| flag(b, "protected")) || builtin_named(name).is_some();
    if protected {
        if !code.trim().is_empty() {
            return Err(Error::new(
                ErrorCode::Immutable,
                format!(
                    "`{name}` is a protected built-in operation: its handlerCode cannot be set"
                ),
            ));
        }
        if before.is_none() {
            return Err(Error::new(
                ErrorCode::Conflict,
                format!("`{name}` is a built-in operation name"),
            ));
        }
    } else if flag(doc, "protected") {
        return Err(Error::new(
            ErrorCode::Immutable,
            "only built-in operations are protected",
        ));
    }
    Limits::from_overrides(doc.get("limits"))?;
    if !protected {
        if code.trim().is_empty() {
            return Err(Error::Validation {
                message: format!("operation `{name}` needs a handlerCode"),
                errors: vec![crate::error::FieldError {
                    path: "handlerCode".into(),
                    rule: "reqd".into(),
                    message: "`handlerCode` is required".into(),
                }],
            });
        }
        script::compile_cached(name, code)?;
    }
    Ok(())
}

/// Protected operations cannot be deleted.
pub(crate) fn check_operation_delete(doc: &Doc) -> Result<()> {
    let name = doc.get("name").and_then(Value::as_str).unwrap_or_default();
    if flag(doc, "protected") || builtin_named(name).is_some() {
        return Err(Error::new(
            ErrorCode::Immutable,
            format!("`{name}` is a protected built-in operation and cannot be deleted"),
        ));
    }
    Ok(())
}
