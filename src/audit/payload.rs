//! Audit entry format 2: payload parts under salted digests, so a part can be redacted
//! (GDPR erasure) while the chain still verifies.
//!
//! An entry's payload parts are the keys that carry document values ([`PAYLOAD_PARTS`]: an
//! update's `diff`, a delete's `snapshot`, a failure's `error`, ...). A format-2 entry
//! (`"v":2`) stores each part as it is, plus a random 128-bit salt per part under `salts`;
//! its hash covers the entry with every part replaced by the part's digest,
//! SHA-256(salt || JSON of the part), and without `salts`. Redacting a part replaces it by
//! `{"redacted":true,"digest":"<hex>"}` and drops its salt: the hash input is unchanged, so
//! the chain holds, and without the salt the digest cannot be matched against a guessed
//! value. Format-1 entries (no `v`) hash their whole text and cannot be redacted.
//!
//! This module never decides which parts to redact (erasure does) and never writes.

use super::hex;
use crate::doc::Doc;
use crate::error::{Error, Result};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

/// The entry key naming the entry's format (absent: format 1).
pub(crate) const VERSION_KEY: &str = "v";
/// The format new entries are written in.
pub(crate) const FORMAT: u64 = 2;
/// The entry key holding each payload part's salt (hex), by part key.
pub(crate) const SALTS: &str = "salts";

/// The keys whose values are payload parts (they may carry document values).
pub(crate) const PAYLOAD_PARTS: [&str; 5] = ["diff", "snapshot", "error", "data", "input"];

/// Whether `key` is a payload part.
pub(crate) fn is_part(key: &str) -> bool {
    PAYLOAD_PARTS.contains(&key)
}

/// A payload part sealed for writing: its salt and digest.
pub(crate) struct Sealed {
    /// The part's key.
    pub(crate) key: String,
    /// 128 random bits, hex.
    pub(crate) salt: String,
    /// SHA-256(salt || JSON of the part), hex.
    pub(crate) digest: String,
}

/// A fresh random salt (128 bits from the operating system), hex.
fn fresh_salt() -> Result<String> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt)
        .map_err(|e| Error::internal(format!("no randomness for an audit salt: {e}")))?;
    Ok(hex(&salt))
}

/// SHA-256 over the salt's text and the part's JSON text, hex.
pub(crate) fn part_digest(salt: &str, part: &Value) -> Result<String> {
    let text = serde_json::to_vec(part).map_err(|e| Error::internal(e.to_string()))?;
    let mut hasher = Sha256::new();
    hasher.update(salt.as_bytes());
    hasher.update(&text);
    Ok(hex(&hasher.finalize()))
}

/// Seal every payload part among `keys`, in their order.
pub(crate) fn seal<'a>(keys: impl Iterator<Item = (&'a String, &'a Value)>) -> Result<Vec<Sealed>> {
    keys.filter(|(key, _)| is_part(key))
        .map(|(key, value)| {
            let salt = fresh_salt()?;
            let digest = part_digest(&salt, value)?;
            Ok(Sealed {
                key: key.clone(),
                salt,
                digest,
            })
        })
        .collect()
}

/// The digest a redacted part keeps (`None`: the value is not a redacted part).
pub(crate) fn redacted_digest(part: &Value) -> Option<&str> {
    part.as_object().and_then(redacted_object)
}

/// [`redacted_digest`] of an object.
pub(crate) fn redacted_object(part: &Map<String, Value>) -> Option<&str> {
    if part.len() != 2 || part.get("redacted") != Some(&Value::Bool(true)) {
        return None;
    }
    part.get("digest").and_then(Value::as_str)
}

/// Whether an entry is written in format 2.
pub(crate) fn is_format2(entry: &Doc) -> bool {
    entry.get(VERSION_KEY) == Some(&json!(FORMAT))
}

/// Turn a format-2 entry (without its `hash`) into what its hash covers: `salts` left out,
/// each part replaced by its digest. `Ok(Ok(n))`: `n` of its parts are redacted;
/// `Ok(Err(reason))`: the entry cannot be checked (a part with neither salt nor redaction).
pub(crate) fn hash_view(entry: Doc) -> std::result::Result<(Doc, u32), String> {
    let mut salts = Map::new();
    let mut view = Map::with_capacity(entry.len());
    for (key, value) in entry {
        if key == SALTS {
            match value {
                Value::Object(found) => salts = found,
                _ => return Err("its `salts` is not an object: it was altered".into()),
            }
        } else {
            view.insert(key, value);
        }
    }
    let mut redacted = 0;
    for (key, value) in view.iter_mut() {
        if !is_part(key) {
            continue;
        }
        let digest = match (salts.remove(key.as_str()), redacted_digest(value)) {
            (Some(Value::String(salt)), _) => {
                part_digest(&salt, value).map_err(|e| e.to_string())?
            }
            (None, Some(digest)) => {
                redacted += 1;
                digest.to_string()
            }
            _ => {
                return Err(format!(
                    "its payload part `{key}` has neither a salt nor a redaction: it was altered"
                ));
            }
        };
        *value = Value::String(digest);
    }
    if let Some(key) = salts.keys().next() {
        return Err(format!(
            "it holds a salt for `{key}`, which is not one of its payload parts: it was altered"
        ));
    }
    Ok((view, redacted))
}

