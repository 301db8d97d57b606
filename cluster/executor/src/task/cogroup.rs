//! Co-group steps (joins) in a task: the map side of one input, and the reduce side reading one
//! partition of every input.
//!
//! - **Map side** ([`MapSide`]): each batch goes through the step's `prepare` (which keys it by
//!   the co-group key) and its rows are hash-partitioned by key, held by partition; past the
//!   step's spill threshold they are appended to a [`PartitionedSpill`], and at the end each
//!   partition's block is its spilled rows followed by the ones held.
//! - **Reduce side** ([`Reducer`]): the blocks of every input are held, input by input. If they
//!   fit under the step's spill threshold, they are cut by a second hash of the key into calls of
//!   about a chunk each, every key's rows of every input in the same call. Past the threshold,
//!   each input's rows are spilled as runs sorted by key ([`SortedRuns`]); at the end the runs of
//!   every input are merged in key order side by side, and calls are cut where a key ends, so a
//!   key never spans two calls however large the partition (a skewed key makes one large call).

use super::{
    Checked, Fail, Logged, Pipeline, TaskContext, bad_row, call_failed, check_batch, check_cancelled,
    chunk_size, instantiate,
};
use crate::failure::TaskCause;
use crate::shuffle::partition_of;
use crate::spill::{MergedRuns, PartitionedSpill, SortedRuns, SpillError};
use flicker_batch::{BatchReader, BatchWriter, Boundaries, FrameError, Schema, range_partition};
use flicker_host::{CallError, CoGroupInstance};
use flicker_job::Operator;
use flicker_protocol::task::TaskMetrics;
use xxhash_rust::xxh3::xxh3_64_with_seed;

/// The seed of the hash that cuts a reduce partition into calls: any other than the shuffle's
/// (which is unseeded), or every key of a partition would land in the same call.
const CALL_SEED: u64 = 0x0063_6f67_726f_7570;

/// The most calls a partition held in memory is cut into (however small the chunk size).
const MAX_CALLS: usize = 1024;

/// A co-group step's instance; its failures name the step.
struct Step<'c> {
    step: &'c str,
    op: &'c Operator,
    instance: Logged<'c, CoGroupInstance>,
}

impl<'c> Step<'c> {
    fn new(ctx: &TaskContext<'c>, step: &'c str) -> Result<Self, Fail> {
        let op = ctx.job.operator(step);
        let inputs =
            ctx.job.manifest.steps.iter().find(|s| s.id == step).map_or(1, |s| s.inputs.len() as u32);
        let instance =
            instantiate(ctx, step, op, |plugin, config, sandbox| plugin.cogroup(config, inputs, sandbox))?;
        Ok(Self { step, op, instance })
    }

    fn failed(&self, record: Option<flicker_protocol::failure::BadRecord>, error: CallError) -> Fail {
        call_failed(self.step, self.op, record, error)
    }

    fn spill_failed(&self, error: SpillError) -> Fail {
        TaskCause::Spill { step: self.step.to_owned(), error }
    }

    fn malformed(&self, error: FrameError) -> Fail {
        TaskCause::MalformedBatch { step: self.step.to_owned(), error }
    }

    /// The header of input `input`'s prepared rows when no block named its fields (its stage had
    /// no task, its source no object): `prepare` of no rows of the type the input's step was
    /// checked to output, if it could say.
    fn header_of_nothing(&mut self, ctx: &TaskContext<'_>, input: usize) -> Result<Option<Vec<u8>>, Fail> {
        let manifest = &ctx.job.manifest;
        let step = manifest.steps.iter().find(|s| s.id == self.step);
        let Some(rows) = step.and_then(|s| s.inputs.get(input)).and_then(|id| ctx.job.row_types.get(id))
        else {
            return Ok(None);
        };
        let names =
            |fields: &[flicker_batch::Field]| fields.iter().map(|f| f.name.clone()).collect::<Vec<_>>();
        let empty =
            BatchWriter::new(&Schema { key_fields: names(&rows.key), value_fields: names(&rows.values) })
                .finish();
        let prepared = self.instance.prepare(input as u32, &empty).map_err(|e| self.failed(None, e))?;
        let bytes = check_batch(self.step, prepared)?.bytes;
        let header = BatchReader::new(&bytes).map_err(|e| self.malformed(e))?.header_bytes().to_vec();
        Ok(Some(header))
    }
}

