//! A flicker job ready to run, as the scheduler and every executor hold it.
//!
//! A manifest becomes a [`PreparedJob`]: its plugins found and loaded ([`PluginResolver`], from
//! the components embedded in the binary or a [`ComponentSource`]), the manifest checked against
//! them, planned into stages (`flicker-scheduler-core`'s `plan`, then fusion of standard steps),
//! and its sources and sinks resolved to storage locations. Planning is deterministic, so the
//! scheduler and every executor derive the same stages from the same [`JobDescriptor`]. A
//! [`JobError`] says why a job could not be prepared or did not complete.
//!
//! [`JobDescriptor`]: flicker_protocol::task::JobDescriptor

#![allow(
    clippy::result_large_err,
    reason = "a failure carries its whole story (step, plugin, record, cause) and happens once per job"
)]

mod catalog;
mod error;
mod prepared;

pub use catalog::{
    ComponentError, ComponentSource, PluginError, PluginRefs, PluginResolver, read_plugin_files,
};
pub use error::JobError;
pub use flicker_protocol::task::{JobDefaults, TaskMetrics};
pub use prepared::{LimitMaxima, Operator, PreparedJob, default_limits, job_storage};
