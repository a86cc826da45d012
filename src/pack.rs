//! Operation packs: a folder of documents (`pack.json`, `schemas/*.json`,
//! `operations/*.json` with handler code in sibling `*.rhai` files, `workflows/*.json`,
//! `tests/*.test.rhai` with `tests/fixtures/*.json`) installed into a store as one run.
//!
//! Loading reads and checks everything (every file parses, every script compiles) before
//! anything is written; installing is one top-level run whose nested runs create or update
//! each document, so a pack is installed whole or not at all. This module never writes
//! outside that run.

use crate::error::{Error, ErrorCode, Result};
use crate::handler::OpContext;
use crate::ops::OPERATION;
use crate::run::RunRequest;
use crate::schema::{self, SCHEMA};
use crate::workflow::TEMPLATE;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The doctype recording installed packs.
pub(crate) const PACK: &str = "Pack";
/// The native operation that installs a loaded pack.
pub(crate) const INSTALL_PACK: &str = "install_pack";

/// A pack as read from its folder, checked and ready to install.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Pack {
    /// `pack.json`'s name.
    pub name: String,
    /// `pack.json`'s version (dotted numbers compare numerically).
    pub version: String,
    /// `pack.json`'s description.
    #[serde(default)]
    pub description: String,
    /// Schema documents (Frappe DocType JSON).
    #[serde(default)]
    pub schemas: Vec<Value>,
    /// Operation documents, their `handlerCode` read from the sibling `.rhai` file.
    #[serde(default)]
    pub operations: Vec<Value>,
    /// Workflow template documents.
    #[serde(default)]
    pub workflows: Vec<Value>,
}

/// The files of `dir` ending in `suffix`, sorted by name (none if `dir` is absent).
pub(crate) fn files(dir: &Path, suffix: &str) -> Result<Vec<PathBuf>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => {
            return Err(Error::bad_request(format!(
                "cannot read {}: {e}",
                dir.display()
            )));
        }
    };
    let mut found: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && p.to_string_lossy().ends_with(suffix))
        .collect();
    found.sort();
    Ok(found)
}

/// A pack's files by path relative to the pack (`pack.json`, `schemas/x.json`, ...).
type PackFiles = BTreeMap<String, String>;

fn parse_json(path: &str, text: &str) -> Result<Value> {
    serde_json::from_str(text)
        .map_err(|e| Error::bad_request(format!("{path} is not valid JSON: {e}")))
}

/// Documents in a JSON file: one object, or an array of them.
fn documents(path: &str, text: &str) -> Result<Vec<Value>> {
    match parse_json(path, text)? {
        Value::Array(items) => Ok(items),
        doc @ Value::Object(_) => Ok(vec![doc]),
        _ => Err(Error::bad_request(format!(
            "{path} must hold a JSON object or an array of objects"
        ))),
    }
}

/// The files of `folder` (e.g. `schemas`) ending in `suffix`, in name order.
fn in_folder<'f>(
    files: &'f PackFiles,
    folder: &str,
    suffix: &str,
) -> Vec<(&'f String, &'f String)> {
    files
        .iter()
        .filter(|(path, _)| {
            path.strip_prefix(folder)
                .and_then(|rest| rest.strip_prefix('/'))
                .is_some_and(|rest| !rest.contains('/') && rest.ends_with(suffix))
        })
        .collect()
}

impl Pack {
    /// Read a pack folder and check it: `pack.json` names it, every file parses, every
    /// operation has exactly one handler source and its script compiles.
    ///
    /// ```
    /// let pack = coworker::Pack::load(concat!(env!("CARGO_MANIFEST_DIR"), "/operations/core-examples")).unwrap();
    /// assert_eq!(pack.name, "core-examples");
    /// ```
    pub fn load(dir: impl AsRef<Path>) -> Result<Pack> {
        let dir = dir.as_ref();
        let mut found = PackFiles::new();
        let read = |path: &Path| {
            std::fs::read_to_string(path)
                .map_err(|e| Error::bad_request(format!("cannot read {}: {e}", path.display())))
        };
        found.insert("pack.json".into(), read(&dir.join("pack.json"))?);
        for (folder, suffix) in [
            ("schemas", ".json"),
            ("operations", ".json"),
            ("operations", ".rhai"),
            ("workflows", ".json"),
        ] {
            for file in files(&dir.join(folder), suffix)? {
                let name = file.file_name().unwrap_or_default().to_string_lossy();
                found.insert(format!("{folder}/{name}"), read(&file)?);
            }
        }
        Pack::from_files(found).map_err(|e| {
            let error = e.to_run_error();
            Error::new(error.code, format!("{}: {}", dir.display(), error.message))
                .with_details(error.details)
        })
    }

