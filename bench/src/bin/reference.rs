//! The reference job (parse `station;temperature`, group by station, max) on generated lines:
//! `flicker run` next to a plain single-threaded native Rust program, alternating, median of the
//! runs, whole processes (page cache warm).
//!
//! `reference [ROWS] [RUNS]` (defaults 10,000,000 and 3). `reference native FILE` is the native
//! contender itself.

use flicker_bench::{median, write_weather};
use std::collections::HashMap;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

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
        command = wrapped;
    }
    let started = Instant::now();
    let output = command.stdout(std::process::Stdio::null()).output()?;
    let elapsed = started.elapsed();
    anyhow::ensure!(
        output.status.success(),
        "{command:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let rss = std::fs::read_to_string(&rss_file).ok().and_then(|s| s.trim().lines().last()?.parse().ok());
    Ok((elapsed, rss))
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

    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data").join(format!("weather-{rows}"));
    std::fs::create_dir_all(&dir)?;
    let data = dir.join("readings.txt");
    if !data.exists() {
        eprintln!("generating {rows} lines into {}", data.display());
        write_weather(&dir.join("readings.tmp"), rows, 413)?;
        std::fs::rename(dir.join("readings.tmp"), &data)?;
    }
    let job = dir.join("job.toml");
    std::fs::write(&job, manifest())?;
    let workers = std::thread::available_parallelism().map_or(2, usize::from).to_string();

    let mut native_runs = Vec::new();
    let mut flicker_runs = Vec::new();
    let (mut native_rss, mut flicker_rss) = (0, 0);
    for run in 0..runs + 1 {
        let mut command = Command::new(&me);
        command.arg("native").arg(&data);
        let (native_time, rss) = measure(command)?;
        let mut command = Command::new(&flicker);
        command.arg("run").arg(&job).arg("--workers").arg(&workers);
        let (flicker_time, frss) = measure(command)?;
        // The first round warms the page cache and the component cache; it is not counted.
        if run > 0 {
            native_runs.push(native_time);
            flicker_runs.push(flicker_time);
            native_rss = native_rss.max(rss.unwrap_or(0));
            flicker_rss = flicker_rss.max(frss.unwrap_or(0));
        }
    }
    let native_median = median(native_runs);
    let flicker_median = median(flicker_runs);
    let per_second = |d: Duration| rows as f64 / d.as_secs_f64() / 1e6;
    println!("reference job, {rows} lines, median of {runs} runs (page cache warm)");
    println!("| contender | wall | M rows/s | peak RSS | ratio to native |");
    println!("|---|---:|---:|---:|---:|");
    println!(
        "| native Rust, 1 thread | {:.2} s | {:.1} | {} MiB | 1.00 |",
        native_median.as_secs_f64(),
        per_second(native_median),
        native_rss / 1024
    );
    println!(
        "| flicker run, {workers} workers | {:.2} s | {:.1} | {} MiB | {:.2} |",
        flicker_median.as_secs_f64(),
        per_second(flicker_median),
        flicker_rss / 1024,
        flicker_median.as_secs_f64() / native_median.as_secs_f64()
    );
    Ok(())
}
