//! Native generation routes: `POST /v1/generations` (the Bedrock-model body plus Easel's
//! options → a job, or the result with `?wait=`), the history of generations and edits
//! (list, get, delete with its outputs, regenerate), the engines and styles on offer, and
//! the caller's request log.

use std::time::Duration;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use bytes::Bytes;
use easel_core::{JobKind, JobStatus, Principal, now_millis, rfc3339};
use easel_engines::request::TaskType;
use easel_store::{CancelOutcome, Job, JobFilter};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use utoipa::{IntoParams, ToSchema};

use crate::auth::{Caller, RequestMeta};
use crate::error::ErrorBody;
use crate::extract::{JsonBody, QueryParams};
use crate::generation::{
    self, Dialect, GenError, GenerationInput, HistoryEntry, history_entry, remove_outputs, spec_of,
};
use crate::openapi::bedrock_body::NativeGenerationBody;
use crate::routes::jobs::{job_cursor, load_job, page_limit};
use crate::routes::{Access, Routes};
use crate::{ApiError, AppState};

pub fn routes() -> Routes {
    Routes::new()
        .add(
            "/v1/generations",
            Access::Authenticated,
            &["POST"],
            post(create_generation),
        )
        .add(
            "/v1/history",
            Access::Authenticated,
            &["GET"],
            get(list_history),
        )
        .add(
            "/v1/history/{id}",
            Access::Owned,
            &["GET", "DELETE"],
            get(get_history).delete(delete_history),
        )
        .add(
            "/v1/history/{id}/regenerate",
            Access::Owned,
            &["POST"],
            post(regenerate),
        )
        .add("/v1/engines", Access::Authenticated, &["GET"], get(engines))
        .add(
            "/v1/requests",
            Access::Authenticated,
            &["GET"],
            get(request_log),
        )
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct WaitQuery {
    /// Seconds to wait for the result (0 to `generation.max_wait_secs`; default 0).
    wait: Option<u64>,
}

/// Errors every route that runs a generation can answer.
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)] // only described, never built: the handlers answer `ApiError`
enum GenerationErrors {
    /// `invalid-request` (Bedrock's message, with the JSON pointer of the field),
    /// `content-filtered`, `unknown-model`, `unknown-engine`, `unknown-style`,
    /// `style-needs-prompt`, `invalid-output-format`, `invalid-output-quality`,
    /// `engine-unsupported-task`, `invalid-query`, `invalid-idempotency-key`,
    /// `invalid-json` (a regeneration's body).
    #[response(status = 400)]
    Invalid(ErrorBody),
    /// `cancelled`: the job was cancelled while awaited.
    #[response(status = 409)]
    Cancelled(ErrorBody),
    /// `idempotency-key-reused` with a different body.
    #[response(status = 422)]
    KeyReused(ErrorBody),
    /// `quota-exceeded`: the plan's `generate` or `edit` quota is used up.
    #[response(status = 429)]
    Limited(ErrorBody),
    /// `engine-failed`: the engine could not make the images.
    #[response(status = 502)]
    EngineFailed(ErrorBody),
    /// `engine-throttled`: the engine's provider is throttling; retry later. Or
    /// `engine-unavailable`: the engine cannot run (its model is not installed).
    #[response(status = 503)]
    EngineThrottled(ErrorBody),
    /// `generation-timeout`: not finished within `wait`; it goes on (see its entry).
    #[response(status = 504)]
    Timeout(ErrorBody),
}

fn wait_secs(state: &AppState, query: &WaitQuery) -> Result<u64, ApiError> {
    let wait = query.wait.unwrap_or(0);
    let max = state.generation.max_wait_secs;
    if wait > max {
        return Err(ApiError::bad_request(
            "invalid-query",
            format!("wait is at most {max} seconds"),
        ));
    }
    Ok(wait)
}

fn take_string(
    body: &mut Map<String, Value>,
    key: &'static str,
) -> Result<Option<String>, ApiError> {
    match body.remove(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(ApiError::bad_request(
            "invalid-request",
            format!("`{key}` must be a string"),
        )),
    }
}

