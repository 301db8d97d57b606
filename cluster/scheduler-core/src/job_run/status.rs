//! A job as `flicker status` and `flicker logs` show it: its state, each stage's progress, its
//! totals, and its tasks' attempts with what their operators wrote, within a budget.

use super::JobRun;
use super::stage::StageRun;
use super::task::{Attempt, TaskState};
use flicker_protocol::status::{
    AttemptOutcome, AttemptStatus, FailedAttempt, JobState, JobStatus, StageStatus, TaskDurations,
    TaskState as TaskPhase, TaskStatus,
};
use flicker_protocol::task::OperatorLog;
use flicker_protocol::{StageId, TaskIndex};
use std::time::Duration;

/// How much of what its operators wrote a job keeps, in all (logs past it are dropped, and the
/// attempt says how many bytes): a quarter of a frame, so the answer listing them all
/// (`SchedulerResponse::Logs`) fits in one with room for the attempts' causes.
pub const LOG_BUDGET: usize = flicker_protocol::MAX_FRAME / 4;

/// The bytes of operator output a job's attempts hold, at most [`LOG_BUDGET`].
#[derive(Debug, Clone, Default)]
pub(crate) struct LogBudget {
    used: usize,
}

impl LogBudget {
    /// `log` as a finished attempt keeps it: whole while the job's logs fit in [`LOG_BUDGET`],
    /// else a note saying how many bytes were dropped.
    pub(crate) fn admit(&mut self, mut log: Vec<OperatorLog>) -> Vec<OperatorLog> {
        let bytes: usize = log.iter().map(OperatorLog::bytes).sum();
        if self.used + bytes > LOG_BUDGET {
            let dropped = log.iter().map(|l| (l.stdout.len() + l.stderr.len()) as u64 + l.dropped).sum();
            let note = format!("(not kept: the job's operator output passed {} MiB)", LOG_BUDGET >> 20);
            log = vec![OperatorLog { step: String::new(), stdout: String::new(), stderr: note, dropped }];
        }
        self.used += log.iter().map(OperatorLog::bytes).sum::<usize>();
        log
    }
}

impl JobRun {
    /// Where the job is in its life: cheaper than its whole [`status`](Self::status).
    pub fn state(&self) -> JobState {
        match self.phase.outcome() {
            Some(outcome) => outcome.state.clone(),
            None if self.is_queued() => JobState::Queued,
            None => JobState::Running,
        }
    }

    /// The job as `flicker status` shows it at `now`.
    pub fn status(&self, now: Duration) -> JobStatus {
        let state = self.state();
        let (failure, ended) = match self.phase.outcome() {
            Some(outcome) => (outcome.failure.clone(), Some(outcome.at)),
            None => (None, None),
        };
        JobStatus {
            job: self.descriptor.job.clone(),
            name: self.name.clone(),
            owner: self.terms().owner.clone(),
            state,
            failure,
            stages: self.stages.iter().map(stage_status).collect(),
            metrics: self.metrics,
            cost: self.cost(),
            elapsed_ms: ended.unwrap_or(now).saturating_sub(self.submitted).as_millis() as u64,
            started_unix_ms: self.submitted.as_millis() as u64,
            ended_unix_ms: ended.map(|ended| ended.as_millis() as u64),
            tasks_by_executor: self.tasks_by_executor.iter().map(|(e, n)| (e.clone(), *n)).collect(),
            outputs: self.outputs.clone(),
            failed_attempts: self.failed_attempts(),
            excluded_executors: self.retries.excluded().iter().cloned().collect(),
            recomputed_map_outputs: self
                .stages
                .iter()
                .flat_map(|s| s.tasks.iter())
                .map(|t| t.recomputed())
                .sum(),
        }
    }

    /// The attempts of task `task` (stage, index), finished and running, with their logs; or,
    /// without a task, the job's finished attempts whose operators wrote something. `None` if
    /// the job has no such task.
    pub fn attempts(&self, task: Option<(StageId, TaskIndex)>) -> Option<Vec<AttemptStatus>> {
        let Some((stage, index)) = task else {
            return Some(
                self.finished_attempts().filter(|(_, _, a)| !a.log.is_empty()).map(attempt_status).collect(),
            );
        };
        let run = self.stages.iter().find(|s| s.id == stage)?;
        let task = run.tasks.get(index)?;
        let mut attempts: Vec<AttemptStatus> =
            task.history().iter().map(|a| attempt_status((run, index, a))).collect();
        if let TaskState::Running { executor, attempt } = task.state() {
            attempts.push(AttemptStatus {
                stage: stage.0,
                task: index,
                attempt: *attempt,
                executor: executor.clone(),
                outcome: AttemptOutcome::Running,
                log: Vec::new(),
            });
        }
        Some(attempts)
    }

