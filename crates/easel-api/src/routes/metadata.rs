//! `GET /v1/objects/{bucket}/{key}`: an object's metadata (owner, type, size, sha256,
//! dimensions, timestamps), download links, and the outputs derived from it, so an
//! upload and what triggers made of it can be found together.

use std::str::FromStr;

use axum::Json;
use axum::extract::{Path, State};
use axum::routing::get;
use easel_core::{Bucket, ObjectKey, ObjectRef, rfc3339};
use easel_store::ObjectMeta;
use serde_json::{Value, json};

use crate::auth::Caller;
use crate::routes::{Access, Routes};
use crate::views::{ONE_DAY, ONE_HOUR, download_url};
use crate::{ApiError, AppState};

pub fn routes() -> Routes {
    Routes::new().add(
        "/v1/objects/{bucket}/{*key}",
        Access::Owned,
        &["GET"],
        get(object_metadata),
    )
}

async fn object_metadata(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path((bucket, key)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let not_found = || ApiError::not_found("object-not-found", format!("no object {bucket}/{key}"));
    let object = ObjectRef {
        bucket: Bucket::from_str(&bucket).map_err(|_| not_found())?,
        key: ObjectKey::parse(&key).map_err(|_| not_found())?,
    };
    let meta = match state.objects.get_object(&object).await? {
        Some(meta) if caller.can_access(&meta.owner) => meta,
        _ => return Err(not_found()),
    };
    let derived = state.objects.derived_from(&object).await?;
    let mut body = describe(&state, &meta);
    body["derived"] = derived.iter().map(|d| describe(&state, d)).collect();
    Ok(Json(body))
}

fn describe(state: &AppState, meta: &ObjectMeta) -> Value {
    json!({
        "bucket": meta.object.bucket,
        "key": meta.object.key,
        "owner": meta.owner,
        "contentType": meta.content_type,
        "size": meta.size,
        "sha256": meta.sha256,
        "width": meta.dimensions.map(|d| d.0),
        "height": meta.dimensions.map(|d| d.1),
        "source": meta.source,
        "jobId": meta.job_id,
        "createdAt": rfc3339(meta.created_at),
        "downloadUrl": download_url(&state.presigner, &meta.object, ONE_HOUR).0,
        "downloadUrl24h": download_url(&state.presigner, &meta.object, ONE_DAY).0,
    })
}
