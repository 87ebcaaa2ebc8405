//! [`AccountCodes`] for SQLite.

use async_trait::async_trait;
use easel_core::Millis;

use super::SqliteStore;
use crate::{AccountCodes, CodeCheck, Issued, MAX_CODE_TRIES, MAX_CODES_PER_HOUR, StoreError};

const HOUR: Millis = 3_600_000;

#[async_trait]
impl AccountCodes for SqliteStore {
    async fn issue_code(
        &self,
        user: &str,
        purpose: &str,
        code_hash: &str,
        expires_at: Millis,
        now: Millis,
    ) -> Result<Issued, StoreError> {
        // One statement: a new row, or the row replaced — its count of codes sent this
        // hour goes on (or starts again when the hour is over) — unless that count is
        // used up, in which case nothing changes.
        let changed = sqlx::query(
            "INSERT INTO account_codes (user_id, purpose, code_hash, expires_at, tries, sent, window_start)
             VALUES (?1, ?2, ?3, ?4, 0, 1, ?5)
             ON CONFLICT (user_id, purpose) DO UPDATE
                SET code_hash = excluded.code_hash, expires_at = excluded.expires_at, tries = 0,
                    sent = CASE WHEN account_codes.window_start > ?5 - ?6
                                THEN account_codes.sent + 1 ELSE 1 END,
                    window_start = CASE WHEN account_codes.window_start > ?5 - ?6
                                        THEN account_codes.window_start ELSE ?5 END
              WHERE account_codes.window_start <= ?5 - ?6 OR account_codes.sent < ?7",
        )
        .bind(user)
        .bind(purpose)
        .bind(code_hash)
        .bind(expires_at)
        .bind(now)
        .bind(HOUR)
        .bind(MAX_CODES_PER_HOUR)
        .execute(&self.writer)
        .await?
        .rows_affected();
        Ok(if changed == 1 {
            Issued::Issued
        } else {
            Issued::RateLimited
        })
    }

    async fn use_code(
        &self,
        user: &str,
        purpose: &str,
        code_hash: &str,
        now: Millis,
    ) -> Result<CodeCheck, StoreError> {
        // The right, live, untired code is spent (expired now, the row kept for the
        // hourly count); otherwise a live code counts a wrong try.
        let used = sqlx::query(
            "UPDATE account_codes SET expires_at = 0
              WHERE user_id = ?1 AND purpose = ?2 AND code_hash = ?3
                AND expires_at > ?4 AND tries < ?5",
        )
        .bind(user)
        .bind(purpose)
        .bind(code_hash)
        .bind(now)
        .bind(MAX_CODE_TRIES)
        .execute(&self.writer)
        .await?
        .rows_affected();
        if used == 1 {
            return Ok(CodeCheck::Valid);
        }
        sqlx::query(
            "UPDATE account_codes SET tries = tries + 1
              WHERE user_id = ?1 AND purpose = ?2 AND expires_at > ?3",
        )
        .bind(user)
        .bind(purpose)
        .bind(now)
        .execute(&self.writer)
        .await?;
        Ok(CodeCheck::Invalid)
    }
}
