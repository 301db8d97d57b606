//! One job's progress through its stages and tasks, as plain data driven by events.
//!
//! The job's life:
//!
//! ```text
//!   Queued ──its tenant runs fewer jobs than its limit──▶ Running ──every task succeeded──▶ Committing ──committed──▶ CleaningUp (succeeded) ──┐
//!      │                                   │                                             │
//!      │ a task failed for good, a map     │ the commit failed                cleaned up │
//!      │ output was lost too often, no     ▼                                             ▼
//!      └─ executor could run it, or ──▶ CleaningUp (failed or cancelled) ──cleaned up──▶ Ended
//!         cancelled (not once committing)
//! ```
//!
//! A job waits `Queued` while its tenant runs as many jobs as it may (cancelling it ends it). A
//! job that ends asks for its cleanup ([`JobChange::Ended`]): its tasks stopped, its shuffle
//! output and (unless it succeeded) its uncommitted parts removed. It is cleaning up until the
//! service says the cleanup is done ([`JobRun::cleaned_up`]); its final state is known at once,
//! but watchers are told only then. Reports of an attempt that is no longer current are ignored.
//!
//! The state is split by concern:
//!
//! - `task` and `task_table`: a task's life (pending, running, succeeded) and its attempts, one
//!   record per task in each stage's table;
//! - `stage`: what a stage's tasks read ([`StageTasks`]) and write;
//! - `retry`: what follows a failed attempt, by whose fault it is, and which executors are
//!   excluded ([`RetryPolicy`]);
//! - `lineage`: where shuffle data comes from, and which map tasks run again when it is lost;
//! - `journal`: what the scheduler's journal keeps of a job ([`JobRecord`], [`JournalUpdate`]);
//! - `status`: the job as `flicker status` and `flicker logs` show it.

mod journal;
mod lineage;
mod retry;
mod stage;
mod status;
mod task;
mod task_table;

pub use journal::{JobRecord, JournalUpdate};
pub use retry::RetryPolicy;
pub use stage::{SplitRange, StageTasks};
pub use status::LOG_BUDGET;
pub use task::TaskDone;

use crate::plan::{ChosenBroadcast, StageInput, StagePlan};
use flicker_batch::{Boundaries, SortKey};
use flicker_protocol::failure::TaskFailure;
use flicker_protocol::status::{AttemptOutcome, JobFailure, JobState};
use flicker_protocol::task::{
    JobDescriptor, MAX_SAMPLE_KEY, MAX_SAMPLE_KEYS, OperatorLog, TaskInput, TaskMetrics, TaskOutput, TaskSpec,
};
use flicker_protocol::tenant::{Cost, Owner, TaskUsage};
use flicker_protocol::{AttemptId, ExecutorId, JobId, PartitionId, PluginDigest, StageId, TaskId, TaskIndex};
use retry::{Retries, Verdict};
use stage::StageRun;
use status::LogBudget;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::net::SocketAddr;
use std::time::Duration;
use task::{Attempt, TaskState};

/// A task shorter than this, on average, is short (see [`JobRun::tasks_are_short`]).
pub const SHORT_TASK: Duration = Duration::from_millis(50);

/// The succeeded tasks a job needs before its tasks count as short.
pub const SHORT_TASK_EVIDENCE: u64 = 8;

/// A part a sink's task wrote in its attempt's temporary area, to be committed: the scheduler
/// commits the part of the attempt that succeeded and no other.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SinkPart {
    /// The part's file name.
    pub name: String,
    /// Its size in bytes.
    pub size: u64,
    /// The attempt that wrote it.
    pub attempt: AttemptId,
}

/// Why committing a sink's output failed, as the scheduler service reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitFailure {
    /// The sink.
    pub sink: String,
    /// What went wrong, as the user should read it.
    pub cause: String,
}

/// The attempt a report is about, and what its operators wrote.
#[derive(Debug)]
pub struct Reported<'a> {
    /// The task.
    pub task: &'a TaskId,
    /// The attempt's number.
    pub attempt: AttemptId,
    /// Where it ran.
    pub executor: &'a ExecutorId,
    /// What its operators wrote.
    pub log: Vec<OperatorLog>,
}

/// What a task report or a commit did to the job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobChange {
    /// Nothing the caller must act on.
    None,
    /// Every task succeeded: commit these parts of each sink, then report with
    /// [`JobRun::committed`].
    Commit(Vec<(String, Vec<SinkPart>)>),
    /// The job ended (succeeded, failed or cancelled): clean up after it, then report with
    /// [`JobRun::cleaned_up`].
    Ended,
}

/// Who a job belongs to and what it may use: set when it is accepted (and when the journal gives
/// it back), from its owner and its prepared plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobTerms {
    /// Its tenant and submitter.
    pub owner: Owner,
    /// Its rank among its tenant's jobs: a higher one gets its tenant's slots first; equal ones
    /// go in submission order.
    pub priority: i32,
    /// The operator CPU it may use in all, in microseconds.
    pub max_cpu_us: Option<u64>,
    /// The operator memory one task of each stage holds (the sum of its instances' memory
    /// limits), in plan order.
    pub stage_memory: Vec<u64>,
}

impl Default for JobTerms {
    /// The default tenant's, priority 0, no CPU limit, no memory counted.
    fn default() -> Self {
        Self { owner: Owner::unrecorded(), priority: 0, max_cpu_us: None, stage_memory: Vec::new() }
    }
}

