//! The ascending total order on single values, by type and then by value.

use std::cmp::Ordering;

use crate::ValueRef;

/// Compares two values in ascending order.
///
/// Types come in this order, so a field that mixes them is still totally ordered:
///
/// 1. null, smallest (so nulls come first ascending and last descending, as in Spark);
/// 2. numbers, i64 and f64 together by their exact value: `2^53 + 1` is above `2^53 as f64`
///    (which a cast to f64 would call equal), `-0.0`, `0.0` and `0` are equal, every NaN is
///    equal to every other and above `+inf` (Spark's `compareDoubles`);
/// 3. booleans, `false < true`;
/// 4. strings, bytewise (which is code point order for UTF-8).
pub fn compare_values(a: ValueRef<'_>, b: ValueRef<'_>) -> Ordering {
    use ValueRef::{Bool, F64, I64, Null, Str};
    match (a, b) {
        (Null, Null) => Ordering::Equal,
        (I64(x), I64(y)) => x.cmp(&y),
        (F64(x), F64(y)) => compare_floats(x, y),
        (I64(x), F64(y)) => compare_int_float(x, y),
        (F64(x), I64(y)) => compare_int_float(y, x).reverse(),
        (Bool(x), Bool(y)) => x.cmp(&y),
        (Str(x), Str(y)) => x.as_bytes().cmp(y.as_bytes()),
        _ => type_rank(a).cmp(&type_rank(b)),
    }
}

/// Where a value's type comes among the types.
fn type_rank(value: ValueRef<'_>) -> u8 {
    match value {
        ValueRef::Null => 0,
        ValueRef::I64(_) | ValueRef::F64(_) => 1,
        ValueRef::Bool(_) => 2,
        ValueRef::Str(_) => 3,
    }
}

/// Floats by value, `-0.0 == 0.0`, NaNs equal to each other and above everything else.
fn compare_floats(x: f64, y: f64) -> Ordering {
    x.is_nan().cmp(&y.is_nan()).then(if x < y {
        Ordering::Less
    } else if x > y {
        Ordering::Greater
    } else {
        Ordering::Equal
    })
}

/// An integer against a float, exactly: no cast of the integer to f64, which rounds above 2^53.
fn compare_int_float(int: i64, float: f64) -> Ordering {
    /// 2^63, exact as an f64: every float in `[-2^63, 2^63)` has an integer part that fits an i64.
    const TWO_TO_63: f64 = 9_223_372_036_854_775_808.0;
    if float.is_nan() || float >= TWO_TO_63 {
        return Ordering::Less;
    }
    if float < -TWO_TO_63 {
        return Ordering::Greater;
    }
    let whole = float.trunc();
    // Both exact: `whole` is an integer in range, and a float's fractional part is a float.
    let fraction = float - whole;
    int.cmp(&(whole as i64)).then(if fraction > 0.0 {
        Ordering::Less
    } else if fraction < 0.0 {
        Ordering::Greater
    } else {
        Ordering::Equal
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::order::testing::EDGE_VALUES;
    use ValueRef::{Bool, F64, I64, Null, Str};

    #[test]
    fn integers_and_floats_compare_by_their_exact_value() {
        let two_to_53 = 9_007_199_254_740_992_i64;
        let cases = [
            // i64::MAX rounds up to 2^63 as an f64.
            (I64(i64::MAX), F64(9_223_372_036_854_775_808.0), Ordering::Less),
            // The largest f64 below 2^63.
            (I64(i64::MAX), F64(9_223_372_036_854_774_784.0), Ordering::Greater),
            (I64(i64::MIN), F64(-9_223_372_036_854_775_808.0), Ordering::Equal),
            (I64(i64::MIN), F64(-9_223_372_036_854_777_856.0), Ordering::Greater),
            // 2^53 + 1 is not an f64: a cast would make it equal to 2^53.
            (I64(two_to_53 + 1), F64(two_to_53 as f64), Ordering::Greater),
            (I64(two_to_53 - 1), F64(two_to_53 as f64), Ordering::Less),
            (I64(1), F64(1.0), Ordering::Equal),
            (I64(1), F64(1.5), Ordering::Less),
            (I64(2), F64(1.5), Ordering::Greater),
            (I64(-1), F64(-1.5), Ordering::Greater),
            (I64(-2), F64(-1.5), Ordering::Less),
            (I64(i64::MAX), F64(f64::INFINITY), Ordering::Less),
            (I64(i64::MIN), F64(f64::NEG_INFINITY), Ordering::Greater),
        ];
        for (a, b, expected) in cases {
            assert_eq!(compare_values(a, b), expected, "{a:?} against {b:?}");
            assert_eq!(compare_values(b, a), expected.reverse(), "{b:?} against {a:?}");
        }
    }

    #[test]
    fn zeros_are_equal_and_nan_is_the_largest_number() {
        let tiny = f64::from_bits(1);
        assert_eq!(compare_values(F64(-0.0), F64(0.0)), Ordering::Equal);
        assert_eq!(compare_values(I64(0), F64(-0.0)), Ordering::Equal);
        assert_eq!(compare_values(I64(0), F64(tiny)), Ordering::Less);
        assert_eq!(compare_values(I64(0), F64(-tiny)), Ordering::Greater);
        assert_eq!(compare_values(F64(f64::NAN), F64(-f64::NAN)), Ordering::Equal);
        assert_eq!(compare_values(F64(f64::NAN), F64(f64::INFINITY)), Ordering::Greater);
        assert_eq!(compare_values(F64(f64::NAN), I64(i64::MAX)), Ordering::Greater);
        assert_eq!(compare_values(F64(-f64::NAN), F64(f64::NEG_INFINITY)), Ordering::Greater);
    }

    #[test]
    fn types_come_null_numbers_booleans_strings() {
        let ascending = [
            Null,
            F64(f64::NEG_INFINITY),
            I64(-1),
            F64(f64::NAN),
            Bool(false),
            Bool(true),
            Str(""),
            Str("a"),
            Str("a\0"),
            Str("b"),
            Str("é"),
        ];
        for (i, &a) in ascending.iter().enumerate() {
            for (j, &b) in ascending.iter().enumerate() {
                assert_eq!(compare_values(a, b), i.cmp(&j), "{a:?} against {b:?}");
            }
        }
    }

    #[test]
    fn the_edge_values_are_totally_ordered() {
        // Antisymmetry and transitivity over every pair and triple of the edge values.
        for &a in EDGE_VALUES {
            for &b in EDGE_VALUES {
                let ab = compare_values(a, b);
                assert_eq!(compare_values(b, a), ab.reverse(), "{a:?} against {b:?}");
                for &c in EDGE_VALUES {
                    if ab != Ordering::Greater && compare_values(b, c) != Ordering::Greater {
                        assert_ne!(compare_values(a, c), Ordering::Greater, "{a:?} ≤ {b:?} ≤ {c:?}");
                    }
                }
            }
        }
    }
}
