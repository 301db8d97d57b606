//! Reading batches without copying their rows.

use crate::value::{TAG_F64, TAG_FALSE, TAG_I64, TAG_NULL, TAG_STR, TAG_TRUE};
use crate::{FrameError, MAGIC, Schema, ValueRef};

/// A batch whose header has been read; its rows are decoded lazily.
#[derive(Debug, Clone)]
pub struct BatchReader<'a> {
    schema: Schema,
    header: &'a [u8],
    rows: &'a [u8],
}

impl<'a> BatchReader<'a> {
    /// Reads the header of `bytes`.
    pub fn new(bytes: &'a [u8]) -> Result<Self, FrameError> {
        if bytes.get(..4) != Some(&MAGIC[..]) {
            return Err(FrameError { offset: 0, problem: "the batch does not start with \"FLB1\"" });
        }
        let mut cursor = Cursor { bytes, at: 4 };
        let key_fields = cursor.names()?;
        let value_fields = cursor.names()?;
        let (header, rows) = bytes.split_at(cursor.at);
        Ok(Self { schema: Schema { key_fields, value_fields }, header, rows })
    }

    /// The batch's field names.
    pub fn schema(&self) -> &Schema {
        &self.schema
    }

    /// The header bytes, to start another batch with the same schema.
    pub fn header_bytes(&self) -> &'a [u8] {
        self.header
    }

    /// The bytes of all rows, framed as in the batch.
    pub fn row_bytes(&self) -> &'a [u8] {
        self.rows
    }

    /// Iterates over the rows.
    pub fn rows(&self) -> Rows<'a> {
        Rows { bytes: self.rows, at: 0, base: self.header.len() }
    }

    /// Checks the framing of every row: its two sections, and in them exactly as many
    /// well-encoded values as the schema has key and value fields. Reads lengths and tags only,
    /// copies nothing. Returns the number of rows.
    pub fn check(&self) -> Result<usize, FrameError> {
        let fields = (self.schema.key_fields.len(), self.schema.value_fields.len());
        let mut count = 0;
        for row in self.rows() {
            let row = row?;
            let offset = self.header.len() + (row.framed.as_ptr() as usize - self.rows.as_ptr() as usize);
            let at = |problem| FrameError { offset, problem };
            let counted = |section| {
                let mut values = ValueIter::new(section);
                std::iter::from_fn(move || values.next_raw()).try_fold(0, |n, value| value.map(|_| n + 1))
            };
            let values = (counted(row.key).map_err(|_| at("a key value is malformed"))?, counted(row.value));
            match values {
                (keys, _) if keys != fields.0 => {
                    return Err(at("a row has another number of key values than the batch has key fields"));
                }
                (_, Err(_)) => return Err(at("a field value is malformed")),
                (_, Ok(values)) if values != fields.1 => {
                    return Err(at("a row has another number of values than the batch has fields"));
                }
                _ => count += 1,
            }
        }
        Ok(count)
    }

    /// The batch cut into batches of the same schema whose rows take at most `max_row_bytes`
    /// each (a single larger row goes alone), in order. A batch within the bound, an empty one
    /// included, comes out whole.
    pub fn pieces(&self, max_row_bytes: usize) -> Pieces<'a> {
        Pieces { header: self.header, rows: self.rows(), max_row_bytes: max_row_bytes.max(1), first: true }
    }
}

/// Iterator over a batch cut into smaller batches; see [`BatchReader::pieces`].
#[derive(Debug, Clone)]
pub struct Pieces<'a> {
    header: &'a [u8],
    rows: Rows<'a>,
    max_row_bytes: usize,
    /// Whether nothing was handed out yet (an empty batch still yields itself once).
    first: bool,
}

impl Iterator for Pieces<'_> {
    type Item = Result<Vec<u8>, FrameError>;

    fn next(&mut self) -> Option<Self::Item> {
        let start = self.rows.at;
        if start == self.rows.bytes.len() && !std::mem::take(&mut self.first) {
            return None;
        }
        self.first = false;
        loop {
            let before = self.rows.at;
            match self.rows.next() {
                None => break,
                Some(Err(error)) => return Some(Err(error)),
                Some(Ok(_)) if self.rows.at - start > self.max_row_bytes && before > start => {
                    self.rows.at = before;
                    break;
                }
                Some(Ok(_)) => {}
            }
        }
        let piece = &self.rows.bytes[start..self.rows.at];
        let mut batch = Vec::with_capacity(self.header.len() + piece.len());
        batch.extend_from_slice(self.header);
        batch.extend_from_slice(piece);
        Some(Ok(batch))
    }
}

/// Iterator over the rows of a batch.
#[derive(Debug, Clone)]
pub struct Rows<'a> {
    bytes: &'a [u8],
    at: usize,
    base: usize,
}

/// One row of a batch: its key and value bytes, still encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawRow<'a> {
    /// Encoded key values.
    pub key: &'a [u8],
    /// Encoded field values.
    pub value: &'a [u8],
    /// The whole row as framed in the batch (length prefixes included).
    pub framed: &'a [u8],
}

