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

use crate::aggregate::{Combine, FoldError, KeyForm, combiner};
use crate::scan::{self, Line, Mark, Marks};
use flicker_guest::{
    BatchWriter, Config, Error, Field, FieldType, InPlace, Parse, Parsed, RowInPlace, RowType, Schema,
    ValueRef, encode_value,
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
    /// The encoded key of the line being combined, when the key is not one text field.
    key_bytes: Vec<u8>,
    /// The field ranges of the line being parsed, as the scanner finds them.
    fields: Vec<(usize, usize)>,
    splitter: Splitter,
    /// The aggregate rows are folded into, with `combine`.
    combine: Option<Combining>,
    /// Whether rows are written by [`write_plain_rows`] first: when they are not combined and
    /// every field is a string or a number.
    plain_rows: bool,
}

/// What a parser with `combine` folds its rows into.
struct Combining {
    aggregate: Box<dyn Combine>,
    /// The index of the aggregated field, if the aggregate has one.
    field: Option<usize>,
    /// The index of the one key field whose text is the key ([`KeyForm::Text`]); `None` when
    /// the key is encoded from its fields.
    text_key: Option<usize>,
    /// With a text key, the aggregated field when it is the line's only other field and an
    /// `f64`: then a line whose number takes the fast path is folded without anything else.
    number: Option<usize>,
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
                // One string key field that is not also the aggregated one.
                let text_key = match key.as_slice() {
                    &[key] if types[key] == FieldType::String && index != Some(key) => Some(key),
                    _ => None,
                };
                let form = if text_key.is_some() { KeyForm::Text } else { KeyForm::Encoded };
                let number =
                    index.filter(|&i| text_key.is_some() && types.len() == 2 && types[i] == FieldType::F64);
                let aggregate = combiner(name, field, &schema, form)?;
                Some(Combining { aggregate, field: index, text_key, number })
            }
        };
        let skip_bad = match config.get("on_error").unwrap_or("fail") {
            "fail" => false,
            "skip" => true,
            other => return Err(Error::config(format!("on_error must be `fail` or `skip`, got `{other}`"))),
        };
        let plain_rows = combine.is_none()
            && types.iter().all(|ty| matches!(ty, FieldType::String | FieldType::I64 | FieldType::F64));
        Ok(Self {
            delimiter: parse_delimiter(config.get("delimiter").unwrap_or(","))?,
            types,
            schema,
            header: config.parse_or("header", false)?,
            skip_bad,
            key,
            key_bytes: Vec::new(),
            fields: Vec::new(),
            splitter: Splitter::default(),
            plain_rows,
            combine,
        })
    }

    fn parse(&mut self, chunk: &[u8]) -> Result<Parsed, Error> {
        // A row takes about three times the bytes of its line (tags, lengths, the key); a
        // combining parser writes no rows.
        let capacity = if self.combine.is_some() { 0 } else { chunk.len() * 3 };
        let mut batch = BatchWriter::with_capacity(&self.schema, capacity);
        let mut counts = Counts::default();
        if let Some(key_first) = self.combine.as_ref().and_then(Combining::key_and_number) {
            self.combine_numbers(chunk, key_first, &mut batch, &mut counts)?;
        } else if self.plain_rows {
            self.write_rows(chunk, &mut batch, &mut counts)?;
        } else {
            // Rows' text fields are slices of the chunk checked once as UTF-8; a combining
            // parser checks its fields one by one (its text key only when the key is new).
            let text = if self.combine.is_none() { std::str::from_utf8(chunk).ok() } else { None };
            let mut fields = std::mem::take(&mut self.fields);
            let scanned = scan::for_each_line(chunk, self.delimiter, &mut fields, |line| {
                let line_text = text.and_then(|t| t.get(line.offset..line.offset + line.bytes.len()));
                self.take_line(&line, line_text, &mut batch, &mut counts)
            });
            self.fields = fields;
            scanned?;
        }
        let rows = match &mut self.combine {
            Some(combining) => combining.aggregate.take_partials(),
            None => batch.finish(),
        };
        Ok(Parsed { rows, skipped: counts.skipped, records: counts.records })
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

/// The lines of a chunk from `from` on, each a text key and a number separated by `delimiter`
/// (the key first if `key_first`): what [`Combine::fold_number_lines`] folds.
pub(crate) struct NumberLines<'a> {
    chunk: &'a [u8],
    from: usize,
    delimiter: u8,
    key_first: bool,
}

