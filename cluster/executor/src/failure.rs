//! Why a task attempt failed, as the executor knows it: the step, the record, the sandbox's own
//! error. It travels to the scheduler as a [`flicker_protocol::failure::TaskFailure`]: its
//! [`FailureKind`] as data, its story as text.

use crate::spill::SpillError;
use flicker_bts::{BtsError, FetchError};
use flicker_host::{CallError, HostError, Limit, OperatorError};
use flicker_protocol::failure::{BadRecord, FailureKind, LimitHit, LostMapOutput};
use flicker_protocol::text::{MAX_OPERATOR_TEXT, bounded};
use flicker_protocol::{StageId, TaskIndex};
use flicker_storage::StorageError;
use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

/// A task failed: where, in which step, and why.
#[derive(Debug, thiserror::Error)]
#[error("{stage} task {task}: {cause}")]
pub struct TaskError {
    /// The stage of the task.
    pub stage: StageId,
    /// The task's index in its stage.
    pub task: TaskIndex,
    /// What went wrong.
    pub cause: TaskCause,
}

/// The reason a task failed.
#[derive(Debug)]
pub enum TaskCause {
    /// An operator call failed (returned an error, trapped, or hit a limit).
    Operator {
        /// The step (or sink) whose operator failed.
        step: String,
        /// Its plugin reference.
        plugin: String,
        /// The failing record, when the operator named one.
        record: Option<BadRecord>,
        /// The call's failure.
        error: CallError,
    },
    /// Creating an operator instance failed.
    Instantiate {
        /// The step (or sink).
        step: String,
        /// Its plugin reference.
        plugin: String,
        /// Why.
        error: HostError,
    },
    /// Reading input or writing output failed.
    Storage(Box<StorageError>),
    /// A block of the task's shuffle partition could not be fetched.
    Fetch {
        /// The map output whose block it is, and where it should have been.
        lost: LostMapOutput,
        /// Why.
        reason: String,
    },
    /// The task's shuffle output could not be stored.
    ShuffleWrite(ShuffleWriteError),
    /// An aggregate's state could not be spilled to disk, or read back.
    Spill {
        /// The aggregate's step.
        step: String,
        /// What went wrong.
        error: SpillError,
    },
    /// A sort's order does not fit its rows (its `by` names a field they lack).
    Sort {
        /// The sort step.
        step: String,
        /// Why.
        error: flicker_batch::OrderError,
    },
    /// The job was cancelled.
    Cancelled,
    /// An operator returned a batch that does not follow the framing.
    MalformedBatch {
        /// The step (or sink) that returned it.
        step: String,
        /// The framing problem.
        error: flicker_batch::FrameError,
    },
}

/// Why a map task's shuffle output could not be stored.
#[derive(Debug, thiserror::Error)]
pub enum ShuffleWriteError {
    /// This process's shuffle store failed.
    #[error("{0}")]
    Store(#[from] BtsError),
    /// The standalone BTS could not take it.
    #[error("bts {bts}: {source}")]
    Remote {
        /// The BTS.
        bts: SocketAddr,
        /// Why.
        source: FetchError,
    },
}

impl TaskCause {
    /// What kind of failure this is, as the scheduler's retry policy reads it.
    pub fn kind(&self) -> FailureKind {
        match self {
            TaskCause::Operator { error, record, .. } => call_kind(error, record),
            TaskCause::Instantiate { error: HostError::Create(error), .. } => call_kind(error, &None),
            TaskCause::Instantiate { .. } => FailureKind::Instantiate,
            TaskCause::Storage(_) => FailureKind::Storage,
            TaskCause::Fetch { lost, .. } => FailureKind::FetchFailed(lost.clone()),
            TaskCause::ShuffleWrite(_) => FailureKind::ShuffleWrite,
            TaskCause::Spill { .. } => FailureKind::Spill,
            TaskCause::Sort { .. } => FailureKind::InvalidConfig,
            TaskCause::Cancelled => FailureKind::Cancelled,
            TaskCause::MalformedBatch { .. } => FailureKind::MalformedBatch,
        }
    }

