//! OpenAI Images-compatible routes: `POST /v1/images/generations` (JSON),
//! `/v1/images/edits` and `/v1/images/variations` (multipart), with `response_format`
//! `url` (a presigned 1-hour link) or `b64_json`, and errors in OpenAI's shape
//! ([`wire`]), so OpenAI SDKs work with only the base URL changed. Requests become the
//! Bedrock request model ([`images`] prepares their pictures) and run like any other
//! generation (moderation, quotas, history, request log).

pub(crate) mod fuzzing;
mod images;
mod wire;

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use easel_core::{Dialect, Principal, now_millis};
use easel_services::generation::{GenerationInput, finished};
use serde::Serialize;
use serde_json::{Value, json};
use utoipa::ToSchema;

use crate::AppState;
use crate::routes::{Access, Routes};
use crate::views::{Links, ONE_HOUR};
use wire::{GenerationsRequest, ImageForm, ImageOptions, OpenAiCaller, OpenAiError, OpenAiJson};

pub(super) use wire::OpenAiErrorBody;

pub fn routes() -> Routes {
    Routes::new()
        .add(
            "/v1/images/generations",
            Access::Authenticated,
            &["POST"],
            post(generations),
        )
        .add(
            "/v1/images/edits",
            Access::Authenticated,
            &["POST"],
            post(edits),
        )
        .add(
            "/v1/images/variations",
            Access::Authenticated,
            &["POST"],
            post(variations),
        )
}

/// OpenAI's images answer.
#[derive(Serialize, ToSchema)]
struct ImagesResponse {
    /// Unix seconds.
    created: i64,
    data: Vec<ImageData>,
}

/// One image: a link or the bytes, as `response_format` asked.
#[derive(Serialize, ToSchema)]
struct ImageData {
    /// `response_format=url`: a presigned link valid for one hour.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    url: Option<String>,
    /// `response_format=b64_json`: the image in base64.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    b64_json: Option<String>,
}

/// `POST /v1/images/edits` (multipart/form-data). Image files have the document's own
/// format `image-file`: a PNG, JPEG or WebP file.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)] // described only: `wire::ImageForm` reads the fields one by one
#[schema(as = EditForm)]
struct EditFormDoc {
    /// The image; its transparent pixels are edited unless a `mask` is given. `image[]`
    /// is accepted too.
    #[schema(value_type = String, format = "image-file")]
    image: Vec<u8>,
    /// The mask, of the image's size: transparent = edit.
    #[schema(value_type = Option<String>, format = "image-file", nullable = false)]
    mask: Option<Vec<u8>>,
    /// 1 to 512 characters (1024 with `model` `amazon.nova-canvas-v1:0`).
    #[schema(min_length = 1, max_length = 512)]
    prompt: String,
    /// `WIDTHxHEIGHT` or `auto`; read, but edits keep the image's size.
    #[schema(schema_with = crate::openapi::openai::any_size_schema)]
    size: Option<String>,
    /// 1 to 5 (Titan's and Nova Canvas's most images per request).
    #[schema(schema_with = crate::openapi::openai::count_text_schema)]
    n: Option<String>,
    /// `url` (default) or `b64_json`.
    #[schema(schema_with = crate::openapi::openai::response_format_schema)]
    response_format: Option<String>,
    /// A Bedrock model id picks its request rules; other names use the default model.
    #[schema(nullable = false)]
    model: Option<String>,
    /// `hd`/`high`: Titan's `premium` quality.
    #[schema(nullable = false)]
    quality: Option<String>,
    /// An engine by name (`GET /v1/engines`) that can do the task.
    #[schema(nullable = false)]
    engine: Option<String>,
    /// Easel's: `png`, `jpeg` or `webp`.
    #[schema(schema_with = crate::openapi::openai::output_format_schema)]
    output_format: Option<String>,
}

