//! One task: read its input, push batches through the stage's fused operators, write its output.

mod cogroup;
mod sort;

use crate::failure::{TaskCause, TaskError};
use crate::shuffle::partition_batch;
use crate::spill::{PartitionedSpill, SortedRuns, SpillError, StateBudget};
use flicker_batch::BatchReader;
use flicker_host::{
    AggregateInstance, CallError, CpuAccount, FormatInstance, Instance, MapInstance, OperatorError,
    OperatorOutput, Sandbox,
};
use flicker_job::{Operator, PreparedJob};
use flicker_protocol::failure::BadRecord;
use flicker_protocol::task::{OperatorLog, TaskMetrics, TaskOutput};
use flicker_protocol::text::{MAX_OPERATOR_TEXT, bounded};
use flicker_protocol::{AttemptId, TaskIndex};
use flicker_scheduler_core::{StageId, StageInput, StageOutput, StagePlan};
use flicker_storage::{Chunk, Location, OutputCommitter, PartWriter, Split, SplitReader, line_number_at};
use parking_lot::Mutex;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use tokio::runtime::Handle;

/// Everything a task needs from the job and the process.
pub(crate) struct TaskContext<'a> {
    pub job: &'a PreparedJob,
    pub io: &'a Handle,
    /// Where map output goes: the node's BTS.
    pub map_outputs: &'a dyn ShuffleOutput,
    /// Names the temporary area of the job's sink parts.
    pub run_id: &'a str,
    /// Which attempt of the task this is: its sink part goes to the attempt's own temporary area.
    pub attempt: AttemptId,
    /// The number of the part a task writing a sink writes.
    pub part: u32,
    /// The range boundaries of a task on the map side of a sort (checked against its stage).
    pub boundaries: Option<&'a flicker_batch::Boundaries>,
    /// Set when the task must stop (its job ended, or the scheduler that launched it is lost):
    /// the task's operators stop within an epoch tick, their `create` too, the task at its next
    /// batch.
    pub cancelled: &'a Arc<AtomicBool>,
    /// What the task's operators' calls cost, and the attempt's CPU budget: past it, the call
    /// running is stopped within an epoch tick and the task fails.
    pub cpu: &'a Arc<CpuAccount>,
    /// Where an aggregate's state is spilled when it passes its memory budget.
    pub spill_dir: &'a Path,
    /// Where the task's operators leave what they wrote and the memory they held, when their
    /// instance goes.
    pub log: &'a TaskLog,
}

/// What the operators of one task attempt wrote to their stdout and stderr, and the memory they
/// held: each instance adds its capture and its peak memory when it is dropped, so a failed
/// task's log is as whole as a finished one's.
#[derive(Default)]
pub(crate) struct TaskLog {
    written: Mutex<Vec<OperatorLog>>,
    /// The sum of the peak memory of the instances that went.
    peak_memory: AtomicU64,
}

impl TaskLog {
    /// Adds what the instance of `step` wrote, if anything, and the memory it held.
    fn add(&self, step: &str, output: OperatorOutput, peak_memory: u64) {
        self.peak_memory.fetch_add(peak_memory, Ordering::Relaxed);
        if output.is_empty() {
            return;
        }
        let entry = OperatorLog {
            step: step.to_owned(),
            stdout: output.stdout.text,
            stderr: output.stderr.text,
            dropped: output.stdout.dropped + output.stderr.dropped,
        };
        self.written.lock().push(entry);
    }

    /// Everything written, in the order the instances went, and the sum of their peak memory.
    pub(crate) fn take(self) -> (Vec<OperatorLog>, u64) {
        (self.written.into_inner(), self.peak_memory.into_inner())
    }
}

/// An operator instance: what its guest wrote can be taken, and the memory it held read.
trait Captures {
    fn output(&self) -> OperatorOutput;
    fn peak_memory(&self) -> u64;
}

impl<W> Captures for Instance<W> {
    fn output(&self) -> OperatorOutput {
        Instance::output(self)
    }

    fn peak_memory(&self) -> u64 {
        Instance::peak_memory(self)
    }
}

/// An operator instance of a task that leaves what it wrote in the task's log when it goes.
struct Logged<'c, I: Captures> {
    step: &'c str,
    instance: I,
    log: &'c TaskLog,
}

