//! {{name}}: a format operator writing each reading as a line `station: temperature`.
use flicker_guest::{BatchReader, Config, Error, Format, export_format, from_row};
use serde::Deserialize;

/// A row: a reading.
#[derive(Deserialize)]
pub struct Reading {
    pub station: String,
    pub temperature: f64,
}

/// One reading's line.
pub fn line(r: &Reading) -> String {
    format!("{}: {}\n", r.station, r.temperature)
}

/// The operator: one instance writes one output part.
pub struct Lines;

impl Format for Lines {
    fn new(config: &Config) -> Result<Self, Error> {
        config.allow_only(&[])?;
        Ok(Lines)
    }

    fn format(&mut self, input: &[u8]) -> Result<Vec<u8>, Error> {
        let batch = BatchReader::new(input)?;
        let mut out = String::new();
        for (index, row) in batch.rows().enumerate() {
            let reading: Reading =
                from_row(batch.schema(), &row?).map_err(|e| Error::bad_record(index, e.to_string()))?;
            out.push_str(&line(&reading));
        }
        Ok(out.into_bytes())
    }
}

export_format!(Lines);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_a_line() {
        assert_eq!(line(&Reading { station: "Oslo".into(), temperature: -4.5 }), "Oslo: -4.5\n");
    }
}
