//! Principals of external issuers (a Cognito user pool, any OIDC issuer): they have no
//! local account, so Easel records each one the first time it sees a token of theirs.
//! The record is what an administrator assigns a usage plan to, and what
//! `easel user list` shows next to local accounts.

use async_trait::async_trait;
use easel_core::Millis;

use crate::StoreError;

/// An external principal as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalPrincipal {
    /// The token's `sub`: the principal id that owns their resources.
    pub id: String,
    /// The issuer (`iss`) that last vouched for them.
    pub issuer: String,
    /// The username the issuer's tokens carry, when they carry one.
    pub username: Option<String>,
    /// The assigned usage plan (`None`: the default plan).
    pub plan: Option<String>,
    /// First seen.
    pub created_at: Millis,
    /// Last change of issuer, username or plan.
    pub updated_at: Millis,
}

/// External principal records.
#[async_trait]
pub trait ExternalPrincipals: Send + Sync {
    /// The principal `id`, if it was ever seen.
    async fn external_principal(&self, id: &str) -> Result<Option<ExternalPrincipal>, StoreError>;

    /// Records a sighting: inserts the principal, or updates its issuer and username
    /// (keeping its plan and first-seen time). Returns the record as stored.
    async fn record_external_principal(
        &self,
        principal: &ExternalPrincipal,
    ) -> Result<ExternalPrincipal, StoreError>;

    /// Every recorded principal, first seen first.
    async fn list_external_principals(&self) -> Result<Vec<ExternalPrincipal>, StoreError>;

    /// Assigns a plan (`None`: the default); false when the principal was never seen.
    async fn set_external_plan(
        &self,
        id: &str,
        plan: Option<&str>,
        now: Millis,
    ) -> Result<bool, StoreError>;
}
