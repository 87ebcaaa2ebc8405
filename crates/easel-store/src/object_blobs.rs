//! [`Blobs`] over any `object_store` backend: the local filesystem (the embedded default)
//! or S3 and S3-compatible stores. Easel's two logical buckets each map to a place in a
//! store: a backend plus an optional key prefix. Large writes go up as multipart uploads,
//! which the store makes visible only when complete, so a failed write leaves nothing.

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use easel_core::{Bucket, ObjectKey, ObjectRef};
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use object_store::buffered::BufWriter;
use object_store::path::Path as StorePath;
use object_store::{Attribute, Attributes, GetOptions, GetRange, ObjectStore, ObjectStoreExt};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use crate::blobs::ByteStream;
use crate::{BlobStat, Blobs, PutOutcome, S3Location, StoreError};

/// Writes above this size go up as multipart uploads in parts of this size; smaller ones
/// in one request.
pub const MULTIPART_BYTES: usize = 8 << 20;

/// Where one logical bucket's objects live.
#[derive(Debug, Clone)]
pub(crate) struct Place {
    pub store: Arc<dyn ObjectStore>,
    /// Prepended to every key (`uploads`, or `<prefix>/uploads`), when set.
    pub prefix: Option<String>,
}

/// Object bytes in `object_store` backends.
#[derive(Debug, Clone)]
pub struct ObjectBlobs {
    uploads: Place,
    outputs: Place,
    /// Whether the backend keeps a `Content-Type` per object (S3 does, files do not).
    keeps_content_type: bool,
    /// Where the objects are in S3, to read store events' bucket and key names.
    location: Option<S3Location>,
}

impl ObjectBlobs {
    pub(crate) fn new(uploads: Place, outputs: Place, location: Option<S3Location>) -> ObjectBlobs {
        ObjectBlobs {
            uploads,
            outputs,
            keeps_content_type: location.is_some(),
            location,
        }
    }

    fn place(&self, bucket: Bucket) -> &Place {
        match bucket {
            Bucket::Uploads => &self.uploads,
            Bucket::Outputs => &self.outputs,
        }
    }

    /// The store and path an object lives at.
    pub(crate) fn locate(
        &self,
        object: &ObjectRef,
    ) -> Result<(&Arc<dyn ObjectStore>, StorePath), StoreError> {
        let place = self.place(object.bucket);
        let raw = match &place.prefix {
            Some(prefix) => format!("{prefix}/{}", object.key),
            None => object.key.as_str().to_owned(),
        };
        let path = StorePath::parse(raw).map_err(|e| StoreError::Blob(e.into()))?;
        Ok((&place.store, path))
    }

    fn attributes(&self, content_type: &str) -> Attributes {
        let mut attributes = Attributes::new();
        if self.keeps_content_type {
            attributes.insert(Attribute::ContentType, content_type.to_owned().into());
        }
        attributes
    }

    fn writer(
        &self,
        store: &Arc<dyn ObjectStore>,
        path: StorePath,
        content_type: &str,
    ) -> BufWriter {
        BufWriter::with_capacity(store.clone(), path, MULTIPART_BYTES)
            .with_attributes(self.attributes(content_type))
    }
}

pub(crate) fn map_not_found(error: object_store::Error) -> StoreError {
    match error {
        object_store::Error::NotFound { .. } => StoreError::NotFound,
        other => StoreError::Blob(other),
    }
}

/// Writes everything `body` yields through `writer`, hashing as it goes; aborts the
/// write (nothing becomes visible) on any error or past `max_bytes`.
async fn write_all(
    mut writer: BufWriter,
    mut body: BoxStream<'static, Result<Bytes, std::io::Error>>,
    max_bytes: u64,
) -> Result<PutOutcome, StoreError> {
    let mut hasher = Sha256::new();
    let mut size: u64 = 0;
    let written: Result<(), StoreError> = async {
        while let Some(chunk) = body.next().await {
            let chunk = chunk?;
            size += chunk.len() as u64;
            if size > max_bytes {
                return Err(StoreError::TooLarge { limit: max_bytes });
            }
            hasher.update(&chunk);
            writer.put(chunk).await?;
        }
        Ok(())
    }
    .await;
    if let Err(error) = written {
        if let Err(abort_error) = writer.abort().await {
            tracing::warn!(%abort_error, "could not clean up an aborted write");
        }
        return Err(error);
    }
    // A failed finish makes nothing visible either: the single PUT or the multipart
    // completion did not happen (an S3 store's lifecycle rule, or the filesystem
    // store's staging sweep, removes uploaded parts).
    writer.shutdown().await?;
    Ok(PutOutcome {
        size,
        sha256: hex::encode(hasher.finalize()),
    })
}

