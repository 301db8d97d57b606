//! How long an operator instance of a component already compiled and cached takes to create
//! (`Plugin::parse`/`aggregate`/`format`: a fresh store with WASI and limits, instantiated from the
//! pre-instantiated component, then the operator's `create`): what every task pays per operator.
//! Usage: `instantiate [COUNT]` (default 10,000 per operator).

use flicker_bench::{median, time};
use flicker_host::{Limits, Runtime, RuntimeConfig};
use std::time::Duration;

fn main() -> anyhow::Result<()> {
    let count: usize = std::env::args().nth(1).map_or(Ok(10_000), |a| a.replace('_', "").parse())?;
    let cache = std::env::temp_dir().join("flicker-bench-components");
    let runtime = Runtime::new(RuntimeConfig { cache_dir: Some(cache), ..Default::default() })?;
    let plugin = |name: &str| runtime.load(flicker_plugins::std_plugin(name).expect("an embedded operator"));
    let (parse, max, format) = (plugin("std:parse-csv")?, plugin("std:max")?, plugin("std:format-csv")?);
    let config = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    };
    let parse_config =
        config(&[("delimiter", ";"), ("schema", "station:string,temperature:f64"), ("key", "station")]);
    let max_config = config(&[("field", "temperature")]);
    let limits = Limits::default();
    println!("instantiation of a cached component, {count} each (median / mean):");
    let report = |name: &str, create: &dyn Fn() -> anyhow::Result<()>| -> anyhow::Result<()> {
        create()?; // warm up
        let mut samples = Vec::with_capacity(count);
        for _ in 0..count {
            let (created, took) = time(create);
            created?;
            samples.push(took);
        }
        let mean = samples.iter().sum::<Duration>() / count as u32;
        println!("  {name:<16} {:>7.1} µs / {:>7.1} µs", micros(median(samples)), micros(mean));
        Ok(())
    };
    report("std:parse-csv", &|| parse.parse(&parse_config, limits).map(drop).map_err(Into::into))?;
    report("std:max", &|| max.aggregate(&max_config, limits).map(drop).map_err(Into::into))?;
    report("std:format-csv", &|| format.format(&[], limits).map(drop).map_err(Into::into))?;
    Ok(())
}

fn micros(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e6
}