/// Where a job is in its life (see the [module](self) for the diagram).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Phase {
    /// It waits for its tenant to run fewer jobs.
    Queued,
    /// Its tasks run or wait for a slot.
    Running {
        /// Since when no executor could run its tasks.
        stalled_since: Option<Duration>,
    },
    /// Every task succeeded; its output is being committed.
    Committing,
    /// It ended; its leftovers are being removed.
    CleaningUp(Outcome),
    /// It ended and its leftovers are gone.
    Ended(Outcome),
}

impl Phase {
    /// How it ended, if it did.
    fn outcome(&self) -> Option<&Outcome> {
        match self {
            Phase::CleaningUp(outcome) | Phase::Ended(outcome) => Some(outcome),
            Phase::Queued | Phase::Running { .. } | Phase::Committing => None,
        }
    }
}

/// How a job ended, and when.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Outcome {
    state: JobState,
    /// Why it failed, if it did.
    failure: Option<JobFailure>,
    /// When it ended.
    at: Duration,
}

/// A job being run by the scheduler.
#[derive(Debug, Clone)]
pub struct JobRun {
    descriptor: JobDescriptor,
    name: String,
    terms: JobTerms,
    stages: Vec<StageRun>,
    phase: Phase,
    submitted: Duration,
    /// Totals over the tasks that succeeded and still count.
    metrics: TaskMetrics,
    tasks_by_executor: BTreeMap<ExecutorId, u32>,
    outputs: Vec<(String, String)>,
    executors_used: BTreeSet<ExecutorId>,
    shuffle_holders: BTreeSet<SocketAddr>,
    retries: Retries,
    /// The joins broadcast because a side is small, which every task's spec names.
    broadcasts: Vec<ChosenBroadcast>,
    /// What its attempts' operators wrote, within [`LOG_BUDGET`].
    logs: LogBudget,
    /// Changes not yet written to the journal.
    journal: Vec<JournalUpdate>,
}

impl JobRun {
    /// A job whose stages (in plan order) read what `inputs` says, accepted at `now`. `outputs`
    /// lists each sink's id and URL.
    pub fn new(
        descriptor: JobDescriptor,
        name: String,
        plan: &[StagePlan],
        inputs: Vec<StageTasks>,
        outputs: Vec<(String, String)>,
        retry: RetryPolicy,
        now: Duration,
    ) -> Self {
        let mut sources_seen = HashSet::new();
        let stages = plan
            .iter()
            .zip(inputs)
            .map(|(stage, input)| {
                let counts_input = match &stage.input {
                    StageInput::Source { source } => sources_seen.insert(source.clone()),
                    StageInput::Shuffle { .. }
                    | StageInput::CoGroup { .. }
                    | StageInput::Gathered { .. }
                    | StageInput::Sorted { .. } => true,
                };
                StageRun::new(stage, input, counts_input)
            })
            .collect();
        Self {
            descriptor,
            name,
            terms: JobTerms::default(),
            stages,
            phase: Phase::Running { stalled_since: None },
            submitted: now,
            metrics: TaskMetrics::default(),
            tasks_by_executor: BTreeMap::new(),
            outputs,
            executors_used: BTreeSet::new(),
            shuffle_holders: BTreeSet::new(),
            retries: Retries::new(retry),
            broadcasts: Vec::new(),
            logs: LogBudget::default(),
            journal: Vec::new(),
        }
    }

    /// The job with the joins `broadcasts` broadcast because a side is small (every task tells its
    /// executor, which plans the job alike).
    pub fn with_broadcasts(self, broadcasts: Vec<ChosenBroadcast>) -> Self {
        Self { broadcasts, ..self }
    }

    /// The job with these terms rather than the default ones.
    pub fn with_terms(self, terms: JobTerms) -> Self {
        Self { terms, ..self }
    }

    /// The job's id.
    pub fn id(&self) -> &JobId {
        &self.descriptor.job
    }

    /// Who it belongs to and what it may use.
    pub fn terms(&self) -> &JobTerms {
        &self.terms
    }

    /// Whether it waits in its tenant's queue.
    pub fn is_queued(&self) -> bool {
        self.phase == Phase::Queued
    }

    /// Puts a job that has not started in its tenant's queue.
    pub fn queue(&mut self) {
        if matches!(self.phase, Phase::Running { .. }) && self.running_tasks() == 0 {
            self.phase = Phase::Queued;
        }
    }

    /// Takes a queued job out of its queue: its tasks may run.
    pub fn start(&mut self) {
        if self.phase == Phase::Queued {
            self.phase = Phase::Running { stalled_since: None };
        }
    }

    /// Its tasks running now (each holds a slot).
    pub fn running_tasks(&self) -> u32 {
        self.stages.iter().map(|s| s.tasks.running() as u32).sum()
    }

    /// Its tasks that wait to run (in stages not runnable yet too).
    pub fn pending_tasks(&self) -> u32 {
        self.stages.iter().map(|s| s.tasks.pending().count() as u32).sum()
    }

    /// The operator memory its running tasks hold: each one its stage's memory.
    pub fn running_memory(&self) -> u64 {
        self.stages
            .iter()
            .enumerate()
            .map(|(position, s)| s.tasks.running() as u64 * self.task_memory(position))
            .sum()
    }

    /// The operator memory one task of the stage at `position` holds.
    pub fn task_memory(&self, position: usize) -> u64 {
        self.terms.stage_memory.get(position).copied().unwrap_or(0)
    }

    /// What its attempts consumed so far.
    pub fn cost(&self) -> Cost {
        self.stages.iter().map(|s| s.cost).sum()
    }

