//! `std:sort`: global sorts in jobs run by the `flicker` binary, checked against a sort done
//! here: the parts read in order are every input row in order, with skewed and tied keys, under
//! a memory limit far below the input (sorted runs spilled and merged), after an aggregate into
//! one file, after a union, on empty input; a sort by a field the rows lack is refused before
//! the job runs.

use crate::support::{
    Rng, assert_failed, assert_mentions, assert_succeeded, copy_examples, read_committed, run_job,
    write_file, write_manifest,
};
use std::cmp::Ordering;

/// `station;temperature` lines: `count` readings, a third of them of station `s7` (a skewed key),
/// temperatures with one decimal (many ties).
fn readings(seed: u64, count: usize) -> String {
    let mut rng = Rng::new(seed);
    let mut text = String::new();
    for _ in 0..count {
        let station = if rng.below(3) == 0 { 7 } else { rng.below(400) };
        text.push_str(&format!("s{station};{}\n", (rng.below(901) as i64 - 400) as f64 / 10.0));
    }
    text
}

/// A job reading `in/`, parsing it, then `steps` (the last with id `result`), written as CSV to
/// `out/` (one file if `single_file`).
fn sort_job(steps: &str, single_file: bool) -> String {
    format!(
        r#"name = "sort"

[[source]]
id = "readings"
url = "in/"
split_size = "32KiB"

[[step]]
id = "parse"
input = "readings"
plugin = "std:parse-csv"
config = {{ delimiter = ";", schema = "station:string,temperature:f64" }}
{steps}
[[sink]]
id = "out"
input = "result"
url = "out/"
plugin = "std:format-csv"
single_file = {single_file}
"#
    )
}

/// The committed rows of `out/` in part order (each part's CSV header checked and dropped), and
/// the number of parts.
fn rows_in_part_order(dir: &std::path::Path, header: &str) -> (Vec<(String, f64)>, usize) {
    let parts = read_committed(&dir.join("out"));
    let mut rows = Vec::new();
    for (name, text) in &parts {
        let mut lines = text.lines();
        if let Some(first) = lines.next() {
            assert_eq!(first, header, "the header of {name}");
        }
        rows.extend(lines.map(|line| {
            let (station, number) = line.split_once(',').unwrap();
            (station.to_owned(), number.parse::<f64>().unwrap())
        }));
    }
    (rows, parts.len())
}

/// Temperature descending, then station ascending: the order `temperature:desc,station`.
fn by_temperature_desc(a: &(String, f64), b: &(String, f64)) -> Ordering {
    b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0))
}

/// The rows of the `station;temperature` lines of `texts`, sorted as `temperature:desc,station`.
fn oracle(texts: &[&str]) -> Vec<(String, f64)> {
    let mut rows: Vec<(String, f64)> = texts
        .iter()
        .flat_map(|text| text.lines())
        .map(|line| {
            let (station, t) = line.split_once(';').unwrap();
            (station.to_owned(), t.parse().unwrap())
        })
        .collect();
    rows.sort_by(by_temperature_desc);
    rows
}

const SORT: &str = r#"
[[step]]
id = "result"
input = "parse"
plugin = "std:sort"
partitions = 4
config = { by = "temperature:desc, station" }
"#;

/// Runs `sort_job(steps)` over the files `files` (name, text) with extra flags; returns the
/// directory, the run's summary, and the output rows in part order with the number of parts.
fn run_sort(
    files: &[(&str, &str)],
    steps: &str,
    single_file: bool,
) -> (tempfile::TempDir, String, Vec<(String, f64)>, usize) {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in files {
        write_file(&dir.path().join("in").join(name), text);
    }
    std::fs::create_dir_all(dir.path().join("in")).unwrap();
    let manifest = write_manifest(dir.path(), &sort_job(steps, single_file));
    let summary = assert_succeeded(&run_job(&manifest, &["--workers", "2"]));
    let header = if steps.contains("std:max") { "station,max" } else { "station,temperature" };
    let (rows, parts) = rows_in_part_order(dir.path(), header);
    (dir, summary, rows, parts)
}

#[test]
fn parts_read_in_order_are_every_row_sorted_with_skewed_and_tied_keys() {
    let (a, b) = (readings(1, 6_000), readings(2, 9_000));
    let (_dir, _, rows, parts) = run_sort(&[("a.txt", &a), ("b.txt", &b)], SORT, false);
    assert_eq!(parts, 4, "a part per range");
    assert!(rows == oracle(&[&a, &b]), "the output differs from the oracle's sort");
}

