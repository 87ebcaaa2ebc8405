//! The webhook delivery log: one row per attempt to deliver a job's webhook, with what
//! the receiver answered (or why it could not be reached) and how long it took.

use async_trait::async_trait;
use easel_core::{JobId, Millis};

use crate::StoreError;

/// One delivery attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// The job the webhook is about.
    pub target: JobId,
    /// The delivery (the webhook job; its id is the `webhook-id` header).
    pub delivery: JobId,
    /// Which attempt, from 1.
    pub attempt: u32,
    /// When it was made.
    pub at: Millis,
    /// Where it went.
    pub url: String,
    /// The receiver's HTTP status, when it answered.
    pub status: Option<u16>,
    /// Why it failed, when it did (no answer, a non-2xx status, a refused address).
    pub error: Option<String>,
    /// How long it took, in milliseconds.
    pub duration_ms: u64,
}

/// The delivery log.
#[async_trait]
pub trait Deliveries: Send + Sync {
    /// Appends an attempt.
    async fn record_delivery(&self, delivery: &Delivery) -> Result<(), StoreError>;

    /// The attempts for `target`'s webhooks, oldest first, at most `limit`.
    async fn list_deliveries(&self, target: JobId, limit: u32)
    -> Result<Vec<Delivery>, StoreError>;
}
