//! The per-instance store: an empty WASI context, a cap on all its memories and tables together,
//! captured stdout and stderr, its call deadline, and the mapping of wasmtime failures to
//! [`CallError`].

use crate::captured::CapturedOutput;
use crate::pool::{SandboxPermit, SandboxPool};
use crate::runtime::EpochTicker;
use crate::trap::{GuestBacktrace, Panic, trap_message};
use crate::watch::{CallWatch, GuestClock};
use crate::{CallError, HostError, Limit, Limits, OperatorOutput, Sandbox};
use std::sync::Arc;
use std::time::Duration;
use wasmtime::component::ResourceTable;
use wasmtime::{Engine, ResourceLimiter, Store, Trap, UpdateDeadline};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

/// The data of one sandboxed store (public only as a type parameter of the sealed `World`).
pub struct SandboxState {
    wasi: WasiCtx,
    pub(crate) table: ResourceTable,
    held: InstanceCap,
    stdout: CapturedOutput,
    stderr: CapturedOutput,
    limits: Limits,
    /// When the running call must end.
    pub(crate) watch: Arc<CallWatch>,
    /// Keeps the epoch advancing while the store may run guest code.
    _ticker: Arc<EpochTicker>,
    /// The node's sandbox the store takes, freed with it.
    _permit: SandboxPermit,
}

/// Why a call stopped when it was stopped from outside (see [`Sandbox::stop`]).
#[derive(Debug)]
struct Stopped;

impl std::fmt::Display for Stopped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("stopped from outside")
    }
}

impl std::error::Error for Stopped {}

impl WasiView for SandboxState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

/// The bytes one table element is counted as (a function reference: a pointer).
const TABLE_ELEMENT_BYTES: u64 = 8;

/// Holds the sum of all linear memories and tables of an instance, however many its component
/// defines, to the memory limit, and remembers when it refused.
struct InstanceCap {
    /// The limit.
    bytes: u64,
    /// What the instance's memories and tables hold together.
    held: u64,
    hit: bool,
}

impl InstanceCap {
    /// Takes `more` bytes if they fit under the limit.
    fn grow(&mut self, more: u64) -> bool {
        match self.held.checked_add(more) {
            Some(held) if held <= self.bytes => {
                self.held = held;
                true
            }
            _ => {
                self.hit = true;
                false
            }
        }
    }
}

impl ResourceLimiter for InstanceCap {
    // A memory or table being created grows from 0 to its initial size: that counts too.
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _max: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(self.grow(desired.saturating_sub(current) as u64))
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        _max: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(self.grow((desired.saturating_sub(current) as u64).saturating_mul(TABLE_ELEMENT_BYTES)))
    }
}

/// Makes the stores of a runtime's operator instances, each in one of its sandboxes.
#[derive(Clone)]
pub(crate) struct SandboxMaker {
    pub(crate) engine: Engine,
    pub(crate) ticker: Arc<EpochTicker>,
    pub(crate) pool: Arc<SandboxPool>,
    /// How long a store waits for a free sandbox.
    pub(crate) wait: Duration,
}

impl SandboxMaker {
    /// A fresh store with no ambient authority, under `sandbox`'s limits and stop flag, in a
    /// sandbox of the node (waiting for one to be freed when all are in use).
    pub(crate) fn store(&self, sandbox: Sandbox) -> Result<Store<SandboxState>, HostError> {
        let permit = self.pool.take(self.wait)?;
        Ok(new_store(&self.engine, sandbox, self.ticker.clone(), permit))
    }
}

