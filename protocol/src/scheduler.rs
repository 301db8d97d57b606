//! Requests to the scheduler (from clients and executors) and requests the scheduler makes of
//! executors. Each travels on its own stream and gets one response on it, except [`Watch`], whose
//! response is a sequence of [`JobStatus`] frames ending with the job's last one.
//!
//! [`Watch`]: SchedulerRequest::Watch

use crate::bts::Capability;
use crate::ids::{ExecutorId, JobId, PluginDigest, StageId, TaskIndex, TenantId};
use crate::status::{JobStatus, NodeStatus};
use crate::task::{JobDefaults, TaskReport, TaskSpec};
use crate::tenant::{AuditRecord, TaskUsage, TenantLimit, TenantUsage};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;

/// The largest component a scheduler accepts in an upload and an executor in a fetch, in bytes.
pub const MAX_COMPONENT: u64 = 256 << 20;

/// The largest request frame a scheduler reads, in bytes: room for the largest [`Submission`]
/// (a manifest of at most 1 MiB, `flicker_manifest::MAX_MANIFEST_BYTES`, whose plugin references
/// the submission repeats with their digests) and for an executor's [`Registration`] listing
/// tens of thousands of compiled components. A larger request is refused from its header with
/// [`RequestError::TooLarge`], before its body is read.
pub const MAX_REQUEST: usize = 4 << 20;

/// A request to the scheduler.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SchedulerRequest {
    /// Client: which of these components does the scheduler lack?
    MissingPlugins {
        /// The components the job uses.
        digests: Vec<PluginDigest>,
    },
    /// Client: a component follows as `len` raw bytes. Refused before any byte is read if `len`
    /// is above [`MAX_COMPONENT`]; stored only if the bytes have the digest and are a WebAssembly
    /// component.
    UploadPlugin {
        /// Its sha256; the scheduler checks it.
        digest: PluginDigest,
        /// Its size.
        len: u64,
    },
    /// Client: run a job.
    Submit(Submission),
    /// Client: the status of one job, or of all. Answered by one [`SchedulerResponse::Jobs`]
    /// frame per job, in submission order, then the end of the stream: the list of every job
    /// need not fit in one frame.
    Status {
        /// The job, or every job if `None`.
        job: Option<JobId>,
    },
    /// Client: the job's status now and after every change, until it ends.
    Watch {
        /// The job.
        job: JobId,
    },
    /// Client: the attempts of one task of a job, with what their operators wrote; or, without a
    /// task, every attempt of the job whose operators wrote something.
    Logs {
        /// The job.
        job: JobId,
        /// The task, as (stage, index in the stage).
        task: Option<(StageId, TaskIndex)>,
    },
    /// Client: stop a job; nothing of it is published.
    Cancel {
        /// The job.
        job: JobId,
    },
    /// Client: the cluster's members.
    Nodes,
    /// Client: what each tenant's jobs that ended since `since_unix_ms` consumed (a tenant's
    /// member sees its own tenant, an admin any or all).
    Usage {
        /// One tenant, or every one the asker may see.
        tenant: Option<TenantId>,
        /// Jobs that ended at or after this time, in milliseconds since the Unix epoch.
        since_unix_ms: Option<u64>,
    },
    /// Admin (or a tenant's admin, for its tenant): the audit log's records since
    /// `since_unix_ms`, oldest first, answered by [`SchedulerResponse::Audit`] frames then the
    /// end of the stream.
    Audit {
        /// Records of one tenant only.
        tenant: Option<TenantId>,
        /// Records at or after this time, in milliseconds since the Unix epoch.
        since_unix_ms: Option<u64>,
    },
    /// Client or admin: a bearer token for the HTTP API and the web UI, standing for the asker
    /// (acting for `tenant`: a client's own; an admin's any declared one, or none for an admin
    /// token) for `ttl_ms`.
    CreateToken {
        /// The tenant the token acts for.
        tenant: Option<TenantId>,
        /// Its lifetime, in milliseconds (at most 30 days).
        ttl_ms: u64,
    },
    /// Executor: join the cluster. The connection this arrives on is the one the scheduler sends
    /// tasks on.
    Register(Registration),
    /// Executor: still alive.
    Heartbeat {
        /// Who.
        executor: ExecutorId,
        /// Bytes of shuffle blocks its BTS served so far (0 when its map output lives on a
        /// standalone BTS).
        shuffle_served_bytes: u64,
    },
    /// Executor: send a component (answered by [`SchedulerResponse::Plugin`] and its bytes).
    FetchPlugin {
        /// Its sha256.
        digest: PluginDigest,
    },
}

