//! The stores under test behind one trait, [`Subject`]: coworker through its public API and
//! raw redb, the floor (SQLite, the usual choice, is in `sqlite.rs`).
//!
//! Every subject holds the same documents (`docs.rs`) on its own file and answers the same
//! questions; the workloads wrap these calls in `common::Peer`s to time them side by side.

use crate::docs::{self, CSV_HEADER, DOCTYPE, OPEN};
use coworker::{Engine, RunRequest};
use redb::{Database, Durability, ReadableDatabase, TableDefinition};
use serde_json::{Value, json};
use std::path::Path;

/// A store under test, opened on a file. Every write is durable when it returns.
pub trait Subject: Send + Sync {
    /// Its name in the report: `coworker`, `redb` or `sqlite`.
    fn label(&self) -> &'static str;
    /// Store `docs` (each with a fresh `name`) in one durable transaction (coworker: one run).
    fn create(&self, docs: &[Value]);
    /// The document named `name`.
    fn get(&self, name: &str) -> Value;
    /// The first 10 documents whose status is `Open`, in name order, as a CSV string
    /// (coworker: an operation whose Rhai handler runs the select and builds the CSV).
    fn page_csv(&self) -> String;
    /// Every document of `team` (an indexed field), parsed, in name order.
    fn team(&self, team: &str) -> Vec<Value>;
    /// Read and parse every document of the doctype, page by page; how many there were.
    fn read_all(&self) -> usize;
}

/// Which subject, as named on a child process's command line.
pub fn open(label: &str, path: &Path) -> Box<dyn Subject> {
    match label {
        "coworker" => Box::new(Coworker::open(path)),
        "redb" => Box::new(RawRedb::open(path)),
        "sqlite" => Box::new(crate::sqlite::Sqlite::open(path)),
        other => panic!("unknown subject {other}"),
    }
}

/// The subjects in report order, and their store files' names.
pub const LABELS: [&str; 3] = ["coworker", "redb", "sqlite"];

/// The store file of subject `label` in a folder.
pub fn file_name(label: &str) -> &'static str {
    match label {
        "coworker" => "coworker.redb",
        "redb" => "raw.redb",
        _ => "sqlite.db",
    }
}

// ---------------------------------------------------------------------------------------
// coworker
// ---------------------------------------------------------------------------------------

/// The schema of the benchmark doctype: `status` and `team` are indexed (`search_index`),
/// names are given by the caller.
fn schema() -> Value {
    json!({"doctype": "DocType", "name": DOCTYPE, "autoname": "prompt", "fields": [
        {"fieldname": "title", "fieldtype": "Data"},
        {"fieldname": "status", "fieldtype": "Select", "search_index": 1,
         "options": "Open\nWorking\nReview\nClosed\nDraft"},
        {"fieldname": "team", "fieldtype": "Data", "search_index": 1},
        {"fieldname": "amount", "fieldtype": "Int"},
        {"fieldname": "due", "fieldtype": "Date"},
        {"fieldname": "notes", "fieldtype": "Text"}]})
}

/// The select-10 handler: select the first 10 open tasks by name, map them to CSV.
const CSV_CODE: &str = r#"
let found = run(#{operation: "select", from: context.doctype,
                  input: #{where: #{status: "Open"}, orderBy: #{name: "asc"}, take: 10}});
if !found.success {
    throw found.error.message;
}
let csv = "name,title,status,amount,due\n";
for doc in found.output.data {
    csv += `${doc.name},${doc.title},${doc.status},${doc.amount},${doc.due}`;
    csv += "\n";
}
csv
"#;

/// The engine through its public API: `Engine::open` on a file, every call one `run`.
pub struct Coworker(Engine);

impl Coworker {
    /// Open (or create) the store, installing the schema and the CSV operation once.
    pub fn open(path: &Path) -> Coworker {
        // `COWORKER_BENCH_CACHE_MB` sets the engine's page cache (default: the engine's own).
        let builder = match std::env::var("COWORKER_BENCH_CACHE_MB") {
            Ok(mb) => Engine::builder().cache_size(mb.parse::<usize>().expect("megabytes") << 20),
            Err(_) => Engine::builder(),
        };
        let engine = builder.open(path).expect("the store opens");
        if engine.schema(DOCTYPE).expect("schema lookup").is_none() {
            let run = engine.import_schemas(vec![schema()]);
            assert!(run.success, "schema import: {:?}", run.error);
            // The default 2 s script deadline: a select page stops after `take`, so it needs
            // no more at 1M documents than at 100k.
            let run = engine.run(RunRequest::new("create").into_doctype("Operation").input(
                json!({"data": {"name": "export_csv", "requiresTarget": "from",
                                "handlerCode": CSV_CODE}}),
            ));
            assert!(run.success, "operation: {:?}", run.error);
        }
        Coworker(engine)
    }

    fn select(&self, input: Value) -> Vec<Value> {
        let mut run = self
            .0
            .run(RunRequest::new("select").from(DOCTYPE).input(input));
        assert!(run.success, "select failed: {:?}", run.error);
        match run.output["data"].take() {
            Value::Array(docs) => docs,
            other => panic!("select returned {other}"),
        }
    }
}

impl Subject for Coworker {
    fn label(&self) -> &'static str {
        "coworker"
    }

    fn create(&self, docs: &[Value]) {
        let run = self.0.run(
            RunRequest::new("create")
                .into_doctype(DOCTYPE)
                .input(json!({ "data": docs })),
        );
        assert!(run.success, "create failed: {:?}", run.error);
    }

    fn get(&self, name: &str) -> Value {
        let mut found = self.select(json!({"where": {"name": name}}));
        assert_eq!(found.len(), 1, "{name} exists once");
        found.swap_remove(0)
    }

    fn page_csv(&self) -> String {
        let mut run = self.0.run(RunRequest::new("export_csv").from(DOCTYPE));
        assert!(run.success, "export_csv failed: {:?}", run.error);
        match run.output.take() {
            Value::String(csv) => csv,
            other => panic!("export_csv returned {other}"),
        }
    }

    fn team(&self, team: &str) -> Vec<Value> {
        // A select returns at most MAX_SELECT_ROWS (10,000), exactly one team's size.
        let take = coworker::MAX_SELECT_ROWS;
        self.select(json!({"where": {"team": team}, "orderBy": {"name": "asc"}, "take": take}))
    }

    fn read_all(&self) -> usize {
        let take = coworker::MAX_SELECT_ROWS;
        let mut count = 0;
        let mut after = String::new();
        loop {
            let page = self.select(json!({"where": {"name": {"gt": after}},
                                          "orderBy": {"name": "asc"}, "take": take}));
            let Some(last) = page.last() else {
                return count;
            };
            count += page.len();
            after = last["name"].as_str().expect("named").to_string();
        }
    }
}

