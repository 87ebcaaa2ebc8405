//! Ingest: how an object arrives. Presigned upload URLs (the server picks the key
//! `uploads/[folder/]YYYY/MM/DD/<uuid>-<sanitized filename>`, binds the URL to the
//! content type, the size limit and the future owner), then the arrival itself. On the
//! filesystem store the bytes come through Easel's own route ([`Ingest::receive`]), and
//! the URL's grant is recorded as the expected upload then; on S3 the upload is
//! recorded when its URL is signed, the bytes go straight to the store, and Easel
//! hears of them from the client ([`Ingest::complete`]), from a store event
//! ([`Ingest::object_created`]) or from the reconciler ([`Ingest::reconcile`]). All of
//! them end in one claim of the expected upload, so exactly one verifies the stored
//! bytes (an image of the declared type, within the size and pixel limits), records the
//! metadata and fires the upload triggers. A refused upload's bytes are deleted.

mod reconcile;
mod verify;

pub use reconcile::Reconciled;

use std::sync::Arc;

use chrono::{Datelike, Utc};
use easel_core::{
    Bucket, JobKind, ObjectKey, ObjectRef, Principal, now_millis, sanitize_filename,
    sanitize_folder,
};
use easel_image::{Limits, Pipeline};
use easel_store::{
    Blobs, ExpectedUpload, ObjectMeta, Objects, PresignError, Presigner, SignedRequest, StoreError,
    UploadRules, UploadState, UploadUrl, Uploads, UrlSigner,
};
use futures::stream::BoxStream;
use serde_json::json;
use sha2::Digest;

use crate::error::{ErrorKind, ServiceError};
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
    /// The shared secret the store's event notifications carry; `None`: events are off.
    pub events_token: Option<String>,
    /// The reconciler looks for an unreported upload this long after its URL was handed
    /// out (a client normally reports sooner), and again this long after each miss.
    pub recheck_ms: i64,
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
    /// Optional announced size, checked against the limit up front (and bound into S3
    /// URLs, so the store refuses any other size).
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
    /// Headers the PUT must send (lowercase names), the content type among them.
    pub headers: Vec<(String, String)>,
    /// The largest body accepted.
    pub max_bytes: u64,
    /// When the URL stops working, Unix seconds.
    pub expires: i64,
}

/// An upload as it arrives through Easel's own route: the verified URL's grant, what
/// the client declared, and the body.
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

/// One record of an object store's event notification, naming the object as the store
/// does (its bucket, and its key already decoded from the wire).
#[derive(Debug, Clone)]
pub struct StoreEvent {
    /// The event's name, e.g. `ObjectCreated:Put` (MinIO: `s3:ObjectCreated:Put`).
    pub name: String,
    /// The store's bucket.
    pub bucket: String,
    /// The key in that bucket.
    pub key: String,
}

/// What became of a batch of store events.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EventsTally {
    /// Uploads taken in (now or by an earlier report).
    pub ingested: u32,
    /// Uploads refused and deleted.
    pub refused: u32,
    /// Records that were not `ObjectCreated` events or named no expected upload.
    pub ignored: u32,
}

/// What became of one store event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EventOutcome {
    /// The upload was taken in (now or by an earlier report).
    Ingested,
    /// The upload was refused and deleted.
    Refused,
    /// No expected upload is there.
    Ignored,
}

/// What ingest reads and writes.
pub struct IngestPorts {
    /// Object bytes.
    pub blobs: Arc<dyn Blobs>,
    /// Object metadata.
    pub objects: Arc<dyn Objects>,
    /// Expected uploads.
    pub uploads: Arc<dyn Uploads>,
    /// Signs the URLs clients upload to (Easel's own, or the store's).
    pub signer: Arc<dyn UrlSigner>,
    /// Checks Easel's own `/o/…` URLs.
    pub presigner: Arc<Presigner>,
    /// Image moderation of uploads; `None` when it is off.
    pub moderation: Option<Arc<easel_moderation::ImageModeration>>,
}

/// Uploads: signing them and taking them in.
pub struct Ingest {
    ports: IngestPorts,
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

fn upload_not_found(object: &ObjectRef) -> ServiceError {
    ServiceError::not_found(
        "upload-not-found",
        format!(
            "no upload of yours is expected at {}; ask for an upload URL first",
            object.s3_url()
        ),
    )
}

impl Ingest {
    /// The upload rules (the OpenAPI document states them).
    pub fn settings(&self) -> &UploadSettings {
        &self.settings
    }

    /// Ingest through `ports`; triggers submit through `submitter`.
    pub fn new(
        ports: IngestPorts,
        submitter: Arc<Submitter>,
        limits: Arc<Limits>,
        triggers: Arc<Vec<TriggerRule>>,
        settings: UploadSettings,
    ) -> Ingest {
        Ingest {
            ports,
            submitter,
            limits,
            triggers,
            settings,
        }
    }

