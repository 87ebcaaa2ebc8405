//! Native jobs API: submit, read, list, cancel.

use std::str::FromStr;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use easel_core::{Bucket, JobId, JobKind, JobStatus, ObjectKey, ObjectRef, Principal};
use easel_store::{CancelOutcome, Job, JobFilter};
use serde::Deserialize;
use serde_json::json;

use crate::auth::{Caller, OpClass, RequestMeta, audit, limits};
use crate::extract::{JsonBody, QueryParams};
use crate::routes::{Access, Routes};
use crate::submit::{PipelineChoice, SubmitRequest, submit_job};
use crate::views::JobView;
use crate::{ApiError, AppState};

pub fn routes() -> Routes {
    Routes::new()
        .add(
            "/v1/jobs",
            Access::Authenticated,
            &["GET", "POST"],
            get(list_jobs).post(create_job),
        )
        .add(
            "/v1/jobs/{id}",
            Access::Owned,
            &["GET", "DELETE"],
            get(get_job).delete(cancel_job),
        )
        .add(
            "/v1/presets",
            Access::Authenticated,
            &["GET"],
            get(list_presets),
        )
}

/// The named pipelines a job may use, with their JSON form.
async fn list_presets(State(state): State<AppState>, Caller(_): Caller) -> Json<serde_json::Value> {
    let presets: Vec<serde_json::Value> = state
        .presets
        .iter()
        .map(|(name, pipeline)| serde_json::json!({ "name": name, "pipeline": pipeline }))
        .collect();
    Json(serde_json::json!({ "presets": presets }))
}

/// A source: `{"bucket": "uploads", "key": "…"}`, `"s3://uploads/…"` or a bare key in
/// the `uploads` bucket.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum SourceInput {
    /// Bucket and key.
    Object {
        /// Defaults to `uploads`.
        #[serde(default)]
        bucket: Option<String>,
        /// The key.
        key: String,
    },
    /// `s3://bucket/key` or a key.
    Text(String),
}

/// Parses a source reference, naming it in the error.
pub fn parse_source(input: SourceInput) -> Result<ObjectRef, ApiError> {
    let (bucket, key) = match input {
        SourceInput::Object { bucket, key } => {
            (bucket.unwrap_or_else(|| "uploads".to_owned()), key)
        }
        SourceInput::Text(text) => match text.strip_prefix("s3://") {
            Some(rest) => {
                let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
                (bucket.to_owned(), key.to_owned())
            }
            None => ("uploads".to_owned(), text),
        },
    };
    let bucket = Bucket::from_str(&bucket)
        .map_err(|e| ApiError::bad_request("invalid-source", e.to_string()))?;
    let key = ObjectKey::parse(&key)
        .map_err(|e| ApiError::bad_request("invalid-source", format!("source `{key}`: {e}")))?;
    Ok(ObjectRef { bucket, key })
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CreateJob {
    #[serde(default = "default_kind")]
    kind: JobKind,
    #[serde(default)]
    sources: Vec<SourceInput>,
    #[serde(default)]
    preset: Option<String>,
    #[serde(default)]
    pipeline: Option<serde_json::Value>,
    #[serde(default)]
    metadata: serde_json::Value,
}

fn default_kind() -> JobKind {
    JobKind::Process
}

fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let text = value
        .to_str()
        .ok()
        .filter(|t| !t.is_empty() && t.len() <= 255 && t.bytes().all(|b| b.is_ascii_graphic()));
    match text {
        Some(text) => Ok(Some(text.to_owned())),
        None => Err(ApiError::bad_request(
            "invalid-idempotency-key",
            "Idempotency-Key must be 1 to 255 visible ASCII characters",
        )),
    }
}

