//! Preparing jobs with real plugins: planning and the fusion of standard operators.

use crate::support::runtime;
use flicker_host::PluginDigest;
use flicker_job::{ComponentError, ComponentSource, JobDefaults, PreparedJob};
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
fn try_prepare(text: &str) -> Result<PreparedJob, String> {
    let descriptor = JobDescriptor {
        job: JobId("test".into()),
        manifest_path: "job.toml".into(),
        manifest: text.into(),
        base_dir: ".".into(),
        plugins: Vec::new(),
        defaults: JobDefaults::default(),
    };
    PreparedJob::from_descriptor(&descriptor, &runtime(), &NoComponents, &Default::default())
        .map_err(|error| error.to_string())
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
    let message = try_prepare(&text).err().expect("a max over text is refused");
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