/// Where a pass over [`NumberLines`] ended.
pub(crate) struct Pass {
    /// Lines folded.
    pub folded: u32,
    /// The start and end (its `\n`, or the chunk's end) of the line the pass stopped at, if it
    /// did not reach the chunk's end: one with no delimiter or several, a quote, a number off
    /// the fast path, or one `fold` refused.
    pub stopped_at: Option<(usize, usize)>,
}

impl NumberLines<'_> {
    /// Gives `fold` the key and the number of each line until one that it refuses or that is
    /// not one delimiter between a key and a number of [`simple_decimal`]'s fast path, with no
    /// quote. Inlined into each aggregate's `fold_number_lines`, so that `fold` is too.
    #[inline(always)]
    pub(crate) fn fold(self, mut fold: impl FnMut(&[u8], f64) -> bool) -> Pass {
        let chunk = self.chunk;
        let mut folded = 0;
        // The line being scanned: where it starts, its first delimiter, whether it holds a
        // second one or a quote.
        let (mut start, mut split, mut odd) = (self.from, None, false);
        for (mark, at) in Marks::new(&chunk[self.from..], self.delimiter) {
            let at = self.from + at;
            match mark {
                Mark::Delimiter if split.is_none() => split = Some(at),
                Mark::Delimiter | Mark::Quote => odd = true,
                Mark::LineEnd => {
                    let taken = match split {
                        Some(split) if !odd => {
                            let line = scan::strip_cr(&chunk[start..at]);
                            let (first, second) = (&chunk[start..split], &line[split + 1 - start..]);
                            let (key, number) =
                                if self.key_first { (first, second) } else { (second, first) };
                            simple_decimal(number).is_some_and(|value| fold(key, value))
                        }
                        _ => false,
                    };
                    if !taken {
                        return Pass { folded, stopped_at: Some((start, at)) };
                    }
                    folded += 1;
                    (start, split) = (at + 1, None);
                }
            }
        }
        Pass { folded, stopped_at: None }
    }
}

/// The lines of a chunk from `from` on, to be written as rows by [`write_plain_rows`].
struct PlainRows<'c, 's> {
    chunk: &'c [u8],
    from: usize,
    /// Whether the whole chunk is UTF-8 (else a string field is not taken).
    utf8: bool,
    delimiter: u8,
    types: &'s [FieldType],
    /// Indexes of the key fields.
    key: &'s [usize],
}

/// The line a pass of [`write_plain_rows`] stopped at.
struct PlainStop<'a> {
    /// Which line it is, counted from the pass's first.
    index: usize,
    /// Where it starts in the chunk.
    offset: usize,
    /// The line, without its `\n` or `\r\n`.
    line: &'a [u8],
    /// Where its `\n` is, or the chunk's length.
    next: usize,
}

/// The longest line [`write_plain_rows`] takes: the room it reserves for a row grows with the
/// line, once per key field.
const PLAIN_LINE_MAX: usize = 1 << 16;

/// Writes each line of `lines` as a row straight into `rows`, until one that is not plain: a
/// plain line (an empty one is skipped) has no quote, as many fields as the schema, and each
/// field a string of a UTF-8 chunk or a number of the fast paths ([`simple_decimal`],
/// [`simple_integer`]); its row is what the general path would write. `fields` is scratch
/// space for the field ranges.
#[inline(never)]
fn write_plain_rows<'c>(
    lines: PlainRows<'c, '_>,
    fields: &mut Vec<(usize, usize)>,
    rows: &mut InPlace<'_>,
    counts: &mut Counts,
) -> Result<(), PlainStop<'c>> {
    let PlainRows { chunk, from, utf8, delimiter, types, key } = lines;
    scan::for_each_line(&chunk[from..], delimiter, fields, |line| {
        let bytes = line.bytes;
        if bytes.is_empty() {
            return Ok(());
        }
        let plain = !line.quoted && line.fields.len() == types.len() && bytes.len() <= PLAIN_LINE_MAX;
        if plain && write_plain_row(rows, bytes, line.fields, types, key, utf8) {
            counts.records += 1;
            return Ok(());
        }
        let offset = from + line.offset;
        let end = offset + bytes.len();
        // The line's `\n` follows it, or its `\r\n`, or the chunk ends there (maybe after a `\r`).
        let next = end + usize::from(chunk.get(end) == Some(&b'\r'));
        Err(PlainStop { index: line.index, offset, line: &chunk[offset..end], next })
    })
}

