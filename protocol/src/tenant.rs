//! Tenants: who owns a job, what its attempts cost, what a tenant used, the limits that refuse
//! a job, and the audit log's records.

use crate::ids::{JobId, PluginDigest, TenantId};
use crate::status::JobState;
use crate::task::TaskMetrics;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Who a job belongs to: its tenant, and the certificate that submitted it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Owner {
    /// The tenant: it sees, cancels and pays for the job.
    pub tenant: TenantId,
    /// The name of the submitter's certificate.
    pub submitter: String,
}

impl Owner {
    /// The owner of jobs whose owner is not recorded (journals of earlier releases) and of local
    /// mode's jobs: the default tenant.
    pub fn unrecorded() -> Self {
        Owner { tenant: TenantId::default_tenant(), submitter: String::new() }
    }
}

/// What one task attempt consumed, succeeded or failed, as its executor measured it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskUsage {
    /// CPU time its operators ran for (guest code and the host calls it made), in microseconds.
    pub cpu_us: u64,
    /// The most memory its operator instances held at once, in bytes: the sum of each instance's
    /// peak linear memories and tables.
    pub peak_memory: u64,
    /// How long the attempt ran, in milliseconds.
    pub wall_ms: u64,
}

/// What a stage, a job or a tenant consumed: the cost report. The scheduler's journal keeps
/// stages' costs `postcard`-encoded: fields keep their order and meaning. Sums over every finished attempt,
/// failed ones included (their CPU was spent); the byte counts are those of succeeded attempts;
/// `peak_memory` is the largest of any one attempt.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cost {
    /// Attempts counted.
    pub attempts: u64,
    /// Operator CPU time, in microseconds.
    pub cpu_us: u64,
    /// Task wall time, in milliseconds.
    pub task_ms: u64,
    /// The largest operator memory of one attempt, in bytes.
    pub peak_memory: u64,
    /// Input bytes read.
    pub bytes_read: u64,
    /// Bytes written to sinks.
    pub bytes_written: u64,
    /// Shuffle bytes written by map tasks (as stored, compressed).
    pub shuffle_bytes: u64,
    /// Bytes spilled to disk.
    pub spill_bytes: u64,
}

impl Cost {
    /// The cost of one attempt that used `usage` and, if it succeeded, reported `metrics` and
    /// wrote `shuffle_written` bytes of map output.
    pub fn of_attempt(usage: TaskUsage, metrics: Option<&TaskMetrics>, shuffle_written: u64) -> Self {
        let metrics = metrics.copied().unwrap_or_default();
        Cost {
            attempts: 1,
            cpu_us: usage.cpu_us,
            task_ms: usage.wall_ms,
            peak_memory: usage.peak_memory,
            bytes_read: metrics.bytes_in,
            bytes_written: metrics.bytes_out,
            shuffle_bytes: shuffle_written,
            spill_bytes: metrics.spill_bytes,
        }
    }
}

impl std::ops::AddAssign for Cost {
    fn add_assign(&mut self, other: Self) {
        self.attempts += other.attempts;
        self.cpu_us += other.cpu_us;
        self.task_ms += other.task_ms;
        self.peak_memory = self.peak_memory.max(other.peak_memory);
        self.bytes_read += other.bytes_read;
        self.bytes_written += other.bytes_written;
        self.shuffle_bytes += other.shuffle_bytes;
        self.spill_bytes += other.spill_bytes;
    }
}

impl std::iter::Sum for Cost {
    fn sum<I: Iterator<Item = Cost>>(costs: I) -> Self {
        costs.fold(Cost::default(), |mut total, cost| {
            total += cost;
            total
        })
    }
}

/// What one tenant's ended jobs consumed (`flicker usage`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantUsage {
    /// The tenant.
    pub tenant: TenantId,
    /// Its jobs that ended in the period.
    pub jobs: u64,
    /// What they consumed, summed.
    pub cost: Cost,
}

/// The limit of a tenant that refused a job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(rename_all = "snake_case")]
pub enum TenantLimit {
    /// Its running jobs are at `max_running_jobs` and its queued ones at `max_queued_jobs`.
    #[error(
        "{running} jobs running (max_running_jobs = {max_running}) and {queued} queued (max_queued_jobs = {max_queued}); submit again when one ends"
    )]
    Jobs {
        /// Jobs running.
        running: u32,
        /// Its `max_running_jobs`.
        max_running: u32,
        /// Jobs queued.
        queued: u32,
        /// Its `max_queued_jobs`.
        max_queued: u32,
    },
    /// Its operators used its daily CPU budget.
    #[error("its operators used {} of CPU in the last 24 h, its cpu_per_day budget is {}", Seconds(*used_us), Seconds(*budget_us))]
    DailyCpu {
        /// CPU used in the last 24 hours, in microseconds.
        used_us: u64,
        /// Its `cpu_per_day`, in microseconds.
        budget_us: u64,
    },
}

/// Microseconds shown as seconds with a unit: `12.345 s`.
pub struct Seconds(pub u64);

impl fmt::Display for Seconds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:.3} s", self.0 as f64 / 1e6)
    }
}

/// One record of the scheduler's audit log: who did what, when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// When, in milliseconds since the Unix epoch.
    pub at_unix_ms: u64,
    /// The tenant concerned, if any.
    pub tenant: Option<TenantId>,
    /// Who: the role and name of the certificate that asked, or `scheduler` for what it decided.
    pub identity: String,
    /// What happened.
    pub event: AuditEvent,
}

/// What an audit record is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditEvent {
    /// A job was accepted.
    Submitted {
        /// The job.
        job: JobId,
        /// Its name.
        name: String,
        /// The sha256 of its manifest's text, in hex.
        manifest_sha256: String,
        /// The components it uses.
        plugins: Vec<PluginDigest>,
    },
    /// A component was uploaded.
    PluginUploaded {
        /// Its digest.
        digest: PluginDigest,
        /// Its size.
        bytes: u64,
    },
    /// A job was cancelled.
    Cancelled {
        /// The job.
        job: JobId,
    },
    /// A request or a connection was refused.
    Refused {
        /// What was asked.
        request: String,
        /// Why it was refused.
        reason: String,
    },
    /// A job was stopped by a CPU budget.
    Budget {
        /// The job.
        job: JobId,
        /// The budget and the usage.
        cause: String,
    },
    /// A bearer token was made.
    TokenCreated {
        /// The tenant it acts for.
        tenant: Option<TenantId>,
        /// Whether it is an admin's.
        admin: bool,
        /// When it expires, in milliseconds since the Unix epoch.
        expires_unix_ms: u64,
    },
    /// A job ended, with what it consumed.
    Ended {
        /// The job.
        job: JobId,
        /// How it ended.
        state: JobState,
        /// What it consumed.
        cost: Cost,
    },
}
