//! [`Queue`] for SQLite. Every write a worker makes checks its lease token in the same
//! statement (fencing), so a worker that lost its lease changes nothing. The common
//! transitions (claim, heartbeat, progress, complete) are one statement each; the schema's
//! triggers keep `jobs` and `queue` in step.

use std::str::FromStr;
use std::sync::atomic::Ordering;
use std::time::Duration;

use async_trait::async_trait;
use easel_core::{ImageResult, JobId, Millis, now_millis};
use sqlx::Row;

use super::SqliteStore;
use crate::{Claim, FailOutcome, Jobs, Lease, Queue, StoreError};

/// How often busy claims also sweep expired leases whose attempts are used up (an idle
/// claim always sweeps).
const REAP_EVERY_MS: Millis = 1_000;

fn millis(duration: Duration) -> Millis {
    duration.as_millis().min(i64::MAX as u128) as Millis
}

fn encode(results: &[ImageResult]) -> Result<String, StoreError> {
    serde_json::to_string(results).map_err(|e| StoreError::Corrupt(e.to_string()))
}

impl SqliteStore {
    /// Moves jobs whose last allowed attempt's lease expired to the dead state.
    async fn reap_expired(&self, now: Millis) -> Result<(), StoreError> {
        self.last_reap.store(now, Ordering::Relaxed);
        let rows = sqlx::query(
            "UPDATE jobs SET status = 'FAILED', updated_at = ?1,
                    error = 'the worker stopped responding (lease expired) during attempt '
                            || attempts || ' of ' || max_attempts
              WHERE id IN (SELECT q.job_id FROM queue q JOIN jobs j ON j.id = q.job_id
                            WHERE q.lease_token IS NOT NULL AND q.visible_at <= ?1
                              AND j.attempts >= j.max_attempts)
              RETURNING id",
        )
        .bind(now)
        .fetch_all(&self.writer)
        .await?;
        for row in rows {
            let id: String = row.try_get("id")?;
            if let Ok(id) = JobId::from_str(&id) {
                tracing::warn!(job_id = %id, "job dead after its last lease expired");
                self.wakeups.job_changed(id);
            }
        }
        Ok(())
    }
}

#[async_trait]
impl Queue for SqliteStore {
    async fn claim(&self, lease: Duration) -> Result<Option<Claim>, StoreError> {
        let now = now_millis();
        if now - self.last_reap.load(Ordering::Relaxed) >= REAP_EVERY_MS {
            self.reap_expired(now).await?;
        }
        let token = uuid::Uuid::new_v4().simple().to_string();
        // One statement: the `queue_lease` trigger marks the job RUNNING and counts the
        // attempt. A job whose expired lease used its last attempt is never picked.
        let claimed: Option<String> = sqlx::query_scalar(
            "UPDATE queue SET visible_at = ?1, lease_token = ?2, leased_at = ?3
              WHERE job_id = (SELECT q.job_id FROM queue q JOIN jobs j ON j.id = q.job_id
                               WHERE q.visible_at <= ?3
                                 AND (q.lease_token IS NULL OR j.attempts < j.max_attempts)
                               ORDER BY q.visible_at, q.job_id LIMIT 1)
              RETURNING job_id",
        )
        .bind(now + millis(lease))
        .bind(&token)
        .bind(now)
        .fetch_optional(&self.writer)
        .await?;
        let Some(id) = claimed else {
            // An idle queue is the cheap moment to sweep.
            self.reap_expired(now).await?;
            return Ok(None);
        };
        let id = JobId::from_str(&id).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let job = self
            .get(id)
            .await?
            .ok_or_else(|| StoreError::Corrupt(format!("claimed job {id} has no row")))?;
        self.wakeups.job_changed(id);
        Ok(Some(Claim {
            lease: Lease {
                job_id: id,
                token,
                attempt: job.attempts,
            },
            job,
        }))
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
            "UPDATE jobs SET progress = ?1, updated_at = ?2
              WHERE id = ?3 AND EXISTS (SELECT 1 FROM queue WHERE job_id = ?3 AND lease_token = ?4)",
        )
        .bind(i64::from(done))
        .bind(now_millis())
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
        // One statement: `jobs_dequeue` removes the queue entry.
        let updated = sqlx::query(
            "UPDATE jobs SET status = 'COMPLETED', results = ?1, progress = image_count,
                    error = NULL, updated_at = ?2
              WHERE id = ?3 AND EXISTS (SELECT 1 FROM queue WHERE job_id = ?3 AND lease_token = ?4)",
        )
        .bind(encode(results)?)
        .bind(now_millis())
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

    async fn fail(
        &self,
        lease: &Lease,
        error: &str,
        retry_after: Option<Duration>,
        results: &[ImageResult],
    ) -> Result<FailOutcome, StoreError> {
        let now = now_millis();
        let id = lease.job_id.to_string();
        let mut tx = self.begin_write().await?;
        // Dead when the failure is permanent or the attempts are used up.
        let dead = sqlx::query(
            "UPDATE jobs SET status = 'FAILED', error = ?1, results = ?2, updated_at = ?3
              WHERE id = ?4 AND EXISTS (SELECT 1 FROM queue WHERE job_id = ?4 AND lease_token = ?5)
                AND (?6 OR attempts >= max_attempts)",
        )
        .bind(error)
        .bind(encode(results)?)
        .bind(now)
        .bind(&id)
        .bind(&lease.token)
        .bind(retry_after.is_none())
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        let outcome = if dead {
            FailOutcome::Dead
        } else {
            let at = now + retry_after.map_or(0, millis);
            let requeued = sqlx::query(
                "UPDATE queue SET visible_at = ?, lease_token = NULL WHERE job_id = ? AND lease_token = ?",
            )
            .bind(at)
            .bind(&id)
            .bind(&lease.token)
            .execute(&mut *tx)
            .await?
            .rows_affected()
                == 1;
            if requeued {
                sqlx::query(
                    "UPDATE jobs SET status = 'PENDING', error = ?, progress = 0, updated_at = ? WHERE id = ?",
                )
                .bind(error)
                .bind(now)
                .bind(&id)
                .execute(&mut *tx)
                .await?;
                FailOutcome::Retrying { at }
            } else {
                FailOutcome::LeaseLost
            }
        };
        tx.commit().await?;
        match outcome {
            FailOutcome::Retrying { .. } => self.wakeups.job_enqueued(),
            FailOutcome::Dead => {}
            FailOutcome::LeaseLost => return Ok(outcome),
        }
        self.wakeups.job_changed(lease.job_id);
        Ok(outcome)
    }

    async fn release(&self, lease: &Lease) -> Result<bool, StoreError> {
        let now = now_millis();
        let id = lease.job_id.to_string();
        let mut tx = self.begin_write().await?;
        let held = sqlx::query(
            "UPDATE queue SET visible_at = ?, lease_token = NULL WHERE job_id = ? AND lease_token = ?",
        )
        .bind(now)
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
            .bind(now)
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
