//! How results and errors are shown: human text or JSON.

use flicker_protocol::status::{
    AttemptOutcome, AttemptStatus, Budget, JobFailure, JobState, JobStatus, NodeStatus,
};
use flicker_protocol::tenant::{AuditEvent, AuditRecord, Cost, Seconds, TenantUsage};
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
        JobState::Queued => "is queued".to_owned(),
    };
    writeln!(
        out,
        "job {:?} ({}) {outcome} in {:.2} s, {} rows/s",
        status.name,
        status.job,
        status.elapsed_ms as f64 / 1000.0,
        count(rows_per_second(status))
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
    writeln!(out, "  cost: {}", cost(&status.cost))?;
    if !status.failed_attempts.is_empty() || status.recomputed_map_outputs > 0 {
        writeln!(
            out,
            "  failed attempts {}, map outputs computed again {}",
            status.failed_attempts.len(),
            status.recomputed_map_outputs
        )?;
    }
    if let Some(failure) = &status.failure {
        writeln!(out, "  failure: {}", failure_text(failure))?;
    }
    if status.state == JobState::Succeeded {
        for (sink, url) in &status.outputs {
            writeln!(out, "  output {sink}: {url}")?;
        }
    }
    Ok(())
}

/// A job's failure in words: what kind, where, after how many attempts.
fn failure_text(failure: &JobFailure) -> String {
    match failure {
        JobFailure::Task { stage, task, attempts, kind } => {
            let attempts =
                if *attempts == 1 { "1 attempt".to_owned() } else { format!("{attempts} attempts") };
            format!("{kind} in stage {stage} task {task}, after {attempts}")
        }
        JobFailure::NoExecutors => "no executor could run its tasks".to_owned(),
        JobFailure::MapOutputLost => "a map output was lost more often than its attempts allow".to_owned(),
        JobFailure::Commit { sink } => format!("committing the output of sink {sink:?} failed"),
        JobFailure::OverBudget { budget, used, limit } => match budget {
            Budget::TenantDisk => {
                format!("its tenant's {} is used up: {} of {}", budget.key(), human(*used), human(*limit))
            }
            Budget::JobCpu | Budget::TenantDailyCpu => {
                format!("the {} budget is used up: {} of {}", budget.key(), Seconds(*used), Seconds(*limit))
            }
        },
    }
}

/// What a stage, a job or a tenant consumed, in one line with units.
pub fn cost(cost: &Cost) -> String {
    format!(
        "operator CPU {}, task time {}, peak operator memory {}, read {}, written {}, shuffled {}, spilled {} ({} attempts)",
        Seconds(cost.cpu_us),
        seconds(cost.task_ms),
        human(cost.peak_memory),
        human(cost.bytes_read),
        human(cost.bytes_written),
        human(cost.shuffle_bytes),
        human(cost.spill_bytes),
        cost.attempts
    )
}

/// What each tenant's ended jobs consumed (`flicker usage`), one tenant per block.
pub fn usage(out: &mut dyn Write, usage: &[TenantUsage]) -> std::io::Result<()> {
    if usage.is_empty() {
        return writeln!(out, "no job ended in the period");
    }
    for tenant in usage {
        writeln!(out, "tenant {}: {} jobs", tenant.tenant, tenant.jobs)?;
        writeln!(out, "  {}", cost(&tenant.cost))?;
    }
    Ok(())
}

