//! A scheduler, executors and standalone BTS servers as processes of their own on 127.0.0.1.

use crate::Process;
use anyhow::Context;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Output};
use std::time::{Duration, Instant};

/// How long a process may take to say where it listens, or to exit when terminated, unless
/// [`Cluster::with_timeout`] says otherwise.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// How often [`poll`] asks again.
const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// The scheduler's heartbeat interval: short, so that executors join and are found lost quickly.
const HEARTBEAT_INTERVAL: &str = "200ms";

/// A flicker cluster on 127.0.0.1 whose files are in one directory: certificates in `<dir>/tls`,
/// the scheduler's state in `<dir>/state`, and the work directories its caller chooses. Its jobs
/// may read and write local files under `<dir>` (but the nodes' own), unless
/// [`Cluster::with_local_roots`] says otherwise. Its processes are killed when it is dropped.
pub struct Cluster {
    dir: PathBuf,
    /// Makes a `flicker` command: the binary and the environment every command of the cluster has.
    flicker: Box<dyn Fn() -> Command>,
    /// `FLICKER_LOG` of every process it starts.
    log_level: String,
    /// How long a process may take to start listening or to exit when terminated.
    timeout: Duration,
    /// The scheduler's address, once known.
    scheduler: Option<String>,
    /// The local directories its scheduler and executors let jobs reach (`--allow-local-root`).
    local_roots: Vec<PathBuf>,
    /// Its processes, in the order they were started.
    processes: Vec<Process>,
}

impl Cluster {
    /// A cluster in `dir`, of no process yet, whose commands `flicker` makes; creates its
    /// certificates (`flicker cert init --dir <dir>/tls`) unless `<dir>/tls` exists. Its processes
    /// log at `info` and have a minute to start listening.
    pub fn new(dir: &Path, flicker: impl Fn() -> Command + 'static) -> anyhow::Result<Cluster> {
        let cluster = Cluster {
            dir: dir.to_path_buf(),
            flicker: Box::new(flicker),
            log_level: "info".to_owned(),
            timeout: DEFAULT_TIMEOUT,
            scheduler: None,
            local_roots: vec![dir.to_path_buf()],
            processes: Vec::new(),
        };
        if !cluster.tls_dir().exists() {
            cluster.cert(&["init"])?;
        }
        Ok(cluster)
    }

    /// Runs `flicker cert ARGS --dir <the cluster's TLS directory>`, which must succeed.
    fn cert(&self, args: &[&str]) -> anyhow::Result<()> {
        let output = self
            .flicker()
            .arg("cert")
            .args(args)
            .arg("--dir")
            .arg(self.tls_dir())
            .output()
            .with_context(|| format!("cannot run flicker cert {}", args.join(" ")))?;
        anyhow::ensure!(
            output.status.success(),
            "flicker cert {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr)
        );
        Ok(())
    }

    /// The cluster with the processes it starts from now on logging at `level` (`FLICKER_LOG`).
    pub fn with_log_level(mut self, level: &str) -> Cluster {
        self.log_level = level.to_owned();
        self
    }

    /// The cluster with `timeout` for a process to start listening or to exit when terminated.
    pub fn with_timeout(mut self, timeout: Duration) -> Cluster {
        self.timeout = timeout;
        self
    }

    /// The cluster with the scheduler and executors it starts from now on letting jobs reach
    /// local files under `roots` only (none: no local file), instead of under its directory.
    pub fn with_local_roots(mut self, roots: &[&Path]) -> Cluster {
        self.local_roots = roots.iter().map(|root| root.to_path_buf()).collect();
        self
    }

    /// `--allow-local-root` for each of its local roots.
    fn local_root_flags(&self) -> impl Iterator<Item = &OsStr> {
        self.local_roots.iter().flat_map(|root| [OsStr::new("--allow-local-root"), root.as_os_str()])
    }

    /// Its directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Its certificates' directory, `<dir>/tls`.
    pub fn tls_dir(&self) -> PathBuf {
        self.dir.join("tls")
    }

    /// A bare `flicker` command, as the cluster's function makes it.
    pub fn flicker(&self) -> Command {
        (self.flicker)()
    }

