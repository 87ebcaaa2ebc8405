//! Secrets shared by every process of a deployment (token signing keys, presign keys,
//! the access-key secret), kept in the metadata database so that processes started
//! anywhere agree on them without a shared file.

use async_trait::async_trait;
use easel_core::Millis;

use crate::StoreError;

/// A named secret shared by every process of a deployment (token signing keys, presign
/// keys, the access-key secret): stored as opaque bytes (encryption at rest is the
/// caller's), created once, never updated in place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSecret {
    /// Its name, unique in the deployment (e.g. `token-signing/2025-06`).
    pub name: String,
    /// The bytes, as given.
    pub value: Vec<u8>,
    /// When it was inserted.
    pub created_at: Millis,
}

/// Secret records.
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
