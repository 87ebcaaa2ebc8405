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

/// What a take of several tokens got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateGrant {
    /// Tokens taken: from 0 (the bucket is empty) up to the number asked for.
    pub granted: u32,
    /// The theoretical arrival time after the take: the bucket is full again then.
    pub tat: Millis,
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
    /// Takes up to `want` tokens (at least 1) from `principal`'s bucket: as many as
    /// are there, in one atomic step. A process serving a busy principal takes several
    /// at once and spends them locally, so the shared counter is written once per
    /// lease rather than once per request.
    async fn take_rate_tokens(
        &self,
        principal: &str,
        bucket: Bucket,
        now: Millis,
        want: u32,
    ) -> Result<RateGrant, StoreError>;

    /// Takes one token from `principal`'s bucket if one is there.
    async fn take_rate_token(
        &self,
        principal: &str,
        bucket: Bucket,
        now: Millis,
    ) -> Result<RateDecision, StoreError> {
        let grant = self.take_rate_tokens(principal, bucket, now, 1).await?;
        Ok(RateDecision {
            allowed: grant.granted > 0,
            tat: grant.tat,
        })
    }

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
