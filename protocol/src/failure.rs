//! Why a task attempt failed, as data: the scheduler's retry policy, `flicker status` and a job's
//! summary read the [`FailureKind`], never the text.
//!
//! The kinds and what the scheduler does about each (its retry policy, in
//! `flicker-scheduler-core`):
//!
//! | kind | whose fault ([`Blame`]) | what happens |
//! |---|---|---|
//! | [`BadRecord`](FailureKind::BadRecord), [`InvalidConfig`](FailureKind::InvalidConfig) | the job | the job fails at once: every attempt would fail the same way |
//! | [`OperatorError`](FailureKind::OperatorError), [`Trap`](FailureKind::Trap), [`MalformedBatch`](FailureKind::MalformedBatch), [`LimitHit`](FailureKind::LimitHit) of memory or output | the operator | retried up to the job's attempts, elsewhere when possible; the executor is not blamed, so it is never excluded for it, and the job fails naming the operator's failure |
//! | [`LimitHit`](FailureKind::LimitHit) of the call timeout | the attempt | retried elsewhere; counts against the executor (a loaded machine is slower) |
//! | [`Instantiate`](FailureKind::Instantiate), [`Prepare`](FailureKind::Prepare), [`Storage`](FailureKind::Storage), [`ShuffleWrite`](FailureKind::ShuffleWrite), [`Spill`](FailureKind::Spill), [`ExecutorCrash`](FailureKind::ExecutorCrash), [`ExecutorUnreachable`](FailureKind::ExecutorUnreachable), [`TaskTimeout`](FailureKind::TaskTimeout) | the attempt | retried elsewhere; counts against the executor, which is excluded after repeated failures |
//! | [`Cancelled`](FailureKind::Cancelled) | the attempt | nothing when the job was cancelled (it is ending); otherwise the executor lost the job: retried elsewhere |
//! | [`FetchFailed`](FailureKind::FetchFailed) | nobody | the lost map output is computed again; the task runs again, not counted as a failed attempt |

use crate::ids::MapOutputId;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;

/// A failed task attempt: what kind of failure, and the whole story as the user reads it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskFailure {
    /// What kind of failure it is.
    pub kind: FailureKind,
    /// The step (or sink) whose operator failed, when one did.
    pub step: Option<String>,
    /// The failure as the user should read it: step, plugin, record and cause.
    pub message: String,
}

impl TaskFailure {
    /// A failure of `kind` told by `message`, in no particular step.
    pub fn new(kind: FailureKind, message: impl Into<String>) -> Self {
        Self { kind, step: None, message: message.into() }
    }

    /// Who the failure is down to.
    pub fn blame(&self) -> Blame {
        self.kind.blame()
    }
}

impl std::fmt::Display for TaskFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// The kinds of task failure. See the [module](self) for what each triggers.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    /// The operator returned an error of its own (not a rejected record or config).
    OperatorError,
    /// The operator rejected a record.
    BadRecord {
        /// Where the record was, when the executor could tell.
        record: Option<BadRecord>,
    },
    /// The operator rejected its config.
    InvalidConfig,
    /// The operator trapped: a panic, an out-of-bounds access, `unreachable`.
    Trap {
        /// The trap (or the panic's message and location).
        message: String,
    },
    /// The operator hit a sandbox limit.
    LimitHit {
        /// Which limit, and its value.
        limit: LimitHit,
    },
    /// The operator returned a batch that does not follow the framing.
    MalformedBatch,
    /// An operator instance could not be created (compiled, instantiated, or its `create`).
    Instantiate,
    /// The executor could not set the task up: the job's plan, its plugins, the task's stage.
    Prepare,
    /// Reading input or writing output in storage failed.
    Storage,
    /// A block of the task's shuffle input could not be fetched: its map output is lost.
    FetchFailed(LostMapOutput),
    /// The task's shuffle output could not be stored.
    ShuffleWrite,
    /// An aggregate's state could not be spilled to disk, or read back.
    Spill,
    /// The executor stopped the task as cancelled: the job was cancelled (its reports are then
    /// ignored), or the executor no longer knows the job.
    Cancelled,
    /// The executor itself failed while running the task (a bug on its side).
    ExecutorCrash,
    /// The scheduler lost contact with the executor while the task ran, or could not read its
    /// answer.
    ExecutorUnreachable,
    /// The executor did not report the task within the scheduler's task timeout: a silent or
    /// stuck executor cannot hold a job.
    TaskTimeout {
        /// The timeout, in milliseconds.
        ms: u64,
    },
    /// The task's operators used the CPU time the attempt was given (what was left of the job's
    /// `max_cpu`, or of its tenant's daily budget): the job fails, naming the budget.
    CpuBudget {
        /// CPU the attempt's operators used, in microseconds.
        used_us: u64,
        /// CPU the attempt was given, in microseconds.
        budget_us: u64,
    },
}

impl FailureKind {
    /// Who the failure is down to, which decides whether running the task again can help.
    pub fn blame(&self) -> Blame {
        match self {
            FailureKind::BadRecord { .. } | FailureKind::InvalidConfig | FailureKind::CpuBudget { .. } => {
                Blame::Job
            }
            FailureKind::OperatorError
            | FailureKind::Trap { .. }
            | FailureKind::MalformedBatch
            | FailureKind::LimitHit { limit: LimitHit::Memory { .. } | LimitHit::Output { .. } } => {
                Blame::Operator
            }
            FailureKind::FetchFailed(_) => Blame::Nobody,
            FailureKind::LimitHit { limit: LimitHit::CallTimeout { .. } }
            | FailureKind::Cancelled
            | FailureKind::Instantiate
            | FailureKind::Prepare
            | FailureKind::Storage
            | FailureKind::ShuffleWrite
            | FailureKind::Spill
            | FailureKind::ExecutorCrash
            | FailureKind::ExecutorUnreachable
            | FailureKind::TaskTimeout { .. } => Blame::Attempt,
        }
    }

