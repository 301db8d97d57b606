//! {{name}}: a parse operator reading `station;temperature` lines into rows.
use flicker_guest::{
    BatchWriter, Config, Error, Field, FieldType, Parse, Parsed, RowType, Schema, ValueRef, export_parse,
};

/// The operator.
pub struct Readings;

/// The station and temperature of one line.
pub fn reading(line: &str) -> Result<(&str, f64), String> {
    let (station, temperature) = line.split_once(';').ok_or("expected `station;temperature`")?;
    let temperature = temperature.parse().map_err(|e| format!("temperature {temperature:?}: {e}"))?;
    Ok((station, temperature))
}

impl Parse for Readings {
    fn new(config: &Config) -> Result<Self, Error> {
        config.allow_only(&[])?;
        Ok(Readings)
    }

    /// A chunk of whole lines in, a batch of rows out; a bad line fails the task, naming it.
    fn parse(&mut self, chunk: &[u8]) -> Result<Parsed, Error> {
        let mut out = BatchWriter::new(&Schema::values(["station", "temperature"]));
        let mut offset = 0;
        for (index, line) in chunk.split(|&b| b == b'\n').enumerate() {
            let at = offset;
            offset += line.len() + 1;
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if line.is_empty() {
                continue;
            }
            let text = std::str::from_utf8(line).map_err(|e| Error::bad_line(index, at, e.to_string()))?;
            let (station, temperature) = reading(text).map_err(|e| Error::bad_line(index, at, e))?;
            out.push_values([], [ValueRef::Str(station), ValueRef::F64(temperature)]);
        }
        Ok(Parsed::rows(out.finish(), 0))
    }

    /// The fields it outputs, so the steps after it are checked before a job runs.
    fn output_type(&self) -> Option<RowType> {
        Some(RowType::values([Field::new("station", FieldType::String), Field::new("temperature", FieldType::F64)]))
    }
}

export_parse!(Readings);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_line() {
        assert_eq!(reading("Oslo;-4.5"), Ok(("Oslo", -4.5)));
        assert!(reading("Oslo").is_err());
    }
}
