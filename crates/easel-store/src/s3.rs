//! S3 and S3-compatible stores (AWS, MinIO, Garage, Ceph, R2, s3s): where the logical
//! buckets live, from an `s3://` URL, and the store's own SigV4 presigned URLs.
//!
//! `s3://photos?endpoint=http://127.0.0.1:9000&region=us-east-1&path_style=true` keeps
//! both logical buckets in the bucket `photos`, under the prefixes `uploads/` and
//! `outputs/`; `&outputs_bucket=renders` puts outputs in a bucket of their own (then no
//! bucket prefix is used), and `&prefix=easel` nests everything one level deeper.
//! Credentials are found the way AWS tools find them (the `AWS_*` environment, web
//! identity, ECS and EC2 instance roles), unless configuration names them.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use easel_core::{Bucket, ObjectRef};
use http::{HeaderName, HeaderValue, Method};
use object_store::aws::{AmazonS3, AmazonS3Builder, AmazonS3ConfigKey};
use object_store::path::Path as StorePath;
use object_store::signer::{SignedUrlOptions, Signer};
use object_store::{BackoffConfig, ClientOptions, ObjectStore, ObjectStoreExt, RetryConfig};

use crate::object_blobs::{ObjectBlobs, Place};
use crate::signing::now_secs;
use crate::{SignedUrl, StoreError, UploadUrl, UrlSigner};

/// The longest a SigV4 presigned URL may live (S3's limit: seven days).
const MAX_URL_TTL_SECS: i64 = 7 * 24 * 3600;

/// Where Easel's objects live in S3, as an `s3://` URL says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Location {
    /// The bucket of uploads (and of outputs, unless `outputs_bucket` is set).
    pub bucket: String,
    /// A separate bucket for outputs.
    pub outputs_bucket: Option<String>,
    /// A key prefix inside the bucket(s).
    pub prefix: Option<String>,
    /// The endpoint of an S3-compatible store (AWS when absent).
    pub endpoint: Option<String>,
    /// The region (from the environment, else `us-east-1`, when absent).
    pub region: Option<String>,
    /// Path-style requests (`endpoint/bucket/key`), as most S3-compatible stores want.
    pub path_style: bool,
}

impl S3Location {
    /// Reads an `s3://bucket?endpoint=…&region=…&path_style=true&outputs_bucket=…&prefix=…`
    /// URL. The message names what is wrong.
    pub fn parse(raw: &str) -> Result<S3Location, String> {
        let url = url::Url::parse(raw).map_err(|e| format!("`{raw}` is not a URL: {e}"))?;
        if url.scheme() != "s3" {
            return Err(format!("`{raw}` is not an s3:// URL"));
        }
        let bucket = url
            .host_str()
            .filter(|b| !b.is_empty())
            .ok_or_else(|| format!("`{raw}` names no bucket: write s3://<bucket>"))?
            .to_owned();
        if !matches!(url.path(), "" | "/") {
            return Err(format!(
                "`{raw}`: put a key prefix in `?prefix=…`, not in the path"
            ));
        }
        let mut location = S3Location {
            bucket,
            outputs_bucket: None,
            prefix: None,
            endpoint: None,
            region: None,
            path_style: false,
        };
        for (name, value) in url.query_pairs() {
            let value = value.into_owned();
            match name.as_ref() {
                "endpoint" => location.endpoint = Some(value),
                "region" => location.region = Some(value),
                "outputs_bucket" => location.outputs_bucket = Some(value),
                "prefix" => {
                    let trimmed = value.trim_matches('/').to_owned();
                    location.prefix = (!trimmed.is_empty()).then_some(trimmed);
                }
                "path_style" => {
                    location.path_style = match value.as_str() {
                        "true" | "1" => true,
                        "false" | "0" => false,
                        other => {
                            return Err(format!("path_style must be true or false, not `{other}`"));
                        }
                    }
                }
                other => {
                    return Err(format!(
                        "unknown parameter `{other}` in `{raw}`; known: endpoint, region, \
                         path_style, outputs_bucket, prefix"
                    ));
                }
            }
        }
        Ok(location)
    }

    /// The S3 bucket a logical bucket lives in.
    pub fn bucket_name(&self, bucket: Bucket) -> &str {
        match (bucket, &self.outputs_bucket) {
            (Bucket::Outputs, Some(outputs)) => outputs,
            _ => &self.bucket,
        }
    }

