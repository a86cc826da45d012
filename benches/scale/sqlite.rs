//! SQLite, the usual choice: the documents as JSON text in one table, in WAL mode with
//! `synchronous=FULL` (a commit is durable when it returns), and expression indexes on the
//! fields coworker indexes (`json_extract(body, '$.status')`, `'$.team'`).
//!
//! Connections come from a small pool: a thread takes one (opening it the first time) and
//! gives it back, so 8 writing threads use 8 connections, as 8 clients of SQLite would.

use crate::docs::{self, CSV_HEADER, DOCTYPE, OPEN};
use crate::subjects::Subject;
use rusqlite::{Connection, TransactionBehavior, params};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

/// The table and its indexes. Rows are keyed by `(doctype, name)` as a user would declare
/// them (a rowid table with a primary key index).
const SCHEMA: &str = "
    CREATE TABLE IF NOT EXISTS docs (
        doctype TEXT NOT NULL,
        name TEXT NOT NULL,
        body TEXT NOT NULL,
        PRIMARY KEY (doctype, name));
    CREATE INDEX IF NOT EXISTS docs_status ON docs (doctype, json_extract(body, '$.status'), name);
    CREATE INDEX IF NOT EXISTS docs_team ON docs (doctype, json_extract(body, '$.team'), name);";

const INSERT: &str = "INSERT INTO docs (doctype, name, body) VALUES (?1, ?2, ?3)";
const GET: &str = "SELECT body FROM docs WHERE doctype = ?1 AND name = ?2";
const PAGE: &str = "SELECT body FROM docs WHERE doctype = ?1 AND json_extract(body, '$.status') = ?2 \
     ORDER BY name LIMIT 10";
const TEAM: &str = "SELECT body FROM docs WHERE doctype = ?1 AND json_extract(body, '$.team') = ?2 \
     ORDER BY name";
const ALL: &str = "SELECT body FROM docs WHERE doctype = ?1 ORDER BY name";

/// SQLite on one file, WAL, `synchronous=FULL`.
pub struct Sqlite {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

/// A connection configured for durability and for waiting on a busy writer.
fn connect(path: &Path) -> Connection {
    let conn = Connection::open(path).expect("SQLite file opens");
    conn.busy_timeout(Duration::from_secs(30))
        .expect("busy timeout");
    let mode: String = conn
        .query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))
        .expect("WAL mode");
    assert_eq!(mode, "wal");
    conn.execute_batch("PRAGMA synchronous = FULL")
        .expect("synchronous");
    conn
}

impl Sqlite {
    /// Open (or create) the file, its table and indexes.
    pub fn open(path: &Path) -> Sqlite {
        let conn = connect(path);
        conn.execute_batch(SCHEMA).expect("schema");
        let sqlite = Sqlite {
            path: path.to_path_buf(),
            idle: Mutex::new(vec![conn]),
        };
        sqlite.check_plans();
        sqlite
    }

    /// Run `work` on an idle connection (a new one if none is idle), then give it back.
    fn with<T>(&self, work: impl FnOnce(&mut Connection) -> T) -> T {
        let idle = self.idle.lock().expect("pool").pop();
        let mut conn = idle.unwrap_or_else(|| connect(&self.path));
        let out = work(&mut conn);
        self.idle.lock().expect("pool").push(conn);
        out
    }

    /// The parsed bodies `sql` returns for its two text parameters.
    fn bodies(&self, sql: &str, second: &str) -> Vec<Value> {
        self.with(|conn| {
            let mut stmt = conn.prepare_cached(sql).expect("prepare");
            let rows = stmt
                .query_map(params![DOCTYPE, second], |row| row.get::<_, String>(0))
                .expect("query");
            rows.map(|body| serde_json::from_str(&body.expect("row")).expect("valid JSON"))
                .collect()
        })
    }

    /// The selects must be answered from their expression index, in name order, without a
    /// sort: otherwise the peer would be a straw man.
    fn check_plans(&self) {
        for (sql, index) in [(PAGE, "docs_status"), (TEAM, "docs_team")] {
            let plan: Vec<String> = self.with(|conn| {
                let mut stmt = conn
                    .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
                    .expect("plan");
                stmt.query_map(params![DOCTYPE, "x"], |row| row.get::<_, String>(3))
                    .expect("plan rows")
                    .map(|detail| detail.expect("detail"))
                    .collect()
            });
            let plan = plan.join("; ");
            assert!(
                plan.contains(index) && !plan.contains("TEMP B-TREE"),
                "SQLite plan for {sql}: {plan}"
            );
        }
    }
}

impl Subject for Sqlite {
    fn label(&self) -> &'static str {
        "sqlite"
    }

    fn create(&self, docs: &[Value]) {
        self.with(|conn| {
            let txn = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .expect("begin");
            {
                let mut insert = txn.prepare_cached(INSERT).expect("prepare");
                for doc in docs {
                    let name = doc["name"].as_str().expect("named");
                    let body = serde_json::to_string(doc).expect("encode");
                    insert
                        .execute(params![DOCTYPE, name, body])
                        .expect("insert");
                }
            }
            txn.commit().expect("commit");
        });
    }

    fn get(&self, name: &str) -> Value {
        let mut found = self.bodies(GET, name);
        assert_eq!(found.len(), 1, "{name} exists once");
        found.swap_remove(0)
    }

    fn page_csv(&self) -> String {
        let rows: String = self.bodies(PAGE, OPEN).iter().map(docs::csv_row).collect();
        format!("{CSV_HEADER}{rows}")
    }

    fn team(&self, team: &str) -> Vec<Value> {
        self.bodies(TEAM, team)
    }

    fn read_all(&self) -> usize {
        self.with(|conn| {
            let mut stmt = conn.prepare_cached(ALL).expect("prepare");
            let rows = stmt
                .query_map(params![DOCTYPE], |row| row.get::<_, String>(0))
                .expect("query");
            let mut count = 0;
            for body in rows {
                let doc: Value = serde_json::from_str(&body.expect("row")).expect("valid JSON");
                std::hint::black_box(doc);
                count += 1;
            }
            count
        })
    }
}
