//! Bulk import: a stream of JSON lines, one document a line, created by one `create` run per
//! batch of consecutive documents of one doctype ([`Engine::import_jsonl`]).
//!
//! Memory stays bounded by one batch whatever the input's size: a line is read, parsed and
//! queued, and a batch is handed to a run and dropped. Each run is an ordinary create (owner,
//! access control, validation, run record, audit), so a batch commits whole or not at all,
//! and the import stops at the first batch that fails, saying which lines were committed.
//! This module never prints: progress goes to the caller's callback.

use super::Engine;
use crate::error::{Error, ErrorCode, Result};
use crate::run::{Run, RunOptions, RunRequest};
use serde_json::{Map, Value, json};
use std::io::{BufRead, Read};
use std::time::{Duration, Instant};

/// Documents per run unless [`ImportOptions::batch`] says otherwise.
pub const DEFAULT_IMPORT_BATCH: usize = 1000;

/// Room a batch leaves under `maxRequestBytes` for the rest of its request (operation,
/// target, owner, flow, `{"data": [...]}`): a line's text is never shorter than what the
/// limit counts of its document, so a batch of lines within the limit less this is a
/// request within the limit.
const REQUEST_OVERHEAD_BYTES: usize = 1024;

/// How [`Engine::import_jsonl`] reads its input and groups its runs.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    doctype: Option<String>,
    batch: usize,
    skip_lines: u64,
    dry_run: bool,
}

impl Default for ImportOptions {
    fn default() -> Self {
        ImportOptions {
            doctype: None,
            batch: DEFAULT_IMPORT_BATCH,
            skip_lines: 0,
            dry_run: false,
        }
    }
}

impl ImportOptions {
    /// Batches of [`DEFAULT_IMPORT_BATCH`] documents, each line naming its doctype.
    pub fn new() -> Self {
        Self::default()
    }

    /// Create every document as `doctype` (a line's own `doctype`, if any, must agree).
    pub fn doctype(mut self, doctype: impl Into<String>) -> Self {
        self.doctype = Some(doctype.into());
        self
    }

    /// At most `documents` documents per run (at least 1).
    pub fn batch(mut self, documents: usize) -> Self {
        self.batch = documents.max(1);
        self
    }

    /// Skip the first `lines` lines of the input (to resume after a failed batch).
    pub fn skip_lines(mut self, lines: u64) -> Self {
        self.skip_lines = lines;
        self
    }

    /// Validate every batch (as `options.dryRun` creates) and write no document.
    pub fn dry_run(mut self, dry_run: bool) -> Self {
        self.dry_run = dry_run;
        self
    }
}

/// How far an import has come, given to the progress callback after each batch.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ImportProgress {
    /// Documents committed so far (validated, in a dry run).
    pub documents: u64,
    /// Input lines consumed by those documents' batches, skipped lines included.
    pub lines: u64,
    /// Runs that succeeded so far.
    pub runs: u64,
    /// Time since the import started.
    pub elapsed: Duration,
}

/// The batch that stopped an import.
#[derive(Debug, Clone)]
pub struct ImportFailure {
    /// The failed create run, recorded like any run (`runs show` shows it).
    pub run: Run,
    /// The batch's first line (1-based, counted from the start of the input).
    pub first_line: u64,
    /// The batch's last line: the one that stopped it when a line could not be read.
    pub last_line: u64,
    /// The line at fault, when the error names one document of the batch.
    pub line: Option<u64>,
}

/// What an import did: its committed part and, if it stopped early, why.
#[derive(Debug, Clone)]
pub struct ImportReport {
    /// The id of the import's flow: every run of it carries `flowType: "import"` and this
    /// `flowId` (`coworker runs list --flow ID`).
    pub flow_id: String,
    /// Whether this was a dry run (nothing written).
    pub dry_run: bool,
    /// Where the import stopped, with what it had done.
    pub progress: ImportProgress,
    /// The batch that failed, if one did (nothing of it was written, nor after it).
    pub failed: Option<ImportFailure>,
}

impl ImportReport {
    /// Whether every line was imported.
    pub fn success(&self) -> bool {
        self.failed.is_none()
    }

    /// The report as JSON: `success`, `dryRun`, `documents`, `lines`, `runs`, `flowId`,
    /// `seconds`, and, when a batch failed, `failed {runId, firstLine, lastLine, line, error}`
    /// and `resume` (the `--skip-lines` that continues after the committed lines).
    pub fn to_value(&self) -> Value {
        let failed = self.failed.as_ref().map(|failure| {
            json!({
                "runId": failure.run.id,
                "firstLine": failure.first_line,
                "lastLine": failure.last_line,
                "line": failure.line,
                "error": failure.run.error,
            })
        });
        json!({
            "success": self.success(),
            "dryRun": self.dry_run,
            "documents": self.progress.documents,
            "lines": self.progress.lines,
            "runs": self.progress.runs,
            "flowId": self.flow_id,
            "seconds": self.progress.elapsed.as_secs_f64(),
            "failed": failed,
            "resume": self.failed.as_ref().map(|_| json!({"skipLines": self.progress.lines})),
        })
    }
}

