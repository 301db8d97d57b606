//! The scheduler's decisions, as a state machine over plain data: events in (a job submitted, a
//! task report, an executor lost, a cancel, a commit done, a cleanup done), actions out (launch a
//! task, commit a job's output, clean up after a job, forget finished jobs past the
//! [`Retention`]). No I/O and no clock: the service around it moves the bytes and passes the time
//! in.
//!
//! Jobs belong to tenants ([`Tenants`]): a tenant's jobs beyond its `max_running_jobs` wait in
//! its queue ([`SchedulerCore::submit`]), free slots go to tenants by weighted fair share
//! ([`fair_share`](crate::fair_share)), and a job that uses up a budget fails
//! ([`budget`](crate::budget)).

use crate::budget;
use crate::fair_share::{self, Load};
use crate::job_run::{CommitFailure, JobChange, JobRun, JournalUpdate, Reported, SinkPart};
use crate::membership::Membership;
use crate::retention::Retention;
use crate::tenants::{CpuWindow, TenantLoad, Tenants};
use flicker_protocol::failure::{FailureKind, TaskFailure};
use flicker_protocol::scheduler::{Registration, RequestError};
use flicker_protocol::status::{AttemptStatus, JobStatus, NodeStatus};
use flicker_protocol::task::{OperatorLog, TaskOutput, TaskReport, TaskSpec};
use flicker_protocol::tenant::{Cost, TaskUsage, TenantLimit};
use flicker_protocol::{AttemptId, ExecutorId, JobId, PluginDigest, StageId, TaskId, TaskIndex, TenantId};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::SocketAddr;
use std::time::Duration;

/// Something the service must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Send this task attempt to the executor.
    Launch {
        /// Where.
        executor: ExecutorId,
        /// What.
        spec: Box<TaskSpec>,
    },
    /// Commit these parts of each sink of the job, then call [`SchedulerCore::committed`].
    Commit {
        /// The job.
        job: JobId,
        /// Each sink's parts.
        parts: Vec<(String, Vec<SinkPart>)>,
    },
    /// The job ended: stop its tasks, drop its state on the executors, remove its shuffle
    /// output, and (unless it succeeded) its uncommitted parts, then call
    /// [`SchedulerCore::cleaned_up`].
    CleanUp {
        /// The job.
        job: JobId,
        /// Executors that hold state of the job.
        executors: Vec<ExecutorId>,
        /// BTSes that hold its shuffle output.
        shuffle_holders: Vec<SocketAddr>,
        /// Whether its sinks' temporary parts must be removed (it did not succeed).
        abort_output: bool,
    },
    /// These finished jobs are forgotten (their removal from the journal is among the journal
    /// updates): remove these components, which no job kept uses any more, from the plugin store.
    Forget {
        /// The jobs.
        jobs: Vec<JobId>,
        /// The components that only they used.
        plugins: Vec<PluginDigest>,
    },
}

/// Every job and executor the scheduler knows.
#[derive(Debug)]
pub struct SchedulerCore {
    members: Membership,
    /// How long a job waits for an executor that can run its tasks before it fails.
    stall_timeout: Duration,
    jobs: BTreeMap<JobId, JobRun>,
    /// Jobs in submission order, for first-come first-served scheduling.
    order: Vec<JobId>,
    /// Which finished jobs are kept.
    retention: Retention,
    /// Jobs forgotten since the journal was last told.
    forgotten: Vec<JobId>,
    /// The tenants, their weights and limits.
    tenants: Tenants,
    /// Operator CPU each tenant used over the last day.
    cpu: BTreeMap<TenantId, CpuWindow>,
}

/// Whether a job a tenant submits may run now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Its tenant runs fewer jobs than it may: it runs.
    Run,
    /// Its tenant runs as many as it may: it waits in its tenant's queue.
    Queue,
}

impl SchedulerCore {
    /// An empty cluster whose executors are lost after `executor_timeout` of silence, and whose
    /// jobs fail when no executor could run their tasks for `stall_timeout`.
    pub fn new(executor_timeout: Duration, stall_timeout: Duration) -> Self {
        Self {
            members: Membership::new(executor_timeout),
            stall_timeout,
            jobs: BTreeMap::new(),
            order: Vec::new(),
            retention: Retention::default(),
            forgotten: Vec::new(),
            tenants: Tenants::open(),
            cpu: BTreeMap::new(),
        }
    }

    /// The core sharing the cluster between `tenants`, rather than an open cluster's.
    pub fn with_tenants(self, tenants: Tenants) -> Self {
        Self { tenants, ..self }
    }

    /// The tenants.
    pub fn tenants(&self) -> &Tenants {
        &self.tenants
    }

    /// The core keeping finished jobs as `retention` says, rather than by its default.
    pub fn with_retention(self, retention: Retention) -> Self {
        Self { retention, ..self }
    }

    /// An executor joins (or joins again: its earlier tasks are lost).
    pub fn register(
        &mut self,
        registration: Registration,
        address: SocketAddr,
        now: Duration,
    ) -> Vec<Action> {
        let executor = registration.executor.clone();
        let mut actions = Vec::new();
        if self.members.is_alive(&executor) {
            // Its earlier incarnation's tasks (and in-process map outputs) died with it.
            actions = self.requeue(&executor, now);
        }
        self.members.register(registration, address, now);
        actions.extend(self.schedule());
        actions
    }

    /// A heartbeat arrived.
    pub fn heartbeat(
        &mut self,
        executor: &ExecutorId,
        served: u64,
        now: Duration,
    ) -> Result<(), RequestError> {
        self.members.heartbeat(executor, served, now)
    }

    /// Time passed: executors silent too long are lost and their tasks go elsewhere; a job that
    /// no executor could run for the stall timeout fails.
    pub fn tick(&mut self, now: Duration) -> Vec<Action> {
        let mut actions = Vec::new();
        for executor in self.members.expire(now) {
            tracing::warn!(%executor, "executor lost: no heartbeat within the timeout");
            actions.extend(self.requeue(&executor, now));
        }
        let ids: Vec<JobId> = self.jobs.keys().cloned().collect();
        for id in ids {
            let Some(job) = self.jobs.get_mut(&id) else { continue };
            let can_run = self.members.alive().any(|e| !job.excluded().contains(e));
            let change = job.check_progress(can_run, self.stall_timeout, now);
            actions.extend(self.apply(&id, change));
        }
        for window in self.cpu.values_mut() {
            window.expire(now);
        }
        actions.extend(self.schedule());
        actions.extend(self.retain(now));
        actions
    }

    /// Forgets the finished jobs that [`Retention`] no longer keeps at `now`, and asks for the
    /// removal of the components only they used. Runs when a job's cleanup ends and every tick
    /// (jobs age); call it once the journal's jobs are restored too.
    pub fn retain(&mut self, now: Duration) -> Vec<Action> {
        let finished: Vec<(JobId, Duration)> = self
            .order
            .iter()
            .filter_map(|id| Some((id.clone(), self.jobs.get(id)?.finished_at()?)))
            .collect();
        let jobs = self.retention.expired(&finished, now);
        if jobs.is_empty() {
            return Vec::new();
        }
        let mut plugins = BTreeSet::new();
        for id in &jobs {
            plugins.extend(self.jobs.remove(id).iter().flat_map(JobRun::plugins));
        }
        self.order.retain(|id| self.jobs.contains_key(id));
        self.forgotten.extend(jobs.iter().cloned());
        let in_use = self.plugins_in_use();
        let plugins = plugins.into_iter().filter(|p| !in_use.contains(p)).collect();
        vec![Action::Forget { jobs, plugins }]
    }

