//! Presigned URLs as a port: who signs the URLs clients use to upload and download
//! objects. On the filesystem store Easel signs its own `/o/…` URLs (HMAC, see
//! `presign.rs`); on S3 the URLs are the store's own SigV4 URLs and Easel never sees the
//! bytes. Either way a client gets a URL, an expiry and the headers it must send.

use async_trait::async_trait;
use easel_core::{ObjectRef, now_millis};

use crate::{Presigner, SignedRequest, StoreError, UploadRules};

/// An upload URL to sign.
#[derive(Debug, Clone)]
pub struct UploadUrl {
    /// The object the upload will create.
    pub object: ObjectRef,
    /// The only `Content-Type` the PUT may send.
    pub content_type: String,
    /// The most bytes the upload may have.
    pub max_bytes: u64,
    /// The exact size the client announced, when it did: S3 URLs then bind it.
    pub size: Option<u64>,
    /// Who will own the object.
    pub owner: String,
    /// Lifetime, seconds.
    pub ttl_secs: i64,
}

/// A signed URL with what the client must send along.
#[derive(Debug, Clone)]
pub struct SignedUrl {
    /// The absolute URL.
    pub url: String,
    /// Expiry, Unix seconds.
    pub expires: i64,
    /// Headers the request must carry, lowercase names.
    pub headers: Vec<(String, String)>,
}

/// Signs object URLs.
#[async_trait]
pub trait UrlSigner: Send + Sync {
    /// A URL to PUT one upload to.
    async fn upload(&self, request: &UploadUrl) -> Result<SignedUrl, StoreError>;

    /// A URL to GET (or HEAD) an object, valid for `ttl_secs`.
    async fn download(&self, object: &ObjectRef, ttl_secs: i64) -> Result<SignedUrl, StoreError>;

    /// Whether an upload URL carries its own grant (owner, type, size limit) back to
    /// Easel, as Easel's own URLs do: then nothing needs recording until the bytes
    /// arrive. URLs to the store itself do not, so their uploads are recorded when
    /// signed.
    fn grant_in_url(&self) -> bool;
}

/// Seconds since the Unix epoch, now.
pub(crate) fn now_secs() -> i64 {
    now_millis() / 1000
}

#[async_trait]
impl UrlSigner for Presigner {
    async fn upload(&self, request: &UploadUrl) -> Result<SignedUrl, StoreError> {
        let signed = self.sign(&SignedRequest {
            method: "PUT".to_owned(),
            object: request.object.clone(),
            expires: now_secs() + request.ttl_secs,
            upload: Some(UploadRules {
                content_type: request.content_type.clone(),
                max_bytes: request.max_bytes,
                owner: request.owner.clone(),
            }),
        });
        Ok(SignedUrl {
            url: signed.url,
            expires: signed.expires,
            headers: vec![("content-type".to_owned(), request.content_type.clone())],
        })
    }

    async fn download(&self, object: &ObjectRef, ttl_secs: i64) -> Result<SignedUrl, StoreError> {
        let signed = self.sign(&SignedRequest {
            method: "GET".to_owned(),
            object: object.clone(),
            expires: now_secs() + ttl_secs,
            upload: None,
        });
        Ok(SignedUrl {
            url: signed.url,
            expires: signed.expires,
            headers: Vec::new(),
        })
    }

    fn grant_in_url(&self) -> bool {
        true
    }
}
