//! [`Objects`] for SQLite.

use std::str::FromStr;

use async_trait::async_trait;
use easel_core::{Bucket, JobId, ObjectKey, ObjectRef};
use sqlx::Row;
use sqlx::sqlite::SqliteRow;

use super::{SqliteStore, corrupt};
use crate::{ObjectMeta, Objects, StoreError};

fn object_ref(bucket: &str, key: &str) -> Result<ObjectRef, StoreError> {
    Ok(ObjectRef {
        bucket: Bucket::from_str(bucket).map_err(|e| corrupt("bucket", e))?,
        key: ObjectKey::parse(key).map_err(|e| corrupt("object key", e))?,
    })
}

fn object_from_row(row: &SqliteRow) -> Result<ObjectMeta, StoreError> {
    let width: Option<i64> = row.try_get("width")?;
    let height: Option<i64> = row.try_get("height")?;
    let source_bucket: Option<String> = row.try_get("source_bucket")?;
    let source_key: Option<String> = row.try_get("source_key")?;
    let job_id: Option<String> = row.try_get("job_id")?;
    Ok(ObjectMeta {
        object: object_ref(row.try_get("bucket")?, row.try_get("object_key")?)?,
        owner: row.try_get("owner")?,
        content_type: row.try_get("content_type")?,
        size: row.try_get::<i64, _>("size")? as u64,
        sha256: row.try_get("sha256")?,
        dimensions: width.zip(height).map(|(w, h)| (w as u32, h as u32)),
        source: match (source_bucket, source_key) {
            (Some(bucket), Some(key)) => Some(object_ref(&bucket, &key)?),
            _ => None,
        },
        job_id: job_id
            .map(|id| JobId::from_str(&id).map_err(|e| corrupt("job id", e)))
            .transpose()?,
        created_at: row.try_get("created_at")?,
    })
}

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
        let row = sqlx::query(
            "SELECT bucket, object_key, owner, content_type, size, sha256, width, height, source_bucket, source_key, job_id, created_at
               FROM objects WHERE bucket = ? AND object_key = ?",
        )
        .bind(object.bucket.as_str())
        .bind(object.key.as_str())
        .fetch_optional(&self.reader)
        .await?;
        row.as_ref().map(object_from_row).transpose()
    }

    async fn derived_from(&self, source: &ObjectRef) -> Result<Vec<ObjectMeta>, StoreError> {
        let rows = sqlx::query(
            "SELECT bucket, object_key, owner, content_type, size, sha256, width, height, source_bucket, source_key, job_id, created_at
               FROM objects WHERE source_bucket = ? AND source_key = ? ORDER BY created_at, object_key",
        )
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
