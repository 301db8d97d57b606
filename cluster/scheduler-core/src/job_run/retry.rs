//! What follows a failed attempt: the job's retry policy, applied by whose fault the failure is
//! ([`Blame`], see `flicker_protocol::failure`), and the executors it excludes.
//!
//! | blame | the task | the executor |
//! |---|---|---|
//! | [`Blame::Job`] | the job fails at once: every attempt would fail the same way | not blamed |
//! | [`Blame::Operator`] | runs again, unless out of attempts | not blamed |
//! | [`Blame::Attempt`] | runs again, unless out of attempts | blamed: excluded from the job after `exclude_after` failed attempts of its tasks |
//!
//! A task runs again elsewhere when it can: the executors where it failed are avoided while
//! another could take it (the scheduler's picker reads them from the task's history). A map
//! output lost and computed again more than `max_attempts` times fails the job too.

use flicker_protocol::ExecutorId;
use flicker_protocol::failure::Blame;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// How many times a job's tasks may fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetryPolicy {
    /// Attempts of a task before the job fails.
    pub max_attempts: u32,
    /// Failed attempts of the job's tasks after which an executor gets no more of them.
    pub exclude_after: u32,
}

impl RetryPolicy {
    /// Whether a map output lost `times` times may be computed again.
    pub(crate) fn may_recompute(&self, times: u32) -> bool {
        times <= self.max_attempts
    }
}

/// A job's retry policy at work: how often each executor failed the job's attempts, and which
/// executors get no more of its tasks.
#[derive(Debug, Clone)]
pub(crate) struct Retries {
    policy: RetryPolicy,
    failures_by_executor: BTreeMap<ExecutorId, u32>,
    excluded: BTreeSet<ExecutorId>,
}

/// What follows a failed attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// The task runs again.
    Retry,
    /// The job fails.
    FailJob {
        /// Why, as the user reads it.
        cause: String,
    },
}

impl Retries {
    /// No failure yet under `policy`.
    pub(crate) fn new(policy: RetryPolicy) -> Self {
        Self { policy, failures_by_executor: BTreeMap::new(), excluded: BTreeSet::new() }
    }

    /// The policy.
    pub(crate) fn policy(&self) -> RetryPolicy {
        self.policy
    }

    /// Executors that get no more of the job's tasks.
    pub(crate) fn excluded(&self) -> &BTreeSet<ExecutorId> {
        &self.excluded
    }

    /// Judges an attempt that failed on `executor` down to `blame`, told by `cause`, when its
    /// task has failed `attempts` times (this one included).
    pub(crate) fn judge(
        &mut self,
        blame: Blame,
        executor: &ExecutorId,
        attempts: u32,
        cause: String,
    ) -> Verdict {
        if blame == Blame::Job {
            // The same input fails the same way anywhere: neither a retry nor the executor's
            // exclusion can help.
            return Verdict::FailJob { cause };
        }
        if blame == Blame::Attempt {
            let failed_here = self.failures_by_executor.entry(executor.clone()).or_default();
            *failed_here += 1;
            if *failed_here >= self.policy.exclude_after {
                self.excluded.insert(executor.clone());
            }
        }
        if attempts < self.policy.max_attempts {
            return Verdict::Retry;
        }
        let cause = if attempts == 1 { cause } else { format!("{cause} (failed {attempts} attempts)") };
        Verdict::FailJob { cause }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn retries() -> Retries {
        Retries::new(RetryPolicy { max_attempts: 3, exclude_after: 2 })
    }

    fn on(name: &str) -> ExecutorId {
        ExecutorId(name.into())
    }

    fn fail_job(cause: &str) -> Verdict {
        Verdict::FailJob { cause: cause.into() }
    }

    #[test]
    fn the_jobs_own_fault_fails_it_at_the_first_attempt_and_blames_no_executor() {
        let mut retries = retries();
        assert_eq!(retries.judge(Blame::Job, &on("a"), 1, "bad record".into()), fail_job("bad record"));
        assert_eq!(retries.judge(Blame::Job, &on("a"), 1, "bad record".into()), fail_job("bad record"));
        assert!(retries.excluded().is_empty());
    }

    #[test]
    fn an_operators_failure_is_retried_without_counting_against_the_executor() {
        let mut retries = retries();
        for attempts in 1..3 {
            assert_eq!(retries.judge(Blame::Operator, &on("a"), attempts, "trap".into()), Verdict::Retry);
        }
        assert!(retries.excluded().is_empty(), "a did nothing wrong");
        assert_eq!(
            retries.judge(Blame::Operator, &on("a"), 3, "trap".into()),
            fail_job("trap (failed 3 attempts)")
        );
        assert!(retries.excluded().is_empty());
    }

    #[test]
    fn an_attempts_failure_counts_against_the_executor_until_it_is_excluded() {
        let mut retries = retries();
        assert_eq!(retries.judge(Blame::Attempt, &on("a"), 1, "disk".into()), Verdict::Retry);
        assert_eq!(retries.judge(Blame::Attempt, &on("b"), 1, "disk".into()), Verdict::Retry);
        assert!(retries.excluded().is_empty(), "one failure each, exclude_after is 2");
        assert_eq!(retries.judge(Blame::Attempt, &on("a"), 2, "disk".into()), Verdict::Retry);
        assert_eq!(retries.excluded().iter().collect::<Vec<_>>(), [&on("a")]);
        assert_eq!(
            retries.judge(Blame::Attempt, &on("b"), 3, "disk".into()),
            fail_job("disk (failed 3 attempts)")
        );
        assert_eq!(retries.excluded().len(), 2, "the last failure counts against b too");
    }

    #[test]
    fn a_single_attempt_policy_fails_the_job_with_the_cause_alone() {
        let mut retries = Retries::new(RetryPolicy { max_attempts: 1, exclude_after: 5 });
        assert_eq!(retries.judge(Blame::Attempt, &on("a"), 1, "disk".into()), fail_job("disk"));
    }

    #[test]
    fn a_map_output_may_be_computed_again_up_to_max_attempts_times() {
        let policy = retries().policy();
        assert!(policy.may_recompute(3));
        assert!(!policy.may_recompute(4));
    }
}