/// Splits the native body into the Bedrock body and Easel's options.
fn native_input(body: Value, idempotency_key: Option<String>) -> Result<GenerationInput, ApiError> {
    let Value::Object(mut map) = body else {
        return Err(ApiError::bad_request(
            "invalid-request",
            "the body must be a JSON object: the Bedrock InvokeModel body plus Easel's options",
        ));
    };
    let engine = take_string(&mut map, "engine")?;
    let model = take_string(&mut map, "model")?;
    let output_format = take_string(&mut map, "outputFormat")?;
    let style = take_string(&mut map, "stylePreset")?;
    let output_quality = match map.remove("outputQuality") {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => Some(n.as_u64().filter(|q| (1..=100).contains(q)).ok_or_else(
            || {
                ApiError::bad_request(
                    "invalid-output-quality",
                    "outputQuality must be an integer 1–100",
                )
            },
        )? as u8),
        Some(_) => {
            return Err(ApiError::bad_request(
                "invalid-output-quality",
                "outputQuality must be an integer 1–100",
            ));
        }
    };
    Ok(GenerationInput {
        body: Value::Object(map),
        model,
        engine,
        output_format,
        output_quality,
        style,
        dialect: Dialect::Native,
        idempotency_key,
    })
}

fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    match headers.get("idempotency-key") {
        None => Ok(None),
        Some(value) => {
            let key = value
                .to_str()
                .ok()
                .filter(|k| !k.is_empty() && k.len() <= 255)
                .ok_or_else(|| {
                    ApiError::bad_request(
                        "invalid-idempotency-key",
                        "Idempotency-Key must be 1–255 visible ASCII characters",
                    )
                })?;
            Ok(Some(key.to_owned()))
        }
    }
}

/// Generates or edits images: the Bedrock InvokeModel body (Titan Image Generator v2 or
/// Nova Canvas) plus Easel's options. The work runs as a job; with `?wait=` the answer
/// comes when it is done (200) or when the wait ends (202).
#[utoipa::path(post, path = "/v1/generations", tag = "generation", params(WaitQuery,
        ("Idempotency-Key" = Option<String>, Header, description = "1 to 255 characters; a retry with the same key and body returns the same entry")),
    request_body = NativeGenerationBody,
    responses(
        (status = 200, description = "Finished within `wait`", body = HistoryEntry,
            headers(("Location" = String, description = "`/v1/history/{id}`"))),
        (status = 202, description = "Accepted (still running)", body = HistoryEntry,
            headers(("Location" = String, description = "`/v1/history/{id}`"))),
        GenerationErrors,
    ))]
async fn create_generation(
    State(state): State<AppState>,
    Caller(caller): Caller,
    QueryParams(query): QueryParams<WaitQuery>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<Value>,
) -> Result<Response, ApiError> {
    let wait = wait_secs(&state, &query)?;
    let input = native_input(body, idempotency_key(&headers)?)?;
    let job = generation::submit(&state, &caller, input)
        .await
        .map_err(GenError::into_api)?;
    respond(&state, job, wait).await
}

/// 200 with the entry when the job finished within `wait`; 202 with it otherwise; the
/// job's own error when it failed.
async fn respond(state: &AppState, job: Job, wait: u64) -> Result<Response, ApiError> {
    let job = if wait > 0 && !job.status.is_terminal() {
        generation::wait_for(state, job.id, Duration::from_secs(wait))
            .await
            .map_err(GenError::into_api)?
    } else {
        job
    };
    let spec = spec_of(&job).ok_or_else(|| ApiError::internal("a generation without its spec"))?;
    if job.status == JobStatus::Failed || job.status == JobStatus::Cancelled {
        return Err(generation::finished(&job)
            .err()
            .map(GenError::into_api)
            .unwrap_or_else(|| ApiError::internal("a failed job without a failure")));
    }
    let entry = history_entry(state, &job, &spec);
    let status = if job.status == JobStatus::Completed {
        StatusCode::OK
    } else {
        StatusCode::ACCEPTED
    };
    let location = format!("/v1/history/{}", job.id);
    Ok((status, [(header::LOCATION, location)], Json(entry)).into_response())
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// Page size, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<u32>,
    /// The `nextCursor` of the previous page.
    cursor: Option<String>,
}

