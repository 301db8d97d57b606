//! A co-group operator: a join written by hand. Its two inputs are readings and stations, each
//! keyed by station (a `std:key-by` before it); for each station, every reading is paired with
//! every country the station list gives it (an inner join).
use flicker_guest::{Error, Row, RowCoGroup, export_row_cogroup};
use serde::Serialize;

#[derive(Serialize)]
struct Located {
    temperature: f64,
    country: String,
}

#[derive(Default)]
struct StationCountries;

impl RowCoGroup for StationCountries {
    const INPUTS: Option<u32> = Some(2);
    type Out = Located;

    fn cogroup(&mut self, inputs: Vec<Vec<Row>>) -> Result<impl IntoIterator<Item = Located>, Error> {
        let [readings, stations] =
            <[Vec<Row>; 2]>::try_from(inputs).map_err(|_| Error::failed("two inputs"))?;
        let mut out = Vec::new();
        for reading in &readings {
            let temperature =
                reading.get_f64("temperature").ok_or_else(|| Error::failed("no temperature"))?;
            for station in &stations {
                let country = station.get_str("country").ok_or_else(|| Error::failed("no country"))?;
                out.push(Located { temperature, country: country.to_owned() });
            }
        }
        Ok(out)
    }
}

export_row_cogroup!(StationCountries);
