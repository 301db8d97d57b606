//! The JSON bodies of the API that are not the scheduler's own status types (those,
//! `JobStatus`, `TaskStatus`, `NodeStatus`…, travel as they serialize).

use flicker_protocol::status::{JobStatus, NodeStatus, TaskStatus};
use flicker_scheduler::{PluginView, TenantView};
use flicker_transport::Peer;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::{IntoParams, ToSchema};

/// Who the API takes the caller for.
#[derive(Debug, Serialize, ToSchema)]
pub struct WhoAmI {
    /// The name of the caller's certificate (or of the certificate its token was made for).
    pub name: String,
    /// `client` or `admin`.
    pub role: String,
    /// The tenant it acts for.
    pub tenant: Option<String>,
}

impl From<&Peer> for WhoAmI {
    fn from(peer: &Peer) -> Self {
        WhoAmI {
            name: peer.name.clone(),
            role: peer.role.to_string(),
            tenant: peer.acting_tenant().map(|t| t.0),
        }
    }
}

/// Which jobs to list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct JobsQuery {
    /// Jobs in this state only: `queued`, `running`, `succeeded`, `failed` or `cancelled`.
    pub state: Option<String>,
    /// Jobs of this tenant only.
    pub tenant: Option<String>,
    /// Jobs to skip, from the newest (default 0).
    pub offset: Option<usize>,
    /// Jobs in the page (default 50, at most 500).
    pub limit: Option<usize>,
}

/// A page of jobs, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct JobList {
    /// The page's jobs.
    pub jobs: Vec<JobStatus>,
    /// Jobs passing the filter in all.
    pub total: usize,
    /// Jobs skipped before the page.
    pub offset: usize,
    /// The page's size asked for.
    pub limit: usize,
}

/// A job to run: its manifest and the components its plugin references name, uploaded before
/// (`PUT /api/v1/plugins/{digest}`).
#[derive(Debug, Deserialize, ToSchema)]
pub struct SubmitRequest {
    /// The manifest's TOML text.
    pub manifest: String,
    /// A name for the manifest in error messages (default `job.toml`).
    pub manifest_path: Option<String>,
    /// The absolute directory relative local paths of the manifest are resolved against
    /// (default `/`).
    pub base_dir: Option<String>,
    /// Values of the manifest's `${NAME}` placeholders.
    #[serde(default)]
    pub params: BTreeMap<String, String>,
    /// Each plugin reference of the manifest that is not a standard operator (as written, e.g.
    /// `plugins/max.wasm`) and the sha256 (hex) of its component.
    #[serde(default)]
    pub plugins: BTreeMap<String, String>,
}

/// A job accepted, or a job cancelled.
#[derive(Debug, Serialize, ToSchema)]
pub struct JobRef {
    /// The job's id.
    pub job: String,
}

/// The tasks of a stage and the spread of their figures.
#[derive(Debug, Serialize, ToSchema)]
pub struct StageTasks {
    /// Every task, in index order.
    pub tasks: Vec<TaskStatus>,
    /// Quantiles over the succeeded tasks.
    pub summary: TaskSummary,
}

/// Quantiles of the succeeded tasks of a stage: a long tail shows stragglers, a wide spread of
/// bytes shows skew.
#[derive(Debug, Serialize, ToSchema, PartialEq)]
pub struct TaskSummary {
    /// Succeeded tasks.
    pub count: usize,
    /// Task time, in milliseconds.
    pub duration_ms: Option<Spread>,
    /// Input bytes read.
    pub bytes_in: Option<Spread>,
    /// Bytes written to sinks.
    pub bytes_out: Option<Spread>,
    /// Records read.
    pub rows_in: Option<Spread>,
    /// Shuffle bytes written (a map stage) or read (a reduce stage).
    pub shuffle_bytes: Option<Spread>,
}

/// The minimum, quartiles, median and maximum of some figures.
#[derive(Debug, Clone, Copy, Serialize, ToSchema, PartialEq, Eq)]
pub struct Spread {
    /// The smallest.
    pub min: u64,
    /// The 25th percentile.
    pub p25: u64,
    /// The median.
    pub median: u64,
    /// The 75th percentile.
    pub p75: u64,
    /// The largest.
    pub max: u64,
}

impl Spread {
    /// The spread of `values` (any order; nearest-rank quantiles), `None` for none.
    pub fn of(mut values: Vec<u64>) -> Option<Self> {
        values.sort_unstable();
        let last = values.len().checked_sub(1)?;
        let at = |q: f64| values[(q * last as f64).round() as usize];
        Some(Spread { min: values[0], p25: at(0.25), median: at(0.5), p75: at(0.75), max: values[last] })
    }
}

impl TaskSummary {
    /// The summary of `tasks`' succeeded ones.
    pub fn of(tasks: &[TaskStatus]) -> Self {
        let done: Vec<_> = tasks.iter().filter_map(|t| t.metrics).collect();
        let spread = |figure: fn(&flicker_protocol::task::TaskMetrics) -> u64| {
            Spread::of(done.iter().map(figure).collect())
        };
        TaskSummary {
            count: done.len(),
            duration_ms: spread(|m| m.task_ms),
            bytes_in: spread(|m| m.bytes_in),
            bytes_out: spread(|m| m.bytes_out),
            rows_in: spread(|m| m.rows_in),
            shuffle_bytes: spread(|m| m.shuffle_bytes),
        }
    }
}

