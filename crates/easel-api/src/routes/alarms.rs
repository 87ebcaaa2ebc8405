//! `GET /v1/admin/alarms`: every alarm's rule, state and recent datapoints, the latest
//! transitions, and the secret its notifications are signed with (administrators only).

use axum::Json;
use axum::extract::State;
use axum::routing::get;
use easel_core::{now_millis, rfc3339};
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::Caller;
use crate::routes::{Access, Routes};
use crate::{ApiError, AppState};

pub fn routes() -> Routes {
    Routes::new().add("/v1/admin/alarms", Access::Admin, &["GET"], get(alarms))
}

/// One period's value.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct Datapoint {
    /// RFC 3339: when the period ended.
    period_end: String,
    /// `null` when the period had no data.
    value: Option<f64>,
}

/// One alarm.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct AlarmEntry {
    /// Its name.
    name: String,
    /// What it watches: `dead_jobs`, `failed_job_ratio`, `timeouts`, `queue_depth`,
    /// `oldest_pending_seconds`, `generation_latency_p99_ms`, `http_5xx_ratio` or
    /// `http_4xx_ratio`.
    metric: String,
    /// The threshold.
    threshold: f64,
    /// `>`, `>=`, `<` or `<=`.
    comparison: String,
    /// The period, in seconds.
    period_secs: i64,
    /// How many recent periods are looked at.
    evaluation_periods: u32,
    /// How many must breach for `ALARM`.
    datapoints_to_alarm: u32,
    /// `OK`, `ALARM` or `INSUFFICIENT_DATA`.
    state: String,
    /// Why.
    reason: String,
    /// RFC 3339; absent before the first evaluation.
    since: Option<String>,
    /// Recent datapoints, newest first.
    datapoints: Vec<Datapoint>,
}

/// A change of state.
#[derive(Debug, Serialize, ToSchema)]
struct Transition {
    /// The alarm.
    name: String,
    /// RFC 3339.
    at: String,
    /// The state before.
    from: String,
    /// The state after.
    to: String,
    /// Why.
    reason: String,
}

/// The alarms.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct AlarmList {
    /// In configuration order.
    alarms: Vec<AlarmEntry>,
    /// The latest 100 transitions, newest first.
    history: Vec<Transition>,
    /// `whsec_…`: the secret alarm notifications (`alarm.state-changed` webhooks) are
    /// signed with.
    webhook_secret: String,
}

/// Every alarm: its rule, state, reason and recent datapoints; the transitions; the
/// notifications' signing secret (administrators only).
#[utoipa::path(get, path = "/v1/admin/alarms", tag = "identity",
    responses((status = 200, description = "The alarms", body = AlarmList)))]
async fn alarms(
    State(state): State<AppState>,
    Caller(caller): Caller,
) -> Result<Json<AlarmList>, ApiError> {
    let (views, history, webhook_secret) = state
        .services
        .alarms
        .overview(&caller, now_millis())
        .await?;
    let alarms = views
        .into_iter()
        .map(|v| AlarmEntry {
            name: v.rule.name,
            metric: v.rule.metric.as_str().to_owned(),
            threshold: v.rule.threshold,
            comparison: v.rule.comparison.symbol().to_owned(),
            period_secs: v.rule.period_ms / 1000,
            evaluation_periods: v.rule.evaluation_periods,
            datapoints_to_alarm: v.rule.datapoints_to_alarm,
            state: v.state,
            reason: v.reason,
            since: v.since.map(rfc3339),
            datapoints: v
                .datapoints
                .into_iter()
                .map(|(end, value)| Datapoint {
                    period_end: rfc3339(end),
                    value,
                })
                .collect(),
        })
        .collect();
    let history = history
        .into_iter()
        .map(|t| Transition {
            name: t.name,
            at: rfc3339(t.at),
            from: t.from,
            to: t.to,
            reason: t.reason,
        })
        .collect();
    Ok(Json(AlarmList {
        alarms,
        history,
        webhook_secret,
    }))
}