impl<I: Captures> std::ops::Deref for Logged<'_, I> {
    type Target = I;
    fn deref(&self) -> &I {
        &self.instance
    }
}

impl<I: Captures> std::ops::DerefMut for Logged<'_, I> {
    fn deref_mut(&mut self) -> &mut I {
        &mut self.instance
    }
}

impl<I: Captures> Drop for Logged<'_, I> {
    fn drop(&mut self) {
        self.log.add(self.step, self.instance.output(), self.instance.peak_memory());
    }
}

/// Stores a map task's shuffle output.
pub(crate) trait ShuffleOutput: Sync {
    /// Stores the blocks (one per partition, in order, made one at a time) of map task `task` of
    /// `stage`; returns the raw bytes of each partition.
    fn write(
        &self,
        stage: StageId,
        task: TaskIndex,
        blocks: &mut dyn Iterator<Item = Result<Vec<u8>, TaskCause>>,
    ) -> Result<Vec<u64>, TaskCause>;
}

/// Hands a reduce task the blocks of its partition, one per map output, in any order.
pub(crate) trait BlockSource {
    /// The next block, `None` when every map output's block was handed out.
    fn next_block(&mut self) -> Option<Result<Vec<u8>, TaskCause>>;
    /// Takes back the block handed out last once it was read, for a later block to be decoded
    /// into.
    fn give_back(&mut self, block: Vec<u8>);
}

/// What a task reads.
pub(crate) enum TaskInput<'a> {
    /// A split of a source.
    Split { location: &'a Location, split: &'a Split },
    /// A partition of a shuffle, block by block.
    Partition { blocks: &'a mut dyn BlockSource },
    /// A partition of each input of a co-group step, block by block, in input order.
    CoPartition { inputs: Vec<&'a mut dyn BlockSource> },
}

/// What a finished task produced.
pub(crate) struct TaskOutcome {
    pub metrics: TaskMetrics,
    pub output: TaskOutput,
}

type Fail = TaskCause;

fn call_failed(step: &str, op: &Operator, record: Option<BadRecord>, error: CallError) -> Fail {
    TaskCause::Operator { step: step.to_owned(), plugin: op.plugin_ref.clone(), record, error }
}

/// An instance of the operator of `step`, made by `create`, whose output goes to `log`.
fn instantiate<'c, I: Captures>(
    ctx: &TaskContext<'c>,
    step: &'c str,
    op: &Operator,
    create: impl FnOnce(&flicker_host::Plugin, &[(String, String)], Sandbox) -> Result<I, flicker_host::HostError>,
) -> Result<Logged<'c, I>, Fail> {
    // A cancel stops the operator's running call, its `create` too, however long its call
    // timeout; so does the task's CPU budget, charged by all its instances.
    let sandbox = Sandbox { limits: op.limits, stop: Some(ctx.cancelled.clone()), cpu: ctx.cpu.clone() };
    let instance = create(&op.plugin, &op.config, sandbox).map_err(|error| TaskCause::Instantiate {
        step: step.to_owned(),
        plugin: op.plugin_ref.clone(),
        error,
    })?;
    Ok(Logged { step, instance, log: ctx.log })
}

/// The row at `index` of `batch`, as text, for error messages.
fn row_text(batch: &[u8], index: u32) -> Option<BadRecord> {
    let row = BatchReader::new(batch).ok()?.rows().nth(index as usize)?.ok()?;
    let values: Vec<String> = row
        .key_values()
        .chain(row.values())
        .map(|v| v.map_or_else(|e| e.to_string(), |v| format!("{v:?}")))
        .collect();
    Some(BadRecord::Row { content: bounded(values.join(", "), MAX_OPERATOR_TEXT) })
}

/// The failing row of `batch`, when the error names one.
fn bad_row(error: &CallError, batch: &[u8]) -> Option<BadRecord> {
    match error {
        CallError::Operator(OperatorError::BadRecord { index, .. }) => row_text(batch, *index),
        _ => None,
    }
}

/// A batch an operator returned, its framing checked once, where it was made, and its rows
/// counted on the way.
struct Checked {
    bytes: Vec<u8>,
    rows: u64,
}

