//! `std:distinct`: one row per distinct combination of some fields' values, as Spark's
//! `dropDuplicates(cols)`.
//!
//! Config: `on`, comma-separated field names (default: every field, key fields and value fields).
//! Values are compared as encoded, but for floats: `-0.0` and `0.0` are one value, as are all
//! NaNs; nulls equal each other. Of the rows that agree on the `on` fields, the first one folded
//! in stays: the first one `update` sees on the map side, the one `merge` saw first on the reduce
//! side (so which one is deterministic for a given order of calls, not across partitionings).
//!
//! Output rows are keyed by the `on` fields' values and carry the whole row they keep as values:
//! every field once, the input's key fields first (the columns `std:format-csv` writes), with the
//! input's names and types. The `on` fields stay among the values, as `std:key-by` leaves its
//! fields, so a later key-by keeps them. `partials` are rows of the same shape, so the shuffle
//! routes equal combinations to the same partition. Rows come out in the order their combination
//! was first seen.

use crate::columns::Columns;
use crate::row_groups::{ALLOCATION_OVERHEAD, RowGroups};
use crate::{field_names, locate};
use flicker_guest::{
    Aggregate, BatchReader, Config, Error, RowType, Schema, TypeMismatch, ValueRef, encode_value,
};

/// The `std:distinct` operator.
pub struct Distinct {
    /// The fields whose values make a row distinct; `None` for all of them.
    on: Option<Vec<String>>,
    /// The row kept for each combination of the `on` values (encoded, floats normalized), as its
    /// encoded columns.
    groups: RowGroups<Box<[u8]>>,
    /// Heap bytes of the rows held, allocation overhead included.
    row_bytes: usize,
}

impl Distinct {
    /// Keeps `row` for `key`, unless a row is kept for it already.
    fn keep(&mut self, key: &[u8], row: &[u8]) {
        let mut added = 0;
        self.groups.state(key, || {
            added = row.len() + ALLOCATION_OVERHEAD;
            row.into()
        });
        self.row_bytes += added;
    }

    fn emit(&mut self) -> Vec<u8> {
        // Each row: two length prefixes, its key and its columns.
        let capacity = self.row_bytes + self.groups.key_bytes() + 8 * self.groups.len();
        self.row_bytes = 0;
        self.groups.emit(capacity, |out, key, row| out.push_raw(key, &row))
    }
}

