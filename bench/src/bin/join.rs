//! Joins on generated weather readings (issue 19), two jobs, each a table:
//!
//! - `country`: the readings joined with their stations table (`std:join`, inner, on `station`;
//!   the table from `flicker-gen`, every station once with its city's country), then the highest
//!   temperature per country (`std:key-by` country, `std:max`). A large side (the readings) with
//!   a small one (413 stations), both sides shuffled.
//! - `country-broadcast`: the same with `broadcast = "right"`: the stations table is read whole by
//!   every task reading readings, which joins them where it reads them (no shuffle of the
//!   readings before the aggregate). The peers run the same query again.
//! - `self-join`: the readings semi-joined with the readings above 20 °C on `station` and
//!   `temperature` (`std:filter`, `std:join` with `how = "semi"`), then the readings kept per
//!   station (`std:count`): a self-join whose two sides are both large shuffles (all the
//!   readings, and about a third of them), read from the same file.
//!
//! Contenders, taking turns each round as in `reference` (whose harness this shares): `flicker
//! run`, `flicker submit --wait` to a loopback cluster of three executors of one slot, and
//! DuckDB and Polars when `bench/peers.sh` has installed them (`bench/peers.py` runs the same
//! queries on the same files, with every core). Each run's result is checked against `flicker
//! run`'s first one; the table gives the median of the runs, wall time of whole processes, page
//! cache warm. The readings are `reference`'s (kept under `bench/data`), the stations table is
//! generated beside them.
//!
//! `join [LINES] [RUNS]` (defaults 10000000 and 3; LINES may be a comma-separated list).

use anyhow::Context;
use flicker_bench::cluster::{EXECUTOR_SLOTS, EXECUTORS};
use flicker_bench::compare::compare;
use flicker_bench::contender::{Contender, Setup, Workload};
use flicker_bench::data::{self, STATIONS};
use flicker_bench::results::Query;
use std::path::Path;

/// Line counts when none are given.
const DEFAULT_LINES: u64 = 10_000_000;
/// The shuffle partitions of the join and of the aggregate after it, as the reference job has.
const PARTITIONS: u32 = 4;

/// The benchmarked joins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Join {
    /// Readings ⋈ stations, the highest temperature per country.
    Country,
    /// The same, the stations broadcast.
    CountryBroadcast,
    /// Readings ⋉ readings above 20 °C, the readings kept per station.
    WarmSemi,
}

impl Join {
    const ALL: [Join; 3] = [Join::Country, Join::CountryBroadcast, Join::WarmSemi];

