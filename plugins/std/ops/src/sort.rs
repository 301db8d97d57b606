//! `std:sort`: every row of the input in one order, as Spark's `orderBy` / `sortByKey`.
//!
//! Config: `by`, comma-separated fields, most significant first, each `field` or `field:asc`
//! (smallest first, nulls first) or `field:desc` (largest first, nulls last); values in the one
//! order of values of [`flicker_batch::compare_values`]. A field is looked up among the value
//! fields, then the key fields.
//!
//! A job does not run this component on its rows: the planner sorts the step's whole input (it
//! samples the input for range boundaries, range-partitions it by the order, and each reduce
//! task sorts its partition in the host, spilling past the step's memory limit), so that the
//! parts of a sink read in order give the sorted rows. The component checks the config and that
//! the fields exist before the job runs, and sorts one batch when called.

use flicker_batch::{OrderError, SortOrder, sort_batch};
use flicker_guest::{BatchReader, Config, Error, Map, RowType, TypeMismatch};

/// The `std:sort` operator.
pub struct Sort {
    order: SortOrder,
}

impl Map for Sort {
    fn new(config: &Config) -> Result<Self, Error> {
        config.allow_only(&["by"])?;
        let order = SortOrder::parse(config.require("by")?).map_err(|e| Error::config(e.to_string()))?;
        Ok(Self { order })
    }

    /// The batch's rows sorted (stably).
    fn map(&mut self, input: &[u8]) -> Result<Vec<u8>, Error> {
        let batch = BatchReader::new(input)?;
        let order = self.order.bind(batch.schema()).map_err(|e: OrderError| Error::failed(e.to_string()))?;
        Ok(sort_batch(input, &order)?)
    }

    /// The input's rows: every field of the order must exist.
    fn output_type(&self, input: &RowType) -> Result<Option<RowType>, TypeMismatch> {
        for field in self.order.fields() {
            input.require(&field.name)?;
        }
        Ok(Some(input.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{batch, config, rows, s};
    use flicker_guest::{Field, FieldType, Schema, Value};

    #[test]
    fn sorts_a_batch_by_its_fields_and_checks_them() {
        let schema = Schema { key_fields: vec![], value_fields: vec!["station".into(), "t".into()] };
        let input: Vec<(Vec<Value>, Vec<Value>)> = [("b", 1.0), ("a", 3.0), ("c", 3.0), ("d", -1.0)]
            .into_iter()
            .map(|(station, t)| (vec![], vec![s(station), Value::F64(t)]))
            .collect();
        let mut sort = Sort::new(&config(&[("by", "t:desc, station")])).unwrap();
        let (_, sorted) = rows(&sort.map(&batch(&schema, &input)).unwrap());
        let stations: Vec<Value> = sorted.into_iter().map(|(_, values)| values[0].clone()).collect();
        assert_eq!(stations, [s("a"), s("c"), s("b"), s("d")]);
        let types =
            RowType::values([Field::new("station", FieldType::String), Field::new("t", FieldType::F64)]);
        assert_eq!(sort.output_type(&types).unwrap(), Some(types.clone()));
        let missing = Sort::new(&config(&[("by", "temp")])).unwrap().output_type(&types).unwrap_err();
        assert_eq!(missing, TypeMismatch::MissingField { field: "temp".into() });
        for bad in ["", "t:up", "t,t"] {
            assert!(Sort::new(&config(&[("by", bad)])).is_err(), "{bad:?}");
        }
        assert!(Sort::new(&config(&[])).is_err());
    }
}
