//! `std:join`: the rows of two inputs paired by equal key fields, as a co-group.
//!
//! Config: `on` (comma-separated fields both inputs have), or `left_on` and `right_on` (as many
//! fields each, paired in order); `how` = `inner` (the default) | `left` | `right` | `full` |
//! `semi` | `anti`; `suffix` (default `_right`), appended to a right field whose name a left
//! field has; `broadcast` = `none` (the default) | `left` | `right`, read by the planner, which
//! ships that input whole to every task instead of shuffling both (Spark's broadcast hash join):
//! only the side whose unmatched rows are never output may be broadcast (`right` for `inner`,
//! `left`, `semi` and `anti`; `left` for `inner` and `right`).
//!
//! Output rows are keyed by the join fields (named as on the left) and hold the left input's
//! other fields, then the right input's (none for `semi` and `anti`); the side without a match
//! of an outer join has nulls. Keys meet by their encoded values: a text `1` and an integer `1`
//! do not.
//!
//! Map side, `prepare` keys each input's rows by its join fields. Reduce side, the right rows of
//! a call are the build side: a hash table of their keys, probed by each left row in order.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;

use crate::{FieldPos, field_names, locate};
use flicker_guest::{BatchReader, BatchWriter, CoGroup, Config, Error, Field, RowType, Schema, TypeMismatch};
use rustc_hash::FxBuildHasher;

/// Which rows a join outputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum How {
    /// Pairs of matching rows.
    Inner,
    /// Pairs, and each left row without a match (right fields null).
    Left,
    /// Pairs, and each right row without a match (left fields null).
    Right,
    /// Pairs, and the rows of either side without a match.
    Full,
    /// Each left row that has a match, once, with its own fields only.
    Semi,
    /// Each left row without a match, with its own fields only.
    Anti,
}

impl How {
    fn parse(text: &str) -> Result<Self, Error> {
        Ok(match text {
            "inner" => How::Inner,
            "left" => How::Left,
            "right" => How::Right,
            "full" | "outer" => How::Full,
            "semi" => How::Semi,
            "anti" => How::Anti,
            other => {
                return Err(Error::config(format!(
                    "how = {other:?}: expected inner, left, right, full, semi or anti"
                )));
            }
        })
    }

    /// Whether the output holds the right input's fields.
    fn has_right_fields(self) -> bool {
        !matches!(self, How::Semi | How::Anti)
    }

    /// Whether left rows without a match are output.
    fn keeps_lone_left(self) -> bool {
        matches!(self, How::Left | How::Full | How::Anti)
    }

    /// Whether right rows without a match are output.
    fn keeps_lone_right(self) -> bool {
        matches!(self, How::Right | How::Full)
    }
}

/// Which input the planner broadcasts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Broadcast {
    /// Neither: both inputs are shuffled by key.
    None,
    /// The left input (number 0).
    Left,
    /// The right input (number 1).
    Right,
}

/// The `std:join` operator.
pub struct Join {
    /// The join fields of each input (left, right), as many each.
    on: [Vec<String>; 2],
    how: How,
    suffix: String,
    broadcast: Broadcast,
    /// The prepared schema and rows of a broadcast input, by key, as `keep` got them.
    kept: Option<(Schema, Table<Vec<u8>>)>,
}

/// The rows of one side of a call, by key: each key's values in the order keys first came.
struct Table<K> {
    groups: Vec<(K, Vec<K>)>,
    index: HashMap<K, usize, FxBuildHasher>,
}

impl<K: Borrow<[u8]> + Hash + Eq + Clone> Table<K> {
    fn new() -> Self {
        Self { groups: Vec::new(), index: HashMap::default() }
    }

    fn insert(&mut self, key: K, value: K) {
        match self.index.get(key.borrow()) {
            Some(&group) => self.groups[group].1.push(value),
            None => {
                self.index.insert(key.clone(), self.groups.len());
                self.groups.push((key, vec![value]));
            }
        }
    }
}

/// `count` encoded nulls: the fields of the side without a match.
fn nulls(count: usize) -> Vec<u8> {
    vec![0; count]
}

