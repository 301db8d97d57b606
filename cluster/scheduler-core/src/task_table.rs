//! The tasks of one stage, with what the scheduler asks of them on every event kept at hand.

use std::collections::BTreeSet;

use crate::job_run::TaskState;

/// The states of a stage's tasks, plus the pending ones in index order and how many succeeded
/// or run, so that finding runnable tasks and checking whether the stage is done cost nothing
/// per event, whatever the number of tasks. Every change of a state goes through [`set`].
///
/// [`set`]: TaskTable::set
#[derive(Debug, Clone)]
pub(crate) struct TaskTable {
    states: Vec<TaskState>,
    pending: BTreeSet<u32>,
    succeeded: usize,
    running: usize,
}

impl TaskTable {
    /// `count` pending tasks.
    pub(crate) fn new(count: usize) -> Self {
        let last = u32::try_from(count).unwrap_or(u32::MAX);
        Self {
            states: vec![TaskState::Pending; count],
            pending: (0..last).collect(),
            succeeded: 0,
            running: 0,
        }
    }

    /// The state of task `index`.
    pub(crate) fn get(&self, index: u32) -> Option<&TaskState> {
        self.states.get(index as usize)
    }

    /// Sets the state of task `index` (ignored if there is no such task).
    pub(crate) fn set(&mut self, index: u32, state: TaskState) {
        let Some(slot) = self.states.get_mut(index as usize) else { return };
        match slot {
            TaskState::Pending => self.pending.remove(&index),
            TaskState::Running { .. } => {
                self.running -= 1;
                false
            }
            TaskState::Succeeded { .. } => {
                self.succeeded -= 1;
                false
            }
        };
        match &state {
            TaskState::Pending => self.pending.insert(index),
            TaskState::Running { .. } => {
                self.running += 1;
                false
            }
            TaskState::Succeeded { .. } => {
                self.succeeded += 1;
                false
            }
        };
        *slot = state;
    }

    /// Every task's state, by index.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &TaskState> {
        self.states.iter()
    }

    /// The number of tasks.
    pub(crate) fn len(&self) -> usize {
        self.states.len()
    }

    /// The pending tasks, in index order.
    pub(crate) fn pending(&self) -> impl Iterator<Item = u32> + '_ {
        self.pending.iter().copied()
    }

    /// How many tasks succeeded.
    pub(crate) fn succeeded(&self) -> usize {
        self.succeeded
    }

    /// How many tasks run.
    pub(crate) fn running(&self) -> usize {
        self.running
    }

    /// Whether every task succeeded.
    pub(crate) fn all_succeeded(&self) -> bool {
        self.succeeded == self.states.len()
    }

    /// The tasks whose state `select` picks, by index.
    pub(crate) fn indexes_where(&self, select: impl Fn(&TaskState) -> bool) -> Vec<u32> {
        (0..self.states.len() as u32).filter(|&index| select(&self.states[index as usize])).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flicker_protocol::ExecutorId;

    fn running() -> TaskState {
        TaskState::Running { executor: ExecutorId("e".into()), attempt: 0 }
    }

    fn succeeded() -> TaskState {
        TaskState::Succeeded {
            executor: ExecutorId("e".into()),
            bts: "127.0.0.1:1".parse().unwrap(),
            output: flicker_protocol::task::TaskOutput::MapOutput { partition_bytes: vec![] },
            metrics: Default::default(),
        }
    }

    #[test]
    fn counters_follow_every_change() {
        let mut table = TaskTable::new(4);
        assert_eq!(table.pending().collect::<Vec<_>>(), [0, 1, 2, 3]);
        table.set(1, running());
        table.set(2, running());
        table.set(2, succeeded());
        assert_eq!(table.pending().collect::<Vec<_>>(), [0, 3]);
        assert_eq!((table.running(), table.succeeded()), (1, 1));
        table.set(2, TaskState::Pending);
        table.set(9, running());
        assert_eq!(table.pending().collect::<Vec<_>>(), [0, 2, 3]);
        assert_eq!((table.running(), table.succeeded()), (1, 0));
        for index in 0..4 {
            table.set(index, succeeded());
        }
        assert!(table.all_succeeded());
        assert_eq!(table.running(), 0);
        assert_eq!(table.pending().count(), 0);
        assert_eq!(table.indexes_where(|t| matches!(t, TaskState::Succeeded { .. })), [0, 1, 2, 3]);
        assert!(TaskTable::new(0).all_succeeded());
    }
}
