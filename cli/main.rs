//! `flicker`: run batch jobs whose operators are sandboxed WebAssembly components, on this machine
//! (`flicker run`) or on a cluster (`flicker scheduler`, `executor`, `bts`, `submit`, ...).

mod cert;
mod client;
mod config;
mod files;
mod r#gen;
mod node;
mod policy;
mod project;
mod report;
mod run;
mod try_op;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

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
    /// Run a job on this machine: an in-process scheduler and executor talking QUIC over
    /// loopback, exactly as a cluster does. Prints a summary; exits non-zero with the cause if the
    /// job fails.
    Run(run::RunArgs),
    /// Make the cluster's certificates: a CA, and certificates for the scheduler, executors and
    /// clients. Every connection in a cluster is mutual TLS against this CA.
    #[command(subcommand)]
    Cert(cert::CertCommand),
    /// Run the scheduler of a cluster.
    Scheduler(node::SchedulerArgs),
    /// Run an executor: joins the scheduler, runs tasks, serves its shuffle output (BTS).
    Executor(node::ExecutorArgs),
    /// Run a standalone BTS (shuffle service), so map output outlives executor processes.
    Bts(node::BtsArgs),
    /// Submit a job to a cluster; prints its id, or with --wait follows it to its end.
    Submit(client::SubmitArgs),
    /// Show the status of one job, or of every job.
    Status(client::StatusArgs),
    /// Cancel a job: its tasks stop and nothing of it is published.
    Cancel(client::CancelArgs),
    /// List the cluster's executors: state, slots, running tasks, last heartbeat.
    Nodes(client::NodesArgs),
    /// What each tenant's ended jobs consumed: operator CPU, task time, peak memory, bytes read,
    /// written, shuffled and spilled.
    Usage(client::PeriodArgs),
    /// Read the scheduler's audit log (admins; a tenant's admins, their tenant's records):
    /// submissions, cancels, uploads, refusals, budget stops and job ends.
    Audit(client::PeriodArgs),
    /// Bearer tokens for the HTTP API and the web UI: `flicker token create --ttl 8h` prints one
    /// standing for your certificate's tenant, signed by the scheduler.
    #[command(subcommand)]
    Token(client::TokenCommand),
    /// List the objects at a storage location, with their sizes (hidden ones too).
    Ls(files::LsArgs),
    /// Print a committed output: every part its `_SUCCESS` lists, in order. Refuses an output
    /// without `_SUCCESS` (never committed, or failed).
    Cat(files::CatArgs),
    /// Generate test data into a storage location: `flicker gen weather` writes
    /// `station;temperature` lines, `flicker gen stations` their `station;country` table, the
    /// same bytes from the same arguments on every machine.
    #[command(subcommand)]
    Gen(r#gen::GenCommand),
    /// Run one operator on a few records, without a cluster: `flicker test PLUGIN --input TEXT
    /// …` prints its output rows (or a format's bytes), what it wrote to stdout and stderr, and
    /// any failure with the input record it names.
    Test(try_op::TestArgs),
    /// Build the operator project in a folder (default: this one) into a component with its
    /// language's builder: cargo for Rust, componentize-py for Python, componentize-qjs for
    /// JavaScript. Prints the `.wasm` path and size.
    Build(project::BuildArgs),
    /// Make an operator project: `flicker new NAME --kind map|aggregate|parse|format --lang
    /// rust|python|js` writes the operator, a sample input, a job using it, a README and a test,
    /// ready for `flicker build` and `flicker run job.toml`.
    New(project::NewArgs),
}

fn main() -> ExitCode {
    return_large_buffers();
    let cli = Cli::parse();
    // `flicker run` reports a failed task in its own error: its in-process scheduler need not
    // warn about it first.
    let default_filter = if matches!(cli.command, Command::Run(_)) {
        "warn,flicker_scheduler_core::core=error"
    } else {
        "warn"
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("FLICKER_LOG")
                .unwrap_or_else(|_| default_filter.into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let result = match cli.command {
        Command::Run(args) => run::run(args),
        Command::Cert(command) => cert::run(command),
        Command::Scheduler(args) => node::scheduler(args),
        Command::Executor(args) => node::executor(args),
        Command::Bts(args) => node::bts(args),
        Command::Submit(args) => client::submit(args),
        Command::Status(args) => client::status(args),
        Command::Cancel(args) => client::cancel(args),
        Command::Nodes(args) => client::nodes(args),
        Command::Usage(args) => client::usage(args),
        Command::Audit(args) => client::audit(args),
        Command::Token(command) => client::token(command),
        Command::Ls(args) => files::ls(args),
        Command::Cat(args) => files::cat(args),
        Command::Gen(command) => r#gen::run(command),
        Command::Test(args) => try_op::test(args),
        Command::Build(args) => project::build(args),
        Command::New(args) => project::new(args),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {}", report::error_chain(&error));
            ExitCode::FAILURE
        }
    }
}

/// Makes the allocator give buffers of 4 MiB and more back to the kernel when they are freed.
/// glibc serves them from its heaps once its dynamic mmap threshold has risen (up to 32 MiB), and
/// keeps the freed space: in a job that spills (shuffle blocks, an aggregate's partials, a spill's
/// sort order, all transient), that held ~130 MiB of the process's peak RSS, at no measurable
/// gain in speed (docs/PERFORMANCE.md, "Many keys").
///
/// Setting the mmap threshold turns glibc's dynamic thresholds off, which would leave the trim
/// threshold at 128 KiB: a heap would give back any free space above that at its top, and fault
/// it in again for the next buffer (the shuffle's 1 MiB pieces, freed and allocated all the
/// time: a shuffle fetch ran at 1,590–1,640 MiB/s so, against 2,060–2,150 with 4 MiB kept;
/// docs/PERFORMANCE.md, "Fifth session"). So a heap keeps up to 4 MiB free at its top too.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn return_large_buffers() {
    // SAFETY: `mallopt` only sets parameters of glibc's allocator; this runs first in `main`,
    // before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 4 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 4 << 20);
    }
}

/// Other allocators give large buffers back by themselves.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn return_large_buffers() {}
