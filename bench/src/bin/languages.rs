//! Operators in Rust, Python and JavaScript side by side: the same Celsius-to-Fahrenheit map and
//! the same warmest-reading reduce (`examples/plugins`, `examples/python`, `examples/js`, the
//! Python and JavaScript ones built here by `flicker build`'s library). In one run, contenders
//! taking turns: component size; first-use compile (an empty cache) and a cached load (a new
//! runtime on that cache); creating an operator instance; the map's rows/s on 10k-row batches;
//! the reference job (parse, key by station, the warmest reading per station) with its aggregate
//! in each language next to the fused `std:max`, every result checked against `std:max`'s; and
//! the edit → result loop of a map made by `flicker new`: change one line, `flicker build`,
//! `flicker run job.toml`.
//! Usage: `languages [LINES] [RUNS] [SECTIONS]` (defaults 2,000,000 lines, 3 runs and every
//! section of `compile,map,job,edit`).

use anyhow::Context;
use flicker_batch::{BatchWriter, Schema, ValueRef};
use flicker_bench::contender::Setup;
use flicker_bench::data::{STATIONS, readings};
use flicker_bench::measure::measure;
use flicker_bench::{median, time};
use flicker_gen::Rng;
use flicker_host::{Limits, Plugin, Runtime, RuntimeConfig};
use flicker_project::Project;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

/// A language's map and reduce components.
struct Language {
    name: &'static str,
    map: PathBuf,
    reduce: PathBuf,
}

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let lines: u64 = args.next().map_or(Ok(2_000_000), |a| a.replace('_', "").parse())?;
    let runs: usize = args.next().map_or(Ok(3), |a| a.parse())?;
    let sections = args.next().unwrap_or_else(|| "compile,map,job,edit".to_owned());
    let setup = Setup::new(2)?;
    let languages = build_languages()?;

    println!("operators in three languages: the same map and reduce ({runs} runs, median)");
    for section in sections.split(',') {
        println!();
        match section {
            "compile" => compile_and_instantiate(&languages, runs)?,
            "map" => map_rate(&languages, runs)?,
            "job" => reference_job(&setup, &languages, lines, runs)?,
            "edit" => edit_loop(&setup, runs)?,
            other => anyhow::bail!("no section {other:?}: compile, map, job or edit"),
        }
    }
    Ok(())
}

/// The examples' components: Rust's built with the workspace, Python's and JavaScript's built now.
fn build_languages() -> anyhow::Result<Vec<Language>> {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .context("bench/ is in the repository")?
        .join("examples");
    let build = |dir: PathBuf| -> anyhow::Result<PathBuf> {
        Ok(Project::open(&dir)?.build().with_context(|| format!("building {}", dir.display()))?.wasm)
    };
    Ok(vec![
        Language {
            name: "Rust",
            map: flicker_plugins::guest_artifact("celsius-to-fahrenheit"),
            reduce: flicker_plugins::guest_artifact("warmest-reading"),
        },
        Language {
            name: "Python",
            map: build(examples.join("python/celsius-to-fahrenheit"))?,
            reduce: build(examples.join("python/warmest-reading"))?,
        },
        Language {
            name: "JavaScript",
            map: build(examples.join("js/celsius-to-fahrenheit"))?,
            reduce: build(examples.join("js/warmest-reading"))?,
        },
    ])
}

fn runtime(cache: &Path) -> anyhow::Result<Runtime> {
    Ok(Runtime::new(RuntimeConfig { cache_dir: Some(cache.to_path_buf()), ..Default::default() })?)
}

fn millis(duration: Duration) -> String {
    format!("{:.1}", duration.as_secs_f64() * 1e3)
}