    /// The key prefix a logical bucket's objects have in its S3 bucket.
    pub fn key_prefix(&self, bucket: Bucket) -> Option<String> {
        let logical = self
            .outputs_bucket
            .is_none()
            .then_some(bucket.as_str().to_owned());
        match (&self.prefix, logical) {
            (Some(prefix), Some(logical)) => Some(format!("{prefix}/{logical}")),
            (Some(prefix), None) => Some(prefix.clone()),
            (None, logical) => logical,
        }
    }

    /// The object an S3 bucket and key hold, when they are one of Easel's (an event
    /// notification names objects this way).
    pub fn object_at(&self, bucket_name: &str, key: &str) -> Option<ObjectRef> {
        Bucket::ALL.into_iter().find_map(|bucket| {
            if self.bucket_name(bucket) != bucket_name {
                return None;
            }
            let key = match self.key_prefix(bucket) {
                Some(prefix) => key.strip_prefix(&prefix)?.strip_prefix('/')?,
                None => key,
            };
            let key = easel_core::ObjectKey::parse(key).ok()?;
            Some(ObjectRef { bucket, key })
        })
    }
}

/// Credentials from configuration; absent fields fall back to the AWS environment.
#[derive(Clone, Default)]
pub struct S3Credentials {
    /// Access key id.
    pub access_key_id: Option<String>,
    /// Secret access key.
    pub secret_access_key: Option<String>,
    /// Session token of temporary credentials.
    pub session_token: Option<String>,
}

impl std::fmt::Debug for S3Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Credentials")
            .field("access_key_id", &self.access_key_id)
            .field(
                "secret_access_key",
                &self.secret_access_key.as_ref().map(|_| "***"),
            )
            .finish()
    }
}

/// An opened S3 store: the blobs and the signer of its URLs.
#[derive(Debug, Clone)]
pub struct S3Store {
    /// Object bytes.
    pub blobs: ObjectBlobs,
    /// The store's own presigned URLs.
    pub signer: S3Signer,
}

/// A bounded retry policy: an outage surfaces within seconds as a transient error (a
/// 503 with `Retry-After` at the API) instead of holding requests for minutes.
fn retry_policy() -> RetryConfig {
    RetryConfig {
        backoff: BackoffConfig {
            init_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(2),
            base: 2.0,
        },
        max_retries: 3,
        retry_timeout: Duration::from_secs(10),
    }
}

/// A client for `bucket`, and the region it signs for.
fn client(
    location: &S3Location,
    credentials: &S3Credentials,
    bucket: &str,
) -> Result<(AmazonS3, String), StoreError> {
    let mut builder = AmazonS3Builder::from_env()
        .with_bucket_name(bucket)
        .with_virtual_hosted_style_request(!location.path_style)
        .with_retry(retry_policy())
        .with_client_options(
            ClientOptions::new()
                .with_connect_timeout(Duration::from_secs(5))
                .with_timeout(Duration::from_secs(120))
                .with_allow_http(true),
        );
    if let Some(endpoint) = &location.endpoint {
        builder = builder.with_endpoint(endpoint);
    }
    if let Some(region) = &location.region {
        builder = builder.with_region(region);
    }
    if let Some(id) = &credentials.access_key_id {
        builder = builder.with_access_key_id(id);
    }
    if let Some(secret) = &credentials.secret_access_key {
        builder = builder.with_secret_access_key(secret);
    }
    if let Some(token) = &credentials.session_token {
        builder = builder.with_token(token);
    }
    let region = builder
        .get_config_value(&AmazonS3ConfigKey::Region)
        .unwrap_or_else(|| "us-east-1".to_owned());
    Ok((builder.build()?, region))
}

