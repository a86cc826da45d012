//! Engine benchmarks: coworker next to raw redb doing the same work directly (the floor).
//!
//! Run with `cargo bench --bench engine`; see `benches/README.md` for how to read the output.
//!
//! Every store is a real redb *file* in a fresh temporary folder under Cargo's
//! `CARGO_TARGET_TMPDIR` (on disk, so a durable commit pays a real fsync; `/tmp` may be a
//! tmpfs on some machines, where fsync is free and the numbers would flatter).
//!
//! Each subject is a [`Store`] and, in each group, a [`common::Peer`] (the one trait of every
//! bench) doing that group's work on it:
//! - **coworker**: [`coworker::Engine`] opened on the file; every call is one top-level run,
//!   recorded like any other run (a write run commits durably before it returns, a select
//!   does not fsync; its record is written with the next commit).
//! - **redb** (the *floor*): the same documents as the same kind of JSON bytes, in one
//!   `TableDefinition<&[u8], &[u8]>` keyed `doctype \0 name` (the engine's own layout), with
//!   nothing else: no run records, no validation, no undo log. An engine built on redb cannot
//!   do the same work faster than this, so `coworker / redb` is the engine's overhead.
//!
//! Groups (all measured in the same run, so their ratios are comparable):
//! 1. `create_1`: one document per call, one durable commit each (fsync-bound).
//!    `create_100`: 100 documents per call, one durable commit for all of them.
//!    Throughput is documents per second.
//! 2. `select_by_name`: a point read on a store of 10k documents: coworker `select` with
//!    `where: {name: X}` vs redb `get` + `serde_json` parse.
//! 3. `where_scan`: a filter on a non-indexed field (`status = "Open"`, ~10% of documents,
//!    `take: 20`) over 10k and 100k documents: coworker `select` vs a redb range scan that
//!    parses every document and filters it. Throughput is documents scanned per second.
//! 4. `create_threads`: single-document creates from 1 and from 8 threads sharing one store
//!    (each thread has its own clone of the handle). Throughput is total documents per
//!    second across threads. Raw redb serializes writers, one fsync each; coworker's group
//!    commit lets concurrent runs share one durable commit, so it can beat the floor here.

// `criterion_group!` defines an undocumented `pub fn`.
#![allow(missing_docs)]

mod common;

use common::{Peer, bench};
use coworker::{Engine, RunRequest};
use criterion::{
    BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group, criterion_main,
};
use redb::{Database, Durability, ReadableDatabase, TableDefinition};
use serde_json::{Map, Value, json};
use std::cell::{Cell, OnceCell};
use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The doctype every benchmark document belongs to.
const DOCTYPE: &str = "ToDo";

/// Statuses cycled through by [`todo`]: one in ten documents is `Open`.
const STATUSES: [&str; 10] = [
    "Open",
    "Working",
    "Pending Review",
    "Closed",
    "Closed",
    "Closed",
    "Cancelled",
    "Closed",
    "Working",
    "Closed",
];

/// The `i`-th benchmark document, as a caller would send it.
fn todo(i: u64) -> Value {
    json!({
        "name": name(i),
        "description": format!("task {i}: write the benchmark, run it, read its numbers"),
        "status": STATUSES[(i % 10) as usize],
        "priority": i % 5,
        "tags": ["bench", "engine"],
    })
}

fn name(i: u64) -> String {
    format!("todo-{i:08}")
}

/// Names for documents created during the write benchmarks: never reused in a process.
static NEXT: AtomicU64 = AtomicU64::new(1_000_000_000);

fn fresh_todo() -> Value {
    todo(NEXT.fetch_add(1, Ordering::Relaxed))
}

/// The two stores under test.
#[derive(Clone, Copy)]
enum Kind {
    Coworker,
    Redb,
}

const KINDS: [Kind; 2] = [Kind::Coworker, Kind::Redb];

impl Kind {
    /// Its name in criterion's report.
    fn name(self) -> &'static str {
        match self {
            Kind::Coworker => "coworker",
            Kind::Redb => "redb",
        }
    }
}

/// One implementation under test, opened on a file. `create` is one durable commit for all
/// of `docs`.
#[derive(Clone)]
enum Store {
    Coworker(Coworker),
    Redb(RawRedb),
}

impl Store {
    fn open(kind: Kind, path: &Path) -> Store {
        match kind {
            Kind::Coworker => Store::Coworker(Coworker::open(path)),
            Kind::Redb => Store::Redb(RawRedb::open(path)),
        }
    }

    /// Store `docs` (each with a unique `name`) and return once they are durable.
    fn create(&self, docs: Vec<Value>) {
        match self {
            Store::Coworker(s) => s.create(docs),
            Store::Redb(s) => s.create(docs),
        }
    }

    /// The document named `name`.
    fn get_by_name(&self, name: &str) -> Value {
        match self {
            Store::Coworker(s) => s.get_by_name(name),
            Store::Redb(s) => s.get_by_name(name),
        }
    }

    /// The first `take` documents (in name order) whose `field` equals `value`.
    fn scan(&self, field: &str, value: &str, take: usize) -> Vec<Value> {
        match self {
            Store::Coworker(s) => s.scan(field, value, take),
            Store::Redb(s) => s.scan(field, value, take),
        }
    }
}

