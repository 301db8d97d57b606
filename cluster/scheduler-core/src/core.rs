//! The scheduler's decisions, as a state machine over plain data: events in (a job submitted, a
//! task report, an executor lost, a cancel, a commit done, a cleanup done), actions out (launch a
//! task, commit a job's output, clean up after a job, forget finished jobs past the
//! [`Retention`]). No I/O and no clock: the service around it moves the bytes and passes the time
//! in.

use crate::job_run::{CommitFailure, JobChange, JobRun, JournalUpdate, Reported, SinkPart};
use crate::membership::Membership;
use crate::retention::Retention;
use flicker_protocol::failure::{FailureKind, TaskFailure};
use flicker_protocol::scheduler::{Registration, RequestError};
use flicker_protocol::status::{AttemptStatus, JobStatus, NodeStatus};
use flicker_protocol::task::{OperatorLog, TaskReport, TaskSpec};
use flicker_protocol::{AttemptId, ExecutorId, JobId, PluginDigest, StageId, TaskId, TaskIndex};
use std::collections::{BTreeMap, BTreeSet};
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
        }
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
    pub fn heartbeat(&mut self, executor: &ExecutorId, now: Duration) -> Result<(), RequestError> {
        self.members.heartbeat(executor, now)
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

    /// Takes back a job from the journal after a restart; its tasks run once executors join.
    pub fn restore(&mut self, job: JobRun) {
        let id = job.id().clone();
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

    /// Accepts a job.
    pub fn submit(&mut self, mut job: JobRun) -> Vec<Action> {
        let id = job.id().clone();
        let change = job.ready_to_commit();
        self.jobs.insert(id.clone(), job);
        self.order.push(id.clone());
        let mut actions = self.apply(&id, change);
        actions.extend(self.schedule());
        actions
    }

    /// An executor reported how an attempt ended, and what its operators wrote (`log`).
    pub fn report(
        &mut self,
        task: &TaskId,
        attempt: AttemptId,
        executor: &ExecutorId,
        report: TaskReport,
        log: Vec<OperatorLog>,
        now: Duration,
    ) -> Vec<Action> {
        self.members.task_ended(executor);
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
        let mut actions = self.apply(&task.job, change);
        actions.extend(self.schedule());
        actions
    }

    /// A user cancels a job.
    pub fn cancel(&mut self, job: &JobId, now: Duration) -> Result<Vec<Action>, RequestError> {
        let run = self.jobs.get_mut(job).ok_or_else(|| RequestError::UnknownJob { job: job.clone() })?;
        let change = run.cancel(now);
        Ok(self.apply(job, change))
    }

    /// The commit of a job's output ended.
    pub fn committed(
        &mut self,
        job: &JobId,
        result: Result<(), CommitFailure>,
        now: Duration,
    ) -> Vec<Action> {
        let change = self.jobs.get_mut(job).map_or(JobChange::None, |run| run.committed(result, now));
        self.apply(job, change)
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

    /// Assigns runnable tasks to free slots: jobs first come first served, each task to the
    /// executor that already holds the job's components, then the least loaded (so load
    /// spreads), then by name. While a job's tasks are short ([`JobRun::tasks_are_short`]),
    /// each executor also gets one task beyond its slots, which waits there for a slot: its
    /// slots then go from one task to the next without idling for the report's round trip to
    /// the scheduler (as Dask's worker saturation does).
    pub fn schedule(&mut self) -> Vec<Action> {
        let mut actions = Vec::new();
        for id in &self.order {
            let Some(job) = self.jobs.get_mut(id) else { continue };
            let plugins = job.plugins();
            let queued = u32::from(job.tasks_are_short());
            // Runnable tasks are taken a slot's worth at a time; `skipped` counts those at the
            // front that no executor may take now (launched ones leave the runnable set).
            let mut skipped = 0;
            loop {
                let free = self.members.available(queued).count();
                if free == 0 {
                    return actions;
                }
                let candidates = job.runnable(skipped, free);
                if candidates.is_empty() {
                    break;
                }
                for (position, index) in candidates {
                    let avoid = job.failed_on(position, index);
                    let Some(executor) =
                        pick_executor(&self.members, queued, &plugins, job.excluded(), &avoid)
                    else {
                        skipped += 1;
                        continue;
                    };
                    let spec = job.launch(position, index, &executor);
                    self.members.task_started(&executor, &plugins);
                    actions.push(Action::Launch { executor, spec: Box::new(spec) });
                }
            }
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

    /// Every job held, in submission order.
    pub fn job_ids(&self) -> Vec<JobId> {
        self.order.clone()
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
mod tests {
    use super::*;
    use crate::job_run::tests::{job, job_using, secs};
    use crate::membership::tests::registration;
    use flicker_protocol::StageId;
    use flicker_protocol::failure::{LimitHit, LostMapOutput};
    use flicker_protocol::status::{AttemptOutcome, JobFailure, JobState};
    use flicker_protocol::task::{TaskInput, TaskMetrics, TaskOutput};
    use flicker_protocol::{MapOutputId, PartitionId};

    /// The executors the launches went to, in order.
    fn executors(launches: &[(ExecutorId, TaskSpec)]) -> Vec<&str> {
        launches.iter().map(|(executor, _)| executor.0.as_str()).collect()
    }

    fn launches(actions: &[Action]) -> Vec<(ExecutorId, TaskSpec)> {
        actions
            .iter()
            .filter_map(|a| match a {
                Action::Launch { executor, spec } => Some((executor.clone(), (**spec).clone())),
                _ => None,
            })
            .collect()
    }

    fn succeed(core: &mut SchedulerCore, launch: &(ExecutorId, TaskSpec)) -> Vec<Action> {
        succeed_in(core, launch, 0)
    }

    /// Reports the launch's success after `task_ms` of running.
    fn succeed_in(
        core: &mut SchedulerCore,
        (executor, spec): &(ExecutorId, TaskSpec),
        task_ms: u64,
    ) -> Vec<Action> {
        let output = match spec.input {
            TaskInput::Split { .. } => TaskOutput::MapOutput { partition_bytes: vec![5, 6] },
            TaskInput::Partition { partition, .. } => {
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
            secs(1),
        )
    }

    fn cluster(executors: &[(&str, u32)]) -> SchedulerCore {
        let mut core = SchedulerCore::new(secs(10), secs(30));
        for (name, slots) in executors {
            core.register(registration(name, *slots), "127.0.0.1:1".parse().unwrap(), secs(0));
        }
        core
    }

    #[test]
    fn a_job_runs_stage_by_stage_spread_over_executors_and_commits() {
        let mut core = cluster(&[("a", 2), ("b", 2)]);
        let first = launches(&core.submit(job("j", 3, 2, 1)));
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
            let mut running = launches(&core.submit(job("j", 40, 1, 1)));
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
        let first = launches(&core.submit(job("j", 2, 1, 1)));
        let (lost, spec) = first.iter().find(|(e, _)| e.0 == "a").unwrap().clone();
        core.heartbeat(&ExecutorId("b".into()), secs(8)).unwrap();
        let relaunched = launches(&core.tick(secs(11)));
        assert!(relaunched.is_empty(), "b's slot is busy");
        let b_task = first.iter().find(|(e, _)| e.0 == "b").unwrap();
        let next = launches(&succeed(&mut core, b_task));
        assert_eq!(next.len(), 1);
        assert_eq!(next[0].1.task, spec.task);
        assert_eq!(next[0].1.attempt, AttemptId(1));
        // The old attempt's late report is ignored.
        let stale = core.report(&spec.task, AttemptId(0), &lost, failed("late"), Vec::new(), secs(12));
        assert!(stale.is_empty());
        assert_eq!(core.status(None, secs(12)).unwrap()[0].state, JobState::Running);
    }

    #[test]
    fn a_failed_task_fails_the_job_and_cleans_up() {
        let mut core = cluster(&[("a", 4)]);
        let first = launches(&core.submit(job("j", 2, 1, 1)));
        succeed(&mut core, &first[0]);
        let (executor, spec) = &first[1];
        let actions = core.report(&spec.task, spec.attempt, executor, failed("boom"), Vec::new(), secs(1));
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
        launches(&core.submit(job("j", 3, 1, 1)));
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
        let first = launches(&core.submit(job("j", 1, 1, 1)));
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
        let first = launches(&core.submit(job("j", 6, 1, 1)));
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
        let reduce = launches(&core.submit(job("j", 0, 2, 1)));
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
        let submitted = core.submit(job_using("x", "p1", 1, 1, 1));
        assert!(finish(&mut core, &x, submitted, secs(10)).is_empty(), "one finished job is kept");
        // z runs with x's component; y ends after x, so x is forgotten, but not the component.
        let running = core.submit(job_using("z", "p1", 1, 1, 1));
        let submitted = core.submit(job_using("y", "p2", 1, 1, 1));
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

    fn fail(
        core: &mut SchedulerCore,
        (executor, spec): &(ExecutorId, TaskSpec),
        kind: FailureKind,
    ) -> Vec<Action> {
        let report = TaskReport::Failed(TaskFailure::new(kind, format!("boom on {executor}")));
        core.report(&spec.task, spec.attempt, executor, report, Vec::new(), secs(1))
    }

    #[test]
    fn a_failed_attempt_runs_again_elsewhere_and_flaky_executors_are_excluded() {
        let mut core = cluster(&[("a", 1), ("b", 1), ("c", 1)]);
        let first = launches(&core.submit(job("j", 3, 1, 5)));
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
        let first = launches(&core.submit(job("j", 2, 1, 3))).remove(0);
        let (executor, spec) = &first;
        let failed = failed("boom");
        let retry = launches(&core.report(
            &spec.task,
            AttemptId(0),
            executor,
            failed,
            printed("parse", "hi\n".into()),
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
        let first = launches(&core.submit(job("j", 2, 1, 4)));
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
        let mut launch = launches(&core.submit(job("j", 1, 1, 4))).remove(0);
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
        let mut launch = launches(&core.submit(job("j", 1, 1, 2))).remove(0);
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
        launches(&core.submit(job("j", 1, 1, 1)));
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
        core.report(&spec.task, spec.attempt, executor, report, Vec::new(), secs(1))
    }

    fn bts_of(core: &SchedulerCore, name: &str) -> std::net::SocketAddr {
        core.members.get(&ExecutorId(name.into())).unwrap().registration.bts
    }

    #[test]
    fn map_outputs_of_a_lost_executor_are_computed_again_before_the_reduce_goes_on() {
        let mut core = cluster(&[("a", 1), ("b", 1)]);
        let maps = launches(&core.submit(job("j", 2, 1, 4)));
        let on_b = maps.iter().find(|(e, _)| e.0 == "b").unwrap().clone();
        let on_a = maps.iter().find(|(e, _)| e.0 == "a").unwrap().clone();
        succeed(&mut core, &on_b);
        let reduce = launches(&succeed(&mut core, &on_a)).remove(0);
        assert_eq!(reduce.0.0, "a");
        // b goes silent: its map output is gone with it, and its map task must run again.
        core.heartbeat(&ExecutorId("a".into()), secs(9)).unwrap();
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
        let maps = launches(&core.submit(job("j", 2, 1, 4)));
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
        let map = launches(&core.submit(job("j", 1, 1, 4))).remove(0);
        let reduce = launches(&succeed(&mut core, &map)).remove(0);
        let retry = launches(&fail(&mut core, &reduce, FailureKind::Storage)).remove(0);
        assert_eq!(retry.1.attempt, AttemptId(1));
        let actions = succeed(&mut core, &retry);
        let [Action::Commit { parts, .. }] = actions.as_slice() else { panic!("{actions:?}") };
        assert_eq!(parts[0].1.len(), 1);
        assert_eq!(parts[0].1[0].attempt, AttemptId(1), "not the failed attempt's part");
    }
}
