//! {{name}}: an aggregate operator keeping the warmest reading per key (a reduce by key).
use flicker_guest::{Error, RowReduce, export_row_reduce};
use serde::{Deserialize, Serialize};

/// A row: a reading.
#[derive(Debug, PartialEq, Deserialize, Serialize)]
pub struct Reading {
    pub station: String,
    pub temperature: f64,
}

/// The operator; `Default`, so it takes no config.
#[derive(Default)]
pub struct Warmest;

impl RowReduce for Warmest {
    type Row = Reading;
    /// Combines two readings of one key; it runs on both sides of the shuffle, so it must be
    /// associative.
    fn reduce(&mut self, a: Reading, b: Reading) -> Result<Reading, Error> {
        Ok(if b.temperature > a.temperature { b } else { a })
    }
}

export_row_reduce!(Warmest);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_warmest_reading() {
        let reading = |temperature| Reading { station: "Oslo".into(), temperature };
        assert_eq!(Warmest.reduce(reading(1.5), reading(-2.0)).unwrap(), reading(1.5));
        assert_eq!(Warmest.reduce(reading(1.5), reading(7.0)).unwrap(), reading(7.0));
    }
}
