//! Which blob store a process uses, from `storage.blobs_url`, and opening it with the
//! URL signer that goes with it: Easel's own HMAC URLs for the filesystem, the store's
//! SigV4 URLs for S3.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, bail};
use easel_store::{Blobs, ObjectBlobs, S3Credentials, S3Location, S3Store, UrlSigner};

use super::StorageConfig;

/// The blob store a URL names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlobBackend {
    /// A directory (the embedded default).
    Filesystem(PathBuf),
    /// S3 or an S3-compatible store.
    S3(S3Location),
}

impl BlobBackend {
    /// Where the objects are, for messages and logs.
    pub fn display(&self) -> String {
        match self {
            BlobBackend::Filesystem(path) => format!("file://{}", path.display()),
            BlobBackend::S3(location) => {
                let endpoint = location.endpoint.as_deref().unwrap_or("AWS");
                format!("s3://{} at {endpoint}", location.bucket)
            }
        }
    }
}

/// An opened blob store.
pub struct OpenedBlobs {
    /// Object bytes.
    pub blobs: Arc<dyn Blobs>,
    /// The store's own URL signer (S3); `None`: Easel signs URLs to its own `/o/…` route.
    pub store_signer: Option<Arc<dyn UrlSigner>>,
}

impl StorageConfig {
    /// The blob store configured: `blobs_url`, or the `objects` directory in the data
    /// directory.
    pub fn blob_backend(&self) -> anyhow::Result<BlobBackend> {
        let Some(url) = self.blobs_url.as_deref().map(str::trim) else {
            return Ok(BlobBackend::Filesystem(self.data_dir.join("objects")));
        };
        if let Some(path) = url.strip_prefix("file://") {
            if path.is_empty() {
                bail!(
                    "storage.blobs_url `{url}` names no directory: write file:///path/to/objects"
                );
            }
            return Ok(BlobBackend::Filesystem(PathBuf::from(path)));
        }
        if url.starts_with("s3://") {
            let location =
                S3Location::parse(url).map_err(|e| anyhow::anyhow!("storage.blobs_url: {e}"))?;
            return Ok(BlobBackend::S3(location));
        }
        bail!("storage.blobs_url `{url}` is neither file://PATH nor s3://BUCKET?…")
    }

    /// S3 credentials from the configuration (absent ones come from the environment).
    pub fn s3_credentials(&self) -> anyhow::Result<S3Credentials> {
        let secret = match (&self.s3_secret_access_key, &self.s3_secret_access_key_file) {
            (Some(_), Some(_)) => {
                bail!("set storage.s3_secret_access_key or s3_secret_access_key_file, not both")
            }
            (Some(secret), None) => Some(secret.clone()),
            (None, Some(file)) => Some(
                std::fs::read_to_string(file)
                    .with_context(|| format!("cannot read {}", file.display()))?
                    .trim()
                    .to_owned(),
            ),
            (None, None) => None,
        };
        Ok(S3Credentials {
            access_key_id: self.s3_access_key_id.clone(),
            secret_access_key: secret,
            session_token: self.s3_session_token.clone(),
        })
    }

    /// Opens the blob store. An S3 store is asked once, so that a wrong endpoint,
    /// bucket or credential stops the process with the reason.
    pub async fn open_blobs(&self) -> anyhow::Result<OpenedBlobs> {
        let backend = self.blob_backend()?;
        let shown = backend.display();
        let opened = match &backend {
            BlobBackend::Filesystem(root) => OpenedBlobs {
                blobs: Arc::new(
                    ObjectBlobs::filesystem(root)
                        .with_context(|| format!("cannot open the object store {shown}"))?,
                ),
                store_signer: None,
            },
            BlobBackend::S3(location) => {
                let store = S3Store::open(location, &self.s3_credentials()?)
                    .with_context(|| format!("cannot open the object store {shown}"))?;
                store
                    .check()
                    .await
                    .with_context(|| format!("cannot reach the object store {shown}"))?;
                OpenedBlobs {
                    blobs: Arc::new(store.blobs),
                    store_signer: Some(Arc::new(store.signer)),
                }
            }
        };
        tracing::info!(blobs = %shown, "object store open");
        Ok(opened)
    }
}
