//! What a task is, as the scheduler hands it to an executor, and what the executor reports back.

use crate::failure::TaskFailure;
use crate::ids::{AttemptId, JobId, MapOutputId, PartitionId, PluginDigest, TaskId};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::ops::{AddAssign, SubAssign};

/// Everything an executor needs to plan a job the way the scheduler did: the manifest, where its
/// relative paths point, which component each plugin reference names, and the cluster defaults.
/// Planning is a pure function of these, so every executor derives the same stages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobDescriptor {
    /// The job.
    pub job: JobId,
    /// The manifest's path as the submitter named it (error messages cite it).
    pub manifest_path: String,
    /// The manifest's text.
    pub manifest: String,
    /// The absolute directory relative source and sink paths are resolved against.
    pub base_dir: String,
    /// The component of every plugin reference that is not a standard operator.
    pub plugins: Vec<(String, PluginDigest)>,
    /// Cluster defaults the manifest may override.
    pub defaults: JobDefaults,
}

/// Cluster-wide defaults of a job, as data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobDefaults {
    /// Memory limit of an operator instance, in bytes.
    pub memory_limit: u64,
    /// Time limit of one operator call, in milliseconds.
    pub call_timeout_ms: u64,
    /// Limit on what one operator call returns, in bytes.
    pub output_limit: u64,
    /// Shuffle partitions of aggregates that do not set `partitions`.
    pub partitions: u32,
    /// The largest input split of sources that do not set `split_size`, in bytes.
    pub split_size: u64,
    /// Bytes of input handed to a parser per call.
    pub chunk_size: u64,
    /// Attempts of a task before the job fails, unless the manifest says otherwise.
    pub max_attempts: u32,
}

impl Default for JobDefaults {
    fn default() -> Self {
        Self {
            memory_limit: 512 << 20,
            call_timeout_ms: 60_000,
            output_limit: 256 << 20,
            partitions: 8,
            split_size: 64 << 20,
            chunk_size: 1 << 20,
            max_attempts: 4,
        }
    }
}

/// One attempt at one task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskSpec {
    /// The task.
    pub task: TaskId,
    /// Which attempt this is, from 0.
    pub attempt: AttemptId,
    /// The job it belongs to.
    pub job: JobDescriptor,
    /// What it reads.
    pub input: TaskInput,
    /// The number of the part it writes, if its stage writes a sink: its index, after the parts
    /// of the sink's earlier stages (a sink reading a union has a stage per input).
    pub part: u32,
    /// The kept inputs of the broadcast joins its stage runs, in the stage's order: for each,
    /// every map output of the stages that computed it (one partition) and the BTS holding it.
    pub kept: Vec<Vec<MapOutputLocation>>,
    /// For the map side of a sort: the encoded sort keys that split its ranges, ascending (range
    /// `n` holds the keys above split `n - 1` up to split `n`); fewer than its ranges.
    pub boundaries: Vec<Vec<u8>>,
    /// The joins of the job that are broadcast because one side is small, as (step, kept input),
    /// which the scheduler chose from its sources' sizes: the executor plans the job with them.
    pub broadcasts: Vec<(String, u32)>,
    /// The operator CPU time the attempt may use, in microseconds (what is left of its job's
    /// `max_cpu` and of its tenant's daily budget); past it the attempt fails as
    /// [`FailureKind::CpuBudget`](crate::failure::FailureKind::CpuBudget). `None`: no budget.
    pub cpu_budget_us: Option<u64>,
}

/// What a task reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum TaskInput {
    /// A byte range of one object of a source; the task owns the records that start in it.
    Split {
        /// The source's id in the manifest.
        source: String,
        /// The object's path in the source's store.
        object: String,
        /// The object's size.
        object_size: u64,
        /// First byte of the range.
        start: u64,
        /// End of the range (exclusive).
        end: u64,
    },
    /// One partition of a shuffle: the blocks of that partition in every map output.
    Partition {
        /// The partition.
        partition: PartitionId,
        /// Every map output of the upstream stage and the BTS holding it.
        map_outputs: Vec<MapOutputLocation>,
    },
    /// One partition of each input's shuffle of a co-group step, partitioned alike.
    CoPartition {
        /// The partition.
        partition: PartitionId,
        /// Per input of the step, in order: every map output of the stage computing it and the
        /// BTS holding it.
        inputs: Vec<Vec<MapOutputLocation>>,
    },
}

/// Where a map output lives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MapOutputLocation {
    /// The map output.
    pub id: MapOutputId,
    /// The BTS that holds it.
    pub bts: SocketAddr,
    /// Stored bytes of the partition the task reads (a hint for fetch scheduling).
    pub bytes: u64,
}

/// The most keys a sort's sample task reports.
pub const MAX_SAMPLE_KEYS: usize = 4096;

