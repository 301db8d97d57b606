//! Local mode: every stage of a job on this machine, tasks spread over worker threads, shuffle in
//! memory, output committed at the end.

use crate::error::{JobError, TaskFailure};
use crate::job::{PreparedJob, split_size_for};
use crate::metrics::{JobSummary, TaskMetrics};
use crate::plan::{StageInput, StageOutput, StagePlan};
use crate::shuffle::ShuffleStore;
use crate::task::{TaskContext, TaskInput, TaskOutcome, run_task};
use flicker_storage::{OutputCommitter, PartFile, Split, list_inputs, plan_splits};
use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Instant;

/// Runs jobs in this process.
#[derive(Debug, Clone, Copy)]
pub struct LocalRunner {
    /// Worker threads (task slots).
    pub workers: usize,
    /// Bytes of input handed to a parser per call.
    pub chunk_size: usize,
}

impl Default for LocalRunner {
    fn default() -> Self {
        Self { workers: std::thread::available_parallelism().map_or(2, usize::from), chunk_size: 1 << 20 }
    }
}

impl LocalRunner {
    /// Runs `job` to completion. On failure nothing is published: parts already written are
    /// removed and a previous output in the sink's location stays as it was.
    pub fn run(&self, job: &PreparedJob) -> Result<JobSummary, JobError> {
        let started = Instant::now();
        let io = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .map_err(|source| JobError::Io { what: "starting the I/O runtime", source })?;
        let run_id = format!("run-{}-{}", std::process::id(), started.elapsed().as_nanos() ^ nanos_now());
        let committers: HashMap<String, OutputCommitter> = job
            .sinks
            .iter()
            .map(|(id, location)| (id.clone(), OutputCommitter::new(location.clone(), run_id.clone())))
            .collect();
        let shuffle = ShuffleStore::default();
        let ctx = TaskContext {
            job,
            shuffle: &shuffle,
            io: io.handle(),
            committers: &committers,
            chunk_size: self.chunk_size,
        };
        let outcome = self.run_stages(&ctx);
        let result = match outcome {
            Ok((metrics, tasks, parts)) => self.commit(&ctx, parts).map(|outputs| JobSummary {
                name: job.manifest.name.clone(),
                metrics,
                stages: job.plan.stages.len(),
                tasks,
                elapsed: started.elapsed(),
                outputs,
            }),
            Err(error) => Err(error),
        };
        if result.is_err() {
            for committer in committers.values() {
                if let Err(error) = io.block_on(committer.abort()) {
                    tracing::warn!(%error, "cleaning up after a failed job");
                }
            }
        }
        result
    }

    /// Runs every stage in order; returns the totals, the task count, and each sink's parts.
    fn run_stages(&self, ctx: &TaskContext<'_>) -> Result<StagesDone, JobError> {
        let mut totals = TaskMetrics::default();
        let mut tasks_run = 0;
        let mut parts: HashMap<String, Vec<PartFile>> = HashMap::new();
        let mut task_counts: HashMap<crate::plan::StageId, u32> = HashMap::new();
        let mut sources_counted = std::collections::HashSet::new();
        for stage in &ctx.job.plan.stages {
            let inputs = self.stage_inputs(ctx, stage, &task_counts)?;
            task_counts.insert(stage.id, inputs.len() as u32);
            let outcomes = self.run_tasks(ctx, stage, &inputs)?;
            tasks_run += outcomes.len();
            // A source read by several stages (a step feeding two terminals) counts as input once.
            let first_read = match &stage.input {
                StageInput::Source { source } => sources_counted.insert(source.clone()),
                StageInput::Shuffle { .. } => true,
            };
            for outcome in outcomes {
                totals += if first_read { outcome.metrics } else { outcome.metrics.without_input() };
                if let (StageOutput::Sink { sink }, Some(part)) = (&stage.output, outcome.part) {
                    parts.entry(sink.clone()).or_default().push(part);
                }
            }
            tracing::info!(stage = stage.id.0, tasks = inputs.len(), "stage done");
        }
        Ok((totals, tasks_run, parts))
    }

