//! One task of a job: where it is in its life, and the attempts it took.
//!
//! ```text
//!   Pending ──launch──▶ Running { executor, attempt } ──succeeded──▶ Succeeded(TaskDone)
//!    ▲ ▲                   │                                            │
//!    │ └───────────────────┘ the attempt failed (attempts left), its    │
//!    │                       executor was lost, or the job ended        │
//!    └──────────── its map output was lost: computed again ─────────────┘
//! ```
//!
//! A task counts its launches (the next attempt's number), keeps the finished attempts worth
//! showing (every failed one, and a succeeded one whose operators wrote something), and counts
//! how often its map output was lost and computed again.

use flicker_protocol::failure::FailureKind;
use flicker_protocol::status::AttemptOutcome;
use flicker_protocol::task::{OperatorLog, TaskMetrics, TaskOutput};
use flicker_protocol::tenant::TaskUsage;
use flicker_protocol::{AttemptId, ExecutorId};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::net::SocketAddr;

/// Where one task is in its life (see the [module](self) for the diagram).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TaskState {
    /// Waiting for its stage to become runnable and for a slot.
    Pending,
    /// Running on an executor.
    Running {
        /// The executor.
        executor: ExecutorId,
        /// The attempt number.
        attempt: AttemptId,
    },
    /// Done; its output is where it says.
    Succeeded(TaskDone),
}

/// What a succeeded task left behind: the data of its `TaskState::Succeeded`, and what the journal
/// keeps of a finished task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskDone {
    /// The executor that ran it.
    pub executor: ExecutorId,
    /// The BTS holding its shuffle output, for a map task.
    pub bts: SocketAddr,
    /// What it left behind.
    pub output: TaskOutput,
    /// What it read and wrote (taken back out of the job's totals if it must run again).
    pub metrics: TaskMetrics,
}

/// A finished attempt of a task, as kept for retries and for `flicker status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Attempt {
    /// Its number, from 0.
    pub(crate) number: AttemptId,
    /// Where it ran.
    pub(crate) executor: ExecutorId,
    /// How it ended.
    pub(crate) outcome: AttemptOutcome,
    /// What its operators wrote.
    pub(crate) log: Vec<OperatorLog>,
}

impl Attempt {
    /// Why it failed and how, if it failed (a fetch failure is not the attempt's failure).
    pub(crate) fn failed(&self) -> Option<(&str, &FailureKind)> {
        match &self.outcome {
            AttemptOutcome::Failed { cause, kind } => Some((cause, kind)),
            _ => None,
        }
    }
}

/// One task: its state, and what its attempts so far tell. Changed only through
/// [`TaskTable`](super::task_table::TaskTable), which keeps the stage's counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Task {
    state: TaskState,
    /// Attempts launched: the next attempt's number.
    launched: u32,
    /// Finished attempts worth keeping (see [`Attempt`]).
    history: Vec<Attempt>,
    /// How often its map output was lost and computed again.
    recomputed: u32,
    /// What its finished attempts consumed, summed (peak memory: the largest). Not journaled: a
    /// job taken back from the journal counts from the restart.
    usage: TaskUsage,
}

impl Task {
    /// A pending task that never ran.
    pub(crate) fn new() -> Self {
        Self {
            state: TaskState::Pending,
            launched: 0,
            history: Vec::new(),
            recomputed: 0,
            usage: TaskUsage::default(),
        }
    }

    /// Where it is in its life.
    pub(crate) fn state(&self) -> &TaskState {
        &self.state
    }

    /// What it left behind, if it succeeded.
    pub(crate) fn done(&self) -> Option<&TaskDone> {
        match &self.state {
            TaskState::Succeeded(done) => Some(done),
            _ => None,
        }
    }

    /// Its finished attempts worth keeping, in order.
    pub(crate) fn history(&self) -> &[Attempt] {
        &self.history
    }

