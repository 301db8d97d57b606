//! Local mode: a scheduler and an executor in this process, talking QUIC over loopback with
//! throwaway certificates, so `flicker run` goes through exactly the code paths of a cluster.

use crate::{Client, ClientError};
use flicker_executor::{Executor, ExecutorConfig, ExecutorError};
use flicker_host::Runtime;
use flicker_job::LimitMaxima;
use flicker_protocol::ExecutorId;
use flicker_protocol::status::NodeState;
use flicker_protocol::task::JobDefaults;
use flicker_scheduler::{Retention, Scheduler, SchedulerConfig, SchedulerError, TenantPolicy};
use flicker_storage::{NodeStorage, StoreOptions};
use flicker_transport::{CertError, EphemeralCa, Role, TransportError};
use std::sync::Arc;
use std::time::Duration;

/// Why the in-process cluster could not start.
#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    /// The throwaway certificates could not be made.
    #[error("cannot make throwaway certificates: {0}")]
    Certificates(#[from] CertError),
    /// A temporary directory could not be made.
    #[error("cannot make a temporary directory: {0}")]
    TempDir(std::io::Error),
    /// The scheduler did not start.
    #[error(transparent)]
    Scheduler(#[from] SchedulerError),
    /// The executor did not start.
    #[error(transparent)]
    Executor(#[from] ExecutorError),
    /// The endpoint's address is unknown.
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// The client could not connect.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// The executor did not join in time.
    #[error("the in-process executor did not register within {0:?}")]
    NoExecutor(Duration),
}

/// A scheduler and one executor with `slots` task slots, in this process, and a client of them.
pub struct LocalCluster {
    /// The client, connected to the scheduler.
    pub client: Client,
    _state: tempfile::TempDir,
}

impl LocalCluster {
    /// Starts the cluster on the current tokio runtime and waits until the executor joined.
    /// Both open cloud stores with `storage` under each job's own settings, and let jobs reach
    /// everything this process may (the files are the user's own); jobs may give their operators
    /// limits up to `maxima`.
    pub async fn start(
        slots: u32,
        runtime: Arc<Runtime>,
        defaults: JobDefaults,
        maxima: LimitMaxima,
        storage: StoreOptions,
        tenants: TenantPolicy,
    ) -> Result<Self, LocalError> {
        let storage = NodeStorage::unrestricted(storage);
        let ca = EphemeralCa::new()?;
        let executor_id = ExecutorId("local".into());
        let (node, executor, client) = (
            ca.identity("scheduler", Role::Scheduler)?,
            ca.identity(&executor_id.0, Role::Executor)?,
            ca.identity("local", Role::Client)?,
        );
        let state =
            tempfile::Builder::new().prefix("flicker-local-").tempdir().map_err(LocalError::TempDir)?;
        let loopback = "127.0.0.1:0".parse().expect("a valid address");
        let scheduler = Scheduler::start(
            SchedulerConfig {
                listen: loopback,
                identity: node,
                state_dir: state.path().join("scheduler"),
                heartbeat: Duration::from_secs(1),
                executor_timeout: Duration::from_secs(30),
                stall_timeout: Duration::from_secs(60),
                // Local mode has one executor, this process: nobody to fall silent.
                task_timeout: Duration::from_secs(365 * 24 * 3600),
                exclude_after: 2,
                defaults,
                storage: storage.clone(),
                maxima,
                retention: Retention::default(),
                // Local mode is one tenant, `default` (its client's), limited as `tenants` says.
                tenants: tenants.local(),
            },
            runtime.clone(),
        )?;
        let address = scheduler.local_addr()?;
        tokio::spawn(scheduler.run());
        let executor = Executor::start(
            ExecutorConfig {
                id: executor_id,
                scheduler: address,
                listen: loopback,
                identity: executor,
                slots,
                memory: defaults.memory_limit.saturating_mul(u64::from(slots)),
                work_dir: state.path().join("executor"),
                bts: None,
                faults: Default::default(),
                storage,
            },
            runtime,
        )
        .await?;
        tokio::spawn(executor.run());
        let client = Client::connect(address, client).await?;
        let deadline = Duration::from_secs(30);
        let joined = tokio::time::timeout(deadline, async {
            loop {
                let nodes = client.nodes().await?;
                if nodes.iter().any(|n| n.state == NodeState::Alive) {
                    return Ok::<_, ClientError>(());
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await
        .map_err(|_| LocalError::NoExecutor(deadline))?;
        joined?;
        Ok(Self { client, _state: state })
    }
}