/// A page of history entries, newest first.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct HistoryList {
    items: Vec<HistoryEntry>,
    /// Pass as `?cursor=` for the next page; `null` on the last page.
    next_cursor: Option<String>,
}

/// The caller's live generations and edits, newest first.
#[utoipa::path(get, path = "/v1/history", tag = "generation", params(ListQuery),
    responses(
        (status = 200, description = "A page of entries", body = HistoryList),
        (status = 400, description = "`invalid-query`", body = ErrorBody),
    ))]
async fn list_history(
    State(state): State<AppState>,
    Caller(caller): Caller,
    QueryParams(query): QueryParams<ListQuery>,
) -> Result<Json<HistoryList>, ApiError> {
    let limit = page_limit(query.limit)?;
    let before = job_cursor(query.cursor.as_deref())?;
    // Everyone's history is their own, administrators' too (they can open any entry).
    let filter = JobFilter {
        owner: Some(caller.id.clone()),
        kind: Some(JobKind::Generate),
        live_at: Some(now_millis()),
        limit,
        before,
        ..JobFilter::default()
    };
    let jobs = state.jobs.list(&filter).await?;
    let next_cursor = (jobs.len() == limit as usize)
        .then(|| jobs.last().map(|j| j.id.to_string()))
        .flatten();
    let items = jobs
        .iter()
        .filter_map(|job| spec_of(job).map(|spec| history_entry(&state, job, &spec)))
        .collect();
    Ok(Json(HistoryList { items, next_cursor }))
}

/// A live history entry of the caller's (or any, for an administrator); 404 otherwise.
async fn load_entry(
    state: &AppState,
    caller: &Principal,
    meta: &RequestMeta,
    id: &str,
) -> Result<Job, ApiError> {
    let not_found = || {
        ApiError::not_found(
            "history-entry-not-found",
            format!("no history entry `{id}` (it may have expired or been deleted)"),
        )
    };
    let job = load_job(state, caller, meta, id)
        .await
        .map_err(|_| not_found())?;
    let live = job.expires_at.is_none_or(|at| at > now_millis());
    if job.kind != JobKind::Generate || !live {
        return Err(not_found());
    }
    Ok(job)
}

/// One history entry, with fresh links.
#[utoipa::path(get, path = "/v1/history/{id}", tag = "generation",
    params(("id" = String, Path, description = "The entry id")),
    responses(
        (status = 200, description = "The entry", body = HistoryEntry),
        (status = 404, description = "`history-entry-not-found` (also expired, deleted or another user's)", body = ErrorBody),
    ))]
async fn get_history(
    State(state): State<AppState>,
    Caller(caller): Caller,
    meta: RequestMeta,
    Path(id): Path<String>,
) -> Result<Json<HistoryEntry>, ApiError> {
    let job = load_entry(&state, &caller, &meta, &id).await?;
    let spec = spec_of(&job).ok_or_else(|| ApiError::internal("a generation without its spec"))?;
    Ok(Json(history_entry(&state, &job, &spec)))
}

/// Deletes an entry: a pending job is cancelled, the entry disappears at once, and its
/// outputs are removed now (or by the sweep as soon as a running job finishes).
#[utoipa::path(delete, path = "/v1/history/{id}", tag = "generation",
    params(("id" = String, Path, description = "The entry id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "`history-entry-not-found`", body = ErrorBody),
    ))]
async fn delete_history(
    State(state): State<AppState>,
    Caller(caller): Caller,
    meta: RequestMeta,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let job = load_entry(&state, &caller, &meta, &id).await?;
    if job.status == JobStatus::Pending
        && let CancelOutcome::Cancelled(_) = state.jobs.cancel(job.id).await?
    {
        tracing::info!(job_id = %job.id, "pending generation cancelled by delete");
    }
    state.jobs.expire(job.id, now_millis()).await?;
    let job = state.jobs.get(job.id).await?.unwrap_or(job);
    if job.status.is_terminal() {
        remove_outputs(&state, &job).await?;
    }
    Ok(StatusCode::NO_CONTENT)
}

