//! The audit trail: an append-only, hash-chained record of every change, every permission
//! denial and every validation failure.
//!
//! Each entry holds the hash of the one before it (SHA-256 over the previous hash and the
//! entry's own JSON), so changing, removing or reordering any stored entry breaks the chain
//! from that entry on; [`verify`] finds the first broken link. Entries are documents of
//! doctype `Audit Trail` to readers, but live in a table of their own that the store can
//! only append to: no update, no delete, through any path. A correction is a new entry that
//! names the one it corrects. The one exception is erasure ([`redact_entry`]): it replaces a
//! payload part by the digest the hash already covers, so the entry's hash never changes.
//!
//! Entries are written in format 2 (`"v":2`): payload parts are covered by salted digests so
//! erasure can redact them (the digests and redaction live in `payload`). Format-1 entries
//! still verify as they always did.
//!
//! Not split: about 600 lines of code (entries, the chain, `verify`, the redaction of one
//! entry) and 160 of unit tests; the chain's encoding and its verification must change
//! together.

use crate::doc::Doc;
use crate::error::{Error, ErrorCode, Result};
use crate::run::Run;
use crate::store::{Snapshot, WriteTx};
use serde::Serialize;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

mod documents;
mod payload;
pub(crate) use documents::{
    DOC_DIGEST, RESTORED_FROM, SNAPSHOT, document_digest, last_entry_of, verify_documents,
};
pub use documents::{DocumentMismatch, DocumentReport, MAX_LISTED_MISMATCHES, Problem};
pub(crate) use payload::{Redaction, redact, redacted_object};

/// The doctype whose documents are the audit trail's entries (the store keeps them in its
/// audit table, never with the documents: it is told so when it opens).
pub(crate) const AUDIT_TRAIL: &str = "Audit Trail";

/// The hash the first entry chains to.
const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What an entry records.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Action {
    Create,
    Update,
    Delete,
    /// A permission denial.
    Denied,
    /// A validation failure.
    Invalid,
    /// A correction of an earlier entry.
    Correction,
    /// A draft submitted (`docstatus` 0 → 1).
    Submit,
    /// A submitted document cancelled (`docstatus` 1 → 2).
    Cancel,
    /// A new draft amending a cancelled document (the entry names the new document).
    Amend,
    /// A document's fields erased (its new `docDigest`; never the values).
    Erase,
    /// An erasure request: who, why, what (never the values).
    Erasure,
}

impl Action {
    fn as_str(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Update => "update",
            Action::Delete => "delete",
            Action::Denied => "denied",
            Action::Invalid => "invalid",
            Action::Correction => "correction",
            Action::Submit => "submit",
            Action::Cancel => "cancel",
            Action::Amend => "amend",
            Action::Erase => "erase",
            Action::Erasure => "erasure",
        }
    }
}

/// An entry before it is chained: what happened, to what, in which run, by whom.
pub(crate) fn entry(
    action: Action,
    run: &Run,
    ref_doctype: Option<&str>,
    ref_name: Option<&str>,
) -> Map<String, Value> {
    let mut entry = Map::new();
    entry.insert("action".into(), json!(action.as_str()));
    entry.insert("refDoctype".into(), json!(ref_doctype));
    entry.insert("refName".into(), json!(ref_name));
    entry.insert("operation".into(), json!(run.operation));
    entry.insert("runId".into(), json!(run.id));
    entry.insert("owner".into(), json!(run.owner));
    entry.insert("agent".into(), json!(run.agent));
    entry
}

/// The entry of a run's denial or validation failure: the error's code and its field
/// errors — a validation failure's summary message and the run's input stay in the run
/// record alone (`runId` leads there), so an entry never holds a second copy of them.
pub(crate) fn failure(action: Action, run: &Run) -> Map<String, Value> {
    let mut entry = entry(action, run, run.doctype.as_deref(), None);
    let error = run.error.as_ref().map(|error| {
        let mut kept = Map::new();
        kept.insert("code".into(), json!(error.code));
        match (&error.details, action) {
            (details, Action::Invalid) if details.is_array() => {
                kept.insert("details".into(), details.clone());
            }
            (details, _) => {
                kept.insert("message".into(), json!(error.message));
                kept.insert("details".into(), details.clone());
            }
        }
        Value::Object(kept)
    });
    entry.insert("error".into(), error.unwrap_or(Value::Null));
    entry
}

