//! {{name}}: a map operator converting `temperature` from Celsius to Fahrenheit.
use flicker_guest::{Error, RowMap, export_row_map};
use serde::{Deserialize, Serialize};

/// A row: a reading (fields beyond these are left out).
#[derive(Debug, PartialEq, Deserialize, Serialize)]
pub struct Reading {
    pub station: String,
    pub temperature: f64,
}

/// The operator; `Default`, so it takes no config.
#[derive(Default)]
pub struct ToFahrenheit;

impl RowMap for ToFahrenheit {
    type In = Reading;
    type Out = Reading;
    /// One row out per row in: return none to drop a row, several to make more.
    fn map(&mut self, r: Reading) -> Result<impl IntoIterator<Item = Reading>, Error> {
        Ok(Some(Reading { temperature: r.temperature * 9.0 / 5.0 + 32.0, ..r }))
    }
}

export_row_map!(ToFahrenheit);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_to_fahrenheit() {
        let out: Vec<Reading> = ToFahrenheit.map(Reading { station: "Oslo".into(), temperature: -40.0 }).unwrap().into_iter().collect();
        assert_eq!(out, [Reading { station: "Oslo".into(), temperature: -40.0 }]);
    }
}
