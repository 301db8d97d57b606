//! What clients and admins may ask of a scheduler, whichever door they come through: the QUIC
//! protocol of the `flicker` CLI or the HTTP API of `flicker-web`. Every operation takes the
//! asking [`Peer`] and applies the same [`TenantPolicy`](crate::TenantPolicy) rules: a tenant's
//! member sees its tenant's jobs only (another tenant's job is "not found"), cancels its own,
//! and an admin sees and cancels every job.

use super::{Scheduler, Shared};
use crate::plugin_store::StoredPlugin;
use bytes::Bytes;
use flicker_protocol::operator::OperatorKind;
use flicker_protocol::scheduler::{RequestError, Submission};
use flicker_protocol::status::{JobState, JobStatus, NodeStatus, TaskStatus};
use flicker_protocol::tenant::{AuditEvent, Owner};
use flicker_protocol::{JobId, PluginDigest, StageId, TenantId};
use flicker_scheduler_core::tenants::{TenantConfig, TenantLoad};
use flicker_transport::token::{Claims, MAX_TOKEN_TTL};
use flicker_transport::{Peer, Role};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// Which jobs a list shows: those the asker may see, newest first, filtered, one page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobQuery {
    /// Jobs in this state only.
    pub state: Option<StateFilter>,
    /// Jobs of this tenant only.
    pub tenant: Option<TenantId>,
    /// Jobs skipped, from the newest.
    pub offset: usize,
    /// Jobs in the page, at most [`JobQuery::MAX_LIMIT`].
    pub limit: usize,
}

impl JobQuery {
    /// The most jobs one page holds.
    pub const MAX_LIMIT: usize = 500;
}

/// A job state to filter on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateFilter {
    /// Waiting in its tenant's queue.
    Queued,
    /// Running.
    Running,
    /// Succeeded.
    Succeeded,
    /// Failed, whatever the cause.
    Failed,
    /// Cancelled.
    Cancelled,
}

impl StateFilter {
    /// Every filter, with its name.
    pub const ALL: [(&str, StateFilter); 5] = [
        ("queued", StateFilter::Queued),
        ("running", StateFilter::Running),
        ("succeeded", StateFilter::Succeeded),
        ("failed", StateFilter::Failed),
        ("cancelled", StateFilter::Cancelled),
    ];

    /// Whether `state` passes.
    pub fn matches(self, state: &JobState) -> bool {
        matches!(
            (self, state),
            (StateFilter::Queued, JobState::Queued)
                | (StateFilter::Running, JobState::Running)
                | (StateFilter::Succeeded, JobState::Succeeded)
                | (StateFilter::Failed, JobState::Failed { .. })
                | (StateFilter::Cancelled, JobState::Cancelled)
        )
    }
}

impl FromStr for StateFilter {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, String> {
        Self::ALL.iter().find(|(known, _)| *known == name).map(|(_, filter)| *filter).ok_or_else(|| {
            let names: Vec<&str> = Self::ALL.iter().map(|(known, _)| *known).collect();
            format!("unknown job state {name:?}: use one of {}", names.join(", "))
        })
    }
}

/// One page of jobs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobPage {
    /// The page's jobs, newest first.
    pub jobs: Vec<JobStatus>,
    /// How many jobs pass the filter in all.
    pub total: usize,
}

/// A tenant's limits and what it holds now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantView {
    /// The tenant.
    pub tenant: TenantId,
    /// Its weight and limits.
    pub config: TenantConfig,
    /// What it holds.
    pub load: TenantLoad,
}

/// A stored component and the jobs kept that use it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginView {
    /// The component.
    pub stored: StoredPlugin,
    /// The operator it exports, if the scheduler has loaded it (every component of a job kept).
    pub kind: Option<OperatorKind>,
    /// The jobs kept that use it (those the asker may see).
    pub jobs: Vec<JobId>,
}

