//! Scenarios of tenants sharing a cluster, run on the pure core with simulated time: weighted
//! fair share (1:1, 3:1, a flood against a trickle, a tenant arriving late, borrowing and
//! reclaim), `max_slots` and `max_memory`, admission to a tenant's queue, budgets, and the cost
//! report's sums.

use crate::budget;
use crate::core::tests::{cluster, launches};
use crate::core::{Action, SchedulerCore};
use crate::job_run::tests::{job, secs};
use crate::job_run::{JobRun, JobTerms};
use crate::tenants::{TenantConfig, Tenants};
use flicker_protocol::failure::{FailureKind, TaskFailure};
use flicker_protocol::scheduler::RequestError;
use flicker_protocol::status::{Budget, JobFailure, JobState};
use flicker_protocol::task::{TaskInput, TaskMetrics, TaskOutput, TaskReport, TaskSpec};
use flicker_protocol::tenant::{Cost, Owner, TaskUsage, TenantLimit};
use flicker_protocol::{ExecutorId, JobId, TenantId};
use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

type Launch = (ExecutorId, TaskSpec);

fn tenant(name: &str) -> TenantId {
    TenantId(name.into())
}

/// A cluster of `executors` sharing by `tenants` (name, config).
fn shared(executors: &[(&str, u32)], tenants: &[(&str, TenantConfig)]) -> SchedulerCore {
    let declared = tenants.iter().map(|(name, config)| (tenant(name), config.clone())).collect();
    cluster(executors).with_tenants(Tenants::declared(declared))
}

fn weight(weight: u32) -> TenantConfig {
    TenantConfig { weight, ..TenantConfig::default() }
}

/// Job `name` of `owner` with `maps` map tasks and one reduce task, each task of each stage
/// holding `memory` bytes.
fn owned(name: &str, owner: &str, maps: usize, memory: u64) -> JobRun {
    let terms = JobTerms {
        owner: Owner { tenant: tenant(owner), submitter: format!("{owner}-user") },
        stage_memory: vec![memory, memory],
        ..JobTerms::default()
    };
    job(name, maps, 1, 4).with_terms(terms)
}

/// The tenant a launch is for: the first letter of its job's name.
fn tenant_of((_, spec): &Launch) -> String {
    spec.task.job.0[..1].to_owned()
}

/// Reports `launch` succeeded at `now`, having used `usage`.
fn finish(
    core: &mut SchedulerCore,
    (executor, spec): &Launch,
    usage: TaskUsage,
    now: Duration,
) -> Vec<Action> {
    let task_ms = usage.wall_ms;
    let (output, metrics) = match spec.input {
        TaskInput::Split { .. } => (
            TaskOutput::MapOutput { partition_bytes: vec![100] },
            TaskMetrics { rows_in: 1, bytes_in: 10, task_ms, ..TaskMetrics::default() },
        ),
        TaskInput::Partition { partition, .. } | TaskInput::CoPartition { partition, .. } => (
            TaskOutput::Part { name: format!("part-{partition:05}"), size: 7, attempt: spec.attempt },
            TaskMetrics { rows_out: 1, bytes_out: 7, task_ms, ..TaskMetrics::default() },
        ),
    };
    let report = TaskReport::Succeeded { metrics, output };
    core.report(&spec.task, spec.attempt, executor, report, Vec::new(), usage, now)
}

/// A second of work: long tasks (no task waits beyond an executor's slots).
fn second() -> TaskUsage {
    TaskUsage { cpu_us: 900_000, peak_memory: 1 << 20, wall_ms: 1000 }
}

