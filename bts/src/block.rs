//! A shuffle block's encoded form: the raw bytes cut into pieces, each compressed on its own (an
//! lz4 block) behind a prefix holding its stored length and the xxh3-64 checksum of its compressed
//! bytes.
//!
//! ```text
//! stored bytes:  piece 0, piece 1, …       (nothing for an empty block)
//! piece:         stored_len u32 LE         bytes of its lz4 block (1 at least)
//!                checksum   u64 LE         xxh3-64 of its lz4 block
//!                stored_len bytes          the lz4 block
//! ```
//!
//! Piece `i` holds raw bytes `i × PIECE .. min((i + 1) × PIECE, raw_len)`: every piece but the
//! last holds [`PIECE`] raw bytes, so the header's `raw_len` alone says how many pieces there are
//! and how long each is once decompressed. The [`BlockHeader`]'s `checksum` is the xxh3-64 of the
//! piece prefixes back to back (the *piece table*), so the header covers the prefixes and each
//! prefix covers its piece: every stored byte is checked, and a piece can be checked as soon as it
//! has arrived. That is what lets a fetcher decode a block as it arrives ([`BlockDecoder`]): each
//! piece is checked against its checksum before it is decompressed, and the decoded block is handed
//! out only once all of it has arrived and the piece table matches the header.
//!
//! Decoding never trusts a header or a prefix: the header's lengths must fit each other, each
//! piece's stored length must fit its raw length and the header's total, a piece is decompressed
//! into exactly its raw length and no further, and anything else is a [`BlockError`].
//!
//! This is the format of index version 2 (the `index` module) and of protocol version 11; blocks
//! of earlier versions (one lz4 block, the checksum over all of it) are refused by the index's
//! version check, and peers of earlier versions by the protocol's.

use flicker_protocol::bts::BlockHeader;
use xxhash_rust::xxh3::{Xxh3Default, xxh3_64};

/// Raw bytes of every piece of a block but the last, which holds the rest (1 to `PIECE` bytes).
pub const PIECE: usize = 1 << 20;

/// Bytes of a piece's prefix: its stored length and its checksum.
pub const PIECE_PREFIX: usize = 4 + 8;

/// The most raw bytes one stored byte of an lz4 block can expand to: a match-length extension byte
/// adds at most 255 bytes of output, and every other byte adds less.
const MAX_EXPANSION: u64 = 255;

/// A block that cannot be encoded or decoded.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BlockError {
    /// The stored bytes (or the bytes the pieces describe) are not as many as the header says.
    #[error("block of {actual} stored bytes, the header says {expected}")]
    LengthMismatch {
        /// Stored bytes according to the header.
        expected: u64,
        /// Stored bytes there are (or that the pieces describe).
        actual: u64,
    },
    /// The stored bytes ended before the header's stored length: the block was cut short.
    #[error("block cut short: {got} of its {expected} stored bytes")]
    Truncated {
        /// Stored bytes according to the header.
        expected: u64,
        /// Stored bytes received.
        got: u64,
    },
    /// A piece's bytes, or the piece table, do not have their checksum: they were damaged.
    #[error("block checksum mismatch: expected {expected:#018x}, got {actual:#018x}")]
    ChecksumMismatch {
        /// The checksum in the prefix or the header.
        expected: u64,
        /// The checksum of the bytes.
        actual: u64,
    },
    /// The header's raw length cannot come out of that many stored bytes.
    #[error("a block of {stored_len} stored bytes cannot hold {raw_len} raw bytes")]
    Implausible {
        /// Raw bytes according to the header.
        raw_len: u32,
        /// Stored bytes according to the header.
        stored_len: u32,
    },
    /// A piece's prefix gives a stored length that no lz4 block of the piece's raw length has.
    #[error("piece {piece} of {raw_len} raw bytes cannot be {stored_len} stored bytes")]
    PieceLength {
        /// The piece's place in the block.
        piece: u64,
        /// Raw bytes the piece holds (from its place and the header).
        raw_len: u32,
        /// Stored bytes according to its prefix.
        stored_len: u32,
    },
    /// A piece's bytes are not a valid lz4 block of its raw length.
    #[error("block does not decompress: {reason}")]
    Decompress {
        /// What the decompressor found wrong.
        reason: String,
    },
    /// The pieces decompress to fewer bytes than the header says.
    #[error("block decompressed to {actual} bytes, {expected} expected")]
    RawLengthMismatch {
        /// Raw bytes according to the header (of the piece, or of the block).
        expected: u32,
        /// Raw bytes decompressed.
        actual: u64,
    },
    /// A block has more bytes than a header can describe (4 GiB, raw or compressed).
    #[error("block of {len} bytes is too large: a block holds less than 4 GiB")]
    TooLarge {
        /// The block's length.
        len: u64,
    },
}

