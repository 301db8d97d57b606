//! Plugins and where they may stand: the catalog that knows which plugin exports which
//! [`OperatorKind`], and the placement and config checks of [`Manifest::validate_plugins`].

use flicker_batch::{RowType, TypeMismatch};
use flicker_protocol::{LimitOverrides, OperatorKind};

use crate::error::ManifestError;
use crate::manifest::{Manifest, SectionKind, UNION};
use crate::row_types::RowTypes;

/// What [`Manifest::validate_plugins`] needs to know about plugins; the host implements it by
/// loading the components.
pub trait PluginCatalog {
    /// The operator kind that the plugin named `plugin` exports (Err(reason) if it cannot be found or loaded).
    fn kind_of(&self, plugin: &str) -> Result<OperatorKind, String>;
    /// Builds the operator from `config`, for a step of `inputs` inputs, once to check it, under
    /// the step's `limits` (its constructor runs with the step's time and memory, as in a task);
    /// Err(message) if the plugin's constructor rejects it.
    fn check_config(
        &self,
        plugin: &str,
        config: &[(String, String)],
        inputs: u32,
        limits: &LimitOverrides,
    ) -> Result<(), String>;
    /// The row type the operator of `plugin`, built from `config`, outputs for input rows of the
    /// types `inputs` (none for a parse operator, which reads lines; one but for a co-group
    /// operator; a format operator only checks its input and answers `Ok(None)`); `Ok(None)` if
    /// it cannot say before it sees rows; an error if it cannot take such rows. The operator runs
    /// under the step's `limits`.
    fn output_type(
        &self,
        plugin: &str,
        config: &[(String, String)],
        limits: &LimitOverrides,
        inputs: &[RowType],
    ) -> Result<Option<RowType>, TypeMismatch>;
}