    /// Counts what an attempt of task `index` of `stage` consumed, `usage` and in all `cost` (a
    /// late or stale one too: its CPU was spent).
    pub fn charge(&mut self, stage: StageId, index: TaskIndex, usage: TaskUsage, cost: Cost) {
        if let Some(position) = self.position(stage) {
            self.stages[position].tasks.add_usage(index, usage);
            self.stages[position].cost += cost;
            self.journal.push(JournalUpdate::Charged { stage, total: self.stages[position].cost });
        }
    }

    /// Fails the job, unless it ended, because it used more than it may: `cause` says what.
    pub fn over_budget(&mut self, cause: String, failure: JobFailure, now: Duration) -> JobChange {
        // A job committing its output has done its work.
        if self.phase == Phase::Committing {
            return JobChange::None;
        }
        self.fail(cause, failure, now)
    }

    /// The components its plugins use.
    pub fn plugins(&self) -> Vec<PluginDigest> {
        self.descriptor.plugins.iter().map(|(_, d)| *d).collect()
    }

    /// Whether it ended with its output committed.
    pub fn succeeded(&self) -> bool {
        self.phase.outcome().is_some_and(|o| o.state == JobState::Succeeded)
    }

    /// Whether it has ended (its cleanup may still run).
    pub fn is_ended(&self) -> bool {
        self.phase.outcome().is_some()
    }

    /// Whether it ended and its cleanup is not done yet.
    pub fn is_cleaning_up(&self) -> bool {
        matches!(self.phase, Phase::CleaningUp(_))
    }

    /// When it ended, once its cleanup is done too: until then it may not be forgotten.
    pub fn finished_at(&self) -> Option<Duration> {
        match &self.phase {
            Phase::Ended(outcome) => Some(outcome.at),
            _ => None,
        }
    }

    /// If every task succeeded and the job is still running, moves it to committing and returns
    /// the parts to commit.
    pub fn ready_to_commit(&mut self) -> JobChange {
        if !matches!(self.phase, Phase::Running { .. }) || !self.stages.iter().all(StageRun::done) {
            return JobChange::None;
        }
        self.phase = Phase::Committing;
        let mut parts: BTreeMap<String, Vec<SinkPart>> =
            self.outputs.iter().map(|(sink, _)| (sink.clone(), Vec::new())).collect();
        for stage in &self.stages {
            if let Some(sink) = &stage.sink {
                parts.entry(sink.clone()).or_default().extend(stage.sink_parts());
            }
        }
        JobChange::Commit(parts.into_iter().collect())
    }

    /// Tasks that may start now: pending tasks of stages whose upstream stages are done, in stage
    /// and task order, as (stage position, task index); the first `skip` are left out and at
    /// most `limit` given. Costs `skip + limit` steps, however many tasks the job has.
    pub fn runnable(&self, skip: usize, limit: usize) -> Vec<(usize, TaskIndex)> {
        if !matches!(self.phase, Phase::Running { .. }) {
            return Vec::new();
        }
        self.stages
            .iter()
            .enumerate()
            .filter(|(_, s)| s.depends_on.iter().all(|&d| self.stage(d).is_some_and(StageRun::done)))
            .flat_map(|(position, s)| s.tasks.pending().map(move |index| (position, index)))
            .skip(skip)
            .take(limit)
            .collect()
    }

    /// Starts task `index` of the stage at `position` on `executor`; returns what to send it.
    pub fn launch(&mut self, position: usize, index: TaskIndex, executor: &ExecutorId) -> TaskSpec {
        let input = self.task_input(position, index);
        let part = self.part_number(position, index);
        let boundaries = self.boundaries(position);
        let kept = self.stages[position]
            .kept
            .iter()
            .map(|stages| stages.iter().flat_map(|&stage| self.map_outputs(stage, PartitionId(0))).collect())
            .collect();
        let stage = &mut self.stages[position];
        let attempt = stage.tasks.launch(index, executor).expect("a runnable task is in its stage");
        self.executors_used.insert(executor.clone());
        TaskSpec {
            task: TaskId { job: self.descriptor.job.clone(), stage: stage.id, index },
            attempt,
            job: self.descriptor.clone(),
            input,
            part,
            kept,
            boundaries,
            broadcasts: self.broadcasts.clone(),
            cpu_budget_us: None,
        }
    }

    /// The range boundaries of the stage at `position`, if it is the map side of a sort: chosen
    /// once from the samples of its sample stages, each key weighted by the rows its sample stands
    /// for (Spark's `RangePartitioner`), so every task and attempt cuts at the same keys.
    fn boundaries(&mut self, position: usize) -> Vec<Vec<u8>> {
        let Some((samples, partitions)) = &self.stages[position].samples else { return Vec::new() };
        if let Some(boundaries) = &self.stages[position].boundaries {
            return boundaries.clone();
        }
        let mut weighted = Vec::new();
        for stage in samples.iter().filter_map(|&id| self.stage(id)) {
            for done in stage.tasks.iter().filter_map(|task| task.done()) {
                if let TaskOutput::Sample { keys, rows } = &done.output
                    && !keys.is_empty()
                {
                    // An executor's sample is held to the sizes it may have.
                    let keys = &keys[..keys.len().min(MAX_SAMPLE_KEYS)];
                    let weight = *rows as f64 / keys.len() as f64;
                    let cut = |key: &Vec<u8>| SortKey::from_encoded(&key[..key.len().min(MAX_SAMPLE_KEY)]);
                    weighted.extend(keys.iter().map(|key| (cut(key), weight)));
                }
            }
        }
        let boundaries = Boundaries::from_weighted_sample(weighted, *partitions);
        let boundaries: Vec<Vec<u8>> =
            boundaries.splits().iter().map(|key| key.as_bytes().to_vec()).collect();
        self.stages[position].boundaries = Some(boundaries.clone());
        boundaries
    }

