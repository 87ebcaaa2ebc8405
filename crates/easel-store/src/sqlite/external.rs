//! [`ExternalPrincipals`] for SQLite.

use super::SqliteStore;
use crate::rows::{external_columns, principal_from_row};
use crate::{ExternalPrincipal, ExternalPrincipals, StoreError};
use async_trait::async_trait;
use easel_core::Millis;

#[async_trait]
impl ExternalPrincipals for SqliteStore {
    async fn external_principal(&self, id: &str) -> Result<Option<ExternalPrincipal>, StoreError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            external_columns!(),
            " FROM external_principals WHERE id = ?"
        ))
        .bind(id)
        .fetch_optional(&self.reader)
        .await?;
        row.as_ref().map(principal_from_row).transpose()
    }

    #[tracing::instrument(skip_all, fields(id = %principal.id))]
    async fn record_external_principal(
        &self,
        principal: &ExternalPrincipal,
    ) -> Result<ExternalPrincipal, StoreError> {
        let row = sqlx::query(concat!(
            "INSERT INTO external_principals (id, issuer, username, plan, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT (id) DO UPDATE SET
                issuer = excluded.issuer,
                username = excluded.username,
                updated_at = excluded.updated_at
             RETURNING ",
            external_columns!()
        ))
        .bind(&principal.id)
        .bind(&principal.issuer)
        .bind(&principal.username)
        .bind(&principal.plan)
        .bind(principal.created_at)
        .bind(principal.updated_at)
        .fetch_one(&self.writer)
        .await?;
        principal_from_row(&row)
    }

    async fn list_external_principals(&self) -> Result<Vec<ExternalPrincipal>, StoreError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            external_columns!(),
            " FROM external_principals ORDER BY created_at, id"
        ))
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(principal_from_row).collect()
    }

    async fn set_external_plan(
        &self,
        id: &str,
        plan: Option<&str>,
        now: Millis,
    ) -> Result<bool, StoreError> {
        let done =
            sqlx::query("UPDATE external_principals SET plan = ?, updated_at = ? WHERE id = ?")
                .bind(plan)
                .bind(now)
                .bind(id)
                .execute(&self.writer)
                .await?;
        Ok(done.rows_affected() == 1)
    }
}
