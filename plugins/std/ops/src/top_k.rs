//! `std:top-k`: the first `n` rows of all rows in an order (Spark's `orderBy(...).limit(n)`), or
//! of each key's rows with `per_key = true`.
//!
//! Config: `n` (1 to 1 000 000), `by`: comma-separated `field`, `field:asc` or `field:desc`
//! (ascending unless said), ranking rows as [`crate::order`] says: nulls first ascending and last
//! descending, as Spark sorts, and rows equal on the fields by their encoded values, so the result
//! does not depend on how the rows were partitioned; `per_key` (default `false`).
//!
//! Output rows are input rows, with their key, fields and types: the first `n` in order (of each
//! key, keys in the order they were first seen), best first. A global top-k groups every row
//! under one state whatever its key, and the planner gives it one partition, so its one reduce
//! task merges every map task's partials. `update` and `merge` both keep at most `n`
//! rows per key (a buffer of up to `2n`, cut back to the best `n` when full); `partials` are the
//! same rows as the output.

use crate::locate;
use crate::order::Order;
use crate::row_groups::{ALLOCATION_OVERHEAD, RowGroups};
use flicker_guest::{Aggregate, BatchReader, Config, Error, RowType, TypeMismatch, Value, ValueRef};
use std::mem::size_of;

/// The largest `n` allowed.
const MAX_N: usize = 1_000_000;

/// The `std:top-k` operator.
pub struct TopK {
    n: usize,
    order: Order,
    /// Whether each key has its own top (else all rows share one).
    per_key: bool,
    groups: RowGroups<Top>,
    /// Heap bytes the groups' rows hold, allocation overhead included.
    held: usize,
}

/// A row held, with the values it ranks by.
struct Ranked {
    /// The values of the order's fields, in its order.
    values: Box<[Value]>,
    /// The row's encoded key.
    key: Box<[u8]>,
    /// The row's encoded values.
    row: Box<[u8]>,
}

impl Ranked {
    fn new(values: &[ValueRef<'_>], key: &[u8], row: &[u8]) -> Self {
        Self {
            values: values.iter().map(|v| ValueRef::to_owned(*v)).collect(),
            key: key.into(),
            row: row.into(),
        }
    }

    fn values(&self) -> impl Iterator<Item = ValueRef<'_>> {
        self.values.iter().map(Value::as_ref)
    }

    /// The heap bytes it owns, allocation overhead included.
    fn heap_bytes(&self) -> usize {
        let text = |value: &Value| match value {
            Value::Str(s) => s.len() + ALLOCATION_OVERHEAD,
            _ => 0,
        };
        self.row.len()
            + self.key.len()
            + self.values.len() * size_of::<Value>()
            + 2 * ALLOCATION_OVERHEAD
            + self.values.iter().map(text).sum::<usize>()
    }
}

/// The rows of one key that may still be among its first `n`.
#[derive(Default)]
struct Top {
    rows: Vec<Ranked>,
    /// Whether `rows[..n]` are the best `n` rows offered before the ones after them, in order.
    /// Then a row that does not rank before `rows[n - 1]` cannot be among the first `n`.
    cut: bool,
    /// The heap bytes of `rows`, allocation overhead included.
    bytes: usize,
}

