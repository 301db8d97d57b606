//! Who may see and touch what, by the role and tenant of a peer's certificate.
//!
//! - A client acts for its tenant (the one its certificate names, or `default`): it submits jobs
//!   and uploads components as that tenant, sees that tenant's jobs only (another tenant's job is
//!   "not found", so its existence does not leak), cancels its own jobs, and a tenant's admins
//!   (its `admins`) cancel any of the tenant's jobs and read its audit records.
//! - An admin sees and manages every tenant's jobs and reads the whole audit log; it submits only
//!   if its certificate names a tenant too.
//! - A certificate of a tenant the scheduler does not declare is refused at the handshake.

use flicker_protocol::TenantId;
use flicker_protocol::tenant::Owner;
use flicker_scheduler_core::tenants::Tenants;
use flicker_storage::AllowedLocation;
use flicker_transport::{Peer, Role};
use std::collections::BTreeMap;

/// The tenants sharing a cluster, as the scheduler applies them.
#[derive(Debug, Clone, Default)]
pub struct TenantPolicy {
    /// Their weights, limits and admins.
    pub tenants: Tenants,
    /// Per tenant, the cloud locations its jobs may reach (within the node's own).
    pub locations: BTreeMap<TenantId, Vec<AllowedLocation>>,
}

impl TenantPolicy {
    /// Local mode's policy: one tenant, `default`, with the weight and limits this policy gives
    /// it (none, unless it declares `[tenants.default]`); every other tenant is unknown.
    pub fn local(&self) -> TenantPolicy {
        let default = TenantId::default_tenant();
        let config = self.tenants.get(&default).cloned().unwrap_or_default();
        TenantPolicy {
            tenants: Tenants::declared(BTreeMap::from([(default, config)])),
            locations: BTreeMap::new(),
        }
    }

    /// Why a connection of `peer` is refused, if it is: its certificate names a tenant the
    /// scheduler does not declare (a client naming none is of the tenant `default`).
    pub fn refuse_connection(&self, peer: Option<&Peer>) -> Option<String> {
        let peer = peer?;
        let tenant = peer.acting_tenant()?;
        self.tenants.get(&tenant).is_none().then(|| {
            format!(
                "{peer} belongs to tenant {:?}, which the scheduler's [tenants] does not declare",
                tenant.0
            )
        })
    }

    /// Whether `peer` may see the jobs of `owner`.
    pub fn may_see(&self, peer: &Peer, owner: &Owner) -> bool {
        peer.role == Role::Admin || peer.acting_tenant().as_ref() == Some(&owner.tenant)
    }

    /// Whether `peer` may cancel the job of `owner`: an admin, its submitter, or an admin of its
    /// tenant.
    pub fn may_cancel(&self, peer: &Peer, owner: &Owner) -> bool {
        peer.role == Role::Admin
            || self.may_see(peer, owner)
                && (owner.submitter == peer.name || self.is_tenant_admin(peer, &owner.tenant))
    }

    /// Whether `peer` is one of `tenant`'s admins.
    fn is_tenant_admin(&self, peer: &Peer, tenant: &TenantId) -> bool {
        peer.acting_tenant().as_ref() == Some(tenant)
            && self.tenants.get(tenant).is_some_and(|config| config.admins.contains(&peer.name))
    }

    /// The audit records `peer` may read when it asks for those of `asked` (or every tenant's):
    /// `Ok(None)` for all, `Ok(Some(t))` for tenant `t`'s only; refused with why.
    pub fn audit_scope(&self, peer: &Peer, asked: Option<TenantId>) -> Result<Option<TenantId>, String> {
        if peer.role == Role::Admin {
            return Ok(asked);
        }
        match peer.acting_tenant() {
            Some(own) if self.is_tenant_admin(peer, &own) && asked.as_ref().is_none_or(|t| t == &own) => {
                Ok(Some(own))
            }
            _ => Err(format!(
                "{peer} may not read the audit log: only admins, and a tenant's admins for its tenant, may"
            )),
        }
    }

