//! Records per second across the host/guest boundary, by batch size: a trivial map (the test
//! plugin's `echo`) and `std:max`, each next to the same logic in native Rust in the same run;
//! then the reference job's operators one by one on 1 MiB chunks, the fused kernel of its map side
//! (`std:parse-csv` keyed and combining `max` or `stats`) among them, in the sandbox and natively,
//! with their ratio (the partials of both are checked to be the same).
//!
//! `boundary operators` runs only the second part, the reference job's operators;
//! `boundary batches` only the first, by batch size.
//!
//! `FLICKER_BENCH_WASM_DIR=DIR` takes `std:parse-csv` and `std:max` from `DIR/std_parse_csv.wasm`
//! and `DIR/std_max.wasm` instead of the embedded ones: builds that kept their function names, to
//! profile with `FLICKER_PERFMAP=1` (docs/PERFORMANCE.md, "Profiling an operator in the sandbox").

use anyhow::Context as _;
use flicker_batch::{BatchWriter, Schema, ValueRef};
use flicker_bench::time;
use flicker_gen::{Rng, Weather};
use flicker_guest::Aggregate;
use flicker_host::{Limits, Plugin, Runtime, RuntimeConfig};
use std::time::Duration;

/// Batches of `total` keyed rows, `size` rows each: a 10-byte key, one f64 value.
fn batches(total: usize, size: usize) -> Vec<Vec<u8>> {
    let schema = Schema::keyed(["station"], ["temperature"]);
    let mut rng = Rng::new(3);
    let names: Vec<String> = (0..1000).map(|i| format!("s{i:04}")).collect();
    (0..total.div_ceil(size))
        .map(|_| {
            let mut batch = BatchWriter::with_capacity(&schema, size * 27);
            for _ in 0..size {
                let name = &names[rng.below(names.len() as u64) as usize];
                batch.push_values(
                    [ValueRef::Str(name)],
                    [ValueRef::F64(rng.below(2000) as f64 / 10.0 - 100.0)],
                );
            }
            batch.finish()
        })
        .collect()
}

/// The component of `std:NAME`: the embedded one, or, for profiling with names,
/// `$FLICKER_BENCH_WASM_DIR/std_NAME.wasm` (a build that kept them; docs/PERFORMANCE.md).
fn plugin(name: &str) -> Vec<u8> {
    match std::env::var_os("FLICKER_BENCH_WASM_DIR") {
        Some(dir) => {
            let path = std::path::Path::new(&dir).join(format!("std_{}.wasm", name.replace('-', "_")));
            std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
        }
        None => flicker_plugins::std_plugin(&format!("std:{name}")).expect("a standard operator").to_vec(),
    }
}

fn rate(rows: usize, elapsed: Duration) -> String {
    format!("{:.1}", rows as f64 / elapsed.as_secs_f64() / 1e6)
}