/// The field-level difference between two versions of a document: `{field: {from, to}}`
/// (the engine's own bookkeeping of who modified it when is left out).
pub(crate) fn diff(before: &Doc, after: &Doc) -> Value {
    let mut changes = Map::new();
    let bookkeeping = ["modified", "modifiedBy", "modifiedByRun"];
    for (field, value) in after
        .iter()
        .filter(|(f, _)| !bookkeeping.contains(&f.as_str()))
    {
        if before.get(field) != Some(value) {
            changes.insert(
                field.clone(),
                json!({"from": before.get(field), "to": value}),
            );
        }
    }
    for (field, value) in before {
        if !after.contains_key(field) {
            changes.insert(field.clone(), json!({"from": value, "to": null}));
        }
    }
    Value::Object(changes)
}

/// SHA-256 over the previous hash and the entry's JSON text (without its `hash`), as hex.
fn chain_hash(prev: &str, entry_json: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut hasher = Sha256::new();
    hasher.update(prev.as_bytes());
    hasher.update(entry_json);
    let mut hex = String::with_capacity(64);
    for byte in hasher.finalize() {
        hex.push(HEX[usize::from(byte >> 4)] as char);
        hex.push(HEX[usize::from(byte & 0xf)] as char);
    }
    hex
}

/// The hash a stored entry carries (read without building the entry: every audited
/// transaction reads its last entry for it). Read as the entry would be: an object whose
/// last `hash` key counts, the first entry's parent when it has no string there.
pub(crate) fn stored_hash(seq: u64, bytes: &[u8]) -> Result<String> {
    let entry: HashOf = serde_json::from_slice(bytes)
        .map_err(|e| Error::Storage(format!("audit entry {seq} is not valid JSON: {e}")))?;
    Ok(match entry.0 {
        Some(Value::String(hash)) => hash,
        _ => GENESIS.to_string(),
    })
}

/// An entry's `hash` value, every other key skipped unparsed.
struct HashOf(Option<Value>);

/// Whether a key is `hash` (read without allocating it).
struct IsHash(bool);

impl<'de> serde::Deserialize<'de> for IsHash {
    fn deserialize<D: serde::Deserializer<'de>>(
        deserializer: D,
    ) -> std::result::Result<Self, D::Error> {
        struct Key;
        impl serde::de::Visitor<'_> for Key {
            type Value = IsHash;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a key")
            }
            fn visit_str<E: serde::de::Error>(self, key: &str) -> std::result::Result<IsHash, E> {
                Ok(IsHash(key == "hash"))
            }
        }
        deserializer.deserialize_str(Key)
    }
}

impl<'de> serde::Deserialize<'de> for HashOf {
    fn deserialize<D: serde::Deserializer<'de>>(
        deserializer: D,
    ) -> std::result::Result<Self, D::Error> {
        struct Entry;
        impl<'de> serde::de::Visitor<'de> for Entry {
            type Value = HashOf;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an audit entry (a JSON object)")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> std::result::Result<HashOf, A::Error> {
                let mut hash = None;
                while let Some(IsHash(is_hash)) = map.next_key()? {
                    if is_hash {
                        hash = Some(map.next_value()?);
                    } else {
                        map.next_value::<serde::de::IgnoredAny>()?;
                    }
                }
                Ok(HashOf(hash))
            }
        }
        deserializer.deserialize_map(Entry)
    }
}

/// Chain `entry` to the last one and append it in `tables`' transaction.
pub(crate) fn append(
    tables: &mut impl WriteTx,
    entry: &Map<String, Value>,
    timestamp: &str,
) -> Result<()> {
    chain(tables, &Body::Entry(entry), timestamp)
}

