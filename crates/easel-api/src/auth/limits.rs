//! Usage plans, like API Gateway's: a token bucket per principal over every
//! authenticated request, and quotas per operation class and calendar window (UTC day,
//! week from Monday, month). Counters live in the metadata database, so several Easel
//! processes share them. Over a limit: 429 with `Retry-After` and
//! `x-ratelimit-limit|remaining|reset`; successful responses carry the bucket's headers.
//!
//! A principal whose plan allows hundreds of requests a second would otherwise cost a
//! database write per request; for such plans a process takes a few tokens at once
//! (about 10 ms of the rate, at most a tenth of the burst) and spends them locally for
//! a short while ([`RateLeases`]). The shared bucket still bounds every process
//! together: a lease only moves tokens forward in time by at most its lifetime. Plans
//! under 200 requests a second take one token per request, exactly as before.

use std::collections::{BTreeMap, HashMap};
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

/// How long tokens taken ahead stay usable: unused ones are dropped after this, so a
/// process never sits on tokens that another process or a later second needs.
const LEASE_TTL_MS: Millis = 250;
/// The most tokens taken at once.
const MAX_LEASE: u32 = 64;
/// Past this many principals with live leases, expired leases are swept.
const SWEEP_ABOVE: usize = 1024;

/// Rate tokens this process took from principals' shared buckets ahead of need.
#[derive(Debug, Default)]
pub struct RateLeases(Mutex<HashMap<String, RateLease>>);

#[derive(Debug, Default)]
struct RateLease {
    /// Tokens not spent yet.
    left: u32,
    /// The shared bucket's theoretical arrival time after the take.
    tat: Millis,
    /// When the unspent tokens lapse.
    expires: Millis,
    /// Held while one request takes the next lease, so that concurrent requests wait
    /// for its tokens instead of each writing to the shared bucket.
    refill: Arc<tokio::sync::Mutex<()>>,
}

impl RateLeases {
    /// Spends a leased token of `principal`: the bucket's TAT at the take and the
    /// tokens still held; or, when none is held, the lock to hold while taking more.
    fn spend(
        &self,
        principal: &str,
        now: Millis,
    ) -> Result<(Millis, u32), Arc<tokio::sync::Mutex<()>>> {
        let mut leases = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if leases.len() >= SWEEP_ABOVE {
            // Drop lapsed leases nobody is refilling.
            leases.retain(|_, lease| {
                (lease.expires > now && lease.left > 0) || Arc::strong_count(&lease.refill) > 1
            });
        }
        let lease = leases.entry(principal.to_owned()).or_default();
        if lease.left == 0 || lease.expires <= now {
            lease.left = 0;
            return Err(lease.refill.clone());
        }
        lease.left -= 1;
        Ok((lease.tat, lease.left))
    }

    /// Keeps `tokens` taken ahead for `principal`; returns how many are held now.
    fn keep(&self, principal: &str, tokens: u32, tat: Millis, now: Millis) -> u32 {
        let mut leases = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let lease = leases.entry(principal.to_owned()).or_default();
        if lease.expires <= now {
            lease.left = 0;
        }
        lease.left = lease.left.saturating_add(tokens);
        lease.tat = lease.tat.max(tat);
        lease.expires = now + LEASE_TTL_MS;
        lease.left
    }
}

/// Takes a token for `principal` from this process's lease, refilling the lease from
/// the shared bucket (one request at a time) when it is empty: whether the request may
/// go on, the bucket's TAT, the tokens still held here, and the time the decision was
/// made at (later than `now` when the request waited for another's refill), which the
/// TAT is to be read against.
async fn take_leased(
    state: &AppState,
    principal: &str,
    bucket: Bucket,
    want: u32,
    now: Millis,
) -> Result<(bool, Millis, u32, Millis), ApiError> {
    let leases = &state.auth.rate_leases;
    let refill = match leases.spend(principal, now) {
        Ok((tat, held)) => return Ok((true, tat, held, now)),
        Err(refill) => refill,
    };
    let _refilling = refill.lock().await;
    // Whoever held the lock before may have left tokens.
    let now = now_millis();
    if let Ok((tat, held)) = leases.spend(principal, now) {
        return Ok((true, tat, held, now));
    }
    let grant = state
        .identity
        .take_rate_tokens(principal, bucket, now, want)
        .await?;
    let held = match grant.granted {
        0 | 1 => 0,
        more => leases.keep(principal, more - 1, grant.tat, now),
    };
    Ok((grant.granted > 0, grant.tat, held, now))
}