fn new_store(
    engine: &Engine,
    sandbox: Sandbox,
    ticker: Arc<EpochTicker>,
    permit: SandboxPermit,
) -> Store<SandboxState> {
    let limits = sandbox.limits;
    let stdout = CapturedOutput::new(limits.captured);
    let stderr = CapturedOutput::new(limits.captured);
    let watch = Arc::new(CallWatch::new(sandbox.stop));
    // No preopens, no environment, no arguments, no network: the builder's defaults.
    let wasi = WasiCtxBuilder::new()
        .stdout(stdout.clone())
        .stderr(stderr.clone())
        .monotonic_clock(GuestClock(watch.clone()))
        .build();
    let state = SandboxState {
        wasi,
        table: ResourceTable::new(),
        held: InstanceCap { bytes: limits.memory, held: 0, hit: false },
        stdout,
        stderr,
        limits,
        watch,
        _ticker: ticker,
        _permit: permit,
    };
    let mut store = Store::new(engine, state);
    store.limiter(|state| &mut state.held);
    // Called at every epoch tick of a running call: stops it when it is stopped from outside or
    // its time is up, else lets it run one more tick.
    store.epoch_deadline_callback(|store| {
        let watch = &store.data().watch;
        if watch.stopped() {
            return Err(Stopped.into());
        }
        if watch.expired() {
            return Ok(UpdateDeadline::Interrupt);
        }
        Ok(UpdateDeadline::Continue(1))
    });
    store.set_hostcall_fuel(hostcall_fuel(limits.output));
    store
}

/// How many bytes wasmtime copies out of the guest in one call before it gives up
/// ("hostcall fuel", 128 MiB by default): twice the output limit and 64 MiB more, so that
/// flicker's output limit is what a call meets first and the error names it; past the fuel, the
/// call's result is not even copied (see [`classify`]).
fn hostcall_fuel(output: u64) -> usize {
    usize::try_from(output.saturating_mul(2).saturating_add(64 << 20)).unwrap_or(usize::MAX)
}

/// What wasmtime says when a call's result is larger than the hostcall fuel; its error type is
/// private, so it is known by its words (a test returns such a result and checks the error).
const HOSTCALL_FUEL_EXHAUSTED: &str = "too much data is being copied between the host and the guest";

/// Ticks of the engine's epoch per second (see the ticker in `runtime.rs`).
pub(crate) const EPOCH_TICKS_PER_SECOND: u64 = 100;

/// Arms the store's deadline for one call: guest code stops at the first epoch tick past the
/// call timeout, and a clock wait it is in ends then.
pub(crate) fn arm_deadline(store: &mut Store<SandboxState>) {
    let state = store.data();
    state.watch.arm(state.limits.call_timeout);
    store.set_epoch_deadline(1);
}

/// Classifies a wasmtime error raised while instantiating a component or creating its
/// operator: a full pool is the node's condition, anything else the operator's.
pub(crate) fn creation_failed(store: &Store<SandboxState>, error: wasmtime::Error) -> HostError {
    match error.downcast_ref::<wasmtime::PoolConcurrencyLimitError>() {
        Some(full) => HostError::PoolExhausted { message: full.to_string() },
        None => HostError::Create(classify(store, error)),
    }
}

/// Classifies a wasmtime error raised by a call.
pub(crate) fn classify(store: &Store<SandboxState>, error: wasmtime::Error) -> CallError {
    let state = store.data();
    if state.held.hit {
        return CallError::LimitExceeded(Limit::Memory { bytes: state.held.bytes });
    }
    if error.downcast_ref::<Stopped>().is_some() {
        return CallError::Stopped;
    }
    if let Some(Trap::Interrupt) = error.downcast_ref::<Trap>() {
        return CallError::LimitExceeded(Limit::CallTimeout { after: state.limits.call_timeout });
    }
    if error.chain().any(|cause| cause.to_string().contains(HOSTCALL_FUEL_EXHAUSTED)) {
        return CallError::LimitExceeded(Limit::Output { bytes: state.limits.output, returned: None });
    }
    let stderr = state.stderr.text();
    CallError::Trapped {
        trap: trap_message(&error),
        panic: Panic::find(&stderr),
        backtrace: GuestBacktrace::of(&error),
        stderr,
    }
}

/// Fails a call whose result is larger than the output limit.
pub(crate) fn check_output(store: &Store<SandboxState>, len: usize) -> Result<(), CallError> {
    let bytes = store.data().limits.output;
    if len as u64 > bytes {
        return Err(CallError::LimitExceeded(Limit::Output { bytes, returned: Some(len as u64) }));
    }
    Ok(())
}

/// What the guest wrote to stderr so far.
pub(crate) fn stderr(store: &Store<SandboxState>) -> String {
    store.data().stderr.text()
}

/// What the guest wrote to stdout and stderr so far.
pub(crate) fn output(store: &Store<SandboxState>) -> OperatorOutput {
    let state = store.data();
    OperatorOutput { stdout: state.stdout.captured(), stderr: state.stderr.captured() }
}
