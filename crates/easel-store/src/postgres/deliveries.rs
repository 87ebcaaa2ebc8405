//! [`Deliveries`] for PostgreSQL.

use async_trait::async_trait;
use easel_core::JobId;

use super::PgStore;
use crate::rows::delivery_from_row;
use crate::{Deliveries, Delivery, StoreError};

#[async_trait]
impl Deliveries for PgStore {
    async fn record_delivery(&self, d: &Delivery) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO webhook_deliveries (target, delivery, attempt, at, url, status, error, duration_ms)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(d.target.to_string())
        .bind(d.delivery.to_string())
        .bind(i64::from(d.attempt))
        .bind(d.at)
        .bind(&d.url)
        .bind(d.status.map(i64::from))
        .bind(&d.error)
        .bind(d.duration_ms.min(i64::MAX as u64) as i64)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn list_deliveries(
        &self,
        target: JobId,
        limit: u32,
    ) -> Result<Vec<Delivery>, StoreError> {
        let rows = sqlx::query(
            "SELECT target, delivery, attempt, at, url, status, error, duration_ms
               FROM webhook_deliveries WHERE target = $1
              ORDER BY at, attempt LIMIT $2",
        )
        .bind(target.to_string())
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(delivery_from_row).collect()
    }
}
