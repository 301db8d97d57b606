//! A dynamic row: named, typed values in field order, for operators that do not know their
//! schema at compile time.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, Unexpected, Visitor};
use serde::ser::{Serialize, SerializeMap, Serializer};

use crate::Value;

/// A row of named values, kept in field order.
///
/// Lookups are linear, which is the fast choice for the handful of fields a row usually has.
/// As a serde type a row is a map from field name to [`Value`], so [`from_row`](crate::from_row)
/// reads any batch row into it and [`to_row_values`](crate::to_row_values) writes it back.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Row {
    fields: Vec<(String, Value)>,
}

impl Row {
    /// An empty row.
    pub fn new() -> Self {
        Self::default()
    }

    /// The value of the field called `name`.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.fields.iter().find(|(field, _)| field == name).map(|(_, value)| value)
    }

    /// The field called `name` as a float, if it is a number (integers are converted).
    pub fn get_f64(&self, name: &str) -> Option<f64> {
        self.get(name)?.as_ref().as_f64()
    }

    /// The field called `name`, if it is an integer.
    pub fn get_i64(&self, name: &str) -> Option<i64> {
        match self.get(name)? {
            Value::I64(i) => Some(*i),
            _ => None,
        }
    }

    /// The field called `name`, if it is a string.
    pub fn get_str(&self, name: &str) -> Option<&str> {
        match self.get(name)? {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The field called `name`, if it is a boolean.
    pub fn get_bool(&self, name: &str) -> Option<bool> {
        match self.get(name)? {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// Sets the field called `name`: in place if the row has it, else as a new last field.
    pub fn set(&mut self, name: impl Into<String>, value: impl Into<Value>) {
        let (name, value) = (name.into(), value.into());
        match self.fields.iter_mut().find(|(field, _)| *field == name) {
            Some((_, slot)) => *slot = value,
            None => self.fields.push((name, value)),
        }
    }

    /// Removes the field called `name`, keeping the order of the others, and returns its value.
    pub fn remove(&mut self, name: &str) -> Option<Value> {
        let at = self.fields.iter().position(|(field, _)| field == name)?;
        Some(self.fields.remove(at).1)
    }

    /// The fields and their values, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.fields.iter().map(|(name, value)| (name.as_str(), value))
    }

    /// Number of fields.
    pub fn len(&self) -> usize {
        self.fields.len()
    }

    /// Whether the row has no fields.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }
}

impl From<f64> for Value {
    fn from(f: f64) -> Self {
        Value::F64(f)
    }
}

impl From<i64> for Value {
    fn from(i: i64) -> Self {
        Value::I64(i)
    }
}

impl From<i32> for Value {
    fn from(i: i32) -> Self {
        Value::I64(i.into())
    }
}

impl From<u32> for Value {
    fn from(i: u32) -> Self {
        Value::I64(i.into())
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::Str(s)
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::Str(s.to_owned())
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    /// `None` is [`Value::Null`].
    fn from(value: Option<T>) -> Self {
        value.map_or(Value::Null, Into::into)
    }
}

impl Serialize for Value {
    /// Null as `none`, the others as the serde type of the same name.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::Null => serializer.serialize_none(),
            Value::Bool(b) => serializer.serialize_bool(*b),
            Value::I64(i) => serializer.serialize_i64(*i),
            Value::F64(f) => serializer.serialize_f64(*f),
            Value::Str(s) => serializer.serialize_str(s),
        }
    }
}

impl<'de> Deserialize<'de> for Value {
    /// Accepts unit and none (as null), booleans, integers that fit in an `i64`, floats and
    /// strings.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ValueVisitor)
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("null, a boolean, an integer, a float or a string")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        Value::deserialize(deserializer)
    }

    fn visit_bool<E: de::Error>(self, b: bool) -> Result<Value, E> {
        Ok(Value::Bool(b))
    }

    fn visit_i64<E: de::Error>(self, i: i64) -> Result<Value, E> {
        Ok(Value::I64(i))
    }

    fn visit_u64<E: de::Error>(self, u: u64) -> Result<Value, E> {
        i64::try_from(u)
            .map(Value::I64)
            .map_err(|_| E::invalid_value(Unexpected::Unsigned(u), &"an integer that fits in i64"))
    }

    fn visit_f64<E: de::Error>(self, f: f64) -> Result<Value, E> {
        Ok(Value::F64(f))
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<Value, E> {
        Ok(Value::Str(s.to_owned()))
    }

    fn visit_string<E: de::Error>(self, s: String) -> Result<Value, E> {
        Ok(Value::Str(s))
    }
}

impl Serialize for Row {
    /// A map from field name to value, in field order.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.fields.len()))?;
        for (name, value) in &self.fields {
            map.serialize_entry(name, value)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Row {
    /// Reads a map from field name to value; a repeated name keeps its first position and its
    /// last value.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(RowVisitor)
    }
}

struct RowVisitor;

impl<'de> Visitor<'de> for RowVisitor {
    type Value = Row;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a map from field names to values")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Row, A::Error> {
        // The hint comes from the input, so it only sizes a first allocation of bounded size.
        let mut row = Row { fields: Vec::with_capacity(map.size_hint().unwrap_or(0).min(64)) };
        while let Some((name, value)) = map.next_entry::<String, Value>()? {
            row.set(name, value);
        }
        Ok(row)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RowError;
    use serde::de::IntoDeserializer;

    #[test]
    fn set_replaces_in_place_and_appends_new_fields() {
        let mut row = Row::new();
        assert!(row.is_empty());
        row.set("station", "oslo");
        row.set("temperature", 3);
        row.set("station", String::from("bergen"));
        let fields: Vec<_> = row.iter().collect();
        assert_eq!(fields, [("station", &Value::from("bergen")), ("temperature", &Value::I64(3))]);
        assert_eq!(row.len(), 2);
    }

    #[test]
    fn typed_getters_convert_only_integers_to_floats() {
        let mut row = Row::new();
        row.set("i", 7i64);
        row.set("f", 1.5);
        row.set("s", "x");
        row.set("b", true);
        row.set("u", 4u32);
        row.set("n", None::<i32>);
        assert_eq!(row.get_f64("i"), Some(7.0));
        assert_eq!(row.get_f64("f"), Some(1.5));
        assert_eq!(row.get_i64("f"), None);
        assert_eq!(row.get_i64("u"), Some(4));
        assert_eq!(row.get_str("s"), Some("x"));
        assert_eq!(row.get_str("i"), None);
        assert_eq!(row.get_bool("b"), Some(true));
        assert_eq!(row.get("n"), Some(&Value::Null));
        assert_eq!(row.get_f64("missing"), None);
    }

    #[test]
    fn remove_keeps_the_order_of_the_other_fields() {
        let mut row = Row::new();
        row.set("a", 1);
        row.set("b", 2);
        row.set("c", Some(3));
        assert_eq!(row.remove("b"), Some(Value::I64(2)));
        assert_eq!(row.remove("b"), None);
        assert_eq!(row.iter().map(|(name, _)| name).collect::<Vec<_>>(), ["a", "c"]);
    }

    fn value_from<'de>(input: impl IntoDeserializer<'de, RowError>) -> Result<Value, RowError> {
        Value::deserialize(input.into_deserializer())
    }

    #[test]
    fn value_deserializes_from_plain_serde_types() {
        assert_eq!(value_from(()), Ok(Value::Null));
        assert_eq!(value_from(true), Ok(Value::Bool(true)));
        assert_eq!(value_from(-3i8), Ok(Value::I64(-3)));
        assert_eq!(value_from(42u64), Ok(Value::I64(42)));
        assert_eq!(value_from(2.5f32), Ok(Value::F64(2.5)));
        assert_eq!(value_from("hi"), Ok(Value::from("hi")));
        let err = value_from(u64::MAX).unwrap_err();
        assert_eq!(
            err.message(),
            "expected an integer that fits in i64, found integer `18446744073709551615`"
        );
    }
}
