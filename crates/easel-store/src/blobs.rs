//! Object bytes: the blob store trait.

use async_trait::async_trait;
use bytes::Bytes;
use easel_core::ObjectRef;
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

/// Object bytes. Writes are atomic: a reader sees the whole object or nothing.
#[async_trait]
pub trait Blobs: Send + Sync {
    /// Stores `bytes` at `object`, replacing what was there.
    async fn put(&self, object: &ObjectRef, bytes: Bytes) -> Result<PutOutcome, StoreError>;

    /// Stores a stream of chunks, refusing (and storing nothing) past `max_bytes`.
    async fn put_stream(
        &self,
        object: &ObjectRef,
        body: BoxStream<'static, Result<Bytes, std::io::Error>>,
        max_bytes: u64,
    ) -> Result<PutOutcome, StoreError>;

    /// Reads a whole object. [`StoreError::NotFound`] when absent.
    async fn get(&self, object: &ObjectRef) -> Result<Bytes, StoreError>;

    /// Streams an object with its size. [`StoreError::NotFound`] when absent.
    async fn get_stream(
        &self,
        object: &ObjectRef,
    ) -> Result<(u64, BoxStream<'static, Result<Bytes, StoreError>>), StoreError>;

    /// Deletes an object; deleting a missing object is not an error.
    async fn delete(&self, object: &ObjectRef) -> Result<(), StoreError>;
}
