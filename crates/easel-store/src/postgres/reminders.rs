//! [`Reminders`] and [`SpentChallenges`] for PostgreSQL.

use async_trait::async_trait;
use easel_core::{JobId, Millis};

use super::PgStore;
use crate::rows::reminder_from_row;
use crate::{Reminder, Reminders, SpentChallenges, StoreError};

#[async_trait]
impl Reminders for PgStore {
    async fn schedule_reminder(&self, reminder: &Reminder) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO link_reminders (job_id, owner, due_at) VALUES ($1, $2, $3)
             ON CONFLICT (job_id) DO NOTHING",
        )
        .bind(reminder.job.to_string())
        .bind(&reminder.owner)
        .bind(reminder.due_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn due_reminders(&self, now: Millis, limit: u32) -> Result<Vec<Reminder>, StoreError> {
        let rows = sqlx::query(
            "SELECT job_id, owner, due_at FROM link_reminders WHERE due_at <= $1
              ORDER BY due_at, job_id LIMIT $2",
        )
        .bind(now)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(reminder_from_row).collect()
    }

    async fn drop_reminder(&self, job: JobId) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM link_reminders WHERE job_id = $1")
            .bind(job.to_string())
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

#[async_trait]
impl SpentChallenges for PgStore {
    async fn spend_challenge(
        &self,
        challenge: &str,
        expires_at: Millis,
        now: Millis,
    ) -> Result<bool, StoreError> {
        sqlx::query("DELETE FROM spent_challenges WHERE expires_at < $1")
            .bind(now)
            .execute(&self.pool)
            .await?;
        let done = sqlx::query(
            "INSERT INTO spent_challenges (challenge, expires_at) VALUES ($1, $2)
             ON CONFLICT (challenge) DO NOTHING",
        )
        .bind(challenge)
        .bind(expires_at)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }
}