    /// The scheduler's address, once a scheduler started or it was set.
    pub fn scheduler_address(&self) -> Option<&str> {
        self.scheduler.as_deref()
    }

    /// Sets the scheduler's address, for executors started before their scheduler.
    pub fn set_scheduler_address(&mut self, address: &str) {
        self.scheduler = Some(address.to_owned());
    }

    /// Starts the process `scheduler`, listening on `listen`, with its state in `<dir>/state`, a
    /// heartbeat interval of 200 ms, the cluster's local roots and `extra` flags; waits until it
    /// listens and returns its address, which the cluster's executors and clients use from now on.
    pub fn start_scheduler(&mut self, listen: &str, extra: &[&str]) -> anyhow::Result<String> {
        let mut command = self.flicker();
        command
            .args(["scheduler", "--listen", listen, "--tls-dir"])
            .arg(self.tls_dir())
            .arg("--state-dir")
            .arg(self.dir.join("state"))
            .args(["--heartbeat-interval", HEARTBEAT_INTERVAL])
            .args(self.local_root_flags())
            .args(extra);
        let address = self.start("scheduler", command)?;
        self.scheduler = Some(address.clone());
        Ok(address)
    }

    /// Starts an executor called `name`, with a certificate of its own of that name (issued
    /// unless it exists), working in `work_dir`, listening on a free port, with the cluster's
    /// local roots and `extra` flags; waits until it listens, not until it joined (see
    /// [`Cluster::wait_for_nodes`]).
    pub fn add_executor(&mut self, name: &str, work_dir: &Path, extra: &[&str]) -> anyhow::Result<()> {
        let scheduler = self.scheduler.clone().context("an executor needs the scheduler's address")?;
        self.issue(name, "executor")?;
        let mut command = self.flicker();
        command
            .args(["executor", "--scheduler", &scheduler, "--listen", "127.0.0.1:0", "--tls-dir"])
            .arg(self.tls_dir())
            .arg("--work-dir")
            .arg(work_dir)
            .args(["--cert", name])
            .args(self.local_root_flags())
            .args(extra);
        self.start(name, command)?;
        Ok(())
    }

    /// Issues a certificate `name` of `role` in the cluster's TLS directory, unless it exists.
    pub fn issue(&self, name: &str, role: &str) -> anyhow::Result<()> {
        if self.tls_dir().join(format!("{name}.pem")).exists() {
            return Ok(());
        }
        self.cert(&["issue", "--role", role, "--name", name])
    }

    /// Issues a certificate `name` of `role` for a member of `tenant`, unless it exists.
    pub fn issue_member(&self, name: &str, role: &str, tenant: &str) -> anyhow::Result<()> {
        if self.tls_dir().join(format!("{name}.pem")).exists() {
            return Ok(());
        }
        self.cert(&["issue", "--role", role, "--name", name, "--tenant", tenant])
    }

    /// Starts a standalone BTS called `name` working in `work_dir`, listening on a free port;
    /// returns its address.
    pub fn add_bts(&mut self, name: &str, work_dir: &Path) -> anyhow::Result<String> {
        let mut command = self.flicker();
        command
            .args(["bts", "--listen", "127.0.0.1:0", "--tls-dir"])
            .arg(self.tls_dir())
            .arg("--work-dir")
            .arg(work_dir);
        self.start(name, command)
    }

    /// Starts `command`, logging at the cluster's level, as its process `name`; waits until it
    /// says where it listens and returns that address.
    fn start(&mut self, name: &str, mut command: Command) -> anyhow::Result<String> {
        command.env("FLICKER_LOG", &self.log_level);
        let process = Process::spawn(name, command)?;
        let address = process.listening_on(0, self.timeout)?;
        self.processes.push(process);
        Ok(address)
    }

    /// Its processes, in the order they were started.
    pub fn processes(&self) -> &[Process] {
        &self.processes
    }

    /// Its process called `name` (the one started last, if several were).
    pub fn process(&self, name: &str) -> anyhow::Result<&Process> {
        Ok(&self.processes[self.position(name)?])
    }