/// Optional: an empty body runs the entry with a new random seed.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct RegenerateBody {
    /// The seed to use; absent: a new random one.
    seed: Option<u32>,
}

/// Runs an entry again as a new entry: the same request with the given seed (or a new
/// random one). The body may be empty.
#[utoipa::path(post, path = "/v1/history/{id}/regenerate", tag = "generation",
    params(("id" = String, Path, description = "The entry to run again"), WaitQuery),
    request_body(content = Option<RegenerateBody>, content_type = "application/json"),
    responses(
        (status = 200, description = "Finished within `wait`", body = HistoryEntry),
        (status = 202, description = "Accepted (still running)", body = HistoryEntry),
        (status = 404, description = "`history-entry-not-found`", body = ErrorBody),
        (status = 413, description = "`payload-too-large`", body = ErrorBody),
        GenerationErrors,
    ))]
async fn regenerate(
    State(state): State<AppState>,
    Caller(caller): Caller,
    meta: RequestMeta,
    Path(id): Path<String>,
    QueryParams(query): QueryParams<WaitQuery>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let wait = wait_secs(&state, &query)?;
    let body: RegenerateBody = if body.iter().all(u8::is_ascii_whitespace) {
        RegenerateBody::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::bad_request("invalid-json", format!("the body: {e}")))?
    };
    let job = load_entry(&state, &caller, &meta, &id).await?;
    let spec = spec_of(&job).ok_or_else(|| ApiError::internal("a generation without its spec"))?;
    let seed = body.seed;
    // The stored body has the style applied; put the user's own texts back so the style
    // is applied once, as in the original request.
    let mut request = spec.request.clone();
    let task = TaskType::ALL
        .into_iter()
        .find(|t| t.as_str() == spec.task_type)
        .ok_or_else(|| ApiError::internal("a stored task type is unknown"))?;
    if let Some(params) = request
        .get_mut(task.params_key())
        .and_then(Value::as_object_mut)
    {
        match &spec.prompt {
            Some(p) => params.insert("text".to_owned(), Value::String(p.clone())),
            None => params.remove("text"),
        };
        match &spec.negative_prompt {
            Some(n) => params.insert("negativeText".to_owned(), Value::String(n.clone())),
            None => params.remove("negativeText"),
        };
    }
    if let Some(config) = request
        .get_mut("imageGenerationConfig")
        .and_then(Value::as_object_mut)
    {
        match seed {
            Some(seed) => config.insert("seed".to_owned(), json!(seed)),
            None => config.remove("seed"),
        };
    }
    let input = GenerationInput {
        body: request,
        model: Some(spec.model.clone()),
        engine: Some(spec.engine.clone()),
        output_format: Some(spec.output_format.clone()),
        output_quality: spec.output_quality,
        style: spec.style_preset.clone(),
        dialect: Dialect::Native,
        idempotency_key: None,
    };
    let job = generation::submit(&state, &caller, input)
        .await
        .map_err(GenError::into_api)?;
    respond(&state, job, wait).await
}

/// What can generate here.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct EnginesView {
    /// In the order they are tried.
    engines: Vec<EngineView>,
    /// Style presets (`stylePreset`).
    styles: Vec<StyleView>,
    /// Model ids whose request rules Easel knows.
    models: Vec<&'static str>,
    /// The model whose rules apply when a request names none.
    default_model: String,
    /// How long entries and their images are kept (0: forever).
    retention_days: f64,
}

/// One engine's capabilities.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = Engine)]
struct EngineView {
    name: String,
    /// Task types it runs (`TEXT_IMAGE`, `INPAINTING`, …).
    tasks: Vec<&'static str>,
    /// Most images per request.
    max_images: u32,
    /// Whether it follows the prompt (the classic engine does not).
    follows_prompt: bool,
    /// Whether it understands `maskPrompt`.
    mask_prompts: bool,
    /// Whether it can run now (a local model may not be installed yet).
    available: bool,
    /// Why it cannot run, and how to fix that.
    #[serde(skip_serializing_if = "Option::is_none")]
    unavailable_reason: Option<String>,
}

