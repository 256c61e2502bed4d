//! Retries of chain calls: transient failures (the chain unreachable or busy) are retried with
//! exponential backoff, a bounded number of times, and logged; others return at once.

use std::future::Future;
use std::time::Duration;

use subnet_chain_client::ChainError;

use crate::metrics::ValidatorMetrics;

/// Attempts of one chain call, the first included.
pub const CHAIN_ATTEMPTS: u32 = 5;
/// Pause after the first failure; doubled after each further one.
pub const CHAIN_RETRY_INITIAL: Duration = Duration::from_millis(100);
/// Longest pause between two attempts.
pub const CHAIN_RETRY_MAX: Duration = Duration::from_secs(2);

/// Runs `call` until it succeeds, fails with a non-transient error, or has been tried
/// [`CHAIN_ATTEMPTS`] times. Every failure is counted under `name` and logged.
///
/// # Errors
/// The last error.
pub(crate) async fn retry<T, F, Fut>(
    name: &'static str,
    metrics: &ValidatorMetrics,
    call: F,
) -> Result<T, ChainError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, ChainError>>,
{
    retry_if(name, metrics, ChainError::is_transient, call).await
}

/// [`retry`] with the transient test given: `is_transient(&error)` says whether to try again.
pub(crate) async fn retry_if<T, E, F, Fut>(
    name: &'static str,
    metrics: &ValidatorMetrics,
    is_transient: impl Fn(&E) -> bool,
    mut call: F,
) -> Result<T, E>
where
    E: std::fmt::Display,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let mut delay = CHAIN_RETRY_INITIAL;
    let mut attempt = 1;
    loop {
        match call().await {
            Ok(value) => return Ok(value),
            Err(e) => {
                let transient = is_transient(&e);
                metrics.chain_error(name, transient);
                if !transient || attempt >= CHAIN_ATTEMPTS {
                    tracing::warn!(call = name, attempt, error = %e, "chain call failed");
                    return Err(e);
                }
                tracing::warn!(call = name, attempt, error = %e, retry_in = ?delay,
                    "chain call failed; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(CHAIN_RETRY_MAX);
                attempt += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    #[derive(Debug, PartialEq)]
    struct Flaky(bool);

    impl std::fmt::Display for Flaky {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "flaky (transient: {})", self.0)
        }
    }

    #[tokio::test(start_paused = true)]
    async fn transient_errors_are_retried_a_bounded_number_of_times() {
        let metrics = ValidatorMetrics::new().unwrap();
        let calls = AtomicU32::new(0);
        let ok = retry_if(
            "t",
            &metrics,
            |e: &Flaky| e.0,
            || async {
                if calls.fetch_add(1, Ordering::SeqCst) < 2 {
                    Err(Flaky(true))
                } else {
                    Ok(7)
                }
            },
        )
        .await;
        assert_eq!(ok, Ok(7));
        assert_eq!(calls.load(Ordering::SeqCst), 3);

        calls.store(0, Ordering::SeqCst);
        let always = retry_if(
            "t",
            &metrics,
            |e: &Flaky| e.0,
            || async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err::<(), _>(Flaky(true))
            },
        )
        .await;
        assert_eq!(always, Err(Flaky(true)));
        assert_eq!(calls.load(Ordering::SeqCst), CHAIN_ATTEMPTS);

        calls.store(0, Ordering::SeqCst);
        let fatal = retry_if(
            "t",
            &metrics,
            |e: &Flaky| e.0,
            || async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err::<(), _>(Flaky(false))
            },
        )
        .await;
        assert_eq!(fatal, Err(Flaky(false)));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert_eq!(metrics.chain_errors("t"), 2 + CHAIN_ATTEMPTS as u64 + 1);
    }
}
