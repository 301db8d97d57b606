//! Sorting a batch, and cutting one into ranges: both move framed row bytes, never re-encode
//! values.

use super::{BoundOrder, Boundaries};
use crate::{BatchReader, BatchWriter, FrameError, RawRow, Rows};

/// The rows of a batch, each read with its sort key.
#[derive(Debug, Clone)]
pub(super) struct KeyedRows<'a> {
    rows: Rows<'a>,
    /// Offset in the batch of the next row.
    offset: usize,
}

impl<'a> KeyedRows<'a> {
    pub(super) fn new(reader: &BatchReader<'a>) -> Self {
        Self { rows: reader.rows(), offset: reader.header_bytes().len() }
    }

    /// The next row, its sort key under `order` appended to `key`.
    pub(super) fn next_into(
        &mut self,
        order: &BoundOrder,
        key: &mut Vec<u8>,
    ) -> Option<Result<RawRow<'a>, FrameError>> {
        let row = match self.rows.next()? {
            Ok(row) => row,
            Err(error) => return Some(Err(error)),
        };
        let offset = self.offset;
        self.offset += row.framed.len();
        Some(order.encode_key(&row, key).map(|()| row).map_err(|problem| FrameError { offset, problem }))
    }
}

/// The rows of `batch` sorted by `order` (stably: equal rows keep their order), framed under the
/// same header.
pub fn sort_batch(batch: &[u8], order: &BoundOrder) -> Result<Vec<u8>, FrameError> {
    let reader = BatchReader::new(batch)?;
    // Every row's key in one buffer: a row is its key's range in it and its framed bytes.
    let mut keys = Vec::new();
    let mut rows = Vec::new();
    let mut keyed = KeyedRows::new(&reader);
    loop {
        let start = keys.len();
        let Some(row) = keyed.next_into(order, &mut keys) else { break };
        rows.push((start..keys.len(), row?.framed));
    }
    rows.sort_by(|(a, _), (b, _)| keys[a.clone()].cmp(&keys[b.clone()]));
    let mut sorted = BatchWriter::with_header(reader.header_bytes());
    sorted.reserve(reader.row_bytes().len());
    rows.iter().for_each(|(_, framed)| sorted.extend_framed(framed));
    Ok(sorted.finish())
}

