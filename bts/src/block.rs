//! A shuffle block's encoded form: lz4 block compression, and an xxh3-64 checksum of the compressed
//! bytes.
//!
//! The checksum covers the bytes as stored and sent, so a BTS can check a block it receives without
//! decompressing it, and a reduce task checks what it fetched before decompressing it. Decoding
//! never trusts a header: lengths and checksum are checked first, and the decompressor is given a
//! buffer only as large as the header's `raw_len`, refused when the stored bytes could not possibly
//! expand to it.

use flicker_protocol::bts::BlockHeader;
use xxhash_rust::xxh3::xxh3_64;

/// The most raw bytes one stored byte of an lz4 block can expand to: a match-length extension byte
/// adds at most 255 bytes of output, and every other byte adds less.
const MAX_EXPANSION: u64 = 255;

/// A block that cannot be encoded or decoded.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BlockError {
    /// The stored bytes are not as many as the header says.
    #[error("block of {actual} stored bytes, the header says {expected}")]
    LengthMismatch {
        /// Stored bytes according to the header.
        expected: u64,
        /// Stored bytes there are.
        actual: u64,
    },
    /// The stored bytes do not have the checksum of the header: they were damaged.
    #[error("block checksum mismatch: expected {expected:#018x}, got {actual:#018x}")]
    ChecksumMismatch {
        /// The checksum in the header.
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
    /// The stored bytes are not a valid lz4 block of the header's raw length.
    #[error("block does not decompress: {reason}")]
    Decompress {
        /// What the decompressor found wrong.
        reason: String,
    },
    /// The stored bytes decompress to fewer bytes than the header says.
    #[error("block decompressed to {actual} bytes, the header says {expected}")]
    RawLengthMismatch {
        /// Raw bytes according to the header.
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

/// A block as stored and sent: compressed bytes whose header is known to match them.
///
/// The only ways to get one are [`encode`] and [`EncodedBlock::verified`], so its header always
/// describes its bytes and it can be stored without being checked again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedBlock {
    header: BlockHeader,
    bytes: Vec<u8>,
}

impl EncodedBlock {
    /// A block received already encoded, once its bytes are checked against `header` (length and
    /// checksum; the bytes are not decompressed).
    pub fn verified(header: BlockHeader, bytes: Vec<u8>) -> Result<Self, BlockError> {
        check(&header, &bytes)?;
        Ok(Self { header, bytes })
    }

    /// The block's header.
    pub fn header(&self) -> BlockHeader {
        self.header
    }

    /// The stored (compressed) bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The header and the stored bytes.
    pub fn into_parts(self) -> (BlockHeader, Vec<u8>) {
        (self.header, self.bytes)
    }
}

/// Compresses `raw` into a block. An empty block has no stored bytes.
pub fn encode(raw: &[u8]) -> Result<EncodedBlock, BlockError> {
    let too_large = |len: usize| BlockError::TooLarge { len: len as u64 };
    let raw_len = u32::try_from(raw.len()).map_err(|_| too_large(raw.len()))?;
    let bytes = if raw.is_empty() { Vec::new() } else { lz4_flex::block::compress(raw) };
    let stored_len = u32::try_from(bytes.len()).map_err(|_| too_large(bytes.len()))?;
    let header = BlockHeader { raw_len, stored_len, checksum: xxh3_64(&bytes) };
    Ok(EncodedBlock { header, bytes })
}

/// Checks stored `bytes` against `header` (length, then checksum) and decompresses them.
pub fn decode(header: &BlockHeader, bytes: &[u8]) -> Result<Vec<u8>, BlockError> {
    check(header, bytes)?;
    let (raw_len, stored_len) = (header.raw_len, header.stored_len);
    let plausible = match (raw_len, stored_len) {
        (0, 0) => return Ok(Vec::new()),
        (0, _) | (_, 0) => false,
        _ => u64::from(raw_len) <= u64::from(stored_len) * MAX_EXPANSION,
    };
    if !plausible {
        return Err(BlockError::Implausible { raw_len, stored_len });
    }
    let mut raw = zeroed(raw_len as usize);
    let written = lz4_flex::block::decompress_into(bytes, &mut raw)
        .map_err(|e| BlockError::Decompress { reason: e.to_string() })?;
    if written != raw.len() {
        return Err(BlockError::RawLengthMismatch { expected: raw_len, actual: written as u64 });
    }
    Ok(raw)
}

/// An empty buffer with room for `capacity` bytes of a block (its stored bytes as they are
/// received), backed by huge pages where it can be.
///
/// A large buffer is a fresh mapping (glibc maps anything above its mmap threshold, 4 MiB in
/// `flicker`, and gives it back when freed), faulted in page by page as it is written: 8,192
/// faults for a 32 MiB block, 40 % of decoding it. Asked for huge pages (where transparent huge
/// pages are in `madvise` or `always` mode), the kernel faults it in 2 MiB at a time.
pub fn buffer(capacity: usize) -> Vec<u8> {
    let buffer = Vec::with_capacity(capacity);
    advise_huge_pages(&buffer);
    buffer
}

/// A zeroed [`buffer`] of `len` bytes, for a block's raw bytes as they are decoded (calloc: a fresh
/// mapping is not written twice).
fn zeroed(len: usize) -> Vec<u8> {
    let buffer = vec![0; len];
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

/// Checks that `bytes` are the stored bytes `header` describes.
fn check(header: &BlockHeader, bytes: &[u8]) -> Result<(), BlockError> {
    if bytes.len() as u64 != u64::from(header.stored_len) {
        return Err(BlockError::LengthMismatch {
            expected: header.stored_len.into(),
            actual: bytes.len() as u64,
        });
    }
    let actual = xxh3_64(bytes);
    if actual != header.checksum {
        return Err(BlockError::ChecksumMismatch { expected: header.checksum, actual });
    }
    Ok(())
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
    }

    #[test]
    fn blocks_round_trip() {
        round_trip(b"");
        round_trip(b"a");
        round_trip(b"hello hello hello hello hello hello");
        round_trip(&(0..100_000u32).flat_map(|i| (i % 251).to_le_bytes()).collect::<Vec<_>>());
    }

    #[test]
    fn buffers_have_the_room_asked_for() {
        // Large enough to hold whole huge pages wherever it lands.
        let len = 5 << 20;
        let mut stored = buffer(len);
        assert!(stored.is_empty() && stored.capacity() >= len);
        stored.resize(len, 7);
        assert!(stored.iter().all(|&b| b == 7));
        let raw = zeroed(len);
        assert!(raw.len() == len && raw.iter().all(|&b| b == 0));
    }

    #[test]
    fn an_empty_block_stores_nothing() {
        let block = encode(b"").unwrap();
        assert!(block.bytes().is_empty());
        assert_eq!(block.header(), BlockHeader { raw_len: 0, stored_len: 0, checksum: xxh3_64(b"") });
    }

    #[test]
    fn the_checksum_covers_the_compressed_bytes() {
        let block = encode(b"some bytes, some bytes, some bytes").unwrap();
        assert_eq!(block.header().checksum, xxh3_64(block.bytes()));
    }

    #[test]
    fn the_best_compression_stays_within_the_plausibility_bound() {
        for len in [1, 100, 1 << 16, 16 << 20] {
            round_trip(&vec![0; len]);
        }
    }

    #[test]
    fn a_flipped_byte_is_a_checksum_mismatch() {
        let block = encode(b"abcdefghijklmnopqrstuvwxyz").unwrap();
        let (header, mut bytes) = block.into_parts();
        bytes[3] ^= 0x40;
        assert!(matches!(decode(&header, &bytes), Err(BlockError::ChecksumMismatch { .. })));
        assert!(matches!(EncodedBlock::verified(header, bytes), Err(BlockError::ChecksumMismatch { .. })));
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
    fn headers_that_do_not_fit_their_bytes_are_refused_before_decompressing() {
        let (header, bytes) = encode(b"xyz").unwrap().into_parts();
        let huge = BlockHeader { raw_len: u32::MAX, ..header };
        assert!(matches!(decode(&huge, &bytes), Err(BlockError::Implausible { .. })));
        let empty = BlockHeader { raw_len: 0, ..header };
        assert!(matches!(decode(&empty, &bytes), Err(BlockError::Implausible { .. })));
        let nothing_stored = BlockHeader { raw_len: 5, stored_len: 0, checksum: xxh3_64(b"") };
        assert!(matches!(decode(&nothing_stored, b""), Err(BlockError::Implausible { .. })));
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

        /// The decoder's fuzz target: random bytes under a header whose checksum matches them
        /// (so decompression is reached) and a random raw length never panic.
        #[test]
        fn random_blocks_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512),
                                     raw_len in prop_oneof![0u32..4096, any::<u32>()],
                                     checksum in any::<u64>(), honest in any::<bool>()) {
            let checksum = if honest { xxh3_64(&bytes) } else { checksum };
            let header = BlockHeader { raw_len, stored_len: bytes.len() as u32, checksum };
            if let Ok(raw) = decode(&header, &bytes) {
                prop_assert_eq!(raw.len(), raw_len as usize);
            }
        }

        /// Damaging a valid block's bytes (with its checksum fixed up, as a buggy sender would)
        /// gives an error or some bytes of the announced length, never a panic.
        #[test]
        fn damaged_blocks_never_panic(raw in proptest::collection::vec(0u8..4, 1..1024),
                                      at in any::<prop::sample::Index>(), flip in 1u8..) {
            let (header, mut bytes) = encode(&raw).unwrap().into_parts();
            let at = at.index(bytes.len());
            bytes[at] ^= flip;
            prop_assert!(decode(&header, &bytes).is_err());
            let header = BlockHeader { checksum: xxh3_64(&bytes), ..header };
            if let Ok(out) = decode(&header, &bytes) {
                prop_assert_eq!(out.len(), raw.len());
            }
        }
    }
}
