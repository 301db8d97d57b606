//! Buffers of decoded blocks, handed back by the reduce task that read them, to decode later
//! blocks into: a block's buffer is otherwise fresh memory each time (glibc maps anything above
//! its mmap threshold afresh), which the kernel zeroes page by page and the decoder zeroes
//! again, piece by piece, before writing it. A reused buffer needs neither: every byte of it that
//! a block hands on was written by that block's pieces (the decoder checks that they fill its raw
//! length exactly), so nothing of an earlier block, another job's or tenant's, is ever read.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Bytes of buffers kept at most: the default bytes in flight of a reduce task's fetches
/// ([`FetchLimits`](crate::FetchLimits)), so that a partition's blocks find their buffers again.
pub const KEPT_BYTES: usize = 64 << 20;

/// How long buffers are kept without being used: then they are freed, so an executor that
/// fetches nothing for a while holds no shuffle memory ([`BlockBuffers::free_if_idle`]).
pub const IDLE: Duration = Duration::from_secs(10);

/// The smallest buffer kept: one piece ([`crate::block::PIECE`]); smaller blocks cost little to
/// allocate.
const SMALLEST: usize = crate::block::PIECE;

/// A pool of decoded blocks' buffers, at most [`KEPT_BYTES`] of them.
#[derive(Debug, Default)]
pub struct BlockBuffers {
    kept: Mutex<Kept>,
}

#[derive(Debug, Default)]
struct Kept {
    buffers: Vec<Vec<u8>>,
    bytes: usize,
    /// When a buffer was last given back or taken.
    used: Option<Instant>,
}

impl BlockBuffers {
    /// Keeps `buffer` (a block that was read) for a later block, unless it is smaller than a
    /// piece or keeping it would hold more than [`KEPT_BYTES`].
    pub fn give_back(&self, buffer: Vec<u8>) {
        let capacity = buffer.capacity();
        if capacity < SMALLEST {
            return;
        }
        let mut kept = self.lock();
        if kept.bytes + capacity <= KEPT_BYTES {
            kept.bytes += capacity;
            kept.buffers.push(buffer);
            kept.used = Some(Instant::now());
        }
    }

    /// The smallest buffer kept with room for `len` bytes and no more than twice that (a block
    /// does not hold on to much more memory than it needs), if any; its bytes are those of the
    /// block it held.
    pub(crate) fn take(&self, len: usize) -> Option<Vec<u8>> {
        let mut kept = self.lock();
        let (at, _) = (kept.buffers.iter().enumerate())
            .map(|(at, buffer)| (at, buffer.capacity()))
            .filter(|&(_, capacity)| capacity >= len && capacity / 2 <= len)
            .min_by_key(|&(_, capacity)| capacity)?;
        let buffer = kept.buffers.swap_remove(at);
        kept.bytes -= buffer.capacity();
        kept.used = Some(Instant::now());
        Some(buffer)
    }

    /// Frees every buffer kept if none was given back or taken for `idle` by `now`; the bytes
    /// freed.
    pub fn free_if_idle(&self, now: Instant, idle: Duration) -> usize {
        let mut kept = self.lock();
        if kept.used.is_some_and(|used| now.saturating_duration_since(used) < idle) {
            return 0;
        }
        kept.buffers = Vec::new();
        std::mem::take(&mut kept.bytes)
    }

    /// Bytes of the buffers kept.
    pub fn kept_bytes(&self) -> usize {
        self.lock().bytes
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Kept> {
        self.kept.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_smallest_buffer_that_fits_is_taken_and_the_kept_bytes_are_bounded() {
        let buffers = BlockBuffers::default();
        buffers.give_back(Vec::with_capacity(SMALLEST - 1));
        assert_eq!(buffers.kept_bytes(), 0, "smaller than a piece: not kept");
        for mib in [8, 2, 4] {
            buffers.give_back(vec![7; mib << 20]);
        }
        assert_eq!(buffers.kept_bytes(), 14 << 20);
        assert!(buffers.take(9 << 20).is_none(), "none is large enough");
        assert!(buffers.take(900 << 10).is_none(), "the smallest is more than twice too large");
        let taken = buffers.take(3 << 20).unwrap();
        assert_eq!((taken.capacity(), taken.len()), (4 << 20, 4 << 20));
        assert_eq!(buffers.kept_bytes(), 10 << 20);
        for _ in 0..100 {
            buffers.give_back(vec![0; 1 << 20]);
        }
        assert_eq!(buffers.kept_bytes(), KEPT_BYTES);
    }

    #[test]
    fn buffers_unused_for_the_idle_time_are_freed() {
        // Each instant is taken before the use it follows, so the idle times below are upper
        // bounds of the real ones, whatever the machine's pace.
        let buffers = BlockBuffers::default();
        assert_eq!(buffers.free_if_idle(Instant::now(), IDLE), 0, "nothing kept");
        let given = Instant::now();
        buffers.give_back(vec![0; 2 << 20]);
        assert_eq!(buffers.free_if_idle(given + IDLE / 2, IDLE), 0, "used within the idle time");
        assert_eq!(buffers.kept_bytes(), 2 << 20);
        buffers.give_back(vec![0; 4 << 20]);
        let taken = Instant::now();
        assert!(buffers.take(3 << 20).is_some());
        assert_eq!(buffers.free_if_idle(taken + IDLE - Duration::from_millis(1), IDLE), 0, "taken since");
        assert_eq!(buffers.free_if_idle(Instant::now() + IDLE, IDLE), 2 << 20);
        assert_eq!(buffers.kept_bytes(), 0);
        assert!(buffers.take(1 << 20).is_none(), "every buffer was freed");
    }
}
