//! [`Jobs`] for SQLite.

use async_trait::async_trait;
use easel_core::{JobId, JobStatus, now_millis};
use sqlx::Row;

use super::{SqliteStore, job_columns, job_from_row};
use crate::{CancelOutcome, Created, Job, JobFilter, Jobs, NewJob, StoreError};

#[async_trait]
impl Jobs for SqliteStore {
    #[tracing::instrument(skip_all, fields(job_id = %new.id))]
    async fn create(&self, new: NewJob) -> Result<Created, StoreError> {
        let mut tx = self.begin_write().await?;
        if let Some(key) = &new.idempotency_key {
            let earlier = sqlx::query(concat!(
                "SELECT request_hash, ",
                job_columns!(),
                " FROM jobs WHERE owner = ? AND idempotency_key = ?"
            ))
            .bind(&new.owner)
            .bind(key)
            .fetch_optional(&mut *tx)
            .await?;
            if let Some(row) = earlier {
                let hash: String = row.try_get("request_hash")?;
                if hash != new.request_hash {
                    return Err(StoreError::IdempotencyConflict);
                }
                return Ok(Created {
                    job: job_from_row(&row)?,
                    replayed: true,
                });
            }
        }
        let now = now_millis();
        let id = new.id.to_string();
        sqlx::query(
            "INSERT INTO jobs (id, owner, kind, status, spec, request_hash, idempotency_key, image_count, max_attempts, created_at, updated_at)
             VALUES (?, ?, ?, 'PENDING', ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&id)
        .bind(&new.owner)
        .bind(new.kind.as_str())
        .bind(new.spec.to_string())
        .bind(&new.request_hash)
        .bind(&new.idempotency_key)
        .bind(i64::from(new.image_count))
        .bind(i64::from(new.max_attempts))
        .bind(now)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        sqlx::query("INSERT INTO queue (job_id, visible_at) VALUES (?, ?)")
            .bind(&id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        self.wakeups.job_enqueued();
        let job = Job {
            id: new.id,
            owner: new.owner,
            kind: new.kind,
            status: JobStatus::Pending,
            spec: new.spec,
            image_count: new.image_count,
            progress: 0,
            results: Vec::new(),
            error: None,
            attempts: 0,
            max_attempts: new.max_attempts,
            idempotency_key: new.idempotency_key,
            created_at: now,
            updated_at: now,
        };
        Ok(Created {
            job,
            replayed: false,
        })
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
               AND (?3 IS NULL OR id < ?3) ORDER BY id DESC LIMIT ?4"
        ))
        .bind(&filter.owner)
        .bind(filter.status.map(JobStatus::as_str))
        .bind(filter.before.map(|id| id.to_string()))
        .bind(i64::from(filter.limit))
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(job_from_row).collect()
    }

    #[tracing::instrument(skip(self))]
    async fn cancel(&self, id: JobId) -> Result<CancelOutcome, StoreError> {
        let mut tx = self.begin_write().await?;
        let id_text = id.to_string();
        let status: Option<String> = sqlx::query_scalar("SELECT status FROM jobs WHERE id = ?")
            .bind(&id_text)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(status) = status else {
            return Ok(CancelOutcome::NotFound);
        };
        let status: JobStatus = status.parse().map_err(|e: String| StoreError::Corrupt(e))?;
        if status != JobStatus::Pending {
            return Ok(CancelOutcome::NotCancellable(status));
        }
        sqlx::query("DELETE FROM queue WHERE job_id = ?")
            .bind(&id_text)
            .execute(&mut *tx)
            .await?;
        let row = sqlx::query(concat!(
            "UPDATE jobs SET status = 'CANCELLED', updated_at = ? WHERE id = ? RETURNING ",
            job_columns!()
        ))
        .bind(now_millis())
        .bind(&id_text)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        self.wakeups.job_changed(id);
        Ok(CancelOutcome::Cancelled(job_from_row(&row)?))
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
}
