//! [`Usage`] for SQLite: every decision is one statement (or one short transaction for
//! several quota windows) on the writer, so processes sharing the file share the limits.

use async_trait::async_trait;
use easel_core::Millis;
use sqlx::Row;

use super::SqliteStore;
use crate::{Bucket, QuotaOutcome, QuotaWindow, RateDecision, StoreError, Usage};

#[async_trait]
impl Usage for SqliteStore {
    async fn take_rate_token(
        &self,
        principal: &str,
        bucket: Bucket,
        now: Millis,
    ) -> Result<RateDecision, StoreError> {
        // GCRA: a request is allowed when the theoretical arrival time is at most
        // `tolerance` ahead of now; it then advances by one interval. Every SET
        // expression reads the old row, so `allowed` and `tat` agree. A TAT in the
        // past counts as now (the bucket is full). Written with CASE rather than
        // SQLite's two-argument max() (PostgreSQL's GREATEST) so the SQL is portable.
        let row = sqlx::query(
            "INSERT INTO rate_buckets (principal, tat, allowed) VALUES (?1, ?2 + ?3, TRUE)
             ON CONFLICT (principal) DO UPDATE SET
                allowed = (rate_buckets.tat <= ?2 OR rate_buckets.tat - ?2 <= ?4),
                tat = CASE
                      WHEN rate_buckets.tat <= ?2 THEN ?2 + ?3
                      WHEN rate_buckets.tat - ?2 <= ?4 THEN rate_buckets.tat + ?3
                      ELSE rate_buckets.tat END
             RETURNING tat, allowed",
        )
        .bind(principal)
        .bind(now)
        .bind(bucket.interval_ms)
        .bind(bucket.tolerance_ms)
        .fetch_one(&self.writer)
        .await?;
        Ok(RateDecision {
            allowed: row.try_get("allowed")?,
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
        let mut tx = self.begin_write().await?;
        let mut used = Vec::with_capacity(windows.len());
        for (index, window) in windows.iter().enumerate() {
            // Increments only while under the limit; no row back means the window is full.
            let count: Option<i64> = sqlx::query_scalar(
                "INSERT INTO quota_usage (principal, class, period, window_start, used)
                 SELECT ?1, ?2, ?3, ?4, 1 WHERE ?5 > 0
                 ON CONFLICT (principal, class, period, window_start)
                 DO UPDATE SET used = quota_usage.used + 1 WHERE quota_usage.used < ?5
                 RETURNING used",
            )
            .bind(principal)
            .bind(class)
            .bind(&window.period)
            .bind(window.start)
            .bind(window.limit as i64)
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
        let mut used = Vec::with_capacity(windows.len());
        for window in windows {
            let count: Option<i64> = sqlx::query_scalar(
                "SELECT used FROM quota_usage
                  WHERE principal = ? AND class = ? AND period = ? AND window_start = ?",
            )
            .bind(principal)
            .bind(class)
            .bind(&window.period)
            .bind(window.start)
            .fetch_optional(&self.reader)
            .await?;
            used.push(count.unwrap_or(0) as u64);
        }
        Ok(used)
    }
}
