//! [`Queue`] for SQLite. Every write that a worker makes checks its lease token inside
//! the same transaction (fencing), so a worker that lost its lease changes nothing.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use easel_core::{ImageResult, JobId, Millis, now_millis};
use sqlx::Row;

use super::{SqliteStore, job_columns, job_from_row};
use crate::{Claim, FailOutcome, Lease, Queue, StoreError};

/// Most expired-and-exhausted jobs moved to the dead state by one claim call.
const MAX_REAPED_PER_CLAIM: usize = 64;

fn millis(duration: Duration) -> Millis {
    duration.as_millis().min(i64::MAX as u128) as Millis
}

fn job_id(raw: &str) -> Result<JobId, StoreError> {
    JobId::from_str(raw).map_err(|e| StoreError::Corrupt(e.to_string()))
}

#[async_trait]
impl Queue for SqliteStore {
    async fn claim(&self, lease: Duration) -> Result<Option<Claim>, StoreError> {
        let mut tx = self.begin_write().await?;
        let now = now_millis();
        let mut reaped = Vec::new();
        let claimed = loop {
            let candidate = sqlx::query(
                "SELECT q.job_id, q.lease_token, j.attempts, j.max_attempts
                   FROM queue q JOIN jobs j ON j.id = q.job_id
                  WHERE q.visible_at <= ? ORDER BY q.visible_at, q.job_id LIMIT 1",
            )
            .bind(now)
            .fetch_optional(&mut *tx)
            .await?;
            let Some(row) = candidate else { break None };
            let id: String = row.try_get("job_id")?;
            let expired_lease: Option<String> = row.try_get("lease_token")?;
            let attempts: i64 = row.try_get("attempts")?;
            let max_attempts: i64 = row.try_get("max_attempts")?;
            if expired_lease.is_some() && attempts >= max_attempts {
                // The last allowed attempt's worker stopped heartbeating: dead-letter it.
                let error = format!(
                    "the worker stopped responding (lease expired) during attempt {attempts} of {max_attempts}"
                );
                sqlx::query("DELETE FROM queue WHERE job_id = ?")
                    .bind(&id)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query(
                    "UPDATE jobs SET status = 'FAILED', error = ?, updated_at = ? WHERE id = ?",
                )
                .bind(error)
                .bind(now)
                .bind(&id)
                .execute(&mut *tx)
                .await?;
                reaped.push(job_id(&id)?);
                if reaped.len() >= MAX_REAPED_PER_CLAIM {
                    break None;
                }
                continue;
            }
            let token = uuid::Uuid::new_v4().simple().to_string();
            sqlx::query("UPDATE queue SET visible_at = ?, lease_token = ? WHERE job_id = ?")
                .bind(now + millis(lease))
                .bind(&token)
                .bind(&id)
                .execute(&mut *tx)
                .await?;
            let row = sqlx::query(concat!(
                "UPDATE jobs SET status = 'RUNNING', attempts = attempts + 1, updated_at = ?
                  WHERE id = ? RETURNING ",
                job_columns!()
            ))
            .bind(now)
            .bind(&id)
            .fetch_one(&mut *tx)
            .await?;
            let job = job_from_row(&row)?;
            break Some(Claim {
                lease: Lease {
                    job_id: job.id,
                    token,
                    attempt: job.attempts,
                },
                job,
            });
        };
        tx.commit().await?;
        for id in reaped {
            tracing::warn!(job_id = %id, "job dead after its last lease expired");
            self.wakeups.job_changed(id);
        }
        if let Some(claim) = &claimed {
            self.wakeups.job_changed(claim.job.id);
        }
        Ok(claimed)
    }

    async fn heartbeat(&self, lease: &Lease, extend: Duration) -> Result<bool, StoreError> {
        let updated =
            sqlx::query("UPDATE queue SET visible_at = ? WHERE job_id = ? AND lease_token = ?")
                .bind(now_millis() + millis(extend))
                .bind(lease.job_id.to_string())
                .bind(&lease.token)
                .execute(&self.writer)
                .await?;
        Ok(updated.rows_affected() == 1)
    }

