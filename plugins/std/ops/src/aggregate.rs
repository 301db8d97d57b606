//! The standard aggregates: `std:max`, `std:min`, `std:sum`, `std:count`, `std:mean`, `std:stats`.
//!
//! Config: `field`, the field to aggregate (optional for `std:count`, which then counts rows).
//! Null values are ignored. Each aggregate is a [`Fold`] of one value per key, run by
//! [`FieldAggregate`]: `update` folds input rows, `partials` ships the per-key state across the
//! shuffle, `merge` folds such states, `finish` turns them into the output columns.

use crate::parse_csv::{NumberLines, Pass};
use crate::{FieldPos, locate};
use flicker_guest::{
    Aggregate, BatchReader, BatchWriter, Config, Error, Field, FieldType, GroupTable, RowType, Rows, Schema,
    TypeMismatch, ValueIter, ValueRef, encode_value,
};
use std::marker::PhantomData;

/// The per-key state of one aggregate function.
pub trait Fold: Default + 'static {
    /// Whether the `field` config key may be left out.
    const FIELD_OPTIONAL: bool = false;
    /// Names of the columns of the partial state.
    const PARTIAL: &'static [&'static str];
    /// Names of the output columns.
    const FINAL: &'static [&'static str];
    /// Whether it folds the values of any type (else numbers only).
    const ANY_VALUES: bool = false;
    /// The types of the `FINAL` columns, for a field of type `field`.
    fn final_types(field: FieldType) -> Vec<FieldType>;
    /// Folds in one non-null value (or `Null` for a row when no field is configured).
    fn update(&mut self, value: ValueRef<'_>) -> Result<(), String>;
    /// Folds in a partial state, given as the values of the `PARTIAL` columns.
    fn merge(&mut self, partial: ValueIter<'_>) -> Result<(), String>;
    /// Writes the `PARTIAL` columns.
    fn write_partial(&self, out: &mut Vec<u8>);
    /// Writes the `FINAL` columns.
    fn write_final(&self, out: &mut Vec<u8>);
}

/// Runs a [`Fold`] per key as an [`Aggregate`] over one field.
pub struct FieldAggregate<F> {
    field: Option<String>,
    table: GroupTable<F>,
    /// How the table holds keys: [`KeyForm::Encoded`] but when combining on one string key.
    key_form: KeyForm,
    _fold: PhantomData<F>,
}

/// `std:max`: the largest value per key (column `max`).
pub type Max = FieldAggregate<Extreme<Largest>>;
/// `std:min`: the smallest value per key (column `min`).
pub type Min = FieldAggregate<Extreme<Smallest>>;
/// `std:sum`: the sum per key (column `sum`).
pub type Sum = FieldAggregate<SumFold>;
/// `std:count`: the number of rows, or of non-null values of `field`, per key (column `count`).
pub type Count = FieldAggregate<CountFold>;
/// `std:mean`: the arithmetic mean per key (column `mean`).
pub type Mean = FieldAggregate<MeanFold>;
/// `std:stats`: count, min, mean and max per key in one pass.
pub type Stats = FieldAggregate<StatsFold>;

impl<F: Fold> FieldAggregate<F> {
    fn emit(&mut self, names: &[&str], write: impl Fn(&F, &mut Vec<u8>)) -> Vec<u8> {
        let schema = Schema { key_fields: self.table.key_fields().to_vec(), value_fields: to_strings(names) };
        // Rows are two length prefixes, the key, and numbers or nulls of at most 9 bytes each.
        let row_bytes = self.table.key_bytes() + self.table.len() * (8 + 9 * names.len());
        let mut out = BatchWriter::with_capacity(&schema, row_bytes);
        let key_form = self.key_form;
        for (key, state) in self.table.drain() {
            out.push_with(|k| key_form.encode(&key, k), |v| write(&state, v));
        }
        out.finish()
    }
}

fn to_strings(names: &[&str]) -> Vec<String> {
    names.iter().map(|n| (*n).to_owned()).collect()
}

impl<F: Fold> Aggregate for FieldAggregate<F> {
    fn new(config: &Config) -> Result<Self, Error> {
        config.allow_only(&["field"])?;
        let field = match config.get("field") {
            Some(field) => Some(field.trim().to_owned()),
            None if F::FIELD_OPTIONAL => None,
            None => return Err(Error::config("missing config key `field` (the field to aggregate)")),
        };
        Ok(Self { field, table: GroupTable::default(), key_form: KeyForm::Encoded, _fold: PhantomData })
    }

    /// Keyed as the input, the `FINAL` columns as values; the field must exist and, but for
    /// `std:count`, hold numbers.
    fn output_type(&self, input: &RowType) -> Result<Option<RowType>, TypeMismatch> {
        let field = match &self.field {
            None => FieldType::Any,
            Some(field) if F::ANY_VALUES => input.require(field)?.ty,
            Some(field) => input.require_typed(field, &[FieldType::I64, FieldType::F64])?.ty,
        };
        let columns = F::FINAL.iter().zip(F::final_types(field)).map(|(name, ty)| Field::new(*name, ty));
        Ok(Some(RowType { key: input.key.clone(), values: columns.collect() }))
    }

    fn update(&mut self, input: &[u8]) -> Result<(), Error> {
        let batch = BatchReader::new(input)?;
        self.table.observe(batch.schema());
        let position = self.field.as_deref().map(|f| locate(batch.schema(), f)).transpose()?;
        let mut rows = batch.rows();
        // Rows whose field is a number or null, the usual case, take the fast path; the first
        // row that does not (or that is malformed) is taken below, where the general loop
        // reports it or folds it, and then goes on.
        let fast = match position {
            Some(FieldPos::Value(field)) => self.fold_number_rows(&mut rows, field),
            _ => 0,
        };
        for (index, row) in rows.enumerate().map(|(n, row)| (fast + n, row)) {
            let row = row?;
            let value = match &position {
                Some(position) => position.get(&row, index)?,
                None => ValueRef::Null,
            };
            self.fold(row.key, value).map_err(|message| {
                Error::bad_record(
                    index,
                    format!("field `{}`: {message}", self.field.as_deref().unwrap_or("")),
                )
            })?;
        }
        Ok(())
    }

    fn partials(&mut self) -> Result<Vec<u8>, Error> {
        Ok(self.emit(F::PARTIAL, F::write_partial))
    }

    fn merge(&mut self, partials: &[u8]) -> Result<(), Error> {
        let batch = BatchReader::new(partials)?;
        if batch.schema().value_fields != F::PARTIAL {
            return Err(Error::failed(format!(
                "partials have columns {:?}, expected {:?}",
                batch.schema().value_fields,
                F::PARTIAL
            )));
        }
        self.table.observe(batch.schema());
        for (index, row) in batch.rows().enumerate() {
            let row = row?;
            self.table
                .state(row.key, F::default)
                .merge(row.values())
                .map_err(|m| Error::bad_record(index, format!("bad partial state: {m}")))?;
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<Vec<u8>, Error> {
        Ok(self.emit(F::FINAL, F::write_final))
    }

    fn state_bytes(&self) -> u64 {
        self.table.state_bytes()
    }
}

/// How a combining aggregate is given the rows' keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyForm {
    /// The rows' encoded keys, as batches hold them.
    Encoded,
    /// The bytes of the rows' one string key field: they are looked up as they are in the
    /// parsed line, checked to be UTF-8 once, when a key enters the table, and encoded only when
    /// the partials are written.
    Text,
}

impl KeyForm {
    /// Writes the encoded key of `key`, a key of this form, to `out`.
    fn encode(self, key: &[u8], out: &mut Vec<u8>) {
        match self {
            KeyForm::Encoded => out.extend_from_slice(key),
            KeyForm::Text => encode_value(
                out,
                ValueRef::Str(
                    std::str::from_utf8(key).expect("a text key is checked when it enters the table"),
                ),
            ),
        }
    }
}

/// Why a row could not be combined.
#[derive(Debug, PartialEq)]
pub(crate) enum FoldError {
    /// A key of the [`KeyForm::Text`] form that is not UTF-8.
    KeyNotText,
    /// The aggregate refused the value: what is wrong with it.
    Value(String),
}

impl std::fmt::Display for FoldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FoldError::KeyNotText => f.write_str("the key is not valid UTF-8"),
            FoldError::Value(message) => f.write_str(message),
        }
    }
}