/// The batch `step`'s operator returned, its framing checked (every row's values fit the
/// schema): a malformed batch is the fault of the operator that made it, not of the step that
/// would read it.
fn check_batch(step: &str, bytes: Vec<u8>) -> Result<Checked, Fail> {
    let rows = BatchReader::new(&bytes)
        .and_then(|reader| reader.check())
        .map_err(|error| TaskCause::MalformedBatch { step: step.to_owned(), error })?;
    Ok(Checked { bytes, rows: rows as u64 })
}

/// Where a stage's batches go after its maps.
enum Output<'c> {
    Shuffle {
        aggregate: BudgetedAggregate<'c>,
        partitions: u32,
        /// Whether the batches are partials already (merged rather than updated).
        combined: bool,
        /// Partials flushed early because the aggregate passed its memory budget.
        spill: Box<PartitionedSpill>,
    },
    /// The map side of one input of a co-group step or of a sort, or the rows of a single-file
    /// sink gathered.
    Rows(Box<cogroup::MapSide<'c>>),
    /// A sort's sample of the rows' keys.
    Sample(Box<sort::Sampler<'c>>),
    Sink {
        sink: &'c str,
        op: &'c Operator,
        format: Logged<'c, FormatInstance>,
        part: Box<PartWriter>,
    },
}

/// A narrow step of a stage: a map, or a co-group run as a broadcast join.
enum Narrow<'c> {
    Map(&'c str, &'c Operator, Logged<'c, MapInstance>),
    Broadcast(cogroup::Broadcast<'c>),
}

impl Narrow<'_> {
    fn apply(&mut self, batch: &[u8]) -> Result<Checked, Fail> {
        match self {
            Narrow::Map(step, op, instance) => {
                let mapped = instance.map(batch).map_err(|e| {
                    let record = bad_row(&e, batch);
                    call_failed(step, op, record, e)
                })?;
                check_batch(step, mapped)
            }
            Narrow::Broadcast(join) => join.apply(batch),
        }
    }
}

/// The fused narrow operators of a stage and its output.
struct Pipeline<'c> {
    io: &'c Handle,
    maps: Vec<Narrow<'c>>,
    output: Output<'c>,
    metrics: TaskMetrics,
}

impl<'c> Pipeline<'c> {
    /// The instances of `map_steps` (of `stage`) and of the stage's output; a sink's part is
    /// opened. The broadcast joins among the steps first keep their input, read from `kept` (in
    /// the stage's order).
    fn new(
        ctx: &TaskContext<'c>,
        stage: &'c StagePlan,
        map_steps: &'c [String],
        kept: Vec<&mut dyn BlockSource>,
    ) -> Result<Self, Fail> {
        let job = ctx.job;
        let mut metrics = TaskMetrics::default();
        let mut kept = kept.into_iter();
        let mut maps = Vec::with_capacity(map_steps.len());
        for id in map_steps {
            let op = job.operator(id);
            maps.push(match stage.kept.iter().find(|kept| kept.step == *id) {
                Some(plan) => {
                    let Some(blocks) = kept.next() else {
                        unreachable!("the runner hands a task the kept input of each broadcast join")
                    };
                    Narrow::Broadcast(cogroup::Broadcast::new(ctx, id, plan.input, blocks, &mut metrics)?)
                }
                None => Narrow::Map(id.as_str(), op, instantiate(ctx, id, op, flicker_host::Plugin::map)?),
            });
        }
        let output = &stage.output;
        let output = match output {
            StageOutput::Shuffle { aggregate, partitions, combined } => Output::Shuffle {
                aggregate: BudgetedAggregate::new(ctx, aggregate)?,
                partitions: *partitions,
                combined: *combined,
                spill: Box::new(PartitionedSpill::new(ctx.spill_dir, *partitions)),
            },
            StageOutput::CoGroupInput { step, input, partitions } => {
                Output::Rows(Box::new(cogroup::MapSide::cogroup(ctx, step, *input, *partitions)?))
            }
            StageOutput::Gather { sink } => Output::Rows(Box::new(cogroup::MapSide::gather(ctx, sink))),
            StageOutput::Sample { step } => Output::Sample(Box::new(sort::Sampler::new(ctx, step)?)),
            StageOutput::Range { step, partitions, .. } => {
                let boundaries = ctx.boundaries.cloned().unwrap_or_default();
                Output::Rows(Box::new(cogroup::MapSide::range(ctx, step, *partitions, boundaries)?))
            }
            StageOutput::Sink { sink } => {
                let op = job.operator(sink);
                let format = instantiate(ctx, sink, op, flicker_host::Plugin::format)?;
                let committer = OutputCommitter::new(job.sinks[sink].clone(), ctx.run_id);
                let part = ctx
                    .io
                    .block_on(committer.part_writer(ctx.part, ctx.attempt.0, job.part_extension(sink)))
                    .map_err(|e| TaskCause::Storage(Box::new(e)))?;
                Output::Sink { sink, op, format, part: Box::new(part) }
            }
        };
        Ok(Self { io: ctx.io, maps, output, metrics })
    }

