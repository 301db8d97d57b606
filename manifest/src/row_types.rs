//! Row types flowing through a job: each step's operator says, from its config and the type of
//! its input rows, the type of the rows it outputs; a sink's format says whether it takes its
//! input. A field that does not exist, or has a type the operator cannot take, is a manifest
//! error before any task runs, naming the field, what the input does have and where each field
//! comes from. An operator that cannot say (its rows are dynamic, or it was built for an older
//! operator interface) stops the check for the steps after it: they are checked at run time.

use std::collections::HashMap;

use flicker_batch::{RowType, TypeMismatch};

use crate::error::{InputMismatch, ManifestError};
use crate::manifest::{Manifest, Node, UNION};
use crate::plugin::PluginCatalog;
use crate::suggest::closest;

/// The type of each step's output rows, by step id, where its operator could say before the job
/// ran.
pub type RowTypes = HashMap<String, RowType>;

/// The type of a step's output rows, and the step each field comes from.
#[derive(Debug, Clone)]
struct Typed<'a> {
    rows: RowType,
    /// For each field, the step that made it and that step's line.
    origins: HashMap<String, (&'a str, usize)>,
}

impl Typed<'_> {
    /// The fields, grouped by the step they come from: `station: string, temperature: f64 (from
    /// step "parse", line 7)`, and how the rows are keyed.
    fn describe(&self) -> String {
        let mut groups: Vec<((&str, usize), Vec<String>)> = Vec::new();
        for field in self.rows.fields() {
            let origin = self.origins.get(&field.name).copied().unwrap_or(("?", 0));
            match groups.iter_mut().find(|(o, _)| *o == origin) {
                Some((_, fields)) => fields.push(field.to_string()),
                None => groups.push((origin, vec![field.to_string()])),
            }
        }
        let mut text = if groups.is_empty() { "no field".to_owned() } else { String::new() };
        for (n, ((step, line), fields)) in groups.iter().enumerate() {
            if n > 0 {
                text.push_str("; ");
            }
            text.push_str(&format!("{} (from step \"{step}\", line {line})", fields.join(", ")));
        }
        if !self.rows.key.is_empty() {
            let key: Vec<&str> = self.rows.key.iter().map(|f| f.name.as_str()).collect();
            text.push_str(&format!(", keyed by {}", key.join(", ")));
        }
        text
    }
}

impl Manifest {
    /// Walks the steps and sinks from the sources, asking `catalog` the row type of each, and
    /// fails at the first step or sink whose operator cannot take its input rows.
    /// Returns the type of each step's output rows that its operator could say.
    pub(crate) fn check_row_types(&self, catalog: &dyn PluginCatalog) -> Result<RowTypes, ManifestError> {
        let nodes = self.nodes();
        let mut known: HashMap<&str, Option<Typed<'_>>> = HashMap::new();
        for node in &nodes {
            self.type_of(node, &nodes, catalog, &mut known)?;
        }
        Ok(known.into_iter().filter_map(|(id, typed)| Some((id.to_owned(), typed?.rows))).collect())
    }

