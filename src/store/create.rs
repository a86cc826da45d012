//! Creating a store file: built whole under a temporary name, with its tables, made
//! durable, and only then linked into place, so no process ever sees a half-made file.
//!
//! This module must never replace an existing store file.

use super::layout;
use redb::Database;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Create a new store file so that it never exists half-made: redb writes a new file's header
/// in several steps, and a process killed between them would leave a file no open accepts.
/// The store is built under a temporary name beside `path`, with its tables, made durable,
/// and only then linked into place; a link refuses to replace a file, so of two processes
/// creating the same store at once one wins and the other opens the winner's.
pub(super) fn create_whole(path: &Path) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let file_name = path
        .file_name()
        .ok_or_else(|| std::io::Error::other("the store path names no file"))?
        .to_string_lossy()
        .into_owned();
    let prefix = format!(".{file_name}.creating-");
    remove_abandoned(dir, &prefix);
    static CREATIONS: AtomicU64 = AtomicU64::new(0);
    let temp = dir.join(format!(
        "{prefix}{}-{}",
        std::process::id(),
        CREATIONS.fetch_add(1, Ordering::Relaxed)
    ));
    let built = (|| -> std::result::Result<(), Box<dyn std::error::Error>> {
        let db = Database::builder().create(&temp)?;
        let txn = db.begin_write()?;
        layout::create_tables(&txn).map_err(|e| crate::error::Error::from(e).to_string())?;
        txn.commit()?;
        Ok(())
    })();
    let placed = match built {
        Ok(()) => match std::fs::hard_link(&temp, path) {
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
            // Filesystems without hard links: a rename, which could only replace a store
            // created by another process in the last instant.
            Err(_) if !path.exists() => std::fs::rename(&temp, path),
            linked => linked,
        },
        Err(e) => Err(std::io::Error::other(e.to_string())),
    };
    let _ = std::fs::remove_file(&temp);
    placed?;
    // Make the new directory entry durable too.
    if let Ok(dir) = std::fs::File::open(dir) {
        let _ = dir.sync_all();
    }
    Ok(())
}

/// Remove the temporary files of store creations that were killed: those older than a minute
/// (a creation takes milliseconds, so no live one is that old).
fn remove_abandoned(dir: &Path, prefix: &str) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let abandoned = entry.file_name().to_string_lossy().starts_with(prefix)
            && entry
                .metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|modified| {
                    modified.elapsed().unwrap_or_default() > Duration::from_secs(60)
                });
        if abandoned {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::store::{OpenOptions, Store};
    use std::time::{Duration, SystemTime};

    #[test]
    fn creating_a_store_removes_only_abandoned_temporary_files() {
        let dir = tempfile::tempdir().unwrap();
        let abandoned = dir.path().join(".s.redb.creating-1-0");
        let recent = dir.path().join(".s.redb.creating-2-0");
        for file in [&abandoned, &recent] {
            std::fs::write(file, b"half a header").unwrap();
        }
        std::fs::File::options()
            .write(true)
            .open(&abandoned)
            .unwrap()
            .set_modified(SystemTime::now() - Duration::from_secs(120))
            .unwrap();
        let path = dir.path().join("s.redb");
        drop(
            Store::open(
                &path,
                OpenOptions {
                    shared: false,
                    lock_timeout: Duration::ZERO,
                    cache_bytes: crate::store::DEFAULT_CACHE_BYTES,
                },
                crate::store::TEST_CATALOG,
            )
            .unwrap(),
        );
        assert!(!abandoned.exists(), "an abandoned creation is removed");
        assert!(recent.exists(), "a creation that may be live is kept");
        let left: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(
            left.len(),
            3,
            "the store, its redo log and the recent file only: {left:?}"
        );
        // A second open finds the store and creates nothing.
        drop(
            Store::open(
                &path,
                OpenOptions {
                    shared: false,
                    lock_timeout: Duration::ZERO,
                    cache_bytes: crate::store::DEFAULT_CACHE_BYTES,
                },
                crate::store::TEST_CATALOG,
            )
            .unwrap(),
        );
    }
}
