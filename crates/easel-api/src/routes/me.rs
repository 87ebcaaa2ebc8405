//! `GET /v1/me` (the caller, their plan and remaining quotas) and the admin's
//! `GET /v1/admin/audit`.

use axum::Json;
use axum::extract::State;
use axum::routing::get;
use easel_core::rfc3339;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::auth::{ADMIN_GROUP, Authenticated, RequestMeta, audit, limits};
use crate::extract::QueryParams;
use crate::routes::{Access, Routes};
use crate::{ApiError, AppState};

pub fn routes() -> Routes {
    Routes::new()
        .add("/v1/me", Access::Authenticated, &["GET"], get(me))
        .add("/v1/admin/audit", Access::Admin, &["GET"], get(audit_log))
}

async fn me(State(state): State<AppState>, caller: Authenticated) -> Result<Json<Value>, ApiError> {
    let mut body = json!({
        "userId": caller.principal.id,
        "username": caller.username,
        "admin": caller.principal.admin,
        "groups": if caller.principal.admin { vec![ADMIN_GROUP] } else { Vec::new() },
        "authenticatedWith": caller.via.as_str(),
    });
    let usage = limits::report(&state, &caller).await?;
    body["plan"] = usage["plan"].clone();
    body["quotas"] = usage["quotas"].clone();
    Ok(Json(body))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AuditQuery {
    principal: Option<String>,
    limit: Option<u32>,
}

async fn audit_log(
    State(state): State<AppState>,
    caller: Authenticated,
    meta: RequestMeta,
    QueryParams(query): QueryParams<AuditQuery>,
) -> Result<Json<Value>, ApiError> {
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
    let events: Vec<Value> = events
        .iter()
        .map(|e| {
            let mut value = serde_json::to_value(e).unwrap_or(Value::Null);
            value["at"] = json!(rfc3339(e.at));
            value
        })
        .collect();
    Ok(Json(json!({ "events": events })))
}
