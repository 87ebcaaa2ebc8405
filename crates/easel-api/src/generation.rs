//! Generation and editing, shared by every dialect (native, Bedrock-compatible,
//! OpenAI-compatible, the seed routes): validate the Bedrock-model body, apply the style
//! preset, moderate the prompt, choose the engine, count the quota, and create a durable
//! `generate` job whose stored body is exactly what will run. Also waiting for a job,
//! reading its outputs, the history view, and removing outputs (history delete and the
//! retention sweep).

mod history;
mod moderation;
mod styles;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use easel_core::{GenerateSpec, JobId, JobKind, JobStatus, Millis, Principal, now_millis};
use easel_engines::request::{self, GenerationRequest, ModelFamily, Quality, TaskType};
use easel_engines::{ChooseError, Engines, model_family};
use easel_store::{Job, NewJob, RequestRecord, StoreError};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

pub use history::{HistoryEntry, HistoryImage, history_entry};
pub use moderation::{BadPattern, Moderation};
pub use styles::{Style, builtin_styles};

use crate::auth::OpClass;
use crate::auth::limits::consume_quota;
use crate::{ApiError, AppState};

/// Settings of generation and editing.
#[derive(Debug, Clone)]
pub struct GenerationSettings {
    /// The model whose request rules apply when a request names none.
    pub default_model: String,
    /// Style presets by name.
    pub styles: BTreeMap<String, Style>,
    /// Prompt moderation.
    pub moderation: Moderation,
    /// How long outputs are kept, in seconds (0: forever).
    pub retention_secs: i64,
    /// Longest `?wait` accepted, and how long synchronous dialects wait for a result.
    pub max_wait_secs: u64,
    /// Largest generation request body (images travel inside it, in base64).
    pub max_body_bytes: usize,
}

impl Default for GenerationSettings {
    fn default() -> Self {
        GenerationSettings {
            default_model: easel_engines::TITAN_IMAGE_V2.to_owned(),
            styles: builtin_styles(),
            moderation: Moderation::default(),
            retention_secs: 30 * 86_400,
            max_wait_secs: 300,
            max_body_bytes: 25 * 1024 * 1024,
        }
    }
}

/// Which API a request came through; errors are rendered in its dialect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// `/v1/generations`.
    Native,
    /// `/model/{id}/invoke`.
    Bedrock,
    /// `/v1/images/*`.
    OpenAi,
    /// The seed routes.
    Seed,
}

impl Dialect {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Dialect::Native => "native",
            Dialect::Bedrock => "bedrock",
            Dialect::OpenAi => "openai",
            Dialect::Seed => "seed",
        }
    }
}

/// A generation request as a dialect hands it over.
#[derive(Debug, Clone)]
pub struct GenerationInput {
    /// The InvokeModel body.
    pub body: Value,
    /// The model id (its request rules apply); `None`: the default model.
    pub model: Option<String>,
    /// The engine by name; `None`: the first that can do the task.
    pub engine: Option<String>,
    /// `png`, `jpeg` or `webp`; `None`: PNG.
    pub output_format: Option<String>,
    /// Lossy quality 1–100.
    pub output_quality: Option<u8>,
    /// A style preset by name.
    pub style: Option<String>,
    /// Where it came from.
    pub dialect: Dialect,
    /// The client's `Idempotency-Key`.
    pub idempotency_key: Option<String>,
}

/// Why a generation did not happen (or did not finish in time).
#[derive(Debug, Clone)]
pub enum GenError {
    /// The body broke a rule; `message` is Bedrock's full wording.
    Invalid {
        /// `Malformed input request: #/…: …, please reformat your input and try again.`
        message: String,
        /// The JSON pointer of the field, when one is at fault.
        pointer: Option<String>,
    },
    /// A request option outside the body is wrong (engine, format, style…).
    BadOption {
        /// Stable code.
        code: &'static str,
        /// The field, in the dialect's naming.
        field: &'static str,
        /// What is wrong.
        message: String,
    },
    /// Moderation refused the prompt, or an engine's content filter did.
    Refused(String),
    /// No configured engine can do the task.
    Unsupported(String),
    /// The engine for the task cannot run now (its model is not installed).
    Unavailable(String),
    /// The engine failed; `code` is the engine error code.
    Engine {
        /// `engine-throttled`, `engine-failed`, …
        code: String,
        /// What happened.
        message: String,
    },
    /// The job did not finish within the wait.
    Timeout(JobId),
    /// A gateway error (quota, idempotency, storage).
    Api(ApiError),
}

