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
use flicker_bench::cluster::{EXECUTOR_SLOTS, EXECUTORS, start_cluster};
use flicker_bench::compare::compare;
use flicker_bench::contender::{Contender, Engine, Setup, Table, Workload, rounds};
use flicker_bench::data::{self, STATIONS};
use flicker_bench::measure::Sample;
use flicker_bench::median;
use flicker_bench::results::Query;
use std::collections::HashMap;
use std::io::{BufRead, Write};
use std::path::Path;
use std::time::Duration;

/// Line counts of the data files when none are given.
const DEFAULT_SIZES: [u64; 2] = [10_000_000, 50_000_000];
/// The aggregate's memory limit in `keys` mode.
const KEYS_MEMORY: &str = "256MiB";
/// Executors of the scheduler benchmark's loopback cluster, and `flicker run`'s workers there.
const SCHEDULER_EXECUTORS: usize = 4;
/// Stations of the scheduler benchmark's data.
const SCHEDULER_STATIONS: usize = 50;

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

    /// What it computes: per station, its columns as `std:format-csv` names them.
    fn query(self) -> Query {
        let columns: &[&str] = match self {
            Job::Max => &["max"],
            Job::Stats => &["count", "min", "mean", "max"],
        };
        Query { name: self.name(), key: "station", columns }
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

/// Scheduler throughput (see the module docs): the `max` job over `tasks` lines in one-line
/// splits, `runs` counted rounds after a warm-up; prints each run and the medians.
fn scheduler(setup: &Setup, tasks: u64, runs: usize) -> anyhow::Result<()> {
    let dir = setup.data_dir.join(format!("scheduler-{tasks}"));
    std::fs::create_dir_all(&dir)?;
    let data = dir.join("readings.txt");
    if !data.exists() {
        data::generate(&data, tasks, SCHEDULER_STATIONS)?;
    }
    let size = std::fs::metadata(&data)?.len();
    let manifest = dir.join("max.toml");
    std::fs::write(&manifest, Job::Max.manifest(None, Some(size.div_ceil(tasks)))?)?;
    let workload =
        Workload { query: Job::Max.query(), inputs: vec![data], manifest, out: dir.join("out-max") };
    eprintln!("scheduler: starting a scheduler and {SCHEDULER_EXECUTORS} executors of 1 slot on 127.0.0.1");
    let cluster_dir = setup.data_dir.join("cluster");
    let cluster = start_cluster(&setup.flicker, &cluster_dir, &setup.cache, SCHEDULER_EXECUTORS, 1, false)?;
    let table = Table { workload: &workload, cluster: &cluster, watched: None };
    let native = Contender { name: "native", label: "native".into(), engine: Engine::Native };
    let (_, expected) = native.run(setup, &table)?;
    let mut flicker_run = Contender::flicker_run(setup);
    flicker_run.label.push_str(" (one executor)");
    let contenders = [flicker_run, Contender::cluster(SCHEDULER_EXECUTORS, 1)];
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
        return scheduler(&Setup::new(SCHEDULER_EXECUTORS)?, tasks, runs);
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
    let sizes = match positional.first() {
        Some(sizes) => data::line_counts(sizes)?,
        None => DEFAULT_SIZES.to_vec(),
    };
    let runs: usize = positional.get(1).map_or(Ok(default_runs), |a| a.parse())?;
    anyhow::ensure!(runs > 0, "RUNS must be at least 1");
    let workers = std::thread::available_parallelism().map_or(2, usize::from);
    let setup = Setup::new(workers)?;

    // Every data file first, so that generating one does not disturb the runs of another.
    let files = sizes
        .iter()
        .map(|&rows| Ok((rows, data::readings(&setup.data_dir, rows, stations)?)))
        .collect::<anyhow::Result<Vec<_>>>()?;

    let mut contenders = vec![
        Contender { name: "native", label: "native Rust, 1 thread".into(), engine: Engine::Native },
        Contender::flicker_run(&setup),
    ];
    if let Some(memory) = &memory {
        println!("many keys: {stations} stations drawn, the aggregate's memory limit {memory}\n");
    } else {
        contenders.push(Contender::cluster(EXECUTORS, EXECUTOR_SLOTS));
        contenders.push(Contender {
            name: "watched cluster",
            label: "the same, with the API and metrics read every 200 ms".into(),
            engine: Engine::WatchedCluster,
        });
        let (peers, installed) = Contender::peers(&setup);
        let native = if peers.is_empty() { "" } else { " (native: 1)" };
        println!("{installed}{native}\n");
        contenders.extend(peers);
    }

    let jobs: &[Job] = if keys { &[Job::Max] } else { &Job::ALL };
    for (rows, data) in files {
        for &job in jobs {
            let dir = data.parent().context("the data file has a directory")?;
            let manifest = dir.join(format!("{}.toml", job.name()));
            std::fs::write(&manifest, job.manifest(memory.as_deref(), None)?)?;
            let out = dir.join(format!("out-{}", job.name()));
            let workload = Workload { query: job.query(), inputs: vec![data.clone()], manifest, out };
            compare(&setup, &contenders, &workload, rows, runs, |expected| {
                format!(
                    "reference job with `std:{}` ({} per station), {rows} lines, {} stations, median of {runs} runs (page cache warm)",
                    job.name(),
                    job.query().columns.join(", "),
                    expected.len(),
                )
            })?;
        }
    }
    Ok(())
}