/// The audit log's records, one per line: time, tenant, who, what.
pub fn audit(out: &mut dyn Write, records: &[AuditRecord]) -> std::io::Result<()> {
    for record in records {
        let tenant = record.tenant.as_ref().map_or("-", |t| t.0.as_str());
        let what = match &record.event {
            AuditEvent::Submitted { job, name, manifest_sha256, plugins } => {
                let plugins: Vec<String> = plugins.iter().map(|p| p.to_hex()[..12].to_owned()).collect();
                format!(
                    "submitted {job} ({name:?}), manifest {}, components [{}]",
                    &manifest_sha256[..12.min(manifest_sha256.len())],
                    plugins.join(", ")
                )
            }
            AuditEvent::PluginUploaded { digest, bytes } => {
                format!("uploaded component {digest} ({})", human(*bytes))
            }
            AuditEvent::Cancelled { job } => format!("cancelled {job}"),
            AuditEvent::Refused { request, reason } => format!("refused {request}: {reason}"),
            AuditEvent::Budget { job, cause } => format!("stopped {job}: {cause}"),
            AuditEvent::Ended { job, state, cost: spent } => format!("{job} {state}; {}", cost(spent)),
            AuditEvent::TokenCreated { tenant, admin, expires_unix_ms } => {
                let holder = match (admin, tenant) {
                    (true, _) => "an admin".to_owned(),
                    (false, tenant) => format!("tenant {}", tenant.as_ref().map_or("-", |t| t.0.as_str())),
                };
                format!("created a token of {holder}, expiring {}", time(*expires_unix_ms))
            }
        };
        writeln!(out, "{}  {tenant:<12}  {}  {what}", time(record.at_unix_ms), record.identity)?;
    }
    Ok(())
}

/// One line per job: id, name, state, start (UTC) and duration.
pub fn jobs(out: &mut dyn Write, jobs: &[JobStatus]) -> std::io::Result<()> {
    let width = jobs.iter().map(|job| job.job.0.len()).max().unwrap_or(0).max(3);
    let name_width = jobs.iter().map(|job| job.name.len() + 2).max().unwrap_or(0).max(4);
    writeln!(
        out,
        "{:<width$}  {:<name_width$}  {:<9}  {:<20}  {:>9}",
        "JOB", "NAME", "STATE", "STARTED", "DURATION"
    )?;
    for job in jobs {
        let state = match &job.state {
            JobState::Failed { .. } => "failed",
            JobState::Queued => "queued",
            JobState::Running => "running",
            JobState::Succeeded => "succeeded",
            JobState::Cancelled => "cancelled",
        };
        writeln!(
            out,
            "{:<width$}  {:<name_width$}  {state:<9}  {:<20}  {:>9}",
            job.job.0,
            format!("{:?}", job.name),
            time(job.started_unix_ms),
            seconds(job.elapsed_ms)
        )?;
    }
    Ok(())
}

/// Everything about one job: state and cause, start and end, each stage with its task
/// durations, where its tasks ran, its failed attempts and its outputs.
pub fn job_details(out: &mut dyn Write, job: &JobStatus) -> std::io::Result<()> {
    writeln!(out, "job {} ({:?}): {}", job.job, job.name, job.state)?;
    if let Some(failure) = &job.failure {
        writeln!(out, "  failure: {}", failure_text(failure))?;
    }
    let ended = job.ended_unix_ms.map_or_else(|| "-".to_owned(), time);
    writeln!(out, "  started {}, ended {ended}, {}", time(job.started_unix_ms), seconds(job.elapsed_ms))?;
    for stage in &job.stages {
        write!(
            out,
            "  stage {}: {}/{} done, {} running  {}",
            stage.stage, stage.done, stage.total, stage.running, stage.description
        )?;
        match &stage.task_durations {
            Some(d) => writeln!(
                out,
                "\n    task time min {}, median {}, max {}",
                seconds(d.min_ms),
                seconds(d.median_ms),
                seconds(d.max_ms)
            )?,
            None => writeln!(out)?,
        }
    }
    let m = &job.metrics;
    writeln!(
        out,
        "  rows in {} (skipped {}), bytes in {}, shuffled {}, rows out {}, bytes out {}",
        m.rows_in,
        m.skipped,
        human(m.bytes_in),
        human(m.shuffle_bytes),
        m.rows_out,
        human(m.bytes_out)
    )?;
    writeln!(out, "  tenant {}, submitted by {:?}", job.owner.tenant, job.owner.submitter)?;
    writeln!(out, "  cost: {}", cost(&job.cost))?;
    for stage in &job.stages {
        writeln!(out, "    stage {}: {}", stage.stage, cost(&stage.cost))?;
    }
    for (executor, tasks) in &job.tasks_by_executor {
        writeln!(out, "  {executor}: {tasks} tasks")?;
    }
    for failed in &job.failed_attempts {
        writeln!(
            out,
            "  failed: stage {} task {} attempt {} on {}: {} [{}]",
            failed.stage, failed.task, failed.attempt, failed.executor, failed.cause, failed.kind
        )?;
    }
    if !job.excluded_executors.is_empty() {
        let excluded: Vec<&str> = job.excluded_executors.iter().map(|e| e.0.as_str()).collect();
        writeln!(out, "  excluded executors: {}", excluded.join(", "))?;
    }
    for (sink, url) in &job.outputs {
        writeln!(out, "  output {sink}: {url}")?;
    }
    Ok(())
}