/// Runs the cluster until nothing runs, each task lasting `duration(tenant, n)` seconds for the
/// `n`-th task started; calls `started` with each launch, its start time and its duration, and
/// returns the slot-seconds each tenant held.
fn simulate(
    core: &mut SchedulerCore,
    first: Vec<Action>,
    duration: impl Fn(&str, usize) -> u64,
    mut started: impl FnMut(&mut SchedulerCore, &Launch, u64, u64) -> Vec<Action>,
) -> BTreeMap<String, u64> {
    let mut held = BTreeMap::new();
    // (end time, sequence, launch), earliest first.
    let mut running: Vec<(u64, usize, Launch)> = Vec::new();
    let mut count = 0;
    let mut start = |core: &mut SchedulerCore, actions: Vec<Action>, now: u64, running: &mut Vec<_>| {
        let mut pending: VecDeque<Action> = actions.into();
        while let Some(action) = pending.pop_front() {
            let Action::Launch { executor, spec } = action else { continue };
            let launch = (executor, *spec);
            let seconds = duration(&tenant_of(&launch), count);
            *held.entry(tenant_of(&launch)).or_insert(0) += seconds;
            pending.extend(started(core, &launch, now, seconds));
            running.push((now + seconds, count, launch));
            count += 1;
        }
    };
    start(core, first, 0, &mut running);
    while !running.is_empty() {
        running.sort_by_key(|(end, sequence, _)| (*end, *sequence));
        let (now, _, launch) = running.remove(0);
        let usage = TaskUsage { wall_ms: 1000, ..second() };
        let actions = finish(core, &launch, usage, secs(now));
        start(core, actions, now, &mut running);
    }
    held
}

/// Submits `jobs` jobs of `tenant` with `maps` map tasks each.
fn flood(core: &mut SchedulerCore, tenant: &str, jobs: usize, maps: usize) -> Vec<Action> {
    (0..jobs).flat_map(|n| core.submit(owned(&format!("{tenant}{n:02}"), tenant, maps, 0)).unwrap()).collect()
}

#[test]
fn two_tenants_of_equal_weight_share_the_slots_equally() {
    let mut core = shared(&[("x", 4), ("y", 4)], &[("a", weight(1)), ("b", weight(1))]);
    let mut actions = flood(&mut core, "a", 3, 40);
    actions.extend(flood(&mut core, "b", 3, 40));
    let first = launches(&actions);
    let on = |t: &str| first.iter().filter(|l| tenant_of(l) == t).count();
    assert_eq!((on("a"), on("b")), (8, 0), "a came first and borrows every slot");
    let held = simulate(&mut core, actions, |_, _| 1, |_, _, _, _| Vec::new());
    assert_eq!(held["a"], held["b"], "both ran their 123 tasks");
}

#[test]
fn weights_of_three_to_one_give_three_to_one_slot_seconds_over_a_long_run() {
    let mut core = shared(&[("x", 4), ("y", 4)], &[("a", weight(3)), ("b", weight(1))]);
    let mut actions = flood(&mut core, "a", 10, 200);
    actions.extend(flood(&mut core, "b", 10, 200));
    // Tasks of 1 to 4 seconds; shares are measured over the first 400 s, while both tenants
    // still have work (a's 2,010 tasks take it ~800 s at 6 slots).
    let lengths = |_: &str, n: usize| 1 + (n * 7 % 4) as u64;
    let mut share: BTreeMap<String, u64> = BTreeMap::new();
    simulate(&mut core, actions, lengths, |_, launch, now, seconds| {
        if now < 400 {
            *share.entry(tenant_of(launch)).or_insert(0) += seconds;
        }
        Vec::new()
    });
    let ratio = share["a"] as f64 / share["b"] as f64;
    assert!((2.8..=3.2).contains(&ratio), "a:b slot starts {share:?} = {ratio:.2}");
}

#[test]
fn a_trickle_gets_the_next_free_slot_however_big_the_flood() {
    let mut core = shared(&[("x", 2), ("y", 2)], &[("a", weight(1)), ("b", weight(1))]);
    let actions = flood(&mut core, "a", 20, 10);
    let mut order = Vec::new();
    let mut submitted_b = false;
    simulate(
        &mut core,
        actions,
        |_, _| 1,
        |core, launch, _, _| {
            order.push(tenant_of(launch));
            // The trickle arrives once the flood has started 8 tasks.
            if order.len() == 8 && !submitted_b {
                submitted_b = true;
                return core.submit(owned("b00", "b", 2, 0)).unwrap();
            }
            Vec::new()
        },
    );
    let b_starts: Vec<usize> = order.iter().enumerate().filter(|(_, t)| *t == "b").map(|(i, _)| i).collect();
    assert_eq!(b_starts.len(), 3, "two maps and a reduce: {order:?}");
    // Its maps start in the next slots that free (4 slots: within 4 starts), its reduce as soon
    // as its maps end, not after the flood's 220 tasks.
    assert!(b_starts[0] < 8 + 4 && b_starts[1] < 8 + 4, "{b_starts:?}");
    assert!(b_starts[2] < 8 + 12, "{b_starts:?}");
}

