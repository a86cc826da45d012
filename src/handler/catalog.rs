//! The catalog: meta documents (schemas, operations, access control and size settings,
//! users) parsed once and cached per meta generation of the store, so a change is never
//! served stale; and, for the handler families, what they parse or derive from meta
//! documents (workflow templates, link plans), in caches keyed by type. A
//! transaction holding uncommitted meta changes bypasses the caches. It reads the store,
//! never writes it.

use super::{Operation, Tx};
use crate::acl;
use crate::doc::Doc;
use crate::error::Result;
use crate::schema::{SCHEMA, Schema};
use crate::store::{Backend, Store, View};
use crate::value::{LIMITS_NAME, SizeLimits};
use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// The cached meta documents of one store, as every transaction on it sees them.
pub(crate) struct Catalog {
    /// Whose meta generation tags the caches.
    store: Arc<Store>,
    schemas: SchemaCache,
    /// Operation documents, parsed (their scripts compiled).
    operations: MetaCache<Operation>,
    /// Access control settings (the `System Settings` document `acl`).
    settings: MetaCache<acl::Settings>,
    /// Size limits (the `System Settings` document `limits`).
    limits: MetaCache<SizeLimits>,
    users: MetaCache<Doc>,
    /// What handler families parse or derive from meta documents (workflow templates,
    /// the link plans of doctypes), one cache per type: the catalog keeps them without
    /// knowing them (it sits below the families).
    families: Mutex<HashMap<TypeId, Box<dyn Any + Send + Sync>>>,
}

impl Catalog {
    /// Empty caches over `store`.
    pub(crate) fn new(store: Arc<Store>) -> Catalog {
        Catalog {
            store,
            schemas: SchemaCache::default(),
            operations: MetaCache::default(),
            settings: MetaCache::default(),
            limits: MetaCache::default(),
            users: MetaCache::default(),
            families: Mutex::default(),
        }
    }

    /// The meta generation `tx` reads at, or `None` if it holds uncommitted meta changes.
    pub(crate) fn generation(&self, tx: &Tx<'_>) -> Option<u64> {
        match tx {
            Tx::Read(_, generation) => Some(*generation),
            Tx::Write(_) if self.store.schemas_dirty() => None,
            Tx::Write(_) => Some(self.store.schema_generation()),
        }
    }

    /// The schema of `doctype` (`None`: the null schema, anything goes).
    pub(crate) fn schema(&self, tx: &Tx<'_>, doctype: &str) -> Result<Option<Arc<Schema>>> {
        let store = &self.store;
        self.schemas
            .schema(tx.view(), doctype, self.generation(tx), || {
                store.schema_generation()
            })
    }

    /// The operation document `name` (a canonical name, no alias), parsed.
    pub(crate) fn operation(&self, tx: &Tx<'_>, name: &str) -> Result<Option<Arc<Operation>>> {
        let store = &self.store;
        self.operations.get(
            tx.view(),
            super::OPERATION,
            name,
            self.generation(tx),
            || store.schema_generation(),
            Operation::from_doc,
        )
    }

    /// Access control settings, or `None` while access control is off.
    pub(crate) fn acl_settings(&self, tx: &Tx<'_>) -> Result<Option<Arc<acl::Settings>>> {
        let store = &self.store;
        let settings = self.settings.get(
            tx.view(),
            acl::SETTINGS,
            acl::SETTINGS_NAME,
            self.generation(tx),
            || store.schema_generation(),
            |doc| Ok(acl::Settings::from_doc(Some(doc))),
        )?;
        Ok(settings.filter(|s| s.enabled))
    }

    /// The size limits `tx` sees (the defaults while there is no `limits` document).
    pub(crate) fn size_limits(&self, tx: &Tx<'_>) -> Result<SizeLimits> {
        let store = &self.store;
        let limits = self.limits.get(
            tx.view(),
            acl::SETTINGS,
            LIMITS_NAME,
            self.generation(tx),
            || store.schema_generation(),
            |doc| Ok(SizeLimits::from_doc(doc)),
        )?;
        Ok(limits.map_or_else(SizeLimits::default, |limits| *limits))
    }

    /// The user document `name` (`None`: no such user).
    pub(crate) fn user(&self, tx: &Tx<'_>, name: &str) -> Result<Option<Arc<Doc>>> {
        let store = &self.store;
        self.users.get(
            tx.view(),
            acl::USER,
            name,
            self.generation(tx),
            || store.schema_generation(),
            |doc| Ok(doc.clone()),
        )
    }

