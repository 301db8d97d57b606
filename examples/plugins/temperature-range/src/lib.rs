//! An aggregate operator with a partial state and config: the spread between the highest and
//! lowest value of a numeric field per key. Config: `field` (default `temperature`).
use flicker_guest::{Config, Error, FromConfig, Row, RowAggregate, export_row_aggregate};
use serde::{Deserialize, Serialize};

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

#[derive(Serialize, Deserialize)]
struct Range {
    range: f64,
}

struct TemperatureRange {
    field: String,
}

impl FromConfig for TemperatureRange {
    fn from_config(config: &Config) -> Result<Self, Error> {
        Ok(Self { field: config.get("field").unwrap_or("temperature").to_owned() })
    }
}

impl RowAggregate for TemperatureRange {
    type In = Row;
    type State = MinMax;
    type Out = Range;
    fn update(&mut self, s: &mut MinMax, row: Row) -> Result<(), Error> {
        let v = row
            .get_f64(&self.field)
            .ok_or_else(|| Error::failed(format!("no number in `{}`", self.field)))?;
        self.merge(s, MinMax { min: v, max: v });
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
