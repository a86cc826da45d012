//! `coworker pack install|list`: install an operation pack in one run, list installed packs.

use super::{Fatal, open, print_json, print_run};
use clap::Subcommand;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Subcommand)]
pub(crate) enum PackCommand {
    /// Install the pack in DIR (all of it in one run, or nothing); prints the Run.
    Install {
        /// The pack folder (holding pack.json).
        dir: PathBuf,
    },
    /// List installed packs as JSON.
    List,
}

/// `pack install` prints the install run; `pack list` the installed packs.
pub(crate) fn pack(db: &Path, command: PackCommand) -> Result<ExitCode, Fatal> {
    match command {
        PackCommand::Install { dir } => open(db)
            .map(|engine| print_run(&engine.install_pack(&dir)))
            .map_err(Fatal::from),
        PackCommand::List => open(db)
            .and_then(|engine| engine.packs())
            .map(|packs| {
                print_json(&Value::Array(packs));
                ExitCode::SUCCESS
            })
            .map_err(Fatal::from),
    }
}
