//! The redb store: documents, run records and their indexes, and the group commit.
//!
//! Every table is declared once, below. Writes go through [`Shared::write`]: all concurrent
//! writers share one redb write transaction and one fsync (group commit); each writer's
//! changes are recorded in an undo log so a failed run can be rolled back inside the shared
//! transaction (redb refuses savepoints in a transaction that already wrote, so an undo log
//! is how one run's writes are taken back without touching its neighbours').
//!
//! Runs that write nothing hand their records to [`Shared::record_later`]: they are written by
//! the next write transaction, [`Shared::flush`], a background writer once 1,024 wait, or
//! when the store is dropped. A crash can lose those records, never a document. They have a
//! lock of their own, so a read-only run never waits for a writer or a commit.
//!
//! This module must never interpret documents beyond their key: validation, queries and
//! permissions live elsewhere.
//!
//! Over ~600 lines: six concepts (layout, records, reads, writes, group commit, waiting records)
//! that issue 13 splits into `store/`; `store/backend.rs` and `store/open.rs` already are.

use crate::error::{Error, Result};
use crate::query::Doc;
use crate::run::Run;
use redb::{
    Database, Durability, ReadOnlyDatabase, ReadOnlyTable, ReadTransaction, ReadableDatabase,
    ReadableTable, Table, TableDefinition, WriteTransaction,
};
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

mod backend;
mod open;

pub use backend::fail_writes;
pub(crate) use open::{DEFAULT_LOCK_TIMEOUT, OpenOptions};

type Bytes = &'static [u8];

/// Documents: key `doctype \0 name`, value the document's JSON.
const DOCS: TableDefinition<Bytes, Bytes> = TableDefinition::new("docs");
/// Run records: key the run id (a ULID, so keys sort by time), value the run's JSON.
const RUNS: TableDefinition<Bytes, Bytes> = TableDefinition::new("runs");
/// Run indexes: key `field \0 value \0 run id`, empty value. Fields: `flow`, `chain`,
/// `parent`, `owner`, `status`.
const RUN_INDEX: TableDefinition<Bytes, Bytes> = TableDefinition::new("run_index");
/// Secondary indexes of documents: key `doctype \0 field \0 encoded value \0 name`, empty
/// value (see [`index_value`]).
const DOC_INDEX: TableDefinition<Bytes, Bytes> = TableDefinition::new("doc_index");
/// Counters (naming series, autoincrement): key the counter's name, value a u64 (big endian).
const COUNTERS: TableDefinition<Bytes, Bytes> = TableDefinition::new("counters");
/// The audit trail: key the entry's sequence number (u64, big endian), value its JSON.
/// Append-only: the store offers no way to replace or remove an entry.
const AUDIT: TableDefinition<u64, Bytes> = TableDefinition::new("audit");

/// Small facts about the store, by name (e.g. `audit_head`: the last audit entry's seq and
/// hash, so a trail cut short is noticed).
const META: TableDefinition<Bytes, Bytes> = TableDefinition::new("meta");

/// The doctype whose documents are the audit trail's entries (kept in [`AUDIT`], never in
/// the documents table).
pub(crate) const AUDIT_TRAIL: &str = "Audit Trail";

/// Doctypes whose documents describe how others are handled (schemas, operations):
/// writing one changes the meta generation (see [`Shared::schema_generation`]).
const META_DOCTYPES: [&str; 6] = [
    "Schema",
    "Operation",
    "Workflow Template",
    "User",
    "Role",
    "System Settings",
];

/// How long a committer waits for writers already on their way to join its batch.
const GROUP_COMMIT_WAIT: Duration = Duration::from_micros(200);

/// The largest record-encoding buffer a thread keeps for the next record.
const MAX_KEPT_SCRATCH: usize = 64 * 1024;

/// How many records of read-only runs may wait in memory before they are written.
const MAX_PENDING_RECORDS: usize = 1024;

/// Reads one indexed value off a run's record.
type RunField = fn(&Record) -> Option<&str>;

/// The run-index fields, with how each reads its value off a record when the run needs an
/// entry for it. Only what the run tree cannot answer is indexed: a chain's runs are its
/// root's tree and a run's children are listed in its record (`childRunIds`), and most runs
/// of a flow are its root's chain. So a typical run has one entry, its status;
/// `runs_where` walks the tree for the rest.
const RUN_INDEX_FIELDS: [(&str, RunField); 3] = [
    ("flow", |r| {
        r.flow_id
            .as_deref()
            .filter(|flow| *flow != r.chain_id.as_str())
    }),
    ("owner", |r| r.owner.as_deref()),
    ("status", |r| Some(r.status.as_str())),
];

fn doc_key(doctype: &str, name: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(doctype.len() + name.len() + 1);
    key.extend_from_slice(doctype.as_bytes());
    key.push(0);
    key.extend_from_slice(name.as_bytes());
    key
}

/// The key range holding every document of `doctype`.
fn doctype_range(doctype: &str) -> (Vec<u8>, Vec<u8>) {
    let mut start = doctype.as_bytes().to_vec();
    start.push(0);
    let mut end = doctype.as_bytes().to_vec();
    end.push(1);
    (start, end)
}

fn run_index_key(field: &str, value: &str, run_id: &str) -> Vec<u8> {
    [
        field.as_bytes(),
        &[0],
        value.as_bytes(),
        &[0],
        run_id.as_bytes(),
    ]
    .concat()
}

/// The index form of a value: type-tagged, so `"1"` and `1` differ while `1` and `1.0`
/// agree (as in queries). Values that are not scalars are not indexed.
pub(crate) fn index_value(value: &Value) -> Option<Vec<u8>> {
    let text = match value {
        Value::String(s) => format!("s{s}"),
        Value::Bool(b) => format!("b{}", u8::from(*b)),
        Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => format!("n{i}"),
            (_, Some(u), _) => format!("n{u}"),
            // Integral floats read as the integers they equal (1e16 == 10000000000000000).
            (_, _, Some(f)) if f.fract() == 0.0 && f.abs() < 1.0e38 => format!("n{}", f as i128),
            (_, _, Some(f)) => format!("n{f:?}"),
            _ => return None,
        },
        _ => return None,
    };
    // NUL separates key parts: escape it (and the escape byte) inside values.
    let mut out = Vec::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            0 => out.extend_from_slice(&[1, 2]),
            1 => out.extend_from_slice(&[1, 1]),
            b => out.push(b),
        }
    }
    Some(out)
}

fn index_prefix(doctype: &str, field: &str, value: Option<&[u8]>) -> Vec<u8> {
    let mut key = [doctype.as_bytes(), &[0], field.as_bytes(), &[0]].concat();
    if let Some(value) = value {
        key.extend_from_slice(value);
        key.push(0);
    }
    key
}

/// The end of the key range that starts with `prefix` (which ends with a NUL).
fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    *end.last_mut().expect("prefixes end with a separator") = 1;
    end
}

/// Read back the stored document `doctype`/`name` (an unreadable one is named, see
/// [`unreadable_doc`]).
fn parse_doc(doctype: &str, name: &str, bytes: &[u8]) -> Result<Doc> {
    serde_json::from_slice(bytes).map_err(|e| {
        Error::new(
            crate::ErrorCode::StorageError,
            format!(
                "stored document {doctype} `{name}` cannot be read ({e}); delete it by name, \
                 or select with `input.skipCorrupt: true` to skip it"
            ),
        )
        .with_details(json!({"doctype": doctype, "name": name, "unreadable": true}))
    })
}

/// The doctype and name of the document an error says cannot be read back (its stored
/// bytes are not JSON, or nest deeper than JSON is read).
pub(crate) fn unreadable_doc(error: &Error) -> Option<(&str, &str)> {
    let Error::Run { code, details, .. } = error else {
        return None;
    };
    if *code != crate::ErrorCode::StorageError || details["unreadable"] != true {
        return None;
    }
    Some((details["doctype"].as_str()?, details["name"].as_str()?))
}

/// The name part of a document key.
fn key_name(key: &[u8]) -> String {
    let name = key
        .iter()
        .position(|b| *b == 0)
        .map_or(key, |at| &key[at + 1..]);
    String::from_utf8_lossy(name).into_owned()
}

fn parse_run(bytes: &[u8]) -> Result<Run> {
    serde_json::from_slice(bytes)
        .map_err(|e| Error::Storage(format!("a stored run is not valid JSON: {e}")))
}

/// Read back run `id`; an unreadable record is an error naming it.
fn parse_run_named(id: &str, bytes: &[u8]) -> Result<Run> {
    serde_json::from_slice(bytes).map_err(|e| {
        Error::new(
            crate::ErrorCode::StorageError,
            format!("the stored record of run {id} cannot be read: {e}"),
        )
        .with_details(json!({"runId": id, "unreadable": true}))
    })
}

