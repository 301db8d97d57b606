//! An executor: joins the cluster, runs the tasks the scheduler sends in its slots, and serves its
//! map outputs through its BTS.
//!
//! It connects to the scheduler (retrying with backoff while the scheduler is away), registers,
//! and heartbeats. Tasks arrive on streams the scheduler opens on that connection; each runs on a
//! blocking thread and is answered with its report when it ends. If the connection breaks, the
//! executor connects and registers again. The BTS runs on the executor's own endpoint unless a
//! standalone BTS is named.

#![allow(
    clippy::result_large_err,
    reason = "a task's failure carries its whole story (step, plugin, record, the sandbox's error) and ends the task"
)]

mod failure;
mod faults;
mod jobs;
pub mod shuffle;
mod spill;
mod task;

pub use failure::{ShuffleWriteError, TaskCause, TaskError};
pub use faults::{Fault, Faults};
pub use jobs::ShuffleTarget;
pub use spill::SpillError;

use flicker_bts::{BtsClient, FetchLimits, ShuffleStore};
use flicker_host::{PluginDigest, Runtime};
use flicker_job::{ComponentError, ComponentSource};
use flicker_protocol::ExecutorId;
use flicker_protocol::failure::{FailureKind, TaskFailure};
use flicker_protocol::scheduler::{
    ExecutorRequest, ExecutorResponse, MAX_COMPONENT, Registration, RequestError, SchedulerRequest,
    SchedulerResponse,
};
use flicker_storage::NodeStorage;
use flicker_transport::{
    CapabilityCheck, Connection, Endpoint, EndpointConfig, FrameReceiver, FrameSender, Identity, Role,
    TransportError,
};
use jobs::Jobs;
use parking_lot::Mutex;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

/// How an executor is set up.
#[derive(Debug, Clone)]
pub struct ExecutorConfig {
    /// Its name in the cluster.
    pub id: ExecutorId,
    /// The scheduler's address.
    pub scheduler: SocketAddr,
    /// Where its endpoint (and its BTS) listens.
    pub listen: SocketAddr,
    /// Its certificate and the cluster CA.
    pub identity: Identity,
    /// Tasks it runs at once.
    pub slots: u32,
    /// Memory it offers to tasks, in bytes.
    pub memory: u64,
    /// Where its BTS keeps shuffle files.
    pub work_dir: PathBuf,
    /// A standalone BTS to keep map outputs on instead of its own.
    pub bts: Option<SocketAddr>,
    /// Faults to inject (tests of recovery only).
    pub faults: Faults,
    /// Settings of the cloud stores' clients, under each job's own `[storage]`, and what jobs may
    /// reach (checked again when it prepares a job).
    pub storage: NodeStorage,
}

