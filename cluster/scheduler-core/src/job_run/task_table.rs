//! The tasks of one stage, with what the scheduler asks of them on every event kept at hand.

use super::task::{Attempt, Task, TaskDone, TaskState};
use flicker_protocol::{AttemptId, ExecutorId, TaskIndex};
use std::collections::BTreeSet;

/// A stage's tasks, one [`Task`] record each, plus the pending ones in index order and how many
/// succeeded or run, so that finding runnable tasks and checking whether the stage is done cost
/// nothing per event, whatever the number of tasks. Every change of a task goes through the
/// table, which hands out no `&mut Task`.
#[derive(Debug, Clone)]
pub(crate) struct TaskTable {
    tasks: Vec<Task>,
    counts: Counts,
}

/// How many tasks are in each state, and which are pending.
#[derive(Debug, Clone)]
struct Counts {
    pending: BTreeSet<TaskIndex>,
    succeeded: usize,
    running: usize,
}

impl Counts {
    /// Counts task `index` out of `state`.
    fn leave(&mut self, index: TaskIndex, state: &TaskState) {
        match state {
            TaskState::Pending => {
                self.pending.remove(&index);
            }
            TaskState::Running { .. } => self.running -= 1,
            TaskState::Succeeded(_) => self.succeeded -= 1,
        }
    }

    /// Counts task `index` into `state`.
    fn enter(&mut self, index: TaskIndex, state: &TaskState) {
        match state {
            TaskState::Pending => {
                self.pending.insert(index);
            }
            TaskState::Running { .. } => self.running += 1,
            TaskState::Succeeded(_) => self.succeeded += 1,
        }
    }
}

impl TaskTable {
    /// `count` pending tasks.
    pub(crate) fn new(count: usize) -> Self {
        let last = u32::try_from(count).unwrap_or(u32::MAX);
        let counts = Counts { pending: (0..last).map(TaskIndex).collect(), succeeded: 0, running: 0 };
        Self { tasks: vec![Task::new(); count], counts }
    }

    /// Task `index`.
    pub(crate) fn get(&self, index: TaskIndex) -> Option<&Task> {
        self.tasks.get(index.at())
    }

    /// Sets the state of task `index` (ignored if there is no such task); returns the state it
    /// left.
    pub(crate) fn set(&mut self, index: TaskIndex, state: TaskState) -> Option<TaskState> {
        let task = self.tasks.get_mut(index.at())?;
        let left = task.replace_state(state);
        self.counts.leave(index, &left);
        self.counts.enter(index, task.state());
        Some(left)
    }

    /// Starts a new attempt of task `index` on `executor`; returns its number.
    pub(crate) fn launch(&mut self, index: TaskIndex, executor: &ExecutorId) -> Option<AttemptId> {
        let attempt = self.tasks.get_mut(index.at())?.next_attempt();
        self.set(index, TaskState::Running { executor: executor.clone(), attempt });
        Some(attempt)
    }

    /// Keeps a finished attempt of task `index`.
    pub(crate) fn keep(&mut self, index: TaskIndex, attempt: Attempt) {
        if let Some(task) = self.tasks.get_mut(index.at()) {
            task.keep(attempt);
        }
    }

    /// Counts what an attempt of task `index` consumed.
    pub(crate) fn add_usage(&mut self, index: TaskIndex, usage: flicker_protocol::tenant::TaskUsage) {
        if let Some(task) = self.tasks.get_mut(index.at()) {
            task.add_usage(usage);
        }
    }

    /// Task `index` succeeded but its output is lost: it is pending again. Returns what it had
    /// left behind and how often its output was lost so far; `None` if it had not succeeded.
    pub(crate) fn undo(&mut self, index: TaskIndex) -> Option<(TaskDone, u32)> {
        let TaskState::Succeeded(_) = self.get(index)?.state() else { return None };
        let Some(TaskState::Succeeded(done)) = self.set(index, TaskState::Pending) else { return None };
        let recomputed = self.tasks[index.at()].count_recompute();
        Some((done, recomputed))
    }