/// Run `id` for a listing: an unreadable record is listed as a failed run whose error says
/// so, rather than failing the whole listing.
fn parse_run_or_stub(id: &str, bytes: &[u8]) -> Run {
    parse_run_named(id, bytes).unwrap_or_else(|error| {
        tracing::error!("{error}");
        let timestamp = ulid::Ulid::from_string(id).map_or_else(
            |_| String::new(),
            |ulid| {
                format!(
                    "{:.6}",
                    jiff::Timestamp::from_millisecond(ulid.timestamp_ms() as i64)
                        .unwrap_or_default()
                )
            },
        );
        Run {
            error: Some(error.to_run_error()),
            ..Run::bare(id.to_string(), timestamp, crate::RunStatus::Failed)
        }
    })
}

fn encode<T: serde::Serialize>(value: &T) -> Result<Vec<u8>> {
    serde_json::to_vec(value).map_err(|e| Error::internal(format!("cannot encode: {e}")))
}

/// A run as stored: the keys that are unset (null, empty, default) are left out, about a
/// third of a typical record. [`parse_run`] reads them back as unset, so a stored run reads
/// back equal to the run; the API's JSON still carries every key.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct StoredRun<'a, O: serde::Serialize> {
    id: &'a str,
    timestamp: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    operation: Option<&'a str>,
    status: crate::RunStatus,
    duration: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    doctype: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    from: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    into: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    template: Option<&'a str>,
    #[serde(skip_serializing_if = "Value::is_null")]
    input: &'a Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    output: Option<&'a O>,
    success: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    rolled_back: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a crate::RunError>,
    #[serde(skip_serializing_if = "Option::is_none")]
    parent_run_id: Option<&'a str>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    child_run_ids: &'a [String],
    chain_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    owner: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    agent: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    flow_type: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    flow_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    step_id: Option<&'a str>,
    #[serde(skip_serializing_if = "is_default")]
    options: &'a crate::RunOptions,
}

fn is_default(options: &&crate::RunOptions) -> bool {
    **options == crate::RunOptions::default()
}

/// Append the stored form of `run`, with `output` as its output (`None`: no output), to
/// `bytes`.
fn encode_run(
    run: &Run,
    output: Option<&impl serde::Serialize>,
    bytes: &mut Vec<u8>,
) -> Result<()> {
    // Destructured whole, so a field added to `Run` cannot be forgotten here.
    let Run {
        id,
        timestamp,
        operation,
        status,
        duration,
        doctype,
        from,
        into,
        template,
        input,
        output: _,
        success,
        rolled_back,
        error,
        parent_run_id,
        child_run_ids,
        chain_id,
        owner,
        agent,
        flow_type,
        flow_id,
        step_id,
        options,
    } = run;
    let stored = StoredRun {
        id,
        timestamp,
        operation: operation.as_deref(),
        status: *status,
        duration: *duration,
        doctype: doctype.as_deref(),
        from: from.as_deref(),
        into: into.as_deref(),
        template: template.as_deref(),
        input,
        output,
        success: *success,
        rolled_back: *rolled_back,
        error: error.as_ref(),
        parent_run_id: parent_run_id.as_deref(),
        child_run_ids,
        chain_id,
        owner: owner.as_deref(),
        agent: agent.as_deref(),
        flow_type: flow_type.as_deref(),
        flow_id: flow_id.as_deref(),
        step_id: step_id.as_deref(),
        options,
    };
    serde_json::to_writer(bytes, &stored)
        .map_err(|e| Error::internal(format!("cannot encode a run: {e}")))
}

/// The fields runs are listed by, in this order: flow, chain, parent, owner, status.
pub(crate) type RunKeys<'a> = [Option<&'a str>; 5];

/// The [`RunKeys`] of a run.
pub(crate) fn run_keys(run: &Run) -> RunKeys<'_> {
    [
        run.flow_id.as_deref(),
        Some(run.chain_id.as_str()),
        run.parent_run_id.as_deref(),
        run.owner.as_deref(),
        Some(run.status.as_str()),
    ]
}

/// A finished run as the store keeps it: the record, encoded once on the run's own thread,
/// and the fields runs are found by. Records of read-only runs wait in memory in this form,
/// so a waiting record costs one buffer, and the writer only copies bytes into the table.
#[derive(Debug, Clone)]
pub(crate) struct Record {
    id: String,
    chain_id: String,
    parent_run_id: Option<String>,
    flow_id: Option<String>,
    owner: Option<String>,
    status: crate::RunStatus,
    bytes: Box<[u8]>,
}

impl Record {
    /// This record, marked as the record of a completed run whose writes were taken back
    /// (`rolledBack`); a failed run's record is left as it is.
    pub(crate) fn rolled_back(&self) -> Result<Record> {
        if self.status != crate::RunStatus::Completed {
            return Ok(self.clone());
        }
        let mut run = parse_run(&self.bytes)?;
        run.rolled_back = true;
        let output = (!run.output.is_null()).then_some(&run.output);
        Ok(Record::new(&run, output))
    }

    /// This record without the run's input and output: what is kept of a nested run of a
    /// failed tree whose records grew large (see the pipeline's `Trail`). The output says
    /// so: `{"trimmed": true, "recordBytes": N}`, N being the full record's size.
    pub(crate) fn trimmed(&self) -> Result<Record> {
        let mut run = parse_run(&self.bytes)?;
        run.input = Value::Null;
        run.output = json!({"trimmed": true, "recordBytes": self.size()});
        Ok(Record::new(&run, Some(&run.output)))
    }

    /// The record of the finished `run`, storing `output` as its output: a compact form of
    /// the run's output, or the output itself (`None`: no output).
    pub(crate) fn new(run: &Run, output: Option<&impl serde::Serialize>) -> Record {
        assert!(run.status.is_final(), "only finished runs are stored");
        thread_local! {
            /// Where this thread encodes records, reused: the record is then copied out at
            /// its exact size (growing a fresh buffer cost several reallocations a record).
            static SCRATCH: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
        }
        let bytes = SCRATCH.with_borrow_mut(|scratch| {
            scratch.clear();
            // Writing JSON text of strings, numbers and JSON values into memory cannot fail.
            encode_run(run, output, scratch).expect("a run encodes as JSON");
            let bytes: Box<[u8]> = scratch.as_slice().into();
            // A run with a huge output does not leave a huge buffer behind on its thread.
            if scratch.capacity() > MAX_KEPT_SCRATCH {
                *scratch = Vec::new();
            }
            bytes
        });
        Record {
            id: run.id.clone(),
            chain_id: run.chain_id.clone(),
            parent_run_id: run.parent_run_id.clone(),
            flow_id: run.flow_id.clone(),
            owner: run.owner.clone(),
            status: run.status,
            bytes,
        }
    }

    /// Bytes the record takes when stored (what a run tree's write budget counts).
    pub(crate) fn size(&self) -> usize {
        self.bytes.len()
    }

    /// The run's id.
    pub(crate) fn id(&self) -> &str {
        &self.id
    }

    /// The run's [`RunKeys`].
    pub(crate) fn keys(&self) -> RunKeys<'_> {
        [
            self.flow_id.as_deref(),
            Some(self.chain_id.as_str()),
            self.parent_run_id.as_deref(),
            self.owner.as_deref(),
            Some(self.status.as_str()),
        ]
    }

    /// The run, read back.
    pub(crate) fn run(&self) -> Result<Run> {
        parse_run(&self.bytes)
    }
}

/// A failure of redb while a write transaction changes a table: one that grows the file
/// can fail with the file's I/O error (a full disk), given here with its kind.
fn grown(e: redb::StorageError) -> Error {
    match &e {
        redb::StorageError::Io(io) => {
            Error::Storage(backend::describe("growing the store file", io))
        }
        _ => e.into(),
    }
}

/// Audit entries are never written as documents: no path may replace or remove one.
fn refuse_audit_trail(doctype: &str) -> Result<()> {
    if doctype == AUDIT_TRAIL {
        return Err(Error::new(
            crate::ErrorCode::Immutable,
            "the Audit Trail is append-only: entries cannot be changed or deleted",
        ));
    }
    Ok(())
}

/// Reads shared by read-only snapshots and the write transaction.
pub(crate) trait View {
    /// One document by doctype and name.
    fn get_doc(&self, doctype: &str, name: &str) -> Result<Option<Doc>>;
    /// Every document of a doctype, in name order; `visit` returns `false` to stop.
    fn scan_docs(&self, doctype: &str, visit: &mut dyn FnMut(Doc) -> bool) -> Result<()>;
    /// [`View::scan_docs`], handing the names of documents that cannot be read back to
    /// `unreadable` instead of failing.
    fn scan_readable_docs(
        &self,
        doctype: &str,
        visit: &mut dyn FnMut(Doc) -> bool,
        unreadable: &mut dyn FnMut(String),
    ) -> Result<()>;
    /// One run record.
    fn get_run(&self, id: &str) -> Result<Option<Run>>;
    /// Names of the documents whose indexed `field` equals `value`, in name order.
    fn index_lookup(&self, doctype: &str, field: &str, value: &Value) -> Result<Vec<String>>;
}

