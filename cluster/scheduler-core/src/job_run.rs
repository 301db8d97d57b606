//! One job's progress through its stages and tasks, as plain data driven by events.
//!
//! A task's life:
//!
//! ```text
//!   Pending ──launch──▶ Running { executor, attempt } ──succeeded──▶ Succeeded { executor, output }
//!      ▲                     │
//!      └── executor lost ────┤
//!      └── failed, attempts left ─┘      failed, no attempts left (or the job's own fault:
//!                                        a rejected record or config) ──▶ the job fails
//! ```
//!
//! A failed attempt is retried, preferably on an executor where the task has not failed yet; an
//! executor that fails `exclude_after` of the job's attempts gets no more of its tasks. A failure
//! that is the job's own ([`Blame::Job`]) fails the job at once and blames no executor.
//!
//! A stage's tasks become runnable once every task of the stage it reads from succeeded. The job:
//! `Running` → (every task succeeded) `Committing` → `Succeeded`, or `Failed` / `Cancelled` at any
//! point before it succeeded. Reports of an attempt that is no longer current are ignored.

use crate::plan::{StageInput, StageOutput, StagePlan};
use crate::task_table::TaskTable;
use flicker_protocol::status::{
    AttemptOutcome, AttemptStatus, FailedAttempt, JobState, JobStatus, StageStatus, TaskDurations,
};
use flicker_protocol::task::{
    Blame, JobDescriptor, LostMapOutput, MapOutputLocation, OperatorLog, TaskInput, TaskMetrics, TaskOutput,
    TaskSpec,
};
use flicker_protocol::{ExecutorId, JobId, MapOutputId, PluginDigest, StageId, TaskId};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::net::SocketAddr;
use std::time::Duration;

/// A task shorter than this, on average, is short (see [`JobRun::tasks_are_short`]).
pub const SHORT_TASK: Duration = Duration::from_millis(50);

/// The succeeded tasks a job needs before its tasks count as short.
pub const SHORT_TASK_EVIDENCE: u64 = 8;

/// Where one task is in its life.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskState {
    /// Waiting for its stage to become runnable and for a slot.
    Pending,
    /// Running on an executor.
    Running {
        /// The executor.
        executor: ExecutorId,
        /// The attempt number.
        attempt: u32,
    },
    /// Done; its output is where it says.
    Succeeded {
        /// The executor that ran it.
        executor: ExecutorId,
        /// The BTS holding its shuffle output, for a map task.
        bts: SocketAddr,
        /// What it left behind.
        output: TaskOutput,
        /// What it read and wrote (taken back out of the job's totals if it must run again).
        metrics: TaskMetrics,
    },
}

/// What the tasks of a stage read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum StageTasks {
    /// One task per split of a source.
    Splits {
        /// The source's id.
        source: String,
        /// The splits, in task order.
        splits: Vec<SplitRange>,
    },
    /// One task per partition of the shuffle written by `upstream`.
    Partitions {
        /// The stage whose map outputs the tasks read.
        upstream: StageId,
    },
}

/// A byte range of an input object (a split, as data).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SplitRange {
    /// The object's path in the source's store.
    pub object: String,
    /// The object's size.
    pub object_size: u64,
    /// First byte.
    pub start: u64,
    /// End (exclusive).
    pub end: u64,
}

/// A part a sink's task wrote in its attempt's temporary area, to be committed: the scheduler
/// commits the part of the attempt that succeeded and no other.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SinkPart {
    /// The part's file name.
    pub name: String,
    /// Its size in bytes.
    pub size: u64,
    /// The attempt that wrote it.
    pub attempt: u32,
}

/// How many times a job's tasks may fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetryPolicy {
    /// Attempts of a task before the job fails.
    pub max_attempts: u32,
    /// Failed attempts of the job's tasks after which an executor gets no more of them.
    pub exclude_after: u32,
}

