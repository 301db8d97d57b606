//! The client commands: `flicker submit`, `status`, `cancel`, `nodes`, `usage`, `audit`.

use crate::config::ClusterArgs;
use crate::report::{self, AttemptsShown, OutputFormat};
use crate::run::start_tokio;
use anyhow::Context;
use flicker_client::Client;
use flicker_protocol::status::{JobState, JobStatus};
use flicker_protocol::{JobId, StageId, TaskIndex, TenantId};
use flicker_transport::Identity;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use std::path::PathBuf;
use std::process::ExitCode;
use tokio::signal::unix::{Signal, SignalKind, signal};

/// The client flags every command shares.
#[derive(clap::Args)]
pub struct ClientArgs {
    #[command(flatten)]
    cluster: ClusterArgs,
    /// The certificate to present, by name.
    #[arg(long, default_value = "client")]
    cert: String,
    /// How to print the result.
    #[arg(long, value_enum, default_value = "text")]
    output: OutputFormat,
}

impl ClientArgs {
    async fn connect(&self) -> anyhow::Result<Client> {
        let dir = self.cluster.tls_dir()?;
        let identity = Identity::load(&dir, &self.cert)
            .with_context(|| format!("cannot load certificate {:?} from {}", self.cert, dir.display()))?;
        Ok(Client::connect(self.cluster.scheduler()?, identity).await?)
    }

    /// Runs `command` with a client connected to the scheduler, then closes the connection, so
    /// that the scheduler frees it at once rather than when it times out.
    async fn run(
        &self,
        command: impl AsyncFnOnce(&Client) -> anyhow::Result<ExitCode>,
    ) -> anyhow::Result<ExitCode> {
        let client = self.connect().await?;
        let result = command(&client).await;
        client.close().await;
        result
    }
}

#[derive(clap::Args)]
pub struct SubmitArgs {
    /// The job manifest (TOML); plugin files it names are uploaded unless the scheduler has them.
    manifest: PathBuf,
    /// The value of the manifest's `${NAME}` placeholders, over the default in its [params]
    /// (repeatable; the last one of a name wins).
    #[arg(short = 'p', long = "param", visible_alias = "conf", value_name = "NAME=VALUE")]
    params: Vec<flicker_manifest::Param>,
    /// Follow the job with live progress until it ends; exit 0 only if it succeeded.
    #[arg(long)]
    wait: bool,
    #[command(flatten)]
    client: ClientArgs,
}

#[derive(clap::Args)]
pub struct StatusArgs {
    /// The job to show in detail (default: every job, one line each).
    job: Option<String>,
    /// Follow the job with live progress until it ends, as `submit --wait` does; exit 0 only if
    /// it succeeded.
    #[arg(long, requires = "job")]
    wait: bool,
    /// Show the attempts of one task (`STAGE:TASK`, e.g. `0:3`) and what its operators wrote to
    /// their stdout and stderr.
    #[arg(long, requires = "job", value_name = "STAGE:TASK", value_parser = task_ref, conflicts_with = "wait")]
    task: Option<(StageId, TaskIndex)>,
    /// Show what the job's operators wrote to their stdout and stderr, every attempt that wrote
    /// something.
    #[arg(long, requires = "job", conflicts_with_all = ["wait", "task"])]
    logs: bool,
    #[command(flatten)]
    client: ClientArgs,
}

/// `STAGE:TASK` as two numbers.
fn task_ref(text: &str) -> Result<(StageId, TaskIndex), String> {
    let parsed = text
        .split_once(':')
        .and_then(|(stage, task)| Some((StageId(stage.parse().ok()?), TaskIndex(task.parse().ok()?))));
    parsed.ok_or_else(|| format!("expected STAGE:TASK, two numbers such as 0:3, got {text:?}"))
}

#[derive(clap::Args)]
pub struct CancelArgs {
    /// The job.
    job: String,
    #[command(flatten)]
    client: ClientArgs,
}

#[derive(clap::Subcommand)]
pub enum TokenCommand {
    /// Ask the scheduler for a token: a client's stands for its own tenant; an admin's for the
    /// tenant it names (`--tenant`), or without one is an admin's token. Prints the token only
    /// (stdout), so `TOKEN=$(flicker token create)` works.
    Create(TokenArgs),
}

#[derive(clap::Args)]
pub struct TokenArgs {
    /// The tenant the token acts for (an admin's choice; a client's own tenant if given).
    #[arg(long)]
    tenant: Option<String>,
    /// How long it is accepted, e.g. 8h or 30m (at most 30 days).
    #[arg(long, default_value = "8h", value_parser = crate::run::duration_arg)]
    ttl: std::time::Duration,
    #[command(flatten)]
    client: ClientArgs,
}

