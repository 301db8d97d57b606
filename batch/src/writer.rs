//! Building batches.

use crate::value::{TAG_F64, TAG_FALSE, TAG_I64, TAG_NULL, TAG_STR, TAG_TRUE};
use crate::{MAGIC, Schema, ValueRef};

/// Appends rows to a batch under construction.
#[derive(Debug, Clone)]
pub struct BatchWriter {
    buf: Vec<u8>,
    header_len: usize,
}

impl BatchWriter {
    /// Starts a batch with the given schema.
    pub fn new(schema: &Schema) -> Self {
        Self::with_capacity(schema, 0)
    }

    /// Starts a batch with the given schema and room for `bytes` bytes of rows.
    pub fn with_capacity(schema: &Schema, bytes: usize) -> Self {
        let mut buf = Vec::with_capacity(bytes + 64);
        buf.extend_from_slice(MAGIC);
        write_names(&mut buf, &schema.key_fields);
        write_names(&mut buf, &schema.value_fields);
        let header_len = buf.len();
        Self { buf, header_len }
    }

    /// Starts a batch whose header is copied verbatim from an existing batch's header bytes.
    pub fn with_header(header: &[u8]) -> Self {
        Self { buf: header.to_vec(), header_len: header.len() }
    }

    /// Appends a row from its already encoded key and value bytes.
    pub fn push_raw(&mut self, key: &[u8], value: &[u8]) {
        push_len_prefixed(&mut self.buf, key);
        push_len_prefixed(&mut self.buf, value);
    }

    /// Appends a row from its key values and field values.
    pub fn push_values<'v>(
        &mut self,
        key: impl IntoIterator<Item = ValueRef<'v>>,
        values: impl IntoIterator<Item = ValueRef<'v>>,
    ) {
        self.push_with(
            |out| key.into_iter().for_each(|v| encode_value(out, v)),
            |out| values.into_iter().for_each(|v| encode_value(out, v)),
        );
    }

    /// Appends a row whose key and value are written by two closures straight into the batch.
    ///
    /// This is the allocation-free way to build rows: each closure appends encoded values
    /// (with [`encode_value`]) to the buffer it is given.
    pub fn push_with(&mut self, key: impl FnOnce(&mut Vec<u8>), value: impl FnOnce(&mut Vec<u8>)) {
        write_section(&mut self.buf, key);
        write_section(&mut self.buf, value);
    }

    /// [`push_with`](Self::push_with) with closures that may fail: the first failure is returned
    /// and leaves the batch as it was before the call.
    #[inline]
    pub fn try_push_with<E>(
        &mut self,
        key: impl FnOnce(&mut Vec<u8>) -> Result<(), E>,
        value: impl FnOnce(&mut Vec<u8>) -> Result<(), E>,
    ) -> Result<(), E> {
        let start = self.buf.len();
        let written =
            try_write_section(&mut self.buf, key).and_then(|()| try_write_section(&mut self.buf, value));
        if written.is_err() {
            self.buf.truncate(start);
        }
        written
    }

    /// Appends rows that are already framed (as in [`crate::BatchReader::row_bytes`] or
    /// [`crate::RawRow::framed`]).
    pub fn extend_framed(&mut self, framed: &[u8]) {
        self.buf.extend_from_slice(framed);
    }

    /// The framed rows appended so far.
    pub fn framed_rows(&self) -> &[u8] {
        &self.buf[self.header_len..]
    }

    /// Reserves room for `bytes` more bytes of rows.
    pub fn reserve(&mut self, bytes: usize) {
        self.buf.reserve(bytes);
    }

    /// Bytes used by the rows appended so far (excluding the header).
    pub fn row_bytes(&self) -> usize {
        self.buf.len() - self.header_len
    }

    /// Ends the batch and returns its bytes.
    pub fn finish(self) -> Vec<u8> {
        self.buf
    }

    /// Rows written in place, for a writer's hot loop: each row goes into room reserved once for
    /// it ([`InPlace::row`]), through a cursor of its own, with no capacity check or length update
    /// in the batch per value. The rows appear in the batch when the returned value is dropped.
    pub fn in_place(&mut self) -> InPlace<'_> {
        let end = self.buf.len();
        InPlace { buf: &mut self.buf, end }
    }
}

/// A [`BatchWriter`] taking rows written in place ([`BatchWriter::in_place`]).
///
/// The batch's buffer is kept initialised (zeroed when it grows) past the rows committed so far,
/// so a row is written into a plain byte slice; dropping this cuts the buffer back to the
/// committed rows.
#[derive(Debug)]
pub struct InPlace<'w> {
    buf: &'w mut Vec<u8>,
    /// Where the committed rows end.
    end: usize,
}

impl InPlace<'_> {
    /// Room for one row of at most `max_bytes` bytes (its two length prefixes included; see
    /// [`RowInPlace`] for what each value takes). The row is added by [`RowInPlace::commit`];
    /// dropped uncommitted, it leaves nothing.
    #[inline(always)]
    pub fn row(&mut self, max_bytes: usize) -> RowInPlace<'_> {
        if self.buf.len() - self.end < max_bytes {
            self.grow(max_bytes);
        }
        RowInPlace { out: &mut self.buf[self.end..self.end + max_bytes], at: 0, end: &mut self.end }
    }

    /// Initialised room for `bytes` more bytes after the committed rows, at least doubling the
    /// buffer so that growing is rare.
    #[cold]
    fn grow(&mut self, bytes: usize) {
        let len = (self.end + bytes).max(self.buf.len() * 2);
        self.buf.resize(len, 0);
    }
}