#[test]
fn an_idle_tenants_share_is_lent_and_taken_back_as_tasks_end_without_preemption() {
    let mut core = shared(&[("x", 4)], &[("a", weight(1)), ("b", weight(1))]);
    let first = launches(&flood(&mut core, "a", 1, 20));
    assert_eq!(first.len(), 4, "a borrows b's share");
    let late = core.submit(owned("b00", "b", 20, 0)).unwrap();
    assert!(launches(&late).is_empty(), "no running task is preempted");
    // As a's tasks end, b takes its share back, up to half the slots.
    let mut tenants = Vec::new();
    for (n, launch) in first.iter().enumerate() {
        let next = launches(&finish(&mut core, launch, second(), secs(n as u64 + 1)));
        tenants.extend(next.iter().map(tenant_of));
    }
    assert_eq!(tenants, ["b", "b", "a", "a"]);
}

#[test]
fn a_tenant_never_holds_more_than_its_max_slots_or_max_memory() {
    let capped = TenantConfig { max_slots: Some(3), ..TenantConfig::default() };
    let mut core = shared(&[("x", 4), ("y", 4)], &[("a", capped), ("b", weight(1))]);
    let actions = flood(&mut core, "a", 2, 30);
    assert_eq!(launches(&actions).len(), 3, "5 slots stay free for others");
    let mut peak = 0;
    simulate(
        &mut core,
        actions,
        |_, _| 1,
        |core, _, now, _| {
            let running: u32 =
                core.status(None, secs(now)).unwrap().iter().flat_map(|s| &s.stages).map(|s| s.running).sum();
            peak = peak.max(running);
            Vec::new()
        },
    );
    assert_eq!(peak, 3);

    let memory = TenantConfig { max_memory: Some(250), ..TenantConfig::default() };
    let mut core = shared(&[("x", 8)], &[("a", memory)]);
    let started = launches(&core.submit(owned("a00", "a", 10, 100)).unwrap());
    assert_eq!(started.len(), 2, "two tasks of 100 bytes fit in 250");
}

#[test]
fn past_max_running_jobs_a_job_waits_in_its_tenants_queue_and_past_the_queue_it_is_refused() {
    let limits =
        TenantConfig { max_running_jobs: Some(1), max_queued_jobs: Some(1), ..TenantConfig::default() };
    let mut core = shared(&[("x", 4)], &[("a", limits), ("b", weight(1))]);
    let first = launches(&core.submit(owned("a00", "a", 1, 0)).unwrap());
    assert_eq!(first.len(), 1);
    assert!(launches(&core.submit(owned("a01", "a", 1, 0)).unwrap()).is_empty(), "queued");
    let status =
        |core: &SchedulerCore, job: &str| core.status(Some(&JobId(job.into())), secs(1)).unwrap()[0].clone();
    assert_eq!(status(&core, "a01").state, JobState::Queued);
    let refused = core.submit(owned("a02", "a", 1, 0)).unwrap_err();
    let limit = TenantLimit::Jobs { running: 1, max_running: 1, queued: 1, max_queued: 1 };
    assert_eq!(refused, RequestError::OverLimit { tenant: tenant("a"), limit });
    assert!(refused.to_string().contains("max_queued_jobs = 1"), "{refused}");
    assert_eq!(launches(&core.submit(owned("b00", "b", 1, 0)).unwrap()).len(), 1, "b has no limit");
    // a00's map ends, then its reduce: the job commits and ends, and a01 starts.
    let reduce = launches(&finish(&mut core, &first[0], second(), secs(2)));
    let actions = finish(&mut core, &reduce[0], second(), secs(3));
    assert!(matches!(&actions[..], [Action::Commit { .. }]), "{actions:?}");
    let ended = core.committed(&JobId("a00".into()), Ok(()), secs(4));
    assert!(matches!(&ended[0], Action::CleanUp { .. }));
    let started = launches(&ended);
    assert_eq!(started.iter().map(|(_, s)| s.task.job.0.as_str()).collect::<Vec<_>>(), ["a01"]);
    assert_eq!(status(&core, "a01").state, JobState::Running);
    // A queued job may be cancelled.
    core.submit(owned("a03", "a", 1, 0)).unwrap();
    assert!(matches!(&core.cancel(&JobId("a03".into()), secs(5)).unwrap()[..], [Action::CleanUp { .. }]));
    assert_eq!(status(&core, "a03").state, JobState::Cancelled);
}

