//! [`Users`] for PostgreSQL.

use async_trait::async_trait;
use easel_core::Millis;
use sqlx::Row;

use super::{PgStore, conflict_or};
use crate::rows::{user_columns, user_from_row};
use crate::{LockoutPolicy, LoginFailure, StoreError, User, Users};

/// Counts a failed sign-in and computes the lockout in one upsert, atomic across
/// processes: base × 2^(failures − threshold), capped at max, the exponent capped at 32
/// first so the shift cannot overflow. Parameters: $1 username, $2 now, $3 threshold,
/// $4 base, $5 max.
const RECORD_FAILURE: &str = "
INSERT INTO login_failures (username, failures, locked_until, updated_at)
VALUES ($1, 1, CASE WHEN 1 >= $3 THEN $2 + $4 ELSE 0 END, $2)
ON CONFLICT (username) DO UPDATE SET
    failures = login_failures.failures + 1,
    locked_until = CASE WHEN login_failures.failures + 1 >= $3
        THEN $2 + LEAST($4 << LEAST(login_failures.failures + 1 - $3, 32)::integer, $5)
        ELSE 0 END,
    updated_at = $2
RETURNING failures, locked_until";

#[async_trait]
impl Users for PgStore {
    #[tracing::instrument(skip_all, fields(username = %user.username))]
    async fn create_user(&self, user: &User) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO users (id, username, password_hash, admin, plan, disabled, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&user.id)
        .bind(&user.username)
        .bind(&user.password_hash)
        .bind(user.admin)
        .bind(&user.plan)
        .bind(user.disabled)
        .bind(user.created_at)
        .bind(user.updated_at)
        .execute(&self.pool)
        .await
        .map_err(conflict_or)?;
        Ok(())
    }

    async fn user_by_id(&self, id: &str) -> Result<Option<User>, StoreError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            user_columns!(),
            " FROM users WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(user_from_row).transpose()
    }

    async fn user_by_username(&self, username: &str) -> Result<Option<User>, StoreError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            user_columns!(),
            " FROM users WHERE username = $1"
        ))
        .bind(username)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(user_from_row).transpose()
    }

    async fn list_users(&self) -> Result<Vec<User>, StoreError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            user_columns!(),
            " FROM users ORDER BY created_at, username"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(user_from_row).collect()
    }

    async fn count_users(&self) -> Result<u64, StoreError> {
        let count: i64 = sqlx::query_scalar("SELECT count(*) FROM users")
            .fetch_one(&self.pool)
            .await?;
        Ok(count as u64)
    }

    async fn set_password_hash(
        &self,
        id: &str,
        hash: &str,
        now: Millis,
    ) -> Result<bool, StoreError> {
        let done =
            sqlx::query("UPDATE users SET password_hash = $1, updated_at = $2 WHERE id = $3")
                .bind(hash)
                .bind(now)
                .bind(id)
                .execute(&self.pool)
                .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn set_disabled(
        &self,
        id: &str,
        disabled: bool,
        now: Millis,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE users SET disabled = $1, updated_at = $2 WHERE id = $3")
            .bind(disabled)
            .bind(now)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn set_plan(
        &self,
        id: &str,
        plan: Option<&str>,
        now: Millis,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE users SET plan = $1, updated_at = $2 WHERE id = $3")
            .bind(plan)
            .bind(now)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn login_locked_until(&self, username: &str) -> Result<Millis, StoreError> {
        let until: Option<i64> =
            sqlx::query_scalar("SELECT locked_until FROM login_failures WHERE username = $1")
                .bind(username)
                .fetch_optional(&self.pool)
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
        let row = sqlx::query(RECORD_FAILURE)
            .bind(username)
            .bind(now)
            .bind(i64::from(policy.threshold))
            .bind(policy.base_ms)
            .bind(policy.max_ms)
            .fetch_one(&self.pool)
            .await?;
        Ok(LoginFailure {
            failures: row.try_get::<i64, _>("failures")? as u32,
            locked_until: row.try_get("locked_until")?,
        })
    }

    async fn clear_login_failures(&self, username: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM login_failures WHERE username = $1")
            .bind(username)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