    /// A pack from its files given as (path relative to the pack, contents): how a host
    /// ships a pack inside its binary (`include_str!`).
    ///
    /// ```
    /// let pack = coworker::Pack::from_files([
    ///     ("pack.json", r#"{"name": "tiny", "version": "1.0.0"}"#),
    ///     ("operations/hello.json", r#"{"name": "hello"}"#),
    ///     ("operations/hello.rhai", r#""hello""#),
    /// ]).unwrap();
    /// assert_eq!(pack.operations.len(), 1);
    /// ```
    pub fn from_files<P: Into<String>, C: Into<String>>(
        files: impl IntoIterator<Item = (P, C)>,
    ) -> Result<Pack> {
        let files: PackFiles = files
            .into_iter()
            .map(|(p, c)| (p.into(), c.into()))
            .collect();
        let manifest_text = files
            .get("pack.json")
            .ok_or_else(|| Error::bad_request("a pack needs a pack.json"))?;
        let manifest = parse_json("pack.json", manifest_text)?;
        let text = |key: &str| {
            manifest
                .get(key)
                .and_then(Value::as_str)
                .map(str::to_string)
        };
        let (Some(name), Some(version)) = (text("name"), text("version")) else {
            return Err(Error::bad_request(
                "pack.json must give `name` and `version`",
            ));
        };
        parse_version(&version)?;
        let mut schemas = Vec::new();
        for (path, text) in in_folder(&files, "schemas", ".json") {
            schemas.extend(documents(path, text)?);
        }
        let mut operations = Vec::new();
        for (path, text) in in_folder(&files, "operations", ".json") {
            let mut op = parse_json(path, text)?;
            let Value::Object(fields) = &mut op else {
                return Err(Error::bad_request(format!(
                    "{path} must hold one operation object"
                )));
            };
            let script = format!("{}.rhai", path.trim_end_matches(".json"));
            let op_name = fields
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            match (fields.contains_key("handlerCode"), files.get(&script)) {
                (true, Some(_)) => {
                    return Err(Error::bad_request(format!(
                        "`{op_name}` has handlerCode in {path} and in {script}: keep one"
                    )));
                }
                (false, Some(code)) => {
                    fields.insert("handlerCode".into(), Value::String(code.clone()));
                }
                _ => {}
            }
            if let Some(code) = fields.get("handlerCode").and_then(Value::as_str) {
                crate::script::compile_cached(&op_name, code).map_err(|e| {
                    let error = e.to_run_error();
                    Error::new(error.code, format!("{script}: {}", error.message))
                        .with_details(error.details)
                })?;
            }
            fields.insert("pack".into(), Value::String(name.clone()));
            operations.push(op);
        }
        let mut workflows = Vec::new();
        for (path, text) in in_folder(&files, "workflows", ".json") {
            for mut doc in documents(path, text)? {
                if let Value::Object(fields) = &mut doc {
                    fields.insert("pack".into(), Value::String(name.clone()));
                }
                workflows.push(doc);
            }
        }
        Ok(Pack {
            name,
            version,
            description: text("description").unwrap_or_default(),
            schemas,
            operations,
            workflows,
        })
    }

    /// The request that installs this pack (one run, all or nothing).
    pub(crate) fn install_request(&self) -> RunRequest {
        RunRequest::new(INSTALL_PACK).input(json!({ "pack": self }))
    }
}

fn parse_version(version: &str) -> Result<Vec<u64>> {
    version
        .split('.')
        .map(|part| part.parse::<u64>())
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|_| {
            Error::bad_request(format!(
                "version `{version}` is not dotted numbers (e.g. 1.2.0)"
            ))
        })
}

fn compare_versions(a: &str, b: &str) -> Result<Ordering> {
    Ok(parse_version(a)?.cmp(&parse_version(b)?))
}

