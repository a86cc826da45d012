//! Unit tests of the parent module (its private items).

use super::*;
use verify::{Format, checked};

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
