//! Shared rate and quota counters, so several Easel processes enforce one limit: a
//! token bucket per principal (kept as GCRA's theoretical arrival time, one integer) and
//! quota counters per principal, operation class and calendar window.

use async_trait::async_trait;
use easel_core::Millis;

use crate::StoreError;

/// A token bucket: one request per `interval_ms`, bursts of up to
/// `tolerance_ms / interval_ms + 1` requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bucket {
    /// Milliseconds per token (1 / rate).
    pub interval_ms: i64,
    /// `interval_ms × (burst − 1)`.
    pub tolerance_ms: i64,
}

/// The bucket after a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateDecision {
    /// Whether the request may go on (and took a token).
    pub allowed: bool,
    /// The theoretical arrival time after this request: the bucket is full again then.
    pub tat: Millis,
}

/// One quota window of an operation class.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuotaWindow {
    /// `day`, `week` or `month`.
    pub period: String,
    /// The window's start, in milliseconds (identifies the counter).
    pub start: Millis,
    /// Requests allowed in the window.
    pub limit: u64,
}

/// What consuming a quota did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QuotaOutcome {
    /// Every window had room; the counters after the increment, in window order.
    Allowed(Vec<u64>),
    /// The window at this index was full; no counter changed.
    Exceeded(usize),
}

/// Rate and quota counters.
#[async_trait]
pub trait Usage: Send + Sync {
    /// Takes a token from `principal`'s bucket if one is there.
    async fn take_rate_token(
        &self,
        principal: &str,
        bucket: Bucket,
        now: Millis,
    ) -> Result<RateDecision, StoreError>;

    /// Counts one `class` operation in every window, all or nothing.
    async fn consume_quota(
        &self,
        principal: &str,
        class: &str,
        windows: &[QuotaWindow],
    ) -> Result<QuotaOutcome, StoreError>;

    /// The counters of `windows` (0 for a window with no use yet).
    async fn quota_used(
        &self,
        principal: &str,
        class: &str,
        windows: &[QuotaWindow],
    ) -> Result<Vec<u64>, StoreError>;
}
