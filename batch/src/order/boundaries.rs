//! Range boundaries: the split points that cut the key space into partitions of about equal
//! numbers of rows, chosen from a sample of the keys.

use super::SortKey;

/// Split points between the ranges of a range partitioning, in ascending order, each one
/// greater than the one before.
///
/// With splits `s_0 < s_1 < … < s_{n−1}`, partition `i` holds the keys in `(s_{i−1}, s_i]`:
/// partition 0 every key up to `s_0`, partition `n` every key above `s_{n−1}`. A key equal to a
/// split goes to the partition the split ends, so equal keys always share a partition.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize), serde(transparent))]
pub struct Boundaries {
    splits: Vec<SortKey>,
}

impl Boundaries {
    /// Chooses at most `partitions − 1` split points from a sample of the keys (Spark's
    /// `RangePartitioner`): sorts the sample and walks it, taking the key at which each next
    /// `1 / partitions` of the sample is reached, unless it equals the split taken before (then
    /// the next greater key is taken instead).
    ///
    /// So a key that fills several shares of the sample makes one split, not a run of empty
    /// ranges, and there may be fewer partitions than asked for (see
    /// [`partitions`](Self::partitions)): an empty sample, or `partitions` of 0 or 1, make one
    /// partition; a sample of `n` distinct keys at most `n + 1`.
    pub fn from_sample(sample: Vec<SortKey>, partitions: u32) -> Self {
        Self::from_weighted_sample(sample.into_iter().map(|key| (key, 1.0)).collect(), partitions)
    }

    /// [`from_sample`](Self::from_sample) for a sample whose keys stand for different numbers of
    /// rows (each key's weight: the rows of the part of the input it was drawn from, divided by
    /// the keys drawn from it), as Spark weighs the samples of partitions of different sizes.
    /// Weights that are not finite and positive count as 0.
    pub fn from_weighted_sample(mut sample: Vec<(SortKey, f64)>, partitions: u32) -> Self {
        sample.sort_unstable_by(|(a, _), (b, _)| a.cmp(b));
        let weight = |w: f64| if w.is_finite() && w > 0.0 { w } else { 0.0 };
        let total: f64 = sample.iter().map(|(_, w)| weight(*w)).sum();
        let wanted = partitions.saturating_sub(1) as usize;
        let mut splits: Vec<SortKey> = Vec::with_capacity(wanted.min(sample.len()));
        let mut seen = 0.0;
        for (key, w) in sample {
            if splits.len() == wanted {
                break;
            }
            seen += weight(w);
            // Whether the keys so far make at least `splits.len() + 1` shares of the sample.
            let share_reached = seen * f64::from(partitions) >= (splits.len() + 1) as f64 * total;
            if share_reached && total > 0.0 && splits.last().is_none_or(|last| key > *last) {
                splits.push(key);
            }
        }
        Self { splits }
    }

    /// Boundaries at `splits` (as [`splits`](Self::splits) gave them), which must ascend
    /// strictly; `None` if they do not.
    pub fn from_splits(splits: Vec<SortKey>) -> Option<Self> {
        splits.windows(2).all(|pair| pair[0] < pair[1]).then_some(Self { splits })
    }

    /// The split points, ascending.
    pub fn splits(&self) -> &[SortKey] {
        &self.splits
    }

    /// The number of partitions: one more than the splits.
    pub fn partitions(&self) -> u32 {
        u32::try_from(self.splits.len() + 1).expect("fewer splits than a u32 count of partitions")
    }

    /// The partition of a row with sort key `key`, below [`partitions`](Self::partitions).
    pub fn partition_of(&self, key: &SortKey) -> u32 {
        self.partition_of_encoded(key.as_bytes())
    }

