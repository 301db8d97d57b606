//! Typed field values, borrowed ([`ValueRef`]) and owned ([`Value`]).

use std::fmt;

/// Tag byte of a null value.
pub(crate) const TAG_NULL: u8 = 0;
/// Tag byte of `false`.
pub(crate) const TAG_FALSE: u8 = 1;
/// Tag byte of `true`.
pub(crate) const TAG_TRUE: u8 = 2;
/// Tag byte of a 64-bit integer.
pub(crate) const TAG_I64: u8 = 3;
/// Tag byte of a 64-bit float.
pub(crate) const TAG_F64: u8 = 4;
/// Tag byte of a string.
pub(crate) const TAG_STR: u8 = 5;

/// A field value borrowed from a batch.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ValueRef<'a> {
    /// No value.
    Null,
    /// A boolean.
    Bool(bool),
    /// A 64-bit signed integer.
    I64(i64),
    /// A 64-bit float.
    F64(f64),
    /// A UTF-8 string.
    Str(&'a str),
}

/// An owned field value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// No value.
    Null,
    /// A boolean.
    Bool(bool),
    /// A 64-bit signed integer.
    I64(i64),
    /// A 64-bit float.
    F64(f64),
    /// A UTF-8 string.
    Str(String),
}

impl ValueRef<'_> {
    /// Copies the value out of the batch.
    pub fn to_owned(self) -> Value {
        match self {
            ValueRef::Null => Value::Null,
            ValueRef::Bool(b) => Value::Bool(b),
            ValueRef::I64(i) => Value::I64(i),
            ValueRef::F64(f) => Value::F64(f),
            ValueRef::Str(s) => Value::Str(s.to_owned()),
        }
    }

    /// The value as a float, if it is a number.
    pub fn as_f64(self) -> Option<f64> {
        match self {
            ValueRef::I64(i) => Some(i as f64),
            ValueRef::F64(f) => Some(f),
            _ => None,
        }
    }

    /// The name of the value's type, for error messages.
    pub fn type_name(self) -> &'static str {
        match self {
            ValueRef::Null => "null",
            ValueRef::Bool(_) => "bool",
            ValueRef::I64(_) => "i64",
            ValueRef::F64(_) => "f64",
            ValueRef::Str(_) => "string",
        }
    }
}

impl Value {
    /// Borrows the value.
    pub fn as_ref(&self) -> ValueRef<'_> {
        match self {
            Value::Null => ValueRef::Null,
            Value::Bool(b) => ValueRef::Bool(*b),
            Value::I64(i) => ValueRef::I64(*i),
            Value::F64(f) => ValueRef::F64(*f),
            Value::Str(s) => ValueRef::Str(s),
        }
    }
}

impl fmt::Display for ValueRef<'_> {
    /// Plain text: strings unquoted, null as the empty string, floats in their shortest form.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ValueRef::Null => Ok(()),
            ValueRef::Bool(b) => write!(f, "{b}"),
            ValueRef::I64(i) => write!(f, "{i}"),
            ValueRef::F64(x) => write!(f, "{x}"),
            ValueRef::Str(s) => f.write_str(s),
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.as_ref().fmt(f)
    }
}
