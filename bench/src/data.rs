//! The benchmarks' data: weather readings and their stations table from `flicker-gen`,
//! generated once into `bench/data` and kept.

use anyhow::Context;
use flicker_gen::Weather;
use flicker_storage::Location;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Stations of the generated data unless a benchmark says otherwise, as the One Billion Row
/// Challenge has.
pub const STATIONS: usize = 413;

/// The file of `rows` readings of `stations` stations (seed 7) in `data_dir`, generated if it is
/// not there yet. Its directory is named after the generator, so data from an older one is not
/// reused, and holds nothing else of another data set: manifests and outputs of jobs over it may
/// go beside it.
pub fn readings(data_dir: &Path, rows: u64, stations: usize) -> anyhow::Result<PathBuf> {
    let dir = match stations {
        STATIONS => data_dir.join(format!("flicker-gen-weather-{rows}")),
        stations => data_dir.join(format!("flicker-gen-weather-{rows}-{stations}")),
    };
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("readings.txt");
    if !path.exists() {
        eprintln!("generating {rows} lines of {stations} stations into {}", path.display());
        generate(&path, rows, stations)?;
    }
    Ok(path)
}

/// Writes `rows` readings of `stations` stations, seed 7, to `path`, which appears only once
/// complete.
pub fn generate(path: &Path, rows: u64, stations: usize) -> anyhow::Result<()> {
    let weather = Arc::new(Weather::new(stations, 7)?);
    runtime()?.block_on(flicker_gen::write(&weather, rows, &location(path)?))?;
    Ok(())
}

/// Line counts from the command line: `10000000,50000000`, `10_000_000`.
pub fn line_counts(arg: &str) -> anyhow::Result<Vec<u64>> {
    arg.split(',')
        .map(|size| size.replace('_', "").parse().with_context(|| format!("bad line count {size:?}")))
        .collect()
}

/// The stations table (`station;country`) of the readings `readings` of `stations` stations,
/// beside them, generated if it is not there yet.
pub fn stations_table(readings: &Path, stations: usize) -> anyhow::Result<PathBuf> {
    let path = readings.with_file_name("stations.txt");
    if !path.exists() {
        runtime()?.block_on(flicker_gen::write_stations(stations, &location(&path)?))?;
    }
    Ok(path)
}

/// The object at the local `path`, which appears only once complete.
fn location(path: &Path) -> anyhow::Result<Location> {
    Ok(Location::parse(path.to_str().context("the data path is not UTF-8")?, Path::new("/"))?)
}

fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build()
}
