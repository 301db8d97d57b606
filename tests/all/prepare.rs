//! Preparing jobs with real plugins: planning and the fusion of standard operators.

use crate::support::runtime;
use flicker_cluster::{JobDefaults, PreparedJob};
use flicker_manifest::Manifest;
use std::path::Path;
use std::sync::Arc;

const REFERENCE: &str = include_str!("../../examples/max-temperature/job.toml");

fn prepare(text: &str) -> PreparedJob {
    let manifest = Manifest::parse(Path::new("job.toml"), text).unwrap();
    PreparedJob::prepare(manifest, Arc::new(runtime()), &JobDefaults::default()).unwrap()
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