impl Scheduler {
    /// Whether `peer` may use the API at all: a client or an admin of a declared tenant. A
    /// refusal is audited, as a refused QUIC connection is.
    pub fn check_caller(&self, peer: &Peer) -> Result<(), RequestError> {
        let refusal = match peer.role {
            Role::Client | Role::Admin => self.shared.config.tenants.refuse_connection(Some(peer)),
            Role::Scheduler | Role::Executor => Some(format!("{peer} is not a client or an admin")),
        };
        let Some(reason) = refusal else { return Ok(()) };
        self.shared
            .record(Some(peer), AuditEvent::Refused { request: "http".into(), reason: reason.clone() });
        Err(RequestError::Forbidden { reason })
    }

    /// A page of the jobs `peer` may see (see [`JobQuery`]). Only the page's statuses are built.
    pub fn jobs(&self, peer: &Peer, query: &JobQuery) -> JobPage {
        let policy = &self.shared.config.tenants;
        let keep = |run: &flicker_scheduler_core::job_run::JobRun| {
            let owner = &run.terms().owner;
            policy.may_see(peer, owner)
                && query.tenant.as_ref().is_none_or(|tenant| tenant == &owner.tenant)
                && query.state.is_none_or(|state| state.matches(&run.state()))
        };
        let limit = query.limit.min(JobQuery::MAX_LIMIT);
        let (jobs, total) = self.shared.core.lock().page(keep, query.offset, limit, self.shared.now());
        JobPage { jobs, total }
    }

    /// The status of `job`, if `peer` may see it.
    pub fn job(&self, peer: &Peer, job: &JobId) -> Result<JobStatus, RequestError> {
        self.shared.visible(peer, job)?;
        Ok(self.shared.core.lock().status(Some(job), self.shared.now())?.remove(0))
    }

    /// The tasks of stage `stage` of `job`, if `peer` may see the job.
    pub fn tasks(&self, peer: &Peer, job: &JobId, stage: StageId) -> Result<Vec<TaskStatus>, RequestError> {
        self.shared.visible(peer, job)?;
        let core = self.shared.core.lock();
        let run = core.job(job).ok_or_else(|| RequestError::UnknownJob { job: job.clone() })?;
        run.tasks(stage)
            .ok_or_else(|| RequestError::BadRequest { reason: format!("job {job} has no {stage}") })
    }

    /// The status of `job` now and after every change (at most every 50 ms while it runs),
    /// ending with its last one, if `peer` may see it.
    pub fn watch(&self, peer: &Peer, job: &JobId) -> Result<watch::Receiver<JobStatus>, RequestError> {
        self.shared.visible(peer, job)?;
        self.shared.watch(job)
    }

    /// Cancels `job` for `peer` (its submitter, its tenant's admins, admins): returns once its
    /// tasks stopped and its leftovers are gone. A job that ended already is refused, saying how.
    pub async fn cancel(&self, peer: &Peer, job: JobId) -> Result<(), RequestError> {
        let shared = &self.shared;
        let status = self.job(peer, &job)?;
        if !shared.config.tenants.may_cancel(peer, &status.owner) {
            return Err(RequestError::Forbidden {
                reason: format!(
                    "{peer} may not cancel job {job} of {:?}: only its submitter, its tenant's admins and admins may",
                    status.owner.submitter
                ),
            });
        }
        if status.is_finished() {
            return Err(RequestError::AlreadyEnded { job, state: status.state });
        }
        let mut watcher = shared.watch(&job)?;
        shared.record(Some(peer), AuditEvent::Cancelled { job: job.clone() });
        shared.act(|core, now| core.cancel(&job, now).unwrap_or_default());
        // Answer once the cleanup is done and the job's last status is out.
        while !watcher.borrow_and_update().is_finished() && watcher.changed().await.is_ok() {}
        // A job already committing its output ends as it would have.
        match watcher.borrow().state.clone() {
            JobState::Cancelled => Ok(()),
            state => Err(RequestError::AlreadyEnded { job, state }),
        }
    }

