//! `std:filter`: keeps the rows for which a simple predicate holds.
//!
//! Config: `predicate`, of the form `field op literal` where `op` is one of `>`, `>=`, `<`, `<=`,
//! `==`, `!=` and the literal a number, `true`/`false`, or a string in double quotes
//! (e.g. `temperature > 0`, `station == "Oslo"`). A null field never matches.

use crate::locate;
use flicker_guest::{
    BatchReader, BatchWriter, Config, Error, FieldType, Map, RowType, TypeMismatch, Value, ValueRef,
};
use std::cmp::Ordering;

/// The `std:filter` operator.
pub struct Filter {
    field: String,
    op: Op,
    literal: Value,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Gt,
    Ge,
    Lt,
    Le,
    Eq,
    Ne,
}

impl Op {
    fn holds(self, ordering: Ordering) -> bool {
        match self {
            Op::Gt => ordering.is_gt(),
            Op::Ge => ordering.is_ge(),
            Op::Lt => ordering.is_lt(),
            Op::Le => ordering.is_le(),
            Op::Eq => ordering.is_eq(),
            Op::Ne => ordering.is_ne(),
        }
    }
}

fn parse_predicate(text: &str) -> Result<(String, Op, Value), Error> {
    let ops = [(">=", Op::Ge), ("<=", Op::Le), ("==", Op::Eq), ("!=", Op::Ne), (">", Op::Gt), ("<", Op::Lt)];
    let (at, symbol, op) = ops
        .iter()
        .filter_map(|&(symbol, op)| text.find(symbol).map(|at| (at, symbol, op)))
        .min_by_key(|&(at, symbol, _)| (at, std::cmp::Reverse(symbol.len())))
        .ok_or_else(|| {
            Error::config(format!("predicate {text:?} has no comparison (>, >=, <, <=, ==, !=)"))
        })?;
    let field = text[..at].trim();
    let literal = text[at + symbol.len()..].trim();
    if field.is_empty() || literal.is_empty() {
        return Err(Error::config(format!("predicate {text:?} must look like `field > 0`")));
    }
    let value = if let Some(s) = literal.strip_prefix('"').and_then(|l| l.strip_suffix('"')) {
        Value::Str(s.to_owned())
    } else if let Ok(i) = literal.parse::<i64>() {
        Value::I64(i)
    } else if let Ok(f) = literal.parse::<f64>() {
        Value::F64(f)
    } else if let Ok(b) = literal.parse::<bool>() {
        Value::Bool(b)
    } else {
        return Err(Error::config(format!(
            "predicate literal {literal:?} is not a number, true/false or a \"quoted string\""
        )));
    };
    Ok((field.to_owned(), op, value))
}

fn compare(value: ValueRef<'_>, literal: &Value) -> Option<Ordering> {
    match (value, literal) {
        (ValueRef::Str(a), Value::Str(b)) => Some(a.cmp(b.as_str())),
        (ValueRef::Bool(a), Value::Bool(b)) => Some(a.cmp(b)),
        (ValueRef::I64(a), Value::I64(b)) => Some(a.cmp(b)),
        (a, b) => a.as_f64()?.partial_cmp(&b.as_ref().as_f64()?),
    }
}

impl Map for Filter {
    fn new(config: &Config) -> Result<Self, Error> {
        config.allow_only(&["predicate"])?;
        let (field, op, literal) = parse_predicate(config.require("predicate")?)?;
        Ok(Self { field, op, literal })
    }

    fn map(&mut self, input: &[u8]) -> Result<Vec<u8>, Error> {
        let batch = BatchReader::new(input)?;
        let position = locate(batch.schema(), &self.field)?;
        let mut out = BatchWriter::with_header(batch.header_bytes());
        for (index, row) in batch.rows().enumerate() {
            let row = row?;
            let value = position.get(&row, index)?;
            if value != ValueRef::Null && compare(value, &self.literal).is_none() {
                return Err(Error::bad_record(
                    index,
                    format!(
                        "field `{}` is {} and cannot be compared with {:?}",
                        self.field,
                        value.type_name(),
                        self.literal
                    ),
                ));
            }
            if compare(value, &self.literal).is_some_and(|o| self.op.holds(o)) {
                out.push_raw(row.key, row.value);
            }
        }
        Ok(out.finish())
    }

    /// The input's rows, some of them: the field must exist and compare with the literal.
    fn output_type(&self, input: &RowType) -> Result<Option<RowType>, TypeMismatch> {
        let comparable: &[FieldType] = match self.literal {
            Value::Str(_) => &[FieldType::String],
            Value::Bool(_) => &[FieldType::Bool],
            _ => &[FieldType::I64, FieldType::F64],
        };
        input.require_typed(&self.field, comparable)?;
        Ok(Some(input.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_predicates() {
        assert_eq!(
            parse_predicate("temperature > 0").unwrap(),
            ("temperature".into(), Op::Gt, Value::I64(0))
        );
        assert_eq!(parse_predicate("t>=-1.5").unwrap(), ("t".into(), Op::Ge, Value::F64(-1.5)));
        assert_eq!(parse_predicate("s == \"a b\"").unwrap(), ("s".into(), Op::Eq, Value::Str("a b".into())));
        assert!(parse_predicate("temperature").is_err());
        assert!(parse_predicate("t > abc").is_err());
    }

    #[test]
    fn compares_ints_with_floats() {
        assert_eq!(compare(ValueRef::F64(0.5), &Value::I64(0)), Some(Ordering::Greater));
        assert_eq!(compare(ValueRef::Str("x"), &Value::I64(0)), None);
    }
}
