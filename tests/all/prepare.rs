//! Preparing jobs with real plugins: planning, the fusion of standard operators, the check of a
//! manifest's `[storage]` settings, and of its locations against a node's data-access policy.

use crate::support::runtime;
use flicker_host::PluginDigest;
use flicker_job::{ComponentError, ComponentSource, JobDefaults, JobError, PreparedJob};
use flicker_manifest::ManifestError;
use flicker_protocol::JobId;
use flicker_protocol::task::JobDescriptor;
use flicker_scheduler_core::StageOutput;
use flicker_storage::{AccessPolicy, AccessRefused, NodeStorage};

const REFERENCE: &str = include_str!("../../examples/max-temperature/job.toml");

/// The jobs here use standard operators only.
struct NoComponents;

impl ComponentSource for NoComponents {
    fn fetch(&self, digest: &PluginDigest) -> Result<Vec<u8>, ComponentError> {
        let source = format!("no component {digest}").into();
        Err(ComponentError { digest: *digest, from: "nowhere", source })
    }
}

fn prepare(text: &str) -> PreparedJob {
    try_prepare(text).unwrap()
}

/// The job prepared from `text` as `flicker run` would, or why it was refused.
fn try_prepare(text: &str) -> Result<PreparedJob, Box<JobError>> {
    try_prepare_on(text, std::path::Path::new("."), &NodeStorage::unrestricted(Default::default()))
}

/// The job prepared from `text`, written in `base_dir`, by a node with `storage`, or why it was
/// refused.
fn try_prepare_on(
    text: &str,
    base_dir: &std::path::Path,
    storage: &NodeStorage,
) -> Result<PreparedJob, Box<JobError>> {
    let descriptor = JobDescriptor {
        job: JobId("test".into()),
        manifest_path: "job.toml".into(),
        manifest: text.into(),
        base_dir: base_dir.to_str().unwrap().into(),
        plugins: Vec::new(),
        defaults: JobDefaults::default(),
    };
    PreparedJob::from_descriptor(&descriptor, &[], &runtime(), &NoComponents, storage).map_err(Box::new)
}

/// Whether the map side of `stage` merges partials its parser combined.
fn combined(job: &PreparedJob, stage: usize) -> bool {
    matches!(job.plan.stages[stage].output, StageOutput::Shuffle { combined: true, .. })
}

#[test]
fn a_key_by_after_parse_csv_is_folded_into_the_parser_and_the_aggregate_combined_into_it() {
    let job = prepare(REFERENCE);
    assert_eq!(job.plan.stages[0].steps, ["parse"]);
    let parse = job.operator("parse");
    let config: Vec<(&str, &str)> = parse.config.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    assert_eq!(config[config.len() - 2..], [("key", "station"), ("combine", "max:temperature")]);
    assert!(combined(&job, 0));
    assert!(job.plan.stages[1].steps.is_empty(), "the reduce side is unchanged");
}

#[test]
fn only_standard_aggregates_over_numeric_fields_are_combined() {
    let stats = prepare(&REFERENCE.replace("plugin = \"std:max\"", "plugin = \"std:stats\""));
    assert!(combined(&stats, 0));
    assert!(stats.operator("parse").config.contains(&("combine".to_owned(), "stats:temperature".to_owned())));
    // The max of a string field is never combined: the job is refused before it is planned,
    // naming the field (it used to fail in its first task, with the aggregate's own error).
    let text = REFERENCE.replace("station:string,temperature:f64", "station:string,temperature:string");
    let message = try_prepare(&text).err().expect("a max over text is refused").to_string();
    assert!(message.contains("step \"max\""), "{message}");
    assert!(message.contains("field `temperature` is string, but it takes i64 or f64"), "{message}");
}

#[test]
fn a_parse_step_read_twice_is_not_fused() {
    let text = format!(
        "{REFERENCE}{}",
        r#"
[[sink]]
id = "parsed"
input = "parse"
url = "parsed/"
plugin = "std:format-csv"
"#
    );
    let job = prepare(&text);
    assert_eq!(job.plan.stages[0].steps, ["parse", "by-station"]);
    assert!(job.operator("parse").config.iter().all(|(k, _)| k != "key"));
}