    /// A presigned PUT URL for one upload by `owner`, who will own the object. The
    /// upload is recorded as expected.
    pub async fn presign_upload(
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
        let signed = self
            .ports
            .signer
            .upload(&UploadUrl {
                object: object.clone(),
                content_type: content_type.clone(),
                max_bytes: settings.max_upload_bytes,
                size: request.size,
                owner: owner.id.clone(),
                ttl_secs: settings.url_ttl_secs,
            })
            .await?;
        // Easel's own URLs bring their grant back with the PUT, which records the upload
        // then; an upload to the store itself is recorded now, or Easel could not take
        // it in (and presigning stays a pure computation on the embedded store).
        if !self.ports.signer.grant_in_url() {
            let now = now_millis();
            self.ports
                .uploads
                .expect_upload(&ExpectedUpload {
                    object: object.clone(),
                    owner: owner.id.clone(),
                    content_type: content_type.clone(),
                    max_bytes: settings.max_upload_bytes,
                    expires_at: signed.expires * 1000,
                    state: UploadState::Pending,
                    failure: None,
                    next_check_at: now + settings.recheck_ms,
                    created_at: now,
                })
                .await?;
        }
        Ok(PresignedUpload {
            url: signed.url,
            object,
            content_type,
            headers: signed.headers,
            max_bytes: settings.max_upload_bytes,
            expires: signed.expires,
        })
    }

    /// Checks one of Easel's own presigned URLs for `method` on `bucket`/`key` with its
    /// raw query.
    pub fn verify_url(
        &self,
        method: &str,
        bucket: &str,
        key: &str,
        raw_query: &str,
    ) -> Result<SignedRequest, ServiceError> {
        self.ports
            .presigner
            .verify(method, bucket, key, raw_query, now_millis() / 1000)
            .map_err(presign_refused)
    }

    /// Stores an upload that came through Easel's own route under its URL's rules, then
    /// takes it in.
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
        self.expect_signed(object, &rules, upload.grant.expires)
            .await?;
        match self
            .ports
            .blobs
            .put_stream(object, upload.body, rules.max_bytes, &rules.content_type)
            .await
        {
            Ok(_) => {}
            Err(StoreError::TooLarge { limit }) => return Err(too_large(limit)),
            Err(StoreError::Io(error)) => {
                return Err(ServiceError::invalid(
                    "upload-interrupted",
                    format!("the upload body could not be read to the end: {error}"),
                ));
            }
            Err(other) => return Err(other.into()),
        }
        self.take_in(object).await
    }

    /// Records the expected upload from the URL's grant (Easel's own URLs are not
    /// recorded when signed), unless it is recorded already.
    async fn expect_signed(
        &self,
        object: &ObjectRef,
        rules: &UploadRules,
        expires: i64,
    ) -> Result<(), ServiceError> {
        if self.ports.uploads.get_upload(object).await?.is_some() {
            return Ok(());
        }
        let now = now_millis();
        let expected = ExpectedUpload {
            object: object.clone(),
            owner: rules.owner.clone(),
            content_type: rules.content_type.clone(),
            max_bytes: rules.max_bytes,
            expires_at: expires * 1000,
            state: UploadState::Pending,
            failure: None,
            next_check_at: now + self.settings.recheck_ms,
            created_at: now,
        };
        match self.ports.uploads.expect_upload(&expected).await {
            Ok(()) | Err(StoreError::Conflict) => Ok(()),
            Err(error) => Err(error.into()),
        }
    }

    /// The client says its upload to `object` is done (`POST /v1/uploads/complete`):
    /// takes it in, or answers how it ended when it already was.
    pub async fn complete(
        &self,
        caller: &Principal,
        object: &ObjectRef,
    ) -> Result<Ingested, ServiceError> {
        match self.ports.uploads.get_upload(object).await? {
            Some(expected) if expected.owner == caller.id || caller.admin => {}
            // On the embedded store an upload is recorded when its PUT arrives.
            None if self.ports.signer.grant_in_url() => {
                return Err(ServiceError::new(
                    ErrorKind::Conflict,
                    "upload-not-arrived",
                    format!(
                        "nothing was uploaded to {} yet; PUT the bytes to the upload URL first",
                        object.s3_url()
                    ),
                ));
            }
            _ => return Err(upload_not_found(object)),
        }
        self.take_in(object).await
    }

    /// The store's event notifications: checks their shared secret (`presented`), then
    /// takes in every created object that is an expected upload. A refused upload is an
    /// answer, not an error; an outage is (so the store delivers the batch again).
    pub async fn store_events(
        &self,
        presented: Option<&str>,
        events: Vec<StoreEvent>,
    ) -> Result<EventsTally, ServiceError> {
        self.check_events_token(presented)?;
        let mut tally = EventsTally::default();
        for event in events {
            let outcome = if event.name.contains("ObjectCreated:") {
                self.object_created(&event.bucket, &event.key).await?
            } else {
                EventOutcome::Ignored
            };
            match outcome {
                EventOutcome::Ingested => tally.ingested += 1,
                EventOutcome::Refused => tally.refused += 1,
                EventOutcome::Ignored => tally.ignored += 1,
            }
        }
        Ok(tally)
    }

