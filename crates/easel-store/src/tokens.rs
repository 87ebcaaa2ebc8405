//! Credentials other than passwords: rotating refresh tokens (grouped in families, one
//! per sign-in) and API keys. Only hashes are stored.

use async_trait::async_trait;
use easel_core::Millis;

use crate::StoreError;

/// A refresh token to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRefreshToken {
    /// Hex SHA-256 of the token.
    pub hash: String,
    /// The sign-in it descends from; reuse revokes the whole family.
    pub family: String,
    /// The account it signs in.
    pub user_id: String,
    /// Issue time.
    pub created_at: Millis,
    /// Expiry.
    pub expires_at: Millis,
}

/// What presenting a refresh token did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RotateOutcome {
    /// The token was live: it is now used and its successor is stored.
    Rotated {
        /// The account.
        user_id: String,
        /// The family.
        family: String,
    },
    /// The token had already been used: its whole family is now revoked.
    Reused {
        /// The account.
        user_id: String,
        /// The family.
        family: String,
    },
    /// Unknown, expired or revoked.
    Invalid,
}

/// Refresh token records.
#[async_trait]
pub trait RefreshTokens: Send + Sync {
    /// Stores the first token of a family.
    async fn insert_refresh_token(&self, token: &NewRefreshToken) -> Result<(), StoreError>;

    /// Marks the live token `hash` used and stores `next_hash` in its family with the
    /// family's original expiry. A used token presented again revokes the family.
    async fn rotate_refresh_token(
        &self,
        hash: &str,
        next_hash: &str,
        now: Millis,
    ) -> Result<RotateOutcome, StoreError>;

    /// Revokes the family of the token `hash`; returns the account it belonged to.
    async fn revoke_refresh_family(
        &self,
        hash: &str,
        now: Millis,
    ) -> Result<Option<String>, StoreError>;

    /// Revokes every refresh token of an account; returns how many were neither used
    /// nor revoked before.
    async fn revoke_user_refresh_tokens(
        &self,
        user_id: &str,
        now: Millis,
    ) -> Result<u64, StoreError>;
}

/// An API key as stored (without its secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKey {
    /// The key's id, used in URLs.
    pub id: String,
    /// The principal it acts as.
    pub owner: String,
    /// The owner's label.
    pub name: String,
    /// The visible beginning of the key (e.g. `ek_1a2b3c4d`), to recognize it.
    pub prefix: String,
    /// Creation time.
    pub created_at: Millis,
    /// When it was revoked.
    pub revoked_at: Option<Millis>,
}

/// API key records.
#[async_trait]
pub trait ApiKeys: Send + Sync {
    /// Stores a key with the hex SHA-256 of its full text.
    async fn create_api_key(&self, key: &ApiKey, hash: &str) -> Result<(), StoreError>;

    /// An owner's keys, newest first, revoked ones included.
    async fn list_api_keys(&self, owner: &str) -> Result<Vec<ApiKey>, StoreError>;

    /// A key by id.
    async fn api_key_by_id(&self, id: &str) -> Result<Option<ApiKey>, StoreError>;

    /// The live (not revoked) key whose full text hashes to `hash`.
    async fn live_api_key_by_hash(&self, hash: &str) -> Result<Option<ApiKey>, StoreError>;

    /// Revokes a key; false when it does not exist or was already revoked.
    async fn revoke_api_key(&self, id: &str, now: Millis) -> Result<bool, StoreError>;
}