impl<'a> Rows<'a> {
    /// The rows framed one after another in `framed` (the rows of a batch, without its header).
    pub fn of_framed(framed: &'a [u8]) -> Self {
        Rows { bytes: framed, at: 0, base: 0 }
    }
}

impl Rows<'_> {
    /// Counts the well-framed rows at the start of `framed` (rows framed as in a batch).
    pub fn count_framed(framed: &[u8]) -> usize {
        Rows { bytes: framed, at: 0, base: 0 }.take_while(Result::is_ok).count()
    }
}

impl<'a> Rows<'a> {
    /// Gives `fold` the encoded key and the value at `index` among the field values of each row
    /// from here on, as long as that value is a number (`I64`, `F64`) or `Null` and `fold` takes
    /// it (returns `true`; a row it refuses it must leave as it found it). Stops before any other
    /// row (another value there, a row cut short, or one `fold` refused), where the iterator then
    /// resumes to report it or take it the general way. Returns the number of rows folded.
    ///
    /// An aggregate's fast path: inlined into the caller with `fold`, it decodes only the one
    /// value, skipping the ones before it by their tags, and returns no `Result` per row.
    #[inline(always)]
    pub fn fold_numbers(
        &mut self,
        index: usize,
        mut fold: impl FnMut(&'a [u8], ValueRef<'a>) -> bool,
    ) -> usize {
        let bytes = self.bytes;
        let mut folded = 0;
        while let Some((key, values, end)) = framed_row(bytes, self.at) {
            match number_at(values, index) {
                Some(value) if fold(key, value) => {
                    self.at = end;
                    folded += 1;
                }
                _ => break,
            }
        }
        folded
    }
}

/// The key and value sections of the row framed at `at` in `bytes`, and where the row ends;
/// `None` if it is cut short (or `at` is the end). Each step splits what is left, so that a row
/// costs four comparisons with the length left and no overflow checks (a [`Cursor`]'s `section`
/// adds to its offset and checks the sum both against overflow and against the end).
#[inline(always)]
fn framed_row(bytes: &[u8], at: usize) -> Option<(&[u8], &[u8], usize)> {
    let (key_len, rest) = bytes.get(at..)?.split_first_chunk::<4>()?;
    let (key, rest) = rest.split_at_checked(u32::from_le_bytes(*key_len) as usize)?;
    let (values_len, rest) = rest.split_first_chunk::<4>()?;
    let (values, rest) = rest.split_at_checked(u32::from_le_bytes(*values_len) as usize)?;
    Some((key, values, bytes.len() - rest.len()))
}

/// The value at `index` in the encoded `values`, if it is a number or null and the values before
/// it and it decode; `None` otherwise (for [`ValueIter`] to report).
#[inline(always)]
fn number_at(values: &[u8], index: usize) -> Option<ValueRef<'_>> {
    let mut cursor = Cursor { bytes: values, at: 0 };
    for _ in 0..index {
        cursor.skip_value().ok()?;
    }
    match cursor.value().ok()? {
        value @ (ValueRef::Null | ValueRef::I64(_) | ValueRef::F64(_)) => Some(value),
        _ => None,
    }
}

impl<'a> Iterator for Rows<'a> {
    type Item = Result<RawRow<'a>, FrameError>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if self.at >= self.bytes.len() {
            return None;
        }
        let start = self.at;
        if let Some((key, value, end)) = framed_row(self.bytes, start) {
            self.at = end;
            return Some(Ok(RawRow { key, value, framed: &self.bytes[start..end] }));
        }
        // Cut short: read again by a cursor, to say where and how.
        let mut cursor = Cursor { bytes: self.bytes, at: start };
        let mut err = cursor
            .section()
            .and_then(|_| cursor.section())
            .err()
            .unwrap_or(FrameError { offset: start, problem: "row section runs past the end of the batch" });
        self.at = self.bytes.len();
        err.offset += self.base;
        Some(Err(err))
    }
}

impl<'a> RawRow<'a> {
    /// Decodes the key values.
    pub fn key_values(&self) -> ValueIter<'a> {
        ValueIter::new(self.key)
    }

    /// Decodes the field values.
    pub fn values(&self) -> ValueIter<'a> {
        ValueIter::new(self.value)
    }

    /// The encoded bytes (tag and payload) of the field value at `index`, not decoded.
    pub fn raw_value(&self, index: usize) -> Option<Result<&'a [u8], FrameError>> {
        ValueIter::new(self.value).nth_raw(index)
    }

    /// The encoded bytes of the key value at `index`, not decoded.
    pub fn raw_key_value(&self, index: usize) -> Option<Result<&'a [u8], FrameError>> {
        ValueIter::new(self.key).nth_raw(index)
    }

    /// The field value at `index`, skipping the ones before it.
    pub fn value(&self, index: usize) -> Option<Result<ValueRef<'a>, FrameError>> {
        self.values().nth(index)
    }
}

/// Iterator decoding a sequence of encoded values.
#[derive(Debug, Clone)]
pub struct ValueIter<'a> {
    cursor: Cursor<'a>,
}

