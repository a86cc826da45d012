//! Verification of the trail: walk the live chain from its start (the genesis, or the
//! checkpoint of the last archived segment), check every entry ([`check_entry`], which an
//! archived segment's check shares) and that the trail ends where its head says.

use super::{GENESIS, HEAD, chain_hash, payload};
use crate::doc::Doc;
use crate::error::{Error, Result};
use crate::store::Snapshot;
use serde::Serialize;
use serde_json::{Map, Value, json};

/// The most redacted entries a report lists (all are counted).
pub const MAX_LISTED_REDACTED: usize = 1000;

/// What `coworker audit verify` reports.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AuditReport {
    /// Entries checked.
    pub entries: u64,
    /// Entries archived behind a checkpoint before the first live one (proved by the
    /// checkpoint; each archive given to `audit verify --archive` is checked in `archives`).
    /// Left out of the JSON while none are.
    #[serde(skip_serializing_if = "is_zero")]
    pub archived: u64,
    /// The audit archives checked, if any were given.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub archives: Vec<crate::archive::ArchiveCheck>,
    /// The first broken link, if any: the entry's sequence number and why.
    pub broken: Option<BrokenLink>,
    /// Entries with redacted payload parts (erasure): they verify through the digests kept
    /// in place of the parts.
    pub redacted: u64,
    /// The sequence numbers of redacted entries, the first [`MAX_LISTED_REDACTED`] of them.
    pub redacted_seqs: Vec<u64>,
    /// Entries written in format 1 (before salted payload digests): they verify, but
    /// cannot be redacted without breaking the chain.
    pub old_format_entries: u64,
}

/// Where and why the chain breaks.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct BrokenLink {
    /// The sequence number of the first entry that does not check out.
    pub seq: u64,
    /// Why.
    pub reason: String,
}

/// Walk the chain from the first entry; stop at the first broken link.
pub(crate) fn verify(read: &impl Snapshot) -> Result<AuditReport> {
    verify_walk(read).map(|(report, _)| report)
}

/// [`verify`], and the checkpoints of archived segments the live trail holds. Where
/// entries were archived ([`crate::archive`]), the walk starts at the first live entry, from
/// the hash the store fact `audit_start` names, which the last checkpoint must record.
pub(crate) fn verify_walk(
    read: &impl Snapshot,
) -> Result<(AuditReport, Vec<crate::archive::ArchivedSegment>)> {
    let (mut expected_seq, mut expected_prev) = match read.meta(crate::store::AUDIT_START)? {
        Some(bytes) => {
            let start: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            (
                start.get("seq").and_then(Value::as_u64).unwrap_or(1),
                start
                    .get("prevHash")
                    .and_then(Value::as_str)
                    .unwrap_or(GENESIS)
                    .to_string(),
            )
        }
        None => (1, GENESIS.to_string()),
    };
    let start = (expected_seq, expected_prev.clone());
    let mut checkpoints = Vec::new();
    let mut entries = 0;
    let mut broken = None;
    let (mut redacted, mut redacted_seqs, mut old_format_entries) = (0, Vec::new(), 0);
    let outcome = read.audit_entries(&mut |seq, bytes| {
        if broken.is_some() {
            return Ok(());
        }
        entries += 1;
        let mut fail = |reason: String| broken = Some(BrokenLink { seq, reason });
        if seq != expected_seq {
            fail(format!(
                "expected entry {expected_seq} next, found {seq} (an entry is missing)"
            ));
            return Ok(());
        }
        expected_seq += 1;
        match checked(seq, &expected_prev, bytes)? {
            Ok((hash, format)) => {
                expected_prev = hash;
                match format {
                    Format::Old => old_format_entries += 1,
                    Format::Current { redacted: 0 } => {}
                    Format::Current { .. } => {
                        redacted += 1;
                        if redacted_seqs.len() < MAX_LISTED_REDACTED {
                            redacted_seqs.push(seq);
                        }
                    }
                }
            }
            Err(reason) => fail(reason),
        }
        if contains(bytes, b"\"checkpoint\"")
            && let Ok(entry) = serde_json::from_slice::<Map<String, Value>>(bytes)
            && let Some(segment) = crate::archive::ArchivedSegment::of_checkpoint(&entry)
        {
            checkpoints.push(segment);
        }
        Ok(())
    });
    if outcome.is_ok() && broken.is_none() && start.0 > 1 {
        // Entries before the first live one were archived: the last checkpoint vouches.
        let vouched = checkpoints
            .iter()
            .any(|c| c.to_seq + 1 == start.0 && c.last_hash == start.1);
        if !vouched {
            broken = Some(BrokenLink {
                seq: start.0,
                reason: format!(
                    "the trail starts at entry {} but no checkpoint records the segment before it: entries were removed",
                    start.0
                ),
            });
        }
    }
    if outcome.is_ok() && broken.is_none() {
        broken = check_head(read, expected_seq - 1, &expected_prev)?;
    }
    let archived = start.0 - 1;
    let report = |broken| AuditReport {
        entries,
        archived,
        archives: Vec::new(),
        broken,
        redacted,
        redacted_seqs,
        old_format_entries,
    };
    let report = match outcome {
        Ok(()) => report(broken),
        // A store whose pages no longer check out is a broken chain too.
        Err(Error::Storage(cause)) => report(Some(BrokenLink {
            seq: expected_seq,
            reason: format!("the store cannot read the trail: {cause}"),
        })),
        Err(other) => return Err(other),
    };
    Ok((report, checkpoints))
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// Whether `needle` occurs in `bytes`.
fn contains(bytes: &[u8], needle: &[u8]) -> bool {
    bytes.windows(needle.len()).any(|w| w == needle)
}

/// Check one stored entry against the hash of the entry before it: `Ok(hash)` is the
/// entry's own hash (the next entry's expected `prevHash`), `Err(reason)` says why the link
/// breaks. Every verifier (the live trail, an archived segment) checks entries here.
pub(crate) fn check_entry(
    seq: u64,
    expected_prev: &str,
    bytes: &[u8],
) -> Result<std::result::Result<String, String>> {
    Ok(checked(seq, expected_prev, bytes)?.map(|(hash, _)| hash))
}

/// The format an entry that checks out was written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Format {
    /// Format 1: the hash covers the entry's whole text.
    Old,
    /// Format 2: payload parts under salted digests, `redacted` of them redacted.
    Current { redacted: u32 },
}

