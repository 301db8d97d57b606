//! The contenders of a benchmark's tables, each running a job as a whole process: a native
//! program, `flicker run`, `flicker submit` to a loopback cluster, and the optional peers DuckDB
//! and Polars (`bench/peers.py`); and the rounds in which they take turns.

use crate::measure::{Sample, measure};
use crate::results::{Query, Results, check, read_output_dir, read_results};
use anyhow::Context;
use flicker_testkit::Cluster;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The optional peers: `bench/peers.py`'s name for each, and the name in the tables.
const PEERS: [(&str, &str); 2] = [("duckdb", "DuckDB"), ("polars", "Polars")];

/// What the contenders of every table share.
pub struct Setup {
    /// This binary, for a native contender.
    pub me: PathBuf,
    /// The flicker binary, beside this one.
    pub flicker: PathBuf,
    /// `flicker run`'s workers: one per core (four for the scheduler benchmark).
    pub workers: usize,
    /// The flicker contenders' component cache.
    pub cache: PathBuf,
    /// Where the data, the manifests and the clusters' files go: `bench/data`.
    pub data_dir: PathBuf,
}

impl Setup {
    /// `flicker run` with `workers` workers; the flicker binary beside this one.
    pub fn new(workers: usize) -> anyhow::Result<Setup> {
        let me = std::env::current_exe()?;
        let flicker = me.with_file_name("flicker");
        anyhow::ensure!(
            flicker.exists(),
            "build the flicker binary first: cargo build --release --bin flicker"
        );
        let data_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data");
        Ok(Setup { me, flicker, workers, cache: data_dir.join("component-cache"), data_dir })
    }
}

/// A job as every contender runs it: flicker's manifest, and the files the others read.
pub struct Workload {
    /// What it computes.
    pub query: Query,
    /// The files a native contender and the peers read, the readings first, in the order
    /// `bench/peers.py` takes them.
    pub inputs: Vec<PathBuf>,
    /// The manifest the flicker contenders run, beside the data.
    pub manifest: PathBuf,
    /// Where the manifest's sink writes.
    pub out: PathBuf,
}

/// One table: a workload, and the clusters its cluster contenders submit to.
pub struct Table<'a> {
    /// The job.
    pub workload: &'a Workload,
    /// The loopback cluster.
    pub cluster: &'a Cluster,
    /// The cluster read over HTTPS all along, if the table has one.
    pub watched: Option<&'a Cluster>,
}

/// How a contender runs a job.
pub enum Engine {
    /// `ME native QUERY INPUTS…`: this binary's own program.
    Native,
    /// `flicker run MANIFEST --workers N`.
    FlickerRun,
    /// `flicker submit MANIFEST --wait` to the table's loopback cluster.
    Cluster,
    /// The same, to the table's watched cluster.
    WatchedCluster,
    /// `PYTHON bench/peers.py NAME QUERY INPUTS…`.
    Peer {
        /// The peers' virtualenv's Python.
        python: PathBuf,
        /// The peer's name on `bench/peers.py`'s command line.
        name: &'static str,
    },
}

/// One contender of every table.
pub struct Contender {
    /// Its short name in progress lines.
    pub name: &'static str,
    /// Its name in the tables.
    pub label: String,
    /// How it runs a job.
    pub engine: Engine,
}

impl Contender {
    /// `flicker run` with the setup's workers.
    pub fn flicker_run(setup: &Setup) -> Contender {
        let label = format!("flicker run, {} workers", setup.workers);
        Contender { name: "flicker run", label, engine: Engine::FlickerRun }
    }

    /// `flicker submit` to a loopback cluster of `executors` executors of `slots` slots.
    pub fn cluster(executors: usize, slots: u32) -> Contender {
        let label = format!("flicker submit, {executors} executors × {slots} slot (loopback)");
        Contender { name: "cluster", label, engine: Engine::Cluster }
    }

    /// DuckDB and Polars, when `bench/peers.sh` has installed them, with a line saying which
    /// versions (or how to install them).
    pub fn peers(setup: &Setup) -> (Vec<Contender>, String) {
        let workers = setup.workers;
        match peers_python() {
            Some((python, installed)) => {
                let peers = PEERS.map(|(name, title)| Contender {
                    name,
                    label: format!("{title} (Python), {workers} threads"),
                    engine: Engine::Peer { python: python.clone(), name },
                });
                (peers.into(), format!("peers: {installed}, {workers} threads each"))
            }
            None => (Vec::new(), "peers DuckDB and Polars: not installed: run bench/peers.sh".into()),
        }
    }

    /// Whether its results are the output directory of a flicker job.
    fn writes_files(&self) -> bool {
        matches!(self.engine, Engine::FlickerRun | Engine::Cluster | Engine::WatchedCluster)
    }

    /// Runs `table`'s job once as a whole process, measured, and reads its result.
    pub fn run(&self, setup: &Setup, table: &Table) -> anyhow::Result<(Sample, Results)> {
        let workload = table.workload;
        let command = match &self.engine {
            Engine::Native => {
                let mut command = Command::new(&setup.me);
                command.arg("native").arg(workload.query.name).args(&workload.inputs);
                command
            }
            Engine::FlickerRun => {
                let mut command = Command::new(&setup.flicker);
                command
                    .arg("run")
                    .arg(&workload.manifest)
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
                cluster.client_command([
                    "submit".as_ref(),
                    workload.manifest.as_os_str(),
                    "--wait".as_ref(),
                ])?
            }
            Engine::Peer { python, name } => {
                let mut command = Command::new(python);
                command
                    .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("peers.py"))
                    .arg(name)
                    .arg(workload.query.name)
                    .args(&workload.inputs);
                command
            }
        };
        // No result of an earlier run may pass for this one's.
        if self.writes_files() && workload.out.exists() {
            std::fs::remove_dir_all(&workload.out)
                .with_context(|| format!("cannot remove {}", workload.out.display()))?;
        }
        let sample = measure(command)?;
        let results = if self.writes_files() {
            read_output_dir(workload.query, &workload.out)?
        } else {
            let mut results = Results::new();
            read_results(workload.query, &sample.stdout, false, &mut results)?;
            results
        };
        Ok((sample, results))
    }
}

/// Runs every contender on `table` in turns: a warm-up round, which warms the page cache and the
/// component cache and is not counted, then `runs` counted rounds. Each result is checked against
/// `expected`, or, without one, against the first contender's first result. `describe` says what
/// a run's progress line shows of it. Returns each contender's counted samples and the result
/// they were checked against.
pub fn rounds(
    setup: &Setup,
    contenders: &[Contender],
    table: &Table,
    runs: usize,
    mut expected: Option<Results>,
    describe: impl Fn(&Contender, &Sample) -> anyhow::Result<String>,
) -> anyhow::Result<(Vec<Vec<Sample>>, Results)> {
    let query = table.workload.query;
    let mut counted: Vec<Vec<Sample>> = contenders.iter().map(|_| Vec::new()).collect();
    for round in 0..runs + 1 {
        let mut progress = Vec::new();
        for (contender, counted) in contenders.iter().zip(&mut counted) {
            let (sample, results) =
                contender.run(setup, table).with_context(|| format!("{} failed", contender.label))?;
            match &expected {
                Some(expected) => check(query, expected, &results)
                    .with_context(|| format!("{} gave a wrong result for {}", contender.label, query.name))?,
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
