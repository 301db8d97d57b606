//! Encoding a serde struct or map as a row's value bytes.

use serde::ser::{Impossible, Serialize, SerializeMap, SerializeStruct, Serializer};

use super::RowError;
use crate::{ValueRef, encode_value};

/// Encodes `value`, a struct or map of plain values, as row values appended to `out`.
///
/// Each field's value is appended with [`encode_value`]. The field names go to `names` when it
/// is empty (so the first row of a batch records them); otherwise the row must have exactly the
/// fields of `names`, in the same order. A field skipped by `#[serde(skip_serializing_if)]` is
/// written as null, so it keeps its place.
///
/// Values map to the batch's types: booleans; integers (a `u64` above `i64::MAX` is an error);
/// floats (`f32` widened); `char`, `str` and `String` as strings; `None` and unit as null;
/// `Some(x)` and newtype structs as what they wrap; unit enum variants as their name. Nested
/// structs, sequences and maps are errors.
///
/// On error `names` and `out` are left as they were.
pub fn to_row_values<T: Serialize + ?Sized>(
    value: &T,
    names: &mut Vec<String>,
    out: &mut Vec<u8>,
) -> Result<(), RowError> {
    let out_len = out.len();
    let record = names.is_empty();
    let result = value.serialize(RowSerializer(Fields { names, record, index: 0, out }));
    if result.is_err() {
        out.truncate(out_len);
        if record {
            names.clear();
        }
    }
    result
}

fn not_a_row() -> RowError {
    RowError::new("a row must be a struct or a map")
}

fn nested() -> RowError {
    RowError::new("nested values are not supported")
}

fn bad_name() -> RowError {
    RowError::new("field names must be strings")
}

/// Rejects what a serializer does not take: each line is a `Serializer` method's name, the
/// types of its arguments after `self` and its output.
macro_rules! reject {
    ($error:expr; $(fn $method:ident $(<$T:ident>)? ($($arg:ty),*) -> $out:ty;)*) => {
        $(
            fn $method $(<$T: Serialize + ?Sized>)? (self, $(_: $arg),*) -> Result<$out, RowError> {
                Err($error)
            }
        )*
    };
}

/// The fields of the row being encoded.
struct Fields<'a> {
    names: &'a mut Vec<String>,
    /// Whether `names` is being recorded rather than checked.
    record: bool,
    /// Number of fields seen so far.
    index: usize,
    out: &'a mut Vec<u8>,
}

impl Fields<'_> {
    /// Records or checks the name of the next field.
    fn name(&mut self, name: &str) -> Result<(), RowError> {
        if self.record {
            self.names.push(name.to_owned());
        } else {
            match self.names.get(self.index) {
                Some(expected) if expected == name => {}
                Some(expected) => {
                    let problem =
                        format!("expected field {expected:?} at position {}, as in the schema", self.index);
                    return Err(RowError::new(problem).in_field(name));
                }
                None => {
                    let problem = format!("the schema has only {} fields", self.names.len());
                    return Err(RowError::new(problem).in_field(name));
                }
            }
        }
        self.index += 1;
        Ok(())
    }

    /// Encodes the value of the field just named.
    fn value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), RowError> {
        value.serialize(ValueSerializer { out: self.out }).map_err(|err| {
            match self.index.checked_sub(1).and_then(|at| self.names.get(at)) {
                Some(name) => err.in_field(name),
                None => err,
            }
        })
    }

    /// Checks that no field of the schema is missing.
    fn finish(self) -> Result<(), RowError> {
        match self.names.get(self.index) {
            Some(name) => Err(RowError::new("missing from the row").in_field(name)),
            None => Ok(()),
        }
    }
}

impl SerializeStruct for Fields<'_> {
    type Ok = ();
    type Error = RowError;

    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), RowError> {
        self.name(key)?;
        self.value(value)
    }

    fn skip_field(&mut self, key: &'static str) -> Result<(), RowError> {
        self.name(key)?;
        encode_value(self.out, ValueRef::Null);
        Ok(())
    }

    fn end(self) -> Result<(), RowError> {
        self.finish()
    }
}