    /// The document `name` of `doctype` as a `T` (a handler family's parse of a meta
    /// document, e.g. a workflow template), parsed by `parse` once per meta generation.
    pub(crate) fn parsed<T: Send + Sync + 'static>(
        &self,
        tx: &Tx<'_>,
        doctype: &str,
        name: &str,
        parse: impl Fn(&Doc) -> Result<T>,
    ) -> Result<Option<Arc<T>>> {
        let store = &self.store;
        self.family::<T>().get(
            tx.view(),
            doctype,
            name,
            self.generation(tx),
            || store.schema_generation(),
            parse,
        )
    }

    /// The `T` parsed under `name` if it is cached at `generation` (no store access).
    pub(crate) fn peek<T: Send + Sync + 'static>(
        &self,
        name: &str,
        generation: u64,
    ) -> Option<Arc<T>> {
        self.family::<T>().peek(name, generation)
    }

    /// What `compute` derives from the meta documents for `key` as a `T` (e.g. where
    /// documents may link to a doctype), once per meta generation.
    pub(crate) fn derived<T: Send + Sync + 'static>(
        &self,
        tx: &Tx<'_>,
        key: &str,
        compute: impl FnOnce() -> Result<T>,
    ) -> Result<Arc<T>> {
        let store = &self.store;
        self.family::<T>().derived(
            key,
            self.generation(tx),
            || store.schema_generation(),
            compute,
        )
    }

    /// The cache of the `T`s a handler family keeps (made empty on first use).
    fn family<T: Send + Sync + 'static>(&self) -> MetaCache<T> {
        let mut families = self.families.lock().unwrap_or_else(|p| p.into_inner());
        families
            .entry(TypeId::of::<T>())
            .or_insert_with(|| Box::new(MetaCache::<T>::default()))
            .downcast_ref::<MetaCache<T>>()
            .expect("a family's cache is keyed by its type")
            .clone()
    }
}

/// A cached parse (`None`: no such document) and the generation it was read at.
type CacheEntry<T> = (u64, Option<Arc<T>>);

/// Parsed meta documents (schemas, operations) of committed state, tagged with the store's
/// meta generation so that a change is never served stale.
pub(crate) struct MetaCache<T> {
    entries: Arc<Mutex<HashMap<String, CacheEntry<T>>>>,
}

impl<T> Default for MetaCache<T> {
    fn default() -> Self {
        MetaCache {
            entries: Arc::default(),
        }
    }
}

impl<T> Clone for MetaCache<T> {
    fn clone(&self) -> Self {
        MetaCache {
            entries: self.entries.clone(),
        }
    }
}

impl<T> MetaCache<T> {
    /// The cached parse of `name`, if it was cached at `generation` (no store access).
    pub(crate) fn peek(&self, name: &str, generation: u64) -> Option<Arc<T>> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        match entries.get(name) {
            Some((cached_at, found)) if *cached_at == generation => found.clone(),
            _ => None,
        }
    }

    /// The document `name` of `doctype` as `view` sees it, parsed by `parse`.
    ///
    /// `generation` is the store's meta generation observed before `view` was opened, or
    /// `None` when `view` holds uncommitted meta changes (then the cache is bypassed).
    pub(crate) fn get(
        &self,
        view: &dyn View,
        doctype: &str,
        name: &str,
        generation: Option<u64>,
        current: impl Fn() -> u64,
        parse: impl Fn(&Doc) -> Result<T>,
    ) -> Result<Option<Arc<T>>> {
        if let Some(generation) = generation {
            let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
            if let Some((cached_at, found)) = entries.get(name)
                && *cached_at == generation
            {
                return Ok(found.clone());
            }
        }
        let found = match view.get_doc(doctype, name)? {
            Some(doc) => Some(Arc::new(parse(&doc)?)),
            None => None,
        };
        if let Some(generation) = generation
            && generation == current()
        {
            let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
            entries.insert(name.to_string(), (generation, found.clone()));
        }
        Ok(found)
    }
}

impl<T> MetaCache<T> {
    /// What `compute` derives from the meta documents for `key` (e.g. the Link fields that
    /// point to a doctype), cached like a parse: per generation, bypassed when `generation`
    /// is `None` (uncommitted meta changes in view).
    pub(crate) fn derived(
        &self,
        key: &str,
        generation: Option<u64>,
        current: impl Fn() -> u64,
        compute: impl FnOnce() -> Result<T>,
    ) -> Result<Arc<T>> {
        if let Some(found) = generation.and_then(|g| self.peek(key, g)) {
            return Ok(found);
        }
        let found = Arc::new(compute()?);
        if let Some(generation) = generation
            && generation == current()
        {
            let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
            entries.insert(key.to_string(), (generation, Some(found.clone())));
        }
        Ok(found)
    }
}

/// The schemas of a store.
pub(crate) type SchemaCache = MetaCache<Schema>;

impl SchemaCache {
    /// The schema of `doctype` (`None`: the null schema, anything goes).
    pub(crate) fn schema(
        &self,
        view: &dyn View,
        doctype: &str,
        generation: Option<u64>,
        current: impl Fn() -> u64,
    ) -> Result<Option<Arc<Schema>>> {
        self.get(view, SCHEMA, doctype, generation, current, Schema::from_doc)
    }
}
