//! Retention of run records: the `System Settings` document `retention`, checked when it is
//! saved, and the answer it gives for each top-level run the store's pruner reaches.
//!
//! ```json
//! {"name": "retention",
//!  "runs": {"maxAgeMs": 604800000, "maxCount": 1000000,
//!           "byStatus": {"failed": {"maxAgeMs": 2592000000}},
//!           "byOperation": {"select": {"maxAgeMs": 3600000}},
//!           "byFlowType": {"import": {"keep": true}},
//!           "archive": {"dir": "/var/lib/app/archive"}},
//!  "audit": {"archiveAfterMs": 7776000000},
//!  "pruneEveryMs": 60000, "pruneBatch": 200}
//! ```
//!
//! `runs.archive` (`true`, or `{"dir": DIR}`; a relative DIR is taken from the store
//! file's directory) writes every pruned run's full record to an archive first (see
//! `crate::archive`), by default in `<store path>.archive/`; `audit.archiveAfterMs` lets
//! the background pruner archive audit entries older than that (behind a checkpoint).
//!
//! A top-level run's tree is kept for the first rule that names it: its operation, then its
//! status, then its flow type, then `maxAgeMs`; with none, it is kept unless `maxCount`
//! (full records, stubs not counted) is exceeded, in which case the oldest trees go first.
//! An override is `{"maxAgeMs": N}` or `{"keep": true}`; the count never prunes a tree an
//! override keeps for good, nor one a request asked to keep (`options.keepAlive`).

use crate::doc::Doc;
use crate::error::{Error, FieldError, Result};
use crate::run::type_name;
use crate::store::{RunFacts, Verdict};
use serde_json::Value;
use std::collections::BTreeMap;

pub(crate) mod holds;

/// The name of the `System Settings` document holding the retention settings.
pub(crate) const RETENTION_NAME: &str = "retention";

/// How often the background pruner runs a pass unless the settings say (`pruneEveryMs`).
pub(crate) const DEFAULT_PRUNE_EVERY_MS: u64 = 60_000;
/// How many run records one pass examines at most unless the settings say (`pruneBatch`):
/// the writer lock is held for one pass. 200 keeps a durable write waiting on a prune within
/// about 2× of its latency outside one (the soak bench: 1,000 gave 3×), at about twice the
/// cost per record (38 µs against 20), still some 25k records/s.
pub(crate) const DEFAULT_PRUNE_BATCH: usize = 200;

/// How long a rule keeps a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Keep {
    /// For this many milliseconds after it started.
    For(u64),
    /// For good.
    Always,
}

/// The retention settings, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Retention {
    /// Names this policy (a hash of its `runs` settings): the pruner starts its walk over
    /// when it changes.
    pub tag: String,
    max_age_ms: Option<u64>,
    /// At most this many full run records.
    pub max_count: Option<u64>,
    by_operation: BTreeMap<String, Keep>,
    by_status: BTreeMap<String, Keep>,
    by_flow_type: BTreeMap<String, Keep>,
    /// How often the background pruner runs.
    pub every_ms: u64,
    /// How many records one pass examines at most.
    pub batch: usize,
    /// Where pruned runs are archived first (`None`: they are not).
    pub archive: Option<ArchiveTo>,
    /// Audit entries older than this many milliseconds are archived by the background
    /// pruner (`None`: only on demand).
    pub audit_archive_after_ms: Option<u64>,
}

/// Where the pruner archives run records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ArchiveTo {
    /// `<store path>.archive/`.
    Beside,
    /// This directory (relative: to the store file's directory).
    Dir(String),
}

/// The keys of `runs`.
const RUNS_KEYS: [&str; 6] = [
    "maxAgeMs",
    "maxCount",
    "byStatus",
    "byOperation",
    "byFlowType",
    "archive",
];

