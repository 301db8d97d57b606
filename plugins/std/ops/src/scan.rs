//! Where a chunk's lines and fields are: its delimiters, line ends and quotes are found 64 bytes
//! at a time with vector compares (WebAssembly `simd128` in the sandbox, which wasmtime compiles
//! to the host's vector instructions; SSE2 natively), and then read off the resulting bit masks
//! one set bit at a time, so a line costs a few instructions however its bytes fall.
//!
//! Lines end at `\n` (a `\r` before it is dropped, as [`crate::lines`] does); a line's fields are
//! the ranges between its delimiters. A line holding a quote is only marked as such: its fields
//! are for the caller's RFC 4180 splitter to find.

/// One line of a chunk, as [`for_each_line`] finds it.
pub(crate) struct Line<'a> {
    /// Which line of the chunk it is, counting empty lines (from 0).
    pub index: usize,
    /// Where the line starts in the chunk.
    pub offset: usize,
    /// The line, without its `\n` or `\r\n`.
    pub bytes: &'a [u8],
    /// Each field's byte range in `bytes`; meaningless when `quoted`.
    pub fields: &'a [(usize, usize)],
    /// Whether the line holds a `"` (or was not split): its fields are for the caller to find.
    pub quoted: bool,
}

/// The set bits of one 64-byte block: bit `i` for byte `i`.
#[derive(Default, Clone, Copy)]
struct BlockMarks {
    delimiters: u64,
    newlines: u64,
    quotes: u64,
}

impl BlockMarks {
    /// Keeps only the marks of the first `len` bytes.
    fn truncate(self, len: usize) -> BlockMarks {
        let keep = if len >= 64 { u64::MAX } else { (1u64 << len) - 1 };
        BlockMarks {
            delimiters: self.delimiters & keep,
            newlines: self.newlines & keep,
            quotes: self.quotes & keep,
        }
    }
}

/// The marks of `block`, 16 bytes per vector compare.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
#[inline(always)]
fn marks(block: &[u8; 64], delimiter: u8) -> BlockMarks {
    use core::arch::wasm32::{u8x16_bitmask, u8x16_eq, u8x16_splat, v128, v128_load};
    let (d, n, q) = (u8x16_splat(delimiter), u8x16_splat(b'\n'), u8x16_splat(b'"'));
    let mut marks = BlockMarks::default();
    for lane in 0..4 {
        // SAFETY: the 16 bytes at `16 * lane` lie inside the 64-byte array, and `v128_load` has no
        // alignment requirement.
        let v = unsafe { v128_load(block.as_ptr().add(16 * lane).cast::<v128>()) };
        let shift = 16 * lane as u32;
        marks.delimiters |= u64::from(u8x16_bitmask(u8x16_eq(v, d))) << shift;
        marks.newlines |= u64::from(u8x16_bitmask(u8x16_eq(v, n))) << shift;
        marks.quotes |= u64::from(u8x16_bitmask(u8x16_eq(v, q))) << shift;
    }
    marks
}

/// The marks of `block`, 16 bytes per vector compare.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn marks(block: &[u8; 64], delimiter: u8) -> BlockMarks {
    use core::arch::x86_64::{__m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_set1_epi8};
    let mut marks = BlockMarks::default();
    // SAFETY: every x86_64 processor has SSE2; the 16 bytes at `16 * lane` lie inside the 64-byte
    // array, and `loadu` has no alignment requirement.
    unsafe {
        let (d, n, q) =
            (_mm_set1_epi8(delimiter as i8), _mm_set1_epi8(b'\n' as i8), _mm_set1_epi8(b'"' as i8));
        for lane in 0..4 {
            let v = _mm_loadu_si128(block.as_ptr().add(16 * lane).cast::<__m128i>());
            let shift = 16 * lane as u32;
            marks.delimiters |= u64::from(_mm_movemask_epi8(_mm_cmpeq_epi8(v, d)) as u16) << shift;
            marks.newlines |= u64::from(_mm_movemask_epi8(_mm_cmpeq_epi8(v, n)) as u16) << shift;
            marks.quotes |= u64::from(_mm_movemask_epi8(_mm_cmpeq_epi8(v, q)) as u16) << shift;
        }
    }
    marks
}

/// The marks of `block`, a byte at a time (targets without the vector instructions above).
#[cfg(not(any(all(target_arch = "wasm32", target_feature = "simd128"), target_arch = "x86_64")))]
fn marks(block: &[u8; 64], delimiter: u8) -> BlockMarks {
    let mut marks = BlockMarks::default();
    for (i, &b) in block.iter().enumerate() {
        marks.delimiters |= u64::from(b == delimiter) << i;
        marks.newlines |= u64::from(b == b'\n') << i;
        marks.quotes |= u64::from(b == b'"') << i;
    }
    marks
}

/// What a byte [`Marks`] stops at is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mark {
    /// The delimiter.
    Delimiter,
    /// A `\n`, or the end of a chunk whose last line has none.
    LineEnd,
    /// A `"`.
    Quote,
}

/// Every delimiter, line end and quote of a chunk with its position, in order; and a line end
/// at the chunk's length when its last line has no `\n`. An iterator rather than a callback, so
/// that a caller's loop body is compiled into the loop.
pub(crate) struct Marks<'a> {
    chunk: &'a [u8],
    delimiter: u8,
    /// Where the next block starts.
    next_block: usize,
    /// The marks of the current block, and its bits not yet returned.
    block: BlockMarks,
    bits: u64,
    /// Whether the line end after an unterminated last line was returned.
    ended: bool,
}

