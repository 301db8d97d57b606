//! The standard flicker operators, shared by the one-line `std-*` component crates.
//!
//! They all speak the same row encoding, so they compose from a manifest alone:
//! `std:parse-csv` / `std:parse-lines` make rows, `std:key-by` sets their key, `std:filter` and
//! `std:split-words` reshape them, `std:max` … `std:stats` aggregate per key, `std:distinct` drops
//! duplicate rows, `std:top-k` keeps each key's first rows in an order, `std:sort` orders all rows, `std:join` pairs the rows
//! of two inputs by key, and `std:format-csv` / `std:format-jsonl` write them out.

mod aggregate;
mod columns;
mod distinct;
mod filter;
mod format_csv;
mod format_jsonl;
mod format_value;
mod join;
mod key_by;
mod order;
mod parse_csv;
mod parse_lines;
mod row_groups;
mod scan;
mod sort;
mod split_words;
#[cfg(test)]
mod testing;
mod top_k;

pub use aggregate::{Count, Max, Mean, Min, Stats, Sum};
pub use distinct::Distinct;
pub use filter::Filter;
pub use format_csv::FormatCsv;
pub use format_jsonl::FormatJsonl;
pub use join::Join;
pub use key_by::KeyBy;
pub use parse_csv::ParseCsv;
pub use parse_lines::ParseLines;
pub use sort::Sort;
pub use split_words::SplitWords;
pub use top_k::TopK;

use flicker_guest::{Error, Schema};

/// The lines of a chunk with their byte offsets, without the `\n` or `\r\n` that ends them.
pub(crate) fn lines(chunk: &[u8]) -> impl Iterator<Item = (usize, &[u8])> {
    let mut at = 0;
    std::iter::from_fn(move || {
        if at >= chunk.len() {
            return None;
        }
        let start = at;
        let end = memchr::memchr(b'\n', &chunk[start..]).map_or(chunk.len(), |i| start + i);
        at = end + 1;
        let line = &chunk[start..end];
        Some((start, line.strip_suffix(b"\r").unwrap_or(line)))
    })
}

/// The field names of the comma-separated config value `text` of `key`, trimmed, empty ones left
/// out; an invalid-config error if none is left.
pub(crate) fn field_names(key: &str, text: &str) -> Result<Vec<String>, Error> {
    let fields: Vec<String> =
        text.split(',').map(|f| f.trim().to_owned()).filter(|f| !f.is_empty()).collect();
    if fields.is_empty() {
        return Err(Error::config(format!("`{key}` names no field")));
    }
    Ok(fields)
}

/// Finds the field `name` among the value fields (then the key fields) of `schema`.
pub(crate) enum FieldPos {
    /// Index among the value fields.
    Value(usize),
    /// Index among the key fields.
    Key(usize),
}

pub(crate) fn locate(schema: &Schema, name: &str) -> Result<FieldPos, Error> {
    schema
        .value_index(name)
        .map(FieldPos::Value)
        .or_else(|| schema.key_index(name).map(FieldPos::Key))
        .ok_or_else(|| {
            let known: Vec<&str> =
                schema.key_fields.iter().chain(&schema.value_fields).map(String::as_str).collect();
            Error::failed(format!("no field `{name}` in the input rows (fields: {})", known.join(", ")))
        })
}

impl FieldPos {
    /// The value of this field in `row`.
    #[inline(always)]
    pub(crate) fn get<'a>(
        &self,
        row: &flicker_guest::RawRow<'a>,
        index: usize,
    ) -> Result<flicker_guest::ValueRef<'a>, Error> {
        let found = match *self {
            FieldPos::Value(i) => row.values().nth(i),
            FieldPos::Key(i) => row.key_values().nth(i),
        };
        match found {
            Some(value) => Ok(value?),
            None => Err(short_row(index)),
        }
    }

    /// The encoded bytes of this field in `row`, without decoding them.
    pub(crate) fn raw<'a>(&self, row: &flicker_guest::RawRow<'a>, index: usize) -> Result<&'a [u8], Error> {
        let found = match *self {
            FieldPos::Value(i) => row.raw_value(i),
            FieldPos::Key(i) => row.raw_key_value(i),
        };
        match found {
            Some(bytes) => Ok(bytes?),
            None => Err(short_row(index)),
        }
    }
}

fn short_row(index: usize) -> Error {
    Error::bad_record(index, "the row has fewer fields than its batch's schema")
}
