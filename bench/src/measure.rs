//! One run of a contender: a whole process, timed, its peak RSS taken by `/usr/bin/time`.

use anyhow::Context;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// One run of a contender: a whole process.
pub struct Sample {
    /// Its wall time, from starting the process to its end.
    pub wall: Duration,
    /// Its peak RSS in KiB, when `/usr/bin/time` is there to tell.
    pub rss_kib: Option<u64>,
    /// What it printed to stdout.
    pub stdout: String,
}

/// Runs a command under `/usr/bin/time` when present, keeping its stdout.
pub fn measure(mut command: Command) -> anyhow::Result<Sample> {
    let gnu_time = Path::new("/usr/bin/time");
    let rss_file = std::env::temp_dir().join(format!("flicker-bench-rss-{}", std::process::id()));
    if gnu_time.exists() {
        let mut wrapped = Command::new(gnu_time);
        wrapped
            .arg("-f")
            .arg("%M")
            .arg("-o")
            .arg(&rss_file)
            .arg(command.get_program())
            .args(command.get_args());
        for (key, value) in command.get_envs() {
            match value {
                Some(value) => wrapped.env(key, value),
                None => wrapped.env_remove(key),
            };
        }
        command = wrapped;
    }
    let started = Instant::now();
    let output = command.output().with_context(|| format!("cannot run {command:?}"))?;
    let wall = started.elapsed();
    anyhow::ensure!(
        output.status.success(),
        "{command:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let rss_kib = std::fs::read_to_string(&rss_file).ok().and_then(|s| s.trim().lines().last()?.parse().ok());
    let stdout = String::from_utf8(output.stdout).context("the output is not UTF-8")?;
    Ok(Sample { wall, rss_kib, stdout })
}