/// Run one nested create or update of `doc` (update when it exists), failing the install
/// with the child's error.
fn save(ctx: &mut OpContext<'_, '_>, doctype: &str, doc: &Value, what: &str) -> Result<()> {
    let name = doc
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let exists = ctx.view().get_doc(doctype, &name)?.is_some();
    let request = if exists {
        RunRequest::new("update")
            .in_doctype(doctype)
            .input(json!({"name": name, "data": doc}))
    } else {
        RunRequest::new("create")
            .into_doctype(doctype)
            .input(json!({ "data": doc }))
    };
    child_ok(ctx.run(request), what, &name)
}

fn child_ok(child: crate::Run, what: &str, name: &str) -> Result<()> {
    match child.error {
        None => Ok(()),
        Some(error) => Err(
            Error::new(error.code, format!("{what} `{name}`: {}", error.message))
                .with_details(json!({"runId": child.id, "details": error.details})),
        ),
    }
}

/// Templates that steps (nested, in maps, parallel groups and fallbacks) run by name.
fn templates_named(value: &Value, found: &mut Vec<String>) {
    match value {
        Value::Object(step) => {
            if step.get("operation").and_then(Value::as_str) == Some("workflow")
                && let Some(template) = step.get("template").and_then(Value::as_str)
            {
                found.push(template.to_string());
            }
            step.values().for_each(|v| templates_named(v, found));
        }
        Value::Array(items) => items.iter().for_each(|v| templates_named(v, found)),
        _ => {}
    }
}

/// The `install_pack` handler: schemas (new ones as one batch, dependencies first), then
/// operations, then workflows, then the `Pack` record.
pub(crate) fn install(ctx: &mut OpContext<'_, '_>) -> Result<Value> {
    let pack: Pack =
        serde_json::from_value(ctx.request().input.get("pack").cloned().unwrap_or_default())
            .map_err(|e| Error::bad_request(format!("`input.pack` is not a pack: {e}")))?;
    if let Some(installed) = ctx.view().get_doc(PACK, &pack.name)? {
        let version = installed
            .get("version")
            .and_then(Value::as_str)
            .unwrap_or("0");
        if compare_versions(version, &pack.version)? == Ordering::Greater {
            return Err(Error::new(
                ErrorCode::Conflict,
                format!(
                    "pack `{}` {version} is installed; {} is older",
                    pack.name, pack.version
                ),
            ));
        }
    }
    let mut new_schemas = Vec::new();
    for doc in &pack.schemas {
        let name = doc.get("name").and_then(Value::as_str).unwrap_or_default();
        if ctx.view().get_doc(SCHEMA, name)?.is_some() {
            save(ctx, SCHEMA, doc, "schema")?;
        } else {
            new_schemas.push(doc.clone());
        }
    }
    if !new_schemas.is_empty() {
        let names: Vec<String> = new_schemas
            .iter()
            .filter_map(|d| d.get("name").and_then(Value::as_str).map(str::to_string))
            .collect();
        let child = ctx.run(
            RunRequest::new("create")
                .into_doctype(SCHEMA)
                .input(json!({ "data": schema::import_order(new_schemas) })),
        );
        child_ok(child, "schemas", &names.join(", "))?;
    }
    for doc in &pack.operations {
        save(ctx, OPERATION, doc, "operation")?;
    }
    for doc in &pack.workflows {
        save(ctx, TEMPLATE, doc, "workflow")?;
    }
    // Templates may name each other in any order; once all are saved, every name resolves.
    for doc in &pack.workflows {
        let mut named = Vec::new();
        templates_named(doc.get("children").unwrap_or(&Value::Null), &mut named);
        for template in named {
            if ctx.view().get_doc(TEMPLATE, &template)?.is_none() {
                let owner = doc.get("name").and_then(Value::as_str).unwrap_or("?");
                return Err(Error::not_found(format!(
                    "workflow `{owner}` runs template `{template}`, which neither the pack nor the store has"
                )));
            }
        }
    }
    let names = |docs: &[Value]| -> Vec<Value> {
        docs.iter().filter_map(|d| d.get("name").cloned()).collect()
    };
    let contents = json!({
        "schemas": names(&pack.schemas),
        "operations": names(&pack.operations),
        "workflows": names(&pack.workflows),
    });
    let mut record = Map::new();
    record.insert("name".into(), json!(pack.name));
    record.insert("version".into(), json!(pack.version));
    record.insert("description".into(), json!(pack.description));
    record.insert("contents".into(), contents.clone());
    save(ctx, PACK, &Value::Object(record), "pack")?;
    Ok(json!({"pack": pack.name, "version": pack.version, "installed": contents}))
}