    /// The type of `node`'s output rows (`None` if unknown), computing its inputs first.
    fn type_of<'a>(
        &'a self,
        node: &Node<'a>,
        nodes: &[Node<'a>],
        catalog: &dyn PluginCatalog,
        known: &mut HashMap<&'a str, Option<Typed<'a>>>,
    ) -> Result<Option<Typed<'a>>, ManifestError> {
        if let Some(typed) = known.get(node.id) {
            return Ok(typed.clone());
        }
        // A source's rows are lines: only a parse operator reads them, with no input type.
        let Some(operator) = node.operator else { return Ok(None) };
        let mut inputs = Vec::new();
        for input in operator.inputs {
            match nodes.iter().find(|n| n.id == input) {
                Some(input) if input.operator.is_some() => {
                    match self.type_of(input, nodes, catalog, known)? {
                        Some(typed) => inputs.push(typed),
                        // The input's rows are only known at run time: so are this step's.
                        None => {
                            known.insert(node.id, None);
                            return Ok(None);
                        }
                    }
                }
                _ => {}
            }
        }
        if operator.plugin == UNION {
            let typed = self.union_type(node, operator.inputs, inputs)?;
            known.insert(node.id, typed.clone());
            return Ok(typed);
        }
        let types: Vec<RowType> = inputs.iter().map(|typed| typed.rows.clone()).collect();
        let output = catalog.output_type(operator.plugin, operator.config, operator.limits, &types).map_err(
            |problem| {
                let suggestion = match &problem {
                    TypeMismatch::MissingField { field } => closest(
                        field,
                        inputs.iter().flat_map(|input| input.rows.fields().map(|f| f.name.as_str())),
                    )
                    .map(str::to_owned),
                    _ => None,
                };
                let described = match inputs.as_slice() {
                    [] => "lines".to_owned(),
                    [one] => one.describe(),
                    several => several
                        .iter()
                        .zip(operator.inputs)
                        .map(|(typed, id)| format!("input \"{id}\": {}", typed.describe()))
                        .collect::<Vec<_>>()
                        .join(" | "),
                };
                ManifestError::FieldMismatch {
                    file: self.file.clone(),
                    line: node.line,
                    kind: node.kind,
                    id: node.id.to_owned(),
                    plugin: operator.plugin.to_owned(),
                    mismatch: Box::new(InputMismatch { problem, suggestion, input: described }),
                }
            },
        )?;
        let typed = output.map(|rows| {
            let origins = rows
                .fields()
                .map(|field| {
                    let inherited = inputs.iter().find_map(|input| {
                        let same = input.rows.field(&field.name).is_some_and(|f| f.ty == field.ty);
                        same.then(|| input.origins.get(&field.name).copied()).flatten()
                    });
                    (field.name.clone(), inherited.unwrap_or((node.id, node.line)))
                })
                .collect();
            Typed { rows, origins }
        });
        known.insert(node.id, typed.clone());
        Ok(typed)
    }
}

