//! Native generation routes: `POST /v1/generations` (the Bedrock-model body plus Easel's
//! options → a job, or the result with `?wait=`), the history of generations and edits
//! (list, get, delete with its outputs, regenerate), the engines and styles on offer, and
//! the caller's request log.

use std::time::Duration;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use bytes::Bytes;
use easel_core::{Dialect, IdempotencyKey, JobStatus, rfc3339};
use easel_services::generation::{GenerationInput, finished, parse_output_format, spec_of};
use easel_services::jobs::{job_cursor, page_limit};
use easel_store::Job;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::{IntoParams, ToSchema};

use crate::auth::{Caller, RequestMeta};
use crate::error::ErrorBody;
use crate::extract::{IdempotencyKeyHeader, JsonBody, QueryParams};
use crate::openapi::bedrock_body::NativeGenerationBody;
use crate::routes::{Access, Routes};
use crate::views::{HistoryEntry, Links, history_entry};
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
    /// `invalid-json` and `invalid-seed` (a regeneration's body).
    #[response(status = 400)]
    Invalid(ErrorBody),
    /// `cancelled`: the job was cancelled while awaited; `idempotency-key-reused` with a
    /// different body.
    #[response(status = 409)]
    Conflict(ErrorBody),
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

fn wait_of(state: &AppState, query: &WaitQuery) -> Result<Duration, ApiError> {
    Ok(state.services.generation.check_wait(query.wait)?)
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
fn native_input(
    body: Value,
    idempotency_key: Option<IdempotencyKey>,
) -> Result<GenerationInput, ApiError> {
    let Value::Object(mut map) = body else {
        return Err(ApiError::bad_request(
            "invalid-request",
            "the body must be a JSON object: the Bedrock InvokeModel body plus Easel's options",
        ));
    };
    let engine = take_string(&mut map, "engine")?;
    let model = take_string(&mut map, "model")?;
    let output_format = take_string(&mut map, "outputFormat")?
        .as_deref()
        .map(parse_output_format)
        .transpose()?;
    let style = take_string(&mut map, "stylePreset")?;
    let callback_url = take_string(&mut map, "callbackUrl")?;
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
        engine_preferred: false,
        output_format,
        output_quality,
        style,
        dialect: Dialect::Native,
        idempotency_key,
        callback_url,
    })
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
    IdempotencyKeyHeader(idempotency_key): IdempotencyKeyHeader,
    JsonBody(body): JsonBody<Value>,
) -> Result<Response, ApiError> {
    let wait = wait_of(&state, &query)?;
    let input = native_input(body, idempotency_key)?;
    let generation = &state.services.generation;
    let job = generation.submit_and_wait(&caller, input, wait).await?;
    respond(&state, job).await
}

/// 200 with the entry when the job is done; 202 with it while it runs; the job's own
/// error when it failed.
async fn respond(state: &AppState, job: Job) -> Result<Response, ApiError> {
    let spec = spec_of(&job).ok_or_else(|| ApiError::internal("a generation without its spec"))?;
    if job.status == JobStatus::Failed || job.status == JobStatus::Cancelled {
        return Err(finished(&job)
            .err()
            .map(ApiError::from)
            .unwrap_or_else(|| ApiError::internal("a failed job without a failure")));
    }
    let links = Links::for_jobs(state.signer.as_ref(), [&job]).await?;
    let entry = history_entry(&links, &job, &spec);
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
    #[param(
        pattern = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
    )]
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
    let page = state
        .services
        .generation
        .history(&caller, limit, before)
        .await?;
    let links =
        Links::for_jobs(state.signer.as_ref(), page.items.iter().map(|(job, _)| job)).await?;
    let items = page
        .items
        .iter()
        .map(|(job, spec)| history_entry(&links, job, spec))
        .collect();
    let next_cursor = page.next_cursor;
    Ok(Json(HistoryList { items, next_cursor }))
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
    let (job, spec) = state
        .services
        .generation
        .entry(&meta.0, &caller, &id)
        .await?;
    let links = Links::for_jobs(state.signer.as_ref(), [&job]).await?;
    Ok(Json(history_entry(&links, &job, &spec)))
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
    let generation = &state.services.generation;
    generation.delete(&meta.0, &caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Optional: an empty body runs the entry with a new random seed.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct RegenerateBody {
    /// The seed to use (0 to 858993459, the range every model takes); absent: a new
    /// random one.
    #[schema(maximum = 858993459_i64)]
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
    let wait = wait_of(&state, &query)?;
    // No body, or `null` (the document's body is `RegenerateBody` or null): a new seed.
    let body: RegenerateBody = if body.iter().all(u8::is_ascii_whitespace) {
        RegenerateBody::default()
    } else {
        let invalid =
            |e: serde_json::Error| ApiError::bad_request("invalid-json", format!("the body: {e}"));
        let mut value: serde_json::Value = serde_json::from_slice(&body).map_err(invalid)?;
        crate::extract::whole_numbers_as_integers(&mut value);
        serde_json::from_value::<Option<RegenerateBody>>(value)
            .map_err(invalid)?
            .unwrap_or_default()
    };
    let generation = &state.services.generation;
    let job = generation
        .regenerate(&meta.0, &caller, &id, body.seed, wait)
        .await?;
    respond(&state, job).await
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
    let generation = &state.services.generation;
    let settings = generation.settings();
    let engines = generation
        .engines()
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
    let styles = settings
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
        default_model: settings.default_model.clone(),
        retention_days: settings.retention_secs as f64 / 86_400.0,
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
    // Request ids are UUIDs like job ids: the same cursor rule (and form) applies.
    let cursor = job_cursor(query.cursor.as_deref())?.map(|id| id.to_string());
    let limit = page_limit(query.limit)?;
    let page = state
        .services
        .generation
        .request_log(&caller, cursor.as_deref(), limit)
        .await?;
    let next_cursor = page.next_cursor;
    let items = page
        .items
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
