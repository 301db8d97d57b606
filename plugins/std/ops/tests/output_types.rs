//! The row types the standard operators say they output, as the planner chains them before a
//! job runs: each step's answer is the next one's input.

use flicker_guest::{Aggregate, Config, Field, FieldType, Map, Parse, RowType, TypeMismatch};
use flicker_std_ops::{Count, Filter, KeyBy, Max, Mean, ParseCsv, ParseLines, SplitWords, Stats};

fn config(pairs: &[(&str, &str)]) -> Config {
    Config::new(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect())
}

fn field(name: &str, ty: FieldType) -> Field {
    Field::new(name, ty)
}

/// The rows of the reference job's parse step.
fn readings() -> RowType {
    let parse = ParseCsv::new(&config(&[("schema", "station:string,temperature:f64,ok:bool")])).unwrap();
    parse.output_type().expect("parse-csv knows its rows")
}

#[test]
fn the_reference_job_chains_its_types() {
    let rows = readings();
    assert_eq!(
        rows,
        RowType::values([
            field("station", FieldType::String),
            field("temperature", FieldType::F64),
            field("ok", FieldType::Bool)
        ])
    );
    let keyed = KeyBy::new(&config(&[("fields", "station")])).unwrap().output_type(&rows).unwrap().unwrap();
    assert_eq!(keyed.key, [field("station", FieldType::String)]);
    assert_eq!(keyed.values, rows.values, "key-by keeps the values");
    let max = Max::new(&config(&[("field", "temperature")])).unwrap().output_type(&keyed).unwrap().unwrap();
    assert_eq!(max, RowType { key: keyed.key.clone(), values: vec![field("max", FieldType::F64)] });
    let stats =
        Stats::new(&config(&[("field", "temperature")])).unwrap().output_type(&keyed).unwrap().unwrap();
    let columns: Vec<String> = stats.values.iter().map(ToString::to_string).collect();
    assert_eq!(columns, ["count: i64", "min: f64", "mean: f64", "max: f64"]);
}

#[test]
fn a_missing_field_or_a_wrong_type_is_named() {
    let rows = readings();
    let missing = |result: Result<Option<RowType>, TypeMismatch>| result.unwrap_err();
    assert_eq!(
        missing(KeyBy::new(&config(&[("fields", "statoin")])).unwrap().output_type(&rows)),
        TypeMismatch::MissingField { field: "statoin".into() }
    );
    assert_eq!(
        missing(Max::new(&config(&[("field", "station")])).unwrap().output_type(&rows)),
        TypeMismatch::WrongType {
            field: "station".into(),
            expected: "i64 or f64".into(),
            found: FieldType::String
        }
    );
    assert_eq!(
        missing(Mean::new(&config(&[("field", "temp")])).unwrap().output_type(&rows)),
        TypeMismatch::MissingField { field: "temp".into() }
    );
    assert_eq!(
        missing(Filter::new(&config(&[("predicate", "station > 3")])).unwrap().output_type(&rows)),
        TypeMismatch::WrongType {
            field: "station".into(),
            expected: "i64 or f64".into(),
            found: FieldType::String
        }
    );
    assert!(
        Filter::new(&config(&[("predicate", "station == \"Oslo\"")])).unwrap().output_type(&rows).is_ok()
    );
    assert!(Filter::new(&config(&[("predicate", "temperature > 3")])).unwrap().output_type(&rows).is_ok());
    // Counting takes values of any type.
    let counted = Count::new(&config(&[("field", "station")])).unwrap().output_type(&rows).unwrap().unwrap();
    assert_eq!(counted.values, [field("count", FieldType::I64)]);
}

#[test]
fn words_come_from_text() {
    let lines = ParseLines::new(&config(&[])).unwrap().output_type().unwrap();
    let words = SplitWords::new(&config(&[("field", "line")])).unwrap().output_type(&lines).unwrap().unwrap();
    assert_eq!(words.values, [field("word", FieldType::String)]);
    let numbers = readings();
    let error =
        SplitWords::new(&config(&[("field", "temperature")])).unwrap().output_type(&numbers).unwrap_err();
    assert_eq!(
        error,
        TypeMismatch::WrongType {
            field: "temperature".into(),
            expected: "string".into(),
            found: FieldType::F64
        }
    );
}