fn index_lookup_in(
    table: &impl ReadableTable<Bytes, Bytes>,
    doctype: &str,
    field: &str,
    value: &Value,
) -> Result<Vec<String>> {
    let Some(encoded) = index_value(value) else {
        return Ok(Vec::new());
    };
    let start = index_prefix(doctype, field, Some(&encoded));
    let end = prefix_end(&start);
    let mut names = Vec::new();
    for entry in table.range(start.as_slice()..end.as_slice())? {
        let (key, _) = entry?;
        names.push(String::from_utf8_lossy(&key.value()[start.len()..]).into_owned());
    }
    Ok(names)
}

fn get_doc_in(
    table: &impl ReadableTable<Bytes, Bytes>,
    audit: &impl ReadableTable<u64, Bytes>,
    doctype: &str,
    name: &str,
) -> Result<Option<Doc>> {
    if doctype == AUDIT_TRAIL {
        let Ok(seq) = name.parse::<u64>() else {
            return Ok(None);
        };
        return match audit.get(seq)? {
            Some(bytes) => Ok(Some(parse_doc(doctype, name, bytes.value())?)),
            None => Ok(None),
        };
    }
    match table.get(doc_key(doctype, name).as_slice())? {
        Some(bytes) => Ok(Some(parse_doc(doctype, name, bytes.value())?)),
        None => Ok(None),
    }
}

/// Every document of `doctype`; with `unreadable`, those that cannot be read back are
/// handed to it by name instead of failing the scan.
fn scan_docs_in(
    table: &impl ReadableTable<Bytes, Bytes>,
    audit: &impl ReadableTable<u64, Bytes>,
    doctype: &str,
    visit: &mut dyn FnMut(Doc) -> bool,
    mut unreadable: Option<&mut dyn FnMut(String)>,
) -> Result<()> {
    let mut read = |name: String, bytes: &[u8]| -> Result<Option<Doc>> {
        match (parse_doc(doctype, &name, bytes), &mut unreadable) {
            (Ok(doc), _) => Ok(Some(doc)),
            (Err(_), Some(unreadable)) => {
                unreadable(name);
                Ok(None)
            }
            (Err(e), None) => Err(e),
        }
    };
    if doctype == AUDIT_TRAIL {
        for entry in audit.iter()? {
            let (seq, value) = entry?;
            if let Some(doc) = read(seq.value().to_string(), value.value())?
                && !visit(doc)
            {
                break;
            }
        }
        return Ok(());
    }
    let (start, end) = doctype_range(doctype);
    for entry in table.range(start.as_slice()..end.as_slice())? {
        let (key, value) = entry?;
        if let Some(doc) = read(key_name(key.value()), value.value())?
            && !visit(doc)
        {
            break;
        }
    }
    Ok(())
}

fn get_run_in(table: &impl ReadableTable<Bytes, Bytes>, id: &str) -> Result<Option<Run>> {
    match table.get(id.as_bytes())? {
        Some(bytes) => Ok(Some(parse_run_named(id, bytes.value())?)),
        None => Ok(None),
    }
}

/// A consistent read-only snapshot.
pub(crate) struct ReadTables {
    docs: ReadOnlyTable<Bytes, Bytes>,
    runs: ReadOnlyTable<Bytes, Bytes>,
    run_index: ReadOnlyTable<Bytes, Bytes>,
    doc_index: ReadOnlyTable<Bytes, Bytes>,
    audit: ReadOnlyTable<u64, Bytes>,
    meta: ReadOnlyTable<Bytes, Bytes>,
}

impl ReadTables {
    fn open(txn: &ReadTransaction) -> Result<Self> {
        Ok(ReadTables {
            docs: txn.open_table(DOCS)?,
            runs: txn.open_table(RUNS)?,
            run_index: txn.open_table(RUN_INDEX)?,
            doc_index: txn.open_table(DOC_INDEX)?,
            audit: txn.open_table(AUDIT)?,
            meta: txn.open_table(META)?,
        })
    }

    /// A store fact by name.
    pub(crate) fn meta(&self, key: &str) -> Result<Option<Vec<u8>>> {
        Ok(self.meta.get(key.as_bytes())?.map(|v| v.value().to_vec()))
    }

    /// Every audit entry, oldest first, as stored bytes (for verification).
    pub(crate) fn audit_entries(
        &self,
        visit: &mut dyn FnMut(u64, &[u8]) -> Result<()>,
    ) -> Result<()> {
        for entry in self.audit.iter()? {
            let (seq, bytes) = entry?;
            visit(seq.value(), bytes.value())?;
        }
        Ok(())
    }

    /// The runs that may have `field = value` (callers check each run's field), found
    /// through an index or the run tree, never a scan of all runs. A chain is its root's
    /// tree; a parent's children are listed in its record; a flow is its indexed runs and
    /// the chain of the same id (see [`RUN_INDEX_FIELDS`]).
    pub(crate) fn runs_where(&self, field: &str, value: &str) -> Result<Vec<Run>> {
        let by_ids = |ids: Vec<String>| -> Result<Vec<Run>> {
            let mut runs = Vec::with_capacity(ids.len());
            for id in ids {
                runs.extend(self.listed_run(&id)?);
            }
            Ok(runs)
        };
        Ok(match field {
            "chain" => self.tree(value)?,
            "parent" => match self.get_run(value)? {
                Some(parent) => by_ids(parent.child_run_ids)?,
                None => Vec::new(),
            },
            "flow" => {
                let mut runs = by_ids(self.run_ids_by(field, value)?)?;
                runs.extend(self.tree(value)?);
                runs.sort_by(|a, b| a.id.cmp(&b.id));
                runs.dedup_by(|a, b| a.id == b.id);
                runs
            }
            _ => by_ids(self.run_ids_by(field, value)?)?,
        })
    }

    /// The run `root` and every run under it, oldest first.
    fn tree(&self, root: &str) -> Result<Vec<Run>> {
        let mut runs = Vec::new();
        let mut next = vec![root.to_string()];
        while let Some(id) = next.pop() {
            if let Some(run) = self.listed_run(&id)? {
                next.extend(run.child_run_ids.iter().cloned());
                runs.push(run);
            }
        }
        runs.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(runs)
    }

    /// Run `id` for a listing: an unreadable record is listed as a failed run saying so.
    fn listed_run(&self, id: &str) -> Result<Option<Run>> {
        Ok(self
            .runs
            .get(id.as_bytes())?
            .map(|bytes| parse_run_or_stub(id, bytes.value())))
    }

    /// Run ids indexed under `field = value`, oldest first.
    fn run_ids_by(&self, field: &str, value: &str) -> Result<Vec<String>> {
        let start = run_index_key(field, value, "");
        let end = prefix_end(&start);
        let mut ids = Vec::new();
        for entry in self.run_index.range(start.as_slice()..end.as_slice())? {
            let (key, _) = entry?;
            let id = &key.value()[start.len()..];
            ids.push(String::from_utf8_lossy(id).into_owned());
        }
        Ok(ids)
    }

    /// Runs with ids in `[since, until)` (ids sort by start time), oldest first; with
    /// `limit`, the newest `limit` of them.
    pub(crate) fn runs_between(
        &self,
        since: Option<&str>,
        until: Option<&str>,
        limit: Option<usize>,
    ) -> Result<Vec<Run>> {
        let start = since.unwrap_or("").as_bytes();
        let mut runs = Vec::new();
        let range = match until {
            Some(until) => self.runs.range(start..until.as_bytes())?,
            None => self.runs.range(start..)?,
        };
        for entry in range.rev().take(limit.unwrap_or(usize::MAX)) {
            let (key, value) = entry?;
            let id = String::from_utf8_lossy(key.value());
            // One unreadable record does not hide every other run.
            runs.push(parse_run_or_stub(&id, value.value()));
        }
        runs.reverse();
        Ok(runs)
    }
}

/// Snapshots and the write transaction read the same way, from their own table handles.
macro_rules! impl_view {
    ($tables:ty) => {
        impl View for $tables {
            fn get_doc(&self, doctype: &str, name: &str) -> Result<Option<Doc>> {
                get_doc_in(&self.docs, &self.audit, doctype, name)
            }
            fn scan_docs(&self, doctype: &str, visit: &mut dyn FnMut(Doc) -> bool) -> Result<()> {
                scan_docs_in(&self.docs, &self.audit, doctype, visit, None)
            }
            fn scan_readable_docs(
                &self,
                doctype: &str,
                visit: &mut dyn FnMut(Doc) -> bool,
                unreadable: &mut dyn FnMut(String),
            ) -> Result<()> {
                scan_docs_in(&self.docs, &self.audit, doctype, visit, Some(unreadable))
            }
            fn get_run(&self, id: &str) -> Result<Option<Run>> {
                get_run_in(&self.runs, id)
            }
            fn index_lookup(
                &self,
                doctype: &str,
                field: &str,
                value: &Value,
            ) -> Result<Vec<String>> {
                index_lookup_in(&self.doc_index, doctype, field, value)
            }
        }
    };
}

impl_view!(ReadTables);

/// The tables whose changes a failed run takes back.
#[derive(Clone, Copy)]
enum TableKind {
    Docs,
    DocIndex,
    Counters,
    Meta,
    Audit,
}

