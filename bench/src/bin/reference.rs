//! The reference job (parse `station;temperature`, group by station, aggregate) on generated
//! lines, in two variants: `max` (`std:max`, the highest temperature per station) and `stats`
//! (`std:stats`: count, min, mean and max per station). For each line count and each job, the
//! contenders take turns each round; the table gives the median of the runs. Every run is a whole
//! process, page cache warm:
//!
//! - a plain single-threaded native Rust program (this binary's `native` mode);
//! - `flicker run`, an in-process cluster with one slot per core;
//! - `flicker submit --wait` to a cluster of real processes on loopback: a scheduler and three
//!   executors of one slot each, started before a table's first round and killed (by PID) after
//!   its last, or when the benchmark fails;
//! - the same submission to a second such cluster whose scheduler serves its HTTP API and metrics
//!   (`--http`) and whose executors serve their metrics (`--metrics`), read over HTTPS every
//!   200 ms all along (the first page of jobs and every node's `/metrics`, as a UI and a
//!   Prometheus would): what watching a cluster costs its jobs;
//! - optional peers, when `bench/peers.sh` has installed them: DuckDB and Polars from PyPI, run by
//!   `bench/peers.py` with their default threading, so they use **every core where native uses
//!   one** (and their times include starting Python and importing the engine).
//!
//! Each run's result is checked against the native one (the same stations, the same values; the
//! mean within a relative 1e-9, since float sums depend on their order): a wrong result fails the
//! benchmark rather than giving a figure.
//!
//! The flicker contenders share one component cache (`bench/data/component-cache`). A table's
//! first round warms the page cache and the component cache and is not counted. Data files are
//! generated once and kept under `bench/data`.
//!
//! `reference [LINES[,LINES…]] [RUNS]` (defaults `10000000,50000000` and 3), e.g. `reference
//! 1000000,5000000 3`.
//! `reference native max|stats FILE` is the native contender itself.
//!
//! `reference keys STATIONS LINES [RUNS] [MEMORY]` (RUNS 1, MEMORY `256MiB` unless given) runs the
//! `max` job on data drawn from that many stations, with the aggregate step's memory limit set:
//! native against `flicker run`, whose map tasks then flush their partials and whose reduce tasks
//! spill sorted runs (its summary says how often). The table gives the stations found.
//!
//! `reference scheduler [TASKS] [RUNS]` (defaults 10000 and 3) measures scheduler throughput: the
//! `max` job over TASKS lines of 50 stations cut into splits of about one line, so about TASKS
//! map tasks (one-line splits round to a few less) and 4 reduce tasks that each do almost
//! nothing. What is measured is launching, running and reporting tasks, fetching their shuffle
//! blocks and journaling them. Contenders, alternating for RUNS rounds after a warm-up round:
//! `flicker run --workers 4` (one in-process executor of four slots) and `flicker submit --wait`
//! to a loopback cluster of four executors of one slot each, processes of their own. Each run's
//! result is checked against native's. The time is the job's own, from its summary (submission
//! to commit, without starting the process).

use anyhow::Context;
use flicker_bench::median;
use flicker_gen::Weather;
use flicker_storage::Location;
use flicker_testkit::Cluster;
use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Line counts of the data files when none are given.
const DEFAULT_SIZES: [u64; 2] = [10_000_000, 50_000_000];
/// Stations of the generated data, as the One Billion Row Challenge has.
const STATIONS: usize = 413;
/// The aggregate's memory limit in `keys` mode.
const KEYS_MEMORY: &str = "256MiB";
/// Executors of the loopback cluster.
const EXECUTORS: usize = 3;
/// Executors of the scheduler benchmark's loopback cluster, and `flicker run`'s workers there.
const SCHEDULER_EXECUTORS: usize = 4;
/// Stations of the scheduler benchmark's data.
const SCHEDULER_STATIONS: usize = 50;
/// Task slots of each executor.
const EXECUTOR_SLOTS: u32 = 1;
/// How long a cluster process may take to start listening, and the cluster to see its executors.
const STARTUP: Duration = Duration::from_secs(60);
/// How far a mean may be from native's, relative to its size (at least 1).
const MEAN_TOLERANCE: f64 = 1e-9;
/// The optional peers: `bench/peers.py`'s name for each, and the name in the tables.
const PEERS: [(&str, &str); 2] = [("duckdb", "DuckDB"), ("polars", "Polars")];

/// The variants of the reference job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Job {
    /// `std:max`: the highest temperature per station.
    Max,
    /// `std:stats`: count, min, mean and max per station.
    Stats,
}

