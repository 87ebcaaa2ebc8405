//! Objects served through presigned URLs, the only anonymous access: `PUT` hands an
//! upload to the ingest service (content type and size enforced, the image checked from
//! its header, upload triggers fired; nothing kept when it is refused), `GET`/`HEAD`
//! stream an object.

use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Path, RawQuery, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use easel_core::Bucket;
use easel_services::ingest::ArrivingUpload;
use easel_store::SignedRequest;
use futures::{StreamExt, TryStreamExt};
use utoipa::IntoParams;

use crate::error::ErrorBody;
use crate::routes::uploads::StoredUpload;
use crate::routes::{Access, Routes};
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

/// The grant of the presigned URL this request came with.
fn verify(
    state: &AppState,
    method: &Method,
    bucket: &str,
    key: &str,
    query: Option<String>,
) -> Result<SignedRequest, ApiError> {
    Ok(state.services.ingest.verify_url(
        method.as_str(),
        bucket,
        key,
        query.as_deref().unwrap_or(""),
    )?)
}

/// A header's value as text, when it is there and readable.
fn header_text(headers: &HeaderMap, name: HeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
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

/// Downloads an object through a presigned GET URL (`HEAD`: the headers only).
#[utoipa::path(method(get, head), path = "/o/{bucket}/{key}", tag = "uploads",
    params(("bucket" = Bucket, Path, description = "`uploads` or `outputs`"),
        ("key" = String, Path, description = "The object key; it may contain `/`"),
        PresignedQuery),
    responses(
        (status = 200, description = "The bytes, with `ETag` and the stored content type",
            content(("image/jpeg"), ("image/png"), ("image/webp"), ("image/gif"), ("image/heic"), ("image/heif"), ("image/avif"))),
        (status = 403, description = "The URL is not valid: `signature-mismatch`, `url-expired`, `url-method-mismatch` or `url-malformed`", body = ErrorBody),
        (status = 404, description = "`object-not-found`", body = ErrorBody),
    ))]
async fn download(
    State(state): State<AppState>,
    method: Method,
    Path((bucket, key)): Path<(String, String)>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let grant = verify(&state, &method, &bucket, &key, query)?;
    let download = state.services.objects.open(&grant).await?;
    let body = Body::from_stream(download.body.map_err(std::io::Error::other));
    Ok((
        [
            (header::CONTENT_TYPE, download.meta.content_type),
            (header::CONTENT_LENGTH, download.size.to_string()),
            (header::ETAG, format!("\"{}\"", download.meta.sha256)),
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
        content(("image/jpeg"), ("image/png"), ("image/webp"), ("image/gif"), ("image/heic"), ("image/heif"), ("image/avif"))),
    responses(
        (status = 200, description = "Stored", body = StoredUpload,
            headers(("ETag" = String, description = "The quoted SHA-256"))),
        (status = 400, description = "`upload-interrupted`: the body ended early", body = ErrorBody),
        (status = 403, description = "The URL is not valid: `signature-mismatch`, `url-expired`, `url-method-mismatch` or `url-malformed` (also: not an upload URL)", body = ErrorBody),
        (status = 413, description = "`payload-too-large`: over the URL's size limit", body = ErrorBody),
        (status = 415, description = "`content-type-mismatch` or `content-mismatch` (the bytes are not that image type)", body = ErrorBody),
        (status = 422, description = "The image header is unreadable, or it announces more pixels than `limits.max_pixels` (`image-too-large`; the image engine's codes)", body = ErrorBody),
        (status = 503, description = "`store-unavailable`: storage is down, with `Retry-After`; nothing was kept", body = ErrorBody),
    ))]
async fn upload(
    State(state): State<AppState>,
    Path((bucket, key)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    request: Request,
) -> Result<Response, ApiError> {
    let grant = verify(&state, request.method(), &bucket, &key, query)?;
    let headers = request.headers();
    let content_type = header_text(headers, header::CONTENT_TYPE).map(str::to_owned);
    let announced_bytes = header_text(headers, header::CONTENT_LENGTH).and_then(|v| v.parse().ok());
    let body = request
        .into_body()
        .into_data_stream()
        .map_err(std::io::Error::other)
        .boxed();
    let upload = ArrivingUpload {
        grant,
        content_type,
        announced_bytes,
        body,
    };
    let ingested = state.services.ingest.receive(upload).await?;
    let etag = format!("\"{}\"", ingested.meta.sha256);
    let mut response = axum::Json(StoredUpload::from(ingested)).into_response();
    if let Ok(etag) = HeaderValue::from_str(&etag) {
        response.headers_mut().insert(header::ETAG, etag);
    }
    Ok(response)
}