/// The totals under the progress bars: time so far, rows read and their rate, bytes.
pub fn progress_line(status: &JobStatus) -> String {
    let m = &status.metrics;
    format!(
        "{}, rows in {} ({} rows/s), bytes in {}, shuffled {}, rows out {}",
        seconds(status.elapsed_ms),
        m.rows_in,
        count(rows_per_second(status)),
        human(m.bytes_in),
        human(m.shuffle_bytes),
        m.rows_out
    )
}

/// Input rows per second of the job so far.
fn rows_per_second(status: &JobStatus) -> f64 {
    if status.elapsed_ms == 0 {
        0.0
    } else {
        status.metrics.rows_in as f64 * 1000.0 / status.elapsed_ms as f64
    }
}

/// A time given in milliseconds since the Unix epoch, as UTC to the second
/// (`2026-12-06T04:12:33Z`).
pub fn time(unix_ms: u64) -> String {
    humantime::format_rfc3339_seconds(std::time::UNIX_EPOCH + std::time::Duration::from_millis(unix_ms))
        .to_string()
}

/// Milliseconds as seconds: `0.042 s`, `12.3 s`.
fn seconds(ms: u64) -> String {
    if ms < 1000 { format!("{:.3} s", ms as f64 / 1000.0) } else { format!("{:.1} s", ms as f64 / 1000.0) }
}

/// A count with a metric suffix: `950`, `12.3k`, `4.1M`.
pub fn count(value: f64) -> String {
    match value {
        v if v >= 1e9 => format!("{:.1}G", v / 1e9),
        v if v >= 1e6 => format!("{:.1}M", v / 1e6),
        v if v >= 1e3 => format!("{:.1}k", v / 1e3),
        v => format!("{v:.0}"),
    }
}

/// Which attempts [`attempts`] shows, and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptsShown {
    /// Every attempt, with the cause of a failure (`flicker status JOB --task`).
    All,
    /// Only attempts whose operators wrote something that no error shows already, their outcome
    /// in a word (the output printed as a job ends, before its summary or its error).
    Output,
}