#[test]
fn storage_settings_a_job_may_not_give_are_refused_naming_file_and_line() {
    let line = REFERENCE.lines().count() + 3;
    for (table, key, reason) in [
        ("s3", "secret_access_key", "credentials do not belong in a manifest"),
        ("gs", "service_account_key", "credentials do not belong in a manifest"),
        ("s3", "endpoint", "only the nodes' environment or cluster.toml may set it"),
        ("gs", "service_account_path", "only the nodes' environment or cluster.toml may set it"),
        ("s3", "endpiont", "not a setting of the s3 store"),
        ("s3", "bucket", "comes from its URL"),
    ] {
        let text = format!("{REFERENCE}\n[storage.{table}]\n{key} = \"hunter2-value\"\n");
        let error = try_prepare(&text).err().expect("the setting is refused");
        assert!(
            matches!(&*error, JobError::Manifest(ManifestError::InvalidValue { line: found, section, key: refused, .. })
                if *found == line && *section == format!("storage.{table}") && refused == key),
            "{error:?}"
        );
        let message = error.to_string();
        let start = format!("job.toml:{line}: storage.{table}: bad value for \"{key}\": ");
        assert!(message.starts_with(&start) && message.contains(reason), "{message}");
        assert!(!message.contains("hunter2"), "{message}");
    }
    prepare(&format!("{REFERENCE}\n[storage.s3]\nregion = \"eu-west-1\"\nallow_http = true\n"));
}

#[test]
fn storage_values_of_the_wrong_kind_are_refused_naming_file_and_line() {
    let line = REFERENCE.lines().count() + 3;
    for (key, value) in [
        ("region", "x@some-host/"),
        ("region", "eu-west-1.evil.com"),
        ("region", "us/east-1"),
        ("timeout", "soon"),
        ("allow_http", "yes"),
    ] {
        let text = format!("{REFERENCE}\n[storage.s3]\n{key} = \"{value}\"\n");
        let error = try_prepare(&text).err().expect("the value is refused");
        assert!(
            matches!(&*error, JobError::Manifest(ManifestError::InvalidValue { line: found, key: refused, .. })
                if *found == line && refused == key),
            "{key} = {value}: {error:?}"
        );
        assert!(error.to_string().starts_with(&format!("job.toml:{line}: storage.s3: ")), "{error}");
    }
}

#[test]
fn a_nodes_policy_refuses_locations_outside_it_at_the_line_of_their_url() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("jobs/data")).unwrap();
    let policy = AccessPolicy::cluster().allow_local_root(&dir.path().join("jobs")).unwrap();
    let node = NodeStorage { options: Default::default(), policy };
    let base = dir.path().join("jobs");
    // The reference job reads jobs/data/ and writes jobs/out/ (which does not exist yet).
    let job = try_prepare_on(REFERENCE, &base, &node).unwrap();
    assert_eq!(job.sources["readings"].0.url(), format!("file://{}/jobs/data", dir.path().display()));
    let source_url = 6;
    let sink_url = 31;
    for (from, to, line, refused) in [
        ("url = \"data/\"", "url = \"/etc/passwd\"", source_url, "source \"readings\""),
        ("url = \"data/\"", "url = \"../secret\"", source_url, "source \"readings\""),
        ("url = \"out/\"", "url = \"data/../../out/\"", sink_url, "sink \"out\""),
        ("url = \"out/\"", "url = \"memory://t/out/\"", sink_url, "sink \"out\""),
    ] {
        let text = REFERENCE.replace(from, to);
        let error = try_prepare_on(&text, &base, &node).err().expect("the location is refused");
        assert!(
            matches!(&*error, JobError::Refused { line: found, what, .. } if *found == line && what == refused),
            "{to}: {error:?}"
        );
        assert!(error.to_string().starts_with(&format!("job.toml:{line}: {refused}: ")), "{error}");
    }
    let memory = REFERENCE.replace("url = \"out/\"", "url = \"memory://t/out/\"");
    let error = try_prepare_on(&memory, &base, &node).err().unwrap();
    assert!(matches!(&*error, JobError::Refused { source: AccessRefused::Memory { .. }, .. }), "{error:?}");
    // With no root at all, every local path is refused, and the message says how to allow one.
    let nothing = NodeStorage { options: Default::default(), policy: AccessPolicy::cluster() };
    let error = try_prepare_on(REFERENCE, &base, &nothing).err().unwrap();
    assert!(
        matches!(&*error, JobError::Refused { source: AccessRefused::NoLocalAccess { .. }, .. }),
        "{error:?}"
    );
    assert!(error.to_string().contains("--allow-local-root"), "{error}");
}

#[test]
fn part_extensions_come_from_the_manifest_or_a_standard_format() {
    assert_eq!(prepare(REFERENCE).part_extension("out"), "csv");
    let tsv =
        REFERENCE.replace("plugin = \"std:format-csv\"", "plugin = \"std:format-csv\"\nextension = \"tsv\"");
    assert_eq!(prepare(&tsv).part_extension("out"), "tsv");
}