/// The most bytes of one sampled sort key (a longer one is cut: a prefix of a key still splits
/// ranges in order).
pub const MAX_SAMPLE_KEY: usize = 256;

/// What an attempt produced or why it failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum TaskReport {
    /// It succeeded.
    Succeeded {
        /// What it read and wrote.
        metrics: TaskMetrics,
        /// What it left behind.
        output: TaskOutput,
    },
    /// It failed.
    Failed(TaskFailure),
}

/// What one operator instance of a task attempt wrote to its stdout and stderr: the first and the
/// last bytes of each (the sandbox keeps 32 KiB of each end of each stream), and how many bytes
/// were cut between them.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct OperatorLog {
    /// The step (or sink) whose operator wrote it.
    pub step: String,
    /// Its stdout (`println!`).
    pub stdout: String,
    /// Its stderr (`eprintln!`, a panic's message).
    pub stderr: String,
    /// Bytes written past what was kept, on both streams.
    pub dropped: u64,
}

impl OperatorLog {
    /// Its size in bytes, as held in memory.
    pub fn bytes(&self) -> usize {
        self.step.len() + self.stdout.len() + self.stderr.len()
    }
}

/// What a successful task left behind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum TaskOutput {
    /// Shuffle output, held by the executor's BTS.
    MapOutput {
        /// Stored bytes per partition.
        partition_bytes: Vec<u64>,
    },
    /// A part of a sink's output, in the sink's temporary area of its attempt.
    Part {
        /// The part's file name.
        name: String,
        /// Its size.
        size: u64,
        /// The attempt that wrote it: the scheduler commits this attempt's part and no other.
        attempt: AttemptId,
    },
    /// A sample of the sort keys of the task's rows, for a sort's range boundaries (after the
    /// variants above, which journals of earlier releases hold).
    Sample {
        /// Encoded sort keys (each cut to at most [`MAX_SAMPLE_KEY`] bytes), at most
        /// [`MAX_SAMPLE_KEYS`] of them.
        keys: Vec<Vec<u8>>,
        /// The rows they were drawn from.
        rows: u64,
    },
}

/// What one task (or, summed, a stage or a job) read, wrote and skipped.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskMetrics {
    /// Records parsed from input.
    pub rows_in: u64,
    /// Input bytes read.
    pub bytes_in: u64,
    /// Records skipped as bad by a parser.
    pub skipped: u64,
    /// Rows handed to sinks.
    pub rows_out: u64,
    /// Bytes written to sinks.
    pub bytes_out: u64,
    /// Shuffle bytes written (map side) or read (reduce side).
    pub shuffle_bytes: u64,
    /// Milliseconds the task ran (summed: task time).
    pub task_ms: u64,
    /// Times a map task's aggregate was emptied early into its shuffle output because its memory
    /// passed the spill threshold (map-side combine flushes).
    pub combine_flushes: u64,
    /// Sorted runs a reduce task's aggregate spilled to disk because its memory passed the spill
    /// threshold.
    pub spilled_runs: u64,
    /// Bytes written to spill files (both kinds).
    pub spill_bytes: u64,
}

impl TaskMetrics {
    /// These metrics without the input counters (rows and bytes read, records skipped).
    pub fn without_input(self) -> Self {
        Self { rows_in: 0, bytes_in: 0, skipped: 0, ..self }
    }
}

impl SubAssign for TaskMetrics {
    fn sub_assign(&mut self, other: Self) {
        self.rows_in = self.rows_in.saturating_sub(other.rows_in);
        self.bytes_in = self.bytes_in.saturating_sub(other.bytes_in);
        self.skipped = self.skipped.saturating_sub(other.skipped);
        self.rows_out = self.rows_out.saturating_sub(other.rows_out);
        self.bytes_out = self.bytes_out.saturating_sub(other.bytes_out);
        self.shuffle_bytes = self.shuffle_bytes.saturating_sub(other.shuffle_bytes);
        self.task_ms = self.task_ms.saturating_sub(other.task_ms);
        self.combine_flushes = self.combine_flushes.saturating_sub(other.combine_flushes);
        self.spilled_runs = self.spilled_runs.saturating_sub(other.spilled_runs);
        self.spill_bytes = self.spill_bytes.saturating_sub(other.spill_bytes);
    }
}

impl AddAssign for TaskMetrics {
    fn add_assign(&mut self, other: Self) {
        self.rows_in += other.rows_in;
        self.bytes_in += other.bytes_in;
        self.skipped += other.skipped;
        self.rows_out += other.rows_out;
        self.bytes_out += other.bytes_out;
        self.shuffle_bytes += other.shuffle_bytes;
        self.task_ms += other.task_ms;
        self.combine_flushes += other.combine_flushes;
        self.spilled_runs += other.spilled_runs;
        self.spill_bytes += other.spill_bytes;
    }
}
