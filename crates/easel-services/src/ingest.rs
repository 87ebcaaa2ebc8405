//! Ingest: how an object arrives. Presigned upload URLs (the server picks the key
//! `uploads/[folder/]YYYY/MM/DD/<uuid>-<sanitized filename>` and binds the URL to the
//! content type, the size limit and the future owner), then the arrival itself: store
//! the bytes under the URL's limits, verify from the stored bytes that they are an image
//! of the declared type within the pixel limit, record the metadata, and fire the upload
//! triggers. Every failure after the bytes are stored deletes them, so a refused or
//! failed upload leaves no object behind.

use std::sync::Arc;

use chrono::{Datelike, Utc};
use easel_core::{
    Bucket, JobKind, ObjectKey, ObjectRef, Principal, now_millis, sanitize_filename,
    sanitize_folder,
};
use easel_image::{Limits, Pipeline};
use easel_store::{
    Blobs, ObjectMeta, Objects, PresignError, Presigner, PutOutcome, SignedRequest, StoreError,
    UploadRules,
};
use futures::stream::BoxStream;
use serde_json::json;

use crate::error::{ErrorKind, ServiceError, blocking};
use crate::jobs::submit::Charge;
use crate::jobs::{PipelineChoice, SubmitRequest, Submitter};

/// An upload trigger: a completed upload whose key starts with `prefix` enqueues a job
/// running `pipeline` (seed 004's S3 ObjectCreated → Lambda).
#[derive(Debug, Clone)]
pub struct TriggerRule {
    /// Key prefix, e.g. `uploads/photos/`.
    pub prefix: String,
    /// The preset name, when the rule names one.
    pub preset: Option<String>,
    /// The pipeline to run.
    pub pipeline: Pipeline,
}

/// Upload rules.
#[derive(Debug, Clone)]
pub struct UploadSettings {
    /// Largest upload accepted, in bytes.
    pub max_upload_bytes: u64,
    /// MIME types that may be uploaded.
    pub content_types: Vec<String>,
    /// Lifetime of upload URLs, in seconds.
    pub url_ttl_secs: i64,
}

/// What a client wants to upload.
#[derive(Debug, Clone)]
pub struct UploadRequest {
    /// The client's file name; only a sanitized form is kept.
    pub filename: String,
    /// The type the upload will send.
    pub content_type: String,
    /// Optional folder under `uploads/` (upload triggers match on it).
    pub folder: Option<String>,
    /// Optional announced size, checked against the limit up front.
    pub size: Option<u64>,
}

/// A signed upload URL.
#[derive(Debug, Clone)]
pub struct PresignedUpload {
    /// Where to PUT the bytes.
    pub url: String,
    /// The object the upload will create.
    pub object: ObjectRef,
    /// The content type the upload must send.
    pub content_type: String,
    /// The largest body accepted.
    pub max_bytes: u64,
    /// When the URL stops working, Unix seconds.
    pub expires: i64,
}

/// An upload as it arrives: the verified URL's grant, what the client declared, and the
/// body.
pub struct ArrivingUpload {
    /// What the presigned URL grants (its upload rules included).
    pub grant: SignedRequest,
    /// The `Content-Type` the client sent.
    pub content_type: Option<String>,
    /// The length the client announced.
    pub announced_bytes: Option<u64>,
    /// The bytes.
    pub body: BoxStream<'static, Result<bytes::Bytes, std::io::Error>>,
}

/// An object that arrived and was accepted.
#[derive(Debug, Clone)]
pub struct Ingested {
    /// Its recorded metadata.
    pub meta: ObjectMeta,
    /// Pixels, from the image's header.
    pub dimensions: (u32, u32),
    /// Jobs that upload triggers enqueued for it.
    pub triggered_jobs: Vec<String>,
}

/// Uploads: signing them and taking them in.
pub struct Ingest {
    blobs: Arc<dyn Blobs>,
    objects: Arc<dyn Objects>,
    presigner: Arc<Presigner>,
    submitter: Arc<Submitter>,
    limits: Arc<Limits>,
    triggers: Arc<Vec<TriggerRule>>,
    settings: UploadSettings,
}

/// A refused presigned URL: `Forbidden` with the presigner's code.
pub fn presign_refused(error: PresignError) -> ServiceError {
    ServiceError::new(ErrorKind::Forbidden, error.code(), error.to_string())
}

fn too_large(limit: u64) -> ServiceError {
    ServiceError::new(
        ErrorKind::TooLarge,
        "payload-too-large",
        format!("the upload is larger than the {limit} bytes this URL allows"),
    )
}