    fn push(&mut self, mut batch: Checked) -> Result<(), Fail> {
        for step in &mut self.maps {
            batch = step.apply(&batch.bytes)?;
        }
        let Checked { bytes: batch, rows } = batch;
        match &mut self.output {
            Output::Shuffle { aggregate, partitions, combined, spill } => {
                if let Some(partials) = aggregate.fold(&batch, *combined)? {
                    // Map-side combine flush: the partials so far go to the shuffle output.
                    let blocks = aggregate.partition(&partials, *partitions)?;
                    drop(partials);
                    self.metrics.spill_bytes +=
                        spill.append(&blocks).map_err(|e| aggregate.spill_failed(e))?;
                    self.metrics.combine_flushes += 1;
                }
                Ok(())
            }
            Output::Rows(side) => side.push(batch, &mut self.metrics),
            Output::Sample(sampler) => sampler.push(&batch),
            Output::Sink { sink, op, format, part } => {
                self.metrics.rows_out += rows;
                let formatted =
                    format.format(&batch).map_err(|e| call_failed(sink, op, bad_row(&e, &batch), e))?;
                self.metrics.bytes_out += formatted.len() as u64;
                self.io.block_on(part.write(formatted.into())).map_err(|e| TaskCause::Storage(Box::new(e)))
            }
        }
    }

    /// Ends the task: shuffle output into the store, or the part into the sink's temporary area.
    fn finish(
        mut self,
        ctx: &TaskContext<'_>,
        stage: &StagePlan,
        task: TaskIndex,
    ) -> Result<TaskOutcome, Fail> {
        let output = match self.output {
            Output::Shuffle { mut aggregate, partitions, mut spill, .. } => {
                let partials = aggregate.partials()?;
                let last = aggregate.partition(&partials, partitions)?;
                drop(partials);
                check_cancelled(ctx)?;
                let step = aggregate.step;
                let mut blocks = (0u32..).zip(last).map(|(partition, last)| {
                    spill
                        .block(partition, last)
                        .map_err(|error| TaskCause::Spill { step: step.to_owned(), error })
                });
                let partition_bytes = ctx.map_outputs.write(stage.id, task, &mut blocks)?;
                self.metrics.shuffle_bytes += partition_bytes.iter().sum::<u64>();
                TaskOutput::MapOutput { partition_bytes }
            }
            Output::Rows(side) => {
                check_cancelled(ctx)?;
                let partition_bytes = ctx.map_outputs.write(stage.id, task, &mut side.blocks())?;
                self.metrics.shuffle_bytes += partition_bytes.iter().sum::<u64>();
                TaskOutput::MapOutput { partition_bytes }
            }
            Output::Sample(sampler) => sampler.finish(),
            Output::Sink { part, .. } => {
                check_cancelled(ctx)?;
                let written = ctx.io.block_on(part.finish()).map_err(|e| TaskCause::Storage(Box::new(e)))?;
                TaskOutput::Part {
                    name: written.part.name,
                    size: written.part.size,
                    attempt: AttemptId(written.attempt),
                }
            }
        };
        Ok(TaskOutcome { metrics: self.metrics, output })
    }
}

/// The kept input of each broadcast join of the stage, in the stage's order ([`StagePlan::kept`]).
pub(crate) type KeptInputs<'a> = Vec<&'a mut dyn BlockSource>;

