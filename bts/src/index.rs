//! The index inside a map output file: where each partition's block lies, and the footer that
//! finds the index from the file's end.
//!
//! A map output file holds the stored blocks back to back, then the index, then the footer. All
//! integers are little-endian:
//!
//! ```text
//! index:
//!   magic      4 bytes   "FLBI"
//!   version    u8        2 (the blocks' format: see below)
//!   partitions u32       n
//!   n entries, one per partition, 24 bytes each:
//!     offset     u64     where the block starts in the file
//!     stored_len u32     bytes of the block in the file
//!     raw_len    u32     bytes of the block once decompressed
//!     checksum   u64     xxh3-64 of the block's stored bytes
//!   checksum   u64       xxh3-64 of everything before it in the index
//! footer, the file's last 16 bytes:
//!   index_len  u64       bytes of the index, which ends where the footer starts
//!   magic      8 bytes   "FLBSHUF1"
//! ```
//!
//! Blocks lie back to back in partition order from the start of the file, so each offset is the
//! sum of the stored lengths before it; [`parse`] checks that as well as the index's own checksum,
//! and [`parse_footer`] checks that the index fits between the start of the file and the footer.
//!
//! The version also says which format the blocks are in: version 2 stores each block as pieces
//! compressed one by one, its checksum over the pieces' prefixes (`crate::block`); version 1
//! stored each block as one lz4 block, its checksum over all of it. A file of another version is
//! refused ([`IndexError::UnsupportedVersion`]), so a block is never read in the wrong format.

use flicker_protocol::bts::BlockHeader;
use std::ops::Range;
use xxhash_rust::xxh3::xxh3_64;

const MAGIC: &[u8; 4] = b"FLBI";
/// The index's version, which is also its blocks' format (2: blocks in pieces).
const VERSION: u8 = 2;
/// Magic, version and partition count.
const PREAMBLE_LEN: usize = 4 + 1 + 4;
const ENTRY_LEN: usize = 8 + 4 + 4 + 8;
const CHECKSUM_LEN: usize = 8;
/// Bytes of the footer that ends a map output file.
pub const FOOTER_LEN: usize = 8 + 8;
const FOOTER_MAGIC: [u8; 8] = *b"FLBSHUF1";

/// An index that cannot be found (a damaged footer) or parsed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum IndexError {
    /// The map output file is too short to end with a footer.
    #[error("a map output file of {file_len} bytes is too short for its {FOOTER_LEN}-byte footer")]
    NoFooter {
        /// The file's length.
        file_len: u64,
    },
    /// The map output file does not end with the footer magic.
    #[error("not a flicker map output file (no \"FLBSHUF1\" magic at its end)")]
    BadFooterMagic,
    /// The footer gives an index longer than the bytes before the footer.
    #[error("the footer gives an index of {index_len} bytes, but only {room} bytes precede it")]
    IndexTooLong {
        /// The index length in the footer.
        index_len: u64,
        /// The bytes before the footer.
        room: u64,
    },
    /// The index does not start with the index magic.
    #[error("not a flicker block index (no \"FLBI\" magic)")]
    BadMagic,
    /// The index was written by another version of flicker.
    #[error("index format version {version} is not supported (this build reads version {VERSION})")]
    UnsupportedVersion {
        /// The version in the index.
        version: u8,
    },
    /// The index is not as long as its partition count says.
    #[error("index of {actual} bytes, {expected} expected")]
    WrongLength {
        /// The length the partition count implies (or the shortest possible index).
        expected: u64,
        /// The index's length.
        actual: u64,
    },
    /// The index does not have the checksum it ends with: it was damaged.
    #[error("index checksum mismatch: expected {expected:#018x}, got {actual:#018x}")]
    ChecksumMismatch {
        /// The checksum stored in the index.
        expected: u64,
        /// The checksum of the index's contents.
        actual: u64,
    },
    /// A block does not start where the blocks before it end.
    #[error("partition {partition} starts at offset {actual}, {expected} expected")]
    BadOffset {
        /// The partition.
        partition: u32,
        /// Where the blocks before it end.
        expected: u64,
        /// The offset the index gives.
        actual: u64,
    },
}

/// Where one partition's block lies in the map output file, and its header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexEntry {
    /// Where the block starts in the file.
    pub offset: u64,
    /// The block's header.
    pub header: BlockHeader,
}

/// Encodes the index of blocks with these headers, stored back to back in this order.
pub fn encode(headers: &[BlockHeader]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(PREAMBLE_LEN + ENTRY_LEN * headers.len() + CHECKSUM_LEN);
    bytes.extend_from_slice(MAGIC);
    bytes.push(VERSION);
    // The store never holds more than u32::MAX partitions (`MapOutputWriter::push` refuses them).
    bytes.extend_from_slice(&(headers.len() as u32).to_le_bytes());
    let mut offset = 0u64;
    for header in headers {
        bytes.extend_from_slice(&offset.to_le_bytes());
        bytes.extend_from_slice(&header.stored_len.to_le_bytes());
        bytes.extend_from_slice(&header.raw_len.to_le_bytes());
        bytes.extend_from_slice(&header.checksum.to_le_bytes());
        offset += u64::from(header.stored_len);
    }
    let checksum = xxh3_64(&bytes);
    bytes.extend_from_slice(&checksum.to_le_bytes());
    bytes
}

