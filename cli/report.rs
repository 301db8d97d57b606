//! How results and errors are shown: human text or JSON.

use flicker_protocol::status::{JobState, JobStatus, NodeStatus};
use std::io::Write;

/// Output formats of the client commands.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputFormat {
    /// Lines for people.
    Text,
    /// One JSON document.
    Json,
}

/// The error and its causes joined by ": ", leaving out a cause whose message the text already
/// ends with: several error types (manifest I/O, storage, commit) repeat their source in their own
/// message.
pub fn error_chain(error: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in error.chain() {
        let message = cause.to_string();
        if text.ends_with(&message) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&message);
    }
    text
}

/// Prints, ignoring a reader that stopped reading (`| head`).
pub fn print(write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match write(&mut out) {
        Err(error) if error.kind() != std::io::ErrorKind::BrokenPipe => Err(error.into()),
        _ => Ok(()),
    }
}

/// Prints `value` as JSON.
pub fn json<T: serde::Serialize>(value: &T) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(value)?;
    print(|out| writeln!(out, "{text}"))
}

/// The summary of a finished job.
pub fn summary(out: &mut dyn Write, status: &JobStatus) -> std::io::Result<()> {
    let m = &status.metrics;
    let outcome = match &status.state {
        JobState::Succeeded => "succeeded".to_owned(),
        JobState::Failed { .. } => "failed".to_owned(),
        JobState::Cancelled => "was cancelled".to_owned(),
        JobState::Running => "is running".to_owned(),
    };
    writeln!(
        out,
        "job {:?} ({}) {outcome} in {:.2} s",
        status.name,
        status.job,
        status.elapsed_ms as f64 / 1000.0
    )?;
    let tasks: u32 = status.stages.iter().map(|s| s.total).sum();
    writeln!(
        out,
        "  stages {}, tasks {tasks}, task time {:.2} s",
        status.stages.len(),
        m.task_ms as f64 / 1000.0
    )?;
    writeln!(out, "  rows in {} (skipped {}), bytes in {}", m.rows_in, m.skipped, human(m.bytes_in))?;
    writeln!(out, "  shuffled {}", human(m.shuffle_bytes))?;
    if m.combine_flushes + m.spilled_runs > 0 {
        writeln!(
            out,
            "  spilled {} ({} map-side flushes, {} sorted runs)",
            human(m.spill_bytes),
            m.combine_flushes,
            m.spilled_runs
        )?;
    }
    writeln!(out, "  rows out {}, bytes out {}", m.rows_out, human(m.bytes_out))?;
    if !status.failed_attempts.is_empty() || status.recomputed_map_outputs > 0 {
        writeln!(
            out,
            "  failed attempts {}, map outputs computed again {}",
            status.failed_attempts.len(),
            status.recomputed_map_outputs
        )?;
    }
    if status.state == JobState::Succeeded {
        for (sink, url) in &status.outputs {
            writeln!(out, "  output {sink}: {url}")?;
        }
    }
    Ok(())
}

/// One line per job.
pub fn jobs(out: &mut dyn Write, jobs: &[JobStatus]) -> std::io::Result<()> {
    for job in jobs {
        let state = match &job.state {
            JobState::Failed { cause } => format!("failed: {cause}"),
            JobState::Running => "running".into(),
            JobState::Succeeded => "succeeded".into(),
            JobState::Cancelled => "cancelled".into(),
        };
        writeln!(out, "{}  {:?}  {state}  ({:.1} s)", job.job, job.name, job.elapsed_ms as f64 / 1000.0)?;
        for stage in &job.stages {
            writeln!(
                out,
                "  stage {}: {}/{} done, {} running  {}",
                stage.stage, stage.done, stage.total, stage.running, stage.description
            )?;
        }
        for (executor, tasks) in &job.tasks_by_executor {
            writeln!(out, "  {executor}: {tasks} tasks")?;
        }
        for failed in &job.failed_attempts {
            writeln!(
                out,
                "  failed: stage {} task {} attempt {} on {}: {}",
                failed.stage, failed.task, failed.attempt, failed.executor, failed.cause
            )?;
        }
        if !job.excluded_executors.is_empty() {
            let excluded: Vec<&str> = job.excluded_executors.iter().map(|e| e.0.as_str()).collect();
            writeln!(out, "  excluded executors: {}", excluded.join(", "))?;
        }
    }
    Ok(())
}

/// The table of `flicker nodes`.
pub fn nodes(out: &mut dyn Write, nodes: &[NodeStatus]) -> std::io::Result<()> {
    writeln!(
        out,
        "{:<20} {:<6} {:>5} {:>7} {:>10} {:>14}  {:<22} bts",
        "executor", "state", "slots", "running", "memory", "heartbeat", "address"
    )?;
    for n in nodes {
        let state = match n.state {
            flicker_protocol::status::NodeState::Alive => "alive",
            flicker_protocol::status::NodeState::Lost => "lost",
        };
        writeln!(
            out,
            "{:<20} {:<6} {:>5} {:>7} {:>10} {:>11} ms  {:<22} {}",
            n.executor.0,
            state,
            n.slots,
            n.running,
            human(n.memory),
            n.last_heartbeat_ms,
            n.address,
            n.bts
        )?;
    }
    Ok(())
}

/// Bytes in binary units.
pub fn human(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 { format!("{bytes} B") } else { format!("{value:.1} {}", UNITS[unit]) }
}
