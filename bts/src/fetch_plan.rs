//! The order and concurrency of a reduce task's fetches, as a plain state machine.
//!
//! A reduce task fetches one block from every map output of its shuffle. The plan starts them in
//! the order given (the caller interleaves nodes, so no node gets all requests at once), keeps at
//! most `max_in_flight` fetches and `max_bytes_in_flight` announced bytes in flight, and retries a
//! failed fetch after an exponential backoff. It does no I/O and reads no clock: the caller passes
//! the time, as a [`Duration`] since any instant it likes.
//!
//! Each block is in one of these states:
//!
//! ```text
//!            next_to_start            finished
//! queued ───────────────────▶ in flight ───────▶ done
//!   ▲                             │ failed
//!   │ ready_for_retry(now ≥ at)   ▼
//!   └──────────────────────── waiting ──(MAX_ATTEMPTS failures)──▶ given up
//! ```

use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::Hash;
use std::time::Duration;

/// The wait before the first retry of a block.
pub const BASE_BACKOFF: Duration = Duration::from_millis(100);
/// How much longer each further retry waits than the one before.
pub const BACKOFF_FACTOR: u32 = 2;
/// Fetch attempts per block, the first included, before giving up on it.
pub const MAX_ATTEMPTS: u32 = 5;

/// What to do about a fetch that failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryDecision {
    /// Fetch the block again once `at` has come ([`FetchPlan::ready_for_retry`] queues it then).
    Retry {
        /// The number of the coming attempt (2 for the first retry).
        attempt: u32,
        /// When it may start.
        at: Duration,
    },
    /// The block failed [`MAX_ATTEMPTS`] times and is out of the plan: the map output is to be
    /// considered lost.
    GiveUp {
        /// The attempts made.
        attempts: u32,
    },
}

/// What the plan knows of a block it has not finished with.
#[derive(Debug, Clone, Copy)]
struct Block {
    size: u64,
    failures: u32,
}

/// The fetches of one reduce task; see the [module docs](self).
#[derive(Debug, Clone)]
pub struct FetchPlan<K> {
    max_in_flight: usize,
    max_bytes_in_flight: u64,
    /// Blocks not finished and not given up.
    blocks: HashMap<K, Block>,
    queued: VecDeque<K>,
    in_flight: HashSet<K>,
    bytes_in_flight: u64,
    /// Failed blocks and when they may be retried.
    waiting: Vec<(Duration, K)>,
}

impl<K: Clone + Eq + Hash> FetchPlan<K> {
    /// A plan to fetch `blocks` (key and announced size), started in this order. A key given twice
    /// is fetched once. At least one fetch is always allowed in flight, even when its block alone
    /// is larger than `max_bytes_in_flight` (and even if `max_in_flight` is 0).
    pub fn new(blocks: Vec<(K, u64)>, max_in_flight: usize, max_bytes_in_flight: u64) -> Self {
        let mut plan = Self {
            max_in_flight,
            max_bytes_in_flight,
            blocks: HashMap::with_capacity(blocks.len()),
            queued: VecDeque::with_capacity(blocks.len()),
            in_flight: HashSet::new(),
            bytes_in_flight: 0,
            waiting: Vec::new(),
        };
        for (key, size) in blocks {
            if !plan.blocks.contains_key(&key) {
                plan.blocks.insert(key.clone(), Block { size, failures: 0 });
                plan.queued.push_back(key);
            }
        }
        plan
    }

    /// The next block to fetch, if one is queued and the bounds allow it; it is then in flight.
    /// Blocks start in order: a large block at the head waits for room rather than be overtaken.
    pub fn next_to_start(&mut self) -> Option<K> {
        let size = self.blocks.get(self.queued.front()?)?.size;
        let room = self.in_flight.len() < self.max_in_flight
            && self.bytes_in_flight.saturating_add(size) <= self.max_bytes_in_flight;
        if !(room || self.in_flight.is_empty()) {
            return None;
        }
        let key = self.queued.pop_front()?;
        self.bytes_in_flight += size;
        self.in_flight.insert(key.clone());
        Some(key)
    }

