//! Shared pieces of the benchmarks: timing. The weather data they run on comes from `flicker-gen`;
//! their child processes, killed when a benchmark ends however it ends, and their loopback
//! clusters from `flicker-testkit`.

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
