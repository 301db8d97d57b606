//! Sort orders: the spec a user writes (`count:desc,station`), and the same bound to the fields
//! of a batch's schema.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use super::sort_key::encode_sort_value;
use super::{SortKey, compare_values};
use crate::{FrameError, RawRow, Schema, ValueRef};

/// Which way a field sorts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Direction {
    /// Smallest first; nulls first.
    #[default]
    Asc,
    /// Largest first; nulls last.
    Desc,
}

impl Direction {
    /// The order of two values sorted this way, from their ascending order.
    fn orient(self, ascending: Ordering) -> Ordering {
        match self {
            Direction::Asc => ascending,
            Direction::Desc => ascending.reverse(),
        }
    }
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Direction::Asc => "asc",
            Direction::Desc => "desc",
        })
    }
}

/// One field of a sort order.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SortField {
    /// The field's name.
    pub name: String,
    /// Which way it sorts.
    pub direction: Direction,
}

/// The fields rows sort by, most significant first, as written in a spec like
/// `count:desc,station`: field names separated by commas, each with an optional `:asc` (the
/// default) or `:desc`.
///
/// Whitespace around names and directions is ignored and directions may be in any case. A name
/// that itself contains `:` is written with its direction (`a:b:asc`); names cannot contain `,`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SortOrder {
    fields: Vec<SortField>,
}

/// A sort order that cannot be parsed, or does not fit a schema.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OrderError {
    /// The order names no field.
    #[error("the sort order is empty: name the fields to sort by, as in `count:desc,station`")]
    Empty,
    /// An entry between commas names no field.
    #[error(
        "entry {position} of the sort order names no field: write `field` or `field:desc` between commas"
    )]
    EmptyField {
        /// The entry's position, from 1.
        position: usize,
    },
    /// A field's direction is neither `asc` nor `desc`.
    #[error("unknown direction `{direction}` for field `{field}`: write `{field}:asc` or `{field}:desc`")]
    UnknownDirection {
        /// The field.
        field: String,
        /// What was written after its `:`.
        direction: String,
    },
    /// A field is named twice.
    #[error("field `{field}` appears twice in the sort order: name each field once")]
    DuplicateField {
        /// The field.
        field: String,
    },
    /// A field is not in the schema of the rows to sort.
    #[error("no field `{field}` to sort by in the input rows (fields: {})", known.join(", "))]
    UnknownField {
        /// The field.
        field: String,
        /// The rows' fields: key fields, then value fields.
        known: Vec<String>,
    },
}

impl SortOrder {
    /// An order on `fields`, most significant first; there must be at least one, each named once.
    pub fn new(fields: Vec<SortField>) -> Result<Self, OrderError> {
        if fields.is_empty() {
            return Err(OrderError::Empty);
        }
        for (i, field) in fields.iter().enumerate() {
            if fields[..i].iter().any(|earlier| earlier.name == field.name) {
                return Err(OrderError::DuplicateField { field: field.name.clone() });
            }
        }
        Ok(Self { fields })
    }

    /// Parses a spec like `count:desc,station`.
    pub fn parse(spec: &str) -> Result<Self, OrderError> {
        if spec.trim().is_empty() {
            return Err(OrderError::Empty);
        }
        let fields = spec.split(',').enumerate().map(|(i, entry)| {
            let entry = entry.trim();
            let (name, direction) = match entry.rsplit_once(':') {
                None => (entry, Direction::Asc),
                Some((name, direction)) => {
                    let direction = direction.trim();
                    let name = name.trim();
                    match direction {
                        _ if direction.eq_ignore_ascii_case("asc") => (name, Direction::Asc),
                        _ if direction.eq_ignore_ascii_case("desc") => (name, Direction::Desc),
                        _ => {
                            return Err(OrderError::UnknownDirection {
                                field: name.to_owned(),
                                direction: direction.to_owned(),
                            });
                        }
                    }
                }
            };
            if name.is_empty() {
                return Err(OrderError::EmptyField { position: i + 1 });
            }
            Ok(SortField { name: name.to_owned(), direction })
        });
        Self::new(fields.collect::<Result<_, _>>()?)
    }

    /// The fields, most significant first.
    pub fn fields(&self) -> &[SortField] {
        &self.fields
    }

    /// Finds each field in `schema`: among the value fields, else among the key fields (as the
    /// operators that read fields by name do).
    pub fn bind(&self, schema: &Schema) -> Result<BoundOrder, OrderError> {
        let fields = self.fields.iter().map(|field| {
            let at = schema
                .value_index(&field.name)
                .map(FieldAt::Value)
                .or_else(|| schema.key_index(&field.name).map(FieldAt::Key))
                .ok_or_else(|| OrderError::UnknownField {
                    field: field.name.clone(),
                    known: schema.key_fields.iter().chain(&schema.value_fields).cloned().collect(),
                })?;
            Ok(BoundField { at, direction: field.direction })
        });
        Ok(BoundOrder { fields: fields.collect::<Result<_, _>>()? })
    }
}

