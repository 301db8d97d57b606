//! The data-access policy of a cluster: a job reaches only the local directories its nodes allow
//! (`--allow-local-root`; never the nodes' own files), no `memory://` store, only the cloud
//! locations they allow (`--allow-location`), with store settings that cannot move a request's
//! host; and its parts get an extension from a short safe list, never from a plugin's file name.

use crate::cluster::{Cluster, expected_max, readings_in};
use crate::run::{output_max, readings_job};
use crate::support::{
    assert_failed, assert_mentions, assert_succeeded, line_containing, part_indexes, run_job, stderr, stdout,
    toml_string, write_manifest,
};
use std::path::Path;

/// Submits `manifest` (written as `<dir>/job.toml`) and waits: it must be refused at once, its
/// error naming `job.toml`, the line of `needle` and each of `expected`.
fn assert_refused_at(cluster: &Cluster, dir: &Path, manifest: &str, needle: &str, expected: &[&str]) {
    let path = write_manifest(dir, manifest);
    let error = assert_failed(&cluster.client(&["submit", path.to_str().unwrap(), "--wait"]));
    let at = format!("job.toml:{}: ", line_containing(manifest, needle));
    assert!(error.contains(&at), "{needle}: the error does not name {at:?}:\n{error}");
    assert_mentions(&error, expected);
}

#[test]
fn a_cluster_refuses_at_submission_what_lies_outside_its_roots_and_runs_what_lies_inside() {
    let dir = tempfile::tempdir().unwrap();
    // The harness allows `<dir>` (`--allow-local-root <dir>` on the scheduler and executors),
    // where the data is, and so are the cluster's certificates, state and shuffle files.
    let cluster = Cluster::start(dir.path(), 2, 1);
    let readings = readings_in(dir.path(), 5_000, 16);
    let elsewhere = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(elsewhere.path(), dir.path().join("link")).unwrap();
    let ca_key = dir.path().join("tls/ca/ca.key");
    let ca_key_before = std::fs::read(&ca_key).unwrap();
    let job = readings_job("std:max", "", "out/");
    let source = |url: &str| job.replace("url = \"data/\"", &format!("url = {}", toml_string(url)));
    let sink = |url: &str| job.replace("url = \"out/\"", &format!("url = {}", toml_string(url)));
    let outside = elsewhere.path().join("out");
    let outside = outside.to_str().unwrap();

    // The cluster CA's private key, under the allowed root but the nodes' own.
    let reading_the_key = source(ca_key.to_str().unwrap());
    assert_refused_at(
        &cluster,
        dir.path(),
        &reading_the_key,
        "ca.key",
        &["source \"readings\"", "holds the node's own files"],
    );
    // A system file, outside every allowed root.
    assert_refused_at(
        &cluster,
        dir.path(),
        &source("/etc/passwd"),
        "/etc/passwd",
        &[
            "source \"readings\"",
            "outside the local directories this cluster lets jobs reach",
            "--allow-local-root",
        ],
    );
    // Writing outside the allowed roots, directly or through a symbolic link in one.
    assert_refused_at(&cluster, dir.path(), &sink(outside), outside, &["sink \"out\"", "outside the local"]);
    assert_refused_at(
        &cluster,
        dir.path(),
        &sink("link/out/"),
        "link/out/",
        &[
            "sink \"out\"",
            &format!("(it leads to {}", std::fs::canonicalize(elsewhere.path()).unwrap().display()),
        ],
    );
    // A memory:// store would live in an executor's memory.
    assert_refused_at(
        &cluster,
        dir.path(),
        &sink("memory://jobs/out"),
        "memory://",
        &["sink \"out\"", "memory:// stores live inside one process"],
    );
    // Store settings cannot move a request's host: a region is a region.
    for region in ["x@some-host/", "eu-west-1.evil.example", "us-east-1/"] {
        let moved = format!("{job}\n[storage.s3]\nregion = {}\n", toml_string(region));
        assert_refused_at(
            &cluster,
            dir.path(),
            &moved,
            region,
            &["storage.s3: bad value for \"region\"", "lowercase letters, digits and '-'"],
        );
    }
    // None of them was accepted, nothing was read or written outside the roots.
    assert_eq!(cluster.json(&["status"]), serde_json::json!([]));
    assert_eq!(std::fs::read(&ca_key).unwrap(), ca_key_before);
    assert!(!elsewhere.path().join("out").exists());

    // Inside the allowed root, the job runs.
    let path = write_manifest(dir.path(), &job);
    assert_succeeded(&cluster.client(&["submit", path.to_str().unwrap(), "--wait"]));
    assert_eq!(output_max(&dir.path().join("out")), expected_max(&readings));
}