    /// The name of its manifest and output.
    fn name(self) -> &'static str {
        match self {
            Join::Country => "country",
            Join::CountryBroadcast => "country-broadcast",
            Join::WarmSemi => "self-join",
        }
    }

    /// What it computes; its name is `bench/peers.py`'s for it.
    fn query(self) -> Query {
        match self {
            Join::Country | Join::CountryBroadcast => {
                Query { name: "country", key: "country", columns: &["max"] }
            }
            Join::WarmSemi => Query { name: "self-join", key: "station", columns: &["count"] },
        }
    }

    /// What the table's heading says it does.
    fn describe(self) -> &'static str {
        match self {
            Join::Country => "readings ⋈ stations (inner, on station) → `std:max` temperature per country",
            Join::CountryBroadcast => {
                "readings ⋈ stations broadcast (inner, on station) → `std:max` temperature per country"
            }
            Join::WarmSemi => {
                "readings ⋉ readings above 20 °C (semi, on station and temperature) → `std:count` per station"
            }
        }
    }

    /// The files the peers read: the readings, and the stations table if it joins it.
    fn inputs(self, readings: &Path, stations: &Path) -> Vec<std::path::PathBuf> {
        match self {
            Join::Country | Join::CountryBroadcast => vec![readings.to_owned(), stations.to_owned()],
            Join::WarmSemi => vec![readings.to_owned()],
        }
    }

    /// The manifest, reading `readings.txt` (and `stations.txt`) beside it and writing
    /// `out-NAME/`.
    fn manifest(self) -> String {
        let name = self.name();
        let broadcast = if self == Join::CountryBroadcast { "right" } else { "none" };
        let (sources, steps) = match self {
            Join::Country | Join::CountryBroadcast => (
                r#"
[[source]]
id = "station-list"
url = "stations.txt"
format = "lines"
"#,
                format!(
                    r#"
[[step]]
id = "stations"
input = "station-list"
plugin = "std:parse-csv"
config = {{ delimiter = ";", schema = "station:string,country:string" }}

[[step]]
id = "joined"
input = ["parse", "stations"]
plugin = "std:join"
partitions = {PARTITIONS}
config = {{ on = "station", how = "inner", broadcast = "{broadcast}" }}

[[step]]
id = "by-country"
input = "joined"
plugin = "std:key-by"
config = {{ fields = "country" }}

[[step]]
id = "result"
input = "by-country"
plugin = "std:max"
partitions = {PARTITIONS}
config = {{ field = "temperature" }}
"#
                ),
            ),
            Join::WarmSemi => (
                "",
                format!(
                    r#"
[[step]]
id = "warm"
input = "parse"
plugin = "std:filter"
config = {{ predicate = "temperature > 20" }}

[[step]]
id = "joined"
input = ["parse", "warm"]
plugin = "std:join"
partitions = {PARTITIONS}
config = {{ on = "station,temperature", how = "semi", broadcast = "none" }}

[[step]]
id = "by-station"
input = "joined"
plugin = "std:key-by"
config = {{ fields = "station" }}

[[step]]
id = "result"
input = "by-station"
plugin = "std:count"
partitions = {PARTITIONS}
"#
                ),
            ),
        };
        format!(
            r#"# Written by bench/src/bin/join.rs.
name = "{name}"

[[source]]
id = "readings"
url = "readings.txt"
format = "lines"
{sources}
[[step]]
id = "parse"
input = "readings"
plugin = "std:parse-csv"
config = {{ delimiter = ";", schema = "station:string,temperature:f64" }}
{steps}
[[sink]]
id = "out"
input = "result"
url = "out-{name}/"
mode = "overwrite"
plugin = "std:format-csv"
"#
        )
    }
}

fn main() -> anyhow::Result<()> {
    let usage = "usage: join [LINES[,LINES…]] [RUNS]";
    let args: Vec<String> = std::env::args().skip(1).collect();
    anyhow::ensure!(args.len() <= 2, "{usage}");
    let sizes = match args.first() {
        Some(sizes) => data::line_counts(sizes).context(usage)?,
        None => vec![DEFAULT_LINES],
    };
    let runs: usize = args.get(1).map_or(Ok(3), |a| a.parse()).context(usage)?;
    anyhow::ensure!(runs > 0, "{usage}: RUNS must be at least 1");
    let workers = std::thread::available_parallelism().map_or(2, usize::from);
    let setup = Setup::new(workers)?;

    // Every data file first, so that generating one does not disturb the runs of another.
    let files = sizes
        .iter()
        .map(|&rows| {
            let readings = data::readings(&setup.data_dir, rows, STATIONS)?;
            let stations = data::stations_table(&readings, STATIONS)?;
            Ok((rows, readings, stations))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;

    let mut contenders = vec![Contender::flicker_run(&setup), Contender::cluster(EXECUTORS, EXECUTOR_SLOTS)];
    let (peers, installed) = Contender::peers(&setup);
    println!("{installed}\n");
    contenders.extend(peers);

    for (rows, readings, stations) in files {
        let dir = readings.parent().context("the data file has a directory")?;
        for join in Join::ALL {
            let query = join.query();
            let manifest = dir.join(format!("{}.toml", join.name()));
            std::fs::write(&manifest, join.manifest())?;
            let out = dir.join(format!("out-{}", join.name()));
            let workload = Workload { query, inputs: join.inputs(&readings, &stations), manifest, out };
            compare(&setup, &contenders, &workload, rows, runs, |expected| {
                format!(
                    "join `{}`: {}, {rows} lines, {} rows out (one per {}), median of {runs} runs (page cache warm)",
                    join.name(),
                    join.describe(),
                    expected.len(),
                    query.key,
                )
            })?;
        }
    }
    Ok(())
}
