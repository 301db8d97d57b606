//! Typed operators: work on rows as serde types (or the dynamic [`Row`](crate::Row)) and let the
//! SDK handle batches, keys and partial state.

use crate::group::GroupTable;
use crate::operator::{Aggregate, Map};
use crate::{Config, Error};
use flicker_batch::{BatchReader, BatchWriter, Schema, from_row, to_row_values};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// How a typed operator is built from the step's config.
///
/// Every `Default` type has it: built with `default()`, it accepts no config keys. An operator that
/// reads config implements it instead (and is not `Default`).
pub trait FromConfig: Sized {
    /// Builds the operator; reject bad config with [`Error::InvalidConfig`].
    fn from_config(config: &Config) -> Result<Self, Error>;
}

impl<T: Default> FromConfig for T {
    fn from_config(config: &Config) -> Result<Self, Error> {
        config.allow_only(&[])?;
        Ok(T::default())
    }
}

/// A row-at-a-time map: return no row to filter, one to map, several to flat-map.
///
/// The key of the input row (set by a key-by step) is kept on every output row.
pub trait RowMap: FromConfig + 'static {
    /// The input row type (a serde type, or [`Row`](crate::Row)).
    type In: DeserializeOwned;
    /// The output row type (a struct or map of plain values).
    type Out: Serialize;
    /// Maps one row to zero or more rows.
    fn map(&mut self, row: Self::In) -> Result<impl IntoIterator<Item = Self::Out>, Error>;
}

/// A keyed aggregate over typed rows: the SDK keeps one `State` per key and ships it across the
/// shuffle as a row, so `merge` must be associative.
pub trait RowAggregate: FromConfig + 'static {
    /// The input row type.
    type In: DeserializeOwned;
    /// The partial state per key (a struct of plain values).
    type State: Default + Serialize + DeserializeOwned;
    /// The final value per key (a struct of plain values).
    type Out: Serialize;
    /// Folds one row into the state of its key.
    fn update(&mut self, state: &mut Self::State, row: Self::In) -> Result<(), Error>;
    /// Folds another partial state of the same key into `state`.
    fn merge(&mut self, state: &mut Self::State, other: Self::State);
    /// The final value of a key.
    fn finish(&mut self, state: Self::State) -> Self::Out;
}

/// A reduce by key (Spark's `reduceByKey`): rows of one type combined pairwise per key, so
/// `reduce` must be associative. The output rows have the same type.
pub trait RowReduce: FromConfig + 'static {
    /// The row type, in and out.
    type Row: Serialize + DeserializeOwned;
    /// Combines two rows of the same key into one.
    fn reduce(&mut self, a: Self::Row, b: Self::Row) -> Result<Self::Row, Error>;
}

/// Builds an output batch from rows whose value field names are only known once the first row is
/// serialized.
struct TypedBatch {
    key_fields: Vec<String>,
    names: Vec<String>,
    rows: BatchWriter,
    value: Vec<u8>,
}

impl TypedBatch {
    fn new(key_fields: &[String]) -> Self {
        Self {
            key_fields: key_fields.to_vec(),
            names: Vec::new(),
            rows: BatchWriter::new(&Schema::default()),
            value: Vec::new(),
        }
    }

    fn push<T: Serialize>(&mut self, key: &[u8], row: &T) -> Result<(), Error> {
        self.value.clear();
        to_row_values(row, &mut self.names, &mut self.value)?;
        self.rows.push_raw(key, &self.value);
        Ok(())
    }

    fn finish(self) -> Vec<u8> {
        let schema = Schema { key_fields: self.key_fields, value_fields: self.names };
        let mut batch = BatchWriter::with_capacity(&schema, self.rows.row_bytes());
        batch.extend_framed(self.rows.framed_rows());
        batch.finish()
    }
}

/// Which fields of a keyed row a typed value is read from.
enum Fields {
    /// The key fields and the value fields (an input row).
    All,
    /// Only the value fields (a partial state, whose key is the group's).
    Values,
}

/// Reads every row of a keyed batch as a `V` and hands it to `each` with the row's key bytes,
/// after noting the batch's key fields in `table`.
fn for_each_keyed<S, V: DeserializeOwned>(
    table: &mut GroupTable<S>,
    batch: &[u8],
    fields: Fields,
    mut each: impl FnMut(&mut GroupTable<S>, &[u8], V) -> Result<(), Error>,
) -> Result<(), Error> {
    let batch = BatchReader::new(batch)?;
    table.observe(batch.schema());
    let values_only = match fields {
        Fields::All => None,
        Fields::Values => {
            Some(Schema { key_fields: Vec::new(), value_fields: batch.schema().value_fields.clone() })
        }
    };
    for row in batch.rows() {
        let row = row?;
        let value = match &values_only {
            None => from_row(batch.schema(), &row)?,
            Some(schema) => from_row(schema, &flicker_batch::RawRow { key: &[], ..row })?,
        };
        each(table, row.key, value)?;
    }
    Ok(())
}