    /// Records that the fetch of `key` succeeded. Returns false (and changes nothing) if `key` was
    /// not in flight.
    pub fn finished(&mut self, key: &K) -> bool {
        if !self.in_flight.remove(key) {
            return false;
        }
        if let Some(block) = self.blocks.remove(key) {
            self.bytes_in_flight -= block.size;
        }
        true
    }

    /// Records that the fetch of `key` failed at `now` and decides whether to retry it. Returns
    /// `None` (and changes nothing) if `key` was not in flight.
    pub fn failed(&mut self, key: &K, now: Duration) -> Option<RetryDecision> {
        if !self.in_flight.remove(key) {
            return None;
        }
        let block = self.blocks.get_mut(key)?;
        self.bytes_in_flight -= block.size;
        block.failures += 1;
        let failures = block.failures;
        if failures >= MAX_ATTEMPTS {
            self.blocks.remove(key);
            return Some(RetryDecision::GiveUp { attempts: failures });
        }
        let at = now + backoff(failures);
        self.waiting.push((at, key.clone()));
        Some(RetryDecision::Retry { attempt: failures + 1, at })
    }

    /// Queues the failed blocks whose backoff has passed at `now`, ahead of the blocks not yet
    /// tried, the longest waiting first. Returns how many were queued.
    pub fn ready_for_retry(&mut self, now: Duration) -> usize {
        let mut due: Vec<(Duration, K)> = Vec::new();
        self.waiting.retain(|(at, key)| {
            let is_due = *at <= now;
            if is_due {
                due.push((*at, key.clone()));
            }
            !is_due
        });
        due.sort_by_key(|(at, _)| *at);
        for (_, key) in due.iter().rev() {
            self.queued.push_front(key.clone());
        }
        due.len()
    }

    /// When the next failed block may be retried, if one is waiting: how long the caller may
    /// sleep when nothing is in flight.
    pub fn next_retry_at(&self) -> Option<Duration> {
        self.waiting.iter().map(|(at, _)| *at).min()
    }

    /// Fetches in flight.
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// Announced bytes of the fetches in flight.
    pub fn bytes_in_flight(&self) -> u64 {
        self.bytes_in_flight
    }

    /// Whether every block is finished or given up.
    pub fn is_done(&self) -> bool {
        self.blocks.is_empty()
    }
}

