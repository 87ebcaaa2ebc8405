//! [`Queue`] for PostgreSQL. Each transition is one statement: data-modifying CTEs lock
//! the job's `queue` row first and update `jobs` second (the order every writer keeps,
//! so none can deadlock another), and the same statement sends the notification. Every
//! worker write matches its lease token in that statement (fencing), so a worker that
//! lost its lease changes nothing.

use std::sync::atomic::Ordering;
use std::time::Duration;

use async_trait::async_trait;
use easel_core::{ImageResult, JobId, Millis, now_millis};
use sqlx::postgres::PgRow;

use super::PgStore;
use crate::rows::{Columns, corrupt, job_columns, job_from_row};
use crate::{Claim, Completion, FailOutcome, Lease, Queue, StoreError};

/// How often busy claims also sweep expired leases whose attempts are used up.
const REAP_EVERY_MS: Millis = 1_000;

/// How often an empty claim sweeps (an idle queue reaps promptly, a busy one not on
/// every miss).
const REAP_IDLE_EVERY_MS: Millis = 100;

/// Leases up to `$2` of the oldest claimable jobs. `SKIP LOCKED`: rows another claim (in
/// any process) is taking are passed over, not waited for. Each lease token is the
/// batch token `$4` plus the job id, so tokens stay unique per job; taking a lease
/// marks the job RUNNING and counts the attempt. A job whose expired lease used its
/// last attempt is never picked (the sweep moves it to the dead state).
const CLAIM: &str = concat!(
    "WITH picked AS (
        SELECT q.job_id FROM queue q JOIN jobs j ON j.id = q.job_id
         WHERE q.visible_at <= $1 AND (q.lease_token IS NULL OR j.attempts < j.max_attempts)
         ORDER BY q.visible_at, q.job_id
         LIMIT $2
         FOR UPDATE OF q SKIP LOCKED
     ), leased AS (
        UPDATE queue q SET visible_at = $3, lease_token = $4 || q.job_id, leased_at = $1
          FROM picked WHERE q.job_id = picked.job_id
        RETURNING q.job_id, q.lease_token
     )
     UPDATE jobs SET status = 'RUNNING', attempts = jobs.attempts + 1, updated_at = $1
       FROM leased WHERE jobs.id = leased.job_id
     RETURNING lease_token, pg_notify($5, $6 || ' changed ' || jobs.id), ",
    job_columns!()
);

/// Completes a batch given as arrays of ids `$2`, tokens `$3` and results `$4`: the
/// queue rows still leased with those tokens go, and their jobs are COMPLETED.
const COMPLETE: &str = "
WITH done AS (
    DELETE FROM queue q
     USING UNNEST($2::text[], $3::text[], $4::text[]) AS c (id, token, results)
     WHERE q.job_id = c.id AND q.lease_token = c.token
    RETURNING q.job_id, c.results
)
UPDATE jobs SET status = 'COMPLETED', results = done.results, error = NULL, error_code = NULL,
       updated_at = $1,
       progress = CASE WHEN jobs.progress_total > 0 THEN jobs.progress_total
                       ELSE jobs.image_count END
  FROM done WHERE jobs.id = done.job_id
RETURNING jobs.id, pg_notify($5, $6 || ' changed ' || jobs.id)";

/// Records a failed attempt under the lease (`$1` job, `$2` token). Dead (FAILED, with
/// the results) when `$4` says the failure is permanent or the attempts are used up;
/// otherwise PENDING again, claimable at `$5`. No row back: the lease was lost.
const FAIL: &str = "
WITH held AS (
    SELECT q.job_id, ($4 OR j.attempts >= j.max_attempts) AS dead
      FROM queue q JOIN jobs j ON j.id = q.job_id
     WHERE q.job_id = $1 AND q.lease_token = $2
       FOR UPDATE OF q
), dequeued AS (
    DELETE FROM queue q USING held WHERE q.job_id = held.job_id AND held.dead
), requeued AS (
    UPDATE queue q SET visible_at = $5, lease_token = NULL
      FROM held WHERE q.job_id = held.job_id AND NOT held.dead
)
UPDATE jobs SET status = CASE WHEN held.dead THEN 'FAILED' ELSE 'PENDING' END,
       error = $3, error_code = $10,
       results = CASE WHEN held.dead THEN $6 ELSE jobs.results END,
       progress = CASE WHEN held.dead THEN jobs.progress ELSE 0 END,
       updated_at = $7
  FROM held WHERE jobs.id = held.job_id
