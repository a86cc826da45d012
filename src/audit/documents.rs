//! Documents under the chain: every audit entry that writes a document carries the digest of
//! the document's bytes as the docs table stores them (`docDigest`), and a delete entry the
//! deleted document (`snapshot`), so `verify --documents` can check every current document
//! against its last entry and `restore` can bring a deleted one back.
//!
//! The check is streamed. One pass walks the trail newest first and settles each document
//! at the first (so, last-written) entry that names it, remembering only a 128-bit
//! fingerprint of `(doctype, name)` per settled document (a set, about 32 bytes a name in
//! memory, whatever the names' lengths); a second pass walks every stored document and
//! reports those no entry settled. No entry and no document is held beyond its visit. This
//! module never changes how entries are hashed (the chain's code in `audit.rs` does).

use super::{AuditReport, verify};
use crate::doc::Doc;
use crate::error::Result;
use crate::store::{Snapshot, View};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::borrow::Cow;
use std::collections::HashSet;
use std::hash::{Hash, Hasher};

/// The entry key holding the digest of the document an entry wrote.
pub(crate) const DOC_DIGEST: &str = "docDigest";
/// The delete entry's key holding the deleted document as stored.
pub(crate) const SNAPSHOT: &str = "snapshot";
/// The key of a restore's create entry naming the delete entry it restored from.
pub(crate) const RESTORED_FROM: &str = "restoredFrom";

/// The most mismatches a report lists (all are counted).
pub const MAX_LISTED_MISMATCHES: usize = 1000;

/// The actions that wrote or removed a document: their entry settles it (entries written
/// before document digests carry none, and are counted as unverifiable).
const DOCUMENT_ACTIONS: [&str; 7] = [
    "create", "update", "submit", "cancel", "amend", "delete", "erase",
];

/// Hex SHA-256 of a document's bytes exactly as the docs table stores them.
pub(crate) fn document_digest(stored: &[u8]) -> String {
    super::sha256_hex(stored)
}

/// What `coworker audit verify --documents` reports: the chain as `audit verify` does, and
/// every current document against the digest its last entry records.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DocumentReport {
    /// The hash chain's check (as [`Engine::verify_audit`](crate::Engine::verify_audit)).
    pub chain: AuditReport,
    /// Documents stored now.
    pub documents: u64,
    /// Documents whose bytes match the digest of their last entry.
    pub verified: u64,
    /// Documents with no digest to check: their last entry was written before document
    /// digests, or they are seeds (schemas, built-in operations) written by another
    /// version of the engine (a store this version has not yet opened for writing).
    pub unverifiable: u64,
    /// Documents the engine seeds (schemas, built-in operations) that no entry names and
    /// that equal this version's seed.
    pub seeded: u64,
    /// How many mismatches there are.
    pub mismatches: u64,
    /// The mismatches, the first [`MAX_LISTED_MISMATCHES`] of them.
    pub listed: Vec<DocumentMismatch>,
}

impl DocumentReport {
    /// Whether the chain holds and every document matches its last entry.
    pub fn ok(&self) -> bool {
        self.chain.broken.is_none() && self.mismatches == 0
    }
}

/// A document that does not match its last entry.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DocumentMismatch {
    /// The document's doctype.
    pub doctype: String,
    /// The document's name.
    pub name: String,
    /// The last entry naming the document (`None`: no entry names it).
    pub seq: Option<u64>,
    /// What does not match.
    pub problem: Problem,
    /// Why, in words.
    pub reason: String,
}

/// What does not match between a document and its last entry.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub enum Problem {
    /// The stored bytes' digest is not the one the entry records.
    DigestDiffers,
    /// No entry names the document.
    NoEntry,
    /// The last entry deleted the document, yet it exists.
    DeletedButExists,
    /// The last entry wrote the document, yet it does not exist.
    Missing,
}

/// The fields of an entry the document check reads (every other key is skipped unparsed).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct EntryRef<'a> {
    #[serde(borrow, default)]
    action: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    ref_doctype: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    ref_name: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    doc_digest: Option<Cow<'a, str>>,
}

/// A 128-bit fingerprint of `(doctype, name)`: two keyed SipHashes (a collision between
/// two documents' fingerprints, about 2^-128 a pair, would hide one of them).
fn fingerprint(doctype: &str, name: &str) -> u128 {
    let half = |key: u8| {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        (key, doctype, name).hash(&mut hasher);
        hasher.finish()
    };
    (u128::from(half(0)) << 64) | u128::from(half(1))
}

/// A seeded document of this version, by doctype and name (`None`: not a seed).
pub(crate) type SeedOf<'a> = &'a dyn Fn(&str, &str) -> Option<Doc>;

