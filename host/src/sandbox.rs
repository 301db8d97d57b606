//! The per-instance store: an empty WASI context, a cap on all its memories and tables together,
//! captured stdout and stderr, its call deadline, the meter of its calls' CPU time, and the
//! mapping of wasmtime failures to [`CallError`].

use crate::captured::CapturedOutput;
use crate::meter::{OverBudget, thread_cpu_ns};
use crate::pool::{SandboxPermit, SandboxPool};
use crate::runtime::EpochTicker;
use crate::trap::{GuestBacktrace, Panic, trap_message};
use crate::watch::{CallWatch, GuestClock};
use crate::{CallError, CpuAccount, HostError, Limit, Limits, Meter, OperatorError, OperatorOutput, Sandbox};
use std::sync::Arc;
use std::time::Duration;
use wasmtime::component::ResourceTable;
use wasmtime::{AsContext, Engine, ResourceLimiter, Store, Trap, UpdateDeadline};
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
    /// What the calls cost.
    cpu: CallMeter,
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

/// How a store's calls are metered, the account they are charged to, and where the meter stood
/// when the running call started.
struct CallMeter {
    meter: Meter,
    account: Arc<CpuAccount>,
    started: u64,
}

/// The bytes one table element is counted as (a function reference: a pointer).
const TABLE_ELEMENT_BYTES: u64 = 8;

/// Holds the sum of all linear memories and tables of an instance, however many its component
/// defines, to the memory limit, and remembers when it refused.
struct InstanceCap {
    /// The limit.
    bytes: u64,
    /// What the instance's memories and tables hold together: the most they ever held, as
    /// neither can shrink.
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
    /// How calls are metered.
    pub(crate) meter: Meter,
}

impl SandboxMaker {
    /// A fresh store with no ambient authority, under `sandbox`'s limits, stop flag and CPU
    /// account, in a sandbox of the node (waiting for one to be freed when all are in use).
    pub(crate) fn store(&self, sandbox: Sandbox) -> Result<Store<SandboxState>, HostError> {
        let permit = self.pool.take(self.wait)?;
        Ok(new_store(self, sandbox, permit))
    }
}

fn new_store(maker: &SandboxMaker, sandbox: Sandbox, permit: SandboxPermit) -> Store<SandboxState> {
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
        cpu: CallMeter { meter: maker.meter, account: sandbox.cpu, started: 0 },
        _ticker: maker.ticker.clone(),
        _permit: permit,
    };
    let mut store = Store::new(&maker.engine, state);
    store.limiter(|state| &mut state.held);
    // Called at every epoch tick of a running call: stops it when it is stopped from outside,
    // its task's CPU budget is used up or its time is up, else lets it run one more tick.
    store.epoch_deadline_callback(|store| {
        let state = store.data();
        if state.watch.stopped() {
            return Err(Stopped.into());
        }
        if state.cpu.meter == Meter::CpuTime && state.cpu.account.is_budgeted() {
            let running = reading(&store).saturating_sub(state.cpu.started);
            state.cpu.account.check(running)?;
        }
        if state.watch.expired() {
            return Ok(UpdateDeadline::Interrupt);
        }
        Ok(UpdateDeadline::Continue(1))
    });
    store.set_hostcall_fuel(hostcall_fuel(limits.output));
    if maker.meter == Meter::Fuel {
        store.set_fuel(u64::MAX).expect("the engine of a fuel-metered runtime consumes fuel");
    }
    store
}

