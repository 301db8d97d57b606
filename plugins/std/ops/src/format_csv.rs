//! `std:format-csv`: rows to CSV (RFC 4180).
//!
//! A header row first (the key fields' names, then the value fields' names, leaving out value
//! fields that repeat a key field), then one line per row. Fields holding the delimiter, a quote,
//! or a line break are quoted, with quotes doubled, so every value round-trips.
//! Config: `delimiter` (one character, default `,`), `header` (default `true`).

use crate::columns::Columns;
use crate::format_value::write_plain;
use flicker_guest::{BatchReader, Config, Error, Format};

/// The `std:format-csv` operator.
pub struct FormatCsv {
    delimiter: u8,
    header: bool,
    header_written: bool,
}

impl Format for FormatCsv {
    fn new(config: &Config) -> Result<Self, Error> {
        config.allow_only(&["delimiter", "header"])?;
        let delimiter = match config.get("delimiter").unwrap_or(",") {
            "\\t" | "tab" | "\t" => b'\t',
            d if d.len() == 1 && d != "\"" => d.as_bytes()[0],
            d => return Err(Error::config(format!("delimiter must be one ASCII character, got {d:?}"))),
        };
        Ok(Self { delimiter, header: config.parse_or("header", true)?, header_written: false })
    }

    fn format(&mut self, input: &[u8]) -> Result<Vec<u8>, Error> {
        let batch = BatchReader::new(input)?;
        let columns = Columns::of(batch.schema());
        let mut out = Vec::with_capacity(input.len());
        if self.header && !self.header_written {
            self.header_written = true;
            for (i, name) in columns.names().enumerate() {
                if i > 0 {
                    out.push(self.delimiter);
                }
                self.field(&mut out, name.as_bytes());
            }
            out.push(b'\n');
        }
        let mut text = Vec::new();
        for row in batch.rows() {
            let row = row?;
            for (i, value) in columns.values(&row)?.into_iter().enumerate() {
                if i > 0 {
                    out.push(self.delimiter);
                }
                text.clear();
                write_plain(&mut text, value);
                self.field(&mut out, &text);
            }
            out.push(b'\n');
        }
        Ok(out)
    }
}

impl FormatCsv {
    fn field(&self, out: &mut Vec<u8>, text: &[u8]) {
        if text.iter().any(|&b| b == self.delimiter || b == b'"' || b == b'\n' || b == b'\r') {
            out.push(b'"');
            for &b in text {
                if b == b'"' {
                    out.push(b'"');
                }
                out.push(b);
            }
            out.push(b'"');
        } else {
            out.extend_from_slice(text);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flicker_guest::{BatchWriter, Schema, ValueRef};

    #[test]
    fn writes_header_keys_then_values_with_quoting() {
        let mut batch = BatchWriter::new(&Schema::keyed(["station"], ["station", "max"]));
        batch.push_values([ValueRef::Str("Bad \"Ems\", DE")], [ValueRef::Str("x"), ValueRef::F64(12.5)]);
        let mut f = FormatCsv::new(&Config::default()).unwrap();
        let text = String::from_utf8(f.format(&batch.finish()).unwrap()).unwrap();
        assert_eq!(text, "station,max\n\"Bad \"\"Ems\"\", DE\",12.5\n");
    }
}
