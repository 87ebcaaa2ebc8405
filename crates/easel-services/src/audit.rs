//! Audit events: written to the metadata database and to the logs (target
//! `easel::audit`), with where the request came from. A failure to write one is logged,
//! never answered: no flow's outcome depends on the audit log.

use std::sync::Arc;

use easel_core::now_millis;
use easel_store::{Audit, AuditEvent, StoreError};

/// Where a request came from, as the transport saw it.
#[derive(Debug, Clone, Default)]
pub struct RequestContext {
    /// The peer address.
    pub ip: Option<String>,
    /// The client's user agent.
    pub user_agent: Option<String>,
    /// The request's id (also in the logs and the response).
    pub request_id: Option<String>,
}

/// Who did what, for [`Auditor::record`].
#[derive(Debug, Clone, Copy, Default)]
pub struct Actor<'a> {
    /// The principal's id, when known.
    pub principal: Option<&'a str>,
    /// The sign-in name, when known.
    pub username: Option<&'a str>,
}

impl<'a> Actor<'a> {
    /// A known principal.
    pub fn principal(id: &'a str) -> Actor<'a> {
        Actor {
            principal: Some(id),
            username: None,
        }
    }
}

/// Records audit events.
pub struct Auditor {
    store: Arc<dyn Audit>,
}

impl Auditor {
    /// Writes to `store`.
    pub fn new(store: Arc<dyn Audit>) -> Auditor {
        Auditor { store }
    }

    /// Records `event` (kebab-case, e.g. `sign-in-failed`).
    pub async fn record(
        &self,
        context: &RequestContext,
        event: &str,
        actor: Actor<'_>,
        detail: Option<String>,
    ) {
        let entry = AuditEvent {
            at: now_millis(),
            event: event.to_owned(),
            principal: actor.principal.map(str::to_owned),
            username: actor.username.map(str::to_owned),
            ip: context.ip.clone(),
            user_agent: context.user_agent.clone(),
            request_id: context.request_id.clone(),
            detail,
        };
        tracing::info!(
            target: "easel::audit",
            event,
            principal = entry.principal.as_deref(),
            username = entry.username.as_deref(),
            ip = entry.ip.as_deref(),
            user_agent = entry.user_agent.as_deref(),
            request_id = entry.request_id.as_deref(),
            detail = entry.detail.as_deref(),
            "audit"
        );
        if let Err(error) = self.store.record_audit(&entry).await {
            tracing::error!(%error, event, "cannot write the audit log");
        }
    }

    /// The newest `limit` events, of one principal or of everyone.
    pub async fn list(
        &self,
        principal: Option<&str>,
        limit: u32,
    ) -> Result<Vec<AuditEvent>, StoreError> {
        self.store.list_audit(principal, limit).await
    }
}
