//! Errors of loading plugins and of calling operators.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// Loading or instantiating a plugin failed.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    /// The bytes are not a valid WebAssembly component, or do not compile.
    #[error("not a valid WebAssembly component: {message}")]
    Compile {
        /// What wasmtime said.
        message: String,
    },
    /// The component exports no flicker operator interface.
    #[error(
        "the component exports no flicker operator (flicker:operator/parse, map, aggregate or format @0.2); it exports: {exports}"
    )]
    NoOperator {
        /// The names it does export.
        exports: String,
    },
    /// The component exports more than one operator kind.
    #[error("the component exports several operator kinds ({kinds}); a plugin must export exactly one")]
    SeveralOperators {
        /// The kinds found.
        kinds: String,
    },
    /// The component imports something the sandbox does not provide.
    #[error("the component cannot be linked in the sandbox: {message}")]
    Link {
        /// What wasmtime said.
        message: String,
    },
    /// Reading or writing the compiled-component cache failed.
    #[error("component cache {path}: {source}")]
    Cache {
        /// The cache file or directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The engine could not be built (bad runtime config).
    #[error("cannot start the wasmtime engine: {message}")]
    Engine {
        /// What wasmtime said.
        message: String,
    },
    /// The operator was asked for a kind it does not export.
    #[error("the plugin is a {found} operator, not a {wanted} operator")]
    WrongKind {
        /// The kind it exports.
        found: flicker_manifest::OperatorKind,
        /// The kind asked for.
        wanted: flicker_manifest::OperatorKind,
    },
    /// Creating the operator instance failed.
    #[error("cannot create the operator: {0}")]
    Create(#[from] CallError),
}

/// An error the operator itself returned (the WIT `error` variant).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OperatorError {
    /// The constructor rejected the step's config.
    #[error("invalid config: {0}")]
    InvalidConfig(String),
    /// One record could not be handled.
    #[error("bad record {index}: {message}")]
    BadRecord {
        /// Index of the row in the batch (for parse: of the line in the chunk).
        index: u32,
        /// For parse: byte offset of the record in the chunk.
        offset: Option<u64>,
        /// What is wrong with it.
        message: String,
    },
    /// Any other failure the operator reported.
    #[error("{0}")]
    Failed(String),
}

/// A sandbox limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// The linear-memory cap, in bytes.
    Memory {
        /// The cap.
        bytes: u64,
    },
    /// The per-call time limit.
    CallTimeout {
        /// The limit.
        after: Duration,
    },
    /// The cap on what one call may return.
    Output {
        /// The cap.
        bytes: u64,
        /// What the call tried to return.
        returned: u64,
    },
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Limit::Memory { bytes } => write!(f, "memory limit of {} reached", human_bytes(*bytes)),
            Limit::CallTimeout { after } => write!(f, "call timeout of {after:?} reached"),
            Limit::Output { bytes, returned } => write!(
                f,
                "output limit of {} exceeded (the call returned {})",
                human_bytes(*bytes),
                human_bytes(*returned)
            ),
        }
    }
}

fn human_bytes(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 30 && b % (1 << 30) == 0 => format!("{} GiB", b >> 30),
        b if b >= 1 << 20 && b % (1 << 20) == 0 => format!("{} MiB", b >> 20),
        b if b >= 1 << 10 && b % (1 << 10) == 0 => format!("{} KiB", b >> 10),
        b => format!("{b} bytes"),
    }
}

/// A call into an operator failed. The three causes stay apart all the way to the user.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// The operator returned an error.
    #[error("operator returned an error: {0}")]
    Operator(#[from] OperatorError),
    /// The operator trapped (a panic, an out-of-bounds access, ...).
    #[error("operator trapped: {trap}{}", stderr_suffix(.stderr))]
    Trapped {
        /// The trap, as wasmtime describes it.
        trap: String,
        /// What the guest wrote to stderr before trapping (holds a Rust panic's message).
        stderr: String,
    },
    /// The operator hit a sandbox limit.
    #[error("operator stopped: {0}")]
    LimitExceeded(Limit),
    /// The instance trapped earlier and cannot be called again.
    #[error("the operator instance is unusable after an earlier failure")]
    Poisoned,
}

fn stderr_suffix(stderr: &str) -> String {
    let stderr = stderr.trim();
    if stderr.is_empty() { String::new() } else { format!("; guest stderr: {stderr}") }
}