/// Tokens to take at once for `plan`: about 10 ms of its rate, at most a tenth of its
/// burst and [`MAX_LEASE`]; at least one.
fn lease_size(plan: &Plan) -> u32 {
    let by_rate = (plan.rate_per_sec / 100.0).floor();
    let by_burst = f64::from(plan.burst / 10);
    by_rate.min(by_burst).clamp(1.0, f64::from(MAX_LEASE)) as u32
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
    let id = &caller.principal.id;
    let (allowed, tat, held, now) = match lease_size(plan) {
        // A quiet plan: one token per request, straight from the shared bucket.
        1 => {
            let decision = state.identity.take_rate_token(id, bucket, now).await?;
            (decision.allowed, decision.tat, 0, now)
        }
        // Read against the time the lease decided at: a millisecond lost waiting for
        // the refill lock would otherwise count as a token less in the headers.
        want => take_leased(state, id, bucket, want, now).await?,
    };
    let ahead = tat - now;
    // Tokens held here were taken from the shared bucket already: count them back.
    let remaining = ((bucket.tolerance_ms + bucket.interval_ms - ahead) / bucket.interval_ms
        + i64::from(held))
    .clamp(0, i64::from(plan.burst)) as u64;
    let info = RateInfo {
        limit: u64::from(plan.burst),
        remaining: if allowed { remaining } else { 0 },
        reset_secs: ceil_secs(ahead),
    };
    if let Some(slot) = parts.extensions.get::<RateSlot>() {
        *slot.0.lock().unwrap_or_else(|p| p.into_inner()) = Some(info);
    }
    if allowed {
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
    // When no plan limits the class there is nothing to look up or count: no database
    // round trip on every submission of a deployment without quotas.
    let plans = &state.auth.settings.plans;
    if !plans.values().any(|plan| plan.quotas.contains_key(&class)) {
        return Ok(());
    }
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
    fn busy_plans_take_several_tokens_quiet_ones_one() {
        let plan = |rate, burst| Plan {
            rate_per_sec: rate,
            burst,
            quotas: Default::default(),
        };
        assert_eq!(lease_size(&plan(20.0, 100)), 1, "the default plan");
        assert_eq!(lease_size(&plan(1.0 / 60.0, 3)), 1);
        assert_eq!(lease_size(&plan(199.0, 1000)), 1);
        assert_eq!(lease_size(&plan(1000.0, 2000)), 10, "10 ms of the rate");
        assert_eq!(lease_size(&plan(1000.0, 20)), 2, "a tenth of the burst");
        assert_eq!(lease_size(&plan(1e6, 1_000_000)), MAX_LEASE);
    }

    #[test]
    fn leased_tokens_are_spent_added_to_and_lapse() {
        let leases = RateLeases::default();
        let spend = |principal, now| leases.spend(principal, now).ok();
        assert_eq!(spend("p", 0), None);
        assert_eq!(leases.keep("p", 2, 500, 0), 2);
        assert_eq!(spend("q", 1), None, "per principal");
        assert_eq!(spend("p", 1), Some((500, 1)));
        // Tokens added while some are held join them; the later TAT is kept.
        assert_eq!(leases.keep("p", 3, 600, 2), 4);
        assert_eq!(spend("p", 3), Some((600, 3)));
        assert_eq!(spend("p", 2 + LEASE_TTL_MS), None, "lapsed");
        assert_eq!(spend("p", 2 + LEASE_TTL_MS), None);
        // Spent to the last token, then none.
        leases.keep("p", 1, 700, 1_000);
        assert_eq!(spend("p", 1_001), Some((700, 0)));
        assert_eq!(spend("p", 1_002), None);
        // Lapsed tokens are not revived by a later take.
        leases.keep("r", 5, 100, 0);
        assert_eq!(leases.keep("r", 1, 900, 5_000), 1);
    }

    #[test]
    fn a_principal_refills_through_one_lock() {
        let leases = RateLeases::default();
        let first = leases.spend("p", 0).unwrap_err();
        let second = leases.spend("p", 0).unwrap_err();
        assert!(
            Arc::ptr_eq(&first, &second),
            "concurrent misses share the lock"
        );
        let other = leases.spend("q", 0).unwrap_err();
        assert!(!Arc::ptr_eq(&first, &other));
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
