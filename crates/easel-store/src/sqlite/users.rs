//! [`Users`] for SQLite.

use super::{SqliteStore, conflict_or};
use crate::rows::{user_columns, user_from_row};
use crate::{LockoutPolicy, LoginFailure, StoreError, User, Users};
use async_trait::async_trait;
use easel_core::Millis;
use sqlx::Row;

#[async_trait]
impl Users for SqliteStore {
    #[tracing::instrument(skip_all, fields(username = %user.username))]
    async fn create_user(&self, user: &User) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO users (id, username, password_hash, admin, plan, disabled, created_at, updated_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&user.id)
        .bind(&user.username)
        .bind(&user.password_hash)
        .bind(user.admin)
        .bind(&user.plan)
        .bind(user.disabled)
        .bind(user.created_at)
        .bind(user.updated_at)
        .execute(&self.writer)
        .await
        .map_err(conflict_or)?;
        Ok(())
    }

    async fn user_by_id(&self, id: &str) -> Result<Option<User>, StoreError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            user_columns!(),
            " FROM users WHERE id = ?"
        ))
        .bind(id)
        .fetch_optional(&self.reader)
        .await?;
        row.as_ref().map(user_from_row).transpose()
    }

    async fn user_by_username(&self, username: &str) -> Result<Option<User>, StoreError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            user_columns!(),
            " FROM users WHERE username = ?"
        ))
        .bind(username)
        .fetch_optional(&self.reader)
        .await?;
        row.as_ref().map(user_from_row).transpose()
    }

    async fn list_users(&self) -> Result<Vec<User>, StoreError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            user_columns!(),
            " FROM users ORDER BY created_at, username"
        ))
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(user_from_row).collect()
    }

    async fn count_users(&self) -> Result<u64, StoreError> {
        let count: i64 = sqlx::query_scalar("SELECT count(*) FROM users")
            .fetch_one(&self.reader)
            .await?;
        Ok(count as u64)
    }

    async fn set_password_hash(
        &self,
        id: &str,
        hash: &str,
        now: Millis,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE users SET password_hash = ?, updated_at = ? WHERE id = ?")
            .bind(hash)
            .bind(now)
            .bind(id)
            .execute(&self.writer)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn set_disabled(
        &self,
        id: &str,
        disabled: bool,
        now: Millis,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE users SET disabled = ?, updated_at = ? WHERE id = ?")
            .bind(disabled)
            .bind(now)
            .bind(id)
            .execute(&self.writer)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn set_plan(
        &self,
        id: &str,
        plan: Option<&str>,
        now: Millis,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE users SET plan = ?, updated_at = ? WHERE id = ?")
            .bind(plan)
            .bind(now)
            .bind(id)
            .execute(&self.writer)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn login_locked_until(&self, username: &str) -> Result<Millis, StoreError> {
        let until: Option<i64> =
            sqlx::query_scalar("SELECT locked_until FROM login_failures WHERE username = ?")
                .bind(username)
                .fetch_optional(&self.reader)
                .await?;
        Ok(until.unwrap_or(0))
    }

    #[tracing::instrument(skip(self))]
    async fn record_login_failure(
        &self,
        username: &str,
        now: Millis,
        policy: LockoutPolicy,
    ) -> Result<LoginFailure, StoreError> {
        // One statement: count the failure and compute the lockout
        // (base × 2^(failures − threshold), capped at max; the exponent is capped at 32
        // first so the shift cannot overflow). Portable SQL: the caps are CASE
        // expressions, not SQLite's two-argument min() (PostgreSQL's LEAST), and the
        // shift count is cast to INTEGER (PostgreSQL has `bigint << integer` only).
        let row = sqlx::query(
            "INSERT INTO login_failures (username, failures, locked_until, updated_at)
             VALUES (?1, 1, CASE WHEN 1 >= ?3 THEN ?2 + ?4 ELSE 0 END, ?2)
             ON CONFLICT (username) DO UPDATE SET
                failures = login_failures.failures + 1,
                locked_until = CASE WHEN login_failures.failures + 1 >= ?3
                    THEN ?2 + CASE
                        WHEN login_failures.failures + 1 - ?3 >= 32
                            THEN CASE WHEN (?4 << 32) < ?5 THEN ?4 << 32 ELSE ?5 END
                        WHEN (?4 << CAST(login_failures.failures + 1 - ?3 AS INTEGER)) < ?5
                            THEN ?4 << CAST(login_failures.failures + 1 - ?3 AS INTEGER)
                        ELSE ?5
                    END
                    ELSE 0 END,
                updated_at = ?2
             RETURNING failures, locked_until",
        )
        .bind(username)
        .bind(now)
        .bind(i64::from(policy.threshold))
        .bind(policy.base_ms)
        .bind(policy.max_ms)
        .fetch_one(&self.writer)
        .await?;
        Ok(LoginFailure {
            failures: row.try_get::<i64, _>("failures")? as u32,
            locked_until: row.try_get("locked_until")?,
        })
    }

    async fn clear_login_failures(&self, username: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM login_failures WHERE username = ?")
            .bind(username)
            .execute(&self.writer)
            .await?;
        Ok(())
    }
}
