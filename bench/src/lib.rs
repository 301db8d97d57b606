//! Shared pieces of the benchmarks: timing, the weather data generator, and child processes that
//! are killed when the benchmark ends, however it ends.

use anyhow::Context;
use std::collections::VecDeque;
use std::io::{BufRead, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
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

/// An endless source of lines `station;temperature` (one decimal), random stations with a
/// temperature around each station's mean.
pub struct Weather {
    stations: Vec<(String, f64)>,
    rng: Rng,
}

impl Weather {
    /// Lines over `station_count` stations, drawn with a generator seeded with `seed`.
    pub fn new(station_count: usize, seed: u64) -> Self {
        Self { stations: stations(station_count), rng: Rng::new(seed) }
    }

    /// Writes the next line, newline included.
    pub fn write_line(&mut self, out: &mut impl Write) -> std::io::Result<()> {
        let rng = &mut self.rng;
        let (name, mean) = &self.stations[rng.below(self.stations.len() as u64) as usize];
        // A cheap bell shape: the sum of three uniforms in [-10, 10).
        let noise: f64 = (0..3).map(|_| rng.below(2000) as f64 / 100.0 - 10.0).sum();
        let t = (mean + noise).clamp(-99.9, 99.9);
        writeln!(out, "{name};{t:.1}")
    }

    /// Whole lines, at least `bytes` of them (less than one line more).
    pub fn lines(&mut self, bytes: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(bytes + 64);
        while out.len() < bytes {
            // Writing to a Vec cannot fail.
            let _ = self.write_line(&mut out);
        }
        out
    }
}

/// Writes `rows` lines `station;temperature` (one decimal) to `path`.
pub fn write_weather(path: &Path, rows: u64, station_count: usize) -> std::io::Result<()> {
    let mut weather = Weather::new(station_count, 7);
    let mut out = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
    for _ in 0..rows {
        weather.write_line(&mut out)?;
    }
    out.flush()
}

/// Lines of a child's stderr kept for error messages.
const LOG_TAIL: usize = 40;

/// What a child process has said on stderr so far.
#[derive(Default)]
struct Log {
    /// Its last lines.
    tail: VecDeque<String>,
    /// The addresses of its lines `... listening on ADDR`, in order.
    listening: Vec<String>,
    /// Whether its stderr is closed (it exited).
    closed: bool,
}

/// A child process, killed by its PID when dropped (so also when a benchmark fails half-way). A
/// thread drains its stderr, keeping the last lines for error messages and noting the addresses
/// it says it listens on.
pub struct Process {
    name: String,
    child: Child,
    log: Arc<(Mutex<Log>, Condvar)>,
}

impl Process {
    /// Starts `command` (its stdin and stdout null, its stderr read by the bench), called `name`
    /// in messages.
    pub fn spawn(name: &str, mut command: Command) -> anyhow::Result<Process> {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("cannot start {name}: {command:?}"))?;
        let stderr = child.stderr.take().context("stderr is piped")?;
        let log: Arc<(Mutex<Log>, Condvar)> = Arc::default();
        let writer = Arc::clone(&log);
        std::thread::spawn(move || {
            let (log, changed) = &*writer;
            for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
                let mut log = log.lock().unwrap_or_else(PoisonError::into_inner);
                if let Some((_, addr)) = line.split_once(" listening on ") {
                    log.listening.push(addr.trim().to_owned());
                }
                if log.tail.len() == LOG_TAIL {
                    log.tail.pop_front();
                }
                log.tail.push_back(line);
                changed.notify_all();
            }
            log.lock().unwrap_or_else(PoisonError::into_inner).closed = true;
            changed.notify_all();
        });
        Ok(Process { name: name.to_owned(), child, log })
    }

    /// Waits at most `timeout` for the `index`th (from 0) line `... listening on ADDR` of the
    /// process's stderr; returns ADDR.
    pub fn listening_on(&self, index: usize, timeout: Duration) -> anyhow::Result<String> {
        let (log, changed) = &*self.log;
        let deadline = Instant::now() + timeout;
        let mut log = log.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            if let Some(addr) = log.listening.get(index) {
                return Ok(addr.clone());
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if log.closed || left.is_zero() {
                let why = if log.closed { "exited" } else { "timed out" };
                let tail = Vec::from(log.tail.clone()).join("\n");
                anyhow::bail!("{} {why} before saying where it listens; its stderr:\n{tail}", self.name);
            }
            log = changed.wait_timeout(log, left).unwrap_or_else(PoisonError::into_inner).0;
        }
    }

    /// The process's peak resident set so far (`VmHWM` of `/proc/PID/status`), in KiB.
    pub fn peak_rss_kib(&self) -> anyhow::Result<u64> {
        let path = format!("/proc/{}/status", self.child.id());
        let status = std::fs::read_to_string(&path).with_context(|| format!("cannot read {path}"))?;
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmHWM:"))
            .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
            .with_context(|| format!("no VmHWM in {path}"))
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        // `Child::kill` signals this child's PID only; it fails only if the child is already gone.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