/// Writes the row of a plain line (see [`write_plain_rows`]) whose fields are at `ranges`; false,
/// writing nothing, if a field is not plain.
#[inline(always)]
fn write_plain_row(
    rows: &mut InPlace<'_>,
    line: &[u8],
    ranges: &[(usize, usize)],
    types: &[FieldType],
    key: &[usize],
    utf8: bool,
) -> bool {
    // Each value takes at most 9 bytes or 5 and its string, a field's string at most the line,
    // and the key's fields are written twice.
    let room = 8 + 9 * (key.len() + types.len()) + line.len() * (1 + key.len());
    let mut row = rows.row(room);
    let key_section = row.begin_section();
    for &i in key {
        if !write_plain_field(&mut row, line, ranges[i], types[i], utf8) {
            return false;
        }
    }
    row.end_section(key_section);
    let value_section = row.begin_section();
    for (i, &ty) in types.iter().enumerate() {
        if !write_plain_field(&mut row, line, ranges[i], ty, utf8) {
            return false;
        }
    }
    row.end_section(value_section);
    row.commit();
    true
}

/// Writes the field of `line` at `range`, of type `ty`, if it is plain (see [`write_plain_rows`]).
#[inline(always)]
fn write_plain_field(
    row: &mut RowInPlace<'_>,
    line: &[u8],
    range: (usize, usize),
    ty: FieldType,
    utf8: bool,
) -> bool {
    let raw = &line[range.0..range.1];
    match ty {
        FieldType::String if utf8 => row.str(raw),
        FieldType::F64 => match simple_decimal(raw) {
            Some(value) => row.f64(value),
            None => return false,
        },
        FieldType::I64 => match simple_integer(raw) {
            Some(value) => row.i64(value),
            None => return false,
        },
        _ => return false,
    }
    true
}

/// What became of a chunk's lines.
#[derive(Default)]
struct Counts {
    /// Lines made into rows (or combined).
    records: u32,
    /// Bad lines skipped (`on_error = skip`).
    skipped: u32,
}

impl ParseCsv {
    /// Parses one line (an empty one is nothing): a row, a header, a bad line skipped, or the
    /// error that fails the chunk.
    fn take_line(
        &mut self,
        line: &Line<'_>,
        line_text: Option<&str>,
        batch: &mut BatchWriter,
        counts: &mut Counts,
    ) -> Result<(), Error> {
        if line.bytes.is_empty() {
            return Ok(());
        }
        match self.parse_line(line, line_text, batch) {
            Ok(()) => counts.records += 1,
            Err(_) if self.is_header(line.bytes) => {}
            Err(_) if self.skip_bad => counts.skipped += 1,
            Err(message) => return Err(Error::bad_line(line.index, line.offset, message)),
        }
        Ok(())
    }

    /// The hot path of a parser combining lines of a text key and a number
    /// ([`Combining::key_and_number`]; `key_first` says which comes first): the aggregate folds
    /// the lines it can ([`NumberLines`]) in one pass compiled for its own fold; the first line
    /// it cannot takes the general path here, and the pass resumes after it.
    fn combine_numbers(
        &mut self,
        chunk: &[u8],
        key_first: bool,
        batch: &mut BatchWriter,
        counts: &mut Counts,
    ) -> Result<(), Error> {
        let (mut from, mut index) = (0, 0);
        loop {
            let lines = NumberLines { chunk, from, delimiter: self.delimiter, key_first };
            let pass = self.combine.as_mut().expect("combining").aggregate.fold_number_lines(lines);
            counts.records += pass.folded;
            index += pass.folded as usize;
            let Some((start, end)) = pass.stopped_at else { return Ok(()) };
            self.take_unsplit_line(scan::strip_cr(&chunk[start..end]), index, start, batch, counts)?;
            if end >= chunk.len() {
                return Ok(());
            }
            (from, index) = (end + 1, index + 1);
        }
    }