    /// The cluster's executors.
    pub fn nodes(&self) -> Vec<NodeStatus> {
        self.shared.core.lock().nodes(self.shared.now())
    }

    /// The limits and load of the tenants `peer` may see: its own, or every one for an admin.
    pub fn tenants(&self, peer: &Peer) -> Vec<TenantView> {
        let core = self.shared.core.lock();
        let own = peer.acting_tenant();
        core.tenant_loads()
            .into_iter()
            .filter(|(tenant, _)| peer.role == Role::Admin || own.as_ref() == Some(tenant))
            .map(|(tenant, load)| TenantView {
                config: core.tenants().get(&tenant).cloned().unwrap_or_default(),
                tenant,
                load,
            })
            .collect()
    }

    /// The components `peer` may see (its tenant's; every one for an admin), oldest first, with
    /// the jobs kept that use them.
    pub fn plugins(&self, peer: &Peer) -> Result<Vec<PluginView>, RequestError> {
        let stored = self.shared.plugins.list().map_err(|error| RequestError::BadRequest {
            reason: format!("cannot list the plugin store: {error}"),
        })?;
        let own = peer.acting_tenant();
        let policy = &self.shared.config.tenants;
        // The components of each job the asker may see, listed once for all the components.
        let uses: Vec<(JobId, Vec<PluginDigest>)> = {
            let core = self.shared.core.lock();
            let visible = core.jobs_newest_first().filter(|run| policy.may_see(peer, &run.terms().owner));
            visible.map(|run| (run.id().clone(), run.plugins())).collect()
        };
        let views = stored
            .into_iter()
            .filter(|plugin| {
                peer.role == Role::Admin || own.as_ref().is_some_and(|t| plugin.tenants.contains(t))
            })
            .map(|stored| PluginView {
                kind: self.shared.runtime.get(&stored.digest).map(|plugin| plugin.kind()),
                jobs: uses
                    .iter()
                    .filter(|(_, plugins)| plugins.contains(&stored.digest))
                    .map(|(job, _)| job.clone())
                    .collect(),
                stored,
            })
            .collect();
        Ok(views)
    }

    /// Of `digests`, those `peer`'s tenant has not uploaded.
    pub fn missing_plugins(
        &self,
        peer: &Peer,
        digests: Vec<PluginDigest>,
    ) -> Result<Vec<PluginDigest>, RequestError> {
        let tenant = acting_tenant(peer, "upload components")?;
        Ok(digests.into_iter().filter(|d| !self.shared.plugins.owned_by(d, &tenant)).collect())
    }

    /// Stores the component of `len` bytes with digest `digest` that `body` carries, as
    /// `peer`'s tenant's (checked as a QUIC upload is: size, digest, a component).
    pub async fn upload<E: std::fmt::Display>(
        &self,
        peer: &Peer,
        digest: PluginDigest,
        len: u64,
        body: impl futures::Stream<Item = Result<Bytes, E>>,
    ) -> Result<(), RequestError> {
        let tenant = acting_tenant(peer, "upload components")?;
        let stored = self.shared.plugins.receive_body(digest, len, body).await;
        self.shared.stored(peer, digest, len, &tenant, stored)
    }

    /// Validates, plans and queues a job `peer` submits for its tenant: the same checks for
    /// every door.
    pub async fn submit(&self, peer: &Peer, submission: Submission) -> Result<JobId, RequestError> {
        let tenant = acting_tenant(peer, "submit a job")?;
        let accepting = self.shared.clone();
        let owner = Owner { tenant, submitter: peer.name.clone() };
        match tokio::task::spawn_blocking(move || accepting.accept(submission, owner)).await {
            Ok(Ok((run, prepared))) => self.shared.enqueue(run, prepared, Some(peer)),
            Ok(Err(error)) => {
                if matches!(error, RequestError::OverLimit { .. }) {
                    self.shared.refused(Some(peer), "submit", &error);
                }
                Err(error)
            }
            Err(error) => Err(RequestError::BadRequest { reason: error.to_string() }),
        }
    }

