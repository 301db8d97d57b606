//! Global sorts (`std:sort`) in a task, planned like Spark's `sortByKey` in three stages:
//!
//! - **Sample** ([`Sampler`]): a first pass over the sort's input draws a uniform sample of the
//!   rows' sort keys (a reservoir of at most [`MAX_SAMPLE_KEYS`]), reported to the scheduler with
//!   the number of rows it stands for; the scheduler chooses the range boundaries from all of
//!   them, once.
//! - **Range** (a [`MapSide`](super::cogroup::MapSide) cutting by range): a second pass cuts the
//!   rows at those boundaries, one block per range.
//! - **Sorted** ([`Sorter`]): a task per range sorts its rows: in memory under the step's spill
//!   threshold; past it, as runs sorted by key on disk ([`SortedRuns`], each row carried with its
//!   encoded sort key) merged at the end. Range `n`'s task writes part `n`, so the parts in order
//!   are the whole input sorted.

use super::{Checked, Fail, Pipeline, TaskContext, check_cancelled, chunk_size};
use crate::failure::TaskCause;
use crate::spill::{SortedRuns, SpillError};
use flicker_batch::{BatchReader, BatchWriter, BoundOrder, FrameError, Schema, SortOrder, sort_batch};
use flicker_protocol::task::{MAX_SAMPLE_KEY, MAX_SAMPLE_KEYS, TaskMetrics, TaskOutput};

/// The seed of a sample's reservoir: any fixed one, so that a task samples alike every time.
const SAMPLE_SEED: u64 = 0x736f_7274;

/// The order of sort step `step`, bound to the schema of the batches at hand (bound again when
/// their header changes).
pub(super) struct Order<'c> {
    step: &'c str,
    order: SortOrder,
    bound: Option<(Vec<u8>, BoundOrder)>,
}

impl<'c> Order<'c> {
    /// The order of `step`'s `by` (checked when the job was prepared).
    pub(super) fn of(ctx: &TaskContext<'c>, step: &'c str) -> Result<Self, Fail> {
        let by = ctx.job.operator(step).config.iter().find(|(key, _)| key == "by").map(|(_, v)| v.as_str());
        let order = SortOrder::parse(by.unwrap_or_default())
            .map_err(|error| TaskCause::Sort { step: step.to_owned(), error })?;
        Ok(Self { step, order, bound: None })
    }

    /// The order bound to the fields of `reader`'s batch.
    pub(super) fn bind(&mut self, reader: &BatchReader<'_>) -> Result<&BoundOrder, Fail> {
        let header = reader.header_bytes();
        let bound = match self.bound.take() {
            Some((bound_to, bound)) if bound_to.as_slice() == header => (bound_to, bound),
            _ => {
                let bound = self
                    .order
                    .bind(reader.schema())
                    .map_err(|error| TaskCause::Sort { step: self.step.to_owned(), error })?;
                (header.to_vec(), bound)
            }
        };
        Ok(&self.bound.insert(bound).1)
    }

    pub(super) fn malformed(&self, error: FrameError) -> Fail {
        TaskCause::MalformedBatch { step: self.step.to_owned(), error }
    }

    fn spill_failed(&self, error: SpillError) -> Fail {
        TaskCause::Spill { step: self.step.to_owned(), error }
    }
}

/// The first pass of a sort: a uniform sample of the sort keys of a task's rows (Algorithm R,
/// seeded, so an attempt samples what the one before did from rows in the same order).
pub(super) struct Sampler<'c> {
    order: Order<'c>,
    keys: Vec<Vec<u8>>,
    rows: u64,
    rng: fastrand::Rng,
}

impl<'c> Sampler<'c> {
    /// A sampler for sort step `step`.
    pub(super) fn new(ctx: &TaskContext<'c>, step: &'c str) -> Result<Self, Fail> {
        Ok(Self {
            order: Order::of(ctx, step)?,
            keys: Vec::new(),
            rows: 0,
            rng: fastrand::Rng::with_seed(SAMPLE_SEED),
        })
    }

    /// Draws from the rows of `batch`; only a drawn row's key is made.
    pub(super) fn push(&mut self, batch: &[u8]) -> Result<(), Fail> {
        let reader = BatchReader::new(batch).map_err(|e| self.order.malformed(e))?;
        for row in reader.rows() {
            let row = row.map_err(|e| self.order.malformed(e))?;
            let seen = self.rows;
            self.rows += 1;
            let slot = match usize::try_from(seen) {
                Ok(seen) if seen < MAX_SAMPLE_KEYS => seen,
                _ => match usize::try_from(self.rng.u64(0..=seen)) {
                    Ok(slot) if slot < MAX_SAMPLE_KEYS => slot,
                    _ => continue,
                },
            };
            let order = self.order.bind(&reader)?;
            let key = order.sort_key(&row).map_err(|e| self.order.malformed(e))?;
            // A prefix of a key splits ranges in order too.
            let key = key.as_bytes()[..key.as_bytes().len().min(MAX_SAMPLE_KEY)].to_vec();
            match self.keys.get_mut(slot) {
                Some(held) => *held = key,
                None => self.keys.push(key),
            }
        }
        Ok(())
    }

    /// What the task reports.
    pub(super) fn finish(self) -> TaskOutput {
        TaskOutput::Sample { keys: self.keys, rows: self.rows }
    }
}

/// The header of the batches of keyed rows a sort spills: no fields (each row's key is its
/// encoded sort key, its value the framed row).
fn wrapped_header() -> Vec<u8> {
    BatchWriter::new(&Schema::default()).finish()
}

