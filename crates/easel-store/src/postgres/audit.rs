//! [`Audit`] for PostgreSQL.

use async_trait::async_trait;
use sqlx::{Postgres, QueryBuilder};

use super::PgStore;
use crate::rows::{audit_columns, audit_from_row};
use crate::{Audit, AuditEvent, StoreError};

#[async_trait]
impl Audit for PgStore {
    async fn record_audit(&self, event: &AuditEvent) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO audit_log (at, event, principal, username, ip, user_agent, request_id, detail)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(event.at)
        .bind(&event.event)
        .bind(&event.principal)
        .bind(&event.username)
        .bind(&event.ip)
        .bind(&event.user_agent)
        .bind(&event.request_id)
        .bind(&event.detail)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn list_audit(
        &self,
        principal: Option<&str>,
        limit: u32,
    ) -> Result<Vec<AuditEvent>, StoreError> {
        // Built per filter, so one principal's page uses the (principal, id) index.
        let mut sql =
            QueryBuilder::<Postgres>::new(concat!("SELECT ", audit_columns!(), " FROM audit_log"));
        if let Some(principal) = principal {
            sql.push(" WHERE principal = ").push_bind(principal);
        }
        sql.push(" ORDER BY id DESC LIMIT ")
            .push_bind(i64::from(limit));
        let rows = sql.build().fetch_all(&self.pool).await?;
        rows.iter().map(audit_from_row).collect()
    }
}