/// A block as stored and sent: pieces whose header is known to match them.
///
/// The only ways to get one are [`encode`] and [`EncodedBlock::verified`], so its header always
/// describes its bytes and it can be stored without being checked again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedBlock {
    header: BlockHeader,
    bytes: Vec<u8>,
}

impl EncodedBlock {
    /// A block received already encoded, once its bytes are checked against `header` (lengths,
    /// every piece's checksum and the piece table's; the pieces are not decompressed).
    pub fn verified(header: BlockHeader, bytes: Vec<u8>) -> Result<Self, BlockError> {
        check_len(&header, &bytes)?;
        let mut checker = BlockDecoder::start(header, false)?;
        checker.push(&bytes)?;
        checker.finish()?;
        Ok(Self { header, bytes })
    }

    /// The block's header.
    pub fn header(&self) -> BlockHeader {
        self.header
    }

    /// The stored bytes: the pieces, prefixes included.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The header and the stored bytes.
    pub fn into_parts(self) -> (BlockHeader, Vec<u8>) {
        (self.header, self.bytes)
    }
}

/// Compresses `raw` into a block of pieces of [`PIECE`] raw bytes. An empty block has no pieces
/// and no stored bytes.
pub fn encode(raw: &[u8]) -> Result<EncodedBlock, BlockError> {
    let raw_len = u32::try_from(raw.len()).map_err(|_| BlockError::TooLarge { len: raw.len() as u64 })?;
    seal(raw_len, raw.chunks(PIECE).map(lz4_flex::block::compress))
}

/// A block of `raw_len` raw bytes made of these pieces' compressed bytes, in order: each behind
/// its prefix, the header's checksum over the prefixes. (Whether the pieces decompress to
/// `raw_len` bytes is the caller's word.)
fn seal(raw_len: u32, pieces: impl IntoIterator<Item = Vec<u8>>) -> Result<EncodedBlock, BlockError> {
    let mut bytes = Vec::new();
    let mut table = Xxh3Default::new();
    for piece in pieces {
        let too_large = |len: usize| BlockError::TooLarge { len: len as u64 };
        let stored_len = u32::try_from(piece.len()).map_err(|_| too_large(piece.len()))?;
        let mut prefix = [0; PIECE_PREFIX];
        prefix[..4].copy_from_slice(&stored_len.to_le_bytes());
        prefix[4..].copy_from_slice(&xxh3_64(&piece).to_le_bytes());
        table.update(&prefix);
        bytes.extend_from_slice(&prefix);
        bytes.extend_from_slice(&piece);
    }
    let stored_len =
        u32::try_from(bytes.len()).map_err(|_| BlockError::TooLarge { len: bytes.len() as u64 })?;
    let header = BlockHeader { raw_len, stored_len, checksum: table.digest() };
    Ok(EncodedBlock { header, bytes })
}

/// Checks stored `bytes` against `header` (lengths, checksums) and decompresses them.
pub fn decode(header: &BlockHeader, bytes: &[u8]) -> Result<Vec<u8>, BlockError> {
    check_len(header, bytes)?;
    let mut decoder = BlockDecoder::new(*header)?;
    decoder.push(bytes)?;
    decoder.finish()
}

/// Checks that `bytes` are as many as `header` says are stored.
fn check_len(header: &BlockHeader, bytes: &[u8]) -> Result<(), BlockError> {
    if bytes.len() as u64 == u64::from(header.stored_len) {
        Ok(())
    } else {
        Err(BlockError::LengthMismatch { expected: header.stored_len.into(), actual: bytes.len() as u64 })
    }
}

/// Checks and decodes a block's stored bytes as they arrive, in pieces of any size
/// ([`push`](Self::push)): each of the block's pieces is checked against its checksum and
/// decompressed as soon as its last byte is pushed, so decoding keeps pace with the transfer and
/// no buffer holds the whole stored block. [`finish`](Self::finish) hands out the decoded block
/// only once all of it has arrived and the piece table matches the header: nothing decoded is
/// handed on before every stored byte is checked.
///
/// The decoded block's buffer is allocated for the header's raw length when the first piece is
/// decompressed, by the thread that decompresses it (backed by huge pages where it can be, see
/// `block::buffer`; or a buffer handed back, see [`decode_into`](Self::decode_into)), and a
/// piece's room that the buffer never held is zeroed just before the piece is written, so its
/// pages are touched only as pieces are decompressed into it. (Allocated by the thread that writes it, the
/// buffer comes from that thread's malloc arena, where glibc reuses the memory of the blocks
/// before it: in the shuffle bench, allocating it where the decoder is made instead, on the
/// thread that receives, took 7 times as many samples of the kernel zeroing fresh pages.)
/// After an error the decoder is of no further use.
pub struct BlockDecoder {
    header: BlockHeader,
    /// The decoded block so far (`decoded` bytes; room for `header.raw_len` from the first piece
    /// on); `None` for a decoder that only checks.
    raw: Option<Vec<u8>>,
    /// Raw bytes the pieces checked so far hold.
    decoded: usize,
    /// Stored bytes pushed so far.
    received: u64,
    /// Stored bytes of the pieces checked so far.
    consumed: u64,
    /// The pieces checked so far.
    pieces: u64,
    /// The pushed bytes of a piece not whole yet.
    pending: Vec<u8>,
    /// The hash of the prefixes of the pieces checked so far.
    table: Xxh3Default,
}