    /// The step (or sink) whose operator failed, if one did.
    pub fn step(&self) -> Option<&str> {
        match self {
            TaskCause::Operator { step, .. }
            | TaskCause::Instantiate { step, .. }
            | TaskCause::Spill { step, .. }
            | TaskCause::Sort { step, .. }
            | TaskCause::MalformedBatch { step, .. } => Some(step),
            TaskCause::Storage(_)
            | TaskCause::Fetch { .. }
            | TaskCause::ShuffleWrite(_)
            | TaskCause::Cancelled => None,
        }
    }
}

/// The kind of a failed operator call (or `create`): a record or config the operator rejected,
/// its own error, a trap, a limit.
fn call_kind(error: &CallError, record: &Option<BadRecord>) -> FailureKind {
    match error {
        CallError::Operator(OperatorError::BadRecord { .. }) => {
            FailureKind::BadRecord { record: record.clone() }
        }
        CallError::Operator(OperatorError::InvalidConfig(_)) => FailureKind::InvalidConfig,
        CallError::Operator(OperatorError::Failed(_)) => FailureKind::OperatorError,
        CallError::Trapped { trap, panic, .. } => FailureKind::Trap {
            message: match panic {
                Some(panic) => {
                    bounded(format!("panicked at {}: {}", panic.location, panic.message), MAX_OPERATOR_TEXT)
                }
                None => trap.clone(),
            },
        },
        CallError::LimitExceeded(limit) => match *limit {
            Limit::Memory { bytes } => FailureKind::LimitHit { limit: LimitHit::Memory { bytes } },
            Limit::CallTimeout { after } => {
                FailureKind::LimitHit { limit: LimitHit::CallTimeout { ms: millis(after) } }
            }
            Limit::Output { bytes, .. } => FailureKind::LimitHit { limit: LimitHit::Output { bytes } },
            // The task's budget, not the operator's limit: the job fails, naming it.
            Limit::CpuBudget { used, budget } => {
                FailureKind::CpuBudget { used_us: micros(used), budget_us: micros(budget) }
            }
        },
        CallError::Stopped => FailureKind::Cancelled,
        // An earlier call trapped; this one only finds the instance unusable.
        CallError::Poisoned => FailureKind::Trap { message: error.to_string() },
    }
}

/// `duration` in whole milliseconds, saturated.
fn millis(duration: Duration) -> u64 {
    duration.as_millis().try_into().unwrap_or(u64::MAX)
}

/// `duration` in whole microseconds, saturated.
fn micros(duration: Duration) -> u64 {
    duration.as_micros().try_into().unwrap_or(u64::MAX)
}

impl fmt::Display for TaskCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TaskCause::Operator {
                step,
                plugin,
                record: Some(record),
                error: CallError::Operator(OperatorError::BadRecord { message, .. }),
            } => {
                // The record's own location replaces the operator's index within its batch.
                write!(
                    f,
                    "step {step:?} ({plugin}) failed at {record}: operator returned an error: bad record: {message}"
                )
            }
            TaskCause::Operator { step, plugin, record: Some(record), error } => {
                write!(f, "step {step:?} ({plugin}) failed at {record}: {error}")
            }
            TaskCause::Operator { step, plugin, record: None, error } => {
                write!(f, "step {step:?} ({plugin}) failed: {error}")
            }
            TaskCause::Instantiate { step, plugin, error } => write!(f, "step {step:?} ({plugin}): {error}"),
            TaskCause::Storage(error) => write!(f, "{error}"),
            TaskCause::Fetch { lost, reason } => {
                write!(f, "cannot fetch {} from the bts at {}: {reason}", lost.id, lost.bts)
            }
            TaskCause::ShuffleWrite(error) => write!(f, "cannot store shuffle output: {error}"),
            TaskCause::Spill { step, error } => write!(f, "step {step:?}: cannot spill: {error}"),
            TaskCause::Sort { step, error } => write!(f, "step {step:?}: cannot sort: {error}"),
            TaskCause::Cancelled => f.write_str("the job was cancelled"),
            TaskCause::MalformedBatch { step, error } => {
                write!(f, "step {step:?} returned a {error}")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flicker_protocol::failure::Blame;

    #[test]
    fn a_node_out_of_sandboxes_is_the_attempts_fault_not_the_operators() {
        let errors = [
            HostError::NoSandbox { sandboxes: 72, waited: std::time::Duration::from_secs(30) },
            HostError::PoolExhausted {
                message: "maximum concurrent limit of 288 for memories reached".into(),
            },
        ];
        for error in errors {
            let cause = TaskCause::Instantiate { step: "m".into(), plugin: "p.wasm".into(), error };
            assert_eq!(cause.kind(), FailureKind::Instantiate, "{cause}");
            assert_eq!(cause.kind().blame(), Blame::Attempt, "retried elsewhere: {cause}");
            assert!(!cause.to_string().contains("trapped"), "{cause}");
        }
    }

    #[test]
    fn an_operator_stopped_by_the_tasks_cpu_budget_fails_the_job_naming_the_budget() {
        let error = CallError::LimitExceeded(Limit::CpuBudget {
            used: Duration::from_micros(310_500),
            budget: Duration::from_millis(300),
        });
        let cause = TaskCause::Operator { step: "spin".into(), plugin: "p.wasm".into(), record: None, error };
        assert_eq!(cause.kind(), FailureKind::CpuBudget { used_us: 310_500, budget_us: 300_000 });
        assert_eq!(cause.kind().blame(), Blame::Job);
        assert!(cause.to_string().contains("CPU budget of 300ms used up"), "{cause}");
    }
}
