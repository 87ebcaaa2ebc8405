//! The seeds' generation and editing routes. Seed 003: `GET /imagegenApi?prompt=` and
//! `POST /generate-image {"prompt"}` generate one 1024×1024 Titan image exactly as its
//! Lambda asked Bedrock, and answer with its body (`short_url_1h`, `short_url_24h`,
//! `filename` like `img-a1b2c3.png`, `short_id`, `message`, `note`). Seed 000:
//! `POST /edit-image {"image","mask","prompt","mode"}` (base64 image and mask, mode
//! `inpainting` or `outpainting`) answers with the edited image, the request id, and the
//! execution metadata the seed logged (engine latency, output size).

use axum::Json;
use axum::extract::State;
use axum::routing::{get, post};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use easel_core::{Dialect, OutputFormat, TaskType};
use easel_services::generation::{GenerationInput, finished};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use utoipa::{IntoParams, ToSchema};

use crate::auth::Caller;
use crate::error::ErrorBody;
use crate::extract::{JsonBody, QueryParams};
use crate::routes::{Access, Routes};
use crate::views::{Links, ONE_DAY, ONE_HOUR};
use crate::{ApiError, AppState};

pub fn routes() -> Routes {
    Routes::new()
        .add(
            "/imagegenApi",
            Access::Authenticated,
            &["GET"],
            get(imagegen_api),
        )
        .add(
            "/generate-image",
            Access::Authenticated,
            &["POST"],
            post(generate_image),
        )
        .add(
            "/edit-image",
            Access::Authenticated,
            &["POST"],
            post(edit_image),
        )
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct PromptQuery {
    /// What to draw (at most 512 characters).
    #[param(min_length = 1, max_length = 512)]
    prompt: String,
}

/// Seed 003's body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct PromptBody {
    /// What to draw (at most 512 characters).
    #[schema(example = "a lighthouse at dusk", min_length = 1, max_length = 512)]
    prompt: String,
}

/// Seed 003's answer.
#[derive(Debug, Serialize, ToSchema)]
struct GeneratedImage {
    /// Presigned GET, one hour.
    short_url_1h: String,
    /// Presigned GET, 24 hours.
    short_url_24h: String,
    /// `img-<hash>.png`.
    filename: String,
    /// 8 hex digits.
    short_id: String,
    message: &'static str,
    note: &'static str,
}

/// Seed 000's answer.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct EditedImage {
    /// The job's id.
    request_id: String,
    /// The edited image, base64 PNG.
    image: String,
    /// `inpainting` or `outpainting`.
    mode: String,
    /// Time spent in the engine.
    execution_time_ms: Option<u64>,
    output_size_bytes: usize,
    /// The engine that ran it.
    engine: Option<String>,
}

/// What the synchronous seed routes can answer besides the result.
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)] // only described, never built: the handlers answer `ApiError`
enum SeedGenerationErrors {
    /// `invalid-request` (Bedrock's message), `content-filtered`, `invalid-mode`,
    /// `engine-unsupported-task`.
    #[response(status = 400)]
    Invalid(ErrorBody),
    /// `cancelled`: the job was cancelled while awaited.
    #[response(status = 409)]
    Cancelled(ErrorBody),
    /// `quota-exceeded`: the plan's `generate` or `edit` quota is used up.
    #[response(status = 429)]
    Limited(ErrorBody),
    /// `engine-failed`.
    #[response(status = 502)]
    EngineFailed(ErrorBody),
    /// `engine-throttled`, or `engine-unavailable` (the engine's model is not installed).
    #[response(status = 503)]
    EngineThrottled(ErrorBody),
    /// `generation-timeout`: not finished within `generation.max_wait_secs`.
    #[response(status = 504)]
    Timeout(ErrorBody),
}

/// Seed 003: one 1024×1024 Titan image for `?prompt=`, with short links.
#[utoipa::path(get, path = "/imagegenApi", tag = "seed", params(PromptQuery),
    responses((status = 200, description = "The image's links", body = GeneratedImage),
        SeedGenerationErrors))]
async fn imagegen_api(
    State(state): State<AppState>,
    Caller(caller): Caller,
    QueryParams(query): QueryParams<PromptQuery>,
) -> Result<Json<GeneratedImage>, ApiError> {
    generate(&state, &caller, query.prompt).await
}

/// Seed 003: as `GET /imagegenApi`, with the prompt in a JSON body.
#[utoipa::path(post, path = "/generate-image", tag = "seed", request_body = PromptBody,
    responses((status = 200, description = "The image's links", body = GeneratedImage),
        SeedGenerationErrors))]
async fn generate_image(
    State(state): State<AppState>,
    Caller(caller): Caller,
    JsonBody(body): JsonBody<PromptBody>,
) -> Result<Json<GeneratedImage>, ApiError> {
    generate(&state, &caller, body.prompt).await
}

