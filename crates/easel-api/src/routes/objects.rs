//! Objects served through presigned URLs, the only anonymous access: `PUT` stores an
//! upload (content type and size enforced, the image checked from its header, upload
//! triggers fired), `GET`/`HEAD` stream an object.

use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Path, RawQuery, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use easel_core::{Bucket, JobKind, ObjectKey, ObjectRef, Principal, now_millis};
use easel_store::{ObjectMeta, PresignError, SignedRequest, StoreError, UploadRules};
use futures::{StreamExt, TryStreamExt};
use serde::Serialize;
use serde_json::json;
use utoipa::{IntoParams, ToSchema};

use crate::error::ErrorBody;
use crate::routes::{Access, Routes};
use crate::submit::{PipelineChoice, SubmitRequest, submit_job};
use crate::{ApiError, AppState};

pub fn routes() -> Routes {
    Routes::new()
        .add(
            "/o/{bucket}/{*key}",
            Access::Presigned,
            &["GET", "HEAD", "PUT"],
            get(download).put(upload),
        )
        .layer(DefaultBodyLimit::disable())
}

fn presign_error(error: PresignError) -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, error.code(), error.to_string())
}

fn verify(
    state: &AppState,
    method: &Method,
    bucket: &str,
    key: &str,
    query: Option<String>,
) -> Result<SignedRequest, ApiError> {
    state
        .presigner
        .verify(
            method.as_str(),
            bucket,
            key,
            query.as_deref().unwrap_or(""),
            now_millis() / 1000,
        )
        .map_err(presign_error)
}

/// The query of a presigned URL, exactly as Easel signed it (never built by hand).
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // described only: the presigner reads the raw query
struct PresignedQuery {
    /// The method the URL is for (`GET` also allows `HEAD`).
    #[param(rename = "X-Easel-Method")]
    method: String,
    /// Unix seconds after which the URL is refused.
    #[param(rename = "X-Easel-Expires")]
    expires: u64,
    /// The signing key's id.
    #[param(rename = "X-Easel-Key-Id")]
    key_id: String,
    /// Upload URLs: the content type the PUT must send.
    #[param(rename = "X-Easel-Content-Type")]
    content_type: Option<String>,
    /// Upload URLs: the largest body accepted.
    #[param(rename = "X-Easel-Max-Bytes")]
    max_bytes: Option<u64>,
    /// Upload URLs: who will own the object.
    #[param(rename = "X-Easel-Owner")]
    owner: Option<String>,
    /// The HMAC of everything above.
    #[param(rename = "X-Easel-Signature")]
    signature: String,
}

/// What a presigned PUT stored.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct StoredUpload {
    bucket: Bucket,
    key: ObjectKey,
    /// Bytes stored.
    size: u64,
    /// Hex SHA-256 (also the `ETag`).
    sha256: String,
    content_type: String,
    /// Pixels, read from the image's header.
    width: u32,
    /// Pixels.
    height: u32,
    /// Jobs that upload triggers enqueued for this object.
    triggered_jobs: Vec<String>,
}

/// Downloads an object through a presigned GET URL (`HEAD`: the headers only).
#[utoipa::path(method(get, head), path = "/o/{bucket}/{key}", tag = "uploads",
    params(("bucket" = Bucket, Path, description = "`uploads` or `outputs`"),
        ("key" = String, Path, description = "The object key; it may contain `/`"),
        PresignedQuery),
    responses(
        (status = 200, description = "The bytes, with `ETag` and the stored content type",
            content(("image/jpeg"), ("image/png"), ("image/webp"), ("image/gif"))),
        (status = 403, description = "The URL is not valid: `signature-mismatch`, `url-expired`, `url-method-mismatch` or `url-malformed`", body = ErrorBody),
        (status = 404, description = "`object-not-found`", body = ErrorBody),
    ))]
async fn download(
    State(state): State<AppState>,
    method: Method,
    Path((bucket, key)): Path<(String, String)>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let signed = verify(&state, &method, &bucket, &key, query)?;
    let not_found = || ApiError::not_found("object-not-found", "the object does not exist");
    let meta = state
        .objects
        .get_object(&signed.object)
        .await?
        .ok_or_else(not_found)?;
    let (size, stream) = match state.blobs.get_stream(&signed.object).await {
        Ok(found) => found,
        Err(StoreError::NotFound) => return Err(not_found()),
        Err(other) => return Err(ApiError::internal(other)),
    };
    let body = Body::from_stream(stream.map_err(std::io::Error::other));
    Ok((
        [
            (header::CONTENT_TYPE, meta.content_type),
            (header::CONTENT_LENGTH, size.to_string()),
            (header::ETAG, format!("\"{}\"", meta.sha256)),
            (header::CACHE_CONTROL, "private, max-age=3600".to_owned()),
        ],
        body,
    )
        .into_response())
}

