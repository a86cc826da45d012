//! `coworker acl enable|disable|status`: turn access control on or off, acting as a superuser.

use super::{Fatal, USER, print_json};
use clap::Subcommand;
use coworker::Engine;
use serde_json::json;
use std::path::Path;
use std::process::ExitCode;

#[derive(Subcommand)]
pub(crate) enum AclCommand {
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

/// `acl enable|disable|status`, then print whether access control is on.
pub(crate) fn acl(db: &Path, command: AclCommand) -> Result<ExitCode, Fatal> {
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