/// The documents waiting to be created together, all of one doctype.
struct Batch {
    doctype: String,
    docs: Vec<Value>,
    /// The input line of each document, in order.
    lines: Vec<u64>,
    /// The documents' JSON text size, to keep the request under `maxRequestBytes`.
    bytes: usize,
}

impl Engine {
    /// Create the documents of a JSON-lines stream (one JSON object a line; empty lines are
    /// skipped), [`ImportOptions::batch`] consecutive documents of one doctype per `create`
    /// run; a line naming another doctype than the one before starts a new run. Each run is
    /// an ordinary create of this handle's owner, checked, validated, recorded and audited,
    /// with `flowType: "import"`. Memory is bounded by one batch, whatever the input's size.
    ///
    /// The import stops at the first batch that fails, writing nothing of it: a create that
    /// fails (validation, a name that exists, a denied owner), or a line that is not a JSON
    /// object or names no doctype (`BAD_REQUEST` naming its line) or is longer than
    /// `maxRequestBytes` (`LIMIT_EXCEEDED`), recorded as a failed run. The report says how
    /// many lines were committed; [`ImportOptions::skip_lines`] with that number resumes.
    /// `progress` is called after each successful run. `Err` only when the input cannot
    /// be read (or the store's limits cannot be).
    ///
    /// ```
    /// use coworker::{Engine, ImportOptions};
    /// let engine = Engine::in_memory().unwrap();
    /// let lines = "{\"name\": \"a\", \"status\": \"Open\"}\n\n{\"name\": \"b\"}\n";
    /// let report = engine
    ///     .import_jsonl(lines.as_bytes(), &ImportOptions::new().doctype("ToDo"), |_| {})
    ///     .unwrap();
    /// assert!(report.success());
    /// assert_eq!((report.progress.documents, report.progress.lines), (2, 3));
    ///
    /// let bad = "{\"name\": \"c\"}\n[1, 2]\n";
    /// let report = engine
    ///     .import_jsonl(bad.as_bytes(), &ImportOptions::new().doctype("ToDo"), |_| {})
    ///     .unwrap();
    /// let failure = report.failed.expect("line 2 is not an object");
    /// assert_eq!(failure.line, Some(2));
    /// assert_eq!(report.progress.documents, 0); // `c` was in the failed batch
    /// ```
    pub fn import_jsonl(
        &self,
        mut input: impl BufRead,
        options: &ImportOptions,
        mut progress: impl FnMut(&ImportProgress),
    ) -> Result<ImportReport> {
        let started = Instant::now();
        let max_request_bytes = self.core.size_limits_now()?.max_request_bytes;
        let mut report = ImportReport {
            flow_id: crate::clock::new_ulid().to_string(),
            dry_run: options.dry_run,
            progress: ImportProgress {
                documents: 0,
                lines: 0,
                runs: 0,
                elapsed: Duration::ZERO,
            },
            failed: None,
        };
        let mut line_number = 0u64;
        while line_number < options.skip_lines {
            if input
                .skip_until(b'\n')
                .map_err(|e| unreadable(line_number + 1, &e))?
                == 0
            {
                break;
            }
            line_number += 1;
        }
        report.progress.lines = line_number;
        let mut batch: Option<Batch> = None;
        let mut text = Vec::new();
        loop {
            text.clear();
            let read = (&mut input)
                .take(max_request_bytes as u64 + 1)
                .read_until(b'\n', &mut text)
                .map_err(|e| unreadable(line_number + 1, &e))?;
            if read == 0 {
                break;
            }
            line_number += 1;
            let parsed = match read_line(&text, line_number, max_request_bytes) {
                Ok(None) => continue,
                Ok(Some(doc)) => doc,
                Err(error) => {
                    let failed = self.refuse_line(error, &report);
                    report.failed = Some(ImportFailure {
                        run: failed,
                        first_line: batch.as_ref().map_or(line_number, |b| b.lines[0]),
                        last_line: line_number,
                        line: Some(line_number),
                    });
                    break;
                }
            };
            let doctype = match line_doctype(&parsed, options, line_number) {
                Ok(doctype) => doctype,
                Err(error) => {
                    let failed = self.refuse_line(error, &report);
                    report.failed = Some(ImportFailure {
                        run: failed,
                        first_line: batch.as_ref().map_or(line_number, |b| b.lines[0]),
                        last_line: line_number,
                        line: Some(line_number),
                    });
                    break;
                }
            };
            let full = batch.as_ref().is_some_and(|b| {
                b.doctype != doctype
                    || b.docs.len() >= options.batch
                    || b.bytes + text.len() + REQUEST_OVERHEAD_BYTES > max_request_bytes
            });
            if full && let Some(done) = batch.take() {
                if !self.commit_batch(done, options, &mut report, started) {
                    break;
                }
                progress(&report.progress);
            }
            let queued = batch.get_or_insert_with(|| Batch {
                doctype,
                docs: Vec::with_capacity(options.batch.min(DEFAULT_IMPORT_BATCH)),
                lines: Vec::with_capacity(options.batch.min(DEFAULT_IMPORT_BATCH)),
                bytes: 0,
            });
            queued.docs.push(Value::Object(parsed));
            queued.lines.push(line_number);
            queued.bytes += text.len() + 1;
        }
        if report.failed.is_none() {
            if let Some(done) = batch.take()
                && self.commit_batch(done, options, &mut report, started)
            {
                progress(&report.progress);
            }
            if report.failed.is_none() {
                // Empty lines at the end are consumed too.
                report.progress.lines = line_number;
            }
        }
        report.progress.elapsed = started.elapsed();
        Ok(report)
    }