    /// The number of the part task `index` of the stage at `position` writes, if the stage
    /// writes a sink: its index after the tasks of the stages before it writing the same sink.
    fn part_number(&self, position: usize, index: TaskIndex) -> u32 {
        let Some(sink) = &self.stages[position].sink else { return index.0 };
        let earlier = self.stages[..position].iter().filter(|s| s.sink.as_ref() == Some(sink));
        earlier.map(|s| s.tasks.len() as u32).sum::<u32>() + index.0
    }

    fn task_input(&self, position: usize, index: TaskIndex) -> TaskInput {
        match &self.stages[position].input {
            StageTasks::Splits { source, splits } => splits[index.at()].task_input(source),
            StageTasks::Partitions { .. } | StageTasks::CoPartitions { .. } | StageTasks::Shuffled => {
                // A reduce stage's task `n` reads partition `n` of each input.
                let partition = PartitionId(index.0);
                let stage = &self.stages[position];
                let mut inputs = stage.upstream.iter().map(|stages| {
                    stages.iter().flat_map(|&stage| self.map_outputs(stage, partition)).collect::<Vec<_>>()
                });
                match stage.co_group {
                    true => TaskInput::CoPartition { partition, inputs: inputs.collect() },
                    false => {
                        TaskInput::Partition { partition, map_outputs: inputs.next().unwrap_or_default() }
                    }
                }
            }
        }
    }

    fn stage(&self, id: StageId) -> Option<&StageRun> {
        self.stages.iter().find(|s| s.id == id)
    }

    fn position(&self, id: StageId) -> Option<usize> {
        self.stages.iter().position(|s| s.id == id)
    }

    /// Whether `attempt` of `task` is the one running on `executor` now.
    fn is_current(&self, task: &TaskId, attempt: AttemptId, executor: &ExecutorId) -> Option<usize> {
        let position = self.position(task.stage)?;
        match self.stages[position].tasks.get(task.index)?.state() {
            TaskState::Running { executor: e, attempt: a } if e == executor && *a == attempt => {
                Some(position)
            }
            _ => None,
        }
    }

    /// Whether the job's tasks are short: those that succeeded (at least
    /// [`SHORT_TASK_EVIDENCE`]) ran for less than [`SHORT_TASK`] on average. A report's round
    /// trip to the scheduler is then a large part of a task's time.
    pub fn tasks_are_short(&self) -> bool {
        let done: u64 = self.tasks_by_executor.values().map(|&n| u64::from(n)).sum();
        done >= SHORT_TASK_EVIDENCE
            && u128::from(self.metrics.task_ms) < u128::from(done) * SHORT_TASK.as_millis()
    }

    /// Records a successful attempt: its metrics, and where its output is.
    pub fn task_succeeded(
        &mut self,
        reported: Reported<'_>,
        bts: SocketAddr,
        metrics: TaskMetrics,
        output: TaskOutput,
    ) -> JobChange {
        let Reported { task, attempt, executor, log } = reported;
        let Some(position) = self.is_current(task, attempt, executor) else { return JobChange::None };
        if !log.is_empty() {
            self.keep_attempt(position, task.index, attempt, executor, AttemptOutcome::Succeeded, log);
        }
        let metrics = if self.stages[position].counts_input { metrics } else { metrics.without_input() };
        let done = TaskDone { executor: executor.clone(), bts, output, metrics };
        self.journal.push(JournalUpdate::TaskDone {
            stage: task.stage,
            index: task.index,
            done: done.clone(),
        });
        self.mark_done(position, task.index, done);
        self.ready_to_commit()
    }

    /// Marks task `index` of the stage at `position` succeeded, and counts it in the job's totals.
    fn mark_done(&mut self, position: usize, index: TaskIndex, done: TaskDone) {
        self.metrics += done.metrics;
        if matches!(done.output, TaskOutput::MapOutput { .. }) {
            self.shuffle_holders.insert(done.bts);
        }
        *self.tasks_by_executor.entry(done.executor.clone()).or_default() += 1;
        self.stages[position].tasks.set(index, TaskState::Succeeded(done));
    }

    /// Records a failed attempt. What happens next depends on whose fault it is
    /// ([`TaskFailure::blame`]; see `retry`): the job's own fails the job at once; otherwise the
    /// task runs again unless it used up its attempts, and a failure of the attempt (not of the
    /// operator) counts against the executor, which is excluded from the job after
    /// `exclude_after`.
    pub fn task_failed(&mut self, reported: Reported<'_>, failure: TaskFailure, now: Duration) -> JobChange {
        let Reported { task, attempt, executor, log } = reported;
        let Some(position) = self.is_current(task, attempt, executor) else { return JobChange::None };
        self.stages[position].tasks.set(task.index, TaskState::Pending);
        let blame = failure.blame();
        let TaskFailure { kind, message: cause, .. } = failure;
        let outcome = AttemptOutcome::Failed { cause: cause.clone(), kind: kind.clone() };
        self.keep_attempt(position, task.index, attempt, executor, outcome, log);
        let attempts = self.stages[position].tasks.get(task.index).map_or(0, |t| t.failed_attempts());
        match self.retries.judge(blame, executor, attempts, cause) {
            Verdict::Retry => JobChange::None,
            Verdict::FailJob { cause } => {
                let failure = JobFailure::Task { stage: task.stage.0, task: task.index, attempts, kind };
                self.fail(cause, failure, now)
            }
        }
    }

