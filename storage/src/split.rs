//! Cutting objects into byte-range splits, and which records each split owns.
//!
//! A record is a line: it starts at offset 0 or right after a `\n`, and ends after its `\n`
//! (the last one of an object may have none). A split `[start, end)` owns exactly the records
//! that *start* inside it, so it may read a little before `start` (one byte, to see whether
//! `start` begins a record) and past `end` (to finish its last record). Every record of an
//! object belongs to exactly one of its splits, whatever the split size.
//!
//! Equivalently: with a *boundary* being offset 0, the object size, or any offset right after a
//! `\n`, a split owns `[first boundary ≥ start, first boundary ≥ end)` — or nothing if the first
//! boundary ≥ `start` is already ≥ `end`.

use object_store::path::Path;

use crate::{Compression, InputObject};

/// A byte range of one object, read by one task.
///
/// The split of a compressed object covers all of it, and its records are the lines of the
/// decompressed data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Split {
    /// The object's full path in the store.
    pub object: Path,
    /// The object's size when it was listed.
    pub object_size: u64,
    /// First byte of the range.
    pub start: u64,
    /// One past the last byte of the range.
    pub end: u64,
}

/// Cuts each object into ranges of `split_size` bytes (the last one of an object shorter); an
/// empty object gives no split. A `split_size` of 0 is taken as 1.
///
/// A compressed object (see [`Compression::of`]) can only be decoded from its start, so it is
/// one split covering the whole object, whatever `split_size`.
pub fn plan_splits(objects: &[InputObject], split_size: u64) -> Vec<Split> {
    let split_size = split_size.max(1);
    let mut splits = Vec::new();
    for object in objects {
        let step = if Compression::of(&object.path).is_some() { u64::MAX } else { split_size };
        let mut start = 0;
        while start < object.size {
            let end = start.saturating_add(step).min(object.size);
            splits.push(Split { object: object.path.clone(), object_size: object.size, start, end });
            start = end;
        }
    }
    splits
}

/// What a window of an object's bytes tells about the records a split owns; see
/// [`owned_records`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Aligned {
    /// No record starts in the range: the split owns nothing (more).
    Nothing,
    /// The window holds no `\n` and stops before the range could end, so no record starts in
    /// `[range_start, resume_at)`: drop the window and ask again with `range_start = resume_at`
    /// and a window from `resume_at - 1`.
    SeekStart {
        /// Where to resume the search.
        resume_at: u64,
    },
    /// The owned records start at `start`; the whole ones the window holds end at `whole_end`
    /// (equal to `start` if none is whole yet).
    Records {
        /// Object offset of the first owned record.
        start: u64,
        /// Object offset right after the last whole owned record in the window.
        whole_end: u64,
        /// Whether `whole_end` ends the split's last owned record, so nothing more is needed.
        last: bool,
    },
}

/// Which records the split `[range_start, range_end)` of an object of `object_size` bytes owns,
/// judging from `window`: the object's bytes starting at `range_start - 1` (at 0 when
/// `range_start` is 0) and going as far as the caller has read.
///
/// Returns [`Aligned::SeekStart`] or a non-`last` [`Aligned::Records`] when more bytes past
/// the window's end are needed.
pub fn owned_records(range_start: u64, range_end: u64, window: &[u8], object_size: u64) -> Aligned {
    let range_end = range_end.min(object_size);
    if range_start >= range_end {
        return Aligned::Nothing;
    }
    let window_start = range_start.saturating_sub(1);
    let window = &window[..window.len().min(index(object_size - window_start))];
    let window_end = window_start + window.len() as u64;

    let start = if range_start == 0 {
        0
    } else {
        // `range_start + i` begins a record when the byte before it, `window[i]`, is a `\n`.
        let candidates = index(range_end - range_start);
        match window[..candidates.min(window.len())].iter().position(|&b| b == b'\n') {
            Some(i) => range_start + i as u64,
            None if window.len() >= candidates => return Aligned::Nothing,
            None => return Aligned::SeekStart { resume_at: window_end + 1 },
        }
    };

    // The owned records end at the first boundary at or after `range_end`.
    let last_byte = index(range_end - 1 - window_start);
    let end_newline = window.get(last_byte..).and_then(|tail| tail.iter().position(|&b| b == b'\n'));
    if let Some(i) = end_newline {
        let whole_end = window_start + (last_byte + i) as u64 + 1;
        return Aligned::Records { start, whole_end, last: true };
    }
    if window_end == object_size {
        return Aligned::Records { start, whole_end: object_size, last: true };
    }
    let from = index(start - window_start);
    let whole_end = match window[from..].iter().rposition(|&b| b == b'\n') {
        Some(i) => start + i as u64 + 1,
        None => start,
    };
    Aligned::Records { start, whole_end, last: false }
}

