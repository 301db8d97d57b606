//! Operators written in Python: built from source by `flicker build` (componentize-py, installed
//! by `scripts/setup.sh`, with no WASI imports) and run in jobs like Rust ones, locally and on a
//! cluster, their results checked against an oracle; and Python operators that misbehave stopped
//! as Rust ones are.

use crate::cluster::{Cluster, expected_max, readings_in};
use crate::run::{generate_readings, parse_readings, write_readings};
use crate::support::{
    assert_failed, assert_succeeded, flicker, read_csv_output, run_job, stderr, toml_string, write_file,
    write_manifest,
};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, PoisonError};

/// Builds the operator project in the repository folder `source` with `flicker build`, once per
/// test process, in a copy under the build's scratch directory; returns its component.
pub(crate) fn built_project(source: &str) -> PathBuf {
    static BUILT: Mutex<BTreeMap<String, PathBuf>> = Mutex::new(BTreeMap::new());
    let mut built = BUILT.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(wasm) = built.get(source) {
        return wasm.clone();
    }
    let from = Path::new(env!("CARGO_MANIFEST_DIR")).join(source);
    let to = Path::new(env!("CARGO_TARGET_TMPDIR")).join("projects").join(source.replace('/', "-"));
    let _ = std::fs::remove_dir_all(&to);
    copy_tree(&from, &to);
    let output = flicker().arg("build").arg(&to).output().expect("flicker build runs");
    let printed = assert_succeeded(&output);
    let wasm = printed
        .strip_prefix("built ")
        .and_then(|rest| rest.split(" (").next())
        .unwrap_or_else(|| panic!("no path in {printed:?}"));
    let wasm = PathBuf::from(wasm);
    assert!(wasm.is_file(), "{printed}");
    built.insert(source.to_owned(), wasm.clone());
    wasm
}

/// Copies the folder `from` into `to`, leaving out build output (`target/`, `node_modules/`).
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        if entry.file_type().unwrap().is_dir() {
            if name != "target" && name != "node_modules" && name != "__pycache__" {
                copy_tree(&entry.path(), &to.join(&name));
            }
        } else {
            std::fs::copy(entry.path(), to.join(&name)).unwrap();
        }
    }
}

/// The warmest reading in Fahrenheit per station: parse, `map` (Celsius to Fahrenheit), key by
/// station, `reduce` (the warmest reading) in 3 partitions, CSV to `out/`.
pub(crate) fn warmest_fahrenheit_job(map: &Path, reduce: &Path) -> String {
    let head = parse_readings("warmest-fahrenheit", "");
    format!(
        r#"{head}
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
partitions = 3

[[sink]]
id = "out"
input = "warmest"
url = "out/"
plugin = "std:format-csv"
"#,
        toml_string(map.to_str().unwrap()),
        toml_string(reduce.to_str().unwrap()),
    )
}

/// The warmest reading in Fahrenheit per station, computed directly: the conversion is
/// monotonic, so it is the conversion of the warmest reading, bit for bit.
pub(crate) fn expected_warmest_fahrenheit(readings: &[crate::run::Reading]) -> BTreeMap<String, f64> {
    expected_max(readings).into_iter().map(|(station, max)| (station, max * 9.0 / 5.0 + 32.0)).collect()
}

/// The `station,temperature` rows of `out`, by station.
pub(crate) fn output_temperatures(out: &Path) -> BTreeMap<String, f64> {
    let mut found = BTreeMap::new();
    for row in read_csv_output(out, "station,temperature") {
        let temperature: f64 = row[1].parse().unwrap();
        assert!(found.insert(row[0].clone(), temperature).is_none(), "{} is output twice", row[0]);
    }
    found
}

/// The Celsius map and the warmest-reading reduce of `examples/<language>`, built from source.
fn examples(language: &str) -> (PathBuf, PathBuf) {
    (
        built_project(&format!("examples/{language}/celsius-to-fahrenheit")),
        built_project(&format!("examples/{language}/warmest-reading")),
    )
}

/// The examples of `examples/<language>` in a local job over 20,000 readings (of `seed`) give
/// the oracle's warmest reading per station, in Fahrenheit.
pub(crate) fn assert_the_examples_give_the_oracle_s_result(language: &str, seed: u64) {
    let (map, reduce) = examples(language);
    let dir = tempfile::tempdir().unwrap();
    let readings = generate_readings(20_000, seed);
    write_readings(&dir.path().join("data"), &readings, false);
    let manifest = write_manifest(dir.path(), &warmest_fahrenheit_job(&map, &reduce));
    let summary = assert_succeeded(&run_job(&manifest, &["--workers", "2"]));
    assert!(summary.contains("rows in 20000 (skipped 0)"), "{summary}");
    assert_eq!(output_temperatures(&dir.path().join("out")), expected_warmest_fahrenheit(&readings));
}

