//! The reference job (parse `station;temperature`, group by station, max) on generated lines,
//! three contenders taking turns each round, median of the runs, whole client processes (page
//! cache warm):
//!
//! - a plain single-threaded native Rust program;
//! - `flicker run`, an in-process cluster with one slot per core;
//! - `flicker submit --wait` to a cluster of real processes on loopback: a scheduler and three
//!   executors of one slot each, started once before the first round and killed (by PID) after the
//!   last, or when the benchmark fails.
//!
//! All of them share one component cache (`bench/data/component-cache`), warmed by the first
//! round, which is not counted.
//!
//! `reference [ROWS] [RUNS]` (defaults 10,000,000 and 3). `reference native FILE` is the native
//! contender itself.

use anyhow::Context;
use flicker_bench::{Process, median};
use flicker_gen::Weather;
use flicker_storage::Location;
use std::collections::HashMap;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Executors of the loopback cluster.
const EXECUTORS: usize = 3;
/// Task slots of each executor.
const EXECUTOR_SLOTS: u32 = 1;
/// How long a cluster process may take to start listening, and the cluster to see its executors.
const STARTUP: Duration = Duration::from_secs(60);

/// The native contender: one thread, std's HashMap, buffered reads.
fn native(file: &Path) -> anyhow::Result<()> {
    let mut max: HashMap<String, f64> = HashMap::new();
    let mut reader = std::io::BufReader::with_capacity(1 << 20, std::fs::File::open(file)?);
    let mut line = Vec::new();
    while reader.read_until(b'\n', &mut line)? > 0 {
        let text = std::str::from_utf8(&line)?.trim_end();
        let (station, temperature) =
            text.split_once(';').ok_or_else(|| anyhow::anyhow!("bad line {text:?}"))?;
        let temperature: f64 = temperature.parse()?;
        match max.get_mut(station) {
            Some(m) => *m = m.max(temperature),
            None => drop(max.insert(station.to_owned(), temperature)),
        }
        line.clear();
    }
    let mut rows: Vec<_> = max.into_iter().collect();
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for (station, m) in rows {
        writeln!(out, "{station},{m}")?;
    }
    Ok(())
}

/// Writes `rows` weather lines of 413 stations (as the One Billion Row Challenge has), seed 7, to
/// `path`, which appears only once complete.
fn generate(path: &Path, rows: u64) -> anyhow::Result<()> {
    let to = Location::parse(path.to_str().context("the data path is not UTF-8")?, Path::new("/"))?;
    let weather = Arc::new(Weather::new(413, 7)?);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(flicker_gen::write(&weather, rows, &to))?;
    Ok(())
}

/// The reference job's manifest, reading the generated file.
fn manifest() -> String {
    include_str!("../../../examples/max-temperature/job.toml")
        .replace("url = \"data/\"", "url = \"readings.txt\"")
}

