//! The tenants sharing a cluster: each one's weight and limits ([`TenantConfig`], from the
//! scheduler's `[tenants.NAME]` tables), and the operator CPU each used over the last day
//! ([`CpuWindow`]).
//!
//! A cluster that declares no tenant is *open*: every tenant is known, with weight 1 and no
//! limit (local mode, and a cluster that does not care). One that declares some knows only those:
//! a certificate of another tenant is refused.

use flicker_protocol::TenantId;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;

/// One tenant's share of the cluster and its limits. `None` is no limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantConfig {
    /// Its weight in the fair share: free slots go to the tenant with the fewest running tasks
    /// per unit of weight. At least 1.
    pub weight: u32,
    /// Jobs it may run at once; more wait in its queue.
    pub max_running_jobs: Option<u32>,
    /// Jobs that may wait in its queue while `max_running_jobs` run; more are refused.
    pub max_queued_jobs: Option<u32>,
    /// Task slots its tasks may hold at once.
    pub max_slots: Option<u32>,
    /// Operator memory its running tasks may hold at once: the sum of their instances' memory
    /// limits, in bytes.
    pub max_memory: Option<u64>,
    /// Shuffle and spill bytes its unfinished jobs may have written to executors' disks.
    pub max_disk: Option<u64>,
    /// The `max_cpu` of its jobs that set none.
    pub max_cpu_per_job: Option<Duration>,
    /// Operator CPU its jobs may use in any 24 hours.
    pub cpu_per_day: Option<Duration>,
    /// The names of its members' certificates that may cancel any of its jobs (not only their
    /// own) and read its audit records.
    pub admins: BTreeSet<String>,
}

impl Default for TenantConfig {
    /// Weight 1, no limit, no admin.
    fn default() -> Self {
        Self {
            weight: 1,
            max_running_jobs: None,
            max_queued_jobs: None,
            max_slots: None,
            max_memory: None,
            max_disk: None,
            max_cpu_per_job: None,
            cpu_per_day: None,
            admins: BTreeSet::new(),
        }
    }
}

/// The tenants a cluster knows.
#[derive(Debug, Clone, Default)]
pub struct Tenants {
    /// The declared tenants; `None` for an open cluster.
    declared: Option<BTreeMap<TenantId, TenantConfig>>,
    /// What an open cluster's tenants get.
    open: TenantConfig,
}

impl Tenants {
    /// An open cluster: every tenant known, weight 1, no limit.
    pub fn open() -> Self {
        Self::default()
    }

    /// A cluster that knows these tenants only.
    pub fn declared(tenants: BTreeMap<TenantId, TenantConfig>) -> Self {
        Self { declared: Some(tenants), open: TenantConfig::default() }
    }

    /// Whether tenants are declared (else any tenant is known).
    pub fn is_declared(&self) -> bool {
        self.declared.is_some()
    }

    /// The declared tenants, in name order (none for an open cluster).
    pub fn names(&self) -> impl Iterator<Item = &TenantId> {
        self.declared.iter().flat_map(BTreeMap::keys)
    }

    /// The config of `tenant`, if it is known.
    pub fn get(&self, tenant: &TenantId) -> Option<&TenantConfig> {
        match &self.declared {
            Some(declared) => declared.get(tenant),
            None => Some(&self.open),
        }
    }
}

/// What a tenant holds of the cluster at one moment, to compare with its limits.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TenantLoad {
    /// Its jobs that run (or commit).
    pub running_jobs: u32,
    /// Its jobs waiting in its queue.
    pub queued_jobs: u32,
    /// Task slots its running tasks hold.
    pub slots: u32,
    /// Operator memory its running tasks hold, in bytes.
    pub memory: u64,
    /// Shuffle and spill bytes its unfinished jobs wrote.
    pub disk: u64,
    /// Operator CPU its jobs used over the last day, in microseconds.
    pub cpu_today_us: u64,
}

/// The width of one bucket of a [`CpuWindow`].
const BUCKET: Duration = Duration::from_secs(3600);

/// The span a [`CpuWindow`] sums over.
pub const DAY: Duration = Duration::from_secs(24 * 3600);

/// Operator CPU used over the last [`DAY`], in hourly buckets: a use counts for between 23 and
/// 24 hours, and the window holds at most 25 buckets whatever the load.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CpuWindow {
    /// (hour since the clock's origin, CPU microseconds used in it), oldest first.
    buckets: VecDeque<(u64, u64)>,
}

impl CpuWindow {
    /// Adds `cpu_us` used at `now`.
    pub fn add(&mut self, now: Duration, cpu_us: u64) {
        let hour = now.as_secs() / BUCKET.as_secs();
        match self.buckets.back_mut() {
            Some((last, used)) if *last >= hour => *used += cpu_us,
            _ => self.buckets.push_back((hour, cpu_us)),
        }
        self.expire(now);
    }

    /// Forgets the buckets older than a day at `now`.
    pub fn expire(&mut self, now: Duration) {
        let hour = now.as_secs() / BUCKET.as_secs();
        let first = hour.saturating_sub(DAY.as_secs() / BUCKET.as_secs() - 1);
        while self.buckets.front().is_some_and(|(h, _)| *h < first) {
            self.buckets.pop_front();
        }
    }

    /// CPU microseconds used in the window (as of the last [`add`](Self::add) or
    /// [`expire`](Self::expire)).
    pub fn used_us(&self) -> u64 {
        self.buckets.iter().map(|(_, used)| used).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tenant(name: &str) -> TenantId {
        TenantId(name.into())
    }

    #[test]
    fn an_open_cluster_knows_every_tenant_a_declared_one_only_its_own() {
        let open = Tenants::open();
        assert!(!open.is_declared());
        assert_eq!(open.get(&tenant("anyone")), Some(&TenantConfig::default()));
        let acme = TenantConfig { weight: 3, max_slots: Some(4), ..TenantConfig::default() };
        let declared = Tenants::declared(BTreeMap::from([(tenant("acme"), acme.clone())]));
        assert_eq!(declared.get(&tenant("acme")), Some(&acme));
        assert_eq!(declared.get(&tenant("default")), None);
    }

    #[test]
    fn cpu_counts_for_a_day_in_hourly_buckets() {
        let hours = |h: u64| Duration::from_secs(h * 3600);
        let mut window = CpuWindow::default();
        window.add(hours(0), 5);
        window.add(hours(0) + Duration::from_secs(59 * 60), 5);
        window.add(hours(10), 7);
        assert_eq!(window.used_us(), 17);
        window.expire(hours(23));
        assert_eq!(window.used_us(), 17, "hour 0 still counts at hour 23");
        window.expire(hours(24));
        assert_eq!(window.used_us(), 7, "hour 0 is forgotten at hour 24");
        for hour in 24..200 {
            window.add(hours(hour), 1);
        }
        assert_eq!(window.used_us(), 24);
        assert!(window.buckets.len() <= 25);
        // A time that went back (a restarted scheduler's clock) adds to the latest bucket.
        window.add(hours(100), 1);
        assert_eq!(window.used_us(), 25);
    }
}
