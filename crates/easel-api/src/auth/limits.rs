//! Usage plans, like API Gateway's: a token bucket per principal over every
//! authenticated request, and quotas per operation class and calendar window (UTC day,
//! week from Monday, month). Counters live in the metadata database, so several Easel
//! processes share them. Over a limit: 429 with `Retry-After` and
//! `x-ratelimit-limit|remaining|reset`; successful responses carry the bucket's headers.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::extract::Request;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use chrono::{DateTime, Datelike, NaiveDate, Utc};
use easel_core::{Millis, Principal, now_millis};
use easel_store::{Bucket, QuotaOutcome, QuotaWindow};
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::{Authenticated, OpClass, Plan, QuotaLimits};
use crate::{ApiError, AppState};

const DAY_MS: i64 = 86_400_000;

/// The `x-ratelimit-*` values of a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateInfo {
    /// The bucket's burst, or the quota's limit.
    pub limit: u64,
    /// Requests left now.
    pub remaining: u64,
    /// Seconds until the bucket is full again, or the quota window ends.
    pub reset_secs: u64,
}

impl RateInfo {
    /// Writes the headers (keeping ones already there).
    pub fn write(&self, headers: &mut HeaderMap) {
        for (name, value) in [
            ("x-ratelimit-limit", self.limit),
            ("x-ratelimit-remaining", self.remaining),
            ("x-ratelimit-reset", self.reset_secs),
        ] {
            if !headers.contains_key(name) {
                headers.insert(name, HeaderValue::from(value));
            }
        }
    }
}

/// Where the extractor leaves the bucket's state for [`rate_headers`].
#[derive(Debug, Clone, Default)]
pub struct RateSlot(Arc<Mutex<Option<RateInfo>>>);

/// Middleware: adds the bucket's `x-ratelimit-*` headers to the response of every
/// request that was rate limited.
pub async fn rate_headers(mut request: Request, next: Next) -> Response {
    let slot = RateSlot::default();
    request.extensions_mut().insert(slot.clone());
    let mut response = next.run(request).await;
    let info = *slot.0.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(info) = info {
        info.write(response.headers_mut());
    }
    response
}

fn ceil_secs(ms: i64) -> u64 {
    (ms.max(0) as u64).div_ceil(1000)
}

fn bucket(plan: &Plan) -> Bucket {
    let interval_ms = (1000.0 / plan.rate_per_sec.max(1e-9)).round().max(1.0) as i64;
    Bucket {
        interval_ms,
        tolerance_ms: interval_ms.saturating_mul(i64::from(plan.burst.max(1) - 1)),
    }
}

/// Takes a token from the caller's bucket; 429 `rate-limited` when it is empty.
pub async fn take_rate_token(
    parts: &Parts,
    state: &AppState,
    caller: &Authenticated,
) -> Result<(), ApiError> {
    let (_, Some(plan)) = state.auth.settings.plan(caller.plan.as_deref()) else {
        return Ok(());
    };
    let bucket = bucket(plan);
    let now = now_millis();
    let decision = state
        .identity
        .take_rate_token(&caller.principal.id, bucket, now)
        .await?;
    let ahead = decision.tat - now;
    let remaining = ((bucket.tolerance_ms + bucket.interval_ms - ahead) / bucket.interval_ms)
        .clamp(0, i64::from(plan.burst)) as u64;
    let info = RateInfo {
        limit: u64::from(plan.burst),
        remaining: if decision.allowed { remaining } else { 0 },
        reset_secs: ceil_secs(ahead),
    };
    if let Some(slot) = parts.extensions.get::<RateSlot>() {
        *slot.0.lock().unwrap_or_else(|p| p.into_inner()) = Some(info);
    }
    if decision.allowed {
        return Ok(());
    }
    let retry_after = ceil_secs(ahead - bucket.tolerance_ms).max(1);
    Err(ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "rate-limited",
        format!("too many requests; retry in {retry_after} s"),
    )
    .with_retry_after(retry_after)
    .with_rate(info))
}