/// Runs task `task` of `stage` reading `input` (and `kept`).
pub(crate) fn run_task<'c>(
    ctx: &TaskContext<'c>,
    stage: &'c StagePlan,
    task: TaskIndex,
    input: TaskInput<'_>,
    kept: KeptInputs<'_>,
) -> Result<TaskOutcome, TaskError> {
    run(ctx, stage, task, input, kept).map_err(|cause| TaskError { stage: stage.id, task, cause })
}

fn run<'c>(
    ctx: &TaskContext<'c>,
    stage: &'c StagePlan,
    task: TaskIndex,
    input: TaskInput<'_>,
    kept: KeptInputs<'_>,
) -> Result<TaskOutcome, Fail> {
    match (&stage.input, input) {
        (StageInput::Source { .. }, TaskInput::Split { location, split }) => {
            let (parse_step, map_steps) =
                stage.steps.split_first().expect("a source stage starts with a parse step");
            let parse_op = ctx.job.operator(parse_step);
            let mut parser = instantiate(ctx, parse_step, parse_op, flicker_host::Plugin::parse)?;
            let mut pipeline = Pipeline::new(ctx, stage, map_steps, kept)?;
            let mut reader = ctx
                .io
                .block_on(SplitReader::open(location, split, chunk_size(ctx)))
                .map_err(|e| TaskCause::Storage(Box::new(e)))?;
            while let Some(chunk) =
                ctx.io.block_on(reader.next_chunk()).map_err(|e| TaskCause::Storage(Box::new(e)))?
            {
                check_cancelled(ctx)?;
                pipeline.metrics.bytes_in += chunk.bytes.len() as u64;
                let parsed = parser.parse(&chunk.bytes).map_err(|e| {
                    let record = bad_line(ctx, location, split, &chunk, &e);
                    call_failed(parse_step, parse_op, record, e)
                })?;
                let rows = check_batch(parse_step, parsed.rows)?;
                pipeline.metrics.rows_in += u64::from(parsed.records);
                pipeline.metrics.skipped += u64::from(parsed.skipped);
                pipeline.push(rows)?;
            }
            if let Output::Rows(side) = &pipeline.output
                && side.saw_nothing()
            {
                // A split without records still says which fields its rows have: the reduce
                // side of a join needs them to fill in an input with no match. A parser that
                // refuses an empty chunk says nothing (the reduce side then asks the row types).
                if let Ok(parsed) = parser.parse(&[]) {
                    pipeline.push(check_batch(parse_step, parsed.rows)?)?;
                }
            }
            pipeline.finish(ctx, stage, task)
        }
        (StageInput::Shuffle { aggregate, .. }, TaskInput::Partition { blocks }) => {
            let mut reducer = Reducer {
                aggregate: BudgetedAggregate::new(ctx, aggregate)?,
                runs: SortedRuns::new(ctx.spill_dir),
                max_batch: chunk_size(ctx),
                merged_any: false,
            };
            let mut pipeline = Pipeline::new(ctx, stage, &stage.steps, kept)?;
            each_block(ctx, blocks, &mut pipeline.metrics, |block, metrics| {
                reducer.merge_block(block, metrics)
            })?;
            reducer.finish(ctx, &mut pipeline)?;
            pipeline.finish(ctx, stage, task)
        }
        (StageInput::Gathered { .. }, TaskInput::Partition { blocks }) => {
            let StageOutput::Sink { sink } = &stage.output else {
                unreachable!("the planner makes a gathered stage write its sink")
            };
            let mut pipeline = Pipeline::new(ctx, stage, &stage.steps, kept)?;
            cogroup::push_gathered(ctx, sink, blocks, &mut pipeline)?;
            pipeline.finish(ctx, stage, task)
        }
        (StageInput::Sorted { step, .. }, TaskInput::Partition { blocks }) => {
            let mut sorter = sort::Sorter::new(ctx, step)?;
            let mut pipeline = Pipeline::new(ctx, stage, &stage.steps, kept)?;
            each_block(ctx, blocks, &mut pipeline.metrics, |block, metrics| sorter.add(block, metrics))?;
            sorter.finish(ctx, &mut pipeline)?;
            pipeline.finish(ctx, stage, task)
        }
        (StageInput::CoGroup { step, .. }, TaskInput::CoPartition { inputs }) => {
            let mut reducer = cogroup::Reducer::new(ctx, step, inputs.len())?;
            let mut pipeline = Pipeline::new(ctx, stage, &stage.steps, kept)?;
            for (input, blocks) in inputs.into_iter().enumerate() {
                each_block(ctx, blocks, &mut pipeline.metrics, |block, metrics| {
                    reducer.add(input, block, metrics)
                })?;
            }
            reducer.finish(ctx, &mut pipeline)?;
            pipeline.finish(ctx, stage, task)
        }
        _ => unreachable!("the runner hands each stage the input of its kind"),
    }
}

