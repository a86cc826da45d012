//! Scale benchmark (issue 14): coworker beside raw redb (the floor) and SQLite (the usual
//! choice) on the same 286-byte documents, at 100k documents (1M in the long mode).
//!
//! ```sh
//! cargo bench --bench scale                                   # 100k documents, 5 trials
//! COWORKER_BENCH_DOCS=1000000 cargo bench --bench scale       # the long mode
//! cargo bench --bench scale -- point_read select_csv          # only these workloads
//! cargo bench --bench scale -- --test                         # smoke run: each workload once
//! COWORKER_BENCH_SUBJECTS=coworker COWORKER_BENCH_CALLS=2000 \
//!     perf stat cargo bench --bench scale -- point_read   # instructions per call
//! ```
//! See `benches/README.md` for the settings, how long each mode takes, and how to read the
//! table it prints.
//!
//! Each subject (`subjects.rs`, `sqlite.rs`) is a store on its own file under Cargo's
//! `CARGO_TARGET_TMPDIR`, loaded with the same documents (`docs.rs`); each workload wraps
//! one subject call in a `common::Peer` (the one bench trait), checks that the three give
//! the same answer, then times them side by side with the trials interleaved
//! (`measure.rs`). Memory is measured in child processes (`memory.rs`).

#[path = "../common/mod.rs"]
mod common;
mod docs;
mod measure;
mod memory;
mod sqlite;
mod subjects;
mod workloads;

use measure::{Budget, Row, Unit};
use std::time::{Duration, Instant};
use subjects::{LABELS, Subject};

/// Documents in the store unless `COWORKER_BENCH_DOCS` says otherwise.
const DEFAULT_DOCS: u64 = 100_000;
/// Documents in the store of a smoke run (`-- --test`).
const SMOKE_DOCS: u64 = 2_000;
/// Documents loaded and read back by the memory workload, whatever the store size.
const RSS_DOCS: u64 = 100_000;

fn env_or<T: std::str::FromStr>(key: &str, default: T) -> T {
    match std::env::var(key) {
        Ok(text) => text
            .parse()
            .unwrap_or_else(|_| panic!("{key}={text} is not a valid setting")),
        Err(_) => default,
    }
}

fn main() {
    // `cargo bench` passes `--bench`; `--test` is a smoke run (every workload once, on a
    // small store); any other argument selects the workloads whose key contains it.
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--child") {
        memory::child(&args[1..]);
        return;
    }
    let smoke = args.iter().any(|arg| arg == "--test");
    let args: Vec<String> = args
        .into_iter()
        .filter(|arg| !arg.starts_with("--"))
        .collect();
    let docs: u64 = env_or(
        "COWORKER_BENCH_DOCS",
        if smoke { SMOKE_DOCS } else { DEFAULT_DOCS },
    );
    let budget = if smoke {
        Budget {
            time: Duration::ZERO,
            min_calls: 1,
            trials: 1,
        }
    } else if let Ok(calls) = std::env::var("COWORKER_BENCH_CALLS") {
        // A fixed number of calls (not a time): two runs with different counts under
        // `perf stat` give the cost of one call, the load cancelling out.
        Budget {
            time: Duration::ZERO,
            min_calls: calls
                .parse()
                .expect("COWORKER_BENCH_CALLS is a number of calls"),
            trials: env_or("COWORKER_BENCH_TRIALS", 1),
        }
    } else {
        Budget {
            time: Duration::from_secs_f64(env_or("COWORKER_BENCH_SECONDS", 1.0)),
            min_calls: 3,
            trials: env_or("COWORKER_BENCH_TRIALS", 5),
        }
    };
    let wanted = |key: &str| args.is_empty() || args.iter().any(|arg| key.contains(arg.as_str()));
    let started = Instant::now();

    let dir = common::temp_dir();
    let subjects: Vec<Box<dyn Subject>> = LABELS
        .iter()
        .map(|label| subjects::open(label, &dir.path().join(subjects::file_name(label))))
        .collect();
    let mut rows = vec![load(&subjects, docs)];
    check(&subjects, docs);

    let mut single_client = None;
    for workload in workloads::all(docs) {
        if !wanted(workload.key) {
            continue;
        }
        eprintln!(
            "[{:>5.0} s] {}",
            started.elapsed().as_secs_f64(),
            workload.key
        );
        let samples = workload.time(&subjects, &budget);
        if workload.key == "create_1" {
            single_client = Some(samples[2].clone());
        }
        let clients = workload.key == "clients_8";
        rows.push(Row {
            label: workload.label,
            unit: workload.unit,
            samples: samples.clone(),
        });
        if clients && let Some(sqlite_one) = single_client.take() {
            rows.push(Row {
                label: format!(
                    "coworker {} clients ÷ SQLite 1 client (target ≥ 5×)",
                    workloads::CLIENTS
                ),
                unit: workload.unit,
                samples: vec![samples[0].clone(), Vec::new(), sqlite_one],
            });
        }
    }

    // Close every store before the children open their files.
    let paths: Vec<_> = LABELS
        .iter()
        .map(|label| dir.path().join(subjects::file_name(label)))
        .collect();
    drop(subjects);
    if wanted("rss_select") {
        eprintln!("[{:>5.0} s] rss_select", started.elapsed().as_secs_f64());
        rows.extend(rss_select(&paths, docs, budget.trials));
    }
    if wanted("rss_load_read") {
        eprintln!("[{:>5.0} s] rss_load_read", started.elapsed().as_secs_f64());
        rows.push(rss_load_read(docs.min(RSS_DOCS), budget.trials));
    }

    println!(
        "\n{docs} documents of {} bytes; {} trials of {:.1} s per subject, interleaved; \
         medians (lowest–highest). Machine: {}. Took {:.0} s.\n",
        docs::DOC_BYTES,
        budget.trials,
        budget.time.as_secs_f64(),
        machine(),
        started.elapsed().as_secs_f64()
    );
    println!("{}", measure::table(&rows));
}

