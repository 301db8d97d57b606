//! What the unit tests of the aggregates over whole rows share: batches from values and back.

use flicker_guest::{BatchReader, BatchWriter, Config, Schema, Value};

/// Rows, each its key values and its field values.
pub(crate) type Rows = Vec<(Vec<Value>, Vec<Value>)>;

/// A config of `key, value` pairs.
pub(crate) fn config(pairs: &[(&str, &str)]) -> Config {
    Config::new(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect())
}

/// A batch of `schema` holding `rows`, each its key values and its field values.
pub(crate) fn batch(schema: &Schema, rows: &[(Vec<Value>, Vec<Value>)]) -> Vec<u8> {
    let mut out = BatchWriter::new(schema);
    for (key, values) in rows {
        out.push_values(key.iter().map(Value::as_ref), values.iter().map(Value::as_ref));
    }
    out.finish()
}

/// The schema of `batch` and its rows, decoded.
pub(crate) fn rows(batch: &[u8]) -> (Schema, Rows) {
    let reader = BatchReader::new(batch).unwrap();
    let decode = |values: flicker_guest::ValueIter<'_>| values.map(|v| v.unwrap().to_owned()).collect();
    let rows = reader.rows().map(Result::unwrap).map(|row| (decode(row.key_values()), decode(row.values())));
    (reader.schema().clone(), rows.collect())
}

/// The rows of `batch`, each its encoded key and values (NaN-proof to compare).
pub(crate) fn raw_rows(batch: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
    let reader = BatchReader::new(batch).unwrap();
    reader.rows().map(|row| row.unwrap()).map(|row| (row.key.to_vec(), row.value.to_vec())).collect()
}

/// A string value.
pub(crate) fn s(text: &str) -> Value {
    Value::Str(text.to_owned())
}