/// The reduce side of a sort: one range's rows, sorted.
pub(super) struct Sorter<'c> {
    order: Order<'c>,
    header: Option<Vec<u8>>,
    /// Framed rows held.
    rows: Vec<u8>,
    threshold: u64,
    runs: SortedRuns,
    max_call: usize,
}

impl<'c> Sorter<'c> {
    /// The sorter of a range of sort step `step`.
    pub(super) fn new(ctx: &TaskContext<'c>, step: &'c str) -> Result<Self, Fail> {
        Ok(Self {
            order: Order::of(ctx, step)?,
            header: None,
            rows: Vec::new(),
            threshold: ctx.job.operator(step).limits.spill_threshold(),
            runs: SortedRuns::new(ctx.spill_dir),
            max_call: chunk_size(ctx),
        })
    }

    /// Holds the rows of a block of the range; spills them as a sorted run past the threshold.
    pub(super) fn add(&mut self, block: &[u8], metrics: &mut TaskMetrics) -> Result<(), Fail> {
        let reader = BatchReader::new(block).map_err(|e| self.order.malformed(e))?;
        match &self.header {
            Some(header) if header.as_slice() == reader.header_bytes() => {}
            // A map output without rows says nothing the others do not.
            _ if reader.row_bytes().is_empty() && self.header.is_some() => return Ok(()),
            Some(header) if !(self.rows.is_empty() && self.runs.is_empty()) => {
                let changed = SpillError::SchemaChanged {
                    before: crate::spill::columns(header),
                    after: crate::spill::columns(reader.header_bytes()),
                };
                return Err(self.order.spill_failed(changed));
            }
            _ => self.header = Some(reader.header_bytes().to_vec()),
        }
        self.rows.extend_from_slice(reader.row_bytes());
        if self.rows.len() as u64 > self.threshold {
            self.spill(metrics)?;
        }
        Ok(())
    }

    /// Writes the rows held as one more run, each row keyed by its sort key.
    fn spill(&mut self, metrics: &mut TaskMetrics) -> Result<(), Fail> {
        let Some(header) = &self.header else { return Ok(()) };
        let mut batch = header.clone();
        batch.extend_from_slice(&self.rows);
        let reader = BatchReader::new(&batch).map_err(|e| self.order.malformed(e))?;
        let mut wrapped = BatchWriter::with_header(&wrapped_header());
        wrapped.reserve(self.rows.len() * 2);
        for row in reader.rows() {
            let row = row.map_err(|e| self.order.malformed(e))?;
            let key = self.order.bind(&reader)?.sort_key(&row).map_err(|e| self.order.malformed(e))?;
            wrapped.push_raw(key.as_bytes(), row.framed);
        }
        metrics.spill_bytes += self.runs.spill(&wrapped.finish()).map_err(|e| self.order.spill_failed(e))?;
        metrics.spilled_runs += 1;
        self.rows = Vec::new();
        Ok(())
    }

    /// Hands the range's rows, sorted, to `pipeline` in pieces of about a chunk; a batch without
    /// rows when there are none but their fields are known, so that the range's part names them.
    pub(super) fn finish(mut self, ctx: &TaskContext<'_>, pipeline: &mut Pipeline<'_>) -> Result<(), Fail> {
        let Some(header) = self.header.clone() else { return Ok(()) };
        if self.runs.is_empty() {
            let mut batch = header;
            batch.extend_from_slice(&std::mem::take(&mut self.rows));
            let order = self.order.bind(&BatchReader::new(&batch).map_err(|e| self.order.malformed(e))?)?;
            let sorted = sort_batch(&batch, order).map_err(|e| self.order.malformed(e))?;
            return self.push_pieces(ctx, pipeline, &sorted);
        }
        self.spill(&mut pipeline.metrics)?;
        let merged = self.runs.merge(self.max_call).map_err(|e| self.order.spill_failed(e))?;
        for wrapped in merged {
            check_cancelled(ctx)?;
            let wrapped = wrapped.map_err(|e| self.order.spill_failed(e))?;
            let reader = BatchReader::new(&wrapped).map_err(|e| self.order.malformed(e))?;
            let mut batch = BatchWriter::with_header(&header);
            let mut rows = 0;
            for row in reader.rows() {
                batch.extend_framed(row.map_err(|e| self.order.malformed(e))?.value);
                rows += 1;
            }
            pipeline.push(Checked { bytes: batch.finish(), rows })?;
        }
        Ok(())
    }

    /// Pushes `sorted` in pieces of about a chunk (the batch itself if it has no rows).
    fn push_pieces(
        &self,
        ctx: &TaskContext<'_>,
        pipeline: &mut Pipeline<'_>,
        sorted: &[u8],
    ) -> Result<(), Fail> {
        let reader = BatchReader::new(sorted).map_err(|e| self.order.malformed(e))?;
        if reader.row_bytes().is_empty() {
            return pipeline.push(Checked { bytes: sorted.to_vec(), rows: 0 });
        }
        for piece in reader.pieces(self.max_call) {
            check_cancelled(ctx)?;
            // Rows the map tasks checked already (and the BTS checksummed): counted only.
            let bytes = piece.map_err(|e| self.order.malformed(e))?;
            let rows = BatchReader::new(&bytes).map_err(|e| self.order.malformed(e))?.rows().count() as u64;
            pipeline.push(Checked { bytes, rows })?;
        }
        Ok(())
    }
}
