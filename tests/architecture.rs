//! The README's "Architecture" section holds: arrows point down only. Read from the sources
//! themselves, so a change that imports against the drawing fails here, not in review.

use std::path::{Path, PathBuf};

/// Every `.rs` file under `dir`, with its text.
fn sources(dir: &Path) -> Vec<(PathBuf, String)> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                found.push((path, text));
            }
        }
    }
    found.sort();
    found
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// The files under `src/` outside `inside` (a folder or file of `src/`) that contain
/// `needle`.
fn naming_outside(inside: &[&str], needle: &str) -> Vec<String> {
    let root = src();
    sources(&root)
        .into_iter()
        .filter(|(path, _)| !inside.iter().any(|i| path.starts_with(root.join(i))))
        .filter(|(_, text)| text.contains(needle))
        .map(|(path, _)| path.strip_prefix(&root).unwrap().display().to_string())
        .collect()
}

#[test]
fn nothing_below_the_crate_root_imports_the_engine() {
    assert_eq!(
        naming_outside(&["engine", "lib.rs"], "crate::engine"),
        Vec::<String>::new()
    );
}

#[test]
fn above_the_store_only_its_traits_and_facade_are_named() {
    // (`error.rs` maps redb's error types into the one error enum: that is where a second
    // backend's errors would be mapped too.)
    for redb_type in ["ReadTables", "WriteTables", "RedbStore"] {
        assert_eq!(
            naming_outside(&["store"], redb_type),
            Vec::<String>::new(),
            "{redb_type} is named above the store"
        );
    }
}

#[test]
fn the_handler_contract_names_no_handler_family() {
    let root = src();
    for (path, text) in sources(&root.join("handler")) {
        for family in [
            "crate::ops",
            "crate::workflow",
            "crate::pack",
            "crate::testing",
        ] {
            assert!(
                !text.contains(family),
                "{} imports {family}",
                path.display()
            );
        }
    }
}

#[test]
fn the_store_names_no_doctype() {
    let root = src();
    let doctypes = [
        "\"Audit Trail\"",
        "\"Workflow Template\"",
        "\"Operation\"",
        "\"Schema\"",
        "\"User\"",
        "\"Role\"",
        "\"System Settings\"",
    ];
    for (path, text) in sources(&root.join("store")) {
        for doctype in doctypes {
            assert!(
                !text.contains(doctype),
                "{} names {doctype}",
                path.display()
            );
        }
        assert!(
            !text.contains("AUDIT_TRAIL"),
            "{} names AUDIT_TRAIL",
            path.display()
        );
    }
}

#[test]
fn the_binary_uses_only_the_public_api() {
    let root = src();
    let mut files = sources(&root.join("cli"));
    files.push((
        root.join("main.rs"),
        std::fs::read_to_string(root.join("main.rs")).unwrap(),
    ));
    for (path, text) in files {
        for hidden in [
            "coworker::faults",
            "coworker::bench_support",
            "crate::engine",
        ] {
            assert!(!text.contains(hidden), "{} uses {hidden}", path.display());
        }
    }
}
