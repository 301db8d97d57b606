//! Plans flicker jobs and runs them on a cluster.
//!
//! A job goes from a manifest to a [`PreparedJob`] (plugins loaded and validated, locations
//! resolved), to a [`JobPlan`] of stages cut at aggregates ([`plan`]), to tasks: one per input split
//! for a source stage, one per shuffle partition for a reduce stage. The [`scheduler`] decides
//! which executor runs which task; executors run them in wasmtime sandboxes and keep map output
//! in their BTS.

#![allow(
    clippy::result_large_err,
    reason = "a failure carries its whole story (step, plugin, record, cause) and happens once per job"
)]

mod catalog;
pub mod client;
mod error;
pub mod executor;
pub mod fuse;
mod job;
pub mod local;
pub mod plan;
pub mod scheduler;
pub mod shuffle;
mod spill;
mod task;

pub use catalog::{ComponentSource, PluginRefs, PluginResolver, read_plugin_files};
pub use error::{JobError, RecordLocation, TaskCause, TaskFailure};
pub use flicker_protocol::task::{JobDefaults, TaskMetrics};
pub use job::{Operator, PreparedJob, default_limits, split_size_for};
pub use plan::{JobPlan, StageId, StageInput, StageOutput, StagePlan};
pub use spill::SpillError;

/// Locks `mutex`, taking over its data if a thread panicked while holding it: every critical
/// section here leaves the data consistent, and one failed task must not stop the process.
pub(crate) fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
