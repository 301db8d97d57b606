//! `flicker gen weather`: deterministic data, in the format the reference job reads, plain or
//! compressed; `flicker gen stations`: the stations table those readings join with.

use crate::run::{output_max, readings_job};
use crate::support::{
    assert_failed, assert_succeeded, read_csv_output, run_flicker, run_job, stderr, write_manifest,
};
use std::collections::BTreeMap;
use std::path::Path;

/// Runs `flicker gen weather --out OUT ARGS...`; returns what it wrote, after checking it says so.
fn gen_weather(out: &Path, args: &[&str]) -> Vec<u8> {
    run_gen("weather", out, args)
}

/// Runs `flicker gen WHAT --out OUT ARGS...`; returns what it wrote, after checking it says so.
fn run_gen(what: &str, out: &Path, args: &[&str]) -> Vec<u8> {
    let output = run_flicker(&[&["gen", what, "--out", out.to_str().expect("a UTF-8 path")], args].concat());
    assert_succeeded(&output);
    let summary = stderr(&output);
    assert!(summary.starts_with("wrote ") && summary.contains(" M lines/s"), "{summary}");
    std::fs::read(out).unwrap_or_else(|e| panic!("reading {}: {e}", out.display()))
}

/// The highest temperature of each station in `text`, checking every line is
/// `station;temperature` with one decimal within ±99.9.
fn max_by_station(text: &[u8]) -> BTreeMap<String, f64> {
    let text = std::str::from_utf8(text).expect("the data is UTF-8");
    assert!(text.ends_with('\n'), "the data ends with a newline");
    let mut max = BTreeMap::new();
    for line in text.lines() {
        let (station, temperature) = line.split_once(';').unwrap_or_else(|| panic!("no `;` in {line:?}"));
        assert!(!station.is_empty() && !temperature.contains(';'), "{line:?}");
        let (whole, tenth) = temperature.split_once('.').unwrap_or_else(|| panic!("no decimal in {line:?}"));
        let digits = whole.strip_prefix('-').unwrap_or(whole);
        assert!((1..=2).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()), "{line:?}");
        assert!(tenth.len() == 1 && tenth.as_bytes()[0].is_ascii_digit(), "{line:?}");
        let value: f64 = temperature.parse().expect("a number");
        let entry = max.entry(station.to_owned()).or_insert(value);
        *entry = entry.max(value);
    }
    max
}

/// Runs the reference job over `dir/data/` and checks that it read `rows` lines and found the
/// `expected` maxima.
fn assert_max_job_gives(dir: &Path, rows: usize, expected: &BTreeMap<String, f64>) {
    let manifest = write_manifest(dir, &readings_job("std:max", "", "out/"));
    let summary = assert_succeeded(&run_job(&manifest, &["--workers", "2"]));
    assert!(summary.contains(&format!("rows in {rows} (skipped 0)")), "{summary}");
    assert_eq!(&output_max(&dir.join("out")), expected);
}

#[test]
fn weather_is_deterministic_and_feeds_the_reference_job() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data/readings.txt");
    let args = ["--rows", "100000", "--seed", "7"];

    let first = gen_weather(&data, &args);
    let second = gen_weather(&data, &args);

    assert!(first == second, "two runs with the same arguments wrote other bytes");
    assert_eq!(first.iter().filter(|&&b| b == b'\n').count(), 100_000);
    let expected = max_by_station(&first);
    assert_eq!(expected.len(), 400, "every one of the default 400 stations appears");
    for station in ["Zürich", "São Paulo", "東京", "İstanbul"] {
        assert!(expected.contains_key(station), "no {station} in the data");
    }
    let other_seed =
        gen_weather(&dir.path().join("other/readings.txt"), &["--rows", "100000", "--seed", "8"]);
    assert!(other_seed != first, "another seed gives other data");

    assert_max_job_gives(dir.path(), 100_000, &expected);
}

#[test]
fn gzip_weather_is_read_by_a_job_as_the_plain_data() {
    let dir = tempfile::tempdir().unwrap();
    // More stations than built-in cities (numbered ones too), and more rows than one block, so
    // the object holds several gzip members.
    let args = ["--rows", "300000", "--stations", "1000", "--seed", "3"];
    let plain = gen_weather(&dir.path().join("plain/readings.txt"), &args);
    let compressed = gen_weather(&dir.path().join("data/readings.txt.gz"), &args);
    assert!(compressed.starts_with(b"\x1f\x8b") && compressed.len() < plain.len() * 3 / 4);
    let expected = max_by_station(&plain);
    assert_eq!(expected.len(), 1000);
    assert!(expected.contains_key("Zürich-2"), "numbered stations follow the cities");

    assert_max_job_gives(dir.path(), 300_000, &expected);
}

#[test]
fn no_rows_are_an_empty_object_and_no_stations_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.txt");
    assert!(gen_weather(&empty, &["--rows", "0"]).is_empty());

    let refused = dir.path().join("refused.txt");
    let message = assert_failed(&run_flicker(&[
        "gen",
        "weather",
        "--rows",
        "10",
        "--stations",
        "0",
        "--out",
        refused.to_str().unwrap(),
    ]));
    assert!(message.contains("--stations 0") && message.contains("at least one station"), "{message}");
    assert!(!refused.exists(), "nothing is written");
}

#[test]
fn the_stations_table_gives_every_reading_its_country() {
    let dir = tempfile::tempdir().unwrap();
    // More stations than cities, so numbered ones too.
    let readings =
        gen_weather(&dir.path().join("data/readings.txt"), &["--rows", "100000", "--stations", "600"]);
    let table = run_gen("stations", &dir.path().join("stations/stations.txt"), &["--stations", "600"]);
    let table = String::from_utf8(table).expect("the table is UTF-8");
    let country_of: BTreeMap<&str, &str> =
        table.lines().map(|line| line.split_once(';').expect("`station;country`")).collect();
    assert_eq!(country_of.len(), 600, "600 stations, each once");
    assert_eq!(country_of.get("Zürich-2"), Some(&"Switzerland"));
    let mut expected: BTreeMap<String, f64> = BTreeMap::new();
    for (station, max) in max_by_station(&readings) {
        let country = country_of.get(station.as_str()).unwrap_or_else(|| panic!("{station} has no country"));
        let entry = expected.entry((*country).to_owned()).or_insert(max);
        *entry = entry.max(max);
    }

    let job = r#"name = "max-by-country"

[[source]]
id = "readings"
url = "data/"

[[source]]
id = "station-list"
url = "stations/"

[[step]]
id = "parse"
input = "readings"
plugin = "std:parse-csv"
config = { delimiter = ";", schema = "station:string,temperature:f64" }

[[step]]
id = "stations"
input = "station-list"
plugin = "std:parse-csv"
config = { delimiter = ";", schema = "station:string,country:string" }

[[step]]
id = "joined"
input = ["parse", "stations"]
plugin = "std:join"
config = { on = "station", how = "inner" }

[[step]]
id = "by-country"
input = "joined"
plugin = "std:key-by"
config = { fields = "country" }

[[step]]
id = "max"
input = "by-country"
plugin = "std:max"
partitions = 3
config = { field = "temperature" }

[[sink]]
id = "out"
input = "max"
url = "out/"
plugin = "std:format-csv"
"#;
    assert_succeeded(&run_job(&write_manifest(dir.path(), job), &["--workers", "2"]));
    let found: BTreeMap<String, f64> = read_csv_output(&dir.path().join("out"), "country,max")
        .into_iter()
        .map(|row| (row[0].clone(), row[1].parse().expect("a number")))
        .collect();
    assert_eq!(found, expected);
}