/// [`check_entry`], telling which format the entry is in.
pub(super) fn checked(
    seq: u64,
    expected_prev: &str,
    bytes: &[u8],
) -> Result<std::result::Result<(String, Format), String>> {
    let mut entry: Doc = match serde_json::from_slice(bytes) {
        Ok(entry) => entry,
        Err(e) => {
            return Ok(Err(format!(
                "the entry is not valid JSON ({e}): it was altered"
            )));
        }
    };
    let stored_hash = entry
        .remove("hash")
        .and_then(|h| h.as_str().map(str::to_string));
    let prev = entry
        .get("prevHash")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    if prev != expected_prev {
        return Ok(Err(format!(
            "its prevHash {prev} is not the previous entry's hash {expected_prev}"
        )));
    }
    if entry.get("seq") != Some(&json!(seq)) {
        return Ok(Err("its seq field does not match its position".into()));
    }
    let (text, format) = if payload::is_format2(&entry) {
        match payload::hash_view(entry) {
            Ok((view, redacted)) => (
                serde_json::to_vec(&view).map_err(|e| Error::internal(e.to_string()))?,
                Format::Current { redacted },
            ),
            Err(reason) => return Ok(Err(reason)),
        }
    } else {
        let text = serde_json::to_vec(&entry).map_err(|e| Error::internal(e.to_string()))?;
        (text, Format::Old)
    };
    let computed = chain_hash(&prev, &text);
    Ok(match stored_hash {
        Some(hash) if hash == computed => Ok((hash, format)),
        Some(hash) => Err(format!(
            "its content does not match its hash (stored {hash}, computed {computed}): it was altered"
        )),
        None => Err("it has no hash".into()),
    })
}

/// Does the trail end where its head says it does?
fn check_head(read: &impl Snapshot, last_seq: u64, last_hash: &str) -> Result<Option<BrokenLink>> {
    let Some(bytes) = read.meta(HEAD)? else {
        return Ok((last_seq > 0).then(|| BrokenLink {
            seq: last_seq,
            reason: "the trail has entries but no head record: it was altered".into(),
        }));
    };
    let head: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    let head_seq = head.get("seq").and_then(Value::as_u64).unwrap_or(0);
    let head_hash = head.get("hash").and_then(Value::as_str).unwrap_or_default();
    if head_seq != last_seq {
        return Ok(Some(BrokenLink {
            seq: last_seq + 1,
            reason: format!(
                "the trail ends at entry {last_seq} but its head names entry {head_seq}: entries were removed"
            ),
        }));
    }
    if head_hash != last_hash {
        return Ok(Some(BrokenLink {
            seq: last_seq,
            reason: "the last entry's hash is not the one the head records: it was altered".into(),
        }));
    }
    Ok(None)
}