/// The wait before retrying a block that failed `failures` times (at least once).
fn backoff(failures: u32) -> Duration {
    BASE_BACKOFF.saturating_mul(BACKOFF_FACTOR.saturating_pow(failures.saturating_sub(1)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(ms: u64) -> Duration {
        Duration::from_millis(ms)
    }

    fn start_all<K: Clone + Eq + Hash>(plan: &mut FetchPlan<K>) -> Vec<K> {
        std::iter::from_fn(|| plan.next_to_start()).collect()
    }

    #[test]
    fn the_count_bound_holds() {
        let mut plan = FetchPlan::new((0..10).map(|i| (i, 10)).collect(), 3, u64::MAX);
        assert_eq!(start_all(&mut plan), [0, 1, 2]);
        assert!(plan.finished(&1));
        assert_eq!(start_all(&mut plan), [3]);
        assert_eq!(plan.in_flight(), 3);
    }

    #[test]
    fn the_byte_bound_holds() {
        let mut plan = FetchPlan::new(vec![("a", 40), ("b", 50), ("c", 20), ("d", 10)], 10, 100);
        assert_eq!(start_all(&mut plan), ["a", "b"]);
        assert_eq!(plan.bytes_in_flight(), 90);
        plan.finished(&"a");
        assert_eq!(start_all(&mut plan), ["c", "d"]);
        assert_eq!(plan.bytes_in_flight(), 80);
    }

    #[test]
    fn a_block_larger_than_the_byte_bound_goes_alone() {
        let mut plan = FetchPlan::new(vec![("small", 10), ("huge", 1000), ("next", 10)], 10, 100);
        assert_eq!(start_all(&mut plan), ["small"]);
        plan.finished(&"small");
        assert_eq!(start_all(&mut plan), ["huge"]);
        plan.finished(&"huge");
        assert_eq!(start_all(&mut plan), ["next"]);
        plan.finished(&"next");
        assert!(plan.is_done());
    }

    #[test]
    fn zero_bounds_still_fetch_one_at_a_time() {
        let mut plan = FetchPlan::new(vec![(1, 5), (2, 5)], 0, 0);
        assert_eq!(start_all(&mut plan), [1]);
        plan.finished(&1);
        assert_eq!(start_all(&mut plan), [2]);
    }

    #[test]
    fn duplicate_and_unknown_keys_are_harmless() {
        let mut plan = FetchPlan::new(vec![(1, 5), (1, 5), (2, 5)], 10, 100);
        assert_eq!(start_all(&mut plan), [1, 2]);
        assert!(!plan.finished(&3));
        assert_eq!(plan.failed(&3, ms(0)), None);
        assert!(plan.finished(&1));
        assert!(!plan.finished(&1));
        assert!(plan.finished(&2));
        assert!(plan.is_done());
        assert!(FetchPlan::<u32>::new(Vec::new(), 1, 1).is_done());
    }

    #[test]
    fn backoff_doubles_and_gives_up_after_five_attempts() {
        let mut plan = FetchPlan::new(vec![("m", 10)], 1, 100);
        let mut now = ms(1000);
        for (attempt, delay) in [(2, 100), (3, 200), (4, 400), (5, 800)] {
            assert_eq!(plan.next_to_start(), Some("m"));
            let decision = plan.failed(&"m", now);
            assert_eq!(decision, Some(RetryDecision::Retry { attempt, at: now + ms(delay) }));
            assert_eq!(plan.next_retry_at(), Some(now + ms(delay)));
            assert_eq!(plan.bytes_in_flight(), 0);
            assert_eq!(plan.ready_for_retry(now + ms(delay - 1)), 0);
            assert_eq!(plan.next_to_start(), None);
            assert!(!plan.is_done());
            now += ms(delay);
            assert_eq!(plan.ready_for_retry(now), 1);
        }
        assert_eq!(plan.next_to_start(), Some("m"));
        assert_eq!(plan.failed(&"m", now), Some(RetryDecision::GiveUp { attempts: MAX_ATTEMPTS }));
        assert_eq!(plan.next_retry_at(), None);
        assert!(plan.is_done());
    }

    #[test]
    fn retries_go_ahead_of_untried_blocks_in_the_order_they_became_due() {
        let mut plan = FetchPlan::new((0..5).map(|i| (i, 1)).collect(), 2, 100);
        assert_eq!(start_all(&mut plan), [0, 1]);
        plan.failed(&1, ms(0));
        plan.failed(&0, ms(50));
        assert_eq!(start_all(&mut plan), [2, 3]);
        assert_eq!(plan.ready_for_retry(ms(500)), 2);
        plan.finished(&2);
        plan.finished(&3);
        assert_eq!(start_all(&mut plan), [1, 0]);
        plan.finished(&1);
        plan.finished(&0);
        assert_eq!(start_all(&mut plan), [4]);
        plan.finished(&4);
        assert!(plan.is_done());
    }

    #[test]
    fn the_bounds_hold_under_any_sequence_of_events() {
        // A deterministic pseudo-random walk: start what the plan allows, then finish or fail one
        // fetch in flight, checking the bounds after every step.
        let sizes: Vec<(u32, u64)> = (0..50).map(|i| (i, u64::from(i * 37 % 90 + 1))).collect();
        let mut plan = FetchPlan::new(sizes.clone(), 4, 150);
        let mut in_flight: Vec<u32> = Vec::new();
        let (mut now, mut seed, mut gave_up) = (Duration::ZERO, 7u64, 0);
        while !plan.is_done() {
            plan.ready_for_retry(now);
            while let Some(key) = plan.next_to_start() {
                in_flight.push(key);
            }
            let bytes: u64 = in_flight.iter().map(|&k| sizes[k as usize].1).sum();
            assert_eq!(plan.bytes_in_flight(), bytes);
            assert!(in_flight.len() <= 4 && (bytes <= 150 || in_flight.len() == 1));
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            if in_flight.is_empty() {
                now = plan.next_retry_at().unwrap();
                continue;
            }
            let key = in_flight.swap_remove((seed >> 33) as usize % in_flight.len());
            if seed % 3 == 0 {
                if let Some(RetryDecision::GiveUp { .. }) = plan.failed(&key, now) {
                    gave_up += 1;
                }
            } else {
                assert!(plan.finished(&key));
            }
            now += ms(30);
        }
        assert!(gave_up < 50);
    }
}
