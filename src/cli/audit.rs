//! `coworker audit verify|list`: walk the hash chain of the audit trail, list its entries.

use super::{Fatal, open, open_to_read, print_json};
use clap::Subcommand;
use serde_json::{Value, json};
use std::path::Path;
use std::process::ExitCode;

#[derive(Subcommand)]
pub(crate) enum AuditCommand {
    /// Walk the hash chain; exit 1 and name the first broken link if the trail was altered.
    Verify,
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
        AuditCommand::Verify => {
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
