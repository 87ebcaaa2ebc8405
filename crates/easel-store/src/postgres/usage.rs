//! [`Usage`] for PostgreSQL: every decision is one upsert (or one short transaction for
//! several quota windows). `ON CONFLICT DO UPDATE` locks the row and evaluates its SET
//! against the latest committed version, so processes sharing the database serialize
//! on each principal's row and never lose an update.

use async_trait::async_trait;
use easel_core::Millis;
use sqlx::Row;

use super::PgStore;
use crate::{Bucket, QuotaOutcome, QuotaWindow, RateGrant, StoreError, Usage};

/// GCRA for several tokens in one statement, the same arithmetic as SQLite's (see
/// `sqlite/usage.rs`). Parameters: $1 principal, $2 now, $3 interval, $4 tolerance,
/// $5 tokens wanted. A TAT in the past counts as now (the bucket is full); `room` is
/// how many intervals fit before the TAT would run more than `tolerance` ahead of now;
/// the grant is the smaller of room and want, and the TAT advances one interval per
/// token granted. Every SET expression reads the old row, so `tat` and `granted` agree.
const TAKE_TOKENS: &str = "
INSERT INTO rate_buckets AS b (principal, tat, allowed, granted)
SELECT $1, $2 + $3 * fresh.n, TRUE, fresh.n
  FROM (SELECT GREATEST(LEAST(($2 + $4 + $3 - $2) / $3, $5), 0) AS n) AS fresh
ON CONFLICT (principal) DO UPDATE SET
    tat = GREATEST(b.tat, $2)
          + $3 * GREATEST(LEAST(($2 + $4 + $3 - GREATEST(b.tat, $2)) / $3, $5), 0),
    granted = GREATEST(LEAST(($2 + $4 + $3 - GREATEST(b.tat, $2)) / $3, $5), 0),
    allowed = GREATEST(LEAST(($2 + $4 + $3 - GREATEST(b.tat, $2)) / $3, $5), 0) > 0
RETURNING tat, granted";

/// Counts one use of a window while it is under its limit ($5); no row back means the
/// window is full (a limit of 0 inserts nothing).
const CONSUME: &str = "
INSERT INTO quota_usage (principal, class, period, window_start, used)
SELECT $1, $2, $3, $4, 1 WHERE $5 > 0
ON CONFLICT (principal, class, period, window_start)
DO UPDATE SET used = quota_usage.used + 1 WHERE quota_usage.used < $5
RETURNING used";

#[async_trait]
impl Usage for PgStore {
    async fn take_rate_tokens(
        &self,
        principal: &str,
        bucket: Bucket,
        now: Millis,
        want: u32,
    ) -> Result<RateGrant, StoreError> {
        let row = sqlx::query(TAKE_TOKENS)
            .bind(principal)
            .bind(now)
            .bind(bucket.interval_ms.max(1))
            .bind(bucket.tolerance_ms.max(0))
            .bind(i64::from(want.max(1)))
            // Rate buckets commit asynchronously, like worker transitions: a crash may
            // forget the last moment of takes (a few requests more get through), and
            // no request waits for a disk flush to pass the rate limit.
            .fetch_one(&self.worker_pool)
            .await?;
        let granted: i64 = row.try_get("granted")?;
        Ok(RateGrant {
            granted: granted.clamp(0, i64::from(u32::MAX)) as u32,
            tat: row.try_get("tat")?,
        })
    }

    #[tracing::instrument(skip(self, windows))]
    async fn consume_quota(
        &self,
        principal: &str,
        class: &str,
        windows: &[QuotaWindow],
    ) -> Result<QuotaOutcome, StoreError> {
        // All windows or none: one transaction, rolled back at the first full window.
        // Callers pass windows in one order (day, week, month), so two transactions
        // lock the same rows in the same order.
        let mut tx = self.pool.begin().await?;
        let mut used = Vec::with_capacity(windows.len());
        for (index, window) in windows.iter().enumerate() {
            let count: Option<i64> = sqlx::query_scalar(CONSUME)
                .bind(principal)
                .bind(class)
                .bind(&window.period)
                .bind(window.start)
                .bind(window.limit.min(i64::MAX as u64) as i64)
                .fetch_optional(&mut *tx)
                .await?;
            match count {
                Some(count) => used.push(count as u64),
                None => {
                    tx.rollback().await?;
                    return Ok(QuotaOutcome::Exceeded(index));
                }
            }
        }
        tx.commit().await?;
        Ok(QuotaOutcome::Allowed(used))
    }

    async fn quota_used(
        &self,
        principal: &str,
        class: &str,
        windows: &[QuotaWindow],
    ) -> Result<Vec<u64>, StoreError> {
        // One round trip for every window; `ORDINALITY` keeps the answer in their order.
        let periods: Vec<&str> = windows.iter().map(|w| w.period.as_str()).collect();
        let starts: Vec<i64> = windows.iter().map(|w| w.start).collect();
        let counts: Vec<i64> = sqlx::query_scalar(
            "SELECT COALESCE(q.used, 0)
               FROM UNNEST($3::text[], $4::int8[]) WITH ORDINALITY AS w (period, start, n)
               LEFT JOIN quota_usage q
                 ON q.principal = $1 AND q.class = $2
                AND q.period = w.period AND q.window_start = w.start
              ORDER BY w.n",
        )
        .bind(principal)
        .bind(class)
        .bind(&periods)
        .bind(&starts)
        .fetch_all(&self.pool)
        .await?;
        Ok(counts.into_iter().map(|n| n as u64).collect())
    }
}