impl Retention {
    /// The policy of a `retention` settings document; a document that does not hold one
    /// is refused with VALIDATION_FAILED naming every wrong field.
    pub(crate) fn from_doc(doc: &Doc) -> Result<Retention> {
        let mut errors = Vec::new();
        let mut wrong = |path: String, message: String| {
            errors.push(FieldError {
                path,
                rule: "retention".into(),
                message,
            });
        };
        let runs = match doc.get("runs") {
            None | Some(Value::Null) => serde_json::Map::new(),
            Some(Value::Object(runs)) => runs.clone(),
            Some(other) => {
                wrong(
                    "runs".into(),
                    format!(
                        "`runs` must be an object of retention rules, got {}",
                        type_name(other)
                    ),
                );
                serde_json::Map::new()
            }
        };
        for key in runs.keys() {
            if !RUNS_KEYS.contains(&key.as_str()) {
                wrong(
                    format!("runs.{key}"),
                    format!(
                        "`runs.{key}` is not a retention rule (expected one of {})",
                        RUNS_KEYS.join(", ")
                    ),
                );
            }
        }
        let count = |path: &str, value: Option<&Value>, wrong: &mut dyn FnMut(String, String)| {
            match value {
                None | Some(Value::Null) => None,
                Some(value) => match value.as_u64() {
                    Some(n) => Some(n),
                    None => {
                        wrong(
                            path.into(),
                            format!(
                                "`{path}` must be a non-negative integer, got {}",
                                type_name(value)
                            ),
                        );
                        None
                    }
                },
            }
        };
        let max_age_ms = count("runs.maxAgeMs", runs.get("maxAgeMs"), &mut wrong);
        let max_count = count("runs.maxCount", runs.get("maxCount"), &mut wrong);
        let every_ms = count("pruneEveryMs", doc.get("pruneEveryMs"), &mut wrong);
        let batch = count("pruneBatch", doc.get("pruneBatch"), &mut wrong);
        if every_ms.is_some_and(|ms| ms < 100) {
            wrong(
                "pruneEveryMs".into(),
                "`pruneEveryMs` must be at least 100".into(),
            );
        }
        if batch.is_some_and(|n| n == 0 || n > 1_000_000) {
            wrong(
                "pruneBatch".into(),
                "`pruneBatch` must be between 1 and 1,000,000".into(),
            );
        }
        let archive = match runs.get("archive") {
            None | Some(Value::Null) | Some(Value::Bool(false)) => None,
            Some(Value::Bool(true)) => Some(ArchiveTo::Beside),
            Some(Value::Object(map))
                if map.len() == 1
                    && map
                        .get("dir")
                        .and_then(Value::as_str)
                        .is_some_and(|d| !d.is_empty()) =>
            {
                map.get("dir")
                    .and_then(Value::as_str)
                    .map(|dir| ArchiveTo::Dir(dir.to_string()))
            }
            Some(other) => {
                wrong(
                    "runs.archive".into(),
                    format!(
                        "`runs.archive` must be true, false or {{\"dir\": \"DIR\"}}, got {}",
                        type_name(other)
                    ),
                );
                None
            }
        };
        let audit_archive_after_ms = match doc.get("audit") {
            None | Some(Value::Null) => None,
            Some(Value::Object(audit)) => {
                for key in audit.keys().filter(|k| *k != "archiveAfterMs") {
                    wrong(
                        format!("audit.{key}"),
                        format!(
                            "`audit.{key}` is not an audit retention rule (expected archiveAfterMs)"
                        ),
                    );
                }
                count(
                    "audit.archiveAfterMs",
                    audit.get("archiveAfterMs"),
                    &mut wrong,
                )
            }
            Some(other) => {
                wrong(
                    "audit".into(),
                    format!(
                        "`audit` must be {{\"archiveAfterMs\": N}}, got {}",
                        type_name(other)
                    ),
                );
                None
            }
        };
        let mut overrides = |key: &str, allowed: Option<&[&str]>| {
            let mut rules = BTreeMap::new();
            match runs.get(key) {
                None | Some(Value::Null) => {}
                Some(Value::Object(map)) => {
                    for (name, rule) in map {
                        let path = format!("runs.{key}.{name}");
                        if let Some(allowed) = allowed
                            && !allowed.contains(&name.as_str())
                        {
                            wrong(
                                path.clone(),
                                format!(
                                    "`{path}`: runs are kept by status {}",
                                    allowed.join(" or ")
                                ),
                            );
                        }
                        match override_rule(rule) {
                            Ok(keep) => {
                                rules.insert(name.clone(), keep);
                            }
                            Err(message) => wrong(path.clone(), format!("`{path}` {message}")),
                        }
                    }
                }
                Some(other) => wrong(
                    format!("runs.{key}"),
                    format!(
                        "`runs.{key}` must be an object of rules by name, got {}",
                        type_name(other)
                    ),
                ),
            }
            rules
        };
        let by_status = overrides("byStatus", Some(&["completed", "failed"]));
        let by_operation = overrides("byOperation", None);
        let by_flow_type = overrides("byFlowType", None);
        if !errors.is_empty() {
            return Err(Error::Validation {
                message: format!(
                    "the retention settings are not valid: {}",
                    errors
                        .iter()
                        .map(|e| e.message.as_str())
                        .collect::<Vec<_>>()
                        .join("; ")
                ),
                errors,
            });
        }
        let tag = {
            use sha2::Digest;
            let text = serde_json::to_string(&Value::Object(runs)).unwrap_or_default();
            let digest = sha2::Sha256::digest(text.as_bytes());
            digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
        };
        Ok(Retention {
            tag,
            max_age_ms,
            max_count,
            by_operation,
            by_status,
            by_flow_type,
            every_ms: every_ms.unwrap_or(DEFAULT_PRUNE_EVERY_MS),
            batch: batch.map_or(DEFAULT_PRUNE_BATCH, |n| n as usize),
            archive,
            audit_archive_after_ms,
        })
    }