impl From<ApiError> for GenError {
    fn from(error: ApiError) -> Self {
        GenError::Api(error)
    }
}

impl From<StoreError> for GenError {
    fn from(error: StoreError) -> Self {
        GenError::Api(error.into())
    }
}

impl GenError {
    /// The error in the native shape.
    pub fn into_api(self) -> ApiError {
        match self {
            GenError::Invalid { message, .. } => ApiError::bad_request("invalid-request", message),
            GenError::BadOption { code, message, .. } => ApiError::bad_request(code, message),
            GenError::Refused(message) => ApiError::bad_request("content-filtered", message),
            GenError::Unsupported(message) => {
                ApiError::bad_request("engine-unsupported-task", message)
            }
            GenError::Unavailable(message) => ApiError::new(
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                "engine-unavailable",
                message,
            ),
            GenError::Engine { code, message } => engine_api_error(&code, message),
            GenError::Timeout(id) => ApiError::new(
                axum::http::StatusCode::GATEWAY_TIMEOUT,
                "generation-timeout",
                format!("generation {id} did not finish in time; it goes on: GET /v1/history/{id}"),
            ),
            GenError::Api(error) => error,
        }
    }
}

fn engine_api_error(code: &str, message: String) -> ApiError {
    use axum::http::StatusCode;
    match code {
        "content-filtered" => ApiError::bad_request("content-filtered", message),
        "invalid-request" => ApiError::bad_request("invalid-request", message),
        "engine-unsupported-task" => ApiError::bad_request("engine-unsupported-task", message),
        "engine-throttled" => {
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "engine-throttled", message)
        }
        "cancelled" => ApiError::new(StatusCode::CONFLICT, "cancelled", message),
        "engine-unavailable" => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "engine-unavailable",
            message,
        ),
        _ => ApiError::new(StatusCode::BAD_GATEWAY, "engine-failed", message),
    }
}

/// The message of a moderation refusal (Bedrock's wording, which clients already show).
pub const REFUSAL: &str = "This request has been blocked by our content filters.";

