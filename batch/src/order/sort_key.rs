//! Sort keys: a row's sort fields as bytes whose plain bytewise order is the sort order.

use std::fmt;

use super::Direction;
use crate::ValueRef;

const NULL: u8 = 0x10;
const NEG_INFINITY: u8 = 0x20;
const NEGATIVE: u8 = 0x21;
const ZERO: u8 = 0x22;
const POSITIVE: u8 = 0x23;
const INFINITY: u8 = 0x24;
const NAN: u8 = 0x25;
const FALSE: u8 = 0x30;
const TRUE: u8 = 0x31;
const STRING: u8 = 0x40;

/// Added to the exponent so that every finite f64 and i64 (exponents −1074 to 1023) has a
/// positive one.
const EXPONENT_BIAS: i32 = 1100;

/// The sort fields of one row, owned and encoded so that keys compare bytewise in the order
/// they were made for.
///
/// Made by [`BoundOrder::sort_key`](super::BoundOrder::sort_key); keys compare meaningfully only
/// with keys made by the same order. Rows that the order finds equal have equal keys.
///
/// Each value is written as a class byte and, for numbers and strings, a payload:
///
/// ```text
/// null      0x10
/// -inf      0x20
/// negative  0x21 | !exponent:u16 | !mantissa:u64     (big-endian, every bit inverted)
/// zero      0x22                                     (0, 0.0 and -0.0)
/// positive  0x23 | exponent:u16 | mantissa:u64
/// +inf      0x24
/// NaN       0x25                                     (every NaN)
/// false     0x30
/// true      0x31
/// string    0x40 | bytes, each 0x00 written 0x00 0xFF | 0x00 0x01
/// ```
///
/// A finite non-zero number is `mantissa × 2^(exponent − 1100 − 63)` with the mantissa's top bit
/// set, one form per real number: an i64 and an f64 of equal value get equal bytes, and a larger
/// magnitude has a larger exponent, or the same one and a larger mantissa. Every encoding is
/// prefix-free (fixed length, or ended by `0x00 0x01`, which an escaped zero byte cannot be), so
/// the concatenated fields of a key compare field by field, and inverting every bit of a
/// descending field's encoding reverses its order, nulls going last.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize), serde(transparent))]
pub struct SortKey(Box<[u8]>);

impl SortKey {
    /// A key holding the bytes of an encoded key (as [`as_bytes`](Self::as_bytes) gave them, e.g.
    /// sent between processes).
    pub fn from_encoded(bytes: &[u8]) -> Self {
        Self(bytes.into())
    }

    /// The encoded bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for SortKey {
    /// The bytes in hex.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SortKey(")?;
        self.0.iter().try_for_each(|byte| write!(f, "{byte:02x}"))?;
        f.write_str(")")
    }
}

/// Appends the encoding of `value` sorted in `direction`.
pub(crate) fn encode_sort_value(out: &mut Vec<u8>, value: ValueRef<'_>, direction: Direction) {
    let start = out.len();
    match value {
        ValueRef::Null => out.push(NULL),
        ValueRef::Bool(false) => out.push(FALSE),
        ValueRef::Bool(true) => out.push(TRUE),
        ValueRef::I64(0) => out.push(ZERO),
        ValueRef::I64(int) => push_number(out, int < 0, int.unsigned_abs(), 0),
        ValueRef::F64(float) => push_float(out, float),
        ValueRef::Str(string) => {
            out.push(STRING);
            for (i, run) in string.as_bytes().split(|&byte| byte == 0).enumerate() {
                if i > 0 {
                    out.extend_from_slice(&[0x00, 0xFF]);
                }
                out.extend_from_slice(run);
            }
            out.extend_from_slice(&[0x00, 0x01]);
        }
    }
    if direction == Direction::Desc {
        out[start..].iter_mut().for_each(|byte| *byte = !*byte);
    }
}

