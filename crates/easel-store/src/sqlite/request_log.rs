//! [`RequestLog`] for SQLite.

use std::str::FromStr;

use async_trait::async_trait;
use easel_core::JobId;
use sqlx::Row;
use sqlx::sqlite::SqliteRow;

use super::{SqliteStore, corrupt};
use crate::{RequestLog, RequestRecord, StoreError};

fn record_from_row(row: &SqliteRow) -> Result<RequestRecord, StoreError> {
    let job_id: Option<String> = row.try_get("job_id")?;
    Ok(RequestRecord {
        id: row.try_get("id")?,
        owner: row.try_get("owner")?,
        at: row.try_get("at")?,
        dialect: row.try_get("dialect")?,
        task_type: row.try_get("task_type")?,
        prompt: row.try_get("prompt")?,
        engine: row.try_get("engine")?,
        model: row.try_get("model")?,
        seed: row.try_get::<Option<i64>, _>("seed")?.map(|s| s as u32),
        status: row.try_get("status")?,
        error_code: row.try_get("error_code")?,
        latency_ms: row
            .try_get::<Option<i64>, _>("latency_ms")?
            .map(|l| l as u64),
        output_bytes: row.try_get::<i64, _>("output_bytes")? as u64,
        image_count: row.try_get::<i64, _>("image_count")? as u32,
        job_id: job_id
            .map(|id| JobId::from_str(&id).map_err(|e| corrupt("job id", e)))
            .transpose()?,
    })
}

#[async_trait]
impl RequestLog for SqliteStore {
    async fn log_request(&self, r: &RequestRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO request_log (id, owner, at, dialect, task_type, prompt, engine, model, seed, status, error_code, latency_ms, output_bytes, image_count, job_id)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&r.id)
        .bind(&r.owner)
        .bind(r.at)
        .bind(&r.dialect)
        .bind(&r.task_type)
        .bind(&r.prompt)
        .bind(&r.engine)
        .bind(&r.model)
        .bind(r.seed.map(i64::from))
        .bind(&r.status)
        .bind(&r.error_code)
        .bind(r.latency_ms.map(|l| l as i64))
        .bind(r.output_bytes as i64)
        .bind(i64::from(r.image_count))
        .bind(r.job_id.map(|id| id.to_string()))
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    async fn list_requests(
        &self,
        owner: Option<&str>,
        before: Option<&str>,
        limit: u32,
    ) -> Result<Vec<RequestRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, owner, at, dialect, task_type, prompt, engine, model, seed, status, error_code, latency_ms, output_bytes, image_count, job_id
               FROM request_log WHERE (?1 IS NULL OR owner = ?1) AND (?2 IS NULL OR id < ?2)
              ORDER BY id DESC LIMIT ?3",
        )
        .bind(owner)
        .bind(before)
        .bind(i64::from(limit))
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(record_from_row).collect()
    }
}
