//! Usage plans, like API Gateway's: a token bucket per principal over every
//! authenticated request ([`Usage::take_rate_token`]), and quotas per operation class and
//! calendar window ([`Usage::consume_quota`]). Counters live in the metadata database, so
//! several Easel processes share them.
//!
//! A principal whose plan allows hundreds of requests a second would otherwise cost a
//! database write per request; for such plans a process takes a few tokens at once
//! (about 10 ms of the rate, at most a tenth of the burst) and spends them locally for a
//! short while ([`leases`]). The shared bucket still bounds every process together: a
//! lease only moves tokens forward in time by at most its lifetime.

mod leases;
pub(crate) mod windows;

use std::collections::BTreeMap;
use std::sync::Arc;

use easel_core::{Millis, OpClass, QuotaPeriod, now_millis};
use easel_store::{Bucket, IdentityStore, QuotaOutcome, QuotaWindow};
use serde::{Deserialize, Serialize};

use crate::error::{RateInfo, ServiceError};
use crate::identity::Identity;
use leases::RateLeases;
use windows::{ceil_secs, windows};

/// Requests allowed per calendar window (UTC); an absent window is unlimited.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QuotaLimits {
    /// Per day (from 00:00 UTC).
    pub day: Option<u64>,
    /// Per week (from Monday 00:00 UTC).
    pub week: Option<u64>,
    /// Per month (from the 1st, 00:00 UTC).
    pub month: Option<u64>,
}

impl QuotaLimits {
    /// The limited periods with their limits.
    pub fn limited(&self) -> impl Iterator<Item = (QuotaPeriod, u64)> {
        [
            (QuotaPeriod::Day, self.day),
            (QuotaPeriod::Week, self.week),
            (QuotaPeriod::Month, self.month),
        ]
        .into_iter()
        .filter_map(|(period, limit)| Some((period, limit?)))
    }
}

/// A usage plan: a token bucket over every authenticated request and quotas per
/// operation class.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    /// Sustained requests per second (may be fractional: 0.0028 is about 10 per hour).
    pub rate_per_sec: f64,
    /// Requests allowed at once before the rate applies.
    pub burst: u32,
    /// Quotas by operation class.
    #[serde(default)]
    pub quotas: BTreeMap<OpClass, QuotaLimits>,
}

/// The plans of a deployment.
#[derive(Debug, Clone, Default)]
pub struct Plans {
    /// By name.
    pub plans: BTreeMap<String, Plan>,
    /// The plan of principals without one.
    pub default_plan: String,
}

impl Plans {
    /// The plan named `name`, or the default plan; with the name in force.
    pub fn plan(&self, name: Option<&str>) -> (&str, Option<&Plan>) {
        match name.and_then(|n| self.plans.get_key_value(n)) {
            Some((name, plan)) => (name.as_str(), Some(plan)),
            None => (&self.default_plan, self.plans.get(&self.default_plan)),
        }
    }

    /// Whether any plan limits `class` (else counting it is skipped entirely).
    fn limit_any(&self, class: OpClass) -> bool {
        self.plans
            .values()
            .any(|plan| plan.quotas.contains_key(&class))
    }
}

/// Rate limits and quotas.
pub struct Usage {
    store: Arc<dyn IdentityStore>,
    plans: Plans,
    leases: RateLeases,
    /// Who may spend quota at all: accounts that proved their address, when required.
    identity: Arc<Identity>,
}

/// One quota window's use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuotaUse {
    /// Operations allowed in the window.
    pub limit: u64,
    /// Operations counted so far.
    pub used: u64,
    /// When the window ends.
    pub resets_at: Millis,
}

/// A principal's plan and quota use.
#[derive(Debug, Clone)]
pub struct UsageReport {
    /// The plan in force.
    pub plan_name: String,
    /// Its bucket, when it is rate limited.
    pub plan: Option<Plan>,
    /// Per class: the use of each limited window, or `None` when the class is unlimited.
    pub quotas: BTreeMap<OpClass, Option<BTreeMap<QuotaPeriod, QuotaUse>>>,
}

impl Usage {
    /// Usage over `store` with `plans`.
    pub fn new(store: Arc<dyn IdentityStore>, plans: Plans, identity: Arc<Identity>) -> Usage {
        Usage {
            store,
            plans,
            leases: RateLeases::default(),
            identity,
        }
    }

    /// The plans.
    pub fn plans(&self) -> &Plans {
        &self.plans
    }

