//! Counters of what tasks and jobs did.

use std::ops::AddAssign;
use std::time::Duration;

/// What one task (or, summed, a stage or a job) read, wrote and skipped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
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
}

impl TaskMetrics {
    /// These metrics without the input counters (rows and bytes read, records skipped).
    pub fn without_input(self) -> Self {
        Self { rows_in: 0, bytes_in: 0, skipped: 0, ..self }
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
    }
}

/// The outcome of a successful job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobSummary {
    /// The job's name.
    pub name: String,
    /// Totals over all tasks.
    pub metrics: TaskMetrics,
    /// Number of stages run.
    pub stages: usize,
    /// Number of tasks run.
    pub tasks: usize,
    /// Wall-clock time.
    pub elapsed: Duration,
    /// The committed outputs: sink id and URL.
    pub outputs: Vec<(String, String)>,
}
