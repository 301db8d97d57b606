//! `std:parse-csv`: delimited text lines to typed rows.
//!
//! Config: `schema` (required, `name:type,...` with types string, i64, f64, bool), `delimiter`
//! (one character, default `,`; `\t` for tab), `header` (`true` skips lines equal to the schema's
//! field names, default `false`), `on_error` (`fail`, the default, or `skip`). Fields may be quoted
//! RFC 4180 style. Empty lines are ignored. `key` (comma-separated field names of the schema) also
//! sets the rows' key as `std:key-by` would, in the same pass: flicker's planner uses it to fuse a
//! `std:key-by` that directly follows. `combine` (`AGGREGATE:FIELD`, e.g. `max:temperature`, or
//! `count`; needs `key`) also folds the rows into that standard aggregate's per-key state as they
//! are parsed and returns, for each chunk, the partials instead of the rows: the planner uses it
//! to fuse a standard aggregate's map side into the parser that feeds it.

use crate::aggregate::{Combine, combiner};
use crate::lines;
use flicker_guest::{
    BatchWriter, Config, Error, Field, FieldType, Parse, Parsed, RowType, Schema, ValueRef, encode_value,
};

/// The `std:parse-csv` operator.
pub struct ParseCsv {
    delimiter: u8,
    types: Vec<FieldType>,
    schema: Schema,
    header: bool,
    skip_bad: bool,
    /// Indexes of the key fields among the schema's fields.
    key: Vec<usize>,
    /// The encoded key of the row being parsed.
    key_bytes: Vec<u8>,
    /// The encoded values of the row being parsed, and where each field's encoding ends.
    value_bytes: Vec<u8>,
    field_ends: Vec<usize>,
    splitter: Splitter,
    /// The aggregate rows are folded into, and the index of its field, with `combine`.
    combine: Option<(Box<dyn Combine>, Option<usize>)>,
}

fn parse_schema(spec: &str) -> Result<(Schema, Vec<FieldType>), Error> {
    let mut names = Vec::new();
    let mut types = Vec::new();
    for part in spec.split(',') {
        let (name, ty) = part.split_once(':').ok_or_else(|| {
            Error::config(format!("schema entry `{}` must look like `name:type`", part.trim()))
        })?;
        let name = name.trim();
        if name.is_empty() {
            return Err(Error::config(format!("schema entry `{}` has no field name", part.trim())));
        }
        if names.iter().any(|n| n == name) {
            return Err(Error::config(format!("schema names field `{name}` twice")));
        }
        // A schema's own spellings of the types; `any` is not one (a column has a type).
        let declared = match ty.trim() {
            "str" => "string",
            "int" => "i64",
            "float" => "f64",
            other => other,
        };
        let unknown = || {
            let other = ty.trim();
            Error::config(format!(
                "field `{name}` has unknown type `{other}` (types: string, i64, f64, bool)"
            ))
        };
        types.push(FieldType::parse(declared).filter(|ty| *ty != FieldType::Any).ok_or_else(unknown)?);
        names.push(name.to_owned());
    }
    Ok((Schema::values(names), types))
}

fn parse_delimiter(raw: &str) -> Result<u8, Error> {
    match raw {
        "\\t" | "tab" | "\t" => Ok(b'\t'),
        _ if raw.len() == 1 && raw != "\"" && raw != "\n" && raw != "\r" => Ok(raw.as_bytes()[0]),
        _ => Err(Error::config(format!(
            "delimiter must be one ASCII character other than a quote, got {raw:?}"
        ))),
    }
}

