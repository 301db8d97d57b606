//! Reduce side: the aggregate's state spilled as runs sorted by key, merged back in key order.

use super::{Header, SpillError, io_error, spilled};
use flicker_batch::BatchReader;
use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, ErrorKind, Read, Seek, Write};
use std::path::{Path, PathBuf};

/// Bytes of the read buffer of each run while merging.
const RUN_READ_BUFFER: usize = 256 << 10;

/// Spilled runs of one reduce task: each a file of framed rows sorted by their key bytes.
#[derive(Debug)]
pub(crate) struct SortedRuns {
    dir: PathBuf,
    header: Header,
    runs: Vec<File>,
}

impl SortedRuns {
    /// No runs yet; their files will be created in `dir`.
    pub fn new(dir: &Path) -> Self {
        Self { dir: dir.to_owned(), header: Header::default(), runs: Vec::new() }
    }

    /// Whether nothing was spilled.
    pub fn is_empty(&self) -> bool {
        self.runs.is_empty()
    }

    /// Writes the rows of `partials` (a batch of the aggregate's partial state) sorted by key, as
    /// one more run; returns the bytes written.
    pub fn spill(&mut self, partials: &[u8]) -> Result<u64, SpillError> {
        let batch = BatchReader::new(partials)?;
        self.header.check(batch.header_bytes())?;
        let mut rows: Vec<&[u8]> =
            batch.rows().map(|row| row.map(|row| row.framed)).collect::<Result<_, _>>()?;
        rows.sort_unstable_by(|a, b| key(a).cmp(key(b)));
        let file = tempfile::tempfile_in(&self.dir).map_err(io_error(&self.dir))?;
        let mut out = BufWriter::with_capacity(1 << 20, file);
        for row in &rows {
            out.write_all(row).map_err(io_error(&self.dir))?;
        }
        let mut file = out.into_inner().map_err(|e| io_error(&self.dir)(e.into_error()))?;
        file.rewind().map_err(io_error(&self.dir))?;
        self.runs.push(file);
        Ok(spilled(batch.row_bytes().len() as u64))
    }

    /// Merges the runs in key order into batches (with the partials' header) of at most about
    /// `max_row_bytes` of rows, each ending where a key ends: every row of a key, from every run,
    /// is in the same batch. The runs are handed over: afterwards there are none.
    pub fn merge(&mut self, max_row_bytes: usize) -> Result<MergedRuns, SpillError> {
        let files = std::mem::take(&mut self.runs);
        let mut runs = Vec::with_capacity(files.len());
        let mut heads = BinaryHeap::with_capacity(files.len());
        for (index, file) in files.into_iter().enumerate() {
            let mut run = RunReader { file: BufReader::with_capacity(RUN_READ_BUFFER, file) };
            let mut head = Head { row: Vec::new(), run: index };
            if run.next_row(&mut head.row).map_err(|e| e.spill_error(&self.dir))? {
                heads.push(Reverse(head));
            }
            runs.push(run);
        }
        Ok(MergedRuns {
            dir: self.dir.clone(),
            header: self.header.0.clone().unwrap_or_default(),
            runs,
            heads,
            max_row_bytes: max_row_bytes.max(1),
        })
    }
}

/// The key bytes of a framed row (`key_len:u32 | key | value_len:u32 | value`) known to be
/// well framed.
fn key(row: &[u8]) -> &[u8] {
    let len = u32::from_le_bytes([row[0], row[1], row[2], row[3]]) as usize;
    &row[4..4 + len]
}

/// The current row of one run in the merge.
#[derive(Debug)]
struct Head {
    row: Vec<u8>,
    run: usize,
}

impl Ord for Head {
    fn cmp(&self, other: &Self) -> Ordering {
        key(&self.row).cmp(key(&other.row)).then(self.run.cmp(&other.run))
    }
}

impl PartialOrd for Head {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Head {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Head {}

/// Reads the framed rows of one run back.
#[derive(Debug)]
struct RunReader {
    file: BufReader<File>,
}

/// Why reading a run failed.
enum ReadFailure {
    Io(std::io::Error),
    Truncated,
}

impl ReadFailure {
    fn spill_error(self, dir: &Path) -> SpillError {
        match self {
            ReadFailure::Io(source) => SpillError::Io { dir: dir.to_owned(), source },
            ReadFailure::Truncated => SpillError::Truncated { dir: dir.to_owned() },
        }
    }
}

impl RunReader {
    /// Reads the next row into `row` (replacing its contents); `false` at the end of the run.
    fn next_row(&mut self, row: &mut Vec<u8>) -> Result<bool, ReadFailure> {
        row.clear();
        if !self.section(row, true)? {
            return Ok(false);
        }
        self.section(row, false)?;
        Ok(true)
    }