impl<'a> ValueIter<'a> {
    /// Decodes the values encoded in `bytes`.
    pub fn new(bytes: &'a [u8]) -> Self {
        Self { cursor: Cursor { bytes, at: 0 } }
    }

    /// Skips `n` values, then returns the encoded bytes (tag and payload) of the next one.
    pub fn nth_raw(&mut self, n: usize) -> Option<Result<&'a [u8], FrameError>> {
        for _ in 0..n {
            if let Err(error) = self.next_raw()? {
                return Some(Err(error));
            }
        }
        self.next_raw()
    }

    /// Skips the next value by its tag and length; returns its encoded bytes.
    fn next_raw(&mut self) -> Option<Result<&'a [u8], FrameError>> {
        if self.cursor.at >= self.cursor.bytes.len() {
            return None;
        }
        let start = self.cursor.at;
        Some(match self.cursor.skip_value() {
            Ok(()) => Ok(&self.cursor.bytes[start..self.cursor.at]),
            Err(error) => {
                self.cursor.at = self.cursor.bytes.len();
                Err(error)
            }
        })
    }

    /// The bytes not decoded yet.
    pub fn rest(&self) -> &'a [u8] {
        &self.cursor.bytes[self.cursor.at..]
    }
}

impl<'a> Iterator for ValueIter<'a> {
    type Item = Result<ValueRef<'a>, FrameError>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if self.cursor.at >= self.cursor.bytes.len() {
            return None;
        }
        let value = self.cursor.value();
        if value.is_err() {
            self.cursor.at = self.cursor.bytes.len();
        }
        Some(value)
    }

    /// Skips `n` values by their tags and lengths, without decoding (or validating) them.
    #[inline(always)]
    fn nth(&mut self, n: usize) -> Option<Self::Item> {
        for _ in 0..n {
            if let Err(error) = self.next_raw()? {
                return Some(Err(error));
            }
        }
        self.next()
    }
}

#[derive(Debug, Clone)]
struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    #[inline]
    fn take(&mut self, n: usize, problem: &'static str) -> Result<&'a [u8], FrameError> {
        let end = self.at.checked_add(n).filter(|&end| end <= self.bytes.len());
        let end = end.ok_or(FrameError { offset: self.at, problem })?;
        let taken = &self.bytes[self.at..end];
        self.at = end;
        Ok(taken)
    }

    #[inline]
    fn array<const N: usize>(&mut self, problem: &'static str) -> Result<[u8; N], FrameError> {
        let bytes = self.take(N, problem)?;
        let mut array = [0; N];
        array.copy_from_slice(bytes);
        Ok(array)
    }

    #[inline]
    fn section(&mut self) -> Result<&'a [u8], FrameError> {
        let len = u32::from_le_bytes(self.array("truncated row length")?) as usize;
        self.take(len, "row section runs past the end of the batch")
    }

    fn names(&mut self) -> Result<Vec<String>, FrameError> {
        let count = u16::from_le_bytes(self.array("truncated field count")?);
        (0..count)
            .map(|_| {
                let len = u16::from_le_bytes(self.array("truncated field name length")?) as usize;
                let at = self.at;
                let name = self.take(len, "field name runs past the end of the batch")?;
                std::str::from_utf8(name)
                    .map(str::to_owned)
                    .map_err(|_| FrameError { offset: at, problem: "field name is not UTF-8" })
            })
            .collect()
    }

    #[inline]
    fn skip_value(&mut self) -> Result<(), FrameError> {
        let [tag] = self.array("truncated value tag")?;
        let len = match tag {
            TAG_NULL | TAG_FALSE | TAG_TRUE => 0,
            TAG_I64 | TAG_F64 => 8,
            TAG_STR => u32::from_le_bytes(self.array("truncated string length")?) as usize,
            _ => return Err(FrameError { offset: self.at - 1, problem: "unknown value tag" }),
        };
        self.take(len, "value runs past the end of its row").map(drop)
    }

    #[inline]
    fn value(&mut self) -> Result<ValueRef<'a>, FrameError> {
        let at = self.at;
        let [tag] = self.array("truncated value tag")?;
        Ok(match tag {
            TAG_NULL => ValueRef::Null,
            TAG_FALSE => ValueRef::Bool(false),
            TAG_TRUE => ValueRef::Bool(true),
            TAG_I64 => ValueRef::I64(i64::from_le_bytes(self.array("truncated i64 value")?)),
            TAG_F64 => ValueRef::F64(f64::from_le_bytes(self.array("truncated f64 value")?)),
            TAG_STR => {
                let len = u32::from_le_bytes(self.array("truncated string length")?) as usize;
                let bytes = self.take(len, "string runs past the end of its row")?;
                ValueRef::Str(
                    std::str::from_utf8(bytes)
                        .map_err(|_| FrameError { offset: at, problem: "string value is not UTF-8" })?,
                )
            }
            _ => return Err(FrameError { offset: at, problem: "unknown value tag" }),
        })
    }
}
