//! [`Jobs`] for SQLite.

use std::str::FromStr;

use async_trait::async_trait;
use easel_core::{JobId, JobKind, JobStatus, Millis, now_millis};
use sqlx::Row;

use super::SqliteStore;
use crate::jobs::pending_job;
use crate::rows::{activity_from_row, job_columns, job_from_row};
use crate::{Activity, CancelOutcome, Created, Job, JobFilter, Jobs, NewJob, Redrive, StoreError};

#[async_trait]
impl Jobs for SqliteStore {
    #[tracing::instrument(skip_all, fields(job_id = %new.id))]
    async fn create(&self, new: NewJob) -> Result<Created, StoreError> {
        if let Some(earlier) = self.replay_of(&new).await? {
            return Ok(earlier);
        }
        let now = now_millis();
        if new.idempotency_key.is_none() {
            // Nothing to deduplicate: write it with whatever else is being created now.
            self.inserter
                .insert(serde_json::json!({
                    "id": new.id.to_string(),
                    "owner": new.owner,
                    "kind": new.kind.as_str(),
                    "spec": new.spec.to_string(),
                    "hash": new.request_hash,
                    "images": new.image_count,
                    "attempts": new.max_attempts,
                    "expires": new.expires_at,
                    "now": now,
                }))
                .await?;
            self.wakeups.job_enqueued();
            return Ok(Created {
                job: pending_job(new, now),
                replayed: false,
            });
        }
        // One statement: the `jobs_enqueue` trigger adds the queue entry atomically.
        let inserted = sqlx::query(
            "INSERT INTO jobs (id, owner, kind, status, spec, request_hash, idempotency_key, image_count, max_attempts, created_at, updated_at, expires_at)
             VALUES (?, ?, ?, 'PENDING', ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(new.id.to_string())
        .bind(&new.owner)
        .bind(new.kind.as_str())
        .bind(new.spec.to_string())
        .bind(&new.request_hash)
        .bind(&new.idempotency_key)
        .bind(i64::from(new.image_count))
        .bind(i64::from(new.max_attempts))
        .bind(now)
        .bind(now)
        .bind(new.expires_at)
        .execute(&self.writer)
        .await;
        if let Err(sqlx::Error::Database(error)) = &inserted
            && error.is_unique_violation()
        {
            // Another request with the same key won the race: answer as a replay.
            return self.replay_of(&new).await?.ok_or_else(|| {
                StoreError::Corrupt("an idempotency key collided but has no job".to_owned())
            });
        }
        inserted?;
        self.wakeups.job_enqueued();
        Ok(Created {
            job: pending_job(new, now),
            replayed: false,
        })
    }

    async fn replay_of(&self, new: &NewJob) -> Result<Option<Created>, StoreError> {
        let Some(key) = &new.idempotency_key else {
            return Ok(None);
        };
        let earlier = sqlx::query(concat!(
            "SELECT request_hash, ",
            job_columns!(),
            " FROM jobs WHERE owner = ? AND idempotency_key = ?"
        ))
        .bind(&new.owner)
        .bind(key)
        .fetch_optional(&self.reader)
        .await?;
        let Some(row) = earlier else {
            return Ok(None);
        };
        let hash: String = row.try_get("request_hash")?;
        if hash != new.request_hash {
            return Err(StoreError::IdempotencyConflict);
        }
        Ok(Some(Created {
            job: job_from_row(&row)?,
            replayed: true,
        }))
    }

    async fn get(&self, id: JobId) -> Result<Option<Job>, StoreError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            job_columns!(),
            " FROM jobs WHERE id = ?"
        ))
        .bind(id.to_string())
        .fetch_optional(&self.reader)
        .await?;
        row.as_ref().map(job_from_row).transpose()
    }

    async fn list(&self, filter: &JobFilter) -> Result<Vec<Job>, StoreError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            job_columns!(),
            " FROM jobs WHERE (?1 IS NULL OR owner = ?1) AND (?2 IS NULL OR status = ?2)
               AND (?3 IS NULL OR id < ?3) AND (?5 IS NULL OR kind = ?5)
               AND (?6 IS NULL OR expires_at IS NULL OR expires_at > ?6)
               AND (?7 IS NULL OR error_code = ?7)
             ORDER BY id DESC LIMIT ?4"
        ))
        .bind(&filter.owner)
        .bind(filter.status.map(JobStatus::as_str))
        .bind(filter.before.map(|id| id.to_string()))
        .bind(i64::from(filter.limit))
        .bind(filter.kind.map(JobKind::as_str))
        .bind(filter.live_at)
        .bind(&filter.error_code)
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(job_from_row).collect()
    }

    #[tracing::instrument(skip(self))]
    async fn cancel(&self, id: JobId) -> Result<CancelOutcome, StoreError> {
        // One statement: only a PENDING job changes, and `jobs_dequeue` removes its entry.
        let row = sqlx::query(concat!(
            "UPDATE jobs SET status = 'CANCELLED', updated_at = ? WHERE id = ? AND status = 'PENDING' RETURNING ",
            job_columns!()
        ))
        .bind(now_millis())
        .bind(id.to_string())
        .fetch_optional(&self.writer)
        .await?;
        if let Some(row) = row {
            self.wakeups.job_changed(id);
            return Ok(CancelOutcome::Cancelled(Box::new(job_from_row(&row)?)));
        }
        Ok(match self.get(id).await? {
            Some(job) => CancelOutcome::NotCancellable(job.status),
            None => CancelOutcome::NotFound,
        })
    }

    async fn count_by_status(&self) -> Result<Vec<(JobStatus, u64)>, StoreError> {
        let rows = sqlx::query("SELECT status, count(*) AS n FROM jobs GROUP BY status")
            .fetch_all(&self.reader)
            .await?;
        let mut counts: Vec<(JobStatus, u64)> =
            JobStatus::ALL.iter().map(|status| (*status, 0)).collect();
        for row in rows {
            let status: String = row.try_get("status")?;
            let n: i64 = row.try_get("n")?;
            if let Some(slot) = counts.iter_mut().find(|(s, _)| s.as_str() == status) {
                slot.1 = n as u64;
            }
        }
        Ok(counts)
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.reader).await?;
        Ok(())
    }

    async fn expire(&self, id: JobId, at: Millis) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE jobs SET expires_at = CASE WHEN expires_at IS NULL OR expires_at > ?1 THEN ?1 ELSE expires_at END
              WHERE id = ?2",
        )
        .bind(at)
        .bind(id.to_string())
        .execute(&self.writer)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn expired(&self, now: Millis, limit: u32) -> Result<Vec<Job>, StoreError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            job_columns!(),
            " FROM jobs WHERE expires_at <= ? AND outputs_removed_at IS NULL
                AND status IN ('COMPLETED', 'FAILED', 'CANCELLED')
              ORDER BY expires_at LIMIT ?"
        ))
        .bind(now)
        .bind(i64::from(limit))
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(job_from_row).collect()
    }

    async fn prune_finished(&self, finished_before: Millis, limit: u32) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "DELETE FROM jobs WHERE id IN (
                SELECT id FROM jobs
                 WHERE status IN ('COMPLETED', 'FAILED', 'CANCELLED') AND updated_at < ?
                   AND (kind <> 'generate' OR outputs_removed_at IS NOT NULL)
                 ORDER BY updated_at LIMIT ?)",
        )
        .bind(finished_before)
        .bind(i64::from(limit))
        .execute(&self.writer)
        .await?;
        Ok(done.rows_affected())
    }

    async fn outputs_removed(&self, id: JobId, at: Millis) -> Result<(), StoreError> {
        sqlx::query("UPDATE jobs SET outputs_removed_at = ? WHERE id = ?")
            .bind(at)
            .bind(id.to_string())
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    async fn redrive(&self, which: &Redrive, now: Millis) -> Result<Vec<JobId>, StoreError> {
        let ids = which.ids.as_ref().map(|ids| {
            serde_json::json!(ids.iter().map(JobId::to_string).collect::<Vec<_>>()).to_string()
        });
        let mut tx = self.begin_write().await?;
        let moved: Vec<String> = sqlx::query_scalar(
            "UPDATE jobs SET status = 'PENDING', attempts = 0, error = NULL, error_code = NULL,
                    results = '[]', progress = 0, progress_total = 0, updated_at = ?1
              WHERE id IN (SELECT id FROM jobs
                            WHERE status = 'FAILED' AND (?2 IS NULL OR error_code = ?2)
                              AND (?3 IS NULL OR kind = ?3)
                              AND (?4 IS NULL OR id IN (SELECT value FROM json_each(?4)))
                            ORDER BY id LIMIT ?5)
              RETURNING id",
        )
        .bind(now)
        .bind(&which.error_code)
        .bind(which.kind.map(JobKind::as_str))
        .bind(&ids)
        .bind(i64::from(which.limit))
        .fetch_all(&mut *tx)
        .await?;
        for id in &moved {
            sqlx::query("INSERT INTO queue (job_id, visible_at) VALUES (?, ?)")
                .bind(id)
                .bind(now)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        let mut moved: Vec<JobId> = moved
            .iter()
            .filter_map(|id| JobId::from_str(id).ok())
            .collect();
        moved.sort();
        for id in &moved {
            self.wakeups.job_changed(*id);
        }
        if !moved.is_empty() {
            self.wakeups.job_enqueued();
        }
        Ok(moved)
    }

    async fn activity(
        &self,
        owner: &str,
        from: Millis,
        to: Millis,
    ) -> Result<Vec<Activity>, StoreError> {
        let rows = sqlx::query(
            "SELECT kind, status, count(*) AS jobs,
                    CAST(COALESCE(sum(image_count), 0) AS BIGINT) AS images
               FROM jobs WHERE owner = ?1 AND created_at >= ?2 AND created_at < ?3
              GROUP BY kind, status ORDER BY kind, status",
        )
        .bind(owner)
        .bind(from)
        .bind(to)
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(activity_from_row).collect()
    }
}
