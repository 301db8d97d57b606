//! The loopback clusters the benchmarks submit to: a scheduler and executors, processes of their
//! own on 127.0.0.1, and a watcher reading a cluster's API and metrics as a UI would.

use anyhow::Context;
use flicker_testkit::Cluster;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// Executors of the benchmarks' loopback cluster.
pub const EXECUTORS: usize = 3;
/// Task slots of each of its executors.
pub const EXECUTOR_SLOTS: u32 = 1;
/// How long a cluster process may take to start listening, and the cluster to see its executors.
pub const STARTUP: Duration = Duration::from_secs(60);

/// Starts a cluster in `dir` (emptied first) whose processes share the component cache `cache`:
/// certificates, a scheduler and `executors` executors (`exec-1`, ... working in `dir/exec-1`,
/// ...) of `slots` slots each, processes of their own talking QUIC over loopback; waits until the
/// scheduler sees them all alive. Their jobs may reach the files of `dir`'s parent (the data and
/// the outputs of the benchmark). They are killed when it is dropped.
///
/// A `watched` cluster also serves HTTPS: the scheduler its API and metrics (`--http`), each
/// executor its metrics (`--metrics`); an admin certificate `watcher` reads them.
pub fn start_cluster(
    flicker: &Path,
    dir: &Path,
    cache: &Path,
    executors: usize,
    slots: u32,
    watched: bool,
) -> anyhow::Result<Cluster> {
    if dir.exists() {
        std::fs::remove_dir_all(dir).with_context(|| format!("cannot empty {}", dir.display()))?;
    }
    let (flicker, cache) = (flicker.to_owned(), cache.to_owned());
    let mut cluster = Cluster::new(dir, move || {
        let mut command = Command::new(&flicker);
        command.env("FLICKER_CACHE_DIR", &cache);
        command
    })?
    .with_timeout(STARTUP)
    .with_local_roots(&[dir.parent().unwrap_or(dir)]);
    let (http, metrics): (&[&str], &[&str]) = match watched {
        true => (&["--http", "127.0.0.1:0"], &["--metrics", "127.0.0.1:0"]),
        false => (&[], &[]),
    };
    cluster.start_scheduler("127.0.0.1:0", http)?;
    for n in 1..=executors {
        let name = format!("exec-{n}");
        cluster.add_executor(
            &name,
            &dir.join(&name),
            &[&["--slots", &slots.to_string()], metrics].concat(),
        )?;
    }
    if watched {
        cluster.issue("watcher", "admin")?;
    }
    cluster.wait_for_nodes(executors, STARTUP)?;
    Ok(cluster)
}

/// Reads a watched cluster over HTTPS every [`Watcher::EVERY`] until stopped: the first page of
/// its jobs and every node's metrics, as an admin, as a web UI and a Prometheus would.
pub struct Watcher {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: std::thread::JoinHandle<anyhow::Result<u64>>,
}

impl Watcher {
    /// How often it reads.
    pub const EVERY: Duration = Duration::from_millis(200);

    /// Starts reading `cluster` (started `watched`).
    pub fn start(cluster: &Cluster) -> anyhow::Result<Watcher> {
        let identity = flicker_transport::Identity::load(&cluster.tls_dir(), "watcher")?;
        let scheduler = cluster.process("scheduler")?.listening_on(1, STARTUP)?;
        let mut targets = vec![
            (flicker_transport::Role::Scheduler, scheduler.clone(), "/api/v1/jobs?limit=20"),
            (flicker_transport::Role::Scheduler, scheduler, "/metrics"),
        ];
        for process in cluster.processes().iter().filter(|p| p.name().starts_with("exec-")) {
            targets.push((flicker_transport::Role::Executor, process.listening_on(1, STARTUP)?, "/metrics"));
        }
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stopped = stop.clone();
        let thread = std::thread::spawn(move || -> anyhow::Result<u64> {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            let tls = identity.https_client_config(true)?;
            let mut client = reqwest::Client::builder().tls_backend_preconfigured(tls);
            for (role, address, _) in &targets {
                client = client.resolve(&role.server_name(), address.parse()?);
            }
            let client = client.build()?;
            let mut reads = 0;
            while !stopped.load(std::sync::atomic::Ordering::Relaxed) {
                for (role, address, path) in &targets {
                    let port = address.rsplit(':').next().unwrap_or_default();
                    let url = format!("https://{}:{port}{path}", role.server_name());
                    let response = runtime.block_on(async {
                        client.get(&url).send().await?.error_for_status()?.bytes().await
                    })?;
                    anyhow::ensure!(!response.is_empty(), "{url} answered nothing");
                    reads += 1;
                }
                std::thread::sleep(Watcher::EVERY);
            }
            Ok(reads)
        });
        Ok(Watcher { stop, thread })
    }

    /// Stops reading; how many reads it made.
    pub fn stop(self) -> anyhow::Result<u64> {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.thread.join().map_err(|_| anyhow::anyhow!("the watcher panicked"))?
    }
}
