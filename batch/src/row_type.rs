//! Row types: the fields a step's rows carry and the type of each, as the planner checks them
//! before a job runs.
//!
//! Every operator may say, from its config and the [`RowType`] of its input, the row type it
//! outputs, or why it cannot take such rows ([`TypeMismatch`]). A parse operator has no input
//! type (it reads lines). The host walks a job's steps with these answers, so a field that does not
//! exist or has the wrong type is found before any task runs.

use std::fmt;

/// The type of a field's values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FieldType {
    /// UTF-8 text.
    String,
    /// A 64-bit signed integer.
    I64,
    /// A 64-bit float.
    F64,
    /// `true` or `false`.
    Bool,
    /// Not known before the rows are seen (any value, checked at run time).
    Any,
}

impl FieldType {
    /// Whether a value of this type may be where `wanted` is asked for: the same type, a number
    /// where a float is wanted, or `any` on either side.
    pub fn fits(self, wanted: FieldType) -> bool {
        self == wanted
            || self == FieldType::Any
            || wanted == FieldType::Any
            || (self == FieldType::I64 && wanted == FieldType::F64)
    }

    /// The type called `name` in a schema (`string`, `i64`, `f64`, `bool`, `any`).
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "string" => FieldType::String,
            "i64" => FieldType::I64,
            "f64" => FieldType::F64,
            "bool" => FieldType::Bool,
            "any" => FieldType::Any,
            _ => return None,
        })
    }
}

impl fmt::Display for FieldType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FieldType::String => "string",
            FieldType::I64 => "i64",
            FieldType::F64 => "f64",
            FieldType::Bool => "bool",
            FieldType::Any => "any",
        })
    }
}

/// A field of a row type.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Field {
    /// Its name.
    pub name: String,
    /// The type of its values.
    pub ty: FieldType,
}

impl Field {
    /// A field called `name` of type `ty`.
    pub fn new(name: impl Into<String>, ty: FieldType) -> Self {
        Self { name: name.into(), ty }
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.name, self.ty)
    }
}

/// The fields of a step's rows: the key fields (set by a key-by) and the value fields, in order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RowType {
    /// The fields of each row's key.
    pub key: Vec<Field>,
    /// The fields of each row's value.
    pub values: Vec<Field>,
}

impl RowType {
    /// Unkeyed rows of `values`.
    pub fn values(values: impl IntoIterator<Item = Field>) -> Self {
        Self { key: Vec::new(), values: values.into_iter().collect() }
    }

    /// The field called `name`: a value field, else a key field (a key-by keeps its key fields
    /// among the values too, so both say the same).
    pub fn field(&self, name: &str) -> Option<&Field> {
        self.values.iter().chain(&self.key).find(|field| field.name == name)
    }

    /// The field called `name`, or [`TypeMismatch::MissingField`].
    pub fn require(&self, name: &str) -> Result<&Field, TypeMismatch> {
        self.field(name).ok_or_else(|| TypeMismatch::MissingField { field: name.to_owned() })
    }

    /// The field called `name`, which must have a type that fits one of `expected`.
    pub fn require_typed(&self, name: &str, expected: &[FieldType]) -> Result<&Field, TypeMismatch> {
        let field = self.require(name)?;
        if expected.iter().any(|&wanted| field.ty.fits(wanted)) {
            Ok(field)
        } else {
            let expected: Vec<String> = expected.iter().map(FieldType::to_string).collect();
            Err(TypeMismatch::WrongType {
                field: name.to_owned(),
                expected: expected.join(" or "),
                found: field.ty,
            })
        }
    }

    /// Every field once: the key fields, then the value fields that do not repeat one.
    pub fn fields(&self) -> impl Iterator<Item = &Field> {
        let repeated = |field: &&Field| self.key.iter().any(|key| key.name == field.name);
        self.key.iter().chain(self.values.iter().filter(move |field| !repeated(field)))
    }
}

impl fmt::Display for RowType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let fields: Vec<String> = self.fields().map(Field::to_string).collect();
        f.write_str(&fields.join(", "))?;
        if !self.key.is_empty() {
            let key: Vec<&str> = self.key.iter().map(|field| field.name.as_str()).collect();
            write!(f, " (keyed by {})", key.join(", "))?;
        }
        Ok(())
    }
}

/// Why an operator cannot take rows of a type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TypeMismatch {
    /// It reads a field the rows do not have.
    MissingField {
        /// The field it reads.
        field: String,
    },
    /// A field it reads has a type it cannot take.
    WrongType {
        /// The field.
        field: String,
        /// What it takes, in words (`i64 or f64`).
        expected: String,
        /// The field's type.
        found: FieldType,
    },
    /// Any other reason, in words.
    Other {
        /// What is wrong.
        message: String,
    },
}

impl fmt::Display for TypeMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TypeMismatch::MissingField { field } => {
                write!(f, "it reads field `{field}`, which the rows do not have")
            }
            TypeMismatch::WrongType { field, expected, found } => {
                write!(f, "field `{field}` is {found}, but it takes {expected}")
            }
            TypeMismatch::Other { message } => f.write_str(message),
        }
    }
}

