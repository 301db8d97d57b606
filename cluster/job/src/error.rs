//! Why a job could not be prepared, or its output not committed.

use flicker_host::HostError;
use flicker_manifest::ManifestError;
use flicker_scheduler_core::PlanError;
use flicker_storage::StorageError;

/// A job could not be prepared or did not complete.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// The manifest is invalid (syntax, graph, plugins, config).
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// The manifest could not be planned.
    #[error("cannot plan the job: {0}")]
    Plan(#[from] PlanError),
    /// A source or sink location is unusable.
    #[error("{what}: {source}")]
    Storage {
        /// Which source or sink, e.g. `source "readings"`.
        what: String,
        /// The storage error.
        source: Box<StorageError>,
    },
    /// A local resource (thread, runtime) could not be set up.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The error.
        source: std::io::Error,
    },
    /// The wasmtime runtime could not start.
    #[error("cannot start the operator runtime: {0}")]
    Runtime(HostError),
    /// Committing the output failed; nothing was published (or the previous output stays).
    #[error("sink {sink:?}: committing the output failed: {source}")]
    Commit {
        /// The sink.
        sink: String,
        /// The storage error.
        source: Box<StorageError>,
    },
}