impl S3Store {
    /// Connects to the bucket(s) `location` names. Nothing is requested yet: a wrong
    /// endpoint or credential shows on first use (see [`S3Store::check`]).
    pub fn open(location: &S3Location, credentials: &S3Credentials) -> Result<S3Store, StoreError> {
        // HTTPS to the store uses rustls with `ring`, as every other client in Easel; an
        // error only means a provider is already installed, which is as good.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let (uploads, region) =
            client(location, credentials, location.bucket_name(Bucket::Uploads))?;
        let uploads = Arc::new(uploads);
        let outputs = match &location.outputs_bucket {
            Some(name) => Arc::new(client(location, credentials, name)?.0),
            None => uploads.clone(),
        };
        let place = |store: &Arc<AmazonS3>, bucket: Bucket| Place {
            store: store.clone() as Arc<dyn ObjectStore>,
            prefix: location.key_prefix(bucket),
        };
        let blobs = ObjectBlobs::new(
            place(&uploads, Bucket::Uploads),
            place(&outputs, Bucket::Outputs),
            Some(location.clone()),
        );
        let signer = S3Signer {
            blobs: blobs.clone(),
            region,
            uploads,
            outputs,
        };
        Ok(S3Store { blobs, signer })
    }

    /// Asks the store for a key that cannot exist: fails when the endpoint, the bucket or
    /// the credentials are wrong, so a process can refuse to start with the reason.
    pub async fn check(&self) -> Result<(), StoreError> {
        for bucket in Bucket::ALL {
            let (store, path) = self.blobs.locate(&ObjectRef {
                bucket,
                key: easel_core::ObjectKey::parse(".easel-startup-check")
                    .map_err(|e| StoreError::Corrupt(e.to_string()))?,
            })?;
            match store.head(&path).await {
                Ok(_) | Err(object_store::Error::NotFound { .. }) => {}
                Err(other) => return Err(StoreError::Blob(other)),
            }
        }
        Ok(())
    }
}

/// Signs SigV4 URLs to the store itself.
#[derive(Debug, Clone)]
pub struct S3Signer {
    blobs: ObjectBlobs,
    /// The region URLs are signed for.
    region: String,
    uploads: Arc<AmazonS3>,
    outputs: Arc<AmazonS3>,
}

impl S3Signer {
    /// The store holding `bucket`'s objects.
    fn client(&self, bucket: Bucket) -> &Arc<AmazonS3> {
        match bucket {
            Bucket::Uploads => &self.uploads,
            Bucket::Outputs => &self.outputs,
        }
    }

    /// A PUT URL that binds `headers` (with `content-length`, which object_store's signer
    /// refuses to sign), signed here with `aws-sigv4` and the store's own credentials.
    async fn sign_put_with_length(
        &self,
        object: &ObjectRef,
        ttl_secs: i64,
        headers: &[(HeaderName, HeaderValue)],
    ) -> Result<(String, i64), StoreError> {
        use aws_sigv4::http_request::{
            SignableBody, SignableRequest, SignatureLocation, SigningSettings, sign,
        };
        let ttl = ttl_secs.clamp(1, MAX_URL_TTL_SECS);
        let signing_error = |e: &dyn std::fmt::Display| {
            StoreError::Corrupt(format!("cannot sign an upload URL: {e}"))
        };
        // The object's URL exactly as the store addresses it: object_store's own signed
        // URL without its query.
        let (base, _) = self
            .sign(Method::PUT, object, ttl, &SignedUrlOptions::default())
            .await?;
        let base = base.split('?').next().unwrap_or_default().to_owned();
        let credential = self
            .client(object.bucket)
            .credentials()
            .get_credential()
            .await?;
        let identity = aws_credential_types::Credentials::new(
            credential.key_id.clone(),
            credential.secret_key.clone(),
            credential.token.clone(),
            None,
            "easel",
        )
        .into();
        let mut settings = SigningSettings::default();
        settings.signature_location = SignatureLocation::QueryParams;
        settings.expires_in = Some(Duration::from_secs(ttl as u64));
        let params = aws_sigv4::sign::v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name("s3")
            .time(std::time::SystemTime::now())
            .settings(settings)
            .build()
            .map_err(|e| signing_error(&e))?
            .into();
        let signable = SignableRequest::new(
            "PUT",
            &base,
            headers
                .iter()
                .map(|(n, v)| (n.as_str(), v.to_str().unwrap_or_default())),
            SignableBody::UnsignedPayload,
        )
        .map_err(|e| signing_error(&e))?;
        let (instructions, _) = sign(signable, &params)
            .map_err(|e| signing_error(&e))?
            .into_parts();
        let mut url = url::Url::parse(&base).map_err(|e| signing_error(&e))?;
        url.query_pairs_mut().extend_pairs(instructions.params());
        Ok((url.to_string(), now_secs() + ttl))
    }