/// Runs a [`RowMap`] as a [`Map`].
pub struct RowMapOp<T>(T);

impl<T: RowMap> Map for RowMapOp<T> {
    fn new(config: &Config) -> Result<Self, Error> {
        T::from_config(config).map(Self)
    }

    fn map(&mut self, input: &[u8]) -> Result<Vec<u8>, Error> {
        let batch = BatchReader::new(input)?;
        let mut out = TypedBatch::new(&batch.schema().key_fields);
        for row in batch.rows() {
            let row = row?;
            for mapped in self.0.map(from_row(batch.schema(), &row)?)? {
                out.push(row.key, &mapped)?;
            }
        }
        Ok(out.finish())
    }
}

/// Runs a [`RowAggregate`] as an [`Aggregate`].
pub struct RowAggregateOp<T: RowAggregate> {
    op: T,
    table: GroupTable<T::State>,
}

impl<T: RowAggregate> RowAggregateOp<T> {
    fn emit<R: Serialize>(&mut self, mut each: impl FnMut(&mut T, T::State) -> R) -> Result<Vec<u8>, Error> {
        let mut out = TypedBatch::new(self.table.key_fields());
        for (key, state) in self.table.drain() {
            out.push(&key, &each(&mut self.op, state))?;
        }
        Ok(out.finish())
    }
}

impl<T: RowAggregate> Aggregate for RowAggregateOp<T> {
    fn new(config: &Config) -> Result<Self, Error> {
        Ok(Self { op: T::from_config(config)?, table: GroupTable::default() })
    }

    fn update(&mut self, input: &[u8]) -> Result<(), Error> {
        let op = &mut self.op;
        for_each_keyed(&mut self.table, input, Fields::All, |table, key, value| {
            op.update(table.state(key, T::State::default), value)
        })
    }

    fn partials(&mut self) -> Result<Vec<u8>, Error> {
        self.emit(|_, state| state)
    }

    fn merge(&mut self, partials: &[u8]) -> Result<(), Error> {
        let op = &mut self.op;
        for_each_keyed(&mut self.table, partials, Fields::Values, |table, key, other| {
            op.merge(table.state(key, T::State::default), other);
            Ok(())
        })
    }

    fn finish(&mut self) -> Result<Vec<u8>, Error> {
        self.emit(|op, state| op.finish(state))
    }

    fn state_bytes(&self) -> u64 {
        self.table.state_bytes()
    }
}

/// Runs a [`RowReduce`] as an [`Aggregate`]: the state of a key is its reduced row so far, and
/// partials are such rows.
pub struct RowReduceOp<T: RowReduce> {
    op: T,
    table: GroupTable<Option<T::Row>>,
}

impl<T: RowReduce> RowReduceOp<T> {
    fn fold(&mut self, batch: &[u8]) -> Result<(), Error> {
        let op = &mut self.op;
        for_each_keyed(&mut self.table, batch, Fields::All, |table, key, value| {
            let slot = table.state(key, || None);
            *slot = Some(match slot.take() {
                None => value,
                Some(acc) => op.reduce(acc, value)?,
            });
            Ok(())
        })
    }

    fn emit(&mut self) -> Result<Vec<u8>, Error> {
        let mut out = TypedBatch::new(self.table.key_fields());
        for (key, row) in self.table.drain() {
            if let Some(row) = row {
                out.push(&key, &row)?;
            }
        }
        Ok(out.finish())
    }
}

impl<T: RowReduce> Aggregate for RowReduceOp<T> {
    fn new(config: &Config) -> Result<Self, Error> {
        Ok(Self { op: T::from_config(config)?, table: GroupTable::default() })
    }

    fn update(&mut self, input: &[u8]) -> Result<(), Error> {
        self.fold(input)
    }

    fn partials(&mut self) -> Result<Vec<u8>, Error> {
        self.emit()
    }

    fn merge(&mut self, partials: &[u8]) -> Result<(), Error> {
        self.fold(partials)
    }

    fn finish(&mut self) -> Result<Vec<u8>, Error> {
        self.emit()
    }

    fn state_bytes(&self) -> u64 {
        self.table.state_bytes()
    }
}
