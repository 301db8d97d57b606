//! The per-instance store: an empty WASI context, a memory cap, captured stdout and stderr, and
//! the mapping of wasmtime failures to [`CallError`].

use crate::captured::CapturedOutput;
use crate::trap::{GuestBacktrace, Panic, trap_message};
use crate::{CallError, Limit, Limits, OperatorOutput};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use wasmtime::component::ResourceTable;
use wasmtime::{ResourceLimiter, Store, Trap, UpdateDeadline};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

/// The data of one sandboxed store (public only as a type parameter of the sealed `World`).
pub struct SandboxState {
    wasi: WasiCtx,
    table: ResourceTable,
    memory: MemoryCap,
    stdout: CapturedOutput,
    stderr: CapturedOutput,
    limits: Limits,
    /// Set from outside (a cancelled job) to stop the running call at the next epoch tick.
    stop: Option<Arc<AtomicBool>>,
    /// Epoch ticks the running call has left before its call timeout.
    ticks_left: u64,
}

/// Why a call stopped when it was stopped from outside (see [`stop_when`]).
#[derive(Debug)]
struct Stopped;

impl std::fmt::Display for Stopped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("stopped from outside")
    }
}

impl std::error::Error for Stopped {}

/// Makes every call of the store stop at the next epoch tick (within 10 ms) once `flag` is set.
pub(crate) fn stop_when(store: &mut Store<SandboxState>, flag: Arc<AtomicBool>) {
    store.data_mut().stop = Some(flag);
}

impl WasiView for SandboxState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

/// Refuses to grow a memory past the cap, and remembers that it did.
struct MemoryCap {
    bytes: u64,
    hit: bool,
}

impl ResourceLimiter for MemoryCap {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _max: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired as u64 > self.bytes {
            self.hit = true;
            return Ok(false);
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _max: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 1_000_000)
    }
}

/// A fresh store with no ambient authority and the given limits.
pub(crate) fn new_store(engine: &wasmtime::Engine, limits: Limits) -> Store<SandboxState> {
    let stdout = CapturedOutput::new(limits.captured);
    let stderr = CapturedOutput::new(limits.captured);
    // No preopens, no environment, no arguments, no network: the builder's defaults.
    let wasi = WasiCtxBuilder::new().stdout(stdout.clone()).stderr(stderr.clone()).build();
    let state = SandboxState {
        wasi,
        table: ResourceTable::new(),
        memory: MemoryCap { bytes: limits.memory, hit: false },
        stdout,
        stderr,
        limits,
        stop: None,
        ticks_left: 0,
    };
    let mut store = Store::new(engine, state);
    store.limiter(|state| &mut state.memory);
    // Called at every epoch tick of a running call: stops it when it is stopped from outside or
    // its time is up, else lets it run one more tick.
    store.epoch_deadline_callback(|mut store| {
        let state = store.data_mut();
        if state.stop.as_ref().is_some_and(|stop| stop.load(Ordering::Relaxed)) {
            return Err(Stopped.into());
        }
        if state.ticks_left == 0 {
            return Ok(UpdateDeadline::Interrupt);
        }
        state.ticks_left -= 1;
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

/// Arms the store's deadline for one call.
pub(crate) fn arm_deadline(store: &mut Store<SandboxState>) {
    let timeout = store.data().limits.call_timeout;
    // One tick more than the timeout spans: the first tick may come right after arming.
    let ticks = (timeout.as_millis() as u64 * EPOCH_TICKS_PER_SECOND).div_ceil(1000) + 1;
    store.data_mut().ticks_left = ticks - 1;
    store.set_epoch_deadline(1);
}

/// Classifies a wasmtime error raised by a call.
pub(crate) fn classify(store: &Store<SandboxState>, error: wasmtime::Error) -> CallError {
    let state = store.data();
    if state.memory.hit {
        return CallError::LimitExceeded(Limit::Memory { bytes: state.memory.bytes });
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
