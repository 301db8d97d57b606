//! Rows as serde types: [`from_row`] reads a batch row into any `Deserialize` type,
//! [`to_row_values`] encodes a `Serialize` struct or map as a row's value bytes.
//!
//! A row is read as a map whose entries are its key fields followed by its value fields, so a
//! struct picks its fields by name wherever they are. Field values are plain (null, boolean,
//! integer, float, string); nested structs, sequences and maps are not.
//!
//! ```
//! use flicker_batch::{BatchReader, BatchWriter, Schema, from_row, to_row_values};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Serialize, Deserialize, Debug, PartialEq)]
//! struct Reading<'a> {
//!     station: &'a str,
//!     temperature: f64,
//! }
//!
//! // The field names are recorded from the first row, so encode the rows before the header.
//! let mut names = Vec::new();
//! let mut value = Vec::new();
//! to_row_values(&Reading { station: "oslo", temperature: 3.5 }, &mut names, &mut value)?;
//! let mut batch = BatchWriter::new(&Schema::values(names));
//! batch.push_raw(&[], &value);
//! let bytes = batch.finish();
//!
//! let reader = BatchReader::new(&bytes)?;
//! for row in reader.rows() {
//!     let reading: Reading = from_row(reader.schema(), &row?)?;
//!     assert_eq!(reading, Reading { station: "oslo", temperature: 3.5 });
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod de;
mod ser;
mod trace;

use std::fmt;

use serde::de::{Expected, Unexpected};

use crate::{BatchReader, BatchWriter, FieldType, RowType, Schema, TypeMismatch, ValueRef};

pub use de::from_row;
pub use ser::to_row_values;
pub use trace::row_fields_of;

/// A row that cannot be read into, or written from, a serde type.
///
/// The message names the field at fault, e.g. `field "temperature": expected f64, found string
/// "abc"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    message: String,
    /// What [`check_row_type`] needs to know of the error beyond its words.
    kind: RowErrorKind,
}

/// The structure behind a [`RowError`]'s message.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
struct RowErrorKind {
    /// The field the error is in, once known.
    field: Option<String>,
    /// A field the target type needs and the row does not have.
    missing: Option<String>,
    /// What the target type expected, for a value of the wrong type.
    expected: Option<String>,
}

impl RowError {
    fn new(message: impl Into<String>) -> Self {
        Self { message: message.into(), kind: RowErrorKind::default() }
    }

    /// The same error, said of the field called `name`.
    fn in_field(mut self, name: &str) -> Self {
        self.message = format!("field {name:?}: {}", self.message);
        self.kind.field.get_or_insert_with(|| name.to_owned());
        self
    }

    /// A value that is not what the target type takes. Unit is the only null serde has, so it is
    /// called null.
    fn mismatch(unexpected: Unexpected<'_>, expected: &dyn Expected) -> Self {
        let unexpected = if unexpected == Unexpected::Unit { Unexpected::Other("null") } else { unexpected };
        let mut error = Self::new(format!("expected {expected}, found {unexpected}"));
        error.kind.expected = Some(expected.to_string());
        error
    }

    /// What went wrong, and in which field.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for RowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for RowError {}

impl serde::de::Error for RowError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Self::new(msg.to_string())
    }

    fn missing_field(field: &'static str) -> Self {
        let mut error = Self::new(format!("missing field `{field}`"));
        error.kind.missing = Some(field.to_owned());
        error
    }

    fn invalid_type(unexpected: Unexpected<'_>, expected: &dyn Expected) -> Self {
        Self::mismatch(unexpected, expected)
    }

    fn invalid_value(unexpected: Unexpected<'_>, expected: &dyn Expected) -> Self {
        Self::mismatch(unexpected, expected)
    }
}