/// A job as a client submits it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Submission {
    /// The manifest's path as the user named it (error messages cite it).
    pub manifest_path: String,
    /// The manifest's text.
    pub manifest: String,
    /// The absolute directory relative paths in the manifest are resolved against.
    pub base_dir: String,
    /// The component of every plugin reference that is not a standard operator (uploaded before),
    /// or why the submitter could not read it (reported with the manifest line that names it).
    pub plugins: Vec<(String, Result<PluginDigest, String>)>,
    /// Defaults the manifest may override; `None` takes the scheduler's.
    pub defaults: Option<JobDefaults>,
}

/// What an executor tells the scheduler when it joins.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Registration {
    /// Its name.
    pub executor: ExecutorId,
    /// The BTS that holds its shuffle output (its own, or a standalone one).
    pub bts: SocketAddr,
    /// Whether that BTS runs inside the executor's process, so its map outputs die with it.
    pub bts_in_process: bool,
    /// Tasks it runs at once.
    pub slots: u32,
    /// Memory it offers to tasks, in bytes.
    pub memory: u64,
    /// Components it has compiled already.
    pub plugins: Vec<PluginDigest>,
}

/// The scheduler's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SchedulerResponse {
    /// The digests among those asked about that the scheduler lacks.
    Missing(Vec<PluginDigest>),
    /// The component was stored.
    Uploaded,
    /// The job was accepted.
    Submitted {
        /// Its id.
        job: JobId,
    },
    /// Job statuses (see [`SchedulerRequest::Status`]).
    Jobs(Vec<JobStatus>),
    /// One status of a watched job.
    Progress(Box<JobStatus>),
    /// Task attempts and what their operators wrote.
    Logs(Vec<crate::status::AttemptStatus>),
    /// The job was cancelled (a job that had ended already is refused with
    /// [`RequestError::AlreadyEnded`]).
    Cancelled,
    /// The cluster's members.
    Nodes(Vec<NodeStatus>),
    /// What tenants used (see [`SchedulerRequest::Usage`]).
    Usage(Vec<TenantUsage>),
    /// Records of the audit log (see [`SchedulerRequest::Audit`]).
    Audit(Vec<AuditRecord>),
    /// A bearer token (see [`SchedulerRequest::CreateToken`]).
    Token {
        /// The token.
        token: String,
        /// When it expires, in milliseconds since the Unix epoch.
        expires_unix_ms: u64,
    },
    /// The executor is a member; heartbeats are expected this often.
    Registered {
        /// Milliseconds between heartbeats.
        heartbeat_ms: u64,
    },
    /// A heartbeat was taken.
    Alive,
    /// A component of `len` raw bytes follows.
    Plugin {
        /// Its size.
        len: u64,
    },
    /// The request was refused.
    Error(RequestError),
}

/// Why the scheduler refused a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum RequestError {
    /// The job is invalid (manifest, plugins, config, storage); the message says where.
    #[error("{reason}")]
    InvalidJob {
        /// The problem.
        reason: String,
    },
    /// No such job.
    #[error("there is no job {job}")]
    UnknownJob {
        /// The job asked about.
        job: JobId,
    },
    /// The job ended before the request could change it (e.g. a cancel of a finished job).
    #[error("job {job} has already ended ({state}): there is nothing to cancel")]
    AlreadyEnded {
        /// The job.
        job: JobId,
        /// How it ended.
        state: crate::status::JobState,
    },
    /// No such component in the plugin store.
    #[error("the scheduler has no component {digest}")]
    UnknownPlugin {
        /// The digest asked about.
        digest: PluginDigest,
    },
    /// An uploaded component's bytes do not match its digest.
    #[error("uploaded component does not match its digest {expected} (got {actual})")]
    DigestMismatch {
        /// The digest announced.
        expected: PluginDigest,
        /// The digest of the bytes received.
        actual: PluginDigest,
    },
    /// An uploaded component that is not a WebAssembly component; it is not stored.
    #[error("uploaded component {digest} is not a WebAssembly component: {reason}")]
    NotAComponent {
        /// Its digest.
        digest: PluginDigest,
        /// What the validator found.
        reason: String,
    },
    /// A request, or a component uploaded, larger than the scheduler accepts; refused before
    /// it was read.
    #[error("{what} of {size} bytes is larger than the {max} bytes ({} MiB) the scheduler accepts", .max >> 20)]
    TooLarge {
        /// What was too large.
        what: Oversized,
        /// Its size.
        size: u64,
        /// The most the scheduler accepts.
        max: u64,
    },
    /// A heartbeat from an executor the scheduler does not know (it must register again).
    #[error("executor {executor} is not registered")]
    NotRegistered {
        /// The executor.
        executor: ExecutorId,
    },
    /// The job's tenant is at one of its limits: the job is refused, not queued.
    #[error("tenant {tenant} is at a limit: {limit}")]
    OverLimit {
        /// The tenant.
        tenant: TenantId,
        /// Which limit.
        limit: TenantLimit,
    },
    /// The peer's role (or name) does not allow the request.
    #[error("refused: {reason}")]
    Forbidden {
        /// Who asked what, and who may.
        reason: String,
    },
    /// The request is not allowed or not understood.
    #[error("{reason}")]
    BadRequest {
        /// Why.
        reason: String,
    },
}

