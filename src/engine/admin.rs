//! Administration from the host: access control on and off, the audit chain's check, and
//! running many requests at once.

use super::Engine;
use crate::acl::{self, DEFAULT_SUPERUSER_ROLE};
use crate::audit::{self, AuditReport, DocumentReport};
use crate::error::{Error, Result};
use crate::run::{Run, RunRequest};
use crate::store::Backend;
use serde_json::json;

impl Engine {
    /// Turn access control on: from now on every run must name an existing owner, whose
    /// roles decide what it may do. Makes sure the superuser `admin` exists (with
    /// `superuser_role`, default `Administrator`); the settings change is itself a run of
    /// that superuser, audited like any change.
    ///
    /// ```
    /// use coworker::{Engine, RunRequest};
    /// let engine = Engine::in_memory().unwrap();
    /// engine.enable_acl("Administrator", None).unwrap();
    /// let anonymous = engine.run(RunRequest::new("select").from("ToDo"));
    /// assert_eq!(anonymous.error.unwrap().code, coworker::ErrorCode::PermissionDenied);
    /// assert!(engine.run(RunRequest::new("select").from("ToDo").owner("Administrator")).success);
    /// ```
    pub fn enable_acl(&self, admin: &str, superuser_role: Option<&str>) -> Result<()> {
        let role = superuser_role.unwrap_or(DEFAULT_SUPERUSER_ROLE);
        let user = succeeded(
            self.run(
                RunRequest::new("select")
                    .from(acl::USER)
                    .input(json!({"where": {"name": admin}}))
                    .owner(admin),
            ),
        )?;
        // The admin holds the superuser role before the settings name it: enabling access
        // control (or renaming the role) never locks everyone out.
        let saved = match user.data().first() {
            None => Some(
                self.run(
                    RunRequest::new("create")
                        .into_doctype(acl::USER)
                        .input(
                            json!({"data": {"name": admin, "full_name": admin, "roles": [role]}}),
                        )
                        .owner(admin),
                ),
            ),
            Some(existing) => {
                let mut roles: Vec<serde_json::Value> =
                    existing["roles"].as_array().cloned().unwrap_or_default();
                let holds_role = roles.iter().any(|r| r.as_str() == Some(role));
                (!holds_role).then(|| {
                    roles.push(json!(role));
                    self.run(
                        RunRequest::new("update")
                            .in_doctype(acl::USER)
                            .input(json!({"name": admin, "data": {"roles": roles, "enabled": 1}}))
                            .owner(admin),
                    )
                })
            }
        };
        if let Some(saved) = saved {
            succeeded(saved)?;
        }
        self.save_settings(admin, json!({"enabled": 1, "superuserRole": role}))
    }

    /// Turn access control off (run by the superuser `admin`).
    pub fn disable_acl(&self, admin: &str) -> Result<()> {
        self.save_settings(admin, json!({"enabled": 0}))
    }

    /// Limit every owner to `per_second` top-level runs per second with bursts of `burst`
    /// (access control on); `None` lifts the limit.
    pub fn set_rate_limit(&self, admin: &str, limit: Option<(f64, f64)>) -> Result<()> {
        let rate =
            limit.map(|(per_second, burst)| json!({"perSecond": per_second, "burst": burst}));
        self.save_settings(admin, json!({ "rateLimit": rate }))
    }

    fn save_settings(&self, admin: &str, data: serde_json::Value) -> Result<()> {
        let exists = self
            .run(
                RunRequest::new("select")
                    .from(acl::SETTINGS)
                    .input(json!({"where": {"name": acl::SETTINGS_NAME}}))
                    .owner(admin),
            )
            .data()
            .len()
            == 1;
        let run = if exists {
            self.run(
                RunRequest::new("update")
                    .in_doctype(acl::SETTINGS)
                    .input(json!({"name": acl::SETTINGS_NAME, "data": data}))
                    .owner(admin),
            )
        } else {
            let mut data = data;
            data["name"] = json!(acl::SETTINGS_NAME);
            self.run(
                RunRequest::new("create")
                    .into_doctype(acl::SETTINGS)
                    .input(json!({ "data": data }))
                    .owner(admin),
            )
        };
        succeeded(run).map(|_| ())
    }

    /// Whether access control is on.
    pub fn acl_enabled(&self) -> Result<bool> {
        let tx = self.core.snapshot()?;
        Ok(self.core.catalog.acl_settings(&tx)?.is_some())
    }

    /// Walk the audit trail's hash chain and report the first broken link, if any.
    pub fn verify_audit(&self) -> Result<AuditReport> {
        audit::verify(&*self.core.store.read()?)
    }

    /// [`verify_audit`](Self::verify_audit), then every current document against the
    /// digest its last audit entry records (streamed: see `coworker audit verify
    /// --documents` in the README).
    pub fn verify_documents(&self) -> Result<DocumentReport> {
        let seeds = [
            (crate::schema::SCHEMA, crate::schema::seeds()),
            (crate::ops::OPERATION, crate::ops::seeds()),
        ];
        let seed_of = |doctype: &str, name: &str| {
            let (_, docs) = seeds.iter().find(|(of, _)| *of == doctype)?;
            docs.iter()
                .find(|doc| doc.get("name").and_then(serde_json::Value::as_str) == Some(name))
                .cloned()
        };
        audit::verify_documents(&*self.core.store.read()?, &seed_of)
    }

    /// Run `requests` one after another; with `stop_on_error`, stop after the first failed
    /// run (the runs after it are not executed). Each is its own top-level run.
    pub fn run_batch(&self, requests: Vec<RunRequest>, stop_on_error: bool) -> Vec<Run> {
        let mut runs = Vec::with_capacity(requests.len());
        for request in requests {
            let run = self.run(request);
            let failed = !run.success;
            runs.push(run);
            if failed && stop_on_error {
                break;
            }
        }
        runs
    }

    /// Run `requests` concurrently (their commits are grouped); the runs come back in the
    /// order of the requests.
    pub fn run_parallel(&self, requests: Vec<RunRequest>) -> Vec<Run> {
        std::thread::scope(|threads| {
            let handles: Vec<_> = requests
                .into_iter()
                .map(|request| threads.spawn(move || self.run(request)))
                .collect();
            handles
                .into_iter()
                .map(|handle| {
                    handle
                        .join()
                        .unwrap_or_else(|_| self.run_failed("a parallel run's thread panicked"))
                })
                .collect()
        })
    }

    fn run_failed(&self, message: &str) -> Run {
        self.reject_request(Error::internal(message), json!({}))
    }
}

fn succeeded(run: Run) -> Result<Run> {
    match run.error {
        None => Ok(run),
        Some(error) => Err(Error::new(error.code, error.message).with_details(error.details)),
    }
}