impl Top {
    /// Keeps the row `row` whose order fields hold `values`, if it may be among the first `n`.
    fn offer(&mut self, order: &Order, n: usize, values: &[ValueRef<'_>], key: &[u8], row: &[u8]) {
        if self.cut {
            let last = &self.rows[n - 1];
            let rank = order.compare(values.iter().copied(), row, last.values(), &last.row);
            if rank.then_with(|| key.cmp(&last.key)).is_ge() {
                return;
            }
        }
        let ranked = Ranked::new(values, key, row);
        let capacity = self.rows.capacity();
        self.bytes += ranked.heap_bytes();
        self.rows.push(ranked);
        self.bytes += (self.rows.capacity() - capacity) * size_of::<Ranked>();
        if self.rows.len() >= 2 * n {
            self.cut_to(order, n);
        }
    }

    /// Sorts the rows and drops all but the first `n`.
    fn cut_to(&mut self, order: &Order, n: usize) {
        // Rows equal in order and values are told apart by their keys (a global top).
        self.rows.sort_unstable_by(|a, b| {
            order.compare(a.values(), &a.row, b.values(), &b.row).then_with(|| a.key.cmp(&b.key))
        });
        if self.rows.len() > n {
            for dropped in self.rows.drain(n..) {
                self.bytes -= dropped.heap_bytes();
            }
        }
        self.cut = self.rows.len() == n;
    }
}

impl TopK {
    /// Folds the rows of `input` (input rows or partials, which are alike) into the groups.
    fn fold(&mut self, input: &[u8]) -> Result<(), Error> {
        let batch = BatchReader::new(input)?;
        let empty = batch.row_bytes().is_empty();
        self.groups.adopt(batch.schema(), empty)?;
        if empty {
            // Its fields only matter for the schema of an empty output (and an instance that saw
            // no rows sends partials of no fields).
            return Ok(());
        }
        let positions = self
            .order
            .fields()
            .iter()
            .map(|field| locate(batch.schema(), &field.name))
            .collect::<Result<Vec<_>, _>>()?;
        let mut values = Vec::with_capacity(positions.len());
        for (index, row) in batch.rows().enumerate() {
            let row = row?;
            values.clear();
            for position in &positions {
                values.push(position.get(&row, index)?);
            }
            let group = if self.per_key { row.key } else { &[] };
            let top = self.groups.state(group, Top::default);
            let before = top.bytes;
            top.offer(&self.order, self.n, &values, row.key, row.value);
            self.held = self.held - before + top.bytes;
        }
        Ok(())
    }

    fn emit(&mut self) -> Vec<u8> {
        let (order, n) = (&self.order, self.n);
        self.held = 0;
        self.groups.emit(0, |out, _, mut top| {
            top.cut_to(order, n);
            for ranked in top.rows {
                out.push_raw(&ranked.key, &ranked.row);
            }
        })
    }
}

impl Aggregate for TopK {
    fn new(config: &Config) -> Result<Self, Error> {
        config.allow_only(&["n", "by", "per_key"])?;
        let raw = config.require("n")?;
        let n = raw.trim().parse::<usize>().ok().filter(|n| (1..=MAX_N).contains(n)).ok_or_else(|| {
            Error::config(format!("`n` = {raw:?} must be a whole number from 1 to {MAX_N}"))
        })?;
        let order = Order::parse(config.require("by")?)?;
        let per_key = config.parse_or("per_key", false)?;
        Ok(Self { n, order, per_key, groups: RowGroups::default(), held: 0 })
    }

    /// The input type; the `by` fields must exist.
    fn output_type(&self, input: &RowType) -> Result<Option<RowType>, TypeMismatch> {
        for field in self.order.fields() {
            input.require(&field.name)?;
        }
        Ok(Some(input.clone()))
    }

    fn update(&mut self, input: &[u8]) -> Result<(), Error> {
        self.fold(input)
    }

    fn partials(&mut self) -> Result<Vec<u8>, Error> {
        Ok(self.emit())
    }

    fn merge(&mut self, partials: &[u8]) -> Result<(), Error> {
        self.fold(partials)
    }

    fn finish(&mut self) -> Result<Vec<u8>, Error> {
        Ok(self.emit())
    }

