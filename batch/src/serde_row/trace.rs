//! The row fields of a serde type, known from the type alone: [`row_fields_of`].
//!
//! There is no value to serialize, so the type's `Deserialize` is traced instead (as
//! serde-reflection does): it is handed a deserializer that records what it asks for.
//! `deserialize_struct` names the fields; each field's value asks for the type it reads
//! (`deserialize_f64`, `deserialize_str`, …) and gets a sample of it. The sample value so built is
//! then written with [`to_row_values`], the encoder the tasks use, and the trace is the answer
//! only if that row has the traced fields, in the same order, with values of the traced types.
//! So a type whose `Serialize` does not write what its `Deserialize` reads (a field skipped or
//! renamed on one side only, a custom impl) answers "cannot say" rather than something wrong.

use serde::Serialize;
use serde::de::value::BorrowedStrDeserializer;
use serde::de::{
    DeserializeOwned, DeserializeSeed, Deserializer, EnumAccess, MapAccess, VariantAccess, Visitor,
};

use super::{RowError, to_row_values};
use crate::{Field, FieldType, ValueIter, ValueRef};

/// The value fields, in order and with the type of each, of every row [`to_row_values`] writes
/// from a `T`, if the type alone tells; `None` (cannot say) if not.
///
/// The type must be a struct (or a newtype of one) whose fields read plain values: booleans
/// (`bool`), integers of any width (`i64`), `f32` and `f64` (`f64`), `char`, strings and enums of
/// unit variants (`string`), unit or a value of any type such as [`Value`](crate::Value) (`any`),
/// or any of these in an `Option` or a newtype struct (a field may hold null whatever its type).
/// Renamed fields are named as the rows name them. Maps (the dynamic [`Row`](crate::Row), a
/// `HashMap`), `#[serde(flatten)]`, field aliases, nested structs, sequences and enums with data
/// cannot say, nor can a type whose `Serialize` writes other fields than its `Deserialize` reads.
///
/// ```
/// use flicker_batch::{Field, FieldType, Row, row_fields_of};
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Serialize, Deserialize)]
/// struct Reading {
///     station: String,
///     #[serde(rename = "temp")]
///     temperature: Option<f32>,
/// }
///
/// let fields = vec![Field::new("station", FieldType::String), Field::new("temp", FieldType::F64)];
/// assert_eq!(row_fields_of::<Reading>(), Some(fields));
/// assert_eq!(row_fields_of::<Row>(), None, "a dynamic row may have any fields");
/// ```
pub fn row_fields_of<T: Serialize + DeserializeOwned>() -> Option<Vec<Field>> {
    let (fields, variants) = trace::<T>(0)?;
    (1..variants)
        .all(|variant| trace::<T>(variant).is_some_and(|(other, _)| other == fields))
        .then_some(fields)
}

/// Traces `T` with every enum at its variant `variant` (its last one if it has fewer): the fields
/// checked against the row written from the sample, and the most variants an enum of `T` has.
fn trace<T: Serialize + DeserializeOwned>(variant: usize) -> Option<(Vec<Field>, usize)> {
    let mut trace = Trace { variant, variants: 0, fields: Vec::new() };
    let sample = T::deserialize(RowTracer(&mut trace)).ok()?;
    let mut names = Vec::new();
    let mut values = Vec::new();
    to_row_values(&sample, &mut names, &mut values).ok()?;
    let mut values = ValueIter::new(&values);
    let written = names.len() == trace.fields.len()
        && names.iter().zip(&trace.fields).all(|(name, field)| {
            *name == field.name
                && values.next().is_some_and(|value| value.is_ok_and(|value| holds(field, value)))
        });
    written.then_some((trace.fields, trace.variants))
}

/// Whether `value` may be a value of `field`: null (in any field), or a value of its type.
fn holds(field: &Field, value: ValueRef<'_>) -> bool {
    type_of(value).is_none_or(|ty| field.ty == ty || field.ty == FieldType::Any)
}

