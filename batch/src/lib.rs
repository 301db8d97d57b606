//! The batch framing shared by the flicker host and its guest operators.
//!
//! Rows cross the host/guest boundary in batches, each one `list<u8>` laid out as below (all
//! integers little-endian). The host only ever looks at the framing (it hashes the key bytes to
//! partition a shuffle and counts rows); the guest SDK decodes the values.
//!
//! ```text
//! batch   := magic "FLB1" | names(key fields) | names(value fields) | row*
//! names   := count:u16 | (len:u16 | utf-8 bytes)*
//! row     := key_len:u32 | key bytes | value_len:u32 | value bytes
//! key     := value*    (one per key field; empty when the rows are not keyed)
//! value   := 0x00                     null
//!          | 0x01 | 0x02              false | true
//!          | 0x03 | i64               64-bit integer
//!          | 0x04 | f64               64-bit float
//!          | 0x05 | len:u32 | utf-8   string
//! ```
//!
//! The schema (field names) travels once per batch; a row is two length-prefixed byte strings, so
//! the host can split and route rows without knowing their types, and a guest can read a field
//! without copying the row.
//!
//! The [`order`] module orders rows by their fields and cuts batches into ordered ranges, for a
//! global sort.

pub mod order;
mod reader;
#[cfg(feature = "serde")]
mod row;
mod row_type;
#[cfg(feature = "serde")]
mod serde_row;
mod value;
mod writer;

pub use order::{
    BoundOrder, Boundaries, Direction, MergeSorted, OrderError, SortField, SortKey, SortOrder,
    compare_values, merge_sorted, range_partition, sort_batch,
};
pub use reader::{BatchReader, Pieces, RawRow, Rows, ValueIter};
#[cfg(feature = "serde")]
pub use row::Row;
pub use row_type::{Field, FieldType, RowType, TypeMismatch};
#[cfg(feature = "serde")]
pub use serde_row::{RowError, check_row_type, from_row, row_fields_of, to_row_values};
pub use value::{Value, ValueRef};
pub use writer::{BatchWriter, InPlace, RowInPlace, encode_value};

/// The four bytes every batch starts with.
pub const MAGIC: &[u8; 4] = b"FLB1";

/// The names of a batch's key fields and value fields.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Schema {
    /// Names of the fields encoded in each row's key, in order.
    pub key_fields: Vec<String>,
    /// Names of the fields encoded in each row's value, in order.
    pub value_fields: Vec<String>,
}

impl Schema {
    /// A schema of unkeyed rows with the given value fields.
    pub fn values<S: Into<String>>(fields: impl IntoIterator<Item = S>) -> Self {
        Self { key_fields: Vec::new(), value_fields: fields.into_iter().map(Into::into).collect() }
    }

    /// A schema with the given key fields and value fields.
    pub fn keyed<K: Into<String>, V: Into<String>>(
        keys: impl IntoIterator<Item = K>,
        values: impl IntoIterator<Item = V>,
    ) -> Self {
        Self {
            key_fields: keys.into_iter().map(Into::into).collect(),
            value_fields: values.into_iter().map(Into::into).collect(),
        }
    }

    /// Position of the value field called `name`.
    pub fn value_index(&self, name: &str) -> Option<usize> {
        self.value_fields.iter().position(|f| f == name)
    }

    /// Position of the key field called `name`.
    pub fn key_index(&self, name: &str) -> Option<usize> {
        self.key_fields.iter().position(|f| f == name)
    }
}

/// A batch that does not follow the framing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameError {
    /// Byte offset in the batch where the problem was found.
    pub offset: usize,
    /// What is wrong there.
    pub problem: &'static str,
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "malformed batch at byte {}: {}", self.offset, self.problem)
    }
}

