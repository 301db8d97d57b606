//! Shared pieces of the benchmarks: timing, their data ([`data`], from `flicker-gen`), and the
//! harness of the whole-job benchmarks (`reference`, `join`): [`contender`]s each running a
//! [`Workload`](contender::Workload) as a whole process ([`measure`]), taking turns in rounds,
//! their [`results`] checked against each other's, on loopback [`cluster`]s of real processes
//! (from `flicker-testkit`, killed when a benchmark ends however it ends), and one printed table
//! per workload ([`compare`]).

pub mod cluster;
pub mod compare;
pub mod contender;
pub mod data;
pub mod measure;
pub mod results;

use std::time::{Duration, Instant};

/// Runs `f` and returns how long it took.
pub fn time<T>(f: impl FnOnce() -> T) -> (T, Duration) {
    let started = Instant::now();
    let value = f();
    (value, started.elapsed())
}

/// The median of some durations.
pub fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}
