//! `coworker erase`: the `erase` operation (GDPR erasure, superuser only) from the command
//! line, its run printed (exit 1 if it failed).

use super::{Fatal, open, print_run};
use serde_json::{Value, json};
use std::path::Path;
use std::process::ExitCode;

/// What `coworker erase` takes.
#[derive(clap::Args)]
pub(crate) struct EraseArgs {
    /// The doctype of the documents to erase fields of.
    doctype: String,
    /// A document to erase (repeat for several).
    #[arg(
        long = "name",
        required_unless_present = "filter",
        conflicts_with = "filter"
    )]
    names: Vec<String>,
    /// The documents to erase, as a JSON `where` filter (the filter, values included, is
    /// kept in the erase run's record: prefer --name for a value being erased).
    #[arg(long = "where", value_name = "JSON")]
    filter: Option<String>,
    /// A field to erase (repeat for several).
    #[arg(long = "field", required = true)]
    fields: Vec<String>,
    /// Why (recorded in the erasure event).
    #[arg(long)]
    reason: String,
}

/// Run `erase` on the store at `db`.
pub(crate) fn erase(db: &Path, args: EraseArgs) -> Result<ExitCode, Fatal> {
    let mut input = json!({"fields": args.fields, "reason": args.reason});
    match args.filter {
        Some(text) => {
            let filter: Value = serde_json::from_str(&text)
                .map_err(|e| Fatal(format!("--where is not JSON: {e}")))?;
            input["where"] = filter;
        }
        None => input["name"] = json!(args.names),
    }
    let request = coworker::RunRequest::new("erase")
        .in_doctype(args.doctype)
        .input(input);
    Ok(print_run(&open(db)?.run(request)))
}