    /// How long the first rule naming this run keeps it (`None`: no rule does).
    fn rule(&self, run: &RunFacts<'_>) -> Option<Keep> {
        let named = |rules: &BTreeMap<String, Keep>, key: Option<&str>| {
            key.and_then(|key| rules.get(key).copied())
        };
        named(&self.by_operation, run.operation)
            .or_else(|| named(&self.by_status, Some(run.status)))
            .or_else(|| named(&self.by_flow_type, run.flow_type))
            .or(self.max_age_ms.map(Keep::For))
    }

    /// What to do with a top-level run's tree at `now_ms`.
    pub(crate) fn decide(&self, run: &RunFacts<'_>, now_ms: u64) -> Verdict {
        match self.rule(run) {
            Some(Keep::For(ms)) => {
                let expiry = run.started_ms.saturating_add(ms);
                if expiry <= now_ms {
                    Verdict::Prune
                } else {
                    Verdict::KeepUntil(expiry)
                }
            }
            Some(Keep::Always) => Verdict::Keep,
            None => Verdict::KeepUntil(u64::MAX),
        }
    }

    /// The shortest time any rule keeps a run (`None`: no rule prunes by age): runs younger
    /// than this need not be looked at.
    pub(crate) fn shortest_ms(&self) -> Option<u64> {
        let overrides = self
            .by_operation
            .values()
            .chain(self.by_status.values())
            .chain(self.by_flow_type.values())
            .filter_map(|keep| match keep {
                Keep::For(ms) => Some(*ms),
                Keep::Always => None,
            });
        overrides.chain(self.max_age_ms).min()
    }
}

/// An override rule: `{"maxAgeMs": N}` or `{"keep": true}`.
fn override_rule(rule: &Value) -> std::result::Result<Keep, String> {
    let Value::Object(map) = rule else {
        return Err(format!(
            "must be {{\"maxAgeMs\": N}} or {{\"keep\": true}}, got {}",
            type_name(rule)
        ));
    };
    match (map.get("maxAgeMs"), map.get("keep"), map.len()) {
        (Some(age), None, 1) => age.as_u64().map(Keep::For).ok_or_else(|| {
            format!(
                "`maxAgeMs` must be a non-negative integer, got {}",
                type_name(age)
            )
        }),
        (None, Some(Value::Bool(true)), 1) => Ok(Keep::Always),
        _ => Err("must be {\"maxAgeMs\": N} or {\"keep\": true}".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn policy(runs: Value) -> Result<Retention> {
        let doc: Doc = serde_json::from_value(json!({"name": "retention", "runs": runs})).unwrap();
        Retention::from_doc(&doc)
    }

    fn facts<'a>(
        status: &'a str,
        operation: Option<&'a str>,
        flow: Option<&'a str>,
    ) -> RunFacts<'a> {
        RunFacts {
            started_ms: 1_000,
            status,
            operation,
            flow_type: flow,
        }
    }

    #[test]
    fn the_first_rule_naming_a_run_decides() {
        let p = policy(
            json!({"maxAgeMs": 10, "byStatus": {"failed": {"maxAgeMs": 100}},
                              "byOperation": {"select": {"maxAgeMs": 1}},
                              "byFlowType": {"import": {"keep": true}}}),
        )
        .unwrap();
        assert_eq!(
            p.decide(&facts("completed", Some("create"), None), 1_011),
            Verdict::Prune
        );
        assert_eq!(
            p.decide(&facts("completed", Some("create"), None), 1_005),
            Verdict::KeepUntil(1_010)
        );
        assert_eq!(
            p.decide(&facts("failed", Some("create"), None), 1_011),
            Verdict::KeepUntil(1_100)
        );
        assert_eq!(
            p.decide(&facts("failed", Some("select"), None), 1_002),
            Verdict::Prune
        );
        assert_eq!(
            p.decide(&facts("completed", None, Some("import")), 9_999),
            Verdict::Keep
        );
        assert_eq!(p.shortest_ms(), Some(1));
    }

    #[test]
    fn wrong_settings_are_refused_naming_each_field() {
        let error = policy(json!({"maxAge": 1, "maxCount": -1,
                                  "byStatus": {"done": {"maxAgeMs": 1}},
                                  "byOperation": {"select": {"maxAgeMs": "1h"}}}))
        .unwrap_err();
        let Error::Validation { errors, .. } = error else {
            panic!("a validation error");
        };
        let paths: Vec<&str> = errors.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "runs.maxAge",
                "runs.maxCount",
                "runs.byStatus.done",
                "runs.byOperation.select"
            ]
        );
    }
}
