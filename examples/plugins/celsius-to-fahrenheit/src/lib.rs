//! A map operator: converts `temperature` from Celsius to Fahrenheit.
use flicker_guest::{Error, RowMap, export_row_map};
use serde::{Deserialize, Serialize};

#[derive(Deserialize, Serialize)]
struct Reading {
    station: String,
    temperature: f64,
}

#[derive(Default)]
struct ToFahrenheit;

impl RowMap for ToFahrenheit {
    type In = Reading;
    type Out = Reading;
    fn map(&mut self, r: Reading) -> Result<impl IntoIterator<Item = Reading>, Error> {
        Ok(Some(Reading { temperature: r.temperature * 9.0 / 5.0 + 32.0, ..r }))
    }
}

export_row_map!(ToFahrenheit);
