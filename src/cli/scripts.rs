//! `coworker test` and `coworker script`: a pack's script tests, each against a fresh
//! in-memory store, and an ad-hoc Rhai script against the store.

use super::{Fatal, open, print_json};
use serde_json::json;
use std::path::Path;
use std::process::ExitCode;

/// Run the script tests under `dir`, print one line per test and the totals; exit 1 if any failed.
pub(crate) fn test(dir: &Path) -> Result<ExitCode, Fatal> {
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

/// Run the script in `file` against the store; print its final value, or its error (exit 1).
pub(crate) fn script(db: &Path, file: &Path) -> Result<ExitCode, Fatal> {
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
