//! [`Reminders`] and [`SpentChallenges`] for SQLite.

use async_trait::async_trait;
use easel_core::{JobId, Millis};

use super::SqliteStore;
use crate::rows::reminder_from_row;
use crate::{Reminder, Reminders, SpentChallenges, StoreError};

#[async_trait]
impl Reminders for SqliteStore {
    async fn schedule_reminder(&self, reminder: &Reminder) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO link_reminders (job_id, owner, due_at) VALUES (?, ?, ?)
             ON CONFLICT (job_id) DO NOTHING",
        )
        .bind(reminder.job.to_string())
        .bind(&reminder.owner)
        .bind(reminder.due_at)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    async fn due_reminders(&self, now: Millis, limit: u32) -> Result<Vec<Reminder>, StoreError> {
        let rows = sqlx::query(
            "SELECT job_id, owner, due_at FROM link_reminders WHERE due_at <= ?
              ORDER BY due_at, job_id LIMIT ?",
        )
        .bind(now)
        .bind(i64::from(limit))
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(reminder_from_row).collect()
    }

    async fn drop_reminder(&self, job: JobId) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM link_reminders WHERE job_id = ?")
            .bind(job.to_string())
            .execute(&self.writer)
            .await?;
        Ok(())
    }
}

#[async_trait]
impl SpentChallenges for SqliteStore {
    async fn spend_challenge(
        &self,
        challenge: &str,
        expires_at: Millis,
        now: Millis,
    ) -> Result<bool, StoreError> {
        sqlx::query("DELETE FROM spent_challenges WHERE expires_at < ?")
            .bind(now)
            .execute(&self.writer)
            .await?;
        let done = sqlx::query(
            "INSERT INTO spent_challenges (challenge, expires_at) VALUES (?, ?)
             ON CONFLICT (challenge) DO NOTHING",
        )
        .bind(challenge)
        .bind(expires_at)
        .execute(&self.writer)
        .await?;
        Ok(done.rows_affected() == 1)
    }
}
