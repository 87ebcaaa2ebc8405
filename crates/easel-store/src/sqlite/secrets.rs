//! [`Secrets`] for SQLite. Inserts go through the single writer, so "first insert wins"
//! holds between the processes sharing the file: each waits for the other's lock.

use async_trait::async_trait;
use easel_core::Millis;

use super::{SqliteStore, conflict_or};
use crate::rows::secret_from_row;
use crate::{Secrets, StoreError, StoredSecret};

#[async_trait]
impl Secrets for SqliteStore {
    async fn secret_or_insert(
        &self,
        name: &str,
        candidate: &[u8],
        now: Millis,
    ) -> Result<StoredSecret, StoreError> {
        // One write transaction: the insert (a no-op when the name exists) and the read
        // see the same database state, even with another process racing.
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO secrets (name, value, created_at) VALUES (?, ?, ?)
             ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(candidate)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let row = sqlx::query("SELECT name, value, created_at FROM secrets WHERE name = ?")
            .bind(name)
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        secret_from_row(&row)
    }

    async fn insert_secret(&self, name: &str, value: &[u8], now: Millis) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO secrets (name, value, created_at) VALUES (?, ?, ?)")
            .bind(name)
            .bind(value)
            .bind(now)
            .execute(&self.writer)
            .await
            .map_err(conflict_or)?;
        Ok(())
    }

    async fn secrets_with_prefix(&self, prefix: &str) -> Result<Vec<StoredSecret>, StoreError> {
        // substr rather than LIKE: a prefix may hold `%` or `_`, which LIKE would expand.
        let rows = sqlx::query(
            "SELECT name, value, created_at FROM secrets
              WHERE substr(name, 1, length(?1)) = ?1 ORDER BY created_at, name",
        )
        .bind(prefix)
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(secret_from_row).collect()
    }

    async fn delete_secret(&self, name: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM secrets WHERE name = ?")
            .bind(name)
            .execute(&self.writer)
            .await?;
        Ok(done.rows_affected() == 1)
    }
}