/// The cluster's executors.
#[derive(Debug, Serialize, ToSchema)]
pub struct Executors {
    /// Every executor that joined, alive or lost.
    pub executors: Vec<NodeStatus>,
}

/// The tenants the caller may see.
#[derive(Debug, Serialize, ToSchema)]
pub struct Tenants {
    /// Each tenant's limits and usage.
    pub tenants: Vec<Tenant>,
}

/// A tenant: its share, its limits and what it holds now.
#[derive(Debug, Serialize, ToSchema)]
pub struct Tenant {
    /// Its name.
    pub tenant: String,
    /// Its weight in the fair share.
    pub weight: u32,
    /// Its limits (`null`: none).
    pub limits: TenantLimits,
    /// What it holds now.
    pub usage: TenantUsageNow,
}

/// A tenant's limits; `null` is no limit.
#[derive(Debug, Serialize, ToSchema)]
pub struct TenantLimits {
    /// Jobs it may run at once.
    pub max_running_jobs: Option<u32>,
    /// Jobs that may wait in its queue.
    pub max_queued_jobs: Option<u32>,
    /// Task slots its tasks may hold.
    pub max_slots: Option<u32>,
    /// Operator memory its running tasks may hold, in bytes.
    pub max_memory_bytes: Option<u64>,
    /// Shuffle and spill bytes its unfinished jobs may write.
    pub max_disk_bytes: Option<u64>,
    /// Operator CPU its jobs may use in any 24 hours, in seconds.
    pub cpu_per_day_seconds: Option<f64>,
    /// The CPU budget of its jobs that set none, in seconds.
    pub max_cpu_per_job_seconds: Option<f64>,
}

/// What a tenant holds now.
#[derive(Debug, Serialize, ToSchema)]
pub struct TenantUsageNow {
    /// Its jobs running.
    pub running_jobs: u32,
    /// Its jobs waiting in its queue.
    pub queued_jobs: u32,
    /// Task slots its tasks hold.
    pub slots: u32,
    /// Operator memory its running tasks hold, in bytes.
    pub memory_bytes: u64,
    /// Shuffle and spill bytes its unfinished jobs wrote.
    pub disk_bytes: u64,
    /// Operator CPU used over the last 24 hours, in seconds.
    pub cpu_today_seconds: f64,
}

impl From<TenantView> for Tenant {
    fn from(view: TenantView) -> Self {
        let TenantView { tenant, config, load } = view;
        Tenant {
            tenant: tenant.0,
            weight: config.weight,
            limits: TenantLimits {
                max_running_jobs: config.max_running_jobs,
                max_queued_jobs: config.max_queued_jobs,
                max_slots: config.max_slots,
                max_memory_bytes: config.max_memory,
                max_disk_bytes: config.max_disk,
                cpu_per_day_seconds: config.cpu_per_day.map(|d| d.as_secs_f64()),
                max_cpu_per_job_seconds: config.max_cpu_per_job.map(|d| d.as_secs_f64()),
            },
            usage: TenantUsageNow {
                running_jobs: load.running_jobs,
                queued_jobs: load.queued_jobs,
                slots: load.slots,
                memory_bytes: load.memory,
                disk_bytes: load.disk,
                cpu_today_seconds: load.cpu_today_us as f64 / 1e6,
            },
        }
    }
}

/// The components the caller may see.
#[derive(Debug, Serialize, ToSchema)]
pub struct Plugins {
    /// Oldest first.
    pub plugins: Vec<Plugin>,
}

/// A stored component.
#[derive(Debug, Serialize, ToSchema)]
pub struct Plugin {
    /// Its sha256, in hex.
    pub digest: String,
    /// Its size.
    pub size_bytes: u64,
    /// The operator it exports (`parse`, `map`, `aggregate`, `format`), if loaded.
    pub kind: Option<String>,
    /// When it was first stored, in milliseconds since the Unix epoch.
    pub stored_unix_ms: u64,
    /// The tenants that uploaded it.
    pub tenants: Vec<String>,
    /// The jobs kept that use it.
    pub jobs: Vec<String>,
}

impl From<PluginView> for Plugin {
    fn from(view: PluginView) -> Self {
        Plugin {
            digest: view.stored.digest.to_hex(),
            size_bytes: view.stored.size,
            kind: view.kind.map(|kind| kind.to_string()),
            stored_unix_ms: view.stored.stored_unix_ms,
            tenants: view.stored.tenants.into_iter().map(|t| t.0).collect(),
            jobs: view.jobs.into_iter().map(|j| j.0).collect(),
        }
    }
}

/// Components a job uses, by digest (hex).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Digests {
    /// sha256 digests, in hex.
    pub digests: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spreads_take_nearest_rank_quantiles() {
        assert_eq!(Spread::of(Vec::new()), None);
        assert_eq!(Spread::of(vec![7]), Some(Spread { min: 7, p25: 7, median: 7, p75: 7, max: 7 }));
        let hundred: Vec<u64> = (1..=101).rev().collect();
        assert_eq!(Spread::of(hundred), Some(Spread { min: 1, p25: 26, median: 51, p75: 76, max: 101 }));
        // One straggler stands out at the top only.
        assert_eq!(
            Spread::of(vec![10, 11, 12, 9, 5000]),
            Some(Spread { min: 9, p25: 10, median: 11, p75: 12, max: 5000 })
        );
    }
}