    /// A bearer token standing for `peer` acting for `tenant`, valid for `ttl`, and when it
    /// expires (milliseconds since the Unix epoch). A client gets one for its own tenant; an
    /// admin for any declared tenant (a client's token of that tenant, under the admin's name),
    /// or without a tenant an admin's token.
    pub fn create_token(
        &self,
        peer: &Peer,
        tenant: Option<TenantId>,
        ttl: Duration,
    ) -> Result<(String, u64), RequestError> {
        let shared = &self.shared;
        if ttl.is_zero() || ttl > MAX_TOKEN_TTL {
            return Err(RequestError::BadRequest {
                reason: format!("a token lives between 1 ms and {} days", MAX_TOKEN_TTL.as_secs() / 86_400),
            });
        }
        let holder = match (peer.role, tenant) {
            (Role::Admin, None) => Peer { tenant: None, ..peer.clone() },
            (Role::Admin, Some(tenant)) => {
                if shared.config.tenants.tenants.get(&tenant).is_none() {
                    return Err(RequestError::BadRequest {
                        reason: format!("tenant {:?} is not declared in the scheduler's [tenants]", tenant.0),
                    });
                }
                Peer { name: peer.name.clone(), role: Role::Client, tenant: Some(tenant) }
            }
            (Role::Client, asked) => {
                let own = acting_tenant(peer, "ask for a token")?;
                if asked.as_ref().is_some_and(|asked| asked != &own) {
                    return Err(RequestError::Forbidden {
                        reason: format!("{peer} may ask for a token of its own tenant {:?} only", own.0),
                    });
                }
                Peer { tenant: Some(own), ..peer.clone() }
            }
            (Role::Scheduler | Role::Executor, _) => {
                return Err(RequestError::Forbidden { reason: format!("{peer} may not ask for a token") });
            }
        };
        let claims = Claims::new(&holder, holder.tenant.clone(), ttl);
        let expires_unix_ms = claims.expires_ms;
        let token = shared
            .config
            .identity
            .mint_token(claims)
            .map_err(|error| RequestError::BadRequest { reason: error.to_string() })?;
        shared.record(
            Some(peer),
            AuditEvent::TokenCreated {
                tenant: holder.tenant.clone(),
                admin: holder.role == Role::Admin,
                expires_unix_ms,
            },
        );
        Ok((token, expires_unix_ms))
    }
}

/// The tenant `peer` acts for, or why it may not do `what` without one.
pub(super) fn acting_tenant(peer: &Peer, what: &str) -> Result<TenantId, RequestError> {
    peer.acting_tenant().ok_or_else(|| RequestError::Forbidden {
        reason: format!(
            "{peer} may not {what}: its certificate names no tenant to act for (issue one with --tenant)"
        ),
    })
}

impl Shared {
    /// Records the end of an upload of `peer` for `tenant`: the component is the tenant's too.
    pub(super) fn stored(
        &self,
        peer: &Peer,
        digest: PluginDigest,
        len: u64,
        tenant: &TenantId,
        stored: Result<(), crate::plugin_store::PutError>,
    ) -> Result<(), RequestError> {
        match stored.and_then(|()| self.plugins.add_owner(&digest, tenant)) {
            Ok(()) => {
                tracing::info!(%digest, bytes = len, %tenant, "component stored");
                self.record(Some(peer), AuditEvent::PluginUploaded { digest, bytes: len });
                Ok(())
            }
            Err(error) => {
                tracing::warn!(%digest, bytes = len, %error, "component upload refused");
                Err(error.into())
            }
        }
    }
}

/// Shares `Arc<Shared>` for the QUIC side.
impl From<&Arc<Shared>> for Scheduler {
    fn from(shared: &Arc<Shared>) -> Self {
        Scheduler { shared: shared.clone() }
    }
}
