//! The embedded blob store: the local filesystem through `object_store`, one directory per
//! bucket (`<root>/<bucket>/<key>`). `object_store` writes to a staging file
//! (`<name>#<n>`) and renames it into place, so readers never see a partial object;
//! staging files a crash left behind are swept when the store opens (keys can never
//! contain `#`, so nothing else matches), once they are old enough that no other process
//! sharing the directory can still be writing them.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use easel_core::Bucket;
use object_store::ObjectStore;
use object_store::local::LocalFileSystem;

use crate::StoreError;
use crate::object_blobs::{ObjectBlobs, Place};

/// Staging files younger than this may belong to a write in progress in another process
/// sharing the directory: the sweep leaves them alone.
const STAGING_GRACE: std::time::Duration = std::time::Duration::from_secs(15 * 60);

impl ObjectBlobs {
    /// Opens (creating if needed) the filesystem store rooted at `root` and removes
    /// leftovers of interrupted writes.
    pub fn filesystem(root: &Path) -> Result<ObjectBlobs, StoreError> {
        for bucket in Bucket::ALL {
            std::fs::create_dir_all(root.join(bucket.as_str()))?;
        }
        let removed = remove_staging_files(root)?;
        if removed > 0 {
            tracing::warn!(removed, "removed staging files of interrupted writes");
        }
        let store: Arc<dyn ObjectStore> =
            Arc::new(LocalFileSystem::new_with_prefix(root)?.with_automatic_cleanup(true));
        let place = |bucket: Bucket| Place {
            store: store.clone(),
            prefix: Some(bucket.as_str().to_owned()),
        };
        Ok(ObjectBlobs::new(
            place(Bucket::Uploads),
            place(Bucket::Outputs),
            None,
        ))
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