/// Parses and checks an index, returning its entries in partition order.
pub fn parse(bytes: &[u8]) -> Result<Vec<IndexEntry>, IndexError> {
    let wrong_length = |expected| IndexError::WrongLength { expected, actual: bytes.len() as u64 };
    let mut reader = Reader(bytes);
    if reader.take::<4>().as_ref() != Some(MAGIC) {
        return Err(IndexError::BadMagic);
    }
    let shortest = (PREAMBLE_LEN + CHECKSUM_LEN) as u64;
    let (Some(version), Some(partitions), Some((body, stored))) =
        (reader.u8(), reader.u32(), bytes.split_last_chunk::<CHECKSUM_LEN>())
    else {
        return Err(wrong_length(shortest));
    };
    if version != VERSION {
        return Err(IndexError::UnsupportedVersion { version });
    }
    if body.len() < PREAMBLE_LEN {
        return Err(wrong_length(shortest));
    }
    let (expected, actual) = (u64::from_le_bytes(*stored), xxh3_64(body));
    if expected != actual {
        return Err(IndexError::ChecksumMismatch { expected, actual });
    }
    let implied = shortest + ENTRY_LEN as u64 * u64::from(partitions);
    if bytes.len() as u64 != implied {
        return Err(wrong_length(implied));
    }
    let mut entries = Vec::with_capacity(partitions as usize);
    let mut end = 0u64;
    for partition in 0..partitions {
        let (Some(offset), Some(stored_len), Some(raw_len), Some(checksum)) =
            (reader.u64(), reader.u32(), reader.u32(), reader.u64())
        else {
            return Err(wrong_length(implied));
        };
        if offset != end {
            return Err(IndexError::BadOffset { partition, expected: end, actual: offset });
        }
        end += u64::from(stored_len);
        entries.push(IndexEntry { offset, header: BlockHeader { raw_len, stored_len, checksum } });
    }
    Ok(entries)
}

/// The footer that follows an index of `index_len` bytes.
pub fn encode_footer(index_len: u64) -> [u8; FOOTER_LEN] {
    let mut footer = [0; FOOTER_LEN];
    let (len, magic) = footer.split_at_mut(8);
    len.copy_from_slice(&index_len.to_le_bytes());
    magic.copy_from_slice(&FOOTER_MAGIC);
    footer
}

/// Where the footer of a map output file of `file_len` bytes starts.
pub fn footer_offset(file_len: u64) -> Result<u64, IndexError> {
    file_len.checked_sub(FOOTER_LEN as u64).ok_or(IndexError::NoFooter { file_len })
}

/// Where the index lies in a map output file whose footer, at `footer_offset`, is `footer`: it
/// ends where the footer starts, and must fit before it.
pub fn parse_footer(footer: &[u8; FOOTER_LEN], footer_offset: u64) -> Result<Range<u64>, IndexError> {
    let mut reader = Reader(footer);
    let (Some(index_len), Some(FOOTER_MAGIC)) = (reader.u64(), reader.take()) else {
        return Err(IndexError::BadFooterMagic);
    };
    let start = footer_offset
        .checked_sub(index_len)
        .ok_or(IndexError::IndexTooLong { index_len, room: footer_offset })?;
    Ok(start..footer_offset)
}