impl FromStr for SortOrder {
    type Err = OrderError;

    fn from_str(spec: &str) -> Result<Self, Self::Err> {
        Self::parse(spec)
    }
}

impl fmt::Display for SortOrder {
    /// The spec, in the shortest form that parses back to this order (`count:desc,station`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, field) in self.fields.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            f.write_str(&field.name)?;
            if field.direction == Direction::Desc || field.name.contains(':') {
                write!(f, ":{}", field.direction)?;
            }
        }
        Ok(())
    }
}

/// A [`SortOrder`] bound to a schema: each field found by position in the rows' key or value.
///
/// It orders rows of batches with that schema. Rows whose sort fields are all equal are equal:
/// there is no hidden tie-breaker. Ties keep their order instead, where there is one to keep:
/// [`sort_batch`](super::sort_batch) is stable, [`range_partition`](super::range_partition) keeps
/// each part's rows in batch order and sends equal rows to the same part, and
/// [`merge_sorted`](super::merge_sorted) takes equal rows from earlier runs first.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BoundOrder {
    fields: Vec<BoundField>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct BoundField {
    at: FieldAt,
    direction: Direction,
}

/// Where a field is in a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum FieldAt {
    /// Index among the key values.
    Key(usize),
    /// Index among the field values.
    Value(usize),
}

impl BoundField {
    /// The field's value in `row`, or what is wrong with the row.
    fn value<'a>(&self, row: &RawRow<'a>) -> Result<ValueRef<'a>, &'static str> {
        let (found, missing) = match self.at {
            FieldAt::Key(i) => {
                (row.key_values().nth(i), "a row has fewer key values than the sort order reads")
            }
            FieldAt::Value(i) => (row.value(i), "a row has fewer values than the sort order reads"),
        };
        match found {
            Some(Ok(value)) => Ok(value),
            Some(Err(error)) => Err(error.problem),
            None => Err(missing),
        }
    }
}

impl BoundOrder {
    /// Compares two rows of batches with the schema this order was bound to.
    ///
    /// Meant for rows that [`BatchReader::check`](crate::BatchReader::check) accepts; in others a
    /// sort field that is missing or malformed compares as null (where
    /// [`sort_key`](Self::sort_key) reports it).
    pub fn compare(&self, a: &RawRow<'_>, b: &RawRow<'_>) -> Ordering {
        self.fields
            .iter()
            .map(|field| {
                let value = |row| field.value(row).unwrap_or(ValueRef::Null);
                field.direction.orient(compare_values(value(a), value(b)))
            })
            .find(|ordering| ordering.is_ne())
            .unwrap_or(Ordering::Equal)
    }

    /// The sort key of `row`: its sort fields, owned, in a form that compares as
    /// [`compare`](Self::compare) does. The error's offset counts from the row's start.
    pub fn sort_key(&self, row: &RawRow<'_>) -> Result<SortKey, FrameError> {
        let mut key = Vec::new();
        self.encode_key(row, &mut key).map_err(|problem| FrameError { offset: 0, problem })?;
        Ok(SortKey::from_encoded(&key))
    }