#[test]
fn a_sort_far_over_its_memory_limit_spills_sorted_runs_and_gives_the_same_order() {
    let text = readings(3, 100_000);
    let limited = SORT.replace("partitions = 4", "partitions = 2\nlimits = { memory = \"2MiB\" }");
    let (_dir, summary, rows, _) = run_sort(&[("a.txt", &text)], &limited, false);
    let runs: u64 = summary
        .split(" sorted runs")
        .next()
        .and_then(|before| before.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(runs >= 4, "the two range tasks spill several runs: {summary}");
    assert!(rows == oracle(&[&text]), "the output differs from the oracle's sort");
}

#[test]
fn a_maximum_per_station_sorted_descending_is_one_file_in_order() {
    let text = readings(4, 5_000);
    let steps = r#"
[[step]]
id = "by-station"
input = "parse"
plugin = "std:key-by"
config = { fields = "station" }

[[step]]
id = "max"
input = "by-station"
plugin = "std:max"
partitions = 3
config = { field = "temperature" }

[[step]]
id = "result"
input = "max"
plugin = "std:sort"
partitions = 3
config = { by = "max:desc,station" }
"#;
    let (_dir, _, rows, parts) = run_sort(&[("a.txt", &text)], steps, true);
    assert_eq!(parts, 1);
    let mut expected: Vec<(String, f64)> = Vec::new();
    for (station, t) in oracle(&[&text]) {
        match expected.iter_mut().find(|(s, _)| *s == station) {
            Some((_, max)) => *max = max.max(t),
            None => expected.push((station, t)),
        }
    }
    expected.sort_by(by_temperature_desc);
    assert_eq!(rows, expected);
}

#[test]
fn a_union_sorted_and_an_empty_input_sorted() {
    let (a, b) = (readings(5, 3_000), readings(6, 2_000));
    let steps = r#"
[[step]]
id = "again"
input = "in-b"
plugin = "std:parse-csv"
config = { delimiter = ";", schema = "station:string,temperature:f64" }

[[step]]
id = "both"
input = ["parse", "again"]
plugin = "std:union"
"#;
    let steps = format!("{steps}{}", SORT.replace("input = \"parse\"", "input = \"both\""));
    let dir = tempfile::tempdir().unwrap();
    write_file(&dir.path().join("in/a.txt"), &a);
    write_file(&dir.path().join("in-b/b.txt"), &b);
    let text = sort_job(&steps, false).replace(
        "[[step]]\nid = \"parse\"",
        "[[source]]\nid = \"in-b\"\nurl = \"in-b/\"\n\n[[step]]\nid = \"parse\"",
    );
    assert_succeeded(&run_job(&write_manifest(dir.path(), &text), &["--workers", "2"]));
    let (rows, _) = rows_in_part_order(dir.path(), "station,temperature");
    assert!(rows == oracle(&[&a, &b]), "the sorted union differs from the oracle's");

    let (_dir, _, rows, _) = run_sort(&[("empty.txt", "")], SORT, false);
    assert!(rows.is_empty());
}

#[test]
fn a_sort_by_a_field_the_rows_lack_is_refused_before_the_job_runs() {
    let dir = tempfile::tempdir().unwrap();
    write_file(&dir.path().join("in/a.txt"), "s1;1.0\n");
    let text = sort_job(&SORT.replace("temperature:desc", "temprature:desc"), false);
    let error = assert_failed(&run_job(&write_manifest(dir.path(), &text), &[]));
    assert_mentions(&error, &["step \"result\"", "temprature", "did you mean `temperature`"]);
    let text = sort_job(&SORT.replace("temperature:desc", "temperature:down"), false);
    let error = assert_failed(&run_job(&write_manifest(dir.path(), &text), &[]));
    assert_mentions(&error, &["step \"result\"", "unknown direction `down` for field `temperature`"]);
    assert!(!dir.path().join("out").exists());
}

#[test]
fn the_countries_example_is_each_country_s_warmest_reading_warmest_first_in_one_file() {
    let dir = tempfile::tempdir().unwrap();
    copy_examples(dir.path(), &["countries", "max-temperature"]);
    let summary = assert_succeeded(&run_job(&dir.path().join("countries/job.toml"), &["--workers", "2"]));

    let read = |path: &str| std::fs::read_to_string(dir.path().join(path)).unwrap();
    let countries: Vec<(String, String)> = read("countries/data/stations.csv")
        .lines()
        .map(|line| line.split_once(';').map(|(s, c)| (s.to_owned(), c.to_owned())).unwrap())
        .collect();
    let mut expected: Vec<(String, f64)> = Vec::new();
    for (station, t) in oracle(&[&read("max-temperature/data/readings.txt")]) {
        let Some((_, country)) = countries.iter().find(|(s, _)| *s == station) else { continue };
        match expected.iter_mut().find(|(c, _)| c == country) {
            Some((_, max)) => *max = max.max(t),
            None => expected.push((country.clone(), t)),
        }
    }
    expected.sort_by(by_temperature_desc);
    let (rows, parts) = rows_in_part_order(&dir.path().join("countries"), "country,max");
    assert_eq!(parts, 1, "one file: {summary}");
    assert_eq!(rows, expected);
    assert!(expected.len() > 15, "most countries have readings");
}