/// Checks that rows of type `rows` can be read into a `T`, by reading into it a row of `rows`
/// whose values are samples of each field's type (a field of type `any` tries a value of every
/// type before it is found wrong). The same reading as [`from_row`]'s, so the answer is the one a
/// task would get from the first row.
pub fn check_row_type<T: serde::de::DeserializeOwned>(rows: &RowType) -> Result<(), TypeMismatch> {
    const ANY: [ValueRef<'static>; 5] =
        [ValueRef::Null, ValueRef::Str(""), ValueRef::I64(0), ValueRef::F64(0.0), ValueRef::Bool(false)];
    let sample = |ty: FieldType, tried: usize| match ty {
        FieldType::String => ValueRef::Str(""),
        FieldType::I64 => ValueRef::I64(0),
        FieldType::F64 => ValueRef::F64(0.0),
        FieldType::Bool => ValueRef::Bool(false),
        FieldType::Any => ANY[tried],
    };
    let schema =
        Schema::keyed(rows.key.iter().map(|f| f.name.as_str()), rows.values.iter().map(|f| f.name.as_str()));
    // How many sample values each `any` field tried (by name: a key field may repeat as a value).
    let mut tried: Vec<(String, usize)> = Vec::new();
    let tries =
        |tried: &[(String, usize)], name: &str| tried.iter().find(|(n, _)| n == name).map_or(0, |t| t.1);
    loop {
        let mut batch = BatchWriter::new(&schema);
        batch.push_values(
            rows.key.iter().map(|f| sample(f.ty, tries(&tried, &f.name))),
            rows.values.iter().map(|f| sample(f.ty, tries(&tried, &f.name))),
        );
        let bytes = batch.finish();
        let reader = BatchReader::new(&bytes).expect("a batch just written");
        let row = reader.rows().next().expect("one row").expect("a row just written");
        let error = match from_row::<T>(reader.schema(), &row) {
            Ok(_) => return Ok(()),
            Err(error) => error,
        };
        let RowErrorKind { field, missing, expected } = error.kind.clone();
        if let Some(field) = missing {
            return Err(TypeMismatch::MissingField { field });
        }
        let Some(found) = field.as_deref().and_then(|name| rows.field(name)) else {
            return Err(TypeMismatch::Other { message: error.message });
        };
        match (found.ty, tries(&tried, &found.name)) {
            (FieldType::Any, n) if n + 1 < ANY.len() => {
                match tried.iter_mut().find(|(name, _)| *name == found.name) {
                    Some(entry) => entry.1 += 1,
                    None => tried.push((found.name.clone(), 1)),
                }
            }
            (ty, _) => {
                return Err(match expected {
                    Some(expected) => {
                        TypeMismatch::WrongType { field: found.name.clone(), expected, found: ty }
                    }
                    None => TypeMismatch::Other { message: error.message },
                });
            }
        }
    }
}

impl serde::ser::Error for RowError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Self::new(msg.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{BatchReader, BatchWriter, Row, Schema, Value, ValueRef};
    use serde::{Deserialize, Serialize};

    #[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
    struct Reading {
        station: String,
        temperature: f64,
    }

    /// Encodes `rows` as one unkeyed batch, with the field names recorded from the first row.
    pub(super) fn batch_of<T: Serialize>(rows: &[T]) -> Vec<u8> {
        let mut names = Vec::new();
        let values: Vec<Vec<u8>> = rows
            .iter()
            .map(|row| {
                let mut value = Vec::new();
                to_row_values(row, &mut names, &mut value).unwrap();
                value
            })
            .collect();
        let mut batch = BatchWriter::new(&Schema::values(names));
        for value in &values {
            batch.push_raw(&[], value);
        }
        batch.finish()
    }

    /// Reads every row of `bytes` as a `T`.
    fn read_all<T: for<'de> Deserialize<'de>>(bytes: &[u8]) -> Vec<T> {
        let reader = BatchReader::new(bytes).unwrap();
        reader.rows().map(|row| from_row(reader.schema(), &row.unwrap()).unwrap()).collect()
    }

    #[test]
    fn derived_struct_round_trips_through_a_batch() {
        let rows = vec![
            Reading { station: "oslo".into(), temperature: -3.5 },
            Reading { station: "bergen".into(), temperature: 12.0 },
        ];
        let bytes = batch_of(&rows);
        let reader = BatchReader::new(&bytes).unwrap();
        assert_eq!(reader.schema(), &Schema::values(["station", "temperature"]));
        assert_eq!(read_all::<Reading>(&bytes), rows);
    }

    #[test]
    fn str_fields_borrow_from_the_batch() {
        #[derive(Deserialize)]
        struct Borrowed<'a> {
            station: &'a str,
        }
        let bytes = batch_of(&[Reading { station: "tromsø".into(), temperature: 1.0 }]);
        let reader = BatchReader::new(&bytes).unwrap();
        let row = reader.rows().next().unwrap().unwrap();
        let borrowed: Borrowed = from_row(reader.schema(), &row).unwrap();
        assert_eq!(borrowed.station, "tromsø");
        assert!(bytes.as_ptr_range().contains(&borrowed.station.as_ptr()));
    }

    #[test]
    fn options_round_trip_through_null() {
        #[derive(Serialize, Deserialize, Debug, PartialEq)]
        struct Sparse {
            station: Option<String>,
            temperature: Option<f64>,
            count: Option<u32>,
        }
        let rows = vec![
            Sparse { station: None, temperature: Some(2.5), count: None },
            Sparse { station: Some("oslo".into()), temperature: None, count: Some(7) },
        ];
        let bytes = batch_of(&rows);
        let reader = BatchReader::new(&bytes).unwrap();
        let first = reader.rows().next().unwrap().unwrap();
        let values: Vec<Value> = first.values().map(|v| v.unwrap().to_owned()).collect();
        assert_eq!(values, [Value::Null, Value::F64(2.5), Value::Null]);
        assert_eq!(read_all::<Sparse>(&bytes), rows);
    }

    #[test]
    fn keyed_row_reads_key_and_value_fields_by_name() {
        #[derive(Deserialize, Debug, PartialEq)]
        struct Keyed {
            temperature: f64,
            station: String,
        }
        let mut batch = BatchWriter::new(&Schema::keyed(["station"], ["temperature"]));
        batch.push_values([ValueRef::Str("oslo")], [ValueRef::F64(4.25)]);
        let bytes = batch.finish();
        let expected = Keyed { temperature: 4.25, station: "oslo".into() };
        assert_eq!(read_all::<Keyed>(&bytes), [expected]);
        // The key comes first when the row is read in order.
        let row: Vec<Row> = read_all(&bytes);
        let names: Vec<&str> = row[0].iter().map(|(name, _)| name).collect();
        assert_eq!(names, ["station", "temperature"]);
    }

    #[test]
    fn a_key_field_repeated_among_the_values_is_read_once() {
        #[derive(Deserialize, Debug, PartialEq)]
        struct Reading {
            station: String,
            temperature: f64,
        }
        let mut batch = BatchWriter::new(&Schema::keyed(["station"], ["station", "temperature"]));
        batch.push_values([ValueRef::Str("oslo")], [ValueRef::Str("oslo"), ValueRef::F64(4.25)]);
        let bytes = batch.finish();
        assert_eq!(read_all::<Reading>(&bytes), [Reading { station: "oslo".into(), temperature: 4.25 }]);
        let rows: Vec<Row> = read_all(&bytes);
        assert_eq!(rows[0].len(), 2);
    }

    #[test]
    fn dynamic_row_round_trips() {
        let mut row = Row::new();
        row.set("station", "oslo");
        row.set("count", 3);
        row.set("mean", 2.5);
        row.set("ok", true);
        row.set("note", None::<String>);
        let bytes = batch_of(std::slice::from_ref(&row));
        assert_eq!(read_all::<Row>(&bytes), [row]);
    }

    #[test]
    fn struct_and_dynamic_row_share_the_encoding() {
        let reading = Reading { station: "oslo".into(), temperature: 1.5 };
        let rows: Vec<Row> = read_all(&batch_of(std::slice::from_ref(&reading)));
        assert_eq!(rows[0].get_str("station"), Some("oslo"));
        assert_eq!(rows[0].get_f64("temperature"), Some(1.5));
        assert_eq!(read_all::<Reading>(&batch_of(&rows)), [reading]);
    }

    #[test]
    fn a_row_type_is_checked_against_a_serde_type_as_a_task_would_read_it() {
        use crate::{Field, FieldType, RowType, TypeMismatch};
        let rows = |temperature: FieldType| {
            RowType::values([
                Field::new("station", FieldType::String),
                Field::new("temperature", temperature),
            ])
        };
        assert_eq!(check_row_type::<Reading>(&rows(FieldType::F64)), Ok(()));
        assert_eq!(check_row_type::<Reading>(&rows(FieldType::I64)), Ok(()), "an integer reads as f64");
        assert_eq!(check_row_type::<Reading>(&rows(FieldType::Any)), Ok(()), "any may hold a number");
        assert_eq!(
            check_row_type::<Reading>(&rows(FieldType::String)),
            Err(TypeMismatch::WrongType {
                field: "temperature".into(),
                expected: "f64".into(),
                found: FieldType::String
            })
        );
        let renamed =
            RowType::values([Field::new("station", FieldType::String), Field::new("temp", FieldType::F64)]);
        assert_eq!(
            check_row_type::<Reading>(&renamed),
            Err(TypeMismatch::MissingField { field: "temperature".into() })
        );
        // Key fields count, optional fields may be missing, and a dynamic row takes anything.
        #[derive(Deserialize)]
        struct Keyed {
            #[serde(rename = "station")]
            _station: String,
            #[serde(rename = "note")]
            _note: Option<String>,
        }
        let keyed = RowType { key: vec![Field::new("station", FieldType::String)], values: Vec::new() };
        assert_eq!(check_row_type::<Keyed>(&keyed), Ok(()));
        assert_eq!(check_row_type::<Row>(&renamed), Ok(()));
    }
}
