//! One table of a benchmark: a workload run by every contender in turns on fresh loopback
//! clusters, each result checked, and the medians printed as a Markdown table.

use crate::cluster::{EXECUTOR_SLOTS, EXECUTORS, Watcher, start_cluster};
use crate::contender::{Contender, Engine, Setup, Table, Workload, rounds};
use crate::median;
use crate::results::Results;
use anyhow::Context;
use std::time::Duration;

/// One contender's counted runs.
struct Runs {
    walls: Vec<Duration>,
    /// The largest peak RSS of its process, in KiB.
    rss_kib: u64,
}

/// Runs `workload` over `rows` lines with every contender, `runs` counted rounds after a
/// warm-up, each result checked against the first contender's; prints the table under the line
/// `heading` makes of that result. The cluster contenders get a cluster of [`EXECUTORS`]
/// executors of [`EXECUTOR_SLOTS`] slot each, started for the table (a second one, watched, if a
/// contender wants it). The table has a column of ratios to the native contender if there is
/// one, and to `flicker run`.
pub fn compare(
    setup: &Setup,
    contenders: &[Contender],
    workload: &Workload,
    rows: u64,
    runs: usize,
    heading: impl FnOnce(&Results) -> String,
) -> anyhow::Result<()> {
    eprintln!(
        "{} on {rows} lines: starting a scheduler and {EXECUTORS} executors of {EXECUTOR_SLOTS} slot on 127.0.0.1",
        workload.query.name
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
    let table = Table { workload, cluster: &cluster, watched: watched.as_ref() };

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
    let native = median_of(|e| matches!(e, Engine::Native));
    let flicker_run = median_of(|e| matches!(e, Engine::FlickerRun)).context("no flicker run contender")?;
    println!("{}", heading(&expected));
    let to_native_heading = if native.is_some() { " ratio to native |" } else { "" };
    let to_native_rule = if native.is_some() { "---:|" } else { "" };
    println!("| contender | wall | M rows/s | peak RSS |{to_native_heading} ratio to flicker run |");
    println!("|---|---:|---:|---:|{to_native_rule}---:|");
    for ((contender, runs), median) in contenders.iter().zip(&counted).zip(&medians) {
        let seconds = median.as_secs_f64();
        let rss = match contender.engine {
            Engine::Cluster => format!("{} MiB ¹", cluster_rss_kib / 1024),
            Engine::WatchedCluster => "—".to_owned(),
            _ => format!("{} MiB", runs.rss_kib / 1024),
        };
        let to_native = match native {
            Some(native) => format!(" {:.2} |", seconds / native.as_secs_f64()),
            None => String::new(),
        };
        let to_flicker = match contender.engine {
            Engine::Native => String::new(),
            _ => format!("{:.2}", seconds / flicker_run.as_secs_f64()),
        };
        println!(
            "| {} | {seconds:.2} s | {:.1} | {rss} |{to_native} {to_flicker} |",
            contender.label,
            rows as f64 / seconds / 1e6,
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