/// Reads little-endian integers off the front of a slice.
struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> Option<[u8; N]> {
        let (head, rest) = self.0.split_first_chunk::<N>()?;
        self.0 = rest;
        Some(*head)
    }

    fn u8(&mut self) -> Option<u8> {
        self.take::<1>().map(|[b]| b)
    }

    fn u32(&mut self) -> Option<u32> {
        self.take().map(u32::from_le_bytes)
    }

    fn u64(&mut self) -> Option<u64> {
        self.take().map(u64::from_le_bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn headers() -> Vec<BlockHeader> {
        vec![
            BlockHeader { raw_len: 100, stored_len: 40, checksum: 1 },
            BlockHeader { raw_len: 0, stored_len: 0, checksum: 2 },
            BlockHeader { raw_len: 7, stored_len: 9, checksum: u64::MAX },
        ]
    }

    #[test]
    fn an_index_round_trips() {
        let entries = parse(&encode(&headers())).unwrap();
        let offsets: Vec<u64> = entries.iter().map(|e| e.offset).collect();
        assert_eq!(offsets, [0, 40, 40]);
        assert_eq!(entries.iter().map(|e| e.header).collect::<Vec<_>>(), headers());
        assert_eq!(parse(&encode(&[])).unwrap(), []);
        assert_eq!(encode(&headers()).len(), PREAMBLE_LEN + 3 * ENTRY_LEN + CHECKSUM_LEN);
    }

    #[test]
    fn every_flipped_byte_is_detected() {
        let index = encode(&headers());
        for at in 0..index.len() {
            let mut damaged = index.clone();
            damaged[at] ^= 0x01;
            assert!(parse(&damaged).is_err(), "flip at {at} not detected");
        }
    }

    #[test]
    fn damage_is_named() {
        let index = encode(&headers());
        assert_eq!(parse(b"PK\x03\x04 not an index"), Err(IndexError::BadMagic));
        let mut future = index.clone();
        future[4] = 9;
        assert_eq!(parse(&future), Err(IndexError::UnsupportedVersion { version: 9 }));
        // An index of the first format, whose blocks were one lz4 block each: refused, not misread.
        let mut first = index.clone();
        first[4] = 1;
        let body = first.len() - CHECKSUM_LEN;
        let checksum = xxh3_64(&first[..body]);
        first[body..].copy_from_slice(&checksum.to_le_bytes());
        assert_eq!(parse(&first), Err(IndexError::UnsupportedVersion { version: 1 }));
        let mut flipped = index.clone();
        flipped[20] ^= 0x10;
        assert!(matches!(parse(&flipped), Err(IndexError::ChecksumMismatch { .. })));
        assert!(matches!(parse(&index[..index.len() - 1]), Err(IndexError::ChecksumMismatch { .. })));
        assert!(matches!(parse(&index[..6]), Err(IndexError::WrongLength { .. })));
    }

    #[test]
    fn a_partition_count_that_does_not_fit_the_length_is_refused() {
        let mut index = encode(&headers());
        index[5..9].copy_from_slice(&u32::MAX.to_le_bytes());
        let body = index.len() - CHECKSUM_LEN;
        let checksum = xxh3_64(&index[..body]);
        index[body..].copy_from_slice(&checksum.to_le_bytes());
        assert!(matches!(parse(&index), Err(IndexError::WrongLength { .. })));
    }

    #[test]
    fn offsets_must_follow_the_blocks() {
        let mut index = encode(&headers());
        index[PREAMBLE_LEN + ENTRY_LEN] = 41;
        let body = index.len() - CHECKSUM_LEN;
        let checksum = xxh3_64(&index[..body]);
        index[body..].copy_from_slice(&checksum.to_le_bytes());
        assert_eq!(parse(&index), Err(IndexError::BadOffset { partition: 1, expected: 40, actual: 41 }));
    }

    #[test]
    fn a_footer_finds_the_index_before_it() {
        let footer = encode_footer(60);
        assert_eq!(&footer[8..], b"FLBSHUF1");
        assert_eq!(footer_offset(116), Ok(100));
        assert_eq!(parse_footer(&footer, 100), Ok(40..100));
        assert_eq!(parse_footer(&footer, 60), Ok(0..60));
        assert_eq!(footer_offset(FOOTER_LEN as u64), Ok(0));
        assert_eq!(parse_footer(&encode_footer(0), 0), Ok(0..0));
    }

    #[test]
    fn a_damaged_footer_is_named() {
        assert_eq!(footer_offset(0), Err(IndexError::NoFooter { file_len: 0 }));
        assert_eq!(footer_offset(15), Err(IndexError::NoFooter { file_len: 15 }));
        for at in 8..FOOTER_LEN {
            let mut footer = encode_footer(60);
            footer[at] ^= 0x01;
            assert_eq!(parse_footer(&footer, 100), Err(IndexError::BadFooterMagic), "flip at {at}");
        }
        assert_eq!(
            parse_footer(&encode_footer(60), 59),
            Err(IndexError::IndexTooLong { index_len: 60, room: 59 })
        );
        assert_eq!(
            parse_footer(&encode_footer(u64::MAX), 100),
            Err(IndexError::IndexTooLong { index_len: u64::MAX, room: 100 })
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// A footer places the index right before it, or is refused when the index would not fit.
        #[test]
        fn footers_place_the_index_before_them(index_len in any::<u64>(), offset in any::<u64>()) {
            let expected = match offset.checked_sub(index_len) {
                Some(start) => Ok(start..offset),
                None => Err(IndexError::IndexTooLong { index_len, room: offset }),
            };
            prop_assert_eq!(parse_footer(&encode_footer(index_len), offset), expected);
        }

        /// Random bytes, with or without a valid magic and checksum, never panic.
        #[test]
        fn random_indexes_never_panic(tail in proptest::collection::vec(any::<u8>(), 0..128),
                                      magic in any::<bool>(), seal in any::<bool>()) {
            let mut bytes = if magic { [&MAGIC[..], &[VERSION]].concat() } else { Vec::new() };
            bytes.extend_from_slice(&tail);
            if seal {
                let checksum = xxh3_64(&bytes);
                bytes.extend_from_slice(&checksum.to_le_bytes());
            }
            let _ = parse(&bytes);
        }
    }
}
