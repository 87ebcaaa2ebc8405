//! Native jobs API: submit, read, list, cancel, webhook deliveries and the signing
//! secret, and the administrators' dead-letter redrive.

use std::str::FromStr;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use easel_core::{Bucket, JobKind, JobStatus, ObjectKey, ObjectRef};
use easel_services::jobs::{
    JobQuery, PipelineChoice, RedriveRequest, SubmitRequest, job_cursor, page_limit,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::{Caller, RequestMeta};
use crate::error::ErrorBody;
use crate::extract::{IdempotencyKeyHeader, JsonBody, QueryParams};
use crate::routes::{Access, Routes};
use crate::views::{JobList, JobView, Links};
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
            "/v1/jobs/{id}/deliveries",
            Access::Owned,
            &["GET"],
            get(list_deliveries),
        )
        .add(
            "/v1/me/webhook-secret",
            Access::Authenticated,
            &["GET"],
            get(webhook_secret),
        )
        .add(
            "/v1/admin/jobs/redrive",
            Access::Admin,
            &["POST"],
            axum::routing::post(redrive_jobs),
        )
        .add(
            "/v1/presets",
            Access::Authenticated,
            &["GET"],
            get(list_presets),
        )
}

/// The presets on offer.
#[derive(Debug, Serialize, ToSchema)]
struct PresetList {
    /// By name.
    presets: Vec<PresetView>,
}

/// A named pipeline.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Preset)]
struct PresetView {
    /// What `"preset"` names in a job.
    name: String,
    /// The pipeline in its JSON form (see the image engine's README).
    #[schema(value_type = Object)]
    pipeline: serde_json::Value,
}

/// The named pipelines a job may use, with their JSON form.
#[utoipa::path(get, path = "/v1/presets", tag = "jobs",
    responses((status = 200, description = "The presets", body = PresetList)))]
async fn list_presets(State(state): State<AppState>, Caller(_): Caller) -> Json<PresetList> {
    let presets = state
        .services
        .jobs
        .presets()
        .iter()
        .map(|(name, pipeline)| PresetView {
            name: name.clone(),
            pipeline: serde_json::to_value(pipeline).unwrap_or_default(),
        })
        .collect();
    Json(PresetList { presets })
}

/// A source: `{"bucket": "uploads", "key": "…"}`, `"s3://uploads/…"` or a bare key in
/// the `uploads` bucket.
#[derive(Debug, Deserialize, ToSchema)]
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

/// A job to run: sources and a preset or pipeline, or `{"kind": "noop"}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CreateJob {
    /// `process` (the default) or `noop`; generations go through `/v1/generations`.
    #[serde(default = "default_kind")]
    #[schema(default = "process")]
    kind: JobKind,
    /// The images (1 to `max_sources_per_job`); each the caller's own upload or output.
    #[serde(default)]
    sources: Vec<SourceInput>,
    /// A preset by name (`GET /v1/presets`); not with `pipeline`.
    #[serde(default)]
    preset: Option<String>,
    /// An inline pipeline in its JSON form; not with `preset`.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pipeline: Option<serde_json::Value>,
    /// Free-form metadata, returned with the job.
    #[serde(default)]
    metadata: serde_json::Value,
    /// An `http(s)` URL that gets a signed webhook (Standard Webhooks: `webhook-id`,
    /// `webhook-timestamp`, `webhook-signature` under the secret of
    /// `GET /v1/me/webhook-secret`) when the job ends, retried with backoff until it
    /// answers 2xx. Private, loopback and link-local addresses are refused unless the
    /// deployment allows them.
    #[serde(default)]
    #[schema(min_length = 1, max_length = 2048)]
    callback_url: Option<String>,
}

fn default_kind() -> JobKind {
    JobKind::Process
}

/// Submits a job; it runs in the background (follow it with `GET /v1/jobs/{id}` or its
/// events). A repeated `Idempotency-Key` with the same body returns the first job.
#[utoipa::path(post, path = "/v1/jobs", tag = "jobs",
    request_body = CreateJob,
    params(("Idempotency-Key" = Option<String>, Header,
        description = "1 to 255 visible ASCII characters; a retry with the same key and body returns the same job")),
    responses(
        (status = 202, description = "Accepted; `Location` names the job", body = JobView,
            headers(("Location" = String, description = "`/v1/jobs/{id}`"),
                ("idempotent-replayed" = Option<String>, description = "`true` when this answers a repeated key"))),
        (status = 400, description = "`invalid-request`, `invalid-sources`, `invalid-source`, `unknown-preset`, `invalid-pipeline`, `missing-pipeline`, `invalid-callback-url`, `invalid-idempotency-key` or a pipeline check's code", body = ErrorBody),
        (status = 404, description = "`object-not-found`: a source does not exist or is not the caller's", body = ErrorBody),
        (status = 409, description = "`idempotency-key-reused` with a different body", body = ErrorBody),
        (status = 429, description = "`quota-exceeded`: the plan's `process` quota is used up, with `Retry-After`", body = ErrorBody),
    ))]