/// `POST /v1/images/variations` (multipart/form-data).
#[derive(Serialize, ToSchema)]
#[allow(dead_code)] // described only: `wire::ImageForm` reads the fields one by one
#[schema(as = VariationForm)]
struct VariationFormDoc {
    /// The image (an `image-file`). `image[]` is accepted too.
    #[schema(value_type = String, format = "image-file")]
    image: Vec<u8>,
    /// Guides the variation: 1 to 512 characters (1024 with `model`
    /// `amazon.nova-canvas-v1:0`).
    #[schema(min_length = 1, max_length = 512, nullable = false)]
    prompt: Option<String>,
    /// `auto` or one of the default model's (Titan's) sizes.
    #[schema(schema_with = crate::openapi::openai::size_schema)]
    size: Option<String>,
    /// 1 to 5 (Titan's and Nova Canvas's most images per request).
    #[schema(schema_with = crate::openapi::openai::count_text_schema)]
    n: Option<String>,
    /// `url` (default) or `b64_json`.
    #[schema(schema_with = crate::openapi::openai::response_format_schema)]
    response_format: Option<String>,
    /// A Bedrock model id picks its request rules; other names use the default model.
    #[schema(nullable = false)]
    model: Option<String>,
    /// `hd`/`high`: Titan's `premium` quality.
    #[schema(nullable = false)]
    quality: Option<String>,
    /// An engine by name (`GET /v1/engines`) that can do the task.
    #[schema(nullable = false)]
    engine: Option<String>,
    /// Easel's: `png`, `jpeg` or `webp`.
    #[schema(schema_with = crate::openapi::openai::output_format_schema)]
    output_format: Option<String>,
}

/// What every OpenAI-compatible route can answer besides the images.
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)] // only described: `OpenAiError` writes these
enum OpenAiErrors {
    /// `invalid_request_error`: a missing or wrong field (`param` names it), an
    /// unreadable image or body (too large included), or the content policy
    /// (`content_policy_violation`).
    #[response(status = 400)]
    Invalid(OpenAiErrorBody),
    /// `invalid_api_key`: no or a wrong credential.
    #[response(status = 401)]
    Unauthorized(OpenAiErrorBody),
    /// `rate_limit_exceeded` or `insufficient_quota`.
    #[response(status = 429)]
    Limited(OpenAiErrorBody),
    /// `server_error`: something failed inside Easel.
    #[response(status = 500)]
    Internal(OpenAiErrorBody),
    /// `server_error`: the engine failed.
    #[response(status = 502)]
    Engine(OpenAiErrorBody),
    /// `server_error` (`engine_unavailable`): the engine cannot run now (its model is not
    /// installed, or its provider is unavailable).
    #[response(status = 503)]
    Unavailable(OpenAiErrorBody),
    /// `timeout`: not finished in time; the entry goes on in `/v1/history`.
    #[response(status = 504)]
    Timeout(OpenAiErrorBody),
}

async fn run(
    state: &AppState,
    caller: &Principal,
    body: Value,
    options: &ImageOptions,
) -> Result<Response, OpenAiError> {
    let input = GenerationInput {
        body,
        model: options.model.clone(),
        engine: options.engine.clone(),
        engine_preferred: false,
        output_format: options.output_format,
        output_quality: None,
        style: None,
        dialect: Dialect::OpenAi,
        idempotency_key: None,
        callback_url: None,
    };
    let generation = &state.services.generation;
    let job = generation
        .submit_and_wait(caller, input, generation.max_wait())
        .await?;
    finished(&job)?;
    let data = if options.b64 {
        generation
            .output_bytes(&job)
            .await?
            .iter()
            .map(|bytes| ImageData {
                url: None,
                b64_json: Some(STANDARD.encode(bytes)),
            })
            .collect()
    } else {
        let links = Links::for_jobs(state.signer.as_ref(), [&job]).await?;
        job.results
            .iter()
            .filter_map(|r| r.output.as_ref())
            .map(|o| ImageData {
                url: Some(links.url(&o.object, ONE_HOUR).0),
                b64_json: None,
            })
            .collect()
    };
    let body = ImagesResponse {
        created: now_millis() / 1000,
        data,
    };
    Ok(Json(body).into_response())
}