/// One change to take back: the key and the value it had before (`None`: it was absent).
struct Undo {
    table: TableKind,
    key: Vec<u8>,
    before: Option<Vec<u8>>,
}

/// The tables of the shared write transaction, as one writer sees them while it holds it.
pub(crate) struct WriteTables<'t> {
    docs: Table<'t, Bytes, Bytes>,
    runs: Table<'t, Bytes, Bytes>,
    run_index: Table<'t, Bytes, Bytes>,
    doc_index: Table<'t, Bytes, Bytes>,
    counters: Table<'t, Bytes, Bytes>,
    audit: Table<'t, u64, Bytes>,
    meta: Table<'t, Bytes, Bytes>,
    /// The last audit entry's sequence number and hash, once known in this job (saves
    /// re-reading it for every entry of a bulk change).
    audit_tail: Option<(u64, String)>,
    undo: Vec<Undo>,
    /// Raised when a schema document is written in the open transaction.
    schemas_dirty: &'t AtomicBool,
    /// Raised when this writer leaves anything in the transaction that must be committed.
    batch_dirty: &'t AtomicBool,
    /// Whether this writer stored a run record.
    recorded: bool,
}

/// A point in a writer's undo log to roll back to.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Mark(usize);

impl<'t> WriteTables<'t> {
    fn open(
        txn: &'t WriteTransaction,
        schemas_dirty: &'t AtomicBool,
        batch_dirty: &'t AtomicBool,
    ) -> Result<Self> {
        Ok(WriteTables {
            schemas_dirty,
            batch_dirty,
            recorded: false,
            docs: txn.open_table(DOCS)?,
            runs: txn.open_table(RUNS)?,
            run_index: txn.open_table(RUN_INDEX)?,
            doc_index: txn.open_table(DOC_INDEX)?,
            counters: txn.open_table(COUNTERS)?,
            audit: txn.open_table(AUDIT)?,
            meta: txn.open_table(META)?,
            audit_tail: None,
            undo: Vec::new(),
        })
    }

    fn table(&mut self, kind: TableKind) -> &mut Table<'t, Bytes, Bytes> {
        match kind {
            TableKind::Docs => &mut self.docs,
            TableKind::DocIndex => &mut self.doc_index,
            TableKind::Counters => &mut self.counters,
            TableKind::Meta => &mut self.meta,
            TableKind::Audit => unreachable!("audit entries are undone by `rollback_to` directly"),
        }
    }

    /// The last audit entry (sequence number and bytes), if any.
    pub(crate) fn last_audit(&self) -> Result<Option<(u64, Vec<u8>)>> {
        Ok(self
            .audit
            .last()?
            .map(|(seq, bytes)| (seq.value(), bytes.value().to_vec())))
    }

    /// Set a store fact (taken back with the run like any change).
    pub(crate) fn set_meta(&mut self, key: &str, value: &[u8]) -> Result<()> {
        self.set(TableKind::Meta, key.as_bytes().to_vec(), value)
            .map(|_| ())
    }

    /// The remembered tail of the audit trail (see [`WriteTables::append_audit`]).
    pub(crate) fn audit_tail(&self) -> Option<&(u64, String)> {
        self.audit_tail.as_ref()
    }

    /// Append audit entry `seq` (which must follow the last one). Within the run that
    /// appends it, a rollback takes it back like any change; once committed, nothing can.
    pub(crate) fn append_audit(&mut self, seq: u64, hash: &str, bytes: &[u8]) -> Result<()> {
        let last = match &self.audit_tail {
            Some((last, _)) => *last,
            None => self.last_audit()?.map_or(0, |(last, _)| last),
        };
        assert_eq!(
            seq,
            last + 1,
            "audit entries are appended in sequence, never replaced"
        );
        self.audit.insert(seq, bytes).map_err(grown)?;
        self.audit_tail = Some((seq, hash.to_string()));
        self.undo.push(Undo {
            table: TableKind::Audit,
            key: seq.to_be_bytes().to_vec(),
            before: None,
        });
        Ok(())
    }

    /// Insert or replace one entry, remembering what it replaced.
    fn set(&mut self, kind: TableKind, key: Vec<u8>, value: &[u8]) -> Result<Option<Vec<u8>>> {
        let before = self
            .table(kind)
            .insert(key.as_slice(), value)
            .map_err(grown)?
            .map(|old| old.value().to_vec());
        self.undo.push(Undo {
            table: kind,
            key,
            before: before.clone(),
        });
        Ok(before)
    }

    /// Remove one entry, remembering what it was.
    fn unset(&mut self, kind: TableKind, key: Vec<u8>) -> Result<Option<Vec<u8>>> {
        let before = self
            .table(kind)
            .remove(key.as_slice())
            .map_err(grown)?
            .map(|old| old.value().to_vec());
        if before.is_some() {
            self.undo.push(Undo {
                table: kind,
                key,
                before: before.clone(),
            });
        }
        Ok(before)
    }

    /// Update the index entries of `indexed` fields from `before` to `after`.
    fn reindex(
        &mut self,
        doctype: &str,
        name: &str,
        indexed: &[String],
        before: Option<&Doc>,
        after: Option<&Doc>,
    ) -> Result<()> {
        for field in indexed {
            let old = before.and_then(|d| d.get(field)).and_then(index_value);
            let new = after.and_then(|d| d.get(field)).and_then(index_value);
            if old == new {
                continue;
            }
            if let Some(old) = old {
                let mut key = index_prefix(doctype, field, Some(&old));
                key.extend_from_slice(name.as_bytes());
                self.unset(TableKind::DocIndex, key)?;
            }
            if let Some(new) = new {
                let mut key = index_prefix(doctype, field, Some(&new));
                key.extend_from_slice(name.as_bytes());
                self.set(TableKind::DocIndex, key, &[])?;
            }
        }
        Ok(())
    }

    /// Build (or drop) the index of one field over every existing document of `doctype`.
    pub(crate) fn rebuild_index(&mut self, doctype: &str, field: &str, build: bool) -> Result<()> {
        let prefix = index_prefix(doctype, field, None);
        let end = prefix_end(&prefix);
        let mut stale = Vec::new();
        for entry in self.doc_index.range(prefix.as_slice()..end.as_slice())? {
            stale.push(entry?.0.value().to_vec());
        }
        for key in stale {
            self.unset(TableKind::DocIndex, key)?;
        }
        if build {
            let mut docs = Vec::new();
            scan_docs_in(
                &self.docs,
                &self.audit,
                doctype,
                &mut |doc| {
                    docs.push(doc);
                    true
                },
                None,
            )?;
            let fields = [field.to_string()];
            for doc in docs {
                let name = doc
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string();
                self.reindex(doctype, &name, &fields, None, Some(&doc))?;
            }
        }
        Ok(())
    }

    /// Increment a counter and return its new value (1 for a new counter).
    pub(crate) fn next_counter(&mut self, name: &str) -> Result<u64> {
        let current = match self.counters.get(name.as_bytes())? {
            Some(bytes) => u64::from_be_bytes(
                bytes
                    .value()
                    .try_into()
                    .map_err(|_| Error::Storage(format!("counter `{name}` is corrupt")))?,
            ),
            None => 0,
        };
        let next = current + 1;
        self.set(
            TableKind::Counters,
            name.as_bytes().to_vec(),
            &next.to_be_bytes(),
        )?;
        Ok(next)
    }

    /// Insert or replace a document and maintain the indexes of its `indexed` fields.
    pub(crate) fn put_doc(
        &mut self,
        doctype: &str,
        name: &str,
        doc: &Doc,
        indexed: &[String],
    ) -> Result<()> {
        refuse_audit_trail(doctype)?;
        if META_DOCTYPES.contains(&doctype) {
            self.schemas_dirty.store(true, Ordering::SeqCst);
        }
        let before = self.set(TableKind::Docs, doc_key(doctype, name), &encode(doc)?)?;
        if !indexed.is_empty() {
            let before = match before.as_deref().map(|b| parse_doc(doctype, name, b)) {
                Some(Err(_)) => {
                    self.unindex_unreadable(doctype, name, indexed)?;
                    None
                }
                other => other.transpose()?,
            };
            self.reindex(doctype, name, indexed, before.as_ref(), Some(doc))?;
        }
        Ok(())
    }

    /// Remove the index entries of document `name` whose stored body cannot be read back
    /// (so its indexed values are unknown): every entry of its `indexed` fields that ends
    /// with its name.
    fn unindex_unreadable(&mut self, doctype: &str, name: &str, indexed: &[String]) -> Result<()> {
        let suffix = [&[0], name.as_bytes()].concat();
        for field in indexed {
            let prefix = index_prefix(doctype, field, None);
            let end = prefix_end(&prefix);
            let mut stale = Vec::new();
            for entry in self.doc_index.range(prefix.as_slice()..end.as_slice())? {
                let key = entry?.0.value().to_vec();
                // Values escape NUL, so the last NUL of a key precedes the name.
                let tail = key.iter().rposition(|b| *b == 0).map(|at| &key[at..]);
                if tail == Some(suffix.as_slice()) {
                    stale.push(key);
                }
            }
            for key in stale {
                self.unset(TableKind::DocIndex, key)?;
            }
        }
        Ok(())
    }

    /// Remove a document and its index entries; returns whether it existed.
    pub(crate) fn remove_doc(
        &mut self,
        doctype: &str,
        name: &str,
        indexed: &[String],
    ) -> Result<bool> {
        refuse_audit_trail(doctype)?;
        if META_DOCTYPES.contains(&doctype) {
            self.schemas_dirty.store(true, Ordering::SeqCst);
        }
        let before = self.unset(TableKind::Docs, doc_key(doctype, name))?;
        if let (false, Some(bytes)) = (indexed.is_empty(), &before) {
            // A body that cannot be read back is removed all the same (see
            // `unindex_unreadable`): it must not freeze its doctype.
            match parse_doc(doctype, name, bytes) {
                Ok(before) => self.reindex(doctype, name, indexed, Some(&before), None)?,
                Err(_) => self.unindex_unreadable(doctype, name, indexed)?,
            }
        }
        Ok(before.is_some())
    }

    /// Whether this writer changed any document, index or counter (and did not take it back).
    pub(crate) fn has_changes(&self) -> bool {
        !self.undo.is_empty()
    }

    /// The current position in the undo log.
    pub(crate) fn mark(&self) -> Mark {
        Mark(self.undo.len())
    }

    /// Take back every change made since `mark`, newest first.
    pub(crate) fn rollback_to(&mut self, mark: Mark) -> Result<()> {
        while self.undo.len() > mark.0 {
            let undo = self.undo.pop().expect("length checked above");
            if let TableKind::Audit = undo.table {
                // Only entries this run appended are ever undone: they are the newest.
                let seq = u64::from_be_bytes(undo.key.as_slice().try_into().expect("8 bytes"));
                self.audit.remove(seq).map_err(grown)?;
                self.audit_tail = None;
                continue;
            }
            let table = self.table(undo.table);
            match undo.before {
                Some(bytes) => {
                    table
                        .insert(undo.key.as_slice(), bytes.as_slice())
                        .map_err(grown)?;
                }
                None => {
                    table.remove(undo.key.as_slice()).map_err(grown)?;
                }
            }
        }
        Ok(())
    }

    /// Store a run's record and its index entries. Run records are written once: a record
    /// that is already stored is never replaced.
    pub(crate) fn put_record(&mut self, record: &Record) -> Result<()> {
        // One descent of the tree: the insert reports a record it replaced, which is put back.
        let replaced = self
            .runs
            .insert(record.id.as_bytes(), &*record.bytes)
            .map_err(grown)?
            .map(|stored| stored.value().to_vec());
        if let Some(stored) = replaced {
            self.runs
                .insert(record.id.as_bytes(), stored.as_slice())
                .map_err(grown)?;
            return Err(Error::new(
                crate::ErrorCode::Immutable,
                format!(
                    "run {} is already recorded; completed runs are never modified",
                    record.id
                ),
            ));
        }
        self.recorded = true;
        for (field, value_of) in RUN_INDEX_FIELDS {
            if let Some(value) = value_of(record) {
                let key = run_index_key(field, value, &record.id);
                self.run_index
                    .insert(key.as_slice(), [].as_slice())
                    .map_err(grown)?;
            }
        }
        Ok(())
    }

    /// Store a record that waited in memory. One already stored is left as it is: a commit
    /// that reported failure may still have landed, and its records are waiting again.
    fn put_waiting_record(&mut self, record: &Record) -> Result<()> {
        match self.put_record(record) {
            Err(e) if e.code() == crate::ErrorCode::Immutable => Ok(()),
            other => other,
        }
    }
}