RETURNING held.dead,
          pg_notify($8, $9 || CASE WHEN held.dead THEN ' changed ' ELSE ' requeued ' END || jobs.id)";

/// Moves jobs whose last allowed attempt's lease expired to the dead state.
const REAP: &str = "
WITH expired AS (
    SELECT q.job_id FROM queue q JOIN jobs j ON j.id = q.job_id
     WHERE q.lease_token IS NOT NULL AND q.visible_at <= $1 AND j.attempts >= j.max_attempts
       FOR UPDATE OF q SKIP LOCKED
), dequeued AS (
    DELETE FROM queue q USING expired WHERE q.job_id = expired.job_id RETURNING q.job_id
)
UPDATE jobs SET status = 'FAILED', updated_at = $1, error_code = 'lease-expired',
       error = 'the worker stopped responding (lease expired) during attempt '
               || jobs.attempts || ' of ' || jobs.max_attempts
  FROM dequeued WHERE jobs.id = dequeued.job_id
RETURNING jobs.id, pg_notify($2, $3 || ' changed ' || jobs.id)";

fn millis(duration: Duration) -> Millis {
    duration.as_millis().min(i64::MAX as u128) as Millis
}

fn encode(results: &[ImageResult]) -> Result<String, StoreError> {
    serde_json::to_string(results).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn job_id(row: &PgRow, column: &str) -> Result<JobId, StoreError> {
    row.text(column)?.parse().map_err(|e| corrupt("job id", e))
}

impl PgStore {
    /// Moves jobs whose last allowed attempt's lease expired to the dead state.
    async fn reap_expired(&self, now: Millis) -> Result<(), StoreError> {
        self.last_reap.store(now, Ordering::Relaxed);
        let rows = sqlx::query(REAP)
            .bind(now)
            .bind(&self.signals.channel)
            .bind(&self.signals.tag)
            .fetch_all(&self.worker_pool)
            .await?;
        for row in &rows {
            let id = job_id(row, "id")?;
            tracing::warn!(job_id = %id, "job dead after its last lease expired");
            self.wakeups.job_changed(id);
        }
        Ok(())
    }

    /// A claimed row as a [`Claim`]: the job as updated, and its lease.
    fn claim_from_row(&self, row: &PgRow) -> Result<Claim, StoreError> {
        let job = job_from_row(row)?;
        self.wakeups.job_changed(job.id);
        Ok(Claim {
            lease: Lease {
                job_id: job.id,
                token: row.text("lease_token")?,
                attempt: job.attempts,
            },
            job,
        })
    }
}

#[async_trait]
impl Queue for PgStore {
    async fn claim(&self, lease: Duration, max: usize) -> Result<Vec<Claim>, StoreError> {
        let now = now_millis();
        if now - self.last_reap.load(Ordering::Relaxed) >= REAP_EVERY_MS {
            self.reap_expired(now).await?;
        }
        let batch = uuid::Uuid::new_v4().simple().to_string();
        let rows = sqlx::query(CLAIM)
            .bind(now)
            .bind(max.min(i64::MAX as usize) as i64)
            .bind(now + millis(lease))
            .bind(&batch)
            .bind(&self.signals.channel)
            .bind(&self.signals.tag)
            .fetch_all(&self.worker_pool)
            .await?;
        if rows.is_empty() {
            // An idle queue is the cheap moment to sweep, but not on every empty claim:
            // under load most wake-ups find the work already taken, and sweeping after
            // each was 18 % of the database's time (pg_stat_statements, bench/queue).
            if now - self.last_reap.load(Ordering::Relaxed) >= REAP_IDLE_EVERY_MS {
                self.reap_expired(now).await?;
            }
            return Ok(Vec::new());
        }
        let mut claims = rows
            .iter()
            .map(|row| self.claim_from_row(row))
            .collect::<Result<Vec<_>, _>>()?;
        claims.sort_by_key(|c| c.job.id);
        Ok(claims)
    }

    async fn heartbeat(&self, lease: &Lease, extend: Duration) -> Result<bool, StoreError> {
        let updated =
            sqlx::query("UPDATE queue SET visible_at = $1 WHERE job_id = $2 AND lease_token = $3")
                .bind(now_millis() + millis(extend))
                .bind(lease.job_id.to_string())
                .bind(&lease.token)
                .execute(&self.worker_pool)
                .await?;
        Ok(updated.rows_affected() == 1)
    }

    async fn progress(&self, lease: &Lease, done: u32, total: u32) -> Result<bool, StoreError> {
        // FOR SHARE holds the lease still while the job row changes: a claim taking
        // over an expired lease waits (or skips the row) rather than interleaving.
        let updated = sqlx::query(
            "WITH held AS (
                SELECT job_id FROM queue WHERE job_id = $3 AND lease_token = $4 FOR SHARE
             )
             UPDATE jobs SET progress = $1, progress_total = $5, updated_at = $2
               FROM held WHERE jobs.id = held.job_id
             RETURNING pg_notify($6, $7 || ' changed ' || jobs.id)",
        )
        .bind(i64::from(done))
        .bind(now_millis())
        .bind(lease.job_id.to_string())
        .bind(&lease.token)
        .bind(i64::from(total))
        .bind(&self.signals.channel)
        .bind(&self.signals.tag)
        .fetch_optional(&self.worker_pool)
        .await?;
        let held = updated.is_some();
        if held {
            self.wakeups.job_changed(lease.job_id);
        }
        Ok(held)
    }

    async fn complete(&self, completions: &[Completion]) -> Result<Vec<bool>, StoreError> {
        if completions.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<String> = completions
            .iter()
            .map(|c| c.lease.job_id.to_string())
            .collect();
        let tokens: Vec<&str> = completions.iter().map(|c| c.lease.token.as_str()).collect();
        let results = completions
            .iter()
            .map(|c| encode(&c.results))
            .collect::<Result<Vec<_>, _>>()?;
        let rows = sqlx::query(COMPLETE)
            .bind(now_millis())
            .bind(&ids)
            .bind(&tokens)
            .bind(&results)
            .bind(&self.signals.channel)
            .bind(&self.signals.tag)
            .fetch_all(&self.worker_pool)
            .await?;
        let done = rows
            .iter()
            .map(|row| row.text("id"))
            .collect::<Result<std::collections::HashSet<String>, _>>()?;
        let recorded: Vec<bool> = ids.iter().map(|id| done.contains(id)).collect();
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
        let at = now + retry_after.map_or(0, millis);
        let row = sqlx::query(FAIL)
            .bind(lease.job_id.to_string())
            .bind(&lease.token)
            .bind(error)
            .bind(retry_after.is_none())
            .bind(at)
            .bind(encode(results)?)
            .bind(now)
            .bind(&self.signals.channel)
            .bind(&self.signals.tag)
            .bind(code)
            .fetch_optional(&self.worker_pool)
            .await?;
        let Some(row) = row else {
            return Ok(FailOutcome::LeaseLost);
        };
        let outcome = if row.flag("dead")? {
            FailOutcome::Dead
        } else {
            self.wakeups.job_enqueued();
            FailOutcome::Retrying { at }
        };
        self.wakeups.job_changed(lease.job_id);
        Ok(outcome)
    }

    async fn release(&self, lease: &Lease) -> Result<bool, StoreError> {
        // The attempt did not fail, it was interrupted: give it back.
        let released = sqlx::query(
            "WITH held AS (
                UPDATE queue SET visible_at = $1, lease_token = NULL
                 WHERE job_id = $2 AND lease_token = $3 RETURNING job_id
             )
             UPDATE jobs SET status = 'PENDING', attempts = GREATEST(jobs.attempts - 1, 0),
                    progress = 0, updated_at = $1
               FROM held WHERE jobs.id = held.job_id
             RETURNING pg_notify($4, $5 || ' requeued ' || jobs.id)",
        )
        .bind(now_millis())
        .bind(lease.job_id.to_string())
        .bind(&lease.token)
        .bind(&self.signals.channel)
        .bind(&self.signals.tag)
        .fetch_optional(&self.worker_pool)
        .await?;
        let held = released.is_some();
        if held {
            self.wakeups.job_enqueued();
            self.wakeups.job_changed(lease.job_id);
        }
        Ok(held)
    }

    async fn depth(&self) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM queue WHERE visible_at <= $1 AND lease_token IS NULL",
        )
        .bind(now_millis())
        .fetch_one(&self.pool)
        .await?;
        Ok(n as u64)
    }
}
