//! The timed workloads of the table: what each subject does per call, and how one
//! workload is timed on the three side by side.

use crate::common::{By, Peer};
use crate::docs;
use crate::measure::{self, Budget, Unit};
use crate::subjects::Subject;
use serde_json::{Value, json};
use std::cell::Cell;

/// Concurrent clients of the group-commit workload.
pub const CLIENTS: usize = 8;
/// Single-document creates each client makes per call of that workload.
const CREATES_PER_CLIENT: usize = 25;

/// The work of one call: the subject and the call's number (the same sequence for every
/// subject, so their first answers can be compared).
type Work = Box<dyn Fn(&dyn Subject, u64) -> Value>;

/// One row of the report that is timed.
pub struct Workload {
    /// Its name on the command line (a filter selects by substring).
    pub key: &'static str,
    /// What it measures, in the report.
    pub label: String,
    /// How its figures read.
    pub unit: Unit,
    /// Operations (documents, reads, ...) one call does.
    ops_per_call: f64,
    work: Work,
}

/// Every timed workload on a store of `docs` loaded documents, reads first: the writes add
/// documents no read matches, but they grow the files.
pub fn all(docs: u64) -> Vec<Workload> {
    let teams = docs::teams(docs);
    let team_size = docs.min(docs::TEAM_SIZE);
    let creates = |key, label: &str, unit, batch: usize| Workload {
        key,
        label: label.to_string(),
        unit,
        ops_per_call: batch as f64,
        work: Box::new(move |s, _| {
            s.create(&docs::written_batch(batch));
            Value::Null
        }),
    };
    vec![
        Workload {
            key: "select_csv",
            label: "select 10 by indexed status (half the store matches), ordered by name, \
                    + CSV map"
                .into(),
            unit: Unit::Time,
            ops_per_call: 1.0,
            work: Box::new(|s, _| Value::String(s.page_csv())),
        },
        Workload {
            key: "point_read",
            label: "point read by name".into(),
            unit: Unit::Rate("reads"),
            ops_per_call: 1.0,
            work: Box::new(move |s, k| docs::fields(&s.get(&docs::name((k * 7919) % docs)))),
        },
        Workload {
            key: "team_equality",
            label: format!("equality on an indexed field, all {team_size} hits of {docs}"),
            unit: Unit::Time,
            ops_per_call: 1.0,
            work: Box::new(move |s, k| {
                let found = s.team(&format!("team-{}", (k * 7) % teams));
                assert_eq!(found.len() as u64, team_size, "{} team size", s.label());
                json!({"count": found.len(), "first": found[0]["name"],
                       "last": found[found.len() - 1]["name"]})
            }),
        },
        creates(
            "create_1",
            "durable create, 1 document per run/txn, 1 client",
            Unit::Rate("creates"),
            1,
        ),
        creates(
            "create_100",
            "100 documents per run/txn",
            Unit::Rate("docs"),
            100,
        ),
        creates(
            "create_1000",
            "1,000 documents per run/txn (bulk)",
            Unit::Rate("docs"),
            1000,
        ),
        Workload {
            key: "clients_8",
            label: format!("{CLIENTS} clients creating durably, 1 document per run/txn"),
            unit: Unit::Rate("creates"),
            ops_per_call: (CLIENTS * CREATES_PER_CLIENT) as f64,
            work: Box::new(|s, _| {
                clients(s);
                Value::Null
            }),
        },
    ]
}

impl Workload {
    /// Time this workload on every subject side by side, after one untimed call each whose
    /// answers must agree. Per subject, one figure per trial in the workload's unit.
    pub fn time(&self, subjects: &[Box<dyn Subject>], budget: &Budget) -> Vec<Vec<f64>> {
        let peers: Vec<By<_>> = subjects
            .iter()
            .map(|subject| {
                let calls = Cell::new(0u64);
                By(subject.label(), move || {
                    let k = calls.get();
                    calls.set(k + 1);
                    (self.work)(subject.as_ref(), k)
                })
            })
            .collect();
        let peers: Vec<&dyn Peer> = peers.iter().map(|peer| peer as &dyn Peer).collect();
        let first = peers[0].call();
        for peer in &peers[1..] {
            assert_eq!(
                peer.call(),
                first,
                "{}: {} differs from {}",
                self.key,
                peer.name(),
                peers[0].name()
            );
        }
        // Untimed subjects keep no figures (their columns print `—`).
        let timed_peers: Vec<&dyn Peer> = peers
            .iter()
            .copied()
            .filter(|peer| timed(peer.name()))
            .collect();
        let mut figures = measure::interleaved(&timed_peers, self.ops_per_call, budget).into_iter();
        let seconds = peers
            .iter()
            .map(|peer| {
                if timed(peer.name()) {
                    figures.next().expect("one figure list per timed subject")
                } else {
                    Vec::new()
                }
            })
            .collect();
        match self.unit {
            Unit::Rate(_) => measure::rates(seconds),
            _ => seconds,
        }
    }
}

/// Whether subject `label` is timed: `COWORKER_BENCH_SUBJECTS` (labels, comma-separated)
/// times only those (one subject under `perf stat`); every subject by default.
fn timed(label: &str) -> bool {
    match std::env::var("COWORKER_BENCH_SUBJECTS") {
        Ok(subjects) => subjects.split(',').any(|s| s.trim() == label),
        Err(_) => true,
    }
}

/// [`CLIENTS`] threads, each making [`CREATES_PER_CLIENT`] single-document durable creates.
fn clients(subject: &dyn Subject) {
    std::thread::scope(|scope| {
        for _ in 0..CLIENTS {
            scope.spawn(|| {
                for _ in 0..CREATES_PER_CLIENT {
                    subject.create(&docs::written_batch(1));
                }
            });
        }
    });
}
