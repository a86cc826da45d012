//! Timing peers side by side (trials interleaved: A, B, C, A, B, C, ...), medians with ranges,
//! and the markdown table of absolute figures and ratios.

use crate::common::Peer;
use std::hint::black_box;
use std::time::{Duration, Instant};

/// What a row's figures are, and so how they print.
#[derive(Clone, Copy, PartialEq)]
pub enum Unit {
    /// Operations per second (higher is better); the label names the operation.
    Rate(&'static str),
    /// Seconds per operation (lower is better).
    Time,
    /// Bytes of peak resident memory (lower is better).
    Memory,
}

/// One row of the report: a workload and each subject's figures over the trials.
pub struct Row {
    /// What was measured.
    pub label: String,
    /// How the figures read.
    pub unit: Unit,
    /// Per subject (in `subjects::LABELS` order): one figure per trial, in the row's unit;
    /// empty when the subject did not take part.
    pub samples: Vec<Vec<f64>>,
}

/// How long each peer works in one trial, at least.
pub struct Budget {
    /// Wall time per peer per trial.
    pub time: Duration,
    /// Calls per peer per trial, at least (slow calls still give a few samples).
    pub min_calls: u32,
    /// Trials, interleaved across peers.
    pub trials: usize,
}

/// Time `peers` side by side: in each of `budget.trials` rounds every peer in turn calls
/// until the budget is spent. `ops_per_call` operations happen per call. Returns, per peer,
/// the seconds per operation of each trial.
///
/// With `COWORKER_BENCH_CPU` set, the figures are the process's CPU time (every thread,
/// user and system) instead of wall time: steadier on a shared machine.
pub fn interleaved(peers: &[&dyn Peer], ops_per_call: f64, budget: &Budget) -> Vec<Vec<f64>> {
    let cpu = std::env::var_os("COWORKER_BENCH_CPU").is_some();
    let mut samples = vec![Vec::new(); peers.len()];
    for _ in 0..budget.trials {
        for (peer, samples) in peers.iter().zip(&mut samples) {
            let (start, cpu_start) = (Instant::now(), cpu_seconds());
            let mut calls = 0u32;
            while calls < budget.min_calls || start.elapsed() < budget.time {
                black_box(peer.call());
                calls += 1;
            }
            let spent = if cpu {
                cpu_seconds() - cpu_start
            } else {
                start.elapsed().as_secs_f64()
            };
            samples.push(spent / (f64::from(calls) * ops_per_call));
        }
    }
    samples
}

/// The CPU time this process has used so far (every thread, user + system), in seconds,
/// from `/proc/self/stat` (clock ticks of 10 ms: trials should last a second or more).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // After the command name (in parentheses), utime and stime are the 12th and 13th fields.
    let after = stat.rsplit(')').next().unwrap_or_default();
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok());
    ticks(11)
        .zip(ticks(12))
        .map_or(0.0, |(user, system)| (user + system) / 100.0)
}

/// Rates from seconds per operation.
pub fn rates(seconds_per_op: Vec<Vec<f64>>) -> Vec<Vec<f64>> {
    seconds_per_op
        .into_iter()
        .map(|trials| trials.into_iter().map(|s| 1.0 / s).collect())
        .collect()
}

/// Median, lowest and highest of `samples`.
pub fn summary(samples: &[f64]) -> Option<(f64, f64, f64)> {
    if samples.is_empty() {
        return None;
    }
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    let median = if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
    };
    Some((median, sorted[0], sorted[n - 1]))
}

/// A figure in its unit, to three significant digits: `1,156/s`, `28.5k/s`, `184 µs`,
/// `72.1 ms`, `407 MB`.
pub fn figure(value: f64, unit: Unit) -> String {
    match unit {
        Unit::Rate(_) if value >= 10_000.0 => format!("{}k", significant(value / 1000.0)),
        Unit::Rate(_) => thousands(value.round() as u64),
        Unit::Time if value < 1e-3 => format!("{} µs", significant(value * 1e6)),
        Unit::Time if value < 1.0 => format!("{} ms", significant(value * 1e3)),
        Unit::Time => format!("{} s", significant(value)),
        Unit::Memory => format!("{} MB", significant(value / 1e6)),
    }
}

/// `value` with three significant digits (whole numbers from 100 up, with separators).
fn significant(value: f64) -> String {
    if value >= 100.0 {
        thousands(value.round() as u64)
    } else if value >= 10.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.2}")
    }
}

fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `median (low–high)`, or `—` without samples.
fn cell(samples: &[f64], unit: Unit) -> String {
    match summary(samples) {
        None => "—".into(),
        Some((median, low, high)) if samples.len() > 1 => format!(
            "{} ({}–{})",
            figure(median, unit),
            figure(low, unit),
            figure(high, unit)
        ),
        Some((median, _, _)) => figure(median, unit),
    }
}

/// `coworker ÷ peer` of the medians, as a factor; `—` if either is missing.
fn ratio(coworker: &[f64], peer: &[f64]) -> String {
    match (summary(coworker), summary(peer)) {
        (Some((c, _, _)), Some((p, _, _))) => format!("{}×", significant(c / p)),
        _ => "—".into(),
    }
}

/// The report: one markdown table, coworker's figures beside each peer's, and the ratios of
/// the medians (`coworker ÷ peer` of the figures shown: above 1 is better for a rate, below
/// 1 for a time or memory).
pub fn table(rows: &[Row]) -> String {
    let mut out = String::from(
        "| workload | unit | coworker | raw redb | SQLite FULL | coworker ÷ redb | coworker ÷ SQLite |\n\
         |---|---|---|---|---|---|---|\n",
    );
    for row in rows {
        let unit = match row.unit {
            Unit::Rate(what) => format!("{what}/s ↑"),
            Unit::Time => "time ↓".into(),
            Unit::Memory => "peak RSS ↓".into(),
        };
        let cells: Vec<String> = row.samples.iter().map(|s| cell(s, row.unit)).collect();
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} |\n",
            row.label,
            unit,
            cells[0],
            cells[1],
            cells[2],
            ratio(&row.samples[0], &row.samples[1]),
            ratio(&row.samples[0], &row.samples[2]),
        ));
    }
    out
}