impl Ingest {
    /// Ingest into `blobs` and `objects`; triggers submit through `submitter`.
    pub fn new(
        blobs: Arc<dyn Blobs>,
        objects: Arc<dyn Objects>,
        presigner: Arc<Presigner>,
        submitter: Arc<Submitter>,
        limits: Arc<Limits>,
        triggers: Arc<Vec<TriggerRule>>,
        settings: UploadSettings,
    ) -> Ingest {
        Ingest {
            blobs,
            objects,
            presigner,
            submitter,
            limits,
            triggers,
            settings,
        }
    }

    /// A presigned PUT URL for one upload by `owner`, who will own the object.
    pub fn presign_upload(
        &self,
        owner: &Principal,
        request: UploadRequest,
    ) -> Result<PresignedUpload, ServiceError> {
        let settings = &self.settings;
        let content_type = request.content_type.trim().to_ascii_lowercase();
        if !settings.content_types.contains(&content_type) {
            return Err(ServiceError::new(
                ErrorKind::UnsupportedMedia,
                "unsupported-content-type",
                format!(
                    "`{}` cannot be uploaded; accepted types: {}",
                    request.content_type,
                    settings.content_types.join(", ")
                ),
            ));
        }
        if let Some(size) = request.size
            && size > settings.max_upload_bytes
        {
            return Err(ServiceError::new(
                ErrorKind::TooLarge,
                "payload-too-large",
                format!(
                    "{size} bytes is over the upload limit of {} bytes",
                    settings.max_upload_bytes
                ),
            ));
        }
        let object = upload_object(&request)?;
        let signed = self.presigner.sign(&SignedRequest {
            method: "PUT".to_owned(),
            object: object.clone(),
            expires: now_millis() / 1000 + settings.url_ttl_secs,
            upload: Some(UploadRules {
                content_type: content_type.clone(),
                max_bytes: settings.max_upload_bytes,
                owner: owner.id.clone(),
            }),
        });
        Ok(PresignedUpload {
            url: signed.url,
            object,
            content_type,
            max_bytes: settings.max_upload_bytes,
            expires: signed.expires,
        })
    }

    /// Checks a presigned URL for `method` on `bucket`/`key` with its raw query.
    pub fn verify_url(
        &self,
        method: &str,
        bucket: &str,
        key: &str,
        raw_query: &str,
    ) -> Result<SignedRequest, ServiceError> {
        self.presigner
            .verify(method, bucket, key, raw_query, now_millis() / 1000)
            .map_err(presign_refused)
    }

    /// Stores an upload under its URL's rules, then takes it in ([`Ingest::arrived`]).
    pub async fn receive(&self, upload: ArrivingUpload) -> Result<Ingested, ServiceError> {
        let Some(rules) = upload.grant.upload.clone() else {
            return Err(presign_refused(PresignError::Malformed(
                "not an upload URL".to_owned(),
            )));
        };
        check_declared(
            &rules,
            upload.content_type.as_deref(),
            upload.announced_bytes,
        )?;
        let object = &upload.grant.object;
        let stored = match self
            .blobs
            .put_stream(object, upload.body, rules.max_bytes)
            .await
        {
            Ok(stored) => stored,
            Err(StoreError::TooLarge { limit }) => return Err(too_large(limit)),
            Err(StoreError::Io(error)) => {
                return Err(ServiceError::invalid(
                    "upload-interrupted",
                    format!("the upload body could not be read to the end: {error}"),
                ));
            }
            Err(other) => return Err(other.into()),
        };
        self.arrived(object, &rules, stored).await
    }

