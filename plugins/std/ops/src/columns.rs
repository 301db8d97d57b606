//! The columns of a row: every field once, the key fields first. The formats write these, and
//! `std:distinct` keeps rows as them.

use flicker_guest::{Error, RawRow, Schema, ValueRef};

/// The columns of a batch: every key field, then the value fields that do not repeat a key field
/// (key-by keeps its fields among the values too).
pub(crate) struct Columns<'s> {
    schema: &'s Schema,
    values: Vec<bool>,
}

impl<'s> Columns<'s> {
    /// The columns of the rows of `schema`.
    pub(crate) fn of(schema: &'s Schema) -> Self {
        let values = schema.value_fields.iter().map(|f| !schema.key_fields.contains(f)).collect();
        Self { schema, values }
    }

    /// The names of the columns, in order.
    pub(crate) fn names(&self) -> impl Iterator<Item = &'s String> + '_ {
        let values = self.schema.value_fields.iter().zip(&self.values).filter(|(_, keep)| **keep);
        self.schema.key_fields.iter().chain(values.map(|(name, _)| name))
    }

    /// The values of the columns of `row`, decoded.
    pub(crate) fn values<'a>(&self, row: &RawRow<'a>) -> Result<Vec<ValueRef<'a>>, Error> {
        let mut out = row.key_values().collect::<Result<Vec<_>, _>>()?;
        for (value, keep) in row.values().zip(&self.values) {
            if *keep {
                out.push(value?);
            }
        }
        Ok(out)
    }

    /// Appends the encoded values of the columns of `row` to `out`, without decoding them.
    pub(crate) fn write_raw(&self, row: &RawRow<'_>, out: &mut Vec<u8>) -> Result<(), Error> {
        out.extend_from_slice(row.key);
        if self.values.iter().all(|keep| *keep) {
            out.extend_from_slice(row.value);
            return Ok(());
        }
        let mut values = flicker_guest::ValueIter::new(row.value);
        for keep in &self.values {
            let Some(value) = values.nth_raw(0) else { break };
            let value = value?;
            if *keep {
                out.extend_from_slice(value);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flicker_guest::{BatchReader, BatchWriter, Value, ValueIter};

    #[test]
    fn columns_leave_out_the_values_that_repeat_a_key_field() {
        let schema = Schema::keyed(["station"], ["temperature", "station", "ok"]);
        let mut batch = BatchWriter::new(&schema);
        batch.push_values(
            [ValueRef::Str("Oslo")],
            [ValueRef::F64(1.5), ValueRef::Str("Oslo"), ValueRef::Bool(true)],
        );
        let batch = batch.finish();
        let reader = BatchReader::new(&batch).unwrap();
        let row = reader.rows().next().unwrap().unwrap();
        let columns = Columns::of(reader.schema());
        assert_eq!(columns.names().collect::<Vec<_>>(), ["station", "temperature", "ok"]);
        let expected = [Value::Str("Oslo".into()), Value::F64(1.5), Value::Bool(true)];
        let decoded: Vec<Value> = columns.values(&row).unwrap().into_iter().map(ValueRef::to_owned).collect();
        assert_eq!(decoded, expected);
        let mut raw = Vec::new();
        columns.write_raw(&row, &mut raw).unwrap();
        let reread: Vec<Value> = ValueIter::new(&raw).map(|v| v.unwrap().to_owned()).collect();
        assert_eq!(reread, expected);
    }
}
