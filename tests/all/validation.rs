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
