//! What `flicker status` and `flicker nodes` show: snapshots of jobs and cluster members.

use crate::ids::{ExecutorId, JobId};
use crate::task::TaskMetrics;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;

/// A job's state and progress at one moment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobStatus {
    /// The job.
    pub job: JobId,
    /// Its name from the manifest.
    pub name: String,
    /// Where it is in its life.
    pub state: JobState,
    /// Each stage's progress, in plan order.
    pub stages: Vec<StageStatus>,
    /// Totals over the tasks finished so far.
    pub metrics: TaskMetrics,
    /// Milliseconds since the job was accepted (until it ended, for a finished job).
    pub elapsed_ms: u64,
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailedAttempt {
    /// The stage's number.
    pub stage: u32,
    /// The task's index in its stage.
    pub task: u32,
    /// The attempt's number, from 0.
    pub attempt: u32,
    /// Where it ran.
    pub executor: ExecutorId,
    /// Why it failed.
    pub cause: String,
}

impl JobStatus {
    /// Whether the job has ended, well or not.
    pub fn is_finished(&self) -> bool {
        !matches!(self.state, JobState::Running)
    }
}

/// Where a job is in its life.
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
}

/// One stage's progress.
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
}

/// A cluster member as the scheduler sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeStatus {
    /// The executor.
    pub executor: ExecutorId,
    /// The address it connected from.
    pub address: SocketAddr,
    /// The BTS holding its shuffle output.
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
}

/// Whether a member is alive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeState {
    /// Heartbeats arrive.
    Alive,
    /// Silent past the timeout, or its connection closed.
    Lost,
}