/// The keys [`entry`] gives every entry, in its order.
const RUN_ENTRY_KEYS: [&str; 7] = [
    "action",
    "refDoctype",
    "refName",
    "operation",
    "runId",
    "owner",
    "agent",
];

/// Chain and append the entry of `action` on document `ref_name` of `ref_doctype` in `run`,
/// with `extra`'s keys after the run's: the entry [`entry`] builds, extended by `extra`,
/// written without building it (every created, updated or deleted document has one).
pub(crate) fn append_for_run(
    tables: &mut impl WriteTx,
    action: Action,
    run: &Run,
    (ref_doctype, ref_name): (&str, &str),
    extra: Map<String, Value>,
    timestamp: &str,
) -> Result<()> {
    if extra
        .keys()
        .any(|key| RUN_ENTRY_KEYS.contains(&key.as_str()))
    {
        // An extra key that replaces one of the run's in place: built as that object.
        let mut whole = entry(action, run, Some(ref_doctype), Some(ref_name));
        whole.extend(extra);
        return append(tables, &whole, timestamp);
    }
    let body = Body::Run {
        action,
        run,
        ref_doctype,
        ref_name,
        extra: &extra,
    };
    chain(tables, &body, timestamp)
}

/// Chain `body` to the last entry and append it.
fn chain(tables: &mut impl WriteTx, body: &Body<'_>, timestamp: &str) -> Result<()> {
    let (seq, prev) = match tables.audit_tail().cloned() {
        Some((last, hash)) => (last + 1, hash),
        None => match tables.last_audit()? {
            Some((last, bytes)) => (last + 1, stored_hash(last, &bytes)?),
            None => (1, GENESIS.to_string()),
        },
    };
    let own = body.own_keys();
    if own.contains_key(payload::VERSION_KEY) || own.contains_key(payload::SALTS) {
        return Err(Error::internal(
            "an entry's own keys may not be `v` or `salts`: the chain writes them",
        ));
    }
    // Format 2: each payload part is covered by its salted digest (see `payload`).
    let sealed = payload::seal(own.iter())?;
    // The hash covers these bytes (parts as digests, no salts); the stored entry is the
    // same entry with its parts and salts (the very bytes when it has no part), with
    // `"hash"` appended as the last key (what `verify` removes before re-hashing).
    let mut bytes = Vec::with_capacity(256);
    let chained = Chained {
        seq,
        timestamp,
        body,
        prev: &prev,
        sealed: &sealed,
        hashing: true,
    };
    serde_json::to_writer(&mut bytes, &chained).map_err(|e| Error::internal(e.to_string()))?;
    let hash = chain_hash(&prev, &bytes);
    if !sealed.is_empty() {
        bytes.clear();
        let stored = Chained {
            hashing: false,
            ..chained
        };
        serde_json::to_writer(&mut bytes, &stored).map_err(|e| Error::internal(e.to_string()))?;
    }
    assert_eq!(
        bytes.pop(),
        Some(b'}'),
        "an entry serializes as a JSON object"
    );
    bytes.extend_from_slice(b",\"hash\":\"");
    bytes.extend_from_slice(hash.as_bytes());
    bytes.extend_from_slice(b"\"}");
    // The head (see [`head`]) is written by the store once per commit, not per entry.
    tables.append_audit(seq, &hash, &bytes)
}

/// The keys an entry is chained with, in their order: `doctype`, `name`, `seq`,
/// `timestamp`, `v` (the format), the entry's own keys, `salts` (stored, not hashed),
/// `prevHash`.
const CHAIN_KEYS: [&str; 5] = ["doctype", "name", "seq", "timestamp", "prevHash"];

/// An entry's own keys: an object, or a run's entry written from the run.
enum Body<'a> {
    Entry(&'a Map<String, Value>),
    Run {
        action: Action,
        run: &'a Run,
        ref_doctype: &'a str,
        ref_name: &'a str,
        extra: &'a Map<String, Value>,
    },
}

