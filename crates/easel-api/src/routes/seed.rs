//! Seed 002's routes with its request and response shapes: `POST /process` submits the
//! images at `imageUrls` with the configured seed preset, `GET /jobs/{jobId}` answers in
//! the pending/completed shapes (with Easel's per-image results alongside).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use easel_core::{JobKind, JobStatus, rfc3339};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::auth::{Caller, OpClass, RequestMeta, limits};
use crate::extract::JsonBody;
use crate::routes::jobs::{SourceInput, load_job, parse_source};
use crate::routes::{Access, Routes};
use crate::submit::{PipelineChoice, SubmitRequest, submit_job};
use crate::views::JobView;
use crate::{ApiError, AppState};

pub fn routes() -> Routes {
    Routes::new()
        .add("/process", Access::Authenticated, &["POST"], post(process))
        .add("/jobs/{id}", Access::Owned, &["GET"], get(job_status))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ProcessRequest {
    image_urls: Vec<String>,
    #[serde(default)]
    user_id: Option<String>,
    #[serde(default)]
    metadata: Value,
}

async fn process(
    State(state): State<AppState>,
    Caller(caller): Caller,
    headers: HeaderMap,
    JsonBody(body): JsonBody<ProcessRequest>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let sources = body
        .image_urls
        .into_iter()
        .map(|url| parse_source(SourceInput::Text(url)))
        .collect::<Result<Vec<_>, _>>()?;
    let idempotency_key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    // The seed's `userId` is the client's own label; ownership comes from the caller.
    let metadata = json!({ "userId": body.user_id, "metadata": body.metadata });
    let request = SubmitRequest {
        kind: JobKind::Process,
        sources,
        pipeline: PipelineChoice::Preset(state.settings.seed_preset.clone()),
        metadata,
        idempotency_key,
    };
    limits::consume_quota(&state, &caller, OpClass::Process).await?;
    let created = submit_job(&state, &caller, request).await?;
    let count = created.job.image_count;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({
            "success": true,
            "jobId": created.job.id,
            "status": created.job.status,
            "message": format!("Job created for {count} image(s)"),
            "imageCount": count,
        })),
    ))
}

async fn job_status(
    State(state): State<AppState>,
    Caller(caller): Caller,
    meta: RequestMeta,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let job = load_job(&state, &caller, &meta, &id).await?;
    let mut body = json!({
        "jobId": job.id,
        "status": job.status,
        "imageCount": job.image_count,
        "createdAt": rfc3339(job.created_at),
        "updatedAt": rfc3339(job.updated_at),
    });
    if job.status == JobStatus::Completed {
        let detections: Vec<Value> = job
            .results
            .iter()
            .map(|r| {
                json!({
                    "imageUrl": r.source.as_ref().map(|s| s.s3_url()),
                    "imageIndex": r.index,
                    "detections": r.detections,
                    "detectionCount": r.detections.len(),
                })
            })
            .collect();
        body["detections"] = Value::Array(detections);
    }
    if let Some(error) = &job.error {
        body["error"] = json!(error);
    }
    body["results"] = serde_json::to_value(JobView::new(&job, &state.presigner))
        .map_err(ApiError::internal)?["results"]
        .take();
    Ok(Json(body))
}