impl Parse for ParseCsv {
    fn new(config: &Config) -> Result<Self, Error> {
        config.allow_only(&["schema", "delimiter", "header", "on_error", "key", "combine"])?;
        let (mut schema, types) = parse_schema(config.require("schema")?)?;
        let key = match config.get("key") {
            None => Vec::new(),
            Some(fields) => fields
                .split(',')
                .map(|field| {
                    schema.value_index(field.trim()).ok_or_else(|| {
                        Error::config(format!("key field `{}` is not in the schema", field.trim()))
                    })
                })
                .collect::<Result<Vec<_>, _>>()?,
        };
        schema.key_fields = key.iter().map(|&i| schema.value_fields[i].clone()).collect();
        let combine = match config.get("combine") {
            None => None,
            Some(_) if key.is_empty() => {
                return Err(Error::config("`combine` needs `key`: an aggregate combines rows by key"));
            }
            Some(spec) => {
                let (name, field) = match spec.split_once(':') {
                    Some((name, field)) => (name.trim(), Some(field.trim())),
                    None => (spec.trim(), None),
                };
                let index = field
                    .map(|field| {
                        schema.value_index(field).ok_or_else(|| {
                            Error::config(format!("combine field `{field}` is not in the schema"))
                        })
                    })
                    .transpose()?;
                Some((combiner(name, field, &schema)?, index))
            }
        };
        let skip_bad = match config.get("on_error").unwrap_or("fail") {
            "fail" => false,
            "skip" => true,
            other => return Err(Error::config(format!("on_error must be `fail` or `skip`, got `{other}`"))),
        };
        Ok(Self {
            delimiter: parse_delimiter(config.get("delimiter").unwrap_or(","))?,
            types,
            schema,
            header: config.parse_or("header", false)?,
            skip_bad,
            key,
            key_bytes: Vec::new(),
            value_bytes: Vec::new(),
            field_ends: Vec::new(),
            splitter: Splitter::default(),
            combine,
        })
    }

    fn parse(&mut self, chunk: &[u8]) -> Result<Parsed, Error> {
        // A row takes about three times the bytes of its line (tags, lengths, the key).
        let mut batch = BatchWriter::with_capacity(&self.schema, chunk.len() * 3);
        let (mut skipped, mut records) = (0, 0);
        let quoted = memchr::memchr(b'"', chunk).is_some();
        // One UTF-8 check for the whole chunk; then a field is a slice of it, checked no more.
        let text = std::str::from_utf8(chunk).ok();
        for (index, (offset, line)) in lines(chunk).enumerate() {
            if line.is_empty() {
                continue;
            }
            let line_text = text.and_then(|t| t.get(offset..offset + line.len()));
            match self.parse_line(line, line_text, quoted, &mut batch) {
                Ok(()) => records += 1,
                Err(_) if self.is_header(line) => {}
                Err(_) if self.skip_bad => skipped += 1,
                Err(message) => return Err(Error::bad_line(index, offset, message)),
            }
        }
        let rows = match &mut self.combine {
            Some((combine, _)) => combine.take_partials(),
            None => batch.finish(),
        };
        Ok(Parsed { rows, skipped, records })
    }

    /// The schema's fields with their types, keyed by `key`; with `combine` (which only the
    /// planner sets, after the check) the partials of an aggregate, not said here.
    fn output_type(&self) -> Option<RowType> {
        if self.combine.is_some() {
            return None;
        }
        let field = |index: usize| Field::new(self.schema.value_fields[index].clone(), self.types[index]);
        Some(RowType {
            key: self.key.iter().map(|&index| field(index)).collect(),
            values: (0..self.types.len()).map(field).collect(),
        })
    }
}

impl ParseCsv {
    fn is_header(&mut self, line: &[u8]) -> bool {
        if !self.header {
            return false;
        }
        let Ok((source, ranges, _)) = self.splitter.split(line, self.delimiter, true) else { return false };
        ranges.len() == self.schema.value_fields.len()
            && ranges.iter().zip(&self.schema.value_fields).all(|(&(s, e), n)| &source[s..e] == n.as_bytes())
    }

