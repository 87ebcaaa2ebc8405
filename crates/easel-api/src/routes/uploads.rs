//! Presigned uploads (the ingest service picks the key and signs a PUT URL bound to the
//! content type, the size limit and the caller, who will own the object), in the native
//! and the seed's shapes; the client's report that an upload is done; and the object
//! store's `ObjectCreated` event notifications.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::routing::post;
use easel_core::{Bucket, ObjectKey, ObjectRef, Principal, rfc3339};
use easel_services::ingest::{Ingested, StoreEvent, UploadRequest};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::auth::Caller;
use crate::error::ErrorBody;
use crate::extract::JsonBody;
use crate::routes::{Access, Routes};
use crate::{ApiError, AppState};

pub fn routes() -> Routes {
    Routes::new()
        .add(
            "/v1/uploads",
            Access::Authenticated,
            &["POST"],
            post(presign_native),
        )
        .add(
            "/uploads/presign",
            Access::Authenticated,
            &["POST"],
            post(presign_seed),
        )
        .add(
            "/v1/uploads/complete",
            Access::Authenticated,
            &["POST"],
            post(complete),
        )
        .add(
            "/v1/storage/events",
            Access::Public,
            &["POST"],
            post(store_events),
        )
}

/// Body of both presign routes.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct PresignRequest {
    /// The client's file name (up to 1024 characters); only a sanitized form is kept.
    #[schema(example = "photo.png", max_length = 1024)]
    filename: String,
    /// The type the PUT will send (one of `server.upload_content_types`).
    #[schema(example = "image/png")]
    content_type: String,
    /// Optional folder under `uploads/` (upload triggers match on it): up to 8 segments of
    /// 1 to 64 ASCII letters, digits, `.`, `-` and `_`, none `.` or `..`.
    #[serde(default)]
    folder: Option<String>,
    /// Optional announced size, checked against the limit up front.
    #[serde(default)]
    size: Option<u64>,
}

/// A signed upload.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct PresignedUpload {
    /// PUT the bytes here.
    url: String,
    /// Always `PUT`.
    #[schema(value_type = String, example = "PUT")]
    method: &'static str,
    /// Always `uploads`.
    bucket: Bucket,
    /// The key the server chose; jobs name the upload by it.
    key: ObjectKey,
    /// Headers the PUT must send: `content-type`, and on S3 `content-length` when `size`
    /// was given.
    #[schema(value_type = std::collections::BTreeMap<String, String>)]
    headers: serde_json::Value,
    /// The largest body the URL accepts.
    max_bytes: u64,
    /// When the URL stops working (RFC 3339).
    expires_at: String,
}

/// Seed 002's answer.
#[derive(Debug, Serialize, ToSchema)]
struct SeedPresigned {
    /// PUT the bytes here.
    url: String,
    /// The key the server chose.
    key: ObjectKey,
    /// Always `uploads`.
    bucket: Bucket,
}

/// Errors both presign routes share.
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)] // only described, never built: the handlers answer `ApiError`
enum PresignErrors {
    /// `invalid-filename` or `invalid-folder`.
    #[response(status = 400)]
    BadName(ErrorBody),
    /// `payload-too-large`: the announced `size` is over the upload limit.
    #[response(status = 413)]
    TooLarge(ErrorBody),
    /// `unsupported-content-type`: not a type Easel accepts.
    #[response(status = 415)]
    BadType(ErrorBody),
}

/// A presigned PUT URL for one upload; the server picks the key, the caller will own
/// the object.
#[utoipa::path(post, path = "/v1/uploads", tag = "uploads", request_body = PresignRequest,
    responses((status = 201, description = "The signed upload", body = PresignedUpload), PresignErrors))]
async fn presign_native(
    State(state): State<AppState>,
    Caller(caller): Caller,
    JsonBody(request): JsonBody<PresignRequest>,
) -> Result<(StatusCode, Json<PresignedUpload>), ApiError> {
    let upload = presign(&state, &caller, request).await?;
    Ok((StatusCode::CREATED, Json(upload)))
}

/// Seed 002's shape: `{url, key, bucket}`.
#[utoipa::path(post, path = "/uploads/presign", tag = "seed", request_body = PresignRequest,
    responses((status = 200, description = "The signed upload", body = SeedPresigned), PresignErrors))]
async fn presign_seed(
    State(state): State<AppState>,
    Caller(caller): Caller,
    JsonBody(request): JsonBody<PresignRequest>,
) -> Result<Json<SeedPresigned>, ApiError> {
    let upload = presign(&state, &caller, request).await?;
    Ok(Json(SeedPresigned {
        url: upload.url,
        key: upload.key,
        bucket: upload.bucket,
    }))
}

async fn presign(
    state: &AppState,
    owner: &Principal,
    request: PresignRequest,
) -> Result<PresignedUpload, ApiError> {
    let request = UploadRequest {
        filename: request.filename,
        content_type: request.content_type,
        folder: request.folder,
        size: request.size,
    };
    let upload = state.services.ingest.presign_upload(owner, request).await?;
    Ok(PresignedUpload {
        url: upload.url,
        method: "PUT",
        bucket: upload.object.bucket,
        key: upload.object.key,
        headers: upload
            .headers
            .into_iter()
            .map(|(name, value)| (name, Value::String(value)))
            .collect::<serde_json::Map<_, _>>()
            .into(),
        max_bytes: upload.max_bytes,
        expires_at: rfc3339(upload.expires * 1000),
    })
}

/// Which upload is done.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CompleteRequest {
    /// Always `uploads`.
    bucket: Bucket,
    /// The key `POST /v1/uploads` returned.
    key: ObjectKey,
}

