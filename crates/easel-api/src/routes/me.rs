//! `GET /v1/me` (the caller, their plan and remaining quotas) and the admin's
//! `GET /v1/admin/audit`.

use axum::Json;
use axum::extract::State;
use axum::routing::get;
use easel_core::rfc3339;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::limits::UsageReport;
use crate::auth::{ADMIN_GROUP, Authenticated, RequestMeta, audit, limits};
use crate::error::ErrorBody;
use crate::extract::QueryParams;
use crate::routes::{Access, Routes};
use crate::{ApiError, AppState};

pub fn routes() -> Routes {
    Routes::new()
        .add("/v1/me", Access::Authenticated, &["GET"], get(me))
        .add("/v1/admin/audit", Access::Admin, &["GET"], get(audit_log))
}

/// The caller as the gateway sees them.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct Me {
    /// The principal id (`sub`); resources are owned by it.
    user_id: String,
    /// The sign-in name, when known.
    username: Option<String>,
    /// Whether the caller has the admin role.
    admin: bool,
    /// `["admin"]` for administrators.
    groups: Vec<&'static str>,
    /// `token`, `external-token`, `api-key` or `none`.
    #[schema(example = "token")]
    authenticated_with: &'static str,
    /// The plan and quota use.
    #[serde(flatten)]
    usage: UsageReport,
}

/// The caller, their plan and what is left of each quota.
#[utoipa::path(get, path = "/v1/me", tag = "identity",
    responses((status = 200, description = "The caller", body = Me)))]
async fn me(State(state): State<AppState>, caller: Authenticated) -> Result<Json<Me>, ApiError> {
    let usage = limits::report(&state, &caller).await?;
    Ok(Json(Me {
        user_id: caller.principal.id.clone(),
        username: caller.username.clone(),
        admin: caller.principal.admin,
        groups: if caller.principal.admin {
            vec![ADMIN_GROUP]
        } else {
            Vec::new()
        },
        authenticated_with: caller.via.as_str(),
        usage,
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct AuditQuery {
    /// Only this principal's events.
    principal: Option<String>,
    /// How many, 1 to 1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u32>,
}

/// One audit event.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct AuditEntry {
    /// RFC 3339.
    at: String,
    /// A stable kebab-case name (`sign-in-succeeded`, `key-revoked`, …).
    event: String,
    principal: Option<String>,
    username: Option<String>,
    ip: Option<String>,
    user_agent: Option<String>,
    request_id: Option<String>,
    detail: Option<String>,
}

/// Newest first.
#[derive(Debug, Serialize, ToSchema)]
struct AuditLog {
    events: Vec<AuditEntry>,
}

/// The audit log, newest first (administrators only).
#[utoipa::path(get, path = "/v1/admin/audit", tag = "identity", params(AuditQuery),
    responses(
        (status = 200, description = "The events", body = AuditLog),
        (status = 400, description = "`invalid-query`", body = ErrorBody),
    ))]
async fn audit_log(
    State(state): State<AppState>,
    caller: Authenticated,
    meta: RequestMeta,
    QueryParams(query): QueryParams<AuditQuery>,
) -> Result<Json<AuditLog>, ApiError> {
    if !caller.principal.admin {
        let who = caller.principal.id.as_str();
        let detail = Some("GET /v1/admin/audit".to_owned());
        audit(&state, &meta, "permission-denied", Some(who), None, detail).await;
        return Err(ApiError::forbidden(
            "only administrators may read the audit log",
        ));
    }
    let limit = query.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::bad_request(
            "invalid-query",
            "limit must be between 1 and 1000",
        ));
    }
    let events = state
        .identity
        .list_audit(query.principal.as_deref(), limit)
        .await?;
    let events = events
        .into_iter()
        .map(|e| AuditEntry {
            at: rfc3339(e.at),
            event: e.event,
            principal: e.principal,
            username: e.username,
            ip: e.ip,
            user_agent: e.user_agent,
            request_id: e.request_id,
            detail: e.detail,
        })
        .collect();
    Ok(Json(AuditLog { events }))
}