/// The type of `value`, or `None` for null.
fn type_of(value: ValueRef<'_>) -> Option<FieldType> {
    match value {
        ValueRef::Null => None,
        ValueRef::Bool(_) => Some(FieldType::Bool),
        ValueRef::I64(_) => Some(FieldType::I64),
        ValueRef::F64(_) => Some(FieldType::F64),
        ValueRef::Str(_) => Some(FieldType::String),
    }
}

/// What a trace found so far.
struct Trace {
    /// The variant every enum picks (its last one if it has fewer).
    variant: usize,
    /// The most variants an enum traced so far has.
    variants: usize,
    /// The fields traced, in the order the type read them.
    fields: Vec<Field>,
}

/// The error of any type the trace cannot say anything of (its words are never shown).
fn cannot_say() -> RowError {
    RowError::new("the row fields of this type cannot be known before the rows are seen")
}

/// Fails the listed `Deserializer` methods with [`cannot_say`]: each line is a method's name and
/// the types of its arguments between `self` and the visitor.
macro_rules! cannot_say {
    ($(fn $method:ident($($arg:ty),*);)*) => {
        $(
            fn $method<V: Visitor<'de>>(self, $(_: $arg,)* _: V) -> Result<V::Value, RowError> {
                Err(cannot_say())
            }
        )*
    };
}

/// The whole row, which must be a struct: its fields are traced.
struct RowTracer<'a>(&'a mut Trace);

impl<'de> Deserializer<'de> for RowTracer<'_> {
    type Error = RowError;

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, RowError> {
        visitor.visit_map(FieldTracer { trace: self.0, names: fields.iter(), name: "" })
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, RowError> {
        visitor.visit_newtype_struct(self)
    }

    cannot_say! {
        fn deserialize_any();
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf option
        unit unit_struct seq tuple tuple_struct map enum identifier ignored_any
    }
}

/// A struct's fields, each given by name in the order the struct lists them.
struct FieldTracer<'a> {
    trace: &'a mut Trace,
    names: std::slice::Iter<'static, &'static str>,
    /// The field whose value is asked for next.
    name: &'static str,
}

impl<'de> MapAccess<'de> for FieldTracer<'_> {
    type Error = RowError;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, RowError> {
        let Some(&name) = self.names.next() else { return Ok(None) };
        self.name = name;
        seed.deserialize(BorrowedStrDeserializer::new(name)).map(Some)
    }

    fn next_value_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Result<S::Value, RowError> {
        seed.deserialize(ValueTracer { trace: self.trace, name: self.name })
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.names.len())
    }
}

/// The value of the field called `name`: records the type it asks for and hands it a sample.
struct ValueTracer<'a> {
    trace: &'a mut Trace,
    name: &'static str,
}

impl<'a> ValueTracer<'a> {
    /// Records that the field is of type `ty`.
    fn record(self, ty: FieldType) -> &'a mut Trace {
        self.trace.fields.push(Field::new(self.name, ty));
        self.trace
    }
}

/// Records a field's type and hands the visitor a sample of it: each line is a `Deserializer`
/// method, the types of its arguments between `self` and the visitor, the type recorded and the
/// visitor's method called with its sample.
macro_rules! sample {
    ($(fn $method:ident($($arg:ty),*) -> $ty:ident: $visit:ident($($sample:expr)?);)*) => {
        $(
            fn $method<V: Visitor<'de>>(self, $(_: $arg,)* visitor: V) -> Result<V::Value, RowError> {
                self.record(FieldType::$ty);
                visitor.$visit($($sample)?)
            }
        )*
    };
}