impl Job {
    const ALL: [Job; 2] = [Job::Max, Job::Stats];

    /// The name on the command line, in `bench/peers.py`'s, and of files.
    fn name(self) -> &'static str {
        match self {
            Job::Max => "max",
            Job::Stats => "stats",
        }
    }

    fn parse(name: &str) -> anyhow::Result<Job> {
        Job::ALL
            .into_iter()
            .find(|job| job.name() == name)
            .with_context(|| format!("no job {name:?}: {}", Job::ALL.map(Job::name).join(", ")))
    }

    /// The result's columns after the station, as `std:format-csv` names them.
    fn columns(self) -> &'static [&'static str] {
        match self {
            Job::Max => &["max"],
            Job::Stats => &["count", "min", "mean", "max"],
        }
    }

    /// The manifest: `examples/max-temperature/job.toml` reading `readings.txt` beside it and
    /// writing `out-JOB/`, with `std:stats` in place of `std:max` for [`Job::Stats`], the
    /// aggregate's memory limit set to `memory` and the source's split size to `split_size` if
    /// given.
    fn manifest(self, memory: Option<&str>, split_size: Option<u64>) -> anyhow::Result<String> {
        let mut manifest = include_str!("../../../examples/max-temperature/job.toml").to_owned();
        let mut edits = vec![
            ("url = \"data/\"", "url = \"readings.txt\"".to_owned()),
            ("url = \"out/\"", format!("url = \"out-{}/\"", self.name())),
        ];
        if let Some(size) = split_size {
            edits.push(("format = \"lines\"", format!("format = \"lines\"\nsplit_size = {size}")));
        }
        if let Some(memory) = memory {
            edits.push(("partitions = ", format!("limits = {{ memory = \"{memory}\" }}\npartitions = ")));
        }
        if self == Job::Stats {
            edits.extend([
                ("name = \"max-temperature\"", "name = \"stats-temperature\"".to_owned()),
                ("id = \"max\"", "id = \"stats\"".to_owned()),
                ("input = \"max\"", "input = \"stats\"".to_owned()),
                ("plugin = \"std:max\"", "plugin = \"std:stats\"".to_owned()),
            ]);
        }
        for (from, to) in edits {
            // The example may change: an edit that no longer applies must not go unnoticed.
            anyhow::ensure!(
                manifest.matches(from).count() == 1,
                "examples/max-temperature/job.toml does not hold `{from}` exactly once"
            );
            manifest = manifest.replace(from, &to);
        }
        Ok(manifest)
    }

    /// Runs the native contender on `file`, printing its result to stdout.
    fn native(self, file: &Path) -> anyhow::Result<()> {
        match self {
            Job::Max => native::<MaxFold>(file),
            Job::Stats => native::<StatsFold>(file),
        }
    }
}

/// What the native contender keeps per station.
trait NativeFold: Default {
    /// Folds in one temperature.
    fn update(&mut self, temperature: f64);
    /// Writes the result's columns, each after a comma.
    fn write(&self, out: &mut impl Write) -> std::io::Result<()>;
}

/// The highest temperature.
struct MaxFold(f64);

impl Default for MaxFold {
    fn default() -> Self {
        MaxFold(f64::NEG_INFINITY)
    }
}

impl NativeFold for MaxFold {
    #[inline]
    fn update(&mut self, temperature: f64) {
        self.0 = self.0.max(temperature);
    }

    fn write(&self, out: &mut impl Write) -> std::io::Result<()> {
        write!(out, ",{}", self.0)
    }
}

/// Count, min, sum and max of the temperatures.
struct StatsFold {
    count: u64,
    min: f64,
    sum: f64,
    max: f64,
}

impl Default for StatsFold {
    fn default() -> Self {
        StatsFold { count: 0, min: f64::INFINITY, sum: 0.0, max: f64::NEG_INFINITY }
    }
}

impl NativeFold for StatsFold {
    #[inline]
    fn update(&mut self, temperature: f64) {
        self.count += 1;
        self.min = self.min.min(temperature);
        self.sum += temperature;
        self.max = self.max.max(temperature);
    }

    fn write(&self, out: &mut impl Write) -> std::io::Result<()> {
        write!(out, ",{},{},{},{}", self.count, self.min, self.sum / self.count as f64, self.max)
    }
}

