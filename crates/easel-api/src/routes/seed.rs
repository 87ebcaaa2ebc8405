//! Seed 002's routes with its request and response shapes: `POST /process` submits the
//! images at `imageUrls` with the configured seed preset, `GET /jobs/{jobId}` answers in
//! the pending/completed shapes (with Easel's per-image results alongside).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use easel_core::{JobKind, JobStatus, rfc3339};
use easel_services::jobs::{PipelineChoice, SubmitRequest};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::auth::{Caller, RequestMeta};
use crate::error::ErrorBody;
use crate::extract::{IdempotencyKeyHeader, JsonBody};
use crate::routes::jobs::{SourceInput, parse_source};
use crate::routes::{Access, Routes};
use crate::views::{JobView, Links, ResultView};
use crate::{ApiError, AppState};

pub fn routes() -> Routes {
    Routes::new()
        .add("/process", Access::Authenticated, &["POST"], post(process))
        .add("/jobs/{id}", Access::Owned, &["GET"], get(job_status))
}

/// Seed 002's process request.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ProcessRequest {
    /// `s3://uploads/<key>` references (or bare keys in `uploads`).
    #[schema(example = json!(["s3://uploads/2026/03/19/7d1f4c2e-photo.png"]))]
    image_urls: Vec<String>,
    /// The client's own label, kept in the metadata (ownership comes from the caller).
    #[serde(default)]
    user_id: Option<String>,
    /// Free-form metadata.
    #[serde(default)]
    metadata: Value,
}

/// Seed 002's answer to `POST /process`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct ProcessAccepted {
    /// Always `true`.
    success: bool,
    job_id: String,
    status: JobStatus,
    /// `Job created for N image(s)`.
    message: String,
    image_count: u32,
}

/// Seed 002's job status, with Easel's per-image results alongside.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct SeedJobStatus {
    job_id: String,
    status: JobStatus,
    image_count: u32,
    /// RFC 3339.
    created_at: String,
    /// RFC 3339.
    updated_at: String,
    /// Present once the job is `COMPLETED`.
    #[serde(skip_serializing_if = "Option::is_none")]
    detections: Option<Vec<SeedDetections>>,
    /// Present when the job failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    /// Easel's per-image results.
    results: Vec<ResultView>,
}

/// The detections of one image, in seed 002's shape.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct SeedDetections {
    /// `s3://bucket/key` of the source.
    image_url: Option<String>,
    image_index: u32,
    detections: Vec<easel_core::Detection>,
    detection_count: usize,
}

/// Seed 002's route: runs the configured seed preset over `imageUrls`.
#[utoipa::path(post, path = "/process", tag = "seed", request_body = ProcessRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "1 to 255 visible ASCII characters; a retry with the same key and body returns the same job")),
    responses(
        (status = 202, description = "The job was created", body = ProcessAccepted),
        (status = 400, description = "`invalid-source`, `invalid-sources`, `invalid-request` or `invalid-idempotency-key`", body = ErrorBody),
        (status = 404, description = "`object-not-found`: an image is missing or not the caller's", body = ErrorBody),
        (status = 409, description = "`idempotency-key-reused` with a different body", body = ErrorBody),
        (status = 429, description = "`quota-exceeded`: the plan's `process` quota is used up, with `Retry-After`", body = ErrorBody),
    ))]
async fn process(
    State(state): State<AppState>,
    Caller(caller): Caller,
    IdempotencyKeyHeader(idempotency_key): IdempotencyKeyHeader,
    JsonBody(body): JsonBody<ProcessRequest>,
) -> Result<(StatusCode, Json<ProcessAccepted>), ApiError> {
    let sources = body
        .image_urls
        .into_iter()
        .map(|url| parse_source(SourceInput::Text(url)))
        .collect::<Result<Vec<_>, _>>()?;
    // The seed's `userId` is the client's own label; ownership comes from the caller.
    let metadata = serde_json::json!({ "userId": body.user_id, "metadata": body.metadata });
    let request = SubmitRequest {
        kind: JobKind::Process,
        sources,
        pipeline: PipelineChoice::Preset(state.settings.seed_preset.clone()),
        metadata,
        idempotency_key,
        callback_url: None,
    };
    let created = state.services.jobs.submit(&caller, request).await?;
    let count = created.job.image_count;
    Ok((
        StatusCode::ACCEPTED,
        Json(ProcessAccepted {
            success: true,
            job_id: created.job.id.to_string(),
            status: created.job.status,
            message: format!("Job created for {count} image(s)"),
            image_count: count,
        }),
    ))
}

/// Seed 002's job status: the pending or completed shape with `detections`.
#[utoipa::path(get, path = "/jobs/{id}", tag = "seed",
    params(("id" = String, Path, description = "The job id")),
    responses(
        (status = 200, description = "The job", body = SeedJobStatus),
        (status = 404, description = "`job-not-found`", body = ErrorBody),
    ))]
async fn job_status(
    State(state): State<AppState>,
    Caller(caller): Caller,
    meta: RequestMeta,
    Path(id): Path<String>,
) -> Result<Json<SeedJobStatus>, ApiError> {
    let job = state.services.jobs.get(&meta.0, &caller, &id).await?;
    let links = Links::for_jobs(state.signer.as_ref(), [&job]).await?;
    let detections = (job.status == JobStatus::Completed).then(|| {
        job.results
            .iter()
            .map(|r| SeedDetections {
                image_url: r.source.as_ref().map(|s| s.s3_url()),
                image_index: r.index,
                detections: r.detections.clone(),
                detection_count: r.detections.len(),
            })
            .collect()
    });
    Ok(Json(SeedJobStatus {
        job_id: job.id.to_string(),
        status: job.status,
        image_count: job.image_count,
        created_at: rfc3339(job.created_at),
        updated_at: rfc3339(job.updated_at),
        detections,
        error: job.error.clone(),
        results: JobView::new(&job, &links).into_results(),
    }))
}
