//! Recording: what a run tree leaves to store ([`RunLog`]). Every run's record, cut to
//! what is worth keeping (a select keeps its names, a workflow its steps without their
//! outputs), and an audit entry for each denial and validation failure. The log is written
//! by the engine when the tree ends; handlers only mark records rolled back (savepoints).

use super::budget::Spent;
use crate::audit::{self, Action};
use crate::error::{ErrorCode, Result};
use crate::run::Run;
use crate::store::{Record, WriteTx};
use serde_json::{Map, Value};

/// What a run tree leaves to store: every run's record, and an audit entry for each denial
/// and validation failure among them.
#[derive(Default)]
pub(crate) struct RunLog {
    records: Vec<Record>,
    failures: Vec<Map<String, Value>>,
    /// The tree is a dry run's: it writes nothing but its run records (no audit entry for
    /// its denials and validation failures either).
    dry_run: bool,
    /// What the tree has written and waited so far (its budget's counters).
    pub(crate) spent: Spent,
    /// Records (by position) holding an output of their own larger than
    /// [`READ_ONLY_RECORD_BYTES`]: trimmed if the tree turns out to write nothing.
    large: Vec<usize>,
}

impl RunLog {
    /// An empty log for a run tree (`dry_run`: the tree's root is a dry run).
    pub(crate) fn new(dry_run: bool) -> RunLog {
        RunLog {
            dry_run,
            ..RunLog::default()
        }
    }

    /// Whether the tree holds denials or validation failures to audit.
    pub(crate) fn has_failures(&self) -> bool {
        !self.failures.is_empty()
    }

    /// Keep the record of the finished `run` (and its audit entry, if it must be audited).
    pub(crate) fn keep(&mut self, run: &Run) {
        let output = match (run.operation.as_deref(), run.success, &run.output) {
            (_, _, Value::Null) => None,
            (Some("select"), true, output) => Some(StoredOutput::Select(output)),
            (Some("workflow"), true, output) => Some(StoredOutput::Workflow(output)),
            (_, _, output) => Some(StoredOutput::Own(output)),
        };
        let mut record = Record::new(run, output.as_ref());
        // Charged whole, trimmed or not: the write budget counts what a run produced.
        self.spent.bytes = self.spent.bytes.saturating_add(record.size() as u64);
        let large =
            matches!(output, Some(StoredOutput::Own(_))) && record.size() > READ_ONLY_RECORD_BYTES;
        if large && writes_its_output(run) {
            // The documents are in the store (and their changes in the audit trail): the
            // record keeps the request whole and the names, not a second copy of them.
            let trimmed = trimmed_output(&run.output, record.size());
            record = Record::new(run, Some(&trimmed));
        } else if large {
            self.large.push(self.records.len());
        }
        self.records.push(record);
        let dry_run = self.dry_run || run.options.dry_run.unwrap_or(false);
        if let Some(action) = failure_action(run).filter(|_| !dry_run) {
            self.failures.push(audit::failure(action, run));
        }
    }

    /// How many records the log holds (a point to mark rolled back from).
    pub(crate) fn len(&self) -> usize {
        self.records.len()
    }

    /// Mark the records kept since `from` as those of runs whose writes were taken back.
    pub(crate) fn rolled_back_from(&mut self, from: usize) -> Result<()> {
        for record in self.records.iter_mut().skip(from) {
            *record = record.rolled_back()?;
        }
        Ok(())
    }

    /// The records, oldest run first. A run finishes after the runs it started, so its
    /// record comes after theirs; stored in id order, they are appended to the runs
    /// table's last pages instead of splitting pages in the middle (half-empty pages
    /// doubled the store's growth under workflows).
    ///
    /// The records of a failed tree are no more than a stub each (id, operation, status,
    /// error, tree links) for its nested runs once they pass [`FAILED_TREE_RECORD_BYTES`]
    /// together: a short request whose script loops over large nested runs and then fails
    /// must not leave the write budget's worth of records behind (issue 11: no
    /// amplification). The root's record, which holds the request, stays whole.
    pub(crate) fn into_records(mut self, root: &Run) -> Vec<Record> {
        let total: usize = self.records.iter().map(Record::size).sum();
        if !root.success && total > FAILED_TREE_RECORD_BYTES {
            for record in self.records.iter_mut().filter(|r| r.id() != root.id) {
                match record.trimmed() {
                    Ok(trimmed) => *record = trimmed,
                    // A record that cannot be read back is kept as it is (it was encoded
                    // here, so this does not happen).
                    Err(e) => tracing::error!("a run record could not be trimmed: {e}"),
                }
            }
        }
        self.records.sort_unstable_by(|a, b| a.id().cmp(b.id()));
        self.records
    }

    /// The records of a tree that wrote nothing: [`RunLog::into_records`], where a record
    /// larger than [`READ_ONLY_RECORD_BYTES`] because of its own output (a script returning
    /// thousands of documents; a select keeps only names already) keeps, instead of that
    /// output, what lineage needs: `{"trimmed": true, "recordBytes": N, "names": [...],
    /// "meta": ...}`, the names being those of the documents it returned (`output.data`, or
    /// the output itself when it is a list of documents). Its input stays whole. What the run
    /// returned to its caller is not changed: only what is stored of it.
    pub(crate) fn into_read_only_records(mut self, root: &Run) -> Vec<Record> {
        for at in std::mem::take(&mut self.large) {
            let Some(record) = self.records.get_mut(at) else {
                continue;
            };
            // A failed tree's stub is small already.
            if record.size() <= READ_ONLY_RECORD_BYTES {
                continue;
            }
            match record.run() {
                Ok(run) => {
                    let output = trimmed_output(&run.output, record.size());
                    *record = Record::new(&run, Some(&output));
                }
                // Encoded here, so it reads back; kept whole should it not.
                Err(e) => tracing::error!("a run record could not be trimmed: {e}"),
            }
        }
        self.into_records(root)
    }

