//! Capabilities: the scheduler's signed permission to read and write one job's shuffle blocks
//! ([`Capability`]), granted to the executors that run the job's tasks and checked by every BTS
//! with the cluster CA alone. The signature is made with the scheduler's TLS key; the capability
//! carries the scheduler's certificate, which must chain to the CA, be unrevoked and be the
//! scheduler's (its role's DNS name), so no other certificate can grant one.

use crate::Identity;
use crate::signature::{Signature, SignatureError};
use flicker_protocol::JobId;
use flicker_protocol::bts::Capability;
use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How many capabilities a [`CapabilityCheck`] (accepted) or a [`CapabilityGrants`] (granted)
/// remembers before it starts again.
const REMEMBERED: usize = 4096;

/// Why a capability was not granted, or not accepted.
#[derive(Debug, thiserror::Error)]
pub enum CapabilityError {
    /// This identity's key cannot sign one.
    #[error("cannot sign a capability: {reason}")]
    Sign {
        /// Why.
        reason: String,
    },
    /// It is another job's.
    #[error("the capability is for job {granted}, not {asked}")]
    OtherJob {
        /// Its job.
        granted: JobId,
        /// The job asked about.
        asked: JobId,
    },
    /// It expired.
    #[error("the capability for job {job} expired")]
    Expired {
        /// Its job.
        job: JobId,
    },
    /// Its signer is not the cluster's scheduler.
    #[error("the capability is not signed by the cluster's scheduler: {reason}")]
    Issuer {
        /// What is wrong with the signer's certificate.
        reason: String,
    },
    /// Its signature does not match.
    #[error("the capability's signature is not valid")]
    Signature,
}

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |now| now.as_millis() as u64)
}

impl Identity {
    /// A capability for `job`'s shuffle blocks, valid for `valid_for`, signed with this identity's
    /// key: only the scheduler's is accepted.
    pub fn grant(&self, job: &JobId, valid_for: Duration) -> Result<Capability, CapabilityError> {
        self.grant_until(job, now_ms().saturating_add(valid_for.as_millis() as u64))
    }

    /// A capability for `job`'s shuffle blocks that expires at `expires_ms`.
    fn grant_until(&self, job: &JobId, expires_ms: u64) -> Result<Capability, CapabilityError> {
        let Signature { issuer, scheme, bytes } = self
            .sign(&Capability::signed_bytes(job, expires_ms))
            .map_err(|e| CapabilityError::Sign { reason: e.to_string() })?;
        Ok(Capability { job: job.clone(), expires_ms, issuer, scheme, signature: bytes })
    }
}

/// Grants a scheduler's capabilities, one per job for as long as it is worth handing on: a job's
/// tasks get the same capability until less than half of its validity is left, so that the
/// scheduler signs once per job rather than once per task, and each BTS verifies it once and then
/// finds it among those it accepted ([`CapabilityCheck`]).
pub struct CapabilityGrants {
    identity: Identity,
    valid_for: Duration,
    granted: Mutex<HashMap<JobId, Capability>>,
}

impl CapabilityGrants {
    /// Grants with `identity`'s key capabilities valid for `valid_for`.
    pub fn new(identity: Identity, valid_for: Duration) -> Self {
        Self { identity, valid_for, granted: Mutex::default() }
    }

    /// `job`'s capability: the one granted before while at least half of its validity is left, else
    /// a new one.
    pub fn grant(&self, job: &JobId) -> Result<Capability, CapabilityError> {
        self.grant_at(job, now_ms())
    }

    /// `job`'s capability at `now` (milliseconds since the Unix epoch).
    fn grant_at(&self, job: &JobId, now: u64) -> Result<Capability, CapabilityError> {
        let valid_ms = self.valid_for.as_millis() as u64;
        let fresh = |capability: &Capability| capability.expires_ms.saturating_sub(now) > valid_ms / 2;
        let mut granted = self.granted.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(capability) = granted.get(job).filter(|capability| fresh(capability)) {
            return Ok(capability.clone());
        }
        let capability = self.identity.grant_until(job, now.saturating_add(valid_ms))?;
        if granted.len() >= REMEMBERED {
            granted.retain(|_, capability| fresh(capability));
            if granted.len() >= REMEMBERED {
                granted.clear();
            }
        }
        granted.insert(job.clone(), capability.clone());
        Ok(capability)
    }
}

/// Checks capabilities with a process's trust (its identity's CA and revocation list),
/// remembering those it accepted so that a job's later requests cost a lookup.
pub struct CapabilityCheck {
    identity: Identity,
    accepted: Mutex<HashSet<Capability>>,
}

impl CapabilityCheck {
    /// Checks with `identity`'s CA and revocation list.
    pub fn new(identity: Identity) -> Self {
        Self { identity, accepted: Mutex::default() }
    }

    /// Whether `capability` lets its holder read and write `job`'s blocks now.
    pub fn check(&self, capability: &Capability, job: &JobId) -> Result<(), CapabilityError> {
        if capability.job != *job {
            return Err(CapabilityError::OtherJob { granted: capability.job.clone(), asked: job.clone() });
        }
        if now_ms() >= capability.expires_ms {
            return Err(CapabilityError::Expired { job: job.clone() });
        }
        let mut accepted = self.accepted.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if accepted.contains(capability) {
            return Ok(());
        }
        drop(accepted);
        self.verify(capability)?;
        accepted = self.accepted.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if accepted.len() >= REMEMBERED {
            accepted.clear();
        }
        accepted.insert(capability.clone());
        Ok(())
    }