/// What a step or sink reads.
#[derive(Debug, Clone, Copy)]
enum Reads<'a> {
    Source(&'a str),
    Step(&'a str),
}

impl Manifest {
    /// Checks the plugins of all steps and sinks, in file order, against `catalog`: each must exist,
    /// its kind must fit its place, and it must accept its config. Then the row types flow from
    /// the parse steps to the sinks: each operator must take its input rows (the fields it reads
    /// exist, with types it takes), as far as the operators before it can say.
    ///
    /// The places are: a step reading a source runs a parse operator, and a parse operator reads a
    /// source; map and aggregate operators read steps; format operators are for sinks only, and a sink
    /// needs one. The config is only checked once the kind fits. Expects a manifest that
    /// [`Manifest::parse`] accepted.
    /// Returns the type of each step's output rows, where its operator could say.
    pub fn validate_plugins(&self, catalog: &dyn PluginCatalog) -> Result<RowTypes, ManifestError> {
        for node in self.nodes() {
            let Some(operator) = node.operator else { continue };
            let (file, line, kind, id, plugin) =
                (self.file.clone(), node.line, node.kind, node.id.to_owned(), operator.plugin.to_owned());
            if plugin == UNION {
                let reads_source =
                    operator.inputs.iter().find(|input| self.sources.iter().any(|s| &s.id == *input));
                let problem = match (kind, reads_source) {
                    (SectionKind::Sink, _) => Some("is a step, not the format of a sink".to_owned()),
                    (_, Some(source)) => Some(format!(
                        "concatenates rows, but input \"{source}\" is a source: parse it in a step first"
                    )),
                    _ if !operator.config.is_empty() => Some("takes no config".to_owned()),
                    _ => None,
                };
                match problem {
                    Some(problem) => return Err(ManifestError::Union { file, line, kind, id, problem }),
                    None => continue,
                }
            }
            let found = match catalog.kind_of(operator.plugin) {
                Ok(found) => found,
                Err(reason) => {
                    return Err(ManifestError::PluginNotFound { file, line, kind, id, plugin, reason });
                }
            };
            let reads: Vec<Reads<'_>> = operator
                .inputs
                .iter()
                .map(|input| match self.sources.iter().any(|source| &source.id == input) {
                    true => Reads::Source(input),
                    false => Reads::Step(input),
                })
                .collect();
            if let Some(expected) = misplacement(kind, found, &reads) {
                return Err(ManifestError::WrongKind { file, line, kind, id, plugin, found, expected });
            }
            let inputs = operator.inputs.len() as u32;
            if let Err(message) =
                catalog.check_config(operator.plugin, operator.config, inputs, operator.limits)
            {
                return Err(ManifestError::ConfigRejected { file, line, kind, id, plugin, message });
            }
        }
        self.check_row_types(catalog)
    }
}

/// Why an operator of kind `found` cannot be used by a step or sink that reads `reads`, in words that
/// say what to do; `None` if it fits.
fn misplacement(kind: SectionKind, found: OperatorKind, reads: &[Reads<'_>]) -> Option<String> {
    let several = || {
        Some(format!(
            "{} {found} operator reads one input, but this step names {}; a step with several inputs needs a cogroup operator (e.g. \"std:join\")",
            found.article(),
            reads.len()
        ))
    };
    match (kind, found, reads) {
        (SectionKind::Sink, OperatorKind::Format, _) => None,
        (SectionKind::Sink, _, _) => Some(
            "a sink needs a format operator that turns records into bytes (e.g. \"std:format-csv\"); \
             move this plugin into a step before the sink"
                .to_owned(),
        ),
        (_, OperatorKind::Format, _) => {
            Some("only a sink can use a format operator; make it the plugin of a [[sink]]".to_owned())
        }
        (_, OperatorKind::CoGroup, reads) => reads.iter().find_map(|read| match read {
            Reads::Source(input) => Some(format!(
                "input \"{input}\" of this step is a source, which needs a parse operator first"
            )),
            Reads::Step(_) => None,
        }),
        (_, _, [_, _, ..]) => several(),
        (_, OperatorKind::Parse, [Reads::Source(_)]) => None,
        (_, OperatorKind::Parse, [Reads::Step(input)]) => Some(format!(
            "the input of this step is step \"{input}\", which already produces records; a parse operator \
             reads the lines of a source, so set input to a source"
        )),
        (_, _, [Reads::Source(input)]) => {
            Some(format!("the input of this step is source \"{input}\", which needs a parse operator first"))
        }
        (_, _, _) => None,
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::path::Path;

    use super::*;

    /// A catalog that knows a fixed set of plugins, rejects configs with a `bad` key, and records
    /// which configs it was asked to check.
    #[derive(Default)]
    struct FakeCatalog {
        checked: RefCell<Vec<String>>,
    }

    impl PluginCatalog for FakeCatalog {
        fn kind_of(&self, plugin: &str) -> Result<OperatorKind, String> {
            match plugin {
                "std:parse-csv" => Ok(OperatorKind::Parse),
                "std:key-by" | "std:filter" => Ok(OperatorKind::Map),
                "std:max" => Ok(OperatorKind::Aggregate),
                "std:join" => Ok(OperatorKind::CoGroup),
                "std:format-csv" => Ok(OperatorKind::Format),
                _ => Err(format!("no plugin named \"{plugin}\" in the standard library")),
            }
        }

        fn check_config(
            &self,
            plugin: &str,
            config: &[(String, String)],
            inputs: u32,
            _: &LimitOverrides,
        ) -> Result<(), String> {
            if plugin == "std:join" && inputs != 2 {
                return Err(format!("std:join takes 2 inputs, the step gives it {inputs}"));
            }
            self.checked.borrow_mut().push(plugin.to_owned());
            match config.iter().find(|(key, _)| key == "bad") {
                Some((_, value)) => Err(format!("bad value {value}")),
                None => Ok(()),
            }
        }

        fn output_type(
            &self,
            _: &str,
            _: &[(String, String)],
            _: &LimitOverrides,
            _: &[RowType],
        ) -> Result<Option<RowType>, TypeMismatch> {
            Ok(None)
        }
    }

    /// [`job`] whose middle step reads `inputs`.
    fn job_reading(inputs: &[&str], middle_plugin: &str) -> Manifest {
        let mut manifest = job("parse", middle_plugin, "std:format-csv");
        manifest.steps[1].inputs = inputs.iter().map(|input| input.to_string()).collect();
        manifest
    }

    #[test]
    fn a_cogroup_step_reads_several_steps_and_its_operator_checks_how_many() {
        job_reading(&["parse", "parse"], "std:join").validate_plugins(&FakeCatalog::default()).unwrap();
        let error = validate(&job_reading(&["parse"], "std:join")).unwrap_err();
        assert!(
            matches!(&error, ManifestError::ConfigRejected { line: 11, message, .. } if message.contains("takes 2 inputs")),
            "{error:?}"
        );
    }

    #[test]
    fn a_map_given_two_inputs_is_told_to_use_a_cogroup_operator() {
        let error = validate(&job_reading(&["parse", "parse"], "std:key-by")).unwrap_err();
        assert!(matches!(&error, ManifestError::WrongKind { line: 11, .. }), "{error:?}");
        let message = error.to_string();
        assert!(message.contains("a map operator reads one input, but this step names 2"), "{message}");
        assert!(message.contains("std:join"), "{message}");
    }

    #[test]
    fn a_cogroup_step_reading_a_source_is_told_to_parse_it_first() {
        let error = validate(&job_reading(&["parse", "readings"], "std:join")).unwrap_err();
        assert!(error.to_string().contains("input \"readings\" of this step is a source"), "{error}");
    }

    /// A job in which the plugin of the step "middle" (line 11) and of the sink "out" (line 17) are
    /// chosen by the test; the step reads `middle_input`.
    fn job(middle_input: &str, middle_plugin: &str, sink_plugin: &str) -> Manifest {
        let text = format!(
            r#"name = "test"
[[source]]
id = "readings"
url = "file:///data/"

[[step]]
id = "parse"
input = "readings"
plugin = "std:parse-csv"

[[step]]
id = "middle"
input = "{middle_input}"
plugin = "{middle_plugin}"
config = {{ field = "temperature" }}

[[sink]]
id = "out"
input = "middle"
url = "file:///out/"
plugin = "{sink_plugin}"
"#
        );
        Manifest::parse(Path::new("jobs/max.toml"), &text).unwrap()
    }

    fn validate(manifest: &Manifest) -> Result<RowTypes, ManifestError> {
        manifest.validate_plugins(&FakeCatalog::default())
    }

    #[test]
    fn a_well_placed_job_passes_and_every_config_is_checked() {
        let catalog = FakeCatalog::default();
        job("parse", "std:max", "std:format-csv").validate_plugins(&catalog).unwrap();
        assert_eq!(*catalog.checked.borrow(), ["std:parse-csv", "std:max", "std:format-csv"]);
    }

    #[test]
    fn a_union_reads_steps_takes_no_config_and_needs_no_plugin() {
        let mut union = job("parse", UNION, "std:format-csv");
        let error = validate(&union).unwrap_err();
        assert_eq!(error.to_string(), "jobs/max.toml:11: step \"middle\": std:union takes no config");
        union.steps[1].config.clear();
        let catalog = FakeCatalog::default();
        union.validate_plugins(&catalog).unwrap();
        assert_eq!(*catalog.checked.borrow(), ["std:parse-csv", "std:format-csv"]);
        let error = validate(&job("readings", UNION, "std:format-csv")).unwrap_err();
        assert!(
            error.to_string().contains("input \"readings\" is a source: parse it in a step first"),
            "{error}"
        );
        let error = validate(&job("parse", "std:max", UNION)).unwrap_err();
        assert!(error.to_string().contains("sink \"out\": std:union is a step"), "{error}");
    }

    #[test]
    fn plugin_not_found() {
        let error = validate(&job("parse", "std:maxx", "std:format-csv")).unwrap_err();
        assert!(
            matches!(&error, ManifestError::PluginNotFound { line: 11, id, plugin, .. } if id == "middle" && plugin == "std:maxx"),
            "{error:?}"
        );
        let message = error.to_string();
        assert!(message.starts_with("jobs/max.toml:11: step \"middle\": plugin \"std:maxx\""), "{message}");
        assert!(message.contains("standard library"), "{message}");
    }

    #[test]
    fn aggregate_right_after_a_source() {
        let error = validate(&job("readings", "std:max", "std:format-csv")).unwrap_err();
        assert!(
            matches!(&error, ManifestError::WrongKind { line: 11, id, found: OperatorKind::Aggregate, .. } if id == "middle"),
            "{error:?}"
        );
        assert_eq!(
            error.to_string(),
            "jobs/max.toml:11: step \"middle\": plugin \"std:max\" is an aggregate operator, but the input of \
             this step is source \"readings\", which needs a parse operator first"
        );
    }

    #[test]
    fn parse_after_a_step() {
        let error = validate(&job("parse", "std:parse-csv", "std:format-csv")).unwrap_err();
        assert!(
            matches!(&error, ManifestError::WrongKind { line: 11, id, found: OperatorKind::Parse, .. } if id == "middle"),
            "{error:?}"
        );
        let message = error.to_string();
        assert!(
            message.contains(":11: step \"middle\"") && message.contains("set input to a source"),
            "{message}"
        );
    }

    #[test]
    fn format_as_a_step() {
        let error = validate(&job("parse", "std:format-csv", "std:format-csv")).unwrap_err();
        assert!(
            matches!(&error, ManifestError::WrongKind { line: 11, id, found: OperatorKind::Format, .. } if id == "middle"),
            "{error:?}"
        );
        let message = error.to_string();
        assert!(message.contains(":11: step \"middle\"") && message.contains("[[sink]]"), "{message}");
    }

    #[test]
    fn sink_with_a_map_plugin() {
        let error = validate(&job("parse", "std:max", "std:key-by")).unwrap_err();
        assert!(
            matches!(&error, ManifestError::WrongKind { line: 17, kind: SectionKind::Sink, id, found: OperatorKind::Map, .. } if id == "out"),
            "{error:?}"
        );
        let message = error.to_string();
        assert!(
            message.starts_with("jobs/max.toml:17: sink \"out\": plugin \"std:key-by\" is a map operator"),
            "{message}"
        );
    }

    #[test]
    fn config_rejected() {
        let mut manifest = job("parse", "std:max", "std:format-csv");
        manifest.steps[1].config.push(("bad".into(), "42".into()));
        let error = validate(&manifest).unwrap_err();
        assert!(
            matches!(&error, ManifestError::ConfigRejected { line: 11, id, message, .. } if id == "middle" && message == "bad value 42"),
            "{error:?}"
        );
        let message = error.to_string();
        assert!(
            message.starts_with("jobs/max.toml:11: step \"middle\": plugin \"std:max\" rejected"),
            "{message}"
        );
    }

    #[test]
    fn config_is_not_checked_when_the_kind_does_not_fit() {
        let catalog = FakeCatalog::default();
        let mut manifest = job("readings", "std:max", "std:format-csv");
        manifest.steps[1].config.push(("bad".into(), "42".into()));
        let error = manifest.validate_plugins(&catalog).unwrap_err();
        assert!(matches!(error, ManifestError::WrongKind { .. }), "{error:?}");
        assert_eq!(*catalog.checked.borrow(), ["std:parse-csv"]);
    }
}