    fn parse_line(
        &mut self,
        line: &[u8],
        line_text: Option<&str>,
        quoted: bool,
        batch: &mut BatchWriter,
    ) -> Result<(), String> {
        let (source, ranges, unquoted) = self.splitter.split(line, self.delimiter, quoted)?;
        // Fields of a line without quotes are slices of the line: use its checked text.
        let source_text = if unquoted { line_text } else { None };
        if ranges.len() != self.types.len() {
            return Err(format!(
                "found {} field(s) separated by {:?}, the schema has {}",
                ranges.len(),
                self.delimiter as char,
                self.types.len()
            ));
        }
        // Every field is converted (a bad one fails the line). Rows: values first into scratch
        // space, then the key copies its fields' encoded bytes. Combining on one key field: only
        // that field is encoded, straight into the key, and the aggregated value is kept.
        self.value_bytes.clear();
        self.field_ends.clear();
        self.key_bytes.clear();
        let combine_field = self.combine.as_ref().and_then(|(_, field)| *field);
        let key_only = match self.key.as_slice() {
            [key] if self.combine.is_some() => Some(*key),
            _ => None,
        };
        let mut combine_value = ValueRef::Null;
        for (i, &(start, end)) in ranges.iter().enumerate() {
            let text = source_text.and_then(|t| t.get(start..end));
            let value = convert(&source[start..end], text, self.types[i])
                .map_err(|problem| format!("field `{}`: {problem}", self.schema.value_fields[i]))?;
            if combine_field == Some(i) {
                combine_value = value;
            }
            match key_only {
                Some(key) if key == i => encode_value(&mut self.key_bytes, value),
                Some(_) => {}
                None => {
                    encode_value(&mut self.value_bytes, value);
                    self.field_ends.push(self.value_bytes.len());
                }
            }
        }
        if key_only.is_none() {
            for &i in &self.key {
                let start = if i == 0 { 0 } else { self.field_ends[i - 1] };
                self.key_bytes.extend_from_slice(&self.value_bytes[start..self.field_ends[i]]);
            }
        }
        match &mut self.combine {
            Some((combine, field)) => {
                combine.fold(&self.key_bytes, combine_value).map_err(|message| match field {
                    Some(i) => format!("field `{}`: {message}", self.schema.value_fields[*i]),
                    None => message,
                })
            }
            None => {
                batch.push_raw(&self.key_bytes, &self.value_bytes);
                Ok(())
            }
        }
    }
}

/// Converts a field to its schema type; `text` is the field as already-checked UTF-8, if known.
fn convert<'a>(raw: &'a [u8], text: Option<&'a str>, ty: FieldType) -> Result<ValueRef<'a>, String> {
    if ty == FieldType::F64
        && let Some(value) = simple_decimal(raw)
    {
        return Ok(ValueRef::F64(value));
    }
    let text = match text {
        Some(text) => text,
        None => std::str::from_utf8(raw).map_err(|_| "the value is not valid UTF-8".to_owned())?,
    };
    let invalid = |what: &str| format!("{text:?} is not a valid {what}");
    match ty {
        // A parsed schema has no field of type `any`; such a field would keep its text.
        FieldType::String | FieldType::Any => Ok(ValueRef::Str(text)),
        FieldType::I64 => text.trim().parse().map(ValueRef::I64).map_err(|_| invalid("i64")),
        FieldType::F64 => text.trim().parse().map(ValueRef::F64).map_err(|_| invalid("f64")),
        FieldType::Bool => match text.trim() {
            "true" | "TRUE" | "True" => Ok(ValueRef::Bool(true)),
            "false" | "FALSE" | "False" => Ok(ValueRef::Bool(false)),
            _ => Err(invalid("bool")),
        },
    }
}

