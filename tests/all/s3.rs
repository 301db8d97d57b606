//! The reference job from bucket to bucket on S3 (a real `moto_server` on 127.0.0.1), and the
//! credentials that must never show.

use crate::cluster::{Cluster, expected_max, readings_in};
use crate::moto::Moto;
use crate::run::readings_job;
use crate::support::{
    assert_failed, assert_succeeded, csv_fields, read_csv_output, run_job, stderr, stdout, write_file,
    write_manifest,
};
use flicker_storage::{Location, Service, StoreOptions};
use std::collections::BTreeMap;
use std::path::Path;

/// The secret access key of these tests: it must appear in no log, status or message.
const SECRET: &str = "s3cr3t-4f1c9e-never-shown";

/// Copies every file of `dir` to `s3://<bucket>/<prefix>/` on `moto`.
fn upload(moto: &Moto, dir: &Path, bucket: &str, prefix: &str) {
    let mut options = StoreOptions::default();
    for (key, value) in moto.env(SECRET) {
        options.set(Service::S3, &key.to_ascii_lowercase(), value).unwrap();
    }
    let runtime = tokio::runtime::Runtime::new().unwrap();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap();
        let url = format!("s3://{bucket}/{prefix}/{name}");
        let object = Location::parse_with(&url, Path::new("/"), &options).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        runtime
            .block_on(object_store::ObjectStoreExt::put(object.store().as_ref(), object.path(), bytes.into()))
            .unwrap();
    }
}

/// The rows of a CSV output as `flicker cat` prints it (a header line opening each part), split
/// into fields and sorted.
fn rows_of(printed: &str, header: &str) -> Vec<Vec<String>> {
    let mut rows: Vec<Vec<String>> = printed.lines().filter(|line| *line != header).map(csv_fields).collect();
    rows.sort();
    rows
}

#[test]
fn the_reference_job_runs_from_bucket_to_bucket_on_three_executors_and_never_shows_the_secret() {
    let moto = Moto::start();
    moto.create_bucket("weather");
    let dir = tempfile::tempdir().unwrap();
    let readings = readings_in(dir.path(), 200_000, 21);
    upload(&moto, &dir.path().join("data"), "weather", "readings");

    // The nodes hold the endpoint and the credentials, in their cluster file; the manifest may
    // only tune requests (here: the region).
    let config = dir.path().join("cluster.toml");
    write_file(
        &config,
        &format!(
            "[storage.s3]\nendpoint = \"{}\"\nallow_http = true\nregion = \"eu-west-1\"\naccess_key_id = \"{}\"\nsecret_access_key = \"{SECRET}\"\n",
            moto.endpoint(),
            crate::moto::ACCESS_KEY_ID
        ),
    );
    let config = config.to_str().unwrap();
    let mut cluster = Cluster::scheduler_logging(dir.path(), "127.0.0.1:0", &["--config", config], "debug");
    for n in 0..3 {
        cluster.add_executor(n, &["--slots", "2", "--config", config]);
    }
    cluster.wait_for_nodes(3);
    let storage = "\n[storage.s3]\nregion = \"us-east-1\"\n";
    let job = readings_job("std:max", "", "s3://weather/out/")
        .replace("url = \"data/\"", "url = \"s3://weather/readings/\"")
        .replace("partitions = 4", "partitions = 6");
    let manifest = dir.path().join("s3-job.toml");
    write_file(&manifest, &format!("{job}{storage}"));

    let submitted = cluster.client(&["submit", manifest.to_str().unwrap(), "--wait"]);
    assert!(submitted.status.success(), "submit failed:\n{}\n{}", stderr(&submitted), stdout(&submitted));
    assert!(stdout(&submitted).contains("rows in 200000 (skipped 0)"), "{}", stdout(&submitted));
    let status = cluster.json(&["status"]);
    let job_status = &status.as_array().unwrap()[0];
    assert!(job_status["stages"][0]["total"].as_u64().unwrap() >= 12, "input splits: {job_status}");
    assert_eq!(job_status["tasks_by_executor"].as_array().unwrap().len(), 3, "{job_status}");
    assert_eq!(job_status["outputs"][0][1], "s3://weather/out", "{job_status}");

    // The output, read back through the standard AWS environment, equals the local-files run.
    let cat =
        crate::support::flicker().args(["cat", "s3://weather/out"]).envs(moto.env(SECRET)).output().unwrap();
    assert!(cat.status.success(), "cat: {}", stderr(&cat));
    let local = write_manifest(dir.path(), &readings_job("std:max", "", "local-out/"));
    assert_succeeded(&run_job(&local, &["--workers", "2"]));
    let mut local_rows = read_csv_output(&dir.path().join("local-out"), "station,max");
    local_rows.sort();
    assert_eq!(rows_of(&stdout(&cat), "station,max"), local_rows);
    let found: BTreeMap<String, f64> =
        local_rows.into_iter().map(|row| (row[0].clone(), row[1].parse().unwrap())).collect();
    assert_eq!(found, expected_max(&readings));

    // Running it again into the committed output is refused; a missing bucket is named.
    let refused = cluster.client(&["submit", manifest.to_str().unwrap(), "--wait"]);
    let refused = assert_failed(&refused);
    assert!(refused.contains("s3://weather/out already holds a committed output"), "{refused}");
    let missing = dir.path().join("missing-bucket.toml");
    write_file(
        &missing,
        &format!("{job}{storage}")
            .replace("s3://weather/readings/", "s3://no-such-bucket/readings/")
            .replace("s3://weather/out/", "s3://weather/out-2/"),
    );
    let failed = assert_failed(&cluster.client(&["submit", missing.to_str().unwrap(), "--wait"]));
    assert!(failed.contains("s3://no-such-bucket/readings"), "{failed}");

    let shown = [
        cluster.logs(),
        stdout(&submitted),
        stderr(&submitted),
        status.to_string(),
        stderr(&cat),
        refused,
        failed,
    ];
    for (n, text) in shown.iter().enumerate() {
        assert!(!text.contains(SECRET), "the secret shows in text {n}:\n{text}");
    }
    assert!(cluster.logs().contains("DEBUG"), "the processes logged at debug level");
}