/// The rows of `batch` cut by `boundaries` into [`Boundaries::partitions`] batches under the same
/// header, each row in the partition of its sort key under `order` and in batch order within it.
pub fn range_partition(
    batch: &[u8],
    order: &BoundOrder,
    boundaries: &Boundaries,
) -> Result<Vec<Vec<u8>>, FrameError> {
    let reader = BatchReader::new(batch)?;
    let mut parts = vec![BatchWriter::with_header(reader.header_bytes()); boundaries.partitions() as usize];
    let mut keyed = KeyedRows::new(&reader);
    let mut key = Vec::new();
    while let Some(row) = keyed.next_into(order, &mut key) {
        parts[boundaries.partition_of_encoded(&key) as usize].extend_framed(row?.framed);
        key.clear();
    }
    Ok(parts.into_iter().map(BatchWriter::finish).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::order::testing::{self, batch, framed_rows, keys};
    use crate::order::{SortKey, SortOrder};
    use crate::{Schema, ValueRef};
    use proptest::prelude::*;

    #[test]
    fn a_row_without_the_sort_field_is_reported_where_it_starts() {
        let schema = Schema::values(["a", "b"]);
        let good = BatchWriter::new(&schema).finish();
        let mut writer = BatchWriter::with_header(&good);
        writer.push_values([], [ValueRef::I64(1), ValueRef::I64(2)]);
        let first_row = writer.row_bytes();
        writer.push_values([], [ValueRef::I64(3)]);
        let batch = writer.finish();
        let order = SortOrder::parse("b").unwrap().bind(&schema).unwrap();
        let expected = FrameError {
            offset: good.len() + first_row,
            problem: "a row has fewer values than the sort order reads",
        };
        assert_eq!(sort_batch(&batch, &order), Err(expected.clone()));
        assert_eq!(range_partition(&batch, &order, &Boundaries::default()), Err(expected));
        assert!(sort_batch(b"FLB0", &order).is_err());
    }

    #[test]
    fn an_empty_batch_sorts_and_partitions_into_empty_batches() {
        let empty = batch(&[]);
        let order = SortOrder::parse("a").unwrap().bind(&testing::schema()).unwrap();
        assert_eq!(sort_batch(&empty, &order), Ok(empty.clone()));
        let boundaries = Boundaries::from_sample(vec![testing::key(1)], 3);
        assert_eq!(range_partition(&empty, &order, &boundaries), Ok(vec![empty.clone(), empty]));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn sorting_a_batch_is_a_stable_sort_by_the_order(rows in testing::rows(0..60), order in testing::order()) {
            let batch = batch(&rows);
            let sorted = sort_batch(&batch, &order).unwrap();
            let reader = BatchReader::new(&batch).unwrap();
            prop_assert_eq!(BatchReader::new(&sorted).unwrap().header_bytes(), reader.header_bytes());
            // The reference: the rows sorted stably by comparing their values.
            let mut expected: Vec<RawRow<'_>> = reader.rows().map(Result::unwrap).collect();
            expected.sort_by(|a, b| order.compare(a, b));
            let expected: Vec<&[u8]> = expected.iter().map(|row| row.framed).collect();
            prop_assert_eq!(framed_rows(&sorted), expected);
        }

        #[test]
        fn range_parts_hold_every_row_once_in_disjoint_ascending_ranges(
            rows in testing::rows(0..80),
            sampled in proptest::collection::vec(any::<bool>(), 80),
            foreign in testing::rows(0..20),
            order in testing::order(),
            partitions in 1u32..64,
        ) {
            let input = batch(&rows);
            // Sampled keys: some of the rows', and some of rows that are not in the batch.
            let sample: Vec<SortKey> = keys(&input, &order)
                .into_iter()
                .zip(&sampled)
                .filter_map(|(key, &sampled)| sampled.then_some(key))
                .chain(keys(&batch(&foreign), &order))
                .collect();
            let boundaries = Boundaries::from_sample(sample, partitions);
            prop_assert!((1..=partitions).contains(&boundaries.partitions()));

            let parts = range_partition(&input, &order, &boundaries).unwrap();
            prop_assert_eq!(parts.len(), boundaries.partitions() as usize);
            let header = BatchReader::new(&input).unwrap().header_bytes();
            let mut every_row = Vec::new();
            let mut previous_max: Option<SortKey> = None;
            for (index, part) in parts.iter().enumerate() {
                prop_assert_eq!(BatchReader::new(part).unwrap().header_bytes(), header);
                let part_keys = keys(part, &order);
                for key in &part_keys {
                    prop_assert_eq!(boundaries.partition_of(key) as usize, index);
                }
                // Strictly above the previous non-empty part: equal keys share a part.
                if let (Some(max), Some(min)) = (&previous_max, part_keys.iter().min()) {
                    prop_assert!(max < min, "part {} starts at {:?}, not above {:?}", index, min, max);
                }
                previous_max = part_keys.into_iter().max().or(previous_max);
                every_row.extend(framed_rows(part));
            }
            let mut expected = framed_rows(&input);
            expected.sort_unstable();
            every_row.sort_unstable();
            prop_assert_eq!(every_row, expected, "each row in exactly one part");

            // The sorted parts read in order are the whole batch sorted, ties in the same order.
            let sorted_parts: Vec<Vec<u8>> = parts.iter().map(|part| sort_batch(part, &order).unwrap()).collect();
            let concatenated: Vec<&[u8]> = sorted_parts.iter().flat_map(|part| framed_rows(part)).collect();
            let sorted = sort_batch(&input, &order).unwrap();
            prop_assert_eq!(concatenated, framed_rows(&sorted));
        }
    }
}
