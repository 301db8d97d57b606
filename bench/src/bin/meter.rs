//! What metering operator calls costs: the operators of the reference job (`std:parse-csv` keyed
//! by station with the `max` aggregate combined into it, as `flicker run` fuses them; its
//! partials merged into `std:max` chunk by chunk, then finished) on generated lines in 1 MiB
//! chunks, in this process on one thread, under three meters ([`Meter`]):
//!
//! - `off`: nothing measured, the baseline;
//! - `cpu-time`: the thread's CPU time read before and after each call (what flicker uses);
//! - `fuel`: wasmtime fuel, counted by the compiled guest code as it runs.
//!
//! Each meter has a runtime of its own (fuel changes the compiled code, so its components are
//! compiled for it). The meters take turns each round, in a rotating order; each is warmed up
//! once first; the table gives each one's median and its cost against `off`'s median. Every
//! run's result is checked against the first one's.
//!
//! `meter [LINES] [RUNS]` (defaults 20,000,000 and 5).

use flicker_bench::{median, time};
use flicker_gen::Weather;
use flicker_host::{CpuAccount, Limits, Meter, Plugin, Runtime, RuntimeConfig, Sandbox};
use std::sync::Arc;
use std::time::Duration;

/// Stations of the generated data, as the reference job has.
const STATIONS: usize = 413;
/// The bytes handed to the parser per call: a job's default chunk size.
const CHUNK: usize = 1 << 20;

/// A meter's runtime and the reference job's two operators loaded in it.
struct Contender {
    name: &'static str,
    _runtime: Runtime,
    parse: Arc<Plugin>,
    max: Arc<Plugin>,
    runs: Vec<Duration>,
}

fn config(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

impl Contender {
    fn new(name: &'static str, meter: Meter) -> anyhow::Result<Self> {
        let cache = std::env::temp_dir().join("flicker-bench-meter");
        let runtime = Runtime::new(RuntimeConfig { cache_dir: Some(cache), meter, ..Default::default() })?;
        let plugin =
            |name: &str| runtime.load(flicker_plugins::std_plugin(name).expect("an embedded operator"));
        let (parse, max) = (plugin("std:parse-csv")?, plugin("std:max")?);
        Ok(Self { name, _runtime: runtime, parse, max, runs: Vec::new() })
    }

    /// Runs the job's operators over `chunks`: its result, and the CPU time charged.
    fn run(&self, chunks: &[&[u8]]) -> anyhow::Result<(Vec<u8>, Duration)> {
        let cpu = Arc::new(CpuAccount::default());
        let sandbox = Sandbox { cpu: cpu.clone(), ..Sandbox::from(Limits::default()) };
        let parse_config = config(&[
            ("delimiter", ";"),
            ("schema", "station:string,temperature:f64"),
            ("key", "station"),
            ("combine", "max:temperature"),
        ]);
        let mut parse = self.parse.parse(&parse_config, sandbox.clone())?;
        let mut max = self.max.aggregate(&config(&[("field", "temperature")]), sandbox)?;
        for chunk in chunks {
            max.merge(&parse.parse(chunk)?.rows)?;
        }
        Ok((max.finish()?, cpu.used()))
    }
}

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let lines: usize = args.next().map_or(Ok(20_000_000), |a| a.replace([',', '_'], "").parse())?;
    let runs: usize = args.next().map_or(Ok(5), |a| a.parse())?;
    let mut text = Vec::new();
    Weather::new(STATIONS, 7)?.lines(0).write(lines, &mut text);
    let chunks = chunks(&text);

    let mut contenders = vec![
        Contender::new("off", Meter::Off)?,
        Contender::new("cpu-time", Meter::CpuTime)?,
        Contender::new("fuel", Meter::Fuel)?,
    ];
    let (expected, _) = contenders[0].run(&chunks)?;
    for contender in &contenders[1..] {
        anyhow::ensure!(contender.run(&chunks)?.0 == expected, "{} computed another result", contender.name);
    }
    let mut charged = Duration::ZERO;
    for round in 0..runs {
        let count = contenders.len();
        for turn in 0..count {
            let contender = &mut contenders[(round + turn) % count];
            let (result, took) = time(|| contender.run(&chunks));
            let (result, cpu) = result?;
            anyhow::ensure!(result == expected, "{} computed another result", contender.name);
            if contender.name == "cpu-time" {
                charged = cpu;
            }
            contender.runs.push(took);
        }
    }

    println!(
        "metering operator calls: the reference job's operators on {lines} lines, one thread, median of {runs}"
    );
    println!("| meter | median | runs | vs off |");
    println!("|---|---:|---|---:|");
    let baseline = median(contenders[0].runs.clone());
    for contender in &contenders {
        let runs: Vec<String> = contender.runs.iter().map(|r| format!("{:.3}", r.as_secs_f64())).collect();
        let middle = median(contender.runs.clone());
        let cost = (middle.as_secs_f64() / baseline.as_secs_f64() - 1.0) * 100.0;
        println!(
            "| {} | {:.3} s | {} | {cost:+.1} % |",
            contender.name,
            middle.as_secs_f64(),
            runs.join(", ")
        );
    }
    println!("(cpu-time charged {:.3} s of CPU to the last run's account)", charged.as_secs_f64());
    Ok(())
}

/// `text` cut into chunks of at most [`CHUNK`] bytes of whole lines.
fn chunks(text: &[u8]) -> Vec<&[u8]> {
    let mut chunks = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let cut =
            rest[..rest.len().min(CHUNK)].iter().rposition(|&b| b == b'\n').map_or(rest.len(), |i| i + 1);
        chunks.push(&rest[..cut]);
        rest = &rest[cut..];
    }
    chunks
}
