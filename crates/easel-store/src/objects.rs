//! Object metadata: who owns an object, what it is, and where it came from.

use async_trait::async_trait;
use easel_core::{JobId, Millis, ObjectRef};

use crate::StoreError;

/// Metadata recorded for every stored object.
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectMeta {
    /// Where the object is.
    pub object: ObjectRef,
    /// The principal it belongs to.
    pub owner: String,
    /// MIME type.
    pub content_type: String,
    /// Size in bytes.
    pub size: u64,
    /// Hex SHA-256 of the bytes.
    pub sha256: String,
    /// Pixel dimensions, when known.
    pub dimensions: Option<(u32, u32)>,
    /// The original this object was derived from (outputs only).
    pub source: Option<ObjectRef>,
    /// The job that wrote it (outputs only).
    pub job_id: Option<JobId>,
    /// When it was stored.
    pub created_at: Millis,
}

/// Object metadata records.
#[async_trait]
pub trait Objects: Send + Sync {
    /// Records an object, replacing an earlier record at the same place.
    async fn put_object(&self, meta: &ObjectMeta) -> Result<(), StoreError>;

    /// Looks an object up.
    async fn get_object(&self, object: &ObjectRef) -> Result<Option<ObjectMeta>, StoreError>;

    /// Objects derived from `source`, oldest first.
    async fn derived_from(&self, source: &ObjectRef) -> Result<Vec<ObjectMeta>, StoreError>;

    /// Forgets an object's metadata; false when there was none.
    async fn delete_object(&self, object: &ObjectRef) -> Result<bool, StoreError>;
}