impl Body<'_> {
    /// The keys the entry adds after the run's (all of them for an object).
    fn own_keys(&self) -> &Map<String, Value> {
        match self {
            Body::Entry(entry) => entry,
            Body::Run { extra, .. } => extra,
        }
    }

    /// Write the entry's keys into `map` (`digests`: each payload part as its digest).
    fn write<M: serde::ser::SerializeMap>(
        &self,
        map: &mut M,
        digests: Option<&[payload::Sealed]>,
    ) -> std::result::Result<(), M::Error> {
        if let Body::Run {
            action,
            run,
            ref_doctype,
            ref_name,
            ..
        } = self
        {
            map.serialize_entry("action", action.as_str())?;
            map.serialize_entry("refDoctype", ref_doctype)?;
            map.serialize_entry("refName", ref_name)?;
            map.serialize_entry("operation", &run.operation)?;
            map.serialize_entry("runId", &run.id)?;
            map.serialize_entry("owner", &run.owner)?;
            map.serialize_entry("agent", &run.agent)?;
        }
        for (key, value) in self.own_keys() {
            match digests.and_then(|sealed| sealed.iter().find(|s| s.key == *key)) {
                Some(sealed) => map.serialize_entry(key, &sealed.digest)?,
                None => map.serialize_entry(key, value)?,
            }
        }
        Ok(())
    }

    /// The entry as an object.
    fn to_map(&self) -> Map<String, Value> {
        match self {
            Body::Entry(entry) => (*entry).clone(),
            Body::Run {
                action,
                run,
                ref_doctype,
                ref_name,
                extra,
            } => {
                let mut whole = entry(*action, run, Some(ref_doctype), Some(ref_name));
                whole.extend(extra.iter().map(|(k, v)| (k.clone(), v.clone())));
                whole
            }
        }
    }
}

/// An entry as it is chained and hashed: written straight from its parts, the same bytes
/// as the JSON object built key by key (an entry's own key never displaces a chain key
/// here: that entry is built as that object instead).
#[derive(Clone, Copy)]
struct Chained<'a> {
    seq: u64,
    timestamp: &'a str,
    body: &'a Body<'a>,
    prev: &'a str,
    /// The payload parts' salts and digests.
    sealed: &'a [payload::Sealed],
    /// Written as the hash covers it (parts as digests, no salts), or as stored.
    hashing: bool,
}

impl Chained<'_> {
    /// The `salts` key's value: each part's salt by key.
    fn salts(&self) -> Map<String, Value> {
        self.sealed
            .iter()
            .map(|s| (s.key.clone(), json!(s.salt)))
            .collect()
    }
}

impl Serialize for Chained<'_> {
    fn serialize<S: serde::Serializer>(
        &self,
        serializer: S,
    ) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let own = self.body.own_keys();
        if CHAIN_KEYS.iter().any(|key| own.contains_key(*key)) {
            let mut chained = Map::new();
            chained.insert("doctype".into(), json!(AUDIT_TRAIL));
            chained.insert("name".into(), json!(self.seq.to_string()));
            chained.insert("seq".into(), json!(self.seq));
            chained.insert("timestamp".into(), json!(self.timestamp));
            chained.insert(payload::VERSION_KEY.into(), json!(payload::FORMAT));
            chained.extend(self.body.to_map());
            if self.hashing {
                for sealed in self.sealed {
                    chained.insert(sealed.key.clone(), json!(sealed.digest));
                }
            } else if !self.sealed.is_empty() {
                chained.insert(payload::SALTS.into(), Value::Object(self.salts()));
            }
            chained.insert("prevHash".into(), json!(self.prev));
            return chained.serialize(serializer);
        }
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("doctype", AUDIT_TRAIL)?;
        map.serialize_entry("name", &self.seq.to_string())?;
        map.serialize_entry("seq", &self.seq)?;
        map.serialize_entry("timestamp", self.timestamp)?;
        map.serialize_entry(payload::VERSION_KEY, &payload::FORMAT)?;
        self.body
            .write(&mut map, self.hashing.then_some(self.sealed))?;
        if !self.hashing && !self.sealed.is_empty() {
            map.serialize_entry(payload::SALTS, &self.salts())?;
        }
        map.serialize_entry("prevHash", self.prev)?;
        map.end()
    }
}