    /// The components the jobs the core holds (running or finished) use.
    pub fn plugins_in_use(&self) -> BTreeSet<PluginDigest> {
        self.jobs.values().flat_map(JobRun::plugins).collect()
    }

    /// An executor's connection closed.
    pub fn connection_lost(&mut self, executor: &ExecutorId, now: Duration) -> Vec<Action> {
        let mut actions = Vec::new();
        if self.members.lose(executor) {
            tracing::warn!(%executor, "executor lost: its connection closed");
            actions = self.requeue(executor, now);
        }
        actions.extend(self.schedule());
        actions
    }

    /// An executor is gone: its running tasks run elsewhere, and the map outputs its own BTS held
    /// are computed again where still needed (a standalone BTS outlives it).
    fn requeue(&mut self, executor: &ExecutorId, now: Duration) -> Vec<Action> {
        let lost_bts =
            self.members.get(executor).filter(|m| m.registration.bts_in_process).map(|m| m.registration.bts);
        let mut changes = Vec::new();
        for (id, job) in &mut self.jobs {
            job.executor_lost(executor);
            if let Some(bts) = lost_bts {
                changes.push((id.clone(), job.map_outputs_lost(bts, None, now)));
            }
        }
        changes.into_iter().flat_map(|(id, change)| self.apply(&id, change)).collect()
    }

    /// Task slots of the alive executors.
    pub fn alive_slots(&self) -> u32 {
        self.members.alive_slots()
    }

    /// Takes back a job from the journal after a restart; its tasks run once executors join (it
    /// waits in its tenant's queue if the tenant runs as many jobs as it may).
    pub fn restore(&mut self, mut job: JobRun) {
        let id = job.id().clone();
        if !job.is_ended() && self.admission(&job.terms().owner.tenant) == Some(Admission::Queue) {
            job.queue();
        }
        self.jobs.insert(id.clone(), job);
        self.order.push(id);
    }

    /// Commits of jobs whose every task is done but that were never asked to commit (a job taken
    /// back from the journal after every task finished).
    pub fn commit_ready(&mut self) -> Vec<Action> {
        let ready: Vec<(JobId, JobChange)> =
            self.jobs.iter_mut().map(|(id, job)| (id.clone(), job.ready_to_commit())).collect();
        ready.into_iter().flat_map(|(id, change)| self.apply(&id, change)).collect()
    }

    /// The changes of every job since the last call, for the journal: those of the jobs held,
    /// then the removal of those forgotten.
    pub fn take_journal(&mut self) -> Vec<(JobId, JournalUpdate)> {
        let forgotten = self.forgotten.drain(..).map(|id| (id, JournalUpdate::Forgotten));
        self.jobs
            .iter_mut()
            .flat_map(|(id, job)| job.take_journal().into_iter().map(move |u| (id.clone(), u)))
            .chain(forgotten)
            .collect()
    }

    /// Whether `tenant` may submit a job at `now`: it runs, or waits in the tenant's queue;
    /// refused when the tenant's queue is full too or its daily CPU budget is used up. The service
    /// asks before it does the work of accepting a job; [`submit`](Self::submit) asks again.
    pub fn admit(&self, tenant: &TenantId) -> Result<Admission, RequestError> {
        let refuse = |limit| RequestError::OverLimit { tenant: tenant.clone(), limit };
        let config = self.tenants.get(tenant).ok_or_else(|| RequestError::Forbidden {
            reason: format!("tenant {tenant:?} is not declared in the scheduler's [tenants]"),
        })?;
        if let Some(budget) = config.cpu_per_day {
            let used_us = self.cpu.get(tenant).map_or(0, CpuWindow::used_us);
            let budget_us = budget::micros(budget);
            if used_us >= budget_us {
                return Err(refuse(TenantLimit::DailyCpu { used_us, budget_us }));
            }
        }
        let (running, queued) = self.jobs_of(tenant);
        match (config.max_running_jobs, config.max_queued_jobs) {
            (Some(max_running), max_queued) if running >= max_running => match max_queued {
                Some(max_queued) if queued >= max_queued => {
                    Err(refuse(TenantLimit::Jobs { running, max_running, queued, max_queued }))
                }
                _ => Ok(Admission::Queue),
            },
            _ => Ok(Admission::Run),
        }
    }

    /// What [`admit`](Self::admit) says of `tenant`, if it says anything but a refusal.
    fn admission(&self, tenant: &TenantId) -> Option<Admission> {
        self.admit(tenant).ok()
    }

    /// The jobs of `tenant` that run (or commit), and those that wait in its queue.
    fn jobs_of(&self, tenant: &TenantId) -> (u32, u32) {
        let mut counts = (0, 0);
        for job in self.jobs.values().filter(|j| !j.is_ended() && &j.terms().owner.tenant == tenant) {
            if job.is_queued() {
                counts.1 += 1;
            } else {
                counts.0 += 1;
            }
        }
        counts
    }

    /// Tasks of unfinished jobs (queued ones included) that wait to run.
    pub fn pending_tasks(&self) -> u32 {
        self.jobs.values().filter(|job| !job.is_ended()).map(JobRun::pending_tasks).sum()
    }

    /// What each tenant holds now: every declared tenant, and every tenant with a job kept.
    pub fn tenant_loads(&self) -> BTreeMap<TenantId, TenantLoad> {
        let mut loads: BTreeMap<TenantId, TenantLoad> =
            self.tenants.names().map(|tenant| (tenant.clone(), TenantLoad::default())).collect();
        for job in self.jobs.values() {
            let load = loads.entry(job.terms().owner.tenant.clone()).or_default();
            if job.is_ended() {
                continue;
            }
            if job.is_queued() {
                load.queued_jobs += 1;
            } else {
                load.running_jobs += 1;
            }
            load.slots += job.running_tasks();
            load.memory += job.running_memory();
            load.disk += budget::disk_bytes(job);
        }
        for (tenant, load) in &mut loads {
            load.cpu_today_us = self.cpu.get(tenant).map_or(0, CpuWindow::used_us);
        }
        loads
    }

    /// Accepts a job, to run now or to wait in its tenant's queue ([`admit`](Self::admit)), or
    /// refuses it.
    pub fn submit(&mut self, mut job: JobRun) -> Result<Vec<Action>, RequestError> {
        let id = job.id().clone();
        let change = match self.admit(&job.terms().owner.tenant)? {
            Admission::Run => job.ready_to_commit(),
            Admission::Queue => {
                job.queue();
                JobChange::None
            }
        };
        self.jobs.insert(id.clone(), job);
        self.order.push(id.clone());
        let mut actions = self.apply(&id, change);
        actions.extend(self.schedule());
        Ok(actions)
    }

    /// Starts the queued jobs whose tenants now run fewer jobs than they may, best first.
    fn start_queued(&mut self) -> Vec<Action> {
        let mut queued: Vec<(i32, usize, JobId)> = self
            .order
            .iter()
            .enumerate()
            .filter_map(|(order, id)| {
                let job = self.jobs.get(id).filter(|j| j.is_queued())?;
                Some((-job.terms().priority, order, id.clone()))
            })
            .collect();
        queued.sort();
        let mut actions = Vec::new();
        for (_, _, id) in queued {
            let Some(tenant) = self.jobs.get(&id).map(|j| j.terms().owner.tenant.clone()) else { continue };
            let config = self.tenants.get(&tenant);
            let (running, _) = self.jobs_of(&tenant);
            if config.and_then(|c| c.max_running_jobs).is_some_and(|max| running >= max) {
                continue;
            }
            let Some(job) = self.jobs.get_mut(&id) else { continue };
            job.start();
            let change = job.ready_to_commit();
            actions.extend(self.apply(&id, change));
        }
        actions
    }

