//! Which finished jobs the scheduler forgets, so that its state, its journal, its status list and
//! its plugin store stay bounded however many jobs are submitted.
//!
//! A job is kept while it runs and while its cleanup runs. Once it has ended, it is kept while it
//! is among the [`Retention::jobs`] most recently ended and ended less than [`Retention::age`]
//! ago; then it is forgotten, and so are the components that only it used.

use flicker_protocol::JobId;
use std::time::Duration;

/// How many finished jobs the scheduler keeps by default: 1,000, whose statuses `flicker status`
/// lists in a moment.
pub const DEFAULT_RETAINED_JOBS: usize = 1000;

/// How long the scheduler keeps a finished job by default: 7 days.
pub const DEFAULT_RETENTION_AGE: Duration = Duration::from_secs(7 * 24 * 60 * 60);

/// How many finished jobs the scheduler keeps, and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// The most finished jobs kept: those that ended last.
    pub jobs: usize,
    /// How long after its end a job is kept.
    pub age: Duration,
}

impl Default for Retention {
    fn default() -> Self {
        Self { jobs: DEFAULT_RETAINED_JOBS, age: DEFAULT_RETENTION_AGE }
    }
}

impl Retention {
    /// Of `finished` (each job with the time it ended), the jobs to forget at `now`: those that
    /// ended [`age`](Self::age) ago or earlier, and those beyond the [`jobs`](Self::jobs) that
    /// ended last (of jobs that ended at the same time, the later in `finished` counts as later).
    pub fn expired(&self, finished: &[(JobId, Duration)], now: Duration) -> Vec<JobId> {
        let mut latest_first: Vec<&(JobId, Duration)> = finished.iter().collect();
        latest_first.reverse();
        latest_first.sort_by_key(|(_, ended)| std::cmp::Reverse(*ended));
        latest_first
            .into_iter()
            .enumerate()
            .filter(|(rank, (_, ended))| *rank >= self.jobs || now.saturating_sub(*ended) >= self.age)
            .map(|(_, (job, _))| job.clone())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    fn ended(jobs: &[(&str, u64)]) -> Vec<(JobId, Duration)> {
        jobs.iter().map(|(job, at)| (JobId((*job).into()), secs(*at))).collect()
    }

    fn names(jobs: Vec<JobId>) -> Vec<String> {
        jobs.into_iter().map(|j| j.0).collect()
    }

    #[test]
    fn jobs_beyond_the_count_are_forgotten_those_that_ended_first_first() {
        let retention = Retention { jobs: 2, age: secs(1000) };
        // Ended out of submission order: c ended last, a (the first submitted) after b.
        let finished = ended(&[("a", 20), ("b", 10), ("c", 30), ("d", 5)]);
        assert_eq!(names(retention.expired(&finished, secs(40))), ["b", "d"]);
        assert!(retention.expired(&finished[..2], secs(40)).is_empty(), "two are kept");
        let none = Retention { jobs: 0, ..retention };
        assert_eq!(names(none.expired(&finished, secs(40))).len(), 4);
    }

    #[test]
    fn jobs_ended_the_age_ago_are_forgotten_whatever_the_count() {
        let retention = Retention { jobs: 10, age: secs(100) };
        let finished = ended(&[("a", 10), ("b", 50), ("c", 60)]);
        assert!(retention.expired(&finished, secs(109)).is_empty());
        assert_eq!(names(retention.expired(&finished, secs(110))), ["a"], "exactly the age ago");
        assert_eq!(names(retention.expired(&finished, secs(155))), ["b", "a"]);
        assert!(retention.expired(&finished, secs(0)).is_empty(), "a clock behind the ends keeps them");
    }

    #[test]
    fn of_jobs_ended_together_the_later_given_is_kept() {
        let retention = Retention { jobs: 1, age: secs(100) };
        let finished = ended(&[("a", 7), ("b", 7)]);
        assert_eq!(names(retention.expired(&finished, secs(8))), ["a"]);
    }

    #[test]
    fn the_defaults_keep_a_thousand_jobs_for_a_week() {
        let retention = Retention::default();
        assert_eq!((retention.jobs, retention.age), (1000, secs(604_800)));
    }
}
