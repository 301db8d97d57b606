//! Where a job's shuffle data comes from, and what runs again when it is lost.
//!
//! A reduce task reads one partition of every map output of the stages it depends on; each map
//! output is on the BTS its map task's [`TaskDone`](super::TaskDone) names. When map outputs are
//! lost (their BTS went away with its executor, or a reduce task could not fetch one), the map
//! tasks that wrote them run again from their input — but only those some unfinished stage still
//! reads: a map output whose readers are all done is not needed any more.

use super::task::TaskState;
use super::{JobChange, JobRun, Reported};
use flicker_protocol::failure::LostMapOutput;
use flicker_protocol::status::{AttemptOutcome, JobFailure};
use flicker_protocol::task::{MapOutputLocation, TaskOutput};
use flicker_protocol::{MapOutputId, PartitionId, StageId, TaskIndex};
use std::collections::HashSet;
use std::net::SocketAddr;
use std::time::Duration;

impl JobRun {
    /// Where partition `partition` of every map output of stage `upstream` is, and its size.
    pub(super) fn map_outputs(&self, upstream: StageId, partition: PartitionId) -> Vec<MapOutputLocation> {
        let Some(stage) = self.stage(upstream) else { return Vec::new() };
        stage
            .tasks
            .iter()
            .enumerate()
            .filter_map(|(map_task, task)| {
                let done = task.done()?;
                let TaskOutput::MapOutput { partition_bytes } = &done.output else { return None };
                Some(MapOutputLocation {
                    id: MapOutputId {
                        job: self.descriptor.job.clone(),
                        stage: stage.id,
                        map_task: TaskIndex(map_task as u32),
                    },
                    bts: done.bts,
                    bytes: partition_bytes.get(partition.0 as usize).copied().unwrap_or(0),
                })
            })
            .collect()
    }

    /// A reduce task could not fetch a map output: the task runs again once the map output is
    /// computed again (not counted as a failed attempt, as the task did nothing wrong), and every
    /// map output `lost` names is computed again from its input.
    pub fn fetch_failed(
        &mut self,
        reported: Reported<'_>,
        lost: &LostMapOutput,
        cause: String,
        now: Duration,
    ) -> JobChange {
        let Reported { task, attempt, executor, log } = reported;
        let Some(position) = self.is_current(task, attempt, executor) else { return JobChange::None };
        self.stages[position].tasks.set(task.index, TaskState::Pending);
        let outcome = AttemptOutcome::FetchFailed { cause };
        self.keep_attempt(position, task.index, attempt, executor, outcome, log);
        tracing::warn!(%task, map_output = %lost.id, bts = %lost.bts, unreachable = lost.unreachable, "fetch failed: recomputing");
        let only = if lost.unreachable { None } else { Some(&lost.id) };
        self.map_outputs_lost(lost.bts, only, now)
    }

