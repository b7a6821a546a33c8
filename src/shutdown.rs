//! Graceful shutdown: SIGINT or SIGTERM cancels one process-wide token; a second signal exits
//! at once with status 130, whatever the rest of the process is doing.
//!
//! The signals are watched by a thread of their own with its own small runtime, so neither
//! blocking work on the main runtime nor its shutdown can keep the second signal from being
//! honoured (a read stuck on a FIFO used to make `af` ignore both signals). `af` may run as
//! PID 1 in a container, where SIGTERM has no default action, so both signals are handled
//! explicitly.
//!
//! Waits honour the first signal through [`interruptible`], which ends the wait with
//! [`Interrupted`] (exit 130); `commands::dispatch` abandons a one-shot command that has not
//! stopped [`GRACE`] after the signal.

use std::future::{Future, IntoFuture};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

/// Exit status of a process stopped by a second signal.
pub const FORCED_EXIT_CODE: i32 = 130;

/// How long a one-shot command may take to stop on its own after the first signal (finishing
/// a step that must not be torn, removing its containers) before it is abandoned.
pub const GRACE: Duration = Duration::from_secs(10);

/// A wait ended by a signal (exit code 130).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("interrupted by a signal")]
pub struct Interrupted;

impl crate::error::Classify for Interrupted {
    fn kind(&self) -> crate::error::Kind {
        crate::error::Kind::Interrupted
    }
}

/// Runs `work` until it finishes or `token` is cancelled, whichever is first.
///
/// # Errors
/// [`Interrupted`] when the token was cancelled first (`work` is dropped). Use it for waits
/// that are safe to abandon (reads, connections); a step that must not be torn is awaited
/// instead and checked for cancellation before it starts.
pub async fn interruptible<F: IntoFuture>(token: &CancellationToken, work: F) -> Result<F::Output, Interrupted> {
    let work = work.into_future();
    tokio::select! {
        biased;
        () = token.cancelled() => Err(Interrupted),
        output = work => Ok(output),
    }
}

/// Runs `work`; once `token` is cancelled it gets [`GRACE`] to finish on its own, after which
/// it is dropped (its `Drop` cleanups run) and `interrupted` is returned.
pub async fn within_grace<T>(token: &CancellationToken, work: impl Future<Output = T>, interrupted: impl FnOnce() -> T) -> T {
    tokio::pin!(work);
    tokio::select! {
        biased;
        output = &mut work => output,
        () = token.cancelled() => if let Ok(output) = tokio::time::timeout(GRACE, &mut work).await {
            output
        } else {
            tracing::warn!("still busy {} s after the signal; stopping now", GRACE.as_secs());
            interrupted()
        },
    }
}

/// Starts the signal thread; `token` is cancelled on the first SIGINT or SIGTERM and the
/// process exits with [`FORCED_EXIT_CODE`] on the second. Returns once the handlers are in
/// place.
pub fn install(token: CancellationToken) {
    let (ready, registered) = std::sync::mpsc::channel();
    let spawned = std::thread::Builder::new().name("af-signals".to_owned()).spawn(move || {
        let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
            Ok(runtime) => runtime,
            Err(error) => {
                let _ = ready.send(Err(error));
                return;
            }
        };
        runtime.block_on(async move {
            let mut signals = match Signals::register() {
                Ok(signals) => {
                    let _ = ready.send(Ok(()));
                    signals
                }
                Err(error) => {
                    let _ = ready.send(Err(error));
                    return;
                }
            };
            signals.next().await;
            tracing::warn!("shutdown requested; finishing the current step (signal again to force)");
            token.cancel();
            signals.next().await;
            tracing::warn!("second signal: exiting now");
            std::process::exit(FORCED_EXIT_CODE);
        });
    });
    let outcome = match spawned {
        Ok(_) => registered.recv().unwrap_or_else(|_| Err(std::io::Error::other("the signal thread ended"))),
        Err(error) => Err(error),
    };
    if let Err(error) = outcome {
        tracing::warn!(%error, "signal handlers unavailable; shutdown only on completion");
    }
}

/// SIGINT and SIGTERM, registered once.
struct Signals {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
}

impl Signals {
    fn register() -> std::io::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Self { interrupt: signal(SignalKind::interrupt())?, terminate: signal(SignalKind::terminate())? })
    }

    async fn next(&mut self) {
        tokio::select! {
            _ = self.interrupt.recv() => {}
            _ = self.terminate.recv() => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn interruptible_waits_end_on_cancellation_and_grace_bounds_the_rest() {
        let token = CancellationToken::new();
        assert_eq!(interruptible(&token, async { 5 }).await, Ok(5));
        let waiting = interruptible(&token, std::future::pending::<()>());
        token.cancel();
        assert_eq!(waiting.await, Err(Interrupted));

        let started = tokio::time::Instant::now();
        let stuck = within_grace(&token, std::future::pending::<u8>(), || 130).await;
        assert_eq!((stuck, started.elapsed()), (130, GRACE));
        let quick = within_grace(&token, async { 0 }, || 130).await;
        assert_eq!(quick, 0);
    }
}
