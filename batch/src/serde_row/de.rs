//! Reading a batch row into a serde type, without copying its strings.

use std::slice;

use serde::de::value::BorrowedStrDeserializer;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Unexpected, Visitor};

use super::RowError;
use crate::{RawRow, Schema, ValueIter, ValueRef};

/// Reads `row` (of a batch with `schema`) into a `T`.
///
/// The row's fields are its key fields followed by its value fields. A struct or map reads them
/// by name (a struct ignores fields it does not have, unless it denies unknown fields), a tuple
/// or sequence reads them in order. Field values read into the serde type of the same kind: any
/// integer type from an integer that fits it, floats from floats or integers, `char`, `String`
/// and `&'de str` (borrowed from the batch) from strings, `Option` (null is `None`), unit
/// (from null), newtype structs and enums of unit variants (from the variant's name).
///
/// A malformed row or a value of the wrong type gives an error naming the field.
pub fn from_row<'de, T: de::Deserialize<'de>>(schema: &'de Schema, row: &RawRow<'de>) -> Result<T, RowError> {
    T::deserialize(RowDeserializer {
        fields: Fields {
            names: schema.key_fields.iter(),
            values: row.key_values(),
            then: Some((schema.value_fields.iter(), row.values())),
        },
    })
}

/// The (name, value) pairs of a row: its key fields, then its value fields.
struct Fields<'de> {
    names: slice::Iter<'de, String>,
    values: ValueIter<'de>,
    /// The value fields, while `names` and `values` walk the key fields.
    then: Option<(slice::Iter<'de, String>, ValueIter<'de>)>,
}

impl<'de> Fields<'de> {
    fn next(&mut self) -> Result<Option<(&'de str, ValueRef<'de>)>, RowError> {
        loop {
            match (self.names.next(), self.values.next()) {
                // A key field repeated among the value fields (as `std:key-by` leaves it) is read
                // once, from the values.
                (Some(name), Some(Ok(_))) if self.repeated_in_values(name) => {}
                (Some(name), Some(Ok(value))) => return Ok(Some((name, value))),
                (Some(name), Some(Err(err))) => {
                    return Err(RowError::new(format!("malformed value: {}", err.problem)).in_field(name));
                }
                (Some(name), None) => return Err(RowError::new("missing from the row").in_field(name)),
                (None, Some(_)) => {
                    return Err(RowError::new("the row has more values than the batch has fields"));
                }
                (None, None) => match self.then.take() {
                    Some((names, values)) => (self.names, self.values) = (names, values),
                    None => return Ok(None),
                },
            }
        }
    }

    fn repeated_in_values(&self, name: &str) -> bool {
        self.then.as_ref().is_some_and(|(names, _)| names.as_slice().iter().any(|n| n == name))
    }

    fn remaining(&self) -> usize {
        self.names.len() + self.then.as_ref().map_or(0, |(names, _)| names.len())
    }
}

/// Deserializes the value of the field called `name`, naming the field in any error.
fn field_value<'de, S: DeserializeSeed<'de>>(
    seed: S,
    name: &str,
    value: ValueRef<'de>,
) -> Result<S::Value, RowError> {
    seed.deserialize(ValueDeserializer(value)).map_err(|err| err.in_field(name))
}

/// A whole row: a map of its fields, or a sequence of their values.
struct RowDeserializer<'de> {
    fields: Fields<'de>,
}

impl<'de> Deserializer<'de> for RowDeserializer<'de> {
    type Error = RowError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, RowError> {
        self.deserialize_map(visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, RowError> {
        visitor.visit_map(FieldMap { fields: self.fields, pending: None })
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, RowError> {
        self.deserialize_map(visitor)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, RowError> {
        let mut seq = FieldSeq(self.fields);
        let value = visitor.visit_seq(&mut seq)?;
        match seq.0.next()? {
            None => Ok(value),
            Some((name, _)) => {
                Err(RowError::new("the row has more fields than the tuple takes").in_field(name))
            }
        }
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value, RowError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, RowError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, RowError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, RowError> {
        visitor.visit_unit()
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf option
        unit unit_struct enum identifier
    }
}

/// A row's fields as a map from name to value.
struct FieldMap<'de> {
    fields: Fields<'de>,
    /// The field whose name was just read and whose value is next.
    pending: Option<(&'de str, ValueRef<'de>)>,
}

impl<'de> MapAccess<'de> for FieldMap<'de> {
    type Error = RowError;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, RowError> {
        let Some((name, value)) = self.fields.next()? else { return Ok(None) };
        self.pending = Some((name, value));
        // Errors about a key (an unknown field, say) quote the key itself.
        seed.deserialize(BorrowedStrDeserializer::new(name)).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, RowError> {
        let (name, value) = self
            .pending
            .take()
            .ok_or_else(|| RowError::new("a field value was asked for before its name"))?;
        field_value(seed, name, value)
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.fields.remaining() + usize::from(self.pending.is_some()))
    }
}

/// A row's field values in order.
struct FieldSeq<'de>(Fields<'de>);

impl<'de> SeqAccess<'de> for FieldSeq<'de> {
    type Error = RowError;

    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>, RowError> {
        match self.0.next()? {
            Some((name, value)) => field_value(seed, name, value).map(Some),
            None => Ok(None),
        }
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.0.remaining())
    }
}