    async fn sign(
        &self,
        method: Method,
        object: &ObjectRef,
        ttl_secs: i64,
        options: &SignedUrlOptions,
    ) -> Result<(String, i64), StoreError> {
        let ttl = ttl_secs.clamp(1, MAX_URL_TTL_SECS);
        let (_, path): (_, StorePath) = self.blobs.locate(object)?;
        let url = self
            .client(object.bucket)
            .signed_url_opts(method, &path, Duration::from_secs(ttl as u64), options)
            .await?;
        Ok((url.to_string(), now_secs() + ttl))
    }
}

fn header(name: &'static str, value: &str) -> Result<(HeaderName, HeaderValue), StoreError> {
    let value = HeaderValue::from_str(value)
        .map_err(|_| StoreError::Corrupt(format!("`{value}` cannot be sent as {name}")))?;
    Ok((HeaderName::from_static(name), value))
}

#[async_trait]
impl UrlSigner for S3Signer {
    async fn upload(&self, request: &UploadUrl) -> Result<SignedUrl, StoreError> {
        // The content type is always bound; the length too when the client announced it,
        // and then S3 refuses any other body size. Without it, the size limit is applied
        // when the upload is verified (the object is deleted if it is over).
        let mut headers = vec![header("content-type", &request.content_type)?];
        let (url, expires) = match request.size {
            Some(size) => {
                headers.push(header("content-length", &size.to_string())?);
                self.sign_put_with_length(&request.object, request.ttl_secs, &headers)
                    .await?
            }
            None => {
                let mut options = SignedUrlOptions::default();
                for (name, value) in &headers {
                    options = options.with_signed_header(name.clone(), value.clone());
                }
                self.sign(Method::PUT, &request.object, request.ttl_secs, &options)
                    .await?
            }
        };
        Ok(SignedUrl {
            url,
            expires,
            headers: headers
                .into_iter()
                .map(|(name, value)| {
                    (
                        name.as_str().to_owned(),
                        value.to_str().unwrap_or_default().to_owned(),
                    )
                })
                .collect(),
        })
    }

    async fn download(&self, object: &ObjectRef, ttl_secs: i64) -> Result<SignedUrl, StoreError> {
        let (url, expires) = self
            .sign(Method::GET, object, ttl_secs, &SignedUrlOptions::default())
            .await?;
        Ok(SignedUrl {
            url,
            expires,
            headers: Vec::new(),
        })
    }

    fn grant_in_url(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_bucket_holds_both_logical_buckets_under_prefixes() {
        let location = S3Location::parse(
            "s3://photos?endpoint=http://127.0.0.1:9000&region=eu-west-1&path_style=true",
        )
        .unwrap();
        assert_eq!(location.bucket_name(Bucket::Outputs), "photos");
        assert_eq!(
            location.key_prefix(Bucket::Uploads).as_deref(),
            Some("uploads")
        );
        assert_eq!(location.endpoint.as_deref(), Some("http://127.0.0.1:9000"));
        assert!(location.path_style);
        let object = location.object_at("photos", "outputs/job/a.png").unwrap();
        assert_eq!(object.bucket, Bucket::Outputs);
        assert_eq!(object.key.as_str(), "job/a.png");
        assert_eq!(location.object_at("other", "outputs/job/a.png"), None);
        assert_eq!(location.object_at("photos", "elsewhere/a.png"), None);
    }

    #[test]
    fn two_buckets_and_a_prefix() {
        let location = S3Location::parse("s3://in?outputs_bucket=out&prefix=/easel/").unwrap();
        assert_eq!(location.bucket_name(Bucket::Uploads), "in");
        assert_eq!(location.bucket_name(Bucket::Outputs), "out");
        assert_eq!(
            location.key_prefix(Bucket::Outputs).as_deref(),
            Some("easel")
        );
        let object = location.object_at("out", "easel/x/y.png").unwrap();
        assert_eq!(object.bucket, Bucket::Outputs);
    }

    #[test]
    fn mistakes_are_named() {
        for (raw, says) in [
            ("http://bucket", "not an s3:// URL"),
            ("s3://", "names no bucket"),
            ("s3://b/some/path", "?prefix="),
            ("s3://b?path_style=yes", "true or false"),
            ("s3://b?endpiont=x", "unknown parameter `endpiont`"),
        ] {
            let error = S3Location::parse(raw).unwrap_err();
            assert!(error.contains(says), "{raw}: {error}");
        }
    }
}
