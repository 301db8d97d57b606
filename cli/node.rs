//! The long-running processes of a cluster: `flicker scheduler`, `executor` and `bts`.

use crate::config::{ClusterArgs, ConfigFileArgs, resolve};
use crate::policy::PolicyArgs;
use crate::run::{DefaultsArgs, runtime, start_tokio};
use anyhow::Context;
use flicker_bts::ShuffleStore;
use flicker_executor::{Executor, ExecutorConfig, Fault, Faults};
use flicker_http::HttpServer;
use flicker_job::{JobDefaults, LimitMaxima};
use flicker_protocol::ExecutorId;
use flicker_scheduler::{Retention, Scheduler, SchedulerConfig};
use flicker_scheduler_core::retention::DEFAULT_RETAINED_JOBS;
use flicker_transport::{CapabilityCheck, Endpoint, EndpointConfig, Identity};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

#[derive(clap::Args)]
pub struct SchedulerArgs {
    /// Address to listen on (UDP, QUIC), e.g. 127.0.0.1:7070.
    #[arg(long)]
    listen: String,
    /// Directory holding `ca.pem` and `<cert>.pem`/`<cert>.key` (see `flicker cert init`).
    #[arg(long, env = "FLICKER_TLS_DIR")]
    tls_dir: PathBuf,
    /// The certificate to present, by name.
    #[arg(long, default_value = "scheduler")]
    cert: String,
    /// Directory for the scheduler's state: its plugin store.
    #[arg(long)]
    state_dir: PathBuf,
    /// Also serve the HTTP API, the web UI and the metrics over HTTPS on this address (TCP),
    /// e.g. 127.0.0.1:8080; callers present a client certificate or a bearer token.
    #[arg(long, value_name = "ADDR")]
    http: Option<String>,
    /// How often executors send heartbeats.
    #[arg(long, value_parser = crate::run::duration_arg, default_value = "1s")]
    heartbeat_interval: Duration,
    /// Silence after which an executor is declared lost (its tasks go elsewhere).
    #[arg(long, value_parser = crate::run::duration_arg, default_value = "10s")]
    executor_timeout: Duration,
    /// How long a job waits for an executor able to run its tasks (all lost, or excluded) before
    /// it fails.
    #[arg(long, value_parser = crate::run::duration_arg, default_value = "60s")]
    stall_timeout: Duration,
    /// How long an executor may take to report a task before the attempt fails as `task_timeout`
    /// and the task runs elsewhere: a silent or stuck executor cannot hold a job.
    #[arg(long, value_parser = crate::run::duration_arg, default_value = "6h")]
    task_timeout: Duration,
    /// Failed attempts of one job's tasks after which an executor gets no more of that job's tasks.
    #[arg(long, default_value_t = 2)]
    exclude_after: u32,
    /// Where compiled operator components are cached (the scheduler compiles them to check jobs).
    #[arg(long, env = "FLICKER_CACHE_DIR")]
    cache_dir: Option<PathBuf>,
    /// How many finished jobs to keep (in `flicker status` and the journal); the earliest ended
    /// are forgotten, with the components no kept job uses.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..), default_value_t = DEFAULT_RETAINED_JOBS as u64)]
    retain_jobs: u64,
    /// How long to keep a finished job after its end, e.g. 168h (a week).
    #[arg(long, value_parser = crate::run::duration_arg, default_value = "168h")]
    retain_for: Duration,
    #[command(flatten)]
    defaults: DefaultsArgs,
    #[command(flatten)]
    file: ConfigFileArgs,
    #[command(flatten)]
    policy: PolicyArgs,
}

#[derive(clap::Args)]
pub struct ExecutorArgs {
    #[command(flatten)]
    cluster: ClusterArgs,
    /// Address to listen on for its BTS (UDP, QUIC), e.g. 127.0.0.1:7071; other executors fetch
    /// shuffle blocks here.
    #[arg(long)]
    listen: String,
    /// Task slots: tasks run at once.
    #[arg(long, default_value_t = 2)]
    slots: u32,
    /// Directory for its shuffle files.
    #[arg(long)]
    work_dir: PathBuf,
    /// The certificate to present, by name: the executor joins the cluster under its name (issue
    /// one per executor with `flicker cert issue --role executor --name NAME`).
    #[arg(long, default_value = "executor")]
    cert: String,
    /// Memory it offers to tasks, e.g. 4GiB (shown by `flicker nodes`).
    #[arg(long, value_parser = crate::run::size_arg, default_value = "2GiB")]
    memory: u64,
    /// A standalone BTS (`flicker bts`) to keep its map output on, instead of its own.
    #[arg(long)]
    bts: Option<String>,
    /// Where compiled operator components are cached.
    #[arg(long, env = "FLICKER_CACHE_DIR")]
    cache_dir: Option<PathBuf>,
    /// Serve Prometheus metrics at https://ADDR/metrics (TCP, the executor's certificate; admins
    /// only, by client certificate or token), e.g. 127.0.0.1:9100.
    #[arg(long, value_name = "ADDR")]
    metrics: Option<String>,
    /// Inject a fault, to test recovery (never for real work):
    /// `corrupt-map-output=STAGE:TASK` damages that map output's first attempt on disk;
    /// `hold=STAGE:PATH` holds every task of that stage before it starts while the file PATH
    /// exists.
    #[arg(long = "inject-fault", value_name = "FAULT")]
    faults: Vec<Fault>,
    #[command(flatten)]
    policy: PolicyArgs,
}

