//! [`RefreshTokens`] and [`ApiKeys`] for PostgreSQL.

use async_trait::async_trait;
use easel_core::Millis;
use sqlx::Row;

use super::{PgStore, conflict_or};
use crate::rows::{key_columns, key_from_row};
use crate::{ApiKey, ApiKeys, NewRefreshToken, RefreshTokens, RotateOutcome, StoreError};

#[async_trait]
impl RefreshTokens for PgStore {
    async fn insert_refresh_token(&self, token: &NewRefreshToken) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO refresh_tokens (hash, family, user_id, created_at, expires_at)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&token.hash)
        .bind(&token.family)
        .bind(&token.user_id)
        .bind(token.created_at)
        .bind(token.expires_at)
        .execute(&self.pool)
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
        // One statement: the live token is marked used (row-locked, so of two racing
        // presentations only one finds it live) and its successor inserted with the
        // family's expiry.
        let rotated = sqlx::query(
            "WITH used AS (
                UPDATE refresh_tokens SET used_at = $2
                 WHERE hash = $1 AND used_at IS NULL AND revoked_at IS NULL AND expires_at > $2
                RETURNING family, user_id, expires_at
             )
             INSERT INTO refresh_tokens (hash, family, user_id, created_at, expires_at)
             SELECT $3, family, user_id, $2, expires_at FROM used
             RETURNING family, user_id",
        )
        .bind(hash)
        .bind(now)
        .bind(next_hash)
        .fetch_optional(&self.pool)
        .await?;
        if let Some(row) = rotated {
            return Ok(RotateOutcome::Rotated {
                user_id: row.try_get("user_id")?,
                family: row.try_get("family")?,
            });
        }
        // Not live: a used token presented again means it leaked; revoke its family. A
        // statement of its own, so it sees a rotation that won a race with the first.
        let reused = sqlx::query(
            "WITH leaked AS (
                SELECT family, user_id FROM refresh_tokens
                 WHERE hash = $1 AND used_at IS NOT NULL AND revoked_at IS NULL
             ), revoked AS (
                UPDATE refresh_tokens SET revoked_at = $2
                 WHERE family = (SELECT family FROM leaked) AND revoked_at IS NULL
             )
             SELECT family, user_id FROM leaked",
        )
        .bind(hash)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        Ok(match reused {
            Some(row) => RotateOutcome::Reused {
                user_id: row.try_get("user_id")?,
                family: row.try_get("family")?,
            },
            None => RotateOutcome::Invalid,
        })
    }

    async fn revoke_refresh_family(
        &self,
        hash: &str,
        now: Millis,
    ) -> Result<Option<String>, StoreError> {
        let rows = sqlx::query(
            "UPDATE refresh_tokens SET revoked_at = $1
              WHERE revoked_at IS NULL
                AND family = (SELECT family FROM refresh_tokens WHERE hash = $2)
             RETURNING user_id",
        )
        .bind(now)
        .bind(hash)
        .fetch_all(&self.pool)
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
            "UPDATE refresh_tokens SET revoked_at = $1
              WHERE user_id = $2 AND revoked_at IS NULL AND used_at IS NULL",
        )
        .bind(now)
        .bind(user_id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }
}

#[async_trait]
impl ApiKeys for PgStore {
    async fn create_api_key(&self, key: &ApiKey, hash: &str) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO api_keys (id, owner, name, prefix, hash, created_at)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&key.id)
        .bind(&key.owner)
        .bind(&key.name)
        .bind(&key.prefix)
        .bind(hash)
        .bind(key.created_at)
        .execute(&self.pool)
        .await
        .map_err(conflict_or)?;
        Ok(())
    }

    async fn list_api_keys(&self, owner: &str) -> Result<Vec<ApiKey>, StoreError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            key_columns!(),
            " FROM api_keys WHERE owner = $1 ORDER BY created_at DESC, id DESC"
        ))
        .bind(owner)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(key_from_row).collect()
    }

    async fn api_key_by_id(&self, id: &str) -> Result<Option<ApiKey>, StoreError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            key_columns!(),
            " FROM api_keys WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(key_from_row).transpose()
    }

    async fn live_api_key_by_hash(&self, hash: &str) -> Result<Option<ApiKey>, StoreError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            key_columns!(),
            " FROM api_keys WHERE hash = $1 AND revoked_at IS NULL"
        ))
        .bind(hash)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(key_from_row).transpose()
    }

    async fn revoke_api_key(&self, id: &str, now: Millis) -> Result<bool, StoreError> {
        let done =
            sqlx::query("UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
                .bind(now)
                .bind(id)
                .execute(&self.pool)
                .await?;
        Ok(done.rows_affected() == 1)
    }
}
