//! Plans flicker jobs and runs them.
//!
//! A job goes from a manifest to a [`PreparedJob`] (plugins loaded and validated, locations
//! resolved), to a [`JobPlan`] of stages cut at aggregates ([`plan`]), to tasks: one per input split
//! for a source stage, one per shuffle partition for a reduce stage. [`LocalRunner`] runs them on
//! worker threads of this process with the shuffle in memory, and commits the output (parts first,
//! `_SUCCESS` last) only when every task succeeded.

#![allow(
    clippy::result_large_err,
    reason = "a failure carries its whole story (step, plugin, record, cause) and happens once per job"
)]

mod catalog;
mod error;
pub mod fuse;
mod job;
mod local;
mod metrics;
pub mod plan;
pub mod shuffle;
mod task;

pub use catalog::PluginResolver;
pub use error::{JobError, RecordLocation, TaskCause, TaskFailure};
pub use job::{JobDefaults, Operator, PreparedJob, split_size_for};
pub use local::LocalRunner;
pub use metrics::{JobSummary, TaskMetrics};
pub use plan::{JobPlan, StageId, StageInput, StageOutput, StagePlan};