impl Drop for WriteTables<'_> {
    fn drop(&mut self) {
        if self.has_changes() || self.recorded {
            self.batch_dirty.store(true, Ordering::SeqCst);
        }
    }
}

impl_view!(WriteTables<'_>);

/// The open shared write transaction.
struct WriterState {
    txn: Option<WriteTransaction>,
    /// The number of the batch the open transaction will commit as.
    batch: u64,
}

/// Records of runs that wrote nothing, kept in memory until a commit writes them. They have
/// a lock of their own, so read-only runs never wait for writers or for a commit.
#[derive(Default)]
struct Waiting {
    /// Not yet taken by a commit, oldest first.
    records: Vec<Record>,
    /// Taken by the commit in progress, and readable here until it is durable.
    writing: Arc<Vec<Record>>,
    /// Written batches, for a run's thread to free: freeing them on the background writer
    /// would contend with that thread for its allocator's lock (they were allocated there).
    written: Vec<Arc<Vec<Record>>>,
    /// The store is closing: the background writer stops.
    closing: bool,
}

/// Which batches are durable.
struct CommitState {
    committed: u64,
    committing: bool,
    /// Recent batches whose commit failed, with the cause.
    failures: VecDeque<(u64, String)>,
}

/// The store: the shared state, and the background writer of waiting records (which
/// holds the shared state too, and is stopped and joined when the store is dropped).
pub(crate) struct Store {
    shared: Arc<Shared>,
    background: Option<JoinHandle<()>>,
}

impl std::ops::Deref for Store {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.shared
    }
}

/// How often, at most, a store whose file failed tries to reopen it.
const REOPEN_INTERVAL: Duration = Duration::from_millis(250);

/// The redb database and its group commit.
pub(crate) struct Shared {
    /// The database; `None` while a reopen after an I/O failure has not succeeded.
    db: RwLock<Option<Db>>,
    /// Whether the store only reads.
    read_only: bool,
    /// Where a store file was opened, and how, to reopen it after an I/O failure (`None`
    /// for a store in memory or one opened read-only).
    origin: Option<(PathBuf, OpenOptions)>,
    /// The file's I/O failures since it last opened cleanly.
    health: Arc<backend::Health>,
    /// When the store may next try to reopen its failed file.
    next_reopen: Mutex<Instant>,
    writer: Mutex<WriterState>,
    waiting: Mutex<Waiting>,
    /// Wakes the background writer when enough records wait.
    records_waiting: Condvar,
    commit: Mutex<CommitState>,
    committed: Condvar,
    /// Changes whenever committed schemas may have changed; caches of schemas compare it.
    schema_generation: AtomicU64,
    /// A schema was written in the open write transaction.
    schemas_dirty: AtomicBool,
    /// The open write transaction holds something to commit (else it is aborted: no fsync).
    batch_dirty: AtomicBool,
    /// `flush()` asked for the waiting records to be written even if nothing else is.
    flush_requested: AtomicBool,
    /// Writers between asking for the write transaction and finishing their job: a
    /// committer lets them join its batch before it commits (group commit).
    writers_in_flight: AtomicUsize,
    /// Jobs finished so far (how a committer sees the writers it waits for arrive).
    jobs_done: AtomicU64,
    /// Whether a background writer writes waiting records (else runs do, when enough wait).
    background_writer: AtomicBool,
    /// Commits made so far: a shared snapshot is current while this has not moved.
    commits: AtomicU64,
    /// The snapshot readers share, and the commit count it was opened at.
    snapshot: Mutex<Option<(u64, Arc<ReadTables>)>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding these locks cannot leave them half-updated in a way that matters
    // more than refusing all further work would: recover the guard.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The database: the one writer, or a reader sharing the file with it.
enum Db {
    Writer(Database),
    Reader(ReadOnlyDatabase),
}

/// Create a new store file so that it never exists half-made: redb writes a new file's header
/// in several steps, and a process killed between them would leave a file no open accepts.
/// The store is built under a temporary name beside `path`, with its tables, made durable,
/// and only then linked into place; a link refuses to replace a file, so of two processes
/// creating the same store at once one wins and the other opens the winner's.
fn create_whole(path: &Path) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let file_name = path
        .file_name()
        .ok_or_else(|| std::io::Error::other("the store path names no file"))?
        .to_string_lossy()
        .into_owned();
    let prefix = format!(".{file_name}.creating-");
    remove_abandoned(dir, &prefix);
    static CREATIONS: AtomicU64 = AtomicU64::new(0);
    let temp = dir.join(format!(
        "{prefix}{}-{}",
        std::process::id(),
        CREATIONS.fetch_add(1, Ordering::Relaxed)
    ));
    let built = (|| -> std::result::Result<(), Box<dyn std::error::Error>> {
        let db = Database::builder().create(&temp)?;
        let txn = db.begin_write()?;
        WriteTables::open(&txn, &AtomicBool::new(false), &AtomicBool::new(false))
            .map_err(|e| e.to_string())?;
        txn.commit()?;
        Ok(())
    })();
    let placed = match built {
        Ok(()) => match std::fs::hard_link(&temp, path) {
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
            // Filesystems without hard links: a rename, which could only replace a store
            // created by another process in the last instant.
            Err(_) if !path.exists() => std::fs::rename(&temp, path),
            linked => linked,
        },
        Err(e) => Err(std::io::Error::other(e.to_string())),
    };
    let _ = std::fs::remove_file(&temp);
    placed?;
    // Make the new directory entry durable too.
    if let Ok(dir) = std::fs::File::open(dir) {
        let _ = dir.sync_all();
    }
    Ok(())
}

