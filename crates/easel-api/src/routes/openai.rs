//! OpenAI Images-compatible routes: `POST /v1/images/generations` (JSON),
//! `/v1/images/edits` and `/v1/images/variations` (multipart), with `response_format`
//! `url` (a presigned 1-hour link) or `b64_json`, and errors in OpenAI's shape
//! (`{"error":{"message","type","param","code"}}`), so OpenAI SDKs work with only the
//! base URL changed. Requests become the Bedrock request model and run like any other
//! generation (moderation, quotas, history, request log).

use std::time::Duration;

use axum::Json;
use axum::extract::multipart::Multipart;
use axum::extract::{FromRequest, Request, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use easel_core::{Principal, now_millis};
use easel_image::{Format, Limits, OutputOptions};
use serde::Serialize;
use serde_json::{Value, json};
use utoipa::ToSchema;

use crate::auth::{Authenticated, limits};
use crate::generation::{self, Dialect, GenError, GenerationInput};
use crate::routes::{Access, Routes};
use crate::views::{ONE_HOUR, download_url};
use crate::{ApiError, AppState};

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

/// An error in OpenAI's shape.
struct OpenAiError {
    status: StatusCode,
    kind: &'static str,
    code: Option<&'static str>,
    param: Option<String>,
    message: String,
}

impl OpenAiError {
    fn invalid(param: Option<&str>, message: impl Into<String>) -> Self {
        OpenAiError {
            status: StatusCode::BAD_REQUEST,
            kind: "invalid_request_error",
            code: None,
            param: param.map(str::to_owned),
            message: message.into(),
        }
    }
}

/// OpenAI's error body.
#[derive(Serialize, ToSchema)]
pub(super) struct OpenAiErrorBody {
    error: OpenAiErrorDetail,
}

/// The fields of [`OpenAiErrorBody`].
#[derive(Serialize, ToSchema)]
struct OpenAiErrorDetail {
    message: String,
    /// `invalid_request_error`, `insufficient_quota`, `requests` or `server_error`.
    #[serde(rename = "type")]
    #[schema(value_type = String)]
    kind: &'static str,
    /// The request field at fault, when one is.
    param: Option<String>,
    /// `invalid_api_key`, `rate_limit_exceeded`, `content_policy_violation`, …
    #[schema(value_type = Option<String>)]
    code: Option<&'static str>,
}

impl IntoResponse for OpenAiError {
    fn into_response(self) -> Response {
        let body = OpenAiErrorBody {
            error: OpenAiErrorDetail {
                message: self.message,
                kind: self.kind,
                param: self.param,
                code: self.code,
            },
        };
        (self.status, Json(body)).into_response()
    }
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

/// `POST /v1/images/generations`.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)] // described only: the handler reads the fields from a JSON map
struct GenerationsRequest {
    prompt: String,
    negative_prompt: Option<String>,
    /// 1 to 10.
    #[schema(minimum = 1, maximum = 10)]
    n: Option<u32>,
    /// `WIDTHxHEIGHT` or `auto`.
    #[schema(example = "1024x1024")]
    size: Option<String>,
    /// `url` (default) or `b64_json`.
    response_format: Option<String>,
    /// A Bedrock model id picks its rules; OpenAI model names use the default model.
    model: Option<String>,
    /// `hd`/`high`: Titan's `premium` quality.
    quality: Option<String>,
    seed: Option<u32>,
    /// Easel's: an engine by name.
    engine: Option<String>,
    /// Easel's: `png`, `jpeg` or `webp`.
    output_format: Option<String>,
}

/// `POST /v1/images/edits` and `/v1/images/variations` (multipart/form-data).
#[derive(Serialize, ToSchema)]
#[allow(dead_code)] // described only: the handlers read the multipart fields one by one
struct ImageForm {
    /// The image (PNG, JPEG, WebP); for edits its transparent pixels are edited
    /// unless a `mask` is given. `image[]` is accepted too.
    #[schema(value_type = String, format = Binary)]
    image: Vec<u8>,
    /// Edits: the mask, same size: transparent = edit.
    #[schema(value_type = Option<String>, format = Binary)]
    mask: Option<Vec<u8>>,
    /// Required for edits.
    prompt: Option<String>,
    n: Option<String>,
    size: Option<String>,
    response_format: Option<String>,
    model: Option<String>,
    quality: Option<String>,
    engine: Option<String>,
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
    /// `server_error`: the engine failed.
    #[response(status = 502)]
    Engine(OpenAiErrorBody),
    /// `timeout`: not finished in time; the entry goes on in `/v1/history`.
    #[response(status = 504)]
    Timeout(OpenAiErrorBody),
}

fn from_api(error: ApiError) -> OpenAiError {
    let message = error.message().to_owned();
    let (status, kind, code) = match (error.status(), error.code()) {
        (StatusCode::UNAUTHORIZED, _) => (
            StatusCode::UNAUTHORIZED,
            "invalid_request_error",
            Some("invalid_api_key"),
        ),
        (StatusCode::TOO_MANY_REQUESTS, "quota-exceeded") => (
            StatusCode::TOO_MANY_REQUESTS,
            "insufficient_quota",
            Some("insufficient_quota"),
        ),
        (StatusCode::TOO_MANY_REQUESTS, _) => (
            StatusCode::TOO_MANY_REQUESTS,
            "requests",
            Some("rate_limit_exceeded"),
        ),
        (s, _) if s.is_client_error() => (s, "invalid_request_error", None),
        _ => (StatusCode::INTERNAL_SERVER_ERROR, "server_error", None),
    };
    OpenAiError {
        status,
        kind,
        code,
        param: None,
        message,
    }
}

fn from_generation(error: GenError) -> OpenAiError {
    match error {
        GenError::Invalid { message, pointer } => OpenAiError::invalid(
            pointer
                .as_deref()
                .map(|p| p.rsplit('/').next().unwrap_or(p)),
            message,
        ),
        GenError::BadOption { field, message, .. } => OpenAiError::invalid(Some(field), message),
        GenError::Unsupported(message) => OpenAiError::invalid(None, message),
        GenError::Unavailable(message) => OpenAiError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            kind: "server_error",
            code: Some("engine_unavailable"),
            param: None,
            message,
        },
        GenError::Refused(message) => OpenAiError {
            code: Some("content_policy_violation"),
            ..OpenAiError::invalid(
                Some("prompt"),
                format!("Your request was rejected as a result of our safety system. {message}"),
            )
        },
        GenError::Timeout(id) => OpenAiError {
            status: StatusCode::GATEWAY_TIMEOUT,
            kind: "server_error",
            code: Some("timeout"),
            param: None,
            message: format!(
                "the generation {id} did not finish in time; see GET /v1/history/{id}"
            ),
        },
        GenError::Engine { code, message } => OpenAiError {
            status: match code.as_str() {
                "engine-throttled" => StatusCode::TOO_MANY_REQUESTS,
                "engine-unavailable" => StatusCode::SERVICE_UNAVAILABLE,
                _ => StatusCode::BAD_GATEWAY,
            },
            kind: "server_error",
            code: None,
            param: None,
            message,
        },
        GenError::Api(api) => from_api(api),
    }
}

async fn authenticate(parts: &Parts, state: &AppState) -> Result<Principal, OpenAiError> {
    let authenticated = Authenticated::resolve(parts, state)
        .await
        .map_err(from_api)?;
    limits::take_rate_token(parts, state, &authenticated)
        .await
        .map_err(from_api)?;
    Ok(authenticated.principal)
}

/// The options every route shares.
struct Common {
    n: u32,
    size: Option<(u32, u32)>,
    b64: bool,
    model: Option<String>,
    engine: Option<String>,
    output_format: Option<String>,
}

fn parse_size(text: &str) -> Result<Option<(u32, u32)>, OpenAiError> {
    if text == "auto" {
        return Ok(None);
    }
    let bad = || {
        OpenAiError::invalid(
            Some("size"),
            format!("'{text}' is not a size like '1024x1024'"),
        )
    };
    let (w, h) = text.split_once('x').ok_or_else(bad)?;
    Ok(Some((
        w.parse().map_err(|_| bad())?,
        h.parse().map_err(|_| bad())?,
    )))
}

fn common(fields: &serde_json::Map<String, Value>) -> Result<Common, OpenAiError> {
    let string = |key: &str| -> Result<Option<String>, OpenAiError> {
        match fields.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(OpenAiError::invalid(
                Some(key),
                format!("'{key}' must be a string"),
            )),
        }
    };
    let n = match fields.get("n") {
        None | Some(Value::Null) => 1,
        Some(v) => v
            .as_u64()
            .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
            .filter(|n| (1..=10).contains(n))
            .ok_or_else(|| OpenAiError::invalid(Some("n"), "'n' must be an integer from 1 to 10"))?
            as u32,
    };
    let b64 = match string("response_format")?.as_deref() {
        None | Some("url") => false,
        Some("b64_json") => true,
        Some(other) => {
            return Err(OpenAiError::invalid(
                Some("response_format"),
                format!("'{other}' is not one of ['url', 'b64_json'] - 'response_format'"),
            ));
        }
    };
    // A Bedrock model id picks its request rules; OpenAI model names use the default.
    let model = string("model")?.filter(|m| easel_engines::model_family(m).is_some());
    Ok(Common {
        n,
        size: string("size")?
            .as_deref()
            .map(parse_size)
            .transpose()?
            .flatten(),
        b64,
        model,
        engine: string("engine")?,
        output_format: string("output_format")?,
    })
}

