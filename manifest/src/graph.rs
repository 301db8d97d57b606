//! Checks of the job graph that `input` draws between sources, steps and sinks: unique ids, inputs
//! that exist and can be read, no cycles, and at least one sink.

use std::collections::HashMap;

use crate::error::ManifestError;
use crate::manifest::{Manifest, SectionKind};

/// What an id in the manifest names: the first table that uses it.
#[derive(Debug, Clone, Copy)]
struct Target {
    kind: SectionKind,
    line: usize,
}

/// Checks the graph of a decoded manifest, reporting the first problem in file order.
pub(crate) fn check(manifest: &Manifest) -> Result<(), ManifestError> {
    let file = || manifest.file.clone();
    let nodes = manifest.nodes();
    let mut targets: HashMap<&str, Target> = HashMap::new();
    for node in &nodes {
        targets.entry(node.id).or_insert(Target { kind: node.kind, line: node.line });
    }

    for node in &nodes {
        let (kind, id, line) = (node.kind, node.id.to_owned(), node.line);
        let first_line = targets.get(node.id).map_or(line, |target| target.line);
        if first_line != line {
            return Err(ManifestError::DuplicateId { file: file(), line, kind, id, first_line });
        }
        let Some(operator) = node.operator else { continue };
        for input in operator.inputs {
            let (id, input) = (id.clone(), input.clone());
            match targets.get(input.as_str()).map(|target| target.kind) {
                None => return Err(ManifestError::UnknownInput { file: file(), line, kind, id, input }),
                Some(SectionKind::Sink) => {
                    return Err(ManifestError::InputIsSink { file: file(), line, kind, id, input });
                }
                Some(SectionKind::Source) if kind == SectionKind::Sink => {
                    return Err(ManifestError::SinkReadsSource { file: file(), line, id, input });
                }
                Some(SectionKind::Source | SectionKind::Step) => {}
            }
        }
    }

    if let Some(cycle) = find_cycle(manifest)
        && let Some(first) = cycle.first().map(|&at| &manifest.steps[at])
    {
        let path = cycle.iter().chain(cycle.first()).map(|&at| manifest.steps[at].id.clone()).collect();
        return Err(ManifestError::Cycle { file: file(), line: first.line, id: first.id.clone(), path });
    }
    if manifest.sinks.is_empty() {
        return Err(ManifestError::NoSink { file: file(), line: 1 });
    }
    Ok(())
}

/// Where a step stands in the search for cycles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Visit {
    /// Not reached yet.
    New,
    /// On the chain of inputs being followed right now.
    OnChain,
    /// Known to lead back to sources only.
    Done,
}

/// Finds a cycle among the steps, if there is one: the first cycle met when following inputs
/// (depth first, each step's inputs in order) from each step in file order. The cycle is given as
/// indices into `manifest.steps`, in the direction data flows, starting with its step that comes
/// first in the file.
///
/// Sinks are never inputs, so only steps can be on a cycle.
fn find_cycle(manifest: &Manifest) -> Option<Vec<usize>> {
    let index: HashMap<&str, usize> =
        manifest.steps.iter().enumerate().map(|(at, step)| (step.id.as_str(), at)).collect();
    let mut visits = vec![Visit::New; manifest.steps.len()];
    let mut order: Vec<usize> = (0..manifest.steps.len()).collect();
    order.sort_by_key(|&at| manifest.steps[at].line);

    for start in order {
        let mut chain = Vec::new();
        if let Some(cycle) = follow(manifest, &index, &mut visits, &mut chain, start) {
            // Each step of the chain reads the next one, so data flows the other way round.
            let mut flow: Vec<usize> = cycle.into_iter().rev().collect();
            let first = (0..flow.len()).min_by_key(|&at| manifest.steps[flow[at]].line).unwrap_or(0);
            flow.rotate_left(first);
            return Some(flow);
        }
    }
    None
}

