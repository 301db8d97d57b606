//! `std:format-jsonl`: rows to JSON lines, one object per row with the key fields first.
//!
//! Non-finite floats become `null`. No config.

use crate::columns::Columns;
use crate::format_value::write_plain;
use flicker_guest::{BatchReader, Config, Error, Format, ValueRef};

/// The `std:format-jsonl` operator.
pub struct FormatJsonl;

impl Format for FormatJsonl {
    fn new(config: &Config) -> Result<Self, Error> {
        config.allow_only(&[])?;
        Ok(Self)
    }

    fn format(&mut self, input: &[u8]) -> Result<Vec<u8>, Error> {
        let batch = BatchReader::new(input)?;
        let columns = Columns::of(batch.schema());
        let names: Vec<&String> = columns.names().collect();
        let mut out = Vec::with_capacity(input.len() * 2);
        for row in batch.rows() {
            let row = row?;
            out.push(b'{');
            for (i, (name, value)) in names.iter().zip(columns.values(&row)?).enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                json_string(&mut out, name);
                out.push(b':');
                match value {
                    ValueRef::Str(s) => json_string(&mut out, s),
                    ValueRef::F64(f) if !f.is_finite() => out.extend_from_slice(b"null"),
                    ValueRef::Null => out.extend_from_slice(b"null"),
                    other => write_plain(&mut out, other),
                }
            }
            out.extend_from_slice(b"}\n");
        }
        Ok(out)
    }
}

fn json_string(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    for c in s.chars() {
        match c {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            '\n' => out.extend_from_slice(b"\\n"),
            '\r' => out.extend_from_slice(b"\\r"),
            '\t' => out.extend_from_slice(b"\\t"),
            c if (c as u32) < 0x20 => out.extend_from_slice(format!("\\u{:04x}", c as u32).as_bytes()),
            c => {
                let mut buf = [0; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use flicker_guest::{BatchWriter, Schema};

    #[test]
    fn writes_one_object_per_row() {
        let mut batch = BatchWriter::new(&Schema::keyed(["word"], ["count"]));
        batch.push_values([ValueRef::Str("say \"hi\"")], [ValueRef::I64(3)]);
        let text = String::from_utf8(FormatJsonl.format(&batch.finish()).unwrap()).unwrap();
        assert_eq!(text, "{\"word\":\"say \\\"hi\\\"\",\"count\":3}\n");
    }
}
