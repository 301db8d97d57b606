//! Typed operators: work on rows as serde types (or the dynamic [`Row`](crate::Row)) and let the
//! SDK handle batches, keys and partial state.

use crate::group::GroupTable;
use crate::operator::{Aggregate, Map};
use crate::{Config, Error};
use flicker_batch::{
    BatchReader, BatchWriter, RowType, Schema, TypeMismatch, check_row_type, from_row, to_row_values,
};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// How a typed operator is built from the step's config.
///
/// Every `Default` type has it: built with `default()`, it accepts no config keys. An operator that
/// reads config implements it instead (and is not `Default`):
///
/// ```
/// use flicker_guest::{Config, Error, FromConfig};
///
/// struct Top { field: String, limit: u32 }
///
/// impl FromConfig for Top {
///     fn from_config(config: &Config) -> Result<Self, Error> {
///         Ok(Top { field: config.require("field")?.to_owned(), limit: config.parse_or("limit", 10)? })
///     }
/// }
/// ```
///
/// Unknown keys are rejected: once `from_config` returns `Ok`, the SDK fails the step's config with
/// [`Error::InvalidConfig`] if it sets a key the operator never asked about (through
/// [`Config::get`], [`Config::require`], [`Config::parse_or`], [`Config::allow_only`] or
/// [`Config::pairs`]), naming it, the known keys and the known key it most likely misspells:
/// ``unknown config key `feild` (known keys: field, limit); did you mean `field`?``. A key read
/// only in some cases (`delimiter` when `format = "csv"`) is thus rejected in the others. An
/// operator that takes keys it does not read opts out with `const ALLOW_UNKNOWN_KEYS: bool = true;`.
pub trait FromConfig: Sized {
    /// Whether the step's config may set keys the operator never asked about (default `false`:
    /// they are rejected).
    const ALLOW_UNKNOWN_KEYS: bool = false;

    /// Builds the operator; reject bad config with [`Error::InvalidConfig`].
    fn from_config(config: &Config) -> Result<Self, Error>;
}

impl<T: Default> FromConfig for T {
    fn from_config(_: &Config) -> Result<Self, Error> {
        Ok(T::default())
    }
}

/// Builds a typed operator with [`FromConfig::from_config`], then rejects the keys it never asked
/// about unless it opts out.
fn build<T: FromConfig>(config: &Config) -> Result<T, Error> {
    let op = T::from_config(config)?;
    if !T::ALLOW_UNKNOWN_KEYS {
        config.reject_unasked()?;
    }
    Ok(op)
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
    for (index, row) in batch.rows().enumerate() {
        let row = row?;
        let value = match &values_only {
            None => read_row(batch.schema(), &row, index)?,
            Some(schema) => read_row(schema, &flicker_batch::RawRow { key: &[], ..row }, index)?,
        };
        each(table, row.key, value)?;
    }
    Ok(())
}

/// Reads row `index` of a batch of `schema` as a `V`; a row that does not fit `V` is a bad
/// record (the data's fault: the job fails at once, naming it).
fn read_row<'de, V: serde::Deserialize<'de>>(
    schema: &'de Schema,
    row: &flicker_batch::RawRow<'de>,
    index: usize,
) -> Result<V, Error> {
    from_row(schema, row).map_err(|error| Error::bad_record(index, error.to_string()))
}

/// Runs a [`RowMap`] as a [`Map`].
pub struct RowMapOp<T>(T);

impl<T: RowMap> Map for RowMapOp<T> {
    fn new(config: &Config) -> Result<Self, Error> {
        build(config).map(Self)
    }

    fn map(&mut self, input: &[u8]) -> Result<Vec<u8>, Error> {
        let batch = BatchReader::new(input)?;
        let mut out = TypedBatch::new(&batch.schema().key_fields);
        for (index, row) in batch.rows().enumerate() {
            let row = row?;
            for mapped in self.0.map(read_row(batch.schema(), &row, index)?)? {
                out.push(row.key, &mapped)?;
            }
        }
        Ok(out.finish())
    }