/// Uploads through a presigned PUT URL: the content type and size it was signed for are
/// enforced and the bytes must be an image of that type.
#[utoipa::path(put, path = "/o/{bucket}/{key}", tag = "uploads",
    params(("bucket" = Bucket, Path, description = "Always `uploads` for uploads"),
        ("key" = String, Path, description = "The key from `POST /v1/uploads`"),
        PresignedQuery),
    request_body(description = "The image bytes, of the type the URL was signed for",
        content(("image/jpeg"), ("image/png"), ("image/webp"), ("image/gif"))),
    responses(
        (status = 200, description = "Stored", body = StoredUpload,
            headers(("ETag" = String, description = "The quoted SHA-256"))),
        (status = 400, description = "`upload-interrupted`: the body ended early", body = ErrorBody),
        (status = 403, description = "The URL is not valid: `signature-mismatch`, `url-expired`, `url-method-mismatch` or `url-malformed` (also: not an upload URL)", body = ErrorBody),
        (status = 413, description = "`payload-too-large`: over the URL's size limit", body = ErrorBody),
        (status = 415, description = "`content-type-mismatch` or `content-mismatch` (the bytes are not that image type)", body = ErrorBody),
        (status = 422, description = "The image header is unreadable (the image engine's code)", body = ErrorBody),
    ))]
async fn upload(
    State(state): State<AppState>,
    Path((bucket, key)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    request: Request,
) -> Result<Response, ApiError> {
    let signed = verify(&state, request.method(), &bucket, &key, query)?;
    let Some(rules) = signed.upload.clone() else {
        return Err(presign_error(PresignError::Malformed(
            "not an upload URL".to_owned(),
        )));
    };
    check_headers(request.headers(), &rules)?;
    let body = request
        .into_body()
        .into_data_stream()
        .map_err(std::io::Error::other)
        .boxed();
    let stored = match state
        .blobs
        .put_stream(&signed.object, body, rules.max_bytes)
        .await
    {
        Ok(stored) => stored,
        Err(StoreError::TooLarge { limit }) => return Err(too_large(limit)),
        Err(StoreError::Io(error)) => {
            return Err(ApiError::bad_request(
                "upload-interrupted",
                format!("the upload body could not be read to the end: {error}"),
            ));
        }
        Err(other) => return Err(ApiError::internal(other)),
    };
    let dimensions = match inspect(&state, &signed.object, &rules).await {
        Ok(dimensions) => dimensions,
        Err(error) => {
            state.blobs.delete(&signed.object).await?;
            return Err(error);
        }
    };
    let meta = ObjectMeta {
        object: signed.object.clone(),
        owner: rules.owner.clone(),
        content_type: rules.content_type.clone(),
        size: stored.size,
        sha256: stored.sha256.clone(),
        dimensions: Some(dimensions),
        source: None,
        job_id: None,
        created_at: now_millis(),
    };
    state.objects.put_object(&meta).await?;
    let jobs = fire_triggers(&state, &signed.object, &rules.owner).await;
    let body = StoredUpload {
        bucket: signed.object.bucket,
        key: signed.object.key.clone(),
        size: stored.size,
        sha256: stored.sha256.clone(),
        content_type: rules.content_type.clone(),
        width: dimensions.0,
        height: dimensions.1,
        triggered_jobs: jobs,
    };
    let mut response = axum::Json(body).into_response();
    if let Ok(etag) = HeaderValue::from_str(&format!("\"{}\"", stored.sha256)) {
        response.headers_mut().insert(header::ETAG, etag);
    }
    Ok(response)
}

fn too_large(limit: u64) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload-too-large",
        format!("the upload is larger than the {limit} bytes this URL allows"),
    )
}

fn check_headers(headers: &HeaderMap, rules: &UploadRules) -> Result<(), ApiError> {
    let sent = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().to_ascii_lowercase());
    if sent.as_deref() != Some(rules.content_type.as_str()) {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "content-type-mismatch",
            format!(
                "this URL accepts only `Content-Type: {}`; the request sent {}",
                rules.content_type,
                sent.map_or("none".to_owned(), |s| format!("`{s}`"))
            ),
        ));
    }
    let announced = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if announced.is_some_and(|n| n > rules.max_bytes) {
        return Err(too_large(rules.max_bytes));
    }
    Ok(())
}

/// Checks from the stored bytes' header that they are an image of the declared type and
/// returns its dimensions. The whole body is never decoded here.
async fn inspect(
    state: &AppState,
    object: &ObjectRef,
    rules: &UploadRules,
) -> Result<(u32, u32), ApiError> {
    let bytes = state.blobs.get(object).await?;
    let declared = easel_image::Format::from_mime(&rules.content_type);
    let sniffed = easel_image::sniff(&bytes);
    if sniffed.is_none() || sniffed != declared {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "content-mismatch",
            format!(
                "the uploaded bytes are not a {} image{}",
                rules.content_type,
                sniffed.map_or(String::new(), |f| format!(" (they look like {})", f.mime()))
            ),
        ));
    }
    let info = easel_image::probe(&bytes)
        .map_err(|e| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, e.code(), e.to_string()))?;
    Ok((info.width, info.height))
}

/// Enqueues a job for every trigger whose prefix matches the new object's key. A trigger
/// that cannot be submitted is logged; the upload itself has succeeded.
async fn fire_triggers(state: &AppState, object: &ObjectRef, owner: &str) -> Vec<String> {
    let owner = Principal {
        id: owner.to_owned(),
        admin: false,
    };
    let mut jobs = Vec::new();
    for rule in state.triggers.iter() {
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
        match submit_job(state, &owner, request).await {
            Ok(created) => jobs.push(created.job.id.to_string()),
            Err(error) => tracing::error!(
                prefix = %rule.prefix,
                code = error.code(),
                "upload trigger could not enqueue its job"
            ),
        }
    }
    jobs
}