/// Remove the temporary files of store creations that were killed: those older than a minute
/// (a creation takes milliseconds, so no live one is that old).
fn remove_abandoned(dir: &Path, prefix: &str) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let abandoned = entry.file_name().to_string_lossy().starts_with(prefix)
            && entry
                .metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|modified| {
                    modified.elapsed().unwrap_or_default() > Duration::from_secs(60)
                });
        if abandoned {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

impl Store {
    /// Open (or create) the store file for writing. With `options.shared`, other processes
    /// may open it read-only meanwhile (see [`Shared::open`]).
    pub(crate) fn open(path: &Path, options: OpenOptions) -> Result<Self> {
        Ok(Store::start(Shared::open(path, options)?))
    }

    /// Open an existing store file to read it while another process may be writing it,
    /// waiting up to `lock_timeout` for a writer that does not share it.
    pub(crate) fn open_read_only(path: &Path, lock_timeout: Duration) -> Result<Self> {
        Ok(Store {
            shared: Arc::new(Shared::open_read_only(path, lock_timeout)?),
            background: None,
        })
    }

    /// A store that lives in memory only.
    pub(crate) fn in_memory() -> Result<Self> {
        Ok(Store::start(Shared::in_memory()?))
    }

    /// Start the background writer: when [`MAX_PENDING_RECORDS`] records of read-only runs
    /// wait, it writes them, so the run that happens to be the 1024th does not pay for the
    /// commit of all of them.
    fn start(shared: Shared) -> Store {
        let shared = Arc::new(shared);
        let writer = shared.clone();
        let background = std::thread::Builder::new()
            .name("coworker-records".into())
            .spawn(move || writer.write_waiting_records())
            .map_err(|e| tracing::warn!("no background writer ({e}): runs write records"))
            .ok();
        shared
            .background_writer
            .store(background.is_some(), Ordering::SeqCst);
        Store { shared, background }
    }
}

impl Shared {
    /// Open (or create) the store file for writing. With `shared`, other processes may open
    /// it read-only meanwhile and follow its commits (`ConcurrencyMode::SingleWriter`); that
    /// costs a second fsync and file-lock calls per commit, so it is not the default.
    pub(crate) fn open(path: &Path, options: OpenOptions) -> Result<Self> {
        if !path.exists() {
            create_whole(path).map_err(|e| {
                Error::Storage(format!("cannot create store {}: {e}", path.display()))
            })?;
        }
        let health = Arc::default();
        let db = open::open_writer(path, options, &health)?;
        Self::with_tables(&db)?;
        let mut shared = Self::with(Db::Writer(db));
        shared.origin = Some((path.to_path_buf(), options));
        shared.health = health;
        Ok(shared)
    }

    /// Make sure every table exists.
    fn with_tables(db: &Database) -> Result<()> {
        let txn = db.begin_write()?;
        WriteTables::open(&txn, &AtomicBool::new(false), &AtomicBool::new(false))?;
        txn.commit()?;
        Ok(())
    }

    /// Open an existing store file to read it while another process may be writing it.
    pub(crate) fn open_read_only(path: &Path, lock_timeout: Duration) -> Result<Self> {
        Ok(Self::with(Db::Reader(open::open_reader(
            path,
            lock_timeout,
        )?)))
    }

    /// A store that lives in memory only.
    pub(crate) fn in_memory() -> Result<Self> {
        let db = Database::builder().create_with_backend(redb::backends::InMemoryBackend::new())?;
        Self::with_tables(&db)?;
        Ok(Self::with(Db::Writer(db)))
    }

    /// Whether this store only reads (see [`Store::open_read_only`]).
    pub(crate) fn read_only(&self) -> bool {
        self.read_only
    }

    /// The database, once the store file works: after an I/O failure the file is reopened
    /// first (at most every [`REOPEN_INTERVAL`]), and while that fails every caller learns
    /// the failure's cause.
    fn db(&self) -> Result<std::sync::RwLockReadGuard<'_, Option<Db>>> {
        if let Some(cause) = self.health.failure() {
            let due = {
                let mut next = lock(&self.next_reopen);
                let due = Instant::now() >= *next;
                if due {
                    *next = Instant::now() + REOPEN_INTERVAL;
                }
                due
            };
            if !due {
                return Err(self.failed_earlier(&cause, None));
            }
            if let Err(e) = self.reopen() {
                return Err(self.failed_earlier(&cause, Some(&e)));
            }
        }
        let db = self.db.read().unwrap_or_else(|p| p.into_inner());
        if db.is_none() {
            let cause = self.health.failure().unwrap_or_else(|| "unknown".into());
            return Err(self.failed_earlier(&cause, None));
        }
        Ok(db)
    }

    /// The error of a store whose file failed with `cause` and is not reopened yet.
    fn failed_earlier(&self, cause: &str, reopening: Option<&Error>) -> Error {
        let reopened = match reopening {
            Some(Error::Storage(e)) => format!("; reopening it failed: {e}"),
            Some(e) => format!("; reopening it failed: {e}"),
            None => String::new(),
        };
        let retry = match &self.origin {
            None => String::new(),
            Some(_) => format!(
                "; once the cause is fixed, the next run reopens it (at most every {} ms), \
                 or call Engine::reopen()",
                REOPEN_INTERVAL.as_millis()
            ),
        };
        Error::Storage(format!(
            "the store failed earlier: {cause}{reopened}{retry}"
        ))
    }

    /// A storage error `e` of redb, explained by the cause of the file's failure if it
    /// failed (redb reports all but the first failure as "Previous I/O error").
    fn explained(&self, e: impl std::fmt::Display) -> String {
        let text = e.to_string();
        match self.health.failure() {
            // redb's text adds nothing to the cause: "I/O error: …" repeats it, and
            // "Previous I/O error occurred …" hides it.
            Some(cause) if text.contains("I/O error") => cause,
            Some(cause) => format!("{cause} ({text})"),
            None => text,
        }
    }

    /// Close the store file and open it again: what a store whose file failed (a full disk)
    /// does once the cause is fixed. Everything committed before the failure is there;
    /// what failed to commit was reported to its runs as failed. Refused while a write
    /// that is not yet committed waits (it commits, or fails, first).
    pub(crate) fn reopen(&self) -> Result<()> {
        let Some((path, options)) = &self.origin else {
            return match self.health.failure() {
                Some(cause) => Err(self.failed_earlier(&cause, None)),
                None => Ok(()),
            };
        };
        // Never waits for the writer lock: a job holding it may be what calls this.
        let mut writer = match self.writer.try_lock() {
            Ok(writer) => writer,
            Err(std::sync::TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
            Err(std::sync::TryLockError::WouldBlock) => {
                return Err(Error::Storage(
                    "a write is in progress; try reopening again once it ended".into(),
                ));
            }
        };
        if self.batch_dirty.load(Ordering::SeqCst) || lock(&self.commit).committing {
            return Err(Error::Storage(
                "a write is being committed; try reopening again once it ended".into(),
            ));
        }
        // Nothing uncommitted is in the open transaction (checked above): drop it.
        drop(writer.txn.take());
        let mut db = self.db.write().unwrap_or_else(|p| p.into_inner());
        *lock(&self.snapshot) = None;
        self.commits.fetch_add(1, Ordering::SeqCst);
        // The file's locks are released once the old database is closed.
        drop(db.take());
        self.health.cleared();
        match open::open_writer(path, *options, &self.health) {
            Ok(opened) => {
                tracing::info!("store {} reopened", path.display());
                *db = Some(Db::Writer(opened));
                Ok(())
            }
            Err(e) => {
                self.health.failed_with(&e.to_string());
                Err(e)
            }
        }
    }

    fn with(db: Db) -> Self {
        Shared {
            read_only: matches!(db, Db::Reader(_)),
            db: RwLock::new(Some(db)),
            origin: None,
            health: Arc::default(),
            next_reopen: Mutex::new(Instant::now()),
            writer: Mutex::new(WriterState {
                txn: None,
                batch: 1,
            }),
            waiting: Mutex::default(),
            records_waiting: Condvar::new(),
            background_writer: AtomicBool::new(false),
            commit: Mutex::new(CommitState {
                committed: 0,
                committing: false,
                failures: VecDeque::new(),
            }),
            committed: Condvar::new(),
            schema_generation: AtomicU64::new(0),
            schemas_dirty: AtomicBool::new(false),
            batch_dirty: AtomicBool::new(false),
            flush_requested: AtomicBool::new(false),
            writers_in_flight: AtomicUsize::new(0),
            jobs_done: AtomicU64::new(0),
            commits: AtomicU64::new(0),
            snapshot: Mutex::new(None),
        }
    }

    /// A consistent snapshot of everything committed so far.
    ///
    /// Snapshots are shared until the next commit: opening one costs a redb read
    /// transaction and six tables, and waits while a commit is being made durable.
    pub(crate) fn read(&self) -> Result<Arc<ReadTables>> {
        let commits = self.commits.load(Ordering::SeqCst);
        if let Some((taken_at, snapshot)) = &*lock(&self.snapshot)
            && *taken_at == commits
        {
            return Ok(snapshot.clone());
        }
        let txn = match &*self.db()? {
            Some(Db::Writer(db)) => db
                .begin_read()
                .map_err(|e| Error::Storage(self.explained(e)))?,
            // Another process commits: nothing tells this one when, so never share.
            Some(Db::Reader(db)) => return Ok(Arc::new(ReadTables::open(&db.begin_read()?)?)),
            None => unreachable!("`db()` returns an open database"),
        };
        let snapshot = Arc::new(ReadTables::open(&txn)?);
        let mut cached = lock(&self.snapshot);
        // Only a snapshot opened after the latest commit may be shared.
        if self.commits.load(Ordering::SeqCst) == commits {
            *cached = Some((commits, snapshot.clone()));
        }
        Ok(snapshot)
    }

    /// A run record, wherever it is: written, or still waiting in memory.
    pub(crate) fn get_run(&self, id: &str) -> Result<Option<Run>> {
        {
            // A record leaves memory only once its commit is done: it is here or written.
            let waiting = lock(&self.waiting);
            let mut all = waiting.writing.iter().chain(&waiting.records);
            if let Some(record) = all.find(|r| r.id == id) {
                return record.run().map(Some);
            }
        }
        self.read()?.get_run(id)
    }

    /// The schema generation: a cache filled from a snapshot taken at generation `g` is
    /// valid while this still returns `g`.
    pub(crate) fn schema_generation(&self) -> u64 {
        self.schema_generation.load(Ordering::SeqCst)
    }

    /// Whether the open write transaction changed a schema (caches must not be used then).
    pub(crate) fn schemas_dirty(&self) -> bool {
        self.schemas_dirty.load(Ordering::SeqCst)
    }

    /// The runs whose records are not yet written, oldest first, that `wanted` picks by
    /// id and [`RunKeys`] (only those are read back).
    pub(crate) fn pending_runs(
        &self,
        wanted: &dyn Fn(&str, RunKeys<'_>) -> bool,
    ) -> Result<Vec<Run>> {
        let waiting = lock(&self.waiting);
        waiting
            .writing
            .iter()
            .chain(&waiting.records)
            .filter(|r| wanted(&r.id, r.keys()))
            .map(Record::run)
            .collect()
    }

    /// Keep the record of a run that wrote nothing; it is written with the next commit, or
    /// by the background writer once [`MAX_PENDING_RECORDS`] wait. Should they pile up to
    /// four times that (the writer cannot keep up, or there is none), runs write them.
    ///
    /// The records of one run tree come together and stay together (one commit writes all
    /// of them), so a tree is never half in memory and half written.
    pub(crate) fn record_later(&self, records: Vec<Record>) -> Result<()> {
        if records.is_empty() {
            return Ok(());
        }
        let (count, written) = {
            let mut waiting = lock(&self.waiting);
            waiting.records.extend(records);
            (waiting.records.len(), std::mem::take(&mut waiting.written))
        };
        drop(written);
        if count < MAX_PENDING_RECORDS {
            return Ok(());
        }
        let background = self.background_writer.load(Ordering::SeqCst);
        if background {
            self.records_waiting.notify_one();
        }
        if !background || count >= 4 * MAX_PENDING_RECORDS {
            return self.flush();
        }
        Ok(())
    }

    /// The background writer's loop: write the waiting records whenever enough wait, until
    /// the store closes.
    fn write_waiting_records(&self) {
        loop {
            {
                let mut waiting = lock(&self.waiting);
                while waiting.records.len() < MAX_PENDING_RECORDS && !waiting.closing {
                    waiting = self
                        .records_waiting
                        .wait(waiting)
                        .unwrap_or_else(|poisoned| poisoned.into_inner());
                }
                if waiting.closing {
                    return;
                }
            }
            if let Err(e) = self.flush() {
                tracing::error!("records of read-only runs could not be written: {e}");
                // They stay in memory; try again later rather than spin on a failing disk.
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }

    /// Run `job` inside the shared write transaction and return once its batch is durable.
    ///
    /// `job` must leave the tables consistent: on failure it rolls its own changes back
    /// (see [`WriteTables::mark`]). It writes its run records itself.
    pub(crate) fn write<R>(&self, job: impl FnOnce(WriteTables<'_>) -> R) -> Result<R> {
        self.write_owing(job, false)
    }

    /// [`Shared::write`]; with `flush`, the batch is committed even if nothing in it
    /// changed (the waiting records go with it).
    fn write_owing<R>(&self, job: impl FnOnce(WriteTables<'_>) -> R, flush: bool) -> Result<R> {
        if self.read_only {
            return Err(Error::Storage(
                "the store was opened read-only: it cannot record or change anything".into(),
            ));
        }
        // A failed file is reopened (or its failure reported) before anyone waits on it.
        drop(self.db()?);
        self.writers_in_flight.fetch_add(1, Ordering::SeqCst);
        let joined = self.join_batch(job, flush);
        self.jobs_done.fetch_add(1, Ordering::SeqCst);
        self.writers_in_flight.fetch_sub(1, Ordering::SeqCst);
        let (result, batch) = joined?;
        if let Some(batch) = batch {
            self.make_durable(batch)?;
        }
        Ok(result)
    }

    /// Run `job` in the open write transaction; returns its result and the batch it joined,
    /// or `None` when nothing in that batch so far is owed a commit (this job changed
    /// nothing and neither did the jobs before it, and it is no flush): then it has nothing
    /// to wait for, not even a neighbour's uncommitted write it might have read.
    fn join_batch<R>(
        &self,
        job: impl FnOnce(WriteTables<'_>) -> R,
        flush: bool,
    ) -> Result<(R, Option<u64>)> {
        let mut writer = lock(&self.writer);
        let writer = &mut *writer;
        if writer.txn.is_none() {
            // Not `db()`: a reopen needs the writer lock held here.
            if let Some(cause) = self.health.failure() {
                return Err(self.failed_earlier(&cause, None));
            }
            let db = self.db.read().unwrap_or_else(|p| p.into_inner());
            let Some(Db::Writer(db)) = &*db else {
                unreachable!("only stores opened for writing write, and `db()` returns one");
            };
            writer.txn = Some(
                db.begin_write()
                    .map_err(|e| Error::Storage(self.explained(e)))?,
            );
        }
        let txn = writer.txn.as_ref().expect("opened above");
        let tables = WriteTables::open(txn, &self.schemas_dirty, &self.batch_dirty)?;
        let result = job(tables);
        if flush {
            // Under the writer lock: the committer of this batch sees it.
            self.flush_requested.store(true, Ordering::SeqCst);
        }
        let owed = flush || self.batch_dirty.load(Ordering::SeqCst);
        Ok((result, owed.then_some(writer.batch)))
    }

    /// Write every waiting record and make everything durable.
    pub(crate) fn flush(&self) -> Result<()> {
        self.write_owing(|_| (), true)
    }

    /// Wait until `batch` is durable, committing it ourselves if nobody else is.
    fn make_durable(&self, batch: u64) -> Result<()> {
        let mut state = lock(&self.commit);
        loop {
            if state.committed >= batch {
                return match state.failures.iter().find(|(b, _)| *b == batch) {
                    Some((_, cause)) => Err(Error::Storage(cause.clone())),
                    None => Ok(()),
                };
            }
            if state.committing {
                state = self
                    .committed
                    .wait(state)
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
                continue;
            }
            state.committing = true;
            drop(state);
            let mut unwinding = Committing {
                store: self,
                batch: None,
            };
            // Group commit: writers already on their way join this batch first (bounded,
            // so a steady stream cannot hold a commit back).
            // Only those in flight now are waited for, not newcomers.
            let patience = Instant::now() + GROUP_COMMIT_WAIT;
            let ahead = self.writers_in_flight.load(Ordering::SeqCst);
            let done_before = self.jobs_done.load(Ordering::SeqCst);
            while ahead > 0
                && self.jobs_done.load(Ordering::SeqCst) - done_before < ahead as u64
                && Instant::now() < patience
            {
                std::thread::yield_now();
            }
            let (taken, txn, schemas_changed, records) = {
                let mut writer = lock(&self.writer);
                let taken = writer.batch;
                writer.batch += 1;
                unwinding.batch = Some(taken);
                let changed = self.schemas_dirty.swap(false, Ordering::SeqCst);
                if changed {
                    // Before the commit: caches filled from now on are suspect until after it.
                    self.schema_generation.fetch_add(1, Ordering::SeqCst);
                }
                // Waiting records ride along with a commit that happens anyway (or a flush):
                // they never cost an fsync of their own.
                let dirty = self.batch_dirty.swap(false, Ordering::SeqCst)
                    | self.flush_requested.swap(false, Ordering::SeqCst);
                // A batch that changed nothing keeps its transaction open for the next one:
                // there is nothing to commit or undo, and no begin and abort to pay per run.
                // Records of read-only runs ride along; they stay readable from memory
                // until the commit is done.
                let txn = if dirty { writer.txn.take() } else { None };
                #[cfg(test)]
                if tests::PANIC_IN_COMMIT.swap(false, Ordering::SeqCst) {
                    panic!("a commit panics (injected by a test)");
                }
                let records = match &txn {
                    Some(txn) => {
                        let batch = {
                            let mut waiting = lock(&self.waiting);
                            waiting.writing = Arc::new(std::mem::take(&mut waiting.records));
                            waiting.writing.clone()
                        };
                        // The commit is decided already: these writes must not mark the next
                        // batch dirty.
                        WriteTables::open(txn, &self.schemas_dirty, &AtomicBool::new(false))
                            .and_then(|mut tables| {
                                batch.iter().try_for_each(|r| tables.put_waiting_record(r))
                            })
                            .map(|()| batch.len())
                            .map_err(|e| e.to_string())
                    }
                    None => Ok(0),
                };
                (taken, txn, changed, records)
            };
            let committed_any = txn.is_some();
            let outcome = match (txn, records) {
                (Some(mut txn), Ok(records)) => txn
                    .set_durability(Durability::Immediate)
                    .map_err(|e| e.to_string())
                    .and_then(|()| txn.commit().map_err(|e| self.explained(e)))
                    .map(|()| records),
                (_, Err(cause)) => Err(cause),
                (None, Ok(_)) => Ok(0),
            };
            if committed_any {
                // New snapshots from now on; before the written records leave memory, so a
                // reader finds each record in memory or in its snapshot.
                self.commits.fetch_add(1, Ordering::SeqCst);
                *lock(&self.snapshot) = None;
            }
            std::mem::forget(unwinding);
            self.records_written(outcome.is_ok());
            if schemas_changed {
                self.schema_generation.fetch_add(1, Ordering::SeqCst);
            }
            state = lock(&self.commit);
            self.commit_ended(&mut state, taken, outcome.err());
        }
    }

    /// The records taken for a commit leave memory once it is done; those of a failed
    /// commit wait again.
    fn records_written(&self, durable: bool) {
        let mut waiting = lock(&self.waiting);
        let written = std::mem::take(&mut waiting.writing);
        if written.is_empty() {
            return;
        }
        if durable {
            waiting.written.push(written);
        } else {
            let mut again = Arc::try_unwrap(written).unwrap_or_else(|w| (*w).clone());
            again.append(&mut waiting.records);
            waiting.records = again;
        }
    }

    /// The commit in progress ended with batch `taken` (failed with `failure`): the next
    /// one may start, and the batch's writers learn how it went.
    fn commit_ended(&self, state: &mut CommitState, taken: u64, failure: Option<String>) {
        state.committing = false;
        state.committed = taken;
        if let Some(cause) = failure {
            tracing::error!("the commit of batch {taken} failed: {cause}");
            state.failures.push_back((taken, cause));
            if state.failures.len() > 64 {
                state.failures.pop_front();
            }
        }
        self.committed.notify_all();
    }
}

/// A commit in progress, ended as failed should its thread unwind (a panic inside redb):
/// otherwise `committing` would stay set and every later writer would wait forever.
struct Committing<'s> {
    store: &'s Shared,
    /// The batch being committed, once taken.
    batch: Option<u64>,
}

impl Drop for Committing<'_> {
    fn drop(&mut self) {
        // Reached only by unwinding: a commit that ends normally forgets its guard.
        self.store.records_written(false);
        let mut state = lock(&self.store.commit);
        match self.batch {
            Some(taken) => self.store.commit_ended(
                &mut state,
                taken,
                Some("the commit panicked; its writes were not made durable".into()),
            ),
            None => {
                state.committing = false;
                self.store.committed.notify_all();
            }
        }
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        lock(&self.shared.waiting).closing = true;
        self.shared.records_waiting.notify_all();
        if let Some(background) = self.background.take()
            && background.join().is_err()
        {
            tracing::error!("the background writer of records panicked");
        }
        let waiting = !lock(&self.waiting).records.is_empty();
        if waiting
            && !self.read_only()
            && let Err(e) = self.flush()
        {
            tracing::error!("records of read-only runs could not be written at close: {e}");
        }
        // A transaction kept open by batches that changed nothing holds nothing to keep.
        if let Some(txn) = lock(&self.writer).txn.take()
            && let Err(e) = txn.abort()
        {
            tracing::error!("the idle write transaction could not be closed: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::SystemTime;

    /// Makes the next commit panic once it has taken its batch.
    pub(super) static PANIC_IN_COMMIT: AtomicBool = AtomicBool::new(false);

    #[test]
    fn a_commit_that_panics_fails_its_batch_and_the_next_commit_goes_ahead() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(
            Store::open(
                &dir.path().join("s.redb"),
                OpenOptions {
                    shared: false,
                    lock_timeout: Duration::ZERO,
                },
            )
            .unwrap(),
        );
        let put = |store: &Store, name: &str| {
            let doc: Doc = serde_json::from_value(serde_json::json!({"name": name})).unwrap();
            store.write(|mut tables| tables.put_doc("Note", name, &doc, &[]))
        };
        PANIC_IN_COMMIT.store(true, Ordering::SeqCst);
        let panicking = Arc::clone(&store);
        let first = std::thread::spawn(move || put(&panicking, "lost")).join();
        assert!(first.is_err(), "the committing writer's thread panicked");
        // Without the guard, `committing` stayed set and this write waited forever.
        let (done, finished) = std::sync::mpsc::channel();
        let writing = Arc::clone(&store);
        std::thread::spawn(move || done.send(put(&writing, "kept").map(|r| r.is_ok())));
        let second = finished
            .recv_timeout(Duration::from_secs(10))
            .expect("the next write is not stuck behind the panicked commit");
        assert!(matches!(second, Ok(true)), "{second:?}");
        let read = store.read().unwrap();
        assert!(read.get_doc("Note", "kept").unwrap().is_some());
        assert!(
            read.get_doc("Note", "lost").unwrap().is_none(),
            "the panicked batch was not committed"
        );
    }

    #[test]
    fn creating_a_store_removes_only_abandoned_temporary_files() {
        let dir = tempfile::tempdir().unwrap();
        let abandoned = dir.path().join(".s.redb.creating-1-0");
        let recent = dir.path().join(".s.redb.creating-2-0");
        for file in [&abandoned, &recent] {
            std::fs::write(file, b"half a header").unwrap();
        }
        std::fs::File::options()
            .write(true)
            .open(&abandoned)
            .unwrap()
            .set_modified(SystemTime::now() - Duration::from_secs(120))
            .unwrap();
        let path = dir.path().join("s.redb");
        drop(
            Store::open(
                &path,
                OpenOptions {
                    shared: false,
                    lock_timeout: Duration::ZERO,
                },
            )
            .unwrap(),
        );
        assert!(!abandoned.exists(), "an abandoned creation is removed");
        assert!(recent.exists(), "a creation that may be live is kept");
        let left: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(
            left.len(),
            2,
            "the store and the recent file only: {left:?}"
        );
        // A second open finds the store and creates nothing.
        drop(
            Store::open(
                &path,
                OpenOptions {
                    shared: false,
                    lock_timeout: Duration::ZERO,
                },
            )
            .unwrap(),
        );
    }

    #[test]
    fn a_record_reads_back_as_its_run_with_unset_keys_left_out_of_storage() {
        let bare = crate::run::blank_run(crate::RunStatus::Completed);
        let record = Record::new(&bare, None::<&Value>);
        assert_eq!(record.run().unwrap(), bare);
        let text = String::from_utf8(record.bytes.to_vec()).unwrap();
        for left_out in ["null", "childRunIds", "options", "input", "output"] {
            assert!(!text.contains(left_out), "{left_out} is stored: {text}");
        }

        let full = Run {
            operation: Some("select".into()),
            status: crate::RunStatus::Failed,
            doctype: Some("Item".into()),
            from: Some("Item".into()),
            into: Some("Other".into()),
            template: Some("T".into()),
            input: serde_json::json!({"where": {"name": "a"}, "none": null}),
            output: serde_json::json!([1, null]),
            success: false,
            error: Some(crate::RunError {
                code: crate::ErrorCode::NotFound,
                message: "gone".into(),
                details: serde_json::json!({"name": "a"}),
            }),
            parent_run_id: Some("01J00000000000000000000001".into()),
            child_run_ids: vec!["01J00000000000000000000002".into()],
            owner: Some("ann".into()),
            agent: Some("bot".into()),
            flow_type: Some("batch-job".into()),
            flow_id: Some("nightly".into()),
            step_id: Some("s1".into()),
            options: crate::RunOptions {
                timeout_ms: Some(5),
                ..Default::default()
            },
            ..crate::run::blank_run(crate::RunStatus::Completed)
        };
        let record = Record::new(&full, Some(&full.output));
        assert_eq!(record.run().unwrap(), full);
        assert_eq!(
            record.keys(),
            run_keys(&full),
            "the keys a list filters by are the run's"
        );
        let compact = serde_json::json!({"names": ["a"]});
        let stored = Record::new(&full, Some(&compact)).run().unwrap();
        assert_eq!(stored.output, compact, "the stored output is the one given");
    }
}