/// A standard aggregate fed row by row by a parser that combines what it parses (`std:parse-csv`
/// with `combine`): the map side's `update`, without a batch between the two.
pub(crate) trait Combine {
    /// Folds in one row: its key, in the combiner's [`KeyForm`], and the value of the aggregated
    /// field (`Null` when the aggregate has no field, as `std:count` may; a null value is ignored
    /// otherwise).
    fn fold(&mut self, key: &[u8], value: ValueRef<'_>) -> Result<(), FoldError>;
    /// Folds [`NumberLines`] (a text key and a number per line) until a line it cannot fold:
    /// the parser's hot path, one pass compiled for each aggregate, with no call per line.
    fn fold_number_lines(&mut self, lines: NumberLines<'_>) -> Pass;
    /// The partial state per key, as `partials` returns it; empties the state.
    fn take_partials(&mut self) -> Vec<u8>;
}

impl<F: Fold> Combine for FieldAggregate<F> {
    fn fold(&mut self, key: &[u8], value: ValueRef<'_>) -> Result<(), FoldError> {
        self.fold_row(key, value)
    }

    fn fold_number_lines(&mut self, lines: NumberLines<'_>) -> Pass {
        lines.fold(|key, value| self.fold_row(key, ValueRef::F64(value)).is_ok())
    }

    fn take_partials(&mut self) -> Vec<u8> {
        self.emit(F::PARTIAL, F::write_partial)
    }
}

impl<F: Fold> FieldAggregate<F> {
    /// The fast path of `update`: [`Rows::fold_numbers`] folding each row. A function of its own,
    /// so that the row loop is compiled apart from the rest of `update`: inlined into it, in one
    /// function of ~19 KiB of machine code, Cranelift kept most of the loop's values on the stack
    /// (the heap base among them) and reloaded them every row (docs/PERFORMANCE.md).
    /// A row [`fold_row`](Self::fold_row) refuses is left as it was (a key is refused before
    /// it is added, and every fold takes every number), for the general loop to report.
    #[inline(never)]
    fn fold_number_rows(&mut self, rows: &mut Rows<'_>, field: usize) -> usize {
        rows.fold_numbers(field, |key, value| self.fold_row(key, value).is_ok())
    }

    /// The body of [`Combine::fold`], inlined into each caller so that a value of a known type
    /// is folded without being matched.
    #[inline(always)]
    fn fold_row(&mut self, key: &[u8], value: ValueRef<'_>) -> Result<(), FoldError> {
        if matches!(value, ValueRef::Null) && self.field.is_some() {
            return Ok(());
        }
        let state = match self.key_form {
            KeyForm::Encoded => self.table.state(key, F::default),
            KeyForm::Text => self.table.try_state(key, |key| {
                std::str::from_utf8(key).map(|_| F::default()).map_err(|_| FoldError::KeyNotText)
            })?,
        };
        state.update(value).map_err(FoldError::Value)
    }
}

/// The standard aggregates a parser can combine with: `max`, `min`, `sum`, `count`, `mean`,
/// `stats` (the names after `std:`).
const COMBINABLE: [&str; 6] = ["max", "min", "sum", "count", "mean", "stats"];

/// The standard aggregate `name` (one of [`COMBINABLE`]) over `field`, to combine rows keyed by
/// `schema`'s key fields with, given their keys in `key_form`.
pub(crate) fn combiner(
    name: &str,
    field: Option<&str>,
    schema: &Schema,
    key_form: KeyForm,
) -> Result<Box<dyn Combine>, Error> {
    fn keyed<F: Fold>(
        config: &Config,
        schema: &Schema,
        key_form: KeyForm,
    ) -> Result<Box<dyn Combine>, Error> {
        let mut aggregate = FieldAggregate::<F>::new(config)?;
        aggregate.table.observe(schema);
        aggregate.key_form = key_form;
        Ok(Box::new(aggregate))
    }
    let config = Config::new(field.map(|f| ("field".to_owned(), f.to_owned())).into_iter().collect());
    match name {
        "max" => keyed::<Extreme<Largest>>(&config, schema, key_form),
        "min" => keyed::<Extreme<Smallest>>(&config, schema, key_form),
        "sum" => keyed::<SumFold>(&config, schema, key_form),
        "count" => keyed::<CountFold>(&config, schema, key_form),
        "mean" => keyed::<MeanFold>(&config, schema, key_form),
        "stats" => keyed::<StatsFold>(&config, schema, key_form),
        other => {
            Err(Error::config(format!("cannot combine with `{other}` (one of: {})", COMBINABLE.join(", "))))
        }
    }
}

/// A number that keeps its type: integers stay integers until mixed with floats.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Num {
    /// An integer.
    I(i64),
    /// A float.
    F(f64),
}

impl Num {
    /// The number `value` holds: compiled into each fold, with the message of a value that is
    /// not a number made out of line.
    #[inline(always)]
    fn of(value: ValueRef<'_>) -> Result<Num, String> {
        match value {
            ValueRef::I64(i) => Ok(Num::I(i)),
            ValueRef::F64(f) => Ok(Num::F(f)),
            other => Err(not_a_number(other)),
        }
    }

