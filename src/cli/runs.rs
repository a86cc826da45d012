//! `coworker runs show|list|tree`: recorded runs read back, one, a filtered list, or the tree
//! under a run printed as indented text (also used by the demo).

use super::{Fatal, open_to_read, print_json};
use clap::Subcommand;
use coworker::{Run, RunArchive, RunQuery, RunStatus, RunTree};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Subcommand)]
pub(crate) enum RunsCommand {
    /// Print one run as JSON.
    Show {
        /// The run id.
        id: String,
        /// Read the run from this archive of pruned runs instead of the store.
        #[arg(long, value_name = "FILE")]
        archive: Option<PathBuf>,
    },
    /// List runs, oldest first, as a JSON array.
    List {
        /// Only runs of this flow.
        #[arg(long)]
        flow: Option<String>,
        /// Only runs of this chain (a top-level run and everything under it).
        #[arg(long)]
        chain: Option<String>,
        /// Only direct children of this run.
        #[arg(long)]
        parent: Option<String>,
        /// Only runs of this owner.
        #[arg(long)]
        owner: Option<String>,
        /// Only runs with this status (completed, failed).
        #[arg(long)]
        status: Option<String>,
        /// Only runs started at or after this RFC 3339 instant.
        #[arg(long)]
        since: Option<String>,
        /// Only runs started before this RFC 3339 instant.
        #[arg(long)]
        until: Option<String>,
        /// Only the newest N.
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// Read runs from this archive of pruned runs instead of the store.
        #[arg(long, value_name = "FILE")]
        archive: Option<PathBuf>,
    },
    /// Print the tree of runs under ID (a workflow, its steps, their nested runs).
    Tree {
        /// The run id.
        id: String,
        /// Print the tree as JSON instead of text.
        #[arg(long)]
        json: bool,
        /// Read the tree from this archive of pruned runs instead of the store.
        #[arg(long, value_name = "FILE")]
        archive: Option<PathBuf>,
    },
    /// Prune run records as the retention settings (System Settings `retention`) say, now;
    /// print what was removed as JSON.
    Prune {
        /// Count what would be pruned, change nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

/// `runs show|list|tree` on a store opened for reading; `runs prune` on one opened for
/// writing.
pub(crate) fn runs(db: &Path, command: RunsCommand) -> Result<ExitCode, Fatal> {
    if let RunsCommand::Prune { dry_run } = command {
        let report = super::open(db)?.prune_runs(dry_run)?;
        print_json(&serde_json::to_value(&report)?);
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(archive) = archived(&command) {
        let archive = RunArchive::open(archive)?;
        let reader = Reader {
            get: &|id| Ok(archive.get(id).cloned()),
            list: &|query| archive.list(query),
            tree: &|id| Ok(archive.tree(id)),
            missing: " in the archive",
        };
        return answer(command, &reader);
    }
    let engine = open_to_read(db)?;
    let reader = Reader {
        get: &|id| engine.get_run(id),
        list: &|query| engine.list_runs(query),
        tree: &|id| engine.run_tree(id),
        missing: "",
    };
    answer(command, &reader)
}

/// Where `runs show|list|tree` read: the store, or an archive of pruned runs.
struct Reader<'a> {
    get: &'a dyn Fn(&str) -> coworker::Result<Option<Run>>,
    list: &'a dyn Fn(&RunQuery) -> coworker::Result<Vec<Run>>,
    tree: &'a dyn Fn(&str) -> coworker::Result<Option<RunTree>>,
    /// Said after "no run with id ID" when a run is not there.
    missing: &'static str,
}

/// `runs show|list|tree` answered from `reader`.
fn answer(command: RunsCommand, reader: &Reader<'_>) -> Result<ExitCode, Fatal> {
    match command {
        RunsCommand::Show { id, .. } => match (reader.get)(&id)? {
            Some(run) => {
                print_json(&run.to_value());
                Ok(ExitCode::SUCCESS)
            }
            None => Err(Fatal(format!("no run with id {id}{}", reader.missing))),
        },
        RunsCommand::List {
            flow,
            chain,
            parent,
            owner,
            status,
            since,
            until,
            limit,
            ..
        } => {
            let query = RunQuery {
                flow_id: flow,
                chain_id: chain,
                parent_run_id: parent,
                owner,
                status: parse_status(status)?,
                since,
                until,
                limit: Some(limit),
            };
            let runs: Vec<Value> = (reader.list)(&query)?.iter().map(Run::to_value).collect();
            print_json(&Value::Array(runs));
            Ok(ExitCode::SUCCESS)
        }
        RunsCommand::Tree { id, json, .. } => {
            let tree = (reader.tree)(&id)?;
            print_found_tree(tree, &id, reader.missing, json)
        }
        RunsCommand::Prune { .. } => unreachable!("pruned above, on a store open for writing"),
    }
}

/// The archive a `runs show|list|tree` names, if any.
fn archived(command: &RunsCommand) -> Option<&Path> {
    match command {
        RunsCommand::Show { archive, .. }
        | RunsCommand::List { archive, .. }
        | RunsCommand::Tree { archive, .. } => archive.as_deref(),
        RunsCommand::Prune { .. } => None,
    }
}

/// `--status` read as a run status.
fn parse_status(status: Option<String>) -> Result<Option<RunStatus>, Fatal> {
    status
        .map(|s| serde_json::from_value::<RunStatus>(json!(s)))
        .transpose()
        .map_err(|_| Fatal("--status is one of pending, running, completed, failed".into()))
}

/// Print a tree found (as JSON, or as text), or say there is none.
fn print_found_tree(
    tree: Option<RunTree>,
    id: &str,
    missing: &str,
    json: bool,
) -> Result<ExitCode, Fatal> {
    match tree {
        Some(tree) if json => {
            print_json(&serde_json::to_value(&tree)?);
            Ok(ExitCode::SUCCESS)
        }
        Some(tree) => {
            let mut text = String::new();
            print_tree(&tree, 0, &mut text);
            say!("{}", text.trim_end());
            Ok(ExitCode::SUCCESS)
        }
        None => Err(Fatal(format!("no run with id {id}{missing}"))),
    }
}

/// The run tree as indented text: status (`ok`, `FAIL`, or `UNDO` for a completed run whose
/// writes were rolled back with a failure above it), operation, target, step and duration.
pub(crate) fn print_tree(tree: &RunTree, depth: usize, out: &mut String) {
    let run = &tree.run;
    let mark = match (run.success, run.rolled_back) {
        (true, false) => "ok  ",
        (true, true) => "UNDO",
        (false, _) => "FAIL",
    };
    let target = run
        .template
        .as_deref()
        .or(run.doctype.as_deref())
        .map(|t| format!(" {t}"))
        .unwrap_or_default();
    let step = run
        .step_id
        .as_deref()
        .map(|s| format!(" [{s}]"))
        .unwrap_or_default();
    let error = run
        .error
        .as_ref()
        .map(|e| format!(" — {}: {}", e.code, e.message))
        .unwrap_or_default();
    out.push_str(&format!(
        "{}{mark} {}{target}{step} {:.2} ms  {}{error}\n",
        "  ".repeat(depth),
        run.operation.as_deref().unwrap_or("?"),
        run.duration,
        run.id
    ));
    for child in &tree.children {
        print_tree(child, depth + 1, out);
    }
}
