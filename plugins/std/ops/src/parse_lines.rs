//! `std:parse-lines`: each line becomes a row with one string field.
//!
//! Config: `field` (the field's name, default `line`). Lines that are not UTF-8 are bad records.

use crate::lines;
use flicker_guest::{BatchWriter, Config, Error, Field, FieldType, Parse, Parsed, RowType, Schema, ValueRef};

/// The `std:parse-lines` operator.
pub struct ParseLines {
    schema: Schema,
}

impl Parse for ParseLines {
    fn new(config: &Config) -> Result<Self, Error> {
        config.allow_only(&["field"])?;
        Ok(Self { schema: Schema::values([config.get("field").unwrap_or("line")]) })
    }

    fn parse(&mut self, chunk: &[u8]) -> Result<Parsed, Error> {
        let mut batch = BatchWriter::with_capacity(&self.schema, chunk.len() * 2);
        for (index, (offset, line)) in lines(chunk).enumerate() {
            let text = std::str::from_utf8(line)
                .map_err(|_| Error::bad_line(index, offset, "the line is not valid UTF-8"))?;
            batch.push_values([], [ValueRef::Str(text)]);
        }
        Ok(Parsed::rows(batch.finish(), 0))
    }

    /// One string field.
    fn output_type(&self) -> Option<RowType> {
        Some(RowType::values(
            self.schema.value_fields.iter().map(|name| Field::new(name.clone(), FieldType::String)),
        ))
    }
}
