//! [`RequestLog`] for PostgreSQL.

use async_trait::async_trait;
use sqlx::{Postgres, QueryBuilder};

use super::PgStore;
use crate::rows::{record_columns, record_from_row};
use crate::{RequestLog, RequestRecord, StoreError};

#[async_trait]
impl RequestLog for PgStore {
    async fn log_request(&self, r: &RequestRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO request_log (id, owner, at, dialect, task_type, prompt, engine, model, seed, status, error_code, latency_ms, output_bytes, image_count, job_id)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
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
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn list_requests(
        &self,
        owner: Option<&str>,
        before: Option<&str>,
        limit: u32,
    ) -> Result<Vec<RequestRecord>, StoreError> {
        // Built per filter, so one owner's page uses the (owner, id) index.
        let mut sql = QueryBuilder::<Postgres>::new(concat!(
            "SELECT ",
            record_columns!(),
            " FROM request_log WHERE TRUE"
        ));
        if let Some(owner) = owner {
            sql.push(" AND owner = ").push_bind(owner);
        }
        if let Some(before) = before {
            sql.push(" AND id < ").push_bind(before);
        }
        sql.push(" ORDER BY id DESC LIMIT ")
            .push_bind(i64::from(limit));
        let rows = sql.build().fetch_all(&self.pool).await?;
        rows.iter().map(record_from_row).collect()
    }
}
