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
//! Verification (the walk, the per-entry check every verifier shares) is in `verify`; the
//! payload digests and redaction in `payload`; documents against their last entries in
//! `documents`.

use crate::doc::Doc;
use crate::error::{Error, ErrorCode, Result};
use crate::run::Run;
use crate::store::WriteTx;
use serde::Serialize;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

mod documents;
mod payload;
mod verify;
pub(crate) use documents::{
    DOC_DIGEST, RESTORED_FROM, SNAPSHOT, document_digest, last_entry_of, verify_documents,
};
pub use documents::{DocumentMismatch, DocumentReport, MAX_LISTED_MISMATCHES, Problem};
pub(crate) use payload::{Redaction, redact, redacted_object};
pub use verify::{AuditReport, BrokenLink, MAX_LISTED_REDACTED};
pub(crate) use verify::{check_entry, verify, verify_walk};

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
    let mut hasher = Sha256::new();
    hasher.update(prev.as_bytes());
    hasher.update(entry_json);
    hex(&hasher.finalize())
}

/// Bytes as lowercase hex: every hash and digest the trail and its archives record.
pub(crate) fn hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut hex = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        hex.push(HEX[usize::from(byte >> 4)] as char);
        hex.push(HEX[usize::from(byte & 0xf)] as char);
    }
    hex
}

/// SHA-256 of `bytes`, as hex.
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
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

/// The refusal for any change to an audit entry.
pub(crate) fn immutable() -> Error {
    Error::new(
        ErrorCode::Immutable,
        "the Audit Trail is append-only: entries cannot be changed or deleted (a correction is a new entry with `corrects` and `reason`)",
    )
}

#[cfg(test)]
mod tests;