/// Task attempts with what their operators wrote, each stream indented under its step. A failed
/// attempt's cause shows its panic, so its stderr leaves the panic out.
pub fn attempts(
    out: &mut dyn Write,
    attempts: &[AttemptStatus],
    shown: AttemptsShown,
) -> std::io::Result<()> {
    for a in attempts {
        let failed = matches!(a.outcome, AttemptOutcome::Failed { .. });
        let streams: Vec<(&str, String, String, u64)> = a
            .log
            .iter()
            .map(|log| {
                let stderr = flicker_host::shown_stderr(&log.stderr, failed);
                (log.step.as_str(), log.stdout.trim_end().to_owned(), stderr, log.dropped)
            })
            .filter(|(_, stdout, stderr, dropped)| !stdout.is_empty() || !stderr.is_empty() || *dropped > 0)
            .collect();
        if shown == AttemptsShown::Output && streams.is_empty() {
            continue;
        }
        let outcome = match (&a.outcome, shown) {
            (AttemptOutcome::Running, _) => "running".to_owned(),
            (AttemptOutcome::Succeeded, _) => "succeeded".to_owned(),
            (AttemptOutcome::Failed { cause, kind }, AttemptsShown::All) => {
                format!("failed: {cause} [{kind}]")
            }
            (AttemptOutcome::FetchFailed { cause }, AttemptsShown::All) => {
                format!("could not fetch its input: {cause}")
            }
            (AttemptOutcome::Failed { .. }, AttemptsShown::Output) => "failed".to_owned(),
            (AttemptOutcome::FetchFailed { .. }, AttemptsShown::Output) => {
                "could not fetch its input".to_owned()
            }
        };
        writeln!(
            out,
            "stage {} task {} attempt {} on {}: {outcome}",
            a.stage, a.task, a.attempt, a.executor
        )?;
        for (step, stdout, stderr, dropped) in &streams {
            for (stream, text) in [("stdout", stdout), ("stderr", stderr)] {
                if text.is_empty() {
                    continue;
                }
                let step = if step.is_empty() { String::new() } else { format!("{step} ") };
                writeln!(out, "  {step}{stream}:")?;
                for line in text.lines() {
                    writeln!(out, "    {line}")?;
                }
            }
            if *dropped > 0 {
                writeln!(out, "  ({dropped} more bytes of output were not kept)")?;
            }
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

#[cfg(test)]
mod tests {
    use super::*;
    use flicker_protocol::JobId;
    use flicker_protocol::TenantId;
    use flicker_protocol::failure::FailureKind;
    use flicker_protocol::status::{StageStatus, TaskDurations};
    use flicker_protocol::task::TaskMetrics;
    use flicker_protocol::tenant::Owner;

    /// What the stage of [`job`] cost, and the job too.
    fn spent() -> Cost {
        Cost { attempts: 4, cpu_us: 1_500_000, task_ms: 2600, peak_memory: 3 << 20, ..Cost::default() }
    }

    fn job(id: &str, state: JobState, elapsed_ms: u64) -> JobStatus {
        JobStatus {
            job: JobId(id.into()),
            name: "max".into(),
            owner: Owner { tenant: TenantId("acme".into()), submitter: "alice".into() },
            state,
            failure: None,
            stages: vec![StageStatus {
                stage: 0,
                description: "read readings → parse".into(),
                total: 4,
                done: 3,
                running: 1,
                upstream: Vec::new(),
                cost: spent(),
                task_durations: Some(TaskDurations { min_ms: 12, median_ms: 40, max_ms: 2500 }),
            }],
            metrics: TaskMetrics { rows_in: 3_000_000, bytes_in: 3 << 20, ..TaskMetrics::default() },
            cost: spent(),
            elapsed_ms,
            started_unix_ms: 1_796_529_153_000,
            ended_unix_ms: None,
            tasks_by_executor: Vec::new(),
            outputs: vec![("out".into(), "file:///out".into())],
            failed_attempts: Vec::new(),
            excluded_executors: Vec::new(),
            recomputed_map_outputs: 0,
        }
    }

    fn text(write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>) -> String {
        let mut out = Vec::new();
        write(&mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn counts_and_times_read_well() {
        assert_eq!(count(950.0), "950");
        assert_eq!(count(12_345.0), "12.3k");
        assert_eq!(count(4_100_000.0), "4.1M");
        assert_eq!(time(1_796_529_153_999), "2026-12-06T03:52:33Z");
        assert_eq!(seconds(42), "0.042 s");
        assert_eq!(seconds(12_345), "12.3 s");
    }

    #[test]
    fn progress_shows_elapsed_time_and_rows_per_second() {
        let line = progress_line(&job("j", JobState::Running, 1500));
        assert_eq!(line, "1.5 s, rows in 3000000 (2.0M rows/s), bytes in 3.0 MiB, shuffled 0 B, rows out 0");
        assert!(progress_line(&job("j", JobState::Running, 0)).contains("(0 rows/s)"));
    }

    #[test]
    fn the_job_list_is_one_line_per_job() {
        let failed = JobState::Failed { cause: "a long cause\nover lines".into() };
        let listed =
            text(|out| jobs(out, &[job("job-1", JobState::Succeeded, 42), job("job-22", failed, 61_000)]));
        let lines: Vec<&str> = listed.lines().collect();
        assert_eq!(lines.len(), 3, "{listed}");
        assert_eq!(
            lines[0].split_whitespace().collect::<Vec<_>>(),
            ["JOB", "NAME", "STATE", "STARTED", "DURATION"]
        );
        assert_eq!(
            lines[2].split_whitespace().collect::<Vec<_>>(),
            ["job-22", "\"max\"", "failed", "2026-12-06T03:52:33Z", "61.0", "s"]
        );
    }

    #[test]
    fn the_details_of_a_job_show_times_and_task_durations() {
        let mut ended = job("job-1", JobState::Succeeded, 61_000);
        ended.ended_unix_ms = Some(1_796_529_214_000);
        let shown = text(|out| job_details(out, &ended));
        assert!(shown.starts_with("job job-1 (\"max\"): succeeded\n"), "{shown}");
        assert!(
            shown.contains("started 2026-12-06T03:52:33Z, ended 2026-12-06T03:53:34Z, 61.0 s"),
            "{shown}"
        );
        assert!(shown.contains("task time min 0.012 s, median 0.040 s, max 2.5 s"), "{shown}");
        assert!(shown.contains("output out: file:///out"), "{shown}");
        assert!(shown.contains("tenant acme, submitted by \"alice\""), "{shown}");
        let cost = "operator CPU 1.500 s, task time 2.6 s, peak operator memory 3.0 MiB, read 0 B, \
                    written 0 B, shuffled 0 B, spilled 0 B (4 attempts)";
        assert!(shown.contains(&format!("  cost: {cost}\n    stage 0: {cost}\n")), "{shown}");
    }

    #[test]
    fn usage_and_audit_records_read_with_units() {
        use flicker_protocol::tenant::{AuditEvent, AuditRecord, TenantUsage};
        let used = TenantUsage { tenant: TenantId("acme".into()), jobs: 2, cost: spent() };
        let shown = text(|out| usage(out, &[used]));
        assert!(shown.starts_with("tenant acme: 2 jobs\n  operator CPU 1.500 s, task time 2.6 s"), "{shown}");
        assert_eq!(text(|out| usage(out, &[])), "no job ended in the period\n");
        let record = AuditRecord {
            at_unix_ms: 1_796_529_153_000,
            tenant: Some(TenantId("acme".into())),
            identity: "client \"alice\" of tenant \"acme\"".into(),
            event: AuditEvent::Refused {
                request: "submit".into(),
                reason: "tenant acme is at a limit".into(),
            },
        };
        let shown = text(|out| audit(out, &[record]));
        assert_eq!(
            shown,
            "2026-12-06T03:52:33Z  acme          client \"alice\" of tenant \"acme\"  refused submit: tenant acme is at a limit\n"
        );
    }

    #[test]
    fn operator_output_leaves_out_what_the_error_shows() {
        use flicker_protocol::ExecutorId;
        use flicker_protocol::task::OperatorLog;
        let panic = "\nthread '<unnamed>' (1) panicked at src/lib.rs:1:1:\nboom\nnote: run with `RUST_BACKTRACE=1` environment variable to display a backtrace\n";
        let attempt = |attempt, outcome, stderr: &str| AttemptStatus {
            stage: 0,
            task: flicker_protocol::TaskIndex(3),
            attempt: flicker_protocol::AttemptId(attempt),
            executor: ExecutorId("e1".into()),
            outcome,
            log: vec![OperatorLog {
                step: "spin".into(),
                stdout: String::new(),
                stderr: stderr.into(),
                dropped: 0,
            }],
        };
        let failed = || AttemptOutcome::Failed {
            cause: "operator panicked at src/lib.rs:1:1: boom".into(),
            kind: FailureKind::Trap { message: "panicked at src/lib.rs:1:1: boom".into() },
        };
        let attempts = [
            attempt(0, failed(), panic),
            attempt(1, failed(), &format!("reading row 7{panic}")),
            attempt(2, AttemptOutcome::Succeeded, "done\n"),
        ];
        let output = text(|out| super::attempts(out, &attempts, AttemptsShown::Output));
        assert_eq!(
            output,
            "stage 0 task 3 attempt 1 on e1: failed\n  spin stderr:\n    reading row 7\n\
             stage 0 task 3 attempt 2 on e1: succeeded\n  spin stderr:\n    done\n"
        );
        let all = text(|out| super::attempts(out, &attempts, AttemptsShown::All));
        assert!(all.starts_with("stage 0 task 3 attempt 0 on e1: failed: operator panicked"), "{all}");
        assert!(!all.contains("RUST_BACKTRACE") && all.matches("boom").count() == 2, "{all}");
    }
}