#[derive(clap::Args)]
pub struct BtsArgs {
    /// Address to listen on (UDP, QUIC).
    #[arg(long)]
    listen: String,
    /// Directory holding `ca.pem` and `<cert>.pem`/`<cert>.key`.
    #[arg(long, env = "FLICKER_TLS_DIR")]
    tls_dir: PathBuf,
    /// The certificate to present, by name.
    #[arg(long, default_value = "executor")]
    cert: String,
    /// Directory for the shuffle files.
    #[arg(long)]
    work_dir: PathBuf,
}

fn identity(dir: &std::path::Path, name: &str) -> anyhow::Result<Identity> {
    Identity::load(dir, name)
        .with_context(|| format!("cannot load certificate {name:?} from {}", dir.display()))
}

pub fn scheduler(args: SchedulerArgs) -> anyhow::Result<ExitCode> {
    let tokio = start_tokio()?;
    let own = [Some(args.tls_dir.as_path()), Some(args.state_dir.as_path()), args.cache_dir.as_deref()];
    let storage = args.policy.node_storage(&args.file, &own)?;
    let config = SchedulerConfig {
        listen: resolve(&args.listen)?,
        identity: identity(&args.tls_dir, &args.cert)?,
        state_dir: args.state_dir,
        heartbeat: args.heartbeat_interval,
        executor_timeout: args.executor_timeout,
        stall_timeout: args.stall_timeout,
        task_timeout: args.task_timeout,
        exclude_after: args.exclude_after,
        defaults: args.defaults.job_defaults(JobDefaults::default().max_attempts),
        storage,
        maxima: args.defaults.maxima(),
        retention: Retention {
            jobs: usize::try_from(args.retain_jobs).unwrap_or(usize::MAX),
            age: args.retain_for,
        },
        tenants: args.file.tenants()?,
    };
    let runtime = runtime(args.cache_dir, 0, config.maxima.memory)?;
    let http = args.http.as_deref().map(resolve).transpose()?;
    let identity = config.identity.clone();
    tokio.block_on(async {
        let scheduler = Scheduler::start(config, runtime)?;
        eprintln!("scheduler listening on {}", scheduler.local_addr()?);
        if let Some(address) = http {
            let server = HttpServer::bind(address, &identity).await?;
            eprintln!("http listening on {}", server.local_addr()?);
            let handle = flicker_metrics::install("scheduler")?;
            let measured = scheduler.clone();
            let metrics = Arc::new(move || {
                measured.measure();
                handle.render()
            });
            tokio::spawn(flicker_web::serve(server, scheduler.clone(), Some(metrics)));
        }
        scheduler.run().await;
        Ok(ExitCode::SUCCESS)
    })
}

pub fn executor(args: ExecutorArgs) -> anyhow::Result<ExitCode> {
    let tokio = start_tokio()?;
    let listen = resolve(&args.listen)?;
    let tls_dir = args.cluster.tls_dir()?;
    let own = [Some(tls_dir.as_path()), Some(args.work_dir.as_path()), args.cache_dir.as_deref()];
    let storage = args.policy.node_storage(&args.cluster.file, &own)?;
    let identity = identity(&tls_dir, &args.cert)?;
    let name = identity.name().context("the executor's certificate names no one")?;
    let config = ExecutorConfig {
        id: ExecutorId(name),
        scheduler: args.cluster.scheduler()?,
        listen,
        identity,
        slots: args.slots.max(1),
        memory: args.memory,
        work_dir: args.work_dir,
        bts: args.bts.as_deref().map(resolve).transpose()?,
        faults: Faults(args.faults),
        storage,
    };
    let runtime = runtime(args.cache_dir, config.slots, LimitMaxima::default().memory)?;
    let metrics = args.metrics.as_deref().map(resolve).transpose()?;
    let identity = config.identity.clone();
    tokio.block_on(async {
        let executor = Executor::start(config, runtime).await?;
        eprintln!("executor listening on {}", executor.local_addr()?);
        if let Some(address) = metrics {
            let server = HttpServer::bind(address, &identity).await?;
            eprintln!("metrics listening on {}", server.local_addr()?);
            let handle = flicker_metrics::install("executor")?;
            let router = flicker_http::metrics(Arc::new(move || handle.render()))
                .route("/healthz", axum::routing::get(flicker_http::health));
            tokio::spawn(server.serve(router));
        }
        executor.run_until(stop_signal()?).await;
        eprintln!("executor stopped");
        Ok(ExitCode::SUCCESS)
    })
}

/// Completes at the first SIGTERM or SIGINT (Ctrl-C).
fn stop_signal() -> anyhow::Result<impl Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?;
    let mut interrupt = signal(SignalKind::interrupt()).context("cannot listen for SIGINT")?;
    Ok(async move {
        tokio::select! {
            _ = terminate.recv() => tracing::info!("SIGTERM: leaving the cluster"),
            _ = interrupt.recv() => tracing::info!("SIGINT: leaving the cluster"),
        }
    })
}

pub fn bts(args: BtsArgs) -> anyhow::Result<ExitCode> {
    let tokio = start_tokio()?;
    let listen = resolve(&args.listen)?;
    let identity = identity(&args.tls_dir, &args.cert)?;
    std::fs::create_dir_all(&args.work_dir)
        .with_context(|| format!("cannot use the work directory {}", args.work_dir.display()))?;
    tokio.block_on(async {
        let check = Arc::new(CapabilityCheck::new(identity.clone()));
        let endpoint = Endpoint::bind(listen, EndpointConfig::new(identity))?;
        eprintln!("bts listening on {}", endpoint.local_addr()?);
        flicker_bts::service::serve(endpoint, Arc::new(ShuffleStore::new(args.work_dir)), check).await;
        Ok(ExitCode::SUCCESS)
    })
}