    /// An executor reported how an attempt ended, what its operators wrote (`log`) and what it
    /// consumed (`usage`, counted against the job's and its tenant's budgets).
    #[allow(clippy::too_many_arguments)]
    pub fn report(
        &mut self,
        task: &TaskId,
        attempt: AttemptId,
        executor: &ExecutorId,
        report: TaskReport,
        log: Vec<OperatorLog>,
        usage: TaskUsage,
        now: Duration,
    ) -> Vec<Action> {
        self.members.task_ended(executor, matches!(report, TaskReport::Succeeded { .. }));
        let mut actions = self.charge(task, &report, usage, now);
        let bts = self.members.get(executor).map(|m| m.registration.bts);
        let reported = Reported { task, attempt, executor, log };
        let change = match (self.jobs.get_mut(&task.job), report, bts) {
            (Some(job), TaskReport::Succeeded { metrics, output }, Some(bts)) => {
                job.task_succeeded(reported, bts, metrics, output)
            }
            (
                Some(job),
                TaskReport::Failed(TaskFailure { kind: FailureKind::FetchFailed(lost), message, .. }),
                _,
            ) => job.fetch_failed(reported, &lost, message, now),
            (Some(job), TaskReport::Failed(failure), _) => {
                let (kind, blame) = (failure.kind.name(), failure.blame());
                tracing::warn!(%task, attempt = attempt.0, %executor, cause = %failure, kind, ?blame, "task failed");
                job.task_failed(reported, failure, now)
            }
            _ => JobChange::None,
        };
        actions.extend(self.apply(&task.job, change));
        actions.extend(self.schedule());
        actions
    }

    /// Counts what an attempt of `task` consumed against its job, its tenant's day and their
    /// budgets; fails the jobs that used one up.
    fn charge(&mut self, task: &TaskId, report: &TaskReport, usage: TaskUsage, now: Duration) -> Vec<Action> {
        // A job whose cleanup is done has had its cost recorded: a report later still is not
        // counted.
        let Some(job) = self.jobs.get_mut(&task.job).filter(|j| j.finished_at().is_none()) else {
            return Vec::new();
        };
        let cost = match report {
            TaskReport::Succeeded { metrics, output } => {
                let shuffle = match output {
                    TaskOutput::MapOutput { partition_bytes } => partition_bytes.iter().sum(),
                    TaskOutput::Part { .. } | TaskOutput::Sample { .. } => 0,
                };
                Cost::of_attempt(usage, Some(metrics), shuffle)
            }
            TaskReport::Failed(_) => Cost::of_attempt(usage, None, 0),
        };
        job.charge(task.stage, task.index, usage, cost);
        let tenant = job.terms().owner.tenant.clone();
        self.cpu.entry(tenant.clone()).or_default().add(now, usage.cpu_us);
        let Some(config) = self.tenants.get(&tenant) else { return Vec::new() };
        // The tenant's other jobs matter only to its tenant-wide budgets: a pass over every job
        // on each report is not paid without them.
        let tenant_jobs: Vec<&JobRun> = if config.cpu_per_day.is_some() || config.max_disk.is_some() {
            self.jobs.values().filter(|j| !j.is_ended() && j.terms().owner.tenant == tenant).collect()
        } else {
            self.jobs.get(&task.job).into_iter().collect()
        };
        let used_today = self.cpu.get(&tenant).map_or(0, CpuWindow::used_us);
        let over = budget::exceeded(&tenant, config, &tenant_jobs, &task.job, used_today);
        let mut actions = Vec::new();
        for (job, cause, failure) in over {
            let change =
                self.jobs.get_mut(&job).map_or(JobChange::None, |run| run.over_budget(cause, failure, now));
            actions.extend(self.apply(&job, change));
        }
        actions
    }

    /// A user cancels a job.
    pub fn cancel(&mut self, job: &JobId, now: Duration) -> Result<Vec<Action>, RequestError> {
        let run = self.jobs.get_mut(job).ok_or_else(|| RequestError::UnknownJob { job: job.clone() })?;
        let change = run.cancel(now);
        let mut actions = self.apply(job, change);
        actions.extend(self.schedule());
        Ok(actions)
    }

    /// The commit of a job's output ended.
    pub fn committed(
        &mut self,
        job: &JobId,
        result: Result<(), CommitFailure>,
        now: Duration,
    ) -> Vec<Action> {
        let change = self.jobs.get_mut(job).map_or(JobChange::None, |run| run.committed(result, now));
        let mut actions = self.apply(job, change);
        // Its tenant may start a queued job.
        actions.extend(self.schedule());
        actions
    }

    /// The cleanup of an ended job ([`Action::CleanUp`]) is done: the job may now be forgotten
    /// ([`SchedulerCore::retain`]).
    pub fn cleaned_up(&mut self, job: &JobId, now: Duration) -> Vec<Action> {
        if let Some(run) = self.jobs.get_mut(job) {
            run.cleaned_up();
        }
        self.retain(now)
    }

    fn apply(&mut self, id: &JobId, change: JobChange) -> Vec<Action> {
        let Some(job) = self.jobs.get(id) else { return Vec::new() };
        match change {
            JobChange::None => Vec::new(),
            JobChange::Commit(parts) => vec![Action::Commit { job: id.clone(), parts }],
            JobChange::Ended => vec![Action::CleanUp {
                job: id.clone(),
                executors: job.executors_used().cloned().collect(),
                shuffle_holders: job.shuffle_holders().copied().collect(),
                abort_output: !job.succeeded(),
            }],
        }
    }

