//! Sandbox limits per operator instance.

use crate::CpuAccount;
use flicker_protocol::LimitOverrides;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

/// What one operator instance may use. Cluster-wide defaults, overridden per step by the manifest's
/// `limits` table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest linear memory the instance may grow to, in bytes.
    pub memory: u64,
    /// Longest a single call into the instance may run.
    pub call_timeout: Duration,
    /// Largest batch or byte string one call may return, in bytes.
    pub output: u64,
    /// How much of each of the guest's stdout and stderr is kept, in bytes (the rest is dropped
    /// and counted).
    pub captured: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            memory: 512 << 20,
            call_timeout: Duration::from_secs(60),
            output: 256 << 20,
            captured: 64 << 10,
        }
    }
}

impl Limits {
    /// The state an aggregate may hold before the host takes it out (flushes it into the shuffle
    /// output, or spills it to disk): a quarter of the memory limit. The rest is room for what
    /// comes with the state: the batch being folded in, the growth of the operator's table
    /// within one call, and the partials batch that emptying it builds (about half the state),
    /// plus the heap's fragmentation after a few fills. A quarter rather than a third: the
    /// guest's memory never shrinks, so what it reaches once it holds for the whole task, and a
    /// task's host side holds copies of the partials too (docs/PERFORMANCE.md, "Many keys").
    pub fn spill_threshold(&self) -> u64 {
        self.memory / 4
    }

    /// These limits with the manifest's overrides applied.
    pub fn with(self, overrides: &LimitOverrides) -> Self {
        Self {
            memory: overrides.memory.unwrap_or(self.memory),
            call_timeout: overrides.call_timeout.unwrap_or(self.call_timeout),
            output: overrides.output.unwrap_or(self.output),
            captured: self.captured,
        }
    }
}

/// How an operator instance is sandboxed: its limits, the flag that stops its running call
/// (and every later one, its `create` included) within an epoch tick once set, however long its
/// call timeout: how a cancelled job's operators stop; and the account its calls' CPU time is
/// charged to, shared by the instances of a task, whose budget stops them the same way.
#[derive(Debug, Clone, Default)]
pub struct Sandbox {
    /// Its limits.
    pub limits: Limits,
    /// Stops it from outside when set.
    pub stop: Option<Arc<AtomicBool>>,
    /// What its calls cost, with the other instances of its task, and the budget they share.
    pub cpu: Arc<CpuAccount>,
}

impl Sandbox {
    /// `limits`, stopped when `flag` is set.
    pub fn stopped_by(limits: Limits, flag: Arc<AtomicBool>) -> Self {
        Self { stop: Some(flag), ..Self::from(limits) }
    }
}

impl From<Limits> for Sandbox {
    fn from(limits: Limits) -> Self {
        Self { limits, stop: None, cpu: Arc::default() }
    }
}
