//! `std:union` in jobs run by the `flicker` binary: two sources parsed apart and concatenated,
//! written out row for row, aggregated, and as one file; inputs with other rows refused before
//! the job runs.

use crate::support::{
    Rng, assert_failed, assert_mentions, assert_succeeded, read_csv_output, run_job, write_file,
    write_manifest,
};
use std::collections::BTreeMap;

/// `station;temperature` lines of `stations` stations, `count` of them, from `seed`.
fn readings(seed: u64, stations: u64, count: usize) -> String {
    let mut rng = Rng::new(seed);
    let mut text = String::new();
    for _ in 0..count {
        let station = rng.below(stations);
        text.push_str(&format!("s{station};{}.{}\n", rng.below(90) as i64 - 40, rng.below(10)));
    }
    text
}

/// North and south readings, each parsed by its own step (south with `south_schema`), their
/// union written as `rows` (one file if `single_file`) and its max per station as `max`.
fn union_job(south_schema: &str, single_file: bool) -> String {
    format!(
        r#"name = "union"

[[source]]
id = "north"
url = "north/"
split_size = "16KiB"

[[source]]
id = "south"
url = "south/"

[[step]]
id = "parse-north"
input = "north"
plugin = "std:parse-csv"
config = {{ delimiter = ";", schema = "station:string,temperature:f64" }}

[[step]]
id = "parse-south"
input = "south"
plugin = "std:parse-csv"
config = {{ delimiter = ";", schema = "{south_schema}" }}

[[step]]
id = "all"
input = ["parse-north", "parse-south"]
plugin = "std:union"

[[step]]
id = "by-station"
input = "all"
plugin = "std:key-by"
config = {{ fields = "station" }}

[[step]]
id = "max"
input = "by-station"
plugin = "std:max"
partitions = 3
config = {{ field = "temperature" }}

[[sink]]
id = "rows"
input = "all"
url = "rows/"
plugin = "std:format-csv"
single_file = {single_file}

[[sink]]
id = "max-out"
input = "max"
url = "max/"
plugin = "std:format-csv"
"#
    )
}

/// Each line's fields, sorted: a multiset of rows.
fn sorted_rows(lines: impl IntoIterator<Item = Vec<String>>) -> Vec<Vec<String>> {
    let mut rows: Vec<Vec<String>> = lines.into_iter().collect();
    rows.sort();
    rows
}

/// Runs the union job over generated north (three files, several splits each) and south data;
/// checks both outputs against the input lines; returns the parts of `rows/`.
fn run_union(single_file: bool) -> usize {
    let dir = tempfile::tempdir().unwrap();
    let north: Vec<String> = (0..3).map(|n| readings(n, 40, 2_000)).collect();
    let south = readings(7, 60, 1_500);
    for (n, text) in north.iter().enumerate() {
        write_file(&dir.path().join(format!("north/part-{n}.txt")), text);
    }
    write_file(&dir.path().join("south/all.txt"), &south);
    let manifest = write_manifest(dir.path(), &union_job("station:string,temperature:f64", single_file));
    assert_succeeded(&run_job(&manifest, &["--workers", "2"]));

    let input: Vec<Vec<String>> = north
        .iter()
        .chain([&south])
        .flat_map(|text| text.lines().map(|line| line.split(';').map(str::to_owned).collect::<Vec<_>>()))
        .collect();
    let normal = |row: Vec<String>| vec![row[0].clone(), row[1].parse::<f64>().unwrap().to_string()];
    let rows = read_csv_output(&dir.path().join("rows"), "station,temperature");
    assert_eq!(sorted_rows(rows.into_iter().map(normal)), sorted_rows(input.iter().cloned().map(normal)));

    let mut oracle: BTreeMap<String, f64> = BTreeMap::new();
    for row in &input {
        let t: f64 = row[1].parse().unwrap();
        oracle.entry(row[0].clone()).and_modify(|m| *m = m.max(t)).or_insert(t);
    }
    let max: BTreeMap<String, f64> = read_csv_output(&dir.path().join("max"), "station,max")
        .into_iter()
        .map(|row| (row[0].clone(), row[1].parse().unwrap()))
        .collect();
    assert_eq!(max, oracle);
    crate::support::part_files(&dir.path().join("rows")).len()
}

#[test]
fn a_union_of_two_sources_is_every_row_of_both_written_and_aggregated() {
    let parts = run_union(false);
    assert!(parts >= 4, "a part per split of each input, numbered apart: {parts}");
}

#[test]
fn a_union_written_as_one_file_gathers_every_input() {
    assert_eq!(run_union(true), 1);
}

#[test]
fn inputs_of_a_union_with_other_rows_are_refused_before_the_job_runs() {
    let dir = tempfile::tempdir().unwrap();
    write_file(&dir.path().join("north/a.txt"), "s1;1.0\n");
    write_file(&dir.path().join("south/a.txt"), "s1;1\n");
    let text = union_job("station:string,temperature:i64", false);
    let manifest = write_manifest(dir.path(), &text);
    let error = assert_failed(&run_job(&manifest, &[]));
    assert_mentions(
        &error,
        &[
            "step \"all\": std:union concatenates inputs with the same rows, but input \"parse-north\" has \
             station: string, temperature: f64",
            "and input \"parse-south\" has station: string, temperature: i64",
        ],
    );
    assert!(!dir.path().join("rows").exists() && !dir.path().join("max").exists());
}
