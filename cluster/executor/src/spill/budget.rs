//! When to empty an aggregate's state: before the next call could carry it past the threshold.

/// Decides, after each call that fed an aggregate, whether to take its state out now.
///
/// The state is emptied when what it holds, plus what the last call added, passes the threshold:
/// the next call is assumed to add as much again (one batch of input is about as large as the
/// last), so the state stays near the threshold instead of overshooting it by a batch.
#[derive(Debug, Clone, Copy)]
pub(crate) struct StateBudget {
    threshold: u64,
    /// The state after the previous call.
    held: u64,
}

impl StateBudget {
    /// A budget emptying the state before it passes `threshold` bytes.
    pub fn new(threshold: u64) -> Self {
        Self { threshold, held: 0 }
    }

    /// Whether a state of `held` bytes, after a call, is to be emptied now. Call it after every
    /// call that fed the state; an emptied state starts again from nothing.
    pub fn is_full(&mut self, held: u64) -> bool {
        let added = held.saturating_sub(self.held);
        let full = held.saturating_add(added) > self.threshold;
        self.held = if full { 0 } else { held };
        full
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_state_is_emptied_when_the_next_call_would_pass_the_threshold() {
        let mut budget = StateBudget::new(100);
        assert!(!budget.is_full(30));
        assert!(!budget.is_full(60), "60 + 30 added is not past 100");
        assert!(budget.is_full(90), "90 + 30 added would be");
        assert!(!budget.is_full(40), "after emptying, growth counts from nothing: 40 + 40");
        assert!(!budget.is_full(70), "70 + 30 is not past 100");
        assert!(budget.is_full(110), "past the threshold already");
    }

    #[test]
    fn a_state_that_stops_growing_is_kept() {
        let mut budget = StateBudget::new(100);
        assert!(!budget.is_full(40));
        assert!(!budget.is_full(60));
        for _ in 0..10 {
            assert!(!budget.is_full(60), "nothing added: the next call will not add either");
        }
        assert!(budget.is_full(101), "past the threshold already");
    }
}
