//! The one retry helper of the store: exponential backoff with jitter, a bounded number of
//! attempts, the server's `Retry-After` honoured when it sends one, and a total deadline over
//! all of it (a server answering 429 forever, or never answering, cannot keep a pass waiting).
//! Transient failures are logged at `debug`.

use std::future::Future;
use std::time::Duration;

use crate::store::error::Error;

/// How often and how long to retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in total (at least 1).
    pub attempts: u32,
    /// Delay before the first retry.
    pub base: Duration,
    /// Largest delay between attempts.
    pub cap: Duration,
}

impl RetryPolicy {
    /// Reads: 6 attempts, 200 ms doubling to 10 s.
    pub const READ: Self = Self { attempts: 6, base: Duration::from_millis(200), cap: Duration::from_secs(10) };
    /// Compare-and-swap rounds: 40 attempts, 50 ms doubling to 2 s (conflicts clear fast).
    pub const CAS: Self = Self { attempts: 40, base: Duration::from_millis(50), cap: Duration::from_secs(2) };

    /// The delay before retry number `retry` (0-based): exponential, capped, with "equal
    /// jitter" (half fixed, half random) so writers that collided spread out.
    #[must_use]
    pub fn delay(&self, retry: u32) -> Duration {
        let exponential = self.base.saturating_mul(1_u32 << retry.min(16)).min(self.cap);
        let half = exponential / 2;
        half + half.mul_f64(fastrand::f64())
    }
}

/// Runs `operation` until it succeeds, fails with a non-transient error, or the attempts are
/// used up; a server's `Retry-After` replaces the computed delay (capped at 5 minutes). With a
/// `deadline`, attempts and waits together stop there: an attempt still running is dropped,
/// and a wait that would end past it is not started.
///
/// # Errors
/// The last error, or [`Error::Deadline`] (with the last failure as its cause).
pub async fn retry<T, F, Fut>(policy: RetryPolicy, deadline: Option<Duration>, what: &str, mut operation: F) -> Result<T, Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, Error>>,
{
    let started = tokio::time::Instant::now();
    let expired = |source: Option<Error>| Error::Deadline {
        key: what.to_owned(),
        seconds: deadline.unwrap_or_default().as_secs(),
        source: source.map(Box::new),
    };
    let mut attempt = 0;
    loop {
        let outcome = match deadline.map(|limit| limit.saturating_sub(started.elapsed())) {
            None => operation().await,
            Some(left) => match tokio::time::timeout(left, operation()).await {
                Ok(outcome) => outcome,
                Err(_) => return Err(expired(None)),
            },
        };
        match outcome {
            Ok(value) => return Ok(value),
            Err(error) if error.is_transient() && attempt + 1 < policy.attempts => {
                let delay = error.retry_after().unwrap_or_else(|| policy.delay(attempt));
                if deadline.is_some_and(|limit| started.elapsed() + delay >= limit) {
                    return Err(expired(Some(error)));
                }
                tracing::debug!(what, attempt, ?delay, error = %crate::error::one_line(&error), "transient store failure, retrying");
                tokio::time::sleep(delay).await;
                attempt += 1;
            }
            Err(error) => return Err(error),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;
    use crate::store::error::FailureKind;

    fn failure(kind: FailureKind) -> Error {
        Error::Backend { op: "get", key: "k".into(), backend: "b".into(), kind, source: None }
    }

    #[test]
    fn retry_delay_grows_and_stays_capped() {
        let policy = RetryPolicy { attempts: 5, base: Duration::from_millis(100), cap: Duration::from_secs(1) };
        for retry in 0..20 {
            let delay = policy.delay(retry);
            let full = Duration::from_millis(100).saturating_mul(1 << retry.min(16)).min(Duration::from_secs(1));
            assert!(delay >= full / 2 && delay <= full, "retry {retry}: {delay:?}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn retry_honours_retry_after_and_stops_on_permanent_errors() {
        let calls = AtomicU32::new(0);
        let started = tokio::time::Instant::now();
        let value = retry(RetryPolicy::READ, None, "test", || async {
            match calls.fetch_add(1, Ordering::SeqCst) {
                0 => Err(failure(FailureKind::Throttled { retry_after: Some(Duration::from_secs(7)) })),
                1 => Err(failure(FailureKind::Unavailable)),
                _ => Ok(5),
            }
        })
        .await
        .expect("third attempt succeeds");
        assert_eq!(value, 5);
        assert!(started.elapsed() >= Duration::from_secs(7));

        let calls = AtomicU32::new(0);
        let error = retry(RetryPolicy::READ, None, "test", || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err::<(), _>(failure(FailureKind::Other))
        })
        .await
        .expect_err("permanent");
        assert!(!error.is_transient());
        assert_eq!(calls.load(Ordering::SeqCst), 1);

        let calls = AtomicU32::new(0);
        let _ = retry(RetryPolicy::READ, None, "test", || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err::<(), _>(failure(FailureKind::Unavailable))
        })
        .await;
        assert_eq!(calls.load(Ordering::SeqCst), RetryPolicy::READ.attempts);
    }

    #[tokio::test(start_paused = true)]
    async fn retry_stops_at_the_deadline_for_429_forever_and_for_silence() {
        let deadline = Some(Duration::from_secs(30));
        let started = tokio::time::Instant::now();
        let throttled = retry(RetryPolicy::READ, deadline, "k", || async {
            Err::<(), _>(failure(FailureKind::Throttled { retry_after: Some(Duration::from_secs(300)) }))
        })
        .await
        .expect_err("a Retry-After past the deadline is not waited for");
        assert!(matches!(throttled, Error::Deadline { seconds: 30, source: Some(_), .. }), "{throttled:?}");
        assert!(started.elapsed() < Duration::from_secs(1));
        let silent = retry(RetryPolicy::READ, deadline, "k", std::future::pending::<Result<(), Error>>).await;
        assert!(matches!(silent, Err(Error::Deadline { source: None, .. })));
        assert_eq!(started.elapsed(), Duration::from_secs(30));
    }
}
