//! Operators written in Python: a map built from source by componentize-py (installed by
//! `scripts/setup.sh`) with no WASI imports loads into an operator sandbox and runs in a job as a
//! Rust one does, its rows checked against the input.

use crate::support::{assert_succeeded, read_csv_output, run_job, write_file, write_manifest};
use std::path::Path;
use std::process::Command;

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