    /// Create `batch` in one run; false (and `report.failed` set) when the run failed.
    fn commit_batch(
        &self,
        batch: Batch,
        options: &ImportOptions,
        report: &mut ImportReport,
        started: Instant,
    ) -> bool {
        let Batch {
            doctype,
            docs,
            lines,
            ..
        } = batch;
        let count = docs.len() as u64;
        let mut data = Map::with_capacity(1);
        data.insert("data".into(), Value::Array(docs));
        let run = self.run(
            RunRequest::new("create")
                .into_doctype(doctype)
                .input(Value::Object(data))
                .options(RunOptions {
                    dry_run: options.dry_run.then_some(true),
                    ..RunOptions::default()
                })
                .flow("import", report.flow_id.clone()),
        );
        if run.success {
            report.progress.documents += count;
            report.progress.lines = *lines.last().expect("a batch holds a document");
            report.progress.runs += 1;
            report.progress.elapsed = started.elapsed();
            return true;
        }
        let line = failing_line(&run, &lines);
        report.failed = Some(ImportFailure {
            run,
            first_line: lines[0],
            last_line: *lines.last().expect("a batch holds a document"),
            line,
        });
        false
    }

    /// Record the batch a bad line stopped as a failed create run.
    fn refuse_line(&self, error: Error, report: &ImportReport) -> Run {
        let mut partial = json!({"operation": "create", "flowType": "import",
            "flowId": report.flow_id});
        if let Some(owner) = &self.owner {
            partial["owner"] = json!(owner.as_ref());
        }
        self.reject_request(error, partial)
    }
}

/// One line as a document: `None` for an empty line.
fn read_line(
    text: &[u8],
    line: u64,
    max_request_bytes: usize,
) -> Result<Option<Map<String, Value>>> {
    if text.len() > max_request_bytes {
        return Err(Error::new(
            ErrorCode::LimitExceeded,
            format!(
                "line {line} is longer than the limit of {} (limits.maxRequestBytes)",
                crate::value::human_bytes(max_request_bytes)
            ),
        )
        .with_details(
            json!({"line": line, "limit": "maxRequestBytes", "max": max_request_bytes}),
        ));
    }
    if text.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    match serde_json::from_slice::<Value>(text) {
        Ok(Value::Object(doc)) => Ok(Some(doc)),
        Ok(other) => Err(Error::bad_request(format!(
            "line {line} is not a JSON object, got {}",
            crate::run::type_name(&other)
        ))
        .with_details(json!({"line": line}))),
        Err(e) => Err(Error::bad_request(format!("line {line} is not JSON: {e}"))
            .with_details(json!({"line": line}))),
    }
}

/// The doctype line `line`'s document is created as.
fn line_doctype(doc: &Map<String, Value>, options: &ImportOptions, line: u64) -> Result<String> {
    if let Some(doctype) = &options.doctype {
        return Ok(doctype.clone());
    }
    match doc.get("doctype") {
        Some(Value::String(doctype)) if !doctype.trim().is_empty() => Ok(doctype.clone()),
        _ => Err(Error::bad_request(format!(
            "line {line} names no doctype: give it a `doctype` field, or import with a doctype (--doctype)"
        ))
        .with_details(json!({"line": line}))),
    }
}

/// The line of the document a failed create names: by its index (`data[i]…` in the first
/// violation's path or the message), by its name (a conflict's `details.name`), or the only
/// line of a one-document batch.
fn failing_line(run: &Run, lines: &[u64]) -> Option<u64> {
    if let [only] = lines {
        return Some(*only);
    }
    let error = run.error.as_ref()?;
    if let Some(name) = error.details.get("name").and_then(Value::as_str) {
        let docs = run.input.get("data").and_then(Value::as_array)?;
        let index = docs
            .iter()
            .position(|doc| doc.get("name").and_then(Value::as_str) == Some(name))?;
        return lines.get(index).copied();
    }
    let path = error
        .details
        .as_array()
        .and_then(|violations| violations.first())
        .and_then(|first| first.get("path"))
        .and_then(Value::as_str)
        .unwrap_or(&error.message);
    let index = path.split("data[").nth(1)?.split(']').next()?;
    lines.get(index.parse::<usize>().ok()?).copied()
}

fn unreadable(line: u64, error: &std::io::Error) -> Error {
    Error::bad_request(format!("cannot read line {line} of the input: {error}"))
        .with_details(json!({"line": line}))
}
