//! `GET /v1/objects/{bucket}/{key}`: an object's metadata (owner, type, size, sha256,
//! dimensions, timestamps), download links, and the outputs derived from it, so an
//! upload and what triggers made of it can be found together.

use axum::Json;
use axum::extract::{Path, State};
use axum::routing::get;
use easel_core::{Bucket, ObjectKey, ObjectRef, rfc3339};
use easel_store::ObjectMeta;
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::Caller;
use crate::error::ErrorBody;
use crate::routes::{Access, Routes};
use crate::views::{Links, ONE_DAY, ONE_HOUR};
use crate::{ApiError, AppState};

pub fn routes() -> Routes {
    Routes::new().add(
        "/v1/objects/{bucket}/{*key}",
        Access::Owned,
        &["GET"],
        get(object_metadata),
    )
}

/// A stored object as `GET /v1/objects/{bucket}/{key}` shows it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = StoredObject)]
struct ObjectView {
    bucket: Bucket,
    key: ObjectKey,
    /// The principal who owns it.
    owner: String,
    content_type: String,
    /// Bytes.
    size: u64,
    /// Hex SHA-256 of the bytes.
    sha256: String,
    /// Pixels, when known.
    width: Option<u32>,
    /// Pixels, when known.
    height: Option<u32>,
    /// The object it was derived from (outputs).
    source: Option<ObjectRef>,
    /// The job that wrote it (outputs).
    job_id: Option<String>,
    /// RFC 3339.
    created_at: String,
    /// Presigned GET, one hour.
    download_url: String,
    /// Presigned GET, 24 hours.
    download_url_24h: String,
}

/// An object with what was derived from it.
#[derive(Debug, Serialize, ToSchema)]
struct ObjectWithDerived {
    #[serde(flatten)]
    object: ObjectView,
    /// Outputs made from this object, oldest first.
    derived: Vec<ObjectView>,
}

/// An object's metadata, download links and derived outputs.
#[utoipa::path(get, path = "/v1/objects/{bucket}/{key}", tag = "uploads",
    params(("bucket" = Bucket, Path, description = "`uploads` or `outputs`"),
        ("key" = String, Path, description = "The object key; it may contain `/`")),
    responses(
        (status = 200, description = "The object", body = ObjectWithDerived),
        (status = 404, description = "`object-not-found` (also for another user's object)", body = ErrorBody),
    ))]
async fn object_metadata(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path((bucket, key)): Path<(String, String)>,
) -> Result<Json<ObjectWithDerived>, ApiError> {
    let (meta, derived) = state
        .services
        .objects
        .describe(&caller, &bucket, &key)
        .await?;
    let mut described = Vec::with_capacity(derived.len());
    for object in &derived {
        described.push(describe(&state, object).await?);
    }
    Ok(Json(ObjectWithDerived {
        object: describe(&state, &meta).await?,
        derived: described,
    }))
}

async fn describe(state: &AppState, meta: &ObjectMeta) -> Result<ObjectView, ApiError> {
    let links = Links::sign(state.signer.as_ref(), std::slice::from_ref(&meta.object)).await?;
    Ok(ObjectView {
        bucket: meta.object.bucket,
        key: meta.object.key.clone(),
        owner: meta.owner.clone(),
        content_type: meta.content_type.clone(),
        size: meta.size,
        sha256: meta.sha256.clone(),
        width: meta.dimensions.map(|d| d.0),
        height: meta.dimensions.map(|d| d.1),
        source: meta.source.clone(),
        job_id: meta.job_id.map(|id| id.to_string()),
        created_at: rfc3339(meta.created_at),
        download_url: links.url(&meta.object, ONE_HOUR).0,
        download_url_24h: links.url(&meta.object, ONE_DAY).0,
    })
}
