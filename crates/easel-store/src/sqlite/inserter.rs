//! Group insertion of new jobs. SQLite has one writer, and each statement sent through
//! the driver costs two thread hand-offs, so concurrent `create` calls (those without an
//! idempotency key) are gathered and written as one `INSERT … SELECT FROM json_each`:
//! whatever arrived while the previous batch was being written goes into the next, so a
//! quiet server writes each job at once and a busy one writes many per statement. The
//! `jobs_enqueue` trigger queues every inserted row in the same statement.

use serde_json::Value;
use sqlx::sqlite::SqlitePool;
use tokio::sync::{mpsc, oneshot};

use crate::StoreError;

/// Most jobs written by one statement.
const MAX_BATCH: usize = 256;

type Reply = oneshot::Sender<Result<(), String>>;

/// Hands rows to the batching task.
#[derive(Debug)]
pub(super) struct Inserter {
    sender: mpsc::Sender<(Value, Reply)>,
}

impl Inserter {
    /// Starts the batching task on the current runtime; it ends with the last handle.
    pub(super) fn spawn(writer: SqlitePool) -> Inserter {
        let (sender, mut receiver) = mpsc::channel::<(Value, Reply)>(MAX_BATCH * 4);
        tokio::spawn(async move {
            while let Some(first) = receiver.recv().await {
                let mut batch = vec![first];
                while batch.len() < MAX_BATCH {
                    match receiver.try_recv() {
                        Ok(next) => batch.push(next),
                        Err(_) => break,
                    }
                }
                let (rows, replies): (Vec<Value>, Vec<Reply>) = batch.into_iter().unzip();
                let outcome = write(&writer, rows).await.map_err(|e| e.to_string());
                for reply in replies {
                    let _ = reply.send(outcome.clone());
                }
            }
        });
        Inserter { sender }
    }

    /// Inserts one job row (see [`super::jobs`] for its fields) and waits until it is
    /// committed.
    pub(super) async fn insert(&self, row: Value) -> Result<(), StoreError> {
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

async fn write(writer: &SqlitePool, rows: Vec<Value>) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO jobs (id, owner, kind, status, spec, request_hash, idempotency_key,
                           image_count, max_attempts, created_at, updated_at, expires_at)
         SELECT value ->> '$.id', value ->> '$.owner', value ->> '$.kind', 'PENDING',
                value ->> '$.spec', value ->> '$.hash', NULL, value ->> '$.images',
                value ->> '$.attempts', value ->> '$.now', value ->> '$.now',
                value ->> '$.expires'
           FROM json_each(?)",
    )
    .bind(Value::Array(rows).to_string())
    .execute(writer)
    .await?;
    Ok(())
}