/// `value` as it groups: `-0.0` as `0.0`, every NaN as the same NaN.
fn normalized(value: ValueRef<'_>) -> ValueRef<'_> {
    match value {
        // A float pattern compares with `==`, so this matches `-0.0` too.
        ValueRef::F64(0.0) => ValueRef::F64(0.0),
        ValueRef::F64(f) if f.is_nan() => ValueRef::F64(f64::NAN),
        other => other,
    }
}

impl Aggregate for Distinct {
    fn new(config: &Config) -> Result<Self, Error> {
        config.allow_only(&["on"])?;
        let on = config.get("on").map(|text| field_names("on", text)).transpose()?;
        Ok(Self { on, groups: RowGroups::default(), row_bytes: 0 })
    }

    /// Keyed by the `on` fields (which must exist), every input field once as values.
    fn output_type(&self, input: &RowType) -> Result<Option<RowType>, TypeMismatch> {
        let values: Vec<_> = input.fields().cloned().collect();
        let key = match &self.on {
            Some(on) => on.iter().map(|field| input.require(field).cloned()).collect::<Result<_, _>>()?,
            None => values.clone(),
        };
        Ok(Some(RowType { key, values }))
    }

    fn update(&mut self, input: &[u8]) -> Result<(), Error> {
        let batch = BatchReader::new(input)?;
        let columns = Columns::of(batch.schema());
        let fields: Vec<String> = columns.names().cloned().collect();
        let on = self.on.clone().unwrap_or_else(|| fields.clone());
        if batch.row_bytes().is_empty() {
            // Its fields only matter for the schema of an empty output.
            return self.groups.adopt(&Schema { key_fields: on, value_fields: fields }, true);
        }
        let positions =
            on.iter().map(|field| locate(batch.schema(), field)).collect::<Result<Vec<_>, _>>()?;
        self.groups.adopt(&Schema { key_fields: on, value_fields: fields }, false)?;
        let (mut key, mut row_columns) = (Vec::with_capacity(64), Vec::with_capacity(256));
        for (index, row) in batch.rows().enumerate() {
            let row = row?;
            key.clear();
            for position in &positions {
                encode_value(&mut key, normalized(position.get(&row, index)?));
            }
            row_columns.clear();
            columns.write_raw(&row, &mut row_columns)?;
            self.keep(&key, &row_columns);
        }
        Ok(())
    }

    fn partials(&mut self) -> Result<Vec<u8>, Error> {
        Ok(self.emit())
    }

    fn merge(&mut self, partials: &[u8]) -> Result<(), Error> {
        let batch = BatchReader::new(partials)?;
        self.groups.adopt(batch.schema(), batch.row_bytes().is_empty())?;
        for row in batch.rows() {
            let row = row?;
            self.keep(row.key, row.value);
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<Vec<u8>, Error> {
        Ok(self.emit())
    }

    fn state_bytes(&self) -> u64 {
        self.groups.state_bytes() + self.row_bytes as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{batch, config, raw_rows, rows, s};
    use flicker_guest::{Field, FieldType, Value};
    use proptest::prelude::*;

    fn readings(rows: &[(&str, Value)]) -> Vec<u8> {
        let rows: Vec<_> = rows.iter().map(|(station, t)| (vec![], vec![s(station), t.clone()])).collect();
        batch(&Schema::values(["station", "temperature"]), &rows)
    }

    fn distinct(pairs: &[(&str, &str)]) -> Distinct {
        Distinct::new(&config(pairs)).unwrap()
    }

    #[test]
    fn keeps_the_first_row_of_each_combination_in_the_order_first_seen() {
        let mut op = distinct(&[("on", "station")]);
        op.update(&readings(&[("b", Value::F64(1.0)), ("a", Value::F64(2.0)), ("b", Value::F64(3.0))]))
            .unwrap();
        op.update(&readings(&[("c", Value::Null), ("a", Value::F64(4.0)), ("c", Value::F64(5.0))])).unwrap();
        let (schema, out) = rows(&op.finish().unwrap());
        assert_eq!(schema, Schema::keyed(["station"], ["station", "temperature"]));
        assert_eq!(
            out,
            [
                (vec![s("b")], vec![s("b"), Value::F64(1.0)]),
                (vec![s("a")], vec![s("a"), Value::F64(2.0)]),
                (vec![s("c")], vec![s("c"), Value::Null]),
            ]
        );
        assert_eq!(rows(&op.finish().unwrap()).1, [], "finish empties the state");
    }

    #[test]
    fn by_default_only_rows_equal_in_every_field_are_duplicates() {
        let mut op = distinct(&[]);
        op.update(&readings(&[
            ("a", Value::F64(1.0)),
            ("a", Value::I64(1)),
            ("a", Value::F64(1.0)),
            ("a", Value::F64(-0.0)),
            ("a", Value::F64(0.0)),
            ("a", Value::F64(f64::NAN)),
            ("a", Value::F64(-f64::NAN)),
            ("a", Value::Null),
            ("a", Value::Null),
        ]))
        .unwrap();
        let (schema, out) = rows(&op.finish().unwrap());
        assert_eq!(schema, Schema::keyed(["station", "temperature"], ["station", "temperature"]));
        let temperatures: Vec<String> = out.iter().map(|(_, values)| format!("{:?}", values[1])).collect();
        assert_eq!(temperatures, ["F64(1.0)", "I64(1)", "F64(-0.0)", "F64(NaN)", "Null"]);
        // The key holds the normalized float, the values the row as it came.
        assert_eq!(format!("{:?}", out[2].0[1]), "F64(0.0)");
    }

    #[test]
    fn the_whole_row_is_kept_with_its_key_fields_first() {
        // Keyed by a field that is not among the values (as an aggregate's output is).
        let schema = Schema::keyed(["station"], ["max"]);
        let input = batch(
            &schema,
            &[
                (vec![s("a")], vec![Value::I64(3)]),
                (vec![s("b")], vec![Value::I64(3)]),
                (vec![s("c")], vec![Value::I64(4)]),
            ],
        );
        let mut op = distinct(&[("on", "max")]);
        op.update(&input).unwrap();
        let (out_schema, out) = rows(&op.finish().unwrap());
        assert_eq!(out_schema, Schema::keyed(["max"], ["station", "max"]));
        assert_eq!(
            out,
            [
                (vec![Value::I64(3)], vec![s("a"), Value::I64(3)]),
                (vec![Value::I64(4)], vec![s("c"), Value::I64(4)])
            ]
        );
        let row_type = RowType {
            key: vec![Field::new("station", FieldType::String)],
            values: vec![Field::new("max", FieldType::I64)],
        };
        let output_type = op.output_type(&row_type).unwrap().unwrap();
        let names = |fields: &[Field]| fields.iter().map(|f| f.name.clone()).collect::<Vec<_>>();
        assert_eq!(
            (names(&output_type.key), names(&output_type.values)),
            (out_schema.key_fields, out_schema.value_fields)
        );
        assert_eq!(output_type.key, [Field::new("max", FieldType::I64)]);
    }

    #[test]
    fn the_output_type_is_the_whole_row_keyed_by_the_on_fields() {
        let input = RowType {
            key: vec![Field::new("station", FieldType::String)],
            values: vec![Field::new("station", FieldType::String), Field::new("t", FieldType::F64)],
        };
        let all = distinct(&[]).output_type(&input).unwrap().unwrap();
        assert_eq!(all, RowType { key: input.values.clone(), values: input.values.clone() });
        let on_t = distinct(&[("on", "t")]).output_type(&input).unwrap().unwrap();
        assert_eq!(
            on_t,
            RowType { key: vec![Field::new("t", FieldType::F64)], values: input.values.clone() }
        );
        assert_eq!(
            distinct(&[("on", "t, place")]).output_type(&input),
            Err(TypeMismatch::MissingField { field: "place".into() })
        );
    }

    #[test]
    fn an_unknown_field_is_named_with_the_known_ones() {
        let error =
            distinct(&[("on", "station,place")]).update(&readings(&[("a", Value::Null)])).unwrap_err();
        match error {
            Error::Failed(message) => {
                assert!(message.contains("`place`") && message.contains("station, temperature"), "{message}")
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(Distinct::new(&config(&[("on", " , ")])), Err(Error::InvalidConfig(_))));
        assert!(matches!(Distinct::new(&config(&[("of", "station")])), Err(Error::InvalidConfig(_))));
    }

    #[test]
    fn empty_input_gives_an_empty_output() {
        let mut op = distinct(&[("on", "station")]);
        assert_eq!(rows(&op.finish().unwrap()).1, []);
        op.update(&readings(&[])).unwrap();
        let (schema, out) = rows(&op.finish().unwrap());
        assert_eq!((schema, out), (Schema::keyed(["station"], ["station", "temperature"]), vec![]));
    }

    #[test]
    fn state_bytes_count_the_rows_held() {
        let mut op = distinct(&[("on", "station")]);
        let long = "x".repeat(10_000);
        let many: Vec<(&str, Value)> = (0..100).map(|i| ("a", Value::Str(format!("{long}{i}")))).collect();
        let mut one = many.clone();
        one[0].0 = "b";
        op.update(&readings(&many)).unwrap();
        let held_one = op.state_bytes();
        assert!(held_one > 10_000, "{held_one}");
        assert!(held_one < 12_000, "the duplicates are not held: {held_one}");
        op.update(&readings(&one)).unwrap();
        assert!(op.state_bytes() > 20_000, "{}", op.state_bytes());
        op.partials().unwrap();
        assert_eq!(op.state_bytes(), 0);
    }

    /// A row of the property test: keyed by `k` (which stays among the values) or not.
    fn arb_rows() -> impl Strategy<Value = Vec<(Option<i64>, Value, Value)>> {
        let value = prop_oneof![
            Just(Value::Null),
            (0i64..3).prop_map(Value::I64),
            prop_oneof![Just(0.0), Just(-0.0), Just(f64::NAN), Just(1.5)].prop_map(Value::F64),
            "[ab]{0,2}".prop_map(Value::Str),
        ];
        proptest::collection::vec((proptest::option::of(0i64..3), value.clone(), value), 0..40)
    }

    /// What the distinct rows should be: the first of each combination, in the order first seen,
    /// by a reading of the rules independent of the encoding.
    fn oracle(rows: &[(Vec<Value>, Vec<Value>)], on: &[usize]) -> Vec<Vec<Value>> {
        let text = |value: &Value| match value {
            Value::F64(f) if *f == 0.0 => "F64(0)".to_owned(),
            Value::F64(f) if f.is_nan() => "NaN".to_owned(),
            other => format!("{other:?}"),
        };
        let mut seen = std::collections::HashSet::new();
        let mut kept = Vec::new();
        for (key, values) in rows {
            let columns: Vec<Value> =
                key.iter().cloned().chain(values.iter().skip(key.len()).cloned()).collect();
            if seen.insert(on.iter().map(|&i| text(&columns[i])).collect::<Vec<_>>()) {
                kept.push(columns);
            }
        }
        kept
    }

    proptest! {
        #[test]
        fn partials_merged_in_order_give_what_one_instance_gives(
            rows in arb_rows(),
            keyed in any::<bool>(),
            on in prop_oneof![Just(""), Just("k"), Just("a"), Just("b, a"), Just("k,a,b")],
            cuts in proptest::collection::vec(0usize..40, 0..4),
            spill_every in 1usize..10,
        ) {
            let schema = if keyed { Schema::keyed(["k"], ["k", "a", "b"]) } else { Schema::values(["k", "a", "b"]) };
            let rows: Vec<(Vec<Value>, Vec<Value>)> = rows
                .into_iter()
                .map(|(k, a, b)| {
                    let k = Value::from(k);
                    (if keyed { vec![k.clone()] } else { vec![] }, vec![k, a, b])
                })
                .collect();
            let pairs: Vec<(&str, &str)> = if on.is_empty() { vec![] } else { vec![("on", on)] };
            // One instance, one batch.
            let mut whole = distinct(&pairs);
            whole.update(&batch(&schema, &rows)).unwrap();
            let expected = whole.finish().unwrap();
            // Several map instances over consecutive runs of the rows, each emptying its state
            // every few batches, merged in order.
            let mut bounds: Vec<usize> = cuts.into_iter().map(|c| c.min(rows.len())).collect();
            bounds.extend([0, rows.len()]);
            bounds.sort_unstable();
            let mut reduce = distinct(&pairs);
            for run in bounds.windows(2) {
                let mut map = distinct(&pairs);
                for (i, one) in rows[run[0]..run[1]].iter().enumerate() {
                    map.update(&batch(&schema, std::slice::from_ref(one))).unwrap();
                    if i % spill_every == spill_every - 1 {
                        reduce.merge(&map.partials().unwrap()).unwrap();
                    }
                }
                reduce.merge(&map.partials().unwrap()).unwrap();
            }
            let merged = reduce.finish().unwrap();
            prop_assert_eq!(raw_rows(&merged), raw_rows(&expected));
            // And what they give is the oracle's.
            let on: Vec<usize> = match on {
                "" => vec![0, 1, 2],
                "k" => vec![0],
                "a" => vec![1],
                "b, a" => vec![2, 1],
                _ => vec![0, 1, 2],
            };
            let kept: Vec<String> = super::super::testing::rows(&expected).1.iter().map(|(_, v)| format!("{v:?}")).collect();
            let want: Vec<String> = oracle(&rows, &on).iter().map(|v| format!("{v:?}")).collect();
            prop_assert_eq!(kept, want);
        }
    }
}
