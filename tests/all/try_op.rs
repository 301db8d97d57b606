//! `flicker test`: one operator on a few records, of every kind, through the binary; and the
//! captured stdout and stderr of an operator instance it prints.

use crate::support::{
    assert_failed, assert_mentions, assert_succeeded, config, flicker, guest_plugin, runtime, stderr,
};
use flicker_batch::{BatchWriter, Schema, ValueRef};
use flicker_host::{CallError, CapturedText, Limits};
use serde_json::json;
use std::io::Write;
use std::process::{Output, Stdio};

/// Runs `flicker test ARGS…`.
fn test(args: &[&str]) -> Output {
    flicker().arg("test").args(args).output().expect("the flicker binary runs")
}

/// The path of a built example or test plugin, as an argument.
fn artifact(package: &str) -> String {
    flicker_plugins::guest_artifact(package).display().to_string()
}

const READINGS: &str = "station:string,temperature:f64";

#[test]
fn a_parser_prints_its_rows_as_a_table() {
    let output = test(&[
        "std:parse-csv",
        "--config",
        &format!("schema={READINGS}"),
        "--config",
        "delimiter=;",
        "--input",
        "Oslo;12.3",
        "--input",
        "Bergen;8",
    ]);
    assert_eq!(assert_succeeded(&output), "station  temperature\nOslo     12.3\nBergen   8\n");
    assert_eq!(stderr(&output), "", "the operator printed nothing");
}

#[test]
fn rows_as_json_are_an_array_of_objects() {
    let output = test(&[
        "std:parse-csv",
        "-c",
        "schema=station:string,temperature:f64,count:i64,ok:bool",
        "-c",
        "delimiter=;",
        "--input",
        "Oslo;12.3;4;true\nBergen;-8;0;false",
        "--output",
        "json",
    ]);
    let rows: serde_json::Value = serde_json::from_str(&assert_succeeded(&output)).expect("stdout is JSON");
    assert_eq!(
        rows,
        json!([
            { "station": "Oslo", "temperature": 12.3, "count": 4, "ok": true },
            { "station": "Bergen", "temperature": -8.0, "count": 0, "ok": false },
        ])
    );
}

#[test]
fn a_map_example_converts_each_row() {
    let plugin = artifact("celsius-to-fahrenheit");
    let output = test(&[&plugin, "--schema", READINGS, "--input", "Oslo;10", "--input", "Bergen;-40"]);
    assert_eq!(assert_succeeded(&output), "station  temperature\nOslo     50\nBergen   -40\n");
}

/// The `station`-to-value pairs of a JSON array of rows, sorted: the order of an aggregate's keys
/// is the shuffle's.
fn per_station(rows: &serde_json::Value, field: &str) -> Vec<(String, f64)> {
    let mut pairs: Vec<(String, f64)> = rows
        .as_array()
        .expect("an array of rows")
        .iter()
        .map(|row| (row["station"].as_str().unwrap().to_owned(), row[field].as_f64().unwrap()))
        .collect();
    pairs.sort_by(|a, b| a.0.cmp(&b.0));
    pairs
}