/// The header of a batch without rows or fields: an input whose schema is unknown.
fn no_fields() -> Vec<u8> {
    BatchWriter::new(&Schema::default()).finish()
}

/// The map side of one input of a co-group step (prepared rows, held by partition), or of a
/// gather (the rows of a single-file sink as they are, in one partition).
pub(super) struct MapSide<'c> {
    /// The step or sink the rows are for, which failures name.
    name: &'c str,
    /// The co-group step and which of its inputs the rows are; none for a gather or a range.
    prepare: Option<(Step<'c>, u32)>,
    /// For the map side of a sort: its order and the boundaries its rows are cut at (by hash of
    /// their key otherwise).
    range: Option<(super::sort::Order<'c>, Boundaries)>,
    partitions: u32,
    /// The header of the prepared batches, once one came.
    header: Option<Vec<u8>>,
    /// The rows held, one batch per partition.
    held: Vec<BatchWriter>,
    held_bytes: u64,
    threshold: u64,
    spill: PartitionedSpill,
}

impl<'c> MapSide<'c> {
    /// The map side of input `input` of co-group step `step`.
    pub(super) fn cogroup(
        ctx: &TaskContext<'c>,
        step: &'c str,
        input: u32,
        partitions: u32,
    ) -> Result<Self, Fail> {
        let prepare = Step::new(ctx, step)?;
        let threshold = prepare.op.limits.spill_threshold();
        Ok(Self::new(ctx, step, Some((prepare, input)), partitions, threshold))
    }

    /// The rows of single-file sink `sink`, gathered under its memory limit's spill threshold.
    pub(super) fn gather(ctx: &TaskContext<'c>, sink: &'c str) -> Self {
        let threshold = ctx.job.operator(sink).limits.spill_threshold();
        Self::new(ctx, sink, None, 1, threshold)
    }

    /// The map side of sort step `step`: rows cut into `partitions` ranges at `boundaries`
    /// (fewer splits than ranges).
    pub(super) fn range(
        ctx: &TaskContext<'c>,
        step: &'c str,
        partitions: u32,
        boundaries: Boundaries,
    ) -> Result<Self, Fail> {
        let threshold = ctx.job.operator(step).limits.spill_threshold();
        let mut side = Self::new(ctx, step, None, partitions, threshold);
        side.range = Some((super::sort::Order::of(ctx, step)?, boundaries));
        Ok(side)
    }

    fn new(
        ctx: &TaskContext<'c>,
        name: &'c str,
        prepare: Option<(Step<'c>, u32)>,
        partitions: u32,
        threshold: u64,
    ) -> Self {
        Self {
            name,
            prepare,
            range: None,
            partitions: partitions.max(1),
            header: None,
            held: Vec::new(),
            held_bytes: 0,
            threshold,
            spill: PartitionedSpill::new(ctx.spill_dir, partitions),
        }
    }

    fn malformed(&self, error: FrameError) -> Fail {
        TaskCause::MalformedBatch { step: self.name.to_owned(), error }
    }

    fn spill_failed(&self, error: SpillError) -> Fail {
        TaskCause::Spill { step: self.name.to_owned(), error }
    }

    /// Prepares `batch` (for a co-group) and holds its rows by partition.
    pub(super) fn push(&mut self, batch: Vec<u8>, metrics: &mut TaskMetrics) -> Result<(), Fail> {
        let prepared = match &mut self.prepare {
            Some((step, input)) => {
                let prepared = step.instance.prepare(*input, &batch).map_err(|e| {
                    let record = bad_row(&e, &batch);
                    call_failed(step.step, step.op, record, e)
                })?;
                check_batch(step.step, prepared)?.bytes
            }
            None => batch,
        };
        let reader = BatchReader::new(&prepared).map_err(|e| self.malformed(e))?;
        match &self.header {
            Some(header) if header.as_slice() == reader.header_bytes() => {}
            Some(header) => {
                let changed = SpillError::SchemaChanged {
                    before: crate::spill::columns(header),
                    after: crate::spill::columns(reader.header_bytes()),
                };
                return Err(self.spill_failed(changed));
            }
            None => {
                self.header = Some(reader.header_bytes().to_vec());
                self.held =
                    (0..self.partitions).map(|_| BatchWriter::with_header(reader.header_bytes())).collect();
            }
        }
        match &mut self.range {
            Some((order, boundaries)) => {
                let bound = order.bind(&reader)?;
                let ranges = range_partition(&prepared, bound, boundaries).map_err(|e| order.malformed(e))?;
                for (held, range) in self.held.iter_mut().zip(ranges) {
                    let rows = BatchReader::new(&range).map_err(|e| order.malformed(e))?;
                    held.extend_framed(rows.row_bytes());
                    self.held_bytes += rows.row_bytes().len() as u64;
                }
            }
            None => {
                for row in reader.rows() {
                    let row = row.map_err(|e| self.malformed(e))?;
                    let partition =
                        if self.partitions == 1 { 0 } else { partition_of(row.key, self.partitions) };
                    self.held[partition as usize].extend_framed(row.framed);
                    self.held_bytes += row.framed.len() as u64;
                }
            }
        }
        if self.held_bytes > self.threshold {
            let header = self.header.as_deref().unwrap_or_default();
            let held = std::mem::replace(
                &mut self.held,
                (0..self.partitions).map(|_| BatchWriter::with_header(header)).collect(),
            );
            let blocks: Vec<Vec<u8>> = held.into_iter().map(BatchWriter::finish).collect();
            metrics.spill_bytes += self.spill.append(&blocks).map_err(|e| self.spill_failed(e))?;
            metrics.combine_flushes += 1;
            self.held_bytes = 0;
        }
        Ok(())
    }

    /// Whether no batch came yet (the task must push one without rows, so that its map output
    /// carries the input's fields).
    pub(super) fn saw_nothing(&self) -> bool {
        self.header.is_none()
    }

    /// The block of each partition, in order, made one at a time.
    pub(super) fn blocks(mut self) -> impl Iterator<Item = Result<Vec<u8>, Fail>> + 'c {
        let mut held = std::mem::take(&mut self.held).into_iter();
        (0..self.partitions).map(move |partition| {
            let last = held.next().map_or_else(no_fields, BatchWriter::finish);
            self.spill.block(partition, last).map_err(|e| self.spill_failed(e))
        })
    }
}

/// Hands a gathered partition's rows to `pipeline`, in pieces of at most a chunk of row bytes;
/// when there are none, a batch without rows, so that the one part still names the fields.
pub(super) fn push_gathered(
    ctx: &TaskContext<'_>,
    sink: &str,
    blocks: &mut dyn super::BlockSource,
    pipeline: &mut Pipeline<'_>,
) -> Result<(), Fail> {
    let malformed = |error| TaskCause::MalformedBatch { step: sink.to_owned(), error };
    let mut header = None;
    let mut pushed = false;
    while let Some(block) = blocks.next_block() {
        let block = block?;
        check_cancelled(ctx)?;
        pipeline.metrics.shuffle_bytes += block.len() as u64;
        let reader = BatchReader::new(&block).map_err(malformed)?;
        if reader.row_bytes().is_empty() {
            header.get_or_insert_with(|| reader.header_bytes().to_vec());
            continue;
        }
        for piece in reader.pieces(chunk_size(ctx)) {
            // Rows the gathering tasks checked already (and the BTS checksummed): counted only.
            let bytes = piece.map_err(malformed)?;
            let rows = BatchReader::new(&bytes).map_err(malformed)?.rows().count() as u64;
            pipeline.push(Checked { bytes, rows })?;
            pushed = true;
        }
        blocks.give_back(block);
    }
    match header {
        Some(bytes) if !pushed => pipeline.push(Checked { bytes, rows: 0 }),
        _ => Ok(()),
    }
}

/// A co-group step run narrow, in the stage of its streamed input (a broadcast join): the kept
/// input's rows, fetched whole, go to `keep` (a chunk at a time) before the first batch; each
/// batch of the stage then goes through `prepare` and `cogroup` with an empty batch in the kept
/// input's place.
pub(super) struct Broadcast<'c> {
    step: Step<'c>,
    kept: u32,
    inputs: usize,
}

