//! Shared pieces of the benchmarks: timing and the weather data generator.

use std::io::Write;
use std::path::Path;
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

/// A small deterministic PRNG (xorshift64*).
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Self {
        Self(seed.max(1))
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}

/// Station names of the generated data (some multi-byte UTF-8).
pub fn stations(count: usize) -> Vec<(String, f64)> {
    const BASES: [&str; 12] = [
        "Hamburg",
        "Zürich",
        "Tōkyō",
        "São Paulo",
        "Oslo",
        "Kraków",
        "Abha",
        "Reykjavík",
        "Dakar",
        "İzmir",
        "Napier",
        "Yakutsk",
    ];
    let mut rng = Rng::new(42);
    (0..count)
        .map(|i| (format!("{}-{i}", BASES[i % BASES.len()]), (rng.below(400) as f64 - 100.0) / 10.0))
        .collect()
}

/// Writes `rows` lines `station;temperature` (one decimal) to `path`.
pub fn write_weather(path: &Path, rows: u64, station_count: usize) -> std::io::Result<()> {
    let stations = stations(station_count);
    let mut rng = Rng::new(7);
    let mut out = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
    for _ in 0..rows {
        let (name, mean) = &stations[rng.below(stations.len() as u64) as usize];
        // A cheap bell shape: the sum of three uniforms in [-10, 10).
        let noise: f64 = (0..3).map(|_| rng.below(2000) as f64 / 100.0 - 10.0).sum();
        let t = (mean + noise).clamp(-99.9, 99.9);
        writeln!(out, "{name};{t:.1}")?;
    }
    out.flush()
}
