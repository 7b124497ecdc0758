//! Whether the target still answers: a run whose target stopped answering ends early, failed,
//! instead of hammering a dead port and reporting refused connections as measurements.
//!
//! The rule: the target is unreachable once every request that ended during a whole
//! [`window`] ended without an HTTP response (connection refused or reset, timed out), and none
//! got one. Seconds in which no request ended (a hung target, requests still waiting) change
//! nothing. Any HTTP response, even a 5xx, means the target answers.
//!
//! Invariant: pure; the run loop feeds it one tick at a time.

use std::time::Duration;

/// How long a target may go without answering before the run fails: a tenth of the plan,
/// at least 2 s (a single stall or a restart is not an outage) and at most 5 s (a dead target
/// is not hammered for long).
pub(crate) fn window(plan: Duration) -> Duration {
    (plan / 10).clamp(Duration::from_secs(2), Duration::from_secs(5))
}

/// Tracks answered and unanswered requests tick by tick.
#[derive(Debug, Clone)]
pub(crate) struct Reachability {
    window: Duration,
    down_since: Option<Duration>,
    last_tick: Duration,
}

impl Reachability {
    /// A tracker with this window; the target is presumed up.
    pub(crate) fn new(window: Duration) -> Self {
        Self {
            window,
            down_since: None,
            last_tick: Duration::ZERO,
        }
    }

    /// One tick ending at `now` (since the run's start): how many requests ended in it with and
    /// without a response. Returns since when the target has been unreachable, once that has
    /// lasted the window.
    pub(crate) fn observe(
        &mut self,
        now: Duration,
        answered: u64,
        unanswered: u64,
    ) -> Option<Duration> {
        let tick_start = self.last_tick;
        self.last_tick = now;
        if answered > 0 {
            self.down_since = None;
        } else if unanswered > 0 && self.down_since.is_none() {
            self.down_since = Some(tick_start);
        }
        self.down_since
            .filter(|since| now.saturating_sub(*since) >= self.window)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(secs: u64) -> Duration {
        Duration::from_secs(secs)
    }

    #[test]
    fn the_window_is_a_tenth_of_the_plan_within_bounds() {
        assert_eq!(window(s(10)), s(2));
        assert_eq!(window(s(30)), s(3));
        assert_eq!(window(s(3600)), s(5));
    }

    #[test]
    fn a_target_that_stops_answering_is_reported_after_the_window() {
        let mut r = Reachability::new(s(3));
        assert_eq!(r.observe(s(1), 100, 0), None);
        assert_eq!(r.observe(s(2), 100, 0), None);
        // Killed during the third second: some answered, the rest refused.
        assert_eq!(r.observe(s(3), 40, 900), None);
        assert_eq!(r.observe(s(4), 0, 17_000), None);
        assert_eq!(r.observe(s(5), 0, 17_000), None);
        // Down since the start of the fourth second, for the 3 s window.
        assert_eq!(r.observe(s(6), 0, 17_000), Some(s(3)));
    }

    #[test]
    fn errors_with_a_response_and_quiet_seconds_are_not_an_outage() {
        let mut r = Reachability::new(s(2));
        for t in 1..=10 {
            // Every request a 503: the target answers.
            assert_eq!(r.observe(s(t), 50, 0), None);
        }
        // A stall: nothing ends for a while, then answers again.
        for t in 11..=20 {
            assert_eq!(r.observe(s(t), 0, 0), None);
        }
        assert_eq!(r.observe(s(21), 5, 0), None);
    }

    #[test]
    fn one_answer_resets_the_clock() {
        let mut r = Reachability::new(s(2));
        assert_eq!(r.observe(s(1), 0, 10), None);
        assert_eq!(r.observe(s(2), 1, 10), None);
        assert_eq!(r.observe(s(3), 0, 10), None);
        assert_eq!(r.observe(s(4), 0, 10), Some(s(2)));
    }
}
