//! Which executors belong to the cluster, whether they are alive, and how busy they are.
//!
//! A member's life: `register` → Alive ──silence past the timeout, or its connection closed──▶
//! Lost. A lost executor that comes back registers again and starts afresh (its earlier tasks
//! died with it). Pure: time is passed in as the scheduler's monotonic clock.

use flicker_protocol::scheduler::{Registration, RequestError};
use flicker_protocol::status::{NodeState, NodeStatus};
use flicker_protocol::{ExecutorId, PluginDigest};
use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;
use std::time::Duration;

/// One executor as the scheduler knows it.
#[derive(Debug, Clone)]
pub struct Member {
    /// What it said when it joined.
    pub registration: Registration,
    /// The address its connection comes from.
    pub address: SocketAddr,
    /// Alive or lost.
    pub state: NodeState,
    /// When it was last heard from.
    pub last_heartbeat: Duration,
    /// Tasks running on it.
    pub running: u32,
    /// Components it holds (compiled, or fetching for a task it was given).
    pub plugins: HashSet<PluginDigest>,
    /// Task attempts it reported succeeded, since it joined.
    pub succeeded: u64,
    /// Task attempts it reported failed, since it joined.
    pub failed: u64,
    /// Bytes of shuffle blocks its BTS served, as of its last heartbeat.
    pub served: u64,
}

impl Member {
    /// Whether it can take another task, given `queued` tasks beyond its slots (which wait on
    /// the executor for a slot).
    pub fn can_take(&self, queued: u32) -> bool {
        self.state == NodeState::Alive && self.running < self.registration.slots.saturating_add(queued)
    }
}

/// The cluster's executors.
#[derive(Debug)]
pub struct Membership {
    members: BTreeMap<ExecutorId, Member>,
    /// Silence after which an executor is declared lost.
    pub timeout: Duration,
}

impl Membership {
    /// No members yet; executors silent for `timeout` are lost.
    pub fn new(timeout: Duration) -> Self {
        Self { members: BTreeMap::new(), timeout }
    }

    /// Adds (or renews) a member.
    pub fn register(&mut self, registration: Registration, address: SocketAddr, now: Duration) {
        let id = registration.executor.clone();
        let plugins = registration.plugins.iter().copied().collect();
        let member = Member {
            registration,
            address,
            state: NodeState::Alive,
            last_heartbeat: now,
            running: 0,
            plugins,
            succeeded: 0,
            failed: 0,
            served: 0,
        };
        self.members.insert(id, member);
    }

    /// Whether `executor` is an alive member.
    pub fn is_alive(&self, executor: &ExecutorId) -> bool {
        self.members.get(executor).is_some_and(|m| m.state == NodeState::Alive)
    }

    /// Records a heartbeat. A lost or unknown executor must register again.
    pub fn heartbeat(
        &mut self,
        executor: &ExecutorId,
        served: u64,
        now: Duration,
    ) -> Result<(), RequestError> {
        match self.members.get_mut(executor) {
            Some(member) if member.state == NodeState::Alive => {
                member.last_heartbeat = now;
                member.served = served;
                Ok(())
            }
            _ => Err(RequestError::NotRegistered { executor: executor.clone() }),
        }
    }

    /// Declares lost every alive member silent for longer than the timeout; returns them.
    pub fn expire(&mut self, now: Duration) -> Vec<ExecutorId> {
        let timeout = self.timeout;
        self.members
            .iter_mut()
            .filter(|(_, m)| m.state == NodeState::Alive && now.saturating_sub(m.last_heartbeat) > timeout)
            .map(|(id, m)| {
                m.state = NodeState::Lost;
                m.running = 0;
                id.clone()
            })
            .collect()
    }

    /// Declares `executor` lost (its connection closed). Returns whether it was alive.
    pub fn lose(&mut self, executor: &ExecutorId) -> bool {
        match self.members.get_mut(executor) {
            Some(member) if member.state == NodeState::Alive => {
                member.state = NodeState::Lost;
                member.running = 0;
                true
            }
            _ => false,
        }
    }

    /// The member `executor`.
    pub fn get(&self, executor: &ExecutorId) -> Option<&Member> {
        self.members.get(executor)
    }

    /// Records that a task of a job using `plugins` was started on `executor`.
    pub fn task_started(&mut self, executor: &ExecutorId, plugins: &[PluginDigest]) {
        if let Some(member) = self.members.get_mut(executor) {
            member.running += 1;
            member.plugins.extend(plugins.iter().copied());
        }
    }