pub fn token(command: TokenCommand) -> anyhow::Result<ExitCode> {
    let TokenCommand::Create(args) = command;
    start_tokio()?.block_on(args.client.run(async |client| {
        let (token, expires_unix_ms) =
            client.create_token(args.tenant.clone().map(TenantId), args.ttl).await?;
        match args.client.output {
            OutputFormat::Json => {
                report::json(&serde_json::json!({ "token": token, "expires_unix_ms": expires_unix_ms }))?
            }
            OutputFormat::Text => report::print(|out| writeln!(out, "{token}"))?,
        }
        Ok(ExitCode::SUCCESS)
    }))
}

#[derive(clap::Args)]
pub struct NodesArgs {
    #[command(flatten)]
    client: ClientArgs,
}

/// The flags of `flicker usage` and `flicker audit`: which tenant, since when.
#[derive(clap::Args)]
pub struct PeriodArgs {
    /// One tenant only (a member sees its own tenant; an admin any, or all).
    #[arg(long)]
    tenant: Option<String>,
    /// What happened this long ago or since, e.g. 24h or 7d (default: all the audit log holds).
    #[arg(long, value_parser = crate::run::duration_arg)]
    since: Option<std::time::Duration>,
    #[command(flatten)]
    client: ClientArgs,
}

impl PeriodArgs {
    /// Asks for `fetch`'s answer about the tenant and the period, and prints it as JSON or as
    /// `text` writes it.
    fn print<T: serde::Serialize>(
        &self,
        fetch: impl AsyncFnOnce(&Client, Option<TenantId>, Option<u64>) -> Result<T, flicker_client::ClientError>,
        text: fn(&mut dyn std::io::Write, &T) -> std::io::Result<()>,
    ) -> anyhow::Result<ExitCode> {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        let since = self.since.map(|ago| now.saturating_sub(ago).as_millis() as u64);
        start_tokio()?.block_on(self.client.run(async |client| {
            let answer = fetch(client, self.tenant.clone().map(TenantId), since).await?;
            match self.client.output {
                OutputFormat::Json => report::json(&answer)?,
                OutputFormat::Text => report::print(|out| text(out, &answer))?,
            }
            Ok(ExitCode::SUCCESS)
        }))
    }
}

pub fn usage(args: PeriodArgs) -> anyhow::Result<ExitCode> {
    args.print(
        async |client, tenant, since| client.usage(tenant, since).await,
        |out, usage| report::usage(out, usage),
    )
}

pub fn audit(args: PeriodArgs) -> anyhow::Result<ExitCode> {
    args.print(
        async |client, tenant, since| client.audit(tenant, since).await,
        |out, records| report::audit(out, records),
    )
}

pub fn submit(args: SubmitArgs) -> anyhow::Result<ExitCode> {
    start_tokio()?.block_on(args.client.run(async |client| {
        let job = client.submit(&args.manifest, &args.params, None).await?;
        if !args.wait {
            match args.client.output {
                OutputFormat::Json => report::json(&serde_json::json!({ "job": job }))?,
                OutputFormat::Text => report::print(|out| writeln!(out, "{job}"))?,
            }
            return Ok(ExitCode::SUCCESS);
        }
        // Listening before the job id is out: a Ctrl-C at any moment from then on is caught.
        let interrupt = interrupt_signal()?;
        eprintln!("submitted {job}");
        follow(client, &job, args.client.output, interrupt).await
    }))
}

/// SIGINT (Ctrl-C), caught from now on.
fn interrupt_signal() -> anyhow::Result<Signal> {
    signal(SignalKind::interrupt()).context("cannot listen for Ctrl-C")
}

/// Follows `job` with live progress to its end and prints its summary; exits 0 only if it
/// succeeded. Ctrl-C (`interrupt`) stops following (the job goes on) and says how to cancel it
/// or follow it again.
async fn follow(
    client: &Client,
    job: &JobId,
    output: OutputFormat,
    mut interrupt: Signal,
) -> anyhow::Result<ExitCode> {
    let mut progress = Progress::new();
    let status = tokio::select! {
        status = client.watch(job, |status| progress.show(status)) => status?,
        _ = interrupt.recv() => {
            progress.finish();
            eprintln!(
                "stopped following {job}; it goes on running.\n  follow it again: flicker status {job} --wait\n  cancel it:       flicker cancel {job}"
            );
            return Ok(ExitCode::from(130));
        }
    };
    progress.finish();
    match output {
        OutputFormat::Json => report::json(&status)?,
        OutputFormat::Text => {
            show_operator_output(client, job).await?;
            report::print(|out| report::summary(out, &status))?
        }
    }
    match &status.state {
        JobState::Succeeded => Ok(ExitCode::SUCCESS),
        JobState::Failed { cause } => anyhow::bail!("job {:?} ({job}) failed: {cause}", status.name),
        _ => anyhow::bail!("job {:?} ({job}) was cancelled", status.name),
    }
}