/// Check the chain, then every current document against its last entry.
pub(crate) fn verify_documents(
    read: &impl Snapshot,
    seed_of: SeedOf<'_>,
) -> Result<DocumentReport> {
    let mut report = DocumentReport {
        chain: verify(read)?,
        documents: 0,
        verified: 0,
        unverifiable: 0,
        seeded: 0,
        mismatches: 0,
        listed: Vec::new(),
    };
    let mut settled: HashSet<u128> = HashSet::new();
    read.audit_newest_first(&mut |seq, bytes| {
        // An entry that does not parse is the chain's to report.
        let Ok(entry) = serde_json::from_slice::<EntryRef<'_>>(bytes) else {
            return Ok(true);
        };
        let (Some(doctype), Some(name)) = (&entry.ref_doctype, &entry.ref_name) else {
            return Ok(true);
        };
        let action = entry.action.as_deref().unwrap_or_default();
        if entry.doc_digest.is_none() && !DOCUMENT_ACTIONS.contains(&action) {
            return Ok(true); // a denial, a correction, ...: it wrote no document
        }
        if !settled.insert(fingerprint(doctype, name)) {
            return Ok(true); // a later entry settled it
        }
        let stored = read.get_doc_bytes(doctype, name)?;
        let problem = match (&entry.doc_digest, stored) {
            (None, Some(_)) if action == "delete" => Some((
                Problem::DeletedButExists,
                format!("its last entry ({seq}) deleted it, yet it exists: it was put back outside the engine"),
            )),
            (None, None) if action == "delete" => None,
            (_, None) => Some((
                Problem::Missing,
                format!("its last entry ({seq}, {action}) wrote it, yet it does not exist: it was removed outside the engine"),
            )),
            (None, Some(_)) => {
                report.unverifiable += 1;
                None
            }
            (Some(recorded), Some(stored)) => {
                let digest = document_digest(&stored);
                if digest == *recorded {
                    report.verified += 1;
                    None
                } else {
                    Some((
                        Problem::DigestDiffers,
                        format!("its bytes' digest {digest} is not the {recorded} its last entry ({seq}, {action}) records: it was changed outside the engine"),
                    ))
                }
            }
        };
        if let Some((problem, reason)) = problem {
            report.mismatch(doctype, name, Some(seq), problem, reason);
        }
        Ok(true)
    })?;
    read.all_docs(&mut |doctype, name, bytes| {
        report.documents += 1;
        if settled.contains(&fingerprint(doctype, name)) {
            return Ok(());
        }
        match seed_of(doctype, name) {
            Some(seed) if serde_json::from_slice::<Doc>(bytes).is_ok_and(|doc| doc == seed) => {
                report.seeded += 1;
            }
            // Seeded by another version of the engine (or changed behind its back: the
            // engine rewrites seeded schemas at every open for writing).
            Some(_) => report.unverifiable += 1,
            // Its entries may be in an archived segment (behind a checkpoint).
            None if report.chain.archived > 0 => report.unverifiable += 1,
            None => report.mismatch(
                doctype,
                name,
                None,
                Problem::NoEntry,
                "no audit entry records this document: it was written outside the engine".into(),
            ),
        }
        Ok(())
    })?;
    Ok(report)
}

impl DocumentReport {
    fn mismatch(
        &mut self,
        doctype: &str,
        name: &str,
        seq: Option<u64>,
        problem: Problem,
        reason: String,
    ) {
        self.mismatches += 1;
        if self.listed.len() < MAX_LISTED_MISMATCHES {
            self.listed.push(DocumentMismatch {
                doctype: doctype.to_string(),
                name: name.to_string(),
                seq,
                problem,
                reason,
            });
        }
    }
}

/// The last entry naming document `name` of `doctype`, found walking the trail newest
/// first: its seq, its action and its snapshot (a delete's), or `None` if no entry names
/// it. (The walk stops at that entry: its cost grows with the entries written since.)
pub(crate) fn last_entry_of(
    view: &dyn View,
    doctype: &str,
    name: &str,
) -> Result<Option<(u64, String, Option<Value>)>> {
    let mut found = None;
    view.audit_newest_first(&mut |seq, bytes| {
        let Ok(entry) = serde_json::from_slice::<EntryRef<'_>>(bytes) else {
            return Ok(true);
        };
        let action = entry.action.as_deref().unwrap_or_default();
        let names_it = entry.ref_doctype.as_deref() == Some(doctype)
            && entry.ref_name.as_deref() == Some(name)
            && (entry.doc_digest.is_some() || DOCUMENT_ACTIONS.contains(&action));
        if !names_it {
            return Ok(true);
        }
        let snapshot = match action {
            "delete" => serde_json::from_slice::<Doc>(bytes)
                .ok()
                .and_then(|mut whole| whole.remove(SNAPSHOT)),
            _ => None,
        };
        found = Some((seq, action.to_string(), snapshot));
        Ok(false)
    })?;
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_digest_is_the_hex_sha256_of_the_stored_bytes() {
        assert_eq!(
            document_digest(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(document_digest(br#"{"a":1}"#).len(), 64);
        assert_ne!(
            document_digest(br#"{"a":1}"#),
            document_digest(br#"{"a":2}"#)
        );
    }

    #[test]
    fn fingerprints_tell_doctype_and_name_apart() {
        assert_ne!(fingerprint("ab", "c"), fingerprint("a", "bc"));
        assert_ne!(fingerprint("ToDo", "1"), fingerprint("ToDo", "2"));
        assert_eq!(fingerprint("ToDo", "1"), fingerprint("ToDo", "1"));
    }
}