/// Parses `-?digits[.digits]` with at most 15 digits exactly, without going through `str`: the
/// integer of its digits is exact in an f64 and so is 10^k for k ≤ 22, and IEEE division is
/// correctly rounded, so `digits / 10^k` is the correctly rounded value (Clinger's fast path).
/// Anything else (exponents, spaces, long mantissas) returns `None` for the full parser.
#[inline]
fn simple_decimal(raw: &[u8]) -> Option<f64> {
    const POWERS: [f64; 16] =
        [1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15];
    let (negative, digits) = match raw.split_first()? {
        (b'-', rest) => (true, rest),
        _ => (false, raw),
    };
    let (mut mantissa, mut count, mut decimals, mut seen_point) = (0u64, 0usize, 0usize, false);
    for &b in digits {
        match b {
            b'0'..=b'9' => {
                mantissa = mantissa * 10 + u64::from(b - b'0');
                count += 1;
                decimals += usize::from(seen_point);
            }
            b'.' if !seen_point => seen_point = true,
            _ => return None,
        }
    }
    if count == 0 || count > 15 || (seen_point && decimals == 0) {
        return None;
    }
    let value = mantissa as f64 / POWERS[decimals];
    Some(if negative { -value } else { value })
}

/// A split line: the buffer its fields live in, each field's byte range in it, and whether that
/// buffer is the line itself (no field was quoted).
type SplitLine<'a> = (&'a [u8], &'a [(usize, usize)], bool);

/// Splits lines into fields, unquoting RFC 4180 quoted fields into a scratch buffer.
#[derive(Default)]
struct Splitter {
    ranges: Vec<(usize, usize)>,
    unquoted: Vec<u8>,
}

impl Splitter {
    /// Splits `line`; returns the buffer the field ranges point into, and the ranges. `quoted`
    /// says whether the line may hold a quote at all (checked once per chunk).
    fn split<'a>(&'a mut self, line: &'a [u8], delimiter: u8, quoted: bool) -> Result<SplitLine<'a>, String> {
        self.ranges.clear();
        if !quoted || memchr::memchr(b'"', line).is_none() {
            let mut start = 0;
            for end in memchr::memchr_iter(delimiter, line) {
                self.ranges.push((start, end));
                start = end + 1;
            }
            self.ranges.push((start, line.len()));
            return Ok((line, &self.ranges, true));
        }
        self.unquoted.clear();
        let mut rest = line;
        loop {
            let start = self.unquoted.len();
            if let Some(quoted) = rest.strip_prefix(b"\"") {
                rest = unquote(quoted, &mut self.unquoted)?;
                self.ranges.push((start, self.unquoted.len()));
                match rest.split_first() {
                    None => return Ok((&self.unquoted, &self.ranges, false)),
                    Some((&b, after)) if b == delimiter => rest = after,
                    Some(_) => {
                        return Err("a quoted field is followed by text before the delimiter".to_owned());
                    }
                }
            } else {
                let end = memchr::memchr(delimiter, rest).unwrap_or(rest.len());
                self.unquoted.extend_from_slice(&rest[..end]);
                self.ranges.push((start, self.unquoted.len()));
                if end == rest.len() {
                    return Ok((&self.unquoted, &self.ranges, false));
                }
                rest = &rest[end + 1..];
            }
        }
    }
}

