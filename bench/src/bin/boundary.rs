//! Records per second across the host/guest boundary, by batch size: a trivial map (the test
//! plugin's `echo`) and `std:max`, each next to the same logic in native Rust in the same run.

use flicker_batch::{BatchWriter, Schema, ValueRef};
use flicker_bench::{Rng, time};
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
                batch.push_values([ValueRef::Str(name)], [ValueRef::F64(rng.below(2000) as f64 / 10.0 - 100.0)]);
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
    Ok(())
}
