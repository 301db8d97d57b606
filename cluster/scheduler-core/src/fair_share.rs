//! Weighted fair share: which tenant's task takes the next free slot.
//!
//! The rule (a simpler one than dominant-resource fairness, and documented as such): a free slot
//! goes to the tenant, among those with a task that may start, with the fewest running tasks per
//! unit of its weight; a tie goes to the tenant whose waiting job was submitted first. Within a
//! tenant, its jobs go by priority, then submission order. A tenant at its `max_slots` or
//! `max_memory` waits.
//!
//! So, over time, busy tenants hold slots in proportion to their weights (3:1 weights give 3:1
//! slot-seconds); an idle tenant's share is lent to the busy ones, and taken back as their tasks
//! end: every slot that frees goes to the tenant furthest below its share. Running tasks are
//! never preempted: a tenant coming back waits at most for the next tasks to end.

use flicker_protocol::TenantId;

/// What a tenant's running tasks hold.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Load {
    /// Tasks running (slots held).
    pub running: u32,
    /// Operator memory they hold, in bytes.
    pub memory: u64,
}

/// A tenant with a task that may start.
#[derive(Debug, Clone, Copy)]
pub struct Candidate<'a> {
    /// The tenant.
    pub tenant: &'a TenantId,
    /// Its running tasks.
    pub running: u32,
    /// Its weight (0 counts as 1).
    pub weight: u32,
    /// The submission position of its first waiting job.
    pub first: usize,
}

/// The candidate whose task takes the next free slot (see the [module](self)).
pub fn fairest<'a>(candidates: impl IntoIterator<Item = Candidate<'a>>) -> Option<&'a TenantId> {
    candidates
        .into_iter()
        .min_by(|a, b| {
            // a.running / a.weight against b.running / b.weight, without division.
            let a_share = u64::from(a.running) * u64::from(b.weight.max(1));
            let b_share = u64::from(b.running) * u64::from(a.weight.max(1));
            a_share.cmp(&b_share).then(a.first.cmp(&b.first))
        })
        .map(|c| c.tenant)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tenant_furthest_below_its_weighted_share_goes_first_and_ties_go_by_submission() {
        let (a, b) = (TenantId("a".into()), TenantId("b".into()));
        let candidate = |tenant, running, weight, first| Candidate { tenant, running, weight, first };
        // 3 tasks at weight 3 is a share of 1, below b's 2 at weight 1.
        assert_eq!(fairest([candidate(&a, 3, 3, 5), candidate(&b, 2, 1, 0)]), Some(&a));
        assert_eq!(
            fairest([candidate(&a, 6, 3, 5), candidate(&b, 2, 1, 0)]),
            Some(&b),
            "a tie: b came first"
        );
        assert_eq!(
            fairest([candidate(&a, 0, 0, 5), candidate(&b, 0, 1, 6)]),
            Some(&a),
            "weight 0 counts as 1"
        );
        assert_eq!(fairest([]), None);
    }
}