#[test]
fn executors_check_again_what_their_scheduler_let_through() {
    let dir = tempfile::tempdir().unwrap();
    readings_in(dir.path(), 2_000, 17);
    // The scheduler allows the whole directory and one bucket; the executor only the data.
    let mut cluster = Cluster::new(dir.path()).with_local_roots(&[]);
    let root = dir.path().to_str().unwrap();
    cluster.start_scheduler("127.0.0.1:0", &["--allow-local-root", root, "--allow-location", "s3://allowed"]);
    let data = dir.path().join("data");
    cluster.add_executor(0, &["--allow-local-root", data.to_str().unwrap()]);
    cluster.wait_for_nodes(1);

    // A bucket the scheduler does not allow is refused at submission.
    let other_bucket = readings_job("std:max", "", "s3://other/out/");
    assert_refused_at(
        &cluster,
        dir.path(),
        &other_bucket,
        "s3://other/out/",
        &["sink \"out\"", "outside the cloud locations this cluster lets jobs reach: s3://allowed"],
    );

    // Output the scheduler lets through, but the executor does not: its tasks fail to prepare.
    let job = format!("max_attempts = 1\n{}", readings_job("std:max", "", "out/"));
    let path = write_manifest(dir.path(), &job);
    let output = cluster.client(&["submit", path.to_str().unwrap(), "--wait"]);
    assert_eq!(output.status.code(), Some(1), "{}", stdout(&output));
    assert!(stdout(&output).contains("failure: prepare in stage 0"), "{}", stdout(&output));
    assert_mentions(
        &stderr(&output),
        &[
            format!("job.toml:{}: sink \"out\"", line_containing(&job, "url = \"out/\"")),
            "outside the local directories this cluster lets jobs reach".to_owned(),
        ],
    );
    assert!(!dir.path().join("out/_SUCCESS").exists());
}

#[test]
fn parts_get_an_extension_from_a_safe_list_never_from_a_plugins_file_name() {
    let dir = tempfile::tempdir().unwrap();
    let readings = readings_in(dir.path(), 2_000, 18);
    // The standard CSV format as a user plugin named like a shell script.
    let format = flicker_plugins::std_plugin("std:format-csv").expect("the standard format");
    std::fs::create_dir_all(dir.path().join("plugins")).unwrap();
    std::fs::write(dir.path().join("plugins/x.sh"), format).unwrap();
    let job = |out: &str, extension: &str| {
        readings_job("std:max", "", out)
            .replace("plugin = \"std:format-csv\"", &format!("plugin = \"plugins/x.sh\"\n{extension}"))
    };

    let manifest = write_manifest(dir.path(), &job("out/", ""));
    assert_succeeded(&run_job(&manifest, &[]));
    let out = dir.path().join("out");
    assert_eq!(
        part_indexes(&out),
        ["part-00000.part", "part-00001.part", "part-00002.part", "part-00003.part"]
    );
    assert_eq!(output_max(&out), expected_max(&readings));

    let manifest = write_manifest(dir.path(), &job("tsv/", "extension = \"tsv\""));
    assert_succeeded(&run_job(&manifest, &[]));
    assert!(part_indexes(&dir.path().join("tsv")).iter().all(|part| part.ends_with(".tsv")));

    let text = job("sh/", "extension = \"sh\"");
    let refused = run_job(&write_manifest(dir.path(), &text), &[]);
    let error = assert_failed(&refused);
    let line = line_containing(&text, "extension = \"sh\"");
    assert_mentions(
        &error,
        &[
            format!("job.toml:{line}: sink \"out\": bad value for \"extension\""),
            "csv, tsv, jsonl, json, txt, parquet, avro, orc".to_owned(),
        ],
    );
    assert!(!dir.path().join("sh").exists(), "{}", stderr(&refused));
}
