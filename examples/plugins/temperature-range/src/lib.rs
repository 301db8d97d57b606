//! An aggregate operator with a partial state: the spread between the warmest and coldest
//! reading per key.
use flicker_guest::{Error, RowAggregate, export_row_aggregate};
use serde::{Deserialize, Serialize};

#[derive(Deserialize)]
struct Reading {
    temperature: f64,
}

#[derive(Serialize, Deserialize)]
struct MinMax {
    min: f64,
    max: f64,
}

impl Default for MinMax {
    fn default() -> Self {
        Self { min: f64::INFINITY, max: f64::NEG_INFINITY }
    }
}

#[derive(Serialize)]
struct Range {
    range: f64,
}

#[derive(Default)]
struct TemperatureRange;

impl RowAggregate for TemperatureRange {
    type In = Reading;
    type State = MinMax;
    type Out = Range;
    fn update(&mut self, s: &mut MinMax, r: Reading) -> Result<(), Error> {
        self.merge(s, MinMax { min: r.temperature, max: r.temperature });
        Ok(())
    }
    fn merge(&mut self, s: &mut MinMax, o: MinMax) {
        *s = MinMax { min: s.min.min(o.min), max: s.max.max(o.max) };
    }
    fn finish(&mut self, s: MinMax) -> Range {
        Range { range: s.max - s.min }
    }
}

export_row_aggregate!(TemperatureRange);
