//! Map side: partials flushed early, kept on disk by partition until the map output is written.

use super::{Header, SpillError, io_error, spilled};
use flicker_batch::BatchReader;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// The rows of a map task's flushed partials, by partition, in one spill file.
#[derive(Debug)]
pub(crate) struct PartitionedSpill {
    dir: PathBuf,
    file: Option<BufWriter<File>>,
    header: Header,
    /// Per partition, where its rows lie in the file (offset, length), in flush order.
    segments: Vec<Vec<(u64, u64)>>,
    written: u64,
}

impl PartitionedSpill {
    /// An empty spill for `partitions` partitions, whose file will be created in `dir`.
    pub fn new(dir: &Path, partitions: u32) -> Self {
        Self {
            dir: dir.to_owned(),
            file: None,
            header: Header::default(),
            segments: vec![Vec::new(); partitions.max(1) as usize],
            written: 0,
        }
    }

    /// Appends the rows of `blocks`, one partials batch per partition (as `partition_batch`
    /// makes them); returns the bytes written.
    pub fn append(&mut self, blocks: &[Vec<u8>]) -> Result<u64, SpillError> {
        let before = self.written;
        for (segments, block) in self.segments.iter_mut().zip(blocks) {
            let batch = BatchReader::new(block)?;
            self.header.check(batch.header_bytes())?;
            let rows = batch.row_bytes();
            if rows.is_empty() {
                continue;
            }
            let file = match &mut self.file {
                Some(file) => file,
                None => {
                    let file = tempfile::tempfile_in(&self.dir).map_err(io_error(&self.dir))?;
                    self.file.insert(BufWriter::with_capacity(1 << 20, file))
                }
            };
            file.write_all(rows).map_err(io_error(&self.dir))?;
            segments.push((self.written, rows.len() as u64));
            self.written += rows.len() as u64;
        }
        Ok(spilled(self.written - before))
    }

    /// The block of `partition`: `last` (the task's last partials of that partition, a batch of
    /// the same schema) with the partition's spilled rows before its rows; `last` itself when
    /// nothing of the partition was spilled.
    pub fn block(&mut self, partition: u32, last: Vec<u8>) -> Result<Vec<u8>, SpillError> {
        let segments = &self.segments[partition as usize];
        if segments.is_empty() {
            return Ok(last);
        }
        let batch = BatchReader::new(&last)?;
        self.header.check(batch.header_bytes())?;
        let spilled: u64 = segments.iter().map(|(_, len)| len).sum();
        let mut block = Vec::with_capacity(last.len() + spilled as usize);
        block.extend_from_slice(batch.header_bytes());
        // What was appended is read back through the file: flush what is still buffered.
        if let Some(file) = &mut self.file {
            file.flush().map_err(io_error(&self.dir))?;
        }
        let file = self.file.as_ref().map(BufWriter::get_ref);
        for &(offset, len) in segments {
            let start = block.len();
            block.resize(start + len as usize, 0);
            file.ok_or(SpillError::Truncated { dir: self.dir.clone() })?
                .read_exact_at(&mut block[start..], offset)
                .map_err(io_error(&self.dir))?;
        }
        block.extend_from_slice(batch.row_bytes());
        Ok(block)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shuffle::partition_batch;
    use flicker_batch::{BatchWriter, Schema, ValueRef};

    fn partials(keys: std::ops::Range<i64>, value: i64) -> Vec<u8> {
        let mut batch = BatchWriter::new(&Schema::keyed(["k"], ["max"]));
        for key in keys {
            batch.push_values([ValueRef::I64(key)], [ValueRef::I64(value)]);
        }
        batch.finish()
    }

    fn rows_of(batch: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
        BatchReader::new(batch)
            .unwrap()
            .rows()
            .map(|r| r.unwrap())
            .map(|r| (r.key.to_vec(), r.value.to_vec()))
            .collect()
    }

    #[test]
    fn every_partition_gets_its_spilled_rows_then_its_last_ones() {
        let dir = tempfile::tempdir().unwrap();
        let mut spill = PartitionedSpill::new(dir.path(), 3);
        let flushes = [partials(0..50, 1), partials(25..80, 2)];
        for flush in &flushes {
            let rows = BatchReader::new(flush).unwrap().row_bytes().len() as u64;
            assert_eq!(spill.append(&partition_batch(flush, 3).unwrap()).unwrap(), rows);
        }
        let last = partition_batch(&partials(70..100, 3), 3).unwrap();
        let mut all = Vec::new();
        for partition in 0..3u32 {
            let block = spill.block(partition, last[partition as usize].clone()).unwrap();
            let expected: Vec<_> = flushes
                .iter()
                .map(|f| partition_batch(f, 3).unwrap().swap_remove(partition as usize))
                .chain([last[partition as usize].clone()])
                .flat_map(|b| rows_of(&b))
                .collect();
            assert_eq!(rows_of(&block), expected, "partition {partition}");
            all.extend(rows_of(&block));
        }
        assert_eq!(all.len(), 50 + 55 + 30);
    }

    #[test]
    fn a_partition_without_spilled_rows_is_its_last_block() {
        let dir = tempfile::tempdir().unwrap();
        let mut spill = PartitionedSpill::new(dir.path(), 2);
        let last = partials(0..3, 1);
        assert_eq!(spill.block(1, last.clone()).unwrap(), last);
    }

    #[test]
    fn partials_that_change_columns_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut spill = PartitionedSpill::new(dir.path(), 1);
        spill.append(&[partials(0..2, 1)]).unwrap();
        let mut other = BatchWriter::new(&Schema::keyed(["k"], ["min"]));
        other.push_values([ValueRef::I64(1)], [ValueRef::I64(1)]);
        assert!(matches!(spill.append(&[other.finish()]), Err(SpillError::SchemaChanged { .. })));
    }
}
