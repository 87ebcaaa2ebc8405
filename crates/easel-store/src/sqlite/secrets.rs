//! [`Secrets`] for SQLite.

use async_trait::async_trait;
use easel_core::Millis;
use sqlx::Row;
use sqlx::sqlite::SqliteRow;

use super::{SqliteStore, conflict_or};
use crate::{Secrets, StoreError, StoredSecret};

fn secret_from_row(row: &SqliteRow) -> Result<StoredSecret, StoreError> {
    Ok(StoredSecret {
        name: row.try_get("name")?,
        value: row.try_get("value")?,
        created_at: row.try_get("created_at")?,
    })
}

#[async_trait]
impl Secrets for SqliteStore {
    async fn secret_or_insert(
        &self,
        name: &str,
        candidate: &[u8],
        now: Millis,
    ) -> Result<StoredSecret, StoreError> {
        sqlx::query(
            "INSERT INTO secrets (name, value, created_at) VALUES (?, ?, ?)
             ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(candidate)
        .bind(now)
        .execute(&self.writer)
        .await?;
        // Read through the writer: the row may be another process's, committed a
        // moment ago.
        let row = sqlx::query("SELECT name, value, created_at FROM secrets WHERE name = ?")
            .bind(name)
            .fetch_one(&self.writer)
            .await?;
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
        // `substr` rather than LIKE: names may hold `%` or `_`.
        let rows = sqlx::query(
            "SELECT name, value, created_at FROM secrets
              WHERE substr(name, 1, length(?1)) = ?1 ORDER BY created_at, name",
        )
        .bind(prefix)
        .fetch_all(&self.writer)
        .await?;
        rows.iter().map(secret_from_row).collect()
    }

    async fn delete_secret(&self, name: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM secrets WHERE name = ?")
            .bind(name)
            .execute(&self.writer)
            .await?;
        Ok(done.rows_affected() > 0)
    }
}