/// Follows the inputs of step `at` depth first, `chain` holding the steps being followed; returns
/// the steps of the first cycle met, from the step it closes on, in the order followed.
fn follow(
    manifest: &Manifest,
    index: &HashMap<&str, usize>,
    visits: &mut [Visit],
    chain: &mut Vec<usize>,
    at: usize,
) -> Option<Vec<usize>> {
    match visits[at] {
        Visit::Done => return None,
        Visit::OnChain => {
            let from = chain.iter().position(|&on| on == at).unwrap_or(0);
            return Some(chain[from..].to_vec());
        }
        Visit::New => {}
    }
    visits[at] = Visit::OnChain;
    chain.push(at);
    for input in &manifest.steps[at].inputs {
        if let Some(&next) = index.get(input.as_str())
            && let Some(cycle) = follow(manifest, index, visits, chain, next)
        {
            return Some(cycle);
        }
    }
    chain.pop();
    visits[at] = Visit::Done;
    None
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn parse(text: &str) -> Result<Manifest, ManifestError> {
        Manifest::parse(Path::new("jobs/max.toml"), text)
    }

    /// A source and a parse step, on lines 1 to 9, for tests to add to.
    const HEAD: &str = r#"name = "test"
[[source]]
id = "readings"
url = "file:///data/"

[[step]]
id = "parse"
input = "readings"
plugin = "std:parse-csv"
"#;

    fn step(id: &str, input: &str) -> String {
        format!("\n[[step]]\nid = \"{id}\"\ninput = \"{input}\"\nplugin = \"std:map\"\n")
    }

    fn sink(id: &str, input: &str) -> String {
        format!(
            "\n[[sink]]\nid = \"{id}\"\ninput = \"{input}\"\nurl = \"file:///out/\"\nplugin = \"std:format-csv\"\n"
        )
    }

    #[test]
    fn duplicate_ids_across_kinds() {
        let text = format!("{HEAD}{}", sink("parse", "parse"));
        let error = parse(&text).unwrap_err();
        assert!(
            matches!(&error, ManifestError::DuplicateId { line: 11, first_line: 6, id, kind: SectionKind::Sink, .. } if id == "parse"),
            "{error:?}"
        );
        let message = error.to_string();
        assert!(message.starts_with("jobs/max.toml:11: sink \"parse\""), "{message}");
        assert!(message.contains("line 6"), "{message}");
    }

    #[test]
    fn unknown_input() {
        let text = format!("{HEAD}{}{}", step("max", "by-statoin"), sink("out", "max"));
        let error = parse(&text).unwrap_err();
        assert!(
            matches!(&error, ManifestError::UnknownInput { line: 11, input, .. } if input == "by-statoin")
        );
        assert!(
            error.to_string().starts_with("jobs/max.toml:11: step \"max\": unknown input \"by-statoin\""),
            "{error}"
        );
    }

    #[test]
    fn input_is_a_sink() {
        let text = format!("{HEAD}{}{}", sink("out", "parse"), step("late", "out"));
        let error = parse(&text).unwrap_err();
        assert!(
            matches!(&error, ManifestError::InputIsSink { line: 17, id, .. } if id == "late"),
            "{error:?}"
        );
        let message = error.to_string();
        assert!(message.contains(":17: step \"late\"") && message.contains("\"out\" is a sink"), "{message}");
    }

    #[test]
    fn sink_reading_a_source() {
        let text = format!("{HEAD}{}", sink("out", "readings"));
        let error = parse(&text).unwrap_err();
        assert!(
            matches!(&error, ManifestError::SinkReadsSource { line: 11, id, .. } if id == "out"),
            "{error:?}"
        );
        let message = error.to_string();
        assert!(message.contains(":11: sink \"out\"") && message.contains("parse step"), "{message}");
    }

    #[test]
    fn two_step_cycle() {
        let text = format!("{HEAD}{}{}{}", step("a", "b"), step("b", "a"), sink("out", "a"));
        let error = parse(&text).unwrap_err();
        assert!(
            matches!(&error, ManifestError::Cycle { line: 11, path, .. } if path == &["a", "b", "a"]),
            "{error:?}"
        );
        let message = error.to_string();
        assert!(
            message.starts_with("jobs/max.toml:11: step \"a\"") && message.contains("a -> b -> a"),
            "{message}"
        );
    }

    #[test]
    fn cycle_is_shown_in_data_flow_order_from_the_first_step_in_the_file() {
        // a reads c, b reads a, c reads b: data flows a -> b -> c -> a. The cycle is met from "x".
        let text = format!(
            "{HEAD}{}{}{}{}{}",
            step("x", "b"),
            step("a", "c"),
            step("b", "a"),
            step("c", "b"),
            sink("out", "parse")
        );
        let error = parse(&text).unwrap_err();
        assert!(
            matches!(&error, ManifestError::Cycle { line: 16, id, path, .. } if id == "a" && path == &["a", "b", "c", "a"]),
            "{error:?}"
        );
    }

    #[test]
    fn a_step_reading_itself_is_a_cycle() {
        let text = format!("{HEAD}{}{}", step("self", "self"), sink("out", "parse"));
        let error = parse(&text).unwrap_err();
        assert!(
            matches!(&error, ManifestError::Cycle { path, .. } if path == &["self", "self"]),
            "{error:?}"
        );
    }

    #[test]
    fn no_sink() {
        let error = parse(HEAD).unwrap_err();
        assert!(matches!(error, ManifestError::NoSink { line: 1, .. }), "{error:?}");
        assert!(error.to_string().starts_with("jobs/max.toml:1: "), "{error}");
    }

    #[test]
    fn a_cycle_through_the_second_input_of_a_step_is_found() {
        let join = "\n[[step]]\nid = \"j\"\ninput = [\"parse\", \"b\"]\nplugin = \"std:join\"\n";
        let text = format!("{HEAD}{join}{}{}", step("b", "j"), sink("out", "j"));
        let error = parse(&text).unwrap_err();
        assert!(
            matches!(&error, ManifestError::Cycle { line: 11, path, .. } if path == &["j", "b", "j"]),
            "{error:?}"
        );
    }

    #[test]
    fn an_unknown_second_input_is_named() {
        let join = "\n[[step]]\nid = \"j\"\ninput = [\"parse\", \"stations\"]\nplugin = \"std:join\"\n";
        let error = parse(&format!("{HEAD}{join}{}", sink("out", "j"))).unwrap_err();
        assert!(matches!(&error, ManifestError::UnknownInput { line: 11, input, .. } if input == "stations"));
    }

    #[test]
    fn a_self_join_and_a_diamond_are_fine() {
        let self_join = "\n[[step]]\nid = \"j\"\ninput = [\"a\", \"a\"]\nplugin = \"std:join\"\n";
        let text = format!("{HEAD}{}{self_join}{}", step("a", "parse"), sink("out", "j"));
        assert!(parse(&text).is_ok());
        let diamond = "\n[[step]]\nid = \"j\"\ninput = [\"a\", \"b\"]\nplugin = \"std:join\"\n";
        let text = format!("{HEAD}{}{}{diamond}{}", step("a", "parse"), step("b", "parse"), sink("out", "j"));
        assert!(parse(&text).is_ok());
    }

    #[test]
    fn a_chain_and_a_fork_are_fine() {
        let text = format!(
            "{HEAD}{}{}{}{}",
            step("b", "a"),
            step("a", "parse"),
            sink("out", "b"),
            sink("raw", "parse")
        );
        assert!(parse(&text).is_ok());
    }
}