    /// How many of its attempts failed.
    pub(crate) fn failed_attempts(&self) -> u32 {
        self.history.iter().filter(|a| a.failed().is_some()).count() as u32
    }

    /// The executors where it failed.
    pub(crate) fn failed_on(&self) -> BTreeSet<ExecutorId> {
        self.history.iter().filter(|a| a.failed().is_some()).map(|a| a.executor.clone()).collect()
    }

    /// How often its map output was lost and computed again.
    pub(crate) fn recomputed(&self) -> u32 {
        self.recomputed
    }

    /// What its finished attempts consumed.
    pub(crate) fn usage(&self) -> TaskUsage {
        self.usage
    }

    /// Attempts launched so far.
    pub(crate) fn launched(&self) -> u32 {
        self.launched
    }

    /// Counts what one of its attempts consumed.
    pub(super) fn add_usage(&mut self, usage: TaskUsage) {
        self.usage.cpu_us += usage.cpu_us;
        self.usage.wall_ms += usage.wall_ms;
        self.usage.peak_memory = self.usage.peak_memory.max(usage.peak_memory);
    }

    /// Moves it to `state`; returns the state it leaves.
    pub(super) fn replace_state(&mut self, state: TaskState) -> TaskState {
        std::mem::replace(&mut self.state, state)
    }

    /// Takes the number of its next attempt.
    pub(super) fn next_attempt(&mut self) -> AttemptId {
        self.launched += 1;
        AttemptId(self.launched - 1)
    }

    /// Keeps a finished attempt.
    pub(super) fn keep(&mut self, attempt: Attempt) {
        self.history.push(attempt);
    }

    /// Counts a loss of its map output; returns how many there were.
    pub(super) fn count_recompute(&mut self) -> u32 {
        self.recomputed += 1;
        self.recomputed
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A map task's output on `bts` (a port of the local host), with `rows_in` rows read.
    pub(crate) fn map_done(executor: &str, bts: u16, rows_in: u64) -> TaskDone {
        TaskDone {
            executor: ExecutorId(executor.into()),
            bts: SocketAddr::from(([127, 0, 0, 1], bts)),
            output: TaskOutput::MapOutput { partition_bytes: vec![1] },
            metrics: TaskMetrics { rows_in, ..TaskMetrics::default() },
        }
    }

    fn finished(number: u32, executor: &str, outcome: AttemptOutcome) -> Attempt {
        Attempt { number: AttemptId(number), executor: ExecutorId(executor.into()), outcome, log: Vec::new() }
    }

    #[test]
    fn failed_attempts_count_failures_only_and_name_where_they_ran() {
        let mut task = Task::new();
        assert_eq!(
            (task.next_attempt(), task.next_attempt(), task.next_attempt()),
            (AttemptId(0), AttemptId(1), AttemptId(2))
        );
        let failed = || AttemptOutcome::Failed { cause: "boom".into(), kind: FailureKind::Storage };
        task.keep(finished(0, "a", failed()));
        task.keep(finished(1, "b", AttemptOutcome::FetchFailed { cause: "lost".into() }));
        task.keep(finished(2, "c", failed()));
        task.keep(finished(3, "a", failed()));
        task.keep(finished(4, "d", AttemptOutcome::Succeeded));
        assert_eq!(task.failed_attempts(), 3);
        let names: Vec<_> = task.failed_on().into_iter().map(|e| e.0).collect();
        assert_eq!(names, ["a", "c"]);
        assert_eq!(task.history().len(), 5);
    }

    #[test]
    fn a_task_tells_its_output_only_once_succeeded() {
        let mut task = Task::new();
        assert_eq!(task.done(), None);
        task.replace_state(TaskState::Succeeded(map_done("a", 1, 3)));
        assert_eq!(task.done(), Some(&map_done("a", 1, 3)));
        assert_eq!((task.count_recompute(), task.count_recompute()), (1, 2));
        assert_eq!(task.recomputed(), 2);
    }
}
