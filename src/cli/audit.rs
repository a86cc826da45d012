//! `coworker audit verify|list`: walk the hash chain of the audit trail (and check every
//! document against it), list its entries; `coworker restore`: bring a deleted document back.

use super::{Fatal, open, open_to_read, print_json, print_run};
use clap::Subcommand;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Subcommand)]
pub(crate) enum AuditCommand {
    /// Walk the hash chain; exit 1 and name the first broken link if the trail was altered.
    Verify {
        /// Also check every current document against the digest its last entry records;
        /// exit 1 and name each mismatch (doctype, name, entry seq, why).
        #[arg(long)]
        documents: bool,
        /// Also check this audit archive against the checkpoint that records it (repeatable);
        /// exit 1 if one does not check out.
        #[arg(long, value_name = "FILE")]
        archive: Vec<PathBuf>,
    },
    /// Archive the oldest audit entries behind a checkpoint entry: written to
    /// `audit-<from>-<to>.jsonl.gz` in the archive directory, then removed from the trail;
    /// print what was archived as JSON.
    Archive {
        /// Archive the entries with a sequence number below SEQ.
        #[arg(long, value_name = "SEQ")]
        before: Option<u64>,
        /// Archive the entries older than this (e.g. 90d, 12h, 30m, 45s, 500ms).
        #[arg(long, value_name = "AGE")]
        older_than: Option<String>,
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
        AuditCommand::Archive { before, older_than } => {
            let older_than_ms = older_than.as_deref().map(age_ms).transpose()?;
            let report = open(db)?.archive_audit(before, older_than_ms)?;
            print_json(&serde_json::to_value(&report)?);
            Ok(ExitCode::SUCCESS)
        }
        AuditCommand::Verify {
            documents: false,
            archive,
        } if !archive.is_empty() => {
            let report = open_to_read(db)?.verify_audit_archives(&archive)?;
            print_json(&serde_json::to_value(&report)?);
            let ok = report.broken.is_none() && report.archives.iter().all(|a| a.problem.is_none());
            Ok(if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        AuditCommand::Verify {
            documents: true, ..
        } => {
            let report = open_to_read(db)?.verify_documents()?;
            print_json(&serde_json::to_value(&report)?);
            Ok(if report.ok() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        AuditCommand::Verify {
            documents: false, ..
        } => {
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

/// An age such as `90d`, `12h`, `30m`, `45s` or `500ms`, in milliseconds.
fn age_ms(text: &str) -> Result<u64, Fatal> {
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let scale = match unit {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => 0,
    };
    match number.parse::<u64>() {
        Ok(n) if scale > 0 => Ok(n.saturating_mul(scale)),
        _ => Err(Fatal(format!(
            "--older-than {text}: give a whole number and a unit, e.g. 90d, 12h, 30m, 45s, 500ms"
        ))),
    }
}