/// A style preset.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Style)]
struct StyleView {
    /// What `stylePreset` names.
    name: String,
    /// For people.
    label: String,
}

/// The engines, styles and models on offer.
#[utoipa::path(get, path = "/v1/engines", tag = "generation",
    responses((status = 200, description = "What is on offer", body = EnginesView)))]
async fn engines(State(state): State<AppState>, Caller(_): Caller) -> Json<EnginesView> {
    let engines = state
        .engines
        .all()
        .iter()
        .map(|engine| {
            let caps = engine.capabilities();
            EngineView {
                name: engine.name().to_owned(),
                tasks: caps.tasks.iter().map(|t| t.as_str()).collect(),
                max_images: caps.max_images,
                follows_prompt: caps.follows_prompt,
                mask_prompts: caps.mask_prompts,
                available: engine.unavailable().is_none(),
                unavailable_reason: engine.unavailable(),
            }
        })
        .collect();
    let styles = state
        .generation
        .styles
        .iter()
        .map(|(name, style)| StyleView {
            name: name.clone(),
            label: style.label.clone(),
        })
        .collect();
    Json(EnginesView {
        engines,
        styles,
        models: vec![easel_engines::TITAN_IMAGE_V2, easel_engines::NOVA_CANVAS],
        default_model: state.generation.default_model.clone(),
        retention_days: state.generation.retention_secs as f64 / 86_400.0,
    })
}

/// One request-log record.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct RequestLogEntry {
    /// A time-ordered id, also the paging cursor.
    id: String,
    owner: String,
    /// RFC 3339.
    at: String,
    /// `native`, `bedrock`, `openai` or `seed`.
    dialect: String,
    task_type: String,
    prompt: Option<String>,
    engine: String,
    model: String,
    seed: Option<u32>,
    /// `succeeded`, `failed`, `retrying` or `refused`.
    status: String,
    error_code: Option<String>,
    /// Time spent in the engine.
    latency_ms: Option<u64>,
    output_bytes: u64,
    image_count: u32,
    job_id: Option<String>,
}

/// A page of the request log, newest first.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct RequestLogPage {
    items: Vec<RequestLogEntry>,
    /// Pass as `?cursor=` for the next page; `null` on the last page.
    next_cursor: Option<String>,
}

/// The caller's request log: every generation asked for, refused ones included.
#[utoipa::path(get, path = "/v1/requests", tag = "generation", params(ListQuery),
    responses(
        (status = 200, description = "A page of records", body = RequestLogPage),
        (status = 400, description = "`invalid-query`", body = ErrorBody),
    ))]
async fn request_log(
    State(state): State<AppState>,
    Caller(caller): Caller,
    QueryParams(query): QueryParams<ListQuery>,
) -> Result<Json<RequestLogPage>, ApiError> {
    let (limit, cursor) = (page_limit(query.limit)?, query.cursor);
    let records = state
        .request_log
        .list_requests(Some(&caller.id), cursor.as_deref(), limit)
        .await?;
    let next_cursor = (records.len() == limit as usize)
        .then(|| records.last().map(|r| r.id.clone()))
        .flatten();
    let items = records
        .into_iter()
        .map(|r| RequestLogEntry {
            at: rfc3339(r.at),
            id: r.id,
            owner: r.owner,
            dialect: r.dialect,
            task_type: r.task_type,
            prompt: r.prompt,
            engine: r.engine,
            model: r.model,
            seed: r.seed,
            status: r.status,
            error_code: r.error_code,
            latency_ms: r.latency_ms,
            output_bytes: r.output_bytes,
            image_count: r.image_count,
            job_id: r.job_id.map(|id| id.to_string()),
        })
        .collect();
    Ok(Json(RequestLogPage { items, next_cursor }))
}
