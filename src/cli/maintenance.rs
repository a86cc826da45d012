//! `coworker backup`, `coworker restore-backup` and `coworker stats`: a consistent copy of
//! the store taken while a host may be writing it, its checked restore, and the store's
//! figures, each printed as JSON.

use super::{Fatal, builder, open, open_to_read, print_json};
use std::path::Path;
use std::process::ExitCode;

/// A failure of the library, shown with its code.
fn failed(e: &coworker::Error) -> Fatal {
    Fatal(format!("{}: {e}", e.code()))
}

/// `backup FILE [--force]`: copy the store from one snapshot (read-only beside a host
/// sharing the file with readers) and print the report.
pub(crate) fn backup(db: &Path, file: &Path, force: bool) -> Result<ExitCode, Fatal> {
    let engine = open_to_read(db)?;
    let report = if force {
        engine.backup_replacing(file)
    } else {
        engine.backup(file)
    }
    .map_err(|e| failed(&e))?;
    print_json(&serde_json::to_value(&report)?);
    Ok(ExitCode::SUCCESS)
}

/// `restore-backup FILE`: check the backup, then swap it in for the store and print the
/// report (where the old file went).
pub(crate) fn restore_backup(db: &Path, file: &Path) -> Result<ExitCode, Fatal> {
    let report = builder().restore_backup(file, db).map_err(|e| failed(&e))?;
    print_json(&serde_json::to_value(&report)?);
    Ok(ExitCode::SUCCESS)
}

/// `stats`: the store's figures (opened for writing, so that redb tells its free pages).
pub(crate) fn stats(db: &Path) -> Result<ExitCode, Fatal> {
    let stats = open(db)?.stats().map_err(|e| failed(&e))?;
    print_json(&serde_json::to_value(&stats)?);
    Ok(ExitCode::SUCCESS)
}