fn push_float(out: &mut Vec<u8>, float: f64) {
    const FRACTION_BITS: u32 = 52;
    const FRACTION_MASK: u64 = (1 << FRACTION_BITS) - 1;
    if float.is_nan() {
        return out.push(NAN);
    }
    if float.is_infinite() {
        return out.push(if float > 0.0 { INFINITY } else { NEG_INFINITY });
    }
    if float == 0.0 {
        return out.push(ZERO);
    }
    let bits = float.to_bits();
    let biased = ((bits >> FRACTION_BITS) & 0x7FF) as i32;
    let fraction = bits & FRACTION_MASK;
    // A normal float is (2^52 + fraction) × 2^(biased − 1075), a subnormal one fraction × 2^−1074.
    let (mantissa, scale) =
        if biased == 0 { (fraction, -1074) } else { (fraction | (1 << FRACTION_BITS), biased - 1075) };
    push_number(out, float < 0.0, mantissa, scale);
}

/// Appends a finite non-zero number of magnitude `mantissa × 2^scale`.
fn push_number(out: &mut Vec<u8>, negative: bool, mantissa: u64, scale: i32) {
    let shift = mantissa.leading_zeros();
    let mantissa = mantissa << shift;
    let exponent = u16::try_from(63 - shift as i32 + scale + EXPONENT_BIAS)
        .expect("every i64 and finite f64 has an exponent within the bias");
    let start = out.len();
    out.push(POSITIVE);
    out.extend_from_slice(&exponent.to_be_bytes());
    out.extend_from_slice(&mantissa.to_be_bytes());
    if negative {
        out[start] = NEGATIVE;
        out[start + 1..].iter_mut().for_each(|byte| *byte = !*byte);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::order::compare_values;
    use crate::order::testing::{EDGE_VALUES, any_value};
    use proptest::prelude::*;

    fn encoded(value: ValueRef<'_>, direction: Direction) -> Vec<u8> {
        let mut out = Vec::new();
        encode_sort_value(&mut out, value, direction);
        out
    }

    /// Checks that the encodings of `a` and `b` compare as the values do, both ways.
    fn check_pair(a: ValueRef<'_>, b: ValueRef<'_>) -> Result<(), TestCaseError> {
        let ascending = compare_values(a, b);
        prop_assert_eq!(
            encoded(a, Direction::Asc).cmp(&encoded(b, Direction::Asc)),
            ascending,
            "{:?} {:?}",
            a,
            b
        );
        prop_assert_eq!(
            encoded(a, Direction::Desc).cmp(&encoded(b, Direction::Desc)),
            ascending.reverse(),
            "{:?} {:?} descending",
            a,
            b
        );
        Ok(())
    }

    #[test]
    fn the_encodings_of_the_edge_values_order_like_the_values() {
        for &a in EDGE_VALUES {
            for &b in EDGE_VALUES {
                check_pair(a, b).unwrap();
            }
        }
    }

    #[test]
    fn equal_numbers_have_equal_encodings() {
        let two_to_62 = 4_611_686_018_427_387_904_i64;
        let equal = [
            (ValueRef::I64(0), ValueRef::F64(-0.0)),
            (ValueRef::I64(-3), ValueRef::F64(-3.0)),
            (ValueRef::I64(two_to_62), ValueRef::F64(two_to_62 as f64)),
            (ValueRef::I64(i64::MIN), ValueRef::F64(i64::MIN as f64)),
            (ValueRef::F64(f64::NAN), ValueRef::F64(-f64::NAN)),
        ];
        for (a, b) in equal {
            assert_eq!(encoded(a, Direction::Asc), encoded(b, Direction::Asc), "{a:?} and {b:?}");
        }
    }

    #[test]
    fn a_string_key_is_prefix_free_around_zero_bytes() {
        // Without the escape "a" + next field would collide with "a\0..." strings.
        let mut pair = encoded(ValueRef::Str("a"), Direction::Asc);
        encode_sort_value(&mut pair, ValueRef::Str("z"), Direction::Asc);
        let mut longer = encoded(ValueRef::Str("a\0"), Direction::Asc);
        encode_sort_value(&mut longer, ValueRef::Null, Direction::Asc);
        assert!(pair < longer, "(a, z) sorts before (a\\0, null)");
    }

    #[test]
    fn debug_shows_the_bytes_in_hex() {
        assert_eq!(format!("{:?}", SortKey::from_encoded(&[0x10, 0xab])), "SortKey(10ab)");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        #[test]
        fn encodings_order_like_the_values(a in any_value(), b in any_value()) {
            check_pair(a.as_ref(), b.as_ref())?;
        }
    }
}
