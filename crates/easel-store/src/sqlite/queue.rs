//! [`Queue`] for SQLite. Every write a worker makes checks its lease token in the same
//! statement (fencing), so a worker that lost its lease changes nothing. The common
//! transitions (claim, heartbeat, progress, complete) are one statement each; the schema's
//! triggers keep `jobs` and `queue` in step.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::atomic::Ordering;
use std::time::Duration;

use async_trait::async_trait;
use easel_core::{ImageResult, JobId, Millis, now_millis};
use sqlx::{Row, Sqlite, Transaction};

use super::SqliteStore;
use crate::rows::{job_columns, job_from_row};
use crate::{Claim, Completion, FailOutcome, Job, Lease, Queue, StoreError};

/// How often busy claims also sweep expired leases whose attempts are used up (an idle
/// claim always sweeps).
const REAP_EVERY_MS: Millis = 1_000;

fn millis(duration: Duration) -> Millis {
    duration.as_millis().min(i64::MAX as u128) as Millis
}

fn encode(results: &[ImageResult]) -> Result<String, StoreError> {
    serde_json::to_string(results).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// Ends a held lease, making the job claimable again at `at`; false when the lease was
/// no longer held.
async fn drop_lease(
    tx: &mut Transaction<'static, Sqlite>,
    lease: &Lease,
    at: Millis,
) -> Result<bool, StoreError> {
    let updated = sqlx::query(
        "UPDATE queue SET visible_at = ?, lease_token = NULL WHERE job_id = ? AND lease_token = ?",
    )
    .bind(at)
    .bind(lease.job_id.to_string())
    .bind(&lease.token)
    .execute(&mut **tx)
    .await?;
    Ok(updated.rows_affected() == 1)
}

impl SqliteStore {
    /// Moves jobs whose last allowed attempt's lease expired to the dead state.
    async fn reap_expired(&self, now: Millis) -> Result<(), StoreError> {
        self.last_reap.store(now, Ordering::Relaxed);
        let rows = sqlx::query(
            "UPDATE jobs SET status = 'FAILED', updated_at = ?1, error_code = 'lease-expired',
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
    async fn claim(&self, lease: Duration, max: usize) -> Result<Vec<Claim>, StoreError> {
        let now = now_millis();
        if now - self.last_reap.load(Ordering::Relaxed) >= REAP_EVERY_MS {
            self.reap_expired(now).await?;
        }
        let batch = uuid::Uuid::new_v4().simple().to_string();
        // One statement for the whole batch; each lease token is the batch token plus the
        // job id, so tokens stay unique per job. The `queue_lease` trigger marks each job
        // RUNNING and counts the attempt. A job whose expired lease used its last attempt
        // is never picked.
        let rows = sqlx::query(
            "UPDATE queue SET visible_at = ?1, lease_token = ?2 || job_id, leased_at = ?3
              WHERE job_id IN (SELECT q.job_id FROM queue q JOIN jobs j ON j.id = q.job_id
                                WHERE q.visible_at <= ?3
                                  AND (q.lease_token IS NULL OR j.attempts < j.max_attempts)
                                ORDER BY q.visible_at, q.job_id LIMIT ?4)
              RETURNING job_id, lease_token",
        )
        .bind(now + millis(lease))
        .bind(&batch)
        .bind(now)
        .bind(max.min(i64::MAX as usize) as i64)
        .fetch_all(&self.writer)
        .await?;
        if rows.is_empty() {
            // An idle queue is the cheap moment to sweep.
            self.reap_expired(now).await?;
            return Ok(Vec::new());
        }
        let mut tokens = Vec::with_capacity(rows.len());
        for row in &rows {
            tokens.push((
                row.try_get::<String, _>("job_id")?,
                row.try_get::<String, _>("lease_token")?,
            ));
        }
        let ids: Vec<&str> = tokens.iter().map(|(id, _)| id.as_str()).collect();
        let ids = serde_json::to_string(&ids).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let job_rows = sqlx::query(concat!(
            "SELECT ",
            job_columns!(),
            " FROM jobs WHERE id IN (SELECT value FROM json_each(?))"
        ))
        .bind(ids)
        .fetch_all(&self.reader)
        .await?;
        let mut jobs: HashMap<JobId, Job> = HashMap::with_capacity(job_rows.len());
        for row in &job_rows {
            let job = job_from_row(row)?;
            jobs.insert(job.id, job);
        }
        let mut claims = Vec::with_capacity(tokens.len());
        for (id, token) in tokens {
            let id = JobId::from_str(&id).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            let job = jobs
                .remove(&id)
                .ok_or_else(|| StoreError::Corrupt(format!("claimed job {id} has no row")))?;
            self.wakeups.job_changed(id);
            claims.push(Claim {
                lease: Lease {
                    job_id: id,
                    token,
                    attempt: job.attempts,
                },
                job,
            });
        }
        claims.sort_by_key(|c| c.job.id);
        Ok(claims)
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

    async fn progress(&self, lease: &Lease, done: u32, total: u32) -> Result<bool, StoreError> {
        let updated = sqlx::query(
            "UPDATE jobs SET progress = ?1, progress_total = ?5, updated_at = ?2
              WHERE id = ?3 AND EXISTS (SELECT 1 FROM queue WHERE job_id = ?3 AND lease_token = ?4)",
        )
        .bind(i64::from(done))
        .bind(now_millis())
        .bind(lease.job_id.to_string())
        .bind(&lease.token)
        .bind(i64::from(total))
        .execute(&self.writer)
        .await?;
        let held = updated.rows_affected() == 1;
        if held {
            self.wakeups.job_changed(lease.job_id);
        }
        Ok(held)
    }

    async fn complete(&self, completions: &[Completion]) -> Result<Vec<bool>, StoreError> {
        if completions.is_empty() {
            return Ok(Vec::new());
        }
        let batch: Vec<serde_json::Value> = completions
            .iter()
            .map(|c| {
                serde_json::json!({
                    "id": c.lease.job_id.to_string(),
                    "token": c.lease.token,
                    "results": c.results,
                })
            })
            .collect();
        let batch =
            serde_json::to_string(&batch).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        // One statement for the whole batch: `jobs_dequeue` removes the queue entries.
        let done: Vec<String> = sqlx::query_scalar(
            "UPDATE jobs SET status = 'COMPLETED', results = c.results, progress = CASE WHEN jobs.progress_total > 0 THEN jobs.progress_total ELSE jobs.image_count END,
                    error = NULL, error_code = NULL, updated_at = ?1
               FROM (SELECT value ->> '$.id' AS id, value ->> '$.token' AS token,
                            value ->> '$.results' AS results
                       FROM json_each(?2)) AS c
              WHERE jobs.id = c.id
                AND EXISTS (SELECT 1 FROM queue q WHERE q.job_id = c.id AND q.lease_token = c.token)
              RETURNING jobs.id",
        )
        .bind(now_millis())
        .bind(batch)
        .fetch_all(&self.writer)
        .await?;
        let recorded: Vec<bool> = completions
            .iter()
            .map(|c| done.contains(&c.lease.job_id.to_string()))
            .collect();
        for (completion, held) in completions.iter().zip(&recorded) {
            if *held {
                self.wakeups.job_changed(completion.lease.job_id);
            }
        }
        Ok(recorded)
    }

    async fn fail(
        &self,
        lease: &Lease,
        code: &str,
        error: &str,
        retry_after: Option<Duration>,
        results: &[ImageResult],
    ) -> Result<FailOutcome, StoreError> {
        let now = now_millis();
        let id = lease.job_id.to_string();
        let mut tx = self.begin_write().await?;
        // Dead when the failure is permanent or the attempts are used up.
        let dead = sqlx::query(
            "UPDATE jobs SET status = 'FAILED', error = ?1, results = ?2, updated_at = ?3,
                    error_code = ?7
              WHERE id = ?4 AND EXISTS (SELECT 1 FROM queue WHERE job_id = ?4 AND lease_token = ?5)
                AND (?6 OR attempts >= max_attempts)",
        )
        .bind(error)
        .bind(encode(results)?)
        .bind(now)
        .bind(&id)
        .bind(&lease.token)
        .bind(retry_after.is_none())
        .bind(code)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        let outcome = if dead {
            FailOutcome::Dead
        } else {
            let at = now + retry_after.map_or(0, millis);
            if drop_lease(&mut tx, lease, at).await? {
                sqlx::query(
                    "UPDATE jobs SET status = 'PENDING', error = ?, error_code = ?, progress = 0, updated_at = ? WHERE id = ?",
                )
                .bind(error)
                .bind(code)
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
        let held = drop_lease(&mut tx, lease, now).await?;
        if held {
            // The attempt did not fail, it was interrupted: give it back. (CASE rather
            // than SQLite's two-argument max(), which PostgreSQL spells GREATEST.)
            sqlx::query(
                "UPDATE jobs SET status = 'PENDING',
                    attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END,
                    progress = 0, updated_at = ? WHERE id = ?",
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
