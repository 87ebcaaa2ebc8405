//! [`Users`] for PostgreSQL.

use async_trait::async_trait;
use easel_core::Millis;
use sqlx::Row;

use super::{PgStore, conflict_or};
use crate::rows::{user_columns, user_from_row};
use crate::{LockoutPolicy, LoginFailure, Notifications, StoreError, User, Users};

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
            "INSERT INTO users (id, username, password_hash, admin, plan, disabled, created_at, updated_at,
                                email_verified_at, pending_email, notify_job_finished,
                                notify_link_expiry, notify_weekly_summary)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        )
        .bind(&user.id)
        .bind(&user.username)
        .bind(&user.password_hash)
        .bind(user.admin)
        .bind(&user.plan)
        .bind(user.disabled)
        .bind(user.created_at)
        .bind(user.updated_at)
        .bind(user.email_verified_at)
        .bind(&user.pending_email)
        .bind(user.notifications.job_finished)
        .bind(user.notifications.link_expiry)
        .bind(user.notifications.weekly_summary)
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

    async fn set_email_verified(&self, id: &str, now: Millis) -> Result<bool, StoreError> {
        let done =
            sqlx::query("UPDATE users SET email_verified_at = $1, updated_at = $1 WHERE id = $2")
                .bind(now)
                .bind(id)
                .execute(&self.pool)
                .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn set_pending_email(
        &self,
        id: &str,
        email: Option<&str>,
        now: Millis,
    ) -> Result<bool, StoreError> {
        let done =
            sqlx::query("UPDATE users SET pending_email = $1, updated_at = $2 WHERE id = $3")
                .bind(email)
                .bind(now)
                .bind(id)
                .execute(&self.pool)
                .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn change_username(
        &self,
        id: &str,
        username: &str,
        now: Millis,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE users SET username = $1, pending_email = NULL, email_verified_at = $2,
                              updated_at = $2
              WHERE id = $3",
        )
        .bind(username)
        .bind(now)
        .bind(id)
        .execute(&self.pool)
        .await
        .map_err(conflict_or)?;
        Ok(done.rows_affected() == 1)
    }

    async fn set_notifications(
        &self,
        id: &str,
        notifications: Notifications,
        now: Millis,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE users SET notify_job_finished = $1, notify_link_expiry = $2,
                              notify_weekly_summary = $3, updated_at = $4
              WHERE id = $5",
        )
        .bind(notifications.job_finished)
        .bind(notifications.link_expiry)
        .bind(notifications.weekly_summary)
        .bind(now)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn weekly_summaries_due(
        &self,
        week_start: Millis,
        limit: u32,
    ) -> Result<Vec<User>, StoreError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            user_columns!(),
            " FROM users
             WHERE notify_weekly_summary AND NOT disabled AND email_verified_at IS NOT NULL
               AND (summary_week IS NULL OR summary_week < $1)
             ORDER BY id LIMIT $2"
        ))
        .bind(week_start)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(user_from_row).collect()
    }

    async fn mark_weekly_summary(&self, id: &str, week_start: Millis) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE users SET summary_week = $1
              WHERE id = $2 AND (summary_week IS NULL OR summary_week < $1)",
        )
        .bind(week_start)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }
}
