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