/// Copies the body of a quoted field (after its opening quote) into `out`; returns what follows
/// the closing quote.
fn unquote<'l>(mut rest: &'l [u8], out: &mut Vec<u8>) -> Result<&'l [u8], String> {
    loop {
        let quote = memchr::memchr(b'"', rest).ok_or_else(|| "a quoted field is not closed".to_owned())?;
        out.extend_from_slice(&rest[..quote]);
        if rest.get(quote + 1) == Some(&b'"') {
            out.push(b'"');
            rest = &rest[quote + 2..];
        } else {
            return Ok(&rest[quote + 1..]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flicker_guest::{Aggregate, BatchReader};

    fn parser(pairs: &[(&str, &str)]) -> Result<ParseCsv, Error> {
        ParseCsv::new(&Config::new(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()))
    }

    fn rows(parsed: &Parsed) -> Vec<Vec<flicker_guest::Value>> {
        let batch = BatchReader::new(&parsed.rows).unwrap();
        batch.rows().map(|r| r.unwrap().values().map(|v| v.unwrap().to_owned()).collect()).collect()
    }

    #[test]
    fn parses_typed_fields_with_crlf_and_quotes() {
        let mut p = parser(&[("delimiter", ";"), ("schema", "station:string,temperature:f64")]).unwrap();
        let parsed = p.parse(b"Hamburg;12.0\r\n\"Bad; \"\"Ems\"\"\";-3.5\n\nAbha;40\n").unwrap();
        use flicker_guest::Value::{F64, Str};
        assert_eq!(
            rows(&parsed),
            vec![
                vec![Str("Hamburg".into()), F64(12.0)],
                vec![Str("Bad; \"Ems\"".into()), F64(-3.5)],
                vec![Str("Abha".into()), F64(40.0)],
            ]
        );
    }

    #[test]
    fn bad_line_names_index_offset_and_field() {
        let mut p = parser(&[("delimiter", ";"), ("schema", "station:string,temperature:f64")]).unwrap();
        let err = p.parse(b"a;1\nb;x\n").unwrap_err();
        assert_eq!(
            err,
            Error::BadRecord {
                index: 1,
                offset: Some(4),
                message: "field `temperature`: \"x\" is not a valid f64".into()
            }
        );
        let mut skipping = parser(&[("schema", "a:i64"), ("on_error", "skip")]).unwrap();
        let parsed = skipping.parse(b"1\nzz\n3\n").unwrap();
        assert_eq!((rows(&parsed).len(), parsed.skipped), (2, 1));
    }

    /// The partials of `aggregate` after an `update` with `rows`.
    fn updated_partials(mut aggregate: impl Aggregate, rows: &[u8]) -> Vec<u8> {
        aggregate.update(rows).unwrap();
        aggregate.partials().unwrap()
    }

    /// Combining gives, per chunk, the partials that parsing with the key and then `update` of
    /// the aggregate give, and counts the records folded in.
    #[test]
    fn combining_returns_the_partials_of_the_rows_it_parsed() {
        let chunk = b"Oslo;1.5\nAbha;40\nOslo;-3.0\n\nAbha;41.5\nOslo;2\n";
        let keyed = [("delimiter", ";"), ("schema", "station:string,temperature:f64"), ("key", "station")];
        for (name, field) in [("max", Some("temperature")), ("stats", Some("temperature")), ("count", None)] {
            let spec = field.map_or(name.to_owned(), |field| format!("{name}:{field}"));
            let mut combining = parser(&[keyed.as_slice(), &[("combine", spec.as_str())]].concat()).unwrap();
            let combined = combining.parse(chunk).unwrap();
            assert_eq!((combined.records, combined.skipped), (5, 0), "{name}");

            let plain = parser(&keyed).unwrap().parse(chunk).unwrap();
            let config =
                Config::new(field.map(|f| vec![("field".to_owned(), f.to_owned())]).unwrap_or_default());
            let expected = match name {
                "max" => updated_partials(crate::Max::new(&config).unwrap(), &plain.rows),
                "stats" => updated_partials(crate::Stats::new(&config).unwrap(), &plain.rows),
                _ => updated_partials(crate::Count::new(&config).unwrap(), &plain.rows),
            };
            let sorted = |batch: &[u8]| {
                let reader = BatchReader::new(batch).unwrap();
                let mut rows: Vec<Vec<u8>> = reader.rows().map(|r| r.unwrap().framed.to_vec()).collect();
                rows.sort();
                (reader.schema().clone(), rows)
            };
            assert_eq!(sorted(&combined.rows), sorted(&expected), "{name}");
            assert_eq!(combining.parse(b"").unwrap().records, 0, "the state was emptied");
        }
    }

    #[test]
    fn combining_needs_a_key_and_a_known_aggregate_and_field() {
        let base = [("delimiter", ";"), ("schema", "station:string,temperature:f64")];
        let with = |extra: &[(&'static str, &'static str)]| parser(&[base.as_slice(), extra].concat());
        let message = |result: Result<ParseCsv, Error>| match result {
            Err(Error::InvalidConfig(message)) => message,
            Err(other) => panic!("not a config error: {other:?}"),
            Ok(_) => panic!("accepted"),
        };
        assert!(message(with(&[("combine", "max:temperature")])).contains("needs `key`"));
        assert!(
            message(with(&[("key", "station"), ("combine", "median:temperature")]))
                .contains("cannot combine")
        );
        assert!(message(with(&[("key", "station"), ("combine", "max:pressure")])).contains("`pressure`"));
        assert!(message(with(&[("key", "station"), ("combine", "max")])).contains("field"));
        let mut bad = with(&[("key", "station"), ("combine", "sum:station")]).unwrap();
        assert!(matches!(bad.parse(b"Oslo;1\n"), Err(Error::BadRecord { index: 0, .. })));
    }

    #[test]
    fn the_fast_decimal_path_agrees_with_the_standard_parser() {
        for text in [
            "0",
            "-0.0",
            "12.3",
            "-99.9",
            "99.9",
            "0.1",
            "123456789012.345",
            "7.",
            ".5",
            "1e3",
            " 1",
            "--1",
            "1.2.3",
        ] {
            let fast = simple_decimal(text.as_bytes());
            let standard = text.parse::<f64>().ok().filter(|_| fast.is_some());
            assert_eq!(fast.map(f64::to_bits), standard.map(f64::to_bits), "{text}");
        }
        for tenths in -1000..=1000 {
            let text = format!("{:.1}", tenths as f64 / 10.0);
            assert_eq!(simple_decimal(text.as_bytes()), Some(text.parse().unwrap()), "{text}");
        }
        assert_eq!(simple_decimal(b"1e3"), None);
        assert_eq!(simple_decimal(b"7."), None);
    }

    #[test]
    fn a_key_is_set_in_the_same_pass() {
        let mut p =
            parser(&[("delimiter", ";"), ("schema", "station:string,temperature:f64"), ("key", "station")])
                .unwrap();
        let parsed = p.parse(b"Oslo;1.5\n").unwrap();
        let batch = BatchReader::new(&parsed.rows).unwrap();
        assert_eq!(batch.schema().key_fields, ["station"]);
        let row = batch.rows().next().unwrap().unwrap();
        assert_eq!(row.key_values().next().unwrap().unwrap(), flicker_guest::ValueRef::Str("Oslo"));
        assert_eq!(row.values().count(), 2);
        assert!(matches!(
            parser(&[("schema", "a:i64"), ("key", "b")]),
            Err(Error::InvalidConfig(m)) if m.contains("`b`")
        ));
    }

    #[test]
    fn a_line_that_is_not_utf8_is_a_bad_record_among_good_ones() {
        let mut p = parser(&[("delimiter", ";"), ("schema", "station:string,temperature:f64")]).unwrap();
        let err = p.parse(b"Oslo;1\n\xffBad;2\n").unwrap_err();
        assert!(
            matches!(&err, Error::BadRecord { index: 1, offset: Some(7), message } if message.contains("UTF-8")),
            "{err:?}"
        );
    }

    #[test]
    fn header_lines_are_skipped_when_asked() {
        let mut p = parser(&[("schema", "a:i64,b:bool"), ("header", "true")]).unwrap();
        assert_eq!(rows(&p.parse(b"a,b\n1,true\n").unwrap()).len(), 1);
    }

    #[test]
    fn bad_config_is_rejected() {
        assert!(matches!(parser(&[("schema", "a:int8")]), Err(Error::InvalidConfig(_))));
        assert!(matches!(parser(&[]), Err(Error::InvalidConfig(_))));
        assert!(matches!(parser(&[("schema", "a:i64"), ("colour", "red")]), Err(Error::InvalidConfig(_))));
        assert!(matches!(parser(&[("schema", "a:i64"), ("delimiter", ";;")]), Err(Error::InvalidConfig(_))));
    }
}
