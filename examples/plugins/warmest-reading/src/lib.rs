//! An aggregate operator: the warmest whole reading per key (a reduce by key).
use flicker_guest::{Error, RowReduce, export_row_reduce};
use serde::{Deserialize, Serialize};

#[derive(Deserialize, Serialize)]
struct Reading {
    station: String,
    temperature: f64,
}

#[derive(Default)]
struct Warmest;

impl RowReduce for Warmest {
    type Row = Reading;
    fn reduce(&mut self, a: Reading, b: Reading) -> Result<Reading, Error> {
        Ok(if b.temperature > a.temperature { b } else { a })
    }
}

export_row_reduce!(Warmest);
