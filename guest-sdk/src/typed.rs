//! Typed operators: work on rows as serde types (or the dynamic [`Row`](crate::Row)) and let the
//! SDK handle batches, keys and partial state.
//!
//! Before a job runs, a typed operator checks that its input serde type reads rows of its input
//! type ([`check_row_type`]) and says which fields it outputs when its output serde type tells
//! ([`row_fields_of`]): always for [`RowReduce`], and for [`RowMap`] and [`RowAggregate`] when
//! their `Out` is `Deserialize` too (the export macros find out, see [`OutputFields`]).
//!
//! A row the input type cannot read after all (or a partial state its `State` cannot) fails the
//! call with [`Error::BadRecord`]: the data's fault, naming the row's index in the batch and the
//! serde message, e.g. `field "temperature": expected f64, found string "warm"`.

use std::marker::PhantomData;

use crate::group::GroupTable;
use crate::operator::{Aggregate, CoGroup, Map};
use crate::{Config, Error};
use flicker_batch::{
    BatchReader, BatchWriter, Field, RowType, Schema, TypeMismatch, check_row_type, from_row, row_fields_of,
    to_row_values,
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
    /// The output row type (a struct or map of plain values). When it is `Deserialize` too
    /// (`#[derive(Serialize, Deserialize)]`), [`export_row_map!`](crate::export_row_map) derives
    /// the step's output fields from it, so the steps after it are checked before the job runs.
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
    /// The final value per key (a struct of plain values). When it is `Deserialize` too,
    /// [`export_row_aggregate!`](crate::export_row_aggregate) derives the step's output fields
    /// from it, as for [`RowMap::Out`].
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
    /// The row type, in and out; the step's output fields are derived from it.
    type Row: Serialize + DeserializeOwned;
    /// Combines two rows of the same key into one.
    fn reduce(&mut self, a: Self::Row, b: Self::Row) -> Result<Self::Row, Error>;
}

/// A co-group over rows (Spark's `cogroup`): for each key, the rows of every input. A join, say,
/// is a co-group of two inputs that pairs the rows of each side.
///
/// The inputs are keyed alike by steps before this one (`std:key-by`), and rows meet by their
/// encoded key (`1` and `1.0` are different keys). The output rows are keyed by the group's key.
pub trait RowCoGroup: FromConfig + 'static {
    /// How many inputs it takes; any number when `None` (the default). A step giving it another
    /// number is rejected before the job runs.
    const INPUTS: Option<u32> = None;
    /// The output row type.
    type Out: Serialize;
    /// The output rows of one key, from its rows of each input: `inputs[i]` holds the rows of
    /// input `i` (each with its key fields and its value fields), and may be empty.
    fn cogroup(&mut self, inputs: Vec<Vec<crate::Row>>)
    -> Result<impl IntoIterator<Item = Self::Out>, Error>;
}

/// The value fields of a typed operator's output rows, whose serde type is `Out`, if they are
/// known before the rows are seen.
///
/// A trait bound cannot be asked for in generic code, so the typed wrappers take the answer as a
/// type parameter: [`Traced`] when `Out` is `Deserialize` too, else [`Untraced`]. The export
/// macros, which know the concrete `Out`, pick for you.
pub trait OutputFields<Out> {
    /// The fields, in the order the rows carry them, or `None` (cannot say).
    fn output_fields() -> Option<Vec<Field>>;
}

/// Output fields traced from a serde type that is `Deserialize` too ([`row_fields_of`]).
pub struct Traced;

impl<Out: Serialize + DeserializeOwned> OutputFields<Out> for Traced {
    fn output_fields() -> Option<Vec<Field>> {
        row_fields_of::<Out>()
    }
}

/// Output fields not known before the rows are seen (an output type that is `Serialize` only).
pub struct Untraced;

impl<Out> OutputFields<Out> for Untraced {
    fn output_fields() -> Option<Vec<Field>> {
        None
    }
}

/// How the export macros pick [`Traced`] or [`Untraced`] for a concrete output type: autoref
/// specialization. `(&Probe::<Out>::default()).output_fields()` resolves to
/// [`ViaTraced`](pick::ViaTraced) when `Out` has its bounds (no autoref needed), else to
/// [`ViaUntraced`](pick::ViaUntraced) (one autoref).
#[doc(hidden)]
pub mod pick {
    use super::{OutputFields, PhantomData, Traced, Untraced};
    use flicker_batch::Field;
    use serde::Serialize;
    use serde::de::DeserializeOwned;