/// An upload that was taken in: stored, verified, recorded.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct StoredUpload {
    bucket: Bucket,
    key: ObjectKey,
    /// Bytes stored.
    size: u64,
    /// Hex SHA-256 (also the `ETag` of Easel's own downloads).
    sha256: String,
    content_type: String,
    /// Pixels, read from the image's header.
    width: u32,
    /// Pixels.
    height: u32,
    /// Jobs that upload triggers enqueued for this object (empty when another report
    /// of the same upload already took it in).
    triggered_jobs: Vec<String>,
}

impl From<Ingested> for StoredUpload {
    fn from(ingested: Ingested) -> Self {
        let meta = ingested.meta;
        StoredUpload {
            bucket: meta.object.bucket,
            key: meta.object.key,
            size: meta.size,
            sha256: meta.sha256,
            content_type: meta.content_type,
            width: ingested.dimensions.0,
            height: ingested.dimensions.1,
            triggered_jobs: ingested.triggered_jobs,
        }
    }
}

/// Reports that the PUT to an upload URL finished. Easel verifies the stored object
/// (size, type, pixels), records it and fires the upload triggers; reporting the same
/// upload again answers the same result and fires nothing. Needed on S3, where Easel
/// does not see the PUT (the store's events and a reconciler are the fallbacks);
/// harmless on the filesystem store.
#[utoipa::path(post, path = "/v1/uploads/complete", tag = "uploads", request_body = CompleteRequest,
    responses(
        (status = 200, description = "Taken in", body = StoredUpload),
        (status = 404, description = "`upload-not-found`: no upload of the caller's is expected there", body = ErrorBody),
        (status = 409, description = "`upload-not-arrived` (nothing stored yet: PUT first), `upload-in-progress` (with `Retry-After`) or `upload-expired`", body = ErrorBody),
        (status = 413, description = "`payload-too-large`: the stored object is over the limit; it was deleted", body = ErrorBody),
        (status = 415, description = "`content-mismatch`: the bytes are not the declared type; they were deleted", body = ErrorBody),
        (status = 422, description = "The image header is unreadable or over `limits.max_pixels`; the object was deleted", body = ErrorBody),
        (status = 503, description = "`store-unavailable`: storage is down, with `Retry-After`; report again later", body = ErrorBody),
    ))]
async fn complete(
    State(state): State<AppState>,
    Caller(caller): Caller,
    JsonBody(request): JsonBody<CompleteRequest>,
) -> Result<Json<StoredUpload>, ApiError> {
    let object = ObjectRef {
        bucket: request.bucket,
        key: request.key,
    };
    let ingested = state.services.ingest.complete(&caller, &object).await?;
    Ok(Json(ingested.into()))
}

/// S3 event notifications as AWS, MinIO, Garage and Ceph send them: `Records`, each
/// with `eventName` and `s3.bucket.name` / `s3.object.key` (URL-encoded).
#[derive(Debug, Deserialize, ToSchema)]
struct StoreEvents {
    #[serde(rename = "Records", default)]
    records: Vec<StoreEventRecord>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct StoreEventRecord {
    /// `ObjectCreated:Put` (MinIO: `s3:ObjectCreated:Put`); other events are ignored.
    event_name: String,
    s3: StoreEventEntity,
}

#[derive(Debug, Deserialize, ToSchema)]
struct StoreEventEntity {
    bucket: StoreEventBucket,
    object: StoreEventObject,
}

#[derive(Debug, Deserialize, ToSchema)]
struct StoreEventBucket {
    name: String,
}

#[derive(Debug, Deserialize, ToSchema)]
struct StoreEventObject {
    /// URL-encoded, `+` for spaces.
    key: String,
}

/// What Easel did with a batch of events.
#[derive(Debug, Serialize, ToSchema)]
struct EventsOutcome {
    /// Uploads taken in (or already taken in by another report).
    ingested: u32,
    /// Uploads refused (not an image of the declared type, too large).
    refused: u32,
    /// Records that named no expected upload, or were not `ObjectCreated` events.
    ignored: u32,
}

/// The object store's event notifications (a webhook target in MinIO, Ceph or Garage;
/// see the README). Authenticated with the shared secret `storage.events_token`, sent as
/// `Authorization: Bearer <token>` (or bare, as MinIO's `auth_token` sends it).
#[utoipa::path(post, path = "/v1/storage/events", tag = "uploads", request_body = StoreEvents,
    responses(
        (status = 200, description = "Handled", body = EventsOutcome),
        (status = 400, description = "`invalid-json`: not an S3 event document", body = ErrorBody),
        (status = 401, description = "`invalid-events-token`: missing or wrong token", body = ErrorBody),
        (status = 404, description = "`events-disabled`: no `storage.events_token` is configured", body = ErrorBody),
        (status = 503, description = "`store-unavailable`: retry the delivery later", body = ErrorBody),
    ))]
async fn store_events(
    State(state): State<AppState>,
    headers: HeaderMap,
    JsonBody(events): JsonBody<StoreEvents>,
) -> Result<Json<EventsOutcome>, ApiError> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.strip_prefix("Bearer ").unwrap_or(v).trim());
    let events = events
        .records
        .into_iter()
        .map(|record| StoreEvent {
            name: record.event_name,
            bucket: record.s3.bucket.name,
            key: form_urlencoded_decode(&record.s3.object.key),
        })
        .collect();
    let tally = state.services.ingest.store_events(token, events).await?;
    Ok(Json(EventsOutcome {
        ingested: tally.ingested,
        refused: tally.refused,
        ignored: tally.ignored,
    }))
}

/// Decodes an event's object key: percent-escapes, and `+` for a space.
fn form_urlencoded_decode(key: &str) -> String {
    let spaced = key.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8_lossy()
        .into_owned()
}
