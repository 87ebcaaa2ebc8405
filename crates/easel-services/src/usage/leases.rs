//! Rate tokens this process took from principals' shared buckets ahead of need, and
//! the bucket arithmetic (GCRA: one theoretical arrival time per principal). Plans under
//! 200 requests a second take one token per request; busier plans lease a few at once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use easel_core::Millis;
use easel_store::Bucket;

use super::Plan;

/// How long tokens taken ahead stay usable: unused ones are dropped after this, so a
/// process never sits on tokens that another process or a later second needs.
const LEASE_TTL_MS: Millis = 250;
/// The most tokens taken at once.
const MAX_LEASE: u32 = 64;
/// Past this many principals with live leases, expired leases are swept.
const SWEEP_ABOVE: usize = 1024;

/// Rate tokens this process took from principals' shared buckets ahead of need.
#[derive(Debug, Default)]
pub(super) struct RateLeases(Mutex<HashMap<String, RateLease>>);

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
    pub(super) fn spend(
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
    pub(super) fn keep(&self, principal: &str, tokens: u32, tat: Millis, now: Millis) -> u32 {
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

/// Tokens to take at once for `plan`: about 10 ms of its rate, at most a tenth of its
/// burst and [`MAX_LEASE`]; at least one.
pub(super) fn lease_size(plan: &Plan) -> u32 {
    let by_rate = (plan.rate_per_sec / 100.0).floor();
    let by_burst = f64::from(plan.burst / 10);
    by_rate.min(by_burst).clamp(1.0, f64::from(MAX_LEASE)) as u32
}

/// The shared bucket of `plan`.
pub(super) fn bucket(plan: &Plan) -> Bucket {
    let interval_ms = (1000.0 / plan.rate_per_sec.max(1e-9)).round().max(1.0) as i64;
    Bucket {
        interval_ms,
        tolerance_ms: interval_ms.saturating_mul(i64::from(plan.burst.max(1) - 1)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
