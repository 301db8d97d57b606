//! A child process whose stderr is watched, killed by its PID when dropped.

use anyhow::Context;
use std::io::BufRead;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Lines of a process's log shown in error messages.
const LOG_TAIL: usize = 40;

/// How often [`signal_and_wait`] looks whether the process exited.
const EXIT_POLL: Duration = Duration::from_millis(20);

/// What a process has said on stderr so far.
#[derive(Default)]
struct Log {
    /// Every line, each ended by `\n`.
    text: String,
    /// The addresses of its lines `... listening on ADDR`, in order.
    listening: Vec<String>,
    /// Whether its stderr is closed (it exited).
    closed: bool,
}

impl Log {
    /// The last [`LOG_TAIL`] lines, for error messages.
    fn tail(&self) -> String {
        let lines: Vec<&str> = self.text.lines().collect();
        lines[lines.len().saturating_sub(LOG_TAIL)..].join("\n")
    }
}

/// A child process, killed by its PID when dropped (so also when a test panics or a benchmark
/// fails half-way). A thread drains its stderr, keeping the whole log and noting the addresses it
/// says it listens on; its stdin and stdout are null.
pub struct Process {
    name: String,
    child: Child,
    log: Arc<(Mutex<Log>, Condvar)>,
}

impl Process {
    /// Starts `command`, called `name` in messages (and by [`crate::Cluster`]).
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
                log.text.push_str(&line);
                log.text.push('\n');
                changed.notify_all();
            }
            log.lock().unwrap_or_else(PoisonError::into_inner).closed = true;
            changed.notify_all();
        });
        Ok(Process { name: name.to_owned(), child, log })
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its PID.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Everything it wrote on stderr so far.
    pub fn log(&self) -> String {
        self.log.0.lock().unwrap_or_else(PoisonError::into_inner).text.clone()
    }

    /// Waits at most `timeout` for the `index`th (from 0) line `... listening on ADDR` of its
    /// stderr; returns ADDR.
    pub fn listening_on(&self, index: usize, timeout: Duration) -> anyhow::Result<String> {
        self.wait_for(timeout, "saying where it listens", |log| log.listening.get(index).cloned())
    }

    /// Waits at most `timeout` until `found` finds something in its log; returns what it found.
    pub fn wait_for_log<T>(&self, timeout: Duration, found: impl Fn(&str) -> Option<T>) -> anyhow::Result<T> {
        self.wait_for(timeout, "logging what was awaited", |log| found(&log.text))
    }

    /// Waits at most `timeout` until `found` finds something in its [`Log`]; fails at once if it
    /// exited without.
    fn wait_for<T>(
        &self,
        timeout: Duration,
        what: &str,
        found: impl Fn(&Log) -> Option<T>,
    ) -> anyhow::Result<T> {
        let (log, changed) = &*self.log;
        let deadline = Instant::now() + timeout;
        let mut log = log.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            if let Some(value) = found(&log) {
                return Ok(value);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if log.closed || left.is_zero() {
                let why =
                    if log.closed { "exited".to_owned() } else { format!("timed out after {timeout:?}") };
                anyhow::bail!("{} {why} before {what}; its stderr ends:\n{}", self.name, log.tail());
            }
            log = changed.wait_timeout(log, left).unwrap_or_else(PoisonError::into_inner).0;
        }
    }

    /// Sends it `signal` (`TERM`, `INT`, `KILL`, ...).
    pub fn signal(&self, signal: &str) -> anyhow::Result<()> {
        self::signal(self.id(), signal)
    }

    /// Sends it `SIGTERM` and waits at most `timeout` for it to exit; returns how it did.
    pub fn terminate(&mut self, timeout: Duration) -> anyhow::Result<ExitStatus> {
        signal_and_wait(&mut self.child, "TERM", timeout)
            .with_context(|| format!("terminating {}", self.name))
    }

    /// Its peak resident set so far (`VmHWM` of `/proc/PID/status`), in KiB.
    pub fn peak_rss_kib(&self) -> anyhow::Result<u64> {
        let path = format!("/proc/{}/status", self.id());
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
        // `Child::kill` sends SIGKILL to this child's PID only; it fails only if the child is gone.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends `signal` (`TERM`, `INT`, ...) to the process `pid` with `kill -SIGNAL PID`.
pub fn signal(pid: u32, signal: &str) -> anyhow::Result<()> {
    let sent = Command::new("kill").arg(format!("-{signal}")).arg(pid.to_string()).status();
    match sent {
        Ok(status) if status.success() => Ok(()),
        Ok(status) => anyhow::bail!("kill -{signal} {pid}: {status}"),
        Err(error) => Err(error).with_context(|| format!("cannot run kill -{signal} {pid}")),
    }
}

/// Sends `signal` to `child`, then waits at most `timeout` for it to exit; returns how it did.
pub fn signal_and_wait(child: &mut Child, signal: &str, timeout: Duration) -> anyhow::Result<ExitStatus> {
    self::signal(child.id(), signal)?;
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().context("waiting for the process")? {
            return Ok(status);
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "process {} did not exit within {timeout:?} of SIG{signal}",
            child.id()
        );
        std::thread::sleep(EXIT_POLL);
    }
}
