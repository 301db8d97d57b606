//! Shared pieces of the benchmarks: timing, and child processes that are killed when the benchmark
//! ends, however it ends. The weather data they run on comes from `flicker-gen`.

use anyhow::Context;
use std::collections::VecDeque;
use std::io::BufRead;
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
