//! `flicker new` and `flicker build`: a project of every kind in every language, made from its
//! template, builds with one command, runs its sample job with the expected result, and passes
//! its own test (`cargo test`, `python3 -m unittest`, `node --test`).

use crate::support::{assert_succeeded, flicker, read_committed};
use std::path::Path;
use std::process::Command;

/// The sample input every template writes (`project/templates/common/readings.txt`).
const SAMPLE: &str = include_str!("../../project/templates/common/readings.txt");

/// The sample's readings.
fn readings() -> Vec<(String, f64)> {
    SAMPLE
        .lines()
        .map(|line| {
            let (station, t) = line.split_once(';').unwrap();
            (station.to_owned(), t.parse().unwrap())
        })
        .collect()
}

/// What the sample job of a project of `kind` outputs, as sorted `(station, temperature)` pairs.
fn expected(kind: &str) -> Vec<(String, f64)> {
    let mut rows = match kind {
        "map" => readings().into_iter().map(|(s, t)| (s, t * 9.0 / 5.0 + 32.0)).collect(),
        "aggregate" => {
            let mut warmest = std::collections::BTreeMap::new();
            for (station, t) in readings() {
                let best = warmest.entry(station).or_insert(t);
                *best = best.max(t);
            }
            warmest.into_iter().collect()
        }
        _ => readings(),
    };
    rows.sort_by(|a, b| a.partial_cmp(b).unwrap());
    rows
}

/// The `(station, temperature)` pairs of a committed output: CSV with a header, or a format
/// template's `station: temperature` lines.
fn output(out: &Path, kind: &str) -> Vec<(String, f64)> {
    let text: String = read_committed(out).into_iter().map(|(_, text)| text).collect();
    let mut rows: Vec<(String, f64)> = text
        .lines()
        .filter(|line| *line != "station,temperature")
        .map(|line| {
            let (station, t) = if kind == "format" { line.split_once(": ") } else { line.rsplit_once(',') }
                .unwrap_or_else(|| panic!("unexpected line {line:?}"));
            (station.trim_matches('"').to_owned(), t.parse().unwrap_or_else(|_| panic!("{line:?}")))
        })
        .collect();
    rows.sort_by(|a, b| a.partial_cmp(b).unwrap());
    rows
}

/// Makes, builds and runs a project of every kind in `language`, and runs its own test with
/// `test` (a program and its arguments, run in the project's folder).
fn every_kind_builds_runs_and_passes_its_test(language: &str, test: &[&str], env: &[(&str, &Path)]) {
    let dir = tempfile::tempdir().unwrap();
    for kind in ["map", "aggregate", "parse", "format"] {
        let name = format!("{language}-{kind}");
        let made = flicker()
            .args(["new", &name, "--kind", kind, "--lang", language, "--dir"])
            .arg(dir.path())
            .output();
        assert_succeeded(&made.unwrap());
        let project = dir.path().join(&name);
        let mut build = flicker();
        build.arg("build").current_dir(&project).envs(env.iter().copied());
        let built = assert_succeeded(&build.output().unwrap());
        let wasm = format!("target/{name}.wasm");
        assert!(built.starts_with(&format!("built {}", project.join(&wasm).display())), "{built}");
        for _ in 0..2 {
            let run = flicker().args(["run", "job.toml"]).current_dir(&project).output().unwrap();
            assert_succeeded(&run);
            assert_eq!(output(&project.join("out"), kind), expected(kind), "{name}: the sample job's output");
        }
        let tested =
            Command::new(test[0]).args(&test[1..]).current_dir(&project).envs(env.iter().copied()).output();
        let tested = tested.unwrap_or_else(|e| panic!("{}: {e}", test[0]));
        assert!(
            tested.status.success(),
            "{name}: its test failed:\n{}{}",
            String::from_utf8_lossy(&tested.stdout),
            String::from_utf8_lossy(&tested.stderr)
        );
    }
}

#[test]
fn every_kind_of_js_project_builds_runs_and_passes_its_test() {
    every_kind_builds_runs_and_passes_its_test("js", &["node", "--test"], &[]);
}

#[test]
fn every_kind_of_python_project_builds_runs_and_passes_its_test() {
    every_kind_builds_runs_and_passes_its_test("python", &["python3", "-m", "unittest"], &[]);
}

/// The Rust projects share a cargo target folder kept between runs, so their dependencies build
/// once.
#[test]
fn every_kind_of_rust_project_builds_runs_and_passes_its_test() {
    let target = Path::new(env!("CARGO_TARGET_TMPDIR")).join("new-rust-projects");
    every_kind_builds_runs_and_passes_its_test(
        "rust",
        &["cargo", "test", "--quiet"],
        &[("CARGO_TARGET_DIR", &target)],
    );
}

#[test]
fn flicker_build_outside_a_project_and_without_its_builder_says_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let output = flicker().arg("build").current_dir(dir.path()).output().unwrap();
    assert!(!output.status.success());
    let error = String::from_utf8_lossy(&output.stderr);
    assert!(error.contains("is not an operator project") && error.contains("flicker new"), "{error}");

    assert_succeeded(
        &flicker()
            .args(["new", "op", "--kind", "map", "--lang", "python", "--dir"])
            .arg(dir.path())
            .output()
            .unwrap(),
    );
    let output = flicker()
        .arg("build")
        .current_dir(dir.path().join("op"))
        .env("FLICKER_COMPONENTIZE_PY", "")
        .env("PATH", dir.path())
        .output()
        .unwrap();
    assert!(!output.status.success());
    let error = String::from_utf8_lossy(&output.stderr);
    assert!(
        error.contains("componentize-py is not installed")
            && error.contains("pip install componentize-py==0.25.1"),
        "{error}"
    );
    assert!(!dir.path().join("op/target").exists(), "nothing half built");
}