    /// Assigns runnable tasks to free slots, one at a time: each to the tenant furthest below
    /// its weighted share and within its `max_slots` and `max_memory` ([`fair_share`]), within
    /// the tenant to its best job (priority, then submission order), and to the executor that
    /// already holds the job's components, then the least loaded (so load spreads), then by
    /// name. While a job's tasks are short ([`JobRun::tasks_are_short`]), each executor also gets
    /// one task of it beyond its slots, which waits there for a slot: its slots then go from one
    /// task to the next without idling for the report's round trip to the scheduler (as Dask's
    /// worker saturation does). Queued jobs whose tenants may run more start first.
    pub fn schedule(&mut self) -> Vec<Action> {
        let mut actions = self.start_queued();
        let mut loads: BTreeMap<TenantId, Load> = BTreeMap::new();
        let mut waiting: BTreeMap<TenantId, Vec<(i32, usize, JobId)>> = BTreeMap::new();
        for (order, id) in self.order.iter().enumerate() {
            let Some(job) = self.jobs.get(id).filter(|j| !j.is_ended()) else { continue };
            let tenant = &job.terms().owner.tenant;
            let load = loads.entry(tenant.clone()).or_default();
            load.running += job.running_tasks();
            load.memory += job.running_memory();
            if !job.is_queued() {
                waiting.entry(tenant.clone()).or_default().push((-job.terms().priority, order, id.clone()));
            }
        }
        // Each tenant's jobs, best first, with their submission positions.
        let mut waiting: BTreeMap<TenantId, VecDeque<(usize, JobId)>> = waiting
            .into_iter()
            .map(|(tenant, mut jobs)| {
                jobs.sort();
                (tenant, jobs.into_iter().map(|(_, order, id)| (order, id)).collect())
            })
            .collect();
        // Runnable tasks at the front of a job that no executor may take now (launched ones
        // leave the runnable set).
        let mut skipped: BTreeMap<JobId, usize> = BTreeMap::new();
        while self.members.available(1).next().is_some() {
            let candidates = waiting.iter().filter_map(|(tenant, jobs)| {
                let config = self.tenants.get(tenant)?;
                let load = loads.get(tenant).copied().unwrap_or_default();
                if config.max_slots.is_some_and(|max| load.running >= max) {
                    return None;
                }
                let (first, _) = jobs.front()?;
                Some(fair_share::Candidate {
                    tenant,
                    running: load.running,
                    weight: config.weight,
                    first: *first,
                })
            });
            let Some(tenant) = fair_share::fairest(candidates).cloned() else { break };
            let Some(jobs) = waiting.get_mut(&tenant) else { break };
            let Some((_, id)) = jobs.front().cloned() else { break };
            let Some(job) = self.jobs.get_mut(&id) else {
                jobs.pop_front();
                continue;
            };
            let queued = u32::from(job.tasks_are_short());
            let skip = skipped.get(&id).copied().unwrap_or(0);
            let next = job.runnable(skip, 1).first().copied();
            let config = self.tenants.get(&tenant);
            let load = loads.entry(tenant.clone()).or_default();
            let fits = |position| {
                let memory = config.and_then(|c| c.max_memory);
                memory.is_none_or(|max| load.memory + job.task_memory(position) <= max)
            };
            let Some((position, index)) = next.filter(|&(position, _)| fits(position)) else {
                // Nothing of this job may start now: the tenant's next job may.
                jobs.pop_front();
                continue;
            };
            if self.members.available(queued).next().is_none() {
                jobs.pop_front();
                continue;
            }
            let plugins = job.plugins();
            let avoid = job.failed_on(position, index);
            let Some(executor) = pick_executor(&self.members, queued, &plugins, job.excluded(), &avoid)
            else {
                *skipped.entry(id).or_default() += 1;
                continue;
            };
            let used_today = self.cpu.get(&tenant).map_or(0, CpuWindow::used_us);
            let mut spec = job.launch(position, index, &executor);
            spec.cpu_budget_us = budget::attempt_budget(job, config, used_today);
            load.running += 1;
            load.memory += job.task_memory(position);
            self.members.task_started(&executor, &plugins);
            actions.push(Action::Launch { executor, spec: Box::new(spec) });
        }
        actions
    }

    /// Whether `job` has ended, its cleanup done or not (an unknown job counts as ended).
    pub fn is_ended(&self, job: &JobId) -> bool {
        self.jobs.get(job).is_none_or(JobRun::is_ended)
    }

    /// Whether `job` ended and its cleanup is not done yet: its end is not to be announced.
    pub fn is_cleaning_up(&self, job: &JobId) -> bool {
        self.jobs.get(job).is_some_and(JobRun::is_cleaning_up)
    }

    /// The job `id`, if it is held.
    pub fn job(&self, id: &JobId) -> Option<&JobRun> {
        self.jobs.get(id)
    }

    /// Every job held, in submission order.
    pub fn job_ids(&self) -> Vec<JobId> {
        self.order.clone()
    }

    /// Every job kept, the last submitted first.
    pub fn jobs_newest_first(&self) -> impl Iterator<Item = &JobRun> {
        self.order.iter().rev().filter_map(|id| self.jobs.get(id))
    }

    /// A page of the jobs `keep` passes, newest first: the statuses at `now` of the `limit`
    /// jobs after the first `offset`, and how many pass in all. Only the page's statuses are
    /// built, however many jobs are kept.
    pub fn page(
        &self,
        keep: impl Fn(&JobRun) -> bool,
        offset: usize,
        limit: usize,
        now: Duration,
    ) -> (Vec<JobStatus>, usize) {
        let mut total = 0;
        let mut page = Vec::new();
        for job in self.jobs_newest_first().filter(|job| keep(job)) {
            if total >= offset && page.len() < limit {
                page.push(job.status(now));
            }
            total += 1;
        }
        (page, total)
    }

    /// The status of one job, or of every job in submission order.
    pub fn status(&self, job: Option<&JobId>, now: Duration) -> Result<Vec<JobStatus>, RequestError> {
        match job {
            Some(id) => self
                .jobs
                .get(id)
                .map(|j| vec![j.status(now)])
                .ok_or_else(|| RequestError::UnknownJob { job: id.clone() }),
            None => Ok(self.order.iter().filter_map(|id| self.jobs.get(id)).map(|j| j.status(now)).collect()),
        }
    }

    /// The attempts of a task of `job` with what their operators wrote, or, without a task,
    /// every attempt of the job whose operators wrote something.
    pub fn logs(
        &self,
        job: &JobId,
        task: Option<(StageId, TaskIndex)>,
    ) -> Result<Vec<AttemptStatus>, RequestError> {
        let run = self.jobs.get(job).ok_or_else(|| RequestError::UnknownJob { job: job.clone() })?;
        run.attempts(task).ok_or_else(|| {
            let task = task.map_or_else(String::new, |(stage, index)| format!(" task {index} in {stage}"));
            RequestError::BadRequest { reason: format!("job {job} has no{task}") }
        })
    }

    /// Every member.
    pub fn nodes(&self, now: Duration) -> Vec<NodeStatus> {
        self.members.status(now)
    }

    /// The BTS of every alive member.
    pub fn alive_bts(&self) -> Vec<SocketAddr> {
        self.members.alive().filter_map(|id| self.members.get(id)).map(|m| m.registration.bts).collect()
    }
}

