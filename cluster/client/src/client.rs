//! A client of the scheduler: what `flicker submit`, `status`, `cancel` and `nodes` (and local
//! mode) use.

use flicker_job::{job_storage, read_plugin_files};
use flicker_manifest::{Manifest, ManifestError, Param, resolve_params};
use flicker_protocol::scheduler::{RequestError, SchedulerRequest, SchedulerResponse, Submission};
use flicker_protocol::status::{AttemptStatus, JobStatus, NodeStatus};
use flicker_protocol::task::JobDefaults;
use flicker_protocol::tenant::{AuditRecord, TenantUsage};
use flicker_protocol::{JobId, PluginDigest, StageId, TaskIndex, TenantId};
use flicker_transport::{Connection, Endpoint, EndpointConfig, Identity, Role, TransportError};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Why a client request failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The scheduler could not be reached or the connection broke.
    #[error("scheduler at {scheduler}: {source}")]
    Transport {
        /// The scheduler's address.
        scheduler: SocketAddr,
        /// Why.
        source: TransportError,
    },
    /// The scheduler refused the request.
    #[error("{0}")]
    Refused(#[from] RequestError),
    /// The manifest cannot be read.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// The current directory is unknown (needed to make the manifest's directory absolute).
    #[error("cannot resolve the manifest's directory: {0}")]
    CurrentDir(std::io::Error),
    /// The scheduler answered something that does not fit the request.
    #[error("unexpected answer from the scheduler: {answer}")]
    Unexpected {
        /// What it answered.
        answer: String,
    },
}

/// How long [`Client::watch`] keeps trying to reach a scheduler that went away (it may be
/// restarting: jobs resume from its journal).
pub const RECONNECT_WITHIN: Duration = Duration::from_secs(120);

/// A connection to the scheduler.
pub struct Client {
    scheduler: SocketAddr,
    connection: Mutex<Connection>,
    endpoint: Endpoint,
}

impl Client {
    /// Connects to the scheduler at `scheduler` with `identity`.
    pub async fn connect(scheduler: SocketAddr, identity: Identity) -> Result<Self, ClientError> {
        let transport = |source| ClientError::Transport { scheduler, source };
        let bind: SocketAddr =
            if scheduler.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" }.parse().expect("valid");
        let endpoint = Endpoint::bind(bind, EndpointConfig::new(identity)).map_err(transport)?;
        let connection = endpoint.connect(scheduler, Role::Scheduler).await.map_err(transport)?;
        Ok(Self { scheduler, connection: Mutex::new(connection), endpoint })
    }

    fn connection(&self) -> Connection {
        self.connection.lock().clone()
    }

    /// Closes the connection and waits (briefly) until the packet telling the scheduler has left,
    /// so that it frees the connection at once.
    pub async fn close(self) {
        self.connection().close_and_send(0, "done", Duration::from_secs(1)).await;
    }