impl<'de> Deserializer<'de> for ValueTracer<'_> {
    type Error = RowError;

    sample! {
        fn deserialize_bool() -> Bool: visit_bool(false);
        fn deserialize_i8() -> I64: visit_i8(0);
        fn deserialize_i16() -> I64: visit_i16(0);
        fn deserialize_i32() -> I64: visit_i32(0);
        fn deserialize_i64() -> I64: visit_i64(0);
        fn deserialize_i128() -> I64: visit_i128(0);
        fn deserialize_u8() -> I64: visit_u8(0);
        fn deserialize_u16() -> I64: visit_u16(0);
        fn deserialize_u32() -> I64: visit_u32(0);
        fn deserialize_u64() -> I64: visit_u64(0);
        fn deserialize_u128() -> I64: visit_u128(0);
        fn deserialize_f32() -> F64: visit_f32(0.0);
        fn deserialize_f64() -> F64: visit_f64(0.0);
        fn deserialize_char() -> String: visit_char('a');
        fn deserialize_str() -> String: visit_str("");
        fn deserialize_string() -> String: visit_str("");
        fn deserialize_unit() -> Any: visit_unit();
        fn deserialize_unit_struct(&'static str) -> Any: visit_unit();
        fn deserialize_any() -> Any: visit_unit();
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, RowError> {
        visitor.visit_some(self)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, RowError> {
        visitor.visit_newtype_struct(self)
    }

    /// An enum of unit variants is written as its variant's name.
    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, RowError> {
        let trace = self.record(FieldType::String);
        trace.variants = trace.variants.max(variants.len());
        let variant = variants.get(trace.variant).or(variants.last()).ok_or_else(cannot_say)?;
        visitor.visit_enum(UnitVariant(variant))
    }

    cannot_say! {
        fn deserialize_bytes();
        fn deserialize_byte_buf();
        fn deserialize_seq();
        fn deserialize_tuple(usize);
        fn deserialize_tuple_struct(&'static str, usize);
        fn deserialize_map();
        fn deserialize_struct(&'static str, &'static [&'static str]);
        fn deserialize_identifier();
        fn deserialize_ignored_any();
    }
}

/// The variant of an enum called this, which must be a unit variant.
struct UnitVariant(&'static str);

impl<'de> EnumAccess<'de> for UnitVariant {
    type Error = RowError;
    type Variant = Self;

    fn variant_seed<S: DeserializeSeed<'de>>(self, seed: S) -> Result<(S::Value, Self), RowError> {
        seed.deserialize(BorrowedStrDeserializer::new(self.0)).map(|variant| (variant, self))
    }
}

impl<'de> VariantAccess<'de> for UnitVariant {
    type Error = RowError;

    fn unit_variant(self) -> Result<(), RowError> {
        Ok(())
    }

    fn newtype_variant_seed<S: DeserializeSeed<'de>>(self, _: S) -> Result<S::Value, RowError> {
        Err(cannot_say())
    }

    fn tuple_variant<V: Visitor<'de>>(self, _: usize, _: V) -> Result<V::Value, RowError> {
        Err(cannot_say())
    }

    fn struct_variant<V: Visitor<'de>>(self, _: &'static [&'static str], _: V) -> Result<V::Value, RowError> {
        Err(cannot_say())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{BatchReader, Row, Value};
    use serde::Deserialize;
    use std::collections::{BTreeMap, HashMap};

    fn fields(fields: &[(&str, FieldType)]) -> Option<Vec<Field>> {
        Some(fields.iter().map(|&(name, ty)| Field::new(name, ty)).collect())
    }

    #[derive(Serialize, Deserialize)]
    enum Unit {
        Celsius,
        Fahrenheit,
    }

    #[derive(Serialize, Deserialize)]
    struct Id(u32);

    /// A field of every plain type.
    #[derive(Serialize, Deserialize)]
    struct Plain {
        flag: bool,
        small: i8,
        count: u64,
        wide: i128,
        ratio: f32,
        mean: f64,
        letter: char,
        station: String,
        unit: Unit,
        id: Id,
        note: Option<String>,
        maybe: Option<Option<i64>>,
    }

    impl Plain {
        fn new(n: i8, unit: Unit, note: Option<&str>) -> Self {
            Self {
                flag: n > 0,
                small: n,
                count: 7,
                wide: -9,
                ratio: 0.5,
                mean: f64::from(n) / 3.0,
                letter: 'ø',
                station: format!("station {n}"),
                unit,
                id: Id(3),
                note: note.map(str::to_owned),
                maybe: Some(Some(2)),
            }
        }
    }

    #[test]
    fn a_struct_of_plain_values_gives_its_fields_in_order_with_their_types() {
        use FieldType::*;
        let expected = fields(&[
            ("flag", Bool),
            ("small", I64),
            ("count", I64),
            ("wide", I64),
            ("ratio", F64),
            ("mean", F64),
            ("letter", String),
            ("station", String),
            ("unit", String),
            ("id", I64),
            ("note", String),
            ("maybe", I64),
        ]);
        assert_eq!(row_fields_of::<Plain>(), expected);
    }

    #[test]
    fn a_field_of_any_value_or_unit_is_any() {
        #[derive(Serialize, Deserialize)]
        struct Dynamic {
            station: String,
            value: Value,
            nothing: (),
        }
        let expected =
            fields(&[("station", FieldType::String), ("value", FieldType::Any), ("nothing", FieldType::Any)]);
        assert_eq!(row_fields_of::<Dynamic>(), expected);
    }

    #[test]
    fn fields_are_named_as_the_rows_name_them() {
        #[derive(Serialize, Deserialize)]
        #[serde(rename_all = "UPPERCASE")]
        struct Renamed {
            station: String,
            #[serde(rename = "temp")]
            temperature: f64,
        }
        #[derive(Serialize, Deserialize)]
        #[serde(transparent)]
        struct Wrapped(Renamed);
        let expected = fields(&[("STATION", FieldType::String), ("temp", FieldType::F64)]);
        assert_eq!(row_fields_of::<Renamed>(), expected);
        assert_eq!(row_fields_of::<Wrapped>(), expected);
    }

    #[test]
    fn fields_skipped_on_both_sides_or_when_empty_keep_the_rows_fields() {
        #[derive(Serialize, Deserialize)]
        struct Sparse {
            #[serde(skip)]
            _cache: Vec<u8>,
            #[serde(skip_serializing_if = "Option::is_none", default)]
            note: Option<String>,
            #[serde(skip_serializing_if = "is_zero")]
            count: i64,
        }
        fn is_zero(n: &i64) -> bool {
            *n == 0
        }
        let expected = fields(&[("note", FieldType::String), ("count", FieldType::I64)]);
        assert_eq!(row_fields_of::<Sparse>(), expected);
    }

    #[test]
    fn types_whose_fields_the_type_does_not_tell_cannot_say() {
        #[derive(Serialize, Deserialize)]
        struct Inner {
            x: f64,
        }
        #[derive(Serialize, Deserialize)]
        struct Nested {
            station: String,
            inner: Inner,
        }
        #[derive(Serialize, Deserialize)]
        struct Flattened {
            station: String,
            #[serde(flatten)]
            inner: Inner,
        }
        #[derive(Serialize, Deserialize)]
        struct List {
            temperatures: Vec<f64>,
        }
        #[derive(Serialize, Deserialize)]
        struct Aliased {
            #[serde(alias = "temp")]
            temperature: f64,
        }
        assert_eq!(row_fields_of::<Nested>(), None);
        assert_eq!(row_fields_of::<Flattened>(), None);
        assert_eq!(row_fields_of::<List>(), None);
        assert_eq!(row_fields_of::<Aliased>(), None);
        assert_eq!(row_fields_of::<Row>(), None);
        assert_eq!(row_fields_of::<HashMap<String, f64>>(), None);
        assert_eq!(row_fields_of::<BTreeMap<String, Value>>(), None);
        assert_eq!(row_fields_of::<(String, f64)>(), None);
        assert_eq!(row_fields_of::<f64>(), None);
    }

    #[test]
    fn enums_of_unit_variants_are_strings_and_enums_with_data_cannot_say() {
        #[derive(Serialize, Deserialize)]
        enum Scale {
            Celsius,
            Offset(f64),
        }
        #[derive(Serialize, Deserialize)]
        struct Units {
            unit: Unit,
        }
        #[derive(Serialize, Deserialize)]
        struct Scaled {
            scale: Scale,
        }
        assert_eq!(row_fields_of::<Units>(), fields(&[("unit", FieldType::String)]));
        assert_eq!(row_fields_of::<Scaled>(), None, "a row holding `Offset` cannot be written");
    }

    #[test]
    fn a_type_written_otherwise_than_it_is_read_cannot_say() {
        #[derive(Serialize, Deserialize)]
        struct SkippedWhenWritten {
            station: String,
            #[serde(skip_serializing)]
            _temperature: f64,
        }
        #[derive(Serialize, Deserialize)]
        struct SkippedWhenRead {
            station: String,
            #[serde(skip_deserializing)]
            temperature: f64,
        }
        #[derive(Serialize, Deserialize)]
        struct RenamedOnOneSide {
            #[serde(rename(serialize = "temp"))]
            temperature: f64,
        }
        #[derive(Serialize, Deserialize)]
        struct WrittenAsText {
            #[serde(serialize_with = "as_text")]
            temperature: f64,
        }
        fn as_text<S: serde::Serializer>(t: &f64, s: S) -> Result<S::Ok, S::Error> {
            s.serialize_str(&t.to_string())
        }
        assert_eq!(row_fields_of::<SkippedWhenWritten>(), None);
        assert_eq!(row_fields_of::<SkippedWhenRead>(), None);
        assert_eq!(row_fields_of::<RenamedOnOneSide>(), None);
        assert_eq!(row_fields_of::<WrittenAsText>(), None);
    }

    /// The value fields of a batch written from `rows` with `to_row_values`, each typed by its
    /// first value that is not null.
    fn written_fields<T: Serialize>(rows: &[T]) -> Vec<Field> {
        let bytes = super::super::tests::batch_of(rows);
        let reader = BatchReader::new(&bytes).unwrap();
        let type_at =
            |index: usize| reader.rows().find_map(|row| type_of(row.unwrap().value(index).unwrap().unwrap()));
        let names = reader.schema().value_fields.iter();
        names.enumerate().map(|(index, name)| Field::new(name.as_str(), type_at(index).unwrap())).collect()
    }

    #[test]
    fn the_traced_fields_are_those_of_a_batch_written_from_values_of_the_type() {
        #[derive(Serialize, Deserialize)]
        struct Reading {
            station: String,
            temperature: f64,
        }
        #[derive(Serialize, Deserialize)]
        #[serde(rename_all = "kebab-case")]
        struct Summary {
            station_name: Option<String>,
            reading_count: u32,
            is_warm: bool,
            unit: Unit,
            #[serde(skip_serializing_if = "Option::is_none")]
            mean: Option<f64>,
        }
        let readings = [Reading { station: "oslo".into(), temperature: 1.5 }];
        assert_eq!(row_fields_of::<Reading>(), Some(written_fields(&readings)));
        let summaries = [
            Summary { station_name: None, reading_count: 3, is_warm: false, unit: Unit::Celsius, mean: None },
            Summary {
                station_name: Some("oslo".into()),
                reading_count: 1,
                is_warm: true,
                unit: Unit::Fahrenheit,
                mean: Some(2.5),
            },
        ];
        assert_eq!(row_fields_of::<Summary>(), Some(written_fields(&summaries)));
        let plain = [Plain::new(-1, Unit::Celsius, None), Plain::new(4, Unit::Fahrenheit, Some("n"))];
        assert_eq!(row_fields_of::<Plain>(), Some(written_fields(&plain)));
    }
}