    /// Stands for the output type `Out`.
    pub struct Probe<Out>(PhantomData<Out>);

    impl<Out> Default for Probe<Out> {
        fn default() -> Self {
            Self(PhantomData)
        }
    }

    /// Taken when `Out` is `Deserialize` too.
    pub trait ViaTraced {
        /// [`Traced`]'s answer.
        fn output_fields(&self) -> Option<Vec<Field>>;
    }

    impl<Out: Serialize + DeserializeOwned> ViaTraced for Probe<Out> {
        fn output_fields(&self) -> Option<Vec<Field>> {
            <Traced as OutputFields<Out>>::output_fields()
        }
    }

    /// Taken otherwise.
    pub trait ViaUntraced {
        /// [`Untraced`]'s answer.
        fn output_fields(&self) -> Option<Vec<Field>>;
    }

    impl<Out> ViaUntraced for &Probe<Out> {
        fn output_fields(&self) -> Option<Vec<Field>> {
            <Untraced as OutputFields<Out>>::output_fields()
        }
    }
}

/// The output type of a typed operator that reads rows of `input` as `In` and writes the value
/// fields `output` (if known) keyed as its input, or why `In` cannot read such rows.
fn output_type<In: DeserializeOwned>(
    input: &RowType,
    output: impl FnOnce() -> Option<Vec<Field>>,
) -> Result<Option<RowType>, TypeMismatch> {
    check_row_type::<In>(input)?;
    Ok(output().map(|values| RowType { key: input.key.clone(), values }))
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

/// Runs a [`RowMap`] as a [`Map`]; `O` says its output fields.
pub struct RowMapOp<T, O = Untraced>(T, PhantomData<O>);

impl<T: RowMap, O: OutputFields<T::Out> + 'static> Map for RowMapOp<T, O> {
    fn new(config: &Config) -> Result<Self, Error> {
        Ok(Self(build(config)?, PhantomData))
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

    /// Checks that `T::In` can read rows of `input`; the output rows keep its key and have the
    /// fields of `T::Out`, if `O` knows them.
    fn output_type(&self, input: &RowType) -> Result<Option<RowType>, TypeMismatch> {
        output_type::<T::In>(input, O::output_fields)
    }
}

/// Runs a [`RowAggregate`] as an [`Aggregate`]; `O` says its output fields.
pub struct RowAggregateOp<T: RowAggregate, O = Untraced> {
    op: T,
    table: GroupTable<T::State>,
    output: PhantomData<O>,
}

impl<T: RowAggregate, O> RowAggregateOp<T, O> {
    fn emit<R: Serialize>(&mut self, mut each: impl FnMut(&mut T, T::State) -> R) -> Result<Vec<u8>, Error> {
        let mut out = TypedBatch::new(self.table.key_fields());
        for (key, state) in self.table.drain() {
            out.push(&key, &each(&mut self.op, state))?;
        }
        Ok(out.finish())
    }
}

impl<T: RowAggregate, O: OutputFields<T::Out> + 'static> Aggregate for RowAggregateOp<T, O> {
    fn new(config: &Config) -> Result<Self, Error> {
        Ok(Self { op: build(config)?, table: GroupTable::default(), output: PhantomData })
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

    /// Checks that `T::In` can read rows of `input`; the output rows keep its key and have the
    /// fields of `T::Out`, if `O` knows them.
    fn output_type(&self, input: &RowType) -> Result<Option<RowType>, TypeMismatch> {
        output_type::<T::In>(input, O::output_fields)
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

    /// Checks that `T::Row` can read rows of `input`; the output rows keep its key and have the
    /// fields of `T::Row`, if it tells.
    fn output_type(&self, input: &RowType) -> Result<Option<RowType>, TypeMismatch> {
        output_type::<T::Row>(input, row_fields_of::<T::Row>)
    }
}

/// Runs a [`RowCoGroup`] as a [`CoGroup`]: the rows of each call are grouped by key in the
/// order keys first appear; a broadcast input's kept rows join every call.
pub struct RowCoGroupOp<T> {
    op: T,
    /// Per input, the rows `keep` was given.
    kept: Vec<Vec<Vec<u8>>>,
}

impl<T: RowCoGroup> CoGroup for RowCoGroupOp<T> {
    fn new(config: &Config, inputs: u32) -> Result<Self, Error> {
        if let Some(wanted) = T::INPUTS.filter(|&wanted| wanted != inputs) {
            return Err(Error::InvalidConfig(format!(
                "this operator takes {wanted} inputs, the step gives it {inputs}"
            )));
        }
        Ok(Self { op: build(config)?, kept: vec![Vec::new(); inputs as usize] })
    }

    fn keep(&mut self, input: u32, rows: &[u8]) -> Result<(), Error> {
        let kept = self.kept.get_mut(input as usize).ok_or_else(|| no_input(input))?;
        kept.push(rows.to_vec());
        Ok(())
    }

    fn cogroup(&mut self, inputs: &[Vec<u8>]) -> Result<Vec<u8>, Error> {
        let mut index: std::collections::HashMap<&[u8], usize> = std::collections::HashMap::new();
        let mut groups: Vec<(&[u8], Vec<Vec<crate::Row>>)> = Vec::new();
        let mut key_fields: Option<Vec<String>> = None;
        for (input, batch) in inputs.iter().enumerate() {
            let kept = self.kept.get(input).map_or(&[][..], Vec::as_slice);
            for batch in kept.iter().chain([batch]) {
                let batch = BatchReader::new(batch)?;
                if key_fields.is_none() && !batch.schema().key_fields.is_empty() {
                    key_fields = Some(batch.schema().key_fields.clone());
                }
                for (at, row) in batch.rows().enumerate() {
                    let row = row?;
                    let value: crate::Row = read_row(batch.schema(), &row, at)?;
                    let group = *index.entry(row.key).or_insert_with(|| {
                        groups.push((row.key, vec![Vec::new(); inputs.len()]));
                        groups.len() - 1
                    });
                    groups[group].1[input].push(value);
                }
            }
        }
        let mut out = TypedBatch::new(key_fields.as_deref().unwrap_or_default());
        for (key, rows) in groups {
            for row in self.op.cogroup(rows)? {
                out.push(key, &row)?;
            }
        }
        Ok(out.finish())
    }
}

/// The error of a call naming an input the step does not have.
fn no_input(input: u32) -> Error {
    Error::failed(format!("the step has no input {input}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Row;
    use flicker_batch::{FieldType, ValueRef};

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

    #[derive(serde::Deserialize, Serialize)]
    struct Reading {
        station: String,
        temperature: f64,
    }

    /// Readings keyed by station, as `std:key-by` leaves them (the key among the values too).
    fn keyed_readings() -> RowType {
        let station = Field::new("station", FieldType::String);
        RowType {
            key: vec![station.clone()],
            values: vec![station, Field::new("temperature", FieldType::F64)],
        }
    }

    /// A batch of `keyed_readings` from (station, temperature) pairs; the temperature may be any
    /// value, so that a row can be one a `Reading` does not read.
    fn readings(rows: &[(&str, ValueRef<'_>)]) -> Vec<u8> {
        let mut batch = BatchWriter::new(&Schema::keyed(["station"], ["station", "temperature"]));
        for &(station, temperature) in rows {
            batch.push_values([ValueRef::Str(station)], [ValueRef::Str(station), temperature]);
        }
        batch.finish()
    }

    /// Oslo 10 °C and 20 °C, Bergen 25 °C: degrees exact in Fahrenheit too.
    fn keyed_batch() -> Vec<u8> {
        readings(&[
            ("oslo", ValueRef::F64(10.0)),
            ("bergen", ValueRef::F64(25.0)),
            ("oslo", ValueRef::F64(20.0)),
        ])
    }

    /// The rows of `batch`, an operator's output, read as `T`s in order.
    fn rows<T: DeserializeOwned>(batch: &[u8]) -> Vec<T> {
        let batch = BatchReader::new(batch).unwrap();
        batch.rows().map(|row| from_row(batch.schema(), &row.unwrap()).unwrap()).collect()
    }

    /// `rows` in ascending order (an aggregate outputs its keys in no particular order).
    fn sorted<T: PartialOrd>(mut rows: Vec<T>) -> Vec<T> {
        rows.sort_by(|a, b| a.partial_cmp(b).unwrap());
        rows
    }

    /// The index and message of a row's bad-record error (a row has no byte offset).
    fn bad_record<T: std::fmt::Debug>(result: Result<T, Error>) -> (u32, String) {
        match result {
            Err(Error::BadRecord { index, offset: None, message }) => (index, message),
            other => panic!("expected a bad-record error, got {other:?}"),
        }
    }

    /// Rows keyed by `station` (a string) with the value fields `values`.
    fn keyed(values: &[(&str, FieldType)]) -> RowType {
        let values = values.iter().map(|&(name, ty)| Field::new(name, ty)).collect();
        RowType { key: vec![Field::new("station", FieldType::String)], values }
    }

    /// Checks that `batch`, an operator's output, has the fields of `rows`, its announced type.
    fn assert_fields(batch: &[u8], rows: &RowType) {
        let names = |fields: &[Field]| fields.iter().map(|f| f.name.clone()).collect::<Vec<_>>();
        let schema = Schema { key_fields: names(&rows.key), value_fields: names(&rows.values) };
        assert_eq!(BatchReader::new(batch).unwrap().schema(), &schema);
    }

    #[derive(serde::Deserialize, Serialize)]
    struct Fahrenheit {
        station: String,
        fahrenheit: f64,
        warm: bool,
    }

    #[derive(Default)]
    struct ToFahrenheit;

    impl RowMap for ToFahrenheit {
        type In = Reading;
        type Out = Fahrenheit;
        fn map(&mut self, r: Reading) -> Result<impl IntoIterator<Item = Fahrenheit>, Error> {
            let fahrenheit = r.temperature * 9.0 / 5.0 + 32.0;
            Ok(Some(Fahrenheit { station: r.station, fahrenheit, warm: fahrenheit > 70.0 }))
        }
    }

    #[test]
    fn a_row_map_outputs_the_fields_of_its_output_type_keyed_as_its_input() {
        let expected = keyed(&[
            ("station", FieldType::String),
            ("fahrenheit", FieldType::F64),
            ("warm", FieldType::Bool),
        ]);
        let mut op = RowMapOp::<ToFahrenheit, Traced>::new(&Config::default()).unwrap();
        assert_eq!(op.output_type(&keyed_readings()), Ok(Some(expected.clone())));
        assert_fields(&op.map(&keyed_batch()).unwrap(), &expected);
        let unreadable = RowType::values([Field::new("station", FieldType::String)]);
        let missing = TypeMismatch::MissingField { field: "temperature".into() };
        assert_eq!(op.output_type(&unreadable), Err(missing));
        let untraced = RowMapOp::<ToFahrenheit>::new(&Config::default()).unwrap();
        assert_eq!(untraced.output_type(&keyed_readings()), Ok(None));
        let dynamic = RowMapOp::<Identity, Traced>::new(&Config::default()).unwrap();
        assert_eq!(dynamic.output_type(&keyed_readings()), Ok(None), "a `Row` has any fields");
    }

    #[test]
    fn a_row_map_maps_every_row_and_keeps_its_key() {
        let mut op = RowMapOp::<ToFahrenheit>::new(&Config::default()).unwrap();
        let input = keyed_batch();
        let output = op.map(&input).unwrap();
        let expected = [("oslo", 50.0, false), ("bergen", 77.0, true), ("oslo", 68.0, false)];
        assert_eq!(rows::<(String, f64, bool)>(&output), expected.map(|(s, f, w)| (s.to_owned(), f, w)));
        let keys = |batch: &[u8]| {
            BatchReader::new(batch).unwrap().rows().map(|row| row.unwrap().key.to_vec()).collect::<Vec<_>>()
        };
        assert_eq!(keys(&output), keys(&input));
    }

    #[test]
    fn the_export_macros_trace_an_output_type_only_when_it_is_deserialize_too() {
        {
            crate::__output_fields!(Fahrenheit);
            let expected = keyed(&[
                ("station", FieldType::String),
                ("fahrenheit", FieldType::F64),
                ("warm", FieldType::Bool),
            ]);
            assert_eq!(
                <__FlickerOutputFields as OutputFields<Fahrenheit>>::output_fields(),
                Some(expected.values)
            );
        }
        {
            #[derive(Serialize)]
            struct Range {
                range: f64,
            }
            crate::__output_fields!(Range);
            assert_eq!(<__FlickerOutputFields as OutputFields<Range>>::output_fields(), None);
        }
    }

    #[derive(Default, serde::Deserialize, Serialize)]
    struct Sum {
        total: f64,
        count: i64,
    }

    #[derive(serde::Deserialize, Serialize)]
    struct Mean {
        mean: f64,
        readings: i64,
    }

    #[derive(Default)]
    struct MeanTemperature;

    impl RowAggregate for MeanTemperature {
        type In = Reading;
        type State = Sum;
        type Out = Mean;
        fn update(&mut self, s: &mut Sum, row: Reading) -> Result<(), Error> {
            self.merge(s, Sum { total: row.temperature, count: 1 });
            Ok(())
        }
        fn merge(&mut self, s: &mut Sum, o: Sum) {
            *s = Sum { total: s.total + o.total, count: s.count + o.count };
        }
        fn finish(&mut self, s: Sum) -> Mean {
            Mean { mean: s.total / s.count as f64, readings: s.count }
        }
    }

    #[test]
    fn a_row_aggregate_outputs_the_fields_of_its_output_type_keyed_as_its_input() {
        crate::__output_fields!(<MeanTemperature as RowAggregate>::Out);
        let mut op =
            RowAggregateOp::<MeanTemperature, __FlickerOutputFields>::new(&Config::default()).unwrap();
        let expected = keyed(&[("mean", FieldType::F64), ("readings", FieldType::I64)]);
        assert_eq!(op.output_type(&keyed_readings()), Ok(Some(expected.clone())));
        op.update(&keyed_batch()).unwrap();
        assert_fields(&op.finish().unwrap(), &expected);
        let mut text = keyed_readings();
        text.values[1].ty = FieldType::String;
        let wrong = TypeMismatch::WrongType {
            field: "temperature".into(),
            expected: "f64".into(),
            found: FieldType::String,
        };
        assert_eq!(op.output_type(&text), Err(wrong));
        let untraced = RowAggregateOp::<MeanTemperature>::new(&Config::default()).unwrap();
        assert_eq!(untraced.output_type(&keyed_readings()), Ok(None));
    }

    #[test]
    fn a_row_aggregate_folds_rows_then_partial_states_per_key() {
        let new = || RowAggregateOp::<MeanTemperature>::new(&Config::default()).unwrap();
        let (mut one, mut other) = (new(), new());
        one.update(&keyed_batch()).unwrap();
        other.update(&readings(&[("oslo", ValueRef::F64(30.0)), ("tromsø", ValueRef::F64(-5.0))])).unwrap();
        let partials = one.partials().unwrap();
        let sums = [("bergen".to_owned(), 25.0, 1), ("oslo".to_owned(), 30.0, 2)];
        assert_eq!(sorted(rows::<(String, f64, i64)>(&partials)), sums);
        assert_eq!(rows::<Row>(&one.finish().unwrap()), [], "partials empty the state");
        other.merge(&partials).unwrap();
        let means =
            [("bergen".to_owned(), 25.0, 1), ("oslo".to_owned(), 20.0, 3), ("tromsø".to_owned(), -5.0, 1)];
        assert_eq!(sorted(rows::<(String, f64, i64)>(&other.finish().unwrap())), means);
    }

    #[derive(Default)]
    struct Warmest;

    impl RowReduce for Warmest {
        type Row = Reading;
        fn reduce(&mut self, a: Reading, b: Reading) -> Result<Reading, Error> {
            Ok(if b.temperature > a.temperature { b } else { a })
        }
    }

    #[test]
    fn a_row_reduce_outputs_the_fields_of_its_row_type_keyed_as_its_input() {
        #[derive(Default)]
        struct Last;
        impl RowReduce for Last {
            type Row = Row;
            fn reduce(&mut self, _: Row, b: Row) -> Result<Row, Error> {
                Ok(b)
            }
        }
        let mut op = RowReduceOp::<Warmest>::new(&Config::default()).unwrap();
        let expected = keyed(&[("station", FieldType::String), ("temperature", FieldType::F64)]);
        assert_eq!(op.output_type(&keyed_readings()), Ok(Some(expected.clone())));
        op.update(&keyed_batch()).unwrap();
        assert_fields(&op.finish().unwrap(), &expected);
        let dynamic = RowReduceOp::<Last>::new(&Config::default()).unwrap();
        assert_eq!(dynamic.output_type(&keyed_readings()), Ok(None), "a `Row` has any fields");
    }

    #[test]
    fn a_row_cogroup_gets_each_keys_rows_of_every_input_and_a_kept_inputs_rows_in_every_call() {
        /// Per key: how many rows each input gave, and the sum of input 0's temperatures.
        #[derive(Default)]
        struct Counts;
        #[derive(Serialize)]
        struct Counted {
            left: i64,
            right: i64,
            sum: f64,
        }
        impl RowCoGroup for Counts {
            const INPUTS: Option<u32> = Some(2);
            type Out = Counted;
            fn cogroup(&mut self, inputs: Vec<Vec<Row>>) -> Result<impl IntoIterator<Item = Counted>, Error> {
                let sum = inputs[0].iter().filter_map(|row| row.get_f64("temperature")).sum();
                Ok(Some(Counted { left: inputs[0].len() as i64, right: inputs[1].len() as i64, sum }))
            }
        }
        let refused = RowCoGroupOp::<Counts>::new(&Config::default(), 3).err().unwrap();
        assert!(refused.to_string().contains("takes 2 inputs, the step gives it 3"), "{refused}");

        let mut op = RowCoGroupOp::<Counts>::new(&Config::default(), 2).unwrap();
        let right = readings(&[("oslo", ValueRef::F64(0.0)), ("tromsø", ValueRef::F64(0.0))]);
        let output = op.cogroup(&[keyed_batch(), right.clone()]).unwrap();
        let batch = BatchReader::new(&output).unwrap();
        assert_eq!(batch.schema().key_fields, ["station"], "the output keeps the group's key");
        let groups = sorted(rows::<(String, i64, i64, f64)>(&output));
        assert_eq!(
            groups,
            [("bergen".into(), 1, 0, 25.0), ("oslo".into(), 2, 1, 30.0), ("tromsø".into(), 0, 1, 0.0)]
        );

        // Input 1 kept (broadcast): every later call sees its rows beside those it is given.
        op.keep(1, &right).unwrap();
        let empty = readings(&[]);
        let groups = sorted(rows::<(String, i64, i64, f64)>(&op.cogroup(&[keyed_batch(), empty]).unwrap()));
        assert_eq!(groups[1], ("oslo".into(), 2, 1, 30.0));
        assert!(op.keep(2, &right).is_err(), "no input 2");
    }

    #[test]
    fn a_row_reduce_combines_the_rows_then_the_partial_rows_of_each_key() {
        let new = || RowReduceOp::<Warmest>::new(&Config::default()).unwrap();
        let (mut one, mut other) = (new(), new());
        one.update(&keyed_batch()).unwrap();
        other.update(&readings(&[("oslo", ValueRef::F64(15.0)), ("tromsø", ValueRef::F64(-5.0))])).unwrap();
        let partials = one.partials().unwrap();
        let warmest = [("bergen".to_owned(), 25.0), ("oslo".to_owned(), 20.0)];
        assert_eq!(sorted(rows::<(String, f64)>(&partials)), warmest);
        other.merge(&partials).unwrap();
        let warmest = [("bergen".to_owned(), 25.0), ("oslo".to_owned(), 20.0), ("tromsø".to_owned(), -5.0)];
        assert_eq!(sorted(rows::<(String, f64)>(&other.finish().unwrap())), warmest);
    }

    #[test]
    fn a_row_that_does_not_fit_the_input_type_is_a_bad_record_named_by_its_index() {
        let input = readings(&[
            ("oslo", ValueRef::F64(10.0)),
            ("bergen", ValueRef::Str("warm")),
            ("oslo", ValueRef::F64(20.0)),
        ]);
        let bad = (1, r#"field "temperature": expected f64, found string "warm""#.to_owned());
        let mut map = RowMapOp::<ToFahrenheit>::new(&Config::default()).unwrap();
        assert_eq!(bad_record(map.map(&input)), bad, "map");
        let mut reduce = RowReduceOp::<Warmest>::new(&Config::default()).unwrap();
        assert_eq!(bad_record(reduce.update(&input)), bad, "reduce");
        let mut aggregate = RowAggregateOp::<MeanTemperature>::new(&Config::default()).unwrap();
        assert_eq!(bad_record(aggregate.update(&input)), bad, "aggregate");
        // A partial state that does not fit the state type, read by merge, is one too.
        let mut partials = BatchWriter::new(&Schema::keyed(["station"], ["total", "count"]));
        partials.push_values([ValueRef::Str("oslo")], [ValueRef::F64(30.0), ValueRef::I64(2)]);
        partials.push_values([ValueRef::Str("bergen")], [ValueRef::F64(25.0), ValueRef::Null]);
        let null = (1, r#"field "count": expected i64, found null"#.to_owned());
        assert_eq!(bad_record(aggregate.merge(&partials.finish())), null, "merge");
    }
}
