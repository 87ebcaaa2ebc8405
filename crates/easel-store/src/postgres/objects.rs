//! [`Objects`] for PostgreSQL.

use async_trait::async_trait;
use easel_core::ObjectRef;

use super::PgStore;
use crate::rows::{object_columns, object_from_row};
use crate::{ObjectMeta, Objects, StoreError};

#[async_trait]
impl Objects for PgStore {
    async fn put_object(&self, meta: &ObjectMeta) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO objects (bucket, object_key, owner, content_type, size, sha256, width, height, source_bucket, source_key, job_id, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
             ON CONFLICT (bucket, object_key) DO UPDATE SET owner = excluded.owner,
                content_type = excluded.content_type, size = excluded.size, sha256 = excluded.sha256,
                width = excluded.width, height = excluded.height, source_bucket = excluded.source_bucket,
                source_key = excluded.source_key, job_id = excluded.job_id, created_at = excluded.created_at",
        )
        .bind(meta.object.bucket.as_str())
        .bind(meta.object.key.as_str())
        .bind(&meta.owner)
        .bind(&meta.content_type)
        .bind(meta.size as i64)
        .bind(&meta.sha256)
        .bind(meta.dimensions.map(|(w, _)| i64::from(w)))
        .bind(meta.dimensions.map(|(_, h)| i64::from(h)))
        .bind(meta.source.as_ref().map(|s| s.bucket.as_str()))
        .bind(meta.source.as_ref().map(|s| s.key.as_str()))
        .bind(meta.job_id.map(|id| id.to_string()))
        .bind(meta.created_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn get_object(&self, object: &ObjectRef) -> Result<Option<ObjectMeta>, StoreError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            object_columns!(),
            " FROM objects WHERE bucket = $1 AND object_key = $2"
        ))
        .bind(object.bucket.as_str())
        .bind(object.key.as_str())
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(object_from_row).transpose()
    }

    async fn derived_from(&self, source: &ObjectRef) -> Result<Vec<ObjectMeta>, StoreError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            object_columns!(),
            " FROM objects WHERE source_bucket = $1 AND source_key = $2
              ORDER BY created_at, object_key"
        ))
        .bind(source.bucket.as_str())
        .bind(source.key.as_str())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(object_from_row).collect()
    }

    async fn delete_object(&self, object: &ObjectRef) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM objects WHERE bucket = $1 AND object_key = $2")
            .bind(object.bucket.as_str())
            .bind(object.key.as_str())
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }
}
