//! Graceful shutdown: SIGINT or SIGTERM cancels one process-wide token; a second signal exits
//! at once with status 130.
//!
//! `af` may run as PID 1 in a container, where SIGTERM has no default action, so both signals
//! are handled explicitly.

use tokio_util::sync::CancellationToken;

/// Exit status of a process stopped by a second signal.
pub const FORCED_EXIT_CODE: i32 = 130;

/// Spawns the signal listener on the current runtime; `token` is cancelled on the first signal.
pub fn install(token: CancellationToken) {
    tokio::spawn(async move {
        if wait_for_signal().await.is_err() {
            tracing::warn!("signal handlers unavailable; shutdown only on completion");
            return;
        }
        tracing::warn!("shutdown requested; finishing the current step (signal again to force)");
        token.cancel();
        if wait_for_signal().await.is_ok() {
            tracing::warn!("second signal: exiting now");
            std::process::exit(FORCED_EXIT_CODE);
        }
    });
}

async fn wait_for_signal() -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut terminate = signal(SignalKind::terminate())?;
        tokio::select! {
            result = tokio::signal::ctrl_c() => result,
            _ = terminate.recv() => Ok(()),
        }
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c().await
    }
}
