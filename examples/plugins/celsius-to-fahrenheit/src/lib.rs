//! A map operator: converts `temperature` from Celsius to Fahrenheit.
use flicker_guest::{Config, Error, RowMap, export_row_map};
use serde::{Deserialize, Serialize};

#[derive(Deserialize, Serialize)]
struct Reading {
    station: String,
    temperature: f64,
}

struct ToFahrenheit;

impl RowMap for ToFahrenheit {
    type In = Reading;
    type Out = Reading;
    fn new(_config: &Config) -> Result<Self, Error> {
        Ok(Self)
    }
    fn map(&mut self, r: Reading) -> Result<impl IntoIterator<Item = Reading>, Error> {
        Ok(Some(Reading { temperature: r.temperature * 9.0 / 5.0 + 32.0, ..r }))
    }
}

export_row_map!(ToFahrenheit);