    /// Takes a token from `principal`'s bucket under the plan `plan` (its name; `None`:
    /// the default). `Ok(None)`: the plan is not rate limited. `Ok(Some(info))`: allowed,
    /// with the bucket's state. `Limited` `rate-limited` when the bucket is empty.
    pub async fn take_rate_token(
        &self,
        principal: &str,
        plan: Option<&str>,
    ) -> Result<Option<RateInfo>, ServiceError> {
        let (_, Some(plan)) = self.plans.plan(plan) else {
            return Ok(None);
        };
        let bucket = leases::bucket(plan);
        let now = now_millis();
        let (allowed, tat, held, now) = match leases::lease_size(plan) {
            // A quiet plan: one token per request, straight from the shared bucket.
            1 => {
                let decision = self.store.take_rate_token(principal, bucket, now).await?;
                (decision.allowed, decision.tat, 0, now)
            }
            // Read against the time the lease decided at: a millisecond lost waiting for
            // the refill lock would otherwise count as a token less in the headers.
            want => self.take_leased(principal, bucket, want, now).await?,
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
        if allowed {
            return Ok(Some(info));
        }
        let retry_after = ceil_secs(ahead - bucket.tolerance_ms).max(1);
        Err(ServiceError::limited(
            "rate-limited",
            format!("too many requests; retry in {retry_after} s"),
            retry_after,
            info,
        ))
    }

    /// Takes a token for `principal` from this process's lease, refilling the lease
    /// from the shared bucket (one request at a time) when it is empty: whether the
    /// request may go on, the bucket's TAT, the tokens still held here, and the time
    /// the decision was made at (later than `now` when the request waited for
    /// another's refill), which the TAT is to be read against.
    async fn take_leased(
        &self,
        principal: &str,
        bucket: Bucket,
        want: u32,
        now: Millis,
    ) -> Result<(bool, Millis, u32, Millis), ServiceError> {
        let refill = match self.leases.spend(principal, now) {
            Ok((tat, held)) => return Ok((true, tat, held, now)),
            Err(refill) => refill,
        };
        let _refilling = refill.lock().await;
        // Whoever held the lock before may have left tokens.
        let now = now_millis();
        if let Ok((tat, held)) = self.leases.spend(principal, now) {
            return Ok((true, tat, held, now));
        }
        let grant = self
            .store
            .take_rate_tokens(principal, bucket, now, want)
            .await?;
        let held = match grant.granted {
            0 | 1 => 0,
            more => self.leases.keep(principal, more - 1, grant.tat, now),
        };
        Ok((grant.granted > 0, grant.tat, held, now))
    }

    /// Counts one `class` operation for `principal`; `Limited` `quota-exceeded` when a
    /// window is full, `403 verification-required` for an account that must prove its
    /// address first. Flows call this only once the work is accepted.
    pub async fn consume_quota(&self, principal: &str, class: OpClass) -> Result<(), ServiceError> {
        self.identity.check_verified(principal).await?;
        // When no plan limits the class there is nothing to look up or count: no database
        // round trip on every submission of a deployment without quotas.
        if !self.plans.limit_any(class) {
            return Ok(());
        }
        let plan = self.assigned_plan(principal).await?;
        let (_, plan) = self.plans.plan(plan.as_deref());
        let Some(limits) = plan.and_then(|p| p.quotas.get(&class)) else {
            return Ok(());
        };
        let now = now_millis();
        let bounded = windows(limits, now);
        if bounded.is_empty() {
            return Ok(());
        }
        let list: Vec<QuotaWindow> = bounded.iter().map(|(w, _)| w.clone()).collect();
        match self
            .store
            .consume_quota(principal, class.as_str(), &list)
            .await?
        {
            QuotaOutcome::Allowed(_) => Ok(()),
            QuotaOutcome::Exceeded(index) => {
                let (window, end) = &bounded[index];
                let reset = ceil_secs(end - now).max(1);
                Err(ServiceError::limited(
                    "quota-exceeded",
                    format!(
                        "the {period} quota of {limit} {class} requests per {period} is used up",
                        period = window.period,
                        limit = window.limit,
                    ),
                    reset,
                    RateInfo {
                        limit: window.limit,
                        remaining: 0,
                        reset_secs: reset,
                    },
                ))
            }
        }
    }

    /// The plan assigned to principal `id`: a local account's, or an external
    /// principal's (recorded when it first signed in); `None` means the default plan.
    async fn assigned_plan(&self, id: &str) -> Result<Option<String>, ServiceError> {
        if let Some(user) = self.store.user_by_id(id).await? {
            return Ok(user.plan);
        }
        Ok(self
            .store
            .external_principal(id)
            .await?
            .and_then(|p| p.plan))
    }

    /// The plan (by name; `None`: the default) and every class's quota use of
    /// `principal`.
    pub async fn report(
        &self,
        principal: &str,
        plan: Option<&str>,
    ) -> Result<UsageReport, ServiceError> {
        let (name, plan) = self.plans.plan(plan);
        let now = now_millis();
        let mut quotas = BTreeMap::new();
        for &class in OpClass::ALL {
            let Some(limits) = plan.and_then(|p| p.quotas.get(&class)) else {
                quotas.insert(class, None);
                continue;
            };
            let bounded = windows(limits, now);
            let list: Vec<QuotaWindow> = bounded.iter().map(|(w, _)| w.clone()).collect();
            let used = self
                .store
                .quota_used(principal, class.as_str(), &list)
                .await?;
            let mut periods = BTreeMap::new();
            for ((window, end), used) in bounded.iter().zip(used) {
                let period = window.period.parse().map_err(ServiceError::internal)?;
                periods.insert(
                    period,
                    QuotaUse {
                        limit: window.limit,
                        used,
                        resets_at: *end,
                    },
                );
            }
            quotas.insert(class, Some(periods));
        }
        Ok(UsageReport {
            plan_name: name.to_owned(),
            plan: plan.cloned(),
            quotas,
        })
    }
}
