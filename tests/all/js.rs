//! Operators written in JavaScript: built from source by `flicker build` (componentize-qjs,
//! installed by `scripts/setup.sh`, QuickJS with no WASI imports) and run in jobs like Rust and
//! Python ones, locally and on a cluster, their results checked against an oracle; and JavaScript
//! operators that misbehave stopped as the others are.

use crate::python::{
    assert_a_loop_hits_the_call_timeout, assert_exceptions_are_bad_records_naming_the_row,
    assert_the_examples_give_the_oracle_s_result, assert_the_examples_give_the_oracle_s_result_on_a_cluster,
    built_project, hostile_failure, hostile_job, output_temperatures,
};
use crate::support::{assert_succeeded, read_csv_output, run_job};

/// The hostile JavaScript operator's project.
const JS_HOSTILE: &str = "tests/data/js-hostile";

#[test]
fn the_js_examples_run_in_a_job_with_the_oracle_s_result() {
    assert_the_examples_give_the_oracle_s_result("js", 13);
}

#[test]
fn the_js_examples_run_on_a_three_executor_cluster() {
    assert_the_examples_give_the_oracle_s_result_on_a_cluster("js", 14);
}

#[test]
fn a_js_exception_on_a_row_is_a_bad_record_naming_the_row() {
    assert_exceptions_are_bad_records_naming_the_row(
        JS_HOSTILE,
        "RangeError: no row 137, please",
        "Error: gave up",
    );
}

#[test]
fn a_js_operator_that_loops_hits_the_call_timeout() {
    assert_a_loop_hits_the_call_timeout(JS_HOSTILE);
}

#[test]
fn a_js_operator_that_allocates_without_end_hits_the_memory_limit() {
    let error =
        hostile_failure(JS_HOSTILE, "config = { behave = \"alloc\" }\nlimits = { memory = \"32MiB\" }");
    assert!(error.contains("memory limit of 32 MiB reached"), "{error}");
}

#[test]
fn a_js_operator_has_no_way_to_files_the_environment_or_the_network() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = hostile_job(dir.path(), JS_HOSTILE, r#"config = { behave = "ambient" }"#);
    assert_succeeded(&run_job(&manifest, &[]));
    let rows = read_csv_output(&dir.path().join("out"), "n,text");
    assert_eq!(rows.len(), 200);
    assert!(rows.iter().all(|row| row[1] == "none"), "found: {:?}", rows[0]);
}

/// `examples/mixed-languages`: a Python map, a JavaScript reduce and a Rust aggregate with
/// standard operators in one job, built from source, give the oracle's warmest reading and
/// temperature range per station.
#[test]
fn the_mixed_languages_example_gives_the_oracle_s_results() {
    let dir = tempfile::tempdir().unwrap();
    crate::support::copy_examples(dir.path(), &["mixed-languages", "max-temperature"]);
    let components = [
        (built_project("examples/python/celsius-to-fahrenheit"), "python/celsius-to-fahrenheit"),
        (built_project("examples/js/warmest-reading"), "js/warmest-reading"),
        (flicker_plugins::guest_artifact("temperature-range"), "plugins/temperature-range"),
    ];
    for (wasm, project) in components {
        let name = project.rsplit('/').next().unwrap();
        let to = dir.path().join(project).join("target").join(format!("{name}.wasm"));
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(&wasm, &to).unwrap();
    }
    let example = dir.path().join("mixed-languages");
    assert_succeeded(&run_job(&example.join("job.toml"), &[]));

    let sample = std::fs::read_to_string(dir.path().join("max-temperature/data/readings.txt")).unwrap();
    let mut extremes: std::collections::BTreeMap<String, (f64, f64)> = Default::default();
    for line in sample.lines() {
        let (station, celsius) = line.split_once(';').unwrap();
        let f = celsius.parse::<f64>().unwrap() * 9.0 / 5.0 + 32.0;
        let (low, high) = extremes.entry(station.to_owned()).or_insert((f, f));
        (*low, *high) = (low.min(f), high.max(f));
    }
    let warmest: std::collections::BTreeMap<String, f64> =
        extremes.iter().map(|(station, (_, high))| (station.clone(), *high)).collect();
    assert_eq!(output_temperatures(&example.join("out/warmest")), warmest);
    let mut ranges = std::collections::BTreeMap::new();
    for row in read_csv_output(&example.join("out/range"), "station,range") {
        ranges.insert(row[0].clone(), row[1].parse::<f64>().unwrap());
    }
    let expected: std::collections::BTreeMap<String, f64> =
        extremes.into_iter().map(|(station, (low, high))| (station, high - low)).collect();
    assert_eq!(ranges, expected);
}