impl Join {
    /// The schema of the output rows for inputs of these prepared schemas.
    fn output_schema(&self, left: &Schema, right: &Schema) -> Result<Schema, String> {
        let mut values = left.value_fields.clone();
        if self.how.has_right_fields() {
            for name in &right.value_fields {
                let taken = |name: &str| left.key_fields.iter().chain(&values).any(|f| f == name);
                let name = if taken(name) { format!("{name}{}", self.suffix) } else { name.clone() };
                if taken(&name) {
                    return Err(format!(
                        "the right field `{name}` clashes with a left field even with the suffix {:?}: set another `suffix`",
                        self.suffix
                    ));
                }
                values.push(name);
            }
        }
        Ok(Schema { key_fields: left.key_fields.clone(), value_fields: values })
    }

    /// Probes `table` (the other side's rows by key) with each row of `probe`, in order, and
    /// writes the output rows, left fields first, into a batch of `schema`.
    fn probe<K: Borrow<[u8]> + Hash + Eq + Clone>(
        &self,
        schema: &Schema,
        probe: &BatchReader<'_>,
        probe_is_left: bool,
        table: &Table<K>,
    ) -> Result<Vec<u8>, Error> {
        // Stand-ins for the fields of the side without a match.
        let probe_fields = probe.schema().value_fields.len();
        let (probe_nulls, table_nulls) =
            (nulls(probe_fields), nulls(schema.value_fields.len().saturating_sub(probe_fields)));
        let (lone_probe, lone_table) = if probe_is_left {
            (self.how.keeps_lone_left(), self.how.keeps_lone_right())
        } else {
            (self.how.keeps_lone_right(), self.how.keeps_lone_left())
        };
        let mut matched = vec![false; if lone_table { table.groups.len() } else { 0 }];
        let mut out = BatchWriter::with_capacity(schema, probe.row_bytes().len() * 2);
        let mut value = Vec::with_capacity(256);
        let mut push = |key: &[u8], first: &[u8], second: &[u8]| {
            value.clear();
            value.extend_from_slice(first);
            value.extend_from_slice(second);
            out.push_raw(key, &value);
        };
        for row in probe.rows() {
            let row = row?;
            match table.index.get(row.key) {
                Some(&group) => {
                    if let Some(seen) = matched.get_mut(group) {
                        *seen = true;
                    }
                    match self.how {
                        How::Semi => push(row.key, row.value, &[]),
                        How::Anti => {}
                        _ => {
                            for other in &table.groups[group].1 {
                                let other = other.borrow();
                                if probe_is_left {
                                    push(row.key, row.value, other)
                                } else {
                                    push(row.key, other, row.value)
                                }
                            }
                        }
                    }
                }
                None if lone_probe => match self.how {
                    How::Anti => push(row.key, row.value, &[]),
                    _ if probe_is_left => push(row.key, row.value, &table_nulls),
                    _ => push(row.key, &table_nulls, row.value),
                },
                None => {}
            }
        }
        for (group, seen) in matched.iter().enumerate() {
            if *seen {
                continue;
            }
            let (key, others) = &table.groups[group];
            for other in others {
                push(key.borrow(), &probe_nulls, other.borrow());
            }
        }
        Ok(out.finish())
    }
}

impl CoGroup for Join {
    fn new(config: &Config, inputs: u32) -> Result<Self, Error> {
        config.allow_only(&["on", "left_on", "right_on", "how", "suffix", "broadcast"])?;
        if inputs != 2 {
            return Err(Error::config(format!(
                "std:join takes 2 inputs (left, right), the step gives it {inputs}"
            )));
        }
        let on = match (config.get("on"), config.get("left_on"), config.get("right_on")) {
            (Some(on), None, None) => [field_names("on", on)?, field_names("on", on)?],
            (None, Some(left), Some(right)) => {
                [field_names("left_on", left)?, field_names("right_on", right)?]
            }
            (None, None, None) => {
                return Err(Error::config("set `on` (the join fields), or `left_on` and `right_on`"));
            }
            _ => return Err(Error::config("set either `on`, or both `left_on` and `right_on`")),
        };
        if on[0].len() != on[1].len() {
            return Err(Error::config(format!(
                "the join fields must be as many on the left ({}) as on the right ({})",
                on[0].len(),
                on[1].len()
            )));
        }
        let how = How::parse(config.get("how").unwrap_or("inner"))?;
        let suffix = config.get("suffix").unwrap_or("_right").to_owned();
        if suffix.is_empty() {
            return Err(Error::config("`suffix` must not be empty"));
        }
        let broadcast = match config.get("broadcast").unwrap_or("none") {
            "none" => Broadcast::None,
            "left" if matches!(how, How::Inner | How::Right) => Broadcast::Left,
            "right" if !how.keeps_lone_right() => Broadcast::Right,
            side @ ("left" | "right") => {
                return Err(Error::config(format!(
                    "broadcast = {side:?} cannot run a {how:?} join: the broadcast side's rows without a match would be output by every task (broadcast the other side, or none)"
                )
                .to_lowercase()));
            }
            other => {
                return Err(Error::config(format!("broadcast = {other:?}: expected none, left or right")));
            }
        };
        Ok(Self { on, how, suffix, broadcast, kept: None })
    }

