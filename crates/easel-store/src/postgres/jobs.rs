//! [`Jobs`] for PostgreSQL. Listings build their SQL from the filters present, so each
//! combination gets a plan that uses its index (a catch-all `$1 IS NULL OR …` query
//! would settle on one generic plan for all of them).

use std::str::FromStr;

use async_trait::async_trait;
use easel_core::{JobId, JobKind, JobStatus, Millis, now_millis};
use sqlx::{Postgres, QueryBuilder, Row};

use super::PgStore;
use super::inserter::NewRow;
use crate::jobs::pending_job;
use crate::rows::{activity_from_row, job_columns, job_from_row};
use crate::{Activity, CancelOutcome, Created, Job, JobFilter, Jobs, NewJob, Redrive, StoreError};

#[async_trait]
impl Jobs for PgStore {
    #[tracing::instrument(skip_all, fields(job_id = %new.id))]
    async fn create(&self, new: NewJob) -> Result<Created, StoreError> {
        if let Some(earlier) = self.replay_of(&new).await? {
            return Ok(earlier);
        }
        let now = now_millis();
        if !self.inserter.insert(NewRow::new(&new, now)).await? {
            // Another request with the same key won the race: answer as a replay.
            return self.replay_of(&new).await?.ok_or_else(|| {
                StoreError::Corrupt("an idempotency key collided but has no job".to_owned())
            });
        }
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
            " FROM jobs WHERE owner = $1 AND idempotency_key = $2"
        ))
        .bind(&new.owner)
        .bind(key)
        .fetch_optional(&self.pool)
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
            " FROM jobs WHERE id = $1"
        ))
        .bind(id.to_string())
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(job_from_row).transpose()
    }

    async fn list(&self, filter: &JobFilter) -> Result<Vec<Job>, StoreError> {
        let mut sql = QueryBuilder::<Postgres>::new(concat!(
            "SELECT ",
            job_columns!(),
            " FROM jobs WHERE TRUE"
        ));
        if let Some(owner) = &filter.owner {
            sql.push(" AND owner = ").push_bind(owner);
        }
        if let Some(status) = filter.status {
            sql.push(" AND status = ").push_bind(status.as_str());
        }
        if let Some(before) = filter.before {
            sql.push(" AND id < ").push_bind(before.to_string());
        }
        if let Some(kind) = filter.kind {
            sql.push(" AND kind = ").push_bind(kind.as_str());
        }
        if let Some(code) = &filter.error_code {
            sql.push(" AND error_code = ").push_bind(code);
        }
        if let Some(at) = filter.live_at {
            sql.push(" AND (expires_at IS NULL OR expires_at > ")
                .push_bind(at)
                .push(")");
        }
        sql.push(" ORDER BY id DESC LIMIT ")
            .push_bind(i64::from(filter.limit));
        let rows = sql.build().fetch_all(&self.pool).await?;
        rows.iter().map(job_from_row).collect()
    }

    #[tracing::instrument(skip(self))]
    async fn cancel(&self, id: JobId) -> Result<CancelOutcome, StoreError> {
        // One statement: only a PENDING job (a queue row without a lease) leaves the
        // queue and changes; the queue row is locked first, like every transition.
        let row = sqlx::query(concat!(
            "WITH dequeued AS (
                DELETE FROM queue WHERE job_id = $1 AND lease_token IS NULL RETURNING job_id
             )
             UPDATE jobs SET status = 'CANCELLED', updated_at = $2
               FROM dequeued WHERE jobs.id = dequeued.job_id AND jobs.status = 'PENDING'
             RETURNING pg_notify($3, $4 || ' changed ' || jobs.id), ",
            job_columns!()
        ))
        .bind(id.to_string())
        .bind(now_millis())
        .bind(&self.signals.channel)
        .bind(&self.signals.tag)
        .fetch_optional(&self.pool)
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
            .fetch_all(&self.pool)
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
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn expire(&self, id: JobId, at: Millis) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE jobs SET expires_at = LEAST(COALESCE(expires_at, $1), $1) WHERE id = $2",
        )
        .bind(at)
        .bind(id.to_string())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn expired(&self, now: Millis, limit: u32) -> Result<Vec<Job>, StoreError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            job_columns!(),
            " FROM jobs WHERE expires_at <= $1 AND outputs_removed_at IS NULL
                AND status IN ('COMPLETED', 'FAILED', 'CANCELLED')
              ORDER BY expires_at LIMIT $2"
        ))
        .bind(now)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(job_from_row).collect()
    }

    async fn prune_finished(&self, finished_before: Millis, limit: u32) -> Result<u64, StoreError> {
        // Finished jobs have no queue row, so nothing references them.
        let done = sqlx::query(
            "DELETE FROM jobs WHERE id IN (
                SELECT id FROM jobs
                 WHERE status IN ('COMPLETED', 'FAILED', 'CANCELLED') AND updated_at < $1
                   AND (kind <> 'generate' OR outputs_removed_at IS NOT NULL)
                 ORDER BY updated_at LIMIT $2)",
        )
        .bind(finished_before)
        .bind(i64::from(limit))
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    async fn outputs_removed(&self, id: JobId, at: Millis) -> Result<(), StoreError> {
        sqlx::query("UPDATE jobs SET outputs_removed_at = $1 WHERE id = $2")
            .bind(at)
            .bind(id.to_string())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn redrive(&self, which: &Redrive, now: Millis) -> Result<Vec<JobId>, StoreError> {
        let ids: Option<Vec<String>> = which
            .ids
            .as_ref()
            .map(|ids| ids.iter().map(JobId::to_string).collect());
        // One statement: the chosen dead jobs (locked, so two redrives cannot both
        // move one) become pending and enter the queue; other processes hear `requeued`.
        let moved: Vec<String> = sqlx::query_scalar(
            "WITH chosen AS (
                SELECT id FROM jobs
                 WHERE status = 'FAILED' AND ($2::text IS NULL OR error_code = $2)
                   AND ($3::text IS NULL OR kind = $3)
                   AND ($4::text[] IS NULL OR id = ANY($4))
                 ORDER BY id LIMIT $5
                   FOR UPDATE SKIP LOCKED
             ), moved AS (
                UPDATE jobs SET status = 'PENDING', attempts = 0, error = NULL, error_code = NULL,
                       results = '[]', progress = 0, progress_total = 0, updated_at = $1
                  FROM chosen WHERE jobs.id = chosen.id
                RETURNING jobs.id
             ), queued AS (
                INSERT INTO queue (job_id, visible_at) SELECT id, $1 FROM moved
             )
             SELECT id FROM moved, LATERAL (SELECT pg_notify($6, $7 || ' requeued ' || id)) AS n",
        )
        .bind(now)
        .bind(&which.error_code)
        .bind(which.kind.map(JobKind::as_str))
        .bind(&ids)
        .bind(i64::from(which.limit))
        .bind(&self.signals.channel)
        .bind(&self.signals.tag)
        .fetch_all(&self.pool)
        .await?;
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
               FROM jobs WHERE owner = $1 AND created_at >= $2 AND created_at < $3
              GROUP BY kind, status ORDER BY kind, status",
        )
        .bind(owner)
        .bind(from)
        .bind(to)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(activity_from_row).collect()
    }
}