    /// Appends the encoded sort key of `row` to `out`; or says what is wrong with the row.
    pub(crate) fn encode_key(&self, row: &RawRow<'_>, out: &mut Vec<u8>) -> Result<(), &'static str> {
        for field in &self.fields {
            encode_sort_value(out, field.value(row)?, field.direction);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{BatchReader, BatchWriter};

    #[test]
    fn a_spec_names_fields_with_optional_directions() {
        let order = SortOrder::parse(" count : DESC , station,when:asc ").unwrap();
        let fields: Vec<(&str, Direction)> =
            order.fields().iter().map(|field| (field.name.as_str(), field.direction)).collect();
        assert_eq!(
            fields,
            [("count", Direction::Desc), ("station", Direction::Asc), ("when", Direction::Asc)]
        );
        assert_eq!(order.to_string(), "count:desc,station,when");
        assert_eq!(order.to_string().parse::<SortOrder>(), Ok(order));
        let colon = SortOrder::parse("a:b:asc").unwrap();
        assert_eq!(colon.fields()[0].name, "a:b");
        assert_eq!(colon.to_string().parse::<SortOrder>(), Ok(colon));
    }

    #[test]
    fn malformed_specs_are_refused() {
        assert_eq!(SortOrder::parse(""), Err(OrderError::Empty));
        assert_eq!(SortOrder::parse("  "), Err(OrderError::Empty));
        assert_eq!(SortOrder::new(Vec::new()), Err(OrderError::Empty));
        assert_eq!(SortOrder::parse("a,,b"), Err(OrderError::EmptyField { position: 2 }));
        assert_eq!(SortOrder::parse("a,"), Err(OrderError::EmptyField { position: 2 }));
        assert_eq!(SortOrder::parse(":desc"), Err(OrderError::EmptyField { position: 1 }));
        assert!(matches!(
            SortOrder::parse("count:up"),
            Err(OrderError::UnknownDirection { field, direction }) if field == "count" && direction == "up"
        ));
        assert!(matches!(
            SortOrder::parse("a,b,a:desc"),
            Err(OrderError::DuplicateField { field }) if field == "a"
        ));
    }

    #[test]
    fn binding_to_a_schema_names_a_missing_field_and_the_known_ones() {
        let schema = Schema::keyed(["station"], ["count", "when"]);
        let error = SortOrder::parse("count,where").unwrap().bind(&schema).unwrap_err();
        assert_eq!(
            error,
            OrderError::UnknownField {
                field: "where".into(),
                known: vec!["station".into(), "count".into(), "when".into()],
            }
        );
        assert_eq!(
            error.to_string(),
            "no field `where` to sort by in the input rows (fields: station, count, when)"
        );
    }

    #[test]
    fn a_field_among_both_the_key_and_the_values_is_read_from_the_values() {
        let schema = Schema::keyed(["x"], ["x"]);
        let mut writer = BatchWriter::new(&schema);
        writer.push_values([ValueRef::I64(1)], [ValueRef::I64(20)]);
        writer.push_values([ValueRef::I64(2)], [ValueRef::I64(10)]);
        let batch = writer.finish();
        let rows: Vec<RawRow<'_>> = BatchReader::new(&batch).unwrap().rows().map(Result::unwrap).collect();
        let order = SortOrder::parse("x").unwrap().bind(&schema).unwrap();
        assert_eq!(order.compare(&rows[0], &rows[1]), Ordering::Greater, "20 against 10");
    }

    #[test]
    fn fields_compare_in_turn_each_its_own_way_with_nulls_first_ascending_last_descending() {
        let schema = Schema::values(["group", "n"]);
        let mut writer = BatchWriter::new(&schema);
        for (group, n) in [(1, Some(5)), (1, None), (0, Some(7)), (1, Some(9))] {
            writer.push_values([], [ValueRef::I64(group), n.map_or(ValueRef::Null, ValueRef::I64)]);
        }
        let batch = writer.finish();
        let rows: Vec<RawRow<'_>> = BatchReader::new(&batch).unwrap().rows().map(Result::unwrap).collect();
        let sorted = |spec: &str| {
            let order = SortOrder::parse(spec).unwrap().bind(&schema).unwrap();
            let mut indices: Vec<usize> = (0..rows.len()).collect();
            indices.sort_by(|&a, &b| order.compare(&rows[a], &rows[b]));
            let keys: Vec<SortKey> = indices.iter().map(|&i| order.sort_key(&rows[i]).unwrap()).collect();
            assert!(keys.is_sorted(), "the keys of {spec} sort as the rows do");
            indices
        };
        assert_eq!(sorted("group,n"), [2, 1, 0, 3]);
        assert_eq!(sorted("group,n:desc"), [2, 3, 0, 1]);
        assert_eq!(sorted("group:desc,n"), [1, 0, 3, 2]);
    }

    #[test]
    fn a_row_without_the_sort_field_has_no_key_and_compares_as_null() {
        let batch = BatchWriter::new(&Schema::values(["a", "b"])).finish();
        let header = BatchReader::new(&batch).unwrap().header_bytes().to_vec();
        let mut short = BatchWriter::with_header(&header);
        short.push_values([], [ValueRef::I64(1)]);
        short.push_values([], [ValueRef::I64(1), ValueRef::Null]);
        let short = short.finish();
        let rows: Vec<RawRow<'_>> = BatchReader::new(&short).unwrap().rows().map(Result::unwrap).collect();
        let order = SortOrder::parse("b").unwrap().bind(&Schema::values(["a", "b"])).unwrap();
        let error = order.sort_key(&rows[0]).unwrap_err();
        assert_eq!(error.problem, "a row has fewer values than the sort order reads");
        assert_eq!(order.compare(&rows[0], &rows[1]), Ordering::Equal);
    }
}
