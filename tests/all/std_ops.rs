//! The standard aggregates that keep whole rows, `std:distinct` and `std:top-k`, in jobs run by the
//! `flicker` binary on small inputs, their output read back line for line.

use crate::support::{
    assert_failed, assert_mentions, assert_succeeded, part_indexes, read_committed, run_job, write_file,
    write_manifest,
};
use std::collections::BTreeSet;

/// A job over the `station;temperature;ok` lines of the files in `data/`: a `parse` step, then
/// `steps` (`[[step]]` tables, the last one with id `result`), then CSV in `out/`.
fn readings_job(steps: &str) -> String {
    format!(
        r#"name = "std-ops"

[[source]]
id = "readings"
url = "data/"
split_size = "64KiB"

[[step]]
id = "parse"
input = "readings"
plugin = "std:parse-csv"
config = {{ delimiter = ";", schema = "station:string,temperature:f64,ok:bool" }}
{steps}
[[sink]]
id = "out"
input = "result"
url = "out/"
plugin = "std:format-csv"
"#
    )
}

/// Writes `readings_job(steps)` and `files` (name and lines) into a scratch directory and runs
/// it; returns the directory and the run's output.
fn run_in_scratch(files: &[(&str, &str)], steps: &str) -> (tempfile::TempDir, std::process::Output) {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in files {
        write_file(&dir.path().join("data").join(name), text);
    }
    let manifest = write_manifest(dir.path(), &readings_job(steps));
    let output = run_job(&manifest, &["--workers", "2"]);
    (dir, output)
}

/// Runs `readings_job(steps)` over `files` (name and lines), which must succeed; returns the text
/// of each output part, by part index.
fn run(files: &[(&str, &str)], steps: &str) -> Vec<(String, String)> {
    let (dir, output) = run_in_scratch(files, steps);
    assert_succeeded(&output);
    let out = dir.path().join("out");
    part_indexes(&out).into_iter().zip(read_committed(&out)).map(|(index, (_, text))| (index, text)).collect()
}

/// The text of the one part of a job with one partition.
fn single_part(parts: Vec<(String, String)>) -> String {
    match &parts[..] {
        [(index, text)] if index == "part-00000.csv" => text.clone(),
        other => panic!("expected one part, found {other:?}"),
    }
}

#[test]
fn distinct_keeps_the_first_row_of_each_station() {
    let lines = "Oslo;3.5;true\nBergen;1.0;false\nOslo;-2.0;true\nTromsø;7.25;false\n\
                 Bergen;4.0;true\n\"Comma, Town\";0.5;true\nTromsø;7.25;false\n";
    let steps = r#"
[[step]]
id = "result"
input = "parse"
plugin = "std:distinct"
partitions = 1
config = { on = "station" }
"#;
    let text = single_part(run(&[("readings.txt", lines)], steps));
    assert_eq!(
        text,
        "station,temperature,ok\nOslo,3.5,true\nBergen,1,false\nTromsø,7.25,false\n\"Comma, Town\",0.5,true\n"
    );
}

#[test]
fn distinct_on_every_field_drops_duplicates_across_files_and_partitions() {
    // 300 lines over three files, of 7 × 5 × 2 = 70 distinct combinations.
    let line = |i: usize| format!("S{};{}.5;{}", i % 7, i % 5, i.is_multiple_of(2));
    let files: Vec<(String, String)> = (0..3)
        .map(|f| (format!("readings-{f}.txt"), (f * 100..(f + 1) * 100).map(|i| line(i) + "\n").collect()))
        .collect();
    let files: Vec<(&str, &str)> = files.iter().map(|(name, text)| (name.as_str(), text.as_str())).collect();
    let steps = r#"
[[step]]
id = "result"
input = "parse"
plugin = "std:distinct"
partitions = 4
"#;
    let parts = run(&files, steps);
    let indexes: Vec<&str> = parts.iter().map(|(index, _)| index.as_str()).collect();
    assert_eq!(indexes, ["part-00000.csv", "part-00001.csv", "part-00002.csv", "part-00003.csv"]);
    let mut found = Vec::new();
    for (index, text) in &parts {
        let mut lines = text.lines();
        assert_eq!(lines.next(), Some("station,temperature,ok"), "the header of {index}");
        found.extend(lines.map(str::to_owned));
    }
    found.sort();
    let expected: BTreeSet<String> = (0..300).map(|i| line(i).replace(';', ",")).collect();
    assert_eq!(expected.len(), 70);
    assert_eq!(found, expected.into_iter().collect::<Vec<_>>(), "each combination once, in one part");
}

#[test]
fn top_k_is_a_global_top_k_in_one_partition_the_planner_gives_it() {
    let lines = "Oslo;3.5;true\nBergen;9.0;false\nTromsø;9.0;true\nAlta;-1.0;false\nBodø;9.0;false\n\
                 Oslo;12.0;true\n";
    let steps = r#"
[[step]]
id = "result"
input = "parse"
plugin = "std:top-k"
config = { n = "3", by = "temperature:desc,station" }
"#;
    let text = single_part(run(&[("readings.txt", lines)], steps));
    assert_eq!(text, "station,temperature,ok\nOslo,12,true\nBergen,9,false\nBodø,9,false\n");
}

#[test]
fn top_k_per_key_keeps_each_stations_first_rows_in_order() {
    let lines = "Oslo;3.5;true\nBergen;9.0;false\nOslo;-4.0;false\nBergen;2.0;true\nOslo;3.5;false\n\
                 Alta;1.0;true\nOslo;0.0;true\n";
    let steps = r#"
[[step]]
id = "by-station"
input = "parse"
plugin = "std:key-by"
config = { fields = "station" }

[[step]]
id = "result"
input = "by-station"
plugin = "std:top-k"
partitions = 1
config = { n = "3", by = "temperature", per_key = "true" }
"#;
    let text = single_part(run(&[("readings.txt", lines)], steps));
    // Stations in the order first seen; Oslo's two rows at 3.5 tie, and `false` encodes first.
    assert_eq!(
        text,
        "station,temperature,ok\nOslo,-4,false\nOslo,0,true\nOslo,3.5,false\nBergen,2,true\nBergen,9,false\n\
         Alta,1,true\n"
    );
}

#[test]
fn a_field_that_the_rows_lack_is_named_before_the_job_runs() {
    for (plugin, config) in
        [("std:distinct", r#"on = "station,place""#), ("std:top-k", r#"n = "1", by = "place""#)]
    {
        let steps = format!(
            r#"
[[step]]
id = "result"
input = "parse"
plugin = "{plugin}"
partitions = 1
config = {{ {config} }}
"#
        );
        let (dir, output) = run_in_scratch(&[("readings.txt", "Oslo;3.5;true\n")], &steps);
        let error = assert_failed(&output);
        assert_mentions(&error, &["step \"result\"", plugin, "field `place`"]);
        assert!(!dir.path().join("out").exists(), "{plugin}: nothing is written");
    }
}