/// Validates, moderates and enqueues a generation for `caller`; returns the job (a
/// replay of the earlier one for a repeated `Idempotency-Key`).
pub async fn submit(
    state: &AppState,
    caller: &Principal,
    input: GenerationInput,
) -> Result<Job, GenError> {
    let settings = &state.generation;
    let model = input
        .model
        .clone()
        .unwrap_or_else(|| settings.default_model.clone());
    let family = model_family(&model).ok_or_else(|| GenError::BadOption {
        code: "unknown-model",
        field: "model",
        message: format!(
            "the model `{model}` is not supported; use {} or {}",
            easel_engines::TITAN_IMAGE_V2,
            easel_engines::NOVA_CANVAS
        ),
    })?;
    let output_format = match input.output_format.as_deref() {
        None | Some("png") => "png",
        Some("jpeg" | "jpg") => "jpeg",
        Some("webp") => "webp",
        Some(other) => {
            return Err(GenError::BadOption {
                code: "invalid-output-format",
                field: "outputFormat",
                message: format!("outputFormat `{other}` is not one of png, jpeg, webp"),
            });
        }
    };
    if let Some(q) = input.output_quality
        && !(1..=100).contains(&q)
    {
        return Err(GenError::BadOption {
            code: "invalid-output-quality",
            field: "outputQuality",
            message: format!("outputQuality must be 1–100, not {q}"),
        });
    }
    let style = match &input.style {
        None => None,
        Some(name) => Some((
            name.clone(),
            settings
                .styles
                .get(name)
                .cloned()
                .ok_or_else(|| GenError::BadOption {
                    code: "unknown-style",
                    field: "stylePreset",
                    message: format!(
                        "no style preset `{name}`; known: {}",
                        settings
                            .styles
                            .keys()
                            .cloned()
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                })?,
        )),
    };
    let request_hash = input_hash(&input, &model);

    let body = input.body.clone();
    let parsed = tokio::task::spawn_blocking(move || request::parse(&body, family))
        .await
        .map_err(ApiError::internal)?
        .map_err(|v| GenError::Invalid {
            message: v.bedrock_message(),
            pointer: Some(v.pointer),
        })?;
    let task = parsed.task.task_type();
    let prompt = parsed.task.text().map(str::to_owned);
    let negative = negative_text(&parsed);

    if let Some(text) = &prompt
        && !settings.moderation.allows(text)
    {
        log_refusal(state, caller, &input, &parsed, &model).await;
        return Err(GenError::Refused(REFUSAL.to_owned()));
    }

    let engine = choose_engine(&state.engines, input.engine.as_deref(), task)?;
    let max_images = engine.capabilities().max_images;
    if parsed.config.number_of_images > max_images {
        return Err(GenError::Invalid {
            message: format!(
                "Malformed input request: #/imageGenerationConfig/numberOfImages: the `{}` engine makes at most {max_images} images per request, please reformat your input and try again.",
                engine.name()
            ),
            pointer: Some("#/imageGenerationConfig/numberOfImages".to_owned()),
        });
    }

    // The stored body: the style applied, the seed fixed.
    let mut stored = input.body.clone();
    if let Some((name, style)) = &style {
        apply_style(
            &mut stored,
            task,
            family,
            name,
            style,
            prompt.as_deref(),
            negative.as_deref(),
        )?;
    }
    set_seed(&mut stored, parsed.config.seed);

    let class = if task.is_edit() {
        OpClass::Edit
    } else {
        OpClass::Generate
    };
    consume_quota(state, caller, class).await?;

    let spec = GenerateSpec {
        request: stored,
        model,
        engine: engine.name().to_owned(),
        output_format: output_format.to_owned(),
        output_quality: input.output_quality,
        style_preset: style.map(|(name, _)| name),
        prompt,
        negative_prompt: negative,
        task_type: task.as_str().to_owned(),
        operation: class.as_str().to_owned(),
        width: parsed.config.width,
        height: parsed.config.height,
        number_of_images: parsed.config.number_of_images,
        seed: parsed.config.seed,
        cfg_scale: parsed.config.cfg_scale,
        quality: match parsed.config.quality {
            Quality::Standard => "standard",
            Quality::Premium => "premium",
        }
        .to_owned(),
        dialect: input.dialect.as_str().to_owned(),
    };
    let now = now_millis();
    let new = NewJob {
        id: JobId::new(),
        owner: caller.id.clone(),
        kind: JobKind::Generate,
        spec: serde_json::to_value(&spec).map_err(ApiError::internal)?,
        image_count: spec.number_of_images,
        max_attempts: state.settings.max_attempts,
        idempotency_key: input.idempotency_key,
        request_hash,
        expires_at: (settings.retention_secs > 0).then(|| now + settings.retention_secs * 1000),
    };
    match state.jobs.create(new).await {
        Ok(created) => Ok(created.job),
        Err(StoreError::IdempotencyConflict) => Err(GenError::Api(ApiError::new(
            axum::http::StatusCode::UNPROCESSABLE_ENTITY,
            "idempotency-key-reused",
            "this Idempotency-Key was already used with a different request body; use a new key",
        ))),
        Err(other) => Err(other.into()),
    }
}

fn choose_engine<'a>(
    engines: &'a Engines,
    requested: Option<&str>,
    task: TaskType,
) -> Result<&'a Arc<dyn easel_engines::Engine>, GenError> {
    engines
        .choose(requested, task)
        .map_err(|error| match error {
            ChooseError::Unknown { .. } => GenError::BadOption {
                code: "unknown-engine",
                field: "engine",
                message: error.to_string(),
            },
            ChooseError::Unsupported(inner) => GenError::Unsupported(inner.to_string()),
            ChooseError::Unavailable { .. } => GenError::Unavailable(error.to_string()),
        })
}