    fn f64(self) -> f64 {
        match self {
            Num::I(i) => i as f64,
            Num::F(f) => f,
        }
    }

    fn value(self) -> ValueRef<'static> {
        match self {
            Num::I(i) => ValueRef::I64(i),
            Num::F(f) => ValueRef::F64(f),
        }
    }

    fn greater_than(self, other: Num) -> bool {
        match (self, other) {
            (Num::I(a), Num::I(b)) => a > b,
            (a, b) => a.f64() > b.f64(),
        }
    }

    fn add(self, other: Num) -> Num {
        match (self, other) {
            (Num::I(a), Num::I(b)) => a.checked_add(b).map_or(Num::F(a as f64 + b as f64), Num::I),
            (a, b) => Num::F(a.f64() + b.f64()),
        }
    }
}

#[cold]
fn not_a_number(value: ValueRef<'_>) -> String {
    format!("{} is not a number", value.type_name())
}

fn write_opt(out: &mut Vec<u8>, num: Option<Num>) {
    encode_value(out, num.map_or(ValueRef::Null, Num::value));
}

fn next_value<'a>(values: &mut ValueIter<'a>) -> Result<ValueRef<'a>, String> {
    values.next().ok_or_else(|| "missing column".to_owned())?.map_err(|e| e.to_string())
}