    fn state_bytes(&self) -> u64 {
        self.groups.state_bytes() + self.held as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{batch, config, raw_rows, rows, s};
    use flicker_guest::{Field, FieldType, Schema, encode_value};
    use proptest::prelude::*;
    use std::cmp::Ordering;
    use std::collections::BTreeMap;

    /// A top-k of each key.
    fn top_k(n: &str, by: &str) -> TopK {
        TopK::new(&config(&[("n", n), ("by", by), ("per_key", "true")])).unwrap()
    }

    /// Rows keyed by station (which stays among the values), with a temperature and a rank.
    fn readings(rows: &[(&str, Value, i64)]) -> Vec<u8> {
        let rows: Vec<_> =
            rows.iter().map(|(st, t, r)| (vec![s(st)], vec![s(st), t.clone(), Value::I64(*r)])).collect();
        batch(&Schema::keyed(["station"], ["station", "t", "r"]), &rows)
    }

    /// The (station, t, r) of each output row, in order.
    fn output(op: &mut TopK) -> Vec<(String, Value, i64)> {
        let (schema, rows) = rows(&op.finish().unwrap());
        assert_eq!(schema, Schema::keyed(["station"], ["station", "t", "r"]));
        rows.into_iter()
            .map(|(_, values)| match &values[..] {
                [Value::Str(station), t, Value::I64(r)] => (station.clone(), t.clone(), *r),
                other => panic!("{other:?}"),
            })
            .collect()
    }

    fn row(station: &str, t: Value, r: i64) -> (String, Value, i64) {
        (station.to_owned(), t, r)
    }

    #[test]
    fn keeps_the_first_n_rows_of_each_key_best_first() {
        let mut op = top_k("2", "t:desc");
        op.update(&readings(&[
            ("b", Value::F64(1.0), 0),
            ("a", Value::F64(5.0), 1),
            ("a", Value::Null, 2),
            ("a", Value::F64(7.0), 3),
            ("b", Value::I64(3), 4),
            ("a", Value::F64(6.0), 5),
            ("b", Value::F64(f64::NAN), 6),
        ]))
        .unwrap();
        let out = output(&mut op);
        let expected = [
            row("b", Value::F64(f64::NAN), 6),
            row("b", Value::I64(3), 4),
            row("a", Value::F64(7.0), 3),
            row("a", Value::F64(6.0), 5),
        ];
        assert_eq!(format!("{out:?}"), format!("{expected:?}"), "NaN is the largest number");
        assert_eq!(output(&mut op), [], "finish empties the state");
    }

    #[test]
    fn a_global_top_ranks_keyed_rows_together_and_keeps_their_keys() {
        let mut op = TopK::new(&config(&[("n", "2"), ("by", "t:desc")])).unwrap();
        op.update(&readings(&[("b", Value::F64(1.0), 0), ("a", Value::F64(7.0), 3)])).unwrap();
        let partials = op.partials().unwrap();
        let mut reduce = TopK::new(&config(&[("n", "2"), ("by", "t:desc")])).unwrap();
        reduce.merge(&partials).unwrap();
        let mut other = TopK::new(&config(&[("n", "2"), ("by", "t:desc")])).unwrap();
        other.update(&readings(&[("c", Value::F64(9.0), 4), ("a", Value::F64(6.0), 5)])).unwrap();
        reduce.merge(&other.partials().unwrap()).unwrap();
        let expected = [row("c", Value::F64(9.0), 4), row("a", Value::F64(7.0), 3)];
        assert_eq!(format!("{:?}", output(&mut reduce)), format!("{expected:?}"));
    }

    #[test]
    fn nulls_come_first_ascending_and_last_descending() {
        let input = readings(&[("a", Value::F64(2.0), 0), ("a", Value::Null, 1), ("a", Value::F64(1.0), 2)]);
        let mut ascending = top_k("3", "t");
        ascending.update(&input).unwrap();
        let ranks: Vec<i64> = output(&mut ascending).into_iter().map(|(_, _, r)| r).collect();
        assert_eq!(ranks, [1, 2, 0]);
        let mut descending = top_k("3", "t:desc");
        descending.update(&input).unwrap();
        let ranks: Vec<i64> = output(&mut descending).into_iter().map(|(_, _, r)| r).collect();
        assert_eq!(ranks, [0, 2, 1]);
    }

    #[test]
    fn later_fields_and_then_the_row_bytes_break_ties() {
        let input = [
            ("a", Value::I64(1), 1),
            ("a", Value::I64(2), 1),
            ("a", Value::I64(1), 3),
            ("a", Value::I64(2), 2),
            ("a", Value::I64(1), 2),
        ];
        let mut op = top_k("4", "t:asc,r:desc");
        op.update(&readings(&input)).unwrap();
        let pairs: Vec<(Value, i64)> = output(&mut op).into_iter().map(|(_, t, r)| (t, r)).collect();
        assert_eq!(pairs, [(Value::I64(1), 3), (Value::I64(1), 2), (Value::I64(1), 1), (Value::I64(2), 2)]);
        // Equal on `by`: the rows' bytes decide, whatever order they came in.
        let mut forward = top_k("2", "t");
        forward.update(&readings(&input)).unwrap();
        let mut reversed_input = input;
        reversed_input.reverse();
        let mut backward = top_k("2", "t");
        backward.update(&readings(&reversed_input)).unwrap();
        let kept = output(&mut forward);
        assert_eq!(kept.len(), 2);
        assert!(kept.iter().all(|(_, t, _)| *t == Value::I64(1)));
        assert_eq!(kept, output(&mut backward));
    }

    #[test]
    fn unkeyed_rows_make_one_global_top_and_n_may_exceed_the_rows() {
        let schema = Schema::values(["x"]);
        let input = batch(&schema, &[3, 1, 2].map(|x| (vec![], vec![Value::I64(x)])));
        let mut op = top_k("10", "x");
        op.update(&input).unwrap();
        let (out_schema, out) = rows(&op.finish().unwrap());
        assert_eq!(out_schema, schema);
        assert_eq!(out, [1, 2, 3].map(|x| (vec![], vec![Value::I64(x)])));
    }

    #[test]
    fn empty_input_gives_an_empty_output() {
        let mut op = top_k("3", "t");
        assert_eq!(rows(&op.finish().unwrap()).1, []);
        op.update(&readings(&[])).unwrap();
        assert_eq!(output(&mut op), []);
    }

    #[test]
    fn config_is_checked() {
        for pairs in [
            &[("n", "0"), ("by", "t")][..],
            &[("n", "1000001"), ("by", "t")],
            &[("n", "-1"), ("by", "t")],
            &[("n", "ten"), ("by", "t")],
            &[("by", "t")],
            &[("n", "3")],
            &[("n", "3"), ("by", " ")],
            &[("n", "3"), ("by", "t:up")],
            &[("n", "3"), ("by", "t"), ("k", "1")],
        ] {
            assert!(matches!(TopK::new(&config(pairs)), Err(Error::InvalidConfig(_))), "{pairs:?}");
        }
        assert_eq!(top_k(" 1000000 ", "t").n, 1_000_000);
    }

    #[test]
    fn an_unknown_field_is_named() {
        let error = top_k("1", "t,place").update(&readings(&[("a", Value::Null, 0)])).unwrap_err();
        assert!(
            matches!(&error, Error::Failed(m) if m.contains("`place`") && m.contains("station, t, r")),
            "{error:?}"
        );
        let input = RowType::values([Field::new("t", FieldType::F64)]);
        assert_eq!(top_k("1", "t").output_type(&input), Ok(Some(input.clone())));
        assert_eq!(
            top_k("1", "t,place").output_type(&input),
            Err(TypeMismatch::MissingField { field: "place".into() })
        );
    }

    #[test]
    fn state_bytes_count_at_most_2n_rows_per_key() {
        let mut op = top_k("10", "r");
        let long = "x".repeat(1000);
        let input: Vec<(&str, Value, i64)> = (0..1000).map(|r| ("a", Value::Str(long.clone()), r)).collect();
        op.update(&readings(&input)).unwrap();
        let held = op.state_bytes();
        assert!(held > 10 * 1000 && held < 20 * 1200 + 4096, "{held}");
        op.partials().unwrap();
        assert_eq!(op.state_bytes(), 0);
    }

    /// A row of the property test: the key (or none), an integer, a string and a float field, each
    /// maybe null.
    type TestRow = (Option<i64>, Option<i64>, Option<String>, Option<f64>);

    fn arb_rows() -> impl Strategy<Value = Vec<TestRow>> {
        let float = prop_oneof![Just(-1.0), Just(0.5), Just(2.0), Just(f64::INFINITY), Just(f64::NAN)];
        let row = (
            proptest::option::of(0i64..3),
            proptest::option::of(0i64..4),
            proptest::option::of("[ab]{0,2}"),
            proptest::option::of(float),
        );
        proptest::collection::vec(row, 0..60)
    }

    fn values((k, i, s, f): &TestRow) -> Vec<Value> {
        vec![Value::from(*k), Value::from(*i), Value::from(s.clone()), Value::from(*f)]
    }

    /// The order of the test's rows by the rules written out for their three fields, independent
    /// of `compare_values`: `Option` puts `None` first, NaN goes above every float.
    fn oracle_compare(by: &[(usize, bool)], a: &TestRow, b: &TestRow) -> Ordering {
        let float = |f: &Option<f64>| f.map(|f| (f.is_nan(), if f.is_nan() { 0.0 } else { f }));
        for &(field, descending) in by {
            let ordering = match field {
                1 => a.1.cmp(&b.1),
                2 => a.2.cmp(&b.2),
                _ => float(&a.3).partial_cmp(&float(&b.3)).unwrap(),
            };
            let ordering = if descending { ordering.reverse() } else { ordering };
            if ordering.is_ne() {
                return ordering;
            }
        }
        let encoded = |row: &TestRow| {
            let mut bytes = Vec::new();
            values(row).iter().for_each(|v| encode_value(&mut bytes, v.as_ref()));
            bytes
        };
        encoded(a).cmp(&encoded(b))
    }

    /// Each key's rows, encoded, in output order.
    fn by_key(batch: &[u8]) -> BTreeMap<Vec<u8>, Vec<Vec<u8>>> {
        let mut keyed: BTreeMap<_, Vec<_>> = BTreeMap::new();
        for (key, row) in raw_rows(batch) {
            keyed.entry(key).or_default().push(row);
        }
        keyed
    }

    proptest! {
        #[test]
        fn partials_merged_in_any_order_give_the_oracles_top_n(
            rows in arb_rows(),
            keyed in any::<bool>(),
            n in 1usize..6,
            by in proptest::collection::vec((1usize..4, any::<bool>()), 1..4),
            instance_of_row in proptest::collection::vec(0usize..4, 60),
            spill_every in 1usize..8,
            merge_order in Just(()).prop_perturb(|(), mut rng| rng.random::<u64>()),
        ) {
            let names = ["k", "i", "s", "f"];
            let by_text: Vec<String> = by
                .iter()
                .map(|&(field, descending)| format!("{}:{}", names[field], if descending { "desc" } else { "asc" }))
                .collect();
            let by_text = by_text.join(",");
            let schema = if keyed { Schema::keyed(["k"], names) } else { Schema::values(names) };
            let encoded: Vec<(Vec<Value>, Vec<Value>)> = rows
                .iter()
                .map(|row| (if keyed { vec![Value::from(row.0)] } else { vec![] }, values(row)))
                .collect();
            // The oracle: each key's rows sorted, the first n.
            let mut expected: BTreeMap<Vec<u8>, Vec<&TestRow>> = BTreeMap::new();
            for (row, (key, _)) in rows.iter().zip(&encoded) {
                let mut key_bytes = Vec::new();
                key.iter().for_each(|v| encode_value(&mut key_bytes, v.as_ref()));
                expected.entry(key_bytes).or_default().push(row);
            }
            let expected: BTreeMap<Vec<u8>, Vec<Vec<u8>>> = expected
                .into_iter()
                .map(|(key, mut group)| {
                    group.sort_by(|a, b| oracle_compare(&by, a, b));
                    group.truncate(n);
                    let group = group.into_iter().map(|row| {
                        let mut bytes = Vec::new();
                        values(row).iter().for_each(|v| encode_value(&mut bytes, v.as_ref()));
                        bytes
                    });
                    (key, group.collect())
                })
                .collect();
            // One instance.
            let mut whole = top_k(&n.to_string(), &by_text);
            whole.update(&batch(&schema, &encoded)).unwrap();
            prop_assert_eq!(&by_key(&whole.finish().unwrap()), &expected);
            // Four map instances, rows dealt at random, each emptying its state every few rows;
            // their partials merged in a random order.
            let mut maps: Vec<TopK> = (0..4).map(|_| top_k(&n.to_string(), &by_text)).collect();
            let mut partials = Vec::new();
            for (i, (row, instance)) in encoded.iter().zip(&instance_of_row).enumerate() {
                maps[*instance].update(&batch(&schema, std::slice::from_ref(row))).unwrap();
                if i % spill_every == spill_every - 1 {
                    partials.push(maps[*instance].partials().unwrap());
                }
            }
            partials.extend(maps.iter_mut().map(|map| map.partials().unwrap()));
            let mut shuffled = merge_order;
            for i in (1..partials.len()).rev() {
                shuffled = shuffled.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                partials.swap(i, (shuffled >> 33) as usize % (i + 1));
            }
            let mut reduce = top_k(&n.to_string(), &by_text);
            for partial in &partials {
                reduce.merge(partial).unwrap();
            }
            prop_assert_eq!(&by_key(&reduce.finish().unwrap()), &expected);
        }
    }
}
