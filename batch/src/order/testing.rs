//! Values, rows and orders for the tests of the order module.

use proptest::prelude::*;

use super::sort_key::encode_sort_value;
use super::{BoundOrder, Direction, SortKey, SortOrder};
use crate::{BatchReader, BatchWriter, Schema, Value, ValueRef};

/// Values where orders tend to go wrong: the ends of i64, floats around them and around 2^53,
/// zeros of both signs, subnormals, infinities, NaNs, and every other type.
pub(crate) const EDGE_VALUES: &[ValueRef<'static>] = &[
    ValueRef::Null,
    ValueRef::I64(i64::MIN),
    ValueRef::I64(i64::MIN + 1),
    ValueRef::I64(-9_007_199_254_740_993),
    ValueRef::I64(-1),
    ValueRef::I64(0),
    ValueRef::I64(1),
    ValueRef::I64(9_007_199_254_740_993),
    ValueRef::I64(i64::MAX - 1),
    ValueRef::I64(i64::MAX),
    ValueRef::F64(f64::NEG_INFINITY),
    ValueRef::F64(f64::MIN),
    ValueRef::F64(-9_223_372_036_854_777_856.0),
    ValueRef::F64(-9_223_372_036_854_775_808.0),
    ValueRef::F64(-9_007_199_254_740_992.0),
    ValueRef::F64(-1.5),
    ValueRef::F64(-1.0),
    ValueRef::F64(-f64::MIN_POSITIVE),
    ValueRef::F64(-5e-324),
    ValueRef::F64(-0.0),
    ValueRef::F64(0.0),
    ValueRef::F64(5e-324),
    ValueRef::F64(f64::MIN_POSITIVE),
    ValueRef::F64(0.5),
    ValueRef::F64(1.0),
    ValueRef::F64(9_007_199_254_740_992.0),
    ValueRef::F64(9_223_372_036_854_774_784.0),
    ValueRef::F64(9_223_372_036_854_775_808.0),
    ValueRef::F64(f64::MAX),
    ValueRef::F64(f64::INFINITY),
    ValueRef::F64(f64::NAN),
    ValueRef::F64(-f64::NAN),
    ValueRef::Bool(false),
    ValueRef::Bool(true),
    ValueRef::Str(""),
    ValueRef::Str("\0"),
    ValueRef::Str("\0\0"),
    ValueRef::Str("\u{1}"),
    ValueRef::Str("a"),
    ValueRef::Str("a\0"),
    ValueRef::Str("a\0b"),
    ValueRef::Str("ab"),
    ValueRef::Str("\u{ff}"),
];

/// Any value: the edge values, and values of every type from the whole of their range.
pub(crate) fn any_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        proptest::sample::select(EDGE_VALUES).prop_map(ValueRef::to_owned),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::I64),
        any::<f64>().prop_map(Value::F64),
        // Integers as floats and near them: where a cast to f64 rounds.
        (any::<i64>(), -2.0..2.0f64).prop_map(|(int, delta)| Value::F64(int as f64 + delta)),
        "[a\0é]{0,3}".prop_map(Value::Str),
    ]
}

/// The ascending sort key of a single number.
pub(crate) fn key(number: i64) -> SortKey {
    let mut encoded = Vec::new();
    encode_sort_value(&mut encoded, ValueRef::I64(number), Direction::Asc);
    SortKey::from_encoded(&encoded)
}

/// A value from a small set, so that rows often tie.
fn tying_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        (-2i64..3).prop_map(Value::I64),
        proptest::sample::select(vec![-0.0, 0.0, 1.0, 1.5, f64::NAN, f64::INFINITY]).prop_map(Value::F64),
        any::<bool>().prop_map(Value::Bool),
        "[ab\0]{0,2}".prop_map(Value::Str),
    ]
}

/// A row of the [`schema`]: one key value, two field values.
pub(crate) type TestRow = (Value, [Value; 2]);

/// The schema of [`TestRow`]s: key `k`, fields `a` and `b`.
pub(crate) fn schema() -> Schema {
    Schema::keyed(["k"], ["a", "b"])
}

/// Rows that often tie, and sometimes take any value.
pub(crate) fn rows(len: std::ops::Range<usize>) -> impl Strategy<Value = Vec<TestRow>> {
    let value = prop_oneof![4 => tying_value(), 1 => any_value()];
    proptest::collection::vec((value.clone(), [value.clone(), value]), len)
}

/// An order on one to three of the fields of [`schema`], each either way.
pub(crate) fn order() -> impl Strategy<Value = BoundOrder> {
    let fields = proptest::sample::subsequence(vec!["k", "a", "b"], 1..=3).prop_shuffle();
    (fields, proptest::collection::vec(any::<bool>(), 3)).prop_map(|(fields, descending)| {
        let spec: Vec<String> = fields
            .iter()
            .zip(descending)
            .map(|(field, descending)| if descending { format!("{field}:desc") } else { field.to_string() })
            .collect();
        let order: SortOrder = spec.join(",").parse().expect("a well-formed spec");
        order.bind(&schema()).expect("fields of the schema")
    })
}

/// A batch of `rows` under [`schema`].
pub(crate) fn batch(rows: &[TestRow]) -> Vec<u8> {
    let mut writer = BatchWriter::new(&schema());
    for (key, values) in rows {
        writer.push_values([key.as_ref()], values.iter().map(Value::as_ref));
    }
    writer.finish()
}

/// The framed rows of `batch`, in order.
pub(crate) fn framed_rows(batch: &[u8]) -> Vec<&[u8]> {
    BatchReader::new(batch).unwrap().rows().map(|row| row.unwrap().framed).collect()
}

/// The sort keys of the rows of `batch` under `order`, in order.
pub(crate) fn keys(batch: &[u8], order: &BoundOrder) -> Vec<SortKey> {
    BatchReader::new(batch).unwrap().rows().map(|row| order.sort_key(&row.unwrap()).unwrap()).collect()
}
