//! [`Alarms`] for SQLite.

use async_trait::async_trait;
use easel_core::Millis;
use sqlx::Row;

use super::SqliteStore;
use crate::rows::{alarm_from_row, transition_from_row};
use crate::{AlarmRecord, AlarmTransition, Alarms, HttpCounts, StoreError, WindowStats};

#[async_trait]
impl Alarms for SqliteStore {
    async fn window_stats(&self, from: Millis, to: Millis) -> Result<WindowStats, StoreError> {
        let row = sqlx::query(
            "SELECT count(*) FILTER (WHERE status = 'COMPLETED') AS completed,
                    count(*) FILTER (WHERE status = 'FAILED') AS failed
               FROM jobs
              WHERE status IN ('COMPLETED', 'FAILED') AND kind <> 'webhook'
                AND updated_at >= ?1 AND updated_at < ?2",
        )
        .bind(from)
        .bind(to)
        .fetch_one(&self.reader)
        .await?;
        let completed: i64 = row.try_get("completed")?;
        let failed: i64 = row.try_get("failed")?;
        let timeouts: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM jobs
              WHERE error_code = 'lease-expired' AND updated_at >= ?1 AND updated_at < ?2",
        )
        .bind(from)
        .bind(to)
        .fetch_one(&self.reader)
        .await?;
        let latencies: Vec<i64> = sqlx::query_scalar(
            "SELECT latency_ms FROM request_log
              WHERE at >= ?1 AND at < ?2 AND latency_ms IS NOT NULL AND status = 'succeeded'",
        )
        .bind(from)
        .bind(to)
        .fetch_all(&self.reader)
        .await?;
        Ok(WindowStats {
            completed: completed as u64,
            failed: failed as u64,
            timeouts: timeouts as u64,
            latencies_ms: latencies.into_iter().map(|l| l.max(0) as u64).collect(),
        })
    }

    async fn oldest_waiting(&self) -> Result<Option<Millis>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT min(j.created_at) FROM queue q JOIN jobs j ON j.id = q.job_id
              WHERE q.lease_token IS NULL",
        )
        .fetch_one(&self.reader)
        .await?)
    }

    async fn put_datapoint(
        &self,
        alarm: &str,
        period_end: Millis,
        value: Option<f64>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO alarm_datapoints (alarm, period_end, value) VALUES (?1, ?2, ?3)
             ON CONFLICT (alarm, period_end) DO NOTHING",
        )
        .bind(alarm)
        .bind(period_end)
        .bind(value)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    async fn datapoints(
        &self,
        alarm: &str,
        after: Millis,
        through: Millis,
    ) -> Result<Vec<(Millis, Option<f64>)>, StoreError> {
        let rows = sqlx::query(
            "SELECT period_end, value FROM alarm_datapoints
              WHERE alarm = ?1 AND period_end > ?2 AND period_end <= ?3
              ORDER BY period_end DESC",
        )
        .bind(alarm)
        .bind(after)
        .bind(through)
        .fetch_all(&self.reader)
        .await?;
        rows.iter()
            .map(|row| Ok((row.try_get("period_end")?, row.try_get("value")?)))
            .collect()
    }

    async fn alarm_states(&self) -> Result<Vec<AlarmRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT name, state, reason, since, version FROM alarm_states ORDER BY name",
        )
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(alarm_from_row).collect()
    }

    async fn transition_alarm(
        &self,
        name: &str,
        expected: i64,
        to: &str,
        reason: &str,
        at: Millis,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        // The state before, read in the transaction that changes it.
        let from: Option<String> =
            sqlx::query_scalar("SELECT state FROM alarm_states WHERE name = ?1 AND version = ?2")
                .bind(name)
                .bind(expected)
                .fetch_optional(&mut *tx)
                .await?;
        let changed = if expected == 0 {
            sqlx::query(
                "INSERT INTO alarm_states (name, state, reason, since, version)
                 VALUES (?1, ?2, ?3, ?4, 1) ON CONFLICT (name) DO NOTHING",
            )
            .bind(name)
            .bind(to)
            .bind(reason)
            .bind(at)
            .execute(&mut *tx)
            .await?
            .rows_affected()
        } else {
            sqlx::query(
                "UPDATE alarm_states SET state = ?1, reason = ?2, since = ?3,
                        version = version + 1
                  WHERE name = ?4 AND version = ?5",
            )
            .bind(to)
            .bind(reason)
            .bind(at)
            .bind(name)
            .bind(expected)
            .execute(&mut *tx)
            .await?
            .rows_affected()
        } == 1;
        if changed {
            sqlx::query(
                "INSERT INTO alarm_history (name, at, from_state, to_state, reason)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )
            .bind(name)
            .bind(at)
            .bind(from.unwrap_or_else(|| "INSUFFICIENT_DATA".to_owned()))
            .bind(to)
            .bind(reason)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(changed)
    }

    async fn add_http_counts(
        &self,
        process: &str,
        second: Millis,
        counts: HttpCounts,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO http_counts (process, second, total, client, server)
             VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (second, process) DO UPDATE
                SET total = http_counts.total + excluded.total,
                    client = http_counts.client + excluded.client,
                    server = http_counts.server + excluded.server",
        )
        .bind(process)
        .bind(second)
        .bind(counts.total as i64)
        .bind(counts.client as i64)
        .bind(counts.server as i64)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    async fn http_counts(&self, from: Millis, to: Millis) -> Result<HttpCounts, StoreError> {
        let row = sqlx::query(
            "SELECT CAST(COALESCE(sum(total), 0) AS BIGINT) AS total,
                    CAST(COALESCE(sum(client), 0) AS BIGINT) AS client,
                    CAST(COALESCE(sum(server), 0) AS BIGINT) AS server
               FROM http_counts WHERE second >= ?1 AND second < ?2",
        )
        .bind(from)
        .bind(to)
        .fetch_one(&self.reader)
        .await?;
        let get = |column: &str| -> Result<u64, StoreError> {
            let n: i64 = row.try_get(column)?;
            Ok(n.max(0) as u64)
        };
        Ok(HttpCounts {
            total: get("total")?,
            client: get("client")?,
            server: get("server")?,
        })
    }

    async fn prune_http_counts(&self, before: Millis) -> Result<u64, StoreError> {
        Ok(sqlx::query("DELETE FROM http_counts WHERE second < ?1")
            .bind(before)
            .execute(&self.writer)
            .await?
            .rows_affected())
    }

    async fn alarm_history(
        &self,
        name: Option<&str>,
        limit: u32,
    ) -> Result<Vec<AlarmTransition>, StoreError> {
        let rows = sqlx::query(
            "SELECT name, at, from_state, to_state, reason FROM alarm_history
              WHERE (?1 IS NULL OR name = ?1) ORDER BY at DESC LIMIT ?2",
        )
        .bind(name)
        .bind(i64::from(limit))
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(transition_from_row).collect()
    }
}
