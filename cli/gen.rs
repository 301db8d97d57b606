//! `flicker gen`: test data written to a storage location, the same bytes from the same
//! arguments on every machine.

use crate::config::ConfigFileArgs;
use crate::run::start_tokio;
use anyhow::Context;
use flicker_gen::{Weather, Written, write, write_stations};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

#[derive(clap::Subcommand)]
pub enum GenCommand {
    /// Weather readings, lines `station;temperature` as in the One Billion Row Challenge: real
    /// city names (multi-byte UTF-8 among them), temperatures normally distributed around each
    /// city's mean, one decimal, within ±99.9. The same --rows, --stations and --seed give the
    /// same bytes on every machine.
    Weather(WeatherArgs),
    /// The stations table of weather readings, lines `station;country`: every station that
    /// `flicker gen weather` with the same --stations draws from, once, with the country of its
    /// city, to join the readings with. The same --stations give the same bytes.
    Stations(StationsArgs),
}

#[derive(clap::Args)]
pub struct WeatherArgs {
    /// How many lines to write (0 writes an empty object).
    #[arg(long)]
    rows: u64,
    /// The object to write: a path, or a `file://`, `s3://` or `gs://` URL; relative paths are
    /// resolved against the current directory, missing directories created. A name ending in
    /// `.gz` or `.zst` is compressed.
    #[arg(long)]
    out: String,
    /// How many stations: the first K built-in cities, then numbered variants of them
    /// (`Zürich-2`, ...).
    #[arg(long, default_value_t = 400)]
    stations: usize,
    /// The seed of the random readings.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    #[command(flatten)]
    file: ConfigFileArgs,
}

#[derive(clap::Args)]
pub struct StationsArgs {
    /// The object to write, as for `flicker gen weather --out`.
    #[arg(long)]
    out: String,
    /// How many stations, as for `flicker gen weather --stations`.
    #[arg(long, default_value_t = 400)]
    stations: usize,
    #[command(flatten)]
    file: ConfigFileArgs,
}

pub fn run(command: GenCommand) -> anyhow::Result<ExitCode> {
    match command {
        GenCommand::Weather(args) => weather(args),
        GenCommand::Stations(args) => stations(args),
    }
}

fn weather(args: WeatherArgs) -> anyhow::Result<ExitCode> {
    let weather =
        Weather::new(args.stations, args.seed).with_context(|| format!("--stations {}", args.stations))?;
    let out = crate::files::location(&args.out, &args.file)?;
    let started = Instant::now();
    let written = start_tokio()?.block_on(write(&Arc::new(weather), args.rows, &out))?;
    report(&written, &out, started);
    Ok(ExitCode::SUCCESS)
}

fn stations(args: StationsArgs) -> anyhow::Result<ExitCode> {
    let out = crate::files::location(&args.out, &args.file)?;
    let started = Instant::now();
    let written = start_tokio()?
        .block_on(write_stations(args.stations, &out))
        .with_context(|| format!("--stations {}", args.stations))?;
    report(&written, &out, started);
    Ok(ExitCode::SUCCESS)
}

/// Says on stderr what was written where, and how fast.
fn report(written: &Written, out: &flicker_storage::Location, started: Instant) {
    let seconds = started.elapsed().as_secs_f64();
    eprintln!(
        "wrote {} rows, {} bytes ({} stored) to {} in {seconds:.2} s: {:.1} M lines/s",
        written.rows,
        written.bytes,
        written.stored_bytes,
        out.url(),
        written.rows as f64 / seconds / 1e6
    );
}
