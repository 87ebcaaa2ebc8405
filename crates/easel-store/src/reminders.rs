//! Link-expiry reminders: when a generation completes for an owner who asked to be
//! reminded, a row says when to mail them (before the 24-hour link expires). Any process
//! may send a due one: sending is idempotent by job, and the row goes once it is sent.

use async_trait::async_trait;
use easel_core::{JobId, Millis};

use crate::StoreError;

/// A reminder to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reminder {
    /// The generation whose link expires.
    pub job: JobId,
    /// Who to remind.
    pub owner: String,
    /// When to send it.
    pub due_at: Millis,
}

/// The reminders waiting to be sent.
#[async_trait]
pub trait Reminders: Send + Sync {
    /// Adds `reminder` (a second one for the same job is ignored).
    async fn schedule_reminder(&self, reminder: &Reminder) -> Result<(), StoreError>;

    /// Up to `limit` reminders due at `now`, the earliest first.
    async fn due_reminders(&self, now: Millis, limit: u32) -> Result<Vec<Reminder>, StoreError>;

    /// Forgets the reminder of `job` (it was sent, or is moot).
    async fn drop_reminder(&self, job: JobId) -> Result<(), StoreError>;
}