/// The executor a task of a job using `plugins` should go to, if a suitable one can take it
/// (with `queued` tasks beyond its slots): never one `excluded` from the job; not one in `avoid`
/// (where the task failed) while another alive executor could take it, even if that one is busy
/// now.
fn pick_executor(
    members: &Membership,
    queued: u32,
    plugins: &[PluginDigest],
    excluded: &BTreeSet<ExecutorId>,
    avoid: &BTreeSet<ExecutorId>,
) -> Option<ExecutorId> {
    let prefer_others = members.alive().any(|e| !excluded.contains(e) && !avoid.contains(e));
    members
        .available(queued)
        .filter(|(id, _)| !(excluded.contains(*id) || prefer_others && avoid.contains(*id)))
        .min_by_key(|(id, m)| {
            let lacks_plugins = !plugins.iter().all(|p| m.plugins.contains(p));
            let load = u64::from(m.running) * 1_000_000 / u64::from(m.registration.slots.max(1));
            (lacks_plugins, load, m.running, (*id).clone())
        })
        .map(|(id, _)| id.clone())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::job_run::tests::{job, job_using, secs};
    use crate::membership::tests::registration;
    use flicker_protocol::StageId;
    use flicker_protocol::failure::{LimitHit, LostMapOutput};
    use flicker_protocol::status::{AttemptOutcome, JobFailure, JobState};
    use flicker_protocol::task::{TaskInput, TaskMetrics, TaskOutput};
    use flicker_protocol::{MapOutputId, PartitionId};

    #[test]
    fn a_page_of_ten_thousand_finished_jobs_holds_the_page_only_newest_first() {
        let mut core = SchedulerCore::new(secs(10), secs(60));
        for n in 0..10_000 {
            let mut run = job(&format!("j{n:05}"), 1, 1, 1);
            let state = if n % 2 == 0 { JobState::Succeeded } else { JobState::Cancelled };
            run.restore_end(state, None, secs(n));
            core.restore(run);
        }
        let ids = |page: &[JobStatus]| page.iter().map(|s| s.job.0.clone()).collect::<Vec<_>>();
        let (page, total) = core.page(|_| true, 0, 3, secs(20_000));
        assert_eq!(
            (ids(&page), total),
            (vec!["j09999".to_owned(), "j09998".into(), "j09997".into()], 10_000)
        );
        let (page, total) = core.page(|_| true, 9_998, 50, secs(20_000));
        assert_eq!((ids(&page), total), (vec!["j00001".to_owned(), "j00000".into()], 10_000));
        let succeeded = |run: &JobRun| run.state() == JobState::Succeeded;
        let (page, total) = core.page(succeeded, 10, 2, secs(20_000));
        assert_eq!((ids(&page), total), (vec!["j09978".to_owned(), "j09976".into()], 5_000));
        assert_eq!(core.page(|_| true, 10_000, 50, secs(20_000)), (Vec::new(), 10_000));
    }

    /// The executors the launches went to, in order.
    fn executors(launches: &[(ExecutorId, TaskSpec)]) -> Vec<&str> {
        launches.iter().map(|(executor, _)| executor.0.as_str()).collect()
    }

    pub(crate) fn launches(actions: &[Action]) -> Vec<(ExecutorId, TaskSpec)> {
        actions
            .iter()
            .filter_map(|a| match a {
                Action::Launch { executor, spec } => Some((executor.clone(), (**spec).clone())),
                _ => None,
            })
            .collect()
    }

    pub(crate) fn succeed(core: &mut SchedulerCore, launch: &(ExecutorId, TaskSpec)) -> Vec<Action> {
        succeed_in(core, launch, 0)
    }

    /// Reports the launch's success after `task_ms` of running.
    pub(crate) fn succeed_in(
        core: &mut SchedulerCore,
        (executor, spec): &(ExecutorId, TaskSpec),
        task_ms: u64,
    ) -> Vec<Action> {
        let output = match spec.input {
            TaskInput::Split { .. } => TaskOutput::MapOutput { partition_bytes: vec![5, 6] },
            TaskInput::Partition { partition, .. } | TaskInput::CoPartition { partition, .. } => {
                TaskOutput::Part { name: format!("part-{partition:05}.csv"), size: 1, attempt: spec.attempt }
            }
        };
        let metrics = TaskMetrics { rows_in: 1, task_ms, ..TaskMetrics::default() };
        core.report(
            &spec.task,
            spec.attempt,
            executor,
            TaskReport::Succeeded { metrics, output },
            Vec::new(),
            TaskUsage::default(),
            secs(1),
        )
    }

    pub(crate) fn cluster(executors: &[(&str, u32)]) -> SchedulerCore {
        let mut core = SchedulerCore::new(secs(10), secs(30));
        for (name, slots) in executors {
            core.register(registration(name, *slots), "127.0.0.1:1".parse().unwrap(), secs(0));
        }
        core
    }

    #[test]
    fn a_job_runs_stage_by_stage_spread_over_executors_and_commits() {
        let mut core = cluster(&[("a", 2), ("b", 2)]);
        let first = launches(&core.submit(job("j", 3, 2, 1)).unwrap());
        assert_eq!(first.len(), 3, "three map tasks, four slots");
        // a gets the first task (neither holds the job's components, nor runs anything: the
        // name decides), and with it the components: it is preferred while it has a slot.
        assert_eq!(executors(&first), ["a", "a", "b"]);
        let mut reduce = Vec::new();
        for launch in &first {
            reduce.extend(launches(&succeed(&mut core, launch)));
        }
        assert_eq!(reduce.len(), 2, "reduce tasks start only when every map task is done");
        let TaskInput::Partition { partition: PartitionId(0), map_outputs } = &reduce[0].1.input else {
            panic!()
        };
        assert_eq!(map_outputs.len(), 3);
        assert!(map_outputs.iter().all(|m| m.bytes == 5));
        let mut last = Vec::new();
        for launch in &reduce {
            last = succeed(&mut core, launch);
        }
        let [Action::Commit { parts, .. }] = last.as_slice() else { panic!("{last:?}") };
        assert_eq!(parts[0].1.len(), 2);
        let ended = core.committed(&JobId("j".into()), Ok(()), secs(2));
        assert!(matches!(&ended[..], [Action::CleanUp { abort_output: false, .. }]));
        let status = core.status(Some(&JobId("j".into())), secs(3)).unwrap().remove(0);
        assert_eq!(status.state, JobState::Succeeded);
        assert_eq!(status.metrics.rows_in, 5);
        assert_eq!(status.tasks_by_executor.iter().map(|(_, n)| n).sum::<u32>(), 5);
    }

    #[test]
    fn executors_get_one_task_beyond_their_slots_once_tasks_prove_short() {
        use crate::job_run::{SHORT_TASK, SHORT_TASK_EVIDENCE};
        let short = SHORT_TASK.as_millis() as u64 - 1;
        for (task_ms, queued) in [(short, 1), (SHORT_TASK.as_millis() as u64, 0)] {
            let mut core = cluster(&[("a", 2), ("b", 1)]);
            let mut running = launches(&core.submit(job("j", 40, 1, 1)).unwrap());
            assert_eq!(running.len(), 3, "slots only, before any task ended");
            for _ in 0..SHORT_TASK_EVIDENCE {
                let done = running.remove(0);
                running.extend(launches(&succeed_in(&mut core, &done, task_ms)));
            }
            assert_eq!(running.len(), 3 + 2 * queued, "tasks of {task_ms} ms");
            let on_a = running.iter().filter(|(e, _)| e.0 == "a").count();
            assert_eq!(on_a, 2 + queued, "tasks of {task_ms} ms");
        }
    }

    #[test]
    fn tasks_of_a_lost_executor_run_elsewhere() {
        let mut core = cluster(&[("a", 1), ("b", 1)]);
        let first = launches(&core.submit(job("j", 2, 1, 1)).unwrap());
        let (lost, spec) = first.iter().find(|(e, _)| e.0 == "a").unwrap().clone();
        core.heartbeat(&ExecutorId("b".into()), 0, secs(8)).unwrap();
        let relaunched = launches(&core.tick(secs(11)));
        assert!(relaunched.is_empty(), "b's slot is busy");
        let b_task = first.iter().find(|(e, _)| e.0 == "b").unwrap();
        let next = launches(&succeed(&mut core, b_task));
        assert_eq!(next.len(), 1);
        assert_eq!(next[0].1.task, spec.task);
        assert_eq!(next[0].1.attempt, AttemptId(1));
        // The old attempt's late report is ignored.
        let stale = core.report(
            &spec.task,
            AttemptId(0),
            &lost,
            failed("late"),
            Vec::new(),
            TaskUsage::default(),
            secs(12),
        );
        assert!(stale.is_empty());
        assert_eq!(core.status(None, secs(12)).unwrap()[0].state, JobState::Running);
    }

    #[test]
    fn a_failed_task_fails_the_job_and_cleans_up() {
        let mut core = cluster(&[("a", 4)]);
        let first = launches(&core.submit(job("j", 2, 1, 1)).unwrap());
        succeed(&mut core, &first[0]);
        let (executor, spec) = &first[1];
        let actions = core.report(
            &spec.task,
            spec.attempt,
            executor,
            failed("boom"),
            Vec::new(),
            TaskUsage::default(),
            secs(1),
        );
        let [Action::CleanUp { executors, shuffle_holders, abort_output: true, .. }] = actions.as_slice()
        else {
            panic!("{actions:?}")
        };
        assert_eq!(executors, &[ExecutorId("a".into())]);
        assert_eq!(shuffle_holders.len(), 1);
        let status = core.status(None, secs(2)).unwrap().remove(0);
        assert_eq!(status.state, JobState::Failed { cause: "boom".into() });
        assert!(core.cancel(&JobId("j".into()), secs(3)).unwrap().is_empty(), "already ended");
    }

    #[test]
    fn cancelling_a_running_job_cleans_up_and_starts_nothing_more() {
        let mut core = cluster(&[("a", 1)]);
        launches(&core.submit(job("j", 3, 1, 1)).unwrap());
        let actions = core.cancel(&JobId("j".into()), secs(1)).unwrap();
        assert!(matches!(&actions[..], [Action::CleanUp { abort_output: true, .. }]));
        assert!(core.schedule().is_empty());
        assert_eq!(core.status(None, secs(1)).unwrap()[0].state, JobState::Cancelled);
        assert!(matches!(core.cancel(&JobId("x".into()), secs(1)), Err(RequestError::UnknownJob { .. })));
    }

    #[test]
    fn executors_holding_the_components_are_preferred() {
        let mut core = cluster(&[("a", 4), ("b", 4)]);
        let mut b = registration("b", 4);
        b.plugins = vec![PluginDigest::of(b"j")];
        core.register(b, "127.0.0.1:1".parse().unwrap(), secs(0));
        let first = launches(&core.submit(job("j", 1, 1, 1)).unwrap());
        assert_eq!(first[0].0, ExecutorId("b".into()));
    }

    #[test]
    fn each_task_goes_to_the_least_loaded_executor_for_its_slots() {
        let mut core = SchedulerCore::new(secs(10), secs(30));
        for (name, slots) in [("a", 6), ("b", 2)] {
            let mut holding = registration(name, slots);
            holding.plugins = vec![PluginDigest::of(b"j")];
            core.register(holding, "127.0.0.1:1".parse().unwrap(), secs(0));
        }
        let first = launches(&core.submit(job("j", 6, 1, 1)).unwrap());
        // Both hold the job's components, so load decides: running tasks per slot, then running
        // tasks, then the name. Loads of a and b before each launch:
        //   0/6 = 0/2 → a (by name)   1/6 > 0/2 → b   1/6 < 1/2 → a
        //   2/6 < 1/2 → a, although b runs fewer tasks   3/6 = 1/2, b runs fewer → b   b full → a
        // A picker blind to load gives a, a, a, a, a, a; one counting tasks, not slots, sends
        // the fourth to b.
        assert_eq!(executors(&first), ["a", "b", "a", "a", "b", "a"]);
    }

    #[test]
    fn a_job_with_empty_input_runs_its_reduce_tasks_commits_and_cleans_up() {
        let mut core = cluster(&[("a", 2)]);
        let id = JobId("j".into());
        let reduce = launches(&core.submit(job("j", 0, 2, 1)).unwrap());
        assert_eq!(reduce.len(), 2, "the reduce tasks run with no map output");
        for (_, spec) in &reduce {
            let TaskInput::Partition { map_outputs, .. } = &spec.input else { panic!("{spec:?}") };
            assert!(map_outputs.is_empty(), "{map_outputs:?}");
        }
        assert!(succeed(&mut core, &reduce[0]).is_empty());
        let actions = succeed(&mut core, &reduce[1]);
        let [Action::Commit { job, parts }] = actions.as_slice() else { panic!("{actions:?}") };
        assert_eq!(job, &id);
        let part = |name: &str| SinkPart { name: name.into(), size: 1, attempt: AttemptId(0) };
        assert_eq!(parts, &[("out".to_owned(), vec![part("part-00000.csv"), part("part-00001.csv")])]);
        let ended = core.committed(&id, Ok(()), secs(2));
        let [Action::CleanUp { job, executors, shuffle_holders, abort_output: false }] = ended.as_slice()
        else {
            panic!("{ended:?}")
        };
        assert_eq!((job, executors.as_slice()), (&id, [ExecutorId("a".into())].as_slice()));
        assert!(shuffle_holders.is_empty(), "no map task wrote anything");
        let status = core.status(Some(&id), secs(3)).unwrap().remove(0);
        assert_eq!(status.state, JobState::Succeeded);
        assert_eq!((status.stages[0].total, status.stages[1].done), (0, 2));
        assert!(core.is_ended(&id) && core.is_cleaning_up(&id), "its end waits for the cleanup");
        core.cleaned_up(&id, secs(3));
        assert!(core.is_ended(&id) && !core.is_cleaning_up(&id));
        assert!(core.tick(secs(4)).is_empty(), "nothing more to do");
    }

    /// Runs every task of `job` that `actions` launch, and those launched after them, to success,
    /// then commits and cleans up the job at `now`; returns what the end of its cleanup asks for.
    fn finish(core: &mut SchedulerCore, job: &JobId, mut actions: Vec<Action>, now: Duration) -> Vec<Action> {
        loop {
            assert!(!actions.is_empty(), "job {job} is stuck");
            let mut next = Vec::new();
            for action in actions {
                match action {
                    Action::Launch { executor, spec } if &spec.task.job == job => {
                        next.extend(succeed(core, &(executor, *spec)))
                    }
                    Action::Commit { job: done, .. } if &done == job => {
                        next.extend(core.committed(job, Ok(()), now))
                    }
                    Action::CleanUp { job: done, .. } if &done == job => return core.cleaned_up(job, now),
                    _ => {}
                }
            }
            actions = next;
        }
    }

    /// The jobs `flicker status` lists.
    fn listed(core: &SchedulerCore) -> Vec<String> {
        core.status(None, secs(0)).unwrap().into_iter().map(|s| s.job.0).collect()
    }

    #[test]
    fn finished_jobs_past_the_retention_are_forgotten_with_the_components_only_they_used() {
        let retention = Retention { jobs: 1, age: secs(100) };
        let mut core = cluster(&[("a", 4)]).with_retention(retention);
        let (x, y, z) = (JobId("x".into()), JobId("y".into()), JobId("z".into()));
        let digest = |plugin: &str| PluginDigest::of(plugin.as_bytes());
        let submitted = core.submit(job_using("x", "p1", 1, 1, 1)).unwrap();
        assert!(finish(&mut core, &x, submitted, secs(10)).is_empty(), "one finished job is kept");
        // z runs with x's component; y ends after x, so x is forgotten, but not the component.
        let running = core.submit(job_using("z", "p1", 1, 1, 1)).unwrap();
        let submitted = core.submit(job_using("y", "p2", 1, 1, 1)).unwrap();
        let forgotten = finish(&mut core, &y, submitted, secs(20));
        assert_eq!(forgotten, [Action::Forget { jobs: vec![x.clone()], plugins: Vec::new() }]);
        assert_eq!(listed(&core), ["z", "y"]);
        assert!(matches!(core.status(Some(&x), secs(20)), Err(RequestError::UnknownJob { .. })));
        let journal = core.take_journal();
        assert_eq!(journal.last(), Some(&(x, JournalUpdate::Forgotten)), "{journal:?}");
        assert_eq!(core.plugins_in_use(), BTreeSet::from([digest("p1"), digest("p2")]));
        // z ends: y goes, and y's component with it.
        let forgotten = finish(&mut core, &z, running, secs(30));
        assert_eq!(forgotten, [Action::Forget { jobs: vec![y], plugins: vec![digest("p2")] }]);
        assert_eq!(core.plugins_in_use(), BTreeSet::from([digest("p1")]));
        // Time passes: z is as old as the age, and goes too.
        assert!(core.tick(secs(129)).is_empty());
        let aged = core.tick(secs(130));
        assert_eq!(aged, [Action::Forget { jobs: vec![z], plugins: vec![digest("p1")] }]);
        assert!(listed(&core).is_empty());
    }

    /// A failure of the attempt (of storage, say) told by `cause`.
    fn failed(cause: &str) -> TaskReport {
        TaskReport::Failed(TaskFailure::new(FailureKind::Storage, cause))
    }

    /// A bad record, which is the job's own fault.
    fn bad_record() -> FailureKind {
        FailureKind::BadRecord { record: None }
    }

    pub(crate) fn fail(
        core: &mut SchedulerCore,
        (executor, spec): &(ExecutorId, TaskSpec),
        kind: FailureKind,
    ) -> Vec<Action> {
        let report = TaskReport::Failed(TaskFailure::new(kind, format!("boom on {executor}")));
        core.report(&spec.task, spec.attempt, executor, report, Vec::new(), TaskUsage::default(), secs(1))
    }

    #[test]
    fn a_failed_attempt_runs_again_elsewhere_and_flaky_executors_are_excluded() {
        let mut core = cluster(&[("a", 1), ("b", 1), ("c", 1)]);
        let first = launches(&core.submit(job("j", 3, 1, 5)).unwrap());
        let on = |name: &str| first.iter().find(|(e, _)| e.0 == name).unwrap().clone();
        let task = on("a").1.task.index;
        // a fails its task: the retry waits for another executor although a is free.
        assert!(launches(&fail(&mut core, &on("a"), FailureKind::Storage)).is_empty());
        let retry = launches(&succeed(&mut core, &on("b"))).remove(0);
        assert_eq!((retry.0.0.as_str(), retry.1.task.index, retry.1.attempt), ("b", task, AttemptId(1)));
        assert!(
            launches(&fail(&mut core, &retry, FailureKind::Storage)).is_empty(),
            "c is busy, a and b failed it"
        );
        let retry = launches(&succeed(&mut core, &on("c"))).remove(0);
        assert_eq!((retry.0.0.as_str(), retry.1.attempt), ("c", AttemptId(2)));
        // It failed everywhere: any executor may try again.
        let retry = launches(&fail(&mut core, &retry, FailureKind::Storage)).remove(0);
        assert_eq!((retry.0.0.as_str(), retry.1.attempt), ("a", AttemptId(3)));
        // a's second failure excludes it from the job.
        let retry = launches(&fail(&mut core, &retry, FailureKind::Storage)).remove(0);
        assert_eq!((retry.0.0.as_str(), retry.1.attempt), ("b", AttemptId(4)));
        let status = core.status(None, secs(2)).unwrap().remove(0);
        assert_eq!(status.state, JobState::Running);
        assert_eq!(status.excluded_executors, [ExecutorId("a".into())]);
        let attempts: Vec<_> =
            status.failed_attempts.iter().map(|f| (f.attempt, f.executor.0.as_str())).collect();
        assert_eq!(
            attempts,
            [(AttemptId(0), "a"), (AttemptId(1), "b"), (AttemptId(2), "c"), (AttemptId(3), "a")]
        );
        assert_eq!(status.failed_attempts[1].cause, "boom on b");
    }

    fn printed(step: &str, stdout: String) -> Vec<OperatorLog> {
        vec![OperatorLog { step: step.into(), stdout, stderr: String::new(), dropped: 0 }]
    }

    #[test]
    fn attempts_keep_what_their_operators_wrote_within_the_jobs_budget() {
        let mut core = cluster(&[("a", 1)]);
        let id = JobId("j".into());
        let first = launches(&core.submit(job("j", 2, 1, 3)).unwrap()).remove(0);
        let (executor, spec) = &first;
        let failed = failed("boom");
        let retry = launches(&core.report(
            &spec.task,
            AttemptId(0),
            executor,
            failed,
            printed("parse", "hi\n".into()),
            TaskUsage::default(),
            secs(1),
        ));
        let task = Some((spec.task.stage, spec.task.index));
        // The failed attempt and the running retry.
        let attempts = core.logs(&id, task).unwrap();
        assert_eq!(attempts.len(), 2, "{attempts:?}");
        assert_eq!(
            attempts[0].outcome,
            AttemptOutcome::Failed { cause: "boom".into(), kind: FailureKind::Storage }
        );
        assert_eq!(attempts[0].log[0].stdout, "hi\n");
        assert_eq!((attempts[1].attempt, &attempts[1].outcome), (AttemptId(1), &AttemptOutcome::Running));
        // A success is kept only with output; past the budget, output is dropped and counted.
        let huge = "x".repeat(crate::job_run::LOG_BUDGET);
        let metrics = TaskMetrics::default();
        let output = TaskOutput::MapOutput { partition_bytes: vec![1] };
        let (executor, spec) = &retry[0];
        core.report(
            &spec.task,
            AttemptId(1),
            executor,
            TaskReport::Succeeded { metrics, output },
            printed("parse", huge),
            TaskUsage::default(),
            secs(2),
        );
        let logged = core.logs(&id, None).unwrap();
        assert_eq!(logged.len(), 2, "both attempts wrote something: {logged:?}");
        assert_eq!(logged[1].outcome, AttemptOutcome::Succeeded);
        assert!(logged[1].log[0].stderr.contains("not kept"), "{:?}", logged[1].log);
        assert_eq!(logged[1].log[0].dropped, crate::job_run::LOG_BUDGET as u64);
        assert!(matches!(
            core.logs(&id, Some((StageId(7), TaskIndex(0)))),
            Err(RequestError::BadRequest { .. })
        ));
        assert!(matches!(core.logs(&JobId("no".into()), None), Err(RequestError::UnknownJob { .. })));
    }

    #[test]
    fn the_jobs_own_fault_fails_it_at_once_and_blames_no_executor() {
        let mut core = cluster(&[("a", 1), ("b", 1)]);
        let first = launches(&core.submit(job("j", 2, 1, 4)).unwrap());
        let actions = fail(&mut core, &first[0], bad_record());
        assert!(matches!(&actions[..], [Action::CleanUp { abort_output: true, .. }]), "{actions:?}");
        let status = core.status(None, secs(2)).unwrap().remove(0);
        assert_eq!(status.state, JobState::Failed { cause: format!("boom on {}", first[0].0) });
        assert_eq!(status.failed_attempts.len(), 1, "no retry");
        let failure =
            JobFailure::Task { stage: 0, task: first[0].1.task.index, attempts: 1, kind: bad_record() };
        assert_eq!(status.failure, Some(failure));
        assert!(status.excluded_executors.is_empty(), "no executor is to blame");
        assert!(launches(&succeed(&mut core, &first[1])).is_empty(), "nothing runs after the end");
    }

    #[test]
    fn an_operator_failing_on_every_attempt_fails_the_job_with_its_kind_and_excludes_no_executor() {
        let mut core = cluster(&[("a", 1), ("b", 1)]);
        let memory = FailureKind::LimitHit { limit: LimitHit::Memory { bytes: 64 << 20 } };
        let mut launch = launches(&core.submit(job("j", 1, 1, 4)).unwrap()).remove(0);
        for _ in 0..3 {
            launch = launches(&fail(&mut core, &launch, memory.clone())).remove(0);
            let status = core.status(None, secs(2)).unwrap().remove(0);
            assert!(status.excluded_executors.is_empty(), "the executors did nothing wrong: {status:?}");
        }
        fail(&mut core, &launch, memory.clone());
        let status = core.status(None, secs(2)).unwrap().remove(0);
        let JobState::Failed { cause } = &status.state else { panic!("{status:?}") };
        assert!(cause.ends_with("(failed 4 attempts)"), "{cause}");
        let failure = JobFailure::Task { stage: 0, task: TaskIndex(0), attempts: 4, kind: memory.clone() };
        assert_eq!(status.failure, Some(failure));
        assert!(status.failed_attempts.iter().all(|a| a.kind == memory), "{status:?}");
        let executors: BTreeSet<_> = status.failed_attempts.iter().map(|a| a.executor.0.as_str()).collect();
        assert_eq!(executors.len(), 2, "retried elsewhere: {status:?}");
    }

    #[test]
    fn a_task_out_of_attempts_fails_the_job() {
        let mut core = cluster(&[("a", 1)]);
        let mut launch = launches(&core.submit(job("j", 1, 1, 2)).unwrap()).remove(0);
        launch = launches(&fail(&mut core, &launch, FailureKind::Storage)).remove(0);
        assert_eq!(launch.0, ExecutorId("a".into()), "the only executor gets the retry");
        fail(&mut core, &launch, FailureKind::Storage);
        let JobState::Failed { cause } = core.status(None, secs(2)).unwrap().remove(0).state else {
            panic!()
        };
        assert_eq!(cause, "boom on a (failed 2 attempts)");
    }

    #[test]
    fn a_job_no_executor_can_run_fails_after_the_stall_timeout() {
        let mut core = cluster(&[("a", 1)]);
        launches(&core.submit(job("j", 1, 1, 1)).unwrap());
        assert!(core.tick(secs(11)).is_empty(), "a is lost; the job waits");
        assert!(core.tick(secs(40)).is_empty());
        let actions = core.tick(secs(42));
        assert!(matches!(&actions[..], [Action::CleanUp { .. }]), "{actions:?}");
        let JobState::Failed { cause } = core.status(None, secs(42)).unwrap().remove(0).state else {
            panic!()
        };
        assert!(cause.contains("no executor could run the job's tasks for 30s"), "{cause}");
    }

    fn fetch_failure(
        core: &mut SchedulerCore,
        (executor, spec): &(ExecutorId, TaskSpec),
        lost: LostMapOutput,
    ) -> Vec<Action> {
        let report = TaskReport::Failed(TaskFailure::new(FailureKind::FetchFailed(lost), "cannot fetch"));
        core.report(&spec.task, spec.attempt, executor, report, Vec::new(), TaskUsage::default(), secs(1))
    }

    fn bts_of(core: &SchedulerCore, name: &str) -> std::net::SocketAddr {
        core.members.get(&ExecutorId(name.into())).unwrap().registration.bts
    }

    #[test]
    fn map_outputs_of_a_lost_executor_are_computed_again_before_the_reduce_goes_on() {
        let mut core = cluster(&[("a", 1), ("b", 1)]);
        let maps = launches(&core.submit(job("j", 2, 1, 4)).unwrap());
        let on_b = maps.iter().find(|(e, _)| e.0 == "b").unwrap().clone();
        let on_a = maps.iter().find(|(e, _)| e.0 == "a").unwrap().clone();
        succeed(&mut core, &on_b);
        let reduce = launches(&succeed(&mut core, &on_a)).remove(0);
        assert_eq!(reduce.0.0, "a");
        // b goes silent: its map output is gone with it, and its map task must run again.
        core.heartbeat(&ExecutorId("a".into()), 0, secs(9)).unwrap();
        assert!(launches(&core.tick(secs(11))).is_empty(), "a's only slot runs the reduce");
        assert_eq!(core.status(None, secs(11)).unwrap()[0].stages[0].done, 1);
        // The reduce cannot fetch b's output: it waits while the map task runs again on a.
        let lost = LostMapOutput {
            id: MapOutputId { job: JobId("j".into()), stage: StageId(0), map_task: on_b.1.task.index },
            bts: bts_of(&core, "b"),
            unreachable: true,
        };
        let recompute = launches(&fetch_failure(&mut core, &reduce, lost)).remove(0);
        assert_eq!((recompute.0.0.as_str(), recompute.1.task.clone()), ("a", on_b.1.task.clone()));
        let again = launches(&succeed(&mut core, &recompute)).remove(0);
        let TaskInput::Partition { map_outputs, .. } = &again.1.input else { panic!() };
        assert!(map_outputs.iter().all(|m| m.bts == bts_of(&core, "a")), "{map_outputs:?}");
        assert_eq!(again.1.attempt, AttemptId(1));
        let status = core.status(None, secs(12)).unwrap().remove(0);
        assert!(status.failed_attempts.is_empty(), "a fetch failure is not the task's fault");
        assert_eq!(status.metrics.rows_in, 2, "the lost map task's input is counted once");
    }

    #[test]
    fn a_damaged_map_output_alone_is_computed_again() {
        let mut core = cluster(&[("a", 2)]);
        let maps = launches(&core.submit(job("j", 2, 1, 4)).unwrap());
        succeed(&mut core, &maps[0]);
        let reduce = launches(&succeed(&mut core, &maps[1])).remove(0);
        let lost = LostMapOutput {
            id: MapOutputId { job: JobId("j".into()), stage: StageId(0), map_task: TaskIndex(1) },
            bts: bts_of(&core, "a"),
            unreachable: false,
        };
        let recompute = launches(&fetch_failure(&mut core, &reduce, lost));
        assert_eq!(recompute.len(), 1);
        assert_eq!(recompute[0].1.task.index, TaskIndex(1));
        assert_eq!(core.status(None, secs(2)).unwrap()[0].stages[0].done, 1);
    }

    #[test]
    fn the_commit_takes_the_part_of_the_attempt_that_succeeded() {
        let mut core = cluster(&[("a", 1), ("b", 1)]);
        let map = launches(&core.submit(job("j", 1, 1, 4)).unwrap()).remove(0);
        let reduce = launches(&succeed(&mut core, &map)).remove(0);
        let retry = launches(&fail(&mut core, &reduce, FailureKind::Storage)).remove(0);
        assert_eq!(retry.1.attempt, AttemptId(1));
        let actions = succeed(&mut core, &retry);
        let [Action::Commit { parts, .. }] = actions.as_slice() else { panic!("{actions:?}") };
        assert_eq!(parts[0].1.len(), 1);
        assert_eq!(parts[0].1[0].attempt, AttemptId(1), "not the failed attempt's part");
    }
}
