//! The order `std:top-k` ranks rows by: the values of some fields, each ascending or descending,
//! then the rows' encoded bytes, so that rows equal on the fields still have one order.
//!
//! Values ascend as a global sort orders them ([`flicker_batch::compare_values`], the one order
//! of values): null first, numbers by value (an `i64` and an `f64` compared exactly, `-0.0` equal
//! to `0.0`, NaN above every other number and equal to any NaN), `false` before `true`, strings
//! bytewise. Descending is the reverse, so nulls come last. A field holds values of one type but
//! for nulls; for a field of type `any` the types rank null, numbers, booleans, strings.

use flicker_batch::compare_values;
use flicker_guest::{Error, ValueRef};
use std::cmp::Ordering;

/// One field of an [`Order`] and its direction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SortField {
    /// The field's name.
    pub(crate) name: String,
    /// Whether its largest values come first.
    pub(crate) descending: bool,
}

/// How rows rank: by the values of [`SortField`]s in turn, then by their encoded bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Order {
    fields: Vec<SortField>,
}

impl Order {
    /// Reads the config value `by` (its text is `text`): comma-separated `field`, `field:asc` or
    /// `field:desc` (ascending unless said).
    pub(crate) fn parse(text: &str) -> Result<Self, Error> {
        let fields = crate::field_names("by", text)?
            .into_iter()
            .map(|entry| {
                let (name, descending) = match entry.split_once(':') {
                    None => (entry.as_str(), false),
                    Some((name, direction)) => match direction.trim() {
                        "asc" => (name, false),
                        "desc" => (name, true),
                        other => {
                            return Err(Error::config(format!(
                                "`by` orders field `{}` by {other:?}: write `{0}:asc` or `{0}:desc`",
                                name.trim()
                            )));
                        }
                    },
                };
                match name.trim() {
                    "" => Err(Error::config(format!("`by` entry {entry:?} names no field"))),
                    name => Ok(SortField { name: name.to_owned(), descending }),
                }
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { fields })
    }

    /// The fields, in order of precedence.
    pub(crate) fn fields(&self) -> &[SortField] {
        &self.fields
    }

    /// How row `a` (its sort fields' values `a_values`, its encoded values `a_row`) ranks against
    /// row `b`: `Less` if it comes first.
    pub(crate) fn compare<'a, 'b>(
        &self,
        a_values: impl IntoIterator<Item = ValueRef<'a>>,
        a_row: &[u8],
        b_values: impl IntoIterator<Item = ValueRef<'b>>,
        b_row: &[u8],
    ) -> Ordering {
        let pairs = self.fields.iter().zip(a_values.into_iter().zip(b_values));
        for (field, (a, b)) in pairs {
            let ordering = compare_values(a, b);
            let ordering = if field.descending { ordering.reverse() } else { ordering };
            if ordering.is_ne() {
                return ordering;
            }
        }
        a_row.cmp(b_row)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn value() -> impl Strategy<Value = flicker_guest::Value> {
        use flicker_guest::Value;
        prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::I64),
            (-5i64..5).prop_map(Value::I64),
            any::<f64>().prop_map(Value::F64),
            prop_oneof![Just(0.0), Just(-0.0), Just(f64::NAN), Just(-f64::NAN), Just(2.5), Just(-3.0)]
                .prop_map(Value::F64),
            prop_oneof![Just(9.223372036854776e18), Just(-9.223372036854776e18), Just(f64::INFINITY)]
                .prop_map(Value::F64),
            "[a-c]{0,3}".prop_map(Value::Str),
        ]
    }