/// The start of the window `period` containing `now`, and the start of the next one.
fn window_bounds(period: &str, now: Millis) -> (Millis, Millis) {
    match period {
        "day" => {
            let start = now.div_euclid(DAY_MS) * DAY_MS;
            (start, start + DAY_MS)
        }
        "week" => {
            // 1970-01-01 was a Thursday: shift so weeks start on Monday.
            let days = now.div_euclid(DAY_MS);
            let monday = (days + 3).div_euclid(7) * 7 - 3;
            (monday * DAY_MS, (monday + 7) * DAY_MS)
        }
        _ => {
            let today = DateTime::<Utc>::from_timestamp_millis(now)
                .unwrap_or_default()
                .date_naive();
            let first = NaiveDate::from_ymd_opt(today.year(), today.month(), 1).unwrap_or(today);
            let next = first
                .checked_add_months(chrono::Months::new(1))
                .unwrap_or(first);
            let millis = |d: NaiveDate| {
                d.and_hms_opt(0, 0, 0)
                    .map(|t| t.and_utc().timestamp_millis())
                    .unwrap_or(now)
            };
            (millis(first), millis(next))
        }
    }
}

fn windows(limits: &QuotaLimits, now: Millis) -> Vec<(QuotaWindow, Millis)> {
    [
        ("day", limits.day),
        ("week", limits.week),
        ("month", limits.month),
    ]
    .into_iter()
    .filter_map(|(period, limit)| {
        let limit = limit?;
        let (start, end) = window_bounds(period, now);
        Some((
            QuotaWindow {
                period: period.to_owned(),
                start,
                limit,
            },
            end,
        ))
    })
    .collect()
}

fn plan_quota(state: &AppState, plan: Option<&str>, class: OpClass) -> Option<QuotaLimits> {
    let (_, plan) = state.auth.settings.plan(plan);
    plan.and_then(|p| p.quotas.get(&class).copied())
}

/// The plan assigned to principal `id`: a local account's, or an external principal's
/// (recorded when it first signed in); `None` means the default plan.
async fn assigned_plan(state: &AppState, id: &str) -> Result<Option<String>, ApiError> {
    if let Some(user) = state.identity.user_by_id(id).await? {
        return Ok(user.plan);
    }
    Ok(state
        .identity
        .external_principal(id)
        .await?
        .and_then(|p| p.plan))
}

/// Counts one `class` operation for `caller`; 429 `quota-exceeded` when a window is full.
pub async fn consume_quota(
    state: &AppState,
    caller: &Principal,
    class: OpClass,
) -> Result<(), ApiError> {
    let plan = assigned_plan(state, &caller.id).await?;
    let Some(limits) = plan_quota(state, plan.as_deref(), class) else {
        return Ok(());
    };
    let now = now_millis();
    let bounded = windows(&limits, now);
    if bounded.is_empty() {
        return Ok(());
    }
    let list: Vec<QuotaWindow> = bounded.iter().map(|(w, _)| w.clone()).collect();
    match state
        .identity
        .consume_quota(&caller.id, class.as_str(), &list)
        .await?
    {
        QuotaOutcome::Allowed(_) => Ok(()),
        QuotaOutcome::Exceeded(index) => {
            let (window, end) = &bounded[index];
            let reset = ceil_secs(end - now).max(1);
            Err(ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "quota-exceeded",
                format!(
                    "the {} quota of {} {} requests per {} is used up",
                    window.period,
                    window.limit,
                    class.as_str(),
                    window.period
                ),
            )
            .with_retry_after(reset)
            .with_rate(RateInfo {
                limit: window.limit,
                remaining: 0,
                reset_secs: reset,
            }))
        }
    }
}

