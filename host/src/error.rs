//! Errors of loading plugins and of calling operators.

use crate::trap::{GuestBacktrace, Panic, shown_stderr};
use flicker_protocol::text::{MAX_OPERATOR_TEXT, bounded};
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
    /// The component needs more core instances, memories or tables than one operator sandbox
    /// holds (see [`MAX_CORE_INSTANCES`](crate::MAX_CORE_INSTANCES) and its neighbours).
    #[error(
        "the component needs more than an operator sandbox holds (at most {} core instances, {} memories and {} tables): {message}",
        crate::MAX_CORE_INSTANCES,
        crate::MAX_MEMORIES,
        crate::MAX_TABLES
    )]
    OverSandbox {
        /// What wasmtime said.
        message: String,
    },
    /// Every sandbox of the node stayed in use while the instance waited for one: a condition of
    /// the node, not of the operator.
    #[error("all {sandboxes} operator sandboxes of this node are in use (waited {waited:?} for one)")]
    NoSandbox {
        /// The node's sandboxes.
        sandboxes: u32,
        /// How long the instance waited.
        waited: Duration,
    },
    /// The engine's instance pool had no room left: a condition of the node, not of the operator
    /// (the sandbox count keeps it from happening; this is the guard behind it).
    #[error("the node's operator pool is exhausted: {message}")]
    PoolExhausted {
        /// What wasmtime said.
        message: String,
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
        found: flicker_protocol::OperatorKind,
        /// The kind asked for.
        wanted: flicker_protocol::OperatorKind,
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
        /// What the call tried to return; `None` when it was so much larger than the cap that the
        /// host did not copy it at all.
        returned: Option<u64>,
    },
    /// The CPU time the task's operators may use together (see [`CpuAccount`](crate::CpuAccount)).
    CpuBudget {
        /// What they used when the call was stopped, the call included.
        used: Duration,
        /// The budget.
        budget: Duration,
    },
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Limit::Memory { bytes } => write!(f, "memory limit of {} reached", human_bytes(*bytes)),
            Limit::CallTimeout { after } => write!(f, "call timeout of {after:?} reached"),
            Limit::Output { bytes, returned: Some(returned) } => write!(
                f,
                "output limit of {} exceeded (the call returned {})",
                human_bytes(*bytes),
                human_bytes(*returned)
            ),
            Limit::Output { bytes, returned: None } => write!(
                f,
                "output limit of {} exceeded (the call tried to return over twice as much)",
                human_bytes(*bytes)
            ),
            Limit::CpuBudget { used, budget } => {
                write!(f, "CPU budget of {budget:?} used up (the task's operators used {used:?})")
            }
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
    /// The operator trapped (a panic, an out-of-bounds access, ...). Shown as `operator panicked
    /// at <location>: <message>` for a Rust panic, else `operator trapped: <trap>`, then the
    /// backtrace and whatever else the guest wrote to stderr.
    #[error("{}{backtrace}{}", trap_cause(.trap, .panic.as_ref()), stderr_suffix(.stderr, .panic.is_some()))]
    Trapped {
        /// The trap, as wasmtime describes it, without frames (``wasm `unreachable` instruction
        /// executed``, which is how a Rust panic ends).
        trap: String,
        /// The Rust panic that caused the trap, as the guest reported it on stderr.
        panic: Option<Panic>,
        /// Where in the guest it trapped.
        backtrace: GuestBacktrace,
        /// What the guest wrote to stderr before trapping (a Rust panic's report included).
        stderr: String,
    },
    /// The operator hit a sandbox limit.
    #[error("operator stopped: {0}")]
    LimitExceeded(Limit),
    /// The call was stopped from outside: its task's job was cancelled.
    #[error("the operator was stopped: its job was cancelled")]
    Stopped,
    /// The instance trapped earlier and cannot be called again.
    #[error("the operator instance is unusable after an earlier failure")]
    Poisoned,
}

/// What trapped: the panic when there is one (its trap is always `unreachable`), else the trap.
fn trap_cause(trap: &str, panic: Option<&Panic>) -> String {
    match panic {
        Some(Panic { location, message }) => {
            let message = bounded(message.clone(), MAX_OPERATOR_TEXT);
            format!("operator panicked at {location}: {message}")
        }
        None => format!("operator trapped: {trap}"),
    }
}

/// The rest of the guest's stderr, when it wrote more than the panic the error shows.
fn stderr_suffix(stderr: &str, panic_shown: bool) -> String {
    let stderr = shown_stderr(stderr, panic_shown);
    if stderr.is_empty() {
        String::new()
    } else {
        format!("; guest stderr: {}", bounded(stderr, MAX_OPERATOR_TEXT))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trapped(trap: &str, backtrace: GuestBacktrace, stderr: &str) -> CallError {
        let (trap, stderr) = (trap.to_owned(), stderr.to_owned());
        CallError::Trapped { trap, panic: Panic::find(&stderr), backtrace, stderr }
    }

    #[test]
    fn a_panic_shows_its_message_once_then_where_then_the_rest_of_stderr() {
        let stderr = "loading\n\nthread '<unnamed>' (1) panicked at src/lib.rs:63:37:\nboom\nnote: run with `RUST_BACKTRACE=1` environment variable to display a backtrace\n";
        let frames = GuestBacktrace::Named(vec!["op::Op::map".into(), "sdk::call".into()]);
        assert_eq!(
            trapped("wasm `unreachable` instruction executed", frames, stderr).to_string(),
            "operator panicked at src/lib.rs:63:37: boom (in op::Op::map ← sdk::call); guest stderr: loading"
        );
        let stripped =
            trapped("wasm `unreachable` instruction executed", GuestBacktrace::Unnamed, stderr).to_string();
        assert!(
            stripped.starts_with("operator panicked at src/lib.rs:63:37: boom (no function names: "),
            "{stripped}"
        );
    }

    #[test]
    fn a_trap_that_is_no_panic_shows_the_trap_and_where() {
        let frames = GuestBacktrace::Named(vec!["parse_row".into(), "main".into()]);
        assert_eq!(
            trapped("out of bounds memory access", frames, "").to_string(),
            "operator trapped: out of bounds memory access (in parse_row ← main)"
        );
        let noted = "odd\nnote: run with `RUST_BACKTRACE=1` environment variable to display a backtrace";
        assert_eq!(
            trapped("wasm `unreachable` instruction executed", GuestBacktrace::Named(Vec::new()), noted)
                .to_string(),
            "operator trapped: wasm `unreachable` instruction executed; guest stderr: odd"
        );
    }
}