    /// Append the audit entries of the tree's denials and validation failures.
    pub(crate) fn audit_failures(&self, tables: &mut impl WriteTx) -> Result<()> {
        for entry in &self.failures {
            audit::append(tables, entry, &crate::clock::now_rfc3339())?;
        }
        Ok(())
    }
}

pub(crate) use crate::limits::{FAILED_TREE_RECORD_BYTES, READ_ONLY_RECORD_BYTES};

/// What a read-only run's record keeps of an `output` too large to keep whole
/// ([`RunLog::into_read_only_records`]); `record_bytes` is the size of the whole record.
fn trimmed_output(output: &Value, record_bytes: usize) -> Value {
    let docs = match output {
        Value::Array(docs) => Some(docs),
        other => other.get("data").and_then(Value::as_array),
    };
    let mut kept = Map::new();
    kept.insert("trimmed".into(), Value::Bool(true));
    kept.insert("recordBytes".into(), Value::from(record_bytes));
    if let Some(docs) = docs {
        let names = docs.iter().filter_map(|doc| doc.get("name")).cloned();
        kept.insert("names".into(), Value::Array(names.collect()));
    }
    if let Some(meta) = output.get("meta") {
        kept.insert("meta".into(), meta.clone());
    }
    Value::Object(kept)
}

/// Whether `run`'s output is the documents it wrote: a successful `create` or `update`
/// that is no dry run. Its record, when larger than [`READ_ONLY_RECORD_BYTES`], is stored
/// trimmed like a large read's (a bulk create's record held every document a second time:
/// serialized, put into the runs table and copied into the redo log).
fn writes_its_output(run: &Run) -> bool {
    matches!(run.operation.as_deref(), Some("create" | "update"))
        && run.success
        && !run.options.dry_run.unwrap_or(false)
}

/// The audit action for a failed run that must be audited (denials, validation failures).
fn failure_action(run: &Run) -> Option<Action> {
    let error = run.error.as_ref()?;
    // A failure passed up from a nested run (a workflow's failed step, named by its
    // `runId`) has that run's entry already, or none when it was a dry run: it is
    // recorded once.
    let passed_up = error.details["runId"]
        .as_str()
        .is_some_and(|child| run.child_run_ids.iter().any(|id| id == child));
    if passed_up {
        return None;
    }
    match error.code {
        ErrorCode::PermissionDenied => Some(Action::Denied),
        ErrorCode::ValidationFailed => Some(Action::Invalid),
        _ => None,
    }
}

/// The output a run is stored with: a select keeps its count and names, not its documents;
/// a workflow keeps its steps' ids, runs and statuses (their outputs are in the step runs).
/// Written straight from the run's output, without copying it.
enum StoredOutput<'a> {
    Own(&'a Value),
    Select(&'a Value),
    Workflow(&'a Value),
}

impl serde::Serialize for StoredOutput<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        match self {
            StoredOutput::Own(output) => output.serialize(serializer),
            StoredOutput::Select(output) => {
                let docs = output
                    .get("data")
                    .and_then(Value::as_array)
                    .map(Vec::as_slice)
                    .unwrap_or_default();
                let mut map = serializer.serialize_map(Some(2))?;
                map.serialize_entry("names", &Names(docs))?;
                map.serialize_entry("meta", output.get("meta").unwrap_or(&Value::Null))?;
                map.end()
            }
            StoredOutput::Workflow(output) => {
                let steps = output
                    .get("steps")
                    .and_then(Value::as_array)
                    .map(Vec::as_slice)
                    .unwrap_or_default();
                let mut map = serializer.serialize_map(Some(3))?;
                map.serialize_entry("template", &output["template"])?;
                map.serialize_entry("version", &output["version"])?;
                map.serialize_entry("steps", &StepsWithoutOutput(steps))?;
                map.end()
            }
        }
    }
}

/// The names of a select's documents.
struct Names<'a>(&'a [Value]);

impl serde::Serialize for Names<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(
            self.0
                .iter()
                .map(|doc| doc.get("name").unwrap_or(&Value::Null)),
        )
    }
}

/// A workflow's step entries without their outputs.
struct StepsWithoutOutput<'a>(&'a [Value]);

impl serde::Serialize for StepsWithoutOutput<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter().map(|step| match step {
            Value::Object(fields) => Entries::Without(fields, "output"),
            other => Entries::Value(other),
        }))
    }
}

/// An object without one key, or any value.
enum Entries<'a> {
    Without(&'a Map<String, Value>, &'static str),
    Value(&'a Value),
}

impl serde::Serialize for Entries<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Entries::Without(fields, left_out) => {
                serializer.collect_map(fields.iter().filter(|(k, _)| k != left_out))
            }
            Entries::Value(value) => value.serialize(serializer),
        }
    }
}