    /// Takes in an object whose bytes are stored: verifies them, records the metadata
    /// and fires the triggers. On any failure the bytes are deleted.
    pub async fn arrived(
        &self,
        object: &ObjectRef,
        rules: &UploadRules,
        stored: PutOutcome,
    ) -> Result<Ingested, ServiceError> {
        let accepted = self.record(object, rules, stored).await;
        let (meta, dimensions) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                if let Err(cleanup) = self.blobs.delete(object).await {
                    tracing::error!(error = %cleanup, object = %object.s3_url(), "could not delete a refused upload");
                }
                return Err(error);
            }
        };
        let triggered_jobs = self.fire_triggers(object, &rules.owner).await;
        Ok(Ingested {
            meta,
            dimensions,
            triggered_jobs,
        })
    }

    /// Verifies the stored bytes and records the object's metadata.
    async fn record(
        &self,
        object: &ObjectRef,
        rules: &UploadRules,
        stored: PutOutcome,
    ) -> Result<(ObjectMeta, (u32, u32)), ServiceError> {
        let bytes = self.blobs.get(object).await?;
        let declared = rules.content_type.clone();
        let limits = self.limits.clone();
        let dimensions = blocking(move || inspect(&bytes, &declared, &limits)).await??;
        let meta = ObjectMeta {
            object: object.clone(),
            owner: rules.owner.clone(),
            content_type: rules.content_type.clone(),
            size: stored.size,
            sha256: stored.sha256,
            dimensions: Some(dimensions),
            source: None,
            job_id: None,
            created_at: now_millis(),
        };
        self.objects.put_object(&meta).await?;
        Ok((meta, dimensions))
    }

    /// Enqueues a job for every trigger whose prefix matches the new object's key. A
    /// trigger that cannot be submitted is logged; the upload itself has succeeded.
    async fn fire_triggers(&self, object: &ObjectRef, owner: &str) -> Vec<String> {
        let owner = Principal {
            id: owner.to_owned(),
            admin: false,
        };
        let mut jobs = Vec::new();
        for rule in self.triggers.iter() {
            if !object.key.as_str().starts_with(&rule.prefix) {
                continue;
            }
            let request = SubmitRequest {
                kind: JobKind::Process,
                sources: vec![object.clone()],
                pipeline: PipelineChoice::Resolved(rule.pipeline.clone(), rule.preset.clone()),
                metadata: json!({ "trigger": rule.prefix }),
                idempotency_key: None,
            };
            match self
                .submitter
                .submit_charged(&owner, request, Charge::Free)
                .await
            {
                Ok(submitted) => jobs.push(submitted.job.id.to_string()),
                Err(error) => tracing::error!(
                    prefix = %rule.prefix,
                    code = error.code(),
                    "upload trigger could not enqueue its job"
                ),
            }
        }
        jobs
    }
}

/// The object an upload will create: `uploads/[folder/]YYYY/MM/DD/<uuid>-<name>`.
fn upload_object(request: &UploadRequest) -> Result<ObjectRef, ServiceError> {
    if request.filename.len() > 1024 {
        return Err(ServiceError::invalid(
            "invalid-filename",
            "the file name is longer than 1024 bytes",
        ));
    }
    let folder = sanitize_folder(request.folder.as_deref().unwrap_or(""))
        .map_err(|e| ServiceError::invalid("invalid-folder", format!("folder: {e}")))?;
    let today = Utc::now();
    let mut raw = String::from("uploads/");
    if !folder.is_empty() {
        raw.push_str(&folder);
        raw.push('/');
    }
    raw.push_str(&format!(
        "{:04}/{:02}/{:02}/{}-{}",
        today.year(),
        today.month(),
        today.day(),
        uuid::Uuid::new_v4(),
        sanitize_filename(&request.filename)
    ));
    let key = ObjectKey::parse(&raw)
        .map_err(|e| ServiceError::invalid("invalid-filename", e.to_string()))?;
    Ok(ObjectRef {
        bucket: Bucket::Uploads,
        key,
    })
}

/// Checks what the client declared against the URL's rules, before reading the body.
fn check_declared(
    rules: &UploadRules,
    content_type: Option<&str>,
    announced: Option<u64>,
) -> Result<(), ServiceError> {
    let sent = content_type.map(|v| v.trim().to_ascii_lowercase());
    if sent.as_deref() != Some(rules.content_type.as_str()) {
        return Err(ServiceError::new(
            ErrorKind::UnsupportedMedia,
            "content-type-mismatch",
            format!(
                "this URL accepts only `Content-Type: {}`; the request sent {}",
                rules.content_type,
                sent.map_or("none".to_owned(), |s| format!("`{s}`"))
            ),
        ));
    }
    if announced.is_some_and(|n| n > rules.max_bytes) {
        return Err(too_large(rules.max_bytes));
    }
    Ok(())
}

/// Checks from the bytes' header that they are an image of the declared type within
/// the pixel limit, and returns its dimensions. The body is never decoded here.
fn inspect(bytes: &[u8], declared: &str, limits: &Limits) -> Result<(u32, u32), ServiceError> {
    let sniffed = easel_image::sniff(bytes);
    if !sniffed.is_some_and(|f| f.matches_mime(declared)) {
        return Err(ServiceError::new(
            ErrorKind::UnsupportedMedia,
            "content-mismatch",
            format!(
                "the uploaded bytes are not a {declared} image{}",
                sniffed.map_or(String::new(), |f| format!(" (they look like {})", f.mime()))
            ),
        ));
    }
    let unreadable = |e: easel_image::ImageError| {
        ServiceError::new(ErrorKind::Unprocessable, e.code(), e.to_string())
    };
    let info = easel_image::probe(bytes).map_err(unreadable)?;
    limits
        .check_pixels(info.width, info.height)
        .map_err(unreadable)?;
    Ok((info.width, info.height))
}
