//! `flicker`: run batch jobs whose operators are sandboxed WebAssembly components.

use anyhow::Context;
use clap::{Parser, Subcommand};
use flicker_cluster::{JobDefaults, JobSummary, LocalRunner, PreparedJob};
use flicker_host::{Limits, Runtime, RuntimeConfig};
use flicker_manifest::Manifest;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

#[derive(Parser)]
#[command(
    name = "flicker",
    version,
    about = "A distributed batch engine whose operators are WebAssembly components"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a job on this machine: every stage in this process, tasks on worker threads, shuffle in
    /// memory. Prints a summary; exits non-zero with the cause if the job fails.
    Run(RunArgs),
}

#[derive(clap::Args)]
struct RunArgs {
    /// The job manifest (TOML).
    manifest: PathBuf,
    /// Worker threads running tasks (default: the number of cores).
    #[arg(long)]
    workers: Option<usize>,
    /// Where compiled operator components are cached.
    #[arg(long, env = "FLICKER_CACHE_DIR")]
    cache_dir: Option<PathBuf>,
    /// Bytes of input records handed to a parser per call (the batch size, in input bytes).
    #[arg(long, default_value_t = LocalRunner::default().chunk_size)]
    chunk_size: usize,
    /// Default memory limit of every operator instance (steps may override it with `limits`).
    #[arg(long, value_parser = size_arg, default_value = "512MiB")]
    memory_limit: u64,
    /// Default time limit of one call into an operator (steps may override it with `limits`).
    #[arg(long, value_parser = duration_arg, default_value = "60s")]
    call_timeout: Duration,
    /// Default limit on what one operator call may return (steps may override it with `limits`).
    #[arg(long, value_parser = size_arg, default_value = "256MiB")]
    output_limit: u64,
    /// Shuffle partitions of aggregate steps that do not set `partitions`.
    #[arg(long, default_value_t = JobDefaults::default().partitions)]
    partitions: u32,
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("FLICKER_LOG").unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(args) => run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {}", report(&error));
            ExitCode::FAILURE
        }
    }
}

/// The error and its causes joined by ": ", leaving out a cause whose message the text already ends
/// with: several error types (manifest I/O, storage, commit) repeat their source in their own message.
fn report(error: &anyhow::Error) -> String {
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

fn default_cache_dir() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))?;
    Some(base.join("flicker").join("components"))
}

fn run(args: RunArgs) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let manifest = Manifest::load(&args.manifest)?;
    let runtime = Runtime::new(RuntimeConfig {
        cache_dir: args.cache_dir.or_else(default_cache_dir),
        ..Default::default()
    })
    .context("starting the operator runtime")?;
    let limits = Limits {
        memory: args.memory_limit,
        call_timeout: args.call_timeout,
        output: args.output_limit,
        ..Limits::default()
    };
    let defaults = JobDefaults { partitions: args.partitions.max(1), limits, ..JobDefaults::default() };
    let job = PreparedJob::prepare(manifest, Arc::new(runtime), &defaults)?;
    let mut runner = LocalRunner { chunk_size: args.chunk_size.max(1), ..LocalRunner::default() };
    if let Some(workers) = args.workers {
        runner.workers = workers.max(1);
    }
    let name = job.manifest.name.clone();
    let summary = runner.run(&job).with_context(|| format!("job {name:?} failed"))?;
    match print_summary(&summary, started.elapsed()) {
        // The job succeeded; a reader that stopped reading (`| head`) is not an error.
        Err(error) if error.kind() != std::io::ErrorKind::BrokenPipe => Err(error.into()),
        _ => Ok(()),
    }
}

/// Prints the summary; `total` includes loading and validating the plugins, `summary.elapsed` only
/// running the stages.
fn print_summary(summary: &JobSummary, total: Duration) -> std::io::Result<()> {
    let m = &summary.metrics;
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "job {:?} succeeded in {:.2} s (stages ran in {:.2} s)",
        summary.name,
        total.as_secs_f64(),
        summary.elapsed.as_secs_f64()
    )?;
    writeln!(out, "  stages {}, tasks {}", summary.stages, summary.tasks)?;
    writeln!(out, "  rows in {} (skipped {}), bytes in {}", m.rows_in, m.skipped, human(m.bytes_in))?;
    writeln!(out, "  shuffled {}", human(m.shuffle_bytes))?;
    writeln!(out, "  rows out {}, bytes out {}", m.rows_out, human(m.bytes_out))?;
    for (sink, url) in &summary.outputs {
        writeln!(out, "  output {sink}: {url}")?;
    }
    Ok(())
}

fn human(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 { format!("{bytes} B") } else { format!("{value:.1} {}", UNITS[unit]) }
}

fn size_arg(text: &str) -> Result<u64, String> {
    flicker_manifest::parse_size(text).map_err(|e| e.to_string())
}

fn duration_arg(text: &str) -> Result<Duration, String> {
    flicker_manifest::parse_duration(text).map_err(|e| e.to_string())
}