    /// Where its process called `name` (the one started last, if several were) is in `processes`.
    fn position(&self, name: &str) -> anyhow::Result<usize> {
        self.processes.iter().rposition(|p| p.name() == name).with_context(|| format!("no process {name}"))
    }

    /// `kill -9` of its process called `name`, which it forgets, log and all.
    pub fn kill(&mut self, name: &str) -> anyhow::Result<()> {
        let position = self.position(name)?;
        drop(self.processes.remove(position));
        Ok(())
    }

    /// `kill -TERM` of its process called `name`; waits for it to exit and says how it did. The
    /// process's log stays in [`Cluster::logs`].
    pub fn terminate(&mut self, name: &str) -> anyhow::Result<ExitStatus> {
        let position = self.position(name)?;
        self.processes[position].terminate(self.timeout)
    }

    /// Everything its processes (but those killed) logged so far, process after process.
    pub fn logs(&self) -> String {
        self.processes.iter().map(Process::log).collect()
    }

    /// The sum of the peak resident sets of its processes so far, in KiB.
    pub fn peak_rss_kib(&self) -> anyhow::Result<u64> {
        self.processes.iter().map(Process::peak_rss_kib).sum()
    }

    /// `flicker ARGS --scheduler ADDR --tls-dir <dir>/tls`, to be run.
    pub fn client_command(
        &self,
        args: impl IntoIterator<Item = impl AsRef<OsStr>>,
    ) -> anyhow::Result<Command> {
        let scheduler = self.scheduler.as_deref().context("a client needs the scheduler's address")?;
        let mut command = self.flicker();
        command.args(args).args(["--scheduler", scheduler, "--tls-dir"]).arg(self.tls_dir());
        Ok(command)
    }

    /// `flicker ARGS --scheduler ADDR --tls-dir <dir>/tls`, run to its end, successful or not.
    pub fn client(&self, args: impl IntoIterator<Item = impl AsRef<OsStr>>) -> anyhow::Result<Output> {
        let mut command = self.client_command(args)?;
        command.output().with_context(|| format!("cannot run {command:?}"))
    }

    /// `flicker ARGS ... --output json`, which must succeed, its output parsed.
    pub fn json(&self, args: &[&str]) -> anyhow::Result<serde_json::Value> {
        let output = self.client(args.iter().chain(&["--output", "json"]))?;
        anyhow::ensure!(
            output.status.success(),
            "flicker {} failed:\n{}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice(&output.stdout).with_context(|| {
            format!("flicker {} printed no JSON: {}", args.join(" "), String::from_utf8_lossy(&output.stdout))
        })
    }

    /// Waits at most `timeout` until `flicker nodes` shows exactly `count` executors alive;
    /// returns what it showed last.
    pub fn wait_for_nodes(&self, count: usize, timeout: Duration) -> anyhow::Result<serde_json::Value> {
        poll(&format!("{count} alive executors"), timeout, || {
            let nodes = self.json(&["nodes"])?;
            let alive = nodes
                .as_array()
                .context("flicker nodes printed no array")?
                .iter()
                .filter(|node| node["state"] == "alive")
                .count();
            Ok(if alive == count { Ok(nodes) } else { Err(format!("{alive} alive: {nodes}")) })
        })
    }
}

/// Calls `ready` every 50 ms until it gives a value (`Ok(Ok(value))`), for at most `timeout`.
/// Meanwhile `ready` describes what it sees (`Ok(Err(seen))`); the last description is in the
/// error if time runs out. An error of `ready` ends the waiting at once.
pub fn poll<T>(
    what: &str,
    timeout: Duration,
    mut ready: impl FnMut() -> anyhow::Result<Result<T, String>>,
) -> anyhow::Result<T> {
    let deadline = Instant::now() + timeout;
    loop {
        match ready().with_context(|| format!("waiting for {what}"))? {
            Ok(value) => return Ok(value),
            Err(seen) => {
                anyhow::ensure!(Instant::now() < deadline, "waiting for {what} for {timeout:?}: {seen}")
            }
        }
        std::thread::sleep(POLL_INTERVAL);
    }
}
