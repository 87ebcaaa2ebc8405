//! Group insertion of new jobs. Concurrent `create` calls are gathered and written by
//! one statement (arrays through `UNNEST`), each job with its queue row and its
//! notification: whatever arrived while the previous group was being written goes into
//! the next, so a quiet server writes each job at once and a busy one pays one round
//! trip and one commit for many. Jobs with an idempotency key go in the same groups:
//! `ON CONFLICT DO NOTHING` skips a key already used, and the caller answers that as a
//! replay.
//!
//! The group's `enqueued` notification is a statement of its own, sent after the commit:
//! a notifying transaction holds a database-wide lock until its commit ends, and these
//! commits wait for the disk, which would hold up every other notifying statement.
//! Other processes' workers need one wake-up per group, not one per job.

use std::collections::HashSet;
use std::sync::Arc;

use easel_core::Millis;
use sqlx::Row;
use sqlx::postgres::PgPool;
use tokio::sync::{Semaphore, mpsc, oneshot};

use super::notify::Signals;
use crate::{NewJob, StoreError};

/// Most jobs written by one statement.
const MAX_BATCH: usize = 256;

/// Groups being written at once. Each commit waits for the disk; with two in flight,
/// the next group is written during that wait and PostgreSQL flushes both commits in
/// one go (group commit), which doubles what one process can create.
const IN_FLIGHT: usize = 2;

/// Writes a group; the rows whose id comes back were inserted, the others collided
/// with an earlier job's idempotency key. The queue row of each job goes in the same
/// statement, hence the same transaction.
const INSERT_JOBS: &str = "
WITH new AS (
    INSERT INTO jobs (id, owner, kind, status, spec, request_hash, idempotency_key,
                      image_count, max_attempts, created_at, updated_at, expires_at)
    SELECT id, owner, kind, 'PENDING', spec, hash, idem, images, attempts, now, now, expires
      FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
                  $7::int8[], $8::int8[], $9::int8[], $10::int8[])
        AS r (id, owner, kind, spec, hash, idem, images, attempts, now, expires)
    ON CONFLICT (owner, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
    RETURNING id, created_at
), queued AS (
    INSERT INTO queue (job_id, visible_at) SELECT id, created_at FROM new
    RETURNING job_id
)
SELECT job_id FROM queued";

/// One job to write.
#[derive(Debug)]
pub(super) struct NewRow {
    id: String,
    owner: String,
    kind: &'static str,
    spec: String,
    hash: String,
    key: Option<String>,
    images: i64,
    attempts: i64,
    now: Millis,
    expires: Option<Millis>,
}

impl NewRow {
    /// The row of `job`, created at `now`.
    pub(super) fn new(job: &NewJob, now: Millis) -> Self {
        NewRow {
            id: job.id.to_string(),
            owner: job.owner.clone(),
            kind: job.kind.as_str(),
            spec: job.spec.to_string(),
            hash: job.request_hash.clone(),
            key: job.idempotency_key.clone(),
            images: i64::from(job.image_count),
            attempts: i64::from(job.max_attempts),
            now,
            expires: job.expires_at,
        }
    }
}

/// Whether the row was inserted (false: its idempotency key was taken), or why the
/// group failed.
type Reply = oneshot::Sender<Result<bool, String>>;

/// Hands rows to the batching task.
#[derive(Debug)]
pub(super) struct Inserter {
    sender: mpsc::Sender<(NewRow, Reply)>,
}

impl Inserter {
    /// Starts the batching task on the current runtime; it ends with the last handle.
    pub(super) fn spawn(pool: PgPool, signals: Arc<Signals>) -> Inserter {
        let (sender, mut receiver) = mpsc::channel::<(NewRow, Reply)>(MAX_BATCH * 4);
        let in_flight = Arc::new(Semaphore::new(IN_FLIGHT));
        tokio::spawn(async move {
            while let Some(first) = receiver.recv().await {
                // Waiting for a slot before gathering lets the group grow meanwhile.
                let Ok(slot) = in_flight.clone().acquire_owned().await else {
                    return;
                };
                let mut batch = vec![first];
                while batch.len() < MAX_BATCH {
                    match receiver.try_recv() {
                        Ok(next) => batch.push(next),
                        Err(_) => break,
                    }
                }
                let (pool, signals) = (pool.clone(), signals.clone());
                tokio::spawn(async move {
                    write_answering(&pool, &signals, batch).await;
                    drop(slot);
                });
            }
        });
        Inserter { sender }
    }

