//! Audit events: written to the metadata database and to the logs (target
//! `easel::audit`), with the client's address, user agent and the request id.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use easel_core::now_millis;
use easel_store::AuditEvent;

use crate::AppState;

/// Where a request came from.
#[derive(Debug, Clone, Default)]
pub struct RequestMeta {
    /// The peer address.
    pub ip: Option<String>,
    /// `User-Agent`.
    pub user_agent: Option<String>,
    /// `x-request-id`.
    pub request_id: Option<String>,
}

impl RequestMeta {
    /// Reads the metadata of a request.
    pub fn from_parts(parts: &Parts) -> RequestMeta {
        let header = |name: &str| {
            parts
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(|v| v.chars().take(256).collect())
        };
        RequestMeta {
            ip: parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0.ip().to_string()),
            user_agent: header("user-agent"),
            request_id: header("x-request-id"),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for RequestMeta {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(RequestMeta::from_parts(parts))
    }
}

/// Records an audit event. A failure to write it is logged, never answered: the
/// request's outcome does not depend on the audit log.
pub async fn audit(
    state: &AppState,
    meta: &RequestMeta,
    event: &str,
    principal: Option<&str>,
    username: Option<&str>,
    detail: Option<String>,
) {
    let entry = AuditEvent {
        at: now_millis(),
        event: event.to_owned(),
        principal: principal.map(str::to_owned),
        username: username.map(str::to_owned),
        ip: meta.ip.clone(),
        user_agent: meta.user_agent.clone(),
        request_id: meta.request_id.clone(),
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
    if let Err(error) = state.identity.record_audit(&entry).await {
        tracing::error!(%error, event, "cannot write the audit log");
    }
}
