//! The hash chain: entries are chained and `verify` walks the chain; a byte flipped, an entry
//! made unreadable or a forged hash in the store file breaks it.

use super::*;

#[test]
fn entries_are_hash_chained_and_verify_walks_the_chain() {
    let engine = engine();
    let report = engine.verify_audit().unwrap();
    assert_eq!(report.entries, 0);
    assert_eq!(report.broken, None);
    for i in 0..5 {
        ok(
            &engine,
            json!({"operation": "create", "into": "Note", "input": {"data": {"name": format!("n{i}")}}}),
        );
    }
    ok(
        &engine,
        json!({"operation": "update", "in": "Note", "input": {"where": {}, "data": {"x": 1}}}),
    );
    let all = all_entries(&engine);
    assert_eq!(all.len(), 10);
    let mut prev = "0".repeat(64);
    for (i, entry) in all.iter().enumerate() {
        assert_eq!(entry["seq"], json!(i as u64 + 1));
        assert_eq!(entry["name"], json!((i + 1).to_string()));
        assert_eq!(entry["prevHash"], json!(prev), "entry {}", i + 1);
        let hash = entry["hash"].as_str().expect("a hash").to_string();
        assert_eq!(hash.len(), 64);
        assert!(hash.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(hash, prev);
        // Format 2: the hash is SHA-256 of the previous hash then the entry's JSON without
        // `hash` and `salts`, each payload part replaced by SHA-256(salt || its JSON).
        assert_eq!(entry["v"], json!(2));
        let mut unhashed = entry.as_object().unwrap().clone();
        unhashed.remove("hash");
        let salts = unhashed.shift_remove("salts").unwrap_or_else(|| json!({}));
        for (part, salt) in salts.as_object().unwrap() {
            let digest = Sha256::new()
                .chain_update(salt.as_str().unwrap().as_bytes())
                .chain_update(serde_json::to_vec(&unhashed[part]).unwrap())
                .finalize();
            unhashed[part] = json!(
                digest
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect::<String>()
            );
        }
        let parts = salts.as_object().unwrap().len();
        assert_eq!(parts, usize::from(i >= 5), "the updates' diffs");
        let digest = Sha256::new()
            .chain_update(prev.as_bytes())
            .chain_update(serde_json::to_vec(&unhashed).unwrap())
            .finalize();
        let expected: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hash, expected, "entry {}", i + 1);
        prev = hash;
    }
    let report = engine.verify_audit().unwrap();
    assert_eq!(report.entries, 10);
    assert_eq!(report.broken, None);
}

/// `coworker audit verify` on `db`: exit code and report.
fn cli_verify(db: &Path) -> (i32, Value) {
    let output = cli(db).args(["audit", "verify"]).output().unwrap();
    (exit(&output), stdout_json(&output))
}

/// A store file with seven entries (six creates, then an update of x4); returns the
/// entries.
fn tamperable_store(store: &TempStore) -> Vec<Value> {
    let engine = store.open();
    for i in 0..6 {
        ok(
            &engine,
            json!({"operation": "create", "into": "Note", "input": {"data": {"name": format!("x{i}"), "i": i}}}),
        );
    }
    ok(
        &engine,
        json!({"operation": "update", "in": "Note", "input": {"name": "x4", "data": {"i": 40}}}),
    );
    assert_eq!(engine.verify_audit().unwrap().broken, None);
    all_entries(&engine)
}

/// After tampering: `coworker audit verify` exits 1 naming the entry `seq` (or an earlier
/// one, if the store's own checksums refuse the page) and a reason; the library agrees.
fn assert_broken_at(store: &TempStore, seq: u64) {
    let (code, report) = cli_verify(&store.path);
    assert_eq!(code, 1, "{report}");
    let broken = &report["broken"];
    let reason = broken["reason"].as_str().expect("a reason");
    assert!(!reason.is_empty());
    if reason.contains("cannot read") {
        assert!(broken["seq"].as_u64().unwrap() <= seq, "{report}");
    } else {
        assert_eq!(broken["seq"], json!(seq), "{report}");
    }
    let engine = Engine::open(&store.path).expect("the store still opens");
    let report = engine.verify_audit().unwrap();
    let link = report.broken.expect("a broken link");
    assert_eq!(json!(link.seq), broken["seq"]);
    assert_eq!(link.reason, reason);
}

#[test]
fn a_byte_flipped_in_the_store_file_breaks_the_chain() {
    let store = TempStore::new();
    let history = tamperable_store(&store);
    let (code, report) = cli_verify(&store.path);
    assert_eq!(code, 0, "{report}");
    assert_eq!(
        report,
        json!({"entries": 7, "broken": null, "redacted": 0, "redactedSeqs": [], "oldFormatEntries": 0})
    );
    let target = history
        .iter()
        .find(|e| e["refName"] == json!("x1"))
        .unwrap();
    // One character of the entry's content: `"refName":"x1"` becomes `"refName":"x9"`.
    let needle = br#""refName":"x1""#;
    assert!(flip(&store.path, needle, needle.len() - 2, b'9') >= 1);
    assert_broken_at(&store, target["seq"].as_u64().unwrap());
}

#[test]
fn an_entry_made_unreadable_in_the_file_breaks_the_chain() {
    let store = TempStore::new();
    let history = tamperable_store(&store);
    let update = history.last().unwrap();
    assert_eq!(update["action"], json!("update"));
    // `"action":"update"` becomes `"action";"update"`: no longer JSON.
    let needle = br#""action":"update""#;
    assert!(flip(&store.path, needle, 8, b';') >= 1);
    assert_broken_at(&store, update["seq"].as_u64().unwrap());
}

#[test]
fn a_forged_hash_in_the_file_breaks_the_chain() {
    let store = TempStore::new();
    let history = tamperable_store(&store);
    let third = &history[2];
    let hash = third["hash"].as_str().unwrap();
    // The first character of entry 3's own hash (it also appears as entry 4's prevHash).
    let needle = format!(r#""hash":"{hash}""#);
    let replacement = if hash.starts_with('0') { b'1' } else { b'0' };
    assert!(flip(&store.path, needle.as_bytes(), 8, replacement) >= 1);
    assert_broken_at(&store, 3);
}

#[test]
fn the_cli_verify_reports_an_empty_and_a_healthy_trail() {
    let store = TempStore::new();
    drop(store.open());
    let (code, report) = cli_verify(&store.path);
    assert_eq!(
        (code, report),
        (
            0,
            json!({"entries": 0, "broken": null, "redacted": 0, "redactedSeqs": [], "oldFormatEntries": 0})
        )
    );
    {
        let engine = store.open();
        let admin = acl_store(&engine);
        fails(
            &engine,
            json!({"operation": "select", "from": "Memo", "owner": "clerk"}),
            "PERMISSION_DENIED",
        );
        assert_eq!(admin.verify_audit().unwrap().broken, None);
    }
    // Verifying needs no user, even with access control on.
    let (code, report) = cli_verify(&store.path);
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["broken"], Value::Null);
    let engine = store.open();
    let total = all_entries(&engine.with_owner(ADMIN)).len();
    assert_eq!(report["entries"], json!(total));
}