/// Conversions between these types and the ones a WIT bindings generator made of the `types`
/// interface of `wit/operator.wit` (the host's wasmtime bindings and the guest SDK's wit-bindgen
/// ones have the same shape): `flicker_batch::wit_row_type_conversions!(types);` with `types` the
/// generated module in scope.
#[macro_export]
macro_rules! wit_row_type_conversions {
    ($wit:ident) => {
        impl From<$wit::RowType> for $crate::RowType {
            fn from(rows: $wit::RowType) -> Self {
                let fields = |fields: Vec<$wit::Field>| fields.into_iter().map($crate::Field::from).collect();
                $crate::RowType { key: fields(rows.key), values: fields(rows.values) }
            }
        }

        impl From<$crate::RowType> for $wit::RowType {
            fn from(rows: $crate::RowType) -> Self {
                let fields = |fields: Vec<$crate::Field>| fields.into_iter().map($wit::Field::from).collect();
                $wit::RowType { key: fields(rows.key), values: fields(rows.values) }
            }
        }

        impl From<$wit::Field> for $crate::Field {
            fn from(field: $wit::Field) -> Self {
                $crate::Field { name: field.name, ty: field.type_.into() }
            }
        }

        impl From<$crate::Field> for $wit::Field {
            fn from(field: $crate::Field) -> Self {
                $wit::Field { name: field.name, type_: field.ty.into() }
            }
        }

        impl From<$wit::FieldType> for $crate::FieldType {
            fn from(ty: $wit::FieldType) -> Self {
                match ty {
                    $wit::FieldType::Text => $crate::FieldType::String,
                    $wit::FieldType::Integer => $crate::FieldType::I64,
                    $wit::FieldType::Float => $crate::FieldType::F64,
                    $wit::FieldType::Boolean => $crate::FieldType::Bool,
                    $wit::FieldType::Any => $crate::FieldType::Any,
                }
            }
        }

        impl From<$crate::FieldType> for $wit::FieldType {
            fn from(ty: $crate::FieldType) -> Self {
                match ty {
                    $crate::FieldType::String => $wit::FieldType::Text,
                    $crate::FieldType::I64 => $wit::FieldType::Integer,
                    $crate::FieldType::F64 => $wit::FieldType::Float,
                    $crate::FieldType::Bool => $wit::FieldType::Boolean,
                    $crate::FieldType::Any => $wit::FieldType::Any,
                }
            }
        }

        impl From<$wit::TypeMismatch> for $crate::TypeMismatch {
            fn from(mismatch: $wit::TypeMismatch) -> Self {
                match mismatch {
                    $wit::TypeMismatch::MissingField(field) => $crate::TypeMismatch::MissingField { field },
                    $wit::TypeMismatch::WrongType(wrong) => $crate::TypeMismatch::WrongType {
                        field: wrong.field,
                        expected: wrong.expected,
                        found: wrong.found.into(),
                    },
                    $wit::TypeMismatch::Other(message) => $crate::TypeMismatch::Other { message },
                }
            }
        }

        impl From<$crate::TypeMismatch> for $wit::TypeMismatch {
            fn from(mismatch: $crate::TypeMismatch) -> Self {
                match mismatch {
                    $crate::TypeMismatch::MissingField { field } => $wit::TypeMismatch::MissingField(field),
                    $crate::TypeMismatch::WrongType { field, expected, found } => {
                        $wit::TypeMismatch::WrongType($wit::WrongType {
                            field,
                            expected,
                            found: found.into(),
                        })
                    }
                    $crate::TypeMismatch::Other { message } => $wit::TypeMismatch::Other(message),
                }
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    fn readings() -> RowType {
        RowType {
            key: vec![Field::new("station", FieldType::String)],
            values: vec![Field::new("station", FieldType::String), Field::new("temperature", FieldType::F64)],
        }
    }

    #[test]
    fn fields_are_found_among_keys_and_values_once() {
        let rows = readings();
        assert_eq!(rows.require("temperature").unwrap().ty, FieldType::F64);
        assert_eq!(rows.require("temp"), Err(TypeMismatch::MissingField { field: "temp".into() }));
        let names: Vec<&str> = rows.fields().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["station", "temperature"]);
        assert_eq!(rows.to_string(), "station: string, temperature: f64 (keyed by station)");
    }

    #[test]
    fn types_fit_where_a_value_of_them_can_be_read() {
        let rows = RowType::values([Field::new("n", FieldType::I64), Field::new("s", FieldType::String)]);
        assert!(rows.require_typed("n", &[FieldType::F64]).is_ok(), "an integer reads as a float");
        assert!(rows.require_typed("n", &[FieldType::Any]).is_ok());
        let wrong = rows.require_typed("s", &[FieldType::I64, FieldType::F64]).unwrap_err();
        assert_eq!(wrong.to_string(), "field `s` is string, but it takes i64 or f64");
        assert!(!FieldType::F64.fits(FieldType::I64), "a float does not read as an integer");
        assert!(FieldType::Any.fits(FieldType::Bool));
        assert_eq!(FieldType::parse("f64"), Some(FieldType::F64));
        assert_eq!(FieldType::parse("float"), None);
    }
}
