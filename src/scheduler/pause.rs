//! Pausing miners whose provider is unavailable, by time rather than by backlog.
//!
//! The reference counted every service error as it came out of the queue, so a few seconds of
//! 503s with a backlog escalated to hours of pause, and any later stale success ended a pause
//! at once. Here a miner's errors are counted at most once per window; every M-th counted
//! error pauses it for `min(P × 2^(k/M − 1), MAX)` (the reference's rule), never shortening a
//! pause already running; and only a success from a task created after the pause began resets
//! the count. Pauses are keyed by (hotkey, model, revision) and persisted across restarts.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The backoff rule.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PauseRules {
    /// P: the first pause, seconds (`AFFINE_CHUTES_ERROR_PAUSE_SECONDS`, 600).
    pub base_secs: f64,
    /// MAX: the longest pause, seconds (`AFFINE_MAX_PAUSE_SECONDS`, 86400).
    pub max_secs: f64,
    /// M: pause on every M-th counted error (`AFFINE_MAX_CONSECUTIVE_ERRORS`, 3; at least 1).
    pub every: u32,
    /// Errors closer together than this count once, seconds (`AF_SERVICE_ERROR_WINDOW`, 60).
    pub window_secs: f64,
}

impl Default for PauseRules {
    fn default() -> Self {
        Self { base_secs: 600.0, max_secs: 86_400.0, every: 3, window_secs: 60.0 }
    }
}

/// One miner's pause state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PauseState {
    /// Counted service errors since the last reset.
    pub errors: u32,
    /// When the last error was counted (Unix seconds).
    pub last_counted: f64,
    /// Paused until (Unix seconds; 0: not paused).
    pub pause_until: f64,
    /// When the current (or last) pause began.
    pub paused_at: f64,
    /// The last service error's text, shortened (for the monitoring API).
    #[serde(default)]
    pub last_error: Option<String>,
    /// When the last service error happened (counted or not).
    #[serde(default)]
    pub last_error_at: f64,
}

/// A newly started pause.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Paused {
    /// Seconds.
    pub duration_secs: f64,
    /// The backoff level (0 for the first pause).
    pub level: u32,
    /// Counted errors.
    pub errors: u32,
}

/// Every miner's pause state, by miner key.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PauseBook {
    miners: BTreeMap<String, PauseState>,
}

impl PauseBook {
    /// Whether `key` is paused at `now`.
    #[must_use]
    pub fn is_paused(&self, key: &str, now: f64) -> bool {
        self.miners.get(key).is_some_and(|state| now < state.pause_until)
    }

    /// The state of `key`.
    #[must_use]
    pub fn state(&self, key: &str) -> Option<&PauseState> {
        self.miners.get(key)
    }

    /// Records a service error of `key` at `now`; returns the pause it started, if any.
    pub fn record_service_error(&mut self, rules: &PauseRules, key: &str, now: f64, error: &str) -> Option<Paused> {
        let state = self.miners.entry(key.to_owned()).or_default();
        state.last_error = Some(error.chars().take(300).collect());
        state.last_error_at = now;
        if state.errors > 0 && now - state.last_counted < rules.window_secs {
            return None;
        }
        state.errors += 1;
        state.last_counted = now;
        let every = rules.every.max(1);
        if !state.errors.is_multiple_of(every) {
            return None;
        }
        let level = state.errors / every - 1;
        let duration_secs = (rules.base_secs * 2_f64.powi(i32::try_from(level).unwrap_or(i32::MAX))).min(rules.max_secs);
        state.pause_until = state.pause_until.max(now + duration_secs);
        state.paused_at = now;
        Some(Paused { duration_secs, level, errors: state.errors })
    }

    /// Records a stored result of `key` from a task created at `created_at`: the error count
    /// is reset unless the task predates the last pause (a stale success says nothing about
    /// the miner now). A running pause is never shortened. Returns whether a count was reset.
    pub fn record_success(&mut self, key: &str, created_at: f64) -> bool {
        match self.miners.get_mut(key) {
            Some(state) if state.errors > 0 && created_at >= state.paused_at => {
                state.errors = 0;
                true
            }
            _ => false,
        }
    }

    /// Forgets miners not in `keep` whose pause is over (the table changed).
    pub fn retain(&mut self, keep: &std::collections::BTreeSet<String>, now: f64) {
        self.miners.retain(|key, state| keep.contains(key) || now < state.pause_until);
    }

    /// Miners paused at `now`.
    #[must_use]
    pub fn paused_count(&self, now: f64) -> usize {
        self.miners.values().filter(|state| now < state.pause_until).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULES: PauseRules = PauseRules { base_secs: 600.0, max_secs: 86_400.0, every: 3, window_secs: 60.0 };

    #[test]
    fn a_burst_counts_once_and_escalation_follows_the_reference_rule() {
        let mut book = PauseBook::default();
        // Twenty queued failures within seconds: one counted error, no pause.
        for i in 0..20 {
            assert_eq!(book.record_service_error(&RULES, "m", 1000.0 + f64::from(i) * 0.1, "HTTP 503"), None);
        }
        assert_eq!(book.state("m").map(|s| s.errors), Some(1));
        assert!(!book.is_paused("m", 1002.0));
        // Errors a window apart count; the third pauses for P, the sixth for 2P.
        assert_eq!(book.record_service_error(&RULES, "m", 1060.0, "x"), None);
        let first = book.record_service_error(&RULES, "m", 1120.0, "x").expect("paused");
        assert_eq!((first.duration_secs, first.level), (600.0, 0));
        assert!(book.is_paused("m", 1719.0) && !book.is_paused("m", 1721.0));
        for t in [1800.0, 1860.0] {
            assert_eq!(book.record_service_error(&RULES, "m", t, "x"), None);
        }
        let second = book.record_service_error(&RULES, "m", 1920.0, "x").expect("paused");
        assert_eq!((second.duration_secs, second.level), (1200.0, 1));
    }

    #[test]
    fn stale_successes_never_end_a_pause_and_fresh_ones_reset_the_count() {
        let mut book = PauseBook::default();
        for t in [0.0, 60.0, 120.0] {
            book.record_service_error(&RULES, "m", t, "x");
        }
        assert!(book.is_paused("m", 121.0));
        assert!(!book.record_success("m", 100.0), "a task from before the pause");
        assert!(book.is_paused("m", 121.0));
        assert!(book.record_success("m", 130.0), "a task created after the pause began");
        assert!(book.is_paused("m", 500.0), "the running pause keeps going");
        assert_eq!(book.state("m").map(|s| s.errors), Some(0));
        let json = serde_json::to_string(&book).expect("serialise");
        assert_eq!(serde_json::from_str::<PauseBook>(&json).expect("parse"), book);
    }
}