#[test]
fn an_unknown_tenant_is_refused() {
    let mut core = shared(&[("x", 4)], &[("a", weight(1))]);
    assert!(matches!(core.submit(owned("z00", "z", 1, 0)), Err(RequestError::Forbidden { .. })));
}

#[test]
fn a_job_past_its_max_cpu_fails_naming_the_budget_and_its_attempts_get_what_is_left() {
    let mut core = shared(&[("x", 1)], &[("a", weight(1))]);
    let mut run = owned("a00", "a", 3, 0);
    let terms = JobTerms { max_cpu_us: Some(2_000_000), ..run.terms().clone() };
    run = run.with_terms(terms);
    let first = launches(&core.submit(run).unwrap()).remove(0);
    assert_eq!(first.1.cpu_budget_us, Some(2_000_000));
    let next = launches(&finish(&mut core, &first, second(), secs(1))).remove(0);
    assert_eq!(next.1.cpu_budget_us, Some(1_100_000), "what is left of 2 s after 0.9 s");
    let over = TaskUsage { cpu_us: 1_200_000, ..second() };
    let report = TaskReport::Failed(TaskFailure::new(
        FailureKind::CpuBudget { used_us: 1_200_000, budget_us: 1_100_000 },
        "the operators used 1.2 s",
    ));
    let actions = core.report(&next.1.task, next.1.attempt, &next.0, report, Vec::new(), over, secs(2));
    assert!(matches!(&actions[..], [Action::CleanUp { abort_output: true, .. }]), "{actions:?}");
    let status = core.status(None, secs(2)).unwrap().remove(0);
    let JobState::Failed { cause } = &status.state else { panic!("{status:?}") };
    assert_eq!(cause, "the job's operators used 2.100 s of CPU, past its max_cpu of 2.000 s");
    assert_eq!(
        status.failure,
        Some(JobFailure::OverBudget { budget: Budget::JobCpu, used: 2_100_000, limit: 2_000_000 })
    );
    assert_eq!(status.cost.cpu_us, 2_100_000, "the failed attempt's CPU counts");
}