/// A principal's plan and quota use, as `GET /v1/me` shows them.
#[derive(Debug, Serialize, ToSchema)]
pub struct UsageReport {
    /// The plan in force.
    pub plan: PlanView,
    /// Per operation class (`process`, `generate`, `edit`): the use of each window
    /// (`day`, `week`, `month`) the plan limits, or `null` when the class is unlimited.
    pub quotas: BTreeMap<String, Option<BTreeMap<String, QuotaUse>>>,
}

/// A plan's name and token bucket.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = Plan)]
pub struct PlanView {
    /// The plan's name (`default` unless one was assigned).
    pub name: String,
    /// Requests per second the bucket refills; `null`: not rate limited.
    pub rate_per_second: Option<f64>,
    /// The bucket's size; `null`: not rate limited.
    pub burst: Option<u32>,
}

/// One quota window's use.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct QuotaUse {
    /// Operations allowed in the window.
    pub limit: u64,
    /// Operations counted so far.
    pub used: u64,
    /// `limit - used`.
    pub remaining: u64,
    /// When the window ends (RFC 3339).
    pub resets_at: String,
}

/// The plan and every class's quota use, for `GET /v1/me`.
pub async fn report(state: &AppState, caller: &Authenticated) -> Result<UsageReport, ApiError> {
    let (name, plan) = state.auth.settings.plan(caller.plan.as_deref());
    let now = now_millis();
    let mut quotas = BTreeMap::new();
    for class in OpClass::ALL {
        let Some(limits) = plan.and_then(|p| p.quotas.get(&class)) else {
            quotas.insert(class.as_str().to_owned(), None);
            continue;
        };
        let bounded = windows(limits, now);
        let list: Vec<QuotaWindow> = bounded.iter().map(|(w, _)| w.clone()).collect();
        let used = state
            .identity
            .quota_used(&caller.principal.id, class.as_str(), &list)
            .await?;
        let mut periods = BTreeMap::new();
        for ((window, end), used) in bounded.iter().zip(used) {
            periods.insert(
                window.period.clone(),
                QuotaUse {
                    limit: window.limit,
                    used,
                    remaining: window.limit.saturating_sub(used),
                    resets_at: easel_core::rfc3339(*end),
                },
            );
        }
        quotas.insert(class.as_str().to_owned(), Some(periods));
    }
    Ok(UsageReport {
        plan: PlanView {
            name: name.to_owned(),
            rate_per_second: plan.map(|p| p.rate_per_sec),
            burst: plan.map(|p| p.burst),
        },
        quotas,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_start_at_utc_day_monday_and_the_first() {
        // 2026-03-19 (a Thursday) 15:00 UTC.
        let now = 1_773_932_400_000;
        let (day, next_day) = window_bounds("day", now);
        assert_eq!(easel_core::rfc3339(day), "2026-03-19T00:00:00.000Z");
        assert_eq!(next_day - day, DAY_MS);
        let (week, next_week) = window_bounds("week", now);
        assert_eq!(easel_core::rfc3339(week), "2026-03-16T00:00:00.000Z");
        assert_eq!(easel_core::rfc3339(next_week), "2026-03-23T00:00:00.000Z");
        let (month, next_month) = window_bounds("month", now);
        assert_eq!(easel_core::rfc3339(month), "2026-03-01T00:00:00.000Z");
        assert_eq!(easel_core::rfc3339(next_month), "2026-04-01T00:00:00.000Z");
    }

    #[test]
    fn buckets_follow_rate_and_burst() {
        let plan = |rate, burst| Plan {
            rate_per_sec: rate,
            burst,
            quotas: Default::default(),
        };
        assert_eq!(
            bucket(&plan(10.0, 5)),
            Bucket {
                interval_ms: 100,
                tolerance_ms: 400
            }
        );
        // Ten per hour.
        assert_eq!(bucket(&plan(10.0 / 3600.0, 1)).interval_ms, 360_000);
    }
}
