//! [`RequestLog`] for SQLite.

use async_trait::async_trait;

use super::SqliteStore;
use crate::rows::{record_columns, record_from_row};
use crate::{RequestLog, RequestRecord, StoreError};

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
        let rows = sqlx::query(concat!(
            "SELECT ",
            record_columns!(),
            " FROM request_log WHERE (?1 IS NULL OR owner = ?1) AND (?2 IS NULL OR id < ?2)
              ORDER BY id DESC LIMIT ?3"
        ))
        .bind(owner)
        .bind(before)
        .bind(i64::from(limit))
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(record_from_row).collect()
    }
}