    /// The executors where task `index` of the stage at `position` failed.
    pub fn failed_on(&self, position: usize, index: TaskIndex) -> BTreeSet<ExecutorId> {
        self.stages[position].tasks.get(index).map(|t| t.failed_on()).unwrap_or_default()
    }

    /// Executors that get no more of the job's tasks.
    pub fn excluded(&self) -> &BTreeSet<ExecutorId> {
        self.retries.excluded()
    }

    /// Notes whether some executor can run the job's tasks at `now`; fails the job if none could
    /// for `wait`.
    pub fn check_progress(&mut self, can_run: bool, wait: Duration, now: Duration) -> JobChange {
        let Phase::Running { stalled_since } = &mut self.phase else { return JobChange::None };
        if can_run {
            *stalled_since = None;
            return JobChange::None;
        }
        let since = *stalled_since.get_or_insert(now);
        if now.saturating_sub(since) < wait {
            return JobChange::None;
        }
        let excluded = self.retries.excluded();
        let cause = format!(
            "no executor could run the job's tasks for {wait:?}: every executor is lost{}",
            if excluded.is_empty() {
                String::new()
            } else {
                let names: Vec<&str> = excluded.iter().map(|e| e.0.as_str()).collect();
                format!(" or excluded after failing its tasks ({})", names.join(", "))
            }
        );
        self.fail(cause, JobFailure::NoExecutors, now)
    }

    /// Puts the tasks running on a lost executor back to pending. Returns how many.
    pub fn executor_lost(&mut self, executor: &ExecutorId) -> usize {
        self.requeue_running(|e| e == executor)
    }

    /// Puts the tasks running on an executor `select` picks back to pending. Returns how many.
    fn requeue_running(&mut self, select: impl Fn(&ExecutorId) -> bool) -> usize {
        let mut requeued = 0;
        for stage in &mut self.stages {
            let running = stage
                .tasks
                .indexes_where(|t| matches!(t, TaskState::Running { executor, .. } if select(executor)));
            requeued += running.len();
            for index in running {
                stage.tasks.set(index, TaskState::Pending);
            }
        }
        requeued
    }

    /// Cancels the job unless it has ended or is committing its output.
    pub fn cancel(&mut self, now: Duration) -> JobChange {
        self.end(JobState::Cancelled, None, now)
    }

    /// Records the outcome of the commit that [`JobChange::Commit`] asked for.
    pub fn committed(&mut self, result: Result<(), CommitFailure>, now: Duration) -> JobChange {
        if self.phase != Phase::Committing {
            return JobChange::None;
        }
        match result {
            Ok(()) => self.end(JobState::Succeeded, None, now),
            Err(CommitFailure { sink, cause }) => self.fail(cause, JobFailure::Commit { sink }, now),
        }
    }

    /// Records that the cleanup [`JobChange::Ended`] asked for is done.
    pub fn cleaned_up(&mut self) {
        if let Phase::CleaningUp(outcome) = &self.phase {
            self.phase = Phase::Ended(outcome.clone());
        }
    }

    fn fail(&mut self, cause: String, failure: JobFailure, now: Duration) -> JobChange {
        self.end(JobState::Failed { cause }, Some(failure), now)
    }

    fn end(&mut self, state: JobState, failure: Option<JobFailure>, now: Duration) -> JobChange {
        if self.is_ended() || (self.phase == Phase::Committing && state == JobState::Cancelled) {
            return JobChange::None;
        }
        self.journal.push(JournalUpdate::Ended { state: state.clone(), failure: failure.clone(), at: now });
        self.phase = Phase::CleaningUp(Outcome { state, failure, at: now });
        // The executors stop the job's running tasks as part of its cleanup.
        self.requeue_running(|_| true);
        JobChange::Ended
    }

    /// Executors that ran or run any of its tasks (they hold state of the job to drop).
    pub fn executors_used(&self) -> impl Iterator<Item = &ExecutorId> {
        self.executors_used.iter()
    }

    /// The BTSes holding its shuffle output.
    pub fn shuffle_holders(&self) -> impl Iterator<Item = &SocketAddr> {
        self.shuffle_holders.iter()
    }