    /// Its name in one word, as `status` shows it: `bad_record`, `limit_hit`, …
    pub fn name(&self) -> &'static str {
        match self {
            FailureKind::OperatorError => "operator_error",
            FailureKind::BadRecord { .. } => "bad_record",
            FailureKind::InvalidConfig => "invalid_config",
            FailureKind::Trap { .. } => "trap",
            FailureKind::LimitHit { .. } => "limit_hit",
            FailureKind::MalformedBatch => "malformed_batch",
            FailureKind::Instantiate => "instantiate",
            FailureKind::Prepare => "prepare",
            FailureKind::Storage => "storage",
            FailureKind::FetchFailed(_) => "fetch_failed",
            FailureKind::ShuffleWrite => "shuffle_write",
            FailureKind::Spill => "spill",
            FailureKind::Cancelled => "cancelled",
            FailureKind::ExecutorCrash => "executor_crash",
            FailureKind::ExecutorUnreachable => "executor_unreachable",
            FailureKind::TaskTimeout { .. } => "task_timeout",
            FailureKind::CpuBudget { .. } => "cpu_budget",
        }
    }
}

/// A map output a reduce task could not fetch.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LostMapOutput {
    /// The map output.
    pub id: MapOutputId,
    /// The BTS that should have served it.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub bts: SocketAddr,
    /// Whether the BTS could not be reached at all (so every map output it held is lost), rather
    /// than answering that this one is missing or damaged.
    pub unreachable: bool,
}

/// Who a task failure is down to, which decides what the scheduler does next.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Blame {
    /// The job itself: a record or config its operator rejects. Every attempt on every executor would fail the same way, so the job fails at once, and no
    /// executor is blamed for it.
    Job,
    /// The operator's code (an error it returned, a trap, its memory or output over the limit):
    /// another attempt may go better, but the executor that ran it did nothing wrong.
    Operator,
    /// The attempt: storage, the executor, the network, a call timeout on a loaded machine.
    /// Another attempt, preferably on another executor, may succeed; an executor that keeps
    /// failing is excluded.
    Attempt,
    /// Nobody: a map output the task reads is lost, and is computed again.
    Nobody,
}

/// A sandbox limit an operator hit, with its value.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LimitHit {
    /// The memory limit of an operator instance.
    Memory {
        /// The limit, in bytes.
        bytes: u64,
    },
    /// The time limit of one operator call.
    CallTimeout {
        /// The limit, in milliseconds.
        ms: u64,
    },
    /// The limit on what one operator call returns.
    Output {
        /// The limit, in bytes.
        bytes: u64,
    },
}

impl std::fmt::Display for LimitHit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mib = |bytes: u64| bytes as f64 / f64::from(1u32 << 20);
        match self {
            LimitHit::Memory { bytes } => write!(f, "memory limit of {:.1} MiB", mib(*bytes)),
            LimitHit::CallTimeout { ms } => write!(f, "call timeout of {ms} ms"),
            LimitHit::Output { bytes } => write!(f, "output limit of {:.1} MiB", mib(*bytes)),
        }
    }
}

impl std::fmt::Display for FailureKind {
    /// Its [name](FailureKind::name), with the limit a limit hit names.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FailureKind::LimitHit { limit } => write!(f, "{} ({limit})", self.name()),
            other => f.write_str(other.name()),
        }
    }
}

/// Where a bad record was.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BadRecord {
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

impl std::fmt::Display for BadRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BadRecord::Line { object, line, offset, content } => {
                write!(f, "{object} line {line}: {content:?} (byte offset {offset})")
            }
            BadRecord::Row { content } => write!(f, "row ({content})"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::{MAX_FRAME, decode, encode};
    use crate::ids::{JobId, StageId, TaskIndex};

    #[test]
    fn rejected_input_is_the_jobs_fault_a_memory_limit_the_operators_and_a_lost_map_output_nobodys() {
        let row = Some(BadRecord::Row { content: "x".into() });
        assert_eq!(FailureKind::BadRecord { record: row }.blame(), Blame::Job);
        assert_eq!(FailureKind::InvalidConfig.blame(), Blame::Job);
        let memory = LimitHit::Memory { bytes: 1 << 20 };
        assert_eq!(FailureKind::LimitHit { limit: memory }.blame(), Blame::Operator);
        let timeout = LimitHit::CallTimeout { ms: 100 };
        assert_eq!(FailureKind::LimitHit { limit: timeout }.blame(), Blame::Attempt);
        assert_eq!(FailureKind::Trap { message: "unreachable".into() }.blame(), Blame::Operator);
        assert_eq!(FailureKind::Storage.blame(), Blame::Attempt);
        let lost = FailureKind::FetchFailed(LostMapOutput {
            id: MapOutputId { job: JobId("j".into()), stage: StageId(0), map_task: TaskIndex(0) },
            bts: "127.0.0.1:1".parse().unwrap(),
            unreachable: true,
        });
        assert_eq!(lost.blame(), Blame::Nobody);
    }

    #[test]
    fn failures_round_trip_through_a_frame() {
        let record =
            BadRecord::Line { object: "file:///a.csv".into(), line: 3, offset: 40, content: "x".into() };
        let failure = TaskFailure {
            kind: FailureKind::BadRecord { record: Some(record) },
            step: Some("parse".into()),
            message: "step \"parse\" failed".into(),
        };
        let frame = encode(&failure, MAX_FRAME).unwrap();
        assert_eq!(decode::<TaskFailure>(&frame, MAX_FRAME).unwrap(), failure);
    }
}