/// One field value.
struct ValueDeserializer<'de>(ValueRef<'de>);

impl<'de> Deserializer<'de> for ValueDeserializer<'de> {
    type Error = RowError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, RowError> {
        match self.0 {
            ValueRef::Null => visitor.visit_unit(),
            ValueRef::Bool(b) => visitor.visit_bool(b),
            ValueRef::I64(i) => visitor.visit_i64(i),
            ValueRef::F64(f) => visitor.visit_f64(f),
            ValueRef::Str(s) => visitor.visit_borrowed_str(s),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, RowError> {
        match self.0 {
            ValueRef::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, RowError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, RowError> {
        match self.0 {
            ValueRef::Str(variant) => visitor.visit_enum(BorrowedStrDeserializer::new(variant)),
            other => Err(de::Error::invalid_type(unexpected(other), &visitor)),
        }
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, RowError> {
        visitor.visit_unit()
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        unit unit_struct seq tuple tuple_struct map struct identifier
    }
}

/// How a value is described in a type error.
fn unexpected(value: ValueRef<'_>) -> Unexpected<'_> {
    match value {
        ValueRef::Null => Unexpected::Unit,
        ValueRef::Bool(b) => Unexpected::Bool(b),
        ValueRef::I64(i) => Unexpected::Signed(i),
        ValueRef::F64(f) => Unexpected::Float(f),
        ValueRef::Str(s) => Unexpected::Str(s),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{BatchReader, BatchWriter, Row, Value};
    use serde::Deserialize;
    use std::collections::{BTreeMap, HashMap};

    /// A batch of one row with the given key and value fields.
    fn one_row(keys: &[(&str, ValueRef<'_>)], values: &[(&str, ValueRef<'_>)]) -> Vec<u8> {
        let schema = Schema::keyed(keys.iter().map(|(name, _)| *name), values.iter().map(|(name, _)| *name));
        let mut batch = BatchWriter::new(&schema);
        batch.push_values(keys.iter().map(|(_, v)| *v), values.iter().map(|(_, v)| *v));
        batch.finish()
    }

    /// Reads the only row of `bytes` as a `T`.
    fn read<T: for<'de> Deserialize<'de>>(bytes: &[u8]) -> Result<T, RowError> {
        let reader = BatchReader::new(bytes).unwrap();
        let row = reader.rows().next().unwrap().unwrap();
        from_row(reader.schema(), &row)
    }

    /// Reads a single-field row holding `value` as a `T`.
    fn read_value<T: for<'de> Deserialize<'de>>(value: ValueRef<'_>) -> Result<T, RowError> {
        read::<(T,)>(&one_row(&[], &[("v", value)])).map(|(v,)| v)
    }

    #[derive(Deserialize, Debug, PartialEq)]
    struct Reading {
        station: String,
        temperature: f64,
    }

    #[test]
    fn type_mismatch_names_the_field() {
        let bytes =
            one_row(&[], &[("station", ValueRef::Str("oslo")), ("temperature", ValueRef::Str("abc"))]);
        let err = read::<Reading>(&bytes).unwrap_err();
        assert_eq!(err.message(), r#"field "temperature": expected f64, found string "abc""#);
        assert_eq!(err.to_string(), err.message());
    }

    #[test]
    fn integers_are_range_checked() {
        assert_eq!(read_value::<u8>(ValueRef::I64(255)), Ok(255));
        assert_eq!(read_value::<i128>(ValueRef::I64(-5)), Ok(-5));
        let err = read_value::<u8>(ValueRef::I64(300)).unwrap_err();
        assert_eq!(err.message(), r#"field "v": expected u8, found integer `300`"#);
        let err = read_value::<u64>(ValueRef::I64(-1)).unwrap_err();
        assert_eq!(err.message(), r#"field "v": expected u64, found integer `-1`"#);
        let err = read_value::<i64>(ValueRef::F64(1.0)).unwrap_err();
        assert_eq!(err.message(), r#"field "v": expected i64, found floating point `1.0`"#);
    }

    #[test]
    fn primitives_read_from_their_values() {
        assert_eq!(read_value::<bool>(ValueRef::Bool(true)), Ok(true));
        assert_eq!(read_value::<f64>(ValueRef::I64(3)), Ok(3.0));
        assert_eq!(read_value::<f32>(ValueRef::F64(0.5)), Ok(0.5));
        assert_eq!(read_value::<char>(ValueRef::Str("é")), Ok('é'));
        assert!(read_value::<char>(ValueRef::Str("ab")).is_err());
        assert_eq!(read_value::<String>(ValueRef::Str("x")), Ok("x".to_owned()));
        assert_eq!(read_value::<()>(ValueRef::Null), Ok(()));
        assert_eq!(read_value::<Option<i32>>(ValueRef::Null), Ok(None));
        assert_eq!(read_value::<Option<i32>>(ValueRef::I64(4)), Ok(Some(4)));
        assert_eq!(read_value::<Value>(ValueRef::Null), Ok(Value::Null));
        let err = read_value::<bool>(ValueRef::Null).unwrap_err();
        assert_eq!(err.message(), r#"field "v": expected a boolean, found null"#);
    }

    #[test]
    fn newtypes_and_unit_enums_read_from_plain_values() {
        #[derive(Deserialize, Debug, PartialEq)]
        struct Celsius(f64);
        #[derive(Deserialize, Debug, PartialEq)]
        #[serde(rename_all = "lowercase")]
        enum Unit {
            Celsius,
            Kelvin,
        }
        assert_eq!(read_value::<Celsius>(ValueRef::F64(1.5)), Ok(Celsius(1.5)));
        assert_eq!(read_value::<Unit>(ValueRef::Str("kelvin")), Ok(Unit::Kelvin));
        assert_eq!(read_value::<Unit>(ValueRef::Str("celsius")), Ok(Unit::Celsius));
        let err = read_value::<Unit>(ValueRef::Str("fahrenheit")).unwrap_err();
        assert!(err.message().starts_with(r#"field "v": unknown variant `fahrenheit`"#), "{err}");
        let err = read_value::<Unit>(ValueRef::I64(1)).unwrap_err();
        assert_eq!(err.message(), r#"field "v": expected enum Unit, found integer `1`"#);
    }

    #[test]
    fn structs_follow_serde_attributes() {
        #[derive(Deserialize, Debug, PartialEq)]
        struct WithDefault {
            station: String,
            #[serde(default)]
            count: u32,
        }
        #[derive(Deserialize, Debug)]
        #[serde(deny_unknown_fields)]
        struct Strict {
            #[serde(rename = "station")]
            _station: String,
        }
        let bytes = one_row(&[], &[("station", ValueRef::Str("oslo")), ("extra", ValueRef::Bool(true))]);
        assert_eq!(read::<WithDefault>(&bytes), Ok(WithDefault { station: "oslo".into(), count: 0 }));
        let err = read::<Strict>(&bytes).unwrap_err();
        assert_eq!(err.message(), "unknown field `extra`, expected `station`");
        let err = read::<Reading>(&bytes).unwrap_err();
        assert_eq!(err.message(), "missing field `temperature`");
    }

    #[test]
    fn maps_and_tuples_read_every_field() {
        let bytes = one_row(&[("k", ValueRef::I64(1))], &[("a", ValueRef::Str("x")), ("b", ValueRef::Null)]);
        let map: HashMap<String, Value> = read(&bytes).unwrap();
        assert_eq!(map.len(), 3);
        assert_eq!(map["a"], Value::from("x"));
        let sorted: BTreeMap<String, Option<String>> =
            read(&one_row(&[], &[("a", ValueRef::Str("x"))])).unwrap();
        assert_eq!(sorted.into_iter().collect::<Vec<_>>(), [("a".to_owned(), Some("x".to_owned()))]);
        let row: Row = read(&bytes).unwrap();
        assert_eq!(row.get_i64("k"), Some(1));
        assert_eq!(read::<(i64, String, Option<f64>)>(&bytes), Ok((1, "x".into(), None)));
        assert_eq!(read::<Vec<Value>>(&bytes).unwrap().len(), 3);
        let err = read::<(i64, String)>(&bytes).unwrap_err();
        assert_eq!(err.message(), r#"field "b": the row has more fields than the tuple takes"#);
        assert!(read::<(i64, String, f64, bool)>(&bytes).is_err());
    }

    #[test]
    fn a_row_is_not_a_scalar() {
        let err = read::<i64>(&one_row(&[], &[("a", ValueRef::I64(1))])).unwrap_err();
        assert_eq!(err.message(), "expected i64, found map");
    }

    #[test]
    fn malformed_and_short_rows_are_errors() {
        let schema = Schema::values(["a", "b"]);
        let mut batch = BatchWriter::new(&schema);
        batch.push_raw(&[], &[0x00]);
        batch.push_raw(&[], &[0x00, 0x09]);
        batch.push_raw(&[], &[0x00, 0x00, 0x00]);
        let bytes = batch.finish();
        let reader = BatchReader::new(&bytes).unwrap();
        let errors: Vec<String> = reader
            .rows()
            .map(|row| from_row::<Row>(reader.schema(), &row.unwrap()).unwrap_err().message().to_owned())
            .collect();
        assert_eq!(
            errors,
            [
                r#"field "b": missing from the row"#,
                r#"field "b": malformed value: unknown value tag"#,
                "the row has more values than the batch has fields",
            ]
        );
    }
}