// ---------------------------------------------------------------------------------------
// raw redb
// ---------------------------------------------------------------------------------------

/// Documents keyed `doctype \0 name`, as JSON bytes.
const DOCS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("docs");
/// Index entries keyed `doctype \0 field \0 value \0 name`.
const INDEX: TableDefinition<&[u8], ()> = TableDefinition::new("index");
/// The fields the floor indexes (coworker's `search_index` fields).
const INDEXED: [&str; 2] = ["status", "team"];

/// Raw redb, the floor: the documents as JSON bytes and one index table, nothing else (no
/// run records, no validation, no audit).
pub struct RawRedb(Database);

fn doc_key(name: &str) -> Vec<u8> {
    [DOCTYPE.as_bytes(), b"\0", name.as_bytes()].concat()
}

/// The index keys of `field = value` start with this.
fn index_prefix(field: &str, value: &str) -> Vec<u8> {
    [DOCTYPE, field, value, ""].join("\0").into_bytes()
}

/// The byte string just after every key starting with `prefix` (which ends in `\0`).
fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    *end.last_mut().expect("a prefix ends in a separator") = 1;
    end
}

impl RawRedb {
    /// Open (or create) the file and its two tables.
    pub fn open(path: &Path) -> RawRedb {
        let db = Database::create(path).expect("redb file opens");
        let txn = db.begin_write().expect("write transaction");
        txn.open_table(DOCS).expect("docs table");
        txn.open_table(INDEX).expect("index table");
        txn.commit().expect("commit");
        RawRedb(db)
    }

    /// The documents whose `field` equals `value`, in name order, at most `take`.
    fn indexed(&self, field: &str, value: &str, take: usize) -> Vec<Value> {
        let txn = self.0.begin_read().expect("read transaction");
        let index = txn.open_table(INDEX).expect("index table");
        let docs = txn.open_table(DOCS).expect("docs table");
        let prefix = index_prefix(field, value);
        let end = prefix_end(&prefix);
        let mut found = Vec::new();
        for entry in index
            .range(prefix.as_slice()..end.as_slice())
            .expect("range")
            .take(take)
        {
            let (key, _) = entry.expect("index entry");
            let name = std::str::from_utf8(&key.value()[prefix.len()..]).expect("UTF-8 name");
            let bytes = docs
                .get(doc_key(name).as_slice())
                .expect("get")
                .expect("an indexed document exists");
            found.push(serde_json::from_slice(bytes.value()).expect("valid JSON"));
        }
        found
    }
}

impl Subject for RawRedb {
    fn label(&self) -> &'static str {
        "redb"
    }

    fn create(&self, docs: &[Value]) {
        let mut txn = self.0.begin_write().expect("write transaction");
        txn.set_durability(Durability::Immediate)
            .expect("durability");
        {
            let mut table = txn.open_table(DOCS).expect("docs table");
            let mut index = txn.open_table(INDEX).expect("index table");
            for doc in docs {
                let name = doc["name"].as_str().expect("named");
                let bytes = serde_json::to_vec(doc).expect("encode");
                table
                    .insert(doc_key(name).as_slice(), bytes.as_slice())
                    .expect("insert");
                for field in INDEXED {
                    let value = doc[field].as_str().expect("an indexed string");
                    let key = [index_prefix(field, value), name.as_bytes().to_vec()].concat();
                    index.insert(key.as_slice(), ()).expect("index insert");
                }
            }
        }
        txn.commit().expect("commit");
    }

    fn get(&self, name: &str) -> Value {
        let txn = self.0.begin_read().expect("read transaction");
        let table = txn.open_table(DOCS).expect("docs table");
        let bytes = table
            .get(doc_key(name).as_slice())
            .expect("get")
            .expect("the document exists");
        serde_json::from_slice(bytes.value()).expect("valid JSON")
    }

    fn page_csv(&self) -> String {
        let page = self.indexed("status", OPEN, 10);
        let rows: String = page.iter().map(docs::csv_row).collect();
        format!("{CSV_HEADER}{rows}")
    }

    fn team(&self, team: &str) -> Vec<Value> {
        self.indexed("team", team, usize::MAX)
    }

    fn read_all(&self) -> usize {
        let txn = self.0.begin_read().expect("read transaction");
        let table = txn.open_table(DOCS).expect("docs table");
        let start = doc_key("");
        let end = prefix_end(&start);
        let mut count = 0;
        for entry in table
            .range(start.as_slice()..end.as_slice())
            .expect("range")
        {
            let (_, bytes) = entry.expect("entry");
            let doc: Value = serde_json::from_slice(bytes.value()).expect("valid JSON");
            std::hint::black_box(doc);
            count += 1;
        }
        count
    }
}