    /// Inserts one job and its queue entry, and waits until they are committed; false
    /// when an earlier job of the same owner holds the idempotency key.
    pub(super) async fn insert(&self, row: NewRow) -> Result<bool, StoreError> {
        let (reply, answer) = oneshot::channel();
        let stopped = || StoreError::BatchWrite("the job writer stopped".to_owned());
        self.sender
            .send((row, reply))
            .await
            .map_err(|_| stopped())?;
        answer
            .await
            .map_err(|_| stopped())?
            .map_err(StoreError::BatchWrite)
    }
}

/// Writes a group and answers each caller. When the group fails, its rows are written
/// one by one, so that one bad row fails alone rather than taking its group with it.
async fn write_answering(pool: &PgPool, signals: &Signals, batch: Vec<(NewRow, Reply)>) {
    let (rows, replies): (Vec<NewRow>, Vec<Reply>) = batch.into_iter().unzip();
    match write(pool, signals, &rows).await {
        Ok(inserted) => {
            for (row, reply) in rows.iter().zip(replies) {
                let _ = reply.send(Ok(inserted.contains(&row.id)));
            }
        }
        Err(error) if rows.len() == 1 => {
            let _ = replies
                .into_iter()
                .next()
                .map(|r| r.send(Err(error.to_string())));
        }
        Err(_) => {
            for (row, reply) in rows.into_iter().zip(replies) {
                let alone = write(pool, signals, std::slice::from_ref(&row)).await;
                let _ = reply.send(
                    alone
                        .map(|inserted| inserted.contains(&row.id))
                        .map_err(|e| e.to_string()),
                );
            }
        }
    }
}

/// One statement for the whole group; returns the ids inserted.
async fn write(
    pool: &PgPool,
    signals: &Signals,
    rows: &[NewRow],
) -> Result<HashSet<String>, sqlx::Error> {
    let text = |f: fn(&NewRow) -> &str| rows.iter().map(f).collect::<Vec<&str>>();
    let number = |f: fn(&NewRow) -> i64| rows.iter().map(f).collect::<Vec<i64>>();
    let inserted = sqlx::query(INSERT_JOBS)
        .bind(text(|r| &r.id))
        .bind(text(|r| &r.owner))
        .bind(text(|r| r.kind))
        .bind(text(|r| &r.spec))
        .bind(text(|r| &r.hash))
        .bind(rows.iter().map(|r| r.key.as_deref()).collect::<Vec<_>>())
        .bind(number(|r| r.images))
        .bind(number(|r| r.attempts))
        .bind(number(|r| r.now))
        .bind(rows.iter().map(|r| r.expires).collect::<Vec<_>>())
        .fetch_all(pool)
        .await?;
    let inserted = inserted
        .iter()
        .map(|row| row.try_get::<String, _>("job_id"))
        .collect::<Result<HashSet<String>, _>>()?;
    if let Some(id) = inserted.iter().next() {
        notify_enqueued(pool, signals, id).await;
    }
    Ok(inserted)
}

/// Tells other processes that jobs are claimable. The jobs are committed already, so a
/// failure here is only logged: their workers find the jobs at their next poll.
async fn notify_enqueued(pool: &PgPool, signals: &Signals, id: &str) {
    // Writes nothing, so its commit waits for no disk.
    let notified = sqlx::query("SELECT pg_notify($1, $2 || ' enqueued ' || $3)")
        .bind(&signals.channel)
        .bind(&signals.tag)
        .bind(id)
        .execute(pool)
        .await;
    if let Err(error) = notified {
        tracing::warn!(%error, "could not notify other processes of new jobs");
    }
}
