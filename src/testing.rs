//! Script unit tests (`*.test.rhai` of a pack) and ad-hoc scripts (`coworker script`).
//!
//! Both run in the same sandbox as handlers, with `run` and `get_schema` making top-level
//! runs on an engine; tests also get `assert` and `assert_eq`. Every test function
//! (`fn test_...()`, or the whole file when it has none) runs against a fresh in-memory
//! store with its pack installed and the pack's fixtures loaded. This module never prints:
//! it returns reports for the CLI to show.

use crate::Engine;
use crate::error::{Error, Result};
use crate::pack::{Pack, files};
use crate::run::RunRequest;
use crate::script::{HostCall, Limits, Sandbox};
use serde::Serialize;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The outcome of one script test.
#[derive(Debug, Clone, Serialize)]
pub struct TestOutcome {
    /// `pack/file.test.rhai::function` (or `pack/file.test.rhai` for a whole-file test).
    pub name: String,
    /// Whether it passed.
    pub passed: bool,
    /// Milliseconds it took.
    pub duration_ms: f64,
    /// Why it failed: the assertion (expected, actual), file, line and column.
    pub failure: Option<String>,
}

/// The outcome of `coworker test DIR`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TestReport {
    /// Every test, in the order run.
    pub tests: Vec<TestOutcome>,
}

impl TestReport {
    /// How many passed.
    pub fn passed(&self) -> usize {
        self.tests.iter().filter(|t| t.passed).count()
    }
    /// How many failed.
    pub fn failed(&self) -> usize {
        self.tests.len() - self.passed()
    }
}

/// The host for scripts outside a run: each `run` is a top-level run on `engine`.
fn direct_host(engine: Engine) -> crate::script::DirectHost {
    Box::new(move |call| match call {
        HostCall::Run(request) => engine.run_value(request).to_value(),
        HostCall::GetSchema(name) => engine.schema(&name).ok().flatten().unwrap_or(Value::Null),
    })
}

/// The packs under `dir`: `dir` itself when it holds `pack.json`, else its subfolders that do.
fn pack_dirs(dir: &Path) -> Result<Vec<PathBuf>> {
    if dir.join("pack.json").is_file() {
        return Ok(vec![dir.to_path_buf()]);
    }
    let entries = std::fs::read_dir(dir)
        .map_err(|e| Error::bad_request(format!("cannot read {}: {e}", dir.display())))?;
    let mut packs: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("pack.json").is_file())
        .collect();
    packs.sort();
    if packs.is_empty() {
        return Err(Error::bad_request(format!(
            "{} is neither a pack (no pack.json) nor a folder of packs",
            dir.display()
        )));
    }
    Ok(packs)
}

/// A fresh in-memory engine with `pack` installed and its fixtures loaded.
fn prepared(pack: &Pack, fixtures: &[(PathBuf, Value)]) -> std::result::Result<Engine, String> {
    let engine = Engine::in_memory().map_err(|e| e.to_string())?;
    let installed = engine.run(pack.install_request());
    if let Some(error) = installed.error {
        return Err(format!("installing the pack failed: {}", error.message));
    }
    for (file, docs) in fixtures {
        let created = engine.run_value(json!({"operation": "create", "into": docs["doctype"], "input": {"data": docs["data"]}}));
        if let Some(error) = created.error {
            return Err(format!("fixture {}: {}", file.display(), error.message));
        }
    }
    Ok(engine)
}

/// Fixture files: `{"doctype": "...", "data": [...]}`, or an array of documents that name
/// their `doctype` (one create per document).
fn load_fixtures(dir: &Path) -> Result<Vec<(PathBuf, Value)>> {
    let mut fixtures = Vec::new();
    for file in files(&dir.join("tests").join("fixtures"), ".json")? {
        let text = std::fs::read_to_string(&file)
            .map_err(|e| Error::bad_request(format!("cannot read {}: {e}", file.display())))?;
        let value: Value = serde_json::from_str(&text).map_err(|e| {
            Error::bad_request(format!("{} is not valid JSON: {e}", file.display()))
        })?;
        match value {
            Value::Object(fixture) if fixture.contains_key("doctype") => {
                fixtures.push((file.clone(), Value::Object(fixture)))
            }
            Value::Array(docs) => {
                for doc in docs {
                    let doctype = doc.get("doctype").cloned().unwrap_or(Value::Null);
                    fixtures.push((file.clone(), json!({"doctype": doctype, "data": doc})));
                }
            }
            _ => {
                return Err(Error::bad_request(format!(
                    "{}: a fixture is {{\"doctype\": ..., \"data\": [...]}} or an array of documents with `doctype`",
                    file.display()
                )));
            }
        }
    }
    Ok(fixtures)
}

