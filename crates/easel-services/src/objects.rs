//! Reading stored objects: the bytes behind a verified download URL, and an object's
//! metadata with what was derived from it (another principal's object answers like a
//! missing one).

use std::str::FromStr;
use std::sync::Arc;

use bytes::Bytes;
use easel_core::{Bucket, ObjectKey, ObjectRef, Principal};
use easel_store::{Blobs, ObjectMeta, Objects, SignedRequest, StoreError};
use futures::stream::BoxStream;

use crate::error::ServiceError;

/// An object ready to stream.
pub struct Download {
    /// Its metadata.
    pub meta: ObjectMeta,
    /// Bytes in all.
    pub size: u64,
    /// The bytes.
    pub body: BoxStream<'static, Result<Bytes, StoreError>>,
}

/// Object reads.
pub struct ObjectAccess {
    blobs: Arc<dyn Blobs>,
    objects: Arc<dyn Objects>,
}

fn object_not_found(message: impl Into<String>) -> ServiceError {
    ServiceError::not_found("object-not-found", message)
}

impl ObjectAccess {
    /// Reads from `objects` (metadata) and `blobs` (bytes).
    pub fn new(blobs: Arc<dyn Blobs>, objects: Arc<dyn Objects>) -> ObjectAccess {
        ObjectAccess { blobs, objects }
    }

    /// The object a verified download URL grants.
    pub async fn open(&self, grant: &SignedRequest) -> Result<Download, ServiceError> {
        let missing = || object_not_found("the object does not exist");
        let meta = self
            .objects
            .get_object(&grant.object)
            .await?
            .ok_or_else(missing)?;
        let (size, body) = match self.blobs.get_stream(&grant.object).await {
            Ok(found) => found,
            Err(StoreError::NotFound) => return Err(missing()),
            Err(other) => return Err(other.into()),
        };
        Ok(Download { meta, size, body })
    }

    /// The object `bucket`/`key` of `caller`'s, with the objects derived from it.
    pub async fn describe(
        &self,
        caller: &Principal,
        bucket: &str,
        key: &str,
    ) -> Result<(ObjectMeta, Vec<ObjectMeta>), ServiceError> {
        let missing = || object_not_found(format!("no object {bucket}/{key}"));
        let object = ObjectRef {
            bucket: Bucket::from_str(bucket).map_err(|_| missing())?,
            key: ObjectKey::parse(key).map_err(|_| missing())?,
        };
        let meta = match self.objects.get_object(&object).await? {
            Some(meta) if caller.can_access(&meta.owner) => meta,
            _ => return Err(missing()),
        };
        let derived = self.objects.derived_from(&object).await?;
        Ok((meta, derived))
    }
}
