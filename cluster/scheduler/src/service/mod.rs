//! The scheduler process: a QUIC endpoint answering clients and executors, around the pure
//! [`SchedulerCore`]. Every request is handled on its own stream; every change to the core runs
//! under one lock and yields actions (launch a task, commit, clean up) that run as tasks of their
//! own, feeding their outcome back as new events.

use crate::audit::AuditLog;
use crate::journal::{Journal, JournalError, JournalWriter, JournaledJob};
use crate::plugin_store::PluginStore;
use crate::tenancy::TenantPolicy;
use flicker_bts::BtsClient;
use flicker_host::Runtime;
use flicker_job::{JobError, LimitMaxima, PluginRefs, PreparedJob};
use flicker_protocol::FrameError;
use flicker_protocol::failure::{FailureKind, TaskFailure};
use flicker_protocol::scheduler::{
    ExecutorRequest, ExecutorResponse, MAX_REQUEST, Oversized, RequestError, SchedulerRequest,
    SchedulerResponse, Submission,
};
use flicker_protocol::status::{JobFailure, JobState, JobStatus};
use flicker_protocol::task::{JobDefaults, JobDescriptor, TaskReport};
use flicker_protocol::tenant::{AuditEvent, AuditRecord, Owner, TaskUsage};
use flicker_protocol::{ExecutorId, JobId, PluginDigest, TenantId};
use flicker_scheduler_core::StageInput;
use flicker_scheduler_core::budget;
use flicker_scheduler_core::core::{Action, SchedulerCore};
use flicker_scheduler_core::job_run::{
    CommitFailure, JobRun, JobTerms, JournalUpdate, RetryPolicy, SinkPart, SplitRange, StageTasks,
};
use flicker_scheduler_core::plan::ChosenBroadcast;
use flicker_scheduler_core::retention::Retention;
use flicker_scheduler_core::split_size_for;
use flicker_storage::{
    InputObject, NodeStorage, OutputCommitter, PartFile, Split, StagedPart, check_destination, list_inputs,
    plan_splits,
};
use flicker_transport::{
    CapabilityGrants, Connection, ConnectionLimit, Endpoint, EndpointConfig, FrameReceiver, FrameSender,
    Identity, Peer, Role, TransportError,
};
use parking_lot::Mutex;
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::watch;

mod api;
mod measure;

pub use api::{JobPage, JobQuery, PluginView, StateFilter, TenantView};

/// How a scheduler is set up.
#[derive(Debug, Clone)]
pub struct SchedulerConfig {
    /// Where it listens.
    pub listen: SocketAddr,
    /// Its certificate and the cluster CA.
    pub identity: Identity,
    /// Where it keeps its plugin store.
    pub state_dir: PathBuf,
    /// How often executors send heartbeats.
    pub heartbeat: Duration,
    /// Silence after which an executor is lost.
    pub executor_timeout: Duration,
    /// How long a job waits for an executor that can run its tasks before it fails.
    pub stall_timeout: Duration,
    /// How long an executor may take to report a task before the attempt counts as failed
    /// (kind `task_timeout`) and the task runs elsewhere.
    pub task_timeout: Duration,
    /// Failed attempts of a job's tasks after which an executor gets no more of them.
    pub exclude_after: u32,
    /// Defaults of jobs whose submitter sends none.
    pub defaults: JobDefaults,
    /// Settings of the cloud stores' clients, under each job's own `[storage]`, and what jobs may
    /// reach (a job reaching further is refused at submission).
    pub storage: NodeStorage,
    /// The largest limits a job may give its operators.
    pub maxima: LimitMaxima,
    /// Which finished jobs it keeps (their statuses, journal records and components).
    pub retention: Retention,
    /// The tenants sharing the cluster: their weights, limits, admins and storage.
    pub tenants: TenantPolicy,
}

