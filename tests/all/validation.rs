//! Jobs rejected before any task runs, through the `flicker` binary: the message names the
//! manifest's line, the step, and what is wrong; the exit code is 1 and nothing is written.

use crate::support::{
    assert_failed, assert_mentions, header_line, line_containing, run_flicker, run_job, write_file,
    write_manifest,
};

/// A job whose steps after the source are `steps`; its sink reads the step `last`.
fn job(steps: &str, last: &str) -> String {
    format!(
        r#"name = "validation"

[[source]]
id = "readings"
url = "data/"
{steps}
[[sink]]
id = "out"
input = "{last}"
url = "out/"
plugin = "std:format-csv"
"#
    )
}

/// A `[[step]]` table; `config` is the inline table after `config = `, if any.
fn step(id: &str, input: &str, plugin: &str, config: Option<&str>) -> String {
    let config = config.map(|config| format!("config = {config}\n")).unwrap_or_default();
    format!("\n[[step]]\nid = \"{id}\"\ninput = \"{input}\"\nplugin = \"{plugin}\"\n{config}")
}

const SCHEMA: &str = r#"{ delimiter = ";", schema = "station:string,temperature:f64" }"#;
const TEMPERATURE: &str = r#"{ field = "temperature" }"#;

/// The reference job (parse, key by station, then the aggregate step "max" running `plugin`).
fn with_max(plugin: &str, config: Option<&str>) -> String {
    let steps = [
        step("parse", "readings", "std:parse-csv", Some(SCHEMA)),
        step("by-station", "parse", "std:key-by", Some(r#"{ fields = "station" }"#)),
        step("max", "by-station", plugin, config),
    ];
    job(&steps.concat(), "max")
}

/// Runs `manifest` (with a `data/` directory holding one good line), expects it to be rejected
/// with exit code 1 naming `job.toml:<line>`, and nothing written; returns the message.
fn rejected(manifest: &str, line: usize) -> String {
    let dir = tempfile::tempdir().unwrap();
    write_file(&dir.path().join("data/readings.txt"), "Oslo;1.5\n");
    let path = write_manifest(dir.path(), manifest);
    let error = assert_failed(&run_job(&path, &[]));
    assert!(error.contains(&format!("job.toml:{line}: ")), "stderr does not name job.toml:{line}:\n{error}");
    assert!(!dir.path().join("out").exists(), "a rejected job wrote output");
    error
}

#[test]
fn an_unknown_standard_plugin_is_named_with_line_and_step() {
    let manifest = with_max("std:nope", Some(TEMPERATURE));
    let error = rejected(&manifest, header_line(&manifest, "max"));
    assert_mentions(&error, &["step \"max\"", "plugin \"std:nope\" cannot be used", "no standard operator"]);
}

#[test]
fn a_missing_plugin_file_is_named_with_line_and_step() {
    let steps = [
        step("parse", "readings", "std:parse-csv", Some(SCHEMA)),
        step("convert", "parse", "plugins/missing.wasm", None),
    ];
    let manifest = job(&steps.concat(), "convert");
    let error = rejected(&manifest, header_line(&manifest, "convert"));
    let expected = ["step \"convert\"", "plugin \"plugins/missing.wasm\"", "plugins/missing.wasm: "];
    assert_mentions(&error, &expected);
}

#[test]
fn an_aggregate_reading_a_source_asks_for_a_parse_step() {
    let manifest = job(&step("max", "readings", "std:max", Some(TEMPERATURE)), "max");
    let error = rejected(&manifest, header_line(&manifest, "max"));
    assert_mentions(&error, &["step \"max\"", "aggregate operator", "source \"readings\"", "needs a parse"]);
}

#[test]
fn parse_csv_rejects_an_unknown_field_type() {
    let config = SCHEMA.replace("temperature:f64", "temperature:int8");
    let manifest = job(&step("parse", "readings", "std:parse-csv", Some(&config)), "parse");
    let error = rejected(&manifest, header_line(&manifest, "parse"));
    assert_mentions(&error, &["step \"parse\"", "rejected its config", "unknown type `int8`"]);
}

#[test]
fn max_without_a_field_is_rejected_by_its_constructor() {
    let manifest = with_max("std:max", None);
    let error = rejected(&manifest, header_line(&manifest, "max"));
    assert_mentions(&error, &["step \"max\"", "rejected its config", "missing config key `field`"]);
}

#[test]
fn an_unknown_key_in_a_step_is_named_with_its_line() {
    let manifest = with_max("std:max", Some(TEMPERATURE))
        .replace("plugin = \"std:key-by\"", "colour = \"red\"\nplugin = \"std:key-by\"");
    let error = rejected(&manifest, line_containing(&manifest, "colour"));
    assert_mentions(&error, &["step \"by-station\"", "unknown key \"colour\"", "the keys allowed here are"]);
}

#[test]
fn a_manifest_that_does_not_exist_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-job.toml");
    let error = assert_failed(&run_flicker(&["run", missing.to_str().unwrap()]));
    assert_mentions(&error, &[&format!("{}: cannot read the manifest", missing.display())]);
    let cause = "No such file or directory";
    assert_eq!(error.matches(cause).count(), 1, "the cause should be given once:\n{error}");
}

#[test]
fn a_misspelled_key_of_a_typed_operator_is_named_with_the_key_it_misspells() {
    let range = flicker_plugins::guest_artifact("temperature-range");
    let manifest = with_max(range.to_str().unwrap(), Some(r#"{ feild = "temperature" }"#));
    let error = rejected(&manifest, header_line(&manifest, "max"));
    let expected =
        ["step \"max\"", "rejected its config", "unknown config key `feild`", "did you mean `field`?"];
    assert_mentions(&error, &expected);
}

/// The parse step's config with `schema` instead of the reference job's.
fn parse_with(schema: &str) -> String {
    step(
        "parse",
        "readings",
        "std:parse-csv",
        Some(&format!(r#"{{ delimiter = ";", schema = "{schema}" }}"#)),
    )
}

#[test]
fn a_field_the_schema_names_differently_is_named_with_the_likely_one_before_any_task_runs() {
    let steps = [
        parse_with("station:string,temp:f64"),
        step("by-station", "parse", "std:key-by", Some(r#"{ fields = "station" }"#)),
        step("max", "by-station", "std:max", Some(TEMPERATURE)),
    ];
    let manifest = job(&steps.concat(), "max");
    let error = rejected(&manifest, header_line(&manifest, "max"));
    assert_mentions(
        &error,
        &[
            "step \"max\": plugin \"std:max\" cannot take its input rows".to_owned(),
            "it reads field `temperature`, which the rows do not have; did you mean `temp`?".to_owned(),
            format!(
                "Its input rows have: station: string, temp: f64 (from step \"parse\", line {}), keyed by station",
                header_line(&manifest, "parse")
            ),
        ],
    );
}

#[test]
fn key_by_filter_and_an_aggregate_on_a_field_that_does_not_exist_are_named() {
    let keyed_by = |fields: &str| {
        let steps = [
            parse_with("station:string,temperature:f64"),
            step("by-station", "parse", "std:key-by", Some(&format!(r#"{{ fields = "{fields}" }}"#))),
        ];
        job(&steps.concat(), "by-station")
    };
    let manifest = keyed_by("statoin");
    let error = rejected(&manifest, header_line(&manifest, "by-station"));
    assert_mentions(&error, &["step \"by-station\"", "field `statoin`", "did you mean `station`?"]);

    let filtered = |predicate: &str| {
        let config = format!(r#"{{ predicate = '{predicate}' }}"#);
        let steps = [
            parse_with("station:string,temperature:f64"),
            step("warm", "parse", "std:filter", Some(&config)),
        ];
        job(&steps.concat(), "warm")
    };
    let manifest = filtered("humidity > 50");
    let error = rejected(&manifest, header_line(&manifest, "warm"));
    assert_mentions(&error, &["step \"warm\"", "it reads field `humidity`, which the rows do not have."]);
    let manifest = filtered("station > 3");
    let error = rejected(&manifest, header_line(&manifest, "warm"));
    assert_mentions(&error, &["step \"warm\"", "field `station` is string, but it takes i64 or f64"]);

    let manifest = with_max("std:mean", Some(r#"{ field = "humidity" }"#));
    let error = rejected(&manifest, header_line(&manifest, "max"));
    assert_mentions(&error, &["step \"max\"", "plugin \"std:mean\"", "field `humidity`"]);
}

#[test]
fn a_text_field_read_as_a_number_is_named() {
    let steps = [
        parse_with("station:string,temperature:string"),
        step("by-station", "parse", "std:key-by", Some(r#"{ fields = "station" }"#)),
        step("max", "by-station", "std:max", Some(TEMPERATURE)),
    ];
    let manifest = job(&steps.concat(), "max");
    let error = rejected(&manifest, header_line(&manifest, "max"));
    assert_mentions(&error, &["step \"max\"", "field `temperature` is string, but it takes i64 or f64"]);
}

#[test]
fn a_serde_struct_that_expects_another_field_or_type_is_named() {
    let celsius = flicker_plugins::guest_artifact("celsius-to-fahrenheit");
    let converted = |schema: &str| {
        let steps = [parse_with(schema), step("convert", "parse", celsius.to_str().unwrap(), None)];
        job(&steps.concat(), "convert")
    };
    let manifest = converted("station:string,temp:f64");
    let error = rejected(&manifest, header_line(&manifest, "convert"));
    assert_mentions(&error, &["step \"convert\"", "it reads field `temperature`", "did you mean `temp`?"]);
    let manifest = converted("station:string,temperature:string");
    let error = rejected(&manifest, header_line(&manifest, "convert"));
    assert_mentions(&error, &["step \"convert\"", "field `temperature` is string, but it takes f64"]);
}

#[test]
fn a_field_mistake_on_a_cluster_is_refused_at_submission_and_no_task_runs() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = crate::cluster::Cluster::start(dir.path(), 2, 1);
    write_file(&dir.path().join("data/readings.txt"), "Oslo;1.5\n");
    let manifest = with_max("std:max", Some(r#"{ field = "temp" }"#));
    let path = write_manifest(dir.path(), &manifest);
    let submitted = cluster.client(&["submit", path.to_str().unwrap(), "--wait"]);
    let error = assert_failed(&submitted);
    assert_mentions(&error, &["step \"max\"", "it reads field `temp`", "did you mean `temperature`?"]);
    // The job was never accepted: no job, no task, no executor excluded.
    assert_eq!(cluster.json(&["status"]), serde_json::json!([]));
    let nodes = cluster.json(&["nodes"]);
    assert!(nodes.as_array().unwrap().iter().all(|n| n["state"] == "alive" && n["running"] == 0), "{nodes}");
}

/// Runs the example operators as built for an earlier `flicker:operator` version (checked in
/// under `tests/data/operator-<version>/`) in a job: they load and run unchanged. Returns the
/// job's manifest and its directory.
fn components_built_for_an_earlier_version_still_run(version: &str) -> (String, tempfile::TempDir) {
    let old = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/data/operator-{version}"));
    let dir = tempfile::tempdir().unwrap();
    write_file(&dir.path().join("data/readings.txt"), "Oslo;10\nOslo;20\nBergen;-5\n");
    let plugin = |name: &str| crate::support::toml_string(old.join(name).to_str().unwrap());
    let manifest = format!(
        r#"name = "old-components"

[[source]]
id = "readings"
url = "data/"

[[step]]
id = "parse"
input = "readings"
plugin = "std:parse-csv"
config = {SCHEMA}

[[step]]
id = "fahrenheit"
input = "parse"
plugin = {}

[[step]]
id = "by-station"
input = "fahrenheit"
plugin = "std:key-by"
config = {{ fields = "station" }}

[[step]]
id = "warmest"
input = "by-station"
plugin = {}

[[sink]]
id = "out"
input = "warmest"
url = "out/"
plugin = "std:format-csv"
"#,
        plugin("celsius_to_fahrenheit.wasm"),
        plugin("warmest_reading.wasm"),
    );
    let path = write_manifest(dir.path(), &manifest);
    crate::support::assert_succeeded(&run_job(&path, &["--workers", "2"]));
    // Parts that got no row hold the key column's header only.
    let mut rows: Vec<String> = crate::support::read_committed(&dir.path().join("out"))
        .iter()
        .flat_map(|(_, text)| text.lines().filter(|line| !line.starts_with("station")).map(str::to_owned))
        .collect::<Vec<_>>();
    rows.sort();
    assert_eq!(rows, ["Bergen,23", "Oslo,68"]);
    (manifest, dir)
}

#[test]
fn components_built_for_operator_0_2_0_still_run() {
    components_built_for_an_earlier_version_still_run("0.2.0");
}

#[test]
fn components_built_for_operator_0_2_1_still_run_and_still_check_their_rows_before_the_job() {
    let (manifest, dir) = components_built_for_an_earlier_version_still_run("0.2.1");
    // Their `map-schema@0.2.1` export is still found: a field they read that the rows lack is
    // refused before any task runs.
    let renamed = manifest.replace("temperature:f64", "temp:f64");
    let error = assert_failed(&run_job(&write_manifest(dir.path(), &renamed), &[]));
    assert_mentions(&error, &["step \"fahrenheit\"", "`temperature`"]);
}

#[test]
fn a_step_after_a_typed_operator_is_checked_against_the_fields_of_its_serde_type() {
    let celsius = flicker_plugins::guest_artifact("celsius-to-fahrenheit");
    let max_of = |field: &str| {
        let steps = [
            parse_with("station:string,temperature:f64"),
            step("convert", "parse", celsius.to_str().unwrap(), None),
            step("by-station", "convert", "std:key-by", Some(r#"{ fields = "station" }"#)),
            step("max", "by-station", "std:max", Some(&format!(r#"{{ field = "{field}" }}"#))),
        ];
        job(&steps.concat(), "max")
    };
    let manifest = max_of("temp");
    let error = rejected(&manifest, header_line(&manifest, "max"));
    assert_mentions(
        &error,
        &[
            "step \"max\": plugin \"std:max\" cannot take its input rows".to_owned(),
            "it reads field `temp`, which the rows do not have; did you mean `temperature`?".to_owned(),
            format!(
                "Its input rows have: station: string, temperature: f64 (from step \"parse\", line {}), keyed by station",
                header_line(&manifest, "parse")
            ),
        ],
    );

    let dir = tempfile::tempdir().unwrap();
    write_file(&dir.path().join("data/readings.txt"), "Oslo;10\nOslo;20\nBergen;-5\n");
    let path = write_manifest(dir.path(), &max_of("temperature"));
    crate::support::assert_succeeded(&run_job(&path, &[]));
    let mut rows = crate::support::read_csv_output(&dir.path().join("out"), "station,max");
    rows.sort();
    assert_eq!(rows, [["Bergen", "23"], ["Oslo", "68"]]);
}