fn config(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// Rounds each contender is timed in, taking turns with the other. Each figure is the fastest
/// round: the work is the same in every round, and what a noisy machine adds (another process
/// taking the core, a page fault) only ever adds time.
const ROUNDS: usize = 7;

/// The fastest times of `wasm` and `native`, run [`ROUNDS`] times each, taking turns.
fn alternate(mut wasm: impl FnMut(), mut native: impl FnMut()) -> (Duration, Duration) {
    let (mut wasm_best, mut native_best) = (Duration::MAX, Duration::MAX);
    for _ in 0..ROUNDS {
        wasm_best = wasm_best.min(time(&mut wasm).1);
        native_best = native_best.min(time(&mut native).1);
    }
    (wasm_best, native_best)
}

fn main() -> anyhow::Result<()> {
    let cache = std::env::temp_dir().join("flicker-bench-cache");
    let runtime = Runtime::new(RuntimeConfig { cache_dir: Some(cache), ..Default::default() })?;
    let echo = runtime.load(&std::fs::read(flicker_plugins::guest_artifact("flicker-test-plugin"))?)?;
    let max = runtime.load(&plugin("max"))?;
    let max_config = config(&[("field", "temperature")]);
    match std::env::args().nth(1).as_deref() {
        None => {
            by_batch_size(&echo, &max, &max_config)?;
            println!();
            operators(&runtime)
        }
        Some("batches") => by_batch_size(&echo, &max, &max_config),
        Some("operators") => operators(&runtime),
        Some(other) => anyhow::bail!("unknown part `{other}`: `batches`, `operators`, or none for both"),
    }
}

/// The identity map and `std:max` on batches of 1 to 10,000 rows, in the sandbox and natively.
fn by_batch_size(echo: &Plugin, max: &Plugin, max_config: &[(String, String)]) -> anyhow::Result<()> {
    println!("records/s across the boundary, millions (higher is better; fastest of {ROUNDS} rounds)");
    println!(
        "| batch size | identity map: wasm | identity map: native | std:max: wasm | std:max: native | std:max: wasm / native |"
    );
    println!("|---:|---:|---:|---:|---:|---:|");
    for size in [1, 100, 1_000, 10_000] {
        let total = if size == 1 { 200_000 } else { 4_000_000 };
        let input = batches(total, size);

        let mut map = echo.map(&config(&[("behave", "echo")]), Limits::default())?;
        let (wasm_map, native_map) = alternate(
            || input.iter().for_each(|b| drop(map.map(b).expect("echo"))),
            || input.iter().for_each(|b| drop(std::hint::black_box(b.to_vec()))),
        );

        let (wasm_max, native_max) =
            max_update(max, max_config, &input).with_context(|| format!("batches of {size}"))?;
        println!(
            "| {size} | {} | {} | {} | {} | {:.2} |",
            rate(total, wasm_map),
            rate(total, native_map),
            rate(total, wasm_max),
            rate(total, native_max),
            native_max.as_secs_f64() / wasm_max.as_secs_f64()
        );
    }
    Ok(())
}

/// Each operator of the reference job on the same 1 MiB chunks of `station;temperature` lines,
/// in the sandbox and natively: where the time of the reference job goes. Each operator's output
/// in the sandbox is checked against its native output.
fn operators(runtime: &Runtime) -> anyhow::Result<()> {
    let rows = 2_000_000;
    let mut text = Vec::new();
    Weather::new(413, 7)?.lines(0).write(rows, &mut text);
    let mut chunks = Vec::new();
    let mut rest = &text[..];
    while !rest.is_empty() {
        let cut =
            rest[..rest.len().min(1 << 20)].iter().rposition(|&b| b == b'\n').map_or(rest.len(), |i| i + 1);
        chunks.push(&rest[..cut]);
        rest = &rest[cut..];
    }
    let parse_config = config(&[("delimiter", ";"), ("schema", "station:string,temperature:f64")]);
    let key_config = config(&[("fields", "station")]);
    let max_config = config(&[("field", "temperature")]);
    let native = |pairs: &Vec<(String, String)>| flicker_guest::Config::new(pairs.clone());
    let fail = |e: flicker_guest::Error| anyhow::anyhow!("{e}");

    println!(
        "the reference job's operators on 1 MiB chunks, millions of rows/s (one core; fastest of {ROUNDS} rounds)"
    );
    println!("| operator | wasm | native | wasm / native |");
    println!("|---|---:|---:|---:|");
    let row = |name: &str, (wasm, native): (Duration, Duration)| {
        let ratio = native.as_secs_f64() / wasm.as_secs_f64();
        println!("| {name} | {} | {} | {ratio:.2} |", rate(rows, wasm), rate(rows, native));
    };

    let (times, parsed, native_parsed) = parse(runtime, &parse_config, &chunks)?;
    anyhow::ensure!(parsed == native_parsed, "std:parse-csv's rows differ between wasm and native");
    row("std:parse-csv", times);

    let mut key_by = runtime
        .load(flicker_plugins::std_plugin("std:key-by").unwrap())?
        .map(&key_config, Limits::default())?;
    let mut native_key =
        <flicker_std_ops::KeyBy as flicker_guest::Map>::new(&native(&key_config)).map_err(fail)?;
    let (mut keyed, mut native_keyed) = (Vec::new(), Vec::new());
    let times = alternate(
        || keyed = parsed.iter().map(|b| key_by.map(b).expect("key-by")).collect(),
        || {
            native_keyed =
                parsed.iter().map(|b| flicker_guest::Map::map(&mut native_key, b).expect("key-by")).collect()
        },
    );
    anyhow::ensure!(keyed == native_keyed, "std:key-by's rows differ between wasm and native");
    row("std:key-by", times);

    row("std:max update", max_update(&*runtime.load(&plugin("max"))?, &max_config, &keyed)?);

    // The fused kernel: the parser keyed by station, folding each line into the aggregate's
    // per-key state as the reference job's map tasks run it, one chunk's partials per call.
    for aggregate in ["max", "stats"] {
        let combine = format!("{aggregate}:temperature");
        let fused_config =
            [parse_config.clone(), config(&[("key", "station"), ("combine", &combine)])].concat();
        let (times, wasm_partials, native_partials) = parse(runtime, &fused_config, &chunks)?;
        anyhow::ensure!(
            sorted_rows(&wasm_partials) == sorted_rows(&native_partials),
            "the fused {aggregate} kernel's partials differ between wasm and native"
        );
        row(&format!("fused parse + {aggregate} (key, combine)"), times);
    }
    Ok(())
}

/// What an operator returned, batch by batch.
type Batches = Vec<Vec<u8>>;

/// `std:parse-csv` with `config` parsing every chunk, in the sandbox and natively: their fastest
/// times, and the rows (or partials) each returned in its last round.
fn parse(
    runtime: &Runtime,
    config: &[(String, String)],
    chunks: &[&[u8]],
) -> anyhow::Result<((Duration, Duration), Batches, Batches)> {
    let mut wasm = runtime.load(&plugin("parse-csv"))?.parse(config, Limits::default())?;
    let mut native = <flicker_std_ops::ParseCsv as flicker_guest::Parse>::new(&flicker_guest::Config::new(
        config.to_vec(),
    ))
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    let (mut wasm_rows, mut native_rows) = (Vec::new(), Vec::new());
    let times = alternate(
        || wasm_rows = chunks.iter().map(|c| wasm.parse(c).expect("parse").rows).collect(),
        || {
            native_rows = chunks
                .iter()
                .map(|c| flicker_guest::Parse::parse(&mut native, c).expect("parse").rows)
                .collect()
        },
    );
    Ok((times, wasm_rows, native_rows))
}

/// `std:max` folding every batch of `input` into its per-key state, in the sandbox and natively,
/// each round then taking the partials out (so every round does the same work): their fastest
/// times. Their partials must be the same.
fn max_update(
    max: &Plugin,
    config: &[(String, String)],
    input: &[Vec<u8>],
) -> anyhow::Result<(Duration, Duration)> {
    let mut wasm = max.aggregate(config, Limits::default())?;
    let mut native = flicker_std_ops::Max::new(&flicker_guest::Config::new(config.to_vec()))
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let (mut wasm_out, mut native_out) = (Vec::new(), Vec::new());
    let times = alternate(
        || {
            input.iter().for_each(|b| wasm.update(b).expect("update"));
            wasm_out = wasm.partials().expect("partials");
        },
        || {
            input.iter().for_each(|b| native.update(b).expect("update"));
            native_out = native.partials().expect("partials");
        },
    );
    anyhow::ensure!(
        sorted_rows(&[wasm_out]) == sorted_rows(&[native_out]),
        "std:max's partials differ between wasm and native"
    );
    Ok(times)
}

/// Every row of `batches`, framed, sorted: the same partials whatever order the keys came in.
fn sorted_rows(batches: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let mut rows: Vec<Vec<u8>> = batches
        .iter()
        .flat_map(|batch| {
            let reader = flicker_batch::BatchReader::new(batch).expect("a batch");
            reader.rows().map(|row| row.expect("a row").framed.to_vec()).collect::<Vec<_>>()
        })
        .collect();
    rows.sort();
    rows
}