async fn create_job(
    State(state): State<AppState>,
    Caller(caller): Caller,
    headers: HeaderMap,
    JsonBody(body): JsonBody<CreateJob>,
) -> Result<Response, ApiError> {
    let idempotency_key = idempotency_key(&headers)?;
    let pipeline = match (body.preset, body.pipeline) {
        (Some(_), Some(_)) => {
            return Err(ApiError::bad_request(
                "invalid-request",
                "give either `preset` or `pipeline`, not both",
            ));
        }
        (Some(name), None) => PipelineChoice::Preset(name),
        (None, Some(value)) => PipelineChoice::Inline(value),
        (None, None) => PipelineChoice::None,
    };
    let sources = body
        .sources
        .into_iter()
        .map(parse_source)
        .collect::<Result<Vec<_>, _>>()?;
    let request = SubmitRequest {
        kind: body.kind,
        sources,
        pipeline,
        metadata: body.metadata,
        idempotency_key,
    };
    limits::consume_quota(&state, &caller, OpClass::Process).await?;
    let created = submit_job(&state, &caller, request).await?;
    let mut response = (
        StatusCode::ACCEPTED,
        Json(JobView::new(&created.job, &state.presigner)),
    )
        .into_response();
    let headers = response.headers_mut();
    if let Ok(location) = HeaderValue::from_str(&format!("/v1/jobs/{}", created.job.id)) {
        headers.insert(header::LOCATION, location);
    }
    if created.replayed {
        headers.insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    Ok(response)
}

/// Parses a job id from a path and loads the job if the caller may see it. Another
/// principal's job is reported exactly like a missing one.
pub async fn load_job(
    state: &AppState,
    caller: &Principal,
    meta: &RequestMeta,
    raw_id: &str,
) -> Result<Job, ApiError> {
    let not_found = || ApiError::not_found("job-not-found", format!("no job `{raw_id}`"));
    let id = JobId::from_str(raw_id).map_err(|_| not_found())?;
    match state.jobs.get(id).await? {
        Some(job) if caller.can_access(&job.owner) => Ok(job),
        Some(_) => {
            // Answered like a missing id, but recorded: probing other users' ids shows.
            let detail = Some(format!("job {raw_id}"));
            audit(
                state,
                meta,
                "permission-denied",
                Some(&caller.id),
                None,
                detail,
            )
            .await;
            Err(not_found())
        }
        None => Err(not_found()),
    }
}

async fn get_job(
    State(state): State<AppState>,
    Caller(caller): Caller,
    meta: RequestMeta,
    Path(id): Path<String>,
) -> Result<Json<JobView>, ApiError> {
    let job = load_job(&state, &caller, &meta, &id).await?;
    Ok(Json(JobView::new(&job, &state.presigner)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    status: Option<String>,
    /// `process`, `generate` or `noop`.
    kind: Option<String>,
    limit: Option<u32>,
    cursor: Option<String>,
}

/// A page size from `?limit=`: 20 when absent, 1 to 100.
pub fn page_limit(limit: Option<u32>) -> Result<u32, ApiError> {
    let limit = limit.unwrap_or(20);
    if !(1..=100).contains(&limit) {
        return Err(ApiError::bad_request(
            "invalid-query",
            "limit must be between 1 and 100",
        ));
    }
    Ok(limit)
}

/// The job id a `?cursor=` names (the last id of the previous page).
pub fn job_cursor(cursor: Option<&str>) -> Result<Option<JobId>, ApiError> {
    cursor
        .map(JobId::from_str)
        .transpose()
        .map_err(|_| ApiError::bad_request("invalid-query", "cursor is not one this API returned"))
}

async fn list_jobs(
    State(state): State<AppState>,
    Caller(caller): Caller,
    QueryParams(query): QueryParams<ListQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let status = query
        .status
        .map(|s| JobStatus::from_str(&s))
        .transpose()
        .map_err(|e| ApiError::bad_request("invalid-query", e))?;
    let limit = page_limit(query.limit)?;
    let before = job_cursor(query.cursor.as_deref())?;
    let kind = query
        .kind
        .map(|k| JobKind::from_str(&k))
        .transpose()
        .map_err(|e| ApiError::bad_request("invalid-query", e))?;
    let filter = JobFilter {
        owner: (!caller.admin).then(|| caller.id.clone()),
        status,
        kind,
        limit,
        before,
        ..JobFilter::default()
    };
    let jobs = state.jobs.list(&filter).await?;
    let next_cursor = (jobs.len() == limit as usize)
        .then(|| jobs.last().map(|j| j.id.to_string()))
        .flatten();
    let views: Vec<JobView> = jobs
        .iter()
        .map(|j| JobView::new(j, &state.presigner))
        .collect();
    Ok(Json(json!({ "jobs": views, "nextCursor": next_cursor })))
}

async fn cancel_job(
    State(state): State<AppState>,
    Caller(caller): Caller,
    meta: RequestMeta,
    Path(id): Path<String>,
) -> Result<Json<JobView>, ApiError> {
    let job = load_job(&state, &caller, &meta, &id).await?;
    match state.jobs.cancel(job.id).await? {
        CancelOutcome::Cancelled(job) => Ok(Json(JobView::new(&job, &state.presigner))),
        CancelOutcome::NotCancellable(status) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "job-not-cancellable",
            format!("the job is {status}; only PENDING jobs can be cancelled"),
        )),
        CancelOutcome::NotFound => Err(ApiError::not_found(
            "job-not-found",
            format!("no job `{id}`"),
        )),
    }
}
