//! `coworker import FILE.jsonl`: documents from a JSON-lines file (or `-`, standard input)
//! through [`coworker::Engine::import_jsonl`], progress on stderr, the report as JSON on
//! stdout. Exit 0 when every line was imported, 1 when a batch failed (the report says how
//! to resume), 2 when the input cannot be read.

use super::{Fatal, open, print_json};
use clap::Args;
use coworker::{DEFAULT_IMPORT_BATCH, ImportOptions, ImportProgress};
use std::io::{BufRead, BufReader, IsTerminal};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// The shortest time between two progress lines.
const PROGRESS_EVERY: Duration = Duration::from_millis(500);

/// The arguments of `coworker import`.
#[derive(Args)]
pub(crate) struct ImportArgs {
    /// The JSON-lines file (one document a line), or `-` for standard input.
    file: PathBuf,
    /// Create every document as this doctype (else each line names its own `doctype`).
    #[arg(long)]
    doctype: Option<String>,
    /// Documents per run.
    #[arg(long, default_value_t = DEFAULT_IMPORT_BATCH as u64, value_parser = clap::value_parser!(u64).range(1..))]
    batch: u64,
    /// Skip the first N lines (resume after a failed batch: the report's `resume.skipLines`).
    #[arg(long, value_name = "N", default_value_t = 0)]
    skip_lines: u64,
    /// Validate every batch and write no document.
    #[arg(long)]
    dry_run: bool,
    /// Print progress on stderr even when it is not a terminal.
    #[arg(long)]
    progress: bool,
}

/// Import the file; print the report; exit 0 if every line was imported, 1 if not.
pub(crate) fn import(db: &Path, args: ImportArgs) -> Result<ExitCode, Fatal> {
    let input: Box<dyn BufRead> = if args.file.as_os_str() == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        let file = std::fs::File::open(&args.file)
            .map_err(|e| Fatal(format!("cannot read {}: {e}", args.file.display())))?;
        Box::new(BufReader::with_capacity(256 * 1024, file))
    };
    let mut options = ImportOptions::new()
        .batch(usize::try_from(args.batch).unwrap_or(usize::MAX))
        .skip_lines(args.skip_lines)
        .dry_run(args.dry_run);
    if let Some(doctype) = args.doctype {
        options = options.doctype(doctype);
    }
    let show = args.progress || std::io::stderr().is_terminal();
    let mut last_shown: Option<Instant> = None;
    let report = open(db)?.import_jsonl(input, &options, |now| {
        if show && last_shown.is_none_or(|at| at.elapsed() >= PROGRESS_EVERY) {
            last_shown = Some(Instant::now());
            eprintln!("{}", progress_line(now, args.dry_run));
        }
    })?;
    if show {
        eprintln!("{}", progress_line(&report.progress, args.dry_run));
    }
    if let Some(failed) = &report.failed {
        let error = failed.run.error.as_ref().map(|e| e.message.as_str());
        eprintln!(
            "coworker: the import stopped at lines {}-{} (run {}): {}\n\
             {} documents ({} lines) {}; resume with --skip-lines {}",
            failed.first_line,
            failed.last_line,
            failed.run.id,
            error.unwrap_or("the run failed"),
            report.progress.documents,
            report.progress.lines,
            if args.dry_run {
                "validated"
            } else {
                "committed"
            },
            report.progress.lines
        );
    }
    print_json(&report.to_value());
    Ok(match report.success() {
        true => ExitCode::SUCCESS,
        false => ExitCode::from(1),
    })
}

/// `imported 12000 documents (12004 lines) in 3 runs, 35120 documents/s`.
fn progress_line(now: &ImportProgress, dry_run: bool) -> String {
    let seconds = now.elapsed.as_secs_f64();
    let rate = match seconds > 0.0 {
        true => now.documents as f64 / seconds,
        false => 0.0,
    };
    format!(
        "{} {} documents ({} lines) in {} runs, {rate:.0} documents/s",
        if dry_run { "validated" } else { "imported" },
        now.documents,
        now.lines,
        now.runs
    )
}
