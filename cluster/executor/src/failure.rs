//! Why a task attempt failed, as the executor knows it: the step, the record, the sandbox's own
//! error. It travels to the scheduler as a [`TaskFailureKind`](flicker_protocol::task::TaskFailureKind).

use crate::spill::SpillError;
use flicker_host::{CallError, HostError, OperatorError};
use flicker_protocol::StageId;
use flicker_protocol::task::Blame;
use flicker_storage::StorageError;
use std::fmt;

/// A task failed: where, in which step, and why.
#[derive(Debug, thiserror::Error)]
#[error("{stage} task {task}: {cause}")]
pub struct TaskFailure {
    /// The stage of the task.
    pub stage: StageId,
    /// The task's index in its stage.
    pub task: u32,
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
        record: Option<RecordLocation>,
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
        /// The map output whose block it is.
        map_output: flicker_protocol::MapOutputId,
        /// The BTS that should have served it.
        bts: std::net::SocketAddr,
        /// Whether the BTS could not be reached at all.
        unreachable: bool,
        /// Why.
        reason: String,
    },
    /// The task's shuffle output could not be stored.
    ShuffleWrite {
        /// Why.
        reason: String,
    },
    /// An aggregate's state could not be spilled to disk, or read back.
    Spill {
        /// The aggregate's step.
        step: String,
        /// What went wrong.
        error: SpillError,
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

/// Where a bad record was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordLocation {
    /// A line of an input object.
    Line {
        /// The object's URL.
        object: String,
        /// 1-based line number.
        line: u64,
        /// Byte offset of the line's start in the object.
        offset: u64,
        /// The line's text (shortened when long).
        content: String,
    },
    /// A row of a batch handed to a map, aggregate or format operator.
    Row {
        /// The row's values, as text.
        content: String,
    },
}

impl fmt::Display for RecordLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecordLocation::Line { object, line, offset, content } => {
                write!(f, "{object} line {line}: {content:?} (byte offset {offset})")
            }
            RecordLocation::Row { content } => write!(f, "row ({content})"),
        }
    }
}

impl TaskCause {
    /// Who the failure is down to: a record or a config the operator rejects is the job's own
    /// fault, which no retry can fix; anything else may go better in another attempt.
    pub fn blame(&self) -> Blame {
        let rejected = |error: &CallError| {
            matches!(
                error,
                CallError::Operator(OperatorError::BadRecord { .. } | OperatorError::InvalidConfig(_))
            )
        };
        match self {
            TaskCause::Operator { error, .. }
            | TaskCause::Instantiate { error: HostError::Create(error), .. }
                if rejected(error) =>
            {
                Blame::Job
            }
            _ => Blame::Attempt,
        }
    }
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
            TaskCause::Fetch { map_output, bts, reason, .. } => {
                write!(f, "cannot fetch {map_output} from the bts at {bts}: {reason}")
            }
            TaskCause::ShuffleWrite { reason } => write!(f, "cannot store shuffle output: {reason}"),
            TaskCause::Spill { step, error } => write!(f, "step {step:?}: cannot spill: {error}"),
            TaskCause::Cancelled => f.write_str("the job was cancelled"),
            TaskCause::MalformedBatch { step, error } => {
                write!(f, "step {step:?} returned a {error}")
            }
        }
    }
}