    fn stage_inputs(
        &self,
        ctx: &TaskContext<'_>,
        stage: &StagePlan,
        task_counts: &HashMap<crate::plan::StageId, u32>,
    ) -> Result<Vec<StageTask>, JobError> {
        Ok(match &stage.input {
            StageInput::Source { source } => {
                let (location, split_size) = &ctx.job.sources[source];
                let objects = ctx.io.block_on(list_inputs(location)).map_err(|e| JobError::Storage {
                    what: format!("source {source:?}"),
                    source: Box::new(e),
                })?;
                let total = objects.iter().map(|o| o.size).sum();
                let split_size =
                    split_size.unwrap_or_else(|| split_size_for(total, self.workers, ctx.job.max_split_size));
                plan_splits(&objects, split_size)
                    .into_iter()
                    .map(|split| StageTask::Split { source: source.clone(), split })
                    .collect()
            }
            StageInput::Shuffle { stage: upstream, partitions, .. } => {
                let map_tasks = task_counts.get(upstream).copied().unwrap_or(0);
                (0..*partitions).map(|partition| StageTask::Partition { partition, map_tasks }).collect()
            }
        })
    }

    /// Runs the tasks of one stage on the worker threads; the first failure stops the stage.
    fn run_tasks(
        &self,
        ctx: &TaskContext<'_>,
        stage: &StagePlan,
        inputs: &[StageTask],
    ) -> Result<Vec<TaskOutcome>, JobError> {
        let next = AtomicUsize::new(0);
        let failed = AtomicBool::new(false);
        let results: Mutex<Vec<(usize, Result<TaskOutcome, TaskFailure>)>> = Mutex::new(Vec::new());
        std::thread::scope(|scope| {
            for _ in 0..self.workers.max(1).min(inputs.len().max(1)) {
                scope.spawn(|| {
                    while !failed.load(Ordering::Relaxed) {
                        let index = next.fetch_add(1, Ordering::Relaxed);
                        let Some(input) = inputs.get(index) else { break };
                        let outcome = run_task(ctx, stage, index as u32, input.as_task_input(ctx));
                        if outcome.is_err() {
                            failed.store(true, Ordering::Relaxed);
                        }
                        results.lock().unwrap_or_else(|p| p.into_inner()).push((index, outcome));
                    }
                });
            }
        });
        let mut results = results.into_inner().unwrap_or_else(|p| p.into_inner());
        results.sort_by_key(|(index, _)| *index);
        results.into_iter().map(|(_, r)| r.map_err(JobError::from)).collect()
    }

    /// Commits every sink's parts (each sink's `_SUCCESS` written last).
    fn commit(
        &self,
        ctx: &TaskContext<'_>,
        mut parts: HashMap<String, Vec<PartFile>>,
    ) -> Result<Vec<(String, String)>, JobError> {
        let mut outputs = Vec::new();
        for sink in &ctx.job.manifest.sinks {
            let parts = parts.remove(&sink.id).unwrap_or_default();
            ctx.io
                .block_on(ctx.committers[&sink.id].commit(&parts))
                .map_err(|source| JobError::Commit { sink: sink.id.clone(), source: Box::new(source) })?;
            outputs.push((sink.id.clone(), ctx.job.sinks[&sink.id].url().to_owned()));
        }
        Ok(outputs)
    }
}

/// What running all stages produced: the totals, the task count, and each sink's parts.
type StagesDone = (TaskMetrics, usize, HashMap<String, Vec<PartFile>>);

/// The input of one task, before it is handed to the task.
enum StageTask {
    Split { source: String, split: Split },
    Partition { partition: u32, map_tasks: u32 },
}

impl StageTask {
    fn as_task_input<'a>(&'a self, ctx: &TaskContext<'a>) -> TaskInput<'a> {
        match self {
            StageTask::Split { source, split } => {
                TaskInput::Split { location: &ctx.job.sources[source].0, split }
            }
            StageTask::Partition { partition, map_tasks } => {
                TaskInput::Partition { partition: *partition, map_tasks: *map_tasks }
            }
        }
    }
}

fn nanos_now() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos())
}