/// Runs a command under `/usr/bin/time` when present; returns wall time and peak RSS in KiB.
fn measure(mut command: Command) -> anyhow::Result<(Duration, Option<u64>)> {
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
    let output = command
        .stdout(std::process::Stdio::null())
        .output()
        .with_context(|| format!("cannot run {command:?}"))?;
    let elapsed = started.elapsed();
    anyhow::ensure!(
        output.status.success(),
        "{command:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let rss = std::fs::read_to_string(&rss_file).ok().and_then(|s| s.trim().lines().last()?.parse().ok());
    Ok((elapsed, rss))
}

/// A scheduler and executors of one machine, as processes of their own, talking QUIC over
/// loopback; killed when dropped.
struct Cluster {
    flicker: PathBuf,
    tls: PathBuf,
    scheduler: String,
    /// The scheduler first, then the executors.
    processes: Vec<Process>,
}

impl Cluster {
    /// Makes certificates in `dir/tls` (`dir` is emptied first), starts a scheduler and `executors`
    /// executors of `slots` slots each, and waits until the scheduler sees them all alive.
    fn start(
        flicker: &Path,
        dir: &Path,
        cache: &Path,
        executors: usize,
        slots: u32,
    ) -> anyhow::Result<Cluster> {
        if dir.exists() {
            std::fs::remove_dir_all(dir).with_context(|| format!("cannot empty {}", dir.display()))?;
        }
        let tls = dir.join("tls");
        let output = Command::new(flicker)
            .arg("cert")
            .arg("init")
            .arg("--dir")
            .arg(&tls)
            .output()
            .context("cannot run flicker cert init")?;
        anyhow::ensure!(
            output.status.success(),
            "cert init failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );

        let mut command = Command::new(flicker);
        command
            .args(["scheduler", "--listen", "127.0.0.1:0", "--heartbeat-interval", "200ms"])
            .arg("--tls-dir")
            .arg(&tls)
            .arg("--state-dir")
            .arg(dir.join("state"))
            .env("FLICKER_CACHE_DIR", cache);
        let scheduler = Process::spawn("the scheduler", command)?;
        let address = scheduler.listening_on(0, STARTUP)?;
        let mut processes = vec![scheduler];
        for n in 1..=executors {
            let name = format!("exec-{n}");
            let mut command = Command::new(flicker);
            command
                .args(["executor", "--scheduler", &address, "--listen", "127.0.0.1:0", "--name", &name])
                .args(["--slots", &slots.to_string()])
                .arg("--tls-dir")
                .arg(&tls)
                .arg("--work-dir")
                .arg(dir.join(&name))
                .env("FLICKER_CACHE_DIR", cache);
            let executor = Process::spawn(&name, command)?;
            executor.listening_on(0, STARTUP)?;
            processes.push(executor);
        }
        let cluster = Cluster { flicker: flicker.to_owned(), tls, scheduler: address, processes };
        cluster.wait_for_executors(executors)?;
        Ok(cluster)
    }

    /// `flicker ARGS --scheduler ADDR --tls-dir DIR`.
    fn client(&self, args: &[&std::ffi::OsStr]) -> Command {
        let mut command = Command::new(&self.flicker);
        command.args(args).arg("--scheduler").arg(&self.scheduler).arg("--tls-dir").arg(&self.tls);
        command
    }

    /// Polls `flicker nodes` until `count` executors are alive, for at most [`STARTUP`].
    fn wait_for_executors(&self, count: usize) -> anyhow::Result<()> {
        let deadline = Instant::now() + STARTUP;
        loop {
            let output = self
                .client(&["nodes".as_ref(), "--output".as_ref(), "json".as_ref()])
                .output()
                .context("cannot run flicker nodes")?;
            anyhow::ensure!(
                output.status.success(),
                "flicker nodes failed: {}",
                String::from_utf8_lossy(&output.stderr)
            );
            let nodes: serde_json::Value =
                serde_json::from_slice(&output.stdout).context("flicker nodes printed no JSON")?;
            let alive = nodes
                .as_array()
                .context("flicker nodes printed no array")?
                .iter()
                .filter(|node| node["state"] == "alive")
                .count();
            if alive >= count {
                return Ok(());
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "the scheduler sees {alive} of {count} executors alive after {STARTUP:?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The sum of the peak resident sets of the cluster's processes so far, in KiB.
    fn peak_rss_kib(&self) -> anyhow::Result<u64> {
        self.processes.iter().map(Process::peak_rss_kib).sum()
    }
}

/// One contender's runs.
#[derive(Default)]
struct Runs {
    walls: Vec<Duration>,
    /// The largest peak RSS of its client process, in KiB.
    rss: u64,
}

impl Runs {
    fn push(&mut self, (wall, rss): (Duration, Option<u64>)) {
        self.walls.push(wall);
        self.rss = self.rss.max(rss.unwrap_or(0));
    }
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("native") {
        return native(Path::new(
            args.get(1).ok_or_else(|| anyhow::anyhow!("usage: reference native FILE"))?,
        ));
    }
    let rows: u64 = args.first().map_or(Ok(10_000_000), |a| a.replace('_', "").parse())?;
    let runs: usize = args.get(1).map_or(Ok(3), |a| a.parse())?;
    let me = std::env::current_exe()?;
    let flicker = me.with_file_name("flicker");
    anyhow::ensure!(flicker.exists(), "build the flicker binary first: cargo build --release --bin flicker");

    let data_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data");
    // Named after the generator: data from an older one is not reused.
    let dir = data_dir.join(format!("flicker-gen-weather-{rows}"));
    std::fs::create_dir_all(&dir)?;
    let data = dir.join("readings.txt");
    if !data.exists() {
        eprintln!("generating {rows} lines into {}", data.display());
        generate(&data, rows)?;
    }
    let job = dir.join("job.toml");
    std::fs::write(&job, manifest())?;
    let workers = std::thread::available_parallelism().map_or(2, usize::from).to_string();
    let cache = data_dir.join("component-cache");

    eprintln!("starting a scheduler and {EXECUTORS} executors of {EXECUTOR_SLOTS} slot on 127.0.0.1");
    let cluster_dir = data_dir.join("cluster");
    let cluster = Cluster::start(&flicker, &cluster_dir, &cache, EXECUTORS, EXECUTOR_SLOTS)?;

    let (mut native_runs, mut flicker_runs, mut cluster_runs) =
        (Runs::default(), Runs::default(), Runs::default());
    for run in 0..runs + 1 {
        let mut command = Command::new(&me);
        command.arg("native").arg(&data);
        let native_run = measure(command)?;
        let mut command = Command::new(&flicker);
        command.arg("run").arg(&job).arg("--workers").arg(&workers).env("FLICKER_CACHE_DIR", &cache);
        let flicker_run = measure(command)?;
        let command = cluster.client(&["submit".as_ref(), job.as_os_str(), "--wait".as_ref()]);
        let cluster_run = measure(command)?;
        // The first round warms the page cache and the component cache; it is not counted.
        if run > 0 {
            native_runs.push(native_run);
            flicker_runs.push(flicker_run);
            cluster_runs.push(cluster_run);
        }
        eprintln!(
            "round {run}{}: native {:.2} s, flicker run {:.2} s, cluster {:.2} s",
            if run == 0 { " (warm-up)" } else { "" },
            native_run.0.as_secs_f64(),
            flicker_run.0.as_secs_f64(),
            cluster_run.0.as_secs_f64()
        );
    }
    let cluster_rss = cluster.peak_rss_kib()?;
    drop(cluster);
    // The cluster's files (certificates, state, shuffle output) are of no use after the run.
    std::fs::remove_dir_all(&cluster_dir)
        .with_context(|| format!("cannot remove {}", cluster_dir.display()))?;

    let native_median = median(native_runs.walls);
    let flicker_median = median(flicker_runs.walls);
    let cluster_median = median(cluster_runs.walls);
    let per_second = |d: Duration| rows as f64 / d.as_secs_f64() / 1e6;
    let ratio = |d: Duration, to: Duration| d.as_secs_f64() / to.as_secs_f64();
    println!("reference job, {rows} lines, median of {runs} runs (page cache warm)");
    println!("| contender | wall | M rows/s | peak RSS | ratio to native | ratio to flicker run |");
    println!("|---|---:|---:|---:|---:|---:|");
    println!(
        "| native Rust, 1 thread | {:.2} s | {:.1} | {} MiB | 1.00 | |",
        native_median.as_secs_f64(),
        per_second(native_median),
        native_runs.rss / 1024
    );
    println!(
        "| flicker run, {workers} workers | {:.2} s | {:.1} | {} MiB | {:.2} | 1.00 |",
        flicker_median.as_secs_f64(),
        per_second(flicker_median),
        flicker_runs.rss / 1024,
        ratio(flicker_median, native_median)
    );
    println!(
        "| flicker submit, {EXECUTORS} executors × {EXECUTOR_SLOTS} slot (loopback) | {:.2} s | {:.1} | {} MiB ¹ | {:.2} | {:.2} |",
        cluster_median.as_secs_f64(),
        per_second(cluster_median),
        cluster_rss / 1024,
        ratio(cluster_median, native_median),
        ratio(cluster_median, flicker_median)
    );
    println!(
        "\n¹ the sum of the peak RSS (VmHWM) of the scheduler and the {EXECUTORS} executors over all {} rounds; \
         the `flicker submit` client's own peak: {} MiB",
        runs + 1,
        cluster_runs.rss / 1024
    );
    Ok(())
}