fn next_opt_num(values: &mut ValueIter<'_>) -> Result<Option<Num>, String> {
    match next_value(values)? {
        ValueRef::Null => Ok(None),
        value => Num::of(value).map(Some),
    }
}

fn next_i64(values: &mut ValueIter<'_>) -> Result<i64, String> {
    match next_value(values)? {
        ValueRef::I64(i) => Ok(i),
        other => Err(format!("expected a count, found {}", other.type_name())),
    }
}

/// Which end an [`Extreme`] keeps.
pub trait Direction: Default + 'static {
    /// The column name.
    const NAME: &'static [&'static str];
    /// Whether `candidate` replaces `current`.
    fn better(candidate: Num, current: Num) -> bool;
}

/// Keeps the largest value.
#[derive(Default)]
pub struct Largest;
/// Keeps the smallest value.
#[derive(Default)]
pub struct Smallest;

impl Direction for Largest {
    const NAME: &'static [&'static str] = &["max"];
    fn better(candidate: Num, current: Num) -> bool {
        candidate.greater_than(current)
    }
}

impl Direction for Smallest {
    const NAME: &'static [&'static str] = &["min"];
    fn better(candidate: Num, current: Num) -> bool {
        current.greater_than(candidate)
    }
}

/// The largest or smallest value.
#[derive(Default)]
pub struct Extreme<D> {
    best: Option<Num>,
    _direction: PhantomData<D>,
}