    /// Appends one length-prefixed section to `row`; `false` if the run ended before it, which
    /// only the key of a row may do.
    fn section(&mut self, row: &mut Vec<u8>, may_end: bool) -> Result<bool, ReadFailure> {
        if may_end && self.file.fill_buf().map_err(ReadFailure::Io)?.is_empty() {
            return Ok(false);
        }
        let truncated = |e: std::io::Error| match e.kind() {
            ErrorKind::UnexpectedEof => ReadFailure::Truncated,
            _ => ReadFailure::Io(e),
        };
        let mut len = [0; 4];
        self.file.read_exact(&mut len).map_err(truncated)?;
        row.extend_from_slice(&len);
        let start = row.len();
        row.resize(start + u32::from_le_bytes(len) as usize, 0);
        self.file.read_exact(&mut row[start..]).map_err(truncated)?;
        Ok(true)
    }
}

/// The runs merged in key order, as batches that end where a key ends; see
/// [`SortedRuns::merge`].
#[derive(Debug)]
pub(crate) struct MergedRuns {
    dir: PathBuf,
    header: Vec<u8>,
    runs: Vec<RunReader>,
    heads: BinaryHeap<Reverse<Head>>,
    max_row_bytes: usize,
}

impl Iterator for MergedRuns {
    type Item = Result<Vec<u8>, SpillError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.heads.peek()?;
        let mut batch = self.header.clone();
        let rows_start = batch.len();
        // Where the key of the last row taken lies in `batch`.
        let mut last_key = 0..0;
        while let Some(Reverse(head)) = self.heads.peek() {
            let full = batch.len() - rows_start >= self.max_row_bytes;
            if full && key(&head.row) != &batch[last_key.clone()] {
                break;
            }
            let Some(Reverse(mut head)) = self.heads.pop() else { break };
            let key_len = key(&head.row).len();
            last_key = batch.len() + 4..batch.len() + 4 + key_len;
            batch.extend_from_slice(&head.row);
            match self.runs[head.run].next_row(&mut head.row) {
                Ok(true) => self.heads.push(Reverse(head)),
                Ok(false) => {}
                Err(failure) => return Some(Err(failure.spill_error(&self.dir))),
            }
        }
        Some(Ok(batch))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flicker_batch::{BatchWriter, Schema, ValueRef};
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    fn partials(rows: &[(String, i64)]) -> Vec<u8> {
        let mut batch = BatchWriter::new(&Schema::keyed(["station"], ["max"]));
        for (key, value) in rows {
            batch.push_values([ValueRef::Str(key)], [ValueRef::I64(*value)]);
        }
        batch.finish()
    }

    fn decoded(batch: &[u8]) -> Vec<(String, i64)> {
        BatchReader::new(batch)
            .unwrap()
            .rows()
            .map(|row| {
                let row = row.unwrap();
                let Some(Ok(ValueRef::Str(key))) = row.key_values().next() else { panic!("no key") };
                let Some(Ok(ValueRef::I64(value))) = row.values().next() else { panic!("no value") };
                (key.to_owned(), value)
            })
            .collect()
    }

    proptest! {
        #[test]
        fn merged_batches_hold_every_row_once_with_each_key_in_one_batch(
            runs in proptest::collection::vec(
                proptest::collection::vec(("[a-f]{0,3}", -50i64..50), 0..40), 0..6),
            max in 1usize..200,
        ) {
            let dir = tempfile::tempdir().unwrap();
            let mut spilled = SortedRuns::new(dir.path());
            for run in &runs {
                spilled.spill(&partials(run)).unwrap();
            }
            prop_assert_eq!(spilled.is_empty(), runs.is_empty());
            let mut seen_keys = BTreeMap::new();
            let mut all = Vec::new();
            let mut previous_last: Option<Vec<u8>> = None;
            for (index, batch) in spilled.merge(max).unwrap().enumerate() {
                let batch = batch.unwrap();
                let reader = BatchReader::new(&batch).unwrap();
                prop_assert_eq!(reader.schema(), &Schema::keyed(["station"], ["max"]));
                let rows = decoded(&batch);
                prop_assert!(!rows.is_empty());
                let keys: Vec<&String> = rows.iter().map(|(k, _)| k).collect();
                for key in keys.iter().copied() {
                    if let Some(&other) = seen_keys.get(key) {
                        prop_assert_eq!(other, index, "key {:?} in two batches", key);
                    }
                    seen_keys.insert(key.clone(), index);
                }
                let raw_keys: Vec<Vec<u8>> = reader.rows().map(|row| row.unwrap().key.to_vec()).collect();
                prop_assert!(raw_keys.is_sorted(), "rows come in key order");
                if let Some(previous) = &previous_last {
                    prop_assert!(previous < &raw_keys[0], "batches come in key order");
                }
                previous_last = raw_keys.last().cloned();
                all.extend(rows);
            }
            let mut expected: Vec<_> = runs.concat();
            expected.sort();
            all.sort();
            prop_assert_eq!(all, expected);
        }
    }

    #[test]
    fn batches_end_near_the_bound_at_a_key_boundary() {
        let dir = tempfile::tempdir().unwrap();
        let mut spilled = SortedRuns::new(dir.path());
        let rows: Vec<(String, i64)> = (0..1000).map(|i| (format!("station-{i:04}"), i)).collect();
        for run in rows.chunks(300) {
            spilled.spill(&partials(run)).unwrap();
        }
        spilled.spill(&partials(&rows[..10])).unwrap();
        let batches: Vec<Vec<u8>> = spilled.merge(4096).unwrap().map(Result::unwrap).collect();
        assert!(batches.len() > 5, "{} batches", batches.len());
        for batch in &batches {
            let row_bytes = BatchReader::new(batch).unwrap().row_bytes().len();
            assert!(row_bytes < 4096 + 100, "{row_bytes} bytes");
        }
        assert_eq!(batches.iter().map(|b| decoded(b).len()).sum::<usize>(), 1010);
    }
}
