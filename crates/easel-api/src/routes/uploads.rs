//! Presigned uploads (the ingest service picks the key and signs a PUT URL bound to the
//! content type, the size limit and the caller, who will own the object), in the native
//! and the seed's shapes.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use easel_core::{Bucket, ObjectKey, Principal, rfc3339};
use easel_services::ingest::UploadRequest;
use serde::{Deserialize, Serialize};
use serde_json::json;
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
}

/// Body of both presign routes.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct PresignRequest {
    /// The client's file name; only a sanitized form is kept.
    #[schema(example = "photo.png")]
    filename: String,
    /// The type the PUT will send (one of `server.upload_content_types`).
    #[schema(example = "image/png")]
    content_type: String,
    /// Optional folder under `uploads/` (upload triggers match on it).
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
    /// Headers the PUT must send (`content-type`).
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
    let upload = presign(&state, &caller, request)?;
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
    let upload = presign(&state, &caller, request)?;
    Ok(Json(SeedPresigned {
        url: upload.url,
        key: upload.key,
        bucket: upload.bucket,
    }))
}

fn presign(
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
    let upload = state.services.ingest.presign_upload(owner, request)?;
    Ok(PresignedUpload {
        url: upload.url,
        method: "PUT",
        bucket: upload.object.bucket,
        key: upload.object.key,
        headers: json!({ "content-type": upload.content_type }),
        max_bytes: upload.max_bytes,
        expires_at: rfc3339(upload.expires * 1000),
    })
}