async fn create_job(
    State(state): State<AppState>,
    Caller(caller): Caller,
    IdempotencyKeyHeader(idempotency_key): IdempotencyKeyHeader,
    JsonBody(body): JsonBody<CreateJob>,
) -> Result<Response, ApiError> {
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
        callback_url: body.callback_url,
    };
    let created = state.services.jobs.submit(&caller, request).await?;
    let links = Links::for_jobs(state.signer.as_ref(), [&created.job]).await?;
    let mut response = (
        StatusCode::ACCEPTED,
        Json(JobView::new(&created.job, &links)),
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

/// A job with its progress and results (fresh download URLs each time).
#[utoipa::path(get, path = "/v1/jobs/{id}", tag = "jobs",
    params(("id" = String, Path, description = "The job id")),
    responses(
        (status = 200, description = "The job", body = JobView),
        (status = 404, description = "`job-not-found` (also for another user's job)", body = ErrorBody),
    ))]
async fn get_job(
    State(state): State<AppState>,
    Caller(caller): Caller,
    meta: RequestMeta,
    Path(id): Path<String>,
) -> Result<Json<JobView>, ApiError> {
    let job = state.services.jobs.get(&meta.0, &caller, &id).await?;
    let links = Links::for_jobs(state.signer.as_ref(), [&job]).await?;
    Ok(Json(JobView::new(&job, &links)))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// Only jobs in this state.
    #[param(value_type = Option<JobStatus>)]
    status: Option<String>,
    /// Only jobs of this kind.
    #[param(value_type = Option<JobKind>)]
    kind: Option<String>,
    /// Page size, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<u32>,
    /// The `nextCursor` of the previous page.
    #[param(
        pattern = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
    )]
    cursor: Option<String>,
    /// Only jobs whose last error has this code (`corrupt-image`, `engine-failed`,
    /// `lease-expired` …): with `status=FAILED`, the dead jobs to redrive.
    #[serde(rename = "errorCode")]
    #[param(rename = "errorCode", min_length = 1, max_length = 100)]
    error_code: Option<String>,
}

/// The caller's jobs (an administrator's: everyone's), newest first.
#[utoipa::path(get, path = "/v1/jobs", tag = "jobs", params(ListQuery),
    responses(
        (status = 200, description = "A page of jobs", body = JobList),
        (status = 400, description = "`invalid-query`", body = ErrorBody),
    ))]
async fn list_jobs(
    State(state): State<AppState>,
    Caller(caller): Caller,
    QueryParams(query): QueryParams<ListQuery>,
) -> Result<Json<JobList>, ApiError> {
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
    if query
        .error_code
        .as_deref()
        .is_some_and(|c| c.is_empty() || c.chars().count() > 100)
    {
        return Err(ApiError::bad_request(
            "invalid-query",
            "errorCode must be 1 to 100 characters",
        ));
    }
    let query = JobQuery {
        status,
        kind,
        limit,
        before,
        error_code: query.error_code,
    };
    let page = state.services.jobs.list(&caller, query).await?;
    let next_cursor = page.next_cursor;
    let links = Links::for_jobs(state.signer.as_ref(), &page.jobs).await?;
    let jobs = page.jobs.iter().map(|j| JobView::new(j, &links)).collect();
    Ok(Json(JobList { jobs, next_cursor }))
}

/// Cancels a job that has not started.
#[utoipa::path(delete, path = "/v1/jobs/{id}", tag = "jobs",
    params(("id" = String, Path, description = "The job id")),
    responses(
        (status = 200, description = "Cancelled; the job as it is now", body = JobView),
        (status = 404, description = "`job-not-found`", body = ErrorBody),
        (status = 409, description = "`job-not-cancellable`: the job is no longer `PENDING`", body = ErrorBody),
    ))]
async fn cancel_job(
    State(state): State<AppState>,
    Caller(caller): Caller,
    meta: RequestMeta,
    Path(id): Path<String>,
) -> Result<Json<JobView>, ApiError> {
    let job = state.services.jobs.cancel(&meta.0, &caller, &id).await?;
    let links = Links::for_jobs(state.signer.as_ref(), [&job]).await?;
    Ok(Json(JobView::new(&job, &links)))
}

/// Which dead jobs to put back in the queue: name them, filter them, or say `all`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RedriveBody {
    /// These jobs (only those that are `FAILED` move).
    #[schema(max_items = 1000, value_type = Option<Vec<JobIdText>>)]
    job_ids: Option<Vec<String>>,
    /// Dead jobs whose last error has this code.
    #[schema(min_length = 1, max_length = 100)]
    error_code: Option<String>,
    /// Dead jobs of this kind.
    #[schema(value_type = Option<JobKind>)]
    kind: Option<String>,
    /// Every dead job; needed when nothing else narrows the selection.
    #[serde(default)]
    all: bool,
    /// At most this many, oldest first: 1 to 1000 (default 100).
    #[schema(minimum = 1, maximum = 1000)]
    limit: Option<u32>,
}