    proptest! {
        #[test]
        fn values_have_a_total_order(a in value(), b in value(), c in value()) {
            let (a, b, c) = (a.as_ref(), b.as_ref(), c.as_ref());
            prop_assert_eq!(compare_values(a, a), Ordering::Equal);
            prop_assert_eq!(compare_values(a, b), compare_values(b, a).reverse());
            if compare_values(a, b).is_le() && compare_values(b, c).is_le() {
                prop_assert!(compare_values(a, c).is_le(), "{:?} <= {:?} <= {:?}", a, b, c);
            }
        }

        #[test]
        fn integers_and_floats_compare_by_value(i in -(1i64 << 53)..(1i64 << 53), f in any::<f64>()) {
            // Integers within 2^53 are exact as floats; NaN is above every number.
            let x = i as f64;
            let expected = x.is_nan().cmp(&f.is_nan()).then_with(|| x.partial_cmp(&f).unwrap_or(Ordering::Equal));
            prop_assert_eq!(compare_values(ValueRef::I64(i), ValueRef::F64(f)), expected);
        }
    }

    #[test]
    fn values_ascend_as_a_global_sort_orders_them() {
        let ascending = [
            ValueRef::Null,
            ValueRef::F64(f64::NEG_INFINITY),
            ValueRef::I64(i64::MIN),
            ValueRef::F64(-2.5),
            ValueRef::I64(-2),
            ValueRef::I64(1),
            ValueRef::F64(1.5),
            ValueRef::I64(i64::MAX),
            ValueRef::F64(9.223372036854776e18),
            ValueRef::F64(f64::INFINITY),
            ValueRef::F64(f64::NAN),
            ValueRef::Bool(false),
            ValueRef::Bool(true),
            ValueRef::Str(""),
            ValueRef::Str("B"),
            ValueRef::Str("a"),
            ValueRef::Str("é"),
        ];
        for pair in ascending.windows(2) {
            assert_eq!(compare_values(pair[0], pair[1]), Ordering::Less, "{:?} < {:?}", pair[0], pair[1]);
        }
        assert_eq!(compare_values(ValueRef::F64(-0.0), ValueRef::I64(0)), Ordering::Equal);
        assert_eq!(compare_values(ValueRef::F64(-0.0), ValueRef::F64(0.0)), Ordering::Equal);
        assert_eq!(compare_values(ValueRef::F64(-f64::NAN), ValueRef::F64(f64::NAN)), Ordering::Equal);
        assert_eq!(compare_values(ValueRef::I64(3), ValueRef::F64(3.0)), Ordering::Equal);
    }

    #[test]
    fn descending_fields_reverse_their_values_and_ties_go_by_the_row_bytes() {
        let order = Order::parse(" a:desc , b").unwrap();
        let names: Vec<(&str, bool)> =
            order.fields().iter().map(|f| (f.name.as_str(), f.descending)).collect();
        assert_eq!(names, [("a", true), ("b", false)]);
        let compare = |a: [ValueRef<'static>; 2], a_row: &[u8], b: [ValueRef<'static>; 2], b_row: &[u8]| {
            order.compare(a, a_row, b, b_row)
        };
        let (one, two, null) = (ValueRef::I64(1), ValueRef::I64(2), ValueRef::Null);
        assert_eq!(compare([two, one], b"z", [one, one], b"a"), Ordering::Less, "a descends");
        assert_eq!(compare([one, null], b"z", [one, one], b"a"), Ordering::Less, "nulls first ascending");
        assert_eq!(compare([null, one], b"a", [one, one], b"z"), Ordering::Greater, "nulls last descending");
        assert_eq!(compare([one, one], b"a", [one, one], b"b"), Ordering::Less, "ties by the row bytes");
    }

    #[test]
    fn a_bad_by_is_invalid_config() {
        for (text, mentions) in
            [("", "names no field"), ("a:up", "`a:asc` or `a:desc`"), ("a, :desc", "names no field")]
        {
            match Order::parse(text) {
                Err(Error::InvalidConfig(message)) => {
                    assert!(message.contains(mentions), "{text:?}: {message}")
                }
                other => panic!("{text:?}: {other:?}"),
            }
        }
        assert_eq!(Order::parse("a:asc").unwrap(), Order::parse("a").unwrap());
    }
}
