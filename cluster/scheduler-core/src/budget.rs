//! Budgets that stop jobs: a job's `max_cpu`, its tenant's `cpu_per_day` (operator CPU in any 24
//! hours) and `max_disk` (shuffle and spill bytes its unfinished jobs wrote to executors' disks),
//! and the CPU an attempt may still use, which its executor enforces while it runs.

use crate::job_run::JobRun;
use crate::tenants::TenantConfig;
use flicker_protocol::status::{Budget, JobFailure};
use flicker_protocol::tenant::Seconds;
use flicker_protocol::{JobId, TenantId};
use std::time::Duration;

/// `duration` in whole microseconds.
pub fn micros(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros()).unwrap_or(u64::MAX)
}

/// A job to fail for a budget: its id, the cause in words, and the failure as data.
pub type OverBudget = (JobId, String, JobFailure);

/// The jobs to fail now that an attempt of job `reported` of `tenant` was counted: `reported` if
/// it passed its `max_cpu`, or if `tenant`'s unfinished `jobs` passed its `max_disk`; every one of
/// `jobs` if the tenant passed its `cpu_per_day` (`used_today` microseconds in the last day).
/// `jobs` holds `reported`, and need hold no other unless the tenant has one of those two.
pub fn exceeded(
    tenant: &TenantId,
    config: &TenantConfig,
    jobs: &[&JobRun],
    reported: &JobId,
    used_today: u64,
) -> Vec<OverBudget> {
    let failure = |budget, used, limit| JobFailure::OverBudget { budget, used, limit };
    if let Some(limit) = config.cpu_per_day.map(micros).filter(|&limit| used_today > limit) {
        let cause = format!(
            "tenant {:?}'s operators used {} of CPU in the last 24 h, past its {} of {}",
            tenant.0,
            Seconds(used_today),
            Budget::TenantDailyCpu.key(),
            Seconds(limit)
        );
        let over = failure(Budget::TenantDailyCpu, used_today, limit);
        return jobs.iter().map(|job| (job.id().clone(), cause.clone(), over.clone())).collect();
    }
    let Some(job) = jobs.iter().find(|job| job.id() == reported) else { return Vec::new() };
    let used = job.cost().cpu_us;
    if let Some(limit) = job.terms().max_cpu_us.filter(|&limit| used > limit) {
        let cause = format!(
            "the job's operators used {} of CPU, past its {} of {}",
            Seconds(used),
            Budget::JobCpu.key(),
            Seconds(limit)
        );
        return vec![(reported.clone(), cause, failure(Budget::JobCpu, used, limit))];
    }
    let disk: u64 = jobs.iter().map(|job| disk_bytes(job)).sum();
    if let Some(limit) = config.max_disk.filter(|&limit| disk > limit) {
        let mib = |bytes: u64| format!("{:.1} MiB", bytes as f64 / f64::from(1 << 20));
        let cause = format!(
            "tenant {:?}'s unfinished jobs wrote {} of shuffle and spill to executors' disks, past its {} of {}",
            tenant.0,
            mib(disk),
            Budget::TenantDisk.key(),
            mib(limit)
        );
        return vec![(reported.clone(), cause, failure(Budget::TenantDisk, disk, limit))];
    }
    Vec::new()
}

/// The shuffle and spill bytes `job` wrote to executors' disks.
pub fn disk_bytes(job: &JobRun) -> u64 {
    let cost = job.cost();
    cost.shuffle_bytes + cost.spill_bytes
}

/// The operator CPU an attempt of `job` may use, in microseconds: what is left of the job's
/// `max_cpu` and of its tenant's `cpu_per_day` (`used_today` used); `None` with neither.
pub fn attempt_budget(job: &JobRun, config: Option<&TenantConfig>, used_today: u64) -> Option<u64> {
    let job_left = job.terms().max_cpu_us.map(|limit| limit.saturating_sub(job.cost().cpu_us));
    let day_left = config.and_then(|c| c.cpu_per_day).map(|limit| micros(limit).saturating_sub(used_today));
    match (job_left, day_left) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}