    /// Map outputs held by the BTS at `bts` (only `only`, if given) are gone: their map tasks
    /// run again, unless every reader of them is done. A map output lost more than
    /// `max_attempts` times fails the job.
    pub fn map_outputs_lost(
        &mut self,
        bts: SocketAddr,
        only: Option<&MapOutputId>,
        now: Duration,
    ) -> JobChange {
        let needed: HashSet<StageId> =
            self.stages.iter().filter(|s| !s.done()).flat_map(|s| s.depends_on.iter().copied()).collect();
        let policy = self.retries.policy();
        let mut worn_out = None;
        for stage in self.stages.iter_mut().filter(|s| needed.contains(&s.id)) {
            let id = stage.id;
            let lost = stage
                .tasks
                // A sort's samples live in the scheduler, not in the BTS: they are never lost
                // (and so never drawn again, which could move the sort's boundaries).
                .indexes_where(|task| {
                    matches!(task, TaskState::Succeeded(done)
                        if done.bts == bts && matches!(done.output, TaskOutput::MapOutput { .. }))
                });
            for index in lost.into_iter().filter(|&i| only.is_none_or(|o| o.stage == id && o.map_task == i)) {
                let Some((done, recomputed)) = stage.tasks.undo(index) else { continue };
                self.metrics -= done.metrics;
                self.journal.push(super::JournalUpdate::TaskUndone { stage: id, index });
                if !policy.may_recompute(recomputed) {
                    worn_out =
                        Some(MapOutputId { job: self.descriptor.job.clone(), stage: id, map_task: index });
                }
            }
        }
        match worn_out {
            Some(id) => {
                let cause = format!("{id} was lost more than {} times", policy.max_attempts);
                self.fail(cause, JobFailure::MapOutputLost, now)
            }
            None => JobChange::None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job_run::JournalUpdate;
    use crate::job_run::task::tests::map_done;
    use crate::job_run::tests::{job, secs};
    use flicker_protocol::status::JobState;
    use flicker_protocol::{AttemptId, JobId};

    fn bts(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    /// A job of three map tasks, done: 0 and 2 with their output on BTS 1, 1 on BTS 2.
    fn maps_done() -> JobRun {
        let mut run = job("j", 3, 1, 2);
        for (index, port) in [(0, 1), (1, 2), (2, 1)] {
            run.restore_done(StageId(0), TaskIndex(index), map_done("a", port, 10));
        }
        run
    }

    fn map_output(map_task: u32) -> MapOutputId {
        MapOutputId { job: JobId("j".into()), stage: StageId(0), map_task: TaskIndex(map_task) }
    }

    #[test]
    fn a_lost_bts_sends_back_only_the_map_tasks_whose_output_it_held() {
        let mut run = maps_done();
        assert_eq!(run.runnable(0, 10), [(1, TaskIndex(0))], "the reduce may start");
        assert_eq!(run.map_outputs_lost(bts(1), None, secs(1)), JobChange::None);
        assert_eq!(run.runnable(0, 10), [(0, TaskIndex(0)), (0, TaskIndex(2))], "the reduce waits for them");
        let undone =
            [0, 2].map(|index| JournalUpdate::TaskUndone { stage: StageId(0), index: TaskIndex(index) });
        assert_eq!(run.take_journal(), undone);
        let status = run.status(secs(1));
        assert_eq!(status.metrics.rows_in, 10, "the lost tasks' input is taken back out");
        assert_eq!(status.recomputed_map_outputs, 2);
    }

    #[test]
    fn a_damaged_map_output_alone_runs_again() {
        let mut run = maps_done();
        run.map_outputs_lost(bts(1), Some(&map_output(2)), secs(1));
        assert_eq!(run.runnable(0, 10), [(0, TaskIndex(2))]);
        run.map_outputs_lost(bts(2), Some(&map_output(0)), secs(1));
        assert_eq!(run.runnable(0, 10), [(0, TaskIndex(2))], "map output 0 is not on BTS 2");
    }

    #[test]
    fn map_outputs_no_unfinished_stage_reads_are_not_computed_again() {
        let mut run = maps_done();
        let reduce = crate::job_run::task::TaskDone {
            output: TaskOutput::Part { name: "part-0".into(), size: 1, attempt: AttemptId(0) },
            ..map_done("a", 1, 0)
        };
        run.restore_done(StageId(1), TaskIndex(0), reduce);
        run.map_outputs_lost(bts(1), None, secs(1));
        assert!(run.take_journal().is_empty());
        assert_eq!(run.status(secs(1)).stages[0].done, 3);
    }

    #[test]
    fn a_map_output_lost_more_than_max_attempts_times_fails_the_job() {
        let mut run = maps_done();
        for _ in 0..2 {
            assert_eq!(run.map_outputs_lost(bts(2), None, secs(1)), JobChange::None);
            run.restore_done(StageId(0), TaskIndex(1), map_done("a", 2, 10));
        }
        assert_eq!(run.map_outputs_lost(bts(2), None, secs(1)), JobChange::Ended);
        let status = run.status(secs(1));
        let cause = format!("{} was lost more than 2 times", map_output(1));
        assert_eq!(
            (status.state, status.failure),
            (JobState::Failed { cause }, Some(JobFailure::MapOutputLost))
        );
    }

    #[test]
    fn a_reduce_task_reads_its_partition_of_every_map_output_done() {
        let mut run = job("j", 2, 2, 2);
        let partition_bytes = vec![5, 6];
        let done = crate::job_run::task::TaskDone {
            output: TaskOutput::MapOutput { partition_bytes },
            ..map_done("a", 1, 0)
        };
        run.restore_done(StageId(0), TaskIndex(1), done);
        let locations = run.map_outputs(StageId(0), PartitionId(1));
        assert_eq!(locations, [MapOutputLocation { id: map_output(1), bts: bts(1), bytes: 6 }]);
        assert_eq!(run.map_outputs(StageId(0), PartitionId(2))[0].bytes, 0, "a partition it did not write");
    }
}