impl<'c> Broadcast<'c> {
    /// Step `step` with input `kept` read whole from `blocks` (counted in `metrics`).
    pub(super) fn new(
        ctx: &TaskContext<'c>,
        step: &'c str,
        kept: u32,
        blocks: &mut dyn super::BlockSource,
        metrics: &mut TaskMetrics,
    ) -> Result<Self, Fail> {
        let mut step = Step::new(ctx, step)?;
        let inputs = ctx.job.manifest.steps.iter().find(|s| s.id == step.step).map_or(2, |s| s.inputs.len());
        // The header of a block without rows, kept for an input with no row at all (one that
        // names fields rather than a map task's that saw nothing).
        let mut header: Option<Vec<u8>> = None;
        let mut kept_any = false;
        super::each_block(ctx, blocks, metrics, |block, _| {
            let reader = BatchReader::new(block).map_err(|e| step.malformed(e))?;
            if reader.row_bytes().is_empty() {
                if header.is_none() && reader.header_bytes() != no_fields() {
                    header = Some(reader.header_bytes().to_vec());
                }
                return Ok(());
            }
            for piece in reader.pieces(chunk_size(ctx)) {
                let piece = piece.map_err(|e| step.malformed(e))?;
                step.instance.keep(kept, &piece).map_err(|e| step.failed(None, e))?;
                kept_any = true;
            }
            Ok(())
        })?;
        if !kept_any {
            // No row to keep: `keep` of none still tells the operator the input's fields.
            let header = match header {
                Some(header) => Some(header),
                None => step.header_of_nothing(ctx, kept as usize)?,
            };
            if let Some(header) = header {
                step.instance.keep(kept, &header).map_err(|e| step.failed(None, e))?;
            }
        }
        Ok(Self { step, kept, inputs })
    }

