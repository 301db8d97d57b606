//! Single-file output (`single_file = true`): one task writes one object, which `_SUCCESS`
//! lists alone, holding every row, after an aggregate and after narrow steps alike; the
//! `examples/top-words` job that uses it with a global `std:top-k`.

use crate::run::{
    generate_readings, output_max, parse_only_job, readings_job, stats_by_station, write_readings,
};
use crate::support::{
    assert_succeeded, copy_examples, part_indexes, read_committed, run_job, write_manifest,
};
use std::collections::BTreeMap;

/// `job` with its sink writing one file.
fn single_file(job: &str) -> String {
    job.replace("plugin = \"std:format-csv\"", "plugin = \"std:format-csv\"\nsingle_file = true")
}

#[test]
fn an_aggregate_over_many_splits_and_partitions_is_written_as_one_file() {
    let dir = tempfile::tempdir().unwrap();
    let readings = generate_readings(50_000, 3);
    write_readings(&dir.path().join("data"), &readings, false);
    let manifest = write_manifest(dir.path(), &single_file(&readings_job("std:max", "", "out/")));

    let summary = assert_succeeded(&run_job(&manifest, &["--workers", "2"]));

    let out = dir.path().join("out");
    assert_eq!(part_indexes(&out), ["part-00000.csv"], "{summary}");
    let expected: BTreeMap<String, f64> =
        stats_by_station(&readings).into_iter().map(|(station, s)| (station, s.max)).collect();
    assert_eq!(output_max(&out), expected);
    let (_, text) = &read_committed(&out)[0];
    assert_eq!(text.lines().filter(|line| *line == "station,max").count(), 1, "one header");
}

#[test]
fn narrow_steps_over_many_splits_are_written_as_one_file() {
    let dir = tempfile::tempdir().unwrap();
    let readings = generate_readings(20_000, 4);
    write_readings(&dir.path().join("data"), &readings, false);
    let manifest = write_manifest(dir.path(), &single_file(&parse_only_job("out/")));

    assert_succeeded(&run_job(&manifest, &["--workers", "2"]));

    let parts = read_committed(&dir.path().join("out"));
    assert_eq!(parts.len(), 1);
    let lines: Vec<&str> = parts[0].1.lines().collect();
    assert_eq!(lines[0], "station,temperature");
    assert_eq!(lines.len(), readings.len() + 1, "every reading once, under one header");
}

#[test]
fn the_top_words_example_is_the_word_count_sorted_by_count_then_word_cut_at_100() {
    let dir = tempfile::tempdir().unwrap();
    copy_examples(dir.path(), &["top-words", "word-count"]);
    let top = dir.path().join("top-words/job.toml");
    assert_succeeded(&run_job(&top, &["--workers", "2"]));
    assert_succeeded(&run_job(&dir.path().join("word-count/job.toml"), &["--workers", "2"]));

    let mut counts: Vec<(i64, String)> = read_committed(&dir.path().join("word-count/out"))
        .iter()
        .flat_map(|(_, text)| text.lines().skip(1).map(str::to_owned).collect::<Vec<_>>())
        .map(|line| {
            let (word, count) = line.rsplit_once(',').unwrap();
            (-count.parse::<i64>().unwrap(), word.to_owned())
        })
        .collect();
    counts.sort();
    let expected: Vec<String> =
        counts.iter().take(100).map(|(count, word)| format!("{word},{}", -count)).collect();
    let parts = read_committed(&dir.path().join("top-words/out"));
    assert_eq!(parts.len(), 1, "one file");
    let lines: Vec<&str> = parts[0].1.lines().collect();
    assert_eq!(lines[0], "word,count");
    assert_eq!(lines[1..], expected.iter().map(String::as_str).collect::<Vec<_>>()[..]);
}