#[test]
fn a_standard_aggregate_gives_one_row_per_key() {
    // A chunk size of 8 bytes makes one `update` per record; the last records come from stdin.
    let mut child = flicker()
        .args(["test", "std:max", "-c", "field=temperature", "--key", "station", "--schema", READINGS])
        .args(["--input", "Oslo;1\nBergen;5", "--input-file", "-", "--chunk-size", "8", "--output", "json"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the flicker binary runs");
    child.stdin.take().unwrap().write_all(b"Oslo;7\nBergen;-2\nAbha;40\n").unwrap();
    let output = child.wait_with_output().unwrap();
    let rows: serde_json::Value = serde_json::from_str(&assert_succeeded(&output)).expect("stdout is JSON");
    assert_eq!(
        per_station(&rows, "max"),
        [("Abha".to_owned(), 40.0), ("Bergen".to_owned(), 5.0), ("Oslo".to_owned(), 7.0)]
    );
    assert_eq!(rows[0].as_object().unwrap().len(), 2, "the key field is not repeated: {rows}");
}

#[test]
fn an_aggregate_example_shows_its_partials_and_final_rows() {
    let plugin = artifact("temperature-range");
    let output = test(&[
        &plugin,
        "--key",
        "station",
        "--schema",
        READINGS,
        "--input",
        "Oslo;1\nBergen;5\nOslo;7\nBergen;-2",
        "--show-partials",
        "--output",
        "json",
    ]);
    let shown: serde_json::Value = serde_json::from_str(&assert_succeeded(&output)).expect("stdout is JSON");
    assert_eq!(
        per_station(&shown["partials"], "min"),
        [("Bergen".to_owned(), -2.0), ("Oslo".to_owned(), 1.0)]
    );
    assert_eq!(
        per_station(&shown["partials"], "max"),
        [("Bergen".to_owned(), 5.0), ("Oslo".to_owned(), 7.0)]
    );
    assert_eq!(per_station(&shown["rows"], "range"), [("Bergen".to_owned(), 7.0), ("Oslo".to_owned(), 6.0)]);
}

#[test]
fn a_format_operator_prints_its_bytes() {
    // Two calls (one record per chunk): the header comes once.
    let output = test(&[
        "std:format-csv",
        "--schema",
        READINGS,
        "--delimiter",
        ",",
        "--input",
        "Oslo,1.5",
        "--input",
        "Bergen,2",
        "--chunk-size",
        "1",
    ]);
    assert_eq!(assert_succeeded(&output), "station,temperature\nOslo,1.5\nBergen,2\n");
}

#[test]
fn a_bad_record_is_named_with_its_number_file_line_and_text() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("rows.txt");
    std::fs::write(&file, "Bergen;2\nTromsø;x\nAbha;40\n").unwrap();
    let file = file.display().to_string();
    let parse = test(&[
        "std:parse-csv",
        "-c",
        &format!("schema={READINGS}"),
        "-c",
        "delimiter=;",
        "--input",
        "Oslo;1",
        "--input-file",
        &file,
    ]);
    assert_mentions(
        &assert_failed(&parse),
        &[
            &format!(r#"std:parse-csv (parse) failed at record 3 "Tromsø;x" ({file} line 2)"#),
            "operator returned an error: bad record: field `temperature`: \"x\" is not a valid f64",
        ],
    );
    // The same records read with --schema for a map.
    let plugin = artifact("celsius-to-fahrenheit");
    let map = test(&[&plugin, "--schema", READINGS, "--input", "Oslo;1", "--input-file", &file]);
    assert_mentions(
        &assert_failed(&map),
        &[
            &format!(
                r#"std:parse-csv (reading --schema {READINGS}) failed at record 3 "Tromsø;x" ({file} line 2)"#
            ),
            "is not a valid f64",
        ],
    );
}

#[test]
fn what_an_operator_prints_is_shown_after_its_rows() {
    let plugin = artifact("flicker-test-plugin");
    let output =
        test(&[&plugin, "-c", "behave=print", "-c", "message=hi", "--schema", "n:i64", "--input", "1\n2"]);
    assert_eq!(assert_succeeded(&output), "n\n1\n2\n", "the rows alone on stdout");
    assert_eq!(
        stderr(&output),
        "operator stdout (map):\n  stdout: hi\noperator stderr (map):\n  stderr: hi\n"
    );

    // 10,000 lines of 14 bytes on each stream: the first and the last 32 KiB of each are kept.
    let flood =
        test(&[&plugin, "-c", "behave=print", "-c", "times=10000", "--schema", "n:i64", "--input", "1"]);
    assert_succeeded(&flood);
    let dropped = 10_000 * "stdout: hello\n".len() - (64 << 10);
    let shown = stderr(&flood);
    assert_eq!(shown.matches(&format!("  … {dropped} more bytes dropped\n")).count(), 2, "{shown:.300}");
}

#[test]
fn a_trapping_operator_fails_with_its_panic_message() {
    let plugin = artifact("flicker-test-plugin");
    let output =
        test(&[&plugin, "-c", "behave=panic", "-c", "message=kaboom", "--schema", "n:i64", "--input", "1"]);
    let error = assert_failed(&output);
    assert_mentions(&error, &["operator stderr (map):", "kaboom", "(map) failed: operator trapped: "]);
    assert_eq!(error.matches("kaboom").count(), 1, "the panic message is shown once:\n{error}");
    let returned = test(&[&plugin, "-c", "behave=fail", "--schema", "n:i64", "--input", "1"]);
    assert_mentions(
        &assert_failed(&returned),
        &["(map) failed: operator returned an error: failing as asked"],
    );
}

#[test]
fn flags_that_do_not_fit_the_operator_are_refused() {
    let parser_with_schema = test(&["std:parse-csv", "--schema", READINGS, "--input", "Oslo;1"]);
    assert_mentions(
        &assert_failed(&parser_with_schema),
        &["--schema applies to map, aggregate and format", "--config"],
    );
    let map_without_schema = test(&["std:key-by", "-c", "fields=station", "--input", "Oslo;1"]);
    assert_mentions(&assert_failed(&map_without_schema), &["std:key-by is a map operator", "--schema"]);
    let unknown = test(&["std:nope", "--input", "x"]);
    assert_mentions(
        &assert_failed(&unknown),
        &["there is no standard operator \"std:nope\"", "std:parse-csv"],
    );
    let bad_config = test(&["std:max", "--schema", READINGS, "--input", "Oslo;1"]);
    assert_mentions(
        &assert_failed(&bad_config),
        &["std:max: cannot create the operator", "invalid config", "field"],
    );
}

/// The host side: an instance keeps the first and the last bytes of what its guest wrote to
/// stdout and stderr, counts those cut between, and still has them after it trapped.
#[test]
fn an_instance_keeps_what_its_guest_printed() {
    let runtime = runtime();
    let plugin = runtime.load(&guest_plugin("flicker-test-plugin")).unwrap();
    let mut batch = BatchWriter::new(&Schema::values(["n"]));
    batch.push_values([], [ValueRef::I64(1)]);
    let batch = batch.finish();

    let print = config(&[("behave", "print"), ("message", "hi"), ("times", "2")]);
    let mut printing = plugin.map(&print, Limits::default()).unwrap();
    assert!(printing.output().is_empty(), "nothing printed before the first call");
    printing.map(&batch).unwrap();
    let output = printing.output();
    assert_eq!(output.stdout, CapturedText { text: "stdout: hi\nstdout: hi\n".into(), dropped: 0 });
    assert_eq!(output.stderr, CapturedText { text: "stderr: hi\nstderr: hi\n".into(), dropped: 0 });
    assert_eq!(printing.stderr(), "stderr: hi\nstderr: hi\n");

    let small = Limits { captured: 15, ..Limits::default() };
    let mut bounded = plugin.map(&print, small).unwrap();
    bounded.map(&batch).unwrap();
    // The first half and the last half of the capacity are kept, the cut marked (issue 15).
    let kept = "stdout:\n[... 7 bytes cut ...]\nout: hi\n";
    assert_eq!(bounded.output().stdout, CapturedText { text: kept.into(), dropped: 7 });

    let mut panicking =
        plugin.map(&config(&[("behave", "panic"), ("message", "kaboom")]), Limits::default()).unwrap();
    let CallError::Trapped { stderr, .. } = panicking.map(&batch).unwrap_err() else {
        panic!("a panic traps")
    };
    assert!(stderr.contains("kaboom"), "{stderr}");
    assert_eq!(panicking.output().stderr.text, stderr);
    assert!(panicking.output().stdout.is_empty());
}