    /// Checks the signer's certificate and the signature.
    fn verify(&self, capability: &Capability) -> Result<(), CapabilityError> {
        let signature = Signature {
            issuer: capability.issuer.clone(),
            scheme: capability.scheme,
            bytes: capability.signature.clone(),
        };
        let message = Capability::signed_bytes(&capability.job, capability.expires_ms);
        self.identity.check_scheduler_signature(&message, &signature).map_err(|error| match error {
            SignatureError::Sign { reason } | SignatureError::Issuer { reason } => {
                CapabilityError::Issuer { reason }
            }
            SignatureError::Mismatch => CapabilityError::Signature,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{EphemeralCa, Role};

    #[test]
    fn only_the_schedulers_unaltered_unexpired_capability_for_the_job_is_accepted() {
        let ca = EphemeralCa::new().unwrap();
        let scheduler = ca.identity("scheduler", Role::Scheduler).unwrap();
        let executor = ca.identity("exec-1", Role::Executor).unwrap();
        let check = CapabilityCheck::new(executor.clone());
        let job = JobId("job-1".into());
        let granted = scheduler.grant(&job, Duration::from_secs(60)).unwrap();
        check.check(&granted, &job).unwrap();
        check.check(&granted, &job).expect("remembered");

        let other = JobId("job-2".into());
        assert!(matches!(check.check(&granted, &other), Err(CapabilityError::OtherJob { .. })));
        let retargeted = Capability { job: other.clone(), ..granted.clone() };
        assert!(matches!(check.check(&retargeted, &other), Err(CapabilityError::Signature)));
        let extended = Capability { expires_ms: granted.expires_ms + 1, ..granted.clone() };
        assert!(matches!(check.check(&extended, &job), Err(CapabilityError::Signature)));
        let expired = scheduler.grant(&job, Duration::ZERO).unwrap();
        assert!(matches!(check.check(&expired, &job), Err(CapabilityError::Expired { .. })));

        // An executor's key, or another cluster's scheduler, cannot grant one.
        let by_executor = executor.grant(&job, Duration::from_secs(60)).unwrap();
        assert!(matches!(check.check(&by_executor, &job), Err(CapabilityError::Issuer { .. })));
        let foreign = EphemeralCa::new().unwrap().identity("scheduler", Role::Scheduler).unwrap();
        let by_foreign = foreign.grant(&job, Duration::from_secs(60)).unwrap();
        assert!(matches!(check.check(&by_foreign, &job), Err(CapabilityError::Issuer { .. })));
    }

    #[test]
    fn a_jobs_capability_is_granted_again_until_half_of_its_validity_is_left() {
        let ca = EphemeralCa::new().unwrap();
        let scheduler = ca.identity("scheduler", Role::Scheduler).unwrap();
        let check = CapabilityCheck::new(ca.identity("exec-1", Role::Executor).unwrap());
        let grants = CapabilityGrants::new(scheduler, Duration::from_secs(100));
        let (job, other) = (JobId("job-1".into()), JobId("job-2".into()));
        let now = now_ms();
        let first = grants.grant_at(&job, now).unwrap();
        assert_eq!(first.expires_ms, now + 100_000);
        check.check(&first, &job).unwrap();
        assert_eq!(grants.grant_at(&job, now + 49_999).unwrap(), first, "more than half is left");
        let others = grants.grant_at(&other, now).unwrap();
        assert_eq!((others.job.clone(), others.expires_ms), (other.clone(), now + 100_000));
        check.check(&others, &other).unwrap();

        let renewed = grants.grant_at(&job, now + 50_000).unwrap();
        assert_eq!(renewed.expires_ms, now + 150_000, "half is left: a new one");
        check.check(&renewed, &job).unwrap();
        assert_eq!(grants.grant(&job).unwrap(), renewed);
        assert_eq!(grants.grant_at(&other, now + 1).unwrap(), others);
    }

    #[test]
    fn grants_remember_a_bounded_number_of_jobs() {
        let ca = EphemeralCa::new().unwrap();
        let grants = CapabilityGrants::new(
            ca.identity("scheduler", Role::Scheduler).unwrap(),
            Duration::from_secs(100),
        );
        let now = now_ms();
        for n in 0..=REMEMBERED {
            grants.grant_at(&JobId(format!("job-{n}")), now).unwrap();
        }
        // The table was full of fresh capabilities when the last job came: it started again.
        assert_eq!(grants.granted.lock().unwrap().len(), 1);
        // Stale ones make room first, keeping the fresh.
        let later = now + 60_000;
        let fresh = grants.grant_at(&JobId("fresh".into()), later).unwrap();
        for n in 0..REMEMBERED - 2 {
            grants.grant_at(&JobId(format!("old-{n}")), now).unwrap();
        }
        let more = grants.grant_at(&JobId("more".into()), later).unwrap();
        let granted = grants.granted.lock().unwrap();
        let expected = HashMap::from([(JobId("fresh".into()), fresh), (JobId("more".into()), more)]);
        assert_eq!(*granted, expected, "the stale ones went, the fresh stayed");
    }
}
