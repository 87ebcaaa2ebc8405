//! [`Uploads`] for SQLite. A claim is one conditional `UPDATE … RETURNING` through the
//! single writer, so at most one caller moves an upload out of `pending`.

use async_trait::async_trait;
use easel_core::{Millis, ObjectRef};

use super::SqliteStore;
use crate::rows::{upload_columns, upload_from_row};
use crate::{ExpectedUpload, StoreError, UploadSettled, UploadState, Uploads};

#[async_trait]
impl Uploads for SqliteStore {
    async fn expect_upload(&self, upload: &ExpectedUpload) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO uploads (bucket, object_key, owner, content_type, max_bytes, expires_at, state,
                                  claimed_until, next_check_at, created_at, updated_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?)",
        )
        .bind(upload.object.bucket.as_str())
        .bind(upload.object.key.as_str())
        .bind(&upload.owner)
        .bind(&upload.content_type)
        .bind(upload.max_bytes as i64)
        .bind(upload.expires_at)
        .bind(upload.state.as_str())
        .bind(upload.next_check_at)
        .bind(upload.created_at)
        .bind(upload.created_at)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    async fn get_upload(&self, object: &ObjectRef) -> Result<Option<ExpectedUpload>, StoreError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            upload_columns!(),
            " FROM uploads WHERE bucket = ? AND object_key = ?"
        ))
        .bind(object.bucket.as_str())
        .bind(object.key.as_str())
        .fetch_optional(&self.reader)
        .await?;
        row.as_ref().map(upload_from_row).transpose()
    }

    async fn claim_upload(
        &self,
        object: &ObjectRef,
        now: Millis,
        until: Millis,
    ) -> Result<Option<ExpectedUpload>, StoreError> {
        let row = sqlx::query(concat!(
            "UPDATE uploads SET state = 'ingesting', claimed_until = ?, updated_at = ?
              WHERE bucket = ? AND object_key = ?
                AND (state = 'pending' OR (state = 'ingesting' AND claimed_until < ?))
              RETURNING ",
            upload_columns!()
        ))
        .bind(until)
        .bind(now)
        .bind(object.bucket.as_str())
        .bind(object.key.as_str())
        .bind(now)
        .fetch_optional(&self.writer)
        .await?;
        row.as_ref().map(upload_from_row).transpose()
    }

    async fn release_upload(
        &self,
        object: &ObjectRef,
        next_check_at: Millis,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE uploads SET state = 'pending', claimed_until = 0, error_code = NULL,
                                error_message = NULL, next_check_at = ?
              WHERE bucket = ? AND object_key = ? AND state IN ('ingesting', 'failed')",
        )
        .bind(next_check_at)
        .bind(object.bucket.as_str())
        .bind(object.key.as_str())
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    async fn settle_upload(
        &self,
        object: &ObjectRef,
        settled: &UploadSettled,
        now: Millis,
    ) -> Result<(), StoreError> {
        let (state, code, message) = match settled {
            UploadSettled::Ingested => (UploadState::Ingested, None, None),
            UploadSettled::Failed { code, message } => {
                (UploadState::Failed, Some(code), Some(message))
            }
            UploadSettled::Expired => (UploadState::Expired, None, None),
        };
        sqlx::query(
            "UPDATE uploads SET state = ?, error_code = ?, error_message = ?, claimed_until = 0,
                                updated_at = ?
              WHERE bucket = ? AND object_key = ?",
        )
        .bind(state.as_str())
        .bind(code)
        .bind(message)
        .bind(now)
        .bind(object.bucket.as_str())
        .bind(object.key.as_str())
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    async fn uploads_due(
        &self,
        now: Millis,
        limit: u32,
    ) -> Result<Vec<ExpectedUpload>, StoreError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            upload_columns!(),
            " FROM uploads
              WHERE (state = 'pending' AND next_check_at <= ?)
                 OR (state = 'ingesting' AND claimed_until < ?)
              ORDER BY created_at LIMIT ?"
        ))
        .bind(now)
        .bind(now)
        .bind(i64::from(limit))
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(upload_from_row).collect()
    }

    async fn prune_settled_uploads(&self, before: Millis) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "DELETE FROM uploads WHERE state IN ('ingested', 'failed', 'expired') AND updated_at < ?",
        )
        .bind(before)
        .execute(&self.writer)
        .await?;
        Ok(done.rows_affected())
    }
}