    /// The hot path of a parser writing rows of strings and numbers: the lines
    /// [`write_plain_rows`] takes are written in place, and each line it stops at takes the
    /// general path here; then the pass resumes after it.
    fn write_rows(
        &mut self,
        chunk: &[u8],
        batch: &mut BatchWriter,
        counts: &mut Counts,
    ) -> Result<(), Error> {
        let utf8 = std::str::from_utf8(chunk).is_ok();
        let mut fields = std::mem::take(&mut self.fields);
        let (mut from, mut index) = (0, 0);
        let result = loop {
            let plain = PlainRows {
                chunk,
                from,
                utf8,
                delimiter: self.delimiter,
                types: &self.types,
                key: &self.key,
            };
            let Err(stop) = write_plain_rows(plain, &mut fields, &mut batch.in_place(), counts) else {
                break Ok(());
            };
            let line_index = index + stop.index;
            if let Err(error) = self.take_unsplit_line(stop.line, line_index, stop.offset, batch, counts) {
                break Err(error);
            }
            if stop.next >= chunk.len() {
                break Ok(());
            }
            (from, index) = (stop.next + 1, line_index + 1);
        };
        self.fields = fields;
        result
    }

    /// [`take_line`](Self::take_line) of a line whose fields the general path finds.
    #[inline(never)]
    fn take_unsplit_line(
        &mut self,
        bytes: &[u8],
        index: usize,
        offset: usize,
        batch: &mut BatchWriter,
        counts: &mut Counts,
    ) -> Result<(), Error> {
        let line = Line { index, offset, bytes, fields: &[], quoted: true };
        self.take_line(&line, None, batch, counts)
    }

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
        line: &Line<'_>,
        line_text: Option<&str>,
        batch: &mut BatchWriter,
    ) -> Result<(), String> {
        // The scanner split a line without quotes; one with quotes is unquoted here.
        let (source, ranges, source_text) = if line.quoted {
            let (source, ranges, _) = self.splitter.split(line.bytes, self.delimiter, true)?;
            (source, ranges, None)
        } else {
            (line.bytes, line.fields, line_text)
        };
        if ranges.len() != self.types.len() {
            return Err(format!(
                "found {} field(s) separated by {:?}, the schema has {}",
                ranges.len(),
                self.delimiter as char,
                self.types.len()
            ));
        }
        let fields = Fields {
            source,
            ranges,
            text: source_text,
            types: &self.types,
            names: &self.schema.value_fields,
        };
        let Some(combining) = &mut self.combine else {
            // Rows: the key's fields, then every field, converted and encoded straight into the
            // batch; a line that fails leaves nothing there, and is reported by its first
            // problem in field order.
            let key = &self.key;
            return batch
                .try_push_with(
                    |out| key.iter().try_for_each(|&i| fields.convert_one(i).map(|v| encode_value(out, v))),
                    |out| fields.convert(None, |_, value| encode_value(out, value)),
                )
                .map_err(|_| fields.first_problem());
        };
        // Combining: every field is still converted (a bad one fails the line), but only the
        // aggregated value is kept, and a text key is looked up by its bytes as they are.
        let mut value = ValueRef::Null;
        let key = match combining.text_key {
            Some(key) => {
                fields
                    .convert(Some(key), |i, v| {
                        if combining.field == Some(i) {
                            value = v;
                        }
                    })
                    .map_err(|_| fields.first_problem())?;
                let (start, end) = ranges[key];
                &source[start..end]
            }
            None => {
                // The key's fields encoded in the key's order, then every field converted.
                self.key_bytes.clear();
                let key_bytes = &mut self.key_bytes;
                self.key
                    .iter()
                    .try_for_each(|&i| fields.convert_one(i).map(|v| encode_value(key_bytes, v)))
                    .and_then(|()| {
                        fields.convert(None, |i, v| {
                            if combining.field == Some(i) {
                                value = v;
                            }
                        })
                    })
                    .map_err(|_| fields.first_problem())?;
                key_bytes.as_slice()
            }
        };
        combining.aggregate.fold(key, value).map_err(|error| combining.explain(error, &fields))
    }
}

impl Combining {
    /// Whether lines are a text key and a number and nothing else, and if so whether the key
    /// comes first.
    fn key_and_number(&self) -> Option<bool> {
        Some(self.text_key? < self.number?)
    }