impl<D: Direction> Extreme<D> {
    fn offer(&mut self, candidate: Option<Num>) {
        if let Some(candidate) = candidate
            && self.best.is_none_or(|best| D::better(candidate, best))
        {
            self.best = Some(candidate);
        }
    }
}

impl<D: Direction> Fold for Extreme<D> {
    const PARTIAL: &'static [&'static str] = D::NAME;
    const FINAL: &'static [&'static str] = D::NAME;

    fn final_types(field: FieldType) -> Vec<FieldType> {
        vec![field]
    }

    #[inline]
    fn update(&mut self, value: ValueRef<'_>) -> Result<(), String> {
        self.offer(Some(Num::of(value)?));
        Ok(())
    }

    fn merge(&mut self, mut partial: ValueIter<'_>) -> Result<(), String> {
        self.offer(next_opt_num(&mut partial)?);
        Ok(())
    }

    fn write_partial(&self, out: &mut Vec<u8>) {
        write_opt(out, self.best);
    }

    fn write_final(&self, out: &mut Vec<u8>) {
        write_opt(out, self.best);
    }
}

/// The sum.
#[derive(Default)]
pub struct SumFold {
    sum: Option<Num>,
}

impl Fold for SumFold {
    const PARTIAL: &'static [&'static str] = &["sum"];
    const FINAL: &'static [&'static str] = &["sum"];

    fn final_types(field: FieldType) -> Vec<FieldType> {
        vec![field]
    }

    fn update(&mut self, value: ValueRef<'_>) -> Result<(), String> {
        let value = Num::of(value)?;
        self.sum = Some(self.sum.map_or(value, |sum| sum.add(value)));
        Ok(())
    }

    fn merge(&mut self, mut partial: ValueIter<'_>) -> Result<(), String> {
        if let Some(value) = next_opt_num(&mut partial)? {
            self.sum = Some(self.sum.map_or(value, |sum| sum.add(value)));
        }
        Ok(())
    }

    fn write_partial(&self, out: &mut Vec<u8>) {
        write_opt(out, self.sum);
    }

    fn write_final(&self, out: &mut Vec<u8>) {
        write_opt(out, self.sum);
    }
}

/// The count.
#[derive(Default)]
pub struct CountFold {
    count: i64,
}

impl Fold for CountFold {
    const FIELD_OPTIONAL: bool = true;
    const PARTIAL: &'static [&'static str] = &["count"];
    const FINAL: &'static [&'static str] = &["count"];
    const ANY_VALUES: bool = true;

    fn final_types(_: FieldType) -> Vec<FieldType> {
        vec![FieldType::I64]
    }

    fn update(&mut self, _value: ValueRef<'_>) -> Result<(), String> {
        self.count += 1;
        Ok(())
    }

    fn merge(&mut self, mut partial: ValueIter<'_>) -> Result<(), String> {
        self.count += next_i64(&mut partial)?;
        Ok(())
    }

    fn write_partial(&self, out: &mut Vec<u8>) {
        encode_value(out, ValueRef::I64(self.count));
    }

    fn write_final(&self, out: &mut Vec<u8>) {
        encode_value(out, ValueRef::I64(self.count));
    }
}

/// The mean, as sum and count.
#[derive(Default)]
pub struct MeanFold {
    sum: f64,
    count: i64,
}

impl MeanFold {
    fn mean(&self) -> ValueRef<'static> {
        if self.count == 0 { ValueRef::Null } else { ValueRef::F64(self.sum / self.count as f64) }
    }
}