    async fn progress(&self, lease: &Lease, done: u32) -> Result<bool, StoreError> {
        let updated = sqlx::query(
            "UPDATE jobs SET progress = ?, updated_at = ?
              WHERE id = ? AND EXISTS (SELECT 1 FROM queue WHERE job_id = ? AND lease_token = ?)",
        )
        .bind(i64::from(done))
        .bind(now_millis())
        .bind(lease.job_id.to_string())
        .bind(lease.job_id.to_string())
        .bind(&lease.token)
        .execute(&self.writer)
        .await?;
        let held = updated.rows_affected() == 1;
        if held {
            self.wakeups.job_changed(lease.job_id);
        }
        Ok(held)
    }

    async fn complete(&self, lease: &Lease, results: &[ImageResult]) -> Result<bool, StoreError> {
        let results =
            serde_json::to_string(results).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let mut tx = self.begin_write().await?;
        let id = lease.job_id.to_string();
        let held = sqlx::query("DELETE FROM queue WHERE job_id = ? AND lease_token = ?")
            .bind(&id)
            .bind(&lease.token)
            .execute(&mut *tx)
            .await?
            .rows_affected()
            == 1;
        if held {
            sqlx::query(
                "UPDATE jobs SET status = 'COMPLETED', results = ?, progress = image_count,
                        error = NULL, updated_at = ? WHERE id = ?",
            )
            .bind(results)
            .bind(now_millis())
            .bind(&id)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        if held {
            self.wakeups.job_changed(lease.job_id);
        }
        Ok(held)
    }

    async fn fail(
        &self,
        lease: &Lease,
        error: &str,
        retry_after: Option<Duration>,
        results: &[ImageResult],
    ) -> Result<FailOutcome, StoreError> {
        let results =
            serde_json::to_string(results).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let mut tx = self.begin_write().await?;
        let id = lease.job_id.to_string();
        let row = sqlx::query(
            "SELECT j.attempts, j.max_attempts FROM queue q JOIN jobs j ON j.id = q.job_id
              WHERE q.job_id = ? AND q.lease_token = ?",
        )
        .bind(&id)
        .bind(&lease.token)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Ok(FailOutcome::LeaseLost);
        };
        let attempts: i64 = row.try_get("attempts")?;
        let max_attempts: i64 = row.try_get("max_attempts")?;
        let now = now_millis();
        let outcome = match retry_after {
            Some(delay) if attempts < max_attempts => {
                let at = now + millis(delay);
                sqlx::query("UPDATE queue SET visible_at = ?, lease_token = NULL WHERE job_id = ?")
                    .bind(at)
                    .bind(&id)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query(
                    "UPDATE jobs SET status = 'PENDING', error = ?, progress = 0, updated_at = ? WHERE id = ?",
                )
                .bind(error)
                .bind(now)
                .bind(&id)
                .execute(&mut *tx)
                .await?;
                FailOutcome::Retrying { at }
            }
            _ => {
                sqlx::query("DELETE FROM queue WHERE job_id = ?")
                    .bind(&id)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query(
                    "UPDATE jobs SET status = 'FAILED', error = ?, results = ?, updated_at = ? WHERE id = ?",
                )
                .bind(error)
                .bind(results)
                .bind(now)
                .bind(&id)
                .execute(&mut *tx)
                .await?;
                FailOutcome::Dead
            }
        };
        tx.commit().await?;
        if matches!(outcome, FailOutcome::Retrying { .. }) {
            self.wakeups.job_enqueued();
        }
        self.wakeups.job_changed(lease.job_id);
        Ok(outcome)
    }

    async fn release(&self, lease: &Lease) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let id = lease.job_id.to_string();
        let held = sqlx::query(
            "UPDATE queue SET visible_at = ?, lease_token = NULL WHERE job_id = ? AND lease_token = ?",
        )
        .bind(now_millis())
        .bind(&id)
        .bind(&lease.token)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if held {
            // The attempt did not fail, it was interrupted: give it back.
            sqlx::query(
                "UPDATE jobs SET status = 'PENDING', attempts = max(attempts - 1, 0), progress = 0, updated_at = ? WHERE id = ?",
            )
            .bind(now_millis())
            .bind(&id)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        if held {
            self.wakeups.job_enqueued();
            self.wakeups.job_changed(lease.job_id);
        }
        Ok(held)
    }

    async fn depth(&self) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM queue WHERE visible_at <= ? AND lease_token IS NULL",
        )
        .bind(now_millis())
        .fetch_one(&self.reader)
        .await?;
        Ok(n as u64)
    }
}
