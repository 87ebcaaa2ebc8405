//! [`Users`] for SQLite.

use super::{SqliteStore, conflict_or};
use crate::rows::{user_columns, user_from_row};
use crate::{LockoutPolicy, LoginFailure, Notifications, StoreError, User, Users};
use async_trait::async_trait;
use easel_core::Millis;
use sqlx::Row;

#[async_trait]
impl Users for SqliteStore {
    #[tracing::instrument(skip_all, fields(username = %user.username))]
    async fn create_user(&self, user: &User) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO users (id, username, password_hash, admin, plan, disabled, created_at, updated_at,
                                email_verified_at, pending_email, notify_job_finished,
                                notify_link_expiry, notify_weekly_summary)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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

    async fn set_email_verified(&self, id: &str, now: Millis) -> Result<bool, StoreError> {
        let done =
            sqlx::query("UPDATE users SET email_verified_at = ?1, updated_at = ?1 WHERE id = ?2")
                .bind(now)
                .bind(id)
                .execute(&self.writer)
                .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn set_pending_email(
        &self,
        id: &str,
        email: Option<&str>,
        now: Millis,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE users SET pending_email = ?, updated_at = ? WHERE id = ?")
            .bind(email)
            .bind(now)
            .bind(id)
            .execute(&self.writer)
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
            "UPDATE users SET username = ?1, pending_email = NULL, email_verified_at = ?2,
                              updated_at = ?2
              WHERE id = ?3",
        )
        .bind(username)
        .bind(now)
        .bind(id)
        .execute(&self.writer)
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
            "UPDATE users SET notify_job_finished = ?, notify_link_expiry = ?,
                              notify_weekly_summary = ?, updated_at = ?
              WHERE id = ?",
        )
        .bind(notifications.job_finished)
        .bind(notifications.link_expiry)
        .bind(notifications.weekly_summary)
        .bind(now)
        .bind(id)
        .execute(&self.writer)
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
               AND (summary_week IS NULL OR summary_week < ?1)
             ORDER BY id LIMIT ?2"
        ))
        .bind(week_start)
        .bind(i64::from(limit))
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(user_from_row).collect()
    }

    async fn mark_weekly_summary(&self, id: &str, week_start: Millis) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE users SET summary_week = ?1
              WHERE id = ?2 AND (summary_week IS NULL OR summary_week < ?1)",
        )
        .bind(week_start)
        .bind(id)
        .execute(&self.writer)
        .await?;
        Ok(done.rows_affected() == 1)
    }
}
