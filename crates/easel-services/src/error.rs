//! The services' one error type: a kind (what sort of failure, which each transport maps
//! to its own status), a stable kebab-case code and a message a person can act on.
//! Internal detail is logged where it happens and never put in the message.

use std::fmt;

use easel_store::StoreError;

/// What sort of failure, independent of any transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The request is wrong; sending it again unchanged will fail again.
    Invalid,
    /// No credential, or one that is not valid.
    Unauthenticated,
    /// The caller is known but may not do this.
    Forbidden,
    /// The thing named does not exist (or is not the caller's).
    NotFound,
    /// The thing is in a state that does not allow this.
    Conflict,
    /// The body is over a size limit.
    TooLarge,
    /// The content is not of an accepted type.
    UnsupportedMedia,
    /// Well-formed but not acceptable (an unreadable image, a reused idempotency key).
    Unprocessable,
    /// A rate limit or quota is used up; `retry_after` says when to come back.
    Limited,
    /// A dependency (the database, an engine) cannot serve now; retry later.
    Unavailable,
    /// An engine or provider failed.
    Upstream,
    /// The work did not finish within the wait; it goes on.
    Timeout,
    /// A bug or an unexpected failure; the detail is in the log.
    Internal,
}

/// The state of a rate limit or quota, reported with [`ErrorKind::Limited`] errors and
/// successful rate-limited requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateInfo {
    /// The bucket's burst, or the quota's limit.
    pub limit: u64,
    /// Requests left now.
    pub remaining: u64,
    /// Seconds until the bucket is full again, or the quota window ends.
    pub reset_secs: u64,
}

/// Why a service call did not succeed.
#[derive(Debug, Clone)]
pub struct ServiceError {
    kind: ErrorKind,
    code: &'static str,
    message: String,
    retry_after: Option<u64>,
    rate: Option<RateInfo>,
}

/// The message of every internal error.
const INTERNAL_MESSAGE: &str =
    "something went wrong on our side; the request id identifies it in the logs";

impl ServiceError {
    /// An error of `kind` with a stable `code` and a message for people.
    pub fn new(kind: ErrorKind, code: &'static str, message: impl Into<String>) -> Self {
        ServiceError {
            kind,
            code,
            message: message.into(),
            retry_after: None,
            rate: None,
        }
    }

    /// [`ErrorKind::Invalid`].
    pub fn invalid(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Invalid, code, message)
    }

    /// [`ErrorKind::NotFound`].
    pub fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, code, message)
    }

    /// [`ErrorKind::Forbidden`] with the code `forbidden`.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Forbidden, "forbidden", message)
    }

    /// [`ErrorKind::Internal`]: logs `detail` and tells the caller nothing more.
    pub fn internal(detail: impl fmt::Display) -> Self {
        tracing::error!(detail = %detail, "internal error");
        Self::new(ErrorKind::Internal, "internal-error", INTERNAL_MESSAGE)
    }

    /// [`ErrorKind::Unavailable`] with a `Retry-After` hint in seconds.
    pub fn unavailable(code: &'static str, message: impl Into<String>, retry_after: u64) -> Self {
        Self::new(ErrorKind::Unavailable, code, message).with_retry_after(retry_after)
    }

    /// [`ErrorKind::Limited`] with when to retry and the limit's state.
    pub fn limited(
        code: &'static str,
        message: impl Into<String>,
        retry_after: u64,
        rate: RateInfo,
    ) -> Self {
        let mut error = Self::new(ErrorKind::Limited, code, message).with_retry_after(retry_after);
        error.rate = Some(rate);
        error
    }

    /// Adds a `Retry-After` hint (seconds).
    pub fn with_retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    /// What sort of failure.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The stable code.
    pub fn code(&self) -> &'static str {
        self.code
    }

    /// The message for people.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Seconds to wait before retrying, when that is known.
    pub fn retry_after(&self) -> Option<u64> {
        self.retry_after
    }

    /// The rate limit's or quota's state, for `Limited` errors.
    pub fn rate(&self) -> Option<RateInfo> {
        self.rate
    }
}

impl fmt::Display for ServiceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for ServiceError {}

impl From<StoreError> for ServiceError {
    /// A store failure the flow did not handle itself: a database or blob store that is
    /// down is `Unavailable` (retry shortly), anything else internal.
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound => {
                ServiceError::not_found("object-not-found", "the object does not exist")
            }
            other if other.is_transient() => {
                tracing::warn!(error = %other, "a store is unavailable");
                ServiceError::unavailable(
                    "store-unavailable",
                    "storage is unavailable right now; retry shortly",
                    1,
                )
            }
            other => ServiceError::internal(other),
        }
    }
}

/// Runs CPU-heavy work (password hashing, image decoding) off the async workers.
pub async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ServiceError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(ServiceError::internal)
}