/// Run every `*.test.rhai` of the pack at `dir` (or of each pack under it).
pub fn run_script_tests(dir: impl AsRef<Path>) -> Result<TestReport> {
    let sandbox = Sandbox::new(Limits::default(), true);
    let mut report = TestReport::default();
    for pack_dir in pack_dirs(dir.as_ref())? {
        let pack = Pack::load(&pack_dir)?;
        let fixtures = load_fixtures(&pack_dir)?;
        for file in files(&pack_dir.join("tests"), ".test.rhai")? {
            let label = format!(
                "{}/{}",
                pack.name,
                file.file_name().unwrap_or_default().to_string_lossy()
            );
            let code = std::fs::read_to_string(&file)
                .map_err(|e| Error::bad_request(format!("cannot read {}: {e}", file.display())))?;
            let ast = match sandbox.compile_script(&label, &code) {
                Ok(ast) => ast,
                Err(e) => {
                    report.tests.push(TestOutcome {
                        name: label,
                        passed: false,
                        duration_ms: 0.0,
                        failure: Some(e.to_string()),
                    });
                    continue;
                }
            };
            let mut tests: Vec<String> = Sandbox::functions(&ast)
                .into_iter()
                .filter(|name| name == "test" || name.starts_with("test_"))
                .collect();
            tests.sort();
            let whole_file = tests.is_empty();
            if whole_file {
                tests.push(String::new());
            }
            for test in tests {
                let name = if whole_file {
                    label.clone()
                } else {
                    format!("{label}::{test}")
                };
                let started = Instant::now();
                let outcome = prepared(&pack, &fixtures).and_then(|engine| {
                    let host = direct_host(engine);
                    let result = if whole_file {
                        sandbox.run_direct(&name, &ast, host)
                    } else {
                        sandbox.call_direct(&name, &ast, &test, host)
                    };
                    result.map(|_| ()).map_err(|e| describe_failure(&file, &e))
                });
                report.tests.push(TestOutcome {
                    name,
                    passed: outcome.is_ok(),
                    duration_ms: started.elapsed().as_secs_f64() * 1000.0,
                    failure: outcome.err(),
                });
            }
        }
    }
    Ok(report)
}

fn describe_failure(file: &Path, error: &Error) -> String {
    let run_error = error.to_run_error();
    let details = &run_error.details;
    // An assertion or a `throw` reads best as what was thrown; anything else as the error.
    let what = match details.get("thrown") {
        Some(Value::String(thrown)) => thrown.clone(),
        _ => run_error.message.clone(),
    };
    let at = match (details.get("line"), details.get("column")) {
        (Some(Value::Number(line)), Some(Value::Number(column))) => {
            format!("\n  at {}:{line}:{column}", file.display())
        }
        _ => format!("\n  in {}", file.display()),
    };
    let printed = details
        .get("printed")
        .and_then(Value::as_array)
        .filter(|lines| !lines.is_empty())
        .map(|lines| {
            let lines: Vec<String> = lines
                .iter()
                .map(|l| format!("    | {}", l.as_str().unwrap_or("")))
                .collect();
            format!("\n  printed:\n{}", lines.join("\n"))
        })
        .unwrap_or_default();
    format!("{what}{at}{printed}")
}

impl Engine {
    /// Run an ad-hoc Rhai script against this engine's store (maintenance, migrations):
    /// the same sandbox as handlers; each `run` is a top-level run. Returns the script's
    /// final value.
    ///
    /// ```
    /// let engine = coworker::Engine::in_memory().unwrap();
    /// let out = engine.run_script("count", r#"
    ///     run(#{operation: "create", into: "Note", input: #{data: [#{t: 1}, #{t: 2}]}});
    ///     run(#{operation: "select", from: "Note"}).output.meta.count
    /// "#).unwrap();
    /// assert_eq!(out, serde_json::json!(2));
    /// ```
    pub fn run_script(&self, name: &str, code: &str) -> Result<Value> {
        let sandbox = Sandbox::shared(Limits::default());
        let ast = sandbox.compile_script(name, code)?;
        sandbox.run_direct(name, &ast, direct_host(self.clone()))
    }

    /// Install the pack in folder `dir` as one run: everything or nothing. A pack that does
    /// not load (bad JSON, a script that does not compile) gives a failed run.
    pub fn install_pack(&self, dir: impl AsRef<Path>) -> crate::Run {
        match Pack::load(dir) {
            Ok(pack) => self.install(&pack),
            Err(error) => {
                self.reject_request(error, json!({"operation": crate::pack::INSTALL_PACK}))
            }
        }
    }

    /// Install a loaded pack as one run (see [`Pack::from_files`] for packs shipped in a
    /// binary).
    pub fn install(&self, pack: &Pack) -> crate::Run {
        self.run(pack.install_request())
    }

    /// The installed packs (`name`, `version`, `description`, `contents`).
    pub fn packs(&self) -> Result<Vec<Value>> {
        let run = self.run(RunRequest::new("select").from(crate::pack::PACK));
        match run.error {
            None => Ok(run.data().to_vec()),
            Some(e) => Err(Error::new(e.code, e.message)),
        }
    }
}
