//! The one way audit entries leave the audit table: archived as a segment behind a
//! checkpoint. The oldest live entries (at most [`MAX_SEGMENT`]) are written to
//! `audit-<from>-<to>.jsonl.gz` (see `crate::archive`) and synced; then, in this write
//! transaction, they are removed, the store fact [`START`] names the first live entry and
//! the hash it chains to, and a `checkpoint` entry recording the segment (its range, its
//! last hash, the file's name and SHA-256) is appended to the trail. A crash before the
//! commit leaves the trail whole (the file is written again by the next attempt).

use super::WriteTables;
use crate::archive::{self, ArchivedSegment};
use crate::error::{Error, Result};
use redb::ReadableTable;
use serde_json::{Map, Value, json};
use std::path::Path;

/// The most entries one segment (one transaction) archives.
pub(crate) const MAX_SEGMENT: usize = 50_000;

/// The store fact naming the first live entry and the hash it chains to, once entries were
/// archived: `{"seq": N, "prevHash": "…"}`.
pub(crate) const START: &str = "audit_start";

/// Which entries a segment may take, oldest first: it stops at the first one that fails.
pub(crate) struct SegmentCut<'a> {
    /// Only entries with a lower sequence number.
    pub before_seq: Option<u64>,
    /// Only entries written before this RFC 3339 instant.
    pub before_time: Option<&'a str>,
    /// Entries a legal hold covers (the segment stops before the first).
    pub held: &'a dyn Fn(&Map<String, Value>) -> bool,
    /// Where the archive goes.
    pub dir: &'a Path,
    /// The checkpoint entry's timestamp.
    pub now: &'a str,
}

impl WriteTables<'_> {
    /// Archive the next segment `cut` allows (see the module's documentation); `None` when
    /// no entry may go.
    pub(in crate::store) fn archive_audit_segment(
        &mut self,
        cut: &SegmentCut<'_>,
    ) -> Result<Option<ArchivedSegment>> {
        let mut lines: Vec<Vec<u8>> = Vec::new();
        let mut from = None;
        let mut from_prev = String::new();
        let mut last = None;
        for entry in self.audit.iter()? {
            let (seq, bytes) = entry?;
            let (seq, bytes) = (seq.value(), bytes.value());
            if lines.len() >= MAX_SEGMENT || cut.before_seq.is_some_and(|before| seq >= before) {
                break;
            }
            let parsed: Map<String, Value> = serde_json::from_slice(bytes)
                .map_err(|e| Error::Storage(format!("audit entry {seq} is not valid JSON: {e}")))?;
            let text = |key: &str| parsed.get(key).and_then(Value::as_str).unwrap_or_default();
            if cut
                .before_time
                .is_some_and(|before| text("timestamp") >= before)
                || (cut.held)(&parsed)
            {
                break;
            }
            if from.is_none() {
                from = Some(seq);
                from_prev = text("prevHash").to_string();
            }
            last = Some((seq, text("hash").to_string()));
            lines.push(bytes.to_vec());
        }
        let (Some(from), Some((to, last_hash))) = (from, last) else {
            return Ok(None);
        };
        let name = format!("audit-{from}-{to}.jsonl.gz");
        let header = archive::header(
            "audit",
            Map::from_iter([
                ("fromSeq".to_string(), json!(from)),
                ("toSeq".to_string(), json!(to)),
                ("prevHash".to_string(), json!(from_prev)),
            ]),
        );
        forget_uncommitted(cut.dir, from);
        let refs: Vec<&[u8]> = lines.iter().map(Vec::as_slice).collect();
        let sha256 = archive::write_whole(cut.dir, &name, &header, &refs)?;
        // The trail's tail, known before its entries may go (the checkpoint chains to it).
        if self.trail.last.is_none() {
            let (seq, bytes) = self.last_audit()?.expect("the segment's entries exist");
            self.trail.last = Some((seq, crate::audit::stored_hash(seq, &bytes)?));
        }
        for seq in from..=to {
            self.audit.remove(seq).map_err(super::grown)?;
            self.logged(super::LoggedTable::Audit, &seq.to_be_bytes(), None);
        }
        self.recorded = true;
        let start = json!({"seq": to + 1, "prevHash": last_hash});
        self.set_meta(START, start.to_string().as_bytes())?;
        let segment = ArchivedSegment {
            file: name,
            from_seq: from,
            to_seq: to,
            prev_hash: from_prev,
            last_hash,
            sha256,
        };
        crate::audit::append(self, &segment.checkpoint(), cut.now)?;
        Ok(Some(segment))
    }
}

/// Remove the archives of segments starting at `from` that an earlier attempt wrote but
/// never committed (a crash between the file and the transaction): `from` is the first live
/// entry, so no committed segment starts there.
fn forget_uncommitted(dir: &Path, from: u64) {
    let prefix = format!("audit-{from}-");
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with(&prefix)
            && (name.ends_with(".jsonl.gz") || name.ends_with(".jsonl.gz.partial"))
        {
            tracing::warn!("removing {name}: an audit archive whose segment never committed");
            let _ = std::fs::remove_file(entry.path());
        }
    }
}
