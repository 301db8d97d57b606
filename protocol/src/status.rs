//! What `flicker status` and `flicker nodes` show: snapshots of jobs and cluster members.

use crate::failure::FailureKind;
use crate::ids::{AttemptId, ExecutorId, JobId, TaskIndex};
use crate::task::TaskMetrics;
use crate::tenant::{Cost, Owner};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;

/// A job's state and progress at one moment.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobStatus {
    /// The job.
    pub job: JobId,
    /// Its name from the manifest.
    pub name: String,
    /// Its tenant and submitter.
    pub owner: Owner,
    /// Where it is in its life.
    pub state: JobState,
    /// Why it failed, as data, when it did (its state tells the story in words).
    pub failure: Option<JobFailure>,
    /// Each stage's progress, in plan order.
    pub stages: Vec<StageStatus>,
    /// Totals over the tasks finished so far.
    pub metrics: TaskMetrics,
    /// What its attempts consumed so far (the sum of its stages').
    pub cost: Cost,
    /// Milliseconds since the job was accepted (until it ended, for a finished job).
    pub elapsed_ms: u64,
    /// When the scheduler accepted it, in milliseconds since the Unix epoch.
    pub started_unix_ms: u64,
    /// When it ended, in milliseconds since the Unix epoch; `None` while it runs.
    pub ended_unix_ms: Option<u64>,
    /// Tasks finished by each executor.
    pub tasks_by_executor: Vec<(ExecutorId, u32)>,
    /// Each sink's id and output URL.
    pub outputs: Vec<(String, String)>,
    /// Every failed task attempt, oldest first.
    pub failed_attempts: Vec<FailedAttempt>,
    /// Executors that failed too many of the job's tasks and get no more of them.
    pub excluded_executors: Vec<ExecutorId>,
    /// Map outputs that were lost or damaged and computed again.
    pub recomputed_map_outputs: u32,
}

/// A task attempt that failed.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailedAttempt {
    /// The stage's number.
    pub stage: u32,
    /// The task's index in its stage.
    pub task: TaskIndex,
    /// The attempt's number, from 0.
    pub attempt: AttemptId,
    /// Where it ran.
    pub executor: ExecutorId,
    /// Why it failed.
    pub cause: String,
    /// What kind of failure it was.
    pub kind: FailureKind,
}

/// Why a job failed, as data.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobFailure {
    /// A task failed: at once when the failure is the job's own (a rejected record or config),
    /// else on its last attempt.
    Task {
        /// The stage's number.
        stage: u32,
        /// The task's index in its stage.
        task: TaskIndex,
        /// Its failed attempts.
        attempts: u32,
        /// What kind of failure the last one was.
        kind: FailureKind,
    },
    /// No executor could run the job's tasks for the scheduler's wait: every one is lost or
    /// excluded.
    NoExecutors,
    /// A map output was lost more times than the job's attempts allow.
    MapOutputLost,
    /// Committing a sink's output failed; nothing of it was published.
    Commit {
        /// The sink.
        sink: String,
    },
    /// The job, or its tenant, used up a budget.
    OverBudget {
        /// Which budget.
        budget: Budget,
        /// What was used: CPU microseconds or bytes, as the budget counts.
        used: u64,
        /// The budget, in the same unit.
        limit: u64,
    },
}

/// A budget that stops a job once used up.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Budget {
    /// The job's `max_cpu` (or its tenant's `max_cpu_per_job`): operator CPU microseconds.
    JobCpu,
    /// Its tenant's `cpu_per_day`: operator CPU microseconds in the last 24 hours.
    TenantDailyCpu,
    /// Its tenant's `max_disk`: shuffle and spill bytes of its unfinished jobs.
    TenantDisk,
}

impl Budget {
    /// The setting that sets it.
    pub fn key(self) -> &'static str {
        match self {
            Budget::JobCpu => "max_cpu",
            Budget::TenantDailyCpu => "cpu_per_day",
            Budget::TenantDisk => "max_disk",
        }
    }
}

impl JobStatus {
    /// Whether the job has ended, well or not.
    pub fn is_finished(&self) -> bool {
        !matches!(self.state, JobState::Queued | JobState::Running)
    }
}

/// Where a job is in its life. Shown as `queued`, `running`, `succeeded`, `failed: <cause>` or
/// `cancelled`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    /// Tasks are running or waiting for a slot.
    Running,
    /// Every task succeeded and the output is committed.
    Succeeded,
    /// A task or the commit failed; nothing was published.
    Failed {
        /// Why.
        cause: String,
    },
    /// A user cancelled it; nothing was published.
    Cancelled,
    /// Accepted, waiting for its tenant to run fewer jobs than its `max_running_jobs`. (Last:
    /// journals hold the variants before it by their positions.)
    Queued,
}

impl std::fmt::Display for JobState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            JobState::Queued => f.write_str("queued"),
            JobState::Running => f.write_str("running"),
            JobState::Succeeded => f.write_str("succeeded"),
            JobState::Failed { cause } => write!(f, "failed: {cause}"),
            JobState::Cancelled => f.write_str("cancelled"),
        }
    }
}