    /// Records a finished attempt of task `index` of the stage at `position`, with its log unless
    /// the job's logs passed [`LOG_BUDGET`].
    fn keep_attempt(
        &mut self,
        position: usize,
        index: TaskIndex,
        number: AttemptId,
        executor: &ExecutorId,
        outcome: AttemptOutcome,
        log: Vec<OperatorLog>,
    ) {
        let log = self.logs.admit(log);
        let attempt = Attempt { number, executor: executor.clone(), outcome, log };
        self.stages[position].tasks.keep(index, attempt);
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::plan::StageOutput;
    use flicker_protocol::failure::FailureKind;
    use flicker_protocol::task::JobDefaults;

    pub(crate) fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    /// The plan of a two-stage job: map tasks reading source `in`, shuffling into `partitions`
    /// reduce tasks writing sink `out`.
    pub(crate) fn plan(partitions: u32) -> Vec<StagePlan> {
        vec![
            StagePlan {
                id: StageId(0),
                input: StageInput::Source { source: "in".into() },
                steps: vec!["parse".into()],
                kept: Vec::new(),
                output: StageOutput::Shuffle { aggregate: "max".into(), partitions, combined: false },
            },
            StagePlan {
                id: StageId(1),
                input: StageInput::Shuffle { stages: vec![StageId(0)], aggregate: "max".into(), partitions },
                steps: vec![],
                kept: Vec::new(),
                output: StageOutput::Sink { sink: "out".into() },
            },
        ]
    }

    /// Job `name`, whose component's digest is that of `plugin`.
    fn descriptor(name: &str, plugin: &str) -> JobDescriptor {
        JobDescriptor {
            job: JobId(name.into()),
            manifest_path: "job.toml".into(),
            manifest: String::new(),
            base_dir: "/".into(),
            plugins: vec![("op.wasm".into(), PluginDigest::of(plugin.as_bytes()))],
            defaults: JobDefaults::default(),
        }
    }

    fn retry(max_attempts: u32) -> RetryPolicy {
        RetryPolicy { max_attempts, exclude_after: 2 }
    }

    /// A job of [`plan`] with `splits` map tasks, whose tasks may be attempted `max_attempts`
    /// times, submitted at 0; its component's digest is that of its name.
    pub(crate) fn job(name: &str, splits: usize, partitions: u32, max_attempts: u32) -> JobRun {
        job_using(name, name, splits, partitions, max_attempts)
    }

    /// [`job`] whose component's digest is that of `plugin`.
    pub(crate) fn job_using(
        name: &str,
        plugin: &str,
        splits: usize,
        partitions: u32,
        max_attempts: u32,
    ) -> JobRun {
        let split = |i: usize| SplitRange { object: format!("f{i}"), object_size: 10, start: 0, end: 10 };
        let inputs = vec![
            StageTasks::Splits { source: "in".into(), splits: (0..splits).map(split).collect() },
            StageTasks::Partitions { upstream: StageId(0) },
        ];
        let outputs = vec![("out".into(), "file:///out".into())];
        JobRun::new(
            descriptor(name, plugin),
            name.into(),
            &plan(partitions),
            inputs,
            outputs,
            retry(max_attempts),
            secs(0),
        )
    }

    /// A map-only job: reads `splits` splits of `in`, writes sink `out`.
    fn map_only(splits: usize) -> JobRun {
        let plan = [StagePlan {
            id: StageId(0),
            input: StageInput::Source { source: "in".into() },
            steps: vec!["parse".into()],
            kept: Vec::new(),
            output: StageOutput::Sink { sink: "out".into() },
        }];
        let split = SplitRange { object: "f".into(), object_size: 10, start: 0, end: 10 };
        let inputs = vec![StageTasks::Splits { source: "in".into(), splits: vec![split; splits] }];
        let outputs = vec![("out".into(), "file:///out".into())];
        JobRun::new(descriptor("j", "j"), "j".into(), &plan, inputs, outputs, retry(1), secs(0))
    }

    fn on(name: &str) -> ExecutorId {
        ExecutorId(name.into())
    }

    /// Launches every runnable task on `executor`.
    fn launch_all(run: &mut JobRun, executor: &ExecutorId) -> Vec<TaskSpec> {
        run.runnable(0, usize::MAX).into_iter().map(|(p, i)| run.launch(p, i, executor)).collect()
    }

    /// Reports the success of `spec`, run on `executor`.
    fn succeed(run: &mut JobRun, spec: &TaskSpec, executor: &ExecutorId) -> JobChange {
        let output = match spec.input {
            TaskInput::Split { .. } => TaskOutput::MapOutput { partition_bytes: vec![5] },
            TaskInput::Partition { partition, .. } | TaskInput::CoPartition { partition, .. } => {
                TaskOutput::Part { name: format!("part-{partition}"), size: 1, attempt: spec.attempt }
            }
        };
        let reported = Reported { task: &spec.task, attempt: spec.attempt, executor, log: Vec::new() };
        let metrics = TaskMetrics { rows_in: 1, ..TaskMetrics::default() };
        run.task_succeeded(reported, "127.0.0.1:1".parse().unwrap(), metrics, output)
    }

    fn state(run: &JobRun) -> JobState {
        run.status(secs(9)).state
    }

    /// A join: map-side stages 0 (source `left`, `left_splits` tasks) and 1 (source `right`, one
    /// task), co-partitioned into 2 partitions read by stage 2, which writes sink `out`.
    fn join(left_splits: usize) -> JobRun {
        let side = |id: u32, source: &str, input: u32| StagePlan {
            id: StageId(id),
            input: StageInput::Source { source: source.into() },
            steps: vec!["parse".into()],
            kept: Vec::new(),
            output: StageOutput::CoGroupInput { step: "join".into(), input, partitions: 2 },
        };
        let reduce = StagePlan {
            id: StageId(2),
            input: StageInput::CoGroup {
                step: "join".into(),
                inputs: vec![vec![StageId(0)], vec![StageId(1)]],
                partitions: 2,
            },
            steps: vec![],
            kept: Vec::new(),
            output: StageOutput::Sink { sink: "out".into() },
        };
        let split = SplitRange { object: "f".into(), object_size: 10, start: 0, end: 10 };
        let inputs = vec![
            StageTasks::Splits { source: "left".into(), splits: vec![split.clone(); left_splits] },
            StageTasks::Splits { source: "right".into(), splits: vec![split] },
            StageTasks::CoPartitions { upstream: vec![StageId(0), StageId(1)] },
        ];
        let plan = [side(0, "left", 0), side(1, "right", 1), reduce];
        let outputs = vec![("out".into(), "file:///out".into())];
        JobRun::new(descriptor("j", "j"), "j".into(), &plan, inputs, outputs, retry(3), secs(0))
    }

    /// A sort of source `in` (two splits) into 3 ranges: sample stage 0, range stage 1, sorted
    /// stage 2 writing sink `out`.
    fn sort() -> JobRun {
        let source = || StageInput::Source { source: "in".into() };
        let plan = [
            StagePlan {
                id: StageId(0),
                input: source(),
                steps: vec!["parse".into()],
                kept: Vec::new(),
                output: StageOutput::Sample { step: "sort".into() },
            },
            StagePlan {
                id: StageId(1),
                input: source(),
                steps: vec!["parse".into()],
                kept: Vec::new(),
                output: StageOutput::Range { step: "sort".into(), partitions: 3, samples: vec![StageId(0)] },
            },
            StagePlan {
                id: StageId(2),
                input: StageInput::Sorted { step: "sort".into(), stages: vec![StageId(1)], partitions: 3 },
                steps: vec![],
                kept: Vec::new(),
                output: StageOutput::Sink { sink: "out".into() },
            },
        ];
        let split = SplitRange { object: "f".into(), object_size: 10, start: 0, end: 10 };
        let splits = || StageTasks::Splits { source: "in".into(), splits: vec![split.clone(); 2] };
        let inputs = vec![splits(), splits(), StageTasks::Shuffled];
        let outputs = vec![("out".into(), "file:///out".into())];
        JobRun::new(descriptor("j", "j"), "j".into(), &plan, inputs, outputs, retry(3), secs(0))
    }

    #[test]
    fn a_sort_chooses_its_boundaries_once_from_weighted_samples_which_are_never_lost() {
        let mut run = sort();
        let (a, bts) = (on("a"), "127.0.0.1:1".parse().unwrap());
        let report = |run: &mut JobRun, spec: &TaskSpec, output| {
            let reported =
                Reported { task: &spec.task, attempt: spec.attempt, executor: &a, log: Vec::new() };
            run.task_succeeded(reported, bts, TaskMetrics::default(), output)
        };
        let samples = launch_all(&mut run, &a);
        assert_eq!(samples.iter().map(|s| s.task.stage).collect::<Vec<_>>(), [StageId(0), StageId(0)]);
        // Split 0 stands for 1000 rows with keys 1..=4, split 1 for 4 rows with keys 5..=8: the
        // ranges cut within split 0's keys.
        let keys = |range: std::ops::RangeInclusive<u8>| range.map(|k| vec![k]).collect();
        report(&mut run, &samples[0], TaskOutput::Sample { keys: keys(1..=4), rows: 1000 });
        report(&mut run, &samples[1], TaskOutput::Sample { keys: keys(5..=8), rows: 4 });
        let ranges = launch_all(&mut run, &a);
        assert_eq!(ranges.len(), 2);
        assert!(ranges.iter().all(|spec| spec.boundaries == [vec![2], vec![3]]), "{ranges:?}");
        // The executor that sampled goes: the samples stay, the range tasks keep their
        // boundaries, and only lost map outputs run again.
        for spec in &ranges {
            report(&mut run, spec, TaskOutput::MapOutput { partition_bytes: vec![1, 1, 1] });
        }
        run.map_outputs_lost(bts, None, secs(1));
        let again = launch_all(&mut run, &a);
        let stages: Vec<StageId> = again.iter().map(|spec| spec.task.stage).collect();
        assert_eq!(stages, [StageId(1), StageId(1)]);
        assert!(again.iter().all(|spec| spec.boundaries == [vec![2], vec![3]]));
    }

    #[test]
    fn a_co_partitioned_stage_waits_for_every_input_reads_each_and_recomputes_a_lost_side() {
        let mut run = join(2);
        let (a, left_bts, right_bts) =
            (on("a"), "127.0.0.1:1".parse().unwrap(), "127.0.0.1:2".parse().unwrap());
        let specs = launch_all(&mut run, &a);
        assert_eq!(
            specs.iter().map(|s| s.task.stage).collect::<Vec<_>>(),
            [StageId(0), StageId(0), StageId(1)]
        );
        let done = |run: &mut JobRun, spec: &TaskSpec, bts| {
            let reported =
                Reported { task: &spec.task, attempt: spec.attempt, executor: &a, log: Vec::new() };
            let output = TaskOutput::MapOutput { partition_bytes: vec![3, 4] };
            run.task_succeeded(reported, bts, TaskMetrics::default(), output)
        };
        done(&mut run, &specs[0], left_bts);
        done(&mut run, &specs[1], left_bts);
        assert!(run.runnable(0, usize::MAX).is_empty(), "the right side is not done yet");
        done(&mut run, &specs[2], right_bts);
        let reduce = launch_all(&mut run, &a);
        assert_eq!(reduce.len(), 2);
        let TaskInput::CoPartition { partition, inputs } = &reduce[1].input else {
            panic!("{:?}", reduce[1])
        };
        assert_eq!(*partition, PartitionId(1));
        let located: Vec<Vec<(SocketAddr, u64)>> =
            inputs.iter().map(|side| side.iter().map(|o| (o.bts, o.bytes)).collect()).collect();
        assert_eq!(located, [vec![(left_bts, 4), (left_bts, 4)], vec![(right_bts, 4)]]);

        // The right side's BTS goes: its map task runs again before the join's tasks can.
        run.map_outputs_lost(right_bts, None, secs(1));
        let again = run.runnable(0, usize::MAX);
        let stages: Vec<StageId> = again.iter().map(|&(position, _)| run.stages[position].id).collect();
        assert_eq!(stages, [StageId(1)]);
    }

    #[test]
    fn a_job_commits_once_every_task_succeeded_then_cleans_up_then_ends() {
        let mut run = job("j", 2, 1, 1);
        let a = on("a");
        let maps = launch_all(&mut run, &a);
        assert_eq!(maps.len(), 2);
        assert_eq!(launch_all(&mut run, &a), [], "the reduce waits for the maps");
        for spec in &maps {
            assert_eq!(succeed(&mut run, spec, &a), JobChange::None);
        }
        let reduce = launch_all(&mut run, &a).remove(0);
        let part = SinkPart { name: "part-0".into(), size: 1, attempt: AttemptId(0) };
        assert_eq!(succeed(&mut run, &reduce, &a), JobChange::Commit(vec![("out".into(), vec![part])]));
        assert_eq!(run.ready_to_commit(), JobChange::None, "asked once");
        assert_eq!(run.cancel(secs(2)), JobChange::None, "a committing job is not cancelled");
        assert_eq!(state(&run), JobState::Running);
        assert_eq!(run.committed(Ok(()), secs(3)), JobChange::Ended);
        assert!(run.succeeded() && run.is_ended() && run.is_cleaning_up());
        assert_eq!(state(&run), JobState::Succeeded, "the end is known while cleaning up");
        assert_eq!(run.committed(Ok(()), secs(4)), JobChange::None);
        assert_eq!(run.finished_at(), None, "not while cleaning up");
        run.cleaned_up();
        assert!(run.succeeded() && run.is_ended() && !run.is_cleaning_up());
        assert_eq!(run.finished_at(), Some(secs(3)));
        assert_eq!(run.status(secs(9)).elapsed_ms, 3000, "the job ended when its commit did");
        let journal = run.take_journal();
        assert_eq!(journal.len(), 4, "three tasks done, and the end: {journal:?}");
        assert_eq!(
            journal[3],
            JournalUpdate::Ended { state: JobState::Succeeded, failure: None, at: secs(3) }
        );
    }

    #[test]
    fn a_map_only_job_with_empty_input_commits_nothing_at_once() {
        let mut run = map_only(0);
        assert_eq!(run.runnable(0, 10), []);
        assert_eq!(run.ready_to_commit(), JobChange::Commit(vec![("out".into(), Vec::new())]));
    }

    #[test]
    fn a_failed_commit_fails_the_job_naming_the_sink() {
        let mut run = map_only(0);
        run.ready_to_commit();
        let failure = CommitFailure { sink: "out".into(), cause: "disk full".into() };
        assert_eq!(run.committed(Err(failure), secs(1)), JobChange::Ended);
        let status = run.status(secs(1));
        assert_eq!(status.state, JobState::Failed { cause: "disk full".into() });
        assert_eq!(status.failure, Some(JobFailure::Commit { sink: "out".into() }));
        assert!(!run.succeeded() && run.is_cleaning_up());
    }

    #[test]
    fn an_ended_job_runs_nothing_and_ends_once() {
        let mut run = job("j", 3, 1, 1);
        let specs = launch_all(&mut run, &on("a"));
        assert_eq!(run.cancel(secs(1)), JobChange::Ended);
        assert_eq!(run.status(secs(1)).stages[0].running, 0, "its running tasks are stopped");
        assert_eq!(run.runnable(0, 10), []);
        assert_eq!(succeed(&mut run, &specs[0], &on("a")), JobChange::None, "late reports are ignored");
        assert_eq!(run.cancel(secs(2)), JobChange::None);
        assert_eq!(run.check_progress(false, secs(0), secs(3)), JobChange::None);
        run.cleaned_up();
        run.cleaned_up();
        assert_eq!(state(&run), JobState::Cancelled);
        assert!(!run.is_cleaning_up());
    }

    #[test]
    fn a_job_fails_when_no_executor_could_run_it_for_the_whole_wait() {
        let mut run = job("j", 1, 1, 1);
        let wait = secs(10);
        assert_eq!(run.check_progress(false, wait, secs(1)), JobChange::None);
        assert_eq!(run.check_progress(true, wait, secs(5)), JobChange::None, "an executor came back");
        assert_eq!(run.check_progress(false, wait, secs(6)), JobChange::None);
        assert_eq!(run.check_progress(false, wait, secs(15)), JobChange::None, "stalled since 6");
        assert_eq!(run.check_progress(false, wait, secs(16)), JobChange::Ended);
        let status = run.status(secs(16));
        assert_eq!(status.failure, Some(JobFailure::NoExecutors));
    }

    #[test]
    fn failed_attempts_are_judged_by_the_retry_policy_and_remembered_per_task() {
        let mut run = job("j", 2, 1, 2);
        let (a, b) = (on("a"), on("b"));
        let specs = launch_all(&mut run, &a);
        let fail = |run: &mut JobRun, spec: &TaskSpec, executor: &ExecutorId| {
            let reported = Reported { task: &spec.task, attempt: spec.attempt, executor, log: Vec::new() };
            run.task_failed(reported, TaskFailure::new(FailureKind::Storage, "disk"), secs(1))
        };
        assert_eq!(fail(&mut run, &specs[1], &a), JobChange::None);
        assert_eq!(run.failed_on(0, TaskIndex(1)), BTreeSet::from([a.clone()]));
        assert_eq!(run.failed_on(0, TaskIndex(0)), BTreeSet::new());
        assert_eq!(fail(&mut run, &specs[1], &a), JobChange::None, "a stale attempt is ignored");
        let retry = run.launch(0, TaskIndex(1), &b);
        assert_eq!(retry.attempt, AttemptId(1));
        assert_eq!(fail(&mut run, &retry, &b), JobChange::Ended);
        let status = run.status(secs(1));
        assert_eq!(status.state, JobState::Failed { cause: "disk (failed 2 attempts)".into() });
        let failure =
            JobFailure::Task { stage: 0, task: TaskIndex(1), attempts: 2, kind: FailureKind::Storage };
        assert_eq!(status.failure, Some(failure));
    }
}
