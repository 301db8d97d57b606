//! Values, rows and orders for the tests of the order module.

use proptest::prelude::*;

use crate::{Value, ValueRef};

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