    /// Checks that `T::In` can read rows of `input`; the output type is only known from the rows.
    fn output_type(&self, input: &RowType) -> Result<Option<RowType>, TypeMismatch> {
        check_row_type::<T::In>(input).map(|()| None)
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
        Ok(Self { op: build(config)?, table: GroupTable::default() })
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

    /// Checks that `T::In` can read rows of `input`; the output type is only known from the rows.
    fn output_type(&self, input: &RowType) -> Result<Option<RowType>, TypeMismatch> {
        check_row_type::<T::In>(input).map(|()| None)
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
        Ok(Self { op: build(config)?, table: GroupTable::default() })
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

    /// Checks that `T::Row` can read rows of `input`; the output type is only known from the rows.
    fn output_type(&self, input: &RowType) -> Result<Option<RowType>, TypeMismatch> {
        check_row_type::<T::Row>(input).map(|()| None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Row;

    fn config(pairs: &[(&str, &str)]) -> Config {
        Config::new(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect())
    }

    fn rejection<T: std::fmt::Debug>(result: Result<T, Error>) -> String {
        match result {
            Err(Error::InvalidConfig(message)) => message,
            other => panic!("expected an invalid-config error, got {other:?}"),
        }
    }

    /// Reads `delimiter` only when `format` is `csv` (the default).
    #[derive(Debug, PartialEq)]
    struct Writer {
        delimiter: Option<String>,
    }

    impl FromConfig for Writer {
        fn from_config(config: &Config) -> Result<Self, Error> {
            let csv = config.get("format").unwrap_or("csv") == "csv";
            Ok(Self { delimiter: csv.then(|| config.get("delimiter").unwrap_or(",").to_owned()) })
        }
    }

    #[test]
    fn a_key_the_operator_never_asks_about_is_rejected_with_the_likely_one() {
        assert_eq!(
            rejection(build::<Writer>(&config(&[("delimter", ";")]))),
            "unknown config key `delimter` (known keys: delimiter, format); did you mean `delimiter`?"
        );
        assert_eq!(
            rejection(build::<Writer>(&config(&[("colour", "red")]))),
            "unknown config key `colour` (known keys: delimiter, format)"
        );
        assert_eq!(
            build::<Writer>(&config(&[("delimiter", ";")])),
            Ok(Writer { delimiter: Some(";".into()) })
        );
    }

    #[test]
    fn a_key_read_only_in_some_cases_is_rejected_in_the_others() {
        let csv = config(&[("format", "csv"), ("delimiter", ";")]);
        assert_eq!(build::<Writer>(&csv), Ok(Writer { delimiter: Some(";".into()) }));
        let json = config(&[("format", "json"), ("delimiter", ";")]);
        assert_eq!(rejection(build::<Writer>(&json)), "unknown config key `delimiter` (known keys: format)");
    }

    #[test]
    fn an_operator_that_opts_out_takes_any_key() {
        /// Reads nothing, takes anything.
        #[derive(Debug)]
        struct Lenient;

        impl FromConfig for Lenient {
            const ALLOW_UNKNOWN_KEYS: bool = true;
            fn from_config(_: &Config) -> Result<Self, Error> {
                Ok(Lenient)
            }
        }

        assert!(build::<Lenient>(&config(&[("anything", "goes")])).is_ok());
    }

    #[test]
    fn the_error_of_from_config_comes_before_unknown_keys() {
        /// Requires `field`.
        #[derive(Debug)]
        struct Strict;

        impl FromConfig for Strict {
            fn from_config(config: &Config) -> Result<Self, Error> {
                config.require("field").map(|_| Strict)
            }
        }

        let typo = config(&[("feild", "t")]);
        assert_eq!(
            rejection(build::<Strict>(&typo)),
            "missing config key `field` (is `feild` a misspelling of it?)"
        );
    }

    /// A `Default` map: takes no config.
    #[derive(Default)]
    struct Identity;

    impl RowMap for Identity {
        type In = Row;
        type Out = Row;
        fn map(&mut self, row: Row) -> Result<impl IntoIterator<Item = Row>, Error> {
            Ok(Some(row))
        }
    }

    #[test]
    fn a_default_operator_rejects_every_key() {
        assert!(<RowMapOp<Identity> as Map>::new(&Config::default()).is_ok());
        let error = <RowMapOp<Identity> as Map>::new(&config(&[("field", "t")])).err();
        assert_eq!(error, Some(Error::config("unknown config key `field` (known keys: none)")));
    }

    #[test]
    fn a_row_that_does_not_fit_the_input_type_is_a_bad_record_named_by_its_index() {
        #[derive(serde::Deserialize, Serialize)]
        struct Reading {
            temperature: f64,
        }
        #[derive(Default)]
        struct Same;
        impl RowMap for Same {
            type In = Reading;
            type Out = Reading;
            fn map(&mut self, row: Reading) -> Result<impl IntoIterator<Item = Reading>, Error> {
                Ok(Some(row))
            }
        }
        let mut batch = BatchWriter::new(&Schema::values(["temperature"]));
        batch.push_values([], [flicker_batch::ValueRef::F64(1.5)]);
        batch.push_values([], [flicker_batch::ValueRef::Str("warm")]);
        let mut op = RowMapOp::<Same>::new(&config(&[])).unwrap();
        match op.map(&batch.finish()) {
            Err(Error::BadRecord { index: 1, offset: None, message }) => {
                assert!(message.contains("temperature"), "{message}")
            }
            other => panic!("{other:?}"),
        }
    }
}
