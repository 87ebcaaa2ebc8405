//! Object bytes: the blob store trait.

use async_trait::async_trait;
use bytes::Bytes;
use easel_core::{Bucket, ObjectRef};
use futures::stream::BoxStream;

use crate::StoreError;

/// What a completed write stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PutOutcome {
    /// Bytes written.
    pub size: u64,
    /// Hex SHA-256 of the bytes.
    pub sha256: String,
}

/// What the store says of an object without reading it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobStat {
    /// Size in bytes.
    pub size: u64,
}

/// A stream of an object's bytes.
pub type ByteStream = BoxStream<'static, Result<Bytes, StoreError>>;

/// Object bytes. Writes are atomic: a reader sees the whole object or nothing.
#[async_trait]
pub trait Blobs: Send + Sync {
    /// Stores `bytes` at `object` as `content_type`, replacing what was there.
    async fn put(
        &self,
        object: &ObjectRef,
        bytes: Bytes,
        content_type: &str,
    ) -> Result<PutOutcome, StoreError>;

    /// Stores a stream of chunks as `content_type`, refusing (and storing nothing) past
    /// `max_bytes`.
    async fn put_stream(
        &self,
        object: &ObjectRef,
        body: BoxStream<'static, Result<Bytes, std::io::Error>>,
        max_bytes: u64,
        content_type: &str,
    ) -> Result<PutOutcome, StoreError>;

    /// Reads a whole object. [`StoreError::NotFound`] when absent.
    async fn get(&self, object: &ObjectRef) -> Result<Bytes, StoreError>;

    /// Reads at most the first `len` bytes (all of a shorter object).
    /// [`StoreError::NotFound`] when absent.
    async fn get_head(&self, object: &ObjectRef, len: u64) -> Result<Bytes, StoreError>;

    /// Streams an object with its size. [`StoreError::NotFound`] when absent.
    async fn get_stream(&self, object: &ObjectRef) -> Result<(u64, ByteStream), StoreError>;

    /// The object's size without reading it. [`StoreError::NotFound`] when absent.
    async fn stat(&self, object: &ObjectRef) -> Result<BlobStat, StoreError>;

    /// Every object of a bucket with its size, in no particular order.
    fn list(&self, bucket: Bucket) -> BoxStream<'static, Result<(ObjectRef, u64), StoreError>>;

    /// The object that a bucket and key of the underlying store hold, when they are one
    /// of Easel's (store events name objects this way). Always `None` for stores whose
    /// clients never see such names (the filesystem).
    fn object_at(&self, store_bucket: &str, store_key: &str) -> Option<ObjectRef>;

    /// Deletes an object; deleting a missing object is not an error.
    async fn delete(&self, object: &ObjectRef) -> Result<(), StoreError>;
}
