//! Merging sorted runs: batches each sorted by one order, read back as one sorted sequence.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;

use super::BoundOrder;
use super::sort::KeyedRows;
use crate::{BatchReader, FrameError, RawRow};

/// Merges `runs`, batches of one schema each sorted by `order` (as [`sort_batch`] makes them),
/// into their rows in that order.
///
/// The merge is stable: of equal rows, those of an earlier run come first, so merging the sorted
/// pieces of a batch, in the batch's order, gives what sorting it whole gives. Reads each run's
/// header now; the rows as the iterator is driven, each row's key encoded once.
///
/// [`sort_batch`]: super::sort_batch
pub fn merge_sorted<'a>(
    runs: impl IntoIterator<Item = &'a [u8]>,
    order: &BoundOrder,
) -> Result<MergeSorted<'a>, FrameError> {
    let mut header = None;
    let mut cursors = Vec::new();
    let mut heads = BinaryHeap::new();
    for (run, bytes) in runs.into_iter().enumerate() {
        let reader = BatchReader::new(bytes)?;
        if *header.get_or_insert(reader.header_bytes()) != reader.header_bytes() {
            return Err(FrameError {
                offset: 0,
                problem: "a run's header differs from the first run's: merge runs of one schema",
            });
        }
        let mut rows = KeyedRows::new(&reader);
        let mut key = Vec::new();
        if let Some(row) = rows.next_into(order, &mut key) {
            heads.push(Reverse(Head { key, run, row: row? }));
        }
        cursors.push(rows);
    }
    Ok(MergeSorted { order: order.clone(), header, cursors, heads, failed: None })
}

/// The rows of sorted runs in order; see [`merge_sorted`].
///
/// Ends after the first malformed row, which it yields as an error.
#[derive(Debug, Clone)]
pub struct MergeSorted<'a> {
    order: BoundOrder,
    header: Option<&'a [u8]>,
    cursors: Vec<KeyedRows<'a>>,
    /// The next row of each run that has one left.
    heads: BinaryHeap<Reverse<Head<'a>>>,
    /// A malformed row found in a run, to report after the row before it.
    failed: Option<FrameError>,
}

impl<'a> MergeSorted<'a> {
    /// The header the runs share, to frame the merged rows with; `None` if there were no runs.
    pub fn header_bytes(&self) -> Option<&'a [u8]> {
        self.header
    }
}

impl<'a> Iterator for MergeSorted<'a> {
    type Item = Result<RawRow<'a>, FrameError>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(error) = self.failed.take() {
            self.heads.clear();
            return Some(Err(error));
        }
        let Reverse(mut head) = self.heads.pop()?;
        let row = head.row;
        head.key.clear();
        match self.cursors[head.run].next_into(&self.order, &mut head.key) {
            Some(Ok(next)) => {
                head.row = next;
                self.heads.push(Reverse(head));
            }
            Some(Err(error)) => self.failed = Some(error),
            None => {}
        }
        Some(Ok(row))
    }
}

/// The next row of a run, ordered by its sort key, then by the run's index.
#[derive(Debug, Clone)]
struct Head<'a> {
    key: Vec<u8>,
    run: usize,
    row: RawRow<'a>,
}

impl Ord for Head<'_> {
    fn cmp(&self, other: &Self) -> Ordering {
        self.key.cmp(&other.key).then(self.run.cmp(&other.run))
    }
}

impl PartialOrd for Head<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Head<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other).is_eq()
    }
}

impl Eq for Head<'_> {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::order::sort_batch;
    use crate::order::testing::{self, batch, framed_rows};
    use crate::{BatchWriter, Schema, ValueRef};
    use proptest::prelude::*;

    #[test]
    fn no_runs_merge_into_nothing() {
        let order = crate::SortOrder::parse("a").unwrap().bind(&testing::schema()).unwrap();
        let mut merged = merge_sorted([], &order).unwrap();
        assert_eq!(merged.header_bytes(), None);
        assert!(merged.next().is_none());
    }

    #[test]
    fn runs_of_other_schemas_are_refused() {
        let order = crate::SortOrder::parse("a").unwrap().bind(&testing::schema()).unwrap();
        let other = BatchWriter::new(&Schema::values(["a"])).finish();
        let error = merge_sorted([batch(&[]).as_slice(), &other], &order).unwrap_err();
        assert_eq!(error.problem, "a run's header differs from the first run's: merge runs of one schema");
    }

    #[test]
    fn a_malformed_row_ends_the_merge_after_the_rows_before_it() {
        let schema = Schema::values(["a"]);
        let order = crate::SortOrder::parse("a").unwrap().bind(&schema).unwrap();
        let mut run = BatchWriter::new(&schema);
        run.push_values([], [ValueRef::I64(1)]);
        run.push_values([], []);
        let run = run.finish();
        let rows: Vec<Result<RawRow<'_>, FrameError>> =
            merge_sorted([run.as_slice()], &order).unwrap().collect();
        assert!(matches!(rows.as_slice(), [Ok(_), Err(error)] if error.problem.contains("fewer values")));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn merging_sorted_runs_is_sorting_them_together(
            rows in testing::rows(0..80),
            cuts in proptest::collection::vec(0usize..80, 0..8),
            order in testing::order(),
        ) {
            // Consecutive runs of the rows, some of them empty, each sorted.
            let mut cuts: Vec<usize> = cuts.into_iter().map(|cut| cut.min(rows.len())).collect();
            cuts.sort_unstable();
            let bounds: Vec<usize> = [0].into_iter().chain(cuts).chain([rows.len()]).collect();
            let runs: Vec<Vec<u8>> =
                bounds.windows(2).map(|w| sort_batch(&batch(&rows[w[0]..w[1]]), &order).unwrap()).collect();

            let whole = batch(&rows);
            let merged = merge_sorted(runs.iter().map(Vec::as_slice), &order).unwrap();
            prop_assert_eq!(merged.header_bytes(), Some(BatchReader::new(&whole).unwrap().header_bytes()));
            let merged: Vec<&[u8]> = merged.map(|row| row.unwrap().framed).collect();
            let sorted = sort_batch(&whole, &order).unwrap();
            prop_assert_eq!(merged, framed_rows(&sorted));
        }
    }
}