fn quality(fields: &serde_json::Map<String, Value>) -> &'static str {
    match fields.get("quality").and_then(Value::as_str) {
        Some("hd" | "high") => "premium",
        _ => "standard",
    }
}

async fn run(
    state: &AppState,
    caller: &Principal,
    body: Value,
    common: &Common,
) -> Result<Response, OpenAiError> {
    let input = GenerationInput {
        body,
        model: common.model.clone(),
        engine: common.engine.clone(),
        output_format: common.output_format.clone(),
        output_quality: None,
        style: None,
        dialect: Dialect::OpenAi,
        idempotency_key: None,
    };
    let job = generation::submit(state, caller, input)
        .await
        .map_err(from_generation)?;
    let job = generation::wait_for(
        state,
        job.id,
        Duration::from_secs(state.generation.max_wait_secs),
    )
    .await
    .map_err(from_generation)?;
    generation::finished(&job).map_err(from_generation)?;
    let data = if common.b64 {
        generation::output_bytes(state, &job)
            .await
            .map_err(from_generation)?
            .iter()
            .map(|bytes| ImageData {
                url: None,
                b64_json: Some(STANDARD.encode(bytes)),
            })
            .collect()
    } else {
        job.results
            .iter()
            .filter_map(|r| r.output.as_ref())
            .map(|o| ImageData {
                url: Some(download_url(&state.presigner, &o.object, ONE_HOUR).0),
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

fn config(common: &Common, quality: &str, seed: Option<&Value>) -> Value {
    let mut config = json!({ "numberOfImages": common.n, "quality": quality });
    if let Some((w, h)) = common.size {
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
async fn generations(State(state): State<AppState>, request: Request) -> Response {
    generations_inner(&state, request)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

async fn generations_inner(state: &AppState, request: Request) -> Result<Response, OpenAiError> {
    let (parts, body) = request.into_parts();
    let caller = authenticate(&parts, state).await?;
    let bytes = axum::body::to_bytes(body, state.generation.max_body_bytes)
        .await
        .map_err(|_| OpenAiError::invalid(None, "the request body is too large"))?;
    let fields: serde_json::Map<String, Value> = serde_json::from_slice(&bytes).map_err(|e| {
        OpenAiError::invalid(
            None,
            format!("We could not parse the JSON body of your request: {e}"),
        )
    })?;
    let prompt = fields
        .get("prompt")
        .and_then(Value::as_str)
        .ok_or_else(|| {
            OpenAiError::invalid(Some("prompt"), "Missing required parameter: 'prompt'.")
        })?;
    let common = common(&fields)?;
    let mut params = json!({ "text": prompt });
    if let Some(negative) = fields.get("negative_prompt").and_then(Value::as_str) {
        params["negativeText"] = json!(negative);
    }
    let body = json!({
        "taskType": "TEXT_IMAGE",
        "textToImageParams": params,
        "imageGenerationConfig": config(&common, quality(&fields), fields.get("seed")),
    });
    run(state, &caller, body, &common).await
}

/// The fields of a multipart request: files as bytes, the rest as strings.
struct Form {
    fields: serde_json::Map<String, Value>,
    image: Option<Vec<u8>>,
    mask: Option<Vec<u8>>,
}

async fn read_form(
    parts: Parts,
    body: axum::body::Body,
    state: &AppState,
) -> Result<Form, OpenAiError> {
    let request = Request::from_parts(parts, body);
    let mut multipart = Multipart::from_request(request, state).await.map_err(|e| {
        OpenAiError::invalid(None, format!("the body must be multipart/form-data: {e}"))
    })?;
    let mut form = Form {
        fields: serde_json::Map::new(),
        image: None,
        mask: None,
    };
    while let Some(field) = multipart
        .next_field()
        .await
        .map_err(|e| OpenAiError::invalid(None, format!("the multipart body is malformed: {e}")))?
    {
        let name = field.name().unwrap_or_default().to_owned();
        let bytes = field.bytes().await.map_err(|e| {
            OpenAiError::invalid(Some(&name), format!("could not read '{name}': {e}"))
        })?;
        match name.as_str() {
            // gpt-image models send `image[]`; the first image is the one edited.
            "image" | "image[]" => {
                if form.image.is_none() {
                    form.image = Some(bytes.to_vec());
                }
            }
            "mask" => form.mask = Some(bytes.to_vec()),
            _ => {
                let text = String::from_utf8(bytes.to_vec()).map_err(|_| {
                    OpenAiError::invalid(Some(&name), format!("'{name}' is not text"))
                })?;
                form.fields.insert(name, Value::String(text));
            }
        }
    }
    Ok(form)
}

fn png_base64(image: &image::RgbaImage) -> Result<String, OpenAiError> {
    let bytes =
        easel_image::encode_rgba(image, Format::Png, &OutputOptions::default()).map_err(|e| {
            OpenAiError::invalid(None, format!("the image could not be re-encoded: {e}"))
        })?;
    Ok(STANDARD.encode(bytes))
}

/// OpenAI's mask (transparent = edit) as Titan's mask image (black = edit).
fn titan_mask(image: &[u8], mask: Option<&[u8]>) -> Result<(String, String), OpenAiError> {
    let limits = Limits::default();
    let (_, pixels) = easel_image::decode_rgba(image, &limits).map_err(|e| {
        OpenAiError::invalid(Some("image"), format!("the image could not be read: {e}"))
    })?;
    let alpha_source = match mask {
        Some(bytes) => {
            let (_, mask) = easel_image::decode_rgba(bytes, &limits).map_err(|e| {
                OpenAiError::invalid(Some("mask"), format!("the mask could not be read: {e}"))
            })?;
            if mask.dimensions() != pixels.dimensions() {
                return Err(OpenAiError::invalid(
                    Some("mask"),
                    format!(
                        "Invalid input image - the mask is {}x{} but the image is {}x{}; they must be the same size",
                        mask.width(),
                        mask.height(),
                        pixels.width(),
                        pixels.height()
                    ),
                ));
            }
            mask
        }
        None => pixels.clone(),
    };
    if alpha_source.pixels().all(|p| p.0[3] != 0) {
        return Err(OpenAiError::invalid(
            Some("mask"),
            "the mask (or, without one, the image) has no fully transparent area to edit",
        ));
    }
    let titan = image::RgbaImage::from_fn(pixels.width(), pixels.height(), |x, y| {
        let edit = alpha_source.get_pixel(x, y).0[3] == 0;
        let v = if edit { 0 } else { 255 };
        image::Rgba([v, v, v, 255])
    });
    // The image goes in opaque: the mask says where to change it.
    let mut opaque = pixels;
    for p in opaque.pixels_mut() {
        p.0[3] = 255;
    }
    Ok((png_base64(&opaque)?, png_base64(&titan)?))
}

/// OpenAI's image edit: transparent pixels (of the mask, or of the image) are inpainted.
#[utoipa::path(post, path = "/v1/images/edits", tag = "openai",
    request_body(content = ImageForm, content_type = "multipart/form-data"),
    responses((status = 200, description = "The images", body = ImagesResponse), OpenAiErrors))]
async fn edits(State(state): State<AppState>, request: Request) -> Response {
    edits_inner(&state, request)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

async fn edits_inner(state: &AppState, request: Request) -> Result<Response, OpenAiError> {
    let (parts, body) = request.into_parts();
    let caller = authenticate(&parts, state).await?;
    let form = read_form(parts, body, state).await?;
    let image = form.image.ok_or_else(|| {
        OpenAiError::invalid(Some("image"), "Missing required parameter: 'image'.")
    })?;
    let prompt = form
        .fields
        .get("prompt")
        .and_then(Value::as_str)
        .ok_or_else(|| {
            OpenAiError::invalid(Some("prompt"), "Missing required parameter: 'prompt'.")
        })?
        .to_owned();
    let mut common = common(&form.fields)?;
    // Edits keep the image's size; OpenAI's `size` would resize, which Titan does not.
    common.size = None;
    let (image, mask) = titan_mask(&image, form.mask.as_deref())?;
    let body = json!({
        "taskType": "INPAINTING",
        "inPaintingParams": { "image": image, "maskImage": mask, "text": prompt },
        "imageGenerationConfig": config(&common, quality(&form.fields), None),
    });
    run(state, &caller, body, &common).await
}

/// OpenAI's image variation: a Titan `IMAGE_VARIATION` of the image.
#[utoipa::path(post, path = "/v1/images/variations", tag = "openai",
    request_body(content = ImageForm, content_type = "multipart/form-data"),
    responses((status = 200, description = "The images", body = ImagesResponse), OpenAiErrors))]
async fn variations(State(state): State<AppState>, request: Request) -> Response {
    variations_inner(&state, request)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

async fn variations_inner(state: &AppState, request: Request) -> Result<Response, OpenAiError> {
    let (parts, body) = request.into_parts();
    let caller = authenticate(&parts, state).await?;
    let form = read_form(parts, body, state).await?;
    let image = form.image.ok_or_else(|| {
        OpenAiError::invalid(Some("image"), "Missing required parameter: 'image'.")
    })?;
    let common = common(&form.fields)?;
    let (_, pixels) = easel_image::decode_rgba(&image, &Limits::default()).map_err(|e| {
        OpenAiError::invalid(Some("image"), format!("the image could not be read: {e}"))
    })?;
    let mut params = json!({ "images": [png_base64(&pixels)?], "similarityStrength": 0.7 });
    if let Some(prompt) = form.fields.get("prompt").and_then(Value::as_str) {
        params["text"] = json!(prompt);
    }
    let body = json!({
        "taskType": "IMAGE_VARIATION",
        "imageVariationParams": params,
        "imageGenerationConfig": config(&common, "standard", None),
    });
    run(state, &caller, body, &common).await
}