    /// Records that a task on `executor` ended.
    pub fn task_ended(&mut self, executor: &ExecutorId, succeeded: bool) {
        if let Some(member) = self.members.get_mut(executor) {
            member.running = member.running.saturating_sub(1);
            if succeeded {
                member.succeeded += 1;
            } else {
                member.failed += 1;
            }
        }
    }

    /// Alive members.
    pub fn alive(&self) -> impl Iterator<Item = &ExecutorId> {
        self.members.iter().filter(|(_, m)| m.state == NodeState::Alive).map(|(id, _)| id)
    }

    /// Alive members that can take another task, given `queued` tasks beyond their slots.
    pub fn available(&self, queued: u32) -> impl Iterator<Item = (&ExecutorId, &Member)> {
        self.members.iter().filter(move |(_, m)| m.can_take(queued))
    }

    /// Task slots of the alive members.
    pub fn alive_slots(&self) -> u32 {
        self.members.values().filter(|m| m.state == NodeState::Alive).map(|m| m.registration.slots).sum()
    }

    /// Every member as `flicker nodes` shows it.
    pub fn status(&self, now: Duration) -> Vec<NodeStatus> {
        self.members
            .iter()
            .map(|(id, m)| NodeStatus {
                executor: id.clone(),
                address: m.address,
                bts: m.registration.bts,
                state: m.state,
                slots: m.registration.slots,
                running: m.running,
                memory: m.registration.memory,
                last_heartbeat_ms: now.saturating_sub(m.last_heartbeat).as_millis() as u64,
                tasks_succeeded: m.succeeded,
                tasks_failed: m.failed,
                shuffle_served_bytes: m.served,
            })
            .collect()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn registration(name: &str, slots: u32) -> Registration {
        Registration {
            executor: ExecutorId(name.into()),
            bts: format!("127.0.0.1:{}", 7000 + u32::from(name.as_bytes()[0])).parse().unwrap(),
            bts_in_process: true,
            slots,
            memory: 1 << 30,
            plugins: Vec::new(),
        }
    }

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn silent_executors_are_lost_and_must_register_again() {
        let mut members = Membership::new(secs(10));
        let addr = "127.0.0.1:5000".parse().unwrap();
        members.register(registration("a", 2), addr, secs(0));
        members.register(registration("b", 2), addr, secs(0));
        members.heartbeat(&ExecutorId("a".into()), 5, secs(8)).unwrap();
        assert_eq!(members.get(&ExecutorId("a".into())).unwrap().served, 5, "what its BTS served");
        assert_eq!(members.expire(secs(15)), vec![ExecutorId("b".into())]);
        assert!(members.expire(secs(16)).is_empty());
        assert!(matches!(
            members.heartbeat(&ExecutorId("b".into()), 0, secs(16)),
            Err(RequestError::NotRegistered { .. })
        ));
        let nodes = members.status(secs(16));
        assert_eq!(nodes[0].state, NodeState::Alive);
        assert_eq!(nodes[0].last_heartbeat_ms, 8000);
        assert_eq!(nodes[1].state, NodeState::Lost);
        assert!(!members.is_alive(&ExecutorId("b".into())));
        members.register(registration("b", 2), addr, secs(17));
        assert!(members.is_alive(&ExecutorId("b".into())));
    }

    #[test]
    fn slots_fill_and_free() {
        let mut members = Membership::new(secs(10));
        members.register(registration("a", 1), "127.0.0.1:5000".parse().unwrap(), secs(0));
        let a = ExecutorId("a".into());
        assert_eq!(members.available(0).count(), 1);
        members.task_started(&a, &[PluginDigest::of(b"x")]);
        assert_eq!(members.available(0).count(), 0);
        assert_eq!(members.available(1).count(), 1, "one task may wait for its slot");
        members.task_started(&a, &[]);
        assert_eq!(members.available(1).count(), 0);
        members.task_ended(&a, true);
        assert!(members.get(&a).unwrap().plugins.contains(&PluginDigest::of(b"x")));
        members.task_ended(&a, false);
        assert_eq!(members.available(0).count(), 1);
        assert_eq!((members.get(&a).unwrap().succeeded, members.get(&a).unwrap().failed), (1, 1));
        assert_eq!(members.alive_slots(), 1);
        assert!(members.lose(&a));
        assert_eq!(members.alive_slots(), 0);
    }
}
