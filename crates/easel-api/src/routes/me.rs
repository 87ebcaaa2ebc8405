//! `GET /v1/me` (the caller, their plan and remaining quotas) and the admin's
//! `GET /v1/admin/audit`.

use axum::Json;
use axum::extract::State;
use axum::routing::get;
use std::collections::BTreeMap;

use easel_core::rfc3339;
use easel_services::identity::ADMIN_GROUP;
use easel_services::usage;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::{Authenticated, RequestMeta};
use crate::error::ErrorBody;
use crate::extract::QueryParams;
use crate::routes::account::MailSettingsView;
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
    /// A local account's address status and notification choices; absent for
    /// principals of external issuers and without authentication.
    #[serde(skip_serializing_if = "Option::is_none")]
    account: Option<MailSettingsView>,
}

/// A principal's plan and quota use.
#[derive(Debug, Serialize, ToSchema)]
struct UsageReport {
    /// The plan in force.
    plan: PlanView,
    /// Per operation class (`process`, `generate`, `edit`): the use of each window
    /// (`day`, `week`, `month`) the plan limits, or `null` when the class is unlimited.
    quotas: BTreeMap<String, Option<BTreeMap<String, QuotaUse>>>,
}

/// A plan's name and token bucket.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = Plan)]
struct PlanView {
    /// The plan's name (`default` unless one was assigned).
    name: String,
    /// Requests per second the bucket refills; `null`: not rate limited.
    rate_per_second: Option<f64>,
    /// The bucket's size; `null`: not rate limited.
    burst: Option<u32>,
}

/// One quota window's use.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct QuotaUse {
    /// Operations allowed in the window.
    limit: u64,
    /// Operations counted so far.
    used: u64,
    /// `limit - used`.
    remaining: u64,
    /// When the window ends (RFC 3339).
    resets_at: String,
}

impl From<usage::UsageReport> for UsageReport {
    fn from(report: usage::UsageReport) -> Self {
        let quota_use = |used: &usage::QuotaUse| QuotaUse {
            limit: used.limit,
            used: used.used,
            remaining: used.limit.saturating_sub(used.used),
            resets_at: rfc3339(used.resets_at),
        };
        let quotas = report
            .quotas
            .iter()
            .map(|(class, periods)| {
                let periods = periods.as_ref().map(|periods| {
                    periods
                        .iter()
                        .map(|(period, used)| (period.as_str().to_owned(), quota_use(used)))
                        .collect()
                });
                (class.as_str().to_owned(), periods)
            })
            .collect();
        UsageReport {
            plan: PlanView {
                name: report.plan_name,
                rate_per_second: report.plan.as_ref().map(|p| p.rate_per_sec),
                burst: report.plan.as_ref().map(|p| p.burst),
            },
            quotas,
        }
    }
}

/// The caller, their plan and what is left of each quota.
#[utoipa::path(get, path = "/v1/me", tag = "identity",
    responses((status = 200, description = "The caller", body = Me)))]
async fn me(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
) -> Result<Json<Me>, ApiError> {
    let usage = state
        .services
        .usage
        .report(&caller.principal.id, caller.plan.as_deref())
        .await?;
    let account = state
        .services
        .identity
        .mail_settings(&caller.principal)
        .await?;
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
        usage: usage.into(),
        account: account.map(Into::into),
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
    Authenticated(caller): Authenticated,
    meta: RequestMeta,
    QueryParams(query): QueryParams<AuditQuery>,
) -> Result<Json<AuditLog>, ApiError> {
    let limit = query.limit.unwrap_or(100);
    let identity = &state.services.identity;
    let principal = query.principal.as_deref();
    let events = identity
        .audit_log(&meta.0, &caller.principal, principal, limit)
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