/// How much of what its operators wrote a job keeps, in all (logs past it are dropped, and the
/// attempt says how many bytes): a quarter of a frame, so the answer listing them all
/// (`SchedulerResponse::Logs`) fits in one with room for the attempts' causes.
pub const LOG_BUDGET: usize = flicker_protocol::MAX_FRAME / 4;

/// A finished attempt of a task, as kept for retries and for `flicker status`: every failed one,
/// and a succeeded one whose operators wrote something.
#[derive(Debug, Clone)]
struct Attempt {
    number: u32,
    executor: ExecutorId,
    outcome: AttemptOutcome,
    log: Vec<OperatorLog>,
}

impl Attempt {
    fn failed(&self) -> Option<&str> {
        match &self.outcome {
            AttemptOutcome::Failed { cause } => Some(cause),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
struct StageRun {
    id: StageId,
    description: String,
    depends_on: Option<StageId>,
    input: StageTasks,
    tasks: TaskTable,
    attempts: Vec<u32>,
    /// Each task's finished attempts worth keeping (see [`Attempt`]).
    history: Vec<Vec<Attempt>>,
    /// How often each task's map output was lost and computed again.
    recomputed: Vec<u32>,
    /// Whether its tasks' input counters count towards the job's (a source read by several
    /// stages counts once).
    counts_input: bool,
    /// The sink it writes, if any.
    sink: Option<String>,
}

impl StageRun {
    fn done(&self) -> bool {
        self.tasks.all_succeeded()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Phase {
    Running,
    Committing,
    Ended(JobState),
}

/// What a finished task left behind, as the journal keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskDone {
    /// The executor that ran it.
    pub executor: ExecutorId,
    /// The BTS holding its shuffle output, for a map task.
    pub bts: SocketAddr,
    /// What it left behind.
    pub output: TaskOutput,
    /// What it read and wrote.
    pub metrics: TaskMetrics,
}

/// The attempt a report is about, and what its operators wrote.
#[derive(Debug)]
pub struct Reported<'a> {
    /// The task.
    pub task: &'a TaskId,
    /// The attempt's number.
    pub attempt: u32,
    /// Where it ran.
    pub executor: &'a ExecutorId,
    /// What its operators wrote.
    pub log: Vec<OperatorLog>,
}

/// A change of a job that the scheduler's journal records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JournalUpdate {
    /// A task succeeded.
    TaskDone {
        /// Its stage.
        stage: StageId,
        /// Its index.
        index: u32,
        /// What it left behind.
        done: TaskDone,
    },
    /// A task's output was lost: it must run again.
    TaskUndone {
        /// Its stage.
        stage: StageId,
        /// Its index.
        index: u32,
    },
    /// The job ended.
    Ended(JobState),
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

/// What a task report or a commit did to the job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobChange {
    /// Nothing the caller must act on.
    None,
    /// Every task succeeded: commit these parts of each sink, then report with
    /// [`JobRun::committed`].
    Commit(Vec<(String, Vec<SinkPart>)>),
    /// The job ended (succeeded, failed or cancelled): clean up after it.
    Ended,
}

/// A job being run by the scheduler.
#[derive(Debug, Clone)]
pub struct JobRun {
    descriptor: JobDescriptor,
    name: String,
    stages: Vec<StageRun>,
    phase: Phase,
    submitted: Duration,
    ended: Option<Duration>,
    metrics: TaskMetrics,
    tasks_by_executor: BTreeMap<ExecutorId, u32>,
    outputs: Vec<(String, String)>,
    executors_used: BTreeSet<ExecutorId>,
    shuffle_holders: BTreeSet<SocketAddr>,
    retry: RetryPolicy,
    failures_by_executor: BTreeMap<ExecutorId, u32>,
    excluded: BTreeSet<ExecutorId>,
    /// Bytes of operator output its attempts hold (at most [`LOG_BUDGET`]).
    log_bytes: usize,
    /// Since when no executor could run the job's tasks.
    stalled_since: Option<Duration>,
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
                let count = match &input {
                    StageTasks::Splits { splits, .. } => splits.len(),
                    StageTasks::Partitions { .. } => match &stage.input {
                        StageInput::Shuffle { partitions, .. } => *partitions as usize,
                        StageInput::Source { .. } => 0,
                    },
                };
                let counts_input = match &stage.input {
                    StageInput::Source { source } => sources_seen.insert(source.clone()),
                    StageInput::Shuffle { .. } => true,
                };
                let sink = match &stage.output {
                    StageOutput::Sink { sink } => Some(sink.clone()),
                    StageOutput::Shuffle { .. } => None,
                };
                StageRun {
                    id: stage.id,
                    description: describe(stage),
                    depends_on: stage.depends_on(),
                    input,
                    tasks: TaskTable::new(count),
                    attempts: vec![0; count],
                    history: vec![Vec::new(); count],
                    recomputed: vec![0; count],
                    counts_input,
                    sink,
                }
            })
            .collect();
        Self {
            descriptor,
            name,
            stages,
            phase: Phase::Running,
            submitted: now,
            ended: None,
            metrics: TaskMetrics::default(),
            tasks_by_executor: BTreeMap::new(),
            outputs,
            executors_used: BTreeSet::new(),
            shuffle_holders: BTreeSet::new(),
            retry,
            failures_by_executor: BTreeMap::new(),
            log_bytes: 0,
            excluded: BTreeSet::new(),
            stalled_since: None,
            journal: Vec::new(),
        }
    }

    /// The job rebuilt from its journal record, at `now`; `plan` is the plan of its manifest.
    pub fn from_record(record: JobRecord, plan: &[StagePlan], now: Duration) -> Self {
        Self::new(record.descriptor, record.name, plan, record.inputs, record.outputs, record.retry, now)
    }

    /// What the journal keeps of the job.
    pub fn record(&self) -> JobRecord {
        JobRecord {
            descriptor: self.descriptor.clone(),
            name: self.name.clone(),
            inputs: self.stages.iter().map(|s| s.input.clone()).collect(),
            outputs: self.outputs.clone(),
            retry: self.retry,
        }
    }

    /// The changes since the last call, for the journal.
    pub fn take_journal(&mut self) -> Vec<JournalUpdate> {
        std::mem::take(&mut self.journal)
    }

    /// Marks a task done as the journal says it was (after a restart of the scheduler).
    pub fn restore_done(&mut self, stage: StageId, index: u32, done: TaskDone) {
        let Some(position) = self.position(stage) else { return };
        let run = &mut self.stages[position];
        if run.tasks.get(index).is_none() {
            return;
        }
        self.metrics += done.metrics;
        if matches!(done.output, TaskOutput::MapOutput { .. }) {
            self.shuffle_holders.insert(done.bts);
        }
        *self.tasks_by_executor.entry(done.executor.clone()).or_default() += 1;
        let state = TaskState::Succeeded {
            executor: done.executor,
            bts: done.bts,
            output: done.output,
            metrics: done.metrics,
        };
        run.tasks.set(index, state);
    }

    /// Marks the job ended as the journal says it did.
    pub fn restore_end(&mut self, state: JobState, now: Duration) {
        self.end(state, now);
        self.journal.clear();
    }

    /// The job's id.
    pub fn id(&self) -> &JobId {
        &self.descriptor.job
    }

    /// The components its plugins use.
    pub fn plugins(&self) -> Vec<PluginDigest> {
        self.descriptor.plugins.iter().map(|(_, d)| *d).collect()
    }

    /// Whether it ended with its output committed.
    pub fn succeeded(&self) -> bool {
        self.phase == Phase::Ended(JobState::Succeeded)
    }

    /// Whether it has ended.
    pub fn is_ended(&self) -> bool {
        matches!(self.phase, Phase::Ended(_))
    }

    /// If every task succeeded and the job is still running, moves it to committing and returns
    /// the parts to commit.
    pub fn ready_to_commit(&mut self) -> JobChange {
        if self.phase != Phase::Running || !self.stages.iter().all(StageRun::done) {
            return JobChange::None;
        }
        self.phase = Phase::Committing;
        let mut parts: BTreeMap<String, Vec<SinkPart>> =
            self.outputs.iter().map(|(sink, _)| (sink.clone(), Vec::new())).collect();
        for stage in &self.stages {
            let Some(sink) = &stage.sink else { continue };
            for task in stage.tasks.iter() {
                if let TaskState::Succeeded { output: TaskOutput::Part { name, size, attempt }, .. } = task {
                    let part = SinkPart { name: name.clone(), size: *size, attempt: *attempt };
                    parts.entry(sink.clone()).or_default().push(part);
                }
            }
        }
        JobChange::Commit(parts.into_iter().collect())
    }

    /// Tasks that may start now: pending tasks of stages whose upstream stage is done, in stage
    /// and task order, as (stage position, task index); the first `skip` are left out and at
    /// most `limit` given. Costs `skip + limit` steps, however many tasks the job has.
    pub fn runnable(&self, skip: usize, limit: usize) -> Vec<(usize, u32)> {
        if self.phase != Phase::Running {
            return Vec::new();
        }
        self.stages
            .iter()
            .enumerate()
            .filter(|(_, s)| s.depends_on.is_none_or(|d| self.stage(d).is_some_and(StageRun::done)))
            .flat_map(|(position, s)| s.tasks.pending().map(move |index| (position, index)))
            .skip(skip)
            .take(limit)
            .collect()
    }

    /// Starts task `index` of the stage at `position` on `executor`; returns what to send it.
    pub fn launch(&mut self, position: usize, index: u32, executor: &ExecutorId) -> TaskSpec {
        let input = self.task_input(position, index);
        let stage = &mut self.stages[position];
        let attempt = stage.attempts[index as usize];
        stage.attempts[index as usize] += 1;
        stage.tasks.set(index, TaskState::Running { executor: executor.clone(), attempt });
        self.executors_used.insert(executor.clone());
        TaskSpec {
            task: TaskId { job: self.descriptor.job.clone(), stage: stage.id, index },
            attempt,
            job: self.descriptor.clone(),
            input,
        }
    }

    fn task_input(&self, position: usize, index: u32) -> TaskInput {
        match &self.stages[position].input {
            StageTasks::Splits { source, splits } => {
                let split = &splits[index as usize];
                TaskInput::Split {
                    source: source.clone(),
                    object: split.object.clone(),
                    object_size: split.object_size,
                    start: split.start,
                    end: split.end,
                }
            }
            StageTasks::Partitions { upstream } => {
                let upstream = self.stage(*upstream).expect("a stage reads an earlier stage of its job");
                let map_outputs = upstream
                    .tasks
                    .iter()
                    .enumerate()
                    .filter_map(|(map_task, state)| match state {
                        TaskState::Succeeded {
                            bts,
                            output: TaskOutput::MapOutput { partition_bytes },
                            ..
                        } => Some(MapOutputLocation {
                            id: MapOutputId {
                                job: self.descriptor.job.clone(),
                                stage: upstream.id,
                                map_task: map_task as u32,
                            },
                            bts: *bts,
                            bytes: partition_bytes.get(index as usize).copied().unwrap_or(0),
                        }),
                        _ => None,
                    })
                    .collect();
                TaskInput::Partition { partition: index, map_outputs }
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
    fn is_current(&self, task: &TaskId, attempt: u32, executor: &ExecutorId) -> Option<usize> {
        let position = self.position(task.stage)?;
        match self.stages[position].tasks.get(task.index)? {
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
        let stage = &mut self.stages[position];
        let metrics = if stage.counts_input { metrics } else { metrics.without_input() };
        self.metrics += metrics;
        self.journal.push(JournalUpdate::TaskDone {
            stage: task.stage,
            index: task.index,
            done: TaskDone { executor: executor.clone(), bts, output: output.clone(), metrics },
        });
        if matches!(output, TaskOutput::MapOutput { .. }) {
            self.shuffle_holders.insert(bts);
        }
        stage
            .tasks
            .set(task.index, TaskState::Succeeded { executor: executor.clone(), bts, output, metrics });
        *self.tasks_by_executor.entry(executor.clone()).or_default() += 1;
        self.ready_to_commit()
    }

    /// Records a failed attempt. The task runs again unless it used up its attempts, or the
    /// failure is the job's own ([`Blame::Job`]): then the job fails with `cause`.
    pub fn task_failed(
        &mut self,
        reported: Reported<'_>,
        cause: String,
        blame: Blame,
        now: Duration,
    ) -> JobChange {
        let Reported { task, attempt, executor, log } = reported;
        let Some(position) = self.is_current(task, attempt, executor) else { return JobChange::None };
        let index = task.index as usize;
        let stage = &mut self.stages[position];
        stage.tasks.set(task.index, TaskState::Pending);
        let outcome = AttemptOutcome::Failed { cause: cause.clone() };
        self.keep_attempt(position, task.index, attempt, executor, outcome, log);
        let stage = &self.stages[position];
        if blame == Blame::Job {
            // The same input fails the same way anywhere: neither a retry nor the executor's
            // exclusion can help.
            return self.end(JobState::Failed { cause }, now);
        }
        let attempts = stage.history[index].iter().filter(|a| a.failed().is_some()).count() as u32;
        let failed_here = self.failures_by_executor.entry(executor.clone()).or_default();
        *failed_here += 1;
        if *failed_here >= self.retry.exclude_after {
            self.excluded.insert(executor.clone());
        }
        if attempts >= self.retry.max_attempts {
            let cause = if attempts == 1 { cause } else { format!("{cause} (failed {attempts} attempts)") };
            return self.end(JobState::Failed { cause }, now);
        }
        JobChange::None
    }

    /// The executors where task `index` of the stage at `position` failed.
    pub fn failed_on(&self, position: usize, index: u32) -> BTreeSet<ExecutorId> {
        let history = &self.stages[position].history[index as usize];
        history.iter().filter(|a| a.failed().is_some()).map(|a| a.executor.clone()).collect()
    }

    /// Executors that get no more of the job's tasks.
    pub fn excluded(&self) -> &BTreeSet<ExecutorId> {
        &self.excluded
    }

    /// Notes whether some executor can run the job's tasks at `now`; fails the job if none could
    /// for `wait`.
    pub fn check_progress(&mut self, can_run: bool, wait: Duration, now: Duration) -> JobChange {
        if can_run || self.phase != Phase::Running {
            self.stalled_since = None;
            return JobChange::None;
        }
        let since = *self.stalled_since.get_or_insert(now);
        if now.saturating_sub(since) < wait {
            return JobChange::None;
        }
        let cause = format!(
            "no executor could run the job's tasks for {wait:?}: every executor is lost{}",
            if self.excluded.is_empty() {
                String::new()
            } else {
                format!(" or excluded after failing its tasks ({})", join(&self.excluded))
            }
        );
        self.end(JobState::Failed { cause }, now)
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
        let done: HashSet<StageId> = self.stages.iter().filter(|s| s.done()).map(|s| s.id).collect();
        let needed: HashSet<StageId> =
            self.stages.iter().filter(|s| !done.contains(&s.id)).filter_map(|s| s.depends_on).collect();
        let mut worn_out = None;
        for stage in self.stages.iter_mut().filter(|s| needed.contains(&s.id)) {
            let id = stage.id;
            let lost = stage.tasks.indexes_where(
                |task| matches!(task, TaskState::Succeeded { bts: held_by, .. } if *held_by == bts),
            );
            for index in lost.into_iter().filter(|&i| only.is_none_or(|o| o.stage == id && o.map_task == i)) {
                if let Some(TaskState::Succeeded { metrics, .. }) = stage.tasks.get(index) {
                    self.metrics -= *metrics;
                }
                stage.tasks.set(index, TaskState::Pending);
                self.journal.push(JournalUpdate::TaskUndone { stage: id, index });
                stage.recomputed[index as usize] += 1;
                if stage.recomputed[index as usize] > self.retry.max_attempts {
                    worn_out =
                        Some(MapOutputId { job: self.descriptor.job.clone(), stage: id, map_task: index });
                }
            }
        }
        match worn_out {
            Some(id) => {
                let cause = format!("{id} was lost more than {} times", self.retry.max_attempts);
                self.end(JobState::Failed { cause }, now)
            }
            None => JobChange::None,
        }
    }

    /// Puts the tasks running on a lost executor back to pending. Returns how many.
    pub fn executor_lost(&mut self, executor: &ExecutorId) -> usize {
        let mut requeued = 0;
        for stage in &mut self.stages {
            let running = stage
                .tasks
                .indexes_where(|t| matches!(t, TaskState::Running { executor: e, .. } if e == executor));
            requeued += running.len();
            for index in running {
                stage.tasks.set(index, TaskState::Pending);
            }
        }
        requeued
    }

    /// Cancels the job unless it has ended.
    pub fn cancel(&mut self, now: Duration) -> JobChange {
        self.end(JobState::Cancelled, now)
    }

    /// Records the outcome of the commit that [`JobChange::Commit`] asked for.
    pub fn committed(&mut self, result: Result<(), String>, now: Duration) -> JobChange {
        if self.phase != Phase::Committing {
            return JobChange::None;
        }
        self.phase = Phase::Running;
        match result {
            Ok(()) => self.end(JobState::Succeeded, now),
            Err(cause) => self.end(JobState::Failed { cause }, now),
        }
    }

    fn end(&mut self, state: JobState, now: Duration) -> JobChange {
        if self.is_ended() || (self.phase == Phase::Committing && state == JobState::Cancelled) {
            return JobChange::None;
        }
        self.journal.push(JournalUpdate::Ended(state.clone()));
        self.phase = Phase::Ended(state);
        self.ended = Some(now);
        // The executors stop the job's running tasks as part of its cleanup.
        for stage in &mut self.stages {
            for index in stage.tasks.indexes_where(|t| matches!(t, TaskState::Running { .. })) {
                stage.tasks.set(index, TaskState::Pending);
            }
        }
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

    /// The job as `flicker status` shows it at `now`.
    pub fn status(&self, now: Duration) -> JobStatus {
        let state = match &self.phase {
            Phase::Running | Phase::Committing => JobState::Running,
            Phase::Ended(state) => state.clone(),
        };
        let stages = self
            .stages
            .iter()
            .map(|s| StageStatus {
                stage: s.id.0,
                description: s.description.clone(),
                total: s.tasks.len() as u32,
                done: s.tasks.succeeded() as u32,
                running: s.tasks.running() as u32,
                task_durations: TaskDurations::of(
                    s.tasks
                        .iter()
                        .filter_map(|t| match t {
                            TaskState::Succeeded { metrics, .. } => Some(metrics.task_ms),
                            _ => None,
                        })
                        .collect(),
                ),
            })
            .collect();
        JobStatus {
            job: self.descriptor.job.clone(),
            name: self.name.clone(),
            state,
            stages,
            metrics: self.metrics,
            elapsed_ms: self.ended.unwrap_or(now).saturating_sub(self.submitted).as_millis() as u64,
            started_unix_ms: self.submitted.as_millis() as u64,
            ended_unix_ms: self.ended.map(|ended| ended.as_millis() as u64),
            tasks_by_executor: self.tasks_by_executor.iter().map(|(e, n)| (e.clone(), *n)).collect(),
            outputs: self.outputs.clone(),
            failed_attempts: self.failed_attempts(),
            excluded_executors: self.excluded.iter().cloned().collect(),
            recomputed_map_outputs: self.stages.iter().flat_map(|s| &s.recomputed).sum(),
        }
    }

    /// Records a finished attempt of task `index` of the stage at `position`, with its log unless
    /// the job's logs passed [`LOG_BUDGET`].
    fn keep_attempt(
        &mut self,
        position: usize,
        index: u32,
        number: u32,
        executor: &ExecutorId,
        outcome: AttemptOutcome,
        mut log: Vec<OperatorLog>,
    ) {
        let bytes: usize = log.iter().map(OperatorLog::bytes).sum();
        if self.log_bytes + bytes > LOG_BUDGET {
            let dropped = log.iter().map(|l| (l.stdout.len() + l.stderr.len()) as u64 + l.dropped).sum();
            let note = format!("(not kept: the job's operator output passed {} MiB)", LOG_BUDGET >> 20);
            log = vec![OperatorLog { step: String::new(), stdout: String::new(), stderr: note, dropped }];
        }
        self.log_bytes += log.iter().map(OperatorLog::bytes).sum::<usize>();
        let attempt = Attempt { number, executor: executor.clone(), outcome, log };
        self.stages[position].history[index as usize].push(attempt);
    }

    /// The attempts of task `task` (stage, index), finished and running, with their logs; or,
    /// without a task, the job's finished attempts whose operators wrote something. `None` if
    /// the job has no such task.
    pub fn attempts(&self, task: Option<(u32, u32)>) -> Option<Vec<AttemptStatus>> {
        let status = |stage: &StageRun, index: usize, a: &Attempt| AttemptStatus {
            stage: stage.id.0,
            task: index as u32,
            attempt: a.number,
            executor: a.executor.clone(),
            outcome: a.outcome.clone(),
            log: a.log.clone(),
        };
        let Some((stage, index)) = task else {
            return Some(
                self.stages
                    .iter()
                    .flat_map(|s| {
                        s.history.iter().enumerate().flat_map(move |(i, history)| {
                            history.iter().filter(|a| !a.log.is_empty()).map(move |a| status(s, i, a))
                        })
                    })
                    .collect(),
            );
        };
        let run = self.stages.iter().find(|s| s.id.0 == stage)?;
        let history = run.history.get(index as usize)?;
        let mut attempts: Vec<AttemptStatus> =
            history.iter().map(|a| status(run, index as usize, a)).collect();
        if let Some(TaskState::Running { executor, attempt }) = run.tasks.get(index) {
            let outcome = AttemptOutcome::Running;
            attempts.push(AttemptStatus {
                stage,
                task: index,
                attempt: *attempt,
                executor: executor.clone(),
                outcome,
                log: Vec::new(),
            });
        }
        Some(attempts)
    }

    fn failed_attempts(&self) -> Vec<FailedAttempt> {
        let mut attempts: Vec<FailedAttempt> = self
            .stages
            .iter()
            .flat_map(|s| {
                s.history.iter().enumerate().flat_map(move |(task, history)| {
                    history.iter().filter_map(move |a| {
                        Some(FailedAttempt {
                            stage: s.id.0,
                            task: task as u32,
                            attempt: a.number,
                            executor: a.executor.clone(),
                            cause: a.failed()?.to_owned(),
                        })
                    })
                })
            })
            .collect();
        attempts.sort_by_key(|a| (a.stage, a.attempt, a.task));
        attempts
    }
}

fn join(executors: &BTreeSet<ExecutorId>) -> String {
    executors.iter().map(|e| e.0.as_str()).collect::<Vec<_>>().join(", ")
}

/// A stage in words: `readings → parse → max (map side)`, `merge max → format (sink out)`.
fn describe(stage: &StagePlan) -> String {
    let mut parts = Vec::new();
    match &stage.input {
        StageInput::Source { source } => parts.push(format!("read {source}")),
        StageInput::Shuffle { aggregate, .. } => parts.push(format!("merge {aggregate}")),
    }
    parts.extend(stage.steps.iter().cloned());
    match &stage.output {
        StageOutput::Shuffle { aggregate, partitions, combined } => {
            let combined = if *combined { "combined in the parse, " } else { "" };
            parts.push(format!("{aggregate} ({combined}shuffle into {partitions})"))
        }
        StageOutput::Sink { sink } => parts.push(format!("write {sink}")),
    }
    parts.join(" → ")
}