/// The store fact naming the trail's last entry: a trail cut short no longer ends where it
/// says. The store writes it once per commit ([`head`]), after the batch's last entry.
pub(crate) const HEAD: &str = "audit_head";

/// The head record naming entry `seq` with `hash`: `{"seq":N,"hash":"…"}` (a hash is hex,
/// nothing in it to escape).
pub(crate) fn head(seq: u64, hash: &str) -> Vec<u8> {
    format!("{{\"seq\":{seq},\"hash\":\"{hash}\"}}").into_bytes()
}

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
enum Format {
    /// Format 1: the hash covers the entry's whole text.
    Old,
    /// Format 2: payload parts under salted digests, `redacted` of them redacted.
    Current { redacted: u32 },
}

/// [`check_entry`], telling which format the entry is in.
fn checked(
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

/// Redact the payload parts `choose` picks (given key and value) in stored entry `seq`
/// (`bytes`), and store it in `tables`' transaction: only once the redacted entry is
/// checked to chain to the very hash the entry had. An entry that does not verify is not
/// touched (erasure is refused: `audit verify` names it).
pub(crate) fn redact_entry(
    tables: &mut impl WriteTx,
    seq: u64,
    bytes: &[u8],
    choose: &dyn Fn(&str, &Value) -> bool,
) -> Result<Redaction> {
    let outcome = redact(bytes, choose)?;
    if let Redaction::Redacted(_, redacted) = &outcome {
        let prev = serde_json::from_slice::<Value>(bytes)
            .ok()
            .and_then(|entry| entry.get("prevHash")?.as_str().map(str::to_string))
            .unwrap_or_default();
        let before = check_entry(seq, &prev, bytes)?;
        let Ok(hash) = before else {
            return Err(Error::Storage(format!(
                "audit entry {seq} does not verify, so it is not redacted: run `coworker audit verify`"
            )));
        };
        assert_eq!(
            check_entry(seq, &prev, redacted)?,
            Ok(hash),
            "a redacted entry chains to the hash it had"
        );
        tables.redact_audit(seq, redacted)?;
    }
    Ok(outcome)
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

/// The refusal for any change to an audit entry.
pub(crate) fn immutable() -> Error {
    Error::new(
        ErrorCode::Immutable,
        "the Audit Trail is append-only: entries cannot be changed or deleted (a correction is a new entry with `corrects` and `reason`)",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The entry built key by key, as the trail's entries were always built.
    fn built(seq: u64, timestamp: &str, entry: &Map<String, Value>, prev: &str) -> Vec<u8> {
        let mut chained = Map::new();
        chained.insert("doctype".into(), json!(AUDIT_TRAIL));
        chained.insert("name".into(), json!(seq.to_string()));
        chained.insert("seq".into(), json!(seq));
        chained.insert("timestamp".into(), json!(timestamp));
        chained.insert("v".into(), json!(2));
        chained.append(&mut entry.clone());
        chained.insert("prevHash".into(), json!(prev));
        serde_json::to_vec(&chained).unwrap()
    }

    #[test]
    fn a_chained_entry_is_written_as_the_object_built_key_by_key() {
        let run = crate::run::Run {
            operation: Some("create".into()),
            owner: Some("ann".into()),
            ..crate::run::blank_run(crate::RunStatus::Completed)
        };
        let mut extra = Map::new();
        extra.insert("amendedFrom".into(), json!({"nested": [1, null, "x"]}));
        let mut clashing_chain = extra.clone();
        clashing_chain.insert("name".into(), json!("not the seq"));
        clashing_chain.insert("prevHash".into(), json!("forged"));
        let mut clashing_run = extra.clone();
        clashing_run.insert("owner".into(), json!("someone else"));
        let time = "2026-11-25T14:00:00.000000Z";
        for extra in [Map::new(), extra, clashing_chain, clashing_run] {
            let mut whole = entry(Action::Update, &run, Some("ToDo"), Some("a \"quoted\" é"));
            whole.extend(extra.clone());
            let expected = built(42, time, &whole, GENESIS);
            let as_object = Chained {
                seq: 42,
                timestamp: time,
                body: &Body::Entry(&whole),
                prev: GENESIS,
                sealed: &[],
                hashing: true,
            };
            assert_eq!(
                serde_json::to_vec(&as_object).unwrap(),
                expected,
                "{whole:?}"
            );
            if extra.keys().any(|k| RUN_ENTRY_KEYS.contains(&k.as_str())) {
                continue; // `append_for_run` builds that one as the object
            }
            let from_run = Body::Run {
                action: Action::Update,
                run: &run,
                ref_doctype: "ToDo",
                ref_name: "a \"quoted\" é",
                extra: &extra,
            };
            let as_run = Chained {
                seq: 42,
                timestamp: time,
                body: &from_run,
                prev: GENESIS,
                sealed: &[],
                hashing: true,
            };
            assert_eq!(
                serde_json::to_vec(&as_run).unwrap(),
                expected,
                "the hash covers these bytes: {extra:?}"
            );
        }
    }

    #[test]
    fn a_format_2_entry_verifies_whole_and_redacted_and_a_forged_part_breaks_it() {
        let run = crate::run::Run {
            operation: Some("update".into()),
            ..crate::run::blank_run(crate::RunStatus::Completed)
        };
        let mut extra = Map::new();
        extra.insert(
            "diff".into(),
            json!({"email": {"from": "a@x", "to": "b@x"}}),
        );
        let body = Body::Run {
            action: Action::Update,
            run: &run,
            ref_doctype: "Customer",
            ref_name: "c1",
            extra: &extra,
        };
        let sealed = payload::seal(extra.iter()).unwrap();
        let chained = Chained {
            seq: 1,
            timestamp: "2026-12-06T00:00:00Z",
            body: &body,
            prev: GENESIS,
            sealed: &sealed,
            hashing: true,
        };
        let hash = chain_hash(GENESIS, &serde_json::to_vec(&chained).unwrap());
        let mut stored: Doc = serde_json::from_slice(
            &serde_json::to_vec(&Chained {
                hashing: false,
                ..chained
            })
            .unwrap(),
        )
        .unwrap();
        assert_eq!(stored["diff"], extra["diff"], "the part is stored as it is");
        stored.insert("hash".into(), json!(hash));
        let bytes = serde_json::to_vec(&stored).unwrap();
        assert_eq!(
            checked(1, GENESIS, &bytes).unwrap(),
            Ok((hash.clone(), Format::Current { redacted: 0 }))
        );
        let Redaction::Redacted(_, redacted) = redact(&bytes, &|_, _| true).unwrap() else {
            panic!("the diff is redacted");
        };
        assert_eq!(
            checked(1, GENESIS, &redacted).unwrap(),
            Ok((hash, Format::Current { redacted: 1 }))
        );
        let forged = String::from_utf8(bytes).unwrap().replace("b@x", "c@x");
        assert!(check_entry(1, GENESIS, forged.as_bytes()).unwrap().is_err());
    }

    #[test]
    fn the_stored_hash_is_read_as_the_entry_would_be() {
        let read_whole = |bytes: &[u8]| -> String {
            let entry: Doc = serde_json::from_slice(bytes).unwrap();
            entry
                .get("hash")
                .and_then(Value::as_str)
                .unwrap_or(GENESIS)
                .to_string()
        };
        for text in [
            r#"{"seq":1,"hash":"ab12","nested":{"hash":"inner"}}"#,
            r#"{"seq":1}"#,
            r#"{"hash":7}"#,
            r#"{"hash":"first","x":[1,{"y":null}],"hash":"last"}"#,
            r#"{"h\u0061sh":"escaped key","s":"\u00e9"}"#,
        ] {
            assert_eq!(
                stored_hash(1, text.as_bytes()).unwrap(),
                read_whole(text.as_bytes()),
                "{text}"
            );
        }
        for not_an_entry in [&b"[\"hash\"]"[..], b"{\"hash\":", b"nope"] {
            assert_eq!(
                stored_hash(1, not_an_entry).unwrap_err().code(),
                ErrorCode::StorageError
            );
        }
    }
}
