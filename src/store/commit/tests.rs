//! Unit tests of the parent module (its private items).

use super::*;
use crate::doc::Doc;
use crate::store::{OpenOptions, Store, View};

/// Makes the next commit of one store (its address, see [`target`]) panic once it
/// has taken its batch.
pub(super) static PANIC_IN_COMMIT: AtomicUsize = AtomicUsize::new(0);

/// Makes the next commit of one store that appends to the redo log panic right after
/// the append.
pub(super) static PANIC_AFTER_APPEND: AtomicUsize = AtomicUsize::new(0);

/// The value that aims a panic switch at `store` alone: other tests' stores, committing
/// in parallel, never see it.
fn target(store: &RedbStore) -> usize {
    store as *const RedbStore as usize
}

/// Whether `switch` is aimed at `store` (it is then reset).
pub(super) fn injected(switch: &AtomicUsize, store: &RedbStore) -> bool {
    switch
        .compare_exchange(target(store), 0, Ordering::SeqCst, Ordering::SeqCst)
        .is_ok()
}

/// Holds back the checkpoints that time asks for (flush and close still checkpoint), so
/// a test can look at a log that holds records.
pub(super) static HOLD_CHECKPOINTS: AtomicBool = AtomicBool::new(false);

/// The tests that set the switches above run one at a time (`HOLD_CHECKPOINTS` acts on
/// every store in the process; the panic switches on one store).
static SWITCHES: Mutex<()> = Mutex::new(());

fn note(name: &str) -> Doc {
    serde_json::from_value(serde_json::json!({"name": name})).unwrap()
}

fn open(path: &std::path::Path) -> Store {
    Store::open(
        path,
        OpenOptions {
            shared: false,
            lock_timeout: Duration::ZERO,
            cache_bytes: crate::store::DEFAULT_CACHE_BYTES,
        },
        crate::store::TEST_CATALOG,
    )
    .unwrap()
}

#[test]
fn a_batch_that_fails_while_an_earlier_one_syncs_leaves_the_store_idle_once_it_synced() {
    let mut state = GroupCommit::new(None).commit.into_inner().unwrap();
    // Batch 1 is appended to the log and its sync begins (covering batch 1 only).
    state.sealed = 1;
    state.syncing = true;
    // Batch 2 fails as it is sealed (the log refused it); its writers leave.
    state.sealed = 2;
    state.failed(2..=2, "appending to the redo log failed".into());
    state.resolved(2);
    assert!(state.busy(), "batch 1 is still syncing");
    // The sync of batch 1 ends: nothing is owed a sync any more.
    state.syncing = false;
    state.durable = 1;
    state.settle();
    assert!(!state.busy(), "a reopen is not refused forever");
    assert_eq!(
        state.failure_of(2),
        Some("appending to the redo log failed")
    );
    assert_eq!(state.failure_of(1), None);
}

#[test]
fn a_crash_image_with_a_torn_last_record_recovers_every_batch_before_it() {
    let _switches = lock(&SWITCHES);
    HOLD_CHECKPOINTS.store(true, Ordering::SeqCst);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.redb");
    let store = open(&path);
    for name in ["a", "b", "c", "d"] {
        store
            .write(|mut tables| tables.put_doc("Note", name, &note(name), &[]))
            .unwrap()
            .unwrap();
    }
    // What a crash leaves: the store file as written so far (its last checkpoint) and
    // the log, copied while the store is open.
    let image = tempfile::tempdir().unwrap();
    let copy = image.path().join("s.redb");
    std::fs::copy(&path, &copy).unwrap();
    std::fs::copy(wal::log_path(&path), wal::log_path(&copy)).unwrap();
    HOLD_CHECKPOINTS.store(false, Ordering::SeqCst);
    drop(store);
    let last = wal::tests::tear_last_record(&wal::log_path(&copy));
    assert!(last >= 4, "one record per batch: {last}");

    let recovered = open(&copy);
    let read = recovered.read().unwrap();
    for name in ["a", "b", "c"] {
        assert!(read.get_doc("Note", name).unwrap().is_some(), "{name}");
    }
    assert!(
        read.get_doc("Note", "d").unwrap().is_none(),
        "the torn batch was never acknowledged: not replayed"
    );
    drop(read);
    recovered
        .write(|mut tables| tables.put_doc("Note", "e", &note("e"), &[]))
        .unwrap()
        .unwrap();
    drop(recovered);
    let reopened = open(&copy);
    let read = reopened.read().unwrap();
    let names: Vec<bool> = ["a", "b", "c", "d", "e"]
        .iter()
        .map(|n| read.get_doc("Note", n).unwrap().is_some())
        .collect();
    assert_eq!(names, [true, true, true, false, true]);
}