/// The same job submitted to a cluster of three executors (real processes, QUIC), which fetch
/// the components from the scheduler.
pub(crate) fn assert_the_examples_give_the_oracle_s_result_on_a_cluster(language: &str, seed: u64) {
    let (map, reduce) = examples(language);
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::start(dir.path(), 3, 2);
    let readings = readings_in(dir.path(), 20_000, seed);
    let manifest = write_manifest(dir.path(), &warmest_fahrenheit_job(&map, &reduce));
    let output = cluster.client(&["submit", manifest.to_str().unwrap(), "--wait"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(output_temperatures(&dir.path().join("out")), expected_warmest_fahrenheit(&readings));
}

#[test]
fn the_python_examples_run_in_a_job_with_the_oracle_s_result() {
    assert_the_examples_give_the_oracle_s_result("python", 11);
}

#[test]
fn the_python_examples_run_on_a_three_executor_cluster() {
    assert_the_examples_give_the_oracle_s_result_on_a_cluster("python", 12);
}

#[test]
fn a_python_operator_s_input_fields_are_checked_before_the_job_runs() {
    let map = built_project("examples/python/celsius-to-fahrenheit");
    let dir = tempfile::tempdir().unwrap();
    write_file(&dir.path().join("data/a.txt"), "a;1.5\n");
    let job = format!(
        "{}\n[[step]]\nid = \"fahrenheit\"\ninput = \"parse\"\nplugin = {}\n\n[[sink]]\nid = \"out\"\ninput = \"fahrenheit\"\nurl = \"out/\"\nplugin = \"std:format-csv\"\n",
        parse_readings("typo", "").replace("temperature:f64", "temprature:f64"),
        toml_string(map.to_str().unwrap())
    );
    let error = assert_failed(&run_job(&write_manifest(dir.path(), &job), &[]));
    assert!(
        error
            .contains("it reads field `temperature`, which the rows do not have; did you mean `temprature`?"),
        "{error}"
    );
}

/// A job of the hostile map `project` (a folder of the repository) over 200 rows `n;s<n>`, its
/// step `operator` set up by `settings`.
pub(crate) fn hostile_job(dir: &Path, project: &str, settings: &str) -> PathBuf {
    let lines: String = (0..200).map(|n| format!("{n};s{n}\n")).collect();
    write_file(&dir.join("rows/rows.txt"), &lines);
    let plugin = built_project(project);
    write_manifest(
        dir,
        &format!(
            r#"name = "hostile"
max_attempts = 1

[[source]]
id = "rows"
url = "rows/"

[[step]]
id = "parse"
input = "rows"
plugin = "std:parse-csv"
config = {{ delimiter = ";", schema = "n:i64,text:string" }}

[[step]]
id = "operator"
input = "parse"
plugin = {}
{settings}

[[sink]]
id = "out"
input = "operator"
url = "out/"
plugin = "std:format-csv"
"#,
            toml_string(plugin.to_str().unwrap())
        ),
    )
}

/// The hostile Python operator's project.
const PYTHON_HOSTILE: &str = "tests/data/python-hostile";

/// How the hostile map `project` fails its job when its step is set up by `settings`: nothing
/// is published.
pub(crate) fn hostile_failure(project: &str, settings: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let manifest = hostile_job(dir.path(), project, settings);
    let error = assert_failed(&run_job(&manifest, &[]));
    assert!(!dir.path().join("out/_SUCCESS").exists(), "{error}");
    error
}

/// The hostile map `project` raising on row 137 fails with a bad record of step `operator`
/// naming the row and saying `raised`; one that prints, then raises `gave_up`, fails with what
/// it printed.
pub(crate) fn assert_exceptions_are_bad_records_naming_the_row(project: &str, raised: &str, gave_up: &str) {
    let error = hostile_failure(project, r#"config = { behave = "raise", at = "137" }"#);
    assert!(error.contains("step \"operator\""), "{error}");
    assert!(error.contains(&format!("bad record: {raised}")), "{error}");
    assert!(error.contains("137") && error.contains("s137"), "the row is named: {error}");
    let error = hostile_failure(project, r#"config = { behave = "print" }"#);
    assert!(error.contains(gave_up), "{error}");
    assert!(error.contains("[it printed:]\nlooking at row 0"), "what it printed comes with it: {error}");
}

/// The hostile map `project` looping is stopped at its call timeout.
pub(crate) fn assert_a_loop_hits_the_call_timeout(project: &str) {
    let error =
        hostile_failure(project, "config = { behave = \"loop\" }\nlimits = { call_timeout = \"300ms\" }");
    assert!(error.contains("call timeout of 300ms reached"), "{error}");
}

#[test]
fn a_python_exception_on_a_row_is_a_bad_record_naming_the_row() {
    assert_exceptions_are_bad_records_naming_the_row(
        PYTHON_HOSTILE,
        "ValueError: no row 137, please (at app.py:",
        "RuntimeError: gave up",
    );
}

#[test]
fn a_python_operator_that_loops_hits_the_call_timeout() {
    assert_a_loop_hits_the_call_timeout(PYTHON_HOSTILE);
}

#[test]
fn a_python_operator_that_allocates_without_end_hits_the_memory_limit() {
    let error =
        hostile_failure(PYTHON_HOSTILE, "config = { behave = \"alloc\" }\nlimits = { memory = \"64MiB\" }");
    assert!(error.contains("memory limit of 64 MiB reached"), "{error}");
    // An operator that catches the MemoryError and fails with an error of its own still hit
    // the limit: that is what the host reports.
    let error = hostile_failure(
        PYTHON_HOSTILE,
        "config = { behave = \"alloc-caught\" }\nlimits = { memory = \"64MiB\" }",
    );
    assert!(error.contains("memory limit of 64 MiB reached"), "{error}");
    assert!(!error.contains("out of memory, it says"), "{error}");
}

#[test]
fn a_python_operator_reads_no_file_and_no_environment() {
    let error = hostile_failure(PYTHON_HOSTILE, r#"config = { behave = "read-file" }"#);
    assert!(error.contains("operator trapped"), "{error}");
    assert!(error.contains("filesystem"), "it has no filesystem to call: {error}");
    assert!(!error.contains("root:"), "{error}");

    let dir = tempfile::tempdir().unwrap();
    let manifest = hostile_job(dir.path(), PYTHON_HOSTILE, r#"config = { behave = "env" }"#);
    let run = crate::support::flicker()
        .arg("run")
        .arg(&manifest)
        .env("FLICKER_TEST_SECRET", "hunter2")
        .output()
        .unwrap();
    assert_succeeded(&run);
    let rows = read_csv_output(&dir.path().join("out"), "n,text");
    assert_eq!(rows.len(), 200);
    assert!(rows.iter().all(|row| row[1] == "[]"), "an empty environment: {:?}", &rows[0]);
}

/// Builds the Python operator in `tests/data/<name>` (world `map-operator`) into `out`.
fn componentize(name: &str, out: &Path) {
    let program = std::env::var("FLICKER_COMPONENTIZE_PY").expect(
        "FLICKER_COMPONENTIZE_PY: run the tests through scripts/test.sh (it sources scripts/setup.sh)",
    );
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let source = repo.join("tests/data").join(name);
    let output = Command::new(&program)
        .args(["-d", repo.join("wit").to_str().unwrap(), "-w", "map-operator", "componentize", "app"])
        .args(["-p", source.to_str().unwrap(), "--stub-wasi", "-o", out.to_str().unwrap()])
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    assert!(output.status.success(), "componentize-py failed:\n{}", String::from_utf8_lossy(&output.stderr));
}

/// A component of the bare `map-operator` world, written against the interface with no SDK
/// (what componentize-py makes of any Python module), runs too.
#[test]
fn a_python_map_built_by_componentize_py_runs_in_a_job() {
    let dir = tempfile::tempdir().unwrap();
    componentize("python-identity", &dir.path().join("identity.wasm"));
    let lines: String = (0..500).map(|n| format!("s{};{}.5\n", n % 7, n as i64 - 250)).collect();
    write_file(&dir.path().join("in/readings.txt"), &lines);
    let manifest = write_manifest(
        dir.path(),
        r#"name = "python"

[[source]]
id = "in"
url = "in/"

[[step]]
id = "parse"
input = "in"
plugin = "std:parse-csv"
config = { delimiter = ";", schema = "station:string,temperature:f64" }

[[step]]
id = "same"
input = "parse"
plugin = "identity.wasm"

[[sink]]
id = "out"
input = "same"
url = "out/"
plugin = "std:format-csv"
"#,
    );
    assert_succeeded(&run_job(&manifest, &["--workers", "2"]));
    let mut rows = read_csv_output(&dir.path().join("out"), "station,temperature");
    let mut expected: Vec<Vec<String>> =
        lines.lines().map(|line| line.split(';').map(str::to_owned).collect()).collect();
    rows.sort();
    expected.sort();
    assert_eq!(rows, expected, "every row as it came through the Python operator");
}
