//! Hash partitioning of keyed batches: which reduce partition each row of a map output goes to.

use flicker_batch::{BatchReader, BatchWriter, FrameError};
use xxhash_rust::xxh3::xxh3_64;

/// The partition of a row with this encoded key: `xxh3_64(key) mod partitions`.
///
/// XXH3 is a fixed, specified function, so the same key lands in the same partition on every node
/// and every version of flicker.
#[inline]
pub fn partition_of(key: &[u8], partitions: u32) -> u32 {
    (xxh3_64(key) % u64::from(partitions.max(1))) as u32
}

/// Splits a keyed batch into `partitions` batches with the same schema, by [`partition_of`].
pub fn partition_batch(batch: &[u8], partitions: u32) -> Result<Vec<Vec<u8>>, FrameError> {
    let reader = BatchReader::new(batch)?;
    let per_partition = reader.row_bytes().len() / partitions.max(1) as usize;
    let mut writers: Vec<BatchWriter> = (0..partitions.max(1))
        .map(|_| {
            let mut writer = BatchWriter::with_header(reader.header_bytes());
            writer.reserve(per_partition + per_partition / 4);
            writer
        })
        .collect();
    for row in reader.rows() {
        let row = row?;
        writers[partition_of(row.key, partitions) as usize].extend_framed(row.framed);
    }
    Ok(writers.into_iter().map(BatchWriter::finish).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use flicker_batch::{Schema, ValueRef};
    use proptest::prelude::*;

    #[test]
    fn the_hash_is_stable() {
        // Pinned values: changing them would send keys to other partitions across versions.
        assert_eq!(xxh3_64(b""), 0x2d06_8005_38d3_94c2);
        assert_eq!(partition_of(b"", 7), (0x2d06_8005_38d3_94c2_u64 % 7) as u32);
    }

    proptest! {
        #[test]
        fn partitioning_keeps_every_row_once_and_groups_keys(
            keys in proptest::collection::vec("[a-e]{0,3}", 0..60),
            partitions in 1u32..9,
        ) {
            let mut batch = BatchWriter::new(&Schema::keyed(["k"], ["v"]));
            for (i, key) in keys.iter().enumerate() {
                batch.push_values([ValueRef::Str(key)], [ValueRef::I64(i as i64)]);
            }
            let blocks = partition_batch(&batch.finish(), partitions).unwrap();
            prop_assert_eq!(blocks.len(), partitions as usize);
            let mut seen = Vec::new();
            for (p, block) in blocks.iter().enumerate() {
                let reader = BatchReader::new(block).unwrap();
                prop_assert_eq!(&reader.schema().key_fields, &["k".to_owned()]);
                for row in reader.rows() {
                    let row = row.unwrap();
                    prop_assert_eq!(partition_of(row.key, partitions) as usize, p);
                    if let Some(Ok(ValueRef::I64(i))) = row.values().next() { seen.push(i); }
                }
            }
            seen.sort_unstable();
            prop_assert_eq!(seen, (0..keys.len() as i64).collect::<Vec<_>>());
        }
    }
}