/// Load documents `0..docs` into every subject, 1,000 per durable transaction, the batches
/// interleaved (the same batch into each subject in turn): the bulk-load row.
fn load(subjects: &[Box<dyn Subject>], docs: u64) -> Row {
    let mut spent = vec![Duration::ZERO; subjects.len()];
    let mut start = 0;
    while start < docs {
        let end = (start + 1000).min(docs);
        let batch = docs::loaded_batch(start, end, docs);
        for (subject, spent) in subjects.iter().zip(&mut spent) {
            let clock = Instant::now();
            subject.create(&batch);
            *spent += clock.elapsed();
        }
        if end % 100_000 == 0 {
            eprintln!("loaded {end} of {docs}");
        }
        start = end;
    }
    Row {
        label: format!("load {docs} documents, 1,000 per run/txn (total time)"),
        unit: Unit::Time,
        samples: spent.iter().map(|d| vec![d.as_secs_f64()]).collect(),
    }
}

/// Every subject gives the answers the documents imply (before anything is timed).
fn check(subjects: &[Box<dyn Subject>], docs: u64) {
    let open_page: String = (0..10)
        .map(|i| docs::csv_row(&docs::loaded(2 * i, docs)))
        .collect();
    let expected_page = format!("{}{open_page}", docs::CSV_HEADER);
    let probe = docs / 3;
    for subject in subjects {
        assert_eq!(
            subject.page_csv(),
            expected_page,
            "{} page",
            subject.label()
        );
        assert_eq!(
            docs::fields(&subject.get(&docs::name(probe))),
            docs::loaded(probe, docs),
            "{} point read",
            subject.label()
        );
    }
}

/// Peak memory of a process that opens each loaded store and answers the select-10 page:
/// after opening, and after the select.
fn rss_select(paths: &[std::path::PathBuf], docs: u64, trials: usize) -> Vec<Row> {
    let mut opened = vec![Vec::new(); LABELS.len()];
    let mut selected = vec![Vec::new(); LABELS.len()];
    for _ in 0..trials {
        for (i, label) in LABELS.iter().enumerate() {
            let path = paths[i].to_str().expect("a UTF-8 path");
            let peaks = memory::spawn(&["select", label, path]);
            opened[i].push(peaks[0]);
            selected[i].push(peaks[1]);
        }
    }
    vec![
        Row {
            label: format!("open a store of {docs} documents (new process)"),
            unit: Unit::Memory,
            samples: opened,
        },
        Row {
            label: format!("… then select 10 by status, ordered by name, + CSV, of {docs}"),
            unit: Unit::Memory,
            samples: selected,
        },
    ]
}

/// Peak memory of a process that loads `docs` documents into a fresh store (1,000 per
/// transaction) and reads them all back.
fn rss_load_read(docs: u64, trials: usize) -> Row {
    let mut peaks = vec![Vec::new(); LABELS.len()];
    for _ in 0..trials {
        for (i, label) in LABELS.iter().enumerate() {
            let dir = common::temp_dir();
            let path = dir.path().to_str().expect("a UTF-8 path");
            peaks[i].push(memory::spawn(&["load-read", label, &docs.to_string(), path])[0]);
        }
    }
    Row {
        label: format!("load {docs} documents and read them all (new process)"),
        unit: Unit::Memory,
        samples: peaks,
    }
}

/// The CPU model, how many cores, and today's date (the machine is assumed shared).
fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|line| line.strip_prefix("model name"))
        .map(|rest| rest.trim_start_matches([' ', '\t', ':']).to_string())
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    let date = jiff::Timestamp::now().strftime("%Y-%m-%d %H:%M UTC");
    format!("{model}, {cores} cores, {date}")
}
