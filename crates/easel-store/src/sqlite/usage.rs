//! [`Usage`] for SQLite: every decision is one statement (or one short transaction for
//! several quota windows) on the writer, so processes sharing the file share the limits.

use std::sync::LazyLock;

use async_trait::async_trait;
use easel_core::Millis;
use sqlx::Row;

use super::SqliteStore;
use crate::{Bucket, QuotaOutcome, QuotaWindow, RateGrant, StoreError, Usage};

/// GCRA for several tokens in one statement. Parameters: ?1 principal, ?2 now,
/// ?3 interval, ?4 tolerance, ?5 tokens wanted. The bucket's state is its theoretical
/// arrival time (TAT); a TAT in the past counts as now (the bucket is full). From
/// `base` = the later of the two, `room` = how many intervals fit before the TAT would
/// run more than `tolerance` ahead of now; the grant is the smaller of room and want,
/// and the TAT advances one interval per token granted. Every SET expression reads
/// the old row, so `tat` and `granted` agree; CASE rather than two-argument
/// min()/max() keeps the SQL portable (PostgreSQL spells those LEAST/GREATEST).
static TAKE_TOKENS: LazyLock<String> = LazyLock::new(|| {
    let grant = |base: &str| {
        let room = format!("((?2 + ?4 + ?3 - {base}) / ?3)");
        format!("(CASE WHEN {room} <= 0 THEN 0 WHEN {room} < ?5 THEN {room} ELSE ?5 END)")
    };
    let base = "(CASE WHEN rate_buckets.tat <= ?2 THEN ?2 ELSE rate_buckets.tat END)";
    let (fresh, granted) = (grant("?2"), grant(base));
    format!(
        "INSERT INTO rate_buckets (principal, tat, allowed, granted)
         VALUES (?1, ?2 + ?3 * {fresh}, TRUE, {fresh})
         ON CONFLICT (principal) DO UPDATE SET
            tat = {base} + ?3 * {granted},
            granted = {granted},
            allowed = ({granted} > 0)
         RETURNING tat, granted"
    )
});

#[async_trait]
impl Usage for SqliteStore {
    async fn take_rate_tokens(
        &self,
        principal: &str,
        bucket: Bucket,
        now: Millis,
        want: u32,
    ) -> Result<RateGrant, StoreError> {
        let row = sqlx::query(TAKE_TOKENS.as_str())
            .bind(principal)
            .bind(now)
            .bind(bucket.interval_ms.max(1))
            .bind(bucket.tolerance_ms.max(0))
            .bind(i64::from(want.max(1)))
            .fetch_one(&self.writer)
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
