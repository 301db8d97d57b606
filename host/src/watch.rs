//! When an operator's running call must end: its deadline (the step's call timeout) and the stop
//! flag of its task (a cancelled or ended job). Guest code is stopped at the next epoch tick once
//! either passes; a guest that waits on a clock (sleeps) is woken at the same moment, because the
//! only pollables that can wait, the monotonic clock's subscriptions, are this module's: they end
//! at the call's deadline or when the call is stopped, whichever comes first.

use crate::sandbox::SandboxState;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use wasmtime::StoreContextMut;
use wasmtime::component::{Linker, Resource};
use wasmtime_wasi::p2::{DynPollable, Pollable, subscribe};

/// The interface whose clock subscriptions the sandbox replaces (the version wasmtime-wasi
/// implements; components importing any earlier `0.2.x` are linked to it).
const MONOTONIC_CLOCK: &str = "wasi:clocks/monotonic-clock@0.2.12";

/// How often a sleeping guest's wait looks at its task's stop flag.
const STOP_CHECK: Duration = Duration::from_millis(10);

/// The deadline of an instance's running call and the flag that stops it from outside, shared
/// by the store's epoch callback and every clock subscription the guest made.
#[derive(Debug)]
pub(crate) struct CallWatch {
    /// When the watch was made: deadlines are kept as nanoseconds since.
    start: Instant,
    /// The running call's deadline, in nanoseconds since `start` (`u64::MAX` for none).
    deadline: AtomicU64,
    /// Set from outside (a cancelled job) to stop the running call at the next epoch tick.
    stop: Option<Arc<AtomicBool>>,
}

impl CallWatch {
    /// A watch with no deadline yet, stopped when `stop` is set.
    pub(crate) fn new(stop: Option<Arc<AtomicBool>>) -> Self {
        Self { start: Instant::now(), deadline: AtomicU64::new(u64::MAX), stop }
    }

    /// Starts a call that may run for `timeout`.
    pub(crate) fn arm(&self, timeout: Duration) {
        let deadline = self.start.elapsed().saturating_add(timeout);
        self.deadline.store(u64::try_from(deadline.as_nanos()).unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    /// The running call's deadline.
    fn deadline(&self) -> Option<Instant> {
        self.start.checked_add(Duration::from_nanos(self.deadline.load(Ordering::Relaxed)))
    }

    /// Whether the running call is past its deadline.
    pub(crate) fn expired(&self) -> bool {
        self.deadline().is_some_and(|deadline| Instant::now() >= deadline)
    }

    /// Nanoseconds since the watch was made: the guest's monotonic clock.
    fn now(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    /// Whether the instance was stopped from outside.
    pub(crate) fn stopped(&self) -> bool {
        self.stop.as_ref().is_some_and(|stop| stop.load(Ordering::Relaxed))
    }
}

/// The guest's monotonic clock: nanoseconds since its instance was made, the same count its
/// clock subscriptions are made against.
pub(crate) struct GuestClock(pub(crate) Arc<CallWatch>);

impl wasmtime_wasi::HostMonotonicClock for GuestClock {
    fn resolution(&self) -> u64 {
        1
    }

    fn now(&self) -> u64 {
        self.0.now()
    }
}

/// A guest's wait on the monotonic clock, ended early by its call's deadline or stop.
struct Sleep {
    until: Option<Instant>,
    watch: Arc<CallWatch>,
}

#[wasmtime_wasi::async_trait]
impl Pollable for Sleep {
    async fn ready(&mut self) {
        loop {
            if self.watch.stopped() {
                return;
            }
            let now = Instant::now();
            let end =
                [self.until, self.watch.deadline()].into_iter().flatten().min().unwrap_or(now + STOP_CHECK);
            if now >= end {
                return;
            }
            tokio::time::sleep((end - now).min(STOP_CHECK)).await;
        }
    }
}

/// A pollable that is ready `after` from now, or when the call ends.
fn subscribe_sleep(
    mut store: StoreContextMut<'_, SandboxState>,
    after: Duration,
) -> wasmtime::Result<Resource<DynPollable>> {
    let state = store.data_mut();
    let sleep = Sleep { until: Instant::now().checked_add(after), watch: state.watch.clone() };
    let resource = state.table.push(sleep)?;
    subscribe(&mut state.table, resource)
}

/// Replaces wasmtime-wasi's clock subscriptions in `linker` with ones bounded by the call's
/// deadline and stop flag: a guest that sleeps is woken when its call's time is up, and the
/// epoch callback then stops it as it would a loop.
pub(crate) fn bound_clock_waits(linker: &mut Linker<SandboxState>) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    let mut clock = linker.instance(MONOTONIC_CLOCK)?;
    clock.func_wrap("subscribe-duration", |store: StoreContextMut<'_, SandboxState>, (nanos,): (u64,)| {
        subscribe_sleep(store, Duration::from_nanos(nanos)).map(|pollable| (pollable,))
    })?;
    clock.func_wrap("subscribe-instant", |store: StoreContextMut<'_, SandboxState>, (when,): (u64,)| {
        let now = store.data().watch.now();
        subscribe_sleep(store, Duration::from_nanos(when.saturating_sub(now))).map(|pollable| (pollable,))
    })?;
    linker.allow_shadowing(false);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sleep_ends_at_the_call_deadline_or_when_stopped() {
        let io = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let watch = Arc::new(CallWatch::new(Some(stop.clone())));
        watch.arm(Duration::from_millis(20));
        let mut sleep = Sleep { until: Instant::now().checked_add(Duration::from_secs(3600)), watch };
        let started = Instant::now();
        io.block_on(sleep.ready());
        assert!(started.elapsed() < Duration::from_secs(60), "woken at the deadline");
        assert!(sleep.watch.expired());

        sleep.watch.arm(Duration::from_secs(3600));
        assert!(!sleep.watch.expired());
        stop.store(true, Ordering::Relaxed);
        let started = Instant::now();
        io.block_on(sleep.ready());
        assert!(started.elapsed() < Duration::from_secs(60), "woken by the stop flag");
    }

    #[test]
    fn a_watch_without_a_call_has_no_deadline() {
        let watch = CallWatch::new(None);
        assert!(!watch.expired());
        assert!(!watch.stopped());
        watch.arm(Duration::ZERO);
        assert!(watch.expired());
    }
}
