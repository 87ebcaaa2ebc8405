//! Client plumbing shared by the provider engines (`bedrock`, `openai`): building the
//! HTTP client, the retry policy (jittered exponential backoff that honours a provider's
//! `retry-after`), and cancellation of requests and of the waits between them.

use std::future::Future;
use std::time::Duration;

use rand::RngExt;
use reqwest::header::HeaderMap;
use tokio_util::sync::CancellationToken;

use crate::engine::EngineError;

/// An engine that cannot be built from its settings (no credentials, a bad URL): the
/// message says what is missing and where it was looked for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SetupError(pub String);

/// How often and how patiently a provider request is tried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (at least 1).
    pub attempts: u32,
    /// The backoff ceiling before the first retry; it doubles with every retry.
    pub base: Duration,
    /// The longest wait between attempts. A `retry-after` longer than this is not waited
    /// for: the error is returned, and the job queue tries again later.
    pub max: Duration,
}

impl RetryPolicy {
    /// Attempts when the settings give none.
    pub const DEFAULT_ATTEMPTS: u32 = 3;
    /// Backoff base when the settings give none.
    pub const DEFAULT_BASE: Duration = Duration::from_millis(500);
    /// Backoff ceiling when the settings give none.
    pub const DEFAULT_MAX: Duration = Duration::from_secs(10);

    /// The policy from optional settings, with the defaults above.
    pub fn from_settings(attempts: Option<u32>, base_ms: Option<u64>, max_ms: Option<u64>) -> Self {
        RetryPolicy {
            attempts: attempts.unwrap_or(Self::DEFAULT_ATTEMPTS).max(1),
            base: base_ms.map_or(Self::DEFAULT_BASE, Duration::from_millis),
            max: max_ms.map_or(Self::DEFAULT_MAX, Duration::from_millis),
        }
    }

    /// The wait before retry number `retry` (0 for the first): "equal jitter", half the
    /// ceiling `base·2^retry` (capped at `max`) plus a random part up to the other half,
    /// and never less than the provider's `retry_after`. `None` when `retry_after` asks
    /// for more than `max`.
    pub fn backoff(&self, retry: u32, retry_after: Option<Duration>) -> Option<Duration> {
        if retry_after.is_some_and(|after| after > self.max) {
            return None;
        }
        let ceiling = self
            .base
            .saturating_mul(2u32.saturating_pow(retry.min(31)))
            .min(self.max);
        let half = u64::try_from(ceiling.as_nanos() / 2).unwrap_or(u64::MAX);
        let jittered = Duration::from_nanos(half + rand::rng().random_range(0..=half));
        Some(jittered.max(retry_after.unwrap_or_default()))
    }
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy::from_settings(None, None, None)
    }
}

/// One failed attempt: the error to report, and whether another attempt may succeed.
#[derive(Debug)]
pub(crate) struct Failure {
    pub error: EngineError,
    pub retry: bool,
    pub retry_after: Option<Duration>,
}

impl Failure {
    /// A failure not worth retrying.
    pub fn fatal(error: EngineError) -> Self {
        Failure {
            error,
            retry: false,
            retry_after: None,
        }
    }

    /// A failure another attempt may fix.
    pub fn transient(error: EngineError, retry_after: Option<Duration>) -> Self {
        Failure {
            error,
            retry: true,
            retry_after,
        }
    }

    /// A request that got no response (connection refused or reset, timeout, a body cut
    /// short): retryable, without a status.
    pub fn transport(provider: &str, error: &reqwest::Error) -> Self {
        let what = if error.is_timeout() {
            "timed out"
        } else if error.is_connect() {
            "could not connect"
        } else {
            "request failed"
        };
        Failure::transient(
            EngineError::Provider {
                status: None,
                message: format!("{provider}: {what}: {}", error_chain(error)),
                retryable: true,
            },
            None,
        )
    }
}