    /// What is wrong with a line the aggregate refused.
    #[cold]
    fn explain(&self, error: FoldError, fields: &Fields<'_>) -> String {
        match error {
            FoldError::KeyNotText => fields.first_problem(),
            FoldError::Value(message) => match self.field {
                Some(i) => format!("field `{}`: {message}", fields.names[i]),
                None => message,
            },
        }
    }
}

/// The fields of a split line, with the schema's types and names.
struct Fields<'a> {
    source: &'a [u8],
    ranges: &'a [(usize, usize)],
    /// `source` as UTF-8, when already checked.
    text: Option<&'a str>,
    types: &'a [FieldType],
    names: &'a [String],
}

impl<'a> Fields<'a> {
    /// Converts each field to its type, in order, but `skip`, and gives it to `each`; the first
    /// that fails fails them all, named.
    #[inline]
    fn convert(&self, skip: Option<usize>, mut each: impl FnMut(usize, ValueRef<'a>)) -> Result<(), String> {
        for i in 0..self.ranges.len() {
            if skip != Some(i) {
                each(i, self.convert_one(i)?);
            }
        }
        Ok(())
    }

    /// Field `i` converted to its type, or what is wrong with it, named.
    #[inline(always)]
    fn convert_one(&self, i: usize) -> Result<ValueRef<'a>, String> {
        let (start, end) = self.ranges[i];
        let text = self.text.and_then(|t| t.get(start..end));
        convert(&self.source[start..end], text, self.types[i])
            .map_err(|problem| format!("field `{}`: {problem}", self.names[i]))
    }

    /// The first problem of a bad line, as converting every field in order finds it: what a
    /// line whose text key was skipped, or refused by the table, is reported with.
    #[cold]
    fn first_problem(&self) -> String {
        self.convert(None, |_, _| {}).err().unwrap_or_default()
    }
}

/// Converts a field to its schema type; `text` is the field as already-checked UTF-8, if known.
#[inline]
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
#[inline(always)]
fn simple_decimal(raw: &[u8]) -> Option<f64> {
    match tenths(raw) {
        Some(value) => Some(value),
        None => decimal(raw),
    }
}

/// Parses `-?digits` with at most 18 digits, as `str::parse::<i64>` would: such a number always
/// fits. Anything else (a `+`, spaces, more digits) returns `None` for the full parser.
#[inline(always)]
fn simple_integer(raw: &[u8]) -> Option<i64> {
    let (negative, digits) = match raw.split_first()? {
        (b'-', rest) => (true, rest),
        _ => (false, raw),
    };
    if digits.is_empty() || digits.len() > 18 {
        return None;
    }
    let mut value = 0i64;
    for &b in digits {
        let digit = b.wrapping_sub(b'0');
        if digit > 9 {
            return None;
        }
        value = value * 10 + i64::from(digit);
    }
    Some(if negative { -value } else { value })
}

/// `d/10` for every `d` below 1000, each the correctly rounded quotient.
static TENTHS: [f64; 1000] = {
    let mut table = [0.0; 1000];
    let mut d = 0;
    while d < 1000 {
        table[d] = d as f64 / 10.0;
        d += 1;
    }
    table
};

/// The shape of most measurements, `-?d?d.d`, read without a loop and with one branch that
/// depends on the bytes (whether the shape holds): the digits make an index into [`TENTHS`].
#[inline(always)]
fn tenths(raw: &[u8]) -> Option<f64> {
    let negative = raw.first() == Some(&b'-');
    let digits = &raw[usize::from(negative)..];
    let n = digits.len();
    if !(3..=4).contains(&n) {
        return None;
    }
    let digit = |b: u8| b.wrapping_sub(b'0');
    let (first, tens, point, ones) =
        (digit(digits[0]), digit(digits[n - 3]), digits[n - 2], digit(digits[n - 1]));
    // `first` is `tens` when there are only two digits.
    let hundreds = if n == 4 { first } else { 0 };
    if (first | tens | ones | hundreds) >= 10 || point != b'.' {
        return None;
    }
    let value = TENTHS[usize::from(hundreds) * 100 + usize::from(tens) * 10 + usize::from(ones)];
    Some(f64::from_bits(value.to_bits() | u64::from(negative) << 63))
}

