//! What the scheduler's journal keeps of a job, so a restarted scheduler can rebuild it: the job
//! itself ([`JobRecord`]) and when it was accepted, and its changes as they happen
//! ([`JournalUpdate`]): a task done (with its [`TaskDone`]), a task undone (its map output lost),
//! the job's end and when, and its removal once the scheduler forgets it.
//!
//! The journal stores [`JobRecord`], [`TaskDone`] and stages' [`Cost`]s `postcard`-encoded: their fields (and those
//! of the types inside) keep their order and meaning, or old journals no longer open.

use super::stage::StageTasks;
use super::task::TaskDone;
use super::{JobRun, RetryPolicy};
use flicker_protocol::status::{JobFailure, JobState};
use flicker_protocol::task::JobDescriptor;
use flicker_protocol::tenant::Cost;
use flicker_protocol::{StageId, TaskIndex};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// A change of a job that the scheduler's journal records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JournalUpdate {
    /// A task succeeded.
    TaskDone {
        /// Its stage.
        stage: StageId,
        /// Its index.
        index: TaskIndex,
        /// What it left behind.
        done: TaskDone,
    },
    /// A task's output was lost: it must run again.
    TaskUndone {
        /// Its stage.
        stage: StageId,
        /// Its index.
        index: TaskIndex,
    },
    /// The job ended.
    Ended {
        /// How.
        state: JobState,
        /// Why it failed, if it did.
        failure: Option<JobFailure>,
        /// When.
        at: Duration,
    },
    /// The scheduler forgot the job (see [`crate::retention`]): nothing of it is kept.
    Forgotten,
    /// What the attempts of a stage consumed so far, after one more was counted.
    Charged {
        /// The stage.
        stage: StageId,
        /// Its total.
        total: Cost,
    },
}

/// What a job is made of, as the journal keeps it: enough to rebuild its [`JobRun`] after a
/// restart of the scheduler (planning is deterministic).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobRecord {
    /// The job as executors see it.
    pub descriptor: JobDescriptor,
    /// Its name.
    pub name: String,
    /// What each stage's tasks read, in plan order.
    pub inputs: Vec<StageTasks>,
    /// Each sink's id and URL.
    pub outputs: Vec<(String, String)>,
    /// Its retry policy.
    pub retry: RetryPolicy,
}

impl JobRun {
    /// The job rebuilt from its journal record, as accepted at `submitted`; `plan` is the plan of
    /// its manifest.
    pub fn from_record(record: JobRecord, plan: &[crate::plan::StagePlan], submitted: Duration) -> Self {
        Self::new(
            record.descriptor,
            record.name,
            plan,
            record.inputs,
            record.outputs,
            record.retry,
            submitted,
        )
    }

    /// When the job was accepted.
    pub fn submitted(&self) -> Duration {
        self.submitted
    }

    /// What the journal keeps of the job.
    pub fn record(&self) -> JobRecord {
        JobRecord {
            descriptor: self.descriptor.clone(),
            name: self.name.clone(),
            inputs: self.stages.iter().map(|s| s.input.clone()).collect(),
            outputs: self.outputs.clone(),
            retry: self.retries.policy(),
        }
    }

    /// The changes since the last call, for the journal.
    pub fn take_journal(&mut self) -> Vec<JournalUpdate> {
        std::mem::take(&mut self.journal)
    }

    /// Marks a task done as the journal says it was (after a restart of the scheduler).
    pub fn restore_done(&mut self, stage: StageId, index: TaskIndex, done: TaskDone) {
        let Some(position) = self.position(stage) else { return };
        if self.stages[position].tasks.get(index).is_some() {
            self.mark_done(position, index, done);
        }
    }

    /// Sets what the attempts of `stage` consumed, as the journal says (after a restart).
    pub fn restore_cost(&mut self, stage: StageId, total: Cost) {
        if let Some(position) = self.position(stage) {
            self.stages[position].cost = total;
        }
    }

    /// Marks the job ended at `at` as the journal says it did, its cleanup done.
    pub fn restore_end(&mut self, state: JobState, failure: Option<JobFailure>, at: Duration) {
        self.end(state, failure, at);
        self.cleaned_up();
        self.journal.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job_run::task::tests::map_done;
    use crate::job_run::tests::{job, secs};

    #[test]
    fn a_job_rebuilt_from_its_record_and_journal_is_where_it_was() {
        let mut run = job("j", 3, 1, 4);
        let mut rebuilt = JobRun::from_record(run.record(), &crate::job_run::tests::plan(1), secs(5));
        assert_eq!(rebuilt.record(), run.record());
        assert_eq!(rebuilt.submitted(), secs(5));
        for (index, rows) in [(0, 1), (2, 10)] {
            rebuilt.restore_done(StageId(0), TaskIndex(index), map_done("a", 1, rows));
        }
        rebuilt.restore_done(StageId(0), TaskIndex(7), map_done("a", 1, 100));
        rebuilt.restore_done(StageId(9), TaskIndex(0), map_done("a", 1, 100));
        let status = rebuilt.status(secs(6));
        assert_eq!(status.stages[0].done, 2);
        assert_eq!(status.metrics.rows_in, 11, "tasks that do not exist are ignored");
        assert_eq!(rebuilt.runnable(0, 10), [(0, TaskIndex(1))]);
        assert!(rebuilt.take_journal().is_empty(), "what the journal said is not written again");
        assert!(run.take_journal().is_empty());
    }

    #[test]
    fn a_job_the_journal_says_ended_is_ended_and_cleaned_up() {
        let mut run = job("j", 1, 1, 4);
        let failed = JobState::Failed { cause: "boom".into() };
        run.restore_end(failed.clone(), Some(JobFailure::MapOutputLost), secs(3));
        assert!(run.is_ended());
        assert!(!run.is_cleaning_up(), "nothing is left to clean up after a restart");
        assert!(run.take_journal().is_empty());
        let status = run.status(secs(9));
        assert_eq!((status.state, status.failure), (failed, Some(JobFailure::MapOutputLost)));
        assert_eq!(status.elapsed_ms, 3000);
        assert_eq!(run.finished_at(), Some(secs(3)), "it ended when the journal says");
    }
}
