//! [`RefreshTokens`] and [`ApiKeys`] for SQLite.

use async_trait::async_trait;
use easel_core::Millis;
use sqlx::Row;

use super::{SqliteStore, conflict_or};
use crate::rows::{key_columns, key_from_row};
use crate::{ApiKey, ApiKeys, NewRefreshToken, RefreshTokens, RotateOutcome, StoreError};

#[async_trait]
impl RefreshTokens for SqliteStore {
    async fn insert_refresh_token(&self, token: &NewRefreshToken) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO refresh_tokens (hash, family, user_id, created_at, expires_at)
             VALUES (?, ?, ?, ?, ?)",
        )
        .bind(&token.hash)
        .bind(&token.family)
        .bind(&token.user_id)
        .bind(token.created_at)
        .bind(token.expires_at)
        .execute(&self.writer)
        .await
        .map_err(conflict_or)?;
        Ok(())
    }

    #[tracing::instrument(skip_all)]
    async fn rotate_refresh_token(
        &self,
        hash: &str,
        next_hash: &str,
        now: Millis,
    ) -> Result<RotateOutcome, StoreError> {
        let mut tx = self.begin_write().await?;
        let live = sqlx::query(
            "UPDATE refresh_tokens SET used_at = ?2
              WHERE hash = ?1 AND used_at IS NULL AND revoked_at IS NULL AND expires_at > ?2
             RETURNING family, user_id, expires_at",
        )
        .bind(hash)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(row) = live {
            let family: String = row.try_get("family")?;
            let user_id: String = row.try_get("user_id")?;
            let expires_at: i64 = row.try_get("expires_at")?;
            sqlx::query(
                "INSERT INTO refresh_tokens (hash, family, user_id, created_at, expires_at)
                 VALUES (?, ?, ?, ?, ?)",
            )
            .bind(next_hash)
            .bind(&family)
            .bind(&user_id)
            .bind(now)
            .bind(expires_at)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            return Ok(RotateOutcome::Rotated { user_id, family });
        }
        // Not live: a used token presented again means it leaked; revoke its family.
        let reused = sqlx::query(
            "SELECT family, user_id FROM refresh_tokens
              WHERE hash = ? AND used_at IS NOT NULL AND revoked_at IS NULL",
        )
        .bind(hash)
        .fetch_optional(&mut *tx)
        .await?;
        let outcome = match reused {
            Some(row) => {
                let family: String = row.try_get("family")?;
                sqlx::query(
                    "UPDATE refresh_tokens SET revoked_at = ? WHERE family = ? AND revoked_at IS NULL",
                )
                .bind(now)
                .bind(&family)
                .execute(&mut *tx)
                .await?;
                RotateOutcome::Reused {
                    user_id: row.try_get("user_id")?,
                    family,
                }
            }
            None => RotateOutcome::Invalid,
        };
        tx.commit().await?;
        Ok(outcome)
    }

    async fn revoke_refresh_family(
        &self,
        hash: &str,
        now: Millis,
    ) -> Result<Option<String>, StoreError> {
        let rows = sqlx::query(
            "UPDATE refresh_tokens SET revoked_at = ?1
              WHERE revoked_at IS NULL
                AND family = (SELECT family FROM refresh_tokens WHERE hash = ?2)
             RETURNING user_id",
        )
        .bind(now)
        .bind(hash)
        .fetch_all(&self.writer)
        .await?;
        rows.first()
            .map(|row| row.try_get("user_id"))
            .transpose()
            .map_err(StoreError::from)
    }

    async fn revoke_user_refresh_tokens(
        &self,
        user_id: &str,
        now: Millis,
    ) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "UPDATE refresh_tokens SET revoked_at = ?
              WHERE user_id = ? AND revoked_at IS NULL AND used_at IS NULL",
        )
        .bind(now)
        .bind(user_id)
        .execute(&self.writer)
        .await?;
        Ok(done.rows_affected())
    }
}

#[async_trait]
impl ApiKeys for SqliteStore {
    async fn create_api_key(&self, key: &ApiKey, hash: &str) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO api_keys (id, owner, name, prefix, hash, created_at) VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(&key.id)
        .bind(&key.owner)
        .bind(&key.name)
        .bind(&key.prefix)
        .bind(hash)
        .bind(key.created_at)
        .execute(&self.writer)
        .await
        .map_err(conflict_or)?;
        Ok(())
    }

    async fn list_api_keys(&self, owner: &str) -> Result<Vec<ApiKey>, StoreError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            key_columns!(),
            " FROM api_keys WHERE owner = ? ORDER BY created_at DESC, id DESC"
        ))
        .bind(owner)
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(key_from_row).collect()
    }

    async fn api_key_by_id(&self, id: &str) -> Result<Option<ApiKey>, StoreError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            key_columns!(),
            " FROM api_keys WHERE id = ?"
        ))
        .bind(id)
        .fetch_optional(&self.reader)
        .await?;
        row.as_ref().map(key_from_row).transpose()
    }

    async fn live_api_key_by_hash(&self, hash: &str) -> Result<Option<ApiKey>, StoreError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            key_columns!(),
            " FROM api_keys WHERE hash = ? AND revoked_at IS NULL"
        ))
        .bind(hash)
        .fetch_optional(&self.reader)
        .await?;
        row.as_ref().map(key_from_row).transpose()
    }

    async fn revoke_api_key(&self, id: &str, now: Millis) -> Result<bool, StoreError> {
        let done =
            sqlx::query("UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL")
                .bind(now)
                .bind(id)
                .execute(&self.writer)
                .await?;
        Ok(done.rows_affected() == 1)
    }
}