/// Titan's `imageGenerationConfig` for the options.
fn config(options: &ImageOptions, seed: Option<&Value>) -> Value {
    let mut config = json!({ "numberOfImages": options.n, "quality": options.quality });
    if let Some((w, h)) = options.size {
        config["width"] = json!(w);
        config["height"] = json!(h);
    }
    if let Some(seed) = seed {
        config["seed"] = seed.clone();
    }
    config
}

/// OpenAI's image generation: the prompt becomes a Titan `TEXT_IMAGE` request.
#[utoipa::path(post, path = "/v1/images/generations", tag = "openai",
    request_body = GenerationsRequest,
    responses((status = 200, description = "The images", body = ImagesResponse), OpenAiErrors))]
async fn generations(
    State(state): State<AppState>,
    OpenAiCaller(caller): OpenAiCaller,
    OpenAiJson(mut request): OpenAiJson<GenerationsRequest>,
) -> Result<Response, OpenAiError> {
    let options = request.options().parse()?;
    let prompt = request
        .prompt
        .ok_or_else(|| OpenAiError::missing("prompt"))?;
    let mut params = json!({ "text": prompt });
    if let Some(negative) = request.negative_prompt {
        params["negativeText"] = json!(negative);
    }
    let body = json!({
        "taskType": "TEXT_IMAGE",
        "textToImageParams": params,
        "imageGenerationConfig": config(&options, request.seed.as_ref()),
    });
    run(&state, &caller, body, &options).await
}

/// OpenAI's image edit: transparent pixels (of the mask, or of the image) are inpainted.
#[utoipa::path(post, path = "/v1/images/edits", tag = "openai",
    request_body(content = EditFormDoc, content_type = "multipart/form-data"),
    responses((status = 200, description = "The images", body = ImagesResponse), OpenAiErrors))]
async fn edits(
    State(state): State<AppState>,
    OpenAiCaller(caller): OpenAiCaller,
    form: ImageForm,
) -> Result<Response, OpenAiError> {
    let image = form.image.ok_or_else(|| OpenAiError::missing("image"))?;
    let prompt = form.prompt.ok_or_else(|| OpenAiError::missing("prompt"))?;
    let mut options = form.options.parse()?;
    // Edits keep the image's size; OpenAI's `size` would resize, which Titan does not.
    options.size = None;
    let limits = state.services.limits.clone();
    let (image, mask) = images::titan_mask(image, form.mask, limits).await?;
    let body = json!({
        "taskType": "INPAINTING",
        "inPaintingParams": { "image": image, "maskImage": mask, "text": prompt },
        "imageGenerationConfig": config(&options, None),
    });
    run(&state, &caller, body, &options).await
}

/// OpenAI's image variation: a Titan `IMAGE_VARIATION` of the image.
#[utoipa::path(post, path = "/v1/images/variations", tag = "openai",
    request_body(content = VariationFormDoc, content_type = "multipart/form-data"),
    responses((status = 200, description = "The images", body = ImagesResponse), OpenAiErrors))]
async fn variations(
    State(state): State<AppState>,
    OpenAiCaller(caller): OpenAiCaller,
    form: ImageForm,
) -> Result<Response, OpenAiError> {
    let image = form.image.ok_or_else(|| OpenAiError::missing("image"))?;
    let mut options = form.options.parse()?;
    let limits = state.services.limits.clone();
    let source = images::variation_source(image, limits).await?;
    let mut params = json!({ "images": [source], "similarityStrength": 0.7 });
    if let Some(prompt) = form.prompt {
        params["text"] = json!(prompt);
    }
    // Variations are always standard quality.
    options.quality = easel_core::Quality::Standard;
    let body = json!({
        "taskType": "IMAGE_VARIATION",
        "imageVariationParams": params,
        "imageGenerationConfig": config(&options, None),
    });
    run(&state, &caller, body, &options).await
}
