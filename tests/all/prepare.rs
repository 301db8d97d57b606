//! Preparing jobs with real plugins: planning and the fusion of standard operators.

use crate::support::runtime;
use flicker_cluster::{ComponentSource, JobDefaults, PreparedJob};
use flicker_host::PluginDigest;
use flicker_protocol::JobId;
use flicker_protocol::task::JobDescriptor;

const REFERENCE: &str = include_str!("../../examples/max-temperature/job.toml");

/// The jobs here use standard operators only.
struct NoComponents;

impl ComponentSource for NoComponents {
    fn fetch(&self, digest: &PluginDigest) -> Result<Vec<u8>, String> {
        Err(format!("no component {digest}"))
    }
}

fn prepare(text: &str) -> PreparedJob {
    let descriptor = JobDescriptor {
        job: JobId("test".into()),
        manifest_path: "job.toml".into(),
        manifest: text.into(),
        base_dir: ".".into(),
        plugins: Vec::new(),
        defaults: JobDefaults::default(),
    };
    PreparedJob::from_descriptor(&descriptor, &runtime(), &NoComponents, &Default::default()).unwrap()
}

#[test]
fn a_key_by_after_parse_csv_is_folded_into_the_parser() {
    let job = prepare(REFERENCE);
    assert_eq!(job.plan.stages[0].steps, ["parse"]);
    let parse = job.operator("parse");
    assert_eq!(parse.config.last(), Some(&("key".to_owned(), "station".to_owned())));
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