impl std::fmt::Debug for BlockDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlockDecoder")
            .field("header", &self.header)
            .field("decoded", &self.decoded)
            .field("received", &self.received)
            .field("pieces", &self.pieces)
            .finish_non_exhaustive()
    }
}

impl BlockDecoder {
    /// A decoder of the block `header` announces, once its lengths are found to fit each other
    /// ([`BlockError::Implausible`] otherwise).
    pub fn new(header: BlockHeader) -> Result<Self, BlockError> {
        Self::start(header, true)
    }

    /// A decoder that decompresses the pieces it checks, or only checks them.
    fn start(header: BlockHeader, decompress: bool) -> Result<Self, BlockError> {
        let (raw_len, stored_len) = (u64::from(header.raw_len), u64::from(header.stored_len));
        let pieces = raw_len.div_ceil(PIECE as u64);
        let table = pieces * PIECE_PREFIX as u64;
        // Every piece as large as lz4 makes its raw length at worst (the last one holds the rest).
        let max_stored = |raw: u64| lz4_flex::block::get_maximum_output_size(raw as usize) as u64;
        let last = raw_len - pieces.saturating_sub(1) * PIECE as u64;
        let most = table + pieces.saturating_sub(1) * max_stored(PIECE as u64) + max_stored(last);
        let plausible = match (raw_len, stored_len) {
            (0, 0) => true,
            (0, _) | (_, 0) => false,
            _ => stored_len > table && raw_len <= (stored_len - table) * MAX_EXPANSION && stored_len <= most,
        };
        if !plausible {
            return Err(BlockError::Implausible { raw_len: header.raw_len, stored_len: header.stored_len });
        }
        Ok(Self {
            header,
            raw: decompress.then(Vec::new),
            decoded: 0,
            received: 0,
            consumed: 0,
            pieces: 0,
            pending: Vec::new(),
            table: Xxh3Default::new(),
        })
    }

    /// Decodes into `buffer` (a block read before, from [`BlockBuffers`](crate::BlockBuffers))
    /// rather than into a buffer of its own: its room is reused, and its bytes are written over
    /// by the pieces' without being zeroed first (only room it never held is). Every byte of the
    /// block handed on is written by its pieces: [`finish`](Self::finish) checks they fill its
    /// raw length exactly.
    pub fn decode_into(mut self, mut buffer: Vec<u8>) -> Self {
        if self.raw.is_some() {
            buffer.truncate(self.header.raw_len as usize);
            self.raw = Some(buffer);
        }
        self
    }

    /// Stored bytes still to be pushed.
    pub fn remaining(&self) -> u64 {
        u64::from(self.header.stored_len) - self.received
    }

    /// Takes the next stored bytes of the block, checking and decompressing every piece they
    /// complete. More bytes than the header announces are a [`BlockError::LengthMismatch`].
    pub fn push(&mut self, mut bytes: &[u8]) -> Result<(), BlockError> {
        let received = self.received + bytes.len() as u64;
        if received > u64::from(self.header.stored_len) {
            return Err(BlockError::LengthMismatch {
                expected: self.header.stored_len.into(),
                actual: received,
            });
        }
        self.received = received;
        while !bytes.is_empty() {
            // Whole pieces among the bytes are decoded where they are, without a copy.
            if self.pending.is_empty() && bytes.len() >= PIECE_PREFIX {
                let len = self.piece_len(&bytes[..PIECE_PREFIX])?;
                if let Some((piece, rest)) = bytes.split_at_checked(len) {
                    self.piece(piece)?;
                    bytes = rest;
                    continue;
                }
            }
            let len = match self.pending.get(..PIECE_PREFIX) {
                Some(prefix) => self.piece_len(prefix)?,
                None => PIECE_PREFIX,
            };
            let (head, rest) = bytes.split_at((len - self.pending.len()).min(bytes.len()));
            self.pending.extend_from_slice(head);
            bytes = rest;
            if self.pending.len() == len && len > PIECE_PREFIX {
                let pending = std::mem::take(&mut self.pending);
                self.piece(&pending)?;
                self.pending = pending;
                self.pending.clear();
            }
        }
        Ok(())
    }