    /// Every task, by index.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &Task> {
        self.tasks.iter()
    }

    /// The number of tasks.
    pub(crate) fn len(&self) -> usize {
        self.tasks.len()
    }

    /// The pending tasks, in index order.
    pub(crate) fn pending(&self) -> impl Iterator<Item = TaskIndex> + '_ {
        self.counts.pending.iter().copied()
    }

    /// How many tasks succeeded.
    pub(crate) fn succeeded(&self) -> usize {
        self.counts.succeeded
    }

    /// How many tasks run.
    pub(crate) fn running(&self) -> usize {
        self.counts.running
    }

    /// Whether every task succeeded.
    pub(crate) fn all_succeeded(&self) -> bool {
        self.counts.succeeded == self.tasks.len()
    }

    /// The tasks whose state `select` picks, by index.
    pub(crate) fn indexes_where(&self, select: impl Fn(&TaskState) -> bool) -> Vec<TaskIndex> {
        (0..self.tasks.len() as u32)
            .map(TaskIndex)
            .filter(|index| select(self.tasks[index.at()].state()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job_run::task::tests::map_done;

    fn running() -> TaskState {
        TaskState::Running { executor: ExecutorId("e".into()), attempt: AttemptId(0) }
    }

    fn succeeded() -> TaskState {
        TaskState::Succeeded(map_done("e", 1, 0))
    }

    #[test]
    fn counters_follow_every_change() {
        let mut table = TaskTable::new(4);
        assert_eq!(table.pending().collect::<Vec<_>>(), [0, 1, 2, 3].map(TaskIndex));
        table.set(TaskIndex(1), running());
        table.set(TaskIndex(2), running());
        table.set(TaskIndex(2), succeeded());
        assert_eq!(table.pending().collect::<Vec<_>>(), [0, 3].map(TaskIndex));
        assert_eq!((table.running(), table.succeeded()), (1, 1));
        table.set(TaskIndex(2), TaskState::Pending);
        assert_eq!(table.set(TaskIndex(9), running()), None);
        assert_eq!(table.pending().collect::<Vec<_>>(), [0, 2, 3].map(TaskIndex));
        assert_eq!((table.running(), table.succeeded()), (1, 0));
        table.set(TaskIndex(3), TaskState::Pending);
        assert_eq!(
            table.pending().collect::<Vec<_>>(),
            [0, 2, 3].map(TaskIndex),
            "pending twice is pending once"
        );
        for index in (0..4).map(TaskIndex) {
            table.set(index, succeeded());
        }
        assert!(table.all_succeeded());
        assert_eq!(table.running(), 0);
        assert_eq!(table.pending().count(), 0);
        assert_eq!(
            table.indexes_where(|t| matches!(t, TaskState::Succeeded(_))),
            [0, 1, 2, 3].map(TaskIndex)
        );
        assert!(TaskTable::new(0).all_succeeded());
    }

    #[test]
    fn each_launch_is_a_new_attempt_of_the_task() {
        let mut table = TaskTable::new(2);
        let e = ExecutorId("e".into());
        assert_eq!(table.launch(TaskIndex(1), &e), Some(AttemptId(0)));
        table.set(TaskIndex(1), TaskState::Pending);
        assert_eq!(table.launch(TaskIndex(1), &e), Some(AttemptId(1)));
        assert_eq!(table.launch(TaskIndex(0), &e), Some(AttemptId(0)), "attempts are counted per task");
        assert_eq!(table.running(), 2);
        assert_eq!(table.get(TaskIndex(1)).unwrap().state(), &running_attempt(&e, AttemptId(1)));
        assert_eq!(table.launch(TaskIndex(2), &e), None);
    }

    fn running_attempt(executor: &ExecutorId, attempt: AttemptId) -> TaskState {
        TaskState::Running { executor: executor.clone(), attempt }
    }

    #[test]
    fn undoing_a_success_makes_the_task_pending_and_counts_the_loss() {
        let mut table = TaskTable::new(2);
        assert_eq!(table.undo(TaskIndex(0)), None, "a pending task has no output to lose");
        table.set(TaskIndex(0), succeeded());
        assert_eq!(table.undo(TaskIndex(0)), Some((map_done("e", 1, 0), 1)));
        assert_eq!(table.pending().collect::<Vec<_>>(), [0, 1].map(TaskIndex));
        assert_eq!(table.succeeded(), 0);
        table.set(TaskIndex(0), succeeded());
        assert_eq!(table.undo(TaskIndex(0)).map(|(_, n)| n), Some(2));
        assert_eq!(table.get(TaskIndex(0)).unwrap().recomputed(), 2);
    }
}
