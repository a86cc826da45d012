//! Compiled handlers and `if` conditions, cached by a hash of their code and shared by every
//! engine of the process.
//!
//! Compiling costs more than most handlers' work, so an AST is compiled once per distinct
//! source and kept as an `Arc<AST>`; the code is kept beside it to rule out hash collisions.

use super::errors::{compile_error, script_error, to_json};
use super::host::{DirectHost, Host};
use super::{Limits, Sandbox, convert};
use crate::error::Result;
use rhai::{AST, Dynamic, Scope};
use serde_json::Value;
use std::collections::HashMap;
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex, OnceLock};

/// Compiled scripts kept by code hash before the cache starts over.
pub(super) const MAX_CACHED_SCRIPTS: usize = 4096;

/// A handler's compiled script, and whether it was seen calling its host when run inline
/// (then later runs start on a script thread at once).
pub(crate) struct Compiled {
    pub(super) ast: Arc<AST>,
    pub(super) calls_host: std::sync::atomic::AtomicBool,
}

impl Compiled {
    pub(crate) fn new(ast: Arc<AST>) -> Compiled {
        Compiled {
            ast,
            calls_host: std::sync::atomic::AtomicBool::new(false),
        }
    }
}

/// The sandbox used to compile handlers (limits that matter at compile time are the
/// defaults' and are not raised per operation).
pub(crate) fn compiler() -> Arc<Sandbox> {
    Sandbox::shared(Limits::default())
}

/// Compiled handlers by hash of their code (the code is kept to rule out collisions).
pub(super) type CompiledCache = Mutex<HashMap<u64, (String, Arc<AST>)>>;

/// A compiled handler, shared by every engine of the process, keyed by a hash of its code.
pub(crate) fn compile_cached(name: &str, code: &str) -> Result<Arc<AST>> {
    compile_with(code, || compiler().compile_handler(name, code))
}

/// The cached AST for `code` (compiled by `compile` on a miss).
pub(super) fn compile_with(code: &str, compile: impl FnOnce() -> Result<AST>) -> Result<Arc<AST>> {
    static CACHE: OnceLock<CompiledCache> = OnceLock::new();
    let mut hasher = DefaultHasher::new();
    code.hash(&mut hasher);
    let key = hasher.finish();
    let cache = CACHE.get_or_init(Default::default);
    if let Some((cached_code, ast)) = cache.lock().unwrap_or_else(|p| p.into_inner()).get(&key)
        && cached_code == code
    {
        return Ok(ast.clone());
    }
    let ast = Arc::new(compile()?);
    let mut cache = cache.lock().unwrap_or_else(|p| p.into_inner());
    // Old versions of edited handlers would pile up: start over past a bound (live
    // operations keep their AST through the operation cache anyway).
    if cache.len() >= MAX_CACHED_SCRIPTS {
        cache.clear();
    }
    cache.insert(key, (code.to_string(), ast.clone()));
    Ok(ast)
}

/// A compiled `if` condition whose references are the variables `ref_0`, `ref_1`, ...
/// (compiled once per distinct source, shared like handlers).
pub(crate) fn compile_condition(source: &str, variables: usize) -> Result<Arc<AST>> {
    // Plain variables at compile time: constants would be folded into the expression.
    let mut scope = Scope::new();
    for i in 0..variables {
        scope.push(format!("ref_{i}"), Dynamic::UNIT);
    }
    let key = format!("if\0{variables}\0{source}");
    compile_with(&key, || {
        compiler()
            .engine
            .compile_expression_with_scope(&scope, source)
            .map_err(|e| compile_error("if", &e.0.to_string(), e.1))
    })
}

/// Evaluate an `if` condition with its references' values bound as typed variables.
pub(crate) fn eval_condition(source: &str, values: Vec<Value>) -> Result<Value> {
    let ast = compile_condition(source, values.len())?;
    let mut scope = Scope::new();
    for (i, value) in values.into_iter().enumerate() {
        scope.push_constant(format!("ref_{i}"), convert::into_dynamic(value));
    }
    let sandbox = compiler();
    let refuse: DirectHost = Box::new(|_| Value::Null);
    let (outcome, state) =
        sandbox.eval(sandbox.state("if", Host::Direct(refuse)), &ast, &mut scope);
    outcome
        .map_err(|e| script_error("if", *e, &state.printed))
        .and_then(|value| to_json("if", value, &sandbox.limits))
}