    /// The decoded block, once all its stored bytes were pushed, its pieces hold its raw length
    /// and the piece table has the header's checksum.
    pub fn finish(self) -> Result<Vec<u8>, BlockError> {
        let (raw_len, stored_len) = (self.header.raw_len, u64::from(self.header.stored_len));
        if self.received < stored_len {
            return Err(BlockError::Truncated { expected: stored_len, got: self.received });
        }
        if self.consumed < stored_len {
            return Err(BlockError::LengthMismatch { expected: stored_len, actual: self.consumed });
        }
        if self.decoded < raw_len as usize {
            return Err(BlockError::RawLengthMismatch { expected: raw_len, actual: self.decoded as u64 });
        }
        let actual = self.table.digest();
        if actual != self.header.checksum {
            return Err(BlockError::ChecksumMismatch { expected: self.header.checksum, actual });
        }
        Ok(self.raw.unwrap_or_default())
    }

    /// Raw bytes of the next piece: [`PIECE`], or what is left of the block (none if no piece is
    /// left).
    fn next_piece_raw(&self) -> usize {
        (self.header.raw_len as usize - self.decoded).min(PIECE)
    }

    /// The length (prefix included) of the next piece, whose prefix is `prefix`, once its stored
    /// length is found to fit its raw length and the header's stored length.
    fn piece_len(&self, prefix: &[u8]) -> Result<usize, BlockError> {
        let expected = u64::from(self.header.stored_len);
        let raw_len = self.next_piece_raw();
        if raw_len == 0 {
            // Every raw byte is in the pieces so far: these bytes are beyond the block.
            return Err(BlockError::LengthMismatch { expected, actual: self.consumed });
        }
        let stored_len = u32::from_le_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]);
        let fits = stored_len > 0
            && stored_len as usize <= lz4_flex::block::get_maximum_output_size(raw_len)
            && raw_len as u64 <= u64::from(stored_len) * MAX_EXPANSION;
        if !fits {
            return Err(BlockError::PieceLength { piece: self.pieces, raw_len: raw_len as u32, stored_len });
        }
        let end = self.consumed + (PIECE_PREFIX as u64) + u64::from(stored_len);
        if end > expected {
            return Err(BlockError::LengthMismatch { expected, actual: end });
        }
        Ok(PIECE_PREFIX + stored_len as usize)
    }

    /// Checks a whole piece (prefix and compressed bytes, its length from
    /// [`piece_len`](Self::piece_len)) against its checksum, then decompresses it into its place.
    fn piece(&mut self, piece: &[u8]) -> Result<(), BlockError> {
        let (prefix, compressed) = piece.split_at(PIECE_PREFIX);
        self.table.update(prefix);
        let mut checksum = [0; 8];
        checksum.copy_from_slice(&prefix[4..]);
        let expected = u64::from_le_bytes(checksum);
        let actual = xxh3_64(compressed);
        if actual != expected {
            return Err(BlockError::ChecksumMismatch { expected, actual });
        }
        let raw_len = self.next_piece_raw();
        if let Some(raw) = &mut self.raw {
            if raw.capacity() < self.header.raw_len as usize {
                *raw = buffer(self.header.raw_len as usize);
            }
            let end = self.decoded + raw_len;
            // Room written before (by an earlier block, in a reused buffer) is written over as
            // it is; only room never written is zeroed, this piece's just before it is.
            if raw.len() < end {
                raw.resize(end, 0);
            }
            let written = decompress(compressed, &mut raw[self.decoded..end])?;
            if written != raw_len {
                return Err(BlockError::RawLengthMismatch {
                    expected: raw_len as u32,
                    actual: written as u64,
                });
            }
        }
        self.decoded += raw_len;
        self.consumed += piece.len() as u64;
        self.pieces += 1;
        Ok(())
    }
}

/// Decompresses one piece's lz4 block into `room` (its raw length, at most [`PIECE`]): the bytes
/// written. liblz4's safe decoder, which checks every length and offset against the input and
/// `room` on any input: a malformed block is an error, never a read or write out of bounds.
fn decompress(compressed: &[u8], room: &mut [u8]) -> Result<usize, BlockError> {
    let capacity = i32::try_from(room.len()).map_err(|_| BlockError::TooLarge { len: room.len() as u64 })?;
    lz4::block::decompress_to_buffer(compressed, Some(capacity), room)
        .map_err(|e| BlockError::Decompress { reason: e.to_string() })
}

