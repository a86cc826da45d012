//! # coworker — an embedded rules engine where everything is a document
//!
//! Records, their schemas, operations, workflow templates and the runs that record what
//! happened are all documents in one embedded [redb](https://docs.rs/redb) store. One entry
//! point, [`Engine::run`], executes any operation and returns the [`Run`] that records it.
//!
//! ```
//! use coworker::{Engine, RunRequest};
//! use serde_json::json;
//!
//! let engine = Engine::in_memory().unwrap();
//! engine.run(RunRequest::new("create").into_doctype("ToDo")
//!     .input(json!({"data": [{"description": "write docs", "status": "Open"},
//!                            {"description": "ship", "status": "Closed"}]})));
//! let open = engine.run_json(
//!     r#"{"operation": "select", "from": "ToDo", "input": {"where": {"status": "Open"}}}"#,
//! );
//! assert!(open.success);
//! assert_eq!(open.data()[0]["description"], json!("write docs"));
//! // Every run is recorded and can be read back.
//! assert_eq!(engine.get_run(&open.id).unwrap().unwrap().output["meta"]["count"], json!(1));
//! ```
//!
//! ## Durability
//! A run that writes is acknowledged only after its transaction is durable (one fdatasync
//! of the store's redo log, shared by runs that commit together; the README's
//! "Durability" section says how the log is checkpointed and replayed). Runs that write nothing (selects, dry runs) do not
//! wait for an fsync: their records are written with the next write, [`Engine::flush`], or
//! when the engine is dropped. A crash can lose the records of the last read-only runs,
//! never a document.
//!
//! ## Queries
//! `select` takes Prisma-style `where` (equality, `in`, `notIn`, `not`, `lt`/`lte`/`gt`/`gte`,
//! `contains`, `startsWith`, `endsWith`, nested `AND`/`OR`/`NOT`), `orderBy`, `take`, `skip`
//! and `select`. Numbers compare as numbers, strings as strings; a comparison between
//! different types never matches. Sorting orders mixed types as
//! missing/null < booleans < numbers < strings < arrays < objects, and breaks ties by `name`.
//! Without `take`, a select returns at most [`MAX_SELECT_ROWS`] documents and says so in
//! `output.meta.truncated`.
//!
//! ## Architecture
//! One module per concept, arrows pointing down: `engine` (the pipeline as named stages) →
//! handler families (`ops`, `workflow`, `pack`) → `handler` (the handler contract and the
//! `Runner` trait the engine implements) → `script`, `schema`, `acl`, `audit`, `query`,
//! `run`, `limits` → `store` (behind traits a second backend can implement). The README's
//! "Architecture" section draws the tree and says where each concept lives.
#![forbid(unsafe_code)]

mod acl;
mod archive;
mod audit;
mod clock;
mod doc;
mod engine;
mod error;
mod handler;
mod limits;
mod ops;
mod pack;
mod query;
mod retention;
mod run;
mod schema;
mod script;
mod store;
mod testing;
mod value;
mod workflow;

pub use acl::DEFAULT_SUPERUSER_ROLE;
pub use archive::{ArchiveCheck, ArchivedSegment, AuditArchiveReport};
pub use audit::{
    AuditReport, BrokenLink, DocumentMismatch, DocumentReport, MAX_LISTED_MISMATCHES,
    MAX_LISTED_REDACTED, Problem,
};
pub use engine::{
    DEFAULT_IMPORT_BATCH, Engine, EngineBuilder, ImportFailure, ImportOptions, ImportProgress,
    ImportReport, MAX_NESTED_DEPTH, PruneReport, RestoreReport, RunArchive, RunHook, RunQuery,
    RunTree,
};
pub use error::{Error, ErrorCode, FieldError, Result, RunError};
pub use handler::{NativeHandler, OpContext};
pub use ops::MAX_SELECT_ROWS;
pub use pack::Pack;
pub use run::{Run, RunOptions, RunRequest, RunStatus};
pub use script::{Limits, bench_support};
pub use store::{
    AuditStats, BackupReport, FileStats, IndexStats, NextPrune, OldestRun, RedoLogStats,
    RetentionStats, RunStats, SpaceStats, StoreStats, TableStats,
};
pub use testing::{TestOutcome, TestReport, run_script_tests};
pub use value::MAX_VALUE_DEPTH;

/// Fault injection for tests of I/O failures (not part of the supported API).
#[doc(hidden)]
pub mod faults {
    pub use crate::store::fail_writes;
}

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