/// What [`redact`] did to one entry.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Redaction {
    /// The entry is format 1: it cannot be redacted without breaking the chain.
    OldFormat,
    /// No part was chosen (or the chosen ones were already redacted).
    Unchanged,
    /// These parts were redacted; the entry's new bytes.
    Redacted(Vec<String>, Vec<u8>),
}

/// Redact the payload parts of a stored entry that `choose` picks (given key and value).
/// The entry's hash stays valid: the caller checks it against the chain before storing.
pub(crate) fn redact(bytes: &[u8], choose: &dyn Fn(&str, &Value) -> bool) -> Result<Redaction> {
    let mut entry: Doc = serde_json::from_slice(bytes)
        .map_err(|e| Error::Storage(format!("an audit entry is not valid JSON: {e}")))?;
    let chosen: Vec<String> = entry
        .iter()
        .filter(|(key, value)| {
            is_part(key) && redacted_digest(value).is_none() && choose(key, value)
        })
        .map(|(key, _)| key.clone())
        .collect();
    if chosen.is_empty() {
        return Ok(Redaction::Unchanged);
    }
    if !is_format2(&entry) {
        return Ok(Redaction::OldFormat);
    }
    let mut salts = match entry.get(SALTS) {
        Some(Value::Object(salts)) => salts.clone(),
        _ => Map::new(),
    };
    let mut done = Vec::new();
    for key in chosen {
        let Some(Value::String(salt)) = salts.remove(key.as_str()) else {
            continue; // no salt to digest it with: the chain's check reports it
        };
        let Some(value) = entry.get_mut(&key) else {
            continue;
        };
        let digest = part_digest(&salt, value)?;
        *value = json!({"redacted": true, "digest": digest});
        done.push(key);
    }
    if done.is_empty() {
        return Ok(Redaction::Unchanged);
    }
    if let Some(slot) = entry.get_mut(SALTS) {
        *slot = Value::Object(salts);
    }
    let bytes = serde_json::to_vec(&entry).map_err(|e| Error::internal(e.to_string()))?;
    Ok(Redaction::Redacted(done, bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn salts_are_fresh_and_digests_depend_on_them() {
        let value = json!({"email": {"from": null, "to": "ann@example.com"}});
        let a = fresh_salt().unwrap();
        let b = fresh_salt().unwrap();
        assert_eq!(a.len(), 32);
        assert_ne!(a, b);
        assert_ne!(
            part_digest(&a, &value).unwrap(),
            part_digest(&b, &value).unwrap()
        );
        assert_eq!(
            part_digest(&a, &value).unwrap(),
            part_digest(&a, &value).unwrap()
        );
    }

    #[test]
    fn a_redacted_part_keeps_the_digest_the_hash_covers() {
        let mut entry = Doc::new();
        entry.insert("v".into(), json!(2));
        entry.insert("diff".into(), json!({"email": {"from": "a", "to": "b"}}));
        entry.insert("refName".into(), json!("x"));
        let sealed = seal(entry.iter()).unwrap();
        assert_eq!(sealed.len(), 1);
        let salts: Map<String, Value> = sealed
            .iter()
            .map(|s| (s.key.clone(), json!(s.salt)))
            .collect();
        entry.insert(SALTS.into(), Value::Object(salts));
        let (before, redacted) = hash_view(entry.clone()).unwrap();
        assert_eq!(redacted, 0);
        assert_eq!(before["diff"], json!(sealed[0].digest));
        let bytes = serde_json::to_vec(&entry).unwrap();
        let Redaction::Redacted(parts, redacted_bytes) = redact(&bytes, &|_, _| true).unwrap()
        else {
            panic!("the diff is redactable");
        };
        assert_eq!(parts, ["diff"]);
        let text = String::from_utf8(redacted_bytes.clone()).unwrap();
        assert!(!text.contains("\"b\""), "{text}");
        let after: Doc = serde_json::from_slice(&redacted_bytes).unwrap();
        assert_eq!(hash_view(after.clone()).unwrap(), (before, 1));
        assert_eq!(
            redact(&redacted_bytes, &|_, _| true).unwrap(),
            Redaction::Unchanged
        );
        let mut forged = after;
        forged.insert("diff".into(), json!({"email": "c"}));
        assert!(hash_view(forged).is_err());
        assert_eq!(
            redact(br#"{"diff":{"a":1}}"#, &|_, _| true).unwrap(),
            Redaction::OldFormat
        );
        assert_eq!(
            redact(br#"{"diff":{"a":1}}"#, &|_, _| false).unwrap(),
            Redaction::Unchanged
        );
    }
}