    /// Keys the rows by the input's join fields; the other fields stay as values.
    fn prepare(&mut self, input: u32, rows: &[u8]) -> Result<Vec<u8>, Error> {
        let on = self.on.get(input as usize).ok_or_else(|| Error::failed(format!("no input {input}")))?;
        let batch = BatchReader::new(rows)?;
        let schema = batch.schema();
        let key = on.iter().map(|f| locate(schema, f)).collect::<Result<Vec<_>, _>>()?;
        let rest: Vec<(usize, &String)> =
            schema.value_fields.iter().enumerate().filter(|(_, name)| !on.contains(name)).collect();
        let out_schema = Schema {
            key_fields: on.clone(),
            value_fields: rest.iter().map(|(_, name)| (*name).clone()).collect(),
        };
        let mut out = BatchWriter::with_capacity(&out_schema, rows.len() + rows.len() / 4);
        let (mut key_bytes, mut value_bytes) = (Vec::with_capacity(64), Vec::with_capacity(256));
        for (index, row) in batch.rows().enumerate() {
            let row = row?;
            key_bytes.clear();
            for position in &key {
                key_bytes.extend_from_slice(position.raw(&row, index)?);
            }
            if rest.len() == schema.value_fields.len() {
                out.push_raw(&key_bytes, row.value);
                continue;
            }
            value_bytes.clear();
            for (at, _) in &rest {
                value_bytes.extend_from_slice(FieldPos::Value(*at).raw(&row, index)?);
            }
            out.push_raw(&key_bytes, &value_bytes);
        }
        Ok(out.finish())
    }

    fn keep(&mut self, input: u32, rows: &[u8]) -> Result<(), Error> {
        let wanted = match self.broadcast {
            Broadcast::Left => 0,
            Broadcast::Right => 1,
            Broadcast::None => return Err(Error::failed("this join broadcasts no input")),
        };
        if input != wanted {
            return Err(Error::failed(format!("this join broadcasts input {wanted}, not {input}")));
        }
        let batch = BatchReader::new(rows)?;
        let (schema, table) = self.kept.get_or_insert_with(|| (batch.schema().clone(), Table::new()));
        if schema != batch.schema() {
            return Err(Error::failed("the broadcast input's batches have different fields"));
        }
        for row in batch.rows() {
            let row = row?;
            table.insert(row.key.to_vec(), row.value.to_vec());
        }
        Ok(())
    }

    fn cogroup(&mut self, inputs: &[Vec<u8>]) -> Result<Vec<u8>, Error> {
        let [left, right] = inputs else {
            return Err(Error::failed(format!("std:join takes 2 inputs, the call gave {}", inputs.len())));
        };
        let (left, right) = (BatchReader::new(left)?, BatchReader::new(right)?);
        let failed = |message: String| Error::failed(message);
        match (&self.kept, self.broadcast) {
            (Some((kept, table)), Broadcast::Right) => {
                let schema = self.output_schema(left.schema(), kept).map_err(failed)?;
                self.probe(&schema, &left, true, table)
            }
            (Some((kept, table)), Broadcast::Left) => {
                let schema = self.output_schema(kept, right.schema()).map_err(failed)?;
                self.probe(&schema, &right, false, table)
            }
            _ => {
                let schema = self.output_schema(left.schema(), right.schema()).map_err(failed)?;
                let mut table = Table::new();
                for row in right.rows() {
                    let row = row?;
                    table.insert(row.key, row.value);
                }
                self.probe(&schema, &left, true, &table)
            }
        }
    }