impl Manifest {
    /// The rows of union `node`, whose inputs `ids` have rows `inputs` (all known): those of its
    /// first input, which every other input must have too, key included.
    fn union_type<'a>(
        &self,
        node: &Node<'a>,
        ids: &[String],
        inputs: Vec<Typed<'a>>,
    ) -> Result<Option<Typed<'a>>, ManifestError> {
        let mut inputs = inputs.into_iter().zip(ids);
        let Some((first, first_id)) = inputs.next() else { return Ok(None) };
        match inputs.find(|(typed, _)| typed.rows != first.rows) {
            None => Ok(Some(first)),
            Some((other, other_id)) => Err(ManifestError::Union {
                file: self.file.clone(),
                line: node.line,
                kind: node.kind,
                id: node.id.to_owned(),
                problem: format!(
                    "concatenates inputs with the same rows, but input \"{first_id}\" has {} and input \"{other_id}\" has {}",
                    first.describe(),
                    other.describe()
                ),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flicker_batch::{Field, FieldType};
    use flicker_protocol::{LimitOverrides, OperatorKind};
    use std::path::Path;

    /// Standard operators as far as types go: `parse` outputs `station: string, temperature:
    /// f64`, `key` keys by its `fields`, `max` takes a numeric `field`, `dynamic` cannot say.
    struct Types;

    impl PluginCatalog for Types {
        fn kind_of(&self, plugin: &str) -> Result<OperatorKind, String> {
            Ok(match plugin {
                "parse" => OperatorKind::Parse,
                "max" => OperatorKind::Aggregate,
                "csv" => OperatorKind::Format,
                _ => OperatorKind::Map,
            })
        }

        fn check_config(
            &self,
            _: &str,
            _: &[(String, String)],
            _: u32,
            _: &LimitOverrides,
        ) -> Result<(), String> {
            Ok(())
        }

        fn output_type(
            &self,
            plugin: &str,
            config: &[(String, String)],
            _: &LimitOverrides,
            inputs: &[RowType],
        ) -> Result<Option<RowType>, TypeMismatch> {
            let get =
                |key: &str| config.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str()).unwrap_or("");
            match (plugin, inputs.first()) {
                ("parse", _) => Ok(Some(RowType::values([
                    Field::new("station", FieldType::String),
                    Field::new("temperature", FieldType::F64),
                ]))),
                ("key", Some(input)) => Ok(Some(RowType {
                    key: vec![input.require(get("fields"))?.clone()],
                    values: input.values.clone(),
                })),
                ("max", Some(input)) => {
                    input.require_typed(get("field"), &[FieldType::I64, FieldType::F64])?;
                    Ok(Some(RowType {
                        key: input.key.clone(),
                        values: vec![Field::new("max", FieldType::F64)],
                    }))
                }
                _ => Ok(None),
            }
        }
    }

    fn job(key_field: &str, middle: &str, max_field: &str) -> Manifest {
        let text = format!(
            r#"name = "t"
[[source]]
id = "in"
url = "file:///in/"

[[step]]
id = "parse"
input = "in"
plugin = "parse"

[[step]]
id = "by"
input = "parse"
plugin = "{middle}"
config = {{ fields = "{key_field}" }}

[[step]]
id = "max"
input = "by"
plugin = "max"
config = {{ field = "{max_field}" }}

[[sink]]
id = "out"
input = "max"
url = "file:///out/"
plugin = "csv"
"#
        );
        Manifest::parse(Path::new("job.toml"), &text).unwrap()
    }

    #[test]
    fn a_job_whose_fields_exist_passes() {
        job("station", "key", "temperature").check_row_types(&Types).unwrap();
    }

    #[test]
    fn a_missing_field_is_named_with_a_likely_typo_and_where_the_fields_come_from() {
        let error = job("station", "key", "temp").check_row_types(&Types).unwrap_err();
        let ManifestError::FieldMismatch { line: 17, id, mismatch, .. } = &error else { panic!("{error:?}") };
        assert_eq!((id.as_str(), mismatch.suggestion.as_deref()), ("max", Some("temperature")));
        assert_eq!(
            error.to_string(),
            "job.toml:17: step \"max\": plugin \"max\" cannot take its input rows: it reads field `temp`, \
             which the rows do not have; did you mean `temperature`? Its input rows have: station: string, \
             temperature: f64 (from step \"parse\", line 6), keyed by station"
        );
        let error = job("statoin", "key", "temperature").check_row_types(&Types).unwrap_err();
        let ManifestError::FieldMismatch { line: 11, mismatch, .. } = &error else { panic!("{error:?}") };
        assert_eq!(mismatch.suggestion.as_deref(), Some("station"));
    }

    #[test]
    fn a_wrong_type_is_named() {
        let error = job("station", "key", "station").check_row_types(&Types).unwrap_err();
        let ManifestError::FieldMismatch { mismatch, .. } = &error else { panic!("{error:?}") };
        assert_eq!(mismatch.suggestion, None);
        assert_eq!(
            mismatch.problem,
            TypeMismatch::WrongType {
                field: "station".into(),
                expected: "i64 or f64".into(),
                found: FieldType::String
            }
        );
    }

    /// [`job`] with a union of `inputs` between `by` and `max`.
    fn union_of(inputs: &[&str]) -> Manifest {
        let mut manifest = job("station", "key", "temperature");
        let mut union = manifest.steps[1].clone();
        union.id = "all".into();
        union.plugin = UNION.into();
        union.config.clear();
        union.inputs = inputs.iter().map(|input| input.to_string()).collect();
        union.line = 15;
        manifest.steps.insert(2, union);
        manifest.steps[3].inputs = vec!["all".into()];
        manifest
    }

    #[test]
    fn a_union_has_the_rows_of_its_inputs_which_must_all_be_alike() {
        let types = union_of(&["by", "by"]).check_row_types(&Types).unwrap();
        assert_eq!(types["all"], types["by"]);
        let error = union_of(&["by", "parse"]).check_row_types(&Types).unwrap_err();
        assert_eq!(
            error.to_string(),
            "job.toml:15: step \"all\": std:union concatenates inputs with the same rows, but input \"by\" \
             has station: string, temperature: f64 (from step \"parse\", line 6), keyed by station and input \
             \"parse\" has station: string, temperature: f64 (from step \"parse\", line 6)"
        );
    }

    #[test]
    fn after_an_operator_that_cannot_say_nothing_is_checked() {
        job("station", "dynamic", "no-such-field").check_row_types(&Types).unwrap();
    }
}
