//! The store's behaviour at its boundary, checked through the traits alone ([`Backend`],
//! [`WriteTx`], [`Snapshot`], [`View`]): a second backend runs [`conforms`] over itself.
//!
//! These checks must never reach past the traits into one backend's types.

use super::{Backend, IndexKey, KeyRange, Record, Snapshot, Store, TEST_CATALOG, View, WriteTx};
use crate::doc::Doc;
use serde_json::{Value, json};
use std::ops::Bound;

fn doc(value: Value) -> Doc {
    serde_json::from_value(value).expect("an object")
}

/// What every backend must do: writes durable and visible to later snapshots, marks that
/// take back exactly what followed them (counters and audit entries too), ordered scans,
/// write-once run records, the audit doctype refused as a document, the audit trail's head
/// written with every commit that appended to it, and the meta
/// generation moved by writes of meta doctypes only.
pub(super) fn conforms<B: Backend>(store: &B) {
    let indexed = ["n".to_string()];
    let before = store.schema_generation();
    store
        .write(|mut tx| -> crate::error::Result<()> {
            tx.put_doc("Note", "b", &doc(json!({"name": "b", "n": 1})), &indexed)?;
            tx.put_doc("Note", "a", &doc(json!({"name": "a", "n": 1})), &indexed)?;
            let mark = tx.mark();
            tx.put_doc("Note", "c", &doc(json!({"name": "c", "n": 1})), &indexed)?;
            assert_eq!(tx.next_counter("series")?, 1);
            tx.append_audit(1, "h1", br#"{"seq":1}"#)?;
            tx.rollback_to(mark)?;
            assert!(tx.get_doc("Note", "c")?.is_none(), "taken back");
            assert_eq!(
                tx.next_counter("series")?,
                1,
                "the counter's step was taken back"
            );
            assert_eq!(tx.last_audit()?, None, "the audit entry was taken back");
            tx.append_audit(1, "h1", br#"{"seq":1}"#)?;
            assert_eq!(tx.audit_tail(), Some(&(1, "h1".to_string())));
            assert!(tx.has_changes());
            Ok(())
        })
        .unwrap()
        .unwrap();
    assert_eq!(
        store.schema_generation(),
        before,
        "no meta doctype was written"
    );

    let read = store.read().unwrap();
    let mut names = Vec::new();
    read.scan_docs("Note", &mut |doc| {
        names.push(doc["name"].as_str().unwrap().to_string());
        true
    })
    .unwrap();
    assert_eq!(names, ["a", "b"], "documents scan in name order");
    assert_eq!(
        read.index_lookup("Note", "n", &json!(1)).unwrap(),
        ["a", "b"]
    );
    assert_eq!(
        read.index_lookup("Note", "n", &json!("1")).unwrap(),
        Vec::<String>::new()
    );
    let walked = |reverse| -> Vec<String> {
        let walk = read
            .walk_docs("Note", reverse)
            .unwrap()
            .expect("kept in name order");
        walk.map(|d| d.unwrap().name).collect()
    };
    assert_eq!(walked(false), ["a", "b"], "documents walk in name order");
    assert_eq!(walked(true), ["b", "a"], "and backwards");
    assert_eq!(
        read.walk_docs("Note", false)
            .unwrap()
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .parse("Note")
            .unwrap(),
        doc(json!({"name": "a", "n": 1}))
    );
    assert!(
        read.walk_docs(TEST_CATALOG.audit_doctype, false)
            .unwrap()
            .is_none()
    );
    assert_eq!(read.count_index("Note", "n", &KeyRange::all()).unwrap(), 2);
    assert!(
        !read.index_complete("Note", "n").unwrap(),
        "never built whole"
    );
    store
        .write(|mut tx| -> crate::error::Result<()> {
            tx.put_doc("Note", "c", &doc(json!({"name": "c", "n": 10})), &indexed)?;
            tx.put_doc("Note", "d", &doc(json!({"name": "d", "n": 2.5})), &indexed)?;
            tx.put_doc("Note", "e", &doc(json!({"name": "e"})), &indexed)?;
            tx.put_doc("Note", "f", &doc(json!({"name": "f", "n": "10"})), &indexed)?;
            tx.rebuild_index("Note", "n", true)
        })
        .unwrap()
        .unwrap();
    let read = store.read().unwrap();
    assert!(read.index_complete("Note", "n").unwrap());
    let index = |range: &KeyRange, reverse| -> Vec<String> {
        let walk = read.walk_index("Note", "n", range, reverse).unwrap();
        walk.map(|e| e.unwrap().1).collect()
    };
    assert_eq!(
        index(&KeyRange::all(), false),
        ["e", "a", "b", "d", "c", "f"],
        "missing, then numbers by value (ties by name), then strings"
    );
    assert_eq!(
        index(&KeyRange::all(), true),
        ["f", "c", "d", "b", "a", "e"]
    );
    let numbers = KeyRange {
        lower: Bound::Excluded(IndexKey::of(&json!(1.0))),
        upper: Bound::Included(IndexKey::of(&json!(10))),
    };
    assert_eq!(index(&numbers, false), ["d", "c"]);
    assert_eq!(read.count_index("Note", "n", &numbers).unwrap(), 2);
    assert_eq!(read.index_lookup("Note", "n", &json!(null)).unwrap(), ["e"]);
    assert_eq!(
        read.meta("audit_head").unwrap().as_deref(),
        Some(&br#"{"seq":1,"hash":"h1"}"#[..]),
        "the store wrote the trail's head with the commit"
    );
    let mut entries = Vec::new();
    read.audit_entries(&mut |seq, bytes| {
        entries.push((seq, bytes.to_vec()));
        Ok(())
    })
    .unwrap();
    assert_eq!(entries, [(1, br#"{"seq":1}"#.to_vec())]);
    let audit = TEST_CATALOG.audit_doctype;
    assert_eq!(
        read.get_doc(audit, "1").unwrap(),
        Some(doc(json!({"seq": 1})))
    );

    // Entries taken back in a later job: the head names the entry that is last now (its
    // hash read back from it), whichever job of the batch appended or removed entries.
    store
        .write(|mut tx| -> crate::error::Result<()> {
            tx.append_audit(2, "h2", br#"{"seq":2,"hash":"h2"}"#)?;
            let mark = tx.mark();
            tx.append_audit(3, "h3", br#"{"seq":3,"hash":"h3"}"#)?;
            tx.rollback_to(mark)
        })
        .unwrap()
        .unwrap();
    assert_eq!(
        store.read().unwrap().meta("audit_head").unwrap().as_deref(),
        Some(&br#"{"seq":2,"hash":"h2"}"#[..]),
        "the head follows the entries that were committed"
    );

    let refused = store
        .write(|mut tx| tx.put_doc(audit, "1", &doc(json!({})), &[]))
        .unwrap()
        .unwrap_err();
    assert_eq!(refused.code(), crate::ErrorCode::Immutable);

    store
        .write(|mut tx| tx.put_doc("Meta", "m", &doc(json!({"name": "m"})), &[]))
        .unwrap()
        .unwrap();
    assert!(
        store.schema_generation() > before,
        "a meta doctype was written"
    );

    let run = crate::run::blank_run(crate::RunStatus::Completed);
    let record = Record::new(&run, None::<&Value>);
    store
        .write(|mut tx| tx.put_record(&record))
        .unwrap()
        .unwrap();
    let again = store.write(|mut tx| tx.put_record(&record)).unwrap();
    assert_eq!(
        again.unwrap_err().code(),
        crate::ErrorCode::Immutable,
        "written once"
    );
    assert_eq!(store.get_run(&run.id).unwrap(), Some(run.clone()));
    let listed = store
        .read()
        .unwrap()
        .runs_between(None, None, None)
        .unwrap();
    assert_eq!(listed, std::slice::from_ref(&run));
    let failed = crate::run::Run {
        id: "01J00000000000000000000001".into(),
        ..crate::run::blank_run(crate::RunStatus::Failed)
    };
    store
        .write(|mut tx| tx.put_record(&Record::new(&failed, None::<&Value>)))
        .unwrap()
        .unwrap();
    let by_status = store
        .read()
        .unwrap()
        .runs_where("status", "failed")
        .unwrap();
    assert_eq!(by_status, [failed]);
}

#[test]
fn the_redb_store_conforms_in_memory() {
    conforms(&Store::in_memory(TEST_CATALOG).unwrap());
}

#[test]
fn the_redb_store_conforms_on_file() {
    let dir = tempfile::tempdir().unwrap();
    let options = super::OpenOptions {
        shared: false,
        lock_timeout: std::time::Duration::ZERO,
        cache_bytes: super::DEFAULT_CACHE_BYTES,
    };
    conforms(&Store::open(&dir.path().join("s.redb"), options, TEST_CATALOG).unwrap());
}