    /// The output row type: keyed by the left join fields, the other fields of each side.
    fn output_type(&self, inputs: &[RowType]) -> Result<Option<RowType>, TypeMismatch> {
        let [left, right] = inputs else {
            return Err(TypeMismatch::Other {
                message: format!("std:join takes 2 inputs, not {}", inputs.len()),
            });
        };
        let mut key = Vec::new();
        for (l, r) in self.on[0].iter().zip(&self.on[1]) {
            let (lf, rf) = (left.require(l)?, right.require(r)?);
            if !lf.ty.fits(rf.ty) && !rf.ty.fits(lf.ty) {
                return Err(TypeMismatch::Other {
                    message: format!(
                        "the left join field `{l}` is {} but the right one `{r}` is {}: keys of different types never match",
                        lf.ty, rf.ty
                    ),
                });
            }
            key.push(lf.clone());
        }
        let rest = |side: &RowType, on: &[String]| -> Vec<Field> {
            side.values.iter().filter(|f| !on.contains(&f.name)).cloned().collect()
        };
        let (left_rest, right_rest) = (rest(left, &self.on[0]), rest(right, &self.on[1]));
        let names = |fields: &[Field]| fields.iter().map(|f| f.name.clone()).collect::<Vec<_>>();
        let schema = self
            .output_schema(
                &Schema { key_fields: self.on[0].clone(), value_fields: names(&left_rest) },
                &Schema { key_fields: self.on[1].clone(), value_fields: names(&right_rest) },
            )
            .map_err(|message| TypeMismatch::Other { message })?;
        let mut values = left_rest;
        if self.how.has_right_fields() {
            values.extend(
                right_rest
                    .into_iter()
                    .zip(&schema.value_fields[values.len()..])
                    .map(|(f, name)| Field::new(name, f.ty)),
            );
        }
        Ok(Some(RowType { key, values }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flicker_guest::{FieldType, Value, ValueRef};
    use proptest::prelude::*;

    fn join(pairs: &[(&str, &str)]) -> Result<Join, Error> {
        Join::new(&Config::new(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()), 2)
    }

    /// Rows of `id: string, v: i64` (`name` is the value field's name), unkeyed.
    fn side(name: &str, rows: &[(String, i64)]) -> Vec<u8> {
        let mut batch = BatchWriter::new(&Schema::values(["id", name]));
        for (id, v) in rows {
            batch.push_values([], [ValueRef::Str(id), ValueRef::I64(*v)]);
        }
        batch.finish()
    }

    /// `(key, left value, right value)` of every output row, sorted.
    fn decoded(batch: &[u8], right_values: bool) -> Vec<(String, Option<i64>, Option<i64>)> {
        let batch = BatchReader::new(batch).unwrap();
        let mut rows: Vec<_> = batch
            .rows()
            .map(|row| {
                let row = row.unwrap();
                let Some(Ok(ValueRef::Str(key))) = row.key_values().next() else { panic!("no key") };
                let values: Vec<Value> = row.values().map(|v| v.unwrap().to_owned()).collect();
                let number = |v: Option<&Value>| match v {
                    Some(Value::I64(i)) => Some(*i),
                    Some(Value::Null) | None => None,
                    other => panic!("{other:?}"),
                };
                let right = if right_values { number(values.get(1)) } else { None };
                (key.to_owned(), number(values.first()), right)
            })
            .collect();
        rows.sort();
        rows
    }

    /// The join computed the obvious way, row pair by row pair.
    fn oracle(
        how: How,
        left: &[(String, i64)],
        right: &[(String, i64)],
    ) -> Vec<(String, Option<i64>, Option<i64>)> {
        let mut out = Vec::new();
        for (lk, lv) in left {
            let matches: Vec<i64> = right.iter().filter(|(rk, _)| rk == lk).map(|(_, rv)| *rv).collect();
            match how {
                How::Semi if !matches.is_empty() => out.push((lk.clone(), Some(*lv), None)),
                How::Anti if matches.is_empty() => out.push((lk.clone(), Some(*lv), None)),
                How::Semi | How::Anti => {}
                _ if matches.is_empty() && how.keeps_lone_left() => out.push((lk.clone(), Some(*lv), None)),
                _ => out.extend(matches.iter().map(|rv| (lk.clone(), Some(*lv), Some(*rv)))),
            }
        }
        if how.keeps_lone_right() {
            for (rk, rv) in right {
                if !left.iter().any(|(lk, _)| lk == rk) {
                    out.push((rk.clone(), None, Some(*rv)));
                }
            }
        }
        out.sort();
        out
    }

    const HOWS: [How; 6] = [How::Inner, How::Left, How::Right, How::Full, How::Semi, How::Anti];

    fn name(how: How) -> String {
        format!("{how:?}").to_lowercase()
    }

    fn rows() -> impl Strategy<Value = Vec<(String, i64)>> {
        // Few keys: duplicates and keys missing on either side are the rule.
        proptest::collection::vec(("[a-e]{1}", -50i64..50), 0..24)
    }

    proptest! {
        #[test]
        fn every_how_matches_the_oracle_shuffled_and_broadcast(left in rows(), right in rows()) {
            for how in HOWS {
                let mut op = join(&[("on", "id"), ("how", &name(how))]).unwrap();
                let inputs = [op.prepare(0, &side("l", &left)).unwrap(), op.prepare(1, &side("r", &right)).unwrap()];
                let output = op.cogroup(&inputs).unwrap();
                prop_assert_eq!(decoded(&output, how.has_right_fields()), oracle(how, &left, &right), "{:?}", how);

                // Broadcast, where the join allows it: the kept side whole, the other in two calls.
                for (broadcast, kept) in [("right", 1usize), ("left", 0)] {
                    let Ok(mut op) = join(&[("on", "id"), ("how", &name(how)), ("broadcast", broadcast)]) else { continue };
                    let sides = [side("l", &left), side("r", &right)];
                    let prepared = op.prepare(kept as u32, &sides[kept]).unwrap();
                    op.keep(kept as u32, &prepared).unwrap();
                    let streamed = 1 - kept;
                    let rows = if streamed == 0 { &left } else { &right };
                    let name = if streamed == 0 { "l" } else { "r" };
                    let mut all = Vec::new();
                    for half in [&rows[..rows.len() / 2], &rows[rows.len() / 2..]] {
                        let mut call = vec![side("l", &[]), side("r", &[])];
                        call[streamed] = op.prepare(streamed as u32, &side(name, half)).unwrap();
                        call[kept] = BatchWriter::new(&Schema::default()).finish();
                        all.extend(decoded(&op.cogroup(&call).unwrap(), how.has_right_fields()));
                    }
                    all.sort();
                    prop_assert_eq!(all, oracle(how, &left, &right), "{:?} broadcast {}", how, broadcast);
                }
            }
        }
    }

    #[test]
    fn outputs_key_then_left_then_right_fields_with_the_suffix_on_clashes() {
        let op = join(&[("left_on", "station"), ("right_on", "id")]).unwrap();
        let left =
            RowType::values([Field::new("station", FieldType::String), Field::new("t", FieldType::F64)]);
        let right =
            RowType::values([Field::new("id", FieldType::String), Field::new("t", FieldType::String)]);
        let out = op.output_type(&[left, right]).unwrap().unwrap();
        assert_eq!(out.key, [Field::new("station", FieldType::String)]);
        assert_eq!(out.values, [Field::new("t", FieldType::F64), Field::new("t_right", FieldType::String)]);
    }

    #[test]
    fn keys_of_different_types_and_missing_fields_are_refused_before_the_job_runs() {
        let op = join(&[("on", "id")]).unwrap();
        let text = RowType::values([Field::new("id", FieldType::String)]);
        let number = RowType::values([Field::new("id", FieldType::I64)]);
        assert!(op.output_type(&[text.clone(), number]).unwrap_err().to_string().contains("never match"));
        let other = RowType::values([Field::new("key", FieldType::String)]);
        assert!(matches!(op.output_type(&[text, other]), Err(TypeMismatch::MissingField { .. })));
    }

    #[test]
    fn bad_config_is_refused_with_what_to_do() {
        let refused = |pairs: &[(&str, &str)]| join(pairs).err().unwrap().to_string();
        assert!(refused(&[]).contains("set `on`"));
        assert!(refused(&[("on", "a"), ("left_on", "b")]).contains("either"));
        assert!(refused(&[("left_on", "a,b"), ("right_on", "c")]).contains("as many"));
        assert!(refused(&[("on", "a"), ("how", "cross")]).contains("expected inner"));
        assert!(
            refused(&[("on", "a"), ("how", "full"), ("broadcast", "right")])
                .contains("broadcast the other side")
        );
        assert!(
            refused(&[("on", "a"), ("how", "left"), ("broadcast", "left")])
                .contains("broadcast the other side")
        );
        let three = Join::new(&Config::new(vec![("on".into(), "a".into())]), 3).err().unwrap().to_string();
        assert!(three.contains("takes 2 inputs"), "{three}");
    }
}
