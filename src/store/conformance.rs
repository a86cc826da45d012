//! The store's behaviour at its boundary, checked through the traits alone ([`Backend`],
//! [`WriteTx`], [`Snapshot`], [`View`]): a second backend runs [`conforms`] over itself.
//!
//! These checks must never reach past the traits into one backend's types.

use super::{Backend, Record, Snapshot, Store, TEST_CATALOG, View, WriteTx};
use crate::doc::Doc;
use serde_json::{Value, json};

fn doc(value: Value) -> Doc {
    serde_json::from_value(value).expect("an object")
}

/// What every backend must do: writes durable and visible to later snapshots, marks that
/// take back exactly what followed them (counters and audit entries too), ordered scans,
/// write-once run records, the audit doctype refused as a document, and the meta
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
            tx.set_meta("fact", b"42")?;
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
    assert_eq!(read.meta("fact").unwrap().as_deref(), Some(&b"42"[..]));
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
    };
    conforms(&Store::open(&dir.path().join("s.redb"), options, TEST_CATALOG).unwrap());
}
