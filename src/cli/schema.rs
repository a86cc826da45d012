//! `coworker schema import|export`: Frappe DocType JSON files (or one app or module folder)
//! imported in one run, and a schema printed back as a DocType file.

use super::{Fatal, open, open_to_read, print_json, print_run};
use clap::Subcommand;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Subcommand)]
pub(crate) enum SchemaCommand {
    /// Import DocType JSON files (each an object or an array of objects), or one Frappe app
    /// or module folder (its `**/doctype/*/*.json`), dependencies first, all or nothing.
    Import {
        /// The files, or one folder.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Print the schema NAME as a Frappe DocType JSON file.
    Export {
        /// The doctype.
        name: String,
    },
}

/// Import the files (or one folder) in one run.
fn import_schemas(db: &Path, files: &[PathBuf]) -> Result<ExitCode, Fatal> {
    if let [dir] = files
        && dir.is_dir()
    {
        return Ok(print_run(&open(db)?.import_schema_dir(dir)));
    }
    if let Some(dir) = files.iter().find(|f| f.is_dir()) {
        return Err(Fatal(format!(
            "{} is a folder: give one folder alone, or files",
            dir.display()
        )));
    }
    let mut docs = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(file)
            .map_err(|e| Fatal(format!("cannot read {}: {e}", file.display())))?;
        match serde_json::from_str::<Value>(&text) {
            Ok(Value::Array(items)) => docs.extend(items),
            Ok(doc) => docs.push(doc),
            Err(e) => return Err(Fatal(format!("{} is not JSON: {e}", file.display()))),
        }
    }
    Ok(print_run(&open(db)?.import_schemas(docs)))
}

/// Print the schema `name` as a DocType file; exit 1 if there is none.
fn export_schema(db: &Path, name: &str) -> Result<ExitCode, Fatal> {
    match open_to_read(db)?.export_schema(name)? {
        Some(doc) => {
            print_json(&doc);
            Ok(ExitCode::SUCCESS)
        }
        None => {
            eprintln!("coworker: no schema `{name}`");
            Ok(ExitCode::from(1))
        }
    }
}

/// `schema import` prints the import run; `schema export` the DocType file.
pub(crate) fn schema(db: &Path, command: SchemaCommand) -> Result<ExitCode, Fatal> {
    match command {
        SchemaCommand::Import { files } => import_schemas(db, &files),
        SchemaCommand::Export { name } => export_schema(db, &name),
    }
}
