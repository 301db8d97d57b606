//! What the formats share: which columns a row has, and values as plain text.

use flicker_guest::{Error, RawRow, Schema, ValueRef};
use std::io::Write;

/// The output columns of a batch: every key field, then the value fields that do not repeat a key
/// field (key-by keeps its fields among the values too).
pub(crate) struct Columns<'s> {
    schema: &'s Schema,
    values: Vec<bool>,
}

impl<'s> Columns<'s> {
    pub(crate) fn of(schema: &'s Schema) -> Self {
        let values = schema.value_fields.iter().map(|f| !schema.key_fields.contains(f)).collect();
        Self { schema, values }
    }

    pub(crate) fn names(&self) -> impl Iterator<Item = &'s String> + '_ {
        let values = self.schema.value_fields.iter().zip(&self.values).filter(|(_, keep)| **keep);
        self.schema.key_fields.iter().chain(values.map(|(name, _)| name))
    }

    pub(crate) fn values<'a>(&self, row: &RawRow<'a>) -> Result<Vec<ValueRef<'a>>, Error> {
        let mut out = row.key_values().collect::<Result<Vec<_>, _>>()?;
        for (value, keep) in row.values().zip(&self.values) {
            if *keep {
                out.push(value?);
            }
        }
        Ok(out)
    }
}

/// Writes a value as plain text: strings as they are, null as nothing, numbers in shortest form.
pub(crate) fn write_plain(out: &mut Vec<u8>, value: ValueRef<'_>) {
    match value {
        ValueRef::Str(s) => out.extend_from_slice(s.as_bytes()),
        other => {
            let _ = write!(out, "{other}");
        }
    }
}