    /// Checks the shared secret of the store's event notifications.
    fn check_events_token(&self, presented: Option<&str>) -> Result<(), ServiceError> {
        let Some(expected) = &self.settings.events_token else {
            return Err(ServiceError::not_found(
                "events-disabled",
                "storage event notifications are not enabled: set storage.events_token",
            ));
        };
        // Compared as digests, so the time taken says nothing about the token.
        let digest = |token: &str| sha2::Sha256::digest(token.as_bytes());
        match presented {
            Some(token) if digest(token) == digest(expected) => Ok(()),
            _ => Err(ServiceError::new(
                ErrorKind::Unauthenticated,
                "invalid-events-token",
                "the event notification did not carry the configured storage.events_token",
            )),
        }
    }

    /// The store says an object was created in `store_bucket` at `store_key` (an S3
    /// event notification). Objects Easel expects no upload for are ignored (outputs,
    /// objects other tools wrote); a refused upload is an answer, not an error.
    async fn object_created(
        &self,
        store_bucket: &str,
        store_key: &str,
    ) -> Result<EventOutcome, ServiceError> {
        let Some(object) = self.ports.blobs.object_at(store_bucket, store_key) else {
            return Ok(EventOutcome::Ignored);
        };
        if self.ports.uploads.get_upload(&object).await?.is_none() {
            return Ok(EventOutcome::Ignored);
        }
        match self.take_in(&object).await {
            Ok(_) => Ok(EventOutcome::Ingested),
            Err(error) if error.kind() == ErrorKind::Unavailable => Err(error),
            Err(error) if error.code() == "upload-not-arrived" => Ok(EventOutcome::Ignored),
            Err(error) if error.code() == "upload-in-progress" => Ok(EventOutcome::Ingested),
            Err(_) => Ok(EventOutcome::Refused),
        }
    }

    /// Takes in the objects among `sources` that `owner` uploaded straight to the store
    /// and nobody reported yet, so that a job can name an upload right after its PUT.
    /// Nothing to do on the embedded store, where the PUT itself takes the upload in (so
    /// job submission costs no extra lookups there).
    pub async fn ingest_sources(
        &self,
        owner: &Principal,
        sources: &[ObjectRef],
    ) -> Result<(), ServiceError> {
        if self.ports.signer.grant_in_url() {
            return Ok(());
        }
        for source in sources {
            if source.bucket != Bucket::Uploads
                || self.ports.objects.get_object(source).await?.is_some()
            {
                continue;
            }
            match self.ports.uploads.get_upload(source).await? {
                Some(expected)
                    if expected.owner == owner.id
                        && matches!(
                            expected.state,
                            UploadState::Pending | UploadState::Ingesting
                        ) =>
                {
                    self.take_in(source).await?;
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Enqueues a job for every trigger whose prefix matches the new object's key. Each
    /// job's idempotency key is derived from the object and the rule, so a trigger that
    /// fires again (a process died between recording and settling) makes no second
    /// job. A trigger that cannot be submitted is logged; the upload itself succeeded.
    async fn fire_triggers(&self, object: &ObjectRef, owner: &str) -> Vec<String> {
        let owner = Principal {
            id: owner.to_owned(),
            admin: false,
        };
        let mut jobs = Vec::new();
        for (index, rule) in self.triggers.iter().enumerate() {
            if !object.key.as_str().starts_with(&rule.prefix) {
                continue;
            }
            let request = SubmitRequest {
                kind: JobKind::Process,
                sources: vec![object.clone()],
                pipeline: PipelineChoice::Resolved(rule.pipeline.clone(), rule.preset.clone()),
                metadata: json!({ "trigger": rule.prefix }),
                idempotency_key: Some(trigger_key(object, index)),
                callback_url: None,
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

/// The idempotency key of trigger `index`'s job for `object`: a hash, since keys are
/// short and object keys are not.
fn trigger_key(object: &ObjectRef, index: usize) -> easel_core::IdempotencyKey {
    let digest = sha2::Sha256::digest(format!("{}\n{index}", object.s3_url()));
    let raw = format!("trigger-{}", hex::encode(&digest[..16]));
    easel_core::IdempotencyKey::parse(raw.as_bytes()).expect("a hex key is a valid idempotency key")
}

/// The object an upload will create: `uploads/[folder/]YYYY/MM/DD/<uuid>-<name>`.
fn upload_object(request: &UploadRequest) -> Result<ObjectRef, ServiceError> {
    // Characters, as the document's `maxLength` counts (only a sanitized ASCII form of
    // at most 100 characters goes into the key).
    if request.filename.chars().count() > 1024 {
        return Err(ServiceError::invalid(
            "invalid-filename",
            "the file name is longer than 1024 characters",
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