/// What a [`RequestError::TooLarge`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Oversized {
    /// A request frame, above [`MAX_REQUEST`].
    Request,
    /// A component upload, above [`MAX_COMPONENT`].
    Component,
}

impl std::fmt::Display for Oversized {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Oversized::Request => "a request",
            Oversized::Component => "a component",
        })
    }
}

/// A request the scheduler makes of an executor, on the executor's registration connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ExecutorRequest {
    /// Run a task attempt; answered with its [`TaskReport`] when it ends.
    Launch {
        /// The attempt.
        spec: Box<TaskSpec>,
        /// The permission to read and write its job's shuffle blocks on the cluster's BTSes.
        capability: Capability,
    },
    /// The job ended (or was cancelled): stop its running tasks and forget it. Answered once
    /// its tasks have stopped. Its shuffle output is removed through the BTS.
    EndJob {
        /// The job.
        job: JobId,
    },
}

/// An executor's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ExecutorResponse {
    /// How a launched task ended, what its operators wrote, and what it consumed.
    Task(TaskReport, Vec<crate::task::OperatorLog>, TaskUsage),
    /// The job's tasks have stopped and its state is dropped.
    JobEnded,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::{MAX_FRAME, decode, encode};
    use crate::ids::{AttemptId, StageId, TaskId, TaskIndex};
    use crate::task::TaskInput;

    #[test]
    fn requests_round_trip_through_frames() {
        let spec = TaskSpec {
            task: TaskId { job: JobId("j1".into()), stage: StageId(0), index: TaskIndex(3) },
            attempt: AttemptId(1),
            job: crate::task::JobDescriptor {
                job: JobId("j1".into()),
                manifest_path: "job.toml".into(),
                manifest: "name = \"x\"".into(),
                base_dir: "/data".into(),
                plugins: vec![("op.wasm".into(), PluginDigest::of(b"op"))],
                defaults: JobDefaults {
                    memory_limit: 1,
                    call_timeout_ms: 2,
                    output_limit: 3,
                    partitions: 4,
                    split_size: 5,
                    chunk_size: 6,
                    max_attempts: 7,
                },
            },
            input: TaskInput::Split {
                source: "in".into(),
                object: "a/b.csv".into(),
                object_size: 10,
                start: 0,
                end: 10,
            },
            part: 0,
            kept: Vec::new(),
            boundaries: Vec::new(),
            broadcasts: Vec::new(),
            cpu_budget_us: Some(7),
        };
        let capability = Capability {
            job: JobId("job-1".into()),
            expires_ms: 1,
            issuer: vec![1, 2, 3],
            scheme: 0x0403,
            signature: vec![4, 5],
        };
        let request = ExecutorRequest::Launch { spec: Box::new(spec), capability };
        assert_eq!(
            decode::<ExecutorRequest>(&encode(&request, MAX_FRAME).unwrap(), MAX_FRAME).unwrap(),
            request
        );
        let request =
            SchedulerRequest::Heartbeat { executor: ExecutorId("e1".into()), shuffle_served_bytes: 7 };
        assert_eq!(
            decode::<SchedulerRequest>(&encode(&request, MAX_FRAME).unwrap(), MAX_FRAME).unwrap(),
            request
        );
    }
}
