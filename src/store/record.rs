//! Run records as the store keeps them: a finished run encoded once on its own thread
//! ([`Record`]), with unset keys left out, and read back as the run; the fields runs are
//! listed by ([`RunKeys`]) and the ones the run index holds.
//!
//! A record is written once and never replaced (erasure alone rewrites one, with the erased
//! values redacted: `WriteTx::redact_record`). This module must never decide which runs
//! are recorded or when: the pipeline does.

use crate::error::{Error, Result};
use crate::run::Run;
use serde_json::{Value, json};

/// The largest record-encoding buffer a thread keeps for the next record.
const MAX_KEPT_SCRATCH: usize = 64 * 1024;

/// Reads one indexed value off a run's record.
type RunField = fn(&Record) -> Option<&str>;

/// The run-index fields, with how each reads its value off a record when the run needs an
/// entry for it. Only what the run tree cannot answer is indexed: a chain's runs are its
/// root's tree and a run's children are listed in its record (`childRunIds`), and most runs
/// of a flow are its root's chain. Only the rare status is indexed: most runs complete, so
/// the completed ones are found by walking the runs table, which is in time order (see
/// [`status_indexed`]); stores written before keep their `completed` entries, unread.
/// So a typical run has no entry at all, and its commit leaves the run index untouched.
pub(super) const RUN_INDEX_FIELDS: [(&str, RunField); 3] = [
    ("flow", |r| {
        r.flow_id
            .as_deref()
            .filter(|flow| *flow != r.chain_id.as_str())
    }),
    ("owner", |r| r.owner.as_deref()),
    ("status", |r| {
        Some(r.status.as_str()).filter(|status| status_indexed(status))
    }),
];

/// Whether the run index lists the runs of `status` (`runs_where("status", ..)` answers
/// for it); the runs of any other status are found by walking the runs table.
pub(crate) fn status_indexed(status: &str) -> bool {
    status != crate::RunStatus::Completed.as_str()
}

fn parse_run(bytes: &[u8]) -> Result<Run> {
    serde_json::from_slice(bytes)
        .map_err(|e| Error::Storage(format!("a stored run is not valid JSON: {e}")))
}

/// Read back run `id`; an unreadable record is an error naming it.
pub(super) fn parse_run_named(id: &str, bytes: &[u8]) -> Result<Run> {
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
pub(super) fn parse_run_or_stub(id: &str, bytes: &[u8]) -> Run {
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
    pub(super) id: String,
    chain_id: String,
    parent_run_id: Option<String>,
    flow_id: Option<String>,
    owner: Option<String>,
    status: crate::RunStatus,
    pub(super) bytes: Box<[u8]>,
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
    /// failed tree whose records grew large (see `handler::RunLog`). The output says
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

    /// The listing keys of a stored run, without its bytes: what its run-index entries are
    /// made of (an unknown status reads as `failed`, which every status but `completed`
    /// indexes like).
    pub(super) fn listed(
        id: &str,
        chain_id: &str,
        parent_run_id: Option<&str>,
        flow_id: Option<&str>,
        owner: Option<&str>,
        status: &str,
    ) -> Record {
        let status = match status {
            "completed" => crate::RunStatus::Completed,
            "pending" => crate::RunStatus::Pending,
            "running" => crate::RunStatus::Running,
            _ => crate::RunStatus::Failed,
        };
        Record {
            id: id.to_string(),
            chain_id: chain_id.to_string(),
            parent_run_id: parent_run_id.map(str::to_string),
            flow_id: flow_id.map(str::to_string),
            owner: owner.map(str::to_string),
            status,
            bytes: Box::default(),
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

#[cfg(test)]
mod tests {
    use super::*;

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
