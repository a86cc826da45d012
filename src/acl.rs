//! Identity and permissions: who a run acts for, and what that owner may do.
//!
//! Users (`User` documents with `roles`) and roles (`Role`) are documents. Permissions are
//! Frappe DocPerm rows in each schema's `permissions` (role, read, write, create, delete,
//! submit, cancel, amend, if_owner) and, for custom operations, the Operation's `roles`. Until access control is
//! enabled (`System Settings` document `acl`), a store behaves as a single local user's;
//! after, every run must name an existing owner and is checked, nested runs included: a run
//! started by a script or a workflow step acts for the same owner, so an agent never does
//! more than its owner may. This module decides; it never writes.

use crate::doc::Doc;
use crate::error::{Error, ErrorCode, Result};
use crate::schema::{Schema, flag};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

/// The doctype of users.
pub(crate) const USER: &str = "User";
/// The doctype of settings documents; access control lives in the one named [`SETTINGS_NAME`].
pub(crate) const SETTINGS: &str = "System Settings";
/// The settings document of access control.
pub(crate) const SETTINGS_NAME: &str = "acl";
/// The superuser role unless the settings name another.
pub const DEFAULT_SUPERUSER_ROLE: &str = "Administrator";

/// Access control settings.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub enabled: bool,
    pub superuser_role: String,
    /// Runs per second and burst, per owner (top-level runs only).
    pub rate_limit: Option<(f64, f64)>,
    /// Roles besides the superuser's that may skip validation (`options.validate: false`);
    /// the settings field `skipValidationRoles`.
    pub skip_validation_roles: Vec<String>,
}

impl Settings {
    /// Settings from their document (absent: access control off).
    pub(crate) fn from_doc(doc: Option<&Doc>) -> Settings {
        let Some(doc) = doc else {
            return Settings {
                enabled: false,
                superuser_role: DEFAULT_SUPERUSER_ROLE.into(),
                rate_limit: None,
                skip_validation_roles: Vec::new(),
            };
        };
        let rate = doc.get("rateLimit");
        let per_second = rate
            .and_then(|r| r.get("perSecond"))
            .and_then(Value::as_f64);
        let burst = rate.and_then(|r| r.get("burst")).and_then(Value::as_f64);
        Settings {
            enabled: flag(doc.get("enabled")),
            superuser_role: doc
                .get("superuserRole")
                .and_then(Value::as_str)
                .filter(|r| !r.is_empty())
                .unwrap_or(DEFAULT_SUPERUSER_ROLE)
                .to_string(),
            rate_limit: per_second
                .filter(|p| *p > 0.0)
                .map(|p| (p, burst.unwrap_or(p).max(1.0))),
            skip_validation_roles: role_names(doc.get("skipValidationRoles")),
        }
    }
}

/// Who a run acts for, once access control is on.
#[derive(Debug, Clone)]
pub(crate) struct Identity {
    pub user: String,
    pub roles: Vec<String>,
    pub superuser: bool,
    /// Whether the owner may skip validation (`options.validate: false`): the superuser and
    /// the roles the settings name in `skipValidationRoles`.
    pub may_skip_validation: bool,
}

/// How far a permission reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Grant {
    /// Every document of the doctype.
    All,
    /// Only documents the user owns (`if_owner`).
    OwnOnly,
}

/// What a built-in does to a doctype.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    Read,
    Write,
    Create,
    Delete,
    /// Submit a draft of a submittable doctype (and change a submitted one's
    /// `allow_on_submit` fields), as Frappe's DocPerm `submit`.
    Submit,
    /// Cancel a submitted document.
    Cancel,
    /// Amend a cancelled document.
    Amend,
}

impl Access {
    /// The DocPerm flag that grants it.
    pub(crate) fn key(self) -> &'static str {
        match self {
            Access::Read => "read",
            Access::Write => "write",
            Access::Create => "create",
            Access::Delete => "delete",
            Access::Submit => "submit",
            Access::Cancel => "cancel",
            Access::Amend => "amend",
        }
    }
}

fn denied(message: String) -> Error {
    Error::new(ErrorCode::PermissionDenied, message)
}

