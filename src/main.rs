//! The `coworker` command line: a thin front end over the library.
//!
//! Each subcommand calls one library function and prints JSON (or, for `demo`, a short
//! narrative). Exit codes: 0 ok, 1 the run failed, 2 usage or I/O error.
//!
//! Over ~600 lines: issue 13 moves the demo to `cli/demo.rs` and the subcommands beside it.

use clap::{Parser, Subcommand};
use coworker::{Engine, Run, RunQuery, RunStatus, RunTree};
use serde_json::{Value, json};
use std::io::Read;
use std::path::{Path, PathBuf};
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
    /// Inspect recorded runs.
    Runs {
        #[command(subcommand)]
        command: RunsCommand,
    },
    /// Show create → select → update → delete on a fresh store (a temporary one unless
    /// --db is given).
    Demo,
}

#[derive(Subcommand)]
enum SchemaCommand {
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

#[derive(Subcommand)]
enum PackCommand {
    /// Install the pack in DIR (all of it in one run, or nothing); prints the Run.
    Install {
        /// The pack folder (holding pack.json).
        dir: PathBuf,
    },
    /// List installed packs as JSON.
    List,
}

#[derive(Subcommand)]
enum AclCommand {
    /// Turn access control on: every run must then name an existing owner.
    Enable {
        /// The superuser (created if missing).
        #[arg(long, default_value = "Administrator")]
        admin: String,
        /// The superuser role.
        #[arg(long, default_value = coworker::DEFAULT_SUPERUSER_ROLE)]
        superuser_role: String,
    },
    /// Turn access control off.
    Disable {
        /// The superuser doing it (default: the `--as` user, else Administrator).
        #[arg(long)]
        admin: Option<String>,
    },
    /// Print whether access control is on.
    Status,
}

#[derive(Subcommand)]
enum AuditCommand {
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

#[derive(Subcommand)]
enum RunsCommand {
    /// Print one run as JSON.
    Show {
        /// The run id.
        id: String,
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
    },
    /// Print the tree of runs under ID (a workflow, its steps, their nested runs).
    Tree {
        /// The run id.
        id: String,
        /// Print the tree as JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

/// `println!` that does not panic when stdout is closed (`coworker runs list | head`).
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

/// A failure of the command itself (not of a run): exit 2.
struct Fatal(String);

impl<E: std::fmt::Display> From<E> for Fatal {
    fn from(e: E) -> Self {
        Fatal(e.to_string())
    }
}

/// The user of `--as` (set once, at start).
static USER: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();

/// How long to wait for another process's lock on the store (`--lock-timeout`).
static LOCK_TIMEOUT: std::sync::OnceLock<std::time::Duration> = std::sync::OnceLock::new();

/// A builder that waits `--lock-timeout` for the store's lock.
fn builder() -> coworker::EngineBuilder {
    Engine::builder().lock_timeout(LOCK_TIMEOUT.get().copied().unwrap_or_default())
}

/// The store at `db`, pinned to the `--as` user (see [`as_user`]).
fn open(db: &Path) -> Result<Engine, coworker::Error> {
    builder().open(db).map(as_user)
}

/// `engine` acting for the `--as` user alone: requests that name no owner act for them, a
/// request naming another is refused, runs read back are theirs to see.
fn as_user(engine: Engine) -> Engine {
    match USER.get() {
        Some(Some(user)) => engine.pin_owner(user.clone()),
        _ => engine,
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let _ = USER.set(cli.user.clone());
    let _ = LOCK_TIMEOUT.set(std::time::Duration::from_millis(cli.lock_timeout));
    let db = cli
        .db
        .clone()
        .unwrap_or_else(|| PathBuf::from("coworker.redb"));
    let result = match cli.command {
        Command::Run { json, file, stdin } => read_request(json, file, stdin)
            .and_then(|text| Ok(open(&db).map(|e| e.run_json(&text))?))
            .map(|run| print_run(&run)),
        Command::Schema {
            command: SchemaCommand::Import { files },
        } => import_schemas(&db, &files),
        Command::Schema {
            command: SchemaCommand::Export { name },
        } => export_schema(&db, &name),
        Command::Pack {
            command: PackCommand::Install { dir },
        } => open(&db)
            .map(|engine| print_run(&engine.install_pack(&dir)))
            .map_err(Fatal::from),
        Command::Pack {
            command: PackCommand::List,
        } => open(&db)
            .and_then(|engine| engine.packs())
            .map(|packs| {
                print_json(&Value::Array(packs));
                ExitCode::SUCCESS
            })
            .map_err(Fatal::from),
        Command::Test { dir } => test(&dir),
        Command::Script { file } => script(&db, &file),
        Command::Acl { command } => acl(&db, command),
        Command::Audit { command } => audit(&db, command),
        Command::Runs { command } => runs(&db, command),
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

fn read_request(
    json: Option<String>,
    file: Option<PathBuf>,
    stdin: Option<String>,
) -> Result<String, Fatal> {
    match (json, file, stdin.as_deref()) {
        (Some(text), None, None) => Ok(text),
        (None, Some(path), None) => std::fs::read_to_string(&path)
            .map_err(|e| Fatal(format!("cannot read {}: {e}", path.display()))),
        (None, None, Some("-")) => {
            let mut text = String::new();
            std::io::stdin().read_to_string(&mut text)?;
            Ok(text)
        }
        _ => Err(Fatal(
            "give the request as --json JSON, --file FILE or - (standard input)".into(),
        )),
    }
}

fn print_json(value: &Value) {
    say!(
        "{}",
        serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
    );
}

fn print_run(run: &Run) -> ExitCode {
    print_json(&run.to_value());
    if run.success {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

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

fn test(dir: &Path) -> Result<ExitCode, Fatal> {
    let report = coworker::run_script_tests(dir)?;
    for test in &report.tests {
        match &test.failure {
            None => say!("ok   {} ({:.1} ms)", test.name, test.duration_ms),
            Some(why) => say!("FAIL {}\n  {why}", test.name),
        }
    }
    say!("{} passed, {} failed", report.passed(), report.failed());
    Ok(if report.failed() == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn script(db: &Path, file: &Path) -> Result<ExitCode, Fatal> {
    let code = std::fs::read_to_string(file)
        .map_err(|e| Fatal(format!("cannot read {}: {e}", file.display())))?;
    let name = file.file_name().unwrap_or_default().to_string_lossy();
    match open(db)?.run_script(&name, &code) {
        Ok(value) => {
            print_json(&value);
            Ok(ExitCode::SUCCESS)
        }
        Err(error) => {
            print_json(&json!({ "error": error.to_run_error() }));
            Ok(ExitCode::from(1))
        }
    }
}

/// The store at `db` for reading only: an embedding host may have it open for writing.
/// (A store that does not exist yet is created, empty, as every command does.)
fn open_to_read(db: &Path) -> Result<Engine, coworker::Error> {
    if db.exists() {
        builder().open_read_only(db).map(as_user)
    } else {
        open(db)
    }
}

fn acl(db: &Path, command: AclCommand) -> Result<ExitCode, Fatal> {
    // Not pinned to `--as`: each subcommand names the superuser it acts as.
    let engine = Engine::open(db)?;
    match command {
        AclCommand::Enable {
            admin,
            superuser_role,
        } => engine.enable_acl(&admin, Some(&superuser_role))?,
        AclCommand::Disable { admin } => {
            let admin = admin
                .or_else(|| USER.get().cloned().flatten())
                .unwrap_or_else(|| "Administrator".to_string());
            engine.disable_acl(&admin).map_err(|e| {
                Fatal(format!(
                    "acl disable acting as `{admin}` (from --admin, else --as, else Administrator): {e}"
                ))
            })?
        }
        AclCommand::Status => {}
    }
    print_json(&json!({ "enabled": engine.acl_enabled()? }));
    Ok(ExitCode::SUCCESS)
}

fn audit(db: &Path, command: AuditCommand) -> Result<ExitCode, Fatal> {
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

fn runs(db: &Path, command: RunsCommand) -> Result<ExitCode, Fatal> {
    let engine = open_to_read(db)?;
    match command {
        RunsCommand::Show { id } => match engine.get_run(&id)? {
            Some(run) => {
                print_json(&run.to_value());
                Ok(ExitCode::SUCCESS)
            }
            None => Err(Fatal(format!("no run with id {id}"))),
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
        } => {
            let status = status
                .map(|s| serde_json::from_value::<RunStatus>(json!(s)))
                .transpose()
                .map_err(|_| {
                    Fatal("--status is one of pending, running, completed, failed".into())
                })?;
            let query = RunQuery {
                flow_id: flow,
                chain_id: chain,
                parent_run_id: parent,
                owner,
                status,
                since,
                until,
                limit: Some(limit),
            };
            let runs: Vec<Value> = engine
                .list_runs(&query)?
                .iter()
                .map(Run::to_value)
                .collect();
            print_json(&Value::Array(runs));
            Ok(ExitCode::SUCCESS)
        }
        RunsCommand::Tree { id, json } => match engine.run_tree(&id)? {
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
            None => Err(Fatal(format!("no run with id {id}"))),
        },
    }
}

/// The run tree as indented text: status (`ok`, `FAIL`, or `UNDO` for a completed run whose
/// writes were rolled back with a failure above it), operation, target, step and duration.
fn print_tree(tree: &RunTree, depth: usize, out: &mut String) {
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

/// The `project-flow` pack, shipped inside the binary for the demo.
macro_rules! bundled {
    ($path:literal) => {
        (
            $path,
            include_str!(concat!("../operations/project-flow/", $path)),
        )
    };
}
const DEMO_PACK: &[(&str, &str)] = &[
    bundled!("pack.json"),
    bundled!("schemas/inbound_email.json"),
    bundled!("schemas/notification.json"),
    bundled!("schemas/project.json"),
    bundled!("schemas/project_task.json"),
    bundled!("schemas/sales_lead.json"),
    bundled!("schemas/sales_opportunity.json"),
    bundled!("operations/map_fields.json"),
    bundled!("operations/map_fields.rhai"),
    bundled!("operations/summarize_email.json"),
    bundled!("operations/summarize_email.rhai"),
    bundled!("workflows/email_to_tasks.json"),
    bundled!("workflows/lead_to_opportunity.json"),
    bundled!("workflows/triage_inbox.json"),
];

/// The demo's workflow input: an email that becomes a project and its tasks.
const DEMO_EMAIL: &str = "Hi team,\nThe launch moves to May. Budget is unchanged.\n- Book the venue @ana\n- Print badges asap @ben\n- Draft the press release\n- Order coffee when you can\nThanks,\nCara";

/// The README's first command: a short, real session against a fresh store.
fn demo(db: Option<&Path>) -> Result<ExitCode, Fatal> {
    let scratch;
    let path = match db {
        Some(path) => path.to_path_buf(),
        None => {
            scratch = tempfile::tempdir()?;
            scratch.path().join("demo.redb")
        }
    };
    say!("coworker demo — store: {}\n", path.display());
    let engine = Engine::open(&path)?;
    let steps: [(&str, Value); 8] = [
        (
            "import a ToDo schema (Frappe DocType JSON)",
            json!({"operation": "create", "into": "Schema", "owner": "alice", "input": {"data": {
                "doctype": "DocType", "name": "ToDo", "autoname": "TODO-.#####",
                "fields": [
                    {"fieldname": "description", "fieldtype": "Data", "reqd": 1, "in_list_view": 1},
                    {"fieldname": "status", "fieldtype": "Select", "options": "Open\nClosed",
                     "default": "Open", "search_index": 1, "in_list_view": 1},
                    {"fieldname": "priority", "fieldtype": "Int", "default": "3"}]}}}),
        ),
        (
            "a ToDo that breaks the schema is refused, every violation listed",
            json!({"operation": "create", "into": "ToDo", "owner": "alice", "input": {"data": {
                "status": "Done", "priority": "high"}}}),
        ),
        (
            "create three ToDo documents",
            json!({"operation": "create", "into": "ToDo", "owner": "alice", "input": {"data": [
                {"description": "Write the spec", "status": "Open", "priority": 2},
                {"description": "Review the spec", "status": "Open", "priority": 1},
                {"description": "Order lunch", "status": "Closed", "priority": 3}]}}),
        ),
        (
            "select the open ones, most urgent first",
            json!({"operation": "select", "from": "ToDo", "owner": "alice", "input": {
                "where": {"status": "Open"}, "orderBy": {"priority": "asc"},
                "select": ["name", "description", "priority"]}}),
        ),
        (
            "close everything about the spec",
            json!({"operation": "update", "in": "ToDo", "owner": "alice", "input": {
                "where": {"description": {"contains": "spec"}}, "data": {"status": "Closed"}}}),
        ),
        (
            "delete the closed ones with priority above 1",
            json!({"operation": "delete", "from": "ToDo", "owner": "alice", "input": {
                "where": {"AND": [{"status": "Closed"}, {"priority": {"gt": 1}}]}}}),
        ),
        (
            "a bad request is a failed run, not a crash",
            json!({"operation": "select", "from": "ToDo", "input": {"where": {"status": {"like": "%"}}}}),
        ),
        (
            "what is left",
            json!({"operation": "select", "from": "ToDo", "owner": "alice"}),
        ),
    ];
    for (i, (title, request)) in steps.into_iter().enumerate() {
        let run = engine.run_value(request);
        say!("{}. {title}", i + 1);
        match &run.error {
            None => {
                let docs: Vec<String> = run
                    .data()
                    .iter()
                    .map(|d| match d {
                        Value::Object(_) => format!(
                            "{} {}",
                            d.get("name").and_then(Value::as_str).unwrap_or("?"),
                            d.get("description")
                                .map(Value::to_string)
                                .unwrap_or_default()
                        ),
                        other => other.to_string(),
                    })
                    .collect();
                say!(
                    "   {} {} ok in {:.2} ms → {}",
                    run.operation.as_deref().unwrap_or("?"),
                    run.doctype.as_deref().unwrap_or(""),
                    run.duration,
                    if docs.is_empty() {
                        "nothing".into()
                    } else {
                        docs.join("; ")
                    }
                );
            }
            Some(error) => {
                say!("   failed: {} — {}", error.code, error.message);
                for detail in error.details.as_array().into_iter().flatten() {
                    say!(
                        "     {} [{}]: {}",
                        detail["path"].as_str().unwrap_or(""),
                        detail["rule"].as_str().unwrap_or(""),
                        detail["message"].as_str().unwrap_or("")
                    );
                }
            }
        }
        say!("   run {}", run.id);
    }
    say!("\n9. install the bundled pack `project-flow` (schemas, operations, workflow templates)");
    let pack = coworker::Pack::from_files(DEMO_PACK.iter().copied())?;
    let installed = engine.install(&pack);
    match &installed.error {
        None => say!(
            "   installed {} in one run ({} nested runs)",
            pack.name,
            installed.child_run_ids.len()
        ),
        Some(error) => say!("   failed: {} — {}", error.code, error.message),
    }
    say!("\n10. run the workflow `Email To Tasks` on an inbound email");
    let flow = engine.run_value(json!({"operation": "workflow", "template": "Email To Tasks",
        "owner": "alice", "input": {"from": "cara@client.example", "subject": "[Apollo] launch prep",
        "body": DEMO_EMAIL}}));
    for step in flow.output["steps"].as_array().into_iter().flatten() {
        say!(
            "   step {:<10} {}",
            step["id"].as_str().unwrap_or("?"),
            step["status"].as_str().unwrap_or("?")
        );
    }
    if let Some(error) = &flow.error {
        say!("   failed: {} — {}", error.code, error.message);
    }
    say!("\n   its run tree (coworker runs tree {}):", flow.id);
    if let Some(tree) = engine.run_tree(&flow.id)? {
        let mut text = String::new();
        print_tree(&tree, 2, &mut text);
        say!("{}", text.trim_end());
    }
    engine.flush()?;
    let recorded = engine.list_runs(&RunQuery::default())?;
    say!("\n{} runs recorded.", recorded.len());
    match db {
        Some(path) => say!(
            "Inspect one with: coworker --db {} runs show {}",
            path.display(),
            recorded.last().map(|r| r.id.as_str()).unwrap_or("?")
        ),
        None => say!("The store was temporary; keep one with: coworker --db demo.redb demo"),
    }
    Ok(ExitCode::SUCCESS)
}