impl SerializeMap for Fields<'_> {
    type Ok = ();
    type Error = RowError;

    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), RowError> {
        key.serialize(KeySerializer(self))
    }

    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), RowError> {
        self.value(value)
    }

    fn end(self) -> Result<(), RowError> {
        self.finish()
    }
}

/// A whole row, which must be a struct or a map.
struct RowSerializer<'a>(Fields<'a>);

impl<'a> Serializer for RowSerializer<'a> {
    type Ok = ();
    type Error = RowError;
    type SerializeSeq = Impossible<(), RowError>;
    type SerializeTuple = Impossible<(), RowError>;
    type SerializeTupleStruct = Impossible<(), RowError>;
    type SerializeTupleVariant = Impossible<(), RowError>;
    type SerializeMap = Fields<'a>;
    type SerializeStruct = Fields<'a>;
    type SerializeStructVariant = Impossible<(), RowError>;

    fn serialize_struct(self, _name: &'static str, len: usize) -> Result<Fields<'a>, RowError> {
        let fields = self.0;
        if fields.record {
            fields.names.reserve(len);
        }
        Ok(fields)
    }

    fn serialize_map(self, len: Option<usize>) -> Result<Fields<'a>, RowError> {
        self.serialize_struct("", len.unwrap_or(0))
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<(), RowError> {
        value.serialize(self)
    }

    reject! { not_a_row();
        fn serialize_bool(bool) -> ();
        fn serialize_i8(i8) -> ();
        fn serialize_i16(i16) -> ();
        fn serialize_i32(i32) -> ();
        fn serialize_i64(i64) -> ();
        fn serialize_i128(i128) -> ();
        fn serialize_u8(u8) -> ();
        fn serialize_u16(u16) -> ();
        fn serialize_u32(u32) -> ();
        fn serialize_u64(u64) -> ();
        fn serialize_u128(u128) -> ();
        fn serialize_f32(f32) -> ();
        fn serialize_f64(f64) -> ();
        fn serialize_char(char) -> ();
        fn serialize_str(&str) -> ();
        fn serialize_bytes(&[u8]) -> ();
        fn serialize_none() -> ();
        fn serialize_some<T>(&T) -> ();
        fn serialize_unit() -> ();
        fn serialize_unit_struct(&'static str) -> ();
        fn serialize_unit_variant(&'static str, u32, &'static str) -> ();
        fn serialize_newtype_variant<T>(&'static str, u32, &'static str, &T) -> ();
        fn serialize_seq(Option<usize>) -> Self::SerializeSeq;
        fn serialize_tuple(usize) -> Self::SerializeTuple;
        fn serialize_tuple_struct(&'static str, usize) -> Self::SerializeTupleStruct;
        fn serialize_tuple_variant(&'static str, u32, &'static str, usize) -> Self::SerializeTupleVariant;
        fn serialize_struct_variant(&'static str, u32, &'static str, usize) -> Self::SerializeStructVariant;
    }
}

/// A map key, which must be a string: it names the next field.
struct KeySerializer<'b, 'a>(&'b mut Fields<'a>);

impl Serializer for KeySerializer<'_, '_> {
    type Ok = ();
    type Error = RowError;
    type SerializeSeq = Impossible<(), RowError>;
    type SerializeTuple = Impossible<(), RowError>;
    type SerializeTupleStruct = Impossible<(), RowError>;
    type SerializeTupleVariant = Impossible<(), RowError>;
    type SerializeMap = Impossible<(), RowError>;
    type SerializeStruct = Impossible<(), RowError>;
    type SerializeStructVariant = Impossible<(), RowError>;

    fn serialize_str(self, name: &str) -> Result<(), RowError> {
        self.0.name(name)
    }

    fn serialize_char(self, name: char) -> Result<(), RowError> {
        self.0.name(name.encode_utf8(&mut [0; 4]))
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<(), RowError> {
        value.serialize(self)
    }

    reject! { bad_name();
        fn serialize_bool(bool) -> ();
        fn serialize_i8(i8) -> ();
        fn serialize_i16(i16) -> ();
        fn serialize_i32(i32) -> ();
        fn serialize_i64(i64) -> ();
        fn serialize_i128(i128) -> ();
        fn serialize_u8(u8) -> ();
        fn serialize_u16(u16) -> ();
        fn serialize_u32(u32) -> ();
        fn serialize_u64(u64) -> ();
        fn serialize_u128(u128) -> ();
        fn serialize_f32(f32) -> ();
        fn serialize_f64(f64) -> ();
        fn serialize_bytes(&[u8]) -> ();
        fn serialize_none() -> ();
        fn serialize_some<T>(&T) -> ();
        fn serialize_unit() -> ();
        fn serialize_unit_struct(&'static str) -> ();
        fn serialize_unit_variant(&'static str, u32, &'static str) -> ();
        fn serialize_newtype_variant<T>(&'static str, u32, &'static str, &T) -> ();
        fn serialize_seq(Option<usize>) -> Self::SerializeSeq;
        fn serialize_tuple(usize) -> Self::SerializeTuple;
        fn serialize_tuple_struct(&'static str, usize) -> Self::SerializeTupleStruct;
        fn serialize_tuple_variant(&'static str, u32, &'static str, usize) -> Self::SerializeTupleVariant;
        fn serialize_map(Option<usize>) -> Self::SerializeMap;
        fn serialize_struct(&'static str, usize) -> Self::SerializeStruct;
        fn serialize_struct_variant(&'static str, u32, &'static str, usize) -> Self::SerializeStructVariant;
    }
}

/// One field value, encoded straight into the row.
struct ValueSerializer<'a> {
    out: &'a mut Vec<u8>,
}

impl ValueSerializer<'_> {
    fn put(self, value: ValueRef<'_>) -> Result<(), RowError> {
        encode_value(self.out, value);
        Ok(())
    }

    fn integer<I: TryInto<i64> + std::fmt::Display + Copy>(self, value: I) -> Result<(), RowError> {
        match value.try_into() {
            Ok(i) => self.put(ValueRef::I64(i)),
            Err(_) => Err(RowError::new(format!("integer {value} does not fit in i64"))),
        }
    }
}

impl Serializer for ValueSerializer<'_> {
    type Ok = ();
    type Error = RowError;
    type SerializeSeq = Impossible<(), RowError>;
    type SerializeTuple = Impossible<(), RowError>;
    type SerializeTupleStruct = Impossible<(), RowError>;
    type SerializeTupleVariant = Impossible<(), RowError>;
    type SerializeMap = Impossible<(), RowError>;
    type SerializeStruct = Impossible<(), RowError>;
    type SerializeStructVariant = Impossible<(), RowError>;

    fn serialize_bool(self, b: bool) -> Result<(), RowError> {
        self.put(ValueRef::Bool(b))
    }

    fn serialize_i8(self, i: i8) -> Result<(), RowError> {
        self.serialize_i64(i.into())
    }

    fn serialize_i16(self, i: i16) -> Result<(), RowError> {
        self.serialize_i64(i.into())
    }

    fn serialize_i32(self, i: i32) -> Result<(), RowError> {
        self.serialize_i64(i.into())
    }

    fn serialize_i64(self, i: i64) -> Result<(), RowError> {
        self.put(ValueRef::I64(i))
    }

    fn serialize_i128(self, i: i128) -> Result<(), RowError> {
        self.integer(i)
    }

    fn serialize_u8(self, u: u8) -> Result<(), RowError> {
        self.serialize_i64(u.into())
    }

    fn serialize_u16(self, u: u16) -> Result<(), RowError> {
        self.serialize_i64(u.into())
    }

    fn serialize_u32(self, u: u32) -> Result<(), RowError> {
        self.serialize_i64(u.into())
    }

    fn serialize_u64(self, u: u64) -> Result<(), RowError> {
        self.integer(u)
    }

    fn serialize_u128(self, u: u128) -> Result<(), RowError> {
        self.integer(u)
    }

    fn serialize_f32(self, f: f32) -> Result<(), RowError> {
        self.serialize_f64(f.into())
    }

    fn serialize_f64(self, f: f64) -> Result<(), RowError> {
        self.put(ValueRef::F64(f))
    }

    fn serialize_char(self, c: char) -> Result<(), RowError> {
        self.serialize_str(c.encode_utf8(&mut [0; 4]))
    }

    fn serialize_str(self, s: &str) -> Result<(), RowError> {
        self.put(ValueRef::Str(s))
    }

    fn serialize_none(self) -> Result<(), RowError> {
        self.put(ValueRef::Null)
    }

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), RowError> {
        value.serialize(self)
    }

    fn serialize_unit(self) -> Result<(), RowError> {
        self.put(ValueRef::Null)
    }

    fn serialize_unit_struct(self, _name: &'static str) -> Result<(), RowError> {
        self.put(ValueRef::Null)
    }

    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<(), RowError> {
        self.put(ValueRef::Str(variant))
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<(), RowError> {
        value.serialize(self)
    }

    reject! { nested();
        fn serialize_bytes(&[u8]) -> ();
        fn serialize_newtype_variant<T>(&'static str, u32, &'static str, &T) -> ();
        fn serialize_seq(Option<usize>) -> Self::SerializeSeq;
        fn serialize_tuple(usize) -> Self::SerializeTuple;
        fn serialize_tuple_struct(&'static str, usize) -> Self::SerializeTupleStruct;
        fn serialize_tuple_variant(&'static str, u32, &'static str, usize) -> Self::SerializeTupleVariant;
        fn serialize_map(Option<usize>) -> Self::SerializeMap;
        fn serialize_struct(&'static str, usize) -> Self::SerializeStruct;
        fn serialize_struct_variant(&'static str, u32, &'static str, usize) -> Self::SerializeStructVariant;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Row, Value, ValueIter};
    use serde::Serialize;
    use std::collections::BTreeMap;

    #[derive(Serialize)]
    struct Reading {
        station: &'static str,
        temperature: f64,
    }

    /// Encodes `value` as a first row: its field names and decoded values.
    fn encode<T: Serialize + ?Sized>(value: &T) -> Result<(Vec<String>, Vec<Value>), RowError> {
        let mut names = Vec::new();
        let mut out = Vec::new();
        to_row_values(value, &mut names, &mut out)?;
        Ok((names, ValueIter::new(&out).map(|v| v.unwrap().to_owned()).collect()))
    }

    #[test]
    fn first_row_records_names_and_later_rows_are_checked() {
        let mut names = Vec::new();
        let mut out = Vec::new();
        to_row_values(&Reading { station: "oslo", temperature: 1.0 }, &mut names, &mut out).unwrap();
        assert_eq!(names, ["station", "temperature"]);
        let first_len = out.len();
        to_row_values(&Reading { station: "bergen", temperature: 2.0 }, &mut names, &mut out).unwrap();
        assert_eq!(names, ["station", "temperature"]);
        let values: Vec<Value> = ValueIter::new(&out).map(|v| v.unwrap().to_owned()).collect();
        assert_eq!(values, [Value::from("oslo"), Value::F64(1.0), Value::from("bergen"), Value::F64(2.0)]);
        assert!(out.len() > first_len);
    }

    #[test]
    fn mismatched_names_across_rows_fail_naming_the_field_and_leave_out_alone() {
        let mut first = Row::new();
        first.set("station", "bergen");
        first.set("temp", 2.0);
        let mut names = Vec::new();
        let mut out = Vec::new();
        to_row_values(&first, &mut names, &mut out).unwrap();
        assert_eq!(names, ["station", "temp"]);
        let first_row = out.clone();

        let err =
            to_row_values(&Reading { station: "oslo", temperature: 1.0 }, &mut names, &mut out).unwrap_err();
        assert_eq!(
            err.message(),
            r#"field "temperature": expected field "temp" at position 1, as in the schema"#
        );
        assert_eq!(out, first_row);
        assert_eq!(names, ["station", "temp"]);

        let mut longer = Row::new();
        longer.set("station", "oslo");
        longer.set("temp", 1.0);
        longer.set("extra", 1);
        let err = to_row_values(&longer, &mut names, &mut out).unwrap_err();
        assert_eq!(err.message(), r#"field "extra": the schema has only 2 fields"#);

        let mut shorter = Row::new();
        shorter.set("station", "oslo");
        let err = to_row_values(&shorter, &mut names, &mut out).unwrap_err();
        assert_eq!(err.message(), r#"field "temp": missing from the row"#);
        assert_eq!(out, first_row);
    }

    #[test]
    fn non_rows_fail_cleanly() {
        for err in [
            encode(&5).unwrap_err(),
            encode("text").unwrap_err(),
            encode(&[1, 2]).unwrap_err(),
            encode(&Some(Row::new())).unwrap_err(),
        ] {
            assert_eq!(err.message(), "a row must be a struct or a map");
        }
        let mut keyed_by_number = BTreeMap::new();
        keyed_by_number.insert(1, 2);
        assert_eq!(encode(&keyed_by_number).unwrap_err().message(), "field names must be strings");
    }

    #[test]
    fn failed_first_row_records_no_names() {
        #[derive(Serialize)]
        struct Nested {
            ok: bool,
            inner: Vec<i32>,
        }
        let mut names = Vec::new();
        let mut out = Vec::new();
        let err = to_row_values(&Nested { ok: true, inner: vec![1] }, &mut names, &mut out).unwrap_err();
        assert_eq!(err.message(), r#"field "inner": nested values are not supported"#);
        assert!(names.is_empty());
        assert!(out.is_empty());
    }

    #[test]
    fn values_map_to_plain_types() {
        #[derive(Serialize)]
        struct Id(u32);
        #[derive(Serialize)]
        enum Unit {
            Celsius,
        }
        #[derive(Serialize)]
        struct Everything {
            b: bool,
            small: i8,
            big: u64,
            wide: i128,
            f: f32,
            c: char,
            none: Option<i32>,
            some: Option<&'static str>,
            unit: (),
            id: Id,
            variant: Unit,
        }
        let everything = Everything {
            b: true,
            small: -2,
            big: 1 << 40,
            wide: -7,
            f: 0.5,
            c: 'ø',
            none: None,
            some: Some("x"),
            unit: (),
            id: Id(9),
            variant: Unit::Celsius,
        };
        let (names, values) = encode(&everything).unwrap();
        assert_eq!(names.len(), values.len());
        assert_eq!(
            values,
            [
                Value::Bool(true),
                Value::I64(-2),
                Value::I64(1 << 40),
                Value::I64(-7),
                Value::F64(0.5),
                Value::from("ø"),
                Value::Null,
                Value::from("x"),
                Value::Null,
                Value::I64(9),
                Value::from("Celsius"),
            ]
        );
    }

    #[test]
    fn integers_beyond_i64_are_errors() {
        #[derive(Serialize)]
        struct Big {
            count: u64,
        }
        let err = encode(&Big { count: u64::MAX }).unwrap_err();
        assert_eq!(err.message(), r#"field "count": integer 18446744073709551615 does not fit in i64"#);
    }

    #[test]
    fn skipped_fields_keep_their_place_as_null() {
        #[derive(Serialize)]
        struct Sparse {
            #[serde(skip_serializing_if = "Option::is_none")]
            note: Option<String>,
            count: i64,
        }
        let (names, values) = encode(&Sparse { note: None, count: 1 }).unwrap();
        assert_eq!(names, ["note", "count"]);
        assert_eq!(values, [Value::Null, Value::I64(1)]);
    }
}
