//! [`Uploads`] for PostgreSQL. A claim is one conditional `UPDATE … RETURNING`: the row
//! lock makes at most one caller move an upload out of `pending`.

use async_trait::async_trait;
use easel_core::{Millis, ObjectRef};

use super::PgStore;
use crate::rows::{upload_columns, upload_from_row};
use crate::{ExpectedUpload, StoreError, UploadSettled, UploadState, Uploads};

#[async_trait]
impl Uploads for PgStore {
    async fn expect_upload(&self, upload: &ExpectedUpload) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO uploads (bucket, object_key, owner, content_type, max_bytes, expires_at, state,
                                  claimed_until, next_check_at, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, 0, $8, $9, $10)",
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
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn get_upload(&self, object: &ObjectRef) -> Result<Option<ExpectedUpload>, StoreError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            upload_columns!(),
            " FROM uploads WHERE bucket = $1 AND object_key = $2"
        ))
        .bind(object.bucket.as_str())
        .bind(object.key.as_str())
        .fetch_optional(&self.pool)
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
            "UPDATE uploads SET state = 'ingesting', claimed_until = $1, updated_at = $2
              WHERE bucket = $3 AND object_key = $4
                AND (state = 'pending' OR (state = 'ingesting' AND claimed_until < $5))
              RETURNING ",
            upload_columns!()
        ))
        .bind(until)
        .bind(now)
        .bind(object.bucket.as_str())
        .bind(object.key.as_str())
        .bind(now)
        .fetch_optional(&self.pool)
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
                                error_message = NULL, next_check_at = $1
              WHERE bucket = $2 AND object_key = $3 AND state IN ('ingesting', 'failed')",
        )
        .bind(next_check_at)
        .bind(object.bucket.as_str())
        .bind(object.key.as_str())
        .execute(&self.pool)
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
            "UPDATE uploads SET state = $1, error_code = $2, error_message = $3, claimed_until = 0,
                                updated_at = $4
              WHERE bucket = $5 AND object_key = $6",
        )
        .bind(state.as_str())
        .bind(code)
        .bind(message)
        .bind(now)
        .bind(object.bucket.as_str())
        .bind(object.key.as_str())
        .execute(&self.pool)
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
              WHERE (state = 'pending' AND next_check_at <= $1)
                 OR (state = 'ingesting' AND claimed_until < $2)
              ORDER BY created_at LIMIT $3"
        ))
        .bind(now)
        .bind(now)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(upload_from_row).collect()
    }

    async fn prune_settled_uploads(&self, before: Millis) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "DELETE FROM uploads WHERE state IN ('ingested', 'failed', 'expired') AND updated_at < $1",
        )
        .bind(before)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }
}
