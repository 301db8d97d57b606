//! Why a job could not be prepared, or its output not committed.

use crate::catalog::PluginError;
use flicker_host::HostError;
use flicker_manifest::ManifestError;
use flicker_scheduler_core::PlanError;
use flicker_storage::{AccessRefused, StorageError};
use std::path::PathBuf;

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
    /// The node's data-access policy refuses a source or sink location.
    #[error("{}:{line}: {what}: {source}", file.display())]
    Refused {
        /// The manifest file.
        file: PathBuf,
        /// The line of the location's `url`.
        line: usize,
        /// Which source or sink, e.g. `sink "out"`.
        what: String,
        /// Why the policy refuses it.
        source: AccessRefused,
    },
    /// A local resource (thread, runtime) could not be set up.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The error.
        source: std::io::Error,
    },
    /// A plugin the manifest names could not be loaded.
    #[error("plugin {plugin:?}: {source}")]
    Plugin {
        /// The plugin reference.
        plugin: String,
        /// Why.
        source: PluginError,
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
