//! [`Secrets`] for PostgreSQL.

use async_trait::async_trait;
use easel_core::Millis;

use super::{PgStore, conflict_or};
use crate::rows::secret_from_row;
use crate::{Secrets, StoreError, StoredSecret};

/// How many times `secret_or_insert` tries when the secret is deleted between its
/// insert and its read (only a concurrent `delete_secret` does that).
const ATTEMPTS: usize = 3;

#[async_trait]
impl Secrets for PgStore {
    async fn secret_or_insert(
        &self,
        name: &str,
        candidate: &[u8],
        now: Millis,
    ) -> Result<StoredSecret, StoreError> {
        for _ in 0..ATTEMPTS {
            // An insert racing ours waits for it, then does nothing. The read is a
            // statement of its own: a statement's snapshot predates a row committed
            // while it waited, so reading within the insert could miss the winner's.
            let inserted = sqlx::query(
                "INSERT INTO secrets (name, value, created_at) VALUES ($1, $2, $3)
                 ON CONFLICT (name) DO NOTHING RETURNING name, value, created_at",
            )
            .bind(name)
            .bind(candidate)
            .bind(now)
            .fetch_optional(&self.pool)
            .await?;
            let row = match inserted {
                Some(row) => Some(row),
                None => {
                    sqlx::query("SELECT name, value, created_at FROM secrets WHERE name = $1")
                        .bind(name)
                        .fetch_optional(&self.pool)
                        .await?
                }
            };
            if let Some(row) = row {
                return secret_from_row(&row);
            }
        }
        Err(StoreError::Corrupt(format!(
            "the secret `{name}` vanished each time it was read"
        )))
    }

    async fn insert_secret(&self, name: &str, value: &[u8], now: Millis) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO secrets (name, value, created_at) VALUES ($1, $2, $3)")
            .bind(name)
            .bind(value)
            .bind(now)
            .execute(&self.pool)
            .await
            .map_err(conflict_or)?;
        Ok(())
    }

    async fn secrets_with_prefix(&self, prefix: &str) -> Result<Vec<StoredSecret>, StoreError> {
        // starts_with rather than LIKE: a prefix may hold `%` or `_`.
        let rows = sqlx::query(
            "SELECT name, value, created_at FROM secrets
              WHERE starts_with(name, $1) ORDER BY created_at, name",
        )
        .bind(prefix)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(secret_from_row).collect()
    }

    async fn delete_secret(&self, name: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM secrets WHERE name = $1")
            .bind(name)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }
}
