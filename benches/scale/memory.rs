//! Peak memory, each subject in a child process of its own: the bench runs itself again with
//! `--child ...`, the child does the work and prints its peak resident set (`VmHWM` of
//! `/proc/self/status`), and the parent reads it.

use crate::docs;
use crate::subjects::{self, Subject};
use std::path::Path;
use std::process::Command;

/// This process's peak resident set, in bytes.
fn peak_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let line = status
        .lines()
        .find(|line| line.starts_with("VmHWM:"))
        .expect("VmHWM in /proc/self/status");
    let kb: u64 = line
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .expect("VmHWM in kB");
    kb * 1024
}

/// Load documents `0..docs` into `subject`, `batch` per durable transaction.
pub fn load(subject: &dyn Subject, docs: u64, batch: u64) {
    let mut start = 0;
    while start < docs {
        let end = (start + batch).min(docs);
        subject.create(&docs::loaded_batch(start, end, docs));
        start = end;
    }
}

/// The child's side: `load-read LABEL DOCS DIR` loads a fresh store and reads it all,
/// `select LABEL PATH` opens a loaded store and answers the select-10 page; each prints its
/// peak resident bytes (`select` first prints the peak after opening).
pub fn child(args: &[String]) {
    match args {
        [what, label, docs, dir] if what == "load-read" => {
            let docs: u64 = docs.parse().expect("a document count");
            let subject = subjects::open(label, &Path::new(dir).join(subjects::file_name(label)));
            load(subject.as_ref(), docs, 1000);
            assert_eq!(
                subject.read_all() as u64,
                docs,
                "{label} reads every document"
            );
            println!("{}", peak_rss());
        }
        [what, label, path] if what == "select" => {
            let subject = subjects::open(label, Path::new(path));
            println!("{}", peak_rss());
            std::hint::black_box(subject.page_csv());
            println!("{}", peak_rss());
        }
        _ => panic!("unknown child command {args:?}"),
    }
}

/// Run a child with `args`; the numbers it printed.
pub fn spawn(args: &[&str]) -> Vec<f64> {
    let exe = std::env::current_exe().expect("the bench's own path");
    let out = Command::new(exe)
        .arg("--child")
        .args(args)
        .output()
        .expect("the child runs");
    assert!(
        out.status.success(),
        "child {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("UTF-8 output")
        .lines()
        .map(|line| line.trim().parse().expect("a number per line"))
        .collect()
}