/// Hands every block of `blocks` to `take` with the task's metrics, counting its bytes as
/// shuffled, until the blocks end or the task is cancelled.
fn each_block(
    ctx: &TaskContext<'_>,
    blocks: &mut dyn BlockSource,
    metrics: &mut TaskMetrics,
    mut take: impl FnMut(&[u8], &mut TaskMetrics) -> Result<(), Fail>,
) -> Result<(), Fail> {
    while let Some(block) = blocks.next_block() {
        let block = block?;
        check_cancelled(ctx)?;
        metrics.shuffle_bytes += block.len() as u64;
        take(&block, metrics)?;
        blocks.give_back(block);
    }
    Ok(())
}

/// The bytes of input an operator gets per call: the job's chunk size.
fn chunk_size(ctx: &TaskContext<'_>) -> usize {
    usize::try_from(ctx.job.defaults.chunk_size).unwrap_or(usize::MAX).max(1)
}

/// An aggregate step's instance with its memory budget, for either side of a shuffle; its calls'
/// failures name the step.
struct BudgetedAggregate<'c> {
    step: &'c str,
    op: &'c Operator,
    instance: Logged<'c, AggregateInstance>,
    budget: StateBudget,
}

impl<'c> BudgetedAggregate<'c> {
    fn new(ctx: &TaskContext<'c>, step: &'c str) -> Result<Self, Fail> {
        let op = ctx.job.operator(step);
        let instance = instantiate(ctx, step, op, flicker_host::Plugin::aggregate)?;
        Ok(Self { step, op, instance, budget: StateBudget::new(op.limits.spill_threshold()) })
    }

    fn failed(&self, record: Option<BadRecord>, error: CallError) -> Fail {
        call_failed(self.step, self.op, record, error)
    }

    fn spill_failed(&self, error: SpillError) -> Fail {
        TaskCause::Spill { step: self.step.to_owned(), error }
    }

    /// Folds `batch` in (`merge` when it holds partials, else `update`); returns the state,
    /// taken out, when it is past its budget.
    fn fold(&mut self, batch: &[u8], partials: bool) -> Result<Option<Vec<u8>>, Fail> {
        let folded = if partials { self.instance.merge(batch) } else { self.instance.update(batch) };
        folded.map_err(|e| self.failed(bad_row(&e, batch), e))?;
        let held = self.instance.state_bytes().map_err(|e| self.failed(None, e))?;
        if self.budget.is_full(held) { self.partials().map(Some) } else { Ok(None) }
    }

    /// The partial state per key, taken out.
    fn partials(&mut self) -> Result<Vec<u8>, Fail> {
        let partials = self.instance.partials().map_err(|e| self.failed(None, e))?;
        Ok(check_batch(self.step, partials)?.bytes)
    }

    /// `batch`'s rows split by partition, as the shuffle routes them.
    fn partition(&self, batch: &[u8], partitions: u32) -> Result<Vec<Vec<u8>>, Fail> {
        partition_batch(batch, partitions)
            .map_err(|error| TaskCause::MalformedBatch { step: self.step.to_owned(), error })
    }

    /// Merges a batch of one bounded set of keys and takes their final values out (the reduce
    /// side's last phase after a spill, which holds no more than the batch).
    fn merge_and_finish(&mut self, batch: &[u8]) -> Result<Checked, Fail> {
        self.instance.merge(batch).map_err(|e| self.failed(None, e))?;
        self.finish()
    }

    /// The final value per key, taken out.
    fn finish(&mut self) -> Result<Checked, Fail> {
        let finished = self.instance.finish().map_err(|e| self.failed(None, e))?;
        check_batch(self.step, finished)
    }
}