    /// Every task of `stage`, in index order; `None` if the job has no such stage.
    pub fn tasks(&self, stage: StageId) -> Option<Vec<TaskStatus>> {
        let run = self.stages.iter().find(|s| s.id == stage)?;
        let statuses = run.tasks.iter().enumerate().map(|(index, task)| {
            let failed = task.history().iter().rev().find_map(|a| Some((a, a.failed()?)));
            let (state, executor, metrics) = match task.state() {
                TaskState::Pending => (TaskPhase::Pending, failed.map(|(a, _)| a.executor.clone()), None),
                TaskState::Running { executor, .. } => (TaskPhase::Running, Some(executor.clone()), None),
                TaskState::Succeeded(done) => {
                    (TaskPhase::Succeeded, Some(done.executor.clone()), Some(done.metrics))
                }
            };
            TaskStatus {
                task: TaskIndex(index as u32),
                state,
                attempts: task.launched(),
                executor,
                metrics,
                usage: task.usage(),
                error: failed.map(|(_, (cause, _))| cause.to_owned()),
                failure_kind: failed.map(|(_, (_, kind))| kind.clone()),
            }
        });
        Some(statuses.collect())
    }

    /// Every finished attempt kept, with its stage and task index, in stage and task order.
    fn finished_attempts(&self) -> impl Iterator<Item = (&StageRun, TaskIndex, &Attempt)> {
        self.stages.iter().flat_map(|stage| {
            stage.tasks.iter().enumerate().flat_map(move |(index, task)| {
                task.history().iter().map(move |attempt| (stage, TaskIndex(index as u32), attempt))
            })
        })
    }

    /// The failed attempts, by stage, attempt number and task.
    fn failed_attempts(&self) -> Vec<FailedAttempt> {
        let mut attempts: Vec<FailedAttempt> = self
            .finished_attempts()
            .filter_map(|(stage, task, a)| {
                let (cause, kind) = a.failed()?;
                Some(FailedAttempt {
                    stage: stage.id.0,
                    task,
                    attempt: a.number,
                    executor: a.executor.clone(),
                    cause: cause.to_owned(),
                    kind: kind.clone(),
                })
            })
            .collect();
        attempts.sort_by_key(|a| (a.stage, a.attempt, a.task));
        attempts
    }
}

fn stage_status(stage: &StageRun) -> StageStatus {
    StageStatus {
        stage: stage.id.0,
        description: stage.description.clone(),
        total: stage.tasks.len() as u32,
        done: stage.tasks.succeeded() as u32,
        running: stage.tasks.running() as u32,
        upstream: stage.depends_on.iter().map(|upstream| upstream.0).collect(),
        cost: stage.cost,
        task_durations: TaskDurations::of(
            stage.tasks.iter().filter_map(|t| Some(t.done()?.metrics.task_ms)).collect(),
        ),
    }
}

fn attempt_status((stage, task, attempt): (&StageRun, TaskIndex, &Attempt)) -> AttemptStatus {
    AttemptStatus {
        stage: stage.id.0,
        task,
        attempt: attempt.number,
        executor: attempt.executor.clone(),
        outcome: attempt.outcome.clone(),
        log: attempt.log.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn printed(stdout: &str) -> Vec<OperatorLog> {
        vec![OperatorLog { step: "parse".into(), stdout: stdout.into(), stderr: String::new(), dropped: 0 }]
    }

    #[test]
    fn logs_are_kept_whole_until_the_budget_is_spent_then_only_counted() {
        let mut budget = LogBudget::default();
        let half = "x".repeat(LOG_BUDGET / 2 - "parse".len());
        assert_eq!(budget.admit(printed(&half)), printed(&half));
        assert_eq!(budget.admit(printed(&half)), printed(&half), "exactly the budget is kept");
        let kept = budget.admit(printed("y"));
        assert_eq!(kept.len(), 1);
        assert!(kept[0].stderr.contains("not kept"), "{kept:?}");
        assert_eq!((kept[0].stdout.as_str(), kept[0].dropped), ("", 1));
    }
}