impl std::error::Error for FrameError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_written_in_place_are_the_rows_pushed() {
        let schema = Schema::keyed(["k"], ["s", "f", "i"]);
        let (mut pushed, mut placed) = (BatchWriter::new(&schema), BatchWriter::new(&schema));
        pushed.push_values([ValueRef::I64(-1)], [ValueRef::Null]);
        placed.push_values([ValueRef::I64(-1)], [ValueRef::Null]);
        // Every length of string the copy treats differently, and past it.
        let text: String = ('a'..='z').chain('A'..='Z').collect();
        {
            let mut rows = placed.in_place();
            for n in 0..=40 {
                let s = &text[..n];
                let (f, i) = (n as f64 / 3.0, -(n as i64) << 40);
                pushed
                    .push_values([ValueRef::Str(s)], [ValueRef::Str(s), ValueRef::F64(f), ValueRef::I64(i)]);
                let mut row = rows.row(8 + 2 * (5 + n) + 18);
                let key = row.begin_section();
                row.str(s.as_bytes());
                row.end_section(key);
                let values = row.begin_section();
                row.str(s.as_bytes());
                row.f64(f);
                row.i64(i);
                row.end_section(values);
                row.commit();
                // A row not committed leaves nothing.
                let mut dropped = rows.row(100);
                dropped.begin_section();
                dropped.str(b"not committed");
            }
        }
        pushed.push_values([ValueRef::I64(7)], [ValueRef::Bool(true)]);
        placed.push_values([ValueRef::I64(7)], [ValueRef::Bool(true)]);
        assert_eq!(placed.finish(), pushed.finish());
    }

    #[test]
    #[should_panic]
    fn a_row_larger_than_its_room_panics() {
        let mut batch = BatchWriter::new(&Schema::values(["s"]));
        let mut rows = batch.in_place();
        let mut row = rows.row(12);
        let values = row.begin_section();
        row.str(b"1234");
        row.end_section(values);
    }

    #[test]
    fn a_failed_push_leaves_the_batch_as_it_was() {
        let mut batch = BatchWriter::new(&Schema::keyed(["k"], ["a", "b"]));
        batch.push_values([ValueRef::Str("x")], [ValueRef::I64(1), ValueRef::I64(2)]);
        let before = batch.clone().finish();
        let failing_key = batch.try_push_with(
            |out| {
                encode_value(out, ValueRef::Str("y"));
                Err("bad key")
            },
            |_| panic!("the value is not written after the key failed"),
        );
        assert_eq!(failing_key, Err("bad key"));
        let failing_value = batch.try_push_with(
            |out| {
                encode_value(out, ValueRef::Str("y"));
                Ok(())
            },
            |out| {
                encode_value(out, ValueRef::I64(3));
                Err("bad value")
            },
        );
        assert_eq!(failing_value, Err("bad value"));
        assert_eq!(batch.clone().finish(), before);
        batch
            .try_push_with::<()>(
                |out| {
                    encode_value(out, ValueRef::Str("z"));
                    Ok(())
                },
                |out| {
                    [4, 5].into_iter().for_each(|i| encode_value(out, ValueRef::I64(i)));
                    Ok(())
                },
            )
            .unwrap();
        let batch = batch.finish();
        let reader = BatchReader::new(&batch).unwrap();
        assert_eq!(reader.check(), Ok(2));
        let last = reader.rows().nth(1).unwrap().unwrap();
        assert_eq!(last.key_values().next().unwrap().unwrap(), ValueRef::Str("z"));
    }

    #[test]
    fn a_batch_check_counts_rows_and_finds_rows_that_do_not_fit_the_schema() {
        let mut pairs = BatchWriter::new(&Schema::values(["a", "b"]));
        pairs.push_values([], [ValueRef::I64(1), ValueRef::Str("x")]);
        pairs.push_values([], [ValueRef::I64(2), ValueRef::Str("y")]);
        let pairs = pairs.finish();
        assert_eq!(BatchReader::new(&pairs).unwrap().check(), Ok(2));
        let empty = BatchWriter::new(&Schema::values(["a"])).finish();
        assert_eq!(BatchReader::new(&empty).unwrap().check(), Ok(0));
        // Rows of two values under a header of one field.
        let reader = BatchReader::new(&empty).unwrap();
        let header = reader.header_bytes().to_vec();
        let mismatched = [header.as_slice(), BatchReader::new(&pairs).unwrap().row_bytes()].concat();
        let error = BatchReader::new(&mismatched).unwrap().check().unwrap_err();
        assert_eq!(error.problem, "a row has another number of values than the batch has fields");
        assert_eq!(error.offset, header.len(), "the first row");
        // A row cut short.
        let cut = &pairs[..pairs.len() - 1];
        assert!(BatchReader::new(cut).unwrap().check().is_err());
    }
    use proptest::prelude::*;

    fn arb_value() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::I64),
            any::<f64>().prop_filter("NaN never equals itself", |f| !f.is_nan()).prop_map(Value::F64),
            ".*".prop_map(Value::Str),
        ]
    }

    proptest! {
        #[test]
        fn rows_round_trip(rows in proptest::collection::vec(
            (proptest::collection::vec(arb_value(), 0..3), proptest::collection::vec(arb_value(), 0..4)),
            0..20,
        )) {
            let schema = Schema::keyed(["k"], ["a", "b"]);
            let mut writer = BatchWriter::new(&schema);
            for (key, values) in &rows {
                writer.push_values(key.iter().map(Value::as_ref), values.iter().map(Value::as_ref));
            }
            let bytes = writer.finish();
            let reader = BatchReader::new(&bytes).unwrap();
            prop_assert_eq!(reader.schema(), &schema);
            let decoded: Vec<(Vec<Value>, Vec<Value>)> = reader
                .rows()
                .map(|row| {
                    let row = row.unwrap();
                    (
                        row.key_values().map(|v| v.unwrap().to_owned()).collect(),
                        row.values().map(|v| v.unwrap().to_owned()).collect(),
                    )
                })
                .collect();
            for (row, (_, values)) in reader.rows().zip(&rows) {
                let row = row.unwrap();
                for (i, value) in values.iter().enumerate() {
                    prop_assert_eq!(row.value(i).unwrap().unwrap().to_owned(), value.clone());
                    let mut encoded = Vec::new();
                    encode_value(&mut encoded, value.as_ref());
                    prop_assert_eq!(row.raw_value(i).unwrap().unwrap(), &encoded[..]);
                }
                prop_assert!(row.value(values.len()).is_none());
            }
            prop_assert_eq!(decoded, rows);
        }

        #[test]
        fn pieces_keep_every_row_in_order_within_the_bound(
            lens in proptest::collection::vec(0usize..40, 0..30),
            max in 1usize..120,
        ) {
            let schema = Schema::keyed(["k"], ["v"]);
            let mut writer = BatchWriter::new(&schema);
            for (i, len) in lens.iter().enumerate() {
                writer.push_values([ValueRef::I64(i as i64)], [ValueRef::Str(&"x".repeat(*len))]);
            }
            let bytes = writer.finish();
            let reader = BatchReader::new(&bytes).unwrap();
            let pieces: Vec<Vec<u8>> = reader.pieces(max).map(Result::unwrap).collect();
            prop_assert!(!pieces.is_empty(), "an empty batch still comes out once");
            let mut rows = Vec::new();
            for piece in &pieces {
                let piece = BatchReader::new(piece).unwrap();
                prop_assert_eq!(piece.schema(), &schema);
                let count = piece.rows().count();
                prop_assert!(piece.row_bytes().len() <= max || count == 1, "{} bytes in {} rows", piece.row_bytes().len(), count);
                rows.extend(piece.rows().map(|row| row.unwrap().framed.to_vec()));
            }
            prop_assert_eq!(rows.concat(), reader.row_bytes());
            if reader.row_bytes().len() <= max {
                prop_assert_eq!(pieces.len(), 1, "a batch within the bound comes out whole");
            }
        }

        #[test]
        fn folding_numbers_is_the_rows_iteration_up_to_the_first_row_it_cannot_take(
            rows in proptest::collection::vec(
                (".{0,12}", prop_oneof![
                    3 => proptest::collection::vec(arb_value(), 0..4).prop_map(Ok),
                    1 => proptest::collection::vec(any::<u8>(), 0..12).prop_map(Err),
                ]),
                0..30,
            ),
            tail in proptest::collection::vec(any::<u8>(), 0..6),
            index in 0usize..3,
            refused in any::<i64>(),
        ) {
            // Rows of a string key and either values or (Err) random bytes as their value
            // section, then perhaps a row cut short.
            let mut bytes = BatchWriter::new(&Schema::keyed(["k"], ["a", "b", "c"])).finish();
            for (key, values) in &rows {
                let mut key_bytes = Vec::new();
                encode_value(&mut key_bytes, ValueRef::Str(key));
                let value_bytes = match values {
                    Ok(values) => {
                        let mut out = Vec::new();
                        values.iter().for_each(|v| encode_value(&mut out, v.as_ref()));
                        out
                    }
                    Err(random) => random.clone(),
                };
                for section in [key_bytes, value_bytes] {
                    bytes.extend_from_slice(&(section.len() as u32).to_le_bytes());
                    bytes.extend_from_slice(&section);
                }
            }
            bytes.extend_from_slice(&tail);
            let reader = BatchReader::new(&bytes).unwrap();
            let general: Vec<_> = reader.rows().collect();

            let mut fast = reader.rows();
            let mut taken = Vec::new();
            let folded = fast.fold_numbers(index, |key, value| {
                if value == ValueRef::I64(refused) {
                    return false;
                }
                taken.push((key, value));
                true
            });
            prop_assert_eq!(folded, taken.len());
            for (row, (key, value)) in general.iter().zip(&taken) {
                let row = row.as_ref().unwrap();
                prop_assert_eq!(row.key, *key);
                prop_assert_eq!(row.value(index).unwrap().unwrap(), *value);
                prop_assert!(matches!(value, ValueRef::Null | ValueRef::I64(_) | ValueRef::F64(_)));
            }
            // It stopped at the end, or at a row it could not take.
            if let Some(Ok(row)) = general.get(folded) {
                match row.value(index) {
                    Some(Ok(ValueRef::Null | ValueRef::F64(_))) => prop_assert!(false, "a row it could take"),
                    Some(Ok(ValueRef::I64(i))) => prop_assert_eq!(i, refused),
                    _ => {}
                }
            }
            // And the rows iterate on from there as they would have.
            prop_assert_eq!(fast.collect::<Vec<_>>(), general[folded..].to_vec());
        }

        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let mut framed = MAGIC.to_vec();
            framed.extend_from_slice(&bytes);
            for candidate in [&bytes[..], &framed[..]] {
                if let Ok(reader) = BatchReader::new(candidate) {
                    for row in reader.rows() {
                        let Ok(row) = row else { break };
                        for value in row.key_values().chain(row.values()) {
                            if value.is_err() { break; }
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn empty_batch_keeps_its_schema() {
        let schema = Schema::keyed(["station"], ["max"]);
        let bytes = BatchWriter::new(&schema).finish();
        let reader = BatchReader::new(&bytes).unwrap();
        assert_eq!(reader.schema(), &schema);
        assert_eq!(reader.rows().count(), 0);
    }

    #[test]
    fn bad_magic_is_reported_at_offset_zero() {
        let err = BatchReader::new(b"nope").unwrap_err();
        assert_eq!(err.offset, 0);
    }
}