/// An empty buffer with room for `capacity` bytes of a block's raw bytes, backed by huge pages
/// where it can be. It is not zeroed: each piece's room is zeroed just before the piece is
/// decompressed into it, while it is in the cache, rather than all of it up front.
///
/// A large buffer is a fresh mapping (glibc maps anything above its mmap threshold, 4 MiB in
/// `flicker`, and gives it back when freed), faulted in page by page as it is written: 8,192
/// faults for a 32 MiB block, 40 % of decoding it. Asked for huge pages (where transparent huge
/// pages are in `madvise` or `always` mode), the kernel faults it in 2 MiB at a time.
fn buffer(capacity: usize) -> Vec<u8> {
    let buffer = Vec::with_capacity(capacity);
    advise_huge_pages(&buffer);
    buffer
}

/// Asks the kernel to back the whole 2 MiB pages within `buffer`'s allocation with huge pages.
fn advise_huge_pages(buffer: &Vec<u8>) {
    #[cfg(target_os = "linux")]
    {
        const HUGE_PAGE: usize = 2 << 20;
        let start = buffer.as_ptr() as usize;
        let first = start.next_multiple_of(HUGE_PAGE);
        let end = (start + buffer.capacity()) / HUGE_PAGE * HUGE_PAGE;
        if end > first {
            // SAFETY: the range lies within `buffer`'s allocation, which this process owns;
            // `MADV_HUGEPAGE` only changes which pages back it, never its contents. A refusal
            // (no THP in this kernel) leaves it as it was, which is why the result is not read.
            unsafe { libc::madvise(first as *mut libc::c_void, end - first, libc::MADV_HUGEPAGE) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn round_trip(raw: &[u8]) {
        let block = encode(raw).unwrap();
        assert_eq!(block.header().raw_len as usize, raw.len());
        assert_eq!(block.header().stored_len as usize, block.bytes().len());
        assert_eq!(decode(&block.header(), block.bytes()).unwrap(), raw);
        assert_eq!(EncodedBlock::verified(block.header(), block.bytes().to_vec()), Ok(block.clone()));
        // Pushed in pieces of any size, the same block comes out.
        for step in [1, 7, PIECE_PREFIX, PIECE_PREFIX + 1, 4096, 65_536] {
            if raw.len() > 3 * PIECE && step < 4096 {
                continue;
            }
            assert_eq!(pushed(block.header(), block.bytes(), step), Ok(raw.to_vec()), "in steps of {step}");
        }
    }

    /// Decodes `bytes` pushed `step` bytes at a time.
    fn pushed(header: BlockHeader, bytes: &[u8], step: usize) -> Result<Vec<u8>, BlockError> {
        let mut decoder = BlockDecoder::new(header)?;
        for chunk in bytes.chunks(step) {
            decoder.push(chunk)?;
        }
        assert_eq!(decoder.remaining(), u64::from(header.stored_len) - bytes.len() as u64);
        decoder.finish()
    }

    /// Bytes that lz4 cannot shrink much.
    fn noise(len: usize) -> Vec<u8> {
        flicker_gen::Rng::new(1).bytes(len)
    }

    /// The compressed bytes of each piece of a valid block.
    fn pieces(bytes: &[u8]) -> Vec<Vec<u8>> {
        let mut pieces = Vec::new();
        let mut rest = bytes;
        while !rest.is_empty() {
            let len = u32::from_le_bytes(rest[..4].try_into().unwrap()) as usize;
            pieces.push(rest[PIECE_PREFIX..][..len].to_vec());
            rest = &rest[PIECE_PREFIX + len..];
        }
        pieces
    }

    #[test]
    fn blocks_round_trip() {
        round_trip(b"");
        round_trip(b"a");
        round_trip(b"hello hello hello hello hello hello");
        round_trip(&(0..100_000u32).flat_map(|i| (i % 251).to_le_bytes()).collect::<Vec<_>>());
    }

    #[test]
    fn blocks_round_trip_at_every_piece_boundary() {
        for len in [PIECE - 1, PIECE, PIECE + 1, 2 * PIECE - 1, 2 * PIECE, 2 * PIECE + 1, 5 * PIECE / 2] {
            round_trip(&noise(len));
            let pieces = encode(&noise(len)).map(|block| super::tests::pieces(block.bytes()).len());
            assert_eq!(pieces, Ok(len.div_ceil(PIECE)), "{len} raw bytes");
        }
        round_trip(&[b"station;12.3\n".repeat(100_000), noise(PIECE)].concat());
    }

    #[test]
    fn buffers_have_the_room_asked_for() {
        // Large enough to hold whole huge pages wherever it lands.
        let len = 5 << 20;
        let mut raw = buffer(len);
        assert!(raw.is_empty() && raw.capacity() >= len);
        raw.resize(len, 7);
        assert!(raw.iter().all(|&b| b == 7));
    }

    #[test]
    fn an_empty_block_stores_nothing() {
        let block = encode(b"").unwrap();
        assert!(block.bytes().is_empty());
        assert_eq!(block.header(), BlockHeader { raw_len: 0, stored_len: 0, checksum: xxh3_64(b"") });
        assert_eq!(BlockDecoder::new(block.header()).unwrap().finish(), Ok(Vec::new()));
    }

    #[test]
    fn the_checksums_cover_every_stored_byte() {
        let raw = noise(2 * PIECE + 100);
        let block = encode(&raw).unwrap();
        let (mut table, mut at) = (Vec::new(), 0);
        for (n, piece) in pieces(block.bytes()).iter().enumerate() {
            let prefix = &block.bytes()[at..at + PIECE_PREFIX];
            assert_eq!(prefix[..4], (piece.len() as u32).to_le_bytes());
            assert_eq!(prefix[4..], xxh3_64(piece).to_le_bytes(), "piece {n}");
            let raw_piece = lz4_flex::block::decompress(piece, PIECE).unwrap();
            assert_eq!(raw_piece, raw[n * PIECE..][..raw_piece.len()]);
            table.extend_from_slice(prefix);
            at += PIECE_PREFIX + piece.len();
        }
        assert_eq!(at, block.bytes().len());
        assert_eq!(block.header().checksum, xxh3_64(&table));
    }

    #[test]
    fn the_best_compression_stays_within_the_plausibility_bound() {
        for len in [1, 100, 1 << 16, PIECE, PIECE + 1, 16 << 20] {
            round_trip(&vec![0; len]);
        }
    }

    #[test]
    fn a_flipped_byte_is_a_checksum_mismatch() {
        let block = encode(b"abcdefghijklmnopqrstuvwxyz").unwrap();
        let (header, mut bytes) = block.into_parts();
        bytes[PIECE_PREFIX + 3] ^= 0x40;
        assert!(matches!(decode(&header, &bytes), Err(BlockError::ChecksumMismatch { .. })));
        assert!(matches!(EncodedBlock::verified(header, bytes), Err(BlockError::ChecksumMismatch { .. })));
    }

    #[test]
    fn a_damaged_piece_a_damaged_prefix_checksum_or_a_wrong_header_checksum_is_a_checksum_mismatch() {
        let raw = noise(3 * PIECE);
        let (header, bytes) = encode(&raw).unwrap().into_parts();
        let second = PIECE_PREFIX + pieces(&bytes)[0].len();
        // A byte of the second piece's compressed bytes, of its prefix's checksum, and the last one.
        for at in [second + PIECE_PREFIX + 1000, second + 4, second + 11, bytes.len() - 1] {
            let mut damaged = bytes.clone();
            damaged[at] ^= 0x01;
            let error = pushed(header, &damaged, 65_536).unwrap_err();
            assert!(matches!(error, BlockError::ChecksumMismatch { .. }), "byte {at}: {error:?}");
        }
        let wrong = BlockHeader { checksum: header.checksum ^ 1, ..header };
        assert!(matches!(decode(&wrong, &bytes), Err(BlockError::ChecksumMismatch { .. })));
        assert!(matches!(EncodedBlock::verified(wrong, bytes), Err(BlockError::ChecksumMismatch { .. })));
    }

    #[test]
    fn a_short_block_is_a_length_mismatch() {
        let (header, bytes) = encode(b"abcdefghijklmnopqrstuvwxyz").unwrap().into_parts();
        let expected = u64::from(header.stored_len);
        assert_eq!(
            decode(&header, &bytes[1..]),
            Err(BlockError::LengthMismatch { expected, actual: expected - 1 })
        );
    }

    #[test]
    fn a_block_cut_short_is_truncated_and_one_too_long_a_length_mismatch() {
        let (header, bytes) = encode(&noise(2 * PIECE + 1)).unwrap().into_parts();
        let stored = u64::from(header.stored_len);
        for cut in [0, 1, PIECE_PREFIX, PIECE, bytes.len() - 1] {
            let mut decoder = BlockDecoder::new(header).unwrap();
            decoder.push(&bytes[..cut]).unwrap();
            assert_eq!(decoder.remaining(), stored - cut as u64);
            assert_eq!(decoder.finish(), Err(BlockError::Truncated { expected: stored, got: cut as u64 }));
        }
        let mut decoder = BlockDecoder::new(header).unwrap();
        decoder.push(&bytes).unwrap();
        assert_eq!(
            decoder.push(b"x"),
            Err(BlockError::LengthMismatch { expected: stored, actual: stored + 1 })
        );
    }

    #[test]
    fn headers_that_do_not_fit_their_bytes_are_refused_before_decompressing() {
        let (header, bytes) = encode(b"xyz").unwrap().into_parts();
        let huge = BlockHeader { raw_len: u32::MAX, ..header };
        assert!(matches!(decode(&huge, &bytes), Err(BlockError::Implausible { .. })));
        let empty = BlockHeader { raw_len: 0, ..header };
        assert!(matches!(decode(&empty, &bytes), Err(BlockError::Implausible { .. })));
        let nothing_stored = BlockHeader { raw_len: 5, stored_len: 0, checksum: xxh3_64(b"") };
        assert!(matches!(decode(&nothing_stored, b""), Err(BlockError::Implausible { .. })));
        // No room for the prefixes of the pieces the raw length needs.
        let no_room =
            BlockHeader { raw_len: (PIECE * 4) as u32, stored_len: 4 * PIECE_PREFIX as u32, checksum: 0 };
        assert!(matches!(BlockDecoder::new(no_room), Err(BlockError::Implausible { .. })));
        // More stored bytes than any lz4 blocks of that raw length take.
        let bloated = BlockHeader { raw_len: 10, stored_len: 10_000, checksum: 0 };
        assert!(matches!(BlockDecoder::new(bloated), Err(BlockError::Implausible { .. })));
    }

    #[test]
    fn lying_piece_lengths_are_typed_errors() {
        let raw = noise(2 * PIECE);
        let (header, bytes) = encode(&raw).unwrap().into_parts();
        let with_len = |at: usize, len: u32| {
            let mut lying = bytes.clone();
            lying[at..at + 4].copy_from_slice(&len.to_le_bytes());
            pushed(header, &lying, 4096)
        };
        let max = lz4_flex::block::get_maximum_output_size(PIECE) as u32;
        assert_eq!(
            with_len(0, 0),
            Err(BlockError::PieceLength { piece: 0, raw_len: PIECE as u32, stored_len: 0 })
        );
        assert_eq!(
            with_len(0, max + 1),
            Err(BlockError::PieceLength { piece: 0, raw_len: PIECE as u32, stored_len: max + 1 })
        );
        // The second piece claims more than the header's stored length leaves it.
        let second = PIECE_PREFIX + pieces(&bytes)[0].len();
        let stored = u64::from(header.stored_len);
        assert_eq!(
            with_len(second, max),
            Err(BlockError::LengthMismatch {
                expected: stored,
                actual: (second + PIECE_PREFIX) as u64 + u64::from(max)
            })
        );
        // The first piece claims one byte more: the second piece's prefix starts a byte late.
        assert!(with_len(0, pieces(&bytes)[0].len() as u32 + 1).is_err());
    }

    #[test]
    fn pieces_that_do_not_add_up_to_the_header_are_typed_errors() {
        let raw = noise(PIECE + 10);
        let block = encode(&raw).unwrap();
        let pieces = pieces(block.bytes());
        // A block that says it holds more raw bytes than its pieces.
        let first_only = seal(raw.len() as u32, pieces[..1].iter().cloned()).unwrap();
        assert_eq!(
            decode(&first_only.header(), first_only.bytes()),
            Err(BlockError::RawLengthMismatch { expected: raw.len() as u32, actual: PIECE as u64 })
        );
        // One piece more than the raw length holds.
        let extra = seal(raw.len() as u32, [pieces.clone(), vec![vec![0x10, b'x']]].concat()).unwrap();
        let consumed = block.bytes().len() as u64;
        assert_eq!(
            decode(&extra.header(), extra.bytes()),
            Err(BlockError::LengthMismatch { expected: extra.header().stored_len.into(), actual: consumed })
        );
        // A header whose stored length ends within the prefix of a piece the block does not have.
        let (header, mut bytes) = block.into_parts();
        bytes.extend_from_slice(&[0; PIECE_PREFIX - 1]);
        let longer = BlockHeader { stored_len: bytes.len() as u32, ..header };
        assert_eq!(
            decode(&longer, &bytes),
            Err(BlockError::LengthMismatch { expected: bytes.len() as u64, actual: consumed })
        );
    }

    #[test]
    fn a_piece_that_does_not_decompress_to_its_room_is_a_typed_error() {
        let raw = noise(PIECE);
        let decoded = |pieces: Vec<Vec<u8>>| {
            let block = seal(PIECE as u32, pieces).unwrap();
            decode(&block.header(), block.bytes())
        };
        // Honest checksums over lz4 blocks of a byte less, a byte more, and bytes that are no lz4.
        let short = lz4_flex::block::compress(&raw[1..]);
        assert_eq!(
            decoded(vec![short]),
            Err(BlockError::RawLengthMismatch { expected: PIECE as u32, actual: PIECE as u64 - 1 })
        );
        let long = lz4_flex::block::compress(&[&raw[..], b"x"].concat());
        assert!(matches!(decoded(vec![long]), Err(BlockError::Decompress { .. })));
        let garbage = [0xF0, 0xFF, 0xFF, 0xFF, 1, 2, 3].repeat(1000);
        assert!(matches!(decoded(vec![garbage]), Err(BlockError::Decompress { .. })));
    }

    #[test]
    fn a_block_of_the_former_format_is_refused() {
        // One lz4 block, the checksum over all of it: what index version 1 stored.
        for raw in [b"one lz4 block of the first format".to_vec(), noise(3 * PIECE)] {
            let bytes = lz4_flex::block::compress(&raw);
            let header = BlockHeader {
                raw_len: raw.len() as u32,
                stored_len: bytes.len() as u32,
                checksum: xxh3_64(&bytes),
            };
            assert!(decode(&header, &bytes).is_err());
            assert!(EncodedBlock::verified(header, bytes).is_err());
        }
    }

    #[test]
    fn a_block_decoded_into_a_buffer_handed_back_is_the_block_whatever_the_buffer_held() {
        let raw = noise(2 * PIECE + 17);
        let block = encode(&raw).unwrap();
        let stale =
            [vec![0xAA; 3 * PIECE], vec![0x55; PIECE / 2], Vec::with_capacity(4 * PIECE), vec![1; raw.len()]];
        for buffer in stale {
            for step in [4096, PIECE + 5] {
                let mut decoder = BlockDecoder::new(block.header()).unwrap().decode_into(buffer.clone());
                block.bytes().chunks(step).for_each(|chunk| decoder.push(chunk).unwrap());
                assert_eq!(decoder.finish().unwrap(), raw, "in steps of {step}");
            }
            // A block whose pieces do not fill its raw length is refused, never handed on with
            // the buffer's bytes in the rest.
            let first_only = seal(raw.len() as u32, pieces(block.bytes())[..1].iter().cloned()).unwrap();
            let mut decoder = BlockDecoder::new(first_only.header()).unwrap().decode_into(buffer);
            decoder.push(first_only.bytes()).unwrap();
            assert!(matches!(decoder.finish(), Err(BlockError::RawLengthMismatch { .. })));
        }
    }

    #[test]
    fn a_wrong_raw_length_is_an_error() {
        let (header, bytes) = encode(b"abcdefghijklmnopqrstuvwxyz").unwrap().into_parts();
        let longer = BlockHeader { raw_len: header.raw_len + 1, ..header };
        assert_eq!(decode(&longer, &bytes), Err(BlockError::RawLengthMismatch { expected: 27, actual: 26 }));
        let shorter = BlockHeader { raw_len: header.raw_len - 1, ..header };
        assert!(matches!(decode(&shorter, &bytes), Err(BlockError::Decompress { .. })));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn any_bytes_round_trip(raw in proptest::collection::vec(any::<u8>(), 0..2048)) {
            let block = encode(&raw).unwrap();
            prop_assert_eq!(decode(&block.header(), block.bytes()).unwrap(), raw);
        }

        /// Random bytes under a random header never panic.
        #[test]
        fn random_blocks_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512),
                                     raw_len in prop_oneof![0u32..4096, any::<u32>()],
                                     checksum in any::<u64>()) {
            let header = BlockHeader { raw_len, stored_len: bytes.len() as u32, checksum };
            if let Ok(raw) = decode(&header, &bytes) {
                prop_assert_eq!(raw.len(), raw_len as usize);
            }
        }

        /// The decoder's fuzz target: random pieces behind honest prefixes and table (so
        /// decompression is reached) and a random raw length never panic.
        #[test]
        fn random_pieces_never_panic(pieces in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 0..3),
                                     raw_len in prop_oneof![0u32..4096, (PIECE as u32 - 8)..(2 * PIECE as u32 + 8), any::<u32>()]) {
            let (header, bytes) = seal(raw_len, pieces).unwrap().into_parts();
            if let Ok(raw) = decode(&header, &bytes) {
                prop_assert_eq!(raw.len(), raw_len as usize);
            }
        }

        /// Damaging a valid block's bytes anywhere is an error; damaging a piece's compressed
        /// bytes with its checksums fixed up, as a buggy sender would, gives an error or some bytes
        /// of the announced length, never a panic.
        #[test]
        fn damaged_blocks_never_panic(raw in proptest::collection::vec(0u8..4, 1..1024),
                                      at in any::<prop::sample::Index>(), flip in 1u8..) {
            let (header, mut bytes) = encode(&raw).unwrap().into_parts();
            let at = at.index(bytes.len());
            bytes[at] ^= flip;
            prop_assert!(decode(&header, &bytes).is_err());
            bytes[at] ^= flip;
            let mut pieces = pieces(&bytes);
            let at = at % pieces[0].len();
            pieces[0][at] ^= flip;
            let (header, bytes) = seal(header.raw_len, pieces).unwrap().into_parts();
            if let Ok(out) = decode(&header, &bytes) {
                prop_assert_eq!(out.len(), raw.len());
            }
        }
    }
}
