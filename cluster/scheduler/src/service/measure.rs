//! The scheduler's Prometheus metrics (names in `flicker-metrics`): counters bumped as jobs
//! and task attempts come and go, gauges read from the core when `/metrics` is read. With no
//! recorder installed (no `--http`), every call is a no-op.

use super::Scheduler;
use flicker_metrics as names;
use flicker_protocol::TenantId;
use flicker_protocol::status::{JobState, NodeState};
use flicker_protocol::task::TaskReport;
use flicker_protocol::tenant::TaskUsage;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::time::Duration;

/// What the counters need to remember: each tenant's operator CPU so far, in microseconds
/// (the counter holds whole seconds).
#[derive(Debug, Default)]
pub(super) struct Measures {
    cpu_us: Mutex<HashMap<TenantId, u64>>,
}

impl Measures {
    /// A job of `tenant` was accepted.
    pub(super) fn submitted(&self, tenant: &TenantId) {
        metrics::counter!(names::JOBS_SUBMITTED, "tenant" => tenant.0.clone()).increment(1);
    }

    /// A job of `tenant` ended in `state`.
    pub(super) fn finished(&self, tenant: &TenantId, state: &JobState) {
        let state = match state {
            JobState::Succeeded => "succeeded",
            JobState::Failed { .. } => "failed",
            JobState::Cancelled => "cancelled",
            JobState::Queued | JobState::Running => return,
        };
        metrics::counter!(names::JOBS_FINISHED, "tenant" => tenant.0.clone(), "state" => state).increment(1);
    }

    /// An attempt of a job of `tenant` (`None`: the job is gone) ended with `report` after
    /// `took`, having used `usage`.
    pub(super) fn attempt(
        &self,
        tenant: Option<&TenantId>,
        report: &TaskReport,
        usage: TaskUsage,
        took: Duration,
    ) {
        let outcome = match report {
            TaskReport::Succeeded { .. } => "succeeded",
            TaskReport::Failed(failure) => {
                metrics::counter!(names::TASK_RETRIES, "kind" => failure.kind.name()).increment(1);
                "failed"
            }
        };
        metrics::histogram!(names::TASK_DURATION, "outcome" => outcome).record(took.as_secs_f64());
        let Some(tenant) = tenant else { return };
        let mut cpu = self.cpu_us.lock();
        let total = cpu.entry(tenant.clone()).or_default();
        *total += usage.cpu_us;
        metrics::counter!(names::OPERATOR_CPU_SECONDS, "tenant" => tenant.0.clone())
            .absolute(*total / 1_000_000);
    }
}

impl Scheduler {
    /// Sets the gauges from the core: tasks running and pending, executors by state, slots busy
    /// and in all (of alive executors). Called before the metrics are rendered.
    pub fn measure(&self) {
        let (nodes, pending) = {
            let core = self.shared.core.lock();
            (core.nodes(self.shared.now()), core.pending_tasks())
        };
        let alive = nodes.iter().filter(|node| node.state == NodeState::Alive);
        let (busy, slots) =
            alive.clone().fold((0, 0), |(busy, slots), node| (busy + node.running, slots + node.slots));
        let running: u32 = nodes.iter().map(|node| node.running).sum();
        metrics::gauge!(names::TASKS_RUNNING).set(f64::from(running));
        metrics::gauge!(names::TASKS_PENDING).set(f64::from(pending));
        metrics::gauge!(names::SLOTS_BUSY).set(f64::from(busy));
        metrics::gauge!(names::SLOTS_TOTAL).set(f64::from(slots));
        metrics::gauge!(names::EXECUTORS, "state" => "alive").set(alive.count() as f64);
        let lost = nodes.iter().filter(|node| node.state == NodeState::Lost).count();
        metrics::gauge!(names::EXECUTORS, "state" => "lost").set(lost as f64);
    }
}
