//! Preparing jobs with real plugins: planning, the fusion of standard operators, and the check of
//! a manifest's `[storage]` settings.

use crate::support::runtime;
use flicker_host::PluginDigest;
use flicker_job::{ComponentError, ComponentSource, JobDefaults, JobError, PreparedJob};
use flicker_manifest::ManifestError;
use flicker_protocol::JobId;
use flicker_protocol::task::JobDescriptor;
use flicker_scheduler_core::StageOutput;

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

/// The job prepared from `text`, or why it was refused.
fn try_prepare(text: &str) -> Result<PreparedJob, Box<JobError>> {
    let descriptor = JobDescriptor {
        job: JobId("test".into()),
        manifest_path: "job.toml".into(),
        manifest: text.into(),
        base_dir: ".".into(),
        plugins: Vec::new(),
        defaults: JobDefaults::default(),
    };
    PreparedJob::from_descriptor(&descriptor, &runtime(), &NoComponents, &Default::default())
        .map_err(Box::new)
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