/// A store path back to the object it holds, when it is one of Easel's keys.
fn object_at(bucket: Bucket, prefix: Option<&str>, path: &StorePath) -> Option<ObjectRef> {
    let raw = path.as_ref();
    let key = match prefix {
        Some(prefix) => raw.strip_prefix(prefix)?.strip_prefix('/')?,
        None => raw,
    };
    // Staging files of interrupted filesystem writes are not objects.
    if key.contains('#') {
        return None;
    }
    ObjectKey::parse(key)
        .ok()
        .map(|key| ObjectRef { bucket, key })
}

#[async_trait]
impl Blobs for ObjectBlobs {
    async fn put(
        &self,
        object: &ObjectRef,
        bytes: Bytes,
        content_type: &str,
    ) -> Result<PutOutcome, StoreError> {
        let (store, path) = self.locate(object)?;
        let limit = bytes.len() as u64;
        let body = futures::stream::once(async move { Ok(bytes) }).boxed();
        write_all(self.writer(store, path, content_type), body, limit).await
    }

    async fn put_stream(
        &self,
        object: &ObjectRef,
        body: BoxStream<'static, Result<Bytes, std::io::Error>>,
        max_bytes: u64,
        content_type: &str,
    ) -> Result<PutOutcome, StoreError> {
        let (store, path) = self.locate(object)?;
        write_all(self.writer(store, path, content_type), body, max_bytes).await
    }

    async fn get(&self, object: &ObjectRef) -> Result<Bytes, StoreError> {
        let (store, path) = self.locate(object)?;
        let result = store.get(&path).await.map_err(map_not_found)?;
        result.bytes().await.map_err(map_not_found)
    }

    async fn get_head(&self, object: &ObjectRef, len: u64) -> Result<Bytes, StoreError> {
        let (store, path) = self.locate(object)?;
        let options = GetOptions {
            range: Some(GetRange::Bounded(0..len)),
            ..GetOptions::default()
        };
        match store.get_opts(&path, options).await {
            Ok(result) => result.bytes().await.map_err(map_not_found),
            // A range that starts past the end: an empty object.
            Err(object_store::Error::NotModified { .. }) => Ok(Bytes::new()),
            Err(error) => {
                // Some stores refuse a range past the end of a short object; read it all.
                let stat = store.head(&path).await.map_err(map_not_found)?;
                if stat.size <= len {
                    let result = store.get(&path).await.map_err(map_not_found)?;
                    return result.bytes().await.map_err(map_not_found);
                }
                Err(map_not_found(error))
            }
        }
    }

    async fn get_stream(&self, object: &ObjectRef) -> Result<(u64, ByteStream), StoreError> {
        let (store, path) = self.locate(object)?;
        let result = store.get(&path).await.map_err(map_not_found)?;
        let size = result.meta.size;
        let stream = result.into_stream().map_err(map_not_found).boxed();
        Ok((size, stream))
    }

    async fn stat(&self, object: &ObjectRef) -> Result<BlobStat, StoreError> {
        let (store, path) = self.locate(object)?;
        let meta = store.head(&path).await.map_err(map_not_found)?;
        Ok(BlobStat { size: meta.size })
    }

    fn list(&self, bucket: Bucket) -> BoxStream<'static, Result<(ObjectRef, u64), StoreError>> {
        let place = self.place(bucket).clone();
        let prefix = place.prefix.clone().map(StorePath::from);
        let listing = place.store.list(prefix.as_ref());
        listing
            .map_err(map_not_found)
            .try_filter_map(move |meta| {
                let found = object_at(bucket, place.prefix.as_deref(), &meta.location)
                    .map(|object| (object, meta.size));
                futures::future::ready(Ok(found))
            })
            .boxed()
    }

    fn object_at(&self, store_bucket: &str, store_key: &str) -> Option<ObjectRef> {
        self.location.as_ref()?.object_at(store_bucket, store_key)
    }

    async fn delete(&self, object: &ObjectRef) -> Result<(), StoreError> {
        let (store, path) = self.locate(object)?;
        match store.delete(&path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(other) => Err(StoreError::Blob(other)),
        }
    }
}
