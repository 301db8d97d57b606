//! `std:key-by`: sets the rows' key to the values of some of their fields.
//!
//! Config: `fields` (comma-separated field names). The fields stay in the row's values too.

use crate::{field_names, locate};
use flicker_guest::{BatchReader, BatchWriter, Config, Error, Map, RowType, Schema, TypeMismatch};

/// The `std:key-by` operator.
pub struct KeyBy {
    fields: Vec<String>,
}

impl Map for KeyBy {
    fn new(config: &Config) -> Result<Self, Error> {
        config.allow_only(&["fields"])?;
        Ok(Self { fields: field_names("fields", config.require("fields")?)? })
    }

    fn map(&mut self, input: &[u8]) -> Result<Vec<u8>, Error> {
        let batch = BatchReader::new(input)?;
        let schema = batch.schema();
        let positions = self.fields.iter().map(|f| locate(schema, f)).collect::<Result<Vec<_>, _>>()?;
        let out_schema =
            Schema { key_fields: self.fields.clone(), value_fields: schema.value_fields.clone() };
        let mut out = BatchWriter::with_capacity(&out_schema, input.len() + input.len() / 2);
        let mut key = Vec::with_capacity(64);
        for (index, row) in batch.rows().enumerate() {
            let row = row?;
            key.clear();
            for position in &positions {
                key.extend_from_slice(position.raw(&row, index)?);
            }
            out.push_raw(&key, row.value);
        }
        Ok(out.finish())
    }

    /// The input's values, keyed by the fields (which must exist).
    fn output_type(&self, input: &RowType) -> Result<Option<RowType>, TypeMismatch> {
        let key = self.fields.iter().map(|field| input.require(field).cloned()).collect::<Result<_, _>>()?;
        Ok(Some(RowType { key, values: input.values.clone() }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flicker_guest::{Value, ValueRef};

    #[test]
    fn keys_rows_by_a_field_and_keeps_values() {
        let mut op = KeyBy::new(&Config::new(vec![("fields".into(), "station".into())])).unwrap();
        let mut input = BatchWriter::new(&Schema::values(["station", "temperature"]));
        input.push_values([], [ValueRef::Str("Oslo"), ValueRef::F64(1.5)]);
        let output = op.map(&input.finish()).unwrap();
        let batch = BatchReader::new(&output).unwrap();
        assert_eq!(batch.schema().key_fields, ["station"]);
        let row = batch.rows().next().unwrap().unwrap();
        assert_eq!(row.key_values().next().unwrap().unwrap().to_owned(), Value::Str("Oslo".into()));
        assert_eq!(row.values().count(), 2);
    }

    #[test]
    fn unknown_field_is_an_error_naming_it() {
        let mut op = KeyBy::new(&Config::new(vec![("fields".into(), "city".into())])).unwrap();
        let input = BatchWriter::new(&Schema::values(["station"])).finish();
        assert!(op.map(&input).unwrap_err().to_string().contains("`city`"));
    }
}
