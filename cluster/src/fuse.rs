//! Fusion of standard operators whose meaning flicker knows, applied after planning.
//!
//! A `std:key-by` that directly follows a `std:parse-csv` (and is the parse step's only reader) is
//! folded into the parser: `std:parse-csv` with `key = <fields>` sets the same key in the same
//! pass, saving one pass over every row and one boundary crossing per batch. User plugins are never
//! rewritten.

use crate::job::Operator;
use crate::plan::JobPlan;
use flicker_manifest::Manifest;
use std::collections::HashMap;

/// The plugin that parses and can key in the same pass.
const PARSE_CSV: &str = "std:parse-csv";
/// The plugin folded into it.
const KEY_BY: &str = "std:key-by";

/// Folds `std:key-by` steps into the `std:parse-csv` steps they follow; returns the folded steps.
pub fn fuse_parse_and_key_by(
    manifest: &Manifest,
    plan: &mut JobPlan,
    operators: &mut HashMap<String, Operator>,
) -> Vec<String> {
    let mut folded = Vec::new();
    for stage in &mut plan.stages {
        let [parse, key_by, ..] = stage.steps.as_slice() else { continue };
        let (parse, key_by) = (parse.clone(), key_by.clone());
        let fusable = operators[&parse].plugin_ref == PARSE_CSV
            && operators[&key_by].plugin_ref == KEY_BY
            && manifest.consumers(&parse) == [key_by.as_str()]
            && !operators[&parse].config.iter().any(|(k, _)| k == "key");
        let fields = operators[&key_by].config.iter().find(|(k, _)| k == "fields").map(|(_, v)| v.clone());
        let Some(fields) = fields.filter(|_| fusable) else { continue };
        if let Some(parser) = operators.get_mut(&parse) {
            parser.config.push(("key".to_owned(), fields));
        }
        stage.steps.remove(1);
        if !folded.contains(&key_by) {
            folded.push(key_by);
        }
    }
    folded
}