    /// The partition of an encoded key.
    pub(crate) fn partition_of_encoded(&self, key: &[u8]) -> u32 {
        let before = self.splits.partition_point(|split| split.as_bytes() < key);
        u32::try_from(before).expect("fewer splits than a u32 count of partitions")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::order::testing::key;

    fn keys(numbers: impl IntoIterator<Item = i64>) -> Vec<SortKey> {
        numbers.into_iter().map(key).collect()
    }

    /// How many of `keys` fall in each partition.
    fn counts(boundaries: &Boundaries, keys: &[SortKey]) -> Vec<usize> {
        let mut counts = vec![0; boundaries.partitions() as usize];
        keys.iter().for_each(|key| counts[boundaries.partition_of(key) as usize] += 1);
        counts
    }

    #[test]
    fn a_weighted_sample_is_cut_into_equal_shares_of_the_rows_it_stands_for() {
        // Ten keys standing for 100 rows each, ten for one row each: half the rows are up to 5.
        let heavy = keys(0..10).into_iter().map(|key| (key, 100.0));
        let light = keys(100..110).into_iter().map(|key| (key, 1.0));
        let boundaries = Boundaries::from_weighted_sample(heavy.chain(light).collect(), 2);
        assert_eq!(boundaries.splits(), [key(5)]);
        let unweighted = Boundaries::from_sample(keys((0..10).chain(100..110)), 2);
        assert_eq!(unweighted.splits(), [key(9)]);
        let nothing = Boundaries::from_weighted_sample(vec![(key(1), 0.0), (key(2), f64::NAN)], 3);
        assert_eq!(nothing.partitions(), 1);
        assert_eq!(Boundaries::from_splits(keys([1, 5])), Some(Boundaries { splits: keys([1, 5]) }));
        assert_eq!(Boundaries::from_splits(keys([5, 1])), None);
        assert_eq!(Boundaries::from_splits(keys([1, 1])), None);
    }

    #[test]
    fn a_distinct_sample_is_cut_into_equal_shares() {
        let sample = keys((0..100).rev());
        let boundaries = Boundaries::from_sample(sample.clone(), 4);
        assert_eq!(boundaries.splits, keys([24, 49, 74]));
        assert_eq!(counts(&boundaries, &sample), [25, 25, 25, 25]);
        let boundaries = Boundaries::from_sample(sample.clone(), 3);
        assert_eq!(counts(&boundaries, &sample), [34, 33, 33]);
    }

    #[test]
    fn no_sample_or_one_partition_makes_one_partition() {
        for (sample, partitions) in [(keys([]), 8), (keys([1, 2, 3]), 1), (keys([1, 2, 3]), 0)] {
            let boundaries = Boundaries::from_sample(sample, partitions);
            assert_eq!(boundaries.partitions(), 1);
            assert_eq!(boundaries.partition_of(&key(i64::MIN)), 0);
            assert_eq!(boundaries.partition_of(&key(i64::MAX)), 0);
        }
    }

    #[test]
    fn a_sample_smaller_than_the_partitions_makes_each_key_a_split() {
        let boundaries = Boundaries::from_sample(keys([30, 10, 20]), 10);
        assert_eq!(boundaries.splits, keys([10, 20, 30]));
        assert_eq!(boundaries.partitions(), 4);
        let partitions: Vec<u32> =
            keys([5, 10, 15, 30, 31]).iter().map(|k| boundaries.partition_of(k)).collect();
        assert_eq!(partitions, [0, 0, 1, 2, 3]);
    }

    #[test]
    fn keys_equal_to_a_split_go_to_the_partition_it_ends() {
        let boundaries = Boundaries::from_sample(keys([7; 5]), 4);
        assert_eq!(boundaries.splits, keys([7]), "an all-equal sample makes a single split");
        assert_eq!(boundaries.partition_of(&key(6)), 0);
        assert_eq!(boundaries.partition_of(&key(7)), 0);
        assert_eq!(boundaries.partition_of(&key(8)), 1);
    }

    #[test]
    fn a_repeated_key_makes_one_split_and_the_next_greater_key_the_next() {
        let boundaries = Boundaries::from_sample(keys([1, 1, 1, 1, 2, 3, 4, 5]), 4);
        assert_eq!(boundaries.splits, keys([1, 2, 3]));
        // A key passed before the first share is reached makes no split of its own.
        let boundaries = Boundaries::from_sample(keys([1, 2, 2, 2, 2, 2, 2, 2]), 3);
        assert_eq!(boundaries.splits, keys([2]));
    }
}