/// The native contender: one thread, std's HashMap, buffered reads; prints `station,COLUMNS…`
/// lines in station order.
fn native<F: NativeFold>(file: &Path) -> anyhow::Result<()> {
    let mut stations: HashMap<String, F> = HashMap::new();
    let mut reader = std::io::BufReader::with_capacity(1 << 20, std::fs::File::open(file)?);
    let mut line = Vec::new();
    while reader.read_until(b'\n', &mut line)? > 0 {
        let text = std::str::from_utf8(&line)?.trim_end();
        let (station, temperature) =
            text.split_once(';').ok_or_else(|| anyhow::anyhow!("bad line {text:?}"))?;
        let temperature: f64 = temperature.parse()?;
        match stations.get_mut(station) {
            Some(state) => state.update(temperature),
            None => {
                let mut state = F::default();
                state.update(temperature);
                stations.insert(station.to_owned(), state);
            }
        }
        line.clear();
    }
    let mut rows: Vec<_> = stations.into_iter().collect();
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for (station, state) in rows {
        out.write_all(station.as_bytes())?;
        state.write(&mut out)?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(())
}

/// A job's result: the values of its columns per station.
type Results = BTreeMap<String, Vec<f64>>;

/// Reads `station,COLUMNS…` lines (after a header naming them when `header`) into `results`;
/// a station seen twice is an error.
fn read_results(job: Job, text: &str, header: bool, results: &mut Results) -> anyhow::Result<()> {
    let mut lines = text.lines();
    if header {
        let expected = format!("station,{}", job.columns().join(","));
        let found = lines.next().unwrap_or_default();
        anyhow::ensure!(found == expected, "the header is {found:?}, expected {expected:?}");
    }
    for line in lines {
        let mut fields = line.split(',');
        let station = fields.next().unwrap_or_default();
        let values = fields
            .map(str::parse)
            .collect::<Result<Vec<f64>, _>>()
            .with_context(|| format!("bad line {line:?}"))?;
        anyhow::ensure!(values.len() == job.columns().len(), "bad line {line:?}");
        anyhow::ensure!(results.insert(station.to_owned(), values).is_none(), "station {station:?} twice");
    }
    Ok(())
}

/// Reads the output directory of a flicker job: the part files its `_SUCCESS` lists.
fn read_output_dir(job: Job, dir: &Path) -> anyhow::Result<Results> {
    let success = dir.join("_SUCCESS");
    let parts = std::fs::read_to_string(&success)
        .with_context(|| format!("cannot read {}: did the job commit?", success.display()))?;
    let mut results = Results::new();
    for part in parts.lines().filter_map(|line| line.split('\t').next()).filter(|p| !p.is_empty()) {
        let path = dir.join(part);
        let text =
            std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
        read_results(job, &text, true, &mut results).with_context(|| format!("in {}", path.display()))?;
    }
    Ok(results)
}

/// Checks `found` against `expected`: the same stations with the same values, means within
/// [`MEAN_TOLERANCE`].
fn check(job: Job, expected: &Results, found: &Results) -> anyhow::Result<()> {
    if let Some(station) = found.keys().find(|s| !expected.contains_key(*s)) {
        anyhow::bail!("station {station:?} is not in native's result");
    }
    for (station, values) in expected {
        let got = found.get(station).with_context(|| format!("station {station:?} is missing"))?;
        for ((column, want), got) in job.columns().iter().zip(values).zip(got) {
            let close = match *column {
                "mean" => (want - got).abs() <= MEAN_TOLERANCE * want.abs().max(1.0),
                _ => want == got,
            };
            anyhow::ensure!(close, "station {station:?}: {column} is {got}, native's is {want}");
        }
    }
    Ok(())
}

/// Writes `rows` weather lines of `stations` stations, seed 7, to `path`, which appears only once
/// complete.
fn generate(path: &Path, rows: u64, stations: usize) -> anyhow::Result<()> {
    let to = Location::parse(path.to_str().context("the data path is not UTF-8")?, Path::new("/"))?;
    let weather = Arc::new(Weather::new(stations, 7)?);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(flicker_gen::write(&weather, rows, &to))?;
    Ok(())
}

/// One run of a contender: a whole process.
struct Sample {
    wall: Duration,
    /// Its peak RSS in KiB, when `/usr/bin/time` is there to tell.
    rss_kib: Option<u64>,
    stdout: String,
}

/// Runs a command under `/usr/bin/time` when present, keeping its stdout.
fn measure(mut command: Command) -> anyhow::Result<Sample> {
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
    let output = command.output().with_context(|| format!("cannot run {command:?}"))?;
    let wall = started.elapsed();
    anyhow::ensure!(
        output.status.success(),
        "{command:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let rss_kib = std::fs::read_to_string(&rss_file).ok().and_then(|s| s.trim().lines().last()?.parse().ok());
    let stdout = String::from_utf8(output.stdout).context("the output is not UTF-8")?;
    Ok(Sample { wall, rss_kib, stdout })
}

/// Starts a cluster in `dir` (emptied first) whose processes share the component cache `cache`:
/// certificates, a scheduler and `executors` executors (`exec-1`, ... working in `dir/exec-1`,
/// ...) of `slots` slots each, processes of their own talking QUIC over loopback; waits until the
/// scheduler sees them all alive. Their jobs may reach the files of `dir`'s parent (the data and
/// the outputs of the benchmark). They are killed when it is dropped.
///
/// A `watched` cluster also serves HTTPS: the scheduler its API and metrics (`--http`), each
/// executor its metrics (`--metrics`); an admin certificate `watcher` reads them.
fn start_cluster(
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

/// What the contenders of every table share.
struct Setup {
    /// This binary, for the native contender.
    me: PathBuf,
    flicker: PathBuf,
    /// `flicker run`'s workers: one per core (four for the scheduler benchmark).
    workers: usize,
    /// The flicker contenders' component cache.
    cache: PathBuf,
    /// Where the data, the manifests and the cluster's files go.
    data_dir: PathBuf,
    /// Stations in the generated data.
    stations: usize,
    /// The aggregate step's memory limit, when set (`keys` mode).
    memory: Option<String>,
}

impl Setup {
    /// `flicker run` with `workers` workers, on data of `stations` stations, the aggregate's
    /// memory limited to `memory` if given; the flicker binary beside this one.
    fn new(workers: usize, stations: usize, memory: Option<String>) -> anyhow::Result<Setup> {
        let me = std::env::current_exe()?;
        let flicker = me.with_file_name("flicker");
        anyhow::ensure!(
            flicker.exists(),
            "build the flicker binary first: cargo build --release --bin flicker"
        );
        let data_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data");
        Ok(Setup {
            me,
            flicker,
            workers,
            cache: data_dir.join("component-cache"),
            data_dir,
            stations,
            memory,
        })
    }
}

/// One table: a job over one data file.
struct Table<'a> {
    job: Job,
    /// The `station;temperature` lines.
    data: &'a Path,
    /// The job's manifest, beside the data.
    manifest: PathBuf,
    /// Where the manifest's sink writes.
    out: PathBuf,
    cluster: &'a Cluster,
    /// The cluster read over HTTPS all along, if the table has one.
    watched: Option<&'a Cluster>,
}

/// How a contender runs a job.
enum Engine {
    /// `reference native JOB FILE`.
    Native,
    /// `flicker run MANIFEST --workers N`.
    FlickerRun,
    /// `flicker submit MANIFEST --wait` to the table's loopback cluster.
    Cluster,
    /// The same, to the table's watched cluster.
    WatchedCluster,
    /// `PYTHON bench/peers.py NAME JOB FILE`.
    Peer { python: PathBuf, name: &'static str },
}

/// One contender of every table.
struct Contender {
    /// Its short name in progress lines.
    name: &'static str,
    /// Its name in the tables.
    label: String,
    engine: Engine,
}

impl Contender {
    /// Runs `table`'s job once as a whole process, measured, and reads its result.
    fn run(&self, setup: &Setup, table: &Table) -> anyhow::Result<(Sample, Results)> {
        let command = match &self.engine {
            Engine::Native => {
                let mut command = Command::new(&setup.me);
                command.arg("native").arg(table.job.name()).arg(table.data);
                command
            }
            Engine::FlickerRun => {
                let mut command = Command::new(&setup.flicker);
                command
                    .arg("run")
                    .arg(&table.manifest)
                    .arg("--workers")
                    .arg(setup.workers.to_string())
                    .env("FLICKER_CACHE_DIR", &setup.cache);
                command
            }
            Engine::Cluster | Engine::WatchedCluster => {
                let cluster = match self.engine {
                    Engine::WatchedCluster => table.watched.context("the table has no watched cluster")?,
                    _ => table.cluster,
                };
                cluster.client_command(["submit".as_ref(), table.manifest.as_os_str(), "--wait".as_ref()])?
            }
            Engine::Peer { python, name } => {
                let mut command = Command::new(python);
                command
                    .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("peers.py"))
                    .arg(name)
                    .arg(table.job.name())
                    .arg(table.data);
                command
            }
        };
        let writes_files =
            matches!(self.engine, Engine::FlickerRun | Engine::Cluster | Engine::WatchedCluster);
        // No result of an earlier run may pass for this one's.
        if writes_files && table.out.exists() {
            std::fs::remove_dir_all(&table.out)
                .with_context(|| format!("cannot remove {}", table.out.display()))?;
        }
        let sample = measure(command)?;
        let results = if writes_files {
            read_output_dir(table.job, &table.out)?
        } else {
            let mut results = Results::new();
            read_results(table.job, &sample.stdout, false, &mut results)?;
            results
        };
        Ok((sample, results))
    }
}

/// One contender's counted runs.
#[derive(Default)]
struct Runs {
    walls: Vec<Duration>,
    /// The largest peak RSS of its process, in KiB.
    rss_kib: u64,
}

/// Runs `job` over the `rows` lines of `data` with every contender, `runs` counted rounds after
/// a warm-up, each result checked against native's (the first contender's); prints the table.
fn bench(
    setup: &Setup,
    contenders: &[Contender],
    job: Job,
    rows: u64,
    data: &Path,
    runs: usize,
) -> anyhow::Result<()> {
    let dir = data.parent().context("the data file has a directory")?;
    let manifest = dir.join(format!("{}.toml", job.name()));
    std::fs::write(&manifest, job.manifest(setup.memory.as_deref(), None)?)?;

    eprintln!(
        "{} on {rows} lines: starting a scheduler and {EXECUTORS} executors of {EXECUTOR_SLOTS} slot on 127.0.0.1",
        job.name()
    );
    let cluster_dir = setup.data_dir.join("cluster");
    let cluster =
        start_cluster(&setup.flicker, &cluster_dir, &setup.cache, EXECUTORS, EXECUTOR_SLOTS, false)?;
    let watched_dir = setup.data_dir.join("watched-cluster");
    let watches = contenders.iter().any(|c| matches!(c.engine, Engine::WatchedCluster));
    let watched = watches
        .then(|| start_cluster(&setup.flicker, &watched_dir, &setup.cache, EXECUTORS, EXECUTOR_SLOTS, true))
        .transpose()?;
    let watcher = watched.as_ref().map(Watcher::start).transpose()?;
    let table = Table {
        job,
        data,
        manifest,
        out: dir.join(format!("out-{}", job.name())),
        cluster: &cluster,
        watched: watched.as_ref(),
    };

    let (samples, expected) = rounds(setup, contenders, &table, runs, None, |contender, sample| {
        let wall = format!("{} {:.2} s", contender.name, sample.wall.as_secs_f64());
        // `flicker run`'s summary says whether its aggregate spilled.
        Ok(match sample.stdout.lines().find(|line| line.trim_start().starts_with("spilled")) {
            Some(spilled) => format!("{wall} ({})", spilled.trim()),
            None => wall,
        })
    })?;
    let counted: Vec<Runs> = samples
        .iter()
        .map(|samples| Runs {
            walls: samples.iter().map(|sample| sample.wall).collect(),
            rss_kib: samples.iter().filter_map(|sample| sample.rss_kib).max().unwrap_or(0),
        })
        .collect();
    let cluster_rss_kib = cluster.peak_rss_kib()?;
    let reads = watcher.map(Watcher::stop).transpose()?;
    drop(cluster);
    drop(watched);
    // The clusters' files (certificates, state, shuffle output) are of no use after the table.
    for dir in [&cluster_dir, &watched_dir].into_iter().filter(|dir| dir.exists()) {
        std::fs::remove_dir_all(dir).with_context(|| format!("cannot remove {}", dir.display()))?;
    }

    let medians: Vec<Duration> = counted.iter().map(|runs| median(runs.walls.clone())).collect();
    let median_of = |wanted: fn(&Engine) -> bool| {
        contenders.iter().zip(&medians).find(|(c, _)| wanted(&c.engine)).map(|(_, median)| *median)
    };
    let native = median_of(|e| matches!(e, Engine::Native)).context("no native contender")?;
    let flicker_run = median_of(|e| matches!(e, Engine::FlickerRun)).context("no flicker run contender")?;
    let stations = expected.len();
    println!(
        "reference job with `std:{}` ({} per station), {rows} lines, {stations} stations, median of {runs} runs (page cache warm)",
        job.name(),
        job.columns().join(", ")
    );
    println!("| contender | wall | M rows/s | peak RSS | ratio to native | ratio to flicker run |");
    println!("|---|---:|---:|---:|---:|---:|");
    for ((contender, runs), median) in contenders.iter().zip(&counted).zip(&medians) {
        let seconds = median.as_secs_f64();
        let rss = match contender.engine {
            Engine::Cluster => format!("{} MiB ¹", cluster_rss_kib / 1024),
            Engine::WatchedCluster => "—".to_owned(),
            _ => format!("{} MiB", runs.rss_kib / 1024),
        };
        let to_flicker = match contender.engine {
            Engine::Native => String::new(),
            _ => format!("{:.2}", seconds / flicker_run.as_secs_f64()),
        };
        println!(
            "| {} | {seconds:.2} s | {:.1} | {rss} | {:.2} | {to_flicker} |",
            contender.label,
            rows as f64 / seconds / 1e6,
            seconds / native.as_secs_f64(),
        );
    }
    let client = contenders.iter().zip(&counted).find(|(c, _)| matches!(c.engine, Engine::Cluster));
    if let Some((_, client)) = client {
        println!(
            "\n¹ the sum of the peak RSS (VmHWM) of the scheduler and the {EXECUTORS} executors over all {} rounds; \
             the `flicker submit` client's own peak: {} MiB",
            runs + 1,
            client.rss_kib / 1024
        );
    }
    if let Some(reads) = reads {
        println!(
            "\nthe watched cluster served {reads} HTTPS reads (the first page of jobs, and the scheduler's and every executor's /metrics) during the table's rounds"
        );
    }
    println!();
    Ok(())
}

/// Reads a watched cluster over HTTPS every [`Watcher::EVERY`] until stopped: the first page of
/// its jobs and every node's metrics, as an admin, as a web UI and a Prometheus would.
struct Watcher {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: std::thread::JoinHandle<anyhow::Result<u64>>,
}

impl Watcher {
    /// How often it reads.
    const EVERY: Duration = Duration::from_millis(200);

    /// Starts reading `cluster` (started `watched`).
    fn start(cluster: &Cluster) -> anyhow::Result<Watcher> {
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
    fn stop(self) -> anyhow::Result<u64> {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.thread.join().map_err(|_| anyhow::anyhow!("the watcher panicked"))?
    }
}

/// Scheduler throughput (see the module docs): the `max` job over `tasks` lines in one-line
/// splits, `runs` counted rounds after a warm-up; prints each run and the medians.
fn scheduler(setup: &Setup, tasks: u64, runs: usize) -> anyhow::Result<()> {
    let dir = setup.data_dir.join(format!("scheduler-{tasks}"));
    std::fs::create_dir_all(&dir)?;
    let data = dir.join("readings.txt");
    if !data.exists() {
        generate(&data, tasks, SCHEDULER_STATIONS)?;
    }
    let size = std::fs::metadata(&data)?.len();
    let manifest = dir.join("max.toml");
    std::fs::write(&manifest, Job::Max.manifest(None, Some(size.div_ceil(tasks)))?)?;
    eprintln!("scheduler: starting a scheduler and {SCHEDULER_EXECUTORS} executors of 1 slot on 127.0.0.1");
    let cluster_dir = setup.data_dir.join("cluster");
    let cluster = start_cluster(&setup.flicker, &cluster_dir, &setup.cache, SCHEDULER_EXECUTORS, 1, false)?;
    let table = Table {
        job: Job::Max,
        data: &data,
        manifest,
        out: dir.join("out-max"),
        cluster: &cluster,
        watched: None,
    };
    let native = Contender { name: "native", label: "native".into(), engine: Engine::Native };
    let (_, expected) = native.run(setup, &table)?;
    let contenders = [
        Contender {
            name: "flicker run",
            label: format!("flicker run, {} workers (one executor)", setup.workers),
            engine: Engine::FlickerRun,
        },
        Contender {
            name: "cluster",
            label: format!("flicker submit, {SCHEDULER_EXECUTORS} executors × 1 slot (loopback)"),
            engine: Engine::Cluster,
        },
    ];
    let (samples, _) = rounds(setup, &contenders, &table, runs, Some(expected), |contender, sample| {
        let (time, tasks) = job_time_and_tasks(contender, sample)?;
        Ok(format!("{} {tasks} tasks in {:.2} s", contender.name, time.as_secs_f64()))
    })?;
    drop(cluster);
    std::fs::remove_dir_all(&cluster_dir)
        .with_context(|| format!("cannot remove {}", cluster_dir.display()))?;

    println!(
        "scheduler throughput: the `max` job over {tasks} lines in one-line splits, median of {runs} runs"
    );
    println!("| contender | tasks | job time | tasks/s | per task | range of the runs |");
    println!("|---|---:|---:|---:|---:|---:|");
    for (contender, samples) in contenders.iter().zip(&samples) {
        let counted = samples
            .iter()
            .map(|sample| job_time_and_tasks(contender, sample))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let tasks = counted[0].1;
        let rate = |time: Duration| tasks as f64 / time.as_secs_f64();
        let mut times: Vec<Duration> = counted.iter().map(|(time, _)| *time).collect();
        times.sort();
        let (fastest, slowest) = (times[0], times[times.len() - 1]);
        let time = median(times);
        println!(
            "| {} | {tasks} | {:.2} s | {:.0} | {:.3} ms | {:.0}–{:.0} tasks/s |",
            contender.label,
            time.as_secs_f64(),
            rate(time),
            1000.0 * time.as_secs_f64() / tasks as f64,
            rate(slowest),
            rate(fastest),
        );
    }
    println!();
    Ok(())
}

/// The job's time and its number of tasks, from the job summary a flicker contender printed:
/// `job "…" (…) succeeded in 1.23 s` and `stages 2, tasks 9329, task time …`.
fn job_time_and_tasks(contender: &Contender, sample: &Sample) -> anyhow::Result<(Duration, u64)> {
    let word_after = |line: &str, word: &str| {
        let words: Vec<&str> = line.split_whitespace().collect();
        let at = words.iter().position(|w| *w == word)?;
        words.get(at + 1).map(|w| w.trim_end_matches(',').to_owned())
    };
    let summary = &sample.stdout;
    let parsed = || {
        let ended = summary.lines().find(|line| line.contains(" succeeded in "))?;
        let seconds: f64 = word_after(ended, "in")?.parse().ok()?;
        let tasks = summary.lines().find_map(|line| word_after(line, "tasks")?.parse().ok())?;
        Some((Duration::from_secs_f64(seconds), tasks))
    };
    parsed().with_context(|| format!("{} printed no job summary:\n{summary}", contender.label))
}

/// Runs every contender on `table` in turns: a warm-up round, which warms the page cache and the
/// component cache and is not counted, then `runs` counted rounds. Each result is checked against
/// `expected`, or, without one, against the first contender's first result. `describe` says what
/// a run's progress line shows of it. Returns each contender's counted samples and the result
/// they were checked against.
fn rounds(
    setup: &Setup,
    contenders: &[Contender],
    table: &Table,
    runs: usize,
    mut expected: Option<Results>,
    describe: impl Fn(&Contender, &Sample) -> anyhow::Result<String>,
) -> anyhow::Result<(Vec<Vec<Sample>>, Results)> {
    let mut counted: Vec<Vec<Sample>> = contenders.iter().map(|_| Vec::new()).collect();
    for round in 0..runs + 1 {
        let mut progress = Vec::new();
        for (contender, counted) in contenders.iter().zip(&mut counted) {
            let (sample, results) =
                contender.run(setup, table).with_context(|| format!("{} failed", contender.label))?;
            match &expected {
                Some(expected) => check(table.job, expected, &results).with_context(|| {
                    format!("{} gave a wrong result for {}", contender.label, table.job.name())
                })?,
                None => expected = Some(results),
            }
            progress.push(describe(contender, &sample)?);
            if round > 0 {
                counted.push(sample);
            }
        }
        let warm_up = if round == 0 { " (warm-up)" } else { "" };
        eprintln!("round {round}{warm_up}: {}", progress.join(", "));
    }
    Ok((counted, expected.context("no contender ran")?))
}

/// The peers' Python when `bench/peers.sh` has installed them, with the versions it installed.
fn peers_python() -> Option<(PathBuf, String)> {
    let tools = std::env::var_os("FLICKER_TOOLS_DIR")
        .map(PathBuf::from)
        .or_else(|| Some(PathBuf::from(std::env::var_os("HOME")?).join(".cache/flicker/tools")))?;
    let venv = tools.join("bench-peers");
    let installed = std::fs::read_to_string(venv.join(".installed")).ok()?;
    let python = venv.join("bin/python");
    python.exists().then(|| (python, installed.trim().to_owned()))
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("native") {
        let [_, job, file] = &args[..] else { anyhow::bail!("usage: reference native max|stats FILE") };
        return Job::parse(job)?.native(Path::new(file));
    }
    if args.first().map(String::as_str) == Some("scheduler") {
        let usage = "usage: reference scheduler [TASKS] [RUNS]";
        let tasks = args.get(1).map_or(Ok(10_000), |a| a.replace('_', "").parse()).context(usage)?;
        let runs = args.get(2).map_or(Ok(3), |a| a.parse()).context(usage)?;
        anyhow::ensure!(tasks > 0 && runs > 0, "{usage}: TASKS and RUNS must be at least 1");
        return scheduler(&Setup::new(SCHEDULER_EXECUTORS, SCHEDULER_STATIONS, None)?, tasks, runs);
    }
    // `keys STATIONS LINES [RUNS] [MEMORY]`: many keys under a memory budget, one run by default.
    let keys = args.first().map(String::as_str) == Some("keys");
    let (stations, memory, positional, default_runs) = if keys {
        let [_, stations, rest @ ..] = &args[..] else {
            anyhow::bail!("usage: reference keys STATIONS LINES [RUNS] [MEMORY]")
        };
        anyhow::ensure!(!rest.is_empty(), "usage: reference keys STATIONS LINES [RUNS] [MEMORY]");
        let stations =
            stations.replace('_', "").parse().with_context(|| format!("bad station count {stations:?}"))?;
        let memory = rest.get(2).map_or(KEYS_MEMORY, String::as_str).to_owned();
        (stations, Some(memory), &rest[..rest.len().min(2)], 1)
    } else {
        (STATIONS, None, &args[..], 3)
    };
    let sizes: Vec<u64> = match positional.first() {
        Some(sizes) => sizes
            .split(',')
            .map(|size| size.replace('_', "").parse().with_context(|| format!("bad line count {size:?}")))
            .collect::<anyhow::Result<_>>()?,
        None => DEFAULT_SIZES.to_vec(),
    };
    let runs: usize = positional.get(1).map_or(Ok(default_runs), |a| a.parse())?;
    anyhow::ensure!(runs > 0, "RUNS must be at least 1");
    let workers = std::thread::available_parallelism().map_or(2, usize::from);
    let setup = Setup::new(workers, stations, memory)?;

    // Every data file first, so that generating one does not disturb the runs of another.
    let mut files = Vec::new();
    for &rows in &sizes {
        // Named after the generator: data from an older one is not reused.
        let dir = match setup.stations {
            STATIONS => setup.data_dir.join(format!("flicker-gen-weather-{rows}")),
            stations => setup.data_dir.join(format!("flicker-gen-weather-{rows}-{stations}")),
        };
        std::fs::create_dir_all(&dir)?;
        let data = dir.join("readings.txt");
        if !data.exists() {
            eprintln!("generating {rows} lines of {} stations into {}", setup.stations, data.display());
            generate(&data, rows, setup.stations)?;
        }
        files.push((rows, data));
    }

    let mut contenders = vec![
        Contender { name: "native", label: "native Rust, 1 thread".into(), engine: Engine::Native },
        Contender {
            name: "flicker run",
            label: format!("flicker run, {workers} workers"),
            engine: Engine::FlickerRun,
        },
    ];
    if keys {
        let memory = setup.memory.as_deref().unwrap_or(KEYS_MEMORY);
        println!("many keys: {stations} stations drawn, the aggregate's memory limit {memory}\n");
    } else {
        contenders.push(Contender {
            name: "cluster",
            label: format!("flicker submit, {EXECUTORS} executors × {EXECUTOR_SLOTS} slot (loopback)"),
            engine: Engine::Cluster,
        });
        contenders.push(Contender {
            name: "watched cluster",
            label: "the same, with the API and metrics read every 200 ms".into(),
            engine: Engine::WatchedCluster,
        });
    }
    match peers_python().filter(|_| !keys) {
        Some((python, installed)) => {
            println!("peers: {installed}, {workers} threads each (native: 1)\n");
            contenders.extend(PEERS.map(|(name, title)| Contender {
                name,
                label: format!("{title} (Python), {workers} threads"),
                engine: Engine::Peer { python: python.clone(), name },
            }));
        }
        None if keys => {}
        None => println!("peers DuckDB and Polars: not installed: run bench/peers.sh\n"),
    }

    let jobs: &[Job] = if keys { &[Job::Max] } else { &Job::ALL };
    for (rows, data) in &files {
        for &job in jobs {
            bench(&setup, &contenders, job, *rows, data, runs)?;
        }
    }
    Ok(())
}
