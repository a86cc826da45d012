//! Building an engine: the host's native operations and callbacks, the store's options,
//! and opening (or creating) the store with its seeded schemas and operations.

use super::{Core, Engine, Hooks, prune};
use crate::acl::RateLimiter;
use crate::error::Result;
use crate::handler::{Catalog, NativeHandler, OpContext};
use crate::ops::{self, Registry};
use crate::run::Run;
use crate::schema;
use crate::store::{Backend, Store, View, WriteTx};
use serde_json::Value;
use std::path::Path;
use std::sync::Arc;

/// Builds an [`Engine`] with host-provided native operations.
///
/// ```
/// use coworker::{Engine, RunRequest};
/// use serde_json::json;
///
/// let engine = Engine::builder()
///     .operation("count_notes", |ctx| {
///         let child = ctx.run(RunRequest::new("select").from("Note"));
///         Ok(json!({"count": child.data().len()}))
///     })
///     .in_memory()
///     .unwrap();
/// let run = engine.run(RunRequest::new("count_notes"));
/// assert_eq!(run.output["count"], json!(0));
/// assert_eq!(run.child_run_ids.len(), 1);
/// ```
pub struct EngineBuilder {
    registry: Registry,
    hooks: Hooks,
    share_with_readers: bool,
    pub(super) lock_timeout: std::time::Duration,
    cache_bytes: usize,
}

impl Default for EngineBuilder {
    fn default() -> Self {
        let mut registry = Registry::default();
        let install: Arc<NativeHandler> = Arc::new(crate::pack::install);
        registry.add_superuser_only(crate::pack::INSTALL_PACK.to_string(), install);
        let erase: Arc<NativeHandler> = Arc::new(crate::ops::erase);
        registry.add_superuser_only(crate::ops::ERASE.to_string(), erase);
        EngineBuilder {
            registry,
            hooks: Hooks::default(),
            share_with_readers: false,
            lock_timeout: crate::store::DEFAULT_LOCK_TIMEOUT,
            cache_bytes: crate::store::DEFAULT_CACHE_BYTES,
        }
    }
}

impl EngineBuilder {
    /// Register a native (Rust) operation under `name`. It runs through the same pipeline
    /// as every operation and may start nested runs with [`OpContext::run`].
    pub fn operation(
        mut self,
        name: impl Into<String>,
        handler: impl Fn(&mut OpContext<'_, '_>) -> Result<Value> + Send + Sync + 'static,
    ) -> Self {
        let handler: Arc<NativeHandler> = Arc::new(handler);
        self.registry.add_native(name.into(), handler);
        self
    }

    /// Call `hook` with each top-level run before it executes (status `pending`).
    pub fn before_run(mut self, hook: impl Fn(&Run) + Send + Sync + 'static) -> Self {
        self.hooks.before.push(Arc::new(hook));
        self
    }

    /// Call `hook` with each top-level run that completed, once its writes are durable.
    pub fn after_run(mut self, hook: impl Fn(&Run) + Send + Sync + 'static) -> Self {
        self.hooks.after.push(Arc::new(hook));
        self
    }

    /// Call `hook` with each top-level run that failed, once it is recorded.
    pub fn on_run_error(mut self, hook: impl Fn(&Run) + Send + Sync + 'static) -> Self {
        self.hooks.error.push(Arc::new(hook));
        self
    }

    /// Let other processes read the store file while this engine writes it (the CLI's
    /// `runs` and `audit verify`, [`Engine::open_read_only`]). Each durable commit then
    /// costs a second fsync, so it is off by default.
    pub fn share_with_readers(mut self) -> Self {
        self.share_with_readers = true;
        self
    }

    /// How long [`EngineBuilder::open`] and [`EngineBuilder::open_read_only`] wait, with
    /// backoff, for a store file another process has open for writing before they give up
    /// (naming the file and, where the OS tells, that process). Default: zero, give up at
    /// once; the CLI waits 10 s (`--lock-timeout`).
    pub fn lock_timeout(mut self, timeout: std::time::Duration) -> Self {
        self.lock_timeout = timeout;
        self
    }

    /// How many bytes of the store file [`EngineBuilder::open`] and
    /// [`EngineBuilder::open_read_only`] keep cached in memory (redb's page cache: read
    /// cache and write buffer together). Default: 64 MiB, so the resident set does not grow
    /// with the store; pages beyond it are read again from the OS's page cache. A host with
    /// memory to spare and a hot set larger than that may raise it (the CLI's `--cache-mb`).
    pub fn cache_size(mut self, bytes: usize) -> Self {
        self.cache_bytes = bytes;
        self
    }

    pub(super) fn open_options(&self) -> crate::store::OpenOptions {
        crate::store::OpenOptions {
            shared: self.share_with_readers,
            lock_timeout: self.lock_timeout,
            cache_bytes: self.cache_bytes,
        }
    }

    /// Open (or create) the store file at `path`.
    pub fn open(self, path: impl AsRef<Path>) -> Result<Engine> {
        let options = self.open_options();
        let store = Store::open(path.as_ref(), options, crate::ops::system::store_catalog())?;
        self.build(store)
    }

    /// Open an existing store file only to read it (runs, their trees, the audit chain),
    /// while another process — an embedding host — may be writing it. Such an engine
    /// cannot execute requests: a run would have nowhere to be recorded. A file that a
    /// killed process left unclean is repaired first when no process has it open.
    pub fn open_read_only(self, path: impl AsRef<Path>) -> Result<Engine> {
        let store = Store::open_read_only(
            path.as_ref(),
            self.open_options(),
            crate::ops::system::store_catalog(),
        )?;
        Ok(self.engine_over(store))
    }

    /// A store in memory, gone when the engine is dropped.
    pub fn in_memory(self) -> Result<Engine> {
        self.build(Store::in_memory(crate::ops::system::store_catalog())?)
    }

    fn build(self, store: Store) -> Result<Engine> {
        let seeded = [
            (schema::SCHEMA, schema::seeds()),
            (ops::OPERATION, ops::seeds()),
        ];
        store.write(|mut tables| -> Result<()> {
            for (doctype, seeds) in &seeded {
                for seed in seeds {
                    let name = seed["name"].as_str().expect("seeds are named");
                    let stored = tables.get_doc(doctype, name)?;
                    // Seeded schemas cannot be changed by anyone, so a store made by an
                    // earlier version takes this version's (new settings fields, ...); one
                    // that a Frappe file extended (Role, User) keeps the file's fields.
                    let refreshed = match &stored {
                        Some(stored) if schema::frappe::is_extension(seed, stored) => {
                            schema::frappe::extend_seed(seed, stored)
                        }
                        _ => seed.clone(),
                    };
                    let outdated = *doctype == schema::SCHEMA
                        && stored.as_ref().is_some_and(|stored| *stored != refreshed);
                    if stored.is_none() || outdated {
                        tables.put_doc(doctype, name, &refreshed, &[])?;
                    }
                }
            }
            Ok(())
        })??;
        let engine = self.engine_over(store);
        engine.compile_operations();
        Ok(engine)
    }

    fn engine_over(self, store: Store) -> Engine {
        let store = Arc::new(store);
        let writes = !store.read_only();
        let core = Arc::new(Core {
            catalog: Catalog::new(store.clone()),
            store,
            registry: self.registry,
            limiter: RateLimiter::default(),
            hooks: self.hooks,
            live: prune::LiveRuns::default(),
        });
        if writes {
            prune::start_background(&core);
        }
        Engine {
            owner: None,
            pinned: false,
            core,
        }
    }
}
