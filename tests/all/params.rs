//! Job parameters through the `flicker` binary: `${name}` placeholders with defaults in
//! `[params]`, set by `--param name=value` on `run` and `submit`.

use crate::cluster::Cluster;
use crate::support::{
    assert_failed, assert_mentions, assert_succeeded, csv_quote, line_containing, read_csv_output, run_job,
    stderr, write_file, write_manifest,
};
use std::path::Path;

/// A map-only job whose input and output directories come from the param `day` and whose filter
/// threshold from `threshold`.
const JOB: &str = r#"name = "params"

[params]
day = "monday"
threshold = 0

[[source]]
id = "readings"
url = "data/${day}/"

[[step]]
id = "parse"
input = "readings"
plugin = "std:parse-csv"
config = { delimiter = ";", schema = "station:string,temperature:f64" }

[[step]]
id = "warm"
input = "parse"
plugin = "std:filter"
config = { predicate = "temperature > ${threshold}" }

[[sink]]
id = "out"
input = "warm"
url = "out/${day}/"
plugin = "std:format-csv"
"#;

/// Writes the readings of monday and tuesday under `dir/data/` and [`JOB`] as `dir/job.toml`.
fn write_job(dir: &Path, job: &str) -> std::path::PathBuf {
    write_file(&dir.join("data/monday/readings.txt"), "Oslo;-3.5\nLima;18.0\nNuuk;0.5\n");
    write_file(&dir.join("data/tuesday/readings.txt"), "Oslo;2.0\nLima;25.5\nNuuk;-1.0\n");
    write_manifest(dir, job)
}

/// The stations in the committed output at `out`, sorted.
fn stations(out: &Path) -> Vec<String> {
    let mut stations: Vec<String> =
        read_csv_output(out, "station,temperature").into_iter().map(|row| row[0].clone()).collect();
    stations.sort();
    stations
}

#[test]
fn a_job_with_params_runs_with_its_defaults_or_with_the_values_given() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = write_job(dir.path(), JOB);

    assert_succeeded(&run_job(&manifest, &[]));
    assert_eq!(stations(&dir.path().join("out/monday")), ["Lima", "Nuuk"]);

    let given = ["--param", "day=tuesday", "-p", "threshold=99", "--conf", "threshold=10"];
    assert_succeeded(&run_job(&manifest, &given));
    assert_eq!(stations(&dir.path().join("out/tuesday")), ["Lima"], "the last threshold wins");
    assert_eq!(stations(&dir.path().join("out/monday")), ["Lima", "Nuuk"], "monday's output is untouched");
}

#[test]
fn a_submitted_job_runs_with_the_values_given() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = write_job(dir.path(), JOB);
    let cluster = Cluster::start(dir.path(), 1, 1);

    let manifest = manifest.to_str().unwrap();
    let output =
        cluster.client(&["submit", manifest, "--param", "day=tuesday", "--param", "threshold=20", "--wait"]);

    assert!(output.status.success(), "submit failed:\n{}", stderr(&output));
    assert_eq!(stations(&dir.path().join("out/tuesday")), ["Lima"], "the executors read the values given");
    assert!(!dir.path().join("out/monday").exists(), "the defaults were not used");
}

#[test]
fn an_unset_param_fails_before_anything_runs() {
    let dir = tempfile::tempdir().unwrap();
    let job = JOB.replace("url = \"out/${day}/\"", "url = \"out/${run}/\"");
    let manifest = write_job(dir.path(), &job);

    let error = assert_failed(&run_job(&manifest, &["--param", "day=tuesday"]));

    let line = line_containing(&job, "${run}");
    assert_mentions(
        &error,
        &[format!("job.toml:{line}: \"url\": param `run` is not set"), "--param run=".to_owned()],
    );
    assert!(!dir.path().join("out").exists(), "nothing ran");
}

#[test]
fn a_param_the_manifest_does_not_know_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = write_job(dir.path(), JOB);

    let error = assert_failed(&run_job(&manifest, &["--param", "treshold=5"]));
    assert_mentions(
        &error,
        &["--param treshold", "did you mean `threshold`? its params are: day, threshold"],
    );
    assert!(!dir.path().join("out").exists(), "nothing ran");

    for (arg, expected) in [("threshold", "has no `=`"), ("1st=5", "is not a valid param name")] {
        let output = run_job(&manifest, &["--param", arg]);
        assert_eq!(output.status.code(), Some(2), "a usage error: {}", stderr(&output));
        assert_mentions(&stderr(&output), &[expected]);
    }
}

#[test]
fn a_param_value_stays_one_value() {
    let dir = tempfile::tempdir().unwrap();
    let awkward = "Bad \"Ems\" ${day} $${day} ''' \\ #";
    let job = JOB.replace("temperature > ${threshold}", "station == \\\"${station}\\\"");
    let manifest = write_job(dir.path(), &job.replace("threshold = 0", "station = \"Oslo\""));
    write_file(&dir.path().join("data/monday/awkward.txt"), &format!("{};1.0\n", csv_quote(awkward, ';')));

    assert_succeeded(&run_job(&manifest, &["--param", &format!("station={awkward}")]));
    assert_eq!(stations(&dir.path().join("out/monday")), [awkward]);

    let injection =
        "x\"\n[[sink]]\nid = \"evil\"\ninput = \"parse\"\nurl = \"evil/\"\nplugin = \"std:format-csv\"\n#";
    let args = ["--param", "day=tuesday", "--param", &format!("station={injection}")];
    assert_succeeded(&run_job(&manifest, &args));
    assert_eq!(stations(&dir.path().join("out/tuesday")), Vec::<String>::new());
    assert!(!dir.path().join("evil").exists(), "the value added no sink");
}
