//! Fusion of standard operators whose meaning flicker knows, applied after planning.
//!
//! - A `std:key-by` that directly follows a `std:parse-csv` (and is the parse step's only reader)
//!   is folded into the parser: `std:parse-csv` with `key = <fields>` sets the same key in the same
//!   pass, saving one pass over every row and one boundary crossing per batch.
//! - A standard aggregate (`std:max`, `min`, `sum`, `count`, `mean`, `stats`) whose map side reads
//!   straight from such a keyed `std:parse-csv` (nothing else reading in between) is combined
//!   into the parser: `combine = "<aggregate>:<field>"` makes it fold each row into the
//!   aggregate's per-key state as it parses and return one chunk's partials instead of its rows;
//!   the stage then `merge`s those partials (`StageOutput::Shuffle { combined: true }`). Per
//!   chunk, the boundary carries one row per key instead of one per line, and no row is encoded,
//!   copied into the aggregate and decoded again. Only a numeric field (`i64`, `f64` in the
//!   parser's schema) is combined, so a type error stays the aggregate's own.
//!
//! User plugins are never rewritten.

use crate::plan::{JobPlan, StageOutput};
use flicker_manifest::Manifest;
use std::collections::HashMap;

/// The plugin that parses and can key in the same pass.
const PARSE_CSV: &str = "std:parse-csv";
/// The plugin folded into it.
const KEY_BY: &str = "std:key-by";
/// The standard aggregates a `std:parse-csv` can combine with.
const COMBINABLE: [&str; 6] = ["std:max", "std:min", "std:sum", "std:count", "std:mean", "std:stats"];

/// What fusion reads and changes of a step's operator: its plugin reference and its config.
/// Implemented by the loaded operators of a prepared job; fusion needs nothing else of them.
pub trait Configured {
    /// The plugin reference as written in the manifest (`std:parse-csv`).
    fn plugin_ref(&self) -> &str;
    /// The step's config, in order.
    fn config(&self) -> &[(String, String)];
    /// Adds `key = value` to the step's config.
    fn add_config(&mut self, key: &str, value: String);
}

/// The value of config key `key` of `operator`.
fn config<'o>(operator: &'o impl Configured, key: &str) -> Option<&'o str> {
    operator.config().iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

/// The type `std:parse-csv`'s `schema` config gives `field` (`f64` for `temperature:f64`).
fn schema_type<'s>(schema: &'s str, field: &str) -> Option<&'s str> {
    schema.split(',').find_map(|entry| {
        let (name, ty) = entry.split_once(':')?;
        (name.trim() == field).then(|| ty.trim())
    })
}

/// Combines standard aggregates into the keyed `std:parse-csv` steps their map side reads (after
/// [`fuse_parse_and_key_by`]); returns the aggregates combined.
pub fn fuse_parse_and_aggregate(
    manifest: &Manifest,
    plan: &mut JobPlan,
    operators: &mut HashMap<String, impl Configured>,
) -> Vec<String> {
    let mut combined = Vec::new();
    for stage in &mut plan.stages {
        let ([parse], StageOutput::Shuffle { aggregate, combined: combined_flag @ false, .. }) =
            (stage.steps.as_slice(), &mut stage.output)
        else {
            continue;
        };
        let (parser, op) = (&operators[parse.as_str()], &operators[aggregate.as_str()]);
        let Some(name) =
            op.plugin_ref().strip_prefix("std:").filter(|_| COMBINABLE.contains(&op.plugin_ref()))
        else {
            continue;
        };
        let field = config(op, "field").map(str::trim);
        let numeric = match field {
            Some(field) => config(parser, "schema")
                .and_then(|schema| schema_type(schema, field))
                .is_some_and(|ty| matches!(ty, "f64" | "float" | "i64" | "int")),
            None => name == "count",
        };
        // The rows go from the parser (through a key-by folded into it) to the aggregate only.
        let direct = match manifest.consumers(parse).as_slice() {
            [reader] if reader == aggregate => true,
            [key_by] => {
                operators.get(*key_by).is_some_and(|o| o.plugin_ref() == KEY_BY)
                    && manifest.consumers(key_by) == [aggregate.as_str()]
            }
            _ => false,
        };
        let fusable = parser.plugin_ref() == PARSE_CSV
            && config(parser, "key").is_some()
            && config(parser, "combine").is_none()
            && op.config().iter().all(|(k, _)| k == "field")
            && numeric
            && direct;
        if !fusable {
            continue;
        }
        let spec = field.map_or_else(|| name.to_owned(), |field| format!("{name}:{field}"));
        if let Some(parser) = operators.get_mut(parse.as_str()) {
            parser.add_config("combine", spec);
        }
        *combined_flag = true;
        combined.push(aggregate.clone());
    }
    combined
}

/// Folds `std:key-by` steps into the `std:parse-csv` steps they follow; returns the folded steps.
pub fn fuse_parse_and_key_by(
    manifest: &Manifest,
    plan: &mut JobPlan,
    operators: &mut HashMap<String, impl Configured>,
) -> Vec<String> {
    let mut folded = Vec::new();
    for stage in &mut plan.stages {
        let [parse, key_by, ..] = stage.steps.as_slice() else { continue };
        let (parse, key_by) = (parse.clone(), key_by.clone());
        let fusable = operators[&parse].plugin_ref() == PARSE_CSV
            && operators[&key_by].plugin_ref() == KEY_BY
            && manifest.consumers(&parse) == [key_by.as_str()]
            && config(&operators[&parse], "key").is_none();
        let fields = config(&operators[&key_by], "fields").map(str::to_owned);
        let Some(fields) = fields.filter(|_| fusable) else { continue };
        if let Some(parser) = operators.get_mut(&parse) {
            parser.add_config("key", fields);
        }
        stage.steps.remove(1);
        if !folded.contains(&key_by) {
            folded.push(key_by);
        }
    }
    folded
}
