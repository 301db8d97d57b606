//! The node's operator sandboxes: how much of the pooling allocator one operator instance may
//! take, how many instances the pool holds, and the count of those in use.
//!
//! Every operator instance (a component instance in its own store) takes one *sandbox*, which
//! holds at most [`MAX_CORE_INSTANCES`] core instances, [`MAX_MEMORIES`] linear memories and
//! [`MAX_TABLES`] tables: a component that needs more is refused when it is loaded, before any
//! task. The pool has room for every sandbox's share of each, so no instance can take what
//! another needs: the only thing to run out of is sandboxes, which a node sizes from its task
//! slots ([`crate::RuntimeConfig::for_slots`]). An instance made when all are in use waits for
//! one to be freed, for at most [`SANDBOX_WAIT`] (by default), and then fails as a condition of the node,
//! not of the operator.

use crate::HostError;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};
use wasmtime::{Enabled, PoolingAllocationConfig};

/// Core module instances one operator component may create: a Rust component makes 2 to 4, a
/// Python one built by componentize-py 0.25 makes 38 (its interpreter and libraries). They are
/// slots of metadata in the pool, not memory: the memories stay [`MAX_MEMORIES`].
pub const MAX_CORE_INSTANCES: u32 = 64;
/// Linear memories one operator component may define, all together held to its memory limit.
pub const MAX_MEMORIES: u32 = 4;
/// Tables one operator component may define (a Rust component defines 2).
pub const MAX_TABLES: u32 = 4;
/// Operator instances one task may hold at once: the operators fused into one stage. A stage of
/// more is refused at submit.
pub const MAX_TASK_SANDBOXES: u32 = 32;
/// Sandboxes a scheduler keeps for checking submitted jobs (their operators' `create` and
/// schemas, one instance at a time per submission).
pub const VALIDATION_SANDBOXES: u32 = 8;
/// How long making an instance waits for a free sandbox before it fails, unless the runtime's
/// config says otherwise.
pub const SANDBOX_WAIT: Duration = Duration::from_secs(30);

/// The pooling allocator for `sandboxes` operator instances of at most `max_memory` bytes of
/// linear memory each.
pub(crate) fn pooling(sandboxes: u32, max_memory: u64) -> PoolingAllocationConfig {
    let mut pool = PoolingAllocationConfig::default();
    pool.total_component_instances(sandboxes)
        .total_core_instances(sandboxes.saturating_mul(MAX_CORE_INSTANCES))
        .total_memories(sandboxes.saturating_mul(MAX_MEMORIES))
        .total_tables(sandboxes.saturating_mul(MAX_TABLES))
        .max_core_instances_per_component(MAX_CORE_INSTANCES)
        .max_memories_per_component(MAX_MEMORIES)
        .max_tables_per_component(MAX_TABLES)
        .max_memory_size(usize::try_from(max_memory).unwrap_or(usize::MAX))
        // A freed instance's first 2 MiB of memory (all a small task touches) are reset with
        // a memset rather than `madvise`, whose TLB shoot-downs interrupted the other core
        // for every instance of a tiny task: 1,940-2,100 -> 2,300-2,500 tasks/s.
        .linear_memory_keep_resident(2 << 20)
        .table_keep_resident(64 << 10)
        // Where the kernel can tell (Linux 6.7+), only the pages the instance wrote are reset,
        // rather than all of the first 2 MiB.
        .pagemap_scan(Enabled::Auto);
    pool
}

/// Whether wasmtime refused a component for needing more than one sandbox holds (its own
/// error type is private: it is known by its words; a test loads such a component).
pub(crate) fn over_sandbox(message: &str) -> bool {
    message.contains("exceeds the configured maximum of")
}

/// The count of a node's sandboxes in use.
#[derive(Debug)]
pub(crate) struct SandboxPool {
    total: u32,
    free: Mutex<u32>,
    freed: Condvar,
}

impl SandboxPool {
    /// A pool of `total` sandboxes, all free.
    pub(crate) fn new(total: u32) -> Arc<Self> {
        Arc::new(Self { total, free: Mutex::new(total), freed: Condvar::new() })
    }

    /// A sandbox, waiting up to `wait` for one to be freed.
    pub(crate) fn take(self: &Arc<Self>, wait: Duration) -> Result<SandboxPermit, HostError> {
        let until = Instant::now() + wait;
        let mut free = self.free.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        while *free == 0 {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(HostError::NoSandbox { sandboxes: self.total, waited: wait });
            }
            free = self.freed.wait_timeout(free, left).unwrap_or_else(|poisoned| poisoned.into_inner()).0;
        }
        *free -= 1;
        Ok(SandboxPermit(self.clone()))
    }
}

/// One sandbox in use, freed when dropped.
#[derive(Debug)]
pub(crate) struct SandboxPermit(Arc<SandboxPool>);

impl Drop for SandboxPermit {
    fn drop(&mut self) {
        *self.0.free.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) += 1;
        self.0.freed.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pool_hands_out_its_sandboxes_and_takes_them_back() {
        let pool = SandboxPool::new(2);
        let first = pool.take(Duration::ZERO).unwrap();
        let _second = pool.take(Duration::ZERO).unwrap();
        let error = pool.take(Duration::from_millis(10)).unwrap_err();
        assert!(error.to_string().contains("all 2 operator sandboxes of this node are in use"), "{error}");
        drop(first);
        pool.take(Duration::ZERO).unwrap();
    }

    #[test]
    fn a_waiting_instance_gets_the_sandbox_freed_by_another() {
        let pool = SandboxPool::new(1);
        let held = pool.take(Duration::ZERO).unwrap();
        std::thread::scope(|scope| {
            let waiter = scope.spawn(|| pool.take(Duration::from_secs(600)).map(drop));
            std::thread::sleep(Duration::from_millis(20));
            drop(held);
            waiter.join().unwrap().unwrap();
        });
    }
}