#[derive(Clone)]
struct Coworker(Engine);

impl Coworker {
    fn open(path: &Path) -> Self {
        Coworker(Engine::open(path).expect("store opens"))
    }

    fn create(&self, docs: Vec<Value>) {
        let run = self.0.run(
            RunRequest::new("create")
                .into_doctype(DOCTYPE)
                .input(json!({ "data": docs })),
        );
        assert!(run.success, "create failed: {:?}", run.error);
    }

    fn get_by_name(&self, name: &str) -> Value {
        let mut run = self.0.run(
            RunRequest::new("select")
                .from(DOCTYPE)
                .input(json!({ "where": { "name": name } })),
        );
        assert!(run.success, "select failed: {:?}", run.error);
        run.output["data"][0].take()
    }

    fn scan(&self, field: &str, value: &str, take: usize) -> Vec<Value> {
        let mut run = self.0.run(
            RunRequest::new("select")
                .from(DOCTYPE)
                .input(json!({ "where": { field: value }, "take": take })),
        );
        assert!(run.success, "select failed: {:?}", run.error);
        match run.output["data"].take() {
            Value::Array(docs) => docs,
            other => panic!("select returned {other}"),
        }
    }
}

const DOCS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("docs");

/// Raw redb: the floor.
#[derive(Clone)]
struct RawRedb(Arc<Database>);

fn doc_key(name: &str) -> Vec<u8> {
    [DOCTYPE.as_bytes(), &[0], name.as_bytes()].concat()
}

/// What the engine stores for `doc`: the caller's fields plus the doctype and the
/// stamps, so the floor writes and parses documents of the same size.
fn stored_form(doc: Value) -> Map<String, Value> {
    let Value::Object(fields) = doc else {
        panic!("a document is an object")
    };
    let stamp = "2025-11-25T10:38:00.000000Z";
    let run_id = "01KAWQ3ZC0V4J5XQ2M8N6P7R9S";
    let mut stored = Map::with_capacity(fields.len() + 7);
    stored.insert("doctype".into(), json!(DOCTYPE));
    stored.extend(fields);
    stored.insert("creation".into(), json!(stamp));
    stored.insert("modified".into(), json!(stamp));
    stored.insert("owner".into(), Value::Null);
    stored.insert("modifiedBy".into(), Value::Null);
    stored.insert("createdByRun".into(), json!(run_id));
    stored.insert("modifiedByRun".into(), json!(run_id));
    stored
}

impl RawRedb {
    fn open(path: &Path) -> Self {
        let db = Database::create(path).expect("redb file opens");
        let txn = db.begin_write().expect("write transaction");
        txn.open_table(DOCS).expect("docs table");
        txn.commit().expect("commit");
        RawRedb(Arc::new(db))
    }

    fn create(&self, docs: Vec<Value>) {
        let mut txn = self.0.begin_write().expect("write transaction");
        txn.set_durability(Durability::Immediate)
            .expect("durability");
        {
            let mut table = txn.open_table(DOCS).expect("docs table");
            for doc in docs {
                let stored = stored_form(doc);
                let key = doc_key(stored["name"].as_str().expect("named"));
                let bytes = serde_json::to_vec(&stored).expect("encode");
                table
                    .insert(key.as_slice(), bytes.as_slice())
                    .expect("insert");
            }
        }
        txn.commit().expect("commit");
    }

    fn get_by_name(&self, name: &str) -> Value {
        let txn = self.0.begin_read().expect("read transaction");
        let table = txn.open_table(DOCS).expect("docs table");
        let bytes = table
            .get(doc_key(name).as_slice())
            .expect("get")
            .expect("document exists");
        serde_json::from_slice(bytes.value()).expect("valid JSON")
    }

    fn scan(&self, field: &str, value: &str, take: usize) -> Vec<Value> {
        let txn = self.0.begin_read().expect("read transaction");
        let table = txn.open_table(DOCS).expect("docs table");
        let start = [DOCTYPE.as_bytes(), &[0]].concat();
        let end = [DOCTYPE.as_bytes(), &[1]].concat();
        let mut found = Vec::new();
        let mut total = 0usize;
        for entry in table
            .range(start.as_slice()..end.as_slice())
            .expect("range")
        {
            let (_, bytes) = entry.expect("entry");
            let doc: Map<String, Value> = serde_json::from_slice(bytes.value()).expect("JSON");
            if doc.get(field).and_then(Value::as_str) == Some(value) {
                // Like the engine, keep counting past `take` (it reports the total).
                total += 1;
                if found.len() < take {
                    found.push(Value::Object(doc));
                }
            }
        }
        black_box(total);
        found
    }
}

/// A store on its own file, removed when dropped.
struct Fixture {
    store: Store,
    _dir: tempfile::TempDir,
}

impl Fixture {
    fn empty(kind: Kind) -> Self {
        let dir = common::temp_dir();
        let store = Store::open(kind, &dir.path().join("bench.redb"));
        Fixture { store, _dir: dir }
    }