#[test]
fn a_tenant_past_its_daily_cpu_has_its_jobs_failed_and_new_ones_refused_until_the_day_passes() {
    let daily = TenantConfig { cpu_per_day: Some(Duration::from_secs(2)), ..TenantConfig::default() };
    let mut core = shared(&[("x", 2)], &[("a", daily), ("b", weight(1))]);
    let mut running = launches(&core.submit(owned("a00", "a", 4, 0)).unwrap());
    core.submit(owned("b00", "b", 4, 0)).unwrap();
    let next = launches(&finish(&mut core, &running.remove(0), second(), secs(10)));
    assert_eq!(next.iter().find(|l| tenant_of(l) == "a").map(|l| l.1.cpu_budget_us), None, "b's turn");
    let actions = finish(&mut core, &running.remove(0), second(), secs(11));
    assert!(actions.iter().all(|a| !matches!(a, Action::CleanUp { .. })), "1.8 s of 2 s");
    // A third second passes the budget.
    let third = core.status(None, secs(11)).unwrap();
    assert_eq!(third[0].cost.cpu_us, 1_800_000);
    let a_task = launches(&actions).into_iter().chain(next).find(|l| tenant_of(l) == "a");
    let a_task = a_task.expect("a still has tasks to run");
    assert_eq!(a_task.1.cpu_budget_us, Some(200_000), "what is left of the day");
    let ended = finish(&mut core, &a_task, second(), secs(12));
    assert!(ended.iter().any(|a| matches!(a, Action::CleanUp { .. })), "{ended:?}");
    let status = core.status(Some(&JobId("a00".into())), secs(12)).unwrap().remove(0);
    let JobState::Failed { cause } = status.state else { panic!() };
    assert!(
        cause.starts_with(
            "tenant \"a\"'s operators used 2.700 s of CPU in the last 24 h, past its cpu_per_day of 2.000 s"
        ),
        "{cause}"
    );
    let refused = core.submit(owned("a01", "a", 1, 0)).unwrap_err();
    assert!(
        matches!(refused, RequestError::OverLimit { limit: TenantLimit::DailyCpu { .. }, .. }),
        "{refused:?}"
    );
    assert!(core.submit(owned("b01", "b", 1, 0)).is_ok(), "b's day is its own");
    core.tick(secs(12) + crate::tenants::DAY);
    assert!(core.submit(owned("a02", "a", 1, 0)).is_ok(), "a day later");
}

#[test]
fn a_tenant_past_its_max_disk_fails_the_job_that_wrote_past_it() {
    let disk = TenantConfig { max_disk: Some(250), ..TenantConfig::default() };
    let mut core = shared(&[("x", 4)], &[("a", disk)]);
    let maps = launches(&core.submit(owned("a00", "a", 4, 0)).unwrap());
    finish(&mut core, &maps[0], second(), secs(1));
    finish(&mut core, &maps[1], second(), secs(1));
    let ended = finish(&mut core, &maps[2], second(), secs(1));
    assert!(matches!(&ended[..], [Action::CleanUp { .. }]), "300 bytes of map output: {ended:?}");
    let status = core.status(None, secs(1)).unwrap().remove(0);
    assert_eq!(
        status.failure,
        Some(JobFailure::OverBudget { budget: Budget::TenantDisk, used: 300, limit: 250 })
    );
}

#[test]
fn the_cost_report_sums_attempts_into_stages_and_stages_into_the_job() {
    let mut core = shared(&[("x", 2)], &[("a", weight(1))]);
    let maps = launches(&core.submit(owned("a00", "a", 2, 0)).unwrap());
    let usage = |cpu_us, peak_memory| TaskUsage { cpu_us, peak_memory, wall_ms: 10 };
    let failed = TaskReport::Failed(TaskFailure::new(FailureKind::Storage, "disk"));
    let (executor, spec) = &maps[0];
    let retry =
        launches(&core.report(&spec.task, spec.attempt, executor, failed, Vec::new(), usage(5, 40), secs(1)));
    finish(&mut core, &maps[1], usage(7, 10), secs(1));
    let reduce = launches(&finish(&mut core, &retry[0], usage(11, 20), secs(2)));
    finish(&mut core, &reduce[0], usage(13, 30), secs(3));
    let status = core.status(None, secs(3)).unwrap().remove(0);
    let stages: Vec<Cost> = status.stages.iter().map(|s| s.cost).collect();
    assert_eq!(
        stages[0],
        Cost {
            attempts: 3,
            cpu_us: 23,
            task_ms: 30,
            peak_memory: 40,
            bytes_read: 20,
            shuffle_bytes: 200,
            ..Cost::default()
        }
    );
    assert_eq!(
        stages[1],
        Cost { attempts: 1, cpu_us: 13, task_ms: 10, peak_memory: 30, bytes_written: 7, ..Cost::default() }
    );
    assert_eq!(status.cost, stages.into_iter().sum(), "the job is the sum of its stages");
    assert_eq!(status.owner, Owner { tenant: tenant("a"), submitter: "a-user".into() });
    assert_eq!(budget::disk_bytes(core_job(&core)), 200);
}

/// The one job of `core`.
fn core_job(core: &SchedulerCore) -> &JobRun {
    core.job(&core.job_ids()[0]).unwrap()
}
