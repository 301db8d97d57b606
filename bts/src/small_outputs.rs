//! Small map outputs kept in memory rather than in files.
//!
//! A map task of a few lines writes an output of a few hundred bytes; creating, renaming, opening
//! and deleting a file for each was most of what such tasks cost (ext4's inode allocation and
//! directory locks, in `perf`). A store given a memory budget keeps outputs of at most
//! [`SMALL_OUTPUT`] bytes as their whole file image (blocks, index, footer) in a map, as long as
//! the budget has room; larger ones, and any once the budget is used up, go to files as before.
//! Readers look in memory first. Nothing is lost that a file would have kept: an executor's BTS
//! lives in its process, and a lost executor's map outputs are computed again from lineage either
//! way.

use flicker_protocol::ids::{JobId, MapOutputId};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

/// The largest map output kept in memory, in bytes (its whole image).
pub const SMALL_OUTPUT: usize = 64 << 10;

/// The map outputs kept in memory, within a byte budget.
#[derive(Debug)]
pub(crate) struct SmallOutputs {
    budget: u64,
    held: Mutex<Held>,
}

#[derive(Debug, Default)]
struct Held {
    bytes: u64,
    outputs: HashMap<MapOutputId, Arc<Vec<u8>>>,
}

impl SmallOutputs {
    /// Room for `budget` bytes of small outputs.
    pub fn new(budget: u64) -> Self {
        Self { budget, held: Mutex::default() }
    }

    fn held(&self) -> MutexGuard<'_, Held> {
        self.held.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Keeps `image` as the output `id`, replacing one kept before, if it is small and the budget
    /// has room; hands it back otherwise.
    pub fn insert(&self, id: &MapOutputId, image: Vec<u8>) -> Result<(), Vec<u8>> {
        if image.len() > SMALL_OUTPUT {
            return Err(image);
        }
        let mut held = self.held();
        let replaced = held.outputs.get(id).map_or(0, |old| old.len() as u64);
        if held.bytes - replaced + image.len() as u64 > self.budget {
            return Err(image);
        }
        held.bytes = held.bytes - replaced + image.len() as u64;
        held.outputs.insert(id.clone(), Arc::new(image));
        Ok(())
    }

    /// Forgets the output `id` (a newer one went to a file).
    pub fn remove(&self, id: &MapOutputId) {
        let mut held = self.held();
        if let Some(old) = held.outputs.remove(id) {
            held.bytes -= old.len() as u64;
        }
    }

    /// The image of output `id`, if kept (shared, not copied).
    pub fn get(&self, id: &MapOutputId) -> Option<Arc<Vec<u8>>> {
        self.held().outputs.get(id).cloned()
    }

    /// Runs `f` on the image of output `id`, if kept, to change it (readers holding the image
    /// keep the bytes they got).
    pub fn with<R>(&self, id: &MapOutputId, f: impl FnOnce(&mut [u8]) -> R) -> Option<R> {
        self.held().outputs.get_mut(id).map(|image| f(Arc::make_mut(image).as_mut_slice()))
    }

    /// Forgets every output of `job`; returns their bytes.
    pub fn remove_job(&self, job: &JobId) -> u64 {
        let mut held = self.held();
        let mut freed = 0;
        held.outputs.retain(|id, image| {
            let keep = id.job != *job;
            if !keep {
                freed += image.len() as u64;
            }
            keep
        });
        held.bytes -= freed;
        freed
    }

    /// The jobs with an output kept here.
    pub fn jobs(&self) -> Vec<JobId> {
        self.held().outputs.keys().map(|id| id.job.clone()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flicker_protocol::{StageId, TaskIndex};

    fn id(job: &str, map_task: u32) -> MapOutputId {
        MapOutputId { job: JobId(job.into()), stage: StageId(0), map_task: TaskIndex(map_task) }
    }

    #[test]
    fn outputs_are_kept_within_the_budget_and_replaced_and_removed() {
        let small = SmallOutputs::new(100);
        assert!(small.insert(&id("a", 0), vec![1; 60]).is_ok());
        assert_eq!(small.insert(&id("a", 1), vec![2; 60]), Err(vec![2; 60]), "over the budget");
        assert!(small.insert(&id("a", 0), vec![3; 90]).is_ok(), "a replacement counts once");
        assert_eq!(small.with(&id("a", 0), |image| image.len()), Some(90));
        small.remove(&id("a", 0));
        assert!(small.insert(&id("a", 1), vec![2; 60]).is_ok());
        assert!(small.insert(&id("b", 0), vec![4; 40]).is_ok());
        assert_eq!(small.remove_job(&id("a", 0).job), 60);
        assert_eq!(small.jobs(), [JobId("b".into())]);
        assert!(small.get(&id("a", 1)).is_none());
        let big = vec![0; SMALL_OUTPUT + 1];
        assert_eq!(SmallOutputs::new(u64::MAX).insert(&id("c", 0), big.clone()), Err(big));
    }
}