/// A hash of what the client sent, for idempotency (the stored spec has a random seed
/// filled in, so it cannot be compared across retries).
fn input_hash(input: &GenerationInput, model: &str) -> String {
    let canonical = json!({
        "body": input.body,
        "model": model,
        "engine": input.engine,
        "format": input.output_format,
        "quality": input.output_quality,
        "style": input.style,
    });
    hex::encode(Sha256::digest(canonical.to_string().as_bytes()))
}

fn negative_text(parsed: &GenerationRequest) -> Option<String> {
    use easel_engines::request::Task;
    match &parsed.task {
        Task::TextImage { negative_text, .. }
        | Task::Inpainting { negative_text, .. }
        | Task::Outpainting { negative_text, .. }
        | Task::ImageVariation { negative_text, .. }
        | Task::ColorGuided { negative_text, .. } => negative_text.clone(),
        Task::BackgroundRemoval { .. } => None,
    }
}

fn max_text(family: ModelFamily) -> usize {
    match family {
        ModelFamily::Titan => 512,
        ModelFamily::Nova => 1024,
    }
}

/// Writes the styled prompt and negative text into the body's task parameters.
fn apply_style(
    body: &mut Value,
    task: TaskType,
    family: ModelFamily,
    name: &str,
    style: &Style,
    prompt: Option<&str>,
    negative: Option<&str>,
) -> Result<(), GenError> {
    let key = task.params_key();
    let Some(prompt) = prompt else {
        return Err(GenError::BadOption {
            code: "style-needs-prompt",
            field: "stylePreset",
            message: format!("a style preset applies to a prompt; this {task} request has none"),
        });
    };
    let limit = max_text(family);
    let styled = style.apply_prompt(prompt);
    let negative = style.apply_negative(negative);
    for (field, text) in [("text", Some(&styled)), ("negativeText", negative.as_ref())] {
        if let Some(text) = text {
            let length = text.chars().count();
            if length > limit {
                let pointer = format!("#/{key}/{field}");
                return Err(GenError::Invalid {
                    message: format!(
                        "Malformed input request: {pointer}: with the style `{name}` added the text is {length} characters, more than the {limit} allowed; shorten it or use no style, please reformat your input and try again."
                    ),
                    pointer: Some(pointer),
                });
            }
        }
    }
    let params = body
        .get_mut(key)
        .and_then(Value::as_object_mut)
        .expect("a parsed body has its parameters object");
    params.insert("text".to_owned(), Value::String(styled));
    if let Some(negative) = negative {
        params.insert("negativeText".to_owned(), Value::String(negative));
    }
    Ok(())
}

fn set_seed(body: &mut Value, seed: u32) {
    let root = body.as_object_mut().expect("a parsed body is an object");
    let config = root
        .entry("imageGenerationConfig")
        .or_insert_with(|| Value::Object(Map::new()));
    if let Some(config) = config.as_object_mut() {
        config.insert("seed".to_owned(), json!(seed));
    }
}

async fn log_refusal(
    state: &AppState,
    caller: &Principal,
    input: &GenerationInput,
    parsed: &GenerationRequest,
    model: &str,
) {
    let record = RequestRecord {
        id: uuid::Uuid::now_v7().to_string(),
        owner: caller.id.clone(),
        at: now_millis(),
        dialect: input.dialect.as_str().to_owned(),
        task_type: parsed.task.task_type().as_str().to_owned(),
        prompt: parsed.task.text().map(str::to_owned),
        engine: input.engine.clone().unwrap_or_default(),
        model: model.to_owned(),
        seed: Some(parsed.config.seed),
        status: "refused".to_owned(),
        error_code: Some("content-filtered".to_owned()),
        latency_ms: None,
        output_bytes: 0,
        image_count: 0,
        job_id: None,
    };
    if let Err(error) = state.request_log.log_request(&record).await {
        tracing::warn!(%error, "could not log a refused request");
    }
}