    /// Connects again, retrying for up to [`RECONNECT_WITHIN`].
    async fn reconnect(&self) -> Result<(), ClientError> {
        let deadline = tokio::time::Instant::now() + RECONNECT_WITHIN;
        loop {
            match self.endpoint.connect(self.scheduler, Role::Scheduler).await {
                Ok(connection) => {
                    *self.connection.lock() = connection;
                    return Ok(());
                }
                Err(source) if tokio::time::Instant::now() >= deadline => {
                    return Err(ClientError::Transport { scheduler: self.scheduler, source });
                }
                Err(error) => {
                    tracing::debug!(%error, "the scheduler is away; trying again");
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
            }
        }
    }

    async fn call(&self, request: &SchedulerRequest) -> Result<SchedulerResponse, ClientError> {
        match self.connection().call(request).await {
            Ok(SchedulerResponse::Error(error)) => Err(error.into()),
            Ok(response) => Ok(response),
            Err(source) => Err(ClientError::Transport { scheduler: self.scheduler, source }),
        }
    }

    /// Submits the job in `manifest_path`: checks the manifest and that every plugin file it names
    /// is a WebAssembly component within [`MAX_COMPONENT`](flicker_protocol::scheduler::MAX_COMPONENT)
    /// before sending anything, uploads the components the scheduler lacks, then sends the
    /// manifest with its params resolved with `params` (so that the scheduler journals, and the
    /// executors read, the values of this run). `defaults` overrides the scheduler's job defaults.
    /// If the scheduler removed a component between the upload and the submission (it forgot the
    /// last job using it), the submission is made once more.
    pub async fn submit(
        &self,
        manifest_path: &Path,
        params: &[Param],
        defaults: Option<JobDefaults>,
    ) -> Result<JobId, ClientError> {
        let manifest_text = std::fs::read_to_string(manifest_path)
            .map_err(|source| ManifestError::Io { file: manifest_path.to_path_buf(), source })?;
        let manifest_text = resolve_params(manifest_path, &manifest_text, params)?;
        let manifest = Manifest::parse(manifest_path, &manifest_text)?;
        // A credential in `[storage]` never leaves this machine.
        job_storage(&manifest, None)?;
        let base_dir = absolute(manifest_path.parent().unwrap_or(Path::new("")))?;
        let (refs, components) = read_plugin_files(&manifest, &base_dir);
        // A plugin file that cannot be used stops the submission here, before anything is sent.
        if let Some(error) = manifest.plugin_error(|plugin| refs.get(plugin)?.as_ref().err().cloned()) {
            return Err(error.into());
        }
        let submission = Submission {
            manifest_path: manifest_path.display().to_string(),
            manifest: manifest_text,
            base_dir: base_dir.display().to_string(),
            plugins: refs.into_iter().collect(),
            defaults,
        };
        match self.upload_and_submit(&components, &submission).await {
            Err(ClientError::Refused(RequestError::UnknownPlugin { digest })) => {
                tracing::debug!(%digest, "the scheduler removed a component before the job came; submitting again");
                self.upload_and_submit(&components, &submission).await
            }
            submitted => submitted,
        }
    }

    /// Uploads those of `components` the scheduler lacks, then submits.
    async fn upload_and_submit(
        &self,
        components: &HashMap<PluginDigest, Vec<u8>>,
        submission: &Submission,
    ) -> Result<JobId, ClientError> {
        let digests = components.keys().copied().collect();
        let SchedulerResponse::Missing(missing) =
            self.call(&SchedulerRequest::MissingPlugins { digests }).await?
        else {
            return Err(ClientError::Unexpected { answer: "not a list of missing components".into() });
        };
        for digest in missing {
            let Some(bytes) = components.get(&digest) else { continue };
            self.upload(digest, bytes).await?;
        }
        match self.call(&SchedulerRequest::Submit(submission.clone())).await? {
            SchedulerResponse::Submitted { job } => Ok(job),
            other => Err(ClientError::Unexpected { answer: format!("{other:?}") }),
        }
    }

    async fn upload(&self, digest: PluginDigest, bytes: &[u8]) -> Result<(), ClientError> {
        let transport = |source| ClientError::Transport { scheduler: self.scheduler, source };
        let (mut send, mut recv) = self.connection().open().await.map_err(transport)?;
        send.send(&SchedulerRequest::UploadPlugin { digest, len: bytes.len() as u64 })
            .await
            .map_err(transport)?;
        send.send_bytes(bytes).await.map_err(transport)?;
        send.finish().map_err(transport)?;
        match recv.recv::<SchedulerResponse>().await.map_err(transport)? {
            Some(SchedulerResponse::Uploaded) => Ok(()),
            Some(SchedulerResponse::Error(error)) => Err(error.into()),
            other => Err(ClientError::Unexpected { answer: format!("{other:?}") }),
        }
    }

    /// Follows a job until it ends, calling `progress` with each status; returns the last. If the
    /// scheduler goes away (a restart), connects again and goes on following the job.
    pub async fn watch(
        &self,
        job: &JobId,
        mut progress: impl FnMut(&JobStatus),
    ) -> Result<JobStatus, ClientError> {
        loop {
            match self.watch_once(job, &mut progress).await {
                Err(ClientError::Transport { source, .. }) => {
                    tracing::warn!(error = %source, "lost the scheduler while following the job; reconnecting");
                    self.reconnect().await?;
                }
                other => return other,
            }
        }
    }

    async fn watch_once(
        &self,
        job: &JobId,
        progress: &mut impl FnMut(&JobStatus),
    ) -> Result<JobStatus, ClientError> {
        let transport = |source| ClientError::Transport { scheduler: self.scheduler, source };
        let (mut send, mut recv) = self.connection().open().await.map_err(transport)?;
        send.send(&SchedulerRequest::Watch { job: job.clone() }).await.map_err(transport)?;
        send.finish().map_err(transport)?;
        loop {
            match recv.recv::<SchedulerResponse>().await.map_err(transport)? {
                Some(SchedulerResponse::Progress(status)) => {
                    progress(&status);
                    if status.is_finished() {
                        return Ok(*status);
                    }
                }
                Some(SchedulerResponse::Error(error)) => return Err(error.into()),
                other => return Err(ClientError::Unexpected { answer: format!("{other:?}") }),
            }
        }
    }

    /// The status of `job`, or of every job (which come a job per frame, see
    /// [`SchedulerRequest::Status`]).
    pub async fn status(&self, job: Option<JobId>) -> Result<Vec<JobStatus>, ClientError> {
        self.collect(&SchedulerRequest::Status { job }, |answer| match answer {
            SchedulerResponse::Jobs(jobs) => Ok(jobs),
            other => Err(other),
        })
        .await
    }

    /// The records of the scheduler's audit log at or after `since_unix_ms` (of `tenant` only,
    /// if given), oldest first.
    pub async fn audit(
        &self,
        tenant: Option<TenantId>,
        since_unix_ms: Option<u64>,
    ) -> Result<Vec<AuditRecord>, ClientError> {
        self.collect(&SchedulerRequest::Audit { tenant, since_unix_ms }, |answer| match answer {
            SchedulerResponse::Audit(records) => Ok(records),
            other => Err(other),
        })
        .await
    }

    /// What each tenant's jobs that ended at or after `since_unix_ms` consumed (`tenant`'s only,
    /// if given).
    pub async fn usage(
        &self,
        tenant: Option<TenantId>,
        since_unix_ms: Option<u64>,
    ) -> Result<Vec<TenantUsage>, ClientError> {
        match self.call(&SchedulerRequest::Usage { tenant, since_unix_ms }).await? {
            SchedulerResponse::Usage(usage) => Ok(usage),
            other => Err(ClientError::Unexpected { answer: format!("{other:?}") }),
        }
    }

    /// Sends `request` and gathers the items of every answer frame until the stream ends; `items`
    /// takes them out of a frame (giving back a frame of another kind).
    async fn collect<T>(
        &self,
        request: &SchedulerRequest,
        items: impl Fn(SchedulerResponse) -> Result<Vec<T>, SchedulerResponse>,
    ) -> Result<Vec<T>, ClientError> {
        let transport = |source| ClientError::Transport { scheduler: self.scheduler, source };
        let (mut send, mut recv) = self.connection().open().await.map_err(transport)?;
        send.send(request).await.map_err(transport)?;
        send.finish().map_err(transport)?;
        let mut all = Vec::new();
        loop {
            match recv.recv::<SchedulerResponse>().await.map_err(transport)?.map(&items) {
                Some(Ok(some)) => all.extend(some),
                None => return Ok(all),
                Some(Err(SchedulerResponse::Error(error))) => return Err(error.into()),
                Some(Err(other)) => return Err(ClientError::Unexpected { answer: format!("{other:?}") }),
            }
        }
    }

    /// The attempts of task `task` (stage, index) of `job` with what their operators wrote; or,
    /// without a task, every attempt of the job whose operators wrote something.
    pub async fn logs(
        &self,
        job: &JobId,
        task: Option<(StageId, TaskIndex)>,
    ) -> Result<Vec<AttemptStatus>, ClientError> {
        match self.call(&SchedulerRequest::Logs { job: job.clone(), task }).await? {
            SchedulerResponse::Logs(attempts) => Ok(attempts),
            other => Err(ClientError::Unexpected { answer: format!("{other:?}") }),
        }
    }

    /// Cancels `job`; returns once its tasks stopped and its leftovers are removed.
    pub async fn cancel(&self, job: JobId) -> Result<(), ClientError> {
        match self.call(&SchedulerRequest::Cancel { job }).await? {
            SchedulerResponse::Cancelled => Ok(()),
            other => Err(ClientError::Unexpected { answer: format!("{other:?}") }),
        }
    }

    /// A bearer token for the HTTP API and the web UI, acting for `tenant` (see
    /// [`SchedulerRequest::CreateToken`]), valid for `ttl`; and when it expires, in milliseconds
    /// since the Unix epoch.
    pub async fn create_token(
        &self,
        tenant: Option<TenantId>,
        ttl: std::time::Duration,
    ) -> Result<(String, u64), ClientError> {
        let ttl_ms = ttl.as_millis().try_into().unwrap_or(u64::MAX);
        match self.call(&SchedulerRequest::CreateToken { tenant, ttl_ms }).await? {
            SchedulerResponse::Token { token, expires_unix_ms } => Ok((token, expires_unix_ms)),
            other => Err(ClientError::Unexpected { answer: format!("{other:?}") }),
        }
    }

    /// The cluster's members.
    pub async fn nodes(&self) -> Result<Vec<NodeStatus>, ClientError> {
        match self.call(&SchedulerRequest::Nodes).await? {
            SchedulerResponse::Nodes(nodes) => Ok(nodes),
            other => Err(ClientError::Unexpected { answer: format!("{other:?}") }),
        }
    }
}

fn absolute(dir: &Path) -> Result<PathBuf, ClientError> {
    let current = std::env::current_dir().map_err(ClientError::CurrentDir)?;
    Ok(if dir.as_os_str().is_empty() { current } else { current.join(dir) })
}