/// Runs a generation to the end, as the synchronous seed routes do.
async fn run(
    state: &AppState,
    caller: &easel_core::Principal,
    body: Value,
) -> Result<easel_store::Job, ApiError> {
    let input = GenerationInput {
        body,
        model: Some(easel_engines::TITAN_IMAGE_V2.to_owned()),
        engine: None,
        engine_preferred: false,
        output_format: Some(OutputFormat::Png),
        output_quality: None,
        style: None,
        dialect: Dialect::Seed,
        idempotency_key: None,
        callback_url: None,
    };
    let generation = &state.services.generation;
    let job = generation
        .submit_and_wait(caller, input, generation.max_wait())
        .await?;
    finished(&job)?;
    Ok(job)
}

async fn generate(
    state: &AppState,
    caller: &easel_core::Principal,
    prompt: String,
) -> Result<Json<GeneratedImage>, ApiError> {
    // Seed 003's request body, verbatim but for the prompt.
    let body = json!({
        "taskType": "TEXT_IMAGE",
        "textToImageParams": { "text": prompt },
        "imageGenerationConfig": {
            "numberOfImages": 1,
            "quality": "standard",
            "cfgScale": 8.0,
            "height": 1024,
            "width": 1024,
            "seed": 0
        }
    });
    let job = run(state, caller, body).await?;
    let output = job
        .results
        .iter()
        .find_map(|r| r.output.as_ref())
        .ok_or_else(|| ApiError::internal("a completed generation without an output"))?;
    let links = Links::sign(state.signer.as_ref(), std::slice::from_ref(&output.object)).await?;
    let (url_1h, _) = links.url(&output.object, ONE_HOUR);
    let (url_24h, _) = links.url(&output.object, ONE_DAY);
    let short_id = hex::encode(&Sha256::digest(job.id.to_string().as_bytes())[..4]);
    Ok(Json(GeneratedImage {
        short_url_1h: url_1h,
        short_url_24h: url_24h,
        filename: output.object.key.file_name().to_owned(),
        short_id,
        message: "Image generated with shortened filename",
        note: "URLs are much shorter due to compact filename",
    }))
}

/// Seed 000's edit request.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct EditRequest {
    /// Base64 PNG or JPEG.
    #[schema(format = "base64-image")]
    image: String,
    /// Base64 mask: black = the area to change (inpainting) or keep (outpainting).
    #[schema(format = "base64-image")]
    mask: String,
    /// What to put there: 1 to 512 characters (Titan's rule).
    #[schema(min_length = 1, max_length = 512)]
    prompt: String,
    /// `inpainting` or `outpainting`.
    #[serde(default = "inpainting")]
    #[schema(default = "inpainting", value_type = EditMode)]
    mode: String,
}

/// The edit of `POST /edit-image`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
#[allow(dead_code)] // described only: the handler matches the text
enum EditMode {
    Inpainting,
    Outpainting,
}

fn inpainting() -> String {
    "inpainting".to_owned()
}

/// Seed 000: inpaints or outpaints under a mask and answers with the image and the
/// execution metadata the seed logged.
#[utoipa::path(post, path = "/edit-image", tag = "seed", request_body = EditRequest,
    responses((status = 200, description = "The edited image", body = EditedImage),
        SeedGenerationErrors))]
async fn edit_image(
    State(state): State<AppState>,
    Caller(caller): Caller,
    JsonBody(request): JsonBody<EditRequest>,
) -> Result<Json<EditedImage>, ApiError> {
    let task = match request.mode.as_str() {
        "inpainting" => TaskType::Inpainting,
        "outpainting" => TaskType::Outpainting,
        other => {
            return Err(ApiError::bad_request(
                "invalid-mode",
                format!("mode `{other}` is not `inpainting` or `outpainting`"),
            ));
        }
    };
    let body = json!({
        "taskType": task,
        task.params_key(): {
            "image": request.image,
            "maskImage": request.mask,
            "text": request.prompt,
        },
        "imageGenerationConfig": { "numberOfImages": 1 }
    });
    let job = run(&state, &caller, body).await?;
    let generation = &state.services.generation;
    let images = generation.output_bytes(&job).await?;
    let image = images
        .first()
        .ok_or_else(|| ApiError::internal("a completed edit without an output"))?;
    let record = generation.run_record(&job).await?;
    Ok(Json(EditedImage {
        request_id: job.id.to_string(),
        image: STANDARD.encode(image),
        mode: request.mode,
        execution_time_ms: record.as_ref().and_then(|r| r.latency_ms),
        output_size_bytes: image.len(),
        engine: record.as_ref().map(|r| r.engine.clone()),
    }))
}
