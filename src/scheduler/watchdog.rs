//! The watchdog: it reads the progress timestamps the stages publish and fires when a stage
//! that has work has made no progress for `AFFINE_WATCHDOG_TIMEOUT` (the reference's never
//! armed). Firing cancels the runner so it can save what it can, and exits the process with
//! status 1 shortly after whatever happens, so Docker restarts it.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::status::{RunnerStatus, unix_now};

/// What stalled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stall {
    /// The stage (`evaluation of affine:sat`, `upload`, `discovery`).
    pub stage: String,
    /// Seconds without progress.
    pub seconds: u64,
}

impl std::fmt::Display for Stall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "no progress in {} for {} s", self.stage, self.seconds)
    }
}

/// The first stage with work and no progress for `timeout`, given the runner started at
/// `started` (Unix seconds) and `spool_rows` rows wait for upload.
#[must_use]
pub fn stalled(status: &RunnerStatus, started: f64, spool_rows: u64, timeout: Duration) -> Option<Stall> {
    let now = unix_now();
    let limit = timeout.as_secs_f64();
    // A stage that never progressed is measured from the start.
    let age = |last: f64| now - last.max(started);
    let over = |stage: String, last: f64, limit: f64| {
        let seconds = age(last);
        #[expect(clippy::cast_possible_truncation, clippy::cast_sign_loss, reason = "a positive number of seconds")]
        (seconds > limit).then_some(Stall { stage, seconds: seconds as u64 })
    };
    // Producers and discovery only sleep and wait on awaits with deadlines; the stages that
    // can wedge are an environment that never answers and an uploader that never returns.
    for env in &status.envs {
        if env.has_work() && env.backend_up.load(Ordering::Relaxed) {
            // One evaluation may legitimately take the environment's whole call deadline.
            let env_limit = limit.max(env.deadline.as_secs_f64() * 1.2);
            if let Some(stall) = over(format!("evaluation of {}", env.spec.id), env.evaluated.last(), env_limit) {
                return Some(stall);
            }
        }
    }
    if spool_rows > 0 {
        return over("upload".to_owned(), status.upload.alive.last(), limit);
    }
    None
}

/// Checks every `timeout / 6` (at least once a second) until `token` is cancelled; on a
/// stall, logs it, marks `fired`, cancels `token`, and exits the process with status 1 after
/// `grace` (plus a margin) if it has not ended by then.
pub async fn watch(
    status: Arc<RunnerStatus>,
    spool: super::spool::Spool,
    timeout: Duration,
    grace: Duration,
    fired: Arc<std::sync::atomic::AtomicBool>,
    token: CancellationToken,
) {
    let started = unix_now();
    let mut tick = tokio::time::interval((timeout / 6).max(Duration::from_secs(1)).min(Duration::from_secs(60)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            biased;
            () = token.cancelled() => return,
            _ = tick.tick() => {}
        }
        if let Some(stall) = stalled(&status, started, spool.stats().rows, timeout) {
            tracing::error!(stage = %stall.stage, seconds = stall.seconds, "watchdog: {stall}; stopping so the runner is restarted");
            fired.store(true, Ordering::SeqCst);
            token.cancel();
            let deadline = grace + Duration::from_secs(5);
            std::thread::spawn(move || {
                std::thread::sleep(deadline);
                tracing::error!("watchdog: the runner did not stop in time; exiting");
                std::process::exit(1);
            });
            return;
        }
    }
}
