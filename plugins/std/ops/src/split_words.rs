//! `std:split-words`: one row per word of a text field (a flat-map).
//!
//! Config: `field` (the text field, required), `as` (name of the output field, default `word`),
//! `lowercase` (default `true`). A word is a maximal run of alphanumeric characters. Output rows
//! keep the input row's key and hold only the word.

use crate::locate;
use flicker_guest::{
    BatchReader, BatchWriter, Config, Error, Field, FieldType, Map, RowType, Schema, TypeMismatch, ValueRef,
    encode_value,
};

/// The `std:split-words` operator.
pub struct SplitWords {
    field: String,
    output: String,
    lowercase: bool,
}

impl SplitWords {
    /// The input's key, and one string field of words: the field must hold text.
    fn words_of(&self, input: &RowType) -> Result<RowType, TypeMismatch> {
        input.require_typed(&self.field, &[FieldType::String])?;
        Ok(RowType {
            key: input.key.clone(),
            values: vec![Field::new(self.output.clone(), FieldType::String)],
        })
    }
}

impl Map for SplitWords {
    fn new(config: &Config) -> Result<Self, Error> {
        config.allow_only(&["field", "as", "lowercase"])?;
        Ok(Self {
            field: config.require("field")?.to_owned(),
            output: config.get("as").unwrap_or("word").to_owned(),
            lowercase: config.parse_or("lowercase", true)?,
        })
    }

    fn output_type(&self, input: &RowType) -> Result<Option<RowType>, TypeMismatch> {
        self.words_of(input).map(Some)
    }

    fn map(&mut self, input: &[u8]) -> Result<Vec<u8>, Error> {
        let batch = BatchReader::new(input)?;
        let position = locate(batch.schema(), &self.field)?;
        let schema =
            Schema { key_fields: batch.schema().key_fields.clone(), value_fields: vec![self.output.clone()] };
        let mut out = BatchWriter::with_capacity(&schema, input.len() * 2);
        let mut lowered = String::new();
        for (index, row) in batch.rows().enumerate() {
            let row = row?;
            let text = match position.get(&row, index)? {
                ValueRef::Str(text) => text,
                ValueRef::Null => continue,
                other => {
                    return Err(Error::bad_record(
                        index,
                        format!("field `{}` is {}, not a string", self.field, other.type_name()),
                    ));
                }
            };
            for word in text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()) {
                let word = if self.lowercase && word.chars().any(|c| !c.to_lowercase().eq([c])) {
                    lowered.clear();
                    lowered.extend(word.chars().flat_map(char::to_lowercase));
                    lowered.as_str()
                } else {
                    word
                };
                out.push_with(
                    |key| key.extend_from_slice(row.key),
                    |value| encode_value(value, ValueRef::Str(word)),
                );
            }
        }
        Ok(out.finish())
    }
}