#[test]
fn a_log_of_another_store_that_holds_writes_is_refused() {
    let _switches = lock(&SWITCHES);
    HOLD_CHECKPOINTS.store(true, Ordering::SeqCst);
    let dir = tempfile::tempdir().unwrap();
    let (mine, theirs) = (dir.path().join("mine.redb"), dir.path().join("theirs.redb"));
    drop(open(&mine));
    let other = open(&theirs);
    other
        .write(|mut tables| tables.put_doc("Note", "x", &note("x"), &[]))
        .unwrap()
        .unwrap();
    // Their log, with the write their store file has not checkpointed yet.
    std::fs::copy(wal::log_path(&theirs), wal::log_path(&mine)).unwrap();
    HOLD_CHECKPOINTS.store(false, Ordering::SeqCst);
    drop(other);
    let refused = Store::open(
        &mine,
        OpenOptions {
            shared: false,
            lock_timeout: Duration::ZERO,
            cache_bytes: crate::store::DEFAULT_CACHE_BYTES,
        },
        crate::store::TEST_CATALOG,
    )
    .err()
    .expect("refused");
    assert_eq!(refused.code(), crate::ErrorCode::StorageError);
    assert!(
        refused
            .to_string()
            .contains("belongs to another store file"),
        "{refused}"
    );
    // Once cleanly closed, their log holds nothing to replay: it no longer matters
    // whose it is.
    std::fs::copy(wal::log_path(&theirs), wal::log_path(&mine)).unwrap();
    let store = open(&mine);
    assert!(
        store
            .read()
            .unwrap()
            .get_doc("Note", "x")
            .unwrap()
            .is_none()
    );
}

#[test]
fn a_log_that_is_not_a_redo_log_is_refused_and_left_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.redb");
    drop(open(&path));
    let log = wal::log_path(&path);
    std::fs::write(&log, b"these bytes are no redo log at all").unwrap();
    let refused = Store::open(
        &path,
        OpenOptions {
            shared: false,
            lock_timeout: Duration::ZERO,
            cache_bytes: crate::store::DEFAULT_CACHE_BYTES,
        },
        crate::store::TEST_CATALOG,
    )
    .err()
    .expect("refused");
    assert_eq!(refused.code(), crate::ErrorCode::StorageError);
    assert!(
        refused.to_string().contains("is not a coworker redo log"),
        "{refused}"
    );
    assert_eq!(
        std::fs::read(&log).unwrap(),
        b"these bytes are no redo log at all"
    );
}

#[test]
fn a_batch_whose_commit_panicked_after_its_log_append_is_never_replayed() {
    let _switches = lock(&SWITCHES);
    HOLD_CHECKPOINTS.store(true, Ordering::SeqCst);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.redb");
    let store = Arc::new(open(&path));
    let put = |store: &Store, name: &str| {
        store.write(|mut tables| tables.put_doc("Note", name, &note(name), &[]))
    };
    put(&store, "before").unwrap().unwrap();
    PANIC_AFTER_APPEND.store(target(&store), Ordering::SeqCst);
    let panicking = Arc::clone(&store);
    let lost = std::thread::spawn(move || put(&panicking, "lost")).join();
    assert!(lost.is_err(), "the committing writer's thread panicked");
    // What a crash right now leaves: the store file at its last checkpoint, and the log.
    let image = tempfile::tempdir().unwrap();
    let crashed = image.path().join("crashed.redb");
    std::fs::copy(&path, &crashed).unwrap();
    std::fs::copy(wal::log_path(&path), wal::log_path(&crashed)).unwrap();
    put(&store, "after").unwrap().unwrap();
    let later = image.path().join("later.redb");
    std::fs::copy(&path, &later).unwrap();
    std::fs::copy(wal::log_path(&path), wal::log_path(&later)).unwrap();
    HOLD_CHECKPOINTS.store(false, Ordering::SeqCst);
    drop(store);

    for (copy, expected) in [
        (&crashed, [true, false, false]),
        (&later, [true, false, true]),
        (&path, [true, false, true]),
    ] {
        let reopened = open(copy);
        let read = reopened.read().unwrap();
        let found: Vec<bool> = ["before", "lost", "after"]
            .iter()
            .map(|n| read.get_doc("Note", n).unwrap().is_some())
            .collect();
        assert_eq!(found, expected, "{}", copy.display());
    }
}

#[test]
fn a_commit_that_panics_fails_its_batch_and_the_next_commit_goes_ahead() {
    let _switches = lock(&SWITCHES);
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(
        Store::open(
            &dir.path().join("s.redb"),
            OpenOptions {
                shared: false,
                lock_timeout: Duration::ZERO,
                cache_bytes: crate::store::DEFAULT_CACHE_BYTES,
            },
            crate::store::TEST_CATALOG,
        )
        .unwrap(),
    );
    let put = |store: &Store, name: &str| {
        let doc: Doc = serde_json::from_value(serde_json::json!({"name": name})).unwrap();
        store.write(|mut tables| tables.put_doc("Note", name, &doc, &[]))
    };
    PANIC_IN_COMMIT.store(target(&store), Ordering::SeqCst);
    let panicking = Arc::clone(&store);
    let first = std::thread::spawn(move || put(&panicking, "lost")).join();
    assert!(first.is_err(), "the committing writer's thread panicked");
    // Without the guard, `committing` stayed set and this write waited forever.
    let (done, finished) = std::sync::mpsc::channel();
    let writing = Arc::clone(&store);
    std::thread::spawn(move || done.send(put(&writing, "kept").map(|r| r.is_ok())));
    let second = finished
        .recv_timeout(Duration::from_secs(10))
        .expect("the next write is not stuck behind the panicked commit");
    assert!(matches!(second, Ok(true)), "{second:?}");
    let read = store.read().unwrap();
    assert!(read.get_doc("Note", "kept").unwrap().is_some());
    assert!(
        read.get_doc("Note", "lost").unwrap().is_none(),
        "the panicked batch was not committed"
    );
}