/// Runs `attempt` until it succeeds, fails for good or the policy's attempts are spent,
/// waiting between attempts; `cancel` stops both a running attempt and a wait at once.
pub(crate) async fn with_retries<T, F, Fut>(
    policy: &RetryPolicy,
    cancel: &CancellationToken,
    provider: &str,
    mut attempt: F,
) -> Result<T, EngineError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, Failure>>,
{
    let mut retry = 0;
    loop {
        let outcome = tokio::select! {
            biased;
            () = cancel.cancelled() => return Err(EngineError::Cancelled),
            outcome = attempt() => outcome,
        };
        let failure = match outcome {
            Ok(value) => return Ok(value),
            Err(failure) => failure,
        };
        if !failure.retry || retry + 1 >= policy.attempts {
            return Err(failure.error);
        }
        let Some(wait) = policy.backoff(retry, failure.retry_after) else {
            return Err(failure.error);
        };
        tracing::warn!(
            provider,
            attempt = retry + 1,
            wait_ms = wait.as_millis() as u64,
            error = %failure.error,
            "provider request failed; retrying"
        );
        tokio::select! {
            biased;
            () = cancel.cancelled() => return Err(EngineError::Cancelled),
            () = tokio::time::sleep(wait) => {}
        }
        retry += 1;
    }
}

/// The provider's requested wait: `retry-after-ms` (OpenAI) or `retry-after` in
/// seconds. The HTTP-date form of `retry-after` is ignored.
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let number = |name: &str| {
        headers
            .get(name)?
            .to_str()
            .ok()?
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|n| n.is_finite() && *n >= 0.0)
    };
    number("retry-after-ms")
        .map(|ms| Duration::from_secs_f64(ms / 1000.0))
        .or_else(|| number("retry-after").map(Duration::from_secs_f64))
}

/// An HTTP client for a provider: `timeout` for a whole request, 10 s to connect.
/// Installs `ring` as the process's TLS provider when none is (the binary does so at
/// start; a library user or a test may not have), since building a client without
/// one panics.
pub(crate) fn client(timeout: Duration) -> Result<reqwest::Client, String> {
    // An error only means a provider is already installed, which is as good.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| format!("the HTTP client could not be built: {}", error_chain(&e)))
}

/// An error with its sources, `a: b: c`.
pub(crate) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let shown = cause.to_string();
        if !text.contains(&shown) {
            text.push_str(": ");
            text.push_str(&shown);
        }
        source = cause.source();
    }
    text
}

/// Reads a secret from a file (for `*_file` settings), trimmed.
pub(crate) fn secret_from_file(path: &std::path::Path, what: &str) -> Result<String, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("{what} could not be read from {}: {e}", path.display()))?;
    let text = text.trim();
    if text.is_empty() {
        return Err(format!("{what} file {} is empty", path.display()));
    }
    Ok(text.to_owned())
}

/// A PNG of `image`, for bodies that must carry a picture Easel made (a padded canvas,
/// a mask).
pub(crate) fn encode_png(image: &image::RgbaImage) -> Result<Vec<u8>, EngineError> {
    easel_image::encode_rgba(
        image,
        easel_image::Format::Png,
        &easel_image::OutputOptions::default(),
    )
    .map_err(|e| EngineError::Internal(format!("a PNG could not be encoded: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_is_capped_and_honours_retry_after() {
        let policy = RetryPolicy {
            attempts: 5,
            base: Duration::from_millis(100),
            max: Duration::from_millis(350),
        };
        for _ in 0..50 {
            let first = policy.backoff(0, None).unwrap();
            assert!(first >= Duration::from_millis(50) && first <= Duration::from_millis(100));
            let late = policy.backoff(6, None).unwrap();
            assert!(late >= Duration::from_millis(175) && late <= Duration::from_millis(350));
        }
        let after = policy.backoff(0, Some(Duration::from_millis(300))).unwrap();
        assert!(after >= Duration::from_millis(300));
        assert_eq!(policy.backoff(0, Some(Duration::from_secs(1))), None);
    }

    #[test]
    fn retry_after_reads_milliseconds_then_seconds() {
        let mut headers = HeaderMap::new();
        headers.insert("retry-after", "2".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(2)));
        headers.insert("retry-after-ms", "150".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_millis(150)));
        headers.clear();
        headers.insert(
            "retry-after",
            "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap(),
        );
        assert_eq!(retry_after(&headers), None);
    }
}
