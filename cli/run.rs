//! `flicker run`: a job on an in-process cluster; and what the other commands share with it
//! (job defaults, the operator runtime, the tokio runtime).

use crate::client::Progress;
use crate::config::ConfigFileArgs;
use crate::report;
use anyhow::{Context, bail};
use flicker_client::LocalCluster;
use flicker_host::{Runtime, RuntimeConfig};
use flicker_job::{JobDefaults, LimitMaxima};
use flicker_manifest::Param;
use flicker_protocol::status::JobState;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

#[derive(clap::Args)]
pub struct RunArgs {
    /// The job manifest (TOML).
    manifest: PathBuf,
    /// The value of the manifest's `${NAME}` placeholders, over the default in its [params]
    /// (repeatable; the last one of a name wins).
    #[arg(short = 'p', long = "param", visible_alias = "conf", value_name = "NAME=VALUE")]
    params: Vec<Param>,
    /// Task slots (tasks run at once; default: the number of cores).
    #[arg(long)]
    workers: Option<u32>,
    /// Where compiled operator components are cached.
    #[arg(long, env = "FLICKER_CACHE_DIR")]
    cache_dir: Option<PathBuf>,
    #[command(flatten)]
    defaults: DefaultsArgs,
    #[command(flatten)]
    file: ConfigFileArgs,
}

/// Job defaults a manifest may override.
#[derive(clap::Args, Clone, Copy)]
pub struct DefaultsArgs {
    #[command(flatten)]
    operators: OperatorArgs,
    /// Attempts of a task before the job fails, for manifests without `max_attempts` (default:
    /// 1 for `flicker run`, 4 on a cluster).
    #[arg(long)]
    max_attempts: Option<u32>,
    /// The largest memory limit a job may give an operator instance (its default or a step's
    /// `limits.memory`); a job over it is refused at submission.
    #[arg(long, value_parser = size_arg, default_value = "4GiB")]
    max_memory_limit: u64,
    /// The largest call timeout a job may give an operator.
    #[arg(long, value_parser = duration_arg, default_value = "1h")]
    max_call_timeout: Duration,
    /// The largest output limit a job may give an operator.
    #[arg(long, value_parser = size_arg, default_value = "1GiB")]
    max_output_limit: u64,
}

/// How operators are called: batch size, limits, shuffle partitions (what `flicker test` takes
/// too).
#[derive(clap::Args, Clone, Copy)]
pub struct OperatorArgs {
    /// Bytes of input records handed to a parser per call (the batch size, in input bytes).
    #[arg(long, default_value_t = JobDefaults::default().chunk_size)]
    chunk_size: u64,
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

impl OperatorArgs {
    /// The job defaults these flags give (one attempt per task).
    pub fn job_defaults(&self) -> JobDefaults {
        JobDefaults {
            memory_limit: self.memory_limit,
            call_timeout_ms: self.call_timeout.as_millis().try_into().unwrap_or(u64::MAX),
            output_limit: self.output_limit,
            partitions: self.partitions.max(1),
            chunk_size: self.chunk_size.max(1),
            max_attempts: 1,
            ..JobDefaults::default()
        }
    }
}

impl DefaultsArgs {
    /// The largest limits a job may set, as these flags give them.
    pub fn maxima(&self) -> LimitMaxima {
        LimitMaxima {
            memory: self.max_memory_limit,
            call_timeout: self.max_call_timeout,
            output: self.max_output_limit,
        }
    }

    /// The job defaults these flags give; `max_attempts` unless the flag says otherwise.
    pub fn job_defaults(&self, max_attempts: u32) -> JobDefaults {
        let max_attempts = self.max_attempts.unwrap_or(max_attempts).max(1);
        JobDefaults { max_attempts, ..self.operators.job_defaults() }
    }
}

pub fn size_arg(text: &str) -> Result<u64, String> {
    flicker_manifest::parse_size(text).map_err(|e| e.to_string())
}

pub fn duration_arg(text: &str) -> Result<Duration, String> {
    flicker_manifest::parse_duration(text).map_err(|e| e.to_string())
}

/// The multi-threaded tokio runtime of a command.
pub fn start_tokio() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().context("cannot start the I/O runtime")
}

/// The operator runtime of a node running `slots` tasks at once (none on a scheduler) whose
/// operators may have up to `max_memory` bytes each, caching compiled components in `cache_dir`
/// (default: the user's cache).
pub fn runtime(cache_dir: Option<PathBuf>, slots: u32, max_memory: u64) -> anyhow::Result<Arc<Runtime>> {
    let config =
        RuntimeConfig { cache_dir: cache_dir.or_else(default_cache_dir), max_memory, ..Default::default() };
    let runtime = Runtime::new(config.for_slots(slots)).context("starting the operator runtime")?;
    Ok(Arc::new(runtime))
}

fn default_cache_dir() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))?;
    Some(base.join("flicker").join("components"))
}

pub fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let tokio = start_tokio()?;
    let slots =
        args.workers.unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get() as u32));
    let runtime = runtime(args.cache_dir, slots.max(1), args.defaults.maxima().memory)?;
    // On one machine a failed task would fail the same way again (Spark's local mode: one attempt).
    let defaults = args.defaults.job_defaults(1);
    let storage = args.file.storage()?;
    // One tenant, `default`: limited if the cluster file declares `[tenants.default]`.
    let tenants = args.file.tenants()?;
    let status = tokio.block_on(async {
        let cluster =
            LocalCluster::start(slots.max(1), runtime, defaults, args.defaults.maxima(), storage, tenants)
                .await?;
        let job = cluster.client.submit(&args.manifest, &args.params, Some(defaults)).await?;
        let mut progress = Progress::new();
        let status = cluster.client.watch(&job, |status| progress.show(status)).await?;
        progress.finish();
        crate::client::show_operator_output(&cluster.client, &job).await?;
        anyhow::Ok(status)
    })?;
    match &status.state {
        JobState::Succeeded => {
            report::print(|out| report::summary(out, &status))?;
            Ok(ExitCode::SUCCESS)
        }
        JobState::Failed { cause } => bail!("job {:?} failed: {cause}", status.name),
        other => bail!("job {:?} ended as {other:?}", status.name),
    }
}
