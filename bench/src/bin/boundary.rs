//! Records per second across the host/guest boundary, by batch size: a trivial map (the test
//! plugin's `echo`) and `std:max`, each next to the same logic in native Rust in the same run.

use flicker_batch::{BatchWriter, Schema, ValueRef};
use flicker_bench::time;
use flicker_gen::{Rng, Weather};
use flicker_guest::Aggregate;
use flicker_host::{Limits, Runtime, RuntimeConfig};
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

fn rate(rows: usize, elapsed: Duration) -> String {
    format!("{:.1}", rows as f64 / elapsed.as_secs_f64() / 1e6)
}

fn config(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn main() -> anyhow::Result<()> {
    let cache = std::env::temp_dir().join("flicker-bench-cache");
    let runtime = Runtime::new(RuntimeConfig { cache_dir: Some(cache), ..Default::default() })?;
    let echo = runtime.load(&std::fs::read(flicker_plugins::guest_artifact("flicker-test-plugin"))?)?;
    let max = runtime.load(flicker_plugins::std_plugin("std:max").expect("std:max is embedded"))?;
    let max_config = config(&[("field", "temperature")]);
    println!("records/s across the boundary, millions (higher is better)");
    println!("| batch size | identity map: wasm | identity map: native | std:max: wasm | std:max: native |");
    println!("|---:|---:|---:|---:|---:|");
    for size in [1, 100, 1_000, 10_000] {
        let total = if size == 1 { 200_000 } else { 4_000_000 };
        let input = batches(total, size);

        let mut map = echo.map(&config(&[("behave", "echo")]), Limits::default())?;
        let ((), wasm_map) = time(|| input.iter().for_each(|b| drop(map.map(b).expect("echo"))));
        let ((), native_map) = time(|| input.iter().for_each(|b| drop(std::hint::black_box(b.to_vec()))));

        let mut aggregate = max.aggregate(&max_config, Limits::default())?;
        let ((), wasm_max) = time(|| {
            input.iter().for_each(|b| aggregate.update(b).expect("update"));
            drop(aggregate.finish().expect("finish"));
        });
        let mut native = flicker_std_ops::Max::new(&flicker_guest::Config::new(max_config.clone()))
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let ((), native_max) = time(|| {
            input.iter().for_each(|b| native.update(b).expect("update"));
            drop(native.finish().expect("finish"));
        });
        println!(
            "| {size} | {} | {} | {} | {} |",
            rate(total, wasm_map),
            rate(total, native_map),
            rate(total, wasm_max),
            rate(total, native_max)
        );
    }
    println!();
    operators(&runtime)?;
    Ok(())
}

/// Each operator of the reference job on the same 1 MiB chunks of `station;temperature` lines,
/// in the sandbox and natively: where the time of the reference job goes.
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

    let mut parse = runtime
        .load(flicker_plugins::std_plugin("std:parse-csv").unwrap())?
        .parse(&parse_config, Limits::default())?;
    let (parsed, wasm_parse) =
        time(|| chunks.iter().map(|c| parse.parse(c).expect("parse").rows).collect::<Vec<_>>());
    let mut native_parse =
        <flicker_std_ops::ParseCsv as flicker_guest::Parse>::new(&native(&parse_config)).map_err(fail)?;
    let ((), native_parse_time) = time(|| {
        chunks.iter().for_each(|c| drop(flicker_guest::Parse::parse(&mut native_parse, c).expect("parse")))
    });

    let mut key_by = runtime
        .load(flicker_plugins::std_plugin("std:key-by").unwrap())?
        .map(&key_config, Limits::default())?;
    let (keyed, wasm_key) =
        time(|| parsed.iter().map(|b| key_by.map(b).expect("key-by")).collect::<Vec<_>>());
    let mut native_key =
        <flicker_std_ops::KeyBy as flicker_guest::Map>::new(&native(&key_config)).map_err(fail)?;
    let ((), native_key_time) = time(|| {
        parsed.iter().for_each(|b| drop(flicker_guest::Map::map(&mut native_key, b).expect("key-by")))
    });

    let mut max = runtime
        .load(flicker_plugins::std_plugin("std:max").unwrap())?
        .aggregate(&max_config, Limits::default())?;
    let ((), wasm_max) = time(|| keyed.iter().for_each(|b| max.update(b).expect("max")));
    let mut native_max = flicker_std_ops::Max::new(&native(&max_config)).map_err(fail)?;
    let ((), native_max_time) = time(|| keyed.iter().for_each(|b| native_max.update(b).expect("max")));

    println!("the reference job's operators on 1 MiB chunks, millions of rows/s");
    println!("| operator | wasm | native |");
    println!("|---|---:|---:|");
    println!("| std:parse-csv | {} | {} |", rate(rows, wasm_parse), rate(rows, native_parse_time));
    println!("| std:key-by | {} | {} |", rate(rows, wasm_key), rate(rows, native_key_time));
    println!("| std:max update | {} | {} |", rate(rows, wasm_max), rate(rows, native_max_time));
    Ok(())
}
