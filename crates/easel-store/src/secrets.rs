//! Named secrets shared by every process of a deployment (token signing keys, presign
//! keys, the access-key secret), kept in the metadata database rather than in a data
//! directory that other machines cannot see. Values are opaque bytes: sealing them at
//! rest is the caller's business.

use async_trait::async_trait;
use easel_core::Millis;

use crate::StoreError;

/// A stored secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSecret {
    /// Its name, e.g. `token-signing/00000001733300000000`.
    pub name: String,
    /// The stored bytes.
    pub value: Vec<u8>,
    /// When it was stored.
    pub created_at: Millis,
}

/// Named secrets, created once and never updated in place.
#[async_trait]
pub trait Secrets: Send + Sync {
    /// The secret `name`, inserting `candidate` first if there is none. Several
    /// processes racing get the same value: the first insert wins.
    async fn secret_or_insert(
        &self,
        name: &str,
        candidate: &[u8],
        now: Millis,
    ) -> Result<StoredSecret, StoreError>;

    /// Inserts a new secret; [`StoreError::Conflict`] if the name exists.
    async fn insert_secret(&self, name: &str, value: &[u8], now: Millis) -> Result<(), StoreError>;

    /// Every secret whose name starts with `prefix`, oldest first.
    async fn secrets_with_prefix(&self, prefix: &str) -> Result<Vec<StoredSecret>, StoreError>;

    /// Deletes a secret; false when there was none.
    async fn delete_secret(&self, name: &str) -> Result<bool, StoreError>;
}