impl<'a> Marks<'a> {
    /// The marks of `chunk`; `delimiter` must not be `\n` or `"`.
    pub(crate) fn new(chunk: &'a [u8], delimiter: u8) -> Self {
        Marks { chunk, delimiter, next_block: 0, block: BlockMarks::default(), bits: 0, ended: false }
    }
}

impl Iterator for Marks<'_> {
    type Item = (Mark, usize);

    #[inline(always)]
    fn next(&mut self) -> Option<(Mark, usize)> {
        loop {
            if self.bits != 0 {
                let bit = self.bits.trailing_zeros();
                self.bits &= self.bits - 1;
                let mark = if self.block.newlines >> bit & 1 == 1 {
                    Mark::LineEnd
                } else if self.block.delimiters >> bit & 1 == 1 {
                    Mark::Delimiter
                } else {
                    Mark::Quote
                };
                return Some((mark, self.next_block - 64 + bit as usize));
            }
            let (chunk, base) = (self.chunk, self.next_block);
            if base >= chunk.len() {
                if self.ended || chunk.last().is_none_or(|&b| b == b'\n') {
                    return None;
                }
                self.ended = true;
                return Some((Mark::LineEnd, chunk.len()));
            }
            self.block = match chunk.get(base..base + 64) {
                Some(block) => marks(block.try_into().expect("a 64-byte slice"), self.delimiter),
                None => {
                    let mut block = [0; 64];
                    block[..chunk.len() - base].copy_from_slice(&chunk[base..]);
                    marks(&block, self.delimiter).truncate(chunk.len() - base)
                }
            };
            self.bits = self.block.delimiters | self.block.newlines | self.block.quotes;
            self.next_block = base + 64;
        }
    }
}

/// Calls `each` with every line of `chunk` in order, empty ones included, until it fails;
/// `fields` is scratch space for the field ranges. `delimiter` must not be `\n`, `\r` or `"`.
#[inline]
pub(crate) fn for_each_line<E>(
    chunk: &[u8],
    delimiter: u8,
    fields: &mut Vec<(usize, usize)>,
    mut each: impl FnMut(Line<'_>) -> Result<(), E>,
) -> Result<(), E> {
    fields.clear();
    let (mut line_start, mut field_start, mut quoted, mut index) = (0, 0, false, 0);
    for (mark, at) in Marks::new(chunk, delimiter) {
        match mark {
            Mark::LineEnd => {
                let line = strip_cr(&chunk[line_start..at]);
                // The last field ends where the line does, before a `\r` that ends it (the
                // delimiter is not `\r`, so the field does not start past it).
                fields.push((field_start - line_start, line.len()));
                each(Line { index, offset: line_start, bytes: line, fields, quoted })?;
                fields.clear();
                (line_start, field_start, quoted, index) = (at + 1, at + 1, false, index + 1);
            }
            Mark::Delimiter => {
                fields.push((field_start - line_start, at - line_start));
                field_start = at + 1;
            }
            Mark::Quote => quoted = true,
        }
    }
    Ok(())
}

/// `line` without the `\r` that may end it.
#[inline(always)]
pub(crate) fn strip_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A line as owned values: index, offset, bytes, and fields unless quoted.
    type Found = (usize, usize, Vec<u8>, Option<Vec<Vec<u8>>>);

    /// What `for_each_line` finds.
    fn scanned(chunk: &[u8], delimiter: u8) -> Vec<Found> {
        let mut out = Vec::new();
        let mut fields = Vec::new();
        for_each_line::<()>(chunk, delimiter, &mut fields, |line| {
            let split =
                (!line.quoted).then(|| line.fields.iter().map(|&(s, e)| line.bytes[s..e].to_vec()).collect());
            out.push((line.index, line.offset, line.bytes.to_vec(), split));
            Ok(())
        })
        .unwrap();
        out
    }

    /// The same, the slow and obvious way.
    fn expected(chunk: &[u8], delimiter: u8) -> Vec<Found> {
        crate::lines(chunk)
            .enumerate()
            .map(|(index, (offset, line))| {
                let split = (!line.contains(&b'"'))
                    .then(|| line.split(|&b| b == delimiter).map(<[u8]>::to_vec).collect());
                (index, offset, line.to_vec(), split)
            })
            .collect()
    }

    #[test]
    fn lines_and_fields_across_block_edges() {
        let mut chunk = Vec::new();
        for i in 0..200 {
            chunk.extend_from_slice(format!("station {i};{}.{}\r\n", i % 97, i % 10).as_bytes());
            if i % 13 == 0 {
                chunk.extend_from_slice(b"\n\"quoted;\"\"field\"\";1\n;;\n");
            }
        }
        chunk.extend_from_slice(b"no end;9");
        assert_eq!(scanned(&chunk, b';'), expected(&chunk, b';'));
        assert_eq!(scanned(b"", b';'), expected(b"", b';'));
        assert_eq!(scanned(b"\r", b';'), expected(b"\r", b';'));
        assert_eq!(scanned(b"a;\r\n", b';'), expected(b"a;\r\n", b';'));
    }

    proptest! {
        #[test]
        fn finds_what_a_byte_at_a_time_split_finds(
            chunk in proptest::collection::vec(prop_oneof![
                4 => b'a'..=b'e', 1 => Just(b';'), 1 => Just(b'\n'), 1 => Just(b'\r'), 1 => Just(b'"'), 1 => Just(0u8), 1 => Just(0xffu8)
            ], 0..300),
            delimiter in prop_oneof![Just(b';'), Just(b','), Just(b'\t'), Just(0u8)],
        ) {
            prop_assert_eq!(scanned(&chunk, delimiter), expected(&chunk, delimiter));
        }
    }
}
