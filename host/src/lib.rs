//! The flicker host: runs operator components in a wasmtime sandbox.
//!
//! A [`Runtime`] owns one wasmtime engine (pooling allocator, epoch interruption) and a cache of
//! compiled components on disk, keyed by the component's sha256 and the engine's compatibility
//! hash. [`Runtime::load`] turns component bytes into a [`Plugin`], whose operator kind comes from
//! what the component exports. Each operator instance ([`ParseInstance`], [`MapInstance`],
//! [`AggregateInstance`], [`FormatInstance`]) lives in a fresh [`wasmtime::Store`] with WASI linked
//! with an empty context: no files, no sockets, no environment, no arguments; the guest's stdout
//! and stderr are captured (bounded, [`Instance::output`]). Every call runs under an epoch
//! deadline (which also ends any wait on a clock), a cap on all the instance's memories and
//! tables together and an output-size cap, and its failure says which of three things happened:
//! the operator returned an error, it trapped, or it hit a limit ([`CallError`]). Each instance
//! takes one of the node's sandboxes, a bounded share of the engine's pool (see `pool.rs`). The
//! CPU time of every call is charged to the [`CpuAccount`] the instances of a task share, whose
//! budget stops them mid-call (see `meter.rs`); an instance's [`Instance::peak_memory`] is what
//! its memories and tables grew to.

mod bindings;
mod cache;
mod captured;
mod error;
mod instance;
mod limits;
mod meter;
mod plugin;
mod pool;
mod runtime;
mod sandbox;
mod schema;
mod trap;
mod validate;
mod watch;

pub use captured::{CapturedText, OperatorOutput};
pub use error::{CallError, HostError, Limit, OperatorError};
pub use instance::{
    AggregateInstance, CoGroupInstance, FormatInstance, Instance, MapInstance, ParseInstance, Parsed,
};
pub use limits::{Limits, Sandbox};
pub use meter::{CpuAccount, Meter};
pub use plugin::{Plugin, PluginDigest};
pub use pool::{
    MAX_CORE_INSTANCES, MAX_MEMORIES, MAX_TABLES, MAX_TASK_SANDBOXES, SANDBOX_WAIT, VALIDATION_SANDBOXES,
};
pub use runtime::{Runtime, RuntimeConfig};
pub use schema::TypeCheckError;
pub use trap::{GuestBacktrace, Panic, is_backtrace_note, shown_stderr};
pub use validate::check_component;