/// Why a scheduler could not start.
#[derive(Debug, thiserror::Error)]
pub enum SchedulerError {
    /// Its endpoint could not be set up.
    #[error("cannot start the scheduler's endpoint: {0}")]
    Transport(#[from] TransportError),
    /// Its state directory is unusable.
    #[error("cannot use the state directory {}: {source}", path.display())]
    StateDir {
        /// The directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Its journal cannot be opened or read.
    #[error(transparent)]
    Journal(#[from] JournalError),
}

/// A running scheduler.
#[derive(Clone)]
pub struct Scheduler {
    shared: Arc<Shared>,
}

struct Shared {
    config: SchedulerConfig,
    started: Instant,
    /// The wall-clock time at `started`, since the Unix epoch: the origin of [`Shared::now`].
    epoch: Duration,
    core: Mutex<SchedulerCore>,
    endpoint: Endpoint,
    runtime: Arc<Runtime>,
    plugins: PluginStore,
    journal: Arc<Journal>,
    /// Who did what: submissions, cancels, uploads, refusals, budget stops and job ends.
    audit: AuditLog,
    /// Task updates go to the journal through it, off the event path.
    journal_writer: JournalWriter,
    bts: BtsClient,
    /// Each job's shuffle capability, signed once and handed to its tasks ([`CAPABILITY_VALIDITY`]).
    grants: CapabilityGrants,
    /// The registration connection of each executor: tasks go out on it.
    executors: Mutex<HashMap<ExecutorId, Connection>>,
    /// Each unfinished job's prepared form (its sinks, for the commit).
    prepared: Mutex<HashMap<JobId, Arc<PreparedJob>>>,
    /// Held while components are removed from the store, and while a job is checked to have its
    /// components and enters the core: no component a job uses is removed.
    removing_plugins: Mutex<()>,
    /// The latest status of every job, for watchers. A job's last status is held back while
    /// the core says the job is cleaning up, so a waiting client never sees a job end before its
    /// leftovers are gone.
    watchers: Mutex<HashMap<JobId, Watched>>,
    next_job: AtomicU64,
    /// What the Prometheus counters remember.
    measures: measure::Measures,
}

/// The status channel of a job and when its status was last sent.
struct Watched {
    sender: watch::Sender<JobStatus>,
    sent_at: Option<Duration>,
}

impl Watched {
    fn new(status: JobStatus) -> Self {
        Watched { sender: watch::channel(status).0, sent_at: None }
    }
}

/// How often at most a running job's status goes to its watchers.
const PUBLISH_EVERY: Duration = Duration::from_millis(50);

impl Scheduler {
    /// Binds the endpoint, opens the state directory and takes back the jobs its journal holds
    /// (unfinished ones resume as executors join). Call from within a tokio runtime, then
    /// [`run`](Self::run) to serve.
    pub fn start(config: SchedulerConfig, runtime: Arc<Runtime>) -> Result<Self, SchedulerError> {
        let state_error = |source| SchedulerError::StateDir { path: config.state_dir.clone(), source };
        let plugins = PluginStore::open(config.state_dir.join("plugins")).map_err(state_error)?;
        let journal = Arc::new(Journal::open(&config.state_dir)?);
        let journaled = journal.load()?;
        let journal_writer = JournalWriter::start(journal.clone());
        let audit = AuditLog::open(&config.state_dir).map_err(state_error)?;
        let endpoint = Endpoint::bind(config.listen, EndpointConfig::new(config.identity.clone()))?;
        let shared = Arc::new(Shared {
            journal,
            journal_writer,
            audit,
            core: Mutex::new(
                SchedulerCore::new(config.executor_timeout, config.stall_timeout)
                    .with_retention(config.retention)
                    .with_tenants(config.tenants.tenants.clone()),
            ),
            started: Instant::now(),
            epoch: std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default(),
            bts: BtsClient::new(endpoint.clone()),
            grants: CapabilityGrants::new(config.identity.clone(), CAPABILITY_VALIDITY),
            endpoint,
            runtime,
            plugins,
            executors: Mutex::default(),
            prepared: Mutex::default(),
            removing_plugins: Mutex::default(),
            watchers: Mutex::default(),
            next_job: AtomicU64::new(1),
            measures: measure::Measures::default(),
            config,
        });
        for job in journaled {
            shared.restore(job);
        }
        // A resumed job whose every task was done when the scheduler stopped commits now; jobs
        // past the retention are forgotten.
        shared.act(|core, now| {
            let mut actions = core.commit_ready();
            actions.extend(core.retain(now));
            actions
        });
        // No submission is under way: every component no job kept uses goes.
        let in_use = shared.core.lock().plugins_in_use().into_iter().collect();
        match shared.plugins.retain(&in_use) {
            Ok(0) => {}
            Ok(removed) => tracing::info!(removed, "removed components no job uses"),
            Err(error) => tracing::warn!(%error, "cannot clean the plugin store"),
        }
        Ok(Self { shared })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> Result<SocketAddr, TransportError> {
        self.shared.endpoint.local_addr()
    }

    /// Serves clients and executors until the endpoint closes.
    pub async fn run(self) {
        let ticker = tokio::spawn(tick(self.shared.clone()));
        let limit = ConnectionLimit::new(MAX_CONNECTIONS_PER_PEER);
        while let Some(incoming) = self.shared.endpoint.accept().await {
            let (shared, limit) = (self.shared.clone(), limit.clone());
            tokio::spawn(async move {
                let from = incoming.remote_address();
                match incoming.establish(&[Role::Executor, Role::Client, Role::Admin]).await {
                    Ok(connection) => {
                        let peer = connection.peer();
                        if let Some(reason) = shared.config.tenants.refuse_connection(peer.as_ref()) {
                            tracing::warn!(%from, %reason, "refused a connection");
                            shared.record(
                                peer.as_ref(),
                                AuditEvent::Refused { request: "connect".into(), reason: reason.clone() },
                            );
                            connection.refuse(&Peer::describe(peer.as_ref()), &reason);
                            return;
                        }
                        let Some(_slot) = limit.admit(&connection) else { return };
                        serve_connection(shared, connection).await
                    }
                    Err(error) => tracing::warn!(%from, %error, "refused a connection"),
                }
            });
        }
        ticker.abort();
    }
}

impl Shared {
    /// The scheduler's clock: the wall-clock time it started at (since the Unix epoch), advanced
    /// by a monotonic clock, so durations never jump and times read as dates.
    fn now(&self) -> Duration {
        self.epoch + self.started.elapsed()
    }

    /// Takes back a job from the journal: planned again from its descriptor, its finished tasks
    /// marked done (their map outputs are used if still reachable, computed again if not).
    fn restore(&self, journaled: JournaledJob) {
        let id = journaled.record.descriptor.job.clone();
        let prepare = |broadcasts: &[ChosenBroadcast]| {
            let descriptor = &journaled.record.descriptor;
            PreparedJob::from_descriptor(
                descriptor,
                broadcasts,
                &self.runtime,
                &self.plugins,
                &self.config.storage,
            )
            .map_err(|error| error.to_string())
        };
        // The joins broadcast are those the sources' sizes chose at submission (the journaled
        // splits give the same sizes); a job of an earlier release, which broadcast none, has
        // stages that fit the plan without.
        let planned = prepare(&[]).and_then(|planned| {
            let broadcasts = planned.small_sides(&StageTasks::source_bytes(&journaled.record.inputs));
            match broadcasts.is_empty() {
                true => Ok(planned),
                false => prepare(&broadcasts).map(|chosen| {
                    if fits(&chosen.plan.stages, &journaled.record.inputs) { chosen } else { planned }
                }),
            }
        });
        let prepared = match planned {
            Ok(prepared) => prepared,
            Err(error) => {
                tracing::warn!(job = %id, %error, "cannot take back a journaled job");
                return;
            }
        };
        let broadcasts = prepared.broadcasts.clone();
        // A journal of an earlier release has no times (its jobs count from now) and no owners
        // (its jobs are the default tenant's).
        let now = self.now();
        let owner = journaled.owner.unwrap_or_else(Owner::unrecorded);
        let terms = self.terms(&prepared, owner);
        let mut run =
            JobRun::from_record(journaled.record, &prepared.plan.stages, journaled.submitted.unwrap_or(now))
                .with_terms(terms)
                .with_broadcasts(broadcasts);
        let done = journaled.done.len();
        for (stage, index, task) in journaled.done {
            run.restore_done(stage, index, task);
        }
        for (stage, cost) in journaled.costs {
            run.restore_cost(stage, cost);
        }
        match journaled.ended {
            Some((state, failure)) => run.restore_end(state, failure, journaled.ended_at.unwrap_or(now)),
            None => {
                let attempts = run.cost().attempts;
                tracing::info!(job = %id, tasks_done = done, attempts_counted = attempts, "resuming a journaled job");
                self.prepared.lock().insert(id.clone(), Arc::new(prepared));
            }
        }
        let status = run.status(now);
        self.watchers.lock().insert(id, Watched::new(status));
        self.core.lock().restore(run);
    }

    /// Applies an event to the core, publishes the statuses it changed, and runs its actions.
    fn act(self: &Arc<Self>, event: impl FnOnce(&mut SchedulerCore, Duration) -> Vec<Action>) {
        let now = self.now();
        let actions = {
            let mut core = self.core.lock();
            let actions = event(&mut core, now);
            // A job's end is on disk before anything acts on it; task updates may lag a little
            // (after a crash, a task whose update was lost runs again).
            let updates = core.take_journal();
            if updates.iter().any(|(_, update)| matches!(update, JournalUpdate::Ended { .. })) {
                self.journal_writer.write_and_wait(updates);
            } else {
                self.journal_writer.write(updates);
            }
            self.publish(&core, now);
            actions
        };
        for action in actions {
            self.run_action(action);
        }
    }

    /// Records in the audit log that `job` ended, with what it cost (and, if a budget stopped
    /// it, that too): once its cleanup is done, when its tasks have stopped and reported what
    /// they used.
    fn record_end(&self, core: &SchedulerCore, job: &JobId, now: Duration) {
        let Ok(mut status) = core.status(Some(job), now) else { return };
        let status = status.remove(0);
        let tenant = Some(status.owner.tenant.clone());
        let at_unix_ms = now.as_millis() as u64;
        let record = |event| {
            self.audit.append(&AuditRecord {
                at_unix_ms,
                tenant: tenant.clone(),
                identity: "scheduler".into(),
                event,
            })
        };
        if let (Some(JobFailure::OverBudget { .. }), JobState::Failed { cause }) =
            (&status.failure, &status.state)
        {
            record(AuditEvent::Budget { job: job.clone(), cause: cause.clone() });
        }
        self.measures.finished(&status.owner.tenant, &status.state);
        record(AuditEvent::Ended { job: job.clone(), state: status.state, cost: status.cost });
    }

    /// Appends what `peer` did (or tried) to the audit log.
    fn record(&self, peer: Option<&Peer>, event: AuditEvent) {
        self.audit.append(&AuditRecord {
            at_unix_ms: self.now().as_millis() as u64,
            tenant: peer.and_then(Peer::acting_tenant),
            identity: Peer::describe(peer),
            event,
        });
    }

    /// What a job of `owner` prepared as `prepared` may use: its manifest's `priority` and
    /// `max_cpu` (or its tenant's `max_cpu_per_job`), and each stage's operator memory.
    fn terms(&self, prepared: &PreparedJob, owner: Owner) -> JobTerms {
        let config = self.config.tenants.tenants.get(&owner.tenant);
        let max_cpu = prepared.manifest.max_cpu.or_else(|| config.and_then(|c| c.max_cpu_per_job));
        JobTerms {
            priority: prepared.manifest.priority.unwrap_or(0),
            max_cpu_us: max_cpu.map(budget::micros),
            stage_memory: prepared.stage_memory(),
            owner,
        }
    }

    /// Sends every watched job's current status to its watchers (jobs being cleaned up excepted),
    /// at most every [`PUBLISH_EVERY`] while the job runs: building a status costs a pass over
    /// the job's tasks, and reports may come thousands of times a second. A job's end is always
    /// sent, and the heartbeat tick sends what was held back.
    fn publish(&self, core: &SchedulerCore, now: Duration) {
        // A job's last status, once sent, is the watch channel's final value: the channel is
        // dropped so that later events do not rebuild the status of every job that ever ran.
        self.watchers.lock().retain(|job, watched| {
            if core.is_cleaning_up(job) {
                return true;
            }
            let recent = watched.sent_at.is_some_and(|at| now.saturating_sub(at) < PUBLISH_EVERY);
            if recent && !core.is_ended(job) {
                return true;
            }
            watched.sent_at = Some(now);
            let Ok(mut status) = core.status(Some(job), now) else { return false };
            let status = status.remove(0);
            let finished = status.is_finished();
            watched.sender.send_if_modified(|old| {
                let changed = *old != status;
                *old = status;
                changed
            });
            !finished
        });
    }

    fn run_action(self: &Arc<Self>, action: Action) {
        let shared = self.clone();
        match action {
            Action::Launch { executor, spec } => {
                tokio::spawn(async move { shared.launch(executor, spec).await });
            }
            Action::Commit { job, parts } => {
                tokio::spawn(async move {
                    let result = shared.commit(&job, parts).await;
                    shared.act(|core, now| core.committed(&job, result, now));
                });
            }
            Action::CleanUp { job, executors, shuffle_holders, abort_output } => {
                tokio::spawn(async move {
                    shared.clean_up(&job, executors, shuffle_holders, abort_output).await;
                    shared.prepared.lock().remove(&job);
                    shared.act(|core, now| {
                        shared.record_end(core, &job, now);
                        core.cleaned_up(&job, now)
                    });
                });
            }
            Action::Forget { jobs, plugins } => {
                tracing::info!(?jobs, "forgot finished jobs past the retention");
                tokio::spawn(async move { shared.remove_plugins(plugins) });
            }
        }
    }

    /// Removes from the store (and from the runtime's memory) those of `plugins` that no job
    /// uses, now that the lock keeps new jobs out.
    fn remove_plugins(&self, plugins: Vec<PluginDigest>) {
        let _removing = self.removing_plugins.lock();
        let in_use = self.core.lock().plugins_in_use();
        for digest in plugins.iter().filter(|digest| !in_use.contains(digest)) {
            self.runtime.forget(digest);
            match self.plugins.remove(digest) {
                Ok(()) => tracing::info!(%digest, "removed a component no job uses"),
                Err(error) => tracing::warn!(%digest, %error, "cannot remove a component"),
            }
        }
    }

    /// Journals and queues (or starts) an accepted job, unless its tenant is at a limit now or a
    /// component it uses was removed since it was checked (its submitter then sends it again).
    fn enqueue(
        self: &Arc<Self>,
        run: JobRun,
        prepared: PreparedJob,
        peer: Option<&Peer>,
    ) -> Result<JobId, RequestError> {
        let _removing = self.removing_plugins.lock();
        let owner = run.terms().owner.clone();
        if let Some(digest) =
            run.plugins().into_iter().find(|digest| !self.plugins.owned_by(digest, &owner.tenant))
        {
            return Err(RequestError::UnknownPlugin { digest });
        }
        let job = run.id().clone();
        let record = run.record();
        let submitted = AuditEvent::Submitted {
            job: job.clone(),
            name: prepared.manifest.name.clone(),
            manifest_sha256: PluginDigest::of(record.descriptor.manifest.as_bytes()).to_hex(),
            plugins: run.plugins(),
        };
        self.prepared.lock().insert(job.clone(), Arc::new(prepared));
        // Admission, the journal and the core under one lock: no other job of the tenant slips
        // in between the check and the submission.
        let mut outcome = Ok(Vec::new());
        self.act(|core, _| {
            outcome = core
                .admit(&owner.tenant)
                .and_then(|_| {
                    self.journal.add_job(&record, &owner, run.submitted()).map_err(|error| {
                        RequestError::InvalidJob { reason: format!("cannot journal the job: {error}") }
                    })
                })
                .and_then(|()| core.submit(run));
            outcome.as_mut().map(std::mem::take).unwrap_or_default()
        });
        if let Err(error) = outcome {
            self.prepared.lock().remove(&job);
            self.refused(peer, "submit", &error);
            return Err(error);
        }
        self.record(peer, submitted);
        self.measures.submitted(&owner.tenant);
        tracing::info!(%job, tenant = %owner.tenant, "job accepted");
        Ok(job)
    }

    /// Records a refused request of `peer` in the audit log.
    fn refused(&self, peer: Option<&Peer>, request: &str, error: &RequestError) {
        self.record(peer, AuditEvent::Refused { request: request.to_owned(), reason: error.to_string() });
    }

    /// Sends the status of `job`, or of every job, one job per frame (see
    /// [`SchedulerRequest::Status`]).
    async fn send_statuses(
        self: &Arc<Self>,
        peer: &Peer,
        job: Option<JobId>,
        send: &mut FrameSender,
    ) -> Result<(), TransportError> {
        let Some(job) = job else {
            let jobs = self.core.lock().job_ids();
            for job in jobs {
                // A job forgotten since the list was taken is left out, as is another tenant's
                // (whose status is not even built).
                let status =
                    self.visible(peer, &job).and_then(|()| self.core.lock().status(Some(&job), self.now()));
                if let Ok(status) = status {
                    send.send(&SchedulerResponse::Jobs(status)).await?;
                }
            }
            return send.finish();
        };
        let status = Scheduler::from(self).job(peer, &job).map(|status| vec![status]);
        send.send(&status.map_or_else(SchedulerResponse::Error, SchedulerResponse::Jobs)).await?;
        send.finish()
    }

    async fn launch(self: &Arc<Self>, executor: ExecutorId, spec: Box<flicker_protocol::task::TaskSpec>) {
        let task = spec.task.clone();
        let attempt = spec.attempt;
        let connection = self.executors.lock().get(&executor).cloned();
        let failed = |cause: String| {
            let failure = TaskFailure::new(FailureKind::ExecutorUnreachable, cause);
            (TaskReport::Failed(failure), Vec::new(), TaskUsage::default())
        };
        let capability = match self.grants.grant(&task.job) {
            Ok(capability) => capability,
            Err(error) => {
                let failure = TaskFailure::new(
                    FailureKind::Prepare,
                    format!("cannot grant the task's capability: {error}"),
                );
                self.act(|core, now| {
                    let report = TaskReport::Failed(failure);
                    core.report(&task, attempt, &executor, report, Vec::new(), TaskUsage::default(), now)
                });
                return;
            }
        };
        let launched = Instant::now();
        let (report, log, usage) = match connection {
            Some(connection) => match tokio::time::timeout(
                self.config.task_timeout,
                connection.call(&ExecutorRequest::Launch { spec, capability }),
            )
            .await
            {
                Err(_) => {
                    let ms = self.config.task_timeout.as_millis().try_into().unwrap_or(u64::MAX);
                    let message = format!(
                        "executor {executor} did not report the task within the task timeout of {:?}",
                        self.config.task_timeout
                    );
                    (
                        TaskReport::Failed(TaskFailure::new(FailureKind::TaskTimeout { ms }, message)),
                        Vec::new(),
                        TaskUsage::default(),
                    )
                }
                Ok(Ok(ExecutorResponse::Task(report, log, usage))) => (report, log, usage),
                Ok(Ok(other)) => failed(format!("executor {executor} answered {other:?}")),
                // The executor is gone: its loss puts the task back in the queue.
                Ok(Err(_)) if connection.is_closed() => return,
                Ok(Err(error)) => failed(format!("lost contact with executor {executor}: {error}")),
            },
            None => return,
        };
        self.act(|core, now| {
            let tenant = core.job(&task.job).map(|job| job.terms().owner.tenant.clone());
            self.measures.attempt(tenant.as_ref(), &report, usage, launched.elapsed());
            core.report(&task, attempt, &executor, report, log, usage, now)
        });
    }

    async fn commit(&self, job: &JobId, parts: Vec<(String, Vec<SinkPart>)>) -> Result<(), CommitFailure> {
        let prepared = self.prepared.lock().get(job).cloned();
        for (sink, parts) in parts {
            let Some(prepared) = &prepared else {
                return Err(CommitFailure { sink, cause: "the job's plan is gone".into() });
            };
            let parts: Vec<StagedPart> = parts
                .into_iter()
                .map(|SinkPart { name, size, attempt }| StagedPart {
                    part: PartFile { name, size },
                    attempt: attempt.0,
                })
                .collect();
            let committer = OutputCommitter::new(prepared.sinks[&sink].clone(), job.0.clone());
            if let Err(source) = committer.commit(&parts, prepared.commit_mode(&sink)).await {
                let cause = JobError::Commit { sink: sink.clone(), source: Box::new(source) }.to_string();
                return Err(CommitFailure { sink, cause });
            }
        }
        Ok(())
    }

    /// Stops the job's tasks, removes its uncommitted parts (unless it succeeded) and its
    /// shuffle output.
    async fn clean_up(&self, job: &JobId, executors: Vec<ExecutorId>, holders: Vec<SocketAddr>, abort: bool) {
        let connections: Vec<_> =
            executors.iter().filter_map(|e| self.executors.lock().get(e).cloned()).collect();
        let end = ExecutorRequest::EndJob { job: job.clone() };
        let ends = connections.iter().map(|c| c.call::<_, ExecutorResponse>(&end));
        for result in futures::future::join_all(ends).await {
            if let Err(error) = result {
                tracing::warn!(%job, %error, "could not tell an executor the job ended");
            }
        }
        if abort {
            let prepared = self.prepared.lock().get(job).cloned();
            for location in prepared.iter().flat_map(|p| p.sinks.values()) {
                if let Err(error) = OutputCommitter::new(location.clone(), job.0.clone()).abort().await {
                    tracing::warn!(%job, %error, "removing the parts of a failed job");
                }
            }
        }
        // A cancelled job may have map output no report announced yet: ask every live BTS.
        let mut holders: HashSet<SocketAddr> = holders.into_iter().collect();
        holders.extend(self.core.lock().alive_bts());
        for bts in holders {
            if let Err(error) = self.bts.remove_job(bts, job).await {
                tracing::warn!(%job, %bts, %error, "could not remove the job's shuffle output");
            }
        }
    }

    /// Whether `peer` may see `job`: another tenant's job is as good as absent.
    fn visible(&self, peer: &Peer, job: &JobId) -> Result<(), RequestError> {
        let owner = self.core.lock().job(job).map(|run| run.terms().owner.clone());
        match owner {
            Some(owner) if self.config.tenants.may_see(peer, &owner) => Ok(()),
            _ => Err(RequestError::UnknownJob { job: job.clone() }),
        }
    }

    fn watch(&self, job: &JobId) -> Result<watch::Receiver<JobStatus>, RequestError> {
        let status = self.core.lock().status(Some(job), self.now())?.remove(0);
        let mut watchers = self.watchers.lock();
        let watched = watchers.entry(job.clone()).or_insert_with(|| Watched::new(status));
        Ok(watched.sender.subscribe())
    }

    /// Validates and plans a job `owner` submitted and lists its inputs; the job is not queued
    /// yet. Refused at once if the tenant is at a limit.
    fn accept(&self, submission: Submission, owner: Owner) -> Result<(JobRun, PreparedJob), RequestError> {
        self.core.lock().admit(&owner.tenant)?;
        let job = JobId(format!(
            "job-{}-{}",
            self.epoch.as_millis(),
            self.next_job.fetch_add(1, Ordering::Relaxed)
        ));
        let refs: PluginRefs = submission.plugins.iter().cloned().collect();
        let descriptor = JobDescriptor {
            job,
            manifest_path: submission.manifest_path,
            manifest: submission.manifest,
            base_dir: submission.base_dir,
            plugins: submission
                .plugins
                .iter()
                .filter_map(|(name, d)| Some((name.clone(), *d.as_ref().ok()?)))
                .collect(),
            defaults: submission.defaults.unwrap_or(self.config.defaults),
        };
        let invalid = |error: &dyn std::fmt::Display| RequestError::InvalidJob { reason: error.to_string() };
        // The tenant's jobs reach its own cloud locations only, within the node's.
        let mut storage = self.config.storage.clone();
        if let Some(locations) = self.config.tenants.locations.get(&owner.tenant) {
            storage.policy = storage.policy.narrow_locations(locations.clone());
        }
        let prepare = |broadcasts: &[ChosenBroadcast]| {
            PreparedJob::from_submission(
                &descriptor,
                broadcasts,
                &refs,
                &self.runtime,
                &self.plugins,
                &storage,
            )
            .map_err(|e| invalid(&e))
        };
        let io = tokio::runtime::Handle::current();
        let planned = prepare(&[])?;
        // Each source listed once: its objects make the splits of every stage reading it, and
        // its size chooses the joins broadcast (the journal gives the same sizes back).
        let mut listings = HashMap::new();
        for stage in &planned.plan.stages {
            if let StageInput::Source { source } = &stage.input
                && !listings.contains_key(source)
            {
                let objects = io
                    .block_on(list_inputs(&planned.sources[source].0))
                    .map_err(|e| invalid(&format!("source {source:?}: {e}")))?;
                listings.insert(source.clone(), objects);
            }
        }
        let slots = self.core.lock().alive_slots().max(1) as usize;
        let inputs_of = |prepared: &PreparedJob| stage_inputs(prepared, &listings, slots);
        let broadcasts = planned.small_sides(&StageTasks::source_bytes(&inputs_of(&planned)));
        let prepared = if broadcasts.is_empty() { planned } else { prepare(&broadcasts)? };
        prepared.check_limits(&self.config.maxima).map_err(|e| invalid(&e))?;
        let terms = self.terms(&prepared, owner);
        let max_memory = self.config.tenants.tenants.get(&terms.owner.tenant).and_then(|c| c.max_memory);
        if let Some((stage, memory)) = max_memory
            .and_then(|max| terms.stage_memory.iter().enumerate().find(|(_, memory)| **memory > max))
        {
            let mib = |bytes: u64| format!("{:.1} MiB", bytes as f64 / f64::from(1 << 20));
            return Err(invalid(&format!(
                "{}: a task of stage {stage} holds {} of operator memory (the sum of its steps' limits.memory), more than tenant {:?}'s max_memory of {}: lower the steps' memory limits",
                prepared.manifest.file.display(),
                mib(*memory),
                terms.owner.tenant.0,
                mib(max_memory.unwrap_or(0))
            )));
        }
        for sink in &prepared.manifest.sinks {
            let location = &prepared.sinks[&sink.id];
            if let Err(refused) = io.block_on(check_destination(location, prepared.commit_mode(&sink.id))) {
                let file = &prepared.manifest.file;
                return Err(invalid(&format!(
                    "{}:{}: sink {:?}: {refused}",
                    file.display(),
                    sink.line,
                    sink.id
                )));
            }
        }
        let inputs = inputs_of(&prepared);
        let outputs = prepared
            .manifest
            .sinks
            .iter()
            .map(|s| (s.id.clone(), prepared.sinks[&s.id].url().to_owned()))
            .collect();
        let name = prepared.manifest.name.clone();
        let retry = RetryPolicy {
            max_attempts: prepared.manifest.max_attempts.unwrap_or(descriptor.defaults.max_attempts).max(1),
            exclude_after: self.config.exclude_after.max(1),
        };
        let run = JobRun::new(descriptor, name, &prepared.plan.stages, inputs, outputs, retry, self.now())
            .with_terms(terms)
            .with_broadcasts(broadcasts);
        Ok((run, prepared))
    }
}

/// Whether the journaled `inputs` are those of `stages`: as many, each source stage's splits of
/// its source.
fn fits(stages: &[flicker_scheduler_core::StagePlan], inputs: &[StageTasks]) -> bool {
    stages.len() == inputs.len()
        && stages.iter().zip(inputs).all(|(stage, input)| match (&stage.input, input) {
            (StageInput::Source { source }, StageTasks::Splits { source: split_of, .. }) => {
                source == split_of
            }
            (StageInput::Source { .. }, _) | (_, StageTasks::Splits { .. }) => false,
            _ => true,
        })
}

/// What the tasks of each stage of `prepared` read: a source's splits (of its objects in
/// `listings`, sized for `slots` task slots unless the source sets `split_size`), or shuffles.
fn stage_inputs(
    prepared: &PreparedJob,
    listings: &HashMap<String, Vec<InputObject>>,
    slots: usize,
) -> Vec<StageTasks> {
    prepared
        .plan
        .stages
        .iter()
        .map(|stage| match &stage.input {
            StageInput::Source { source } => {
                let objects = listings.get(source).map_or(&[][..], Vec::as_slice);
                let total = objects.iter().map(|o| o.size).sum();
                let size = prepared.sources[source]
                    .1
                    .unwrap_or_else(|| split_size_for(total, slots, prepared.defaults.split_size));
                StageTasks::Splits {
                    source: source.clone(),
                    splits: plan_splits(objects, size).iter().map(split_range).collect(),
                }
            }
            StageInput::Shuffle { .. }
            | StageInput::Gathered { .. }
            | StageInput::CoGroup { .. }
            | StageInput::Sorted { .. } => StageTasks::Shuffled,
        })
        .collect()
}

/// Connections one certificate may hold open to the scheduler at once: a client opens one per
/// command; an executor one.
const MAX_CONNECTIONS_PER_PEER: usize = 16;

/// How long a job's shuffle capability is valid: far longer than a task runs (the job's tasks
/// share it until half of this is left, then get a new one), short enough that a leaked one soon
/// stops working.
const CAPABILITY_VALIDITY: Duration = Duration::from_secs(24 * 3600);

/// Logs a request of `peer` that failed: at warn, with who sent it, when the peer broke the
/// protocol.
fn log_failed_request(connection: &Connection, peer: Option<&Peer>, error: &TransportError) {
    if error.is_protocol_violation() {
        let peer = Peer::describe(peer);
        tracing::warn!(%peer, address = %connection.remote_address(), %error, "a request broke the protocol");
    } else {
        tracing::debug!(%error, "a request failed");
    }
}

/// Whether `peer` may make `request`: executors join, beat and fetch components, each under the
/// name of its certificate; clients and admins submit, upload, watch, inspect and cancel jobs
/// (which jobs, [`TenantPolicy`] says), and submitting and uploading need a tenant to act for.
/// The refusal says why, for the peer and the log.
fn permitted(request: &SchedulerRequest, peer: Option<&Peer>) -> Result<(), String> {
    let Some(peer) = peer else { return Err("the certificate names no role".to_owned()) };
    const NODE: &[Role] = &[Role::Executor];
    const USER: &[Role] = &[Role::Client, Role::Admin];
    let (wanted, what) = match request {
        SchedulerRequest::Register(_) => (NODE, "join the cluster as an executor"),
        SchedulerRequest::Heartbeat { .. } => (NODE, "send an executor's heartbeat"),
        SchedulerRequest::FetchPlugin { .. } => (NODE, "fetch a component"),
        SchedulerRequest::MissingPlugins { .. } | SchedulerRequest::UploadPlugin { .. } => {
            (USER, "upload components")
        }
        SchedulerRequest::Submit(_) => (USER, "submit a job"),
        SchedulerRequest::Status { .. } | SchedulerRequest::Watch { .. } | SchedulerRequest::Logs { .. } => {
            (USER, "see jobs")
        }
        SchedulerRequest::Cancel { .. } => (USER, "cancel a job"),
        SchedulerRequest::Nodes => (USER, "list the cluster's nodes"),
        SchedulerRequest::Usage { .. } => (USER, "see usage"),
        SchedulerRequest::CreateToken { .. } => (USER, "ask for a token"),
        SchedulerRequest::Audit { .. } => (USER, "read the audit log"),
    };
    if !wanted.contains(&peer.role) {
        let roles: Vec<String> = wanted.iter().map(|role| format!("{role}s")).collect();
        return Err(format!("{peer} may not {what}: only {} may", roles.join(" and ")));
    }
    let acts_for_a_tenant = matches!(
        request,
        SchedulerRequest::MissingPlugins { .. }
            | SchedulerRequest::UploadPlugin { .. }
            | SchedulerRequest::Submit(_)
    );
    if acts_for_a_tenant && let Err(RequestError::Forbidden { reason }) = api::acting_tenant(peer, what) {
        return Err(reason);
    }
    let claimed = match request {
        SchedulerRequest::Register(registration) => Some(&registration.executor),
        SchedulerRequest::Heartbeat { executor, .. } => Some(executor),
        _ => None,
    };
    match claimed {
        Some(executor) if executor.0 != peer.name => Err(format!(
            "{peer} may not {what} as {:?}: an executor is the name of its certificate",
            executor.0
        )),
        _ => Ok(()),
    }
}

/// Expires silent executors every heartbeat interval.
async fn tick(shared: Arc<Shared>) {
    let mut interval = tokio::time::interval(shared.config.heartbeat);
    loop {
        interval.tick().await;
        shared.act(|core, now| core.tick(now));
    }
}

/// Answers the requests of one connection until it closes; if it was an executor's registration
/// connection, the executor is lost.
async fn serve_connection(shared: Arc<Shared>, connection: Connection) {
    let registered: Arc<Mutex<Option<ExecutorId>>> = Arc::default();
    // Who the peer is, read from its certificate once for all its requests.
    let peer = Arc::new(connection.peer());
    let ended = loop {
        match connection.accept_stream().await {
            Ok(Some((recv, send))) => {
                let (shared, connection, registered, peer) =
                    (shared.clone(), connection.clone(), registered.clone(), peer.clone());
                tokio::spawn(async move {
                    let peer = peer.as_ref().as_ref();
                    if let Err(error) = answer(&shared, &connection, peer, &registered, recv, send).await {
                        log_failed_request(&connection, peer, &error);
                    }
                });
            }
            // Closed on purpose: say by whom and why (an executor that stops says so).
            Ok(None) => break connection.closed().await.to_string(),
            Err(error) => {
                tracing::debug!(%error, "connection closed");
                break error.to_string();
            }
        }
    };
    let executor = registered.lock().take();
    if let Some(executor) = executor {
        let current = shared.executors.lock().get(&executor).is_some_and(|c| c.id() == connection.id());
        if current {
            tracing::info!(%executor, reason = %ended, "executor disconnected");
            shared.executors.lock().remove(&executor);
            shared.act(|core, now| core.connection_lost(&executor, now));
        }
    }
}

async fn answer(
    shared: &Arc<Shared>,
    connection: &Connection,
    peer: Option<&Peer>,
    registered: &Mutex<Option<ExecutorId>>,
    mut recv: FrameReceiver,
    mut send: FrameSender,
) -> Result<(), TransportError> {
    let Some(request) = read_request(&mut recv, &mut send).await? else { return Ok(()) };
    let allowed = permitted(&request, peer).and_then(|()| peer.ok_or_else(String::new));
    let peer = match allowed {
        Ok(peer) => peer,
        Err(reason) => {
            let who = Peer::describe(peer);
            tracing::warn!(peer = %who, address = %connection.remote_address(), %reason, "refused a request");
            shared.record(
                peer,
                AuditEvent::Refused { request: request_name(&request).into(), reason: reason.clone() },
            );
            send.send(&SchedulerResponse::Error(RequestError::Forbidden { reason })).await?;
            return send.finish();
        }
    };
    // The tenant a client acts for (checked by `permitted` where a request needs one).
    let tenant = peer.acting_tenant().unwrap_or_else(TenantId::default_tenant);
    let api = Scheduler::from(shared);
    let response = match request {
        SchedulerRequest::MissingPlugins { digests } => SchedulerResponse::Missing(
            digests.into_iter().filter(|d| !shared.plugins.owned_by(d, &tenant)).collect(),
        ),
        SchedulerRequest::CreateToken { tenant, ttl_ms } => {
            match api.create_token(peer, tenant, Duration::from_millis(ttl_ms)) {
                Ok((token, expires_unix_ms)) => SchedulerResponse::Token { token, expires_unix_ms },
                Err(error) => SchedulerResponse::Error(error),
            }
        }
        SchedulerRequest::UploadPlugin { digest, len } => {
            let stored = shared.plugins.receive(digest, len, &mut recv).await;
            match shared.stored(peer, digest, len, &tenant, stored) {
                Ok(()) => SchedulerResponse::Uploaded,
                Err(error) => SchedulerResponse::Error(error),
            }
        }
        SchedulerRequest::Submit(submission) => match api.submit(peer, submission).await {
            Ok(job) => SchedulerResponse::Submitted { job },
            Err(error) => SchedulerResponse::Error(error),
        },
        SchedulerRequest::Status { job } => return shared.send_statuses(peer, job, &mut send).await,
        SchedulerRequest::Logs { job, task } => {
            match shared.visible(peer, &job).and_then(|()| shared.core.lock().logs(&job, task)) {
                Ok(attempts) => SchedulerResponse::Logs(attempts),
                Err(error) => SchedulerResponse::Error(error),
            }
        }
        SchedulerRequest::Watch { job } => {
            let mut watcher = match api.watch(peer, &job) {
                Ok(watcher) => watcher,
                Err(error) => {
                    send.send(&SchedulerResponse::Error(error)).await?;
                    return send.finish();
                }
            };
            loop {
                let status = watcher.borrow_and_update().clone();
                let finished = status.is_finished();
                send.send(&SchedulerResponse::Progress(Box::new(status))).await?;
                if finished || watcher.changed().await.is_err() {
                    return send.finish();
                }
            }
        }
        SchedulerRequest::Cancel { job } => match api.cancel(peer, job).await {
            Ok(()) => SchedulerResponse::Cancelled,
            Err(error) => SchedulerResponse::Error(error),
        },
        SchedulerRequest::Nodes => SchedulerResponse::Nodes(shared.core.lock().nodes(shared.now())),
        SchedulerRequest::Usage { tenant, since_unix_ms } => {
            match shared.config.tenants.usage_scope(peer, tenant) {
                Ok(scope) => {
                    let audit = shared.clone();
                    let usage = tokio::task::spawn_blocking(move || {
                        audit
                            .audit
                            .usage(since_unix_ms.unwrap_or(0), |t| scope.as_ref().is_none_or(|s| s == t))
                    })
                    .await;
                    match usage {
                        Ok(Ok(usage)) => SchedulerResponse::Usage(usage),
                        Ok(Err(error)) => SchedulerResponse::Error(RequestError::BadRequest {
                            reason: format!("cannot read the audit log: {error}"),
                        }),
                        Err(error) => {
                            SchedulerResponse::Error(RequestError::BadRequest { reason: error.to_string() })
                        }
                    }
                }
                Err(reason) => SchedulerResponse::Error(RequestError::Forbidden { reason }),
            }
        }
        SchedulerRequest::Audit { tenant, since_unix_ms } => {
            match shared.config.tenants.audit_scope(peer, tenant) {
                Ok(scope) => return send_audit(shared, scope, since_unix_ms.unwrap_or(0), &mut send).await,
                Err(reason) => SchedulerResponse::Error(RequestError::Forbidden { reason }),
            }
        }
        SchedulerRequest::Register(registration) => {
            let executor = registration.executor.clone();
            *registered.lock() = Some(executor.clone());
            shared.executors.lock().insert(executor.clone(), connection.clone());
            let address = connection.remote_address();
            shared.act(|core, now| core.register(registration, address, now));
            tracing::info!(%executor, %address, "executor registered");
            SchedulerResponse::Registered { heartbeat_ms: shared.config.heartbeat.as_millis() as u64 }
        }
        SchedulerRequest::Heartbeat { executor, shuffle_served_bytes } => {
            match shared.core.lock().heartbeat(&executor, shuffle_served_bytes, shared.now()) {
                Ok(()) => SchedulerResponse::Alive,
                Err(error) => SchedulerResponse::Error(error),
            }
        }
        SchedulerRequest::FetchPlugin { digest } => {
            let plugins = shared.plugins.clone();
            match tokio::task::spawn_blocking(move || plugins.get(&digest)).await {
                Ok(Ok(bytes)) => {
                    send.send(&SchedulerResponse::Plugin { len: bytes.len() as u64 }).await?;
                    send.send_bytes(&bytes).await?;
                    return send.finish();
                }
                _ => SchedulerResponse::Error(RequestError::UnknownPlugin { digest }),
            }
        }
    };
    send.send(&response).await?;
    send.finish()
}

/// Sends the audit records of `scope` (one tenant's, or all) at or after `since`, in frames of
/// at most [`AUDIT_CHUNK`] records, then ends the stream.
async fn send_audit(
    shared: &Arc<Shared>,
    scope: Option<TenantId>,
    since: u64,
    send: &mut FrameSender,
) -> Result<(), TransportError> {
    // Read on a blocking thread; the frames go out as they are read, a few chunks ahead at most.
    let (chunks, mut receiver) = tokio::sync::mpsc::channel(4);
    let reader = shared.clone();
    let read = tokio::task::spawn_blocking(move || {
        let keep = |record: &AuditRecord| scope.is_none() || record.tenant == scope;
        reader.audit.read(since, keep, AUDIT_CHUNK, |records| {
            chunks.blocking_send(records).ok();
        })
    });
    while let Some(records) = receiver.recv().await {
        send.send(&SchedulerResponse::Audit(records)).await?;
    }
    if let Ok(Err(error)) = read.await {
        let reason = format!("cannot read the audit log: {error}");
        send.send(&SchedulerResponse::Error(RequestError::BadRequest { reason })).await?;
    }
    send.finish()
}

/// Audit records per frame.
const AUDIT_CHUNK: usize = 256;

/// The name of a request, for the audit log.
fn request_name(request: &SchedulerRequest) -> &'static str {
    match request {
        SchedulerRequest::MissingPlugins { .. } => "missing_plugins",
        SchedulerRequest::UploadPlugin { .. } => "upload_plugin",
        SchedulerRequest::Submit(_) => "submit",
        SchedulerRequest::Status { .. } => "status",
        SchedulerRequest::Watch { .. } => "watch",
        SchedulerRequest::Logs { .. } => "logs",
        SchedulerRequest::Cancel { .. } => "cancel",
        SchedulerRequest::Nodes => "nodes",
        SchedulerRequest::Usage { .. } => "usage",
        SchedulerRequest::Audit { .. } => "audit",
        SchedulerRequest::CreateToken { .. } => "create_token",
        SchedulerRequest::Register(_) => "register",
        SchedulerRequest::Heartbeat { .. } => "heartbeat",
        SchedulerRequest::FetchPlugin { .. } => "fetch_plugin",
    }
}

/// Reads the request of a stream; one above [`MAX_REQUEST`] is refused from its header (the
/// answer says so), before its body is read.
async fn read_request(
    recv: &mut FrameReceiver,
    send: &mut FrameSender,
) -> Result<Option<SchedulerRequest>, TransportError> {
    match recv.recv_within(MAX_REQUEST).await {
        Err(TransportError::Frame { source: FrameError::TooLarge { size, max } }) => {
            let error =
                RequestError::TooLarge { what: Oversized::Request, size: size as u64, max: max as u64 };
            send.send(&SchedulerResponse::Error(error)).await?;
            send.finish()?;
            Ok(None)
        }
        read => read,
    }
}

/// A split as the scheduler core holds it: plain data.
fn split_range(split: &Split) -> SplitRange {
    SplitRange {
        object: split.object.to_string(),
        object_size: split.object_size,
        start: split.start,
        end: split.end,
    }
}
