//! The validator's watchdog: progress timestamps the loop and the head follower feed, and a
//! check that ends the process when they stop (so Docker's `restart:` brings it back).
//!
//! Two things count as stuck: no new best block for the timeout (a stalled chain, a dead
//! subscription), or one phase (computing, setting) running longer than the timeout. The
//! reference's watchdog never fired (its heartbeat was a local variable, spec §1.5); this one
//! reads the same timestamps every check, a few times per timeout.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Progress as the watchdog sees it; shared by the loop, the head follower and the watchdog.
#[derive(Debug)]
pub struct Progress {
    origin: Instant,
    /// Milliseconds after `origin` of the last new best block.
    last_block_ms: AtomicU64,
    /// The best block seen.
    head: AtomicU64,
    phase: Mutex<Option<(&'static str, Instant)>>,
}

/// A running phase; ends when dropped.
#[derive(Debug)]
pub struct PhaseGuard<'a> {
    progress: &'a Progress,
}

impl Drop for PhaseGuard<'_> {
    fn drop(&mut self) {
        if let Ok(mut phase) = self.progress.phase.lock() {
            *phase = None;
        }
    }
}

/// Why the watchdog fired.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stall {
    /// No new best block.
    NoBlocks {
        /// Seconds since the last one.
        seconds: u64,
        /// The last head seen.
        head: u64,
    },
    /// A phase ran too long.
    Phase {
        /// Its name.
        phase: &'static str,
        /// Seconds it has run.
        seconds: u64,
    },
}

impl std::fmt::Display for Stall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NoBlocks { seconds, head } => write!(f, "no new block for {seconds} s (last head {head})"),
            Self::Phase { phase, seconds } => write!(f, "{phase} has run for {seconds} s"),
        }
    }
}

impl Default for Progress {
    fn default() -> Self {
        Self::new()
    }
}

impl Progress {
    /// Progress starting now (start-up counts as block progress).
    #[must_use]
    pub fn new() -> Self {
        Self { origin: Instant::now(), last_block_ms: AtomicU64::new(0), head: AtomicU64::new(0), phase: Mutex::new(None) }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Records the best head; only a higher one is progress.
    pub fn block(&self, head: u64) {
        if self.head.fetch_max(head, Ordering::Relaxed) < head {
            self.last_block_ms.store(self.now_ms(), Ordering::Relaxed);
        }
    }

    /// The best head seen.
    #[must_use]
    pub fn head(&self) -> u64 {
        self.head.load(Ordering::Relaxed)
    }

    /// Starts a phase (computing, setting); it ends when the guard drops.
    #[must_use]
    pub fn phase(&self, name: &'static str) -> PhaseGuard<'_> {
        if let Ok(mut phase) = self.phase.lock() {
            *phase = Some((name, Instant::now()));
        }
        PhaseGuard { progress: self }
    }

    /// Seconds since the last new block.
    #[must_use]
    pub fn block_age(&self) -> Duration {
        Duration::from_millis(self.now_ms().saturating_sub(self.last_block_ms.load(Ordering::Relaxed)))
    }

    /// Whether progress stopped for longer than `timeout`.
    #[must_use]
    pub fn stall(&self, timeout: Duration) -> Option<Stall> {
        let age = self.block_age();
        if age > timeout {
            return Some(Stall::NoBlocks { seconds: age.as_secs(), head: self.head() });
        }
        let phase = self.phase.lock().ok().and_then(|phase| *phase);
        match phase {
            Some((name, started)) if started.elapsed() > timeout => {
                Some(Stall::Phase { phase: name, seconds: started.elapsed().as_secs() })
            }
            _ => None,
        }
    }
}

/// How often the watchdog looks: a quarter of the timeout, between 100 ms and 30 s.
#[must_use]
pub fn check_period(timeout: Duration) -> Duration {
    (timeout / 4).clamp(Duration::from_millis(100), Duration::from_secs(30))
}

/// Resolves when progress stalls for longer than `timeout`.
pub async fn watch(progress: &Progress, timeout: Duration) -> Stall {
    let mut tick = tokio::time::interval(check_period(timeout));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Some(stall) = progress.stall(timeout) {
            return stall;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_end_with_their_guard_and_checks_come_a_few_times_per_timeout() {
        let progress = Progress::new();
        progress.block(10);
        let guard = progress.phase("computing");
        assert_eq!(progress.stall(Duration::from_secs(60)), None);
        drop(guard);
        assert!(progress.phase.lock().expect("lock").is_none());
        assert_eq!(check_period(Duration::from_secs(1200)), Duration::from_secs(30));
        assert_eq!(check_period(Duration::from_secs(2)), Duration::from_millis(500));
        assert_eq!(check_period(Duration::from_millis(100)), Duration::from_millis(100));
    }

    #[test]
    fn only_a_higher_head_is_progress() {
        let progress = Progress::new();
        progress.block(5);
        let first = progress.last_block_ms.load(Ordering::Relaxed);
        std::thread::sleep(Duration::from_millis(5));
        progress.block(5);
        progress.block(4);
        assert_eq!(progress.last_block_ms.load(Ordering::Relaxed), first);
        assert_eq!(progress.head(), 5);
        std::thread::sleep(Duration::from_millis(5));
        progress.block(6);
        assert!(progress.last_block_ms.load(Ordering::Relaxed) > first);
        std::thread::sleep(Duration::from_millis(20));
        assert!(matches!(progress.stall(Duration::from_millis(10)), Some(Stall::NoBlocks { head: 6, .. })));
        let _phase = progress.phase("setting");
        progress.block(7);
        std::thread::sleep(Duration::from_millis(20));
        progress.block(8);
        assert!(matches!(progress.stall(Duration::from_millis(10)), Some(Stall::Phase { phase: "setting", .. })));
    }
}