/// `n` as an index, saturating where `usize` is narrower than `u64`.
fn index(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::test_support::content;

    fn object(name: &str, size: u64) -> InputObject {
        InputObject { path: Path::from(name), size }
    }

    fn ranges(splits: &[Split]) -> Vec<(&str, u64, u64)> {
        splits.iter().map(|s| (s.object.as_ref(), s.start, s.end)).collect()
    }

    #[test]
    fn objects_are_cut_into_ranges_of_the_split_size() {
        let splits = plan_splits(&[object("a", 10), object("empty", 0), object("b", 4)], 4);
        assert_eq!(ranges(&splits), [("a", 0, 4), ("a", 4, 8), ("a", 8, 10), ("b", 0, 4)]);
        assert!(splits.iter().all(|s| s.object_size == if s.object.as_ref() == "a" { 10 } else { 4 }));
        assert_eq!(ranges(&plan_splits(&[object("a", 3)], 0)), [("a", 0, 1), ("a", 1, 2), ("a", 2, 3)]);
        assert_eq!(ranges(&plan_splits(&[object("a", 3)], u64::MAX)), [("a", 0, 3)]);
    }

    #[test]
    fn a_compressed_object_is_one_split() {
        let objects = [
            object("a.gz", 10),
            object("b.ZST", 7),
            object("empty.gz", 0),
            object("c.gz.txt", 3),
            object("d.zst", 1),
        ];
        let splits = plan_splits(&objects, 2);
        assert_eq!(
            ranges(&splits),
            [("a.gz", 0, 10), ("b.ZST", 0, 7), ("c.gz.txt", 0, 2), ("c.gz.txt", 2, 3), ("d.zst", 0, 1)]
        );
        assert_eq!(ranges(&plan_splits(&objects[..1], 0)), [("a.gz", 0, 10)]);
    }

    /// Owned records of each split when the window holds everything from `range_start - 1`.
    fn owned(content: &[u8], start: u64, end: u64) -> Option<(u64, u64)> {
        let window = &content[start.saturating_sub(1) as usize..];
        match owned_records(start, end, window, content.len() as u64) {
            Aligned::Nothing => None,
            Aligned::Records { start, whole_end, last: true } => Some((start, whole_end)),
            other => panic!("a window up to the end of the object is enough: {other:?}"),
        }
    }

    #[test]
    fn a_split_owns_the_records_starting_inside_it() {
        let text = b"ab\ncd\n\nef";
        assert_eq!(owned(text, 0, 2), Some((0, 3)));
        assert_eq!(owned(text, 2, 4), Some((3, 6)));
        assert_eq!(owned(text, 3, 4), Some((3, 6)));
        assert_eq!(owned(text, 4, 6), None);
        assert_eq!(owned(text, 4, 7), Some((6, 7)));
        assert_eq!(owned(text, 7, 9), Some((7, 9)));
        assert_eq!(owned(text, 8, 9), None);
        assert_eq!(owned(b"\n", 0, 1), Some((0, 1)));
        assert_eq!(owned(b"abc", 1, 3), None);
        assert_eq!(owned(b"a\n", 1, 2), None, "a final newline starts no record");
    }

    #[test]
    fn a_short_window_asks_for_more() {
        let text = b"abcdef\nxy\nz";
        // Start of the range not reached: no `\n` in "abc".
        assert_eq!(owned_records(1, 9, &text[0..3], 11), Aligned::SeekStart { resume_at: 4 });
        // Start found, the last owned record "xy\n" unfinished, then finished.
        assert_eq!(
            owned_records(1, 9, &text[0..9], 11),
            Aligned::Records { start: 7, whole_end: 7, last: false }
        );
        assert_eq!(
            owned_records(1, 9, &text[0..10], 11),
            Aligned::Records { start: 7, whole_end: 10, last: true }
        );
        // Some whole records, more to come.
        let text = b"abcdef\nx\ny\nz";
        assert_eq!(
            owned_records(1, 11, &text[0..10], 12),
            Aligned::Records { start: 7, whole_end: 9, last: false }
        );
        assert_eq!(
            owned_records(1, 11, &text[0..11], 12),
            Aligned::Records { start: 7, whole_end: 11, last: true }
        );
        // An empty window at the start of a range says nothing yet.
        assert_eq!(owned_records(5, 9, &[], 11), Aligned::SeekStart { resume_at: 5 });
        // Out-of-range or inverted ranges own nothing.
        assert_eq!(owned_records(5, 5, text, 11), Aligned::Nothing);
        assert_eq!(owned_records(20, 30, text, 11), Aligned::Nothing);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn splits_own_every_record_exactly_once(text in content(), size_seed in 1u64..100) {
            let size = text.len() as u64;
            let split_size = 1 + size_seed % (size + 3);
            let mut covered = 0;
            for split in plan_splits(&[object("o", size)], split_size) {
                if let Some((start, end)) = owned(&text, split.start, split.end) {
                    prop_assert_eq!(start, covered, "owned ranges are contiguous");
                    prop_assert!(split.start <= start && start < split.end);
                    prop_assert!(start == 0 || text[start as usize - 1] == b'\n');
                    prop_assert!(end == size || text[end as usize - 1] == b'\n');
                    covered = end;
                }
            }
            prop_assert_eq!(covered, size);
        }
    }
}
