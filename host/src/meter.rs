//! What operator calls cost in CPU time, and the budget a task's calls share.
//!
//! Every call into an instance (its `create` too) is metered on the thread that runs it: the
//! meter is read before and after the call, and the difference is charged to the instance's
//! [`CpuAccount`], which the instances of one task attempt share. An account may hold a budget:
//! a call that starts when the account is past it is refused, a call that ends past it fails,
//! and a running call is stopped at the first epoch tick (every 10 ms) at which the account and
//! what the call used so far pass it together, so an operator that loops forever ends a tick or
//! two of CPU after its budget, not at its call timeout. Each of these fails with
//! [`Limit::CpuBudget`](crate::Limit::CpuBudget).
//!
//! The meter is the thread's CPU time ([`Meter::CpuTime`]): two clock reads per call, nothing
//! per instruction. wasmtime's fuel ([`Meter::Fuel`]) counts instructions in the compiled code
//! itself and costs far more; both are measured in `docs/PERFORMANCE.md`.

use crate::{CallError, Limit};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// How a runtime meters the work of operator calls.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Meter {
    /// Nothing is read: accounts stay at zero and no budget holds. Only for measuring what
    /// metering costs.
    Off,
    /// The CPU time of the thread that runs the call (`CLOCK_THREAD_CPUTIME_ID`): the guest's code
    /// and the host functions it calls, read before and after each call and at each epoch tick
    /// of a running one.
    #[default]
    CpuTime,
    /// wasmtime fuel (`consume_fuel`): the compiled guest code counts the instructions it runs,
    /// each unit charged as one nanosecond. A budget is held by the fuel itself: each call is
    /// given what is left of it and traps when that runs out (the compiled code keeps its count
    /// in a register, so an epoch tick cannot read it). Far costlier than [`Meter::CpuTime`] on
    /// the reference job (`docs/PERFORMANCE.md`): kept to measure that cost again.
    Fuel,
}

/// The operator CPU time of one task attempt, charged by all its operator instances, and the
/// budget it may not pass. Shared by the instances through the [`Sandbox`](crate::Sandbox) each
/// is made in.
#[derive(Debug, Default)]
pub struct CpuAccount {
    /// Nanoseconds charged so far.
    used: AtomicU64,
    /// Nanoseconds it may use; `None`: no budget.
    budget: Option<u64>,
}

impl CpuAccount {
    /// An empty account that may use `budget` (`None`: as much as it likes).
    pub fn new(budget: Option<Duration>) -> Self {
        Self { used: AtomicU64::new(0), budget: budget.map(nanos) }
    }

    /// The CPU time charged so far.
    pub fn used(&self) -> Duration {
        Duration::from_nanos(self.used.load(Ordering::Relaxed))
    }

    /// The CPU time it may use.
    pub fn budget(&self) -> Option<Duration> {
        self.budget.map(Duration::from_nanos)
    }

    /// Charges `used` nanoseconds.
    pub(crate) fn charge(&self, used: u64) {
        self.used.fetch_add(used, Ordering::Relaxed);
    }

    /// Whether the account has a budget: only then is a running call's use read mid-call.
    pub(crate) fn is_budgeted(&self) -> bool {
        self.budget.is_some()
    }

    /// Nanoseconds left of the budget (`None`: no budget).
    pub(crate) fn left(&self) -> Option<u64> {
        self.budget.map(|budget| budget.saturating_sub(self.used.load(Ordering::Relaxed)))
    }

    /// The account as it stands once a call used the last of its budget.
    pub(crate) fn spent(&self) -> OverBudget {
        let used = self.used();
        OverBudget { used, budget: self.budget().unwrap_or(used) }
    }

    /// Fails when what was charged and `running` nanoseconds more, used by a call not charged
    /// yet, pass the budget.
    pub(crate) fn check(&self, running: u64) -> Result<(), OverBudget> {
        let Some(budget) = self.budget else { return Ok(()) };
        let used = self.used.load(Ordering::Relaxed).saturating_add(running);
        if used > budget {
            return Err(OverBudget {
                used: Duration::from_nanos(used),
                budget: Duration::from_nanos(budget),
            });
        }
        Ok(())
    }
}

/// An account passed its budget: how a running call is stopped by the epoch callback, then
/// classified as [`Limit::CpuBudget`](crate::Limit::CpuBudget).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("CPU budget of {budget:?} used up ({used:?} used)")]
pub(crate) struct OverBudget {
    /// What the account's instances used, the running call included.
    pub(crate) used: Duration,
    /// The budget.
    pub(crate) budget: Duration,
}

impl From<OverBudget> for CallError {
    fn from(OverBudget { used, budget }: OverBudget) -> Self {
        CallError::LimitExceeded(Limit::CpuBudget { used, budget })
    }
}

/// `duration` in nanoseconds, saturated.
fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

/// The CPU time the calling thread has used, in nanoseconds.
pub(crate) fn thread_cpu_ns() -> u64 {
    let mut now = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `now` is a valid timespec for the call to write, and nothing else is written.
    let failed = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) } != 0;
    if failed {
        // Only for a clock the system does not have: every Unix flicker runs on has this one.
        return 0;
    }
    let seconds = u64::try_from(now.tv_sec).unwrap_or(0);
    let nanos = u64::try_from(now.tv_nsec).unwrap_or(0);
    seconds.saturating_mul(1_000_000_000).saturating_add(nanos)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn an_account_passes_its_budget_with_what_a_running_call_used() {
        let account = CpuAccount::new(Some(Duration::from_millis(10)));
        account.charge(6_000_000);
        assert_eq!(account.used(), Duration::from_millis(6));
        assert_eq!(account.check(4_000_000), Ok(()), "at the budget is not past it");
        let over = account.check(4_000_001).unwrap_err();
        assert_eq!(
            over,
            OverBudget { used: Duration::from_nanos(10_000_001), budget: Duration::from_millis(10) }
        );
        assert_eq!(account.left(), Some(4_000_000));
        account.charge(5_000_000);
        assert!(account.check(0).is_err(), "charged past it");
        assert_eq!(account.left(), Some(0));
        assert_eq!(
            account.spent(),
            OverBudget { used: Duration::from_millis(11), budget: Duration::from_millis(10) }
        );
    }

    #[test]
    fn an_account_without_a_budget_is_never_past_it() {
        let account = CpuAccount::default();
        account.charge(u64::MAX / 2);
        assert!(!account.is_budgeted());
        assert_eq!(account.check(u64::MAX / 2), Ok(()));
        assert_eq!(account.budget(), None);
        assert_eq!(account.left(), None);
    }

    #[test]
    fn the_thread_clock_counts_the_threads_own_work_and_not_its_sleep() {
        let before = thread_cpu_ns();
        let started = Instant::now();
        let mut n = 0u64;
        while started.elapsed() < Duration::from_millis(50) {
            n = std::hint::black_box(n.wrapping_add(1));
        }
        let busy = thread_cpu_ns() - before;
        assert!(busy > 0, "a busy loop used CPU");
        assert!(busy <= nanos(started.elapsed()) + 1_000_000, "{busy} ns within the loop's wall time");

        let before = thread_cpu_ns();
        std::thread::sleep(Duration::from_millis(200));
        let slept = thread_cpu_ns() - before;
        assert!(slept < 100_000_000, "a sleep of 200 ms used {slept} ns of CPU");
    }
}
