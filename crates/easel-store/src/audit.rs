//! The audit log: security-relevant events with who, from where and which request.

use async_trait::async_trait;
use easel_core::Millis;
use serde::Serialize;

use crate::StoreError;

/// One audit event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditEvent {
    /// When it happened.
    pub at: Millis,
    /// What happened, a stable kebab-case name (`sign-in-succeeded`, `key-revoked`, …).
    pub event: String,
    /// The principal acting or affected, when known.
    pub principal: Option<String>,
    /// The username given, when there is one (sign-in attempts).
    pub username: Option<String>,
    /// The client's address.
    pub ip: Option<String>,
    /// The client's `User-Agent`.
    pub user_agent: Option<String>,
    /// The request id.
    pub request_id: Option<String>,
    /// Free-form detail (never secrets).
    pub detail: Option<String>,
}

/// The audit log.
#[async_trait]
pub trait Audit: Send + Sync {
    /// Appends an event.
    async fn record_audit(&self, event: &AuditEvent) -> Result<(), StoreError>;

    /// The newest events first, optionally only those of one principal.
    async fn list_audit(
        &self,
        principal: Option<&str>,
        limit: u32,
    ) -> Result<Vec<AuditEvent>, StoreError>;
}