/// Why an executor could not start.
#[derive(Debug, thiserror::Error)]
pub enum ExecutorError {
    /// Its endpoint could not be set up.
    #[error("cannot start the executor's endpoint: {0}")]
    Transport(#[from] TransportError),
    /// Its work directory is unusable.
    #[error("cannot use the work directory {}: {source}", path.display())]
    WorkDir {
        /// The directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// A running executor.
pub struct Executor {
    config: ExecutorConfig,
    endpoint: Endpoint,
    bts: SocketAddr,
    /// The store of its own BTS, if it runs one (not with a standalone BTS).
    served_from: Option<Arc<ShuffleStore>>,
    jobs: Arc<Jobs>,
    slots: Arc<Semaphore>,
    scheduler: Arc<SchedulerLink>,
}

/// The current connection to the scheduler, for fetching components from a task's thread.
#[derive(Default)]
struct SchedulerLink {
    connection: Mutex<Option<Connection>>,
}

impl SchedulerLink {
    fn get(&self) -> Option<Connection> {
        self.connection.lock().clone()
    }

    fn set(&self, connection: Option<Connection>) {
        *self.connection.lock() = connection;
    }
}

/// Fetches components from the scheduler (from a task's blocking thread).
struct FetchFromScheduler {
    link: Arc<SchedulerLink>,
    io: tokio::runtime::Handle,
}

/// Why the scheduler did not hand out a component.
#[derive(Debug, thiserror::Error)]
enum SchedulerFetchError {
    /// The executor is between connections to the scheduler.
    #[error("not connected to the scheduler")]
    NotConnected,
    /// The connection failed.
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// The scheduler refused.
    #[error(transparent)]
    Refused(RequestError),
    /// The scheduler answered something else.
    #[error("unexpected answer {0}")]
    Unexpected(String),
    /// What it sent is not the component asked for.
    #[error("what it sent does not match the digest")]
    Mismatch,
}

impl FetchFromScheduler {
    fn fetch_from_scheduler(&self, digest: &PluginDigest) -> Result<Vec<u8>, SchedulerFetchError> {
        let connection = self.link.get().ok_or(SchedulerFetchError::NotConnected)?;
        let bytes = self.io.block_on(async {
            let (mut send, mut recv) = connection.open().await?;
            send.send(&SchedulerRequest::FetchPlugin { digest: *digest }).await?;
            send.finish()?;
            match recv.recv::<SchedulerResponse>().await? {
                Some(SchedulerResponse::Plugin { len }) => Ok(recv.recv_bytes(len, MAX_COMPONENT).await?),
                Some(SchedulerResponse::Error(error)) => Err(SchedulerFetchError::Refused(error)),
                other => Err(SchedulerFetchError::Unexpected(format!("{other:?}"))),
            }
        })?;
        if PluginDigest::of(&bytes) != *digest {
            return Err(SchedulerFetchError::Mismatch);
        }
        Ok(bytes)
    }
}

impl ComponentSource for FetchFromScheduler {
    fn fetch(&self, digest: &PluginDigest) -> Result<Vec<u8>, ComponentError> {
        self.fetch_from_scheduler(digest).map_err(|error| ComponentError {
            digest: *digest,
            from: "the scheduler",
            source: Box::new(error),
        })
    }
}

/// The reason an executor that stops gives the scheduler when it closes its connection.
pub const LEAVING: &str = "executor stopping";

/// How long an executor waits for the scheduler to answer a connection before trying again.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// Memory an executor's BTS may use for small map outputs (each at most 64 KiB) instead of files.
const SMALL_MAP_OUTPUTS_BUDGET: u64 = 256 << 20;

/// The executor's endpoint: its peers may open more streams than [`flicker_transport::MAX_STREAMS`]
/// when its slots call for it: the scheduler opens one per task launched here, and a peer's reduce
/// tasks fetch from this BTS up to [`FetchLimits::max_in_flight`] blocks at once each (for a peer
/// of this executor's size); 8 more leave room for job ends.
fn endpoint_config(config: &ExecutorConfig) -> EndpointConfig {
    let mut endpoint = EndpointConfig::new(config.identity.clone());
    let fetches = u32::try_from(FetchLimits::default().max_in_flight).unwrap_or(u32::MAX);
    let needed = config.slots.max(1).saturating_mul(fetches.saturating_add(1)).saturating_add(8);
    endpoint.max_streams = endpoint.max_streams.max(needed);
    endpoint
}

impl Executor {
    /// Binds the executor's endpoint and starts its BTS (unless `config.bts` names a standalone
    /// one). Call [`run`](Self::run) to join the cluster.
    pub async fn start(config: ExecutorConfig, runtime: Arc<Runtime>) -> Result<Self, ExecutorError> {
        let endpoint = Endpoint::bind(config.listen, endpoint_config(&config))?;
        let (shuffle_dir, spill_dir) = (config.work_dir.join("shuffle"), config.work_dir.join("spill"));
        for dir in [&shuffle_dir, &spill_dir] {
            std::fs::create_dir_all(dir)
                .map_err(|source| ExecutorError::WorkDir { path: dir.clone(), source })?;
        }
        let store = Arc::new(ShuffleStore::with_memory(shuffle_dir, SMALL_MAP_OUTPUTS_BUDGET));
        let served_from = config.bts.is_none().then(|| store.clone());
        let (bts, target) = match config.bts {
            Some(bts) => (bts, ShuffleTarget::Remote(bts)),
            None => {
                let check = Arc::new(CapabilityCheck::new(config.identity.clone()));
                tokio::spawn(flicker_bts::service::serve(endpoint.clone(), store.clone(), check));
                let address = endpoint.local_addr()?;
                (address, ShuffleTarget::Local { store, address })
            }
        };
        let scheduler = Arc::new(SchedulerLink::default());
        let components =
            Arc::new(FetchFromScheduler { link: scheduler.clone(), io: tokio::runtime::Handle::current() });
        let bts_client = Arc::new(BtsClient::new(endpoint.clone()));
        tokio::spawn(BtsClient::free_idle_buffers(Arc::downgrade(&bts_client)));
        let jobs = Arc::new(Jobs::new(
            runtime,
            components,
            bts_client,
            target,
            config.faults.clone(),
            config.storage.clone(),
            spill_dir,
        ));
        let slots = Arc::new(Semaphore::new(config.slots.max(1) as usize));
        Ok(Self { config, endpoint, bts, served_from, jobs, slots, scheduler })
    }

    /// The address of the executor's endpoint.
    pub fn local_addr(&self) -> Result<SocketAddr, TransportError> {
        self.endpoint.local_addr()
    }

    /// Joins the cluster and runs tasks, forever: a lost scheduler is reconnected to with backoff.
    pub async fn run(self) {
        let mut backoff = Backoff::default();
        loop {
            match self.session().await {
                Ok(()) => {
                    tracing::warn!(scheduler = %self.config.scheduler, "the scheduler closed the connection");
                    backoff = Backoff::default();
                }
                Err(error) => {
                    tracing::warn!(scheduler = %self.config.scheduler, %error, "cannot reach the scheduler")
                }
            }
            self.scheduler.set(None);
            stop_orphans(&self.jobs, "the connection to the scheduler is lost");
            tokio::time::sleep(backoff.next()).await;
        }
    }

    /// [`run`](Self::run) until `stop` completes (SIGTERM, say), then leaves the cluster at once:
    /// the scheduler is told by the closing of the registration connection (so it runs this
    /// executor's tasks elsewhere now, not after `--executor-timeout`), and so is every peer of
    /// the endpoint.
    pub async fn run_until(self, stop: impl Future<Output = ()>) {
        let (endpoint, scheduler) = (self.endpoint.clone(), self.scheduler.clone());
        tokio::select! {
            () = self.run() => {}
            () = stop => {}
        }
        if let Some(connection) = scheduler.get() {
            connection.close(0, LEAVING);
        }
        endpoint.close();
        if tokio::time::timeout(Duration::from_secs(2), endpoint.wait_idle()).await.is_err() {
            tracing::warn!("peers did not acknowledge the close within 2 s");
        }
    }

    /// One connection to the scheduler: register, heartbeat, run tasks until it closes.
    async fn session(&self) -> Result<(), TransportError> {
        let connect = self.endpoint.connect(self.config.scheduler, Role::Scheduler);
        let connection = tokio::time::timeout(CONNECT_TIMEOUT, connect).await.map_err(|_| {
            TransportError::ConnectTimeout { addr: self.config.scheduler, after: CONNECT_TIMEOUT }
        })??;
        let heartbeat = register(&connection, self.registration()).await?;
        self.scheduler.set(Some(connection.clone()));
        tracing::info!(executor = %self.config.id, scheduler = %self.config.scheduler, "registered");
        let beats = tokio::spawn(heartbeats(
            connection.clone(),
            self.config.id.clone(),
            heartbeat,
            self.registration(),
            self.jobs.clone(),
            self.served_from.clone(),
        ));
        let served = self.serve(&connection).await;
        beats.abort();
        served
    }

    fn registration(&self) -> Registration {
        Registration {
            executor: self.config.id.clone(),
            bts: self.bts,
            bts_in_process: self.config.bts.is_none(),
            slots: self.config.slots.max(1),
            memory: self.config.memory,
            plugins: Vec::new(),
        }
    }

    /// Answers the scheduler's requests until the connection closes.
    async fn serve(&self, connection: &Connection) -> Result<(), TransportError> {
        while let Some((recv, send)) = connection.accept_stream().await? {
            let jobs = self.jobs.clone();
            let slots = self.slots.clone();
            tokio::spawn(async move {
                if let Err(error) = answer(recv, send, jobs, slots).await {
                    tracing::warn!(%error, "a request from the scheduler failed");
                }
            });
        }
        Ok(())
    }
}

/// Registers; returns the heartbeat interval the scheduler wants.
async fn register(connection: &Connection, registration: Registration) -> Result<Duration, TransportError> {
    match connection.call(&SchedulerRequest::Register(registration)).await? {
        SchedulerResponse::Registered { heartbeat_ms } => Ok(Duration::from_millis(heartbeat_ms.max(10))),
        other => Err(TransportError::Config {
            reason: format!("the scheduler refused the registration: {other:?}"),
        }),
    }
}

/// Stops the tasks running here, whose scheduler will not take their reports (`why`).
fn stop_orphans(jobs: &Jobs, why: &str) {
    let stopped = jobs.stop_running();
    if stopped > 0 {
        tracing::warn!(tasks = stopped, "{why}: stopping the tasks running here");
    }
}

/// Sends heartbeats every `interval`; registers again if the scheduler forgot this executor,
/// stopping the tasks it launched here, which it runs elsewhere.
async fn heartbeats(
    connection: Connection,
    executor: ExecutorId,
    mut interval: Duration,
    registration: Registration,
    jobs: Arc<Jobs>,
    served_from: Option<Arc<ShuffleStore>>,
) {
    loop {
        tokio::time::sleep(interval).await;
        let shuffle_served_bytes = served_from.as_ref().map_or(0, |store| store.served_bytes());
        let beat = SchedulerRequest::Heartbeat { executor: executor.clone(), shuffle_served_bytes };
        let beat = connection.call(&beat).await;
        match beat {
            Ok(SchedulerResponse::Alive) => {}
            Ok(SchedulerResponse::Error(RequestError::NotRegistered { .. })) => {
                tracing::warn!(%executor, "the scheduler declared this executor lost: registering again");
                stop_orphans(&jobs, "the scheduler runs this executor's tasks elsewhere");
                match register(&connection, registration.clone()).await {
                    Ok(next) => interval = next,
                    Err(error) => tracing::warn!(%error, "registering again failed"),
                }
            }
            Ok(other) => tracing::warn!(?other, "unexpected answer to a heartbeat"),
            Err(error) => {
                tracing::debug!(%error, "heartbeat failed");
                return;
            }
        }
    }
}

/// Answers one request of the scheduler.
async fn answer(
    mut recv: FrameReceiver,
    mut send: FrameSender,
    jobs: Arc<Jobs>,
    slots: Arc<Semaphore>,
) -> Result<(), TransportError> {
    let Some(request) = recv.recv::<ExecutorRequest>().await? else { return Ok(()) };
    let response = match request {
        ExecutorRequest::Launch { spec, capability } => {
            let Ok(_slot) = slots.acquire_owned().await else { return Ok(()) };
            let io = tokio::runtime::Handle::current();
            let task = spec.task.clone();
            let (report, log, usage) = tokio::task::spawn_blocking(move || jobs.run(&spec, &capability, &io))
                .await
                .unwrap_or_else(|panic| {
                    let failure =
                        TaskFailure::new(FailureKind::ExecutorCrash, format!("{task} crashed: {panic}"));
                    // What the attempt consumed went with its thread.
                    (flicker_protocol::task::TaskReport::Failed(failure), Vec::new(), Default::default())
                });
            ExecutorResponse::Task(report, log, usage)
        }
        ExecutorRequest::EndJob { job } => {
            // Every task of the job checks its flag at its next batch; wait until they stopped.
            if let Some(ending) = jobs.end(&job) {
                while ending.running() > 0 {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
            ExecutorResponse::JobEnded
        }
    };
    send.send(&response).await?;
    send.finish()
}

/// Exponential backoff between reconnection attempts: 100 ms doubling to 5 s.
struct Backoff(Duration);

impl Default for Backoff {
    fn default() -> Self {
        Self(Duration::from_millis(100))
    }
}

impl Backoff {
    fn next(&mut self) -> Duration {
        let now = self.0;
        self.0 = (self.0 * 2).min(Duration::from_secs(5));
        now
    }
}
