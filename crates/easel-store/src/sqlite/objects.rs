//! [`Objects`] for SQLite.

use async_trait::async_trait;
use easel_core::ObjectRef;

use super::SqliteStore;
use crate::rows::{object_columns, object_from_row};
use crate::{ObjectMeta, Objects, StoreError};

#[async_trait]
impl Objects for SqliteStore {
    async fn put_object(&self, meta: &ObjectMeta) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO objects (bucket, object_key, owner, content_type, size, sha256, width, height, source_bucket, source_key, job_id, created_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
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
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    async fn get_object(&self, object: &ObjectRef) -> Result<Option<ObjectMeta>, StoreError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            object_columns!(),
            " FROM objects WHERE bucket = ? AND object_key = ?"
        ))
        .bind(object.bucket.as_str())
        .bind(object.key.as_str())
        .fetch_optional(&self.reader)
        .await?;
        row.as_ref().map(object_from_row).transpose()
    }

    async fn derived_from(&self, source: &ObjectRef) -> Result<Vec<ObjectMeta>, StoreError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            object_columns!(),
            " FROM objects WHERE source_bucket = ? AND source_key = ? ORDER BY created_at, object_key"
        ))
        .bind(source.bucket.as_str())
        .bind(source.key.as_str())
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(object_from_row).collect()
    }

    async fn delete_object(&self, object: &ObjectRef) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM objects WHERE bucket = ? AND object_key = ?")
            .bind(object.bucket.as_str())
            .bind(object.key.as_str())
            .execute(&self.writer)
            .await?;
        Ok(done.rows_affected() > 0)
    }
}
