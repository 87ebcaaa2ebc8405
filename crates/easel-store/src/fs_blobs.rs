//! The embedded blob store: the local filesystem through `object_store`, one directory per
//! bucket. `object_store` writes to a staging file (`<name>#<n>`) and renames it into
//! place, so readers never see a partial object; staging files a crash left behind are
//! swept when the store opens (keys can never contain `#`, so nothing else matches),
//! once they are old enough that no other process sharing the directory can still be
//! writing them.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use easel_core::{Bucket, ObjectRef};
use futures::StreamExt;
use futures::stream::BoxStream;
use object_store::local::LocalFileSystem;
use object_store::path::Path as StorePath;
use object_store::{ObjectStoreExt, PutPayload};
use sha2::{Digest, Sha256};

use crate::{Blobs, PutOutcome, StoreError};

/// Staging files younger than this may belong to a write in progress in another process
/// sharing the directory: the sweep leaves them alone.
const STAGING_GRACE: std::time::Duration = std::time::Duration::from_secs(15 * 60);

/// Parts of a streamed upload are buffered to this size before each write.
const PART_BYTES: usize = 1 << 20;

/// Objects as files under a root directory: `<root>/<bucket>/<key>`.
#[derive(Debug, Clone)]
pub struct FsBlobs {
    store: Arc<LocalFileSystem>,
}

impl FsBlobs {
    /// Opens (creating if needed) the store rooted at `root` and removes leftovers of
    /// interrupted writes.
    pub fn open(root: &Path) -> Result<Self, StoreError> {
        for bucket in Bucket::ALL {
            std::fs::create_dir_all(root.join(bucket.as_str()))?;
        }
        let removed = remove_staging_files(root)?;
        if removed > 0 {
            tracing::warn!(removed, "removed staging files of interrupted writes");
        }
        let store = LocalFileSystem::new_with_prefix(root)?.with_automatic_cleanup(true);
        Ok(FsBlobs {
            store: Arc::new(store),
        })
    }
}

fn location(object: &ObjectRef) -> Result<StorePath, StoreError> {
    let raw = format!("{}/{}", object.bucket, object.key);
    StorePath::parse(raw).map_err(|e| StoreError::Blob(e.into()))
}

fn map_not_found(error: object_store::Error) -> StoreError {
    match error {
        object_store::Error::NotFound { .. } => StoreError::NotFound,
        other => StoreError::Blob(other),
    }
}

/// Whether a staging file was last written longer ago than [`STAGING_GRACE`].
fn abandoned(entry: &std::fs::DirEntry) -> bool {
    entry
        .metadata()
        .and_then(|m| m.modified())
        .ok()
        .and_then(|modified| modified.elapsed().ok())
        .is_some_and(|age| age > STAGING_GRACE)
}

fn remove_staging_files(root: &Path) -> Result<usize, std::io::Error> {
    let mut removed = 0;
    let mut pending: Vec<PathBuf> = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let entry = entry?;
            let path = entry.path();
            if entry.file_type()?.is_dir() {
                pending.push(path);
            } else if entry.file_name().to_string_lossy().contains('#') && abandoned(&entry) {
                match std::fs::remove_file(&path) {
                    Ok(()) => removed += 1,
                    // Renamed into place or swept by another process meanwhile.
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(e),
                }
            }
        }
    }
    Ok(removed)
}

#[async_trait]
impl Blobs for FsBlobs {
    async fn put(&self, object: &ObjectRef, bytes: Bytes) -> Result<PutOutcome, StoreError> {
        let outcome = PutOutcome {
            size: bytes.len() as u64,
            sha256: hex::encode(Sha256::digest(&bytes)),
        };
        self.store
            .put(&location(object)?, PutPayload::from(bytes))
            .await?;
        Ok(outcome)
    }

    async fn put_stream(
        &self,
        object: &ObjectRef,
        mut body: BoxStream<'static, Result<Bytes, std::io::Error>>,
        max_bytes: u64,
    ) -> Result<PutOutcome, StoreError> {
        let mut upload = self.store.put_multipart(&location(object)?).await?;
        let mut hasher = Sha256::new();
        let mut size: u64 = 0;
        let mut part = BytesMut::new();
        let result: Result<(), StoreError> = async {
            while let Some(chunk) = body.next().await {
                let chunk = chunk?;
                size += chunk.len() as u64;
                if size > max_bytes {
                    return Err(StoreError::TooLarge { limit: max_bytes });
                }
                hasher.update(&chunk);
                part.extend_from_slice(&chunk);
                if part.len() >= PART_BYTES {
                    upload.put_part(part.split().freeze().into()).await?;
                }
            }
            if !part.is_empty() {
                upload.put_part(part.split().freeze().into()).await?;
            }
            Ok(())
        }
        .await;
        match result {
            Ok(()) => {
                upload.complete().await?;
                Ok(PutOutcome {
                    size,
                    sha256: hex::encode(hasher.finalize()),
                })
            }
            Err(error) => {
                if let Err(abort_error) = upload.abort().await {
                    tracing::warn!(%abort_error, "could not remove an aborted upload");
                }
                Err(error)
            }
        }
    }

    async fn get(&self, object: &ObjectRef) -> Result<Bytes, StoreError> {
        let result = self
            .store
            .get(&location(object)?)
            .await
            .map_err(map_not_found)?;
        result.bytes().await.map_err(map_not_found)
    }

    async fn get_stream(
        &self,
        object: &ObjectRef,
    ) -> Result<(u64, BoxStream<'static, Result<Bytes, StoreError>>), StoreError> {
        let result = self
            .store
            .get(&location(object)?)
            .await
            .map_err(map_not_found)?;
        let size = result.meta.size;
        let stream = result
            .into_stream()
            .map(|r| r.map_err(map_not_found))
            .boxed();
        Ok((size, stream))
    }

    async fn delete(&self, object: &ObjectRef) -> Result<(), StoreError> {
        match self.store.delete(&location(object)?).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(other) => Err(StoreError::Blob(other)),
        }
    }
}