impl Drop for InPlace<'_> {
    fn drop(&mut self) {
        self.buf.truncate(self.end);
    }
}

/// One row being written in place ([`InPlace::row`]): its key section, then its value section,
/// each opened by [`begin_section`](Self::begin_section) and closed by
/// [`end_section`](Self::end_section), holding the values written between them.
///
/// Writing more than the room asked for panics: a value takes 9 bytes at most, or 5 plus its
/// bytes for a string, and each section 4 more.
#[derive(Debug)]
pub struct RowInPlace<'r> {
    out: &'r mut [u8],
    at: usize,
    end: &'r mut usize,
}

impl RowInPlace<'_> {
    /// Opens a section: returns where it starts, for [`end_section`](Self::end_section).
    #[inline(always)]
    pub fn begin_section(&mut self) -> usize {
        let start = self.at;
        self.at += 4;
        start
    }

    /// Closes the section opened at `start`: writes its length.
    #[inline(always)]
    pub fn end_section(&mut self, start: usize) {
        let len = u32::try_from(self.at - start - 4).expect("a row section is larger than 4 GiB");
        self.put(start, &len.to_le_bytes());
    }

    /// Writes a string value.
    #[inline(always)]
    pub fn str(&mut self, bytes: &[u8]) {
        let len = u32::try_from(bytes.len()).expect("a row section is larger than 4 GiB");
        let at = self.at;
        self.out[at] = TAG_STR;
        self.put(at + 1, &len.to_le_bytes());
        self.put(at + 5, bytes);
        self.at = at + 5 + bytes.len();
    }

    /// Writes an `f64` value.
    #[inline(always)]
    pub fn f64(&mut self, value: f64) {
        self.tagged(TAG_F64, value.to_le_bytes());
    }

    /// Writes an `i64` value.
    #[inline(always)]
    pub fn i64(&mut self, value: i64) {
        self.tagged(TAG_I64, value.to_le_bytes());
    }

    /// Adds the row to the batch.
    #[inline(always)]
    pub fn commit(self) {
        *self.end += self.at;
    }

    #[inline(always)]
    fn tagged(&mut self, tag: u8, payload: [u8; 8]) {
        let at = self.at;
        self.out[at] = tag;
        self.put(at + 1, &payload);
        self.at = at + 9;
    }

    /// Copies `bytes` to `at`. Up to 16 bytes, as most keys and names are, in two overlapping
    /// copies of a fixed size: plain loads and stores, where a copy of any length is a call to
    /// `memcpy` (in WebAssembly, `memory.copy`: a call out of the sandbox into the engine).
    #[inline(always)]
    fn put(&mut self, at: usize, bytes: &[u8]) {
        let n = bytes.len();
        let out = &mut self.out[at..at + n];
        match n {
            8..=16 => {
                out[..8].copy_from_slice(&bytes[..8]);
                out[n - 8..].copy_from_slice(&bytes[n - 8..]);
            }
            4..=7 => {
                out[..4].copy_from_slice(&bytes[..4]);
                out[n - 4..].copy_from_slice(&bytes[n - 4..]);
            }
            2..=3 => {
                out[..2].copy_from_slice(&bytes[..2]);
                out[n - 2..].copy_from_slice(&bytes[n - 2..]);
            }
            1 => out[0] = bytes[0],
            _ => out.copy_from_slice(bytes),
        }
    }
}

/// Appends the encoding of one value.
#[inline]
pub fn encode_value(out: &mut Vec<u8>, value: ValueRef<'_>) {
    match value {
        ValueRef::Null => out.push(TAG_NULL),
        ValueRef::Bool(false) => out.push(TAG_FALSE),
        ValueRef::Bool(true) => out.push(TAG_TRUE),
        ValueRef::I64(i) => {
            out.push(TAG_I64);
            out.extend_from_slice(&i.to_le_bytes());
        }
        ValueRef::F64(f) => {
            out.push(TAG_F64);
            out.extend_from_slice(&f.to_le_bytes());
        }
        ValueRef::Str(s) => {
            out.push(TAG_STR);
            push_len_prefixed(out, s.as_bytes());
        }
    }
}

fn write_section(buf: &mut Vec<u8>, fill: impl FnOnce(&mut Vec<u8>)) {
    let Ok(()) = try_write_section(buf, |buf| {
        fill(buf);
        Ok::<(), std::convert::Infallible>(())
    });
}

/// Writes a row section (its length, then what `fill` appends), unless `fill` fails.
#[inline]
fn try_write_section<E>(
    buf: &mut Vec<u8>,
    fill: impl FnOnce(&mut Vec<u8>) -> Result<(), E>,
) -> Result<(), E> {
    let at = buf.len();
    buf.extend_from_slice(&[0; 4]);
    fill(buf)?;
    let len = u32::try_from(buf.len() - at - 4).expect("a row section is larger than 4 GiB");
    buf[at..at + 4].copy_from_slice(&len.to_le_bytes());
    Ok(())
}

fn push_len_prefixed(buf: &mut Vec<u8>, bytes: &[u8]) {
    let len = u32::try_from(bytes.len()).expect("a row section is larger than 4 GiB");
    buf.extend_from_slice(&len.to_le_bytes());
    buf.extend_from_slice(bytes);
}

fn write_names(buf: &mut Vec<u8>, names: &[String]) {
    let count = u16::try_from(names.len()).expect("more than 65535 fields");
    buf.extend_from_slice(&count.to_le_bytes());
    for name in names {
        let len = u16::try_from(name.len()).expect("a field name longer than 65535 bytes");
        buf.extend_from_slice(&len.to_le_bytes());
        buf.extend_from_slice(name.as_bytes());
    }
}