/// One stage's progress.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StageStatus {
    /// The stage's number.
    pub stage: u32,
    /// What it does, e.g. `readings → parse → max (shuffle)`.
    pub description: String,
    /// Tasks in all.
    pub total: u32,
    /// Tasks that succeeded.
    pub done: u32,
    /// Tasks running now.
    pub running: u32,
    /// The stages whose shuffle output it reads (edges of the job's DAG): none for a stage reading
    /// a source, one per input for a co-group's stage.
    pub upstream: Vec<u32>,
    /// What its finished attempts consumed.
    pub cost: Cost,
    /// How long its succeeded tasks ran; `None` before the first succeeded.
    pub task_durations: Option<TaskDurations>,
}

/// How long the succeeded tasks of a stage ran, in milliseconds: the spread shows skew and
/// stragglers.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskDurations {
    /// The shortest.
    pub min_ms: u64,
    /// The median (the lower one of an even count).
    pub median_ms: u64,
    /// The longest.
    pub max_ms: u64,
}

impl TaskDurations {
    /// The spread of `durations` (in any order), or `None` for none.
    pub fn of(mut durations: Vec<u64>) -> Option<Self> {
        durations.sort_unstable();
        Some(TaskDurations {
            min_ms: *durations.first()?,
            median_ms: durations[(durations.len() - 1) / 2],
            max_ms: *durations.last()?,
        })
    }
}

/// One task of a stage at one moment: the task table of the web UI and the HTTP API.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskStatus {
    /// Its index in its stage (the partition it reads, for a stage reading a shuffle).
    pub task: TaskIndex,
    /// Where it is in its life.
    pub state: TaskState,
    /// Attempts launched so far.
    pub attempts: u32,
    /// Where it runs, or ran the attempt that succeeded, or the last one that failed.
    pub executor: Option<ExecutorId>,
    /// What the attempt that succeeded read and wrote.
    pub metrics: Option<TaskMetrics>,
    /// What its finished attempts consumed (since the scheduler started: not journaled).
    pub usage: crate::tenant::TaskUsage,
    /// Why its last failed attempt failed, if one did.
    pub error: Option<String>,
    /// What kind of failure that was.
    pub failure_kind: Option<FailureKind>,
}

/// Where a task is in its life.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskState {
    /// Waiting for its stage to become runnable and for a slot (again, after a failure).
    Pending,
    /// An attempt runs.
    Running,
    /// An attempt succeeded.
    Succeeded,
}

/// One attempt of a task, with what its operators wrote (`flicker status JOB --task`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttemptStatus {
    /// The stage's number.
    pub stage: u32,
    /// The task's index in its stage.
    pub task: TaskIndex,
    /// The attempt's number, from 0.
    pub attempt: AttemptId,
    /// Where it ran.
    pub executor: ExecutorId,
    /// How it went.
    pub outcome: AttemptOutcome,
    /// What its operators wrote, one entry per operator that wrote something.
    pub log: Vec<crate::task::OperatorLog>,
}

/// How a task attempt went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttemptOutcome {
    /// It runs.
    Running,
    /// It succeeded.
    Succeeded,
    /// It failed.
    Failed {
        /// Why.
        cause: String,
        /// What kind of failure it was.
        kind: FailureKind,
    },
    /// It could not fetch a block of its input; it runs again once the map output is computed
    /// again.
    FetchFailed {
        /// Why.
        cause: String,
    },
}

/// A cluster member as the scheduler sees it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeStatus {
    /// The executor.
    pub executor: ExecutorId,
    /// The address it connected from.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub address: SocketAddr,
    /// The BTS holding its shuffle output.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub bts: SocketAddr,
    /// Whether it is alive.
    pub state: NodeState,
    /// Task slots.
    pub slots: u32,
    /// Tasks running on it now.
    pub running: u32,
    /// Memory it offers to tasks, in bytes.
    pub memory: u64,
    /// Milliseconds since its last heartbeat.
    pub last_heartbeat_ms: u64,
    /// Task attempts it reported succeeded.
    pub tasks_succeeded: u64,
    /// Task attempts it reported failed.
    pub tasks_failed: u64,
    /// Bytes of shuffle blocks its BTS served to fetchers, as of its last heartbeat.
    pub shuffle_served_bytes: u64,
}

/// Whether a member is alive.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeState {
    /// Heartbeats arrive.
    Alive,
    /// Silent past the timeout, or its connection closed.
    Lost,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_durations_take_min_median_and_max() {
        assert_eq!(TaskDurations::of(Vec::new()), None);
        assert_eq!(TaskDurations::of(vec![7]), Some(TaskDurations { min_ms: 7, median_ms: 7, max_ms: 7 }));
        assert_eq!(
            TaskDurations::of(vec![40, 10, 30, 20]),
            Some(TaskDurations { min_ms: 10, median_ms: 20, max_ms: 40 })
        );
        assert_eq!(
            TaskDurations::of(vec![5, 900, 6, 7, 8]),
            Some(TaskDurations { min_ms: 5, median_ms: 7, max_ms: 900 })
        );
    }

    #[test]
    fn job_states_read_as_words() {
        assert_eq!(JobState::Failed { cause: "bad record".into() }.to_string(), "failed: bad record");
        assert_eq!(JobState::Cancelled.to_string(), "cancelled");
    }
}
