//! When weights are due: level-triggered on the best head, so a missed multiple of the
//! interval never loses a tempo (the reference's `BLOCK % 180 == 0` did).
//!
//! A tempo is due at the first observed head at or past the next boundary
//! `(floor(b / interval) + 1) * interval`; skipped blocks, a slow pass or a reconnect only
//! delay it. On start, a hotkey whose `LastUpdate` is older than one interval (and past the
//! subnet's rate limit) is due at once.

/// The schedule of weight sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    interval: u64,
    next: u64,
}

impl Schedule {
    /// The schedule at start-up: `head` is the best block, `last_update` the hotkey's
    /// `LastUpdate`, `rate_limit` the subnet's `WeightsSetRateLimit`.
    #[must_use]
    pub fn start(interval: u64, head: u64, last_update: u64, rate_limit: u64) -> Self {
        let interval = interval.max(1);
        let since = head.saturating_sub(last_update);
        let next = if since >= interval && since > rate_limit { head } else { next_boundary(interval, head) };
        Self { interval, next }
    }

    /// The interval in blocks.
    #[must_use]
    pub const fn interval(&self) -> u64 {
        self.interval
    }

    /// The first block at which the next tempo is due.
    #[must_use]
    pub const fn next(&self) -> u64 {
        self.next
    }

    /// Whether a tempo is due at `head`.
    #[must_use]
    pub const fn due(&self, head: u64) -> bool {
        head >= self.next
    }

    /// After a tempo that started at `head` ended (confirmed, dry run, or its window closed):
    /// the next one is due at the boundary after `head`.
    pub fn advance(&mut self, head: u64) {
        self.next = next_boundary(self.interval, head);
    }

    /// The boundary a tempo started at `head` belongs to (the multiple at or below it).
    #[must_use]
    pub const fn boundary_of(&self, head: u64) -> u64 {
        head / self.interval * self.interval
    }

    /// Whether a tempo started at `head` can still be retried at `now` (the next boundary
    /// has not come).
    #[must_use]
    pub const fn window_open(&self, started_head: u64, now: u64) -> bool {
        now < next_boundary(self.interval, started_head)
    }
}

/// The first multiple of `interval` after `block`.
#[must_use]
pub const fn next_boundary(interval: u64, block: u64) -> u64 {
    (block / interval + 1) * interval
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missed_multiple_still_fires_at_the_next_head() {
        // Fresh weights (LastUpdate 1170): wait for the boundary at 1180.
        let mut schedule = Schedule::start(10, 1175, 1170, 5);
        assert_eq!(schedule.next(), 1180);
        assert!(!schedule.due(1179));
        // The head jumps from 1179 to 1183: 1180 was never seen, the tempo is still due.
        assert!(schedule.due(1183));
        assert_eq!(schedule.boundary_of(1183), 1180);
        schedule.advance(1183);
        assert_eq!(schedule.next(), 1190);
        assert!(schedule.window_open(1183, 1189) && !schedule.window_open(1183, 1190));
    }

    #[test]
    fn stale_weights_are_due_at_start_when_the_rate_limit_allows() {
        assert!(Schedule::start(180, 5000, 4000, 100).due(5000), "1000 blocks old");
        assert!(!Schedule::start(180, 5000, 4900, 100).due(5000), "100 blocks old: wait for 5040");
        assert_eq!(Schedule::start(180, 5000, 4900, 100).next(), 5040);
        assert!(!Schedule::start(10, 5000, 4980, 50).due(5000), "older than an interval but inside the rate limit");
        assert!(Schedule::start(180, 5000, 0, 100).due(5000), "never set");
    }
}
