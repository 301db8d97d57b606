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

use std::fmt;

use serde::de::{Expected, Unexpected};

pub use de::from_row;
pub use ser::to_row_values;

/// A row that cannot be read into, or written from, a serde type.
///
/// The message names the field at fault, e.g. `field "temperature": expected f64, found string
/// "abc"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    message: String,
}

impl RowError {
    fn new(message: impl Into<String>) -> Self {
        Self { message: message.into() }
    }

    /// The same error, said of the field called `name`.
    fn in_field(self, name: &str) -> Self {
        Self { message: format!("field {name:?}: {}", self.message) }
    }

    /// A value that is not what the target type takes. Unit is the only null serde has, so it is
    /// called null.
    fn mismatch(unexpected: Unexpected<'_>, expected: &dyn Expected) -> Self {
        let unexpected = if unexpected == Unexpected::Unit { Unexpected::Other("null") } else { unexpected };
        Self::new(format!("expected {expected}, found {unexpected}"))
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

    fn invalid_type(unexpected: Unexpected<'_>, expected: &dyn Expected) -> Self {
        Self::mismatch(unexpected, expected)
    }

    fn invalid_value(unexpected: Unexpected<'_>, expected: &dyn Expected) -> Self {
        Self::mismatch(unexpected, expected)
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
    fn batch_of<T: Serialize>(rows: &[T]) -> Vec<u8> {
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
}