/// A job id as text (what `jobId` and `id` fields hold).
#[derive(ToSchema)]
#[schema(value_type = String, pattern = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")]
#[allow(dead_code)] // described only
struct JobIdText(String);

/// What a redrive moved.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct RedriveResult {
    /// How many jobs are pending again.
    redriven: usize,
    /// Their ids, oldest first.
    job_ids: Vec<String>,
}

/// Puts dead (`FAILED`) jobs back in the queue with fresh attempts, as SQS's
/// dead-letter redrive does: named ones, those with an error code or of a kind, or all
/// (administrators only; audited as `jobs-redriven`).
#[utoipa::path(post, path = "/v1/admin/jobs/redrive", tag = "jobs", request_body = RedriveBody,
    responses(
        (status = 200, description = "The jobs moved back to `PENDING`", body = RedriveResult),
        (status = 400, description = "`invalid-request`: nothing selects the jobs, a bad id or limit", body = ErrorBody),
    ))]
async fn redrive_jobs(
    State(state): State<AppState>,
    Caller(caller): Caller,
    meta: RequestMeta,
    JsonBody(body): JsonBody<RedriveBody>,
) -> Result<Json<RedriveResult>, ApiError> {
    let kind = body
        .kind
        .map(|k| JobKind::from_str(&k))
        .transpose()
        .map_err(|e| ApiError::bad_request("invalid-request", e))?;
    let request = RedriveRequest {
        job_ids: body.job_ids,
        error_code: body.error_code,
        kind,
        all: body.all,
        limit: body.limit,
    };
    let moved = state
        .services
        .jobs
        .redrive(&meta.0, &caller, request)
        .await?;
    Ok(Json(RedriveResult {
        redriven: moved.len(),
        job_ids: moved.iter().map(ToString::to_string).collect(),
    }))
}

/// One attempt to deliver a job's webhook.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct DeliveryView {
    /// The delivery (its `webhook-id` header; the same on every retry).
    delivery_id: String,
    /// Which attempt, from 1.
    attempt: u32,
    /// RFC 3339.
    at: String,
    /// Where it went.
    url: String,
    /// The receiver's HTTP status, when it answered.
    status: Option<u16>,
    /// Why it failed, when it did.
    error: Option<String>,
    /// How long it took, in milliseconds.
    duration_ms: u64,
}

/// The delivery log of a job's webhooks.
#[derive(Debug, Serialize, ToSchema)]
struct DeliveryList {
    /// Oldest first.
    deliveries: Vec<DeliveryView>,
}

/// Every attempt to deliver the job's webhook (`callbackUrl`), oldest first.
#[utoipa::path(get, path = "/v1/jobs/{id}/deliveries", tag = "jobs",
    params(("id" = String, Path, description = "The job id")),
    responses(
        (status = 200, description = "The attempts", body = DeliveryList),
        (status = 404, description = "`job-not-found`", body = ErrorBody),
    ))]
async fn list_deliveries(
    State(state): State<AppState>,
    Caller(caller): Caller,
    meta: RequestMeta,
    Path(id): Path<String>,
) -> Result<Json<DeliveryList>, ApiError> {
    let attempts = state
        .services
        .jobs
        .deliveries(&meta.0, &caller, &id)
        .await?;
    let deliveries = attempts
        .into_iter()
        .map(|d| DeliveryView {
            delivery_id: d.delivery.to_string(),
            attempt: d.attempt,
            at: easel_core::rfc3339(d.at),
            url: d.url,
            status: d.status,
            error: d.error,
            duration_ms: d.duration_ms,
        })
        .collect();
    Ok(Json(DeliveryList { deliveries }))
}

/// The caller's webhook signing secret.
#[derive(Debug, Serialize, ToSchema)]
struct WebhookSecret {
    /// `whsec_…`: verify `webhook-signature` as Standard Webhooks says (the base64
    /// HMAC-SHA256, under the secret's decoded bytes, of `{webhook-id}.{webhook-timestamp}.{body}`).
    secret: String,
}

/// The secret that signs the caller's webhooks.
#[utoipa::path(get, path = "/v1/me/webhook-secret", tag = "jobs",
    responses((status = 200, description = "The secret", body = WebhookSecret)))]
async fn webhook_secret(
    State(state): State<AppState>,
    Caller(caller): Caller,
) -> Json<WebhookSecret> {
    Json(WebhookSecret {
        secret: state.services.jobs.webhook_secret(&caller),
    })
}