/// Size, first-use compile, cached load and instance creation of each language's map.
fn compile_and_instantiate(languages: &[Language], runs: usize) -> anyhow::Result<()> {
    let mut compile: Vec<Vec<Duration>> = vec![Vec::new(); languages.len()];
    let mut cached = compile.clone();
    let mut instantiate = compile.clone();
    for _ in 0..runs {
        for (at, language) in languages.iter().enumerate() {
            let bytes = std::fs::read(&language.map)?;
            let cache = std::env::temp_dir().join(format!("flicker-bench-languages-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&cache);
            let cold = runtime(&cache)?;
            let (plugin, took) = time(|| cold.load(&bytes));
            plugin?;
            compile[at].push(took);
            drop(cold);
            let warm = runtime(&cache)?;
            let (plugin, took) = time(|| warm.load(&bytes));
            let plugin: Arc<Plugin> = plugin?;
            cached[at].push(took);
            plugin.map(&[], Limits::default())?;
            let mut samples = Vec::new();
            for _ in 0..50 {
                let (made, took) = time(|| plugin.map(&[], Limits::default()));
                made?;
                samples.push(took);
            }
            instantiate[at].push(median(samples));
            std::fs::remove_dir_all(&cache)?;
        }
    }
    println!("| map component | size | first-use compile | cached load | new instance |");
    println!("|---|---:|---:|---:|---:|");
    for (at, language) in languages.iter().enumerate() {
        println!(
            "| {} | {:.1} MiB | {} ms | {} ms | {} ms |",
            language.name,
            std::fs::metadata(&language.map)?.len() as f64 / (1 << 20) as f64,
            millis(median(compile[at].clone())),
            millis(median(cached[at].clone())),
            millis(median(instantiate[at].clone())),
        );
    }
    Ok(())
}

/// 1M unkeyed `station, temperature` rows in batches of 10k.
fn map_batches() -> Vec<Vec<u8>> {
    let schema = Schema::values(["station", "temperature"]);
    let mut rng = Rng::new(5);
    let names: Vec<String> = (0..413).map(|i| format!("station-{i}")).collect();
    (0..100)
        .map(|_| {
            let mut batch = BatchWriter::with_capacity(&schema, 10_000 * 40);
            for _ in 0..10_000 {
                let name = &names[rng.below(names.len() as u64) as usize];
                batch.push_values(
                    [],
                    [ValueRef::Str(name), ValueRef::F64(rng.below(2000) as f64 / 10.0 - 100.0)],
                );
            }
            batch.finish()
        })
        .collect()
}

/// Rows per second of each language's map over 10k-row batches, one instance each.
fn map_rate(languages: &[Language], runs: usize) -> anyhow::Result<()> {
    let cache = std::env::temp_dir().join("flicker-bench-cache");
    let runtime = runtime(&cache)?;
    let batches = map_batches();
    let rows = batches.len() * 10_000;
    let plugins: Vec<Arc<Plugin>> = languages
        .iter()
        .map(|l| Ok(runtime.load(&std::fs::read(&l.map)?)?))
        .collect::<anyhow::Result<_>>()?;
    let mut outputs: Vec<Option<Vec<Vec<u8>>>> = vec![None; languages.len()];
    let mut samples: Vec<Vec<Duration>> = vec![Vec::new(); languages.len()];
    for _ in 0..runs {
        for (at, plugin) in plugins.iter().enumerate() {
            let mut map = plugin.map(&[], Limits::default())?;
            let (out, took) = time(|| batches.iter().map(|b| map.map(b)).collect::<Result<Vec<_>, _>>());
            samples[at].push(took);
            outputs[at] = Some(out?);
        }
    }
    for (at, language) in languages.iter().enumerate().skip(1) {
        anyhow::ensure!(outputs[at] == outputs[0], "{}'s map output differs from Rust's", language.name);
    }
    println!(
        "the same map (Celsius to Fahrenheit) on {rows} rows in 10k-row batches, one instance, outputs identical:"
    );
    println!("| language | rows/s | vs Rust |");
    println!("|---|---:|---:|");
    let rust = median(samples[0].clone());
    for (at, language) in languages.iter().enumerate() {
        let took = median(samples[at].clone());
        println!(
            "| {} | {:.2} M | {:.3}× |",
            language.name,
            rows as f64 / took.as_secs_f64() / 1e6,
            rust.as_secs_f64() / took.as_secs_f64()
        );
    }
    Ok(())
}

/// The reference job's manifest over `data` with the aggregate `plugin` (config `config`).
fn reference_manifest(data: &Path, plugin: &str, config: &str, out: &Path) -> String {
    format!(
        r#"name = "languages"

[[source]]
id = "readings"
url = {data:?}

[[step]]
id = "parse"
input = "readings"
plugin = "std:parse-csv"
config = {{ delimiter = ";", schema = "station:string,temperature:f64" }}

[[step]]
id = "by-station"
input = "parse"
plugin = "std:key-by"
config = {{ fields = "station" }}

[[step]]
id = "warmest"
input = "by-station"
plugin = {plugin:?}
partitions = 2
{config}

[[sink]]
id = "out"
input = "warmest"
url = {out:?}
plugin = "std:format-csv"
mode = "overwrite"
"#,
        data = data.display().to_string(),
        out = out.display().to_string(),
    )
}

/// The station and last field of each line of a committed CSV output.
fn last_field_by_station(out: &Path) -> anyhow::Result<BTreeMap<String, String>> {
    let marker = std::fs::read_to_string(out.join("_SUCCESS"))?;
    let mut found = BTreeMap::new();
    for part in marker.lines().filter_map(|line| line.split('\t').next()) {
        for line in std::fs::read_to_string(out.join(part))?.lines().skip(1) {
            let (_, value) = line.rsplit_once(',').context("a CSV line")?;
            let station = line[..line.len() - value.len() - 1].trim_matches('"').replace("\"\"", "\"");
            found.insert(station, value.to_owned());
        }
    }
    Ok(found)
}

/// `flicker run` of the reference job with the warmest-reading reduce in each language, next to
/// the fused `std:max`; every result equals `std:max`'s.
fn reference_job(setup: &Setup, languages: &[Language], lines: u64, runs: usize) -> anyhow::Result<()> {
    let data = readings(&setup.data_dir, lines, STATIONS)?;
    let dir = setup.data_dir.join("languages");
    std::fs::create_dir_all(&dir)?;
    let mut contenders =
        vec![("std:max (fused)".to_owned(), "std:max".to_owned(), "config = { field = \"temperature\" }")];
    for language in languages {
        contenders.push((format!("{} reduce", language.name), language.reduce.display().to_string(), ""));
    }
    let mut walls: Vec<Vec<Duration>> = vec![Vec::new(); contenders.len()];
    let mut rss: Vec<u64> = vec![0; contenders.len()];
    let mut expected = None;
    for _ in 0..runs {
        for (at, (_, plugin, config)) in contenders.iter().enumerate() {
            let out = dir.join(format!("out-{at}"));
            let manifest = dir.join(format!("job-{at}.toml"));
            std::fs::write(&manifest, reference_manifest(&data, plugin, config, &out))?;
            let mut command = Command::new(&setup.flicker);
            command.arg("run").arg(&manifest).args(["--workers", "2"]).env("FLICKER_CACHE_DIR", &setup.cache);
            let sample = measure(command)?;
            walls[at].push(sample.wall);
            rss[at] = rss[at].max(sample.rss_kib.unwrap_or(0));
            let found = last_field_by_station(&out)?;
            match &expected {
                None => expected = Some(found),
                Some(expected) => anyhow::ensure!(
                    &found == expected,
                    "{}: a result differs from std:max's",
                    contenders[at].0
                ),
            }
        }
    }
    println!(
        "the reference job on {lines} lines, `flicker run --workers 2`, the aggregate in each language:"
    );
    println!("| aggregate | wall | peak RSS | vs std:max |");
    println!("|---|---:|---:|---:|");
    let fused = median(walls[0].clone());
    for (at, (name, _, _)) in contenders.iter().enumerate() {
        let wall = median(walls[at].clone());
        println!(
            "| {name} | {:.2} s | {} MiB | {:.2}× |",
            wall.as_secs_f64(),
            rss[at] / 1024,
            wall.as_secs_f64() / fused.as_secs_f64()
        );
    }
    Ok(())
}

/// Runs `flicker` with `args` in `dir`; fails with its stderr if it fails.
fn flicker(setup: &Setup, dir: &Path, args: &[&str]) -> anyhow::Result<()> {
    let output = Command::new(&setup.flicker)
        .args(args)
        .current_dir(dir)
        .env("FLICKER_CACHE_DIR", &setup.cache)
        .output()?;
    anyhow::ensure!(output.status.success(), "flicker {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    Ok(())
}

/// The edit → result loop of a map made by `flicker new` in each language: after a first build,
/// change one line, build, run the sample job.
fn edit_loop(setup: &Setup, runs: usize) -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("flicker-bench-edit-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    println!(
        "edit → result: a map made by `flicker new`, one line changed, `flicker build`, `flicker run job.toml`:"
    );
    println!("| language | first build | build after an edit | run | edit → result |");
    println!("|---|---:|---:|---:|---:|");
    for (language, source) in [("rust", "src/lib.rs"), ("python", "app.py"), ("js", "app.js")] {
        let name = format!("edit-{language}");
        flicker(setup, &dir, &["new", &name, "--kind", "map", "--lang", language])?;
        let project = dir.join(&name);
        let ((), first) = time(|| flicker(setup, &project, &["build"])).map_first()?;
        flicker(setup, &project, &["run", "job.toml"])?;
        let (mut builds, mut running, mut loops) = (Vec::new(), Vec::new(), Vec::new());
        for round in 0..runs {
            let path = project.join(source);
            let text = std::fs::read_to_string(&path)?;
            let (from, to) = if round % 2 == 0 { ("+ 32", "+ 33") } else { ("+ 33", "+ 32") };
            anyhow::ensure!(text.contains(from), "{source} has no {from:?}");
            std::fs::write(&path, text.replacen(from, to, 1))?;
            let ((), build) = time(|| flicker(setup, &project, &["build"])).map_first()?;
            let ((), run) = time(|| flicker(setup, &project, &["run", "job.toml"])).map_first()?;
            builds.push(build);
            running.push(run);
            loops.push(build + run);
        }
        println!(
            "| {language} | {:.1} s | {:.2} s | {:.2} s | **{:.2} s** |",
            first.as_secs_f64(),
            median(builds).as_secs_f64(),
            median(running).as_secs_f64(),
            median(loops).as_secs_f64()
        );
    }
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

/// A timed fallible result as a fallible timed one.
trait MapFirst<T> {
    fn map_first(self) -> anyhow::Result<(T, Duration)>;
}

impl<T> MapFirst<T> for (anyhow::Result<T>, Duration) {
    fn map_first(self) -> anyhow::Result<(T, Duration)> {
        Ok((self.0?, self.1))
    }
}
