//! [`Audit`] for SQLite.

use super::SqliteStore;
use crate::rows::{audit_columns, audit_from_row};
use crate::{Audit, AuditEvent, StoreError};
use async_trait::async_trait;

#[async_trait]
impl Audit for SqliteStore {
    async fn record_audit(&self, event: &AuditEvent) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO audit_log (at, event, principal, username, ip, user_agent, request_id, detail)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(event.at)
        .bind(&event.event)
        .bind(&event.principal)
        .bind(&event.username)
        .bind(&event.ip)
        .bind(&event.user_agent)
        .bind(&event.request_id)
        .bind(&event.detail)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    async fn list_audit(
        &self,
        principal: Option<&str>,
        limit: u32,
    ) -> Result<Vec<AuditEvent>, StoreError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            audit_columns!(),
            " FROM audit_log WHERE (?1 IS NULL OR principal = ?1) ORDER BY id DESC LIMIT ?2"
        ))
        .bind(principal)
        .bind(i64::from(limit))
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(audit_from_row).collect()
    }
}