/// Where the store's meter stands: the thread's CPU time, the fuel it burned, in nanoseconds
/// (one per unit of fuel), or 0 when calls are not metered.
fn reading(store: &impl AsContext<Data = SandboxState>) -> u64 {
    let store = store.as_context();
    match store.data().cpu.meter {
        Meter::Off => 0,
        Meter::CpuTime => thread_cpu_ns(),
        Meter::Fuel => u64::MAX - store.get_fuel().unwrap_or(u64::MAX),
    }
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

/// Starts a call of a task's operator: arms its deadline, gives it the fuel left of the task's
/// budget when calls are metered by fuel, and notes where the meter stands; refuses it when the
/// task's CPU budget is used up already.
pub(crate) fn begin_call(store: &mut Store<SandboxState>) -> Result<(), CallError> {
    arm_deadline(store);
    let cpu = &store.data().cpu;
    if cpu.meter == Meter::Fuel {
        let fuel = cpu.account.left().unwrap_or(u64::MAX);
        store.set_fuel(fuel).expect("the engine of a fuel-metered runtime consumes fuel");
    }
    let started = reading(store);
    let cpu = &mut store.data_mut().cpu;
    cpu.started = started;
    Ok(cpu.account.check(0)?)
}

/// Ends a call begun with [`begin_call`]: charges what it used to the task's account, and fails
/// when that took the account past its budget.
pub(crate) fn end_call(store: &mut Store<SandboxState>) -> Result<(), CallError> {
    let ended = reading(store);
    let cpu = &store.data().cpu;
    cpu.account.charge(ended.saturating_sub(cpu.started));
    Ok(cpu.account.check(0)?)
}

/// What the instance's memories and tables grew to, together, in bytes.
pub(crate) fn peak_memory(store: &Store<SandboxState>) -> u64 {
    store.data().held.held
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
    if let Some(over) = error.downcast_ref::<OverBudget>() {
        return (*over).into();
    }
    if let Some(Trap::OutOfFuel) = error.downcast_ref::<Trap>() {
        return state.cpu.account.spent().into();
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

/// Classifies an error the operator returned: after the sandbox refused to grow its memory, it is
/// the memory limit, whatever the operator made of the refusal (an interpreter such as CPython or
/// QuickJS turns it into an exception its code may catch and return as an error).
pub(crate) fn operator_failed(store: &Store<SandboxState>, error: OperatorError) -> CallError {
    let state = store.data();
    if state.held.hit {
        return CallError::LimitExceeded(Limit::Memory { bytes: state.held.bytes });
    }
    CallError::Operator(error)
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

#[cfg(test)]
mod tests {
    use crate::meter::thread_cpu_ns;
    use crate::{CallError, CpuAccount, Limit, Limits, MapInstance, Runtime, RuntimeConfig, Sandbox};
    use flicker_batch::{BatchWriter, Schema, ValueRef};
    use std::sync::Arc;
    use std::time::Duration;

    fn test_plugin(runtime: &Runtime) -> Arc<crate::Plugin> {
        let path = flicker_plugins::guest_artifact("flicker-test-plugin");
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
        runtime.load(&bytes).expect("the test plugin loads")
    }

    fn behaving(runtime: &Runtime, pairs: &[(&str, &str)], sandbox: Sandbox) -> MapInstance {
        let config: Vec<_> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        test_plugin(runtime).map(&config, sandbox).expect("the operator is created")
    }

    fn small_batch() -> Vec<u8> {
        let mut batch = BatchWriter::new(&Schema::values(["n"]));
        batch.push_values([], [ValueRef::I64(42)]);
        batch.finish()
    }

    /// A sandbox charging `cpu`, whose calls may run for a minute: a loop the budget did not stop
    /// fails at that timeout instead.
    fn minute_long_calls(cpu: &Arc<CpuAccount>) -> Sandbox {
        let limits = Limits { call_timeout: Duration::from_secs(60), ..Limits::default() };
        Sandbox { cpu: cpu.clone(), ..Sandbox::from(limits) }
    }

    #[test]
    fn a_loop_is_stopped_once_its_tasks_cpu_budget_is_used_up() {
        let runtime = Runtime::new(RuntimeConfig::default()).unwrap();
        let budget = Duration::from_millis(100);
        let cpu = Arc::new(CpuAccount::new(Some(budget)));
        // Another instance of the task used part of the budget already.
        let mut echo = behaving(&runtime, &[("behave", "echo")], minute_long_calls(&cpu));
        echo.map(&small_batch()).expect("echo is under budget");
        let before = cpu.used();
        assert!(before > Duration::ZERO && before < budget, "{before:?}");

        let mut looping = behaving(&runtime, &[("behave", "loop")], minute_long_calls(&cpu));
        let error = looping.map(&small_batch()).unwrap_err();
        let CallError::LimitExceeded(Limit::CpuBudget { used, budget: hit }) = error else {
            panic!("{error}")
        };
        assert_eq!(hit, budget);
        assert!(used > budget, "stopped at {used:?}");
        // Stopped at an epoch tick, not at its timeout: a generous bound for a loaded machine (a
        // tick is 10 ms).
        assert!(used < budget + Duration::from_secs(5), "stopped only at {used:?}");
        assert!(cpu.used() >= used, "the account holds the stopped call: {:?}", cpu.used());
        assert!(error.to_string().contains("CPU budget of 100ms used up"), "{error}");
        assert!(matches!(looping.map(&small_batch()), Err(CallError::Poisoned)));
        // The account is spent: the task's other instances are refused too, without running.
        let spent = cpu.used();
        let refused = echo.map(&small_batch()).unwrap_err();
        assert!(matches!(refused, CallError::LimitExceeded(Limit::CpuBudget { .. })), "{refused}");
        assert_eq!(cpu.used(), spent);
        let created = test_plugin(&runtime).map(&[("behave".into(), "echo".into())], minute_long_calls(&cpu));
        let refused = created.err().expect("creating an instance is refused");
        assert!(
            matches!(refused, crate::HostError::Create(CallError::LimitExceeded(Limit::CpuBudget { .. }))),
            "{refused}"
        );
        assert_eq!(cpu.used(), spent);
    }

    #[test]
    fn a_busy_call_is_charged_the_cpu_time_of_its_thread() {
        let runtime = Runtime::new(RuntimeConfig::default()).unwrap();
        let cpu = Arc::new(CpuAccount::default());
        let mut slow = behaving(&runtime, &[("behave", "slow"), ("millis", "100")], minute_long_calls(&cpu));
        let (created, before) = (cpu.used(), thread_cpu_ns());
        slow.map(&small_batch()).expect("a slow call returns");
        let thread = Duration::from_nanos(thread_cpu_ns() - before);
        let charged = cpu.used() - created;
        assert!(created > Duration::ZERO, "creating the operator is charged too");
        assert!(charged > Duration::ZERO);
        assert!(charged <= thread, "charged {charged:?}, the thread used {thread:?}");
        assert!(charged >= thread.mul_f64(0.9), "charged {charged:?}, the thread used {thread:?}");
    }

    #[test]
    fn an_unmetered_runtime_charges_nothing_and_holds_no_budget() {
        let config = RuntimeConfig { meter: crate::Meter::Off, ..RuntimeConfig::default() };
        let runtime = Runtime::new(config).unwrap();
        let cpu = Arc::new(CpuAccount::new(Some(Duration::from_nanos(1))));
        let mut slow = behaving(&runtime, &[("behave", "slow"), ("millis", "30")], minute_long_calls(&cpu));
        slow.map(&small_batch()).expect("no budget holds");
        assert_eq!(cpu.used(), Duration::ZERO);
    }

    #[test]
    fn a_fuel_metered_runtime_charges_the_fuel_burned_and_stops_a_loop_at_the_budget() {
        let config = RuntimeConfig { meter: crate::Meter::Fuel, ..RuntimeConfig::default() };
        let runtime = Runtime::new(config).unwrap();
        let budget = Duration::from_millis(50);
        let cpu = Arc::new(CpuAccount::new(Some(budget)));
        let mut echo = behaving(&runtime, &[("behave", "echo")], minute_long_calls(&cpu));
        let created = cpu.used();
        echo.map(&small_batch()).expect("echo is under budget");
        assert!(created > Duration::ZERO && cpu.used() > created, "{created:?}, {:?}", cpu.used());
        let mut looping = behaving(&runtime, &[("behave", "loop")], minute_long_calls(&cpu));
        let error = looping.map(&small_batch()).unwrap_err();
        assert!(matches!(error, CallError::LimitExceeded(Limit::CpuBudget { .. })), "{error}");
    }

    #[test]
    fn the_peak_memory_is_what_the_guest_grew_to() {
        let runtime = Runtime::new(RuntimeConfig::default()).unwrap();
        let echo = behaving(&runtime, &[("behave", "echo")], Limits::default().into());
        let at_start = echo.peak_memory();
        assert!(at_start > 0, "an instance holds its initial memory");
        let limit = 32 << 20;
        let mut hoarding =
            behaving(&runtime, &[("behave", "alloc")], Limits { memory: limit, ..Limits::default() }.into());
        let error = hoarding.map(&small_batch()).unwrap_err();
        assert!(matches!(error, CallError::LimitExceeded(Limit::Memory { .. })), "{error}");
        // It allocates a MiB at a time: it grew to within a few MiB of the limit, never past it.
        let peak = hoarding.peak_memory();
        assert!(peak <= limit && peak >= limit - (4 << 20), "peak {peak} under a limit of {limit}");
        assert!(peak > at_start);
    }
}