/// Prints on stderr what the operators of `job` wrote, if they wrote anything.
pub async fn show_operator_output(client: &Client, job: &JobId) -> anyhow::Result<()> {
    let attempts = client.logs(job, None).await?;
    let mut text = Vec::new();
    report::attempts(&mut text, &attempts, AttemptsShown::Output)?;
    if !text.is_empty() {
        eprint!("operator output:\n{}", String::from_utf8_lossy(&text));
    }
    Ok(())
}

pub fn status(args: StatusArgs) -> anyhow::Result<ExitCode> {
    start_tokio()?.block_on(args.client.run(async |client| {
        let job = args.job.clone().map(JobId);
        if let (true, Some(job)) = (args.wait, &job) {
            return follow(client, job, args.client.output, interrupt_signal()?).await;
        }
        if let (Some(job), true) = (&job, args.task.is_some() || args.logs) {
            let attempts = client.logs(job, args.task).await?;
            match args.client.output {
                OutputFormat::Json => report::json(&attempts)?,
                OutputFormat::Text => {
                    report::print(|out| report::attempts(out, &attempts, AttemptsShown::All))?
                }
            }
            return Ok(ExitCode::SUCCESS);
        }
        let jobs = client.status(job.clone()).await?;
        match (args.client.output, job) {
            (OutputFormat::Json, _) => report::json(&jobs)?,
            (OutputFormat::Text, None) => report::print(|out| report::jobs(out, &jobs))?,
            (OutputFormat::Text, Some(_)) => {
                report::print(|out| jobs.iter().try_for_each(|job| report::job_details(out, job)))?
            }
        }
        Ok(ExitCode::SUCCESS)
    }))
}

pub fn cancel(args: CancelArgs) -> anyhow::Result<ExitCode> {
    start_tokio()?.block_on(args.client.run(async |client| {
        let job = JobId(args.job.clone());
        // A job that has ended already is refused: the error says how it ended.
        client.cancel(job.clone()).await?;
        match args.client.output {
            OutputFormat::Json => report::json(&serde_json::json!({ "job": job, "cancelled": true }))?,
            OutputFormat::Text => report::print(|out| writeln!(out, "{job} cancelled"))?,
        }
        Ok(ExitCode::SUCCESS)
    }))
}

pub fn nodes(args: NodesArgs) -> anyhow::Result<ExitCode> {
    start_tokio()?.block_on(args.client.run(async |client| {
        let nodes = client.nodes().await?;
        match args.client.output {
            OutputFormat::Json => report::json(&nodes)?,
            OutputFormat::Text => report::print(|out| report::nodes(out, &nodes))?,
        }
        Ok(ExitCode::SUCCESS)
    }))
}

/// Live progress on stderr: one bar per stage (tasks done of total, running), and the rows and
/// bytes so far. Hidden when stderr is not a terminal.
pub struct Progress {
    bars: MultiProgress,
    stages: Vec<ProgressBar>,
    totals: Option<ProgressBar>,
}

impl Progress {
    /// No bars yet: they appear with the first status.
    pub fn new() -> Self {
        Self { bars: MultiProgress::new(), stages: Vec::new(), totals: None }
    }

    /// Shows `status`.
    pub fn show(&mut self, status: &JobStatus) {
        if self.stages.is_empty() {
            let style = ProgressStyle::with_template("{prefix:>9} [{bar:30}] {pos}/{len} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> ");
            for stage in &status.stages {
                let bar = self.bars.add(ProgressBar::new(u64::from(stage.total)));
                bar.set_style(style.clone());
                bar.set_prefix(format!("stage {}", stage.stage));
                self.stages.push(bar);
            }
            self.totals = Some(self.bars.add(ProgressBar::new_spinner()));
        }
        for (bar, stage) in self.stages.iter().zip(&status.stages) {
            bar.set_length(u64::from(stage.total));
            bar.set_position(u64::from(stage.done));
            bar.set_message(format!("{} running  {}", stage.running, stage.description));
        }
        if let Some(totals) = &self.totals {
            totals.set_message(report::progress_line(status));
        }
    }

    /// Removes the bars.
    pub fn finish(self) {
        for bar in self.stages.iter().chain(&self.totals) {
            bar.finish_and_clear();
        }
    }
}