    /// A store holding documents `0..count`, written 1000 per call.
    fn with_docs(kind: Kind, count: u64) -> Self {
        let fixture = Self::empty(kind);
        let mut i = 0;
        while i < count {
            let end = (i + 1000).min(count);
            fixture.store.create((i..end).map(todo).collect());
            i = end;
        }
        fixture
    }
}

/// A subject doing `work` on a store `make` builds when the subject's benchmark first runs
/// (so a benchmark left out by a filter builds none).
struct OnStore<M, W> {
    kind: Kind,
    make: M,
    fixture: OnceCell<Fixture>,
    work: W,
}

impl<M: Fn(Kind) -> Fixture, W: Fn(&Store) -> Value> OnStore<M, W> {
    fn new(kind: Kind, make: M, work: W) -> Self {
        OnStore {
            kind,
            make,
            fixture: OnceCell::new(),
            work,
        }
    }
}

impl<M: Fn(Kind) -> Fixture, W: Fn(&Store) -> Value> Peer for OnStore<M, W> {
    fn name(&self) -> &str {
        self.kind.name()
    }

    fn prepare(&self) {
        self.fixture.get_or_init(|| (self.make)(self.kind));
    }

    fn call(&self) -> Value {
        (self.work)(&self.fixture.get().expect("prepared").store)
    }
}

fn create(c: &mut Criterion) {
    let mut group = c.benchmark_group("create_1");
    group.throughput(Throughput::Elements(1));
    for kind in KINDS {
        let one = OnStore::new(kind, Fixture::empty, |store| {
            store.create(vec![fresh_todo()]);
            Value::Null
        });
        bench(&mut group, None, &one);
    }
    group.finish();

    let mut group = c.benchmark_group("create_100");
    group.throughput(Throughput::Elements(100));
    for kind in KINDS {
        let hundred = OnStore::new(kind, Fixture::empty, |store| {
            store.create((0..100).map(|_| fresh_todo()).collect());
            Value::Null
        });
        bench(&mut group, None, &hundred);
    }
    group.finish();
}

const SMALL: u64 = 10_000;
const LARGE: u64 = 100_000;

fn select_by_name(c: &mut Criterion) {
    let mut group = c.benchmark_group("select_by_name");
    group.throughput(Throughput::Elements(1));
    // Visit the documents in a scattered order, not sequentially.
    let names: Vec<String> = (0..SMALL).map(|i| name((i * 7919) % SMALL)).collect();
    for kind in KINDS {
        let make = |kind| {
            let fixture = Fixture::with_docs(kind, SMALL);
            let doc = fixture.store.get_by_name(&names[1]);
            assert_eq!(doc["name"], json!(names[1]));
            fixture
        };
        let next = Cell::new(0);
        let point_read = OnStore::new(kind, make, |store| {
            next.set((next.get() + 1) % names.len());
            store.get_by_name(&names[next.get()])
        });
        bench(&mut group, None, &point_read);
    }
    group.finish();
}

fn where_scan(c: &mut Criterion) {
    let mut group = c.benchmark_group("where_scan");
    // Iterations take milliseconds: the same count in every sample keeps the group short.
    group.sampling_mode(SamplingMode::Flat);
    for count in [SMALL, LARGE] {
        group.throughput(Throughput::Elements(count));
        for kind in KINDS {
            let make = |kind| {
                let fixture = Fixture::with_docs(kind, count);
                let first = fixture.store.scan("status", "Open", 20);
                assert_eq!(first.len(), 20);
                assert!(first.iter().all(|doc| doc["status"] == json!("Open")));
                fixture
            };
            let scan = OnStore::new(kind, make, |store| {
                Value::Array(store.scan("status", "Open", 20))
            });
            bench(&mut group, Some(&count.to_string()), &scan);
        }
    }
    group.finish();
}

/// `iters` single-document creates spread over `threads` threads; the wall time of all.
fn creates_on_threads(store: &Store, threads: u64, iters: u64) -> Duration {
    let start = Instant::now();
    std::thread::scope(|scope| {
        for t in 0..threads {
            let share = iters / threads + u64::from(t < iters % threads);
            let store = store.clone();
            scope.spawn(move || {
                for _ in 0..share {
                    store.create(vec![fresh_todo()]);
                }
            });
        }
    });
    start.elapsed()
}

fn create_threads(c: &mut Criterion) {
    let mut group = c.benchmark_group("create_threads");
    group.throughput(Throughput::Elements(1));
    for kind in KINDS {
        // One store for both thread counts, made when the first of them runs. Timed by
        // threads, not per call: each thread creates through its own clone of the handle.
        let one = OnStore::new(kind, Fixture::empty, |store| {
            store.create(vec![fresh_todo()]);
            Value::Null
        });
        for threads in [1, 8] {
            group.bench_with_input(
                BenchmarkId::new(one.name(), threads),
                &threads,
                |b, &threads| {
                    one.prepare();
                    let store = &one.fixture.get().expect("prepared").store;
                    b.iter_custom(|iters| creates_on_threads(store, threads, iters))
                },
            );
        }
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = create, select_by_name, where_scan, create_threads
}
criterion_main!(benches);