    /// The step's output for `batch` of its streamed input.
    pub(super) fn apply(&mut self, batch: &[u8]) -> Result<Checked, Fail> {
        let streamed = if self.kept == 0 { 1 } else { 0 };
        let prepared = self.step.instance.prepare(streamed, batch).map_err(|e| {
            let record = bad_row(&e, batch);
            self.step.failed(record, e)
        })?;
        let prepared = check_batch(self.step.step, prepared)?.bytes;
        let mut inputs = vec![no_fields(); self.inputs];
        inputs[streamed as usize] = prepared;
        let output = self.step.instance.cogroup(&inputs).map_err(|e| self.step.failed(None, e))?;
        check_batch(self.step.step, output)
    }
}

/// A batch of the rows of one key, and that key.
type KeyRows = (Vec<u8>, Vec<u8>);

/// The next batch of one key of an input's merged runs, with that key.
fn next_key(step: &Step<'_>, runs: &mut MergedRuns) -> Result<Option<KeyRows>, Fail> {
    let Some(batch) = runs.next().transpose().map_err(|e| step.spill_failed(e))? else { return Ok(None) };
    let reader = BatchReader::new(&batch).map_err(|e| step.malformed(e))?;
    let first = reader.rows().next().transpose().map_err(|e| step.malformed(e))?;
    let key = first.map(|row| row.key.to_vec()).unwrap_or_default();
    Ok(Some((key, batch)))
}