/// The aggregate of a reduce task: merges the partials of its partition, spilling its state in
/// sorted runs when it passes its memory budget, and hands the final rows to the pipeline.
struct Reducer<'c> {
    aggregate: BudgetedAggregate<'c>,
    runs: SortedRuns,
    /// The most row bytes handed to one `merge` call.
    max_batch: usize,
    /// Whether a block was merged yet.
    merged_any: bool,
}

impl Reducer<'_> {
    /// Merges a fetched block, in pieces of at most `max_batch` row bytes.
    fn merge_block(&mut self, block: &[u8], metrics: &mut TaskMetrics) -> Result<(), Fail> {
        let step = self.aggregate.step;
        let malformed = |error| TaskCause::MalformedBatch { step: step.to_owned(), error };
        let batch = BatchReader::new(block).map_err(malformed)?;
        if batch.row_bytes().is_empty() && self.merged_any {
            // A map task that read no rows has partials without key columns (its aggregate never
            // saw a key): nothing to merge, and its schema must not replace the one known.
            return Ok(());
        }
        self.merged_any = true;
        if batch.row_bytes().len() <= self.max_batch {
            return self.merge(block, metrics);
        }
        for piece in batch.pieces(self.max_batch) {
            self.merge(&piece.map_err(malformed)?, metrics)?;
        }
        Ok(())
    }

    fn merge(&mut self, partials: &[u8], metrics: &mut TaskMetrics) -> Result<(), Fail> {
        match self.aggregate.fold(partials, true)? {
            Some(state) => self.spill(&state, metrics),
            None => Ok(()),
        }
    }

    /// Writes the aggregate's state out as one more sorted run.
    fn spill(&mut self, state: &[u8], metrics: &mut TaskMetrics) -> Result<(), Fail> {
        metrics.spill_bytes += self.runs.spill(state).map_err(|e| self.aggregate.spill_failed(e))?;
        metrics.spilled_runs += 1;
        Ok(())
    }

    /// Hands the final rows to `pipeline`: at once if nothing was spilled, else the runs merged
    /// in key order, one bounded batch of keys at a time.
    fn finish(&mut self, ctx: &TaskContext<'_>, pipeline: &mut Pipeline<'_>) -> Result<(), Fail> {
        if self.runs.is_empty() {
            return pipeline.push(self.aggregate.finish()?);
        }
        let state = self.aggregate.partials()?;
        self.spill(&state, &mut pipeline.metrics)?;
        drop(state);
        for batch in self.runs.merge(self.max_batch).map_err(|e| self.aggregate.spill_failed(e))? {
            check_cancelled(ctx)?;
            let batch = batch.map_err(|e| self.aggregate.spill_failed(e))?;
            pipeline.push(self.aggregate.merge_and_finish(&batch)?)?;
        }
        Ok(())
    }
}

/// Stops a task of a cancelled job.
fn check_cancelled(ctx: &TaskContext<'_>) -> Result<(), Fail> {
    if ctx.cancelled.load(Ordering::Relaxed) { Err(TaskCause::Cancelled) } else { Ok(()) }
}

/// The object, line number and text of the line a parse error names.
fn bad_line(
    ctx: &TaskContext<'_>,
    location: &Location,
    split: &Split,
    chunk: &Chunk,
    error: &CallError,
) -> Option<BadRecord> {
    let CallError::Operator(OperatorError::BadRecord { offset: Some(offset), .. }) = error else {
        return None;
    };
    let start = usize::try_from(*offset).ok()?;
    let rest = chunk.bytes.get(start..)?;
    let line = &rest[..rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len())];
    let mut content = String::from_utf8_lossy(line.strip_suffix(b"\r").unwrap_or(line)).into_owned();
    if content.len() > 200 {
        let cut = (0..=200).rev().find(|&i| content.is_char_boundary(i)).unwrap_or(0);
        content.truncate(cut);
        content.push('…');
    }
    let at = chunk.offset + *offset;
    let line = ctx.io.block_on(line_number_at(location, &split.object, at)).ok()?;
    let object = location.at(split.object.clone()).url().to_owned();
    Some(BadRecord::Line { object, line, offset: at, content })
}
