//! The `coworker` command line: a thin front end over the library.
//!
//! Each subcommand calls one library function and prints JSON (or, for `demo`, a short
//! narrative). Exit codes: 0 ok, 1 the run failed, 2 usage or I/O error.
//!
//! This file parses the arguments and dispatches; the subcommands live in `cli/`, one module
//! per family, and use only the library's public API.

mod cli;

use clap::{Parser, Subcommand};
use cli::acl::{AclCommand, acl};
use cli::audit::{AuditCommand, audit, restore};
use cli::demo::demo;
use cli::erase::{EraseArgs, erase};
use cli::import::{ImportArgs, import};
use cli::maintenance::{backup, restore_backup, stats};
use cli::pack::{PackCommand, pack};
use cli::request::read_request;
use cli::runs::{RunsCommand, runs};
use cli::schema::{SchemaCommand, schema};
use cli::scripts::{script, test};
use cli::{CACHE_BYTES, Fatal, LOCK_TIMEOUT, USER, open, print_json, print_run};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "coworker",
    version,
    about = "An embedded rules engine: everything is a document"
)]
struct Cli {
    /// The store file (default: ./coworker.redb, or $COWORKER_DB).
    #[arg(long, global = true, env = "COWORKER_DB")]
    db: Option<PathBuf>,
    /// Act as this user (needed once access control is on). Requests that name no owner act
    /// for USER, a request naming another owner is refused, and `runs` shows only what USER
    /// may see. Access control is not authentication: whoever runs this command picks USER;
    /// a host that must know who its user is authenticates them and pins the owner.
    #[arg(long = "as", global = true, env = "COWORKER_USER", value_name = "USER")]
    user: Option<String>,
    /// How long to wait, in milliseconds, for a store another process has open for writing.
    #[arg(
        long = "lock-timeout",
        global = true,
        env = "COWORKER_LOCK_TIMEOUT_MS",
        value_name = "MS",
        default_value_t = 10_000
    )]
    lock_timeout: u64,
    /// Megabytes of the store file kept cached in memory (redb's page cache).
    #[arg(
        long = "cache-mb",
        global = true,
        env = "COWORKER_CACHE_MB",
        value_name = "MB",
        default_value_t = 16
    )]
    cache_mb: usize,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run one request and print the Run as JSON (exit 1 if the run failed).
    Run {
        /// The request as JSON text.
        #[arg(long, conflicts_with = "file")]
        json: Option<String>,
        /// A file holding the request.
        #[arg(long)]
        file: Option<PathBuf>,
        /// `-` reads the request from standard input.
        #[arg(value_name = "-")]
        stdin: Option<String>,
    },
    /// Create the documents of a JSON-lines file (one document a line; `-` for standard
    /// input), one run per batch; prints a JSON report (exit 1 if a batch failed).
    Import(ImportArgs),
    /// Import schemas (Frappe DocType JSON files) in one run; prints the Run.
    Schema {
        #[command(subcommand)]
        command: SchemaCommand,
    },
    /// Install or list operation packs.
    Pack {
        #[command(subcommand)]
        command: PackCommand,
    },
    /// Run the script tests (`tests/*.test.rhai`) of a pack, or of every pack in a folder,
    /// each against a fresh in-memory store; ends with `N passed, N failed`.
    Test {
        /// A pack folder, or a folder of packs (e.g. `operations`).
        dir: PathBuf,
    },
    /// Run an ad-hoc Rhai script against the store and print its final value as JSON.
    Script {
        /// The script file.
        file: PathBuf,
    },
    /// Access control: users, roles and permissions.
    Acl {
        #[command(subcommand)]
        command: AclCommand,
    },
    /// The audit trail: verify its hash chain, list entries.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Bring back a deleted document from its delete entry's snapshot, as a new audited
    /// create (the `restore` operation); print the run; exit 1 if it failed.
    Restore {
        /// The document's doctype.
        doctype: String,
        /// The document's name.
        name: String,
    },
    /// Erase (GDPR) fields of documents: null them and redact their values in run records
    /// and audit payloads, the chain still verifying (superuser only); print the run.
    Erase(EraseArgs),
    /// Inspect recorded runs; prune them as the retention settings say.
    Runs {
        #[command(subcommand)]
        command: RunsCommand,
    },
    /// Write a consistent copy of the store to FILE (a new file) while other processes may
    /// write the store; prints a JSON report.
    Backup {
        /// The backup file.
        file: PathBuf,
        /// Replace FILE if it exists.
        #[arg(long)]
        force: bool,
    },
    /// Replace the store with the backup FILE once its digest and audit chain check out; the
    /// old store file is kept as `<db>.before-restore-<time>`. Prints a JSON report.
    RestoreBackup {
        /// The backup file.
        file: PathBuf,
    },
    /// The store's figures as JSON: file, tables, documents per doctype, indexes, runs by
    /// status and age, audit trail, free pages, redo log.
    Stats,
    /// Shrink the store file by the space pruned runs and deleted documents left free
    /// (print the sizes before and after as JSON).
    Compact,
    /// Show create → select → update → delete on a fresh store (a temporary one unless
    /// --db is given).
    Demo,
}

/// `coworker compact`: the store opened for writing, compacted, its sizes printed.
fn compact(db: &std::path::Path) -> Result<ExitCode, Fatal> {
    let size = || std::fs::metadata(db).map_or(0, |m| m.len());
    let engine = open(db)?;
    let before = size();
    let changed = engine.compact()?;
    drop(engine);
    print_json(
        &serde_json::json!({"compacted": changed, "bytesBefore": before, "bytesAfter": size()}),
    );
    Ok(ExitCode::SUCCESS)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let _ = USER.set(cli.user.clone());
    let _ = LOCK_TIMEOUT.set(std::time::Duration::from_millis(cli.lock_timeout));
    let _ = CACHE_BYTES.set(cli.cache_mb.saturating_mul(1 << 20));
    let db = cli
        .db
        .clone()
        .unwrap_or_else(|| PathBuf::from("coworker.redb"));
    let result = match cli.command {
        Command::Run { json, file, stdin } => read_request(json, file, stdin)
            .and_then(|text| Ok(open(&db).map(|e| e.run_json(&text))?))
            .map(|run| print_run(&run)),
        Command::Import(args) => import(&db, args),
        Command::Schema { command } => schema(&db, command),
        Command::Pack { command } => pack(&db, command),
        Command::Test { dir } => test(&dir),
        Command::Script { file } => script(&db, &file),
        Command::Acl { command } => acl(&db, command),
        Command::Audit { command } => audit(&db, command),
        Command::Restore { doctype, name } => restore(&db, &doctype, &name),
        Command::Erase(args) => erase(&db, args),
        Command::Runs { command } => runs(&db, command),
        Command::Backup { file, force } => backup(&db, &file, force),
        Command::RestoreBackup { file } => restore_backup(&db, &file),
        Command::Stats => stats(&db),
        Command::Compact => compact(&db),
        Command::Demo => demo(cli.db.as_deref()),
    };
    match result {
        Ok(code) => code,
        Err(Fatal(message)) => {
            eprintln!("coworker: {message}");
            ExitCode::from(2)
        }
    }
}