    /// The tenants whose usage `peer` may see when it asks for `asked` (or every one it may).
    pub fn usage_scope(&self, peer: &Peer, asked: Option<TenantId>) -> Result<Option<TenantId>, String> {
        if peer.role == Role::Admin {
            return Ok(asked);
        }
        let own = peer.acting_tenant().ok_or_else(|| format!("{peer} belongs to no tenant"))?;
        match asked {
            Some(tenant) if tenant != own => {
                Err(format!("{peer} may see the usage of its own tenant {:?} only", own.0))
            }
            _ => Ok(Some(own)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flicker_scheduler_core::tenants::TenantConfig;

    fn peer(name: &str, role: Role, tenant: Option<&str>) -> Peer {
        Peer { name: name.into(), role, tenant: tenant.map(|t| TenantId(t.into())) }
    }

    fn owner(tenant: &str, submitter: &str) -> Owner {
        Owner { tenant: TenantId(tenant.into()), submitter: submitter.into() }
    }

    #[test]
    fn tenants_see_their_own_jobs_cancel_their_own_and_admins_everything() {
        let acme = TenantConfig { admins: ["boss".to_owned()].into(), ..TenantConfig::default() };
        let policy = TenantPolicy {
            tenants: Tenants::declared(BTreeMap::from([
                (TenantId("acme".into()), acme),
                (TenantId("zeta".into()), TenantConfig::default()),
            ])),
            locations: BTreeMap::new(),
        };
        let (alice, bob, boss) = (
            peer("alice", Role::Client, Some("acme")),
            peer("bob", Role::Client, Some("acme")),
            peer("boss", Role::Client, Some("acme")),
        );
        let (zed, root) = (peer("zed", Role::Client, Some("zeta")), peer("root", Role::Admin, None));
        let job = owner("acme", "alice");
        assert!(policy.may_see(&alice, &job) && policy.may_see(&bob, &job) && policy.may_see(&root, &job));
        assert!(!policy.may_see(&zed, &job));
        assert!(
            policy.may_cancel(&alice, &job)
                && policy.may_cancel(&boss, &job)
                && policy.may_cancel(&root, &job)
        );
        assert!(!policy.may_cancel(&bob, &job) && !policy.may_cancel(&zed, &job));
        assert_eq!(policy.audit_scope(&root, None), Ok(None));
        assert_eq!(policy.audit_scope(&boss, None), Ok(Some(TenantId("acme".into()))));
        assert!(policy.audit_scope(&boss, Some(TenantId("zeta".into()))).is_err());
        assert!(policy.audit_scope(&alice, None).is_err());
        assert_eq!(policy.usage_scope(&alice, None), Ok(Some(TenantId("acme".into()))));
        assert!(policy.usage_scope(&alice, Some(TenantId("zeta".into()))).is_err());
        let stranger = peer("eve", Role::Client, Some("evil"));
        assert!(policy.refuse_connection(Some(&stranger)).unwrap().contains("\"evil\""));
        let tenantless = peer("carol", Role::Client, None);
        assert!(policy.refuse_connection(Some(&tenantless)).unwrap().contains("\"default\""));
        assert_eq!(policy.refuse_connection(Some(&root)), None);
        assert_eq!(policy.refuse_connection(Some(&alice)), None);
        assert_eq!(TenantPolicy::default().refuse_connection(Some(&stranger)), None, "an open cluster");
    }

    #[test]
    fn local_mode_is_the_default_tenant_with_the_limits_declared_for_it() {
        let default = TenantId::default_tenant();
        let local = TenantPolicy::default().local();
        assert_eq!(local.tenants.get(&default), Some(&TenantConfig::default()));
        assert_eq!(local.tenants.get(&TenantId("acme".into())), None);
        let limited = TenantConfig { max_slots: Some(1), ..TenantConfig::default() };
        let declared = TenantPolicy {
            tenants: Tenants::declared(BTreeMap::from([(default.clone(), limited.clone())])),
            locations: BTreeMap::new(),
        };
        assert_eq!(declared.local().tenants.get(&default), Some(&limited));
    }
}