/// The general fast path of [`simple_decimal`], a digit at a time.
#[inline]
fn decimal(raw: &[u8]) -> Option<f64> {
    const POWERS: [f64; 16] =
        [1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15];
    let (negative, digits) = match raw.split_first()? {
        (b'-', rest) => (true, rest),
        _ => (false, raw),
    };
    let (mut mantissa, mut count, mut decimals, mut seen_point) = (0i64, 0usize, 0usize, false);
    for &b in digits {
        match b {
            b'0'..=b'9' => {
                mantissa = mantissa * 10 + i64::from(b - b'0');
                count += 1;
                decimals += usize::from(seen_point);
            }
            b'.' if !seen_point => seen_point = true,
            _ => return None,
        }
        if count > 15 {
            return None;
        }
    }
    if count == 0 || (seen_point && decimals == 0) {
        return None;
    }
    // Below 10^15, so exact as an f64.
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
    use proptest::prelude::*;
    use proptest::test_runner::TestCaseError;

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
            assert_eq!(sorted_rows(&combined.rows), sorted_rows(&expected), "{name}");
            assert_eq!(combining.parse(b"").unwrap().records, 0, "the state was emptied");
        }
    }

    /// A line of a chunk, good or bad in each way a parser tells apart.
    fn any_line() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            8 => ("[A-Ca-c]{1,3}", -999i32..1000).prop_map(|(s, t)| format!("{s};{}.{}", t / 10, t.abs() % 10).into_bytes()),
            1 => ("[A-C]{1,2}", "-?[0-9]{1,17}(\\.[0-9]{0,3})?(e-?[0-9])?").prop_map(|(s, t)| format!("{s};{t}").into_bytes()),
            1 => Just(b"\"Q;\"\"x\"\"\";1.5".to_vec()),
            1 => Just(b"A;1.5\r".to_vec()),
            1 => Just(Vec::new()),
            1 => Just(b"A;x".to_vec()),
            1 => Just(b"A;1;2".to_vec()),
            1 => Just(b"\xffB;2.5".to_vec()),
            1 => Just(b"\xffB;y".to_vec()),
        ]
    }

    proptest! {
        /// Combining gives what parsing with the key and `update` of the aggregate give, the
        /// same error or the same partials, whatever the lines, with and without `on_error = skip`.
        #[test]
        fn combining_is_parsing_then_updating(
            lines in proptest::collection::vec(any_line(), 0..60),
            aggregate in prop_oneof![Just("max"), Just("stats"), Just("count")],
            skip in any::<bool>(),
            key_first in any::<bool>(),
        ) {
            // With the key second, each line's text before its first `;` goes to its end.
            let swap = |line: &Vec<u8>| match line.iter().position(|&b| b == b';') {
                Some(at) if !key_first => [&line[at + 1..], b";", &line[..at]].concat(),
                _ => line.clone(),
            };
            let chunk = lines.iter().map(swap).collect::<Vec<_>>().join(&b'\n');
            let on_error = if skip { "skip" } else { "fail" };
            let schema = if key_first { "station:string,temperature:f64" } else { "temperature:f64,station:string" };
            let keyed = [("delimiter", ";"), ("schema", schema), ("key", "station"), ("on_error", on_error)];
            let spec = if aggregate == "count" { "count".to_owned() } else { format!("{aggregate}:temperature") };
            let combined = parser(&[keyed.as_slice(), &[("combine", spec.as_str())]].concat()).unwrap().parse(&chunk);
            let plain = parser(&keyed).unwrap().parse(&chunk);
            match (combined, plain) {
                (Ok(combined), Ok(plain)) => {
                    let config = Config::new(if aggregate == "count" { vec![] } else { vec![("field".to_owned(), "temperature".to_owned())] });
                    let expected = match aggregate {
                        "max" => updated_partials(crate::Max::new(&config).unwrap(), &plain.rows),
                        "stats" => updated_partials(crate::Stats::new(&config).unwrap(), &plain.rows),
                        _ => updated_partials(crate::Count::new(&config).unwrap(), &plain.rows),
                    };
                    prop_assert_eq!((combined.records, combined.skipped), (plain.records, plain.skipped));
                    prop_assert_eq!(sorted_rows(&combined.rows), sorted_rows(&expected));
                }
                (combined, plain) => prop_assert_eq!(combined.map(|p| p.records), plain.map(|p| p.records)),
            }
        }
    }

    /// A line for a parser of `station:string,temperature:f64,count:i64` rows: plain ones, and
    /// each kind that leaves the plain path.
    fn any_row_line() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            8 => ("[A-Ca-c]{0,20}", -999i32..1000, any::<i64>())
                .prop_map(|(s, t, n)| format!("{s};{}.{};{n}", t / 10, t.abs() % 10).into_bytes()),
            2 => ("[A-C]{1,2}", "-?[0-9]{1,17}(\\.[0-9]{0,3})?(e-?[0-9])?", "[-+]?[0-9]{1,20}")
                .prop_map(|(s, t, n)| format!("{s};{t};{n}").into_bytes()),
            1 => Just(b"\"Q;\"\"x\"\"\";1.5;2".to_vec()),
            1 => Just(b"A;1.5;-7\r".to_vec()),
            1 => Just(b"\r".to_vec()),
            1 => Just(Vec::new()),
            1 => Just(b"A;x;1".to_vec()),
            1 => Just(b"A;1;2;3".to_vec()),
            1 => Just(b"A;1".to_vec()),
            1 => Just(b"station;temperature;count".to_vec()),
            1 => Just(b"\xffB;2.5;1".to_vec()),
            1 => Just(b"\xc3\xa9t\xc3\xa9;2.5;1".to_vec()),
            1 => Just(b"A; 2.5;1".to_vec()),
        ]
    }

    proptest! {
        /// Rows written in place are the rows the general path writes, and every line they leave
        /// gets the same error or skip, whatever the lines, keyed or not, with and without a
        /// header and `on_error = skip`.
        #[test]
        fn plain_rows_are_the_general_path_s_rows(
            lines in proptest::collection::vec(any_row_line(), 0..60),
            key in prop_oneof![Just(None), Just(Some("station")), Just(Some("count,temperature,count"))],
            skip in any::<bool>(),
            header in any::<bool>(),
            last_newline in any::<bool>(),
        ) {
            let mut chunk = lines.join(&b'\n');
            if last_newline {
                chunk.push(b'\n');
            }
            let on_error = if skip { "skip" } else { "fail" };
            let header = if header { "true" } else { "false" };
            let mut config = vec![
                ("delimiter", ";"),
                ("schema", "station:string,temperature:f64,count:i64"),
                ("on_error", on_error),
                ("header", header),
            ];
            config.extend(key.map(|key| ("key", key)));
            let mut plain = parser(&config).unwrap();
            prop_assert!(plain.plain_rows);
            let mut general = parser(&config).unwrap();
            general.plain_rows = false;
            let (plain, general) = (plain.parse(&chunk), general.parse(&chunk));
            match (plain, general) {
                (Ok(plain), Ok(general)) => {
                    prop_assert_eq!((plain.records, plain.skipped), (general.records, general.skipped));
                    prop_assert_eq!(plain.rows, general.rows);
                }
                (plain, general) => prop_assert_eq!(plain.err(), general.err()),
            }
        }

        /// The fast integer path against Rust's `i64` parsing.
        #[test]
        fn the_fast_integer_path_is_rust_s_i64_parse(
            number in any::<i64>(),
            digits in "-?[0-9]{1,20}",
            any in "[-+0-9 .]{0,21}",
        ) {
            for text in [number.to_string(), digits, any] {
                let fast = simple_integer(text.as_bytes());
                if let Some(fast) = fast {
                    prop_assert_eq!(Ok(fast), text.parse::<i64>(), "{}", text);
                }
                let unsigned = text.strip_prefix('-').unwrap_or(&text);
                let simple = (1..=18).contains(&unsigned.len()) && unsigned.bytes().all(|b| b.is_ascii_digit());
                prop_assert_eq!(fast.is_some(), simple, "{}", text);
            }
        }
    }

    #[test]
    fn only_rows_of_strings_and_numbers_not_combined_are_written_in_place() {
        let schema = [("schema", "a:string,b:f64,c:i64")];
        assert!(parser(&schema).unwrap().plain_rows);
        assert!(!parser(&[("schema", "a:string,b:bool")]).unwrap().plain_rows);
        let combining = [schema[0], ("key", "a"), ("combine", "max:b")];
        assert!(!parser(&combining).unwrap().plain_rows);
    }

    /// A batch's schema and its framed rows, sorted.
    fn sorted_rows(batch: &[u8]) -> (Schema, Vec<Vec<u8>>) {
        let reader = BatchReader::new(batch).unwrap();
        let mut rows: Vec<Vec<u8>> = reader.rows().map(|r| r.unwrap().framed.to_vec()).collect();
        rows.sort();
        (reader.schema().clone(), rows)
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

    /// What Rust's own `f64` parser makes of `text`, when the fast path takes it.
    fn agrees_with_std(text: &str) -> Result<(), TestCaseError> {
        let fast = simple_decimal(text.as_bytes());
        if let Some(fast) = fast {
            let standard: f64 = text.parse().map_err(|e| TestCaseError::fail(format!("{text}: {e}")))?;
            prop_assert_eq!(fast.to_bits(), standard.to_bits(), "{}", text);
        }
        // Every `-?digits[.digits]` of at most 15 digits takes the fast path.
        let digits = text.bytes().filter(u8::is_ascii_digit).count();
        let unsigned = text.strip_prefix('-').unwrap_or(text);
        let simple = (1..=15).contains(&digits)
            && unsigned.split('.').count() <= 2
            && unsigned.split('.').all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()));
        prop_assert!(fast.is_some() || !simple, "{} missed the fast path", text);
        Ok(())
    }

    proptest! {
        /// The fast number path against Rust's `f64` parsing: decimals of every length around the
        /// 15-digit limit, and any short text of digits, signs, points, exponents and spaces.
        #[test]
        fn the_fast_number_path_is_rust_s_f64_parse(
            decimal in "-?[0-9]{1,18}(\\.[0-9]{1,18})?",
            short in "-?[0-9]{1,3}\\.[0-9]",
            any in "[-+0-9.eE ]{0,12}",
        ) {
            agrees_with_std(&decimal)?;
            agrees_with_std(&short)?;
            agrees_with_std(&any)?;
        }
    }

    #[test]
    fn the_fast_number_path_on_edge_inputs() {
        for text in [
            "0",
            "-0",
            "0.0",
            "-0.0",
            "00.5",
            "1.0",
            "9.9",
            "-9.9",
            "99.9",
            "-99.9",
            "999.9",
            "100.0",
            "0.1",
            "0.2",
            "0.3",
            "123456789012345",
            "-123456789012345",
            "1234567890123456",
            "0.000000000000001",
            "1.00000000000001",
            "9007199254740993",
            "999999999999999.9",
            "4.35",
            "1e1",
            "1.",
            ".1",
            "-",
            "",
            "+1",
            "1 ",
            "-.5",
            "0x10",
            "1_0",
            "١",
        ] {
            agrees_with_std(text).unwrap();
        }
    }

    #[test]
    fn a_key_of_several_fields_keeps_its_order_and_a_bad_line_leaves_no_row() {
        let mut p =
            parser(&[("schema", "a:i64,b:string,c:f64"), ("key", "c,a"), ("on_error", "skip")]).unwrap();
        let parsed = p.parse(b"1,x,2.5\n2,y,oops\n3,z,4\n").unwrap();
        assert_eq!((parsed.records, parsed.skipped), (2, 1));
        let batch = BatchReader::new(&parsed.rows).unwrap();
        assert_eq!(batch.schema().key_fields, ["c", "a"]);
        let keys: Vec<Vec<flicker_guest::Value>> =
            batch.rows().map(|r| r.unwrap().key_values().map(|v| v.unwrap().to_owned()).collect()).collect();
        use flicker_guest::Value::{F64, I64};
        assert_eq!(keys, vec![vec![F64(2.5), I64(1)], vec![F64(4.0), I64(3)]]);
        assert_eq!(batch.check(), Ok(2));
        let mut failing = parser(&[("schema", "a:i64,b:string,c:f64"), ("key", "c")]).unwrap();
        assert!(matches!(
            failing.parse(b"x,y,oops\n"),
            Err(Error::BadRecord { message, .. }) if message.starts_with("field `a`")
        ));
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
