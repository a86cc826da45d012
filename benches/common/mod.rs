//! What every benchmark shares: the one trait its contenders implement ([`Peer`]), the ways
//! to time them, and the store folder.
//!
//! A contender is the product (coworker), a floor (raw redb, a native Rust handler) or a
//! peer (Rhai compiled per call, ...): each does its group's work once per [`Peer::call`].
//! Included by every bench with `mod common;`; each uses only part of it.
#![allow(dead_code)]

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, BenchmarkId};
use serde_json::Value;
use std::hint::black_box;

/// A group of benchmarks measured against wall time.
pub type Group<'a> = BenchmarkGroup<'a, WallTime>;

/// One contender of a benchmark group: the product, a floor or a peer.
pub trait Peer {
    /// Its name in criterion's report (`coworker`, `redb`, `cached_op`, ...).
    fn name(&self) -> &str;
    /// Do the group's work once; what it returns is what [`compare`] checks.
    fn call(&self) -> Value;
    /// Get ready to be timed (build a store, ...): called when its benchmark runs, before
    /// timing starts, so a benchmark left out by a filter prepares nothing.
    fn prepare(&self) {}
}

/// A peer made of a name and a closure.
pub struct By<F>(pub &'static str, pub F);

impl<F: Fn() -> Value> Peer for By<F> {
    fn name(&self) -> &str {
        self.0
    }

    fn call(&self) -> Value {
        (self.1)()
    }
}

/// The id of `peer` in its group: `<name>`, or `<name>/<param>` when `param` is given.
pub fn id(peer: &dyn Peer, param: Option<&str>) -> BenchmarkId {
    match param {
        Some(p) => BenchmarkId::new(peer.name(), p),
        None => BenchmarkId::from_parameter(peer.name()),
    }
}

/// Time `peer` (as `<name>` or `<name>/<param>`).
pub fn bench(group: &mut Group<'_>, param: Option<&str>, peer: &dyn Peer) {
    group.bench_function(id(peer, param), |b| {
        peer.prepare();
        b.iter(|| black_box(peer.call()))
    });
}

/// Check that every peer returns the same value, then time each (as `<name>/<param>` when
/// `param` is given).
pub fn compare(group: &mut Group<'_>, param: Option<&str>, peers: &[&dyn Peer]) {
    let expected = peers[0].call();
    for peer in &peers[1..] {
        assert_eq!(
            peer.call(),
            expected,
            "{} differs from {}",
            peer.name(),
            peers[0].name()
        );
    }
    for peer in peers {
        bench(group, param, *peer);
    }
}

/// A fresh folder for a store file under Cargo's `CARGO_TARGET_TMPDIR` (on disk, so a durable
/// commit pays a real fsync), removed when dropped.
pub fn temp_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("coworker-bench-")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .expect("temporary folder")
}