/// Waits until job `id` is finished or `timeout` passes; returns it as last read.
pub async fn wait_for(state: &AppState, id: JobId, timeout: Duration) -> Result<Job, GenError> {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut changes = state.wakeups.subscribe();
    loop {
        let job = state
            .jobs
            .get(id)
            .await?
            .ok_or_else(|| GenError::Api(ApiError::internal("a job vanished while awaited")))?;
        if job.status.is_terminal() || tokio::time::Instant::now() >= deadline {
            return Ok(job);
        }
        // Wake on a change of this job (this process's workers), or poll (other
        // processes' workers), whichever comes first.
        let wake = async {
            loop {
                match changes.recv().await {
                    Ok(changed) if changed != id => continue,
                    _ => return,
                }
            }
        };
        tokio::select! {
            () = wake => {}
            () = tokio::time::sleep(Duration::from_millis(250)) => {}
            () = tokio::time::sleep_until(deadline) => {}
            () = state.shutdown.cancelled() => return Ok(job),
        }
    }
}

/// The finished job's images, or its failure as a [`GenError`]; a job still running
/// is a [`GenError::Timeout`].
pub fn finished(job: &Job) -> Result<(), GenError> {
    match job.status {
        JobStatus::Completed => Ok(()),
        JobStatus::Pending | JobStatus::Running => Err(GenError::Timeout(job.id)),
        JobStatus::Cancelled => Err(GenError::Engine {
            code: "cancelled".to_owned(),
            message: "the generation was cancelled".to_owned(),
        }),
        JobStatus::Failed => {
            let failure = job.results.iter().find_map(|r| r.error.as_ref());
            let (code, message) = match failure {
                Some(f) => (f.code.clone(), f.message.clone()),
                None => (
                    "engine-failed".to_owned(),
                    job.error
                        .clone()
                        .unwrap_or_else(|| "the generation failed".to_owned()),
                ),
            };
            if code == "content-filtered" {
                return Err(GenError::Refused(message));
            }
            if code == "invalid-request" {
                return Err(GenError::Invalid {
                    message,
                    pointer: None,
                });
            }
            Err(GenError::Engine { code, message })
        }
    }
}

/// The bytes of a completed job's images, in order.
pub async fn output_bytes(state: &AppState, job: &Job) -> Result<Vec<Bytes>, GenError> {
    let mut out = Vec::new();
    for output in job.results.iter().filter_map(|r| r.output.as_ref()) {
        out.push(state.blobs.get(&output.object).await?);
    }
    Ok(out)
}

/// The stored spec of a generate job.
pub fn spec_of(job: &Job) -> Option<GenerateSpec> {
    (job.kind == JobKind::Generate)
        .then(|| serde_json::from_value(job.spec.clone()).ok())
        .flatten()
}

/// Deletes a finished job's outputs (bytes and metadata) and records that it did.
pub async fn remove_outputs(state: &AppState, job: &Job) -> Result<usize, StoreError> {
    let mut removed = 0;
    for output in job.results.iter().filter_map(|r| r.output.as_ref()) {
        match state.blobs.delete(&output.object).await {
            Ok(()) | Err(StoreError::NotFound) => {}
            Err(other) => return Err(other),
        }
        state.objects.delete_object(&output.object).await?;
        removed += 1;
    }
    state.jobs.outputs_removed(job.id, now_millis()).await?;
    Ok(removed)
}

/// Removes the outputs of every expired, finished job; returns how many jobs it swept.
pub async fn sweep_expired(state: &AppState, now: Millis) -> Result<usize, StoreError> {
    let mut swept = 0;
    loop {
        let due = state.jobs.expired(now, 100).await?;
        if due.is_empty() {
            return Ok(swept);
        }
        for job in &due {
            let removed = remove_outputs(state, job).await?;
            tracing::info!(job_id = %job.id, removed, "expired outputs removed");
            swept += 1;
        }
    }
}
