//! Archived audit segments: the checkpoint entry that stands for one in the trail, and the
//! check of an archive file against its checkpoint (`coworker audit verify --archive FILE`).
//!
//! A segment file `audit-<from>-<to>.jsonl.gz` holds the header `{"format":
//! "coworker-archive","version":1,"kind":"audit","fromSeq":F,"toSeq":T,"prevHash":P}` and
//! entries F..=T exactly as the trail stored them. Its checkpoint entry (action
//! `checkpoint`) records `fromSeq`, `toSeq`, `fromPrevHash` (what entry F chains to),
//! `lastHash` (entry T's hash: what the next entry chains to), `archive` (the file's name)
//! and `archiveSha256` (the file's bytes).

use super::{Lines, read_bytes};
use crate::audit::check_entry;
use crate::audit::sha256_hex;
use crate::error::{Error, Result};
use serde::Serialize;
use serde_json::{Map, Value, json};
use std::path::Path;

/// One segment archived: what its checkpoint records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ArchivedSegment {
    /// The archive's file name.
    pub file: String,
    /// The first entry archived.
    pub from_seq: u64,
    /// The last entry archived.
    pub to_seq: u64,
    /// The hash the first entry chains to.
    pub prev_hash: String,
    /// The last entry's hash.
    pub last_hash: String,
    /// SHA-256 of the archive file.
    pub sha256: String,
}

impl ArchivedSegment {
    /// The checkpoint entry standing for this segment in the trail.
    pub(crate) fn checkpoint(&self) -> Map<String, Value> {
        Map::from_iter([
            ("action".to_string(), json!("checkpoint")),
            ("fromSeq".to_string(), json!(self.from_seq)),
            ("toSeq".to_string(), json!(self.to_seq)),
            ("fromPrevHash".to_string(), json!(self.prev_hash)),
            ("lastHash".to_string(), json!(self.last_hash)),
            ("archive".to_string(), json!(self.file)),
            ("archiveSha256".to_string(), json!(self.sha256)),
        ])
    }

    /// The segment a checkpoint entry records (`None`: the entry is no checkpoint).
    pub(crate) fn of_checkpoint(entry: &Map<String, Value>) -> Option<ArchivedSegment> {
        if entry.get("action")? != "checkpoint" {
            return None;
        }
        let text = |key: &str| entry.get(key).and_then(Value::as_str).map(str::to_string);
        let number = |key: &str| entry.get(key).and_then(Value::as_u64);
        Some(ArchivedSegment {
            file: text("archive")?,
            from_seq: number("fromSeq")?,
            to_seq: number("toSeq")?,
            prev_hash: text("fromPrevHash")?,
            last_hash: text("lastHash")?,
            sha256: text("archiveSha256")?,
        })
    }
}

/// What [`crate::Engine::archive_audit`] did: the segments written, oldest first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditArchiveReport {
    /// The directory the archives went to.
    pub dir: String,
    /// Entries archived.
    pub archived: u64,
    /// One per segment (one transaction each, at most 50,000 entries).
    pub segments: Vec<ArchivedSegment>,
}

/// What checking one audit archive found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ArchiveCheck {
    /// The file checked.
    pub file: String,
    /// The entries it holds.
    pub entries: u64,
    /// Why it does not prove its segment (`None`: it does).
    pub problem: Option<String>,
}

/// An audit archive read once: its bytes (for their SHA-256) and its lines.
pub(crate) struct AuditArchive {
    bytes: Vec<u8>,
    pub(crate) lines: Lines,
}

impl AuditArchive {
    /// Read the audit archive at `path` (BAD_REQUEST when it cannot be read or is none).
    pub(crate) fn read(path: &Path) -> Result<AuditArchive> {
        let bytes = std::fs::read(path)
            .map_err(|e| Error::bad_request(format!("cannot read {}: {e}", path.display())))?;
        let lines = read_bytes(path, &bytes, "audit")?;
        Ok(AuditArchive { bytes, lines })
    }
}

/// Check the audit archive read from `path`: its entries chain from the hash its header
/// names, and a checkpoint among `checkpoints` (from the live trail or other archives)
/// records its name, range, first and last hash and SHA-256.
pub(crate) fn check_archive(
    path: &Path,
    archive: &AuditArchive,
    checkpoints: &[ArchivedSegment],
) -> Result<ArchiveCheck> {
    let (bytes, lines) = (&archive.bytes, &archive.lines);
    let file = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut check = ArchiveCheck {
        file: file.clone(),
        entries: lines.lines.len() as u64,
        problem: None,
    };
    let number = |key: &str| lines.header.get(key).and_then(Value::as_u64).unwrap_or(0);
    let from = number("fromSeq");
    let mut prev = lines
        .header
        .get("prevHash")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let first_prev = prev.clone();
    for (at, line) in lines.lines.iter().enumerate() {
        let seq = from + at as u64;
        match check_entry(seq, &prev, line)? {
            Ok(hash) => prev = hash,
            Err(reason) => {
                check.problem = Some(format!("entry {seq}: {reason}"));
                return Ok(check);
            }
        }
    }
    let to = from + lines.lines.len() as u64 - u64::from(!lines.lines.is_empty());
    let Some(checkpoint) = checkpoints.iter().find(|c| c.file == file) else {
        check.problem = Some(format!(
            "no checkpoint in the trail (or the archives given) names {file}: not an archive of this trail, or one whose segment never committed (its entries are still live)"
        ));
        return Ok(check);
    };
    let sha256 = sha256_hex(bytes);
    check.problem = if (checkpoint.from_seq, checkpoint.to_seq) != (from, to) {
        Some(format!(
            "it holds entries {from}..{to}, its checkpoint records {}..{}",
            checkpoint.from_seq, checkpoint.to_seq
        ))
    } else if checkpoint.prev_hash != first_prev || checkpoint.last_hash != prev {
        Some("its first or last hash is not the one its checkpoint records".into())
    } else if checkpoint.sha256 != sha256 {
        Some(format!(
            "its SHA-256 {sha256} is not the {} its checkpoint records: the file was changed",
            checkpoint.sha256
        ))
    } else {
        None
    };
    Ok(check)
}