/// The identity of `owner` (`user` is their `User` document, if any).
pub(crate) fn identify(
    settings: &Settings,
    owner: Option<&str>,
    user: Option<&Doc>,
) -> Result<Identity> {
    let Some(owner) = owner else {
        return Err(denied(
            "access control is on: the run must name its `owner`".into(),
        ));
    };
    let Some(user) = user else {
        return Err(denied(format!(
            "access control is on: `{owner}` is not a User"
        )));
    };
    if user.get("enabled").is_some_and(|e| !flag(Some(e))) {
        return Err(denied(format!("User `{owner}` is disabled")));
    }
    let roles = role_names(user.get("roles"));
    let superuser = roles.contains(&settings.superuser_role);
    Ok(Identity {
        superuser,
        may_skip_validation: superuser
            || roles
                .iter()
                .any(|r| settings.skip_validation_roles.contains(r)),
        user: owner.to_string(),
        roles,
    })
}

/// Role names from a list of names or of `{role}` rows (Frappe's Has Role).
pub(crate) fn role_names(roles: Option<&Value>) -> Vec<String> {
    roles
        .and_then(Value::as_array)
        .map(|roles| {
            roles
                .iter()
                .filter_map(|r| r.as_str().or_else(|| r.get("role").and_then(Value::as_str)))
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// Refuse `options.validate: false` unless `identity` may skip validation (access control
/// off: the single local user may).
pub(crate) fn may_skip_validation(identity: Option<&Identity>) -> Result<()> {
    match identity {
        Some(identity) if !identity.may_skip_validation => Err(denied(format!(
            "`{}` may not skip validation (`options.validate: false` is for the superuser and the roles in System Settings `skipValidationRoles`)",
            identity.user
        ))
        .with_details(serde_json::json!({"option": "options.validate"}))),
        _ => Ok(()),
    }
}

/// May `identity` do `access` on `doctype` (whose schema is `schema`)? Returns how far the
/// grant reaches; a doctype without permission rows is the superuser's alone.
pub(crate) fn doctype_access(
    identity: &Identity,
    schema: Option<&Schema>,
    doctype: &str,
    access: Access,
    operation: &str,
) -> Result<Grant> {
    if identity.superuser {
        return Ok(Grant::All);
    }
    let rows = schema
        .and_then(|s| s.doc.get("permissions"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut grant = None;
    for row in &rows {
        let role = row.get("role").and_then(Value::as_str).unwrap_or_default();
        if !identity.roles.iter().any(|r| r == role) || !flag(row.get(access.key())) {
            continue;
        }
        let reach = if flag(row.get("if_owner")) {
            Grant::OwnOnly
        } else {
            Grant::All
        };
        if reach == Grant::All {
            return Ok(Grant::All);
        }
        grant = Some(reach);
    }
    grant.ok_or_else(|| {
        denied(format!(
            "`{}` may not {operation} {doctype} (no {} permission for roles: {})",
            identity.user,
            access.key(),
            if identity.roles.is_empty() {
                "none".to_string()
            } else {
                identity.roles.join(", ")
            }
        ))
        .with_details(
            serde_json::json!({"doctype": doctype, "operation": operation, "access": access.key()}),
        )
    })
}

/// May `identity` run the custom operation `name`, open to holders of `roles` (or, with
/// `superuser_only`, to the superuser alone)? An operation without `roles` is open to
/// every user (its nested runs are checked on their own).
pub(crate) fn operation_access(
    identity: &Identity,
    name: &str,
    roles: &[String],
    superuser_only: bool,
) -> Result<()> {
    if identity.superuser {
        return Ok(());
    }
    if superuser_only {
        return Err(denied(format!("only the superuser may run `{name}`")));
    }
    if roles.is_empty() || roles.iter().any(|r| identity.roles.contains(r)) {
        return Ok(());
    }
    Err(denied(format!(
        "`{}` may not run `{}` (it needs one of the roles: {})",
        identity.user,
        name,
        roles.join(", ")
    ))
    .with_details(serde_json::json!({"operation": name})))
}

/// Token buckets per owner.
#[derive(Default)]
pub(crate) struct RateLimiter {
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
}

impl RateLimiter {
    /// Take one token from `owner`'s bucket (`per_second` refill, `burst` capacity).
    pub(crate) fn admit(&self, owner: &str, per_second: f64, burst: f64) -> Result<()> {
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        let (tokens, last) = buckets.entry(owner.to_string()).or_insert((burst, now));
        *tokens = (*tokens + now.duration_since(*last).as_secs_f64() * per_second).min(burst);
        *last = now;
        if *tokens < 1.0 {
            return Err(Error::new(
                ErrorCode::LimitExceeded,
                format!(
                    "`{owner}` exceeded {per_second} runs per second (burst {burst}) (limit: rateLimit)"
                ),
            ));
        }
        *tokens -= 1.0;
        Ok(())
    }
}