impl Fold for MeanFold {
    const PARTIAL: &'static [&'static str] = &["sum", "count"];
    const FINAL: &'static [&'static str] = &["mean"];

    fn final_types(_: FieldType) -> Vec<FieldType> {
        vec![FieldType::F64]
    }

    fn update(&mut self, value: ValueRef<'_>) -> Result<(), String> {
        self.sum += Num::of(value)?.f64();
        self.count += 1;
        Ok(())
    }

    fn merge(&mut self, mut partial: ValueIter<'_>) -> Result<(), String> {
        self.sum += next_opt_num(&mut partial)?.map_or(0.0, Num::f64);
        self.count += next_i64(&mut partial)?;
        Ok(())
    }

    fn write_partial(&self, out: &mut Vec<u8>) {
        encode_value(out, ValueRef::F64(self.sum));
        encode_value(out, ValueRef::I64(self.count));
    }

    fn write_final(&self, out: &mut Vec<u8>) {
        encode_value(out, self.mean());
    }
}

/// Count, min, mean and max in one pass.
#[derive(Default)]
pub struct StatsFold {
    mean: MeanFold,
    min: Extreme<Smallest>,
    max: Extreme<Largest>,
}

impl Fold for StatsFold {
    const PARTIAL: &'static [&'static str] = &["count", "min", "sum", "max"];
    const FINAL: &'static [&'static str] = &["count", "min", "mean", "max"];

    fn final_types(field: FieldType) -> Vec<FieldType> {
        vec![FieldType::I64, field, FieldType::F64, field]
    }

    #[inline]
    fn update(&mut self, value: ValueRef<'_>) -> Result<(), String> {
        // One conversion for the four statistics.
        let value = Num::of(value)?;
        self.mean.sum += value.f64();
        self.mean.count += 1;
        self.min.offer(Some(value));
        self.max.offer(Some(value));
        Ok(())
    }

    fn merge(&mut self, mut partial: ValueIter<'_>) -> Result<(), String> {
        self.mean.count += next_i64(&mut partial)?;
        self.min.offer(next_opt_num(&mut partial)?);
        self.mean.sum += next_opt_num(&mut partial)?.map_or(0.0, Num::f64);
        self.max.offer(next_opt_num(&mut partial)?);
        Ok(())
    }

    fn write_partial(&self, out: &mut Vec<u8>) {
        encode_value(out, ValueRef::I64(self.mean.count));
        write_opt(out, self.min.best);
        encode_value(out, ValueRef::F64(self.mean.sum));
        write_opt(out, self.max.best);
    }

    fn write_final(&self, out: &mut Vec<u8>) {
        encode_value(out, ValueRef::I64(self.mean.count));
        write_opt(out, self.min.best);
        encode_value(out, self.mean.mean());
        write_opt(out, self.max.best);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flicker_guest::Value;
    use proptest::prelude::*;
    use proptest::test_runner::TestCaseError;

    fn keyed(rows: &[(&str, f64)]) -> Vec<u8> {
        let mut batch = BatchWriter::new(&Schema::keyed(["station"], ["station", "temperature"]));
        for (station, t) in rows {
            batch.push_values([ValueRef::Str(station)], [ValueRef::Str(station), ValueRef::F64(*t)]);
        }
        batch.finish()
    }

    fn result(batch: &[u8]) -> Vec<(Value, Vec<Value>)> {
        let reader = BatchReader::new(batch).unwrap();
        let mut rows: Vec<_> = reader
            .rows()
            .map(|r| {
                let r = r.unwrap();
                (
                    r.key_values().next().unwrap().unwrap().to_owned(),
                    r.values().map(|v| v.unwrap().to_owned()).collect(),
                )
            })
            .collect();
        rows.sort_by(|a, b| format!("{:?}", a.0).cmp(&format!("{:?}", b.0)));
        rows
    }

    fn config() -> Config {
        Config::new(vec![("field".into(), "temperature".into())])
    }

    #[test]
    fn stats_combine_across_the_shuffle() {
        let mut left = Stats::new(&config()).unwrap();
        left.update(&keyed(&[("a", 1.0), ("b", 5.0), ("a", 3.0)])).unwrap();
        let mut right = Stats::new(&config()).unwrap();
        right.update(&keyed(&[("a", -1.0)])).unwrap();
        let mut reduce = Stats::new(&config()).unwrap();
        reduce.merge(&left.partials().unwrap()).unwrap();
        reduce.merge(&right.partials().unwrap()).unwrap();
        let out = reduce.finish().unwrap();
        assert_eq!(BatchReader::new(&out).unwrap().schema().value_fields, ["count", "min", "mean", "max"]);
        assert_eq!(
            result(&out),
            vec![
                (
                    Value::Str("a".into()),
                    vec![Value::I64(3), Value::F64(-1.0), Value::F64(1.0), Value::F64(3.0)]
                ),
                (
                    Value::Str("b".into()),
                    vec![Value::I64(1), Value::F64(5.0), Value::F64(5.0), Value::F64(5.0)]
                ),
            ]
        );
    }

    #[test]
    fn max_and_count() {
        let mut max = Max::new(&config()).unwrap();
        max.update(&keyed(&[("a", 1.0), ("a", 7.5)])).unwrap();
        let mut reduce = Max::new(&config()).unwrap();
        reduce.merge(&max.partials().unwrap()).unwrap();
        assert_eq!(result(&reduce.finish().unwrap()), vec![(Value::Str("a".into()), vec![Value::F64(7.5)])]);
        let mut count = Count::new(&Config::default()).unwrap();
        count.update(&keyed(&[("a", 1.0), ("a", 7.5)])).unwrap();
        assert_eq!(result(&count.finish().unwrap()), vec![(Value::Str("a".into()), vec![Value::I64(2)])]);
    }

    /// An aggregate's `update` against folding its rows one at a time, as the general loop of
    /// `update` does: the same state, or the same error for the same row.
    fn update_is_folding_row_by_row<F: Fold>(rows: &[(String, Value, Value)]) -> Result<(), TestCaseError> {
        let schema = Schema::keyed(["station"], ["name", "temperature"]);
        let mut batch = BatchWriter::new(&schema);
        for (key, name, value) in rows {
            batch.push_values([ValueRef::Str(key)], [name.as_ref(), value.as_ref()]);
        }
        let batch = batch.finish();
        let mut updated = FieldAggregate::<F>::new(&config()).unwrap();
        let outcome = updated.update(&batch);
        let mut folded = FieldAggregate::<F>::new(&config()).unwrap();
        folded.table.observe(&schema);
        let mut expected = Ok(());
        for (index, row) in BatchReader::new(&batch).unwrap().rows().enumerate() {
            let row = row.unwrap();
            if let Err(message) = folded.fold_row(row.key, row.value(1).unwrap().unwrap()) {
                expected = Err(Error::bad_record(index, format!("field `temperature`: {message}")));
                break;
            }
        }
        prop_assert_eq!(outcome, expected);
        prop_assert_eq!(updated.partials().unwrap(), folded.partials().unwrap());
        Ok(())
    }

    proptest! {
        #[test]
        fn update_folds_every_row_as_the_general_loop_does(
            rows in proptest::collection::vec(
                (
                    "[a-c]{0,3}|[a-z]{9,20}",
                    prop_oneof![Just(Value::Null), "[a-z]{0,4}".prop_map(Value::Str), any::<i64>().prop_map(Value::I64)],
                    prop_oneof![
                        4 => any::<f64>().prop_map(Value::F64),
                        4 => (-5i64..5).prop_map(Value::I64),
                        1 => Just(Value::Null),
                        1 => Just(Value::Bool(true)),
                        1 => "x?".prop_map(Value::Str),
                    ],
                ),
                0..40,
            ),
        ) {
            update_is_folding_row_by_row::<Extreme<Largest>>(&rows)?;
            update_is_folding_row_by_row::<StatsFold>(&rows)?;
            update_is_folding_row_by_row::<SumFold>(&rows)?;
            update_is_folding_row_by_row::<CountFold>(&rows)?;
        }
    }

    #[test]
    fn non_numeric_field_is_a_bad_record() {
        let mut max = Max::new(&Config::new(vec![("field".into(), "station".into())])).unwrap();
        let err = max.update(&keyed(&[("a", 1.0)])).unwrap_err();
        assert!(matches!(err, Error::BadRecord { index: 0, .. }), "{err:?}");
        assert!(Max::new(&Config::default()).is_err());
    }
}