/// One input's rows on the reduce side: held in memory, or spilled in sorted runs.
struct Side {
    header: Option<Vec<u8>>,
    /// Framed rows held.
    rows: Vec<u8>,
    runs: SortedRuns,
}

impl Side {
    fn header(&self) -> Vec<u8> {
        self.header.clone().unwrap_or_else(no_fields)
    }

    /// The rows held, as a batch.
    fn batch(&self) -> Vec<u8> {
        let mut batch = self.header();
        batch.extend_from_slice(&self.rows);
        batch
    }
}

/// The reduce side of a co-group step: one partition of every input, co-grouped.
pub(super) struct Reducer<'c> {
    step: Step<'c>,
    sides: Vec<Side>,
    held_bytes: u64,
    threshold: u64,
    /// The row bytes of one call, about.
    max_call: usize,
    spilled: bool,
}

impl<'c> Reducer<'c> {
    pub(super) fn new(ctx: &TaskContext<'c>, step: &'c str, inputs: usize) -> Result<Self, Fail> {
        let step = Step::new(ctx, step)?;
        let threshold = step.op.limits.spill_threshold();
        let sides = (0..inputs)
            .map(|_| Side { header: None, rows: Vec::new(), runs: SortedRuns::new(ctx.spill_dir) })
            .collect();
        Ok(Self { step, sides, held_bytes: 0, threshold, max_call: chunk_size(ctx), spilled: false })
    }

    /// Holds the rows of a block of input `input`; spills every input's rows once they pass the
    /// step's spill threshold.
    pub(super) fn add(&mut self, input: usize, block: &[u8], metrics: &mut TaskMetrics) -> Result<(), Fail> {
        let reader = BatchReader::new(block).map_err(|e| self.step.malformed(e))?;
        let side = &mut self.sides[input];
        let held_nothing = side.rows.is_empty() && side.runs.is_empty();
        match &side.header {
            Some(header) if header.as_slice() == reader.header_bytes() => {}
            // A map output without rows says nothing the others do not.
            Some(_) if reader.row_bytes().is_empty() => return Ok(()),
            Some(header) if !held_nothing => {
                let changed = SpillError::SchemaChanged {
                    before: crate::spill::columns(header),
                    after: crate::spill::columns(reader.header_bytes()),
                };
                return Err(self.step.spill_failed(changed));
            }
            _ => side.header = Some(reader.header_bytes().to_vec()),
        }
        side.rows.extend_from_slice(reader.row_bytes());
        self.held_bytes += reader.row_bytes().len() as u64;
        if self.held_bytes > self.threshold {
            self.spill(metrics)?;
        }
        Ok(())
    }

    /// Writes every input's rows held as one more sorted run of that input.
    fn spill(&mut self, metrics: &mut TaskMetrics) -> Result<(), Fail> {
        for side in &mut self.sides {
            if side.rows.is_empty() {
                continue;
            }
            metrics.spill_bytes += side.runs.spill(&side.batch()).map_err(|e| self.step.spill_failed(e))?;
            metrics.spilled_runs += 1;
            side.rows = Vec::new();
        }
        self.held_bytes = 0;
        self.spilled = true;
        Ok(())
    }

