//! `coworker audit verify|list`: walk the hash chain of the audit trail (and check every
//! document against it), list its entries; `coworker restore`: bring a deleted document back.

use super::{Fatal, open, open_to_read, print_json, print_run};
use clap::Subcommand;
use serde_json::{Value, json};
use std::path::Path;
use std::process::ExitCode;

#[derive(Subcommand)]
pub(crate) enum AuditCommand {
    /// Walk the hash chain; exit 1 and name the first broken link if the trail was altered.
    Verify {
        /// Also check every current document against the digest its last entry records;
        /// exit 1 and name each mismatch (doctype, name, entry seq, why).
        #[arg(long)]
        documents: bool,
    },
    /// List audit entries as JSON, oldest first.
    List {
        /// Only entries about this doctype.
        #[arg(long)]
        doctype: Option<String>,
        /// Only entries about this document.
        #[arg(long)]
        name: Option<String>,
        /// Only entries of runs of this owner.
        #[arg(long)]
        owner: Option<String>,
        /// Only the newest N.
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
}

/// `audit verify` prints the report (exit 1 on a broken link); `audit list` the entries.
pub(crate) fn audit(db: &Path, command: AuditCommand) -> Result<ExitCode, Fatal> {
    match command {
        AuditCommand::Verify { documents: true } => {
            let report = open_to_read(db)?.verify_documents()?;
            print_json(&serde_json::to_value(&report)?);
            Ok(if report.ok() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        AuditCommand::Verify { documents: false } => {
            let report = open_to_read(db)?.verify_audit()?;
            print_json(&serde_json::to_value(&report)?);
            Ok(if report.broken.is_none() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        AuditCommand::List {
            doctype,
            name,
            owner,
            limit,
        } => {
            let engine = open(db)?;
            let mut filter = serde_json::Map::new();
            for (key, value) in [("refDoctype", doctype), ("refName", name), ("owner", owner)] {
                if let Some(value) = value {
                    filter.insert(key.into(), json!(value));
                }
            }
            // The newest `limit`, printed oldest first.
            let run = engine.run_value(json!({"operation": "select", "from": "Audit Trail",
                "input": {"where": filter, "orderBy": {"seq": "desc"}, "take": limit}}));
            if let Some(error) = &run.error {
                return Err(Fatal(format!("{}: {}", error.code, error.message)));
            }
            let mut entries = run.data().to_vec();
            entries.reverse();
            print_json(&Value::Array(entries));
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `coworker restore DOCTYPE NAME`: the `restore` operation, its run printed (exit 1 if it
/// failed).
pub(crate) fn restore(db: &Path, doctype: &str, name: &str) -> Result<ExitCode, Fatal> {
    let request = coworker::RunRequest::new("restore")
        .into_doctype(doctype)
        .input(json!({ "name": name }));
    Ok(print_run(&open(db)?.run(request)))
}