    /// Co-groups what was held, a call at a time, and hands the output rows to `pipeline`.
    pub(super) fn finish(mut self, ctx: &TaskContext<'_>, pipeline: &mut Pipeline<'_>) -> Result<(), Fail> {
        for input in 0..self.sides.len() {
            if self.sides[input].header.is_none() {
                self.sides[input].header = self.step.header_of_nothing(ctx, input)?;
            }
        }
        if self.spilled {
            self.spill(&mut pipeline.metrics)?;
            return self.merge_runs(ctx, pipeline);
        }
        let calls = (self.held_bytes as usize).div_ceil(self.max_call).clamp(1, MAX_CALLS);
        if calls == 1 {
            let inputs: Vec<Vec<u8>> = self.sides.iter().map(Side::batch).collect();
            return self.call(ctx, pipeline, &inputs);
        }
        // Every input cut alike by a hash of the key: a key's rows of every input in one call.
        let mut cut: Vec<Vec<BatchWriter>> = self
            .sides
            .iter()
            .map(|side| (0..calls).map(|_| BatchWriter::with_header(&side.header())).collect())
            .collect();
        for (side, writers) in self.sides.iter().zip(&mut cut) {
            for row in flicker_batch::Rows::of_framed(&side.rows) {
                let row = row.map_err(|e| self.step.malformed(e))?;
                let call = xxh3_64_with_seed(row.key, CALL_SEED) % calls as u64;
                writers[call as usize].extend_framed(row.framed);
            }
        }
        let mut cut: Vec<std::vec::IntoIter<BatchWriter>> = cut.into_iter().map(Vec::into_iter).collect();
        for _ in 0..calls {
            let inputs: Vec<Vec<u8>> = cut
                .iter_mut()
                .map(|writers| writers.next().map_or_else(no_fields, BatchWriter::finish))
                .collect();
            self.call(ctx, pipeline, &inputs)?;
        }
        Ok(())
    }

    /// Merges every input's sorted runs in key order, side by side, into calls cut where a key
    /// ends.
    fn merge_runs(&mut self, ctx: &TaskContext<'_>, pipeline: &mut Pipeline<'_>) -> Result<(), Fail> {
        let headers: Vec<Vec<u8>> = self.sides.iter().map(Side::header).collect();
        // Each input's runs merged into batches of one key each, the next of each at hand with
        // its key.
        let mut merged = Vec::with_capacity(self.sides.len());
        for side in &mut self.sides {
            merged.push(side.runs.merge(1).map_err(|e| self.step.spill_failed(e))?);
        }
        let mut heads =
            merged.iter_mut().map(|runs| next_key(&self.step, runs)).collect::<Result<Vec<_>, _>>()?;
        let mut call: Vec<BatchWriter> = headers.iter().map(|h| BatchWriter::with_header(h)).collect();
        let mut call_bytes = 0;
        while let Some(smallest) = heads.iter().flatten().map(|(key, _)| key).min().cloned() {
            for input in 0..heads.len() {
                let Some((key, batch)) = &heads[input] else { continue };
                if *key != smallest {
                    continue;
                }
                let rows = BatchReader::new(batch).map_err(|e| self.step.malformed(e))?.row_bytes();
                call[input].extend_framed(rows);
                call_bytes += rows.len();
                heads[input] = next_key(&self.step, &mut merged[input])?;
            }
            if call_bytes >= self.max_call {
                let full = std::mem::replace(
                    &mut call,
                    headers.iter().map(|h| BatchWriter::with_header(h)).collect(),
                );
                self.call(ctx, pipeline, &full.into_iter().map(BatchWriter::finish).collect::<Vec<_>>())?;
                call_bytes = 0;
            }
        }
        if call_bytes > 0 {
            self.call(ctx, pipeline, &call.into_iter().map(BatchWriter::finish).collect::<Vec<_>>())?;
        }
        Ok(())
    }

    /// One `cogroup` call; its output goes to `pipeline`.
    fn call(
        &mut self,
        ctx: &TaskContext<'_>,
        pipeline: &mut Pipeline<'_>,
        inputs: &[Vec<u8>],
    ) -> Result<(), Fail> {
        check_cancelled(ctx)?;
        let output = self.step.instance.cogroup(inputs).map_err(|e| self.step.failed(None, e))?;
        pipeline.push(check_batch(self.step.step, output)?)
    }
}
